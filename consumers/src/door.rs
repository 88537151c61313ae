//! The trade-worker's internal routes, reached through the `TRADE_SERVICE` binding (the agent,
//! the email-worker, the dashboard), never from the internet, every one behind the internal key:
//!
//! - `POST /signals`: the same signal object as the gateway's `POST /webhook`, validated by the
//!   same contract (`contracts::signal::validate`) and recorded through the same intake
//!   (`runtime::intake`), so the job reaches `trade-execution` through the store's outbox exactly
//!   once and the answers are the gateway's. Two differences, both because the caller is a
//!   worker, not a sender: `apiKey` is refused (the internal key authenticates; a body carrying
//!   the webhook secret is a forwarded webhook, which must come through the gateway's checks,
//!   and the secret has no business travelling further), and an explicit idempotency key is
//!   required (body `idempotencyKey`, or `idempotency_key`, or the `Idempotency-Key` header): a
//!   payload fingerprint would merge two equal closes of a take-profit ladder within a minute.
//! - `POST /quote`: size scaling and leverage calculation (`exchanges::quote`) at the exchange's
//!   reference price, with the instrument's rules from the same caches as an order's.
//! - `POST /account/read`: a fresh read of every exchange's positions and equity, the
//!   agent-worker's input (`crate::account::read`).
//! - `POST /stops`: the exchange-side stop and trailing stop of an open position
//!   (`crate::stops`), placed and moved by the agent-worker.

use crate::exchange::LiveExchanges;
use contracts::config::RuntimeConfig;
use contracts::signal::{self, Exchange, SignalError, MAX_BODY_BYTES};
use engine::ports::{Failure, FailureClass};
use exchanges::order::ReferencePrice;
use exchanges::quote::{self, QuoteError, QuoteRequest, Size};
use runtime::http::{json, read_capped, require_internal, HttpError};
use runtime::intake::{self, Keys};
use serde_json::Value;
use worker::{Env, Method, Request, Response, Result};

/// A quote body is a handful of fields.
const QUOTE_BODY_CAP: usize = 4 * 1024;
/// How long a quote's exchange reads may take.
const QUOTE_DEADLINE_MS: i64 = 10_000;
/// The snake_case spelling of the body key some callers write; read as `idempotencyKey`.
const SNAKE_KEY: &str = "idempotency_key";

pub async fn handle(req: Request, env: Env, request_id: String) -> Result<Response> {
    if let Err(e) = require_internal(&req, &env) {
        return e.respond(&request_id);
    }
    let path = req.path();
    let answer = match (req.method(), path.trim_end_matches('/')) {
        (Method::Post, "/signals") => return signals(req, &env, &request_id).await,
        (Method::Post, "/quote") => quote_route(req, &env, &request_id).await,
        (Method::Post, "/account/read") => {
            let cfg = runtime::config::load(&env)
                .await
                .unwrap_or_else(|_| std::rc::Rc::new(RuntimeConfig::defaults()));
            return crate::account::read(&env, &cfg, &request_id).await;
        }
        (Method::Post, "/stops") => return crate::stops::handle(req, &env, &request_id).await,
        (_, "/signals" | "/quote" | "/account/read" | "/stops") => {
            Err(HttpError::method_not_allowed("POST"))
        }
        _ => Err(HttpError::not_found("no such trade-worker route")),
    };
    match answer {
        Ok(r) => Ok(r),
        Err(e) => {
            tracing::info!(status = e.status, code = e.code, "refused");
            e.respond(&request_id)
        }
    }
}

fn refused(e: &SignalError) -> HttpError {
    let h = HttpError::new(400, e.code(), e.to_string());
    match e.field() {
        Some(f) => h.field(f),
        None => h,
    }
}

async fn body_of(req: &Request, cap: usize) -> std::result::Result<Vec<u8>, HttpError> {
    // The JS object itself, not `Request.clone()` (which would tee the body).
    read_capped(<worker::web_sys::Request as Clone>::clone(req.inner()), cap).await
}

/// The body's key: `idempotencyKey` (validated with the signal), else `idempotency_key`; both
/// given and different is refused rather than one silently winning.
fn body_key(
    obj: &serde_json::Map<String, Value>,
    validated: Option<String>,
) -> std::result::Result<Option<String>, HttpError> {
    let snake = match obj.get(SNAKE_KEY) {
        None | Some(Value::Null) => None,
        Some(Value::String(k)) => Some(
            signal::validate_idempotency_key(k)
                .map_err(|m| {
                    HttpError::new(400, "invalid_field", format!("{SNAKE_KEY} {m}"))
                        .field(SNAKE_KEY)
                })?
                .to_owned(),
        ),
        Some(_) => {
            return Err(HttpError::new(
                400,
                "invalid_field",
                format!("{SNAKE_KEY} must be a string"),
            )
            .field(SNAKE_KEY))
        }
    };
    match (validated, snake) {
        (Some(a), Some(b)) if a != b => Err(HttpError::new(
            400,
            "invalid_field",
            "idempotencyKey and idempotency_key differ; send one",
        )
        .field(SNAKE_KEY)),
        (Some(k), _) | (None, Some(k)) => Ok(Some(k)),
        (None, None) => Ok(None),
    }
}

