//! `POST /webhook`: authenticate, validate, record once, enqueue, answer `202`.
//!
//! The order of checks is chosen so an unauthenticated sender learns nothing about the signal
//! format: media type and size first, then the source-IP allow-list, then JSON, then
//! authentication, and only then field validation.
//!
//! Rate limits: an authenticated signal is charged to the bucket of the credential that
//! verified it (the API key or the signing secret) at its address, which only holders of the
//! credential draw from, so strangers sharing a sender's address (TradingView sends from four)
//! cannot drain it. A refusal of
//! authentication is charged to its sender's address (IPv6: its /64); once that bucket is
//! empty, further refusals from there are `429` — a cheap limit on guessing that never touches
//! authenticated traffic.

use contracts::auth::{secret_eq, verify_standard_webhook, SignatureError};
use contracts::config::{Quota, RuntimeConfig};
use contracts::ratelimit::{credential_key, sender_key, TokenBuckets};
use contracts::signal::{self, SignalError, MAX_BODY_BYTES};
use runtime::http::{error, read_capped, secret, HttpError};
use runtime::intake;
use std::cell::RefCell;
use worker::{web_sys, Env, Headers, Response, Result};

const WEBHOOK_API_KEY: &str = "WEBHOOK_API_KEY";
/// Optional Standard Webhooks secret (`whsec_…`); without it, signatures use WEBHOOK_API_KEY.
const WEBHOOK_SIGNING_SECRET: &str = "WEBHOOK_SIGNING_SECRET";
/// Quota of each bucket (a credential's, or an address's refusals), e.g. `60/s` (a var; the
/// default suits one trader's alerts with headroom).
const RATE_LIMIT_VAR: &str = "WEBHOOK_RATE_LIMIT";
const DEFAULT_RATE_LIMIT: Quota = Quota {
    count: 60,
    per_seconds: 1,
};
/// Test-only fault injection (absent in production configs), read by the intake and the store.
pub use runtime::intake::FAULTS_VAR;

thread_local! {
    /// Built on the isolate's first request: vars are fixed for an isolate's life.
    static LIMITER: RefCell<Option<TokenBuckets>> = const { RefCell::new(None) };
}

/// Every line logged here names the request id itself: a span per signal (its creation, and
/// entering and leaving it at every await) cost a few percent of the gateway's time.
pub async fn handle(req: web_sys::Request, env: Env) -> Result<Response> {
    let request_id = runtime::random_id();
    let resp = accept(req, &env, &request_id).await;
    // Accepted and replayed signals log their own line; refusals are logged here.
    if let Ok(r) = &resp {
        if r.status_code() >= 400 {
            tracing::info!(request_id = %request_id, status = r.status_code(), "refused");
        }
    }
    resp
}

fn refuse(e: &SignalError, request_id: &str) -> Result<Response> {
    error(400, e.code(), &e.to_string(), e.field(), request_id)
}

fn unauthorized(message: &str, request_id: &str) -> Result<Response> {
    error(401, "unauthorized", message, None, request_id)
}

fn header(headers: &Headers, name: &str) -> Result<Option<String>> {
    headers.get(name)
}

/// Takes a token from bucket `key`; `Err(retry_after_seconds)` when over quota.
fn rate_limit(env: &Env, key: &str) -> std::result::Result<(), u32> {
    LIMITER.with(|l| {
        l.borrow_mut()
            .get_or_insert_with(|| {
                let quota = env
                    .var(RATE_LIMIT_VAR)
                    .ok()
                    .and_then(|v| v.to_string().parse::<Quota>().ok())
                    .unwrap_or(DEFAULT_RATE_LIMIT);
                TokenBuckets::new(quota)
            })
            .check(key, runtime::now_ms())
    })
}

