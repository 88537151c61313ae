//! The entry of every worker's `fetch`: logging set up, the hoox secrets checked once per
//! isolate (one shorter than 32 characters refuses every request with a clear error, rather
//! than guarding anything weakly), the request id taken from the calling worker or made, and
//! the handler run inside a span carrying it. `/health` answers here, before any route.

use crate::http::{health, HttpError};
use crate::service::request_id_of;
use contracts::auth::{check_secret, WeakSecret, HOOX_SECRETS};
use std::cell::OnceCell;
use std::future::Future;
use tracing::Instrument as _;
use worker::{Env, Method, Request, Response, Result};

thread_local! {
    /// Secrets are fixed for an isolate's life: checked on its first event.
    static SECRETS: OnceCell<Option<WeakSecret>> = const { OnceCell::new() };
}

/// The first hoox secret that is set but too short, if any (checked once per isolate).
pub fn weak_secret(env: &Env) -> Option<WeakSecret> {
    SECRETS.with(|s| {
        s.get_or_init(|| {
            HOOX_SECRETS.into_iter().find_map(|name| {
                check_secret(name, crate::http::secret(env, name).as_deref()).err()
            })
        })
        .clone()
    })
}

/// Logging set up and the secrets checked: the start of every event. For a request, `Err` is
/// the answer; a queue or cron event logs it and runs (dropping trades over a
/// configuration mistake would be worse than running with it).
pub fn start(env: &Env) -> std::result::Result<(), HttpError> {
    crate::logging::init(env);
    crate::meter::init(env);
    match weak_secret(env) {
        None => Ok(()),
        Some(e) => {
            tracing::error!(secret = e.name, length = e.len, "refusing to serve: {e}");
            Err(HttpError::new(500, "misconfigured", e.to_string()))
        }
    }
}

/// Serves one request of worker `name`: [`start`], `/health`, then `handler` with the request
/// id, inside a span naming both.
pub async fn serve<F, Fut>(
    name: &'static str,
    req: Request,
    env: Env,
    handler: F,
) -> Result<Response>
where
    F: FnOnce(Request, Env, String) -> Fut,
    Fut: Future<Output = Result<Response>>,
{
    let request_id = request_id_of(&req);
    crate::meter::count(crate::meter::Op::Invocation, 1, name);
    if let Err(e) = start(&env) {
        return e.respond(&request_id);
    }
    if req.method() == Method::Get && req.path().trim_end_matches('/') == "/health" {
        return health(name);
    }
    let span = tracing::info_span!("request", request_id = %request_id, worker = name);
    handler(req, env, request_id).instrument(span).await
}
