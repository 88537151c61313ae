//! HTTP at the edge: the one error type every worker answers with (the README's shape,
//! `{"error":{"code","message","field"?},"request_id"}`), internal-key authentication
//! (constant time, fail-closed), `/health`, and request bodies read under a size cap.

use contracts::auth::secret_eq;
use futures::StreamExt as _;
use serde::Serialize;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{web_sys, Env, Request, Response};

pub const INTERNAL_AUTH_HEADER: &str = "X-Internal-Auth-Key";
pub const INTERNAL_KEY_SECRET: &str = "INTERNAL_KEY_BINDING";

/// A refusal or failure as the client sees it. Workers keep their own typed errors and turn
/// them into this one at the edge, so the wire shape lives in one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// The request field at fault, when one is.
    pub field: Option<String>,
    /// `Retry-After` seconds, for `429` and `503`.
    pub retry_after: Option<u32>,
    /// `Allow`, for `405`.
    pub allow: Option<&'static str>,
}

impl HttpError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
            allow: None,
        }
    }
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, "unauthorized", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "not_found", message)
    }
    pub fn method_not_allowed(allow: &'static str) -> Self {
        Self {
            allow: Some(allow),
            ..Self::new(405, "method_not_allowed", format!("use {allow}"))
        }
    }
    pub fn too_large(cap: usize) -> Self {
        Self::new(
            413,
            "payload_too_large",
            format!("body exceeds {}", size_of(cap)),
        )
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(503, "unavailable", message)
    }

    /// The answer, in the hoox error shape.
    pub fn respond(&self, request_id: &str) -> worker::Result<Response> {
        let mut r = error(
            self.status,
            self.code,
            &self.message,
            self.field.as_deref(),
            request_id,
        )?;
        if let Some(s) = self.retry_after {
            r.headers_mut().set("Retry-After", &s.to_string())?;
        }
        if let Some(a) = self.allow {
            r.headers_mut().set("Allow", a)?;
        }
        Ok(r)
    }
}

/// `64 KiB`, `1 MiB`: a cap as people read it.
fn size_of(cap: usize) -> String {
    match cap {
        c if c >= 1 << 20 && c % (1 << 20) == 0 => format!("{} MiB", c >> 20),
        c if c >= 1 << 10 && c % (1 << 10) == 0 => format!("{} KiB", c >> 10),
        c => format!("{c} bytes"),
    }
}

/// A JSON answer with a status.
pub fn json<T: Serialize>(status: u16, body: &T) -> worker::Result<Response> {
    Ok(Response::from_json(body)?.with_status(status))
}

/// `{"error":{"code","message","field"?},"request_id"}`.
pub fn error(
    status: u16,
    code: &str,
    message: &str,
    field: Option<&str>,
    request_id: &str,
) -> worker::Result<Response> {
    let mut err = serde_json::json!({ "code": code, "message": message });
    if let Some(f) = field {
        err["field"] = f.into();
    }
    json(
        status,
        &serde_json::json!({ "error": err, "request_id": request_id }),
    )
}

/// `GET /health` of a worker.
pub fn health(worker: &str) -> worker::Result<Response> {
    json(200, &serde_json::json!({"status": "ok", "worker": worker}))
}

/// A secret binding's value, `None` when unset.
pub fn secret(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .ok()
        .map(|s| s.to_string())
        .or_else(|| env.var(name).ok().map(|v| v.to_string()))
        .filter(|s| !s.is_empty())
}

/// Whether header `header` of `req` holds the secret `secret_name` (constant time; an unset
/// secret matches nothing).
pub fn header_holds_secret(req: &Request, env: &Env, header: &str, secret_name: &str) -> bool {
    let presented = req.headers().get(header).ok().flatten().unwrap_or_default();
    secret_eq(&presented, secret(env, secret_name).as_deref())
}

/// Whether `req` carries the internal key. Fails closed when `INTERNAL_KEY_BINDING` is unset.
pub fn internal_authorized(req: &Request, env: &Env) -> bool {
    header_holds_secret(req, env, INTERNAL_AUTH_HEADER, INTERNAL_KEY_SECRET)
}

/// Who an authenticated operator request acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// The audit actor, named for the credential (see `ops::audit::internal_key_actor`).
    pub actor: String,
}

/// The internal key, or `401`. Constant time; no configured key = every request refused.
pub fn require_internal(req: &Request, env: &Env) -> Result<Operator, HttpError> {
    if !internal_authorized(req, env) {
        return Err(HttpError::unauthorized(
            "missing or invalid X-Internal-Auth-Key",
        ));
    }
    let claimed = req.headers().get(ops::ACTOR_HEADER).ok().flatten();
    Ok(Operator {
        actor: ops::audit::internal_key_actor(claimed.as_deref()),
    })
}

/// The declared `Content-Length`, if the request has a readable one.
pub fn content_length(req: &web_sys::Request) -> Option<usize> {
    req.headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|l| l.trim().parse().ok())
}

/// Reads a body of at most `cap` bytes: a declared length over the cap is refused before any
/// read; without one, the body is streamed and cut off as soon as it passes the cap, so a
/// lying or absent `Content-Length` cannot make a worker buffer more.
pub async fn read_capped(req: web_sys::Request, cap: usize) -> Result<Vec<u8>, HttpError> {
    let read_failed = |e: worker::Error| HttpError::new(400, "invalid_body", e.to_string());
    match content_length(&req) {
        Some(declared) if declared > cap => Err(HttpError::too_large(cap)),
        // A declared length is held to by the runtime: one read suffices.
        Some(_) => {
            let promise = req.array_buffer().map_err(|e| read_failed(e.into()))?;
            let buffer = JsFuture::from(promise)
                .await
                .map_err(|e| read_failed(e.into()))?;
            let body = js_sys::Uint8Array::new(&buffer).to_vec();
            if body.len() > cap {
                return Err(HttpError::too_large(cap));
            }
            Ok(body)
        }
        None => {
            let mut body = Vec::new();
            let mut stream = match Request::from(req).stream() {
                Ok(s) => s,
                // No body at all.
                Err(_) => return Ok(body),
            };
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(read_failed)?;
                if body.len() + chunk.len() > cap {
                    return Err(HttpError::too_large(cap));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(body)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_read_as_people_write_them() {
        assert_eq!(size_of(64 * 1024), "64 KiB");
        assert_eq!(size_of(1024 * 1024), "1 MiB");
        assert_eq!(size_of(1000), "1000 bytes");
        assert_eq!(
            HttpError::too_large(64 * 1024).message,
            "body exceeds 64 KiB"
        );
    }
}
