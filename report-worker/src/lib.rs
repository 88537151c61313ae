//! `report-worker`: hoox's performance reports. For a period (a UTC day, an ISO week, a month;
//! `report::period`) it reads the ledger (D1 `DB`: every fill, the period's equity snapshots,
//! the positions, the signal funnel), computes every figure with the pure `report` crate,
//! renders the HTML, has Cloudflare Browser Rendering print it to PDF ([`pdf`]), stores the
//! three files in R2 (`REPORTS_BUCKET`, [`store`]) and sends the PDF to the allowed Telegram
//! chats (`TELEGRAM_SERVICE /document`).
//!
//! Routes (internal key; the gateway forwards `/admin/reports/*` here): `POST /reports`
//! `{"period": "daily"|"weekly"|"monthly", "date"?: "YYYY-MM-DD"}` makes (or remakes: the same
//! keys are overwritten) the report of the period holding `date` (default: the period running
//! now); `GET /reports` lists the stored files with their metadata; `GET /reports/<key>` streams
//! one; `GET /summary?period=daily|weekly|monthly|all&n=N` answers the bot's `/daily` ... and
//! `/profit` with the headline figures of the last `n` periods. Its hourly cron makes the
//! reports that are due and not yet stored ([`report::period::due`]).

mod api;
mod generate;
mod pdf;
mod store;

use tracing::Instrument as _;
use worker::{event, Context, Env, Request, Response, ScheduleContext, ScheduledEvent};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    runtime::edge::serve("report-worker", req, env, api::handle).await
}

#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let _ = runtime::edge::start(&env);
    let span = tracing::info_span!("reports", cron = %event.cron(), worker = "report-worker");
    generate::due(&env, event.schedule() as i64)
        .instrument(span)
        .await;
}
