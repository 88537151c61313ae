//! Queue envelopes: the `TradeJob` on `trade-execution` and the dead letter on
//! `trade-execution-dlq`, encoded with `postcard` behind a one-byte schema version.
//!
//! The leading byte lets a consumer refuse a body it does not understand (an older or newer
//! producer, or garbage) with a reason, instead of guessing. Dead letters the consumer sends
//! itself carry their own tag so the DLQ worker can tell them from jobs the platform moved there
//! after `max_retries`.

use crate::event::{Fee, OrderAck};
use crate::signal::{Exchange, Signal};
use serde::{Deserialize, Serialize};

/// Schema version of [`TradeJob`] bodies.
pub const TRADE_JOB_V1: u8 = 1;
/// Tag of [`DeadLetter`] bodies (high bit set so it can never collide with a job version).
pub const DEAD_LETTER_V1: u8 = 0x81;
/// Tag of [`FollowOrder`] bodies on `trade-execution`: outside the range job versions count up
/// in (from 1) and apart from the dead letters' high-bit tags.
pub const FOLLOW_ORDER_V1: u8 = 0x41;

/// One accepted signal, as the gateway enqueues it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeJob {
    pub idempotency_key: String,
    pub request_id: String,
    /// When the gateway accepted the signal, epoch ms; orders per pair follow this order.
    pub received_at_ms: i64,
    pub signal: Signal,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("empty message body")]
    Empty,
    #[error("unknown schema version {0}")]
    UnknownVersion(u8),
    #[error("body does not decode as version {version}: {message}")]
    Malformed { version: u8, message: String },
}

impl CodecError {
    pub fn reason(&self) -> DeadLetterReason {
        match self {
            Self::UnknownVersion(_) => DeadLetterReason::UnknownVersion,
            _ => DeadLetterReason::Undecodable,
        }
    }
}

pub(crate) fn encode_tagged<T: Serialize>(tag: u8, value: &T) -> Vec<u8> {
    let out = vec![tag];
    // Serialising plain structs into a Vec cannot fail (no maps with non-string keys, no I/O).
    match postcard::to_extend(value, out) {
        Ok(v) => v,
        Err(e) => unreachable!("postcard encoding of an owned struct failed: {e}"),
    }
}

pub(crate) fn decode_tagged<'a, T: Deserialize<'a>>(
    tag: u8,
    bytes: &'a [u8],
) -> Result<T, CodecError> {
    let (&first, rest) = bytes.split_first().ok_or(CodecError::Empty)?;
    if first != tag {
        return Err(CodecError::UnknownVersion(first));
    }
    postcard::from_bytes(rest).map_err(|e| CodecError::Malformed {
        version: first,
        message: e.to_string(),
    })
}

impl TradeJob {
    pub fn encode(&self) -> Vec<u8> {
        encode_tagged(TRADE_JOB_V1, self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        decode_tagged(TRADE_JOB_V1, bytes)
    }
}

/// A follow-up of one order that was not final when last seen (an acknowledgement with no fill
/// data, a resting limit order, a partial fill): the trade-worker looks it up again, by client
/// order id only, when this message is delivered (it is sent with a delay, see
/// `engine::follow`). It never submits anything, so it needs no claim: a duplicate follow-up is
/// one more lookup, and the ledger keeps the most advanced state it was told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowOrder {
    /// The signal's job: its key, request id, intake time and signal, which each update repeats.
    pub job: TradeJob,
    /// Where the order went (a real exchange: paper fills at once).
    pub venue: Exchange,
    pub testnet: bool,
    pub client_order_id: String,
    /// When the order was first seen (the outcome's time), epoch ms; the follow-up gives up
    /// `trade:follow_orders_seconds` after it.
    pub first_seen_ms: i64,
    /// Lookups made so far (the schedule's position).
    pub lookups: u32,
    /// The order as last seen.
    pub last: OrderAck,
    /// Its fees as last known.
    pub last_fee: Option<Fee>,
    /// The outcome's attempt number, repeated on each update event.
    pub attempts: u32,
    /// Lookups made after the order was seen final, for a fee its records did not tell yet.
    pub fee_retries: u32,
}

