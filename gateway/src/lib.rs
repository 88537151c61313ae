//! `hoox`, the gateway worker: the only public door. It authenticates, validates, dedupes and
//! enqueues signals, answering in milliseconds; it never talks to an exchange, D1 or Telegram.
//! It also hosts the `IdempotencyStore` Durable Object and the operator config API.
//! Operator and bot routes owned by other workers (`/admin/dlq/*`, `/admin/ledger/*`,
//! `/telegram/webhook`, `/dashboard/*`, `/email/mailgun`, `/email-signal`) are forwarded
//! through service bindings (`proxy`).

mod admin;
mod proxy;
mod store;
mod webhook;

pub use store::IdempotencyStore;

use runtime::http::HttpError;
use worker::{event, web_sys, Context, Env, Method, Request, Response, Result};

/// The path of an absolute URL as the runtime gives it (already normalised), without a query.
fn path_of(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    path.split(['?', '#']).next().unwrap_or(path)
}

#[event(fetch)]
async fn fetch(raw: web_sys::Request, env: Env, _ctx: Context) -> Result<Response> {
    if let Err(e) = runtime::edge::start(&env) {
        return e.respond(&runtime::random_id());
    }
    // Signals are handled on the runtime's request as it is: making a `worker::Request` of it
    // parses its `cf` object, a few percent of the gateway's time per signal.
    if raw.method() == "POST" && matches!(path_of(&raw.url()), "/webhook" | "/") {
        return webhook::handle(raw, env).await;
    }
    let req = Request::from(raw);
    let path = req.path();
    if let Some(target) = proxy::target(&path) {
        return proxy::forward(req, &env, target).await;
    }
    match (req.method(), path.as_str()) {
        (_, "/webhook" | "/") => {
            HttpError::method_not_allowed("POST").respond(&runtime::random_id())
        }
        (Method::Get, "/health") => runtime::http::health("hoox"),
        (_, p) if p.starts_with("/admin/") => admin::handle(req, env).await,
        _ => HttpError::not_found("no such route").respond(&runtime::random_id()),
    }
}

#[cfg(test)]
mod tests {
    use super::path_of;

    #[test]
    fn path_of_takes_the_path_alone() {
        assert_eq!(path_of("https://hoox.example/webhook"), "/webhook");
        assert_eq!(path_of("http://127.0.0.1:8787/webhook?x=1#f"), "/webhook");
        assert_eq!(path_of("https://hoox.example"), "/");
        assert_eq!(path_of("https://hoox.example/?a=b"), "/");
        assert_eq!(
            path_of("https://hoox.example/admin/config"),
            "/admin/config"
        );
    }
}
