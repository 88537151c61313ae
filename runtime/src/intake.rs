//! The one door a validated signal goes through into the pipeline, whoever sent it: the gateway's
//! public `POST /webhook` and the trade-worker's internal `POST /signals` (the agent's closes).
//! Both hand over a validated [`Signal`] with the keys their caller named; here the key is
//! resolved (`contracts::idempotency::resolve_key`), the [`TradeJob`] and its stored answer are
//! built, the key is recorded through the `IdempotencyStore` (the row is the outbox, so the job
//! reaches `trade-execution` exactly once) and the store's answer becomes the HTTP one: `202`
//! accepted, the stored answer replayed with `Idempotent-Replayed: true`, `422` for a key reused
//! with another payload, `503` when the store is unavailable (nothing recorded).
//!
//! On the gateway's hot path: one store call, and no allocation the gateway did not already make
//! (the answer is built once and shared between the store's copy and the response).

use base64::Engine as _;
use contracts::config::RuntimeConfig;
use contracts::idempotency::{payload_hash, resolve_key, IntakeRequest, IntakeResponse};
use contracts::job::TradeJob;
use contracts::signal::{self, Signal};
use worker::{Env, Headers, Response, Result};

use crate::http::{error, HttpError};
use crate::idempotency::{Store, StoreError};

/// Test-only fault injection (absent in production configs): `store_unavailable` makes keys
/// starting with `fault-store-` behave as if the idempotency store were down; `outbox_send`
/// (read by the store) fails the first send of `fault-outbox-*` keys.
pub const FAULTS_VAR: &str = "HOOX_FAULTS";

/// The header a sender may name its key in, when the body names none.
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";

/// The keys a caller named, in the order [`resolve_key`] prefers them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Keys<'a> {
    /// The body's `idempotencyKey`, validated with the signal.
    pub body: Option<&'a str>,
    /// The `Idempotency-Key` header, from [`header_key`].
    pub header: Option<&'a str>,
    /// A verified Standard Webhooks `webhook-id` (gateway only), validated like a key.
    pub webhook_id: Option<&'a str>,
}

/// The `Idempotency-Key` header, validated like a body key. Only consulted (and so only
/// validated) when the body names no key: `Ok(None)` then too.
pub fn header_key(
    headers: &Headers,
    body_has_key: bool,
) -> std::result::Result<Option<String>, HttpError> {
    if body_has_key {
        return Ok(None);
    }
    match headers.get(IDEMPOTENCY_KEY_HEADER).ok().flatten() {
        None => Ok(None),
        Some(k) => match signal::validate_idempotency_key(&k) {
            Ok(k) => Ok(Some(k.to_owned())),
            Err(m) => Err(HttpError::new(
                400,
                "invalid_field",
                format!("{IDEMPOTENCY_KEY_HEADER} {m}"),
            )
            .field(IDEMPOTENCY_KEY_HEADER)),
        },
    }
}

/// Records `signal` under the key `keys` resolve to and answers as the pipeline's door does.
/// `received_at_ms` is the job's intake time (with the key, the signal's identity).
pub async fn accept(
    env: &Env,
    cfg: &RuntimeConfig,
    signal: Signal,
    keys: Keys<'_>,
    request_id: &str,
    received_at_ms: i64,
) -> Result<Response> {
    let resolved = resolve_key(
        keys.body,
        keys.header,
        keys.webhook_id,
        &signal,
        received_at_ms,
        i64::from(cfg.fingerprint_window_seconds) * 1000,
    );
    let key = resolved.key;
    let job = TradeJob {
        idempotency_key: key.clone(),
        request_id: request_id.to_owned(),
        received_at_ms,
        signal,
    };
    let answer = serde_json::json!({
        "status": "accepted",
        "request_id": request_id,
        "idempotency_key": key,
    })
    .to_string();
    let intake = IntakeRequest {
        key: key.clone(),
        payload_hash: payload_hash(&job.signal),
        job: base64::engine::general_purpose::STANDARD.encode(job.encode()),
        status: 202,
        body: answer.clone(),
        ttl_seconds: cfg.idempotency_ttl_seconds,
        fingerprint: resolved.window,
        received_at_ms: Some(received_at_ms),
    };
    let faulted = key.starts_with("fault-store-")
        && env
            .var(FAULTS_VAR)
            .is_ok_and(|v| v.to_string().contains("store_unavailable"));
    let outcome = if faulted {
        Err(StoreError {
            op: "intake",
            message: "injected fault".into(),
        })
    } else {
        Store::new(env).intake(&intake).await
    };
    match outcome {
        Ok(IntakeResponse::Recorded) => {
            // Debug, not info: the 202 is in the platform's invocation log, the signal is a row
            // in the store, and the trade-worker's `executed` line says all this line did under
            // the same request id. At info this one console call was about a tenth of the
            // gateway's time per signal (V8 profile under `bench ingest`).
            tracing::debug!(request_id = %request_id, idempotency_key = %key, symbol = %job.signal.symbol, exchange = %job.signal.exchange, action = job.signal.action.as_str(), "signal accepted");
            raw_json(202, answer)
        }
        Ok(IntakeResponse::Replay { status, body }) => {
            tracing::info!(request_id = %request_id, idempotency_key = %key, "duplicate replayed");
            let mut r = raw_json(status, body)?;
            r.headers_mut().set("Idempotent-Replayed", "true")?;
            Ok(r)
        }
        Ok(IntakeResponse::Conflict) => error(
            422,
            "idempotency_key_reused",
            "this idempotency key was used with a different payload",
            None,
            request_id,
        ),
        Err(e) => {
            tracing::error!(request_id = %request_id, error = %e, "idempotency store unavailable");
            let mut r = error(
                503,
                "unavailable",
                "the signal store is unavailable; nothing was recorded, retry",
                None,
                request_id,
            )?;
            r.headers_mut().set("Retry-After", "1")?;
            Ok(r)
        }
    }
}

/// A JSON body already serialised (the stored answer), with its status.
pub fn raw_json(status: u16, body: String) -> Result<Response> {
    let mut r = Response::ok(body)?.with_status(status);
    r.headers_mut().set("content-type", "application/json")?;
    Ok(r)
}
