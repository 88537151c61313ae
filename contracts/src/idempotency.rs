//! Idempotency: how a signal's key is chosen, how payloads are compared, the lifecycle each key
//! goes through, and the messages the workers exchange with the `IdempotencyStore` object.
//!
//! The store is the guard of exactly-once: the gateway records a key once (replaying its answer
//! to repeats), and the consumer must claim `submitting` before it may call an exchange.

use crate::event::Outcome;
use crate::signal::Signal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Number of `IdempotencyStore` objects keys are spread over.
pub const SHARDS: u32 = 64;
/// How long a claim protects an attempt that may still be talking to the exchange. Longer than
/// any exchange call's timeout, so an `InDoubt` answer means the earlier attempt is gone.
pub const CLAIM_LEASE_MS: i64 = 30_000;
/// Without a sender timestamp, a fingerprint treats identical signals within this window as one.
pub const FINGERPRINT_WINDOW_MS: i64 = 60_000;

/// Where a key came from, reported back to the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeySource {
    Body,
    Header,
    Fingerprint,
}

/// Hex SHA-256 of the validated signal; equal payloads hash equal whatever their spelling
/// (`"0.0010"` and `0.001`, `btc/usdt` and `BTCUSDT`), and the secret is never part of it.
pub fn payload_hash(signal: &Signal) -> String {
    let canonical = serde_json::to_vec(signal).unwrap_or_default();
    hex::encode(Sha256::digest(canonical))
}

/// The key of a signal: the body's `idempotencyKey`, else the `Idempotency-Key` header, else
/// `fp_` + a fingerprint of the payload and its timestamp (or, without one, the minute it
/// arrived in).
pub fn resolve_key(
    body_key: Option<&str>,
    header_key: Option<&str>,
    signal: &Signal,
    received_at_ms: i64,
) -> (String, KeySource) {
    if let Some(k) = body_key {
        return (k.to_owned(), KeySource::Body);
    }
    if let Some(k) = header_key {
        return (k.to_owned(), KeySource::Header);
    }
    let when = signal
        .timestamp_ms
        .map(|t| format!("t{t}"))
        .unwrap_or_else(|| format!("w{}", received_at_ms.div_euclid(FINGERPRINT_WINDOW_MS)));
    let digest = Sha256::digest(format!("{}|{when}", payload_hash(signal)));
    (
        format!("fp_{}", &hex::encode(digest)[..32]),
        KeySource::Fingerprint,
    )
}

/// Name of the store object that owns `key`.
pub fn shard_name(key: &str) -> String {
    let d = Sha256::digest(key.as_bytes());
    let n = u32::from_be_bytes([d[0], d[1], d[2], d[3]]) % SHARDS;
    format!("idempotency-{n:02}")
}

/// Deterministic client order id: the same key always yields the same id, so an exchange can be
/// asked about an order whose submit had an unknown outcome. 32 characters of `[a-z0-9]` fit
/// Bybit's `orderLinkId` (≤ 36), Binance's `newClientOrderId` and MEXC's `externalOid`.
pub fn client_order_id(key: &str) -> String {
    let d = Sha256::digest(key.as_bytes());
    format!("hx{}", &hex::encode(d)[..30])
}

/// The lifecycle of one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    /// Recorded by the gateway; the job is (or will be, through the outbox) on the queue.
    Accepted,
    /// A consumer claimed it and may be talking to the exchange right now.
    Submitting,
    /// Ended: filled, rejected or blocked.
    Done(Outcome),
    /// Ended in the dead-letter queue; an operator may reopen it for replay.
    Dead,
}

impl Lifecycle {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Submitting => "submitting",
            Self::Done(Outcome::Filled) => "filled",
            Self::Done(Outcome::Rejected) => "rejected",
            Self::Done(Outcome::Blocked) => "blocked",
            Self::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "accepted" => Self::Accepted,
            "submitting" => Self::Submitting,
            "filled" => Self::Done(Outcome::Filled),
            "rejected" => Self::Done(Outcome::Rejected),
            "blocked" => Self::Done(Outcome::Blocked),
            "dead" => Self::Dead,
            _ => return None,
        })
    }
}

// ---- Messages to the IdempotencyStore object (JSON over its fetch handler) ----

/// Record a key and enqueue its job (gateway → store).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntakeRequest {
    pub key: String,
    pub payload_hash: String,
    /// Encoded `TradeJob`, base64.
    pub job: String,
    /// The answer to replay to repeats.
    pub status: u16,
    pub body: String,
    pub ttl_seconds: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum IntakeResponse {
    /// Newly recorded. The job goes to the queue right after this answer; the object's outbox
    /// alarm re-sends it if that send fails.
    Recorded,
    /// Seen before with the same payload: replay this answer.
    Replay { status: u16, body: String },
    /// Seen before with a different payload.
    Conflict,
}

