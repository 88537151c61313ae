//! Calls to other hoox workers through service bindings (`TELEGRAM_SERVICE`, `D1_SERVICE`,
//! `DLQ_SERVICE`), carrying the internal key and the caller's request id.

use crate::http::{secret, INTERNAL_AUTH_HEADER, INTERNAL_KEY_SECRET};
use serde::{de::DeserializeOwned, Serialize};
use worker::{Env, Headers, Method, Request, RequestInit, Response};

/// Header forwarding the request id across workers, so logs of one operation line up.
pub const REQUEST_ID_HEADER: &str = "X-Request-Id";

/// A service call that failed or answered something other than 2xx.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{binding}: {message}")]
    Unreachable {
        binding: &'static str,
        message: String,
    },
    #[error("{binding} answered {status}: {body}")]
    Status {
        binding: &'static str,
        status: u16,
        body: String,
        /// `Retry-After` seconds, when the service sent one.
        retry_after: Option<u32>,
    },
}

impl ServiceError {
    /// Seconds the service asked the caller to wait, if it did.
    pub fn retry_after(&self) -> Option<u32> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            Self::Unreachable { .. } => None,
        }
    }
}

/// `method path` on the bound worker with an optional JSON body; the answer as `R`.
pub async fn call<B: Serialize, R: DeserializeOwned>(
    env: &Env,
    binding: &'static str,
    method: Method,
    path: &str,
    body: Option<&B>,
    request_id: &str,
    actor: Option<&str>,
) -> Result<R, ServiceError> {
    let unreachable = |message: String| ServiceError::Unreachable { binding, message };
    let mut resp = send(env, binding, method, path, body, request_id, actor)
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let status = resp.status_code();
    if !(200..300).contains(&status) {
        let retry_after = resp
            .headers()
            .get("Retry-After")
            .ok()
            .flatten()
            .and_then(|v| v.trim().parse().ok());
        let body = resp.text().await.unwrap_or_default();
        return Err(ServiceError::Status {
            binding,
            status,
            body: body.chars().take(300).collect(),
            retry_after,
        });
    }
    resp.json().await.map_err(|e| unreachable(e.to_string()))
}

/// `method path` on the bound worker, the answer as it came (for a caller that reads its
/// status and headers itself, as the email-worker reads the door's `Idempotent-Replayed`).
pub async fn send<B: Serialize>(
    env: &Env,
    binding: &'static str,
    method: Method,
    path: &str,
    body: Option<&B>,
    request_id: &str,
    actor: Option<&str>,
) -> worker::Result<Response> {
    let fetcher = env.service(binding)?;
    crate::meter::count(crate::meter::Op::ServiceCall, 1, binding);
    let headers = Headers::new();
    headers.set(
        INTERNAL_AUTH_HEADER,
        &secret(env, INTERNAL_KEY_SECRET).unwrap_or_default(),
    )?;
    headers.set(REQUEST_ID_HEADER, request_id)?;
    if let Some(a) = actor {
        headers.set(ops::ACTOR_HEADER, a)?;
    }
    let mut init = RequestInit::new();
    init.with_method(method);
    if let Some(b) = body {
        headers.set("content-type", "application/json")?;
        init.with_body(Some(serde_json::to_string(b)?.into()));
    }
    init.with_headers(headers);
    let req = Request::new_with_init(&format!("https://{binding}.internal{path}"), &init)?;
    fetcher.fetch_request(req).await
}

/// The request id a calling worker forwarded, else a fresh one.
pub fn request_id_of(req: &Request) -> String {
    req.headers()
        .get(REQUEST_ID_HEADER)
        .ok()
        .flatten()
        .filter(|id| !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or_else(crate::random_id)
}
