-- The agent-worker's memory (issue 15): what each rule remembers about an open position, the
-- exits its protections count, each network's equity peak and re-based start of day, and the
-- last evaluations for `hoox risk status`.

-- One row per open position: identity and opening time, so the next position on the pair has
-- another row and inherits nothing. Deleted when the position is no longer open.
CREATE TABLE IF NOT EXISTS risk_positions (
  exchange TEXT NOT NULL,
  network TEXT NOT NULL,
  symbol TEXT NOT NULL,
  side TEXT NOT NULL,
  opened_at_ms INTEGER NOT NULL,
  -- JSON of risk::PositionState (watermark, ladder progress, breakeven).
  state TEXT NOT NULL,
  -- JSON of the exchange-side stop last placed for it (prices, the exchange's ids); NULL: none.
  stops TEXT,
  updated_at_ms INTEGER NOT NULL,
  PRIMARY KEY (exchange, network, symbol, side, opened_at_ms)
);

-- Exits the protections count: the agent's own full closes (key = the close's idempotency key)
-- and positions that closed any other way (key `gone:<position>`), one per position.
CREATE TABLE IF NOT EXISTS risk_exits (
  key TEXT PRIMARY KEY,
  position TEXT NOT NULL,
  at_ms INTEGER NOT NULL,
  exchange TEXT NOT NULL,
  network TEXT NOT NULL,
  symbol TEXT NOT NULL,
  side TEXT NOT NULL,
  stop_out INTEGER NOT NULL,
  reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS risk_exits_at ON risk_exits (at_ms);
CREATE INDEX IF NOT EXISTS risk_exits_position ON risk_exits (position);

-- Per network: the equity peak max drawdown is measured from, and a start-of-day equity an
-- operator's resume re-based (`base_day` is the UTC day it applies to).
CREATE TABLE IF NOT EXISTS risk_equity (
  network TEXT PRIMARY KEY,
  peak TEXT,
  peak_at_ms INTEGER,
  base_day TEXT,
  base TEXT,
  updated_at_ms INTEGER NOT NULL
);

-- The last evaluations (the agent keeps 200): what each saw, did and could not do.
CREATE TABLE IF NOT EXISTS risk_runs (
  at_ms INTEGER NOT NULL,
  run_id TEXT NOT NULL PRIMARY KEY,
  trigger TEXT NOT NULL,
  summary TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS risk_runs_at ON risk_runs (at_ms);