impl FollowOrder {
    pub fn encode(&self) -> Vec<u8> {
        encode_tagged(FOLLOW_ORDER_V1, self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        decode_tagged(FOLLOW_ORDER_V1, bytes)
    }
}

/// Whatever a `trade-execution` body is: a signal's job, or an order's follow-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutionBody {
    Job(TradeJob),
    Follow(FollowOrder),
}

impl ExecutionBody {
    /// By the leading tag; a body that is neither is refused with the job decoder's reason.
    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        match bytes.first() {
            Some(&FOLLOW_ORDER_V1) => FollowOrder::decode(bytes).map(Self::Follow),
            _ => TradeJob::decode(bytes).map(Self::Job),
        }
    }
}

/// Why a signal ended as a dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeadLetterReason {
    /// The body was not a job hoox can read.
    Undecodable,
    /// The body names a schema version this consumer does not know.
    UnknownVersion,
    /// The kill switch was on (or unreadable) when the job ran; replay once it is off.
    KillSwitch,
    /// Older than `trade:max_signal_age_seconds` when the consumer saw it.
    Stale,
    /// The exchange is disabled by `exchange:<name>:enabled`.
    ExchangeDisabled,
    /// Every retry failed; the platform moved the job to the DLQ.
    MaxRetries,
    /// The idempotency store has no record of the key (expired, or not from this gateway).
    Unrecorded,
    /// Found by the dlq worker's sweep: accepted long ago and never claimed (its job may never
    /// have reached `trade-execution`). The key is not marked dead. (Appended: postcard encodes
    /// variants by index.)
    Unclaimed,
    /// Found by the sweep: claimed, then left with no live claim and no retry for too long.
    Abandoned,
    /// An opening signal (`LONG`/`SHORT`) a pause of `trade:entries_paused` covered; nothing
    /// was sent. Replay once the pause is lifted. (Appended, as above.)
    EntriesPaused,
}

impl DeadLetterReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Undecodable => "undecodable",
            Self::UnknownVersion => "unknown_version",
            Self::KillSwitch => "kill_switch",
            Self::Stale => "stale",
            Self::ExchangeDisabled => "exchange_disabled",
            Self::MaxRetries => "max_retries",
            Self::Unrecorded => "unrecorded",
            Self::Unclaimed => "unclaimed",
            Self::Abandoned => "abandoned",
            Self::EntriesPaused => "entries_paused",
        }
    }
}

/// A dead letter the consumer sends itself (a decision, not an exhausted retry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub reason: DeadLetterReason,
    pub detail: String,
    /// Delivery attempts of the original message when it was dead-lettered.
    pub attempts: u32,
    /// The job, when it decoded.
    pub job: Option<TradeJob>,
    /// The original body when it did not decode, so nothing is lost.
    pub raw: Vec<u8>,
}

impl DeadLetter {
    pub fn encode(&self) -> Vec<u8> {
        encode_tagged(DEAD_LETTER_V1, self)
    }
}

/// What the DLQ worker makes of any body that reaches `trade-execution-dlq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DlqBody {
    /// Sent by the consumer with a reason.
    Letter(DeadLetter),
    /// A job the platform moved after `max_retries`.
    Exhausted(TradeJob),
    /// Anything else: kept as raw bytes with the decoding error.
    Unreadable { error: CodecError, raw: Vec<u8> },
}

