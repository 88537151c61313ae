//! Idempotency: how a signal's key is chosen, how payloads are compared, the lifecycle each key
//! goes through, and the messages the workers exchange with the `IdempotencyStore` object.
//!
//! The store is the guard of exactly-once: the gateway records a key once (replaying its answer
//! to repeats), and the consumer must claim `submitting` before it may call an exchange.

use crate::event::Outcome;
pub use crate::lifecycle::{ATTEMPT_DEADLINE_MS, CLAIM_LEASE_MS, SETTLE_MS};
use crate::signal::Signal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Number of `IdempotencyStore` objects keys are spread over.
pub const SHARDS: u32 = 64;
/// Default of `idempotency:fingerprint_window_seconds`: identical keyless signals within this
/// long of the first are one signal.
pub const FINGERPRINT_WINDOW_MS: i64 = 60_000;

/// Hex SHA-256 of the validated signal; equal payloads hash equal whatever their spelling
/// (`"0.0010"` and `0.001`, `btc/usdt` and `BTCUSDT`), and the secret is never part of it.
pub fn payload_hash(signal: &Signal) -> String {
    let canonical = serde_json::to_vec(signal).unwrap_or_default();
    hex::encode(Sha256::digest(canonical))
}

/// A chosen key, and for a keyless signal without a sender timestamp the fingerprint whose
/// sliding window the store applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedKey {
    pub key: String,
    pub window: Option<FingerprintWindow>,
}

/// The key of a signal, in this order: the body's `idempotencyKey`; the `Idempotency-Key`
/// header; a verified Standard Webhooks `webhook-id` (a sender's retry of the same message
/// carries the same id); else a fingerprint of the payload. With a
/// sender `timestamp` the fingerprint is `fp_` + hash(payload, timestamp), the same key forever.
/// Without one it is `fp_<hash>-<arrival ms>`, and the store treats a signal with the same
/// `fp_<hash>` recorded within `window_ms` as this one (a sliding window: a retry two seconds
/// later is a duplicate whatever minute it lands in).
pub fn resolve_key(
    body_key: Option<&str>,
    header_key: Option<&str>,
    webhook_id: Option<&str>,
    signal: &Signal,
    received_at_ms: i64,
    window_ms: i64,
) -> ResolvedKey {
    let explicit = |key: &str| ResolvedKey {
        key: key.to_owned(),
        window: None,
    };
    if let Some(k) = body_key {
        return explicit(k);
    }
    if let Some(k) = header_key {
        return explicit(k);
    }
    if let Some(k) = webhook_id.filter(|k| !k.is_empty()) {
        return explicit(k);
    }
    let hash = payload_hash(signal);
    if let Some(t) = signal.timestamp_ms {
        let digest = Sha256::digest(format!("{hash}|t{t}"));
        return explicit(&format!("fp_{}", &hex::encode(digest)[..32]));
    }
    let fingerprint = format!("fp_{}", &hash[..32]);
    ResolvedKey {
        key: format!("{fingerprint}-{received_at_ms}"),
        window: Some(FingerprintWindow {
            fingerprint,
            window_ms,
        }),
    }
}

/// What a key is sharded by: a windowed fingerprint key (`fp_<hash>-<ms>`) by its fingerprint,
/// so every signal of one fingerprint lives in one object; any other key by itself.
fn shard_basis(key: &str) -> &str {
    match key.split_once('-') {
        Some((fp, ms))
            if fp.len() == 35
                && fp.starts_with("fp_")
                && !ms.is_empty()
                && ms.bytes().all(|b| b.is_ascii_digit()) =>
        {
            fp
        }
        _ => key,
    }
}

/// Name of the store object that owns `key`.
pub fn shard_name(key: &str) -> String {
    let d = Sha256::digest(shard_basis(key).as_bytes());
    let n = u32::from_be_bytes([d[0], d[1], d[2], d[3]]) % SHARDS;
    format!("idempotency-{n:02}")
}