async fn accept(req: web_sys::Request, env: &Env, request_id: &str) -> Result<Response> {
    let headers = Headers(req.headers());
    let content_type = header(&headers, "content-type")?.unwrap_or_default();
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !matches!(media.as_str(), "application/json" | "text/plain" | "") {
        return error(
            415,
            "unsupported_media_type",
            "send JSON as application/json or text/plain",
            None,
            request_id,
        );
    }
    if runtime::http::content_length(&req).is_some_and(|l| l > MAX_BODY_BYTES) {
        return too_large(request_id);
    }
    let source_ip = header(&headers, "cf-connecting-ip")?;

    let cfg = match runtime::config::load(env).await {
        Ok(cfg) => cfg,
        Err(e) => {
            // Availability over strictness here: the consumer fails closed on its own read.
            tracing::warn!(request_id = %request_id, error = %e, "config unreadable; gateway uses defaults");
            std::rc::Rc::new(RuntimeConfig::defaults())
        }
    };
    if cfg.ip_check_enabled {
        let allowed = source_ip
            .as_deref()
            .is_some_and(|ip| cfg.allowed_ips.iter().any(|a| a == ip.trim()));
        if !allowed {
            return error(
                403,
                "forbidden_ip",
                "source address is not allowed",
                None,
                request_id,
            );
        }
    }
    let body = match read_capped(req, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(e) => return e.respond(request_id),
    };
    let obj = match signal::parse_json(&body) {
        Ok(obj) => obj,
        Err(e) => return refuse(&e, request_id),
    };

    // Authentication: a Standard Webhooks signature if the sender signs, else `apiKey` in the
    // body or a Bearer token. All comparisons are constant-time and fail closed. A refusal is
    // charged to the sender's address; past its quota, refusals are 429.
    let refused = |message: &str| -> Result<Response> {
        match rate_limit(env, &sender_key(source_ip.as_deref())) {
            Ok(()) => unauthorized(message, request_id),
            Err(retry_after) => rate_limited(retry_after, request_id),
        }
    };
    let api_key = secret(env, WEBHOOK_API_KEY);
    // A verified Standard Webhooks message id: the sender's retries of one message carry it.
    let mut webhook_id = None;
    // Which secret verified the sender: its rate-limit bucket.
    let mut credential = WEBHOOK_API_KEY;
    if let Some(signature) = header(&headers, "webhook-signature")? {
        let own = secret(env, WEBHOOK_SIGNING_SECRET);
        credential = if own.is_some() {
            WEBHOOK_SIGNING_SECRET
        } else {
            WEBHOOK_API_KEY
        };
        let signing = own.or_else(|| api_key.clone());
        let id = header(&headers, "webhook-id")?.unwrap_or_default();
        let ts = header(&headers, "webhook-timestamp")?.unwrap_or_default();
        let now = runtime::now_ms() / 1000;
        if let Err(e) =
            verify_standard_webhook(signing.as_deref(), &id, &ts, &body, &signature, now)
        {
            let message = match e {
                SignatureError::Expired { .. } | SignatureError::BadTimestamp => e.to_string(),
                _ => "invalid webhook signature".to_owned(),
            };
            return refused(&message);
        }
        webhook_id = Some(id).filter(|id| !id.is_empty());
    } else if cfg.webhook_require_signature {
        return refused(
            "this gateway requires a Standard Webhooks signature (webhook:require_signature)",
        );
    } else {
        let bearer = header(&headers, "authorization")?
            .and_then(|a| a.strip_prefix("Bearer ").map(|k| k.trim().to_owned()));
        let presented = signal::api_key_of(&obj).map(str::to_owned).or(bearer);
        let authorized = presented
            .as_deref()
            .is_some_and(|k| secret_eq(k, api_key.as_deref()));
        if !authorized {
            return refused("missing or invalid API key");
        }
    }
    if let Err(retry_after) = rate_limit(
        env,
        &credential_key(credential, &sender_key(source_ip.as_deref())),
    ) {
        return rate_limited(retry_after, request_id);
    }

    let parsed = match signal::validate(&obj) {
        Ok(p) => p,
        Err(e) => return refuse(&e, request_id),
    };
    // The header is only consulted (and so only validated) when the body names no key.
    let header_key = match intake::header_key(&headers, parsed.idempotency_key.is_some()) {
        Ok(k) => k,
        Err(e) => return e.respond(request_id),
    };

    let received_at_ms = runtime::now_ms();
    let webhook_id = match webhook_id.as_deref().map(signal::validate_idempotency_key) {
        Some(Err(m)) => {
            return error(
                400,
                "invalid_field",
                &format!("webhook-id {m}"),
                Some("webhook-id"),
                request_id,
            )
        }
        Some(Ok(k)) => Some(k.to_owned()),
        None => None,
    };
    let keys = intake::Keys {
        body: parsed.idempotency_key.as_deref(),
        header: header_key.as_deref(),
        webhook_id: webhook_id.as_deref(),
    };
    if let Some(field) = mail_key(&keys) {
        return error(
            400,
            "invalid_field",
            &format!(
                "{field}: keys starting with `{}` are reserved to mail (the email-worker's); choose another",
                contracts::email::KEY_PREFIX
            ),
            Some(field),
            request_id,
        );
    }
    intake::accept(env, &cfg, parsed.signal, keys, request_id, received_at_ms).await
}

/// Where a webhook named a key under the mail prefix, if it did: such a key would put the
/// webhook among the mails in the ledger (`--source email`) and could collide with a real
/// mail's key, so only the email-worker (through the trade-worker's door) uses them.
fn mail_key(keys: &intake::Keys<'_>) -> Option<&'static str> {
    [
        ("idempotencyKey", keys.body),
        (intake::IDEMPOTENCY_KEY_HEADER, keys.header),
        ("webhook-id", keys.webhook_id),
    ]
    .into_iter()
    .find_map(|(field, key)| {
        key.filter(|k| contracts::email::is_mail_key(k))
            .map(|_| field)
    })
}

fn too_large(request_id: &str) -> Result<Response> {
    HttpError::too_large(MAX_BODY_BYTES).respond(request_id)
}

fn rate_limited(retry_after: u32, request_id: &str) -> Result<Response> {
    HttpError::new(429, "rate_limited", "too many requests from this sender")
        .retry_after(retry_after)
        .respond(request_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 18: a webhook naming `email:<anything>` was recorded as a mail
    /// (`hoox signals --source email` found it).
    #[test]
    fn a_webhook_key_under_the_mail_prefix_is_refused_wherever_it_is_named() {
        let keys = |body, header, webhook_id| intake::Keys {
            body,
            header,
            webhook_id,
        };
        assert_eq!(
            mail_key(&keys(Some("email:abc"), None, None)),
            Some("idempotencyKey")
        );
        assert_eq!(
            mail_key(&keys(Some("EMAIL:abc"), None, None)),
            Some("idempotencyKey")
        );
        assert_eq!(
            mail_key(&keys(None, Some("email:x"), None)),
            Some("Idempotency-Key")
        );
        assert_eq!(
            mail_key(&keys(None, None, Some("email:m"))),
            Some("webhook-id")
        );
        assert_eq!(mail_key(&keys(Some("tv-1"), None, Some("msg_1"))), None);
        assert_eq!(mail_key(&keys(Some("my-email:1"), None, None)), None);
        assert_eq!(mail_key(&keys(None, None, None)), None);
    }
}
