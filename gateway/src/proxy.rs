//! Forwarding operator and bot routes to the workers that own them, through service bindings
//! (the route table is the registry's):
//! locally (and in production) only the gateway is exposed, so this is how the CLI reaches the
//! dead-letter API and the ledger, and how Telegram reaches the bot.
//!
//! `/admin/dlq/*` → `DLQ_SERVICE` and `/admin/ledger/*` → `D1_SERVICE` are checked for the
//! internal key here and again by the target, and carry the actor the key names
//! (`ops::audit::internal_key_actor`), never the caller's header as it came; the ledger is
//! read-only from outside (audit entries are appended by workers only). `/telegram/webhook` →
//! `TELEGRAM_SERVICE` is checked here for Telegram's secret-token header (constant time,
//! fail-closed) before its body is read, and the body is held to the webhook's 64 KiB; the
//! telegram-worker checks the token again. `/dashboard/*` → `DASHBOARD_SERVICE` (guard `Own`)
//! is forwarded unauthenticated, for the dashboard checks its own sessions: the internal key,
//! actor and origin headers a browser sent are dropped, and `X-Hoox-Origin` tells the dashboard
//! the origin the request arrived at (its forms' `Origin` must equal it). `/email/mailgun` and
//! `/email/mailgun/mime` → `EMAIL_SERVICE` (guard `Signed`) are Mailgun's route posts: the
//! email-worker verifies their signature from the form fields, so nothing is checked here but
//! the same headers are dropped, and the body may be a whole mail (512 KiB); `/email-signal` →
//! `EMAIL_SERVICE` takes the internal key. The gateway's own webhook is untouched.

use alerts::api::SECRET_TOKEN_HEADER;
use contracts::signal::MAX_BODY_BYTES;
use registry::Guard;
use runtime::http::{header_holds_secret, read_capped, require_internal, HttpError};
use runtime::service::REQUEST_ID_HEADER;
use worker::{Env, Headers, Method, Request, RequestInit, Response, Result};

/// The header a `Guard::Own` target reads the public origin from (the gateway overwrites
/// whatever a caller sent).
pub const ORIGIN_HEADER: &str = "X-Hoox-Origin";

/// Largest operator request body forwarded.
const MAX_FORWARD_BYTES: usize = 1024 * 1024;
/// Largest body of a signed sender's post: a mail of the email-worker's 128 KiB cap, form
/// encoded (percent-encoding can triple it), with Mailgun's parsed fields beside it.
const MAX_SIGNED_BYTES: usize = 512 * 1024;
/// The bot's secret token, shared with the telegram-worker.
pub const TELEGRAM_SECRET_TOKEN: &str = "TELEGRAM_SECRET_TOKEN";

/// Where a forwarded request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub binding: &'static str,
    /// Path on the target worker.
    pub path: String,
    /// What the gateway checks before forwarding.
    pub guard: Guard,
}

/// The target of a gateway path, if it is forwarded: the routes are the registry's
/// (`registry::Deployable::routes`).
pub fn target(path: &str) -> Option<Target> {
    registry::forward(path).map(|f| Target {
        binding: f.binding,
        path: f.path,
        guard: f.guard,
    })
}

/// Whether `method` may be forwarded to `t`: the ledger is read-only from outside.
fn allows(t: &Target, method: &Method) -> bool {
    t.binding != "D1_SERVICE" || matches!(method, Method::Get | Method::Head)
}

/// The body cap of a forwarded route: a bot update is held to the webhook's cap.
fn cap_of(t: &Target) -> usize {
    match t.guard {
        Guard::InternalKey => MAX_FORWARD_BYTES,
        Guard::TelegramToken | Guard::Own => MAX_BODY_BYTES,
        Guard::Signed => MAX_SIGNED_BYTES,
    }
}

pub async fn forward(req: Request, env: &Env, t: Target) -> Result<Response> {
    let request_id = runtime::random_id();
    match forwarded(req, env, &t, &request_id).await {
        Ok(r) => Ok(r),
        Err(e) => {
            if e.status < 500 {
                tracing::info!(request_id = %request_id, binding = t.binding, status = e.status, "refused");
            }
            e.respond(&request_id)
        }
    }
}