async fn signals(req: Request, env: &Env, request_id: &str) -> Result<Response> {
    let accepted = async {
        let body = body_of(&req, MAX_BODY_BYTES).await?;
        let obj = signal::parse_json(&body).map_err(|e| refused(&e))?;
        if obj.contains_key("apiKey") {
            return Err(HttpError::new(
                400,
                "invalid_field",
                "apiKey is refused here: this door authenticates with X-Internal-Auth-Key, and a webhook carrying its secret goes through the gateway",
            )
            .field("apiKey"));
        }
        let parsed = signal::validate(&obj).map_err(|e| refused(&e))?;
        let body_key = body_key(&obj, parsed.idempotency_key)?;
        let header_key = intake::header_key(req.headers(), body_key.is_some())?;
        if body_key.is_none() && header_key.is_none() {
            return Err(HttpError::new(
                400,
                "missing_field",
                "an idempotency key is required here (idempotencyKey in the body or the Idempotency-Key header): internal callers name their signals, never a payload fingerprint",
            )
            .field("idempotencyKey"));
        }
        Ok((parsed.signal, body_key, header_key))
    }
    .await;
    let (signal, body_key, header_key) = match accepted {
        Ok(a) => a,
        Err(e) => {
            tracing::info!(status = e.status, code = e.code, "signal refused");
            return e.respond(request_id);
        }
    };
    let cfg = match runtime::config::load(env).await {
        Ok(cfg) => cfg,
        Err(e) => {
            // As the gateway does: the key's TTL and window have safe defaults, and the
            // consumer fails closed on its own read.
            tracing::warn!(error = %e, "config unreadable; intake uses defaults");
            std::rc::Rc::new(RuntimeConfig::defaults())
        }
    };
    let keys = Keys {
        body: body_key.as_deref(),
        header: header_key.as_deref(),
        webhook_id: None,
    };
    intake::accept(env, &cfg, signal, keys, request_id, runtime::now_ms()).await
}

fn quote_refused(e: &QuoteError) -> HttpError {
    let h = HttpError::new(e.status(), e.code(), e.to_string());
    match e.field() {
        Some(f) => h.field(f),
        None => h,
    }
}

/// An exchange read that failed: refused for good is 422, anything else 503 (retry).
fn exchange_failed(exchange: Exchange, f: Failure) -> HttpError {
    match f.class {
        FailureClass::Terminal => HttpError::new(
            422,
            "exchange_refused",
            format!("{exchange}: {}", f.message),
        ),
        FailureClass::Retryable {
            retry_after_seconds,
        }
        | FailureClass::Banned {
            retry_after_seconds,
        } => HttpError::unavailable(format!("{exchange}: {}", f.message))
            .retry_after(retry_after_seconds.unwrap_or(1)),
        FailureClass::Unknown => {
            HttpError::unavailable(format!("{exchange}: {}", f.message)).retry_after(1)
        }
    }
}

async fn quote_route(
    req: Request,
    env: &Env,
    request_id: &str,
) -> std::result::Result<Response, HttpError> {
    let body = body_of(&req, QUOTE_BODY_CAP).await?;
    let obj = signal::parse_json(&body).map_err(|e| refused(&e))?;
    let asked = QuoteRequest::from_json(&obj).map_err(|e| quote_refused(&e))?;
    // The caps are the config's: an unreadable config quotes nothing.
    let cfg = runtime::config::load(env)
        .await
        .map_err(|e| HttpError::unavailable(format!("CONFIG_KV unreadable ({e}); retry")))?;
    let wants_equity = matches!(asked.size, Size::EquityPct(_));
    let (instrument, price, equity) = match asked.exchange {
        Exchange::Paper => {
            if wants_equity {
                return Err(HttpError::new(
                    422,
                    "no_equity",
                    "paper keeps no USDT wallet to take a share of: quote paper with notional",
                )
                .field("equity_pct"));
            }
            let price = asked.price.map(ReferencePrice::signal).ok_or_else(|| {
                HttpError::new(400, "invalid_field", "paper needs a price").field("price")
            })?;
            (quote::paper_instrument(&asked.symbol), price, None)
        }
        exchange => {
            let exchanges = LiveExchanges::open(env, &cfg, &[], &[]).await;
            let port = exchanges.live(exchange).ok_or_else(|| {
                HttpError::not_found(format!("{exchange} is not a live exchange"))
            })?;
            let deadline = runtime::now_ms().saturating_add(QUOTE_DEADLINE_MS);
            let equity = async {
                if wants_equity {
                    port.balance(asked.test, deadline)
                        .await
                        .map(|b| Some(b.equity))
                } else {
                    Ok(None)
                }
            };
            let (market, equity) =
                futures::future::join(port.market(&asked.symbol, asked.test, deadline), equity)
                    .await;
            // Failed reads are logged to R2 like an order's.
            exchanges.close(|_| None).await;
            let (instrument, price) = market.map_err(|f| exchange_failed(exchange, f))?;
            let equity = equity.map_err(|f| exchange_failed(exchange, f))?;
            (instrument, price, equity)
        }
    };
    let q =
        quote::quote(&asked, &instrument, price, equity, &cfg).map_err(|e| quote_refused(&e))?;
    tracing::info!(request_id = %request_id, exchange = q.exchange, symbol = %q.symbol, quantity = %q.quantity, notional = %q.notional, "quoted");
    json(200, &q).map_err(|e| HttpError::new(500, "internal", e.to_string()))
}
