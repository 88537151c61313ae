//! `agent-worker`: hoox's risk manager. Each minute (its cron) and on an operator's
//! `POST /agent/run` it gathers the inputs — the `risk:*` rules from CONFIG_KV, a fresh read of
//! every exchange's positions and equity through the trade-worker, its own records in D1 — runs
//! the pure evaluation (`risk::evaluate`) and carries out what comes back: closes through the
//! trade-worker's `POST /signals` (the door every signal uses, keyed so a rerun never closes
//! twice), entry pauses into `trade:entries_paused` (which the trade-worker enforces for
//! opening signals only), an alert and an audit entry for each.
//!
//! Routes (the internal key on each): `GET /agent/status`, `POST /agent/run`,
//! `POST /agent/risk-override` (pause / resume / flatten).

mod records;
mod routes;
mod run;
mod trade;

use tracing::Instrument as _;
use worker::{event, Context, Env, Request, Response, Result, ScheduleContext, ScheduledEvent};

pub const WORKER: &str = "agent-worker";

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    runtime::edge::serve(WORKER, req, env, routes::handle).await
}

#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    // A weak secret is logged; the protections still run (see `runtime::edge::start`).
    let _ = runtime::edge::start(&env);
    let request_id = runtime::random_id();
    let span = tracing::info_span!("risk", cron = %event.cron(), worker = WORKER, request_id = %request_id);
    async {
        if let Err(e) = run::run(&env, run::Trigger::Cron, &request_id).await {
            tracing::error!(error = %e, "risk evaluation failed");
        }
    }
    .instrument(span)
    .await;
}
