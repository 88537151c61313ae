//! `TradeEvent`: what the execution consumer publishes on `trade-events` after a signal reaches
//! its end, and what the fan-out writes to the ledger, logs and alerts.
//!
//! Side effects hang off this event, never off the execution itself, so a D1 or Telegram outage
//! retries the event and can never submit an order twice.

use crate::job::TradeJob;
use crate::signal::Signal;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub const TRADE_EVENT_V1: u8 = 1;

/// How an accepted signal ended at the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Outcome {
    /// The exchange accepted the order (filled or resting as a limit order).
    Filled,
    /// The exchange or a pre-trade check refused it for good.
    Rejected,
    /// A hoox rule stopped it before the exchange (kill switch, disabled exchange).
    Blocked,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Filled => "filled",
            Self::Rejected => "rejected",
            Self::Blocked => "blocked",
        }
    }
}

/// The order as the exchange acknowledged it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderAck {
    pub client_order_id: String,
    pub exchange_order_id: String,
    /// Exchange-reported status (`Filled`, `New`, ...), kept verbatim for the ledger.
    pub status: String,
    pub filled_quantity: Decimal,
    pub average_price: Option<Decimal>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeEvent {
    pub idempotency_key: String,
    pub request_id: String,
    pub received_at_ms: i64,
    pub signal: Signal,
    pub outcome: Outcome,
    pub order: Option<OrderAck>,
    /// Why it was rejected or blocked; exchange messages are kept, secrets never are.
    pub detail: Option<String>,
    pub attempts: u32,
    pub at_ms: i64,
}

impl TradeEvent {
    pub fn for_job(job: &TradeJob, outcome: Outcome, attempts: u32, at_ms: i64) -> Self {
        Self {
            idempotency_key: job.idempotency_key.clone(),
            request_id: job.request_id.clone(),
            received_at_ms: job.received_at_ms,
            signal: job.signal.clone(),
            outcome,
            order: None,
            detail: None,
            attempts,
            at_ms,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        crate::job::encode_tagged(TRADE_EVENT_V1, self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, crate::job::CodecError> {
        crate::job::decode_tagged(TRADE_EVENT_V1, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::tests::sample_job;

    #[test]
    fn event_round_trips() {
        let mut e = TradeEvent::for_job(&sample_job(), Outcome::Filled, 1, 5);
        e.order = Some(OrderAck {
            client_order_id: "hx-abc".into(),
            exchange_order_id: "paper-1".into(),
            status: "Filled".into(),
            filled_quantity: Decimal::new(1, 3),
            average_price: Some(Decimal::new(650005, 1)),
        });
        assert_eq!(TradeEvent::decode(&e.encode()), Ok(e));
        assert!(TradeEvent::decode(&[2, 0]).is_err());
    }
}
