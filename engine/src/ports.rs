//! The ports the engine runs over: one small trait per external system. Each has the real
//! implementation in the `consumers` worker and an in-memory one in this crate; the simulation
//! adds its own, whose calls finish (or fail, or never answer) when its scheduler says.
//!
//! Every call that may wait takes the attempt's deadline (epoch ms): an implementation gives up
//! by then, so one attempt never outlives its claim's lease.

use contracts::event::OrderAck;
use contracts::idempotency::{
    AttemptFailedRequest, ClaimResponse, CompleteRequest, Fenced, SubmitGrant, SubmitRequest,
};
use contracts::signal::Exchange;
use exchanges::order::OrderRequest;
use rust_decimal::Decimal;

/// The store could not be reached or answered something unexpected: nothing is known, so the
/// delivery is retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{op}: {message}")]
pub struct PortError {
    pub op: &'static str,
    pub message: String,
}

/// The `IdempotencyStore`, as the consumer uses it.
#[allow(async_fn_in_trait)]
pub trait KeyStore {
    async fn claim(&self, key: &str) -> Result<ClaimResponse, PortError>;
    async fn begin_submit(&self, req: &SubmitRequest) -> Result<SubmitGrant, PortError>;
    async fn complete(&self, req: &CompleteRequest) -> Result<Fenced, PortError>;
    async fn attempt_failed(&self, req: &AttemptFailedRequest) -> Result<Fenced, PortError>;
    async fn event_published(&self, key: &str) -> Result<(), PortError>;
}

/// How an exchange call failed. Mirrors `exchanges::venue::ErrorClass`, plus the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureClass {
    /// The exchange certainly did nothing: retry after a delay.
    Retryable { retry_after_seconds: Option<u32> },
    /// The exchange banned this IP: stop calling it for a while (the circuit breaker).
    Banned { retry_after_seconds: Option<u32> },
    /// Retrying cannot help.
    Terminal,
    /// The order may or may not exist (no answer, reset, 5xx on submit, "unknown").
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub class: FailureClass,
    /// For the operator: the exchange's code and message, or the transport error.
    pub message: String,
}

/// What an exchange knows before any order: the instrument's rules and a reference price from
/// the exchange (mark or last; for paper, the signal's own price).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub instrument: exchanges::venue::Instrument,
    pub reference_price: Decimal,
}

/// What a lookup by client order id found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The order exists (filled, partly filled or resting); quantities in base-asset units.
    Found(OrderAck),
    /// Every place the order could be says it is not there.
    NotFound,
}

/// One exchange (real, paper, in-memory or simulated).
#[allow(async_fn_in_trait)]
pub trait ExchangePort {
    fn exchange(&self) -> Exchange;
    /// Instrument rules and reference price (cached by the implementation), and the order's
    /// leverage set where needed. Places no order.
    async fn prepare(&self, order: &OrderRequest, deadline_ms: i64) -> Result<Prepared, Failure>;
    /// Looks the order up by `order.client_order_id`.
    async fn lookup(&self, order: &OrderRequest, deadline_ms: i64) -> Result<Lookup, Failure>;
    /// Sends the order. `Ok` is the exchange's acknowledgement (quantities in base units).
    async fn submit(
        &self,
        order: &OrderRequest,
        prepared: &Prepared,
        deadline_ms: i64,
    ) -> Result<OrderAck, Failure>;
}

/// The exchange a job is routed to, chosen per attempt (paper unless live mode routes a valid
/// order to a real exchange).
pub trait Exchanges {
    type Port<'a>: ExchangePort
    where
        Self: 'a;
    fn port(&self, exchange: Exchange) -> Self::Port<'_>;
}

/// Time and randomness (jitter), passed in.
pub trait Clock {
    fn now_ms(&self) -> i64;
    /// Uniform in [0, 1).
    fn random(&self) -> f64;
}

/// The `trade-events` producer.
#[allow(async_fn_in_trait)]
pub trait Events {
    async fn publish(&self, event: &[u8]) -> Result<(), PortError>;
}
