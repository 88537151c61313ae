-- hoox ledger truth, issue 13: orders followed to a final state, positions read from the
-- exchanges and reconciled with hoox's own fills, daily equity snapshots.
--
-- Old rows stay readable: every new `orders` column is nullable, and readers fall back to the
-- old columns where a new one is NULL (the exchange an order went to: `paper` for paper orders,
-- else the signal's exchange; the network: the signal's `test` flag).

-- What the order's fills cost, from the exchange's fill records (NULL: not known).
ALTER TABLE orders ADD COLUMN fee TEXT;
ALTER TABLE orders ADD COLUMN fee_asset TEXT;
-- `following` (looked up again on a schedule), `final`, `left_open` (still open after
-- trade:follow_orders_seconds, no longer followed), `stopped` (the follow-up could not go on);
-- NULL: never followed (rows from before, paper).
ALTER TABLE orders ADD COLUMN follow_state TEXT;
-- ops::ledger::order_progress: fill, finality and time as one fixed-width text key; an event is
-- applied only if its key is at least the row's, so a staler state never overwrites a fresher.
ALTER TABLE orders ADD COLUMN progress TEXT;
ALTER TABLE orders ADD COLUMN updated_at_ms INTEGER;
-- Where the order went: bybit | binance | mexc | paper (`exchange` keeps paper | live).
ALTER TABLE orders ADD COLUMN venue_exchange TEXT;
-- mainnet | testnet.
ALTER TABLE orders ADD COLUMN network TEXT;
CREATE INDEX IF NOT EXISTS orders_follow_state ON orders (follow_state);

-- The exchanges' own open positions, per exchange and network, replaced whole at each refresh
-- (the trade-worker's one-minute cron, and after fills), beside what hoox's fills imply.
-- `reconcile`: ok | differs | untracked (the exchange holds what hoox did not open) | missing
-- (hoox's fills imply what the exchange does not hold; size 0) | unknown (the exchange's list was
-- not complete). Paper rows are its simulated fills (`source` paper).
CREATE TABLE IF NOT EXISTS positions (
  exchange TEXT NOT NULL,
  network TEXT NOT NULL,
  symbol TEXT NOT NULL,
  side TEXT NOT NULL,
  size TEXT NOT NULL,
  entry_price TEXT,
  mark_price TEXT,
  unrealised_pnl TEXT,
  leverage TEXT,
  margin_mode TEXT,
  source TEXT NOT NULL,
  implied_size TEXT,
  reconcile TEXT NOT NULL,
  reconcile_detail TEXT,
  updated_at_ms INTEGER NOT NULL,
  PRIMARY KEY (exchange, network, symbol, side)
);
CREATE INDEX IF NOT EXISTS positions_reconcile ON positions (reconcile);

-- One snapshot per exchange, network and UTC day (the first of the day stands), in USDT:
-- wallet balance, unrealised PnL and equity as the exchange reports them; paper's is the
-- realised PnL of its simulated fills.
CREATE TABLE IF NOT EXISTS equity_snapshots (
  exchange TEXT NOT NULL,
  network TEXT NOT NULL,
  day TEXT NOT NULL,
  asset TEXT NOT NULL,
  wallet_balance TEXT NOT NULL,
  unrealised_pnl TEXT,
  equity TEXT NOT NULL,
  source TEXT NOT NULL,
  at_ms INTEGER NOT NULL,
  PRIMARY KEY (exchange, network, day)
);
