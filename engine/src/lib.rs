//! The execution engine: what the trade-worker does with one delivery of a `TradeJob`, as pure
//! logic over small ports. The worker (`consumers`) implements the ports with the Workers
//! bindings (the `IdempotencyStore` over RPC, fetch to the exchanges, the queue producer); this
//! crate implements them in memory, so every rule of exactly-once is tested natively and the
//! deterministic simulation explores schedules no live run reaches.
//!
//! - [`attempt`]: one delivery, claim to disposition ([`execute`]).
//! - [`lanes`]: a batch as lanes per (exchange, symbol) ([`run_lanes`]).
//! - [`pretrade`]: the checks before any submit (the order against the reference price is
//!   `exchanges::order::OrderRequest::check_against`), and the order an in-doubt lookup needs.
//! - [`circuit`]: the IP-ban circuit breaker, time passed in.
//! - [`follow`]: an order that is not final, looked up again until it is ([`follow::run`]).
//! - [`paper`]: the paper exchange as one more port.
//! - [`ports`]: the traits; [`memory`]: their in-memory implementations.

pub mod attempt;
pub mod circuit;
pub mod follow;
pub mod lanes;
pub mod memory;
pub mod paper;
pub mod ports;
pub mod pretrade;
pub mod sim;

pub use attempt::{execute, Disposition, Ports};
pub use lanes::{run_lanes, Queued};
