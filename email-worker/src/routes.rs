//! The two HTTP ingresses, reached only through the gateway:
//!
//! - `POST /mailgun` (gateway `/email/mailgun` and `/email/mailgun/mime`, guard `Signed`): a
//!   Mailgun route's `forward()` post. Mailgun's docs ("Receiving Messages via HTTP", "Securing
//!   Webhooks"): the post is `application/x-www-form-urlencoded`, or `multipart/form-data` when
//!   the mail has attachments, and carries `timestamp`, `token` and `signature` as form fields
//!   (HMAC-SHA256 of timestamp + token under the webhook signing key); a 200 is success, a 406
//!   is a refusal Mailgun does not retry, and any other answer is retried for 8 hours. So: the
//!   signature and a ±15 min window are checked (`email::mailgun`), then the token against the
//!   replay cache (SESSIONS_KV, kept for the window), then the mail is judged; a final answer
//!   (200, or 406 for a refusal) caches the token, a 503 (the trade-worker unavailable) does
//!   not, so Mailgun's retry is judged again under the same Message-ID key. Posts that fail the
//!   signature are logged, not alerted: anyone can post to a public URL, and an alert per post
//!   would hand them the operator's phone.
//! - `POST /email-signal` (gateway `/email-signal`, the internal key): a JSON signal object
//!   with its mail's `messageId` (`email::ingress::accept_object`), `{"raw": "<RFC 822>"}`, or
//!   a raw message as the body; a raw message is judged like a routed mail, sender checks
//!   included. 202 accepted (`replayed` when its key was recorded before), 400 refused, 503
//!   not recorded.

use crate::config;
use crate::deliver::{settle, Verdict};
use email::{ingress, mailgun, EmailError, Refused};
use runtime::http::{json, read_capped, require_internal, secret, HttpError};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use worker::{Env, FormEntry, Headers, Method, Request, RequestInit, Response, Result};

/// The replay cache's namespace.
pub const SESSIONS_KV: &str = "SESSIONS_KV";
const TOKEN_PREFIX: &str = "mailgun-token:";
/// Largest body read: a mail of `email::MAX_MAIL_BYTES`, form- or JSON-encoded, with room.
const BODY_CAP: usize = 512 * 1024;

pub async fn handle(req: Request, env: Env, request_id: String) -> Result<Response> {
    let path = req.path();
    match (req.method(), path.trim_end_matches('/')) {
        (Method::Post, "/mailgun") => mailgun_post(req, &env, &request_id).await,
        (Method::Post, "/email-signal") => match require_internal(&req, &env) {
            Ok(_) => email_signal(req, &env, &request_id).await,
            Err(e) => e.respond(&request_id),
        },
        (_, "/mailgun" | "/email-signal") => {
            HttpError::method_not_allowed("POST").respond(&request_id)
        }
        _ => HttpError::not_found("no such email-worker route").respond(&request_id),
    }
}

async fn body_of(req: &Request) -> std::result::Result<Vec<u8>, HttpError> {
    // The JS object itself, not `Request.clone()` (which would tee the body).
    read_capped(
        <worker::web_sys::Request as Clone>::clone(req.inner()),
        BODY_CAP,
    )
    .await
}

/// A Mailgun answer: `status` with `{"status", ...}`.
fn mailgun_answer(status: u16, body: Value) -> Result<Response> {
    json(status, &body)
}

fn refusal(code: &str, reason: &str, field: Option<&str>) -> Value {
    json!({ "status": "refused", "code": code, "reason": reason, "field": field })
}

/// The post's form fields, parsed by the runtime's own `FormData` (both encodings).
async fn form_of(content_type: &str, body: &[u8]) -> std::result::Result<worker::FormData, String> {
    let headers = Headers::new();
    headers
        .set("content-type", content_type)
        .map_err(|e| e.to_string())?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(js_sys::Uint8Array::from(body).into()));
    let mut r = Request::new_with_init("https://email-worker.internal/mailgun", &init)
        .map_err(|e| e.to_string())?;
    r.form_data().await.map_err(|e| e.to_string())
}

fn token_cache_key(token: &str) -> String {
    format!(
        "{TOKEN_PREFIX}{}",
        hex::encode(Sha256::digest(token.trim().as_bytes()))
    )
}

