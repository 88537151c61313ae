//! `telegram-worker`: hoox's voice in Telegram. `POST /alert` (internal key) turns alerts from
//! the fan-out and the dlq worker into one HTML message for every allow-listed chat, sent within
//! Telegram's limits; `POST /document` (internal key) sends a file with an HTML caption (the
//! report-worker's PDFs) to the same chats; `POST /webhook` takes the bot's updates (secret token checked in constant
//! time, fail-closed) and answers the slash commands of allow-listed chats only; commands that
//! change state also need an allow-listed user.
//!
//! Wording, escaping, splitting, command parsing and the rate-limit policy live in the pure
//! `alerts` crate; this worker only moves them between bindings.

mod bot;
mod sender;

use runtime::http::{require_internal, HttpError};
use worker::{event, Context, Env, Method, Request, Response, Result};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    runtime::edge::serve("telegram-worker", req, env, route).await
}

async fn route(req: Request, env: Env, request_id: String) -> Result<Response> {
    match (req.method(), req.path().as_str()) {
        (Method::Post, "/alert") => {
            if let Err(e) = require_internal(&req, &env) {
                return e.respond(&request_id);
            }
            sender::alert(req, &env, &request_id).await
        }
        (Method::Post, "/document") => {
            if let Err(e) = require_internal(&req, &env) {
                return e.respond(&request_id);
            }
            sender::document(req, &env, &request_id).await
        }
        (Method::Post, "/webhook") => bot::webhook(req, &env, &request_id).await,
        _ => HttpError::not_found("no such route").respond(&request_id),
    }
}
