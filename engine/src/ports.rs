//! The ports the engine runs over: one small trait per external system. Each has the real
//! implementation in the `consumers` worker and an in-memory one in this crate; the simulation
//! adds its own, whose calls finish (or fail, or never answer) when its scheduler says.
//!
//! Every call that may wait takes the attempt's deadline (epoch ms): an implementation gives up
//! by then, so one attempt never outlives its claim's lease. There is one deadline per attempt,
//! its claim time plus [`contracts::lifecycle::ATTEMPT_DEADLINE_MS`], and every call of the
//! attempt (store, exchange, events) is given that same value.

use crate::circuit::CircuitBreaker;
use contracts::event::{Fee, OrderAck, Protection};
use contracts::idempotency::{
    AttemptFailedRequest, ClaimResponse, CompleteRequest, Fenced, SubmitGrant, SubmitRequest,
};
use contracts::signal::Exchange;
use exchanges::order::OrderRequest;
use std::cell::RefCell;

/// The store could not be reached or answered something unexpected: nothing is known, so the
/// delivery is retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{op}: {message}")]
pub struct PortError {
    pub op: &'static str,
    pub message: String,
}

/// The `IdempotencyStore`, as the consumer uses it. A call not answered by `deadline_ms` is an
/// error (nothing is known about it: the write may or may not have been applied).
#[allow(async_fn_in_trait)]
pub trait KeyStore {
    /// Claims `key` for the job received at `received_at_ms` (its identity with the key).
    async fn claim(
        &self,
        key: &str,
        received_at_ms: i64,
        deadline_ms: i64,
    ) -> Result<ClaimResponse, PortError>;
    async fn begin_submit(
        &self,
        req: &SubmitRequest,
        deadline_ms: i64,
    ) -> Result<SubmitGrant, PortError>;
    async fn complete(&self, req: &CompleteRequest, deadline_ms: i64) -> Result<Fenced, PortError>;
    async fn attempt_failed(
        &self,
        req: &AttemptFailedRequest,
        deadline_ms: i64,
    ) -> Result<Fenced, PortError>;
    /// Marks the event of the job received at `received_at_ms` published.
    async fn event_published(
        &self,
        key: &str,
        received_at_ms: i64,
        deadline_ms: i64,
    ) -> Result<(), PortError>;
}

/// How an exchange call failed. Mirrors `exchanges::venue::ErrorClass`, plus the transport. Only
/// `Unknown` may hide an order; the engine releases a claim on any other refusal of its submit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureClass {
    /// The exchange certainly did nothing: retry after a delay.
    Retryable { retry_after_seconds: Option<u32> },
    /// The exchange banned this IP and refused the call: stop calling it for a while (the
    /// circuit breaker).
    Banned { retry_after_seconds: Option<u32> },
    /// Refused for good: retrying cannot help, and nothing was placed. (A refusal that means
    /// the order exists, such as a duplicate client order id, is `Unknown`.)
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
    pub reference_price: exchanges::order::ReferencePrice,
}

/// What a lookup by client order id found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The order exists (filled, partly filled or resting); quantities in base-asset units.
    Found(OrderAck),
    /// Every place the order could be says it is not there.
    NotFound,
}

/// How long an exchange call may take before it is abandoned, unless the attempt's deadline
/// comes first: for a submit, the outcome is then unknown and the next attempt reconciles.
pub const CALL_TIMEOUT_MS: i64 = 10_000;

