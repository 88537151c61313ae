//! `TradeEvent`: what the execution consumer publishes on `trade-events` after a signal reaches
//! its end, and after each change the follow-up sees in its order; what the fan-out writes to
//! the ledger, logs and alerts.
//!
//! Side effects hang off this event, never off the execution itself, so a D1 or Telegram outage
//! retries the event and can never submit an order twice.
//!
//! The encoding is postcard, which is positional: a field is only ever added at the end of
//! [`TradeEvent`]. Issue 13 added, after `at_ms`, where the order went ([`TradeEvent::venue`],
//! [`TradeEvent::testnet`]), its fees ([`TradeEvent::fee`]) and, for a follow-up's event,
//! [`TradeEvent::update`]. [`TradeEvent::decode`] reads an event encoded before them (an event
//! the store kept and republishes, one still queued during a deploy: its bytes simply end
//! earlier) with those fields empty, and a decoder from before them reads a new event's leading
//! fields and ignores the rest, so old and new workers read each other's events during a
//! deploy. The version byte stays [`TRADE_EVENT_V1`] for that reason.

use crate::job::TradeJob;
use crate::signal::{Exchange, Signal};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The schema tag of every event (fields are appended, never changed: see the module doc).
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

/// What an order's fills cost, as the exchange's own fill records say (Bybit's executions,
/// Binance's account trades, MEXC's order fees). Never estimated: where the exchange said
/// nothing, an event carries no fee at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fee {
    /// Paid, in `asset`; negative is a rebate.
    pub amount: Decimal,
    /// `USDT` on every linear USDT contract hoox trades; kept, since realised PnL subtracts only
    /// fees in the quote asset.
    pub asset: String,
}

/// How the exchange's status word classes an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StatusClass {
    /// Accepted and not ended: acknowledged, new, resting, partly filled, untriggered.
    Open,
    /// Wholly filled: final.
    Filled,
    /// Cancelled, rejected, expired, deactivated or invalid: final, whatever part filled.
    Ended,
}

impl StatusClass {
    /// Filled or ended: nothing more will happen to the order.
    pub fn is_final(self) -> bool {
        self != Self::Open
    }
}

/// Classes an exchange's status word, case and separators aside: Bybit's `Filled` / `New` /
/// `PartiallyFilled` / `Cancelled` / `Rejected` / `Deactivated` / `PartiallyFilledCanceled`,
/// Binance's `FILLED` / `NEW` / `PARTIALLY_FILLED` / `CANCELED` / `REJECTED` / `EXPIRED` /
/// `EXPIRED_IN_MATCH`, MEXC's words for its states 1–5 (`Filled` or `Completed` for 3,
/// `Canceled` for 4, `Invalid` for 5), paper's `Filled`. Anything not known to be final
/// (including an acknowledgement with no fill data, and any unknown word) is open: it is looked
/// up again rather than taken as an end.
pub fn classify_status(status: &str) -> StatusClass {
    let word: String = status
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    if ["cancel", "reject", "expire", "invalid", "deactivat"]
        .iter()
        .any(|w| word.contains(w))
    {
        return StatusClass::Ended;
    }
    match word.as_str() {
        "filled" | "completed" => StatusClass::Filled,
        _ => StatusClass::Open,
    }
}

/// Where a follow-up left its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FollowState {
    /// Still open at the exchange: looked up again later.
    Following,
    /// Filled, cancelled, expired or rejected: no longer followed.
    Final,
    /// Still open after `trade:follow_orders_seconds`: left open at the exchange, shown as open,
    /// no longer followed (its fills still reach the positions table from the exchange).
    LeftOpen,
    /// The follow-up could not go on (credentials gone, the exchange refusing the lookup for
    /// good): the order's last known state stands.
    Stopped,
}

impl FollowState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Following => "following",
            Self::Final => "final",
            Self::LeftOpen => "left_open",
            Self::Stopped => "stopped",
        }
    }

    /// How far along an order is, for never letting a later but staler update overwrite a
    /// fresher one of the same fill: following < left open / stopped < final.
    pub fn rank(self) -> u8 {
        match self {
            Self::Following => 0,
            Self::LeftOpen | Self::Stopped => 1,
            Self::Final => 2,
        }
    }
}

/// What a follow-up event adds: the order changed after the signal's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderUpdate {
    pub state: FollowState,
    /// Lookups the follow-up has made, this one included.
    pub lookups: u32,
    /// When the order was first seen (the outcome's time), epoch ms.
    pub first_seen_ms: i64,
    /// The order's status word changed since the follow-up last saw it.
    pub status_changed: bool,
    /// Its filled quantity changed (grew).
    pub fill_changed: bool,
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
    /// Where the order went: the routed exchange, `Paper` when paper-traded. `None` for a
    /// signal that never had an order, and for version-1 events.
    pub venue: Option<Exchange>,
    /// The order went to the exchange's testnet.
    pub testnet: bool,
    /// What the order's fills cost so far, when the exchange's fill records say.
    pub fee: Option<Fee>,
    /// Set on a follow-up's event (the order changed after the outcome); `None` on the outcome.
    pub update: Option<OrderUpdate>,
}

/// The layout before issue 13 (no venue, testnet, fee or update), for decoding older bodies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct TradeEventV1 {
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

