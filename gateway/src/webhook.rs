//! `POST /webhook`: authenticate, validate, record once, enqueue, answer `202`.

use base64::Engine as _;
use contracts::auth::secret_eq;
use contracts::idempotency::{payload_hash, resolve_key, IntakeRequest, IntakeResponse};
use contracts::job::TradeJob;
use contracts::signal::{self, SignalError, MAX_BODY_BYTES};
use runtime::http::{error, secret};
use runtime::idempotency::Store;
use tracing::Instrument as _;
use worker::{Env, Request, Response, Result};

const WEBHOOK_API_KEY: &str = "WEBHOOK_API_KEY";

pub async fn handle(req: Request, env: Env) -> Result<Response> {
    let request_id = runtime::random_id();
    let span = tracing::info_span!("webhook", request_id = %request_id);
    async move {
        let resp = accept(req, &env, &request_id).await;
        if let Ok(r) = &resp {
            tracing::info!(status = r.status_code(), "answered");
        }
        resp
    }
    .instrument(span)
    .await
}

fn refuse(e: &SignalError, request_id: &str) -> Result<Response> {
    error(400, e.code(), &e.to_string(), e.field(), request_id)
}

async fn accept(mut req: Request, env: &Env, request_id: &str) -> Result<Response> {
    let headers = req.headers();
    let content_type = headers.get("content-type")?.unwrap_or_default();
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
    let declared = headers
        .get("content-length")?
        .and_then(|l| l.parse::<usize>().ok());
    if declared.is_some_and(|l| l > MAX_BODY_BYTES) {
        return too_large(request_id);
    }
    let bearer = headers
        .get("authorization")?
        .and_then(|a| a.strip_prefix("Bearer ").map(|k| k.trim().to_owned()));
    let header_key = headers.get("idempotency-key")?;
    let cf_ip = headers.get("cf-connecting-ip")?;

    let body = req.bytes().await?;
    if body.len() > MAX_BODY_BYTES {
        return too_large(request_id);
    }

    let cfg = match runtime::config::load(env).await {
        Ok(cfg) => Some(cfg),
        Err(e) => {
            tracing::warn!(error = %e, "config unreadable; using defaults");
            None
        }
    };
    if let Some(cfg) = cfg.as_ref().filter(|c| c.ip_check_enabled) {
        let allowed = cf_ip
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

    let configured = secret(env, WEBHOOK_API_KEY);
    let obj = match signal::parse_json(&body) {
        Ok(obj) => obj,
        Err(e) => {
            // Header-authenticated or not, a body that is not JSON reveals nothing.
            return refuse(&e, request_id);
        }
    };
    let presented = signal::api_key_of(&obj).map(str::to_owned).or(bearer);
    let authorized = presented
        .as_deref()
        .is_some_and(|k| secret_eq(k, configured.as_deref()));
    if !authorized {
        return error(
            401,
            "unauthorized",
            "missing or invalid API key",
            None,
            request_id,
        );
    }
    let parsed = match signal::validate(&obj) {
        Ok(p) => p,
        Err(e) => return refuse(&e, request_id),
    };
    let header_key = match header_key.as_deref().map(signal::validate_idempotency_key) {
        Some(Err(m)) => {
            return error(
                400,
                "invalid_field",
                &format!("Idempotency-Key {m}"),
                Some("Idempotency-Key"),
                request_id,
            )
        }
        Some(Ok(k)) => Some(k.to_owned()),
        None => None,
    };

    let received_at_ms = runtime::now_ms();
    let (key, _source) = resolve_key(
        parsed.idempotency_key.as_deref(),
        header_key.as_deref(),
        &parsed.signal,
        received_at_ms,
    );
    let job = TradeJob {
        idempotency_key: key.clone(),
        request_id: request_id.to_owned(),
        received_at_ms,
        signal: parsed.signal,
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
        ttl_seconds: cfg
            .map(|c| c.idempotency_ttl_seconds)
            .unwrap_or(contracts::config::RuntimeConfig::defaults().idempotency_ttl_seconds),
    };
    match Store::new(env).intake(&intake).await {
        Ok(IntakeResponse::Recorded { enqueued }) => {
            tracing::info!(idempotency_key = %key, symbol = %job.signal.symbol, exchange = %job.signal.exchange, action = job.signal.action.as_str(), enqueued, "signal accepted");
            raw_json(202, answer)
        }
        Ok(IntakeResponse::Replay { status, body }) => {
            tracing::info!(idempotency_key = %key, "duplicate replayed");
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
            tracing::error!(error = %e, "idempotency store unavailable");
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

fn too_large(request_id: &str) -> Result<Response> {
    error(
        413,
        "payload_too_large",
        "body exceeds 64 KiB",
        None,
        request_id,
    )
}

fn raw_json(status: u16, body: String) -> Result<Response> {
    let mut r = Response::ok(body)?.with_status(status);
    r.headers_mut().set("content-type", "application/json")?;
    Ok(r)
}