/// Every shard's name (operators' fan-out: the kill switch, the stuck-key sweep).
pub fn all_shards() -> impl Iterator<Item = String> {
    (0..SHARDS).map(|n| format!("idempotency-{n:02}"))
}

/// Deterministic client order id: the same signal always yields the same id, so an exchange can
/// be asked about an order whose submit had an unknown outcome. It is derived from the key and
/// the time of the signal's first intake (carried in the job, identical on every redelivery and
/// replay), so a key reused after its TTL (a static key in an alert template) gets a new id and
/// is never reconciled to the old order. 32 characters of `[a-z0-9]` fit Bybit's `orderLinkId`
/// (≤ 36), Binance's `newClientOrderId` and MEXC's `externalOid`.
pub fn client_order_id(key: &str, received_at_ms: i64) -> String {
    let d = Sha256::digest(format!("{key}\n{received_at_ms}").as_bytes());
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
            Self::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "accepted" => Self::Accepted,
            "submitting" => Self::Submitting,
            "filled" => Self::Done(Outcome::Filled),
            "rejected" => Self::Done(Outcome::Rejected),
            "dead" => Self::Dead,
            _ => return None,
        })
    }
}

// ---- Messages to the IdempotencyStore object (JSON over its RPC method `operate`) ----

/// A keyless signal's fingerprint: identical payloads within `window_ms` of the first one are one
/// signal (a sliding window, not a wall-clock bucket).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FingerprintWindow {
    /// `fp_<32 hex>`: the payload's fingerprint, shared by every key minted from it.
    pub fingerprint: String,
    pub window_ms: i64,
}

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
    /// Set for fingerprint keys: a recorded signal with this fingerprint inside the window is
    /// this one (its answer is replayed) whatever `key` says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<FingerprintWindow>,
    /// The job's `received_at_ms`: with the key, the signal's identity. A key reused after its
    /// TTL is another signal, and calls naming the old one's time do not touch it.
    #[serde(default)]
    pub received_at_ms: Option<i64>,
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
    /// The job's `received_at_ms`: a claim for another signal under the same key (an old job
    /// delivered after its key expired and was reused) is answered `Unknown`.
    #[serde(default)]
    pub received_at_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ClaimResponse {
    /// The claim is this attempt's until `lease_until_ms`. `attempt` is the fencing token: every
    /// later write names it and is ignored once another attempt holds the key.
    ///
    /// `in_doubt`: an earlier attempt may have placed the order (its submit began and its
    /// outcome is unknown, or the key was forgotten and replayed), so look the order up by
    /// client order id before anything else. `submitted_at_ms` is when that submit began.
    /// `replayed_at_ms` is set when an operator replayed the key from the dead-letter queue:
    /// freshness then counts from that decision, not from the signal.
    Claimed {
        attempt: u32,
        lease_until_ms: i64,
        #[serde(default)]
        in_doubt: bool,
        #[serde(default)]
        submitted_at_ms: Option<i64>,
        #[serde(default)]
        replayed_at_ms: Option<i64>,
    },
    /// Already ended; `event` (base64 `TradeEvent`) is re-published if it was not yet.
    Done {
        outcome: Outcome,
        event: Option<String>,
        event_published: bool,
    },
    /// Another attempt holds the claim, or an earlier submit is too recent to be looked up
    /// reliably: come back after `retry_after_seconds` (past the lease or settle time, never at
    /// its exact end) rather than risk a second order.
    Busy { retry_after_seconds: u32 },
    /// The kill switch is on in this shard: nothing may be submitted. Nothing was claimed.
    KillSwitch,
    /// Dead-lettered and not reopened.
    Dead,
    /// No record: expired, or never accepted by this gateway.
    Unknown,
}

