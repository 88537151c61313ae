//! `trade-worker`: consumes `trade-execution` (execute each accepted signal exactly once, and
//! follow each order that is not final) and `trade-events` (fan the outcomes out to the D1
//! ledger); its one-minute cron reads the exchanges' positions and balances into the ledger
//! ([`account`]); its internal `fetch` routes ([`door`]: `POST /signals`, `POST /quote`,
//! `POST /account/read`, `POST /stops`, behind the internal key) let other workers send signals
//! through the same intake as the gateway's, read the accounts and place exchange-side stops.
//!
//! The `queue` export is written by hand rather than with `#[event(queue)]`, to read each
//! message's `attempts` and to make sure no error escapes: every message is acked, retried or
//! dead-lettered on its own. The `scheduled` export is the `worker` macro's, whose handler
//! returns nothing to fail with.

mod account;
mod door;
mod exchange;
mod execution;
mod ledger;
mod ports;
mod stops;

use contracts::config::RuntimeConfig;
use std::rc::Rc;
use tracing::Instrument as _;
use wasm_bindgen::prelude::*;
use worker::worker_sys::{Context as ContextSys, MessageBatch};
use worker::{event, Context, Env, Request, Response, ScheduleContext, ScheduledEvent};

pub const EXECUTION_QUEUE: &str = "trade-execution";
pub const EVENTS_QUEUE: &str = "trade-events";

#[wasm_bindgen]
pub async fn queue(batch: MessageBatch, env: Env, _ctx: ContextSys) -> Result<JsValue, JsValue> {
    // A misconfigured secret is logged; the batch still runs (see `runtime::edge::start`).
    let _ = runtime::edge::start(&env);
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

/// The internal routes (`/health` answers in `runtime::edge::serve`).
#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    runtime::edge::serve("trade-worker", req, env, door::handle).await
}

/// The one-minute cron: every exchange's positions (and today's equity snapshot, once a day).
#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let _ = runtime::edge::start(&env);
    let span = tracing::info_span!("positions", cron = %event.cron(), worker = "trade-worker");
    async {
        let cfg = match runtime::config::load(&env).await {
            Ok(cfg) => cfg,
            Err(e) => {
                tracing::warn!(error = %e, "CONFIG_KV unreadable; positions read with defaults");
                Rc::new(RuntimeConfig::defaults())
            }
        };
        if let Err(e) = account::refresh(&env, &cfg, account::Scope::All).await {
            tracing::error!(error = %e, "positions not refreshed");
        }
    }
    .instrument(span)
    .await;
}
