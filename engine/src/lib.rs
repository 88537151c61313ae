//! The execution engine: what the trade-worker does with one delivery of a `TradeJob`, as pure
//! logic over small ports. The worker (`consumers`) implements the ports with the Workers
//! bindings (the `IdempotencyStore` over RPC, fetch to the exchanges, the queue producer); this
//! crate implements them in memory, so every rule of exactly-once is tested natively and the
//! deterministic simulation explores schedules no live run reaches.

pub mod ports;
pub mod sim;
