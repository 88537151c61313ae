//! `hoox`, the gateway worker: the only public door. It authenticates, validates, dedupes and
//! enqueues signals, answering in milliseconds; it never talks to an exchange, D1 or Telegram.
//! It also hosts the `IdempotencyStore` Durable Object and the operator config API.
//! Operator and bot routes owned by other workers (`/admin/dlq/*`, `/admin/ledger/*`,
//! `/telegram/webhook`) are forwarded through service bindings (`proxy`).

mod admin;
mod proxy;
mod store;
mod webhook;

pub use store::IdempotencyStore;

use runtime::http::error;
use worker::{event, Context, Env, Method, Request, Response, Result};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    runtime::logging::init(&env);
    let path = req.path();
    if let Some(target) = proxy::target(&path) {
        return proxy::forward(req, &env, target).await;
    }
    match (req.method(), path.as_str()) {
        (Method::Post, "/webhook" | "/") => webhook::handle(req, env).await,
        (_, "/webhook" | "/") => {
            let mut r = error(
                405,
                "method_not_allowed",
                "use POST",
                None,
                &runtime::random_id(),
            )?;
            r.headers_mut().set("Allow", "POST")?;
            Ok(r)
        }
        (Method::Get, "/health") => {
            runtime::http::json(200, &serde_json::json!({"status": "ok", "worker": "hoox"}))
        }
        (_, p) if p.starts_with("/admin/") => admin::handle(req, env).await,
        _ => error(
            404,
            "not_found",
            "no such route",
            None,
            &runtime::random_id(),
        ),
    }
}
