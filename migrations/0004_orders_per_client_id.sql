-- One idempotency key may own more than one order over time: a key reused after its TTL (a static
-- key in an alert template) is a new signal with a new client order id (derived from the key and
-- the signal's intake time). `orders.idempotency_key` was UNIQUE, so that signal's order made the
-- whole ledger batch fail and its event dead-letter. The table is rebuilt without that constraint
-- (SQLite cannot drop one in place); rows, and the client-order-id key they are upserted by, stay.
CREATE TABLE orders_v2 (
  client_order_id TEXT PRIMARY KEY,
  idempotency_key TEXT NOT NULL,
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
INSERT INTO orders_v2 SELECT client_order_id, idempotency_key, exchange, exchange_order_id, symbol,
  side, quantity, price, status, filled_quantity, average_price, created_at_ms FROM orders;
DROP TABLE orders;
ALTER TABLE orders_v2 RENAME TO orders;
CREATE INDEX IF NOT EXISTS orders_created ON orders (created_at_ms);
CREATE INDEX IF NOT EXISTS orders_key ON orders (idempotency_key);