impl DlqBody {
    pub fn decode(bytes: &[u8]) -> Self {
        match bytes.first() {
            Some(&DEAD_LETTER_V1) => match decode_tagged(DEAD_LETTER_V1, bytes) {
                Ok(letter) => Self::Letter(letter),
                Err(error) => Self::Unreadable {
                    error,
                    raw: bytes.to_vec(),
                },
            },
            _ => match TradeJob::decode(bytes) {
                Ok(job) => Self::Exhausted(job),
                Err(error) => Self::Unreadable {
                    error,
                    raw: bytes.to_vec(),
                },
            },
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::signal::{Action, Exchange, OrderType};
    use crate::symbol::Symbol;
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    /// A job as the gateway would enqueue it for a paper market order.
    pub fn sample_job() -> TradeJob {
        TradeJob {
            idempotency_key: "tv-123".into(),
            request_id: "req-1".into(),
            received_at_ms: 1_764_300_000_000,
            signal: Signal {
                exchange: Exchange::Paper,
                action: Action::Long,
                symbol: Symbol::parse("BTCUSDT").unwrap(),
                quantity: Decimal::new(1, 3),
                price: Some(Decimal::new(650005, 1)),
                order_type: OrderType::Market,
                leverage: Some(5),
                take_profit: None,
                stop_loss: Some(Decimal::new(60000, 0)),
                test: false,
                timestamp_ms: Some(1_764_300_000_000),
            },
        }
    }

    #[test]
    fn job_round_trips_with_version_byte() {
        let job = sample_job();
        let bytes = job.encode();
        assert_eq!(bytes[0], TRADE_JOB_V1);
        assert_eq!(TradeJob::decode(&bytes), Ok(job.clone()));
        assert_eq!(DlqBody::decode(&bytes), DlqBody::Exhausted(job));
    }

    #[test]
    fn unknown_versions_and_garbage_are_refused_with_a_reason() {
        let mut bytes = sample_job().encode();
        bytes[0] = 9;
        assert_eq!(TradeJob::decode(&bytes), Err(CodecError::UnknownVersion(9)));
        assert_eq!(TradeJob::decode(&[]), Err(CodecError::Empty));
        let e = TradeJob::decode(&[TRADE_JOB_V1, 0xff]).unwrap_err();
        assert_eq!(e.reason(), DeadLetterReason::Undecodable);
        assert!(matches!(
            DlqBody::decode(b"{\"json\":1}"),
            DlqBody::Unreadable { .. }
        ));
    }

    #[test]
    fn dead_letters_round_trip() {
        let letter = DeadLetter {
            reason: DeadLetterReason::KillSwitch,
            detail: "trade:kill_switch is on".into(),
            attempts: 1,
            job: Some(sample_job()),
            raw: vec![],
        };
        assert_eq!(DlqBody::decode(&letter.encode()), DlqBody::Letter(letter));
    }

    pub fn sample_follow() -> FollowOrder {
        FollowOrder {
            job: sample_job(),
            venue: Exchange::Bybit,
            testnet: true,
            client_order_id: "hx0123".into(),
            first_seen_ms: 1_764_300_000_500,
            lookups: 2,
            last: OrderAck {
                client_order_id: "hx0123".into(),
                exchange_order_id: "42".into(),
                status: "PartiallyFilled".into(),
                filled_quantity: Decimal::new(5, 4),
                average_price: Some(Decimal::new(65000, 0)),
            },
            last_fee: Some(Fee {
                amount: Decimal::new(18, 3),
                asset: "USDT".into(),
            }),
            attempts: 1,
            fee_retries: 0,
        }
    }

    #[test]
    fn execution_bodies_are_told_apart_by_their_tag() {
        let follow = sample_follow();
        let bytes = follow.encode();
        assert_eq!(bytes[0], FOLLOW_ORDER_V1);
        assert_eq!(
            ExecutionBody::decode(&bytes),
            Ok(ExecutionBody::Follow(follow))
        );
        let job = sample_job();
        assert_eq!(
            ExecutionBody::decode(&job.encode()),
            Ok(ExecutionBody::Job(job))
        );
        // A job decoder never mistakes a follow-up for a job.
        assert_eq!(
            TradeJob::decode(&bytes),
            Err(CodecError::UnknownVersion(FOLLOW_ORDER_V1))
        );
        assert!(ExecutionBody::decode(&[FOLLOW_ORDER_V1, 0xff]).is_err());
        assert_eq!(ExecutionBody::decode(&[]), Err(CodecError::Empty));
    }

    prop_compose! {
        fn arb_job()(key in "[ -~]{1,64}", rid in "[a-f0-9]{8,32}", at in 0i64..4_000_000_000_000, q in 1i64..1_000_000_000, scale in 0u32..10, lev in proptest::option::of(1u8..=125), ts in proptest::option::of(0i64..4_000_000_000_000)) -> TradeJob {
            let mut job = sample_job();
            job.idempotency_key = key;
            job.request_id = rid;
            job.received_at_ms = at;
            job.signal.quantity = Decimal::new(q, scale);
            job.signal.leverage = lev;
            job.signal.timestamp_ms = ts;
            job
        }
    }

    proptest! {
        #[test]
        fn any_job_round_trips(job in arb_job()) {
            prop_assert_eq!(TradeJob::decode(&job.encode()), Ok(job));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = TradeJob::decode(&bytes);
            let _ = DlqBody::decode(&bytes);
            let _ = ExecutionBody::decode(&bytes);
        }
    }
}