/// Consumer → store, immediately before the submit: renew the lease, note that a submit begins
/// (so a crash from here on leaves the key in doubt), and re-check the kill switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitRequest {
    pub key: String,
    pub attempt: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum SubmitGrant {
    /// Submit now; the lease runs to `lease_until_ms`.
    Granted { lease_until_ms: i64 },
    /// The kill switch is on: do not submit. The claim is still this attempt's to release.
    KillSwitch,
    /// This attempt no longer holds the key (another took it over, its lease ran out, or the
    /// key ended): do not submit.
    Stale { reason: String },
}

/// Consumer → store: the job ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompleteRequest {
    pub key: String,
    /// The fencing token of the claim this outcome belongs to.
    pub attempt: u32,
    pub outcome: Outcome,
    /// Encoded `TradeEvent`, base64.
    pub event: String,
}

/// Consumer → store: an attempt ended without an outcome. `released` says no order exists from
/// any attempt (nothing was submitted, or the exchange certainly refused it after a reconcile
/// found nothing), so the next attempt may claim afresh instead of reconciling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptFailedRequest {
    pub key: String,
    pub attempt: u32,
    pub error: String,
    pub released: bool,
}

/// Whether a fenced write took effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Fenced {
    Applied,
    /// Ignored: the writer no longer holds the key.
    Stale,
}

/// Any worker → store: a state change on one key that needs no claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum KeyUpdate {
    /// The trade event was published; stop re-publishing it.
    EventPublished {
        key: String,
        /// The job's intake time: a late mark for an old signal leaves a newer one under a
        /// reused key alone.
        #[serde(default)]
        received_at_ms: Option<i64>,
    },
    /// The job's dead letter is recorded (`recorded_at_ms`, the row's time): the key is dead
    /// unless it ended first, or an operator reopened it after that row was written (a
    /// redelivered dead letter must not undo a replay).
    MarkDead {
        key: String,
        reason: String,
        recorded_at_ms: i64,
        /// The dead job's `received_at_ms`; another signal's record under the key is left alone.
        #[serde(default)]
        received_at_ms: Option<i64>,
    },
    /// An operator replays a dead letter: let it be claimed again. A key the store no longer has
    /// comes back in doubt, so the replay looks the order up before it may submit. The reopen
    /// is dated after the letter's `recorded_at_ms`, so a redelivery of that letter (which
    /// carries its row's time) never kills the replay, whatever the clocks say.
    Reopen {
        key: String,
        #[serde(default)]
        recorded_at_ms: Option<i64>,
        #[serde(default)]
        received_at_ms: Option<i64>,
    },
    /// The key's dead letter was closed without a replay: the key may now expire.
    Resolve {
        key: String,
        #[serde(default)]
        received_at_ms: Option<i64>,
    },
    /// Read only.
    Status { key: String },
}

impl KeyUpdate {
    pub fn key(&self) -> &str {
        match self {
            Self::EventPublished { key, .. }
            | Self::MarkDead { key, .. }
            | Self::Reopen { key, .. }
            | Self::Resolve { key, .. }
            | Self::Status { key } => key,
        }
    }
}

/// The store's view of one key, for the DLQ worker and operators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyStatus {
    pub key: String,
    pub state: Lifecycle,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// An order may exist at the exchange for this key (a submit began and its outcome is
    /// unknown, or the key was forgotten): the next attempt reconciles before it may submit.
    #[serde(default)]
    pub in_doubt: bool,
    /// Epoch ms of the key's first intake (for a key recreated by a replay: the replay's).
    #[serde(default)]
    pub created_at_ms: i64,
    #[serde(default)]
    pub updated_at_ms: i64,
}

/// Operator → every shard: the kill switch, kept where reads are strongly consistent. `claim`
/// refuses while it is on and the pre-submit renewal re-checks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlRequest {
    /// `None` reads without changing.
    #[serde(default)]
    pub kill_switch: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlStatus {
    pub kill_switch: bool,
    pub updated_at_ms: i64,
}