/// Consumer → store: may this job be submitted now?
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRequest {
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ClaimResponse {
    /// First claim: submit. `replayed_at_ms` is set when an operator replayed the key from the
    /// dead-letter queue: freshness then counts from that decision, not from the signal.
    Claimed {
        attempt: u32,
        #[serde(default)]
        replayed_at_ms: Option<i64>,
    },
    /// An earlier attempt claimed and never completed: its outcome is unknown, so query the
    /// exchange by client order id before submitting anything.
    InDoubt { attempt: u32 },
    /// Already ended; `event` (base64 `TradeEvent`) is re-published if it was not yet.
    Done {
        outcome: Outcome,
        event: Option<String>,
        event_published: bool,
    },
    /// Another delivery of the same job claimed it moments ago and may still be submitting:
    /// come back after `retry_after_seconds` rather than risk a second order.
    Busy { retry_after_seconds: u32 },
    /// Dead-lettered and not reopened.
    Dead,
    /// No record: expired, or never accepted by this gateway.
    Unknown,
}

/// Consumer → store: the job ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompleteRequest {
    pub key: String,
    pub outcome: Outcome,
    /// Encoded `TradeEvent`, base64.
    pub event: String,
}

/// Any worker → store: a small state change on one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum KeyUpdate {
    /// The trade event was published; stop re-publishing it.
    EventPublished { key: String },
    /// Record the last error of a failed attempt (shown with the dead letter). `released` says
    /// the attempt certainly placed no order, so the next one may claim afresh instead of
    /// reconciling.
    AttemptFailed {
        key: String,
        error: String,
        released: bool,
    },
    /// The job reached the dead-letter queue.
    MarkDead { key: String, reason: String },
    /// An operator replays a dead letter: let it be claimed again.
    Reopen { key: String },
}

/// The store's view of one key, for the DLQ worker and operators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyStatus {
    pub key: String,
    pub state: Lifecycle,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// The key died while an attempt's outcome at the exchange was unknown: an order may
    /// exist. A replay reconciles before it may submit.
    #[serde(default)]
    pub in_doubt: bool,
}

/// What a dead letter's detail adds when its key died in doubt.
pub const IN_DOUBT_NOTE: &str = "the last attempt's outcome at the exchange is unknown, so an order may exist; a replay looks it up by client order id before it may submit";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::parse_webhook;
    use proptest::prelude::*;

    fn signal(json: &str) -> Signal {
        parse_webhook(json.as_bytes()).unwrap().signal
    }

    #[test]
    fn equal_payloads_hash_equal_whatever_the_spelling() {
        let a = signal(
            r#"{"apiKey":"a","exchange":"paper","action":"buy","symbol":"btc/usdt","quantity":"0.0010"}"#,
        );
        let b = signal(
            r#"{"apiKey":"b","exchange":"PAPER","action":"LONG","symbol":"BTCUSDT","quantity":0.001}"#,
        );
        assert_eq!(payload_hash(&a), payload_hash(&b));
        let c =
            signal(r#"{"exchange":"paper","action":"LONG","symbol":"BTCUSDT","quantity":0.002}"#);
        assert_ne!(payload_hash(&a), payload_hash(&c));
    }

    #[test]
    fn key_precedence_body_header_fingerprint() {
        let s = signal(r#"{"exchange":"paper","action":"LONG","symbol":"BTCUSDT","quantity":1}"#);
        assert_eq!(
            resolve_key(Some("b"), Some("h"), &s, 0),
            ("b".into(), KeySource::Body)
        );
        assert_eq!(
            resolve_key(None, Some("h"), &s, 0),
            ("h".into(), KeySource::Header)
        );
        let (k1, src) = resolve_key(None, None, &s, 1_000);
        assert_eq!(src, KeySource::Fingerprint);
        assert!(k1.starts_with("fp_"));
        assert_eq!(
            resolve_key(None, None, &s, 59_000).0,
            k1,
            "same minute, same key"
        );
        assert_ne!(
            resolve_key(None, None, &s, 61_000).0,
            k1,
            "next minute, new key"
        );
    }

    #[test]
    fn lifecycle_names_round_trip() {
        for l in [
            Lifecycle::Accepted,
            Lifecycle::Submitting,
            Lifecycle::Done(Outcome::Filled),
            Lifecycle::Done(Outcome::Rejected),
            Lifecycle::Done(Outcome::Blocked),
            Lifecycle::Dead,
        ] {
            assert_eq!(Lifecycle::parse(l.as_str()), Some(l));
        }
    }

    proptest! {
        #[test]
        fn client_order_ids_fit_every_exchange(key in ".{1,255}") {
            let id = client_order_id(&key);
            prop_assert_eq!(id.len(), 32);
            prop_assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
            prop_assert_eq!(id, client_order_id(&key));
        }

        #[test]
        fn shards_are_in_range(key in ".{1,64}") {
            let name = shard_name(&key);
            let n: u32 = name.trim_start_matches("idempotency-").parse().unwrap();
            prop_assert!(n < SHARDS);
        }
    }
}