async fn mailgun_post(req: Request, env: &Env, request_id: &str) -> Result<Response> {
    let content_type = req
        .headers()
        .get("content-type")
        .ok()
        .flatten()
        .unwrap_or_default();
    let body = match body_of(&req).await {
        Ok(b) => b,
        // Over the cap: a mail this size is refused whoever sent it.
        Err(e) if e.status == 413 => {
            return mailgun_answer(406, refusal(e.code, &e.message, None));
        }
        Err(e) => return e.respond(request_id),
    };
    let form = match form_of(&content_type, &body).await {
        Ok(f) => f,
        Err(e) => {
            tracing::info!(request_id, error = %e, "mailgun post is not a form");
            return mailgun_answer(
                406,
                refusal(
                    "invalid_body",
                    "expected a form post (application/x-www-form-urlencoded or multipart/form-data)",
                    None,
                ),
            );
        }
    };
    let field = |name: &str| match form.get(name) {
        Some(FormEntry::Field(v)) => Some(v),
        _ => None,
    };
    let (timestamp, token, signature) = (
        field("timestamp").unwrap_or_default(),
        field("token").unwrap_or_default(),
        field("signature").unwrap_or_default(),
    );
    let Some(key) = secret(env, registry::MAILGUN_SIGNING_KEY) else {
        tracing::error!(
            request_id,
            "MAILGUN_WEBHOOK_SIGNING_KEY is not set; Mailgun will retry"
        );
        return HttpError::unavailable("the Mailgun signing key is not configured")
            .respond(request_id);
    };
    let now_s = runtime::now_ms() / 1000;
    if let Err(e) = mailgun::verify(&key, &timestamp, &token, &signature, now_s) {
        tracing::info!(request_id, error = %e, "mailgun post refused");
        let code = match e {
            mailgun::MailgunError::Expired { .. } => "expired",
            mailgun::MailgunError::Missing(_) => "missing_field",
            _ => "bad_signature",
        };
        let field = match e {
            mailgun::MailgunError::Missing(f) => Some(f),
            _ => None,
        };
        return mailgun_answer(406, refusal(code, &e.to_string(), field));
    }
    let cache = match env.kv(SESSIONS_KV) {
        Ok(kv) => kv,
        Err(e) => {
            tracing::error!(request_id, error = %e, "replay cache missing");
            return HttpError::unavailable("the replay cache is unavailable").respond(request_id);
        }
    };
    let cache_key = token_cache_key(&token);
    match cache.get(&cache_key).text().await {
        Ok(Some(_)) => {
            let e = mailgun::MailgunError::Replayed;
            tracing::info!(request_id, error = %e, "mailgun post refused");
            return mailgun_answer(406, refusal("replayed", &e.to_string(), None));
        }
        Ok(None) => {}
        Err(e) => {
            tracing::error!(request_id, error = %e, "replay cache unreadable");
            return HttpError::unavailable("the replay cache is unavailable").respond(request_id);
        }
    }
    let judged = match config::policy(env).await {
        Ok(policy) => {
            let fallback = email::token_key(&token);
            ingress::mailgun_message(field)
                .and_then(|raw| email::mime::parse(&raw))
                .map_err(|error| Refused {
                    sender: field("sender").or_else(|| field("from")),
                    subject: field("subject"),
                    error,
                })
                .and_then(|mail| email::accept_mail(&mail, &policy, Some(&fallback)))
        }
        Err(e) => {
            tracing::error!(request_id, error = %e, "mail not judged");
            return HttpError::unavailable(e.to_string()).respond(request_id);
        }
    };
    let (status, answer) = match settle(env, "Mailgun", judged, request_id).await {
        Verdict::Accepted { key, replayed } => (
            200,
            json!({ "status": "accepted", "idempotency_key": key, "replayed": replayed }),
        ),
        Verdict::Refused {
            reason,
            code,
            field,
        } => (406, refusal(&code, &reason, field.as_deref())),
        Verdict::Failed { reason } => {
            // Not final: Mailgun retries, and the token stays usable for that retry.
            return HttpError::unavailable(format!("not recorded, retry: {reason}"))
                .respond(request_id);
        }
    };
    let ttl = (2 * mailgun::WINDOW_SECONDS) as u64;
    let put = match cache.put(&cache_key, "1") {
        Ok(p) => p
            .expiration_ttl(ttl)
            .execute()
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = put {
        // The mail's key still makes a replay one signal; only the 406 is lost.
        tracing::warn!(request_id, error = %e, "mailgun token not cached");
    }
    mailgun_answer(status, answer)
}

async fn email_signal(req: Request, env: &Env, request_id: &str) -> Result<Response> {
    let body = match body_of(&req).await {
        Ok(b) => b,
        Err(e) => return e.respond(request_id),
    };
    let policy = match config::policy(env).await {
        Ok(p) => p,
        Err(e) => return HttpError::unavailable(e.to_string()).respond(request_id),
    };
    let starts_json = body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{');
    let judged = if starts_json {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(mut obj)) => match obj.remove("raw") {
                Some(Value::String(raw)) if obj.is_empty() => {
                    email::accept(raw.as_bytes(), &policy)
                }
                Some(_) => {
                    return HttpError::new(
                        400,
                        "invalid_field",
                        "`raw` is a whole RFC 822 message as a string, alone in the object",
                    )
                    .field("raw")
                    .respond(request_id)
                }
                None => ingress::accept_object(obj),
            },
            _ => Err(Refused {
                sender: None,
                subject: None,
                error: EmailError::Signal(contracts::signal::SignalError::MalformedJson(
                    "expected a JSON object".into(),
                )),
            }),
        }
    } else {
        email::accept(&body, &policy)
    };
    match settle(env, "POST /email-signal", judged, request_id).await {
        Verdict::Accepted { key, replayed } => json(
            202,
            &json!({
                "status": "accepted",
                "idempotency_key": key,
                "replayed": replayed,
                "request_id": request_id,
            }),
        ),
        Verdict::Refused {
            reason,
            code,
            field,
        } => {
            let mut r = serde_json::json!({ "code": code, "message": reason });
            if let Some(f) = field {
                r["field"] = f.into();
            }
            json(400, &json!({ "error": r, "request_id": request_id }))
        }
        Verdict::Failed { reason } => {
            HttpError::unavailable(format!("not recorded, retry: {reason}"))
                .retry_after(1)
                .respond(request_id)
        }
    }
}
