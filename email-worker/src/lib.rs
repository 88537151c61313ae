//! `email-worker`: trading signals by e-mail, a thin adapter over the pure `email` crate. Three
//! ingresses feed the one parser (`email::accept`: MIME, authenticated senders, the strict
//! grammar, `contracts::signal::validate`), and every accepted signal goes through the
//! trade-worker's `POST /signals` ([`deliver`]), so it is recorded in the `IdempotencyStore`
//! under its Message-ID's key and reaches `trade-execution` through the outbox like a webhook:
//!
//! - Email Routing's `email()` handler ([`inbound`]): a refused mail is rejected with its
//!   reason (`setReject`, the sender gets the SMTP refusal), never dropped; the handler never
//!   fails instead.
//! - `POST /mailgun` (the gateway's `/email/mailgun`, guard `Signed`): a Mailgun route's post,
//!   its signature verified from the form fields, answered 200 or 406 ([`routes`]).
//! - `POST /email-signal` (the gateway's `/email-signal`, the internal key): a signal object
//!   or a raw message ([`routes`]).
//!
//! Every accepted and every refused mail is alerted on Telegram (sender, subject, reason).

mod config;
mod deliver;
mod inbound;
mod routes;

use tracing::Instrument as _;
use worker::{event, Context, Env, ForwardableEmailMessage, Request, Response, Result};

pub const WORKER: &str = "email-worker";

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    runtime::edge::serve(WORKER, req, env, routes::handle).await
}

#[event(email)]
async fn email(message: ForwardableEmailMessage, env: Env, _ctx: Context) -> Result<()> {
    // A weak secret is logged; the mail is still judged (refusing it over the configuration
    // would bounce every signal, and nothing here is guarded by that secret).
    let _ = runtime::edge::start(&env);
    let request_id = runtime::random_id();
    let span = tracing::info_span!("email", worker = WORKER, request_id = %request_id);
    inbound::handle(&message, &env, &request_id)
        .instrument(span)
        .await;
    Ok(())
}
