//! `trade-worker`: consumes `trade-execution` (execute each accepted signal exactly once) and
//! `trade-events` (fan the outcomes out to the D1 ledger).
//!
//! The `queue` export is written by hand rather than with `#[event(queue)]`, to read each
//! message's `attempts` and to make sure no error escapes: every message is acked, retried or
//! dead-lettered on its own.

mod exchange;
mod execution;
mod ledger;
mod ports;

use wasm_bindgen::prelude::*;
use worker::worker_sys::{Context as ContextSys, MessageBatch};
use worker::Env;

pub const EXECUTION_QUEUE: &str = "trade-execution";
pub const EVENTS_QUEUE: &str = "trade-events";

#[wasm_bindgen]
pub async fn queue(batch: MessageBatch, env: Env, _ctx: ContextSys) -> Result<JsValue, JsValue> {
    runtime::logging::init(&env);
    let (queue, deliveries) = runtime::queue::deliveries(&batch);
    match queue.as_str() {
        EXECUTION_QUEUE => execution::run(deliveries, &env).await,
        EVENTS_QUEUE => ledger::run(deliveries, &env).await,
        other => {
            tracing::error!(queue = other, "batch from an unexpected queue; retrying it");
            for d in &deliveries {
                d.retry(60);
            }
        }
    }
    Ok(JsValue::UNDEFINED)
}
