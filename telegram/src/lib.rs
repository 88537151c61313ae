//! `telegram-worker`: hoox's voice in Telegram. `POST /alert` (internal key) turns alerts from
//! the fan-out and the dlq worker into one HTML message for every allow-listed chat, sent within
//! Telegram's limits; `POST /webhook` takes the bot's updates (secret token checked in constant
//! time, fail-closed) and answers the slash commands of allow-listed chats only.
//!
//! Wording, escaping, splitting, command parsing and the rate-limit policy live in the pure
//! `alerts` crate; this worker only moves them between bindings.

mod bot;
mod sender;

use runtime::http::{error, internal_authorized, json};
use runtime::service::request_id_of;
use tracing::Instrument as _;
use worker::{event, Context, Env, Method, Request, Response, Result};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    runtime::logging::init(&env);
    let request_id = request_id_of(&req);
    let span = tracing::info_span!("request", request_id = %request_id, worker = "telegram-worker");
    route(req, env, request_id).instrument(span).await
}

async fn route(req: Request, env: Env, request_id: String) -> Result<Response> {
    match (req.method(), req.path().as_str()) {
        (Method::Get, "/health") => json(
            200,
            &serde_json::json!({"status": "ok", "worker": "telegram-worker"}),
        ),
        (Method::Post, "/alert") => {
            if !internal_authorized(&req, &env) {
                return error(
                    401,
                    "unauthorized",
                    "missing or invalid X-Internal-Auth-Key",
                    None,
                    &request_id,
                );
            }
            sender::alert(req, &env, &request_id).await
        }
        (Method::Post, "/webhook") => bot::webhook(req, &env, &request_id).await,
        _ => error(404, "not_found", "no such route", None, &request_id),
    }
}
