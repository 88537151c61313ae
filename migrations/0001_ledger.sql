-- hoox ledger: written from trade-events (signals, orders) and by the dlq worker (dead_letters).
CREATE TABLE IF NOT EXISTS signals (
  idempotency_key TEXT PRIMARY KEY,
  request_id TEXT NOT NULL,
  exchange TEXT NOT NULL,
  symbol TEXT NOT NULL,
  action TEXT NOT NULL,
  order_type TEXT NOT NULL,
  quantity TEXT NOT NULL,
  price TEXT,
  leverage INTEGER,
  test INTEGER NOT NULL DEFAULT 0,
  received_at_ms INTEGER NOT NULL,
  outcome TEXT NOT NULL,
  detail TEXT,
  attempts INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS signals_received ON signals (received_at_ms);

CREATE TABLE IF NOT EXISTS orders (
  client_order_id TEXT PRIMARY KEY,
  idempotency_key TEXT NOT NULL UNIQUE,
  exchange TEXT NOT NULL,
  exchange_order_id TEXT NOT NULL,
  symbol TEXT NOT NULL,
  side TEXT NOT NULL,
  quantity TEXT NOT NULL,
  price TEXT,
  status TEXT NOT NULL,
  filled_quantity TEXT NOT NULL,
  average_price TEXT,
  created_at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_created ON orders (created_at_ms);

CREATE TABLE IF NOT EXISTS dead_letters (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  message_id TEXT NOT NULL UNIQUE,
  queue TEXT NOT NULL,
  idempotency_key TEXT,
  reason TEXT NOT NULL,
  detail TEXT,
  attempts INTEGER NOT NULL,
  last_error TEXT,
  exchange TEXT,
  symbol TEXT,
  action TEXT,
  job TEXT,
  raw TEXT,
  status TEXT NOT NULL DEFAULT 'pending',
  created_at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_reason ON dead_letters (reason, created_at_ms);
CREATE INDEX IF NOT EXISTS dead_letters_key ON dead_letters (idempotency_key);