impl From<TradeEventV1> for TradeEvent {
    fn from(v: TradeEventV1) -> Self {
        Self {
            testnet: v.signal.test,
            idempotency_key: v.idempotency_key,
            request_id: v.request_id,
            received_at_ms: v.received_at_ms,
            signal: v.signal,
            outcome: v.outcome,
            order: v.order,
            detail: v.detail,
            attempts: v.attempts,
            at_ms: v.at_ms,
            venue: None,
            fee: None,
            update: None,
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
            venue: None,
            testnet: job.signal.test,
            fee: None,
            update: None,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        crate::job::encode_tagged(TRADE_EVENT_V1, self)
    }

    /// The event, whether encoded with every field or before issue 13's (then those are empty:
    /// the old layout, and nothing after it). Anything else is refused with the full layout's
    /// error.
    pub fn decode(bytes: &[u8]) -> Result<Self, crate::job::CodecError> {
        crate::job::decode_tagged(TRADE_EVENT_V1, bytes).or_else(|full| {
            let Some((&TRADE_EVENT_V1, body)) = bytes.split_first() else {
                return Err(full);
            };
            match postcard::take_from_bytes::<TradeEventV1>(body) {
                Ok((old, [])) => Ok(Self::from(old)),
                _ => Err(full),
            }
        })
    }

    /// The order's class by its status word; `None` without an order.
    pub fn status_class(&self) -> Option<StatusClass> {
        self.order.as_ref().map(|o| classify_status(&o.status))
    }

    /// `mainnet` or `testnet`, as the ledger names networks.
    pub fn network(&self) -> &'static str {
        network_name(self.testnet)
    }
}

/// `mainnet` or `testnet`.
pub fn network_name(testnet: bool) -> &'static str {
    if testnet {
        "testnet"
    } else {
        "mainnet"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::tests::sample_job;

    fn ack() -> OrderAck {
        OrderAck {
            client_order_id: "hx-abc".into(),
            exchange_order_id: "paper-1".into(),
            status: "Filled".into(),
            filled_quantity: Decimal::new(1, 3),
            average_price: Some(Decimal::new(650005, 1)),
        }
    }

    #[test]
    fn event_round_trips() {
        let mut e = TradeEvent::for_job(&sample_job(), Outcome::Filled, 1, 5);
        e.order = Some(ack());
        e.venue = Some(Exchange::Bybit);
        e.fee = Some(Fee {
            amount: Decimal::new(35, 3),
            asset: "USDT".into(),
        });
        e.update = Some(OrderUpdate {
            state: FollowState::Final,
            lookups: 3,
            first_seen_ms: 5,
            status_changed: true,
            fill_changed: false,
        });
        let bytes = e.encode();
        assert_eq!(bytes[0], TRADE_EVENT_V1);
        assert_eq!(TradeEvent::decode(&bytes), Ok(e.clone()));
        assert!(TradeEvent::decode(&[2, 0]).is_err());
        assert!(TradeEvent::decode(&[]).is_err());
        // A decoder from before issue 13 reads a new event's leading fields and ignores the rest.
        let old: TradeEventV1 = postcard::from_bytes(&bytes[1..]).unwrap();
        assert_eq!(
            (old.idempotency_key, old.at_ms),
            (e.idempotency_key, e.at_ms)
        );
    }

    /// An event encoded before issue 13's fields (the store keeps them; one may be queued
    /// during a deploy) still decodes, with no venue, fee or update.
    #[test]
    fn version_one_events_still_decode() {
        let job = sample_job();
        let old = TradeEventV1 {
            idempotency_key: job.idempotency_key.clone(),
            request_id: job.request_id.clone(),
            received_at_ms: job.received_at_ms,
            signal: job.signal.clone(),
            outcome: Outcome::Filled,
            order: Some(ack()),
            detail: None,
            attempts: 2,
            at_ms: 9,
        };
        let bytes = crate::job::encode_tagged(TRADE_EVENT_V1, &old);
        let e = TradeEvent::decode(&bytes).unwrap();
        assert_eq!(e.order, Some(ack()));
        assert_eq!((e.attempts, e.at_ms), (2, 9));
        assert_eq!((e.venue, e.fee, e.update), (None, None, None));
        assert_eq!(e.testnet, job.signal.test);
    }

    #[test]
    fn status_words_class_orders() {
        for s in ["Filled", "FILLED", "filled", "Completed"] {
            assert_eq!(classify_status(s), StatusClass::Filled, "{s}");
        }
        for s in [
            "Cancelled",
            "CANCELED",
            "Canceled",
            "PartiallyFilledCanceled",
            "Rejected",
            "REJECTED",
            "EXPIRED",
            "EXPIRED_IN_MATCH",
            "Deactivated",
            "Invalid",
        ] {
            assert_eq!(classify_status(s), StatusClass::Ended, "{s}");
        }
        for s in [
            "New",
            "NEW",
            "PartiallyFilled",
            "PARTIALLY_FILLED",
            "Created",
            "Acknowledged",
            "Pending",
            "Unfilled",
            "Untriggered",
            "Triggered",
            "Unknown",
            "State7",
            "",
        ] {
            assert_eq!(classify_status(s), StatusClass::Open, "{s}");
            assert!(!classify_status(s).is_final());
        }
    }

    #[test]
    fn follow_states_rank_towards_final() {
        assert!(FollowState::Following.rank() < FollowState::LeftOpen.rank());
        assert!(FollowState::LeftOpen.rank() < FollowState::Final.rank());
        assert_eq!(FollowState::Stopped.rank(), FollowState::LeftOpen.rank());
        assert_eq!(network_name(true), "testnet");
    }
}
