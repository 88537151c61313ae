//! `dashboard`: hoox's operator console in the browser, a thin adapter over the pure `console`
//! crate. Reached only through the gateway's `/dashboard` (registry route, guard `Own`): the
//! gateway forwards without the internal key and the dashboard authenticates with its own
//! sessions ([`auth`]); its [`routes`] read and act through the other workers' operator APIs
//! with the internal key, which never leaves the server.

mod auth;
mod routes;

use worker::{event, Context, Env, Request, Response};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    runtime::edge::serve("dashboard", req, env, routes::handle).await
}