/// One exchange (real, paper, in-memory or simulated).
#[allow(async_fn_in_trait)]
pub trait ExchangePort {
    fn exchange(&self) -> Exchange;
    /// The longest a submit may take before the port abandons it. The engine starts a submit
    /// only while at least this much of the attempt's deadline remains, so no submit is cut
    /// short by the deadline (its outcome would be unknown for nothing).
    fn submit_timeout_ms(&self) -> i64 {
        CALL_TIMEOUT_MS
    }
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
    /// Puts the take-profit and stop-loss `order` asks for in place for its entry, which the
    /// exchange acknowledged as `fill` (base units), by `deadline_ms`. Where the order carried
    /// them (Bybit, MEXC, paper) there is nothing to place: [`Protection::Attached`]. Where they
    /// are separate orders placed after the fill (Binance), each goes under the client id
    /// [`contracts::event::ProtectiveKind::client_id`] of the order's, looked up first and placed
    /// only if absent (an earlier attempt may have placed it), and looked up again after an
    /// unknown outcome, never placed twice. Never an error: what could not be put in place (or
    /// whose fate is unknown) is [`Protection::Failed`], and the fill stands.
    async fn protect(&self, order: &OrderRequest, fill: &OrderAck, deadline_ms: i64) -> Protection;
    /// What the fills of `order` (as last seen: `ack`) cost, from the exchange's fill records;
    /// `Ok(None)` when they do not tell (yet). Reads only. The default knows no fees (paper's
    /// fills cost nothing it could report; a test exchange may say otherwise).
    async fn fees(
        &self,
        order: &OrderRequest,
        ack: &OrderAck,
        deadline_ms: i64,
    ) -> Result<Option<Fee>, Failure> {
        let _ = (order, ack, deadline_ms);
        Ok(None)
    }
    /// Places, moves or cancels the server-side stop and trailing stop of an open position so
    /// they are `request.target` (see `exchanges::stops`), by `deadline_ms`. Refused (Terminal)
    /// when there is no such position or the exchange refuses the target, with the exchange's
    /// words. The default keeps none (paper, the simulation).
    async fn set_stops(
        &self,
        request: &StopRequest,
        deadline_ms: i64,
    ) -> Result<StopsSet, Failure> {
        let _ = (request, deadline_ms);
        Err(Failure {
            class: FailureClass::Terminal,
            message: format!("{} keeps no server-side stops", self.exchange()),
        })
    }
}

/// "Make the exchange-side protection of this open position be": what
/// [`ExchangePort::set_stops`] is asked (the agent's server-side stops, issue 15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopRequest {
    pub symbol: contracts::symbol::Symbol,
    pub side: exchanges::account::PositionSide,
    /// The network whose account holds the position (its own key pair).
    pub testnet: bool,
    pub target: exchanges::stops::StopTarget,
}

/// What is in force on the exchange after [`ExchangePort::set_stops`], and what the exchange
/// can keep at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopsSet {
    pub placed: exchanges::stops::Placed,
    pub supported: exchanges::stops::Support,
}

/// The exchange a job is routed to, chosen per attempt (paper unless live mode routes a valid
/// order to a real exchange).
pub trait Exchanges {
    type Port<'a>: ExchangePort
    where
        Self: 'a;
    fn port(&self, exchange: Exchange) -> Self::Port<'_>;
    /// The IP-ban circuit breaker shared by the attempts that use these exchanges (one per
    /// isolate in the worker). `None`: no breaker is kept, a ban only delays the job it hit.
    fn circuit(&self) -> Option<&RefCell<CircuitBreaker>> {
        None
    }
}

/// Time and randomness (jitter), passed in.
pub trait Clock {
    fn now_ms(&self) -> i64;
    /// Uniform in [0, 1).
    fn random(&self) -> f64;
}

/// The `trade-events` producer, and the follow-ups' way back to `trade-execution`.
#[allow(async_fn_in_trait)]
pub trait Events {
    async fn publish(&self, event: &[u8], deadline_ms: i64) -> Result<(), PortError>;
    /// Sends a follow-up (an encoded `contracts::job::FollowOrder`) to `trade-execution`, to be
    /// delivered after `delay_seconds` (see [`crate::follow`]). The default drops it: a port
    /// that only collects events (the simulation's) follows no orders.
    async fn follow(
        &self,
        body: &[u8],
        delay_seconds: u32,
        deadline_ms: i64,
    ) -> Result<(), PortError> {
        let _ = (body, delay_seconds, deadline_ms);
        Ok(())
    }
}
