//! `TradeEvent`: what the execution consumer publishes on `trade-events` after a signal reaches
//! its end, and what the fan-out writes to the ledger, logs and alerts.
//!
//! Side effects hang off this event, never off the execution itself, so a D1 or Telegram outage
//! retries the event and can never submit an order twice.
//!
//! The encoding is postcard, which is positional: a field is only ever added at the end of
//! [`TradeEvent`], and [`TradeEvent::decode`] reads an event encoded before it was added (its
//! bytes simply end earlier) with that field absent. A decoder from before the field ignores the
//! bytes it does not know, so old and new workers read each other's events during a deploy.

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

/// Which protective order of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ProtectiveKind {
    TakeProfit,
    StopLoss,
}

impl ProtectiveKind {
    pub const BOTH: [ProtectiveKind; 2] = [Self::TakeProfit, Self::StopLoss];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TakeProfit => "take-profit",
            Self::StopLoss => "stop-loss",
        }
    }

    /// What its client id appends to the entry's client order id (`-tp`, `-sl`).
    pub fn suffix(self) -> &'static str {
        match self {
            Self::TakeProfit => "tp",
            Self::StopLoss => "sl",
        }
    }

    /// The client id of the entry `client_order_id`'s protective order of this kind:
    /// deterministic, so a later attempt looks it up before it could place it again. 35
    /// characters for hoox's 32-character ids, within Binance's `clientAlgoId` rule
    /// `^[.A-Z:/a-z0-9_-]{1,36}$`.
    pub fn client_id(self, client_order_id: &str) -> String {
        format!("{client_order_id}-{}", self.suffix())
    }
}

/// A protective order the exchange holds for a filled entry (Binance's conditional orders).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectiveOrder {
    pub kind: ProtectiveKind,
    pub client_id: String,
    pub exchange_id: String,
    /// The price that triggers it.
    pub trigger_price: Decimal,
    /// Base-asset units it closes.
    pub quantity: Decimal,
    /// The exchange's own word for its state, verbatim (`NEW`, ...).
    pub status: String,
}

/// Whether a filled entry's take-profit and stop-loss are in place at the exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Protection {
    /// They travelled with the order itself (Bybit `takeProfit`/`stopLoss`, MEXC
    /// `takeProfitPrice`/`stopLossPrice`; paper records them so): the exchange sets them as the
    /// order fills.
    Attached,
    /// Placed as separate conditional orders after the fill (Binance), one per price given.
    Placed(Vec<ProtectiveOrder>),
    /// Not (all) in place: the position is open without the protection the signal asked for.
    /// `placed` are the ones that are.
    Failed {
        placed: Vec<ProtectiveOrder>,
        reason: String,
    },
}

impl Protection {
    pub fn in_place(&self) -> bool {
        !matches!(self, Self::Failed { .. })
    }

