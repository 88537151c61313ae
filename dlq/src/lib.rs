//! `dlq`: where signals that could not end normally are kept for operators.
//!
//! As a consumer of `trade-execution-dlq` and `trade-events-dlq` ([`consumer`]) it records every
//! dead letter in D1 (`dead_letters`: job, reason, attempts, last error), marks its key dead in
//! the IdempotencyStore, and alerts once per dead letter through `TELEGRAM_SERVICE`. As an HTTP
//! worker ([`api`], internal key, reached through the gateway's `/admin/dlq/*`) it lets
//! operators list, inspect, replay (one or many, dry run first) and discard them, writing every
//! action to `audit_log`. A replay reopens the key and re-enters `trade-execution` with the same
//! idempotency key, so exactly-once still holds.
//!
//! The `queue` export is written by hand (see `runtime::queue`): no error escapes it.

mod api;
mod consumer;

use runtime::service::request_id_of;
use tracing::Instrument as _;
use wasm_bindgen::prelude::*;
use worker::worker_sys::{Context as ContextSys, MessageBatch};
use worker::{event, Context, Env, Request, Response};

pub const EXECUTION_DLQ: &str = "trade-execution-dlq";
pub const EVENTS_DLQ: &str = "trade-events-dlq";

#[wasm_bindgen]
pub async fn queue(batch: MessageBatch, env: Env, _ctx: ContextSys) -> Result<JsValue, JsValue> {
    runtime::logging::init(&env);
    let (queue, deliveries) = runtime::queue::deliveries(&batch);
    consumer::run(&queue, deliveries, &env).await;
    Ok(JsValue::UNDEFINED)
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    runtime::logging::init(&env);
    let request_id = request_id_of(&req);
    let span = tracing::info_span!("request", request_id = %request_id, worker = "dlq");
    api::handle(req, env, request_id).instrument(span).await
}