/// DLQ worker → each shard: keys nothing has happened to for `older_than_ms` while they were
/// neither ended nor dead (accepted but never claimed, or abandoned by their attempts). Each is
/// reported once (until it changes again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepRequest {
    pub older_than_ms: i64,
    pub limit: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StuckKey {
    pub status: KeyStatus,
    /// The encoded job (base64), held by the store until the key ends.
    pub job: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepResponse {
    pub stuck: Vec<StuckKey>,
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

    fn key(
        body: Option<&str>,
        header: Option<&str>,
        id: Option<&str>,
        s: &Signal,
        at: i64,
    ) -> ResolvedKey {
        resolve_key(body, header, id, s, at, FINGERPRINT_WINDOW_MS)
    }

    #[test]
    fn key_precedence_body_header_webhook_id_fingerprint() {
        let s = signal(r#"{"exchange":"paper","action":"LONG","symbol":"BTCUSDT","quantity":1}"#);
        let k = key(Some("b"), Some("h"), Some("msg_1"), &s, 0);
        assert_eq!(k.key, "b");
        let k = key(None, Some("h"), Some("msg_1"), &s, 0);
        assert_eq!(k.key, "h");
        let k = key(None, None, Some("msg_1"), &s, 0);
        assert_eq!(k.key, "msg_1");
        assert_eq!(k.window, None);
        let k1 = key(None, None, None, &s, 1_000);
        assert!(k1.key.starts_with("fp_"), "{}", k1.key);
        let w = k1
            .window
            .clone()
            .expect("a keyless, timeless signal is windowed");
        assert!(k1.key.starts_with(&format!("{}-", w.fingerprint)));
        assert_eq!(w.window_ms, FINGERPRINT_WINDOW_MS);
        // Two seconds apart across a minute boundary: distinct keys, one fingerprint, one shard
        // (the store's sliding window makes them one signal).
        let a = key(None, None, None, &s, 59_000);
        let b = key(None, None, None, &s, 61_000);
        assert_ne!(a.key, b.key);
        assert_eq!(a.window.as_ref().unwrap().fingerprint, w.fingerprint);
        assert_eq!(shard_name(&a.key), shard_name(&b.key));
        assert_eq!(shard_name(&a.key), shard_name(&w.fingerprint));
        // A sender timestamp makes the fingerprint a fixed key, with no window.
        let t = signal(
            r#"{"exchange":"paper","action":"LONG","symbol":"BTCUSDT","quantity":1,"timestamp":1700000000000}"#,
        );
        let kt = key(None, None, None, &t, 5);
        assert_eq!(kt.window, None);
        assert_eq!(kt.key, key(None, None, None, &t, 999_999).key);
    }

    #[test]
    fn client_order_ids_differ_when_a_key_is_reused_later() {
        assert_eq!(
            client_order_id("tv-static", 1),
            client_order_id("tv-static", 1)
        );
        assert_ne!(
            client_order_id("tv-static", 1),
            client_order_id("tv-static", 2)
        );
    }

    #[test]
    fn lifecycle_names_round_trip() {
        for l in [
            Lifecycle::Accepted,
            Lifecycle::Submitting,
            Lifecycle::Done(Outcome::Filled),
            Lifecycle::Done(Outcome::Rejected),
            Lifecycle::Dead,
        ] {
            assert_eq!(Lifecycle::parse(l.as_str()), Some(l));
        }
    }

    proptest! {
        #[test]
        fn client_order_ids_fit_every_exchange(key in ".{1,255}", at in any::<i64>()) {
            let id = client_order_id(&key, at);
            prop_assert_eq!(id.len(), 32);
            prop_assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
            prop_assert_eq!(id, client_order_id(&key, at));
        }

        #[test]
        fn shards_are_in_range(key in ".{1,64}") {
            let name = shard_name(&key);
            let n: u32 = name.trim_start_matches("idempotency-").parse().unwrap();
            prop_assert!(n < SHARDS);
        }
    }
}
