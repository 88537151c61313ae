//! Forwarding operator and bot routes to the workers that own them, through service bindings
//! (the route table is the registry's):
//! locally (and in production) only the gateway is exposed, so this is how the CLI reaches the
//! dead-letter API and the ledger, and how Telegram reaches the bot.
//!
//! `/admin/dlq/*` → `DLQ_SERVICE` and `/admin/ledger/*` → `D1_SERVICE` are checked for the
//! internal key here and again by the target; `/telegram/webhook` → `TELEGRAM_SERVICE` is checked
//! by the telegram-worker (Telegram's secret-token header). The gateway's own webhook is untouched.

use ops::audit::{self, Action, NewAudit};
use runtime::http::{error, internal_authorized};
use runtime::service::REQUEST_ID_HEADER;
use worker::{Env, Headers, Method, Request, RequestInit, Response, Result};

/// Largest body forwarded (operator requests and bot updates are small).
const MAX_FORWARD_BYTES: usize = 1024 * 1024;

/// Where a forwarded request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub binding: &'static str,
    /// Path on the target worker.
    pub path: String,
    /// Whether the gateway itself requires the internal key.
    pub internal: bool,
}

/// The target of a gateway path, if it is forwarded: the routes are the registry's
/// (`registry::Deployable::routes`).
pub fn target(path: &str) -> Option<Target> {
    registry::forward(path).map(|f| Target {
        binding: f.binding,
        path: f.path,
        internal: f.internal_key,
    })
}

pub async fn forward(mut req: Request, env: &Env, t: Target) -> Result<Response> {
    let request_id = runtime::random_id();
    if t.internal && !internal_authorized(&req, env) {
        return error(
            401,
            "unauthorized",
            "missing or invalid X-Internal-Auth-Key",
            None,
            &request_id,
        );
    }
    let headers = Headers::new();
    for (k, v) in req.headers().entries() {
        if !matches!(k.as_str(), "host" | "content-length") {
            headers.set(&k, &v)?;
        }
    }
    headers.set(REQUEST_ID_HEADER, &request_id)?;
    let method = req.method();
    let mut init = RequestInit::new();
    init.with_method(method.clone()).with_headers(headers);
    if !matches!(method, Method::Get | Method::Head) {
        let body = req.bytes().await?;
        if body.len() > MAX_FORWARD_BYTES {
            return error(
                413,
                "payload_too_large",
                "body over 1 MiB",
                None,
                &request_id,
            );
        }
        init.with_body(Some(js_sys::Uint8Array::from(body.as_slice()).into()));
    }
    let query = req
        .url()?
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let url = format!("https://{}.internal{}{query}", t.binding, t.path);
    tracing::info!(request_id = %request_id, binding = t.binding, path = %t.path, "forwarding");
    let fetcher = match env.service(t.binding) {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, binding = t.binding, "service binding missing");
            return error(503, "unavailable", "service unavailable", None, &request_id);
        }
    };
    match fetcher
        .fetch_request(Request::new_with_init(&url, &init)?)
        .await
    {
        Ok(r) => Ok(r),
        Err(e) => {
            tracing::error!(error = %e, binding = t.binding, "forward failed");
            error(
                503,
                "unavailable",
                "service unavailable; retry",
                None,
                &request_id,
            )
        }
    }
}

/// Records a config change made through the gateway's config API in the audit log (via the
/// d1-worker). The change stands even if the audit log is unavailable; that is logged.
pub async fn audit_config(env: &Env, actor: &str, key: &str, value: &str, request_id: &str) {
    let entry = NewAudit::new(
        actor,
        Action::ConfigSet,
        audit::config_target(key),
        &serde_json::json!({"key": key, "value": value, "via": "config_api"}),
        request_id,
    );
    let recorded = runtime::service::call::<_, serde_json::Value>(
        env,
        "D1_SERVICE",
        Method::Post,
        "/audit",
        Some(&entry),
        request_id,
        Some(actor),
    )
    .await;
    if let Err(e) = recorded {
        tracing::error!(error = %e, key, "config change not audit-logged");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_and_bot_routes_are_forwarded() {
        let t = target("/admin/dlq").unwrap();
        assert_eq!(
            (t.binding, t.path.as_str(), t.internal),
            ("DLQ_SERVICE", "/", true)
        );
        assert_eq!(target("/admin/dlq/12/replay").unwrap().path, "/12/replay");
        let t = target("/admin/ledger/trades").unwrap();
        assert_eq!((t.binding, t.path.as_str()), ("D1_SERVICE", "/trades"));
        let t = target("/telegram/webhook").unwrap();
        assert_eq!(
            (t.binding, t.path.as_str(), t.internal),
            ("TELEGRAM_SERVICE", "/webhook", false)
        );
    }

    #[test]
    fn other_paths_are_not() {
        for p in [
            "/webhook",
            "/",
            "/admin/config",
            "/admin/dlqx",
            "/admin/ledgers",
            "/telegram/webhook/x",
            "/telegram",
        ] {
            assert_eq!(target(p), None, "{p}");
        }
    }
}
