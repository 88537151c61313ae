//! HTTP plumbing: JSON answers with the hoox error shape, and internal service authentication.

use contracts::auth::secret_eq;
use serde::Serialize;
use worker::{Env, Request, Response};

pub const INTERNAL_AUTH_HEADER: &str = "X-Internal-Auth-Key";
pub const INTERNAL_KEY_SECRET: &str = "INTERNAL_KEY_BINDING";

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

/// A secret binding's value, `None` when unset.
pub fn secret(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .ok()
        .map(|s| s.to_string())
        .or_else(|| env.var(name).ok().map(|v| v.to_string()))
        .filter(|s| !s.is_empty())
}

/// Whether `req` carries the internal key. Fails closed when `INTERNAL_KEY_BINDING` is unset.
pub fn internal_authorized(req: &Request, env: &Env) -> bool {
    let presented = req
        .headers()
        .get(INTERNAL_AUTH_HEADER)
        .ok()
        .flatten()
        .unwrap_or_default();
    secret_eq(&presented, secret(env, INTERNAL_KEY_SECRET).as_deref())
}
