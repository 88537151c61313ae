//! Contracts shared by every hoox deployable: what a webhook sender may send, what travels on the
//! queues, what the idempotency store records, and what the runtime manifest holds.
//!
//! Nothing here touches the Workers runtime, so all of it is tested natively. The worker crates
//! (`gateway`, `consumers`, `dlq`) only move these values between bindings.

pub mod amount;
pub mod auth;
pub mod config;
pub mod email;
pub mod event;
pub mod idempotency;
pub mod job;
pub mod lifecycle;
pub mod pause;
pub mod ratelimit;
pub mod signal;
pub mod symbol;

pub use rust_decimal::Decimal;