async fn forwarded(
    req: Request,
    env: &Env,
    t: &Target,
    request_id: &str,
) -> std::result::Result<Response, HttpError> {
    let internal = |e: worker::Error| HttpError::unavailable(e.to_string());
    let actor = match t.guard {
        Guard::InternalKey => Some(require_internal(&req, env)?.actor),
        Guard::TelegramToken => {
            if !header_holds_secret(&req, env, SECRET_TOKEN_HEADER, TELEGRAM_SECRET_TOKEN) {
                return Err(HttpError::unauthorized("bad secret token"));
            }
            None
        }
        // The target verifies the signature; nothing here would be stronger.
        Guard::Own | Guard::Signed => None,
    };
    let method = req.method();
    if !allows(t, &method) {
        return Err(HttpError::method_not_allowed("GET"));
    }
    let headers = Headers::new();
    // A target that authenticates its own callers never sees the internal key or an actor a
    // caller made up, and learns the public origin from the gateway alone.
    let own = matches!(t.guard, Guard::Own | Guard::Signed);
    for (k, v) in req.headers().entries() {
        let internal_only = own
            && (k.eq_ignore_ascii_case(runtime::http::INTERNAL_AUTH_HEADER)
                || k.eq_ignore_ascii_case(ops::ACTOR_HEADER)
                || k.eq_ignore_ascii_case(ORIGIN_HEADER));
        if !matches!(k.as_str(), "host" | "content-length") && !internal_only {
            headers.set(&k, &v).map_err(internal)?;
        }
    }
    if t.guard == Guard::Own {
        let url = req.url().map_err(internal)?;
        headers
            .set(ORIGIN_HEADER, &url.origin().ascii_serialization())
            .map_err(internal)?;
    }
    headers
        .set(REQUEST_ID_HEADER, request_id)
        .map_err(internal)?;
    if let Some(actor) = &actor {
        headers.set(ops::ACTOR_HEADER, actor).map_err(internal)?;
    }
    let query = req
        .url()
        .map_err(internal)?
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let mut init = RequestInit::new();
    // A target's redirect (the dashboard's 303 to its login) goes back to the caller as it is:
    // following it here would fetch the target's own relative path from the gateway's side.
    init.with_method(method.clone())
        .with_headers(headers)
        .with_redirect(worker::RequestRedirect::Manual);
    if !matches!(method, Method::Get | Method::Head) {
        let body = read_capped(
            // The JS object itself, not `Request.clone()` (which would tee the body).
            <worker::web_sys::Request as Clone>::clone(req.inner()),
            cap_of(t),
        )
        .await?;
        init.with_body(Some(js_sys::Uint8Array::from(body.as_slice()).into()));
    }
    let url = format!("https://{}.internal{}{query}", t.binding, t.path);
    tracing::info!(request_id = %request_id, binding = t.binding, path = %t.path, "forwarding");
    let fetcher = env.service(t.binding).map_err(|e| {
        tracing::error!(error = %e, binding = t.binding, "service binding missing");
        HttpError::unavailable("service unavailable")
    })?;
    let forward = Request::new_with_init(&url, &init).map_err(internal)?;
    fetcher.fetch_request(forward).await.map_err(|e| {
        tracing::error!(error = %e, binding = t.binding, "forward failed");
        HttpError::unavailable("service unavailable; retry")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_and_bot_routes_are_forwarded() {
        let t = target("/admin/dlq").unwrap();
        assert_eq!(
            (t.binding, t.path.as_str(), t.guard),
            ("DLQ_SERVICE", "/", Guard::InternalKey)
        );
        assert_eq!(target("/admin/dlq/12/replay").unwrap().path, "/12/replay");
        let t = target("/admin/ledger/trades").unwrap();
        assert_eq!((t.binding, t.path.as_str()), ("D1_SERVICE", "/trades"));
        let t = target("/telegram/webhook").unwrap();
        assert_eq!(
            (t.binding, t.path.as_str(), t.guard),
            ("TELEGRAM_SERVICE", "/webhook", Guard::TelegramToken)
        );
        let t = target("/dashboard/login").unwrap();
        assert_eq!(
            (t.binding, t.path.as_str(), t.guard),
            ("DASHBOARD_SERVICE", "/login", Guard::Own)
        );
        assert_eq!(cap_of(&t), 64 * 1024);
        let t = target("/email/mailgun").unwrap();
        assert_eq!(
            (t.binding, t.path.as_str(), t.guard),
            ("EMAIL_SERVICE", "/mailgun", Guard::Signed)
        );
        assert_eq!(cap_of(&t), 512 * 1024);
        let t = target("/email-signal").unwrap();
        assert_eq!(
            (t.path.as_str(), t.guard),
            ("/email-signal", Guard::InternalKey)
        );
    }

    #[test]
    fn the_ledger_is_read_only_and_bot_updates_have_the_webhook_cap() {
        let ledger = target("/admin/ledger/audit").unwrap();
        assert!(allows(&ledger, &Method::Get));
        assert!(
            !allows(&ledger, &Method::Post),
            "audit entries come from workers only"
        );
        let dlq = target("/admin/dlq/3/replay").unwrap();
        assert!(allows(&dlq, &Method::Post));
        let bot = target("/telegram/webhook").unwrap();
        assert!(allows(&bot, &Method::Post));
        assert_eq!(cap_of(&bot), 64 * 1024);
        assert_eq!(cap_of(&dlq), 1024 * 1024);
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
