//! `d1-worker`: the one reader of `trade-data-db` for everything that is not the pipeline. The
//! Telegram bot, the `hoox` CLI (through the gateway's `/admin/ledger/*`) and the dashboard
//! ask typed questions — trades, signals (and one signal's whole path, `/signals/<key>`),
//! positions, dead letters, stats, the daily equity series (`/equity`), what changed since a
//! cursor (`/feed`, the dashboard's live feed), the audit log — and
//! never send SQL: every statement comes from `ops`. It also appends audit entries for workers
//! that have no D1 binding of their own (the gateway, telegram-worker).
//!
//! Every route but `/health` needs `X-Internal-Auth-Key` (constant time, fail-closed).

mod api;

use worker::{event, Context, Env, Request, Response, Result};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    runtime::edge::serve("d1-worker", req, env, api::handle).await
}