    /// One line for operators: what is in place, or what is not and why.
    pub fn summary(&self) -> String {
        let list = |orders: &[ProtectiveOrder]| {
            orders
                .iter()
                .map(|o| format!("{} {} at {}", o.kind.as_str(), o.client_id, o.trigger_price))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Self::Attached => "take-profit/stop-loss attached to the order".into(),
            Self::Placed(orders) => format!("protective orders placed: {}", list(orders)),
            Self::Failed { placed, reason } if placed.is_empty() => {
                format!("take-profit/stop-loss NOT in place: {reason}")
            }
            Self::Failed { placed, reason } => format!(
                "take-profit/stop-loss NOT all in place: {reason} (placed: {})",
                list(placed)
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeEvent {
    pub idempotency_key: String,
    pub request_id: String,
    pub received_at_ms: i64,
    pub signal: Signal,
    pub outcome: Outcome,
    pub order: Option<OrderAck>,
    /// Why it was rejected or blocked; exchange messages are kept, secrets never are. For a
    /// fill whose protection failed, that failure ([`Protection::summary`]).
    pub detail: Option<String>,
    pub attempts: u32,
    pub at_ms: i64,
    /// For a filled entry whose signal carried a take-profit or stop-loss: whether they are in
    /// place. `None` otherwise, and in events encoded before the field existed. (Last, and
    /// only ever followed by later additions: the encoding is positional.)
    #[serde(default)]
    pub protection: Option<Protection>,
}

/// [`TradeEvent`] as encoded before `protection` was added: the same fields, in the same order,
/// without it. What [`TradeEvent::decode`] falls back to for an event whose bytes end there.
#[derive(Deserialize)]
struct TradeEventBeforeProtection {
    idempotency_key: String,
    request_id: String,
    received_at_ms: i64,
    signal: Signal,
    outcome: Outcome,
    order: Option<OrderAck>,
    detail: Option<String>,
    attempts: u32,
    at_ms: i64,
}

impl From<TradeEventBeforeProtection> for TradeEvent {
    fn from(e: TradeEventBeforeProtection) -> Self {
        Self {
            idempotency_key: e.idempotency_key,
            request_id: e.request_id,
            received_at_ms: e.received_at_ms,
            signal: e.signal,
            outcome: e.outcome,
            order: e.order,
            detail: e.detail,
            attempts: e.attempts,
            at_ms: e.at_ms,
            protection: None,
        }
    }
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
            protection: None,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        crate::job::encode_tagged(TRADE_EVENT_V1, self)
    }

    /// The event, whether encoded with every field or before `protection` existed (then
    /// `None`: the old layout, and nothing after it). Anything else is refused with the full
    /// layout's error.
    pub fn decode(bytes: &[u8]) -> Result<Self, crate::job::CodecError> {
        crate::job::decode_tagged(TRADE_EVENT_V1, bytes).or_else(|full| {
            let Some((&TRADE_EVENT_V1, body)) = bytes.split_first() else {
                return Err(full);
            };
            match postcard::take_from_bytes::<TradeEventBeforeProtection>(body) {
                Ok((old, [])) => Ok(Self::from(old)),
                _ => Err(full),
            }
        })
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

    /// The layout before `protection`, as an old worker encodes and decodes it.
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Old {
        idempotency_key: String,
        request_id: String,
        received_at_ms: i64,
        signal: Signal,
        outcome: Outcome,
        order: Option<OrderAck>,
        detail: Option<String>,
        attempts: u32,
        at_ms: i64,
    }

    fn filled() -> TradeEvent {
        let mut e = TradeEvent::for_job(&sample_job(), Outcome::Filled, 2, 5);
        e.order = Some(OrderAck {
            client_order_id: "hx-abc".into(),
            exchange_order_id: "1".into(),
            status: "FILLED".into(),
            filled_quantity: Decimal::new(1, 2),
            average_price: Some(Decimal::new(65000, 0)),
        });
        e
    }

    /// Issue 13, item 2: events encoded before `protection` existed (in the store, on the
    /// queue, in dead letters) still decode, with no protection; and a worker from before reads
    /// the new events, ignoring what it does not know.
    #[test]
    fn events_encoded_before_protection_still_decode_and_old_readers_read_new_ones() {
        let e = filled();
        let old = Old {
            idempotency_key: e.idempotency_key.clone(),
            request_id: e.request_id.clone(),
            received_at_ms: e.received_at_ms,
            signal: e.signal.clone(),
            outcome: e.outcome,
            order: e.order.clone(),
            detail: e.detail.clone(),
            attempts: e.attempts,
            at_ms: e.at_ms,
        };
        let old_bytes = crate::job::encode_tagged(TRADE_EVENT_V1, &old);
        assert_eq!(TradeEvent::decode(&old_bytes), Ok(e.clone()));

        let mut new = e;
        new.protection = Some(Protection::Failed {
            placed: vec![ProtectiveOrder {
                kind: ProtectiveKind::TakeProfit,
                client_id: ProtectiveKind::TakeProfit.client_id("hx-abc"),
                exchange_id: "7".into(),
                trigger_price: Decimal::new(70000, 0),
                quantity: Decimal::new(1, 2),
                status: "NEW".into(),
            }],
            reason: "stop-loss: Order would immediately trigger.".into(),
        });
        let bytes = new.encode();
        assert_eq!(TradeEvent::decode(&bytes), Ok(new.clone()));
        let read_by_old: Result<Old, _> = crate::job::decode_tagged(TRADE_EVENT_V1, &bytes);
        assert_eq!(read_by_old, Ok(old));
        // A body cut inside the new field is no event.
        assert!(TradeEvent::decode(&bytes[..bytes.len() - 3]).is_err());
        // JSON (the R2 event log) without the field reads as none.
        let mut json = serde_json::to_value(&new).unwrap();
        json.as_object_mut().unwrap().remove("protection");
        let from_json: TradeEvent = serde_json::from_value(json).unwrap();
        assert_eq!(from_json.protection, None);
    }

    #[test]
    fn protective_client_ids_fit_binance_and_summaries_say_what_is_missing() {
        let id = ProtectiveKind::StopLoss.client_id("hx0123456789abcdef0123456789abcd");
        assert_eq!(id, "hx0123456789abcdef0123456789abcd-sl");
        assert!(id.len() <= 36);
        let failed = Protection::Failed {
            placed: vec![],
            reason: "stop-loss: refused".into(),
        };
        assert!(!failed.in_place());
        assert_eq!(
            failed.summary(),
            "take-profit/stop-loss NOT in place: stop-loss: refused"
        );
        assert!(Protection::Attached.in_place());
    }
}
