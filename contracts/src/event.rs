//! `TradeEvent`: what the execution consumer publishes on `trade-events` after a signal reaches
//! its end, and after each change the follow-up sees in its order; what the fan-out writes to
//! the ledger, logs and alerts.
//!
//! Side effects hang off this event, never off the execution itself, so a D1 or Telegram outage
//! retries the event and can never submit an order twice.
//!
//! The encoding is postcard, which is positional: a field is only ever added at the end of
//! [`TradeEvent`]. After `at_ms` came first [`TradeEvent::protection`] (take-profit/stop-loss
//! in place), then issue 13's where the order went ([`TradeEvent::venue`],
//! [`TradeEvent::testnet`]), its fees ([`TradeEvent::fee`]) and, for a follow-up's event,
//! [`TradeEvent::update`]. [`TradeEvent::decode`] reads an event encoded with either shorter
//! layout (an event the store kept and republishes, one still queued during a deploy: its bytes
//! simply end earlier) with the missing fields empty, and a decoder from before a field reads a
//! new event's leading fields and ignores the rest, so old and new workers read each other's
//! events during a deploy. The version byte stays [`TRADE_EVENT_V1`] for that reason.

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
    /// The exchange or a pre-trade check refused it for good. (A hoox rule that stops a signal
    /// before the exchange, such as the kill switch, makes a dead letter, not an outcome.)
    Rejected,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Filled => "filled",
            Self::Rejected => "rejected",
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
    /// Why it was rejected or blocked; exchange messages are kept, secrets never are. For a
    /// fill whose protection failed, that failure ([`Protection::summary`]).
    pub detail: Option<String>,
    pub attempts: u32,
    pub at_ms: i64,
    /// For a filled entry whose signal carried a take-profit or stop-loss: whether they are in
    /// place. `None` otherwise, and in events encoded before the field existed. (First of the
    /// appended fields: the encoding is positional.)
    #[serde(default)]
    pub protection: Option<Protection>,
    /// Where the order went: the routed exchange, `Paper` when paper-traded. `None` for a
    /// signal that never had an order, and for events encoded before issue 13.
    pub venue: Option<Exchange>,
    /// The order went to the exchange's testnet.
    pub testnet: bool,
    /// What the order's fills cost so far, when the exchange's fill records say.
    pub fee: Option<Fee>,
    /// Set on a follow-up's event (the order changed after the outcome); `None` on the outcome.
    pub update: Option<OrderUpdate>,
}

/// [`TradeEvent`] as encoded before `protection` and issue 13's fields were added: the same
/// fields, in the same order, without them. What [`TradeEvent::decode`] falls back to last.
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

/// [`TradeEvent`] as encoded with `protection` but before issue 13's venue, testnet, fee and
/// update: what [`TradeEvent::decode`] falls back to first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct TradeEventBeforeFollow {
    idempotency_key: String,
    request_id: String,
    received_at_ms: i64,
    signal: Signal,
    outcome: Outcome,
    order: Option<OrderAck>,
    detail: Option<String>,
    attempts: u32,
    at_ms: i64,
    protection: Option<Protection>,
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
            protection: None,
            venue: None,
            fee: None,
            update: None,
        }
    }
}

impl From<TradeEventBeforeFollow> for TradeEvent {
    fn from(v: TradeEventBeforeFollow) -> Self {
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
            protection: v.protection,
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
            protection: None,
            venue: None,
            testnet: job.signal.test,
            fee: None,
            update: None,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        crate::job::encode_tagged(TRADE_EVENT_V1, self)
    }

    /// The event, whether encoded with every field, before issue 13's (then those are empty)
    /// or before `protection` too (then it is `None` as well): each older layout, and nothing
    /// after it. Anything else is refused with the full layout's error.
    pub fn decode(bytes: &[u8]) -> Result<Self, crate::job::CodecError> {
        crate::job::decode_tagged(TRADE_EVENT_V1, bytes).or_else(|full| {
            let Some((&TRADE_EVENT_V1, body)) = bytes.split_first() else {
                return Err(full);
            };
            if let Ok((old, [])) = postcard::take_from_bytes::<TradeEventBeforeFollow>(body) {
                return Ok(Self::from(old));
            }
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

    /// An event encoded with `protection` but before issue 13's fields (the layout of workers
    /// from before the follow-up) still decodes, its protection kept and venue, fee and update
    /// empty; such a worker reads a new event's leading fields, protection included; and an
    /// event cut anywhere after `at_ms` but short of a whole layout is refused.
    #[test]
    fn events_encoded_with_protection_but_before_issue_13_still_decode() {
        let mut e = filled();
        e.protection = Some(Protection::Attached);
        let mid = TradeEventBeforeFollow {
            idempotency_key: e.idempotency_key.clone(),
            request_id: e.request_id.clone(),
            received_at_ms: e.received_at_ms,
            signal: e.signal.clone(),
            outcome: e.outcome,
            order: e.order.clone(),
            detail: e.detail.clone(),
            attempts: e.attempts,
            at_ms: e.at_ms,
            protection: e.protection.clone(),
        };
        let mid_bytes = crate::job::encode_tagged(TRADE_EVENT_V1, &mid);
        let decoded = TradeEvent::decode(&mid_bytes).unwrap();
        assert_eq!(decoded, e);
        assert_eq!(decoded.protection, Some(Protection::Attached));
        assert_eq!(
            (decoded.venue, decoded.fee, decoded.update),
            (None, None, None)
        );
        assert_eq!(decoded.testnet, e.signal.test);

        let mut new = e;
        new.venue = Some(Exchange::Binance);
        new.fee = Some(Fee {
            amount: Decimal::new(12, 3),
            asset: "USDT".into(),
        });
        new.update = Some(OrderUpdate {
            state: FollowState::Following,
            lookups: 1,
            first_seen_ms: 5,
            status_changed: false,
            fill_changed: true,
        });
        let bytes = new.encode();
        assert_eq!(TradeEvent::decode(&bytes), Ok(new.clone()));
        let read_by_mid: Result<TradeEventBeforeFollow, _> =
            crate::job::decode_tagged(TRADE_EVENT_V1, &bytes);
        assert_eq!(read_by_mid, Ok(mid));
        // Every cut between the two shorter layouts' ends and the full one is refused.
        let v1_len = crate::job::encode_tagged(
            TRADE_EVENT_V1,
            &TradeEventV1 {
                idempotency_key: new.idempotency_key.clone(),
                request_id: new.request_id.clone(),
                received_at_ms: new.received_at_ms,
                signal: new.signal.clone(),
                outcome: new.outcome,
                order: new.order.clone(),
                detail: new.detail.clone(),
                attempts: new.attempts,
                at_ms: new.at_ms,
            },
        )
        .len();
        for cut in v1_len + 1..bytes.len() {
            if cut == mid_bytes.len() {
                continue;
            }
            assert!(TradeEvent::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
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
