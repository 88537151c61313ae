//! Talking to real exchanges from the worker: the transport (fetch with a timeout), credentials
//! and base URLs from the environment, per-exchange rate limits (`governor`), a circuit breaker
//! for IP bans, instrument rules cached in KV, leverage set once per symbol, and a redacted R2
//! log of every request and answer. The protocols themselves live in `exchanges`.

use contracts::config::Quota;
use contracts::event::OrderAck;
use contracts::signal::Exchange;
use exchanges::order::OrderRequest;
use exchanges::venue::{
    Context, Credentials, ErrorClass, ExchangeError, HttpRequest, HttpResponse, Instrument, Method,
    QueryResult, Venue,
};
use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::RateLimiter;
use std::cell::RefCell;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::Duration;
use worker::{AbortController, Delay, Env, Fetch, Headers, Request, RequestInit};

const CONFIG_KV: &str = "CONFIG_KV";
const LOGS_BUCKET: &str = "SYSTEM_LOGS_BUCKET";
/// An exchange call that has not answered by then is abandoned; for a submit the outcome is then
/// unknown and the next attempt reconciles. Shorter than the store's claim lease.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
const INSTRUMENT_TTL_SECONDS: u64 = 3_600;
const LEVERAGE_TTL_SECONDS: u64 = 86_400;
const DEFAULT_BAN_SECONDS: u32 = 60;
/// Var that, when set, fixes the circuit-breaker pause after an IP ban.
const BAN_SECONDS_VAR: &str = "EXCHANGE_BAN_SECONDS";

/// How a live attempt ended.
#[derive(Debug)]
pub enum LiveOutcome {
    Filled(OrderAck),
    /// Refused for good (by the exchange or before it); no order exists.
    Rejected(String),
    /// Try again later. `released`: this attempt certainly placed no order.
    Retry {
        delay_seconds: Option<u32>,
        error: String,
        released: bool,
    },
}

/// Governor's clock on the Workers clock (`std::time::Instant` panics on wasm32).
#[derive(Clone, Copy, Debug, Default)]
pub struct WorkersClock;

impl Clock for WorkersClock {
    type Instant = Nanos;
    fn now(&self) -> Nanos {
        Nanos::from((runtime::now_ms().max(0) as u64).saturating_mul(1_000_000))
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, WorkersClock, NoOpMiddleware<Nanos>>;

thread_local! {
    static LIMITERS: RefCell<HashMap<Exchange, (Quota, Limiter)>> = RefCell::new(HashMap::new());
    /// Exchange → banned until (epoch ms), per isolate; mirrored in KV for other isolates.
    static CIRCUIT: RefCell<HashMap<Exchange, i64>> = RefCell::new(HashMap::new());
    static LEVERAGE: RefCell<HashMap<(Exchange, String), u8>> = RefCell::new(HashMap::new());
}

/// Takes one order slot of `exchange`'s quota; `Err(seconds)` until the next slot.
pub fn take_rate_slot(exchange: Exchange, quota: Quota) -> Result<(), u32> {
    LIMITERS.with(|l| {
        let mut l = l.borrow_mut();
        let stale = l.get(&exchange).is_none_or(|(q, _)| *q != quota);
        if stale {
            let burst = NonZeroU32::new(quota.count).unwrap_or(NonZeroU32::MIN);
            let period = Duration::from_secs(u64::from(quota.per_seconds)) / quota.count.max(1);
            let Some(q) = governor::Quota::with_period(period) else {
                return Ok(());
            };
            l.insert(
                exchange,
                (
                    quota,
                    RateLimiter::direct_with_clock(q.allow_burst(burst), WorkersClock),
                ),
            );
        }
        match l.get(&exchange) {
            Some((_, limiter)) => limiter.check().map_err(|not_until| {
                let wait = not_until.wait_time_from(WorkersClock.now());
                wait.as_secs_f64().ceil().max(1.0) as u32
            }),
            None => Ok(()),
        }
    })
}

fn env_name(exchange: Exchange) -> &'static str {
    match exchange {
        Exchange::Bybit => "BYBIT",
        Exchange::Binance => "BINANCE",
        Exchange::Mexc => "MEXC",
        Exchange::Paper => "PAPER",
    }
}

fn credentials(env: &Env, exchange: Exchange) -> Option<Credentials> {
    let prefix = env_name(exchange);
    Some(Credentials {
        api_key: runtime::http::secret(env, &format!("{prefix}_API_KEY"))?,
        api_secret: runtime::http::secret(env, &format!("{prefix}_API_SECRET"))?,
    })
}

fn base_url(env: &Env, venue: &dyn Venue, testnet: bool) -> Result<String, ExchangeError> {
    // The default host also decides whether the route exists (MEXC has no testnet).
    let default = venue.default_base_url(testnet)?;
    let var = format!(
        "{}_{}BASE_URL",
        env_name(venue.exchange()),
        if testnet { "TESTNET_" } else { "" }
    );
    Ok(env
        .var(&var)
        .map(|v| v.to_string())
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
        .trim_end_matches('/')
        .to_owned())
}

/// Sends one request; `Err` is a transport failure (timeout, reset, DNS), text for the log.
async fn send(req: &HttpRequest) -> Result<HttpResponse, String> {
    let headers = Headers::new();
    for (k, v) in &req.headers {
        headers.set(k, v).map_err(|e| e.to_string())?;
    }
    let mut init = RequestInit::new();
    init.with_method(match req.method {
        Method::Get => worker::Method::Get,
        Method::Post => worker::Method::Post,
    })
    .with_headers(headers);
    if let Some(body) = &req.body {
        init.with_body(Some(body.as_str().into()));
    }
    let request = Request::new_with_init(&req.url, &init).map_err(|e| e.to_string())?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Fetch::Request(request);
    let call = Box::pin(fetch.send_with_signal(&signal));
    let timer = Box::pin(Delay::from(CALL_TIMEOUT));
    let result = match futures::future::select(call, timer).await {
        futures::future::Either::Left((Ok(mut resp), _)) => {
            let status = resp.status_code();
            let headers = resp.headers().entries().collect();
            let body = resp.text().await.map_err(|e| e.to_string())?;
            Ok(HttpResponse {
                status,
                headers,
                body,
            })
        }
        futures::future::Either::Left((Err(e), _)) => Err(e.to_string()),
        futures::future::Either::Right(_) => {
            controller.abort();
            Err(format!("no answer within {} s", CALL_TIMEOUT.as_secs()))
        }
    };
    result
}

/// Header names whose values are credentials or signatures.
const SECRET_HEADERS: [&str; 5] = [
    "x-bapi-sign",
    "x-bapi-api-key",
    "x-mbx-apikey",
    "apikey",
    "signature",
];

/// The request as it may be logged: signature and key values replaced.
fn redacted(req: &HttpRequest) -> serde_json::Value {
    let url = match req.url.split_once("signature=") {
        Some((head, tail)) => {
            let rest = tail
                .split_once('&')
                .map(|(_, r)| format!("&{r}"))
                .unwrap_or_default();
            format!("{head}signature=<redacted>{rest}")
        }
        None => req.url.clone(),
    };
    let headers: serde_json::Map<String, serde_json::Value> = req
        .headers
        .iter()
        .map(|(k, v)| {
            let shown = if SECRET_HEADERS.contains(&k.to_ascii_lowercase().as_str()) {
                "<redacted>".to_owned()
            } else {
                v.clone()
            };
            (k.clone(), shown.into())
        })
        .collect();
    serde_json::json!({
        "method": format!("{:?}", req.method),
        "url": url,
        "headers": headers,
        "body": req.body,
    })
}

/// One live attempt for one job.
pub struct Attempt<'a> {
    pub env: &'a Env,
    pub venue: &'static dyn Venue,
    pub idempotency_key: &'a str,
    pub attempt: u32,
}

impl Attempt<'_> {
    fn context(&self, base: &str) -> Context {
        Context {
            base_url: base.to_owned(),
            now_ms: runtime::now_ms(),
            recv_window_ms: 5_000,
        }
    }

    /// Sends and logs one call to R2 (best effort: a log failure never fails the trade).
    async fn call(&self, op: &str, req: &HttpRequest) -> Result<HttpResponse, String> {
        let started = runtime::now_ms();
        let result = send(req).await;
        let entry = serde_json::json!({
            "exchange": self.venue.exchange().as_str(),
            "idempotency_key": self.idempotency_key,
            "attempt": self.attempt,
            "op": op,
            "at_ms": started,
            "elapsed_ms": runtime::now_ms() - started,
            "request": redacted(req),
            "response": match &result {
                Ok(r) => serde_json::json!({"status": r.status, "body": r.body}),
                Err(e) => serde_json::json!({"transport_error": e}),
            },
        });
        let key = format!(
            "exchange/{}/{}/{}/{}-{op}-{started}.json",
            runtime::date_path(started),
            self.venue.exchange().as_str(),
            self.idempotency_key.replace('/', "_"),
            self.attempt
        );
        match self.env.bucket(LOGS_BUCKET) {
            Ok(bucket) => {
                if let Err(e) = bucket.put(&key, entry.to_string()).execute().await {
                    tracing::warn!(error = %e, "exchange log not written to R2");
                }
            }
            Err(e) => tracing::warn!(error = %e, "SYSTEM_LOGS_BUCKET missing"),
        }
        result
    }

    /// Runs the attempt: reconcile if in doubt, then instrument, leverage, submit.
    pub async fn run(&self, order: &OrderRequest, in_doubt: bool) -> LiveOutcome {
        let exchange = self.venue.exchange();
        let Some(creds) = credentials(self.env, exchange) else {
            return LiveOutcome::Rejected(format!(
                "{p}_API_KEY / {p}_API_SECRET are not set",
                p = env_name(exchange)
            ));
        };
        let base = match base_url(self.env, self.venue, order.testnet) {
            Ok(b) => b,
            Err(e) => return LiveOutcome::Rejected(e.message),
        };
        if let Some(wait) = circuit_open(self.env, exchange).await {
            return LiveOutcome::Retry {
                delay_seconds: Some(wait),
                error: format!("{exchange} circuit open (IP ban) for {wait} s"),
                released: !in_doubt,
            };
        }
        let instrument = match self.instrument(&base, order).await {
            Ok(i) => i,
            Err(outcome) => return outcome,
        };
        if in_doubt {
            // Every lookup the venue needs; "not found" only when all of them say so.
            let mut answer = Ok(QueryResult::NotFound);
            for req in self
                .venue
                .query_requests(&self.context(&base), &creds, order)
            {
                answer = match self.call("query", &req).await {
                    Ok(resp) => self.venue.parse_query(order, &resp),
                    Err(e) => return retry_unknown(format!("reconcile query failed: {e}")),
                };
                if !matches!(answer, Ok(QueryResult::NotFound)) {
                    break;
                }
            }
            match answer {
                Ok(QueryResult::Found(ack)) if ended_unfilled(&ack.status) => {
                    // The earlier attempt's order exists but died at the exchange (cancelled,
                    // rejected, expired): there is no position from it, and its client order id
                    // is spent, so the signal ends here rather than as a second order.
                    return LiveOutcome::Rejected(format!(
                        "the order of an earlier attempt ended as {} at the exchange",
                        ack.status
                    ));
                }
                Ok(QueryResult::Found(ack)) => {
                    tracing::warn!(client_order_id = %ack.client_order_id, "reconciled: the earlier attempt placed the order");
                    return LiveOutcome::Filled(in_base_units(ack, &instrument));
                }
                Ok(QueryResult::NotFound) => {
                    tracing::info!("reconciled: no order from the earlier attempt; submitting")
                }
                Err(e) => return self.failed(e, true).await,
            }
        }
        if let Err(outcome) = self.leverage(&base, &creds, order).await {
            return outcome;
        }
        let req = match self
            .venue
            .order_request(&self.context(&base), &creds, order, &instrument)
        {
            Ok(r) => r,
            Err(e) => return self.failed(e, false).await,
        };
        match self.call("submit", &req).await {
            Ok(resp) => match self.venue.parse_order(order, &resp) {
                Ok(ack) => LiveOutcome::Filled(in_base_units(ack, &instrument)),
                Err(e) => self.failed(e, false).await,
            },
            // Sent and no answer: the order may exist. Never blind-retry.
            Err(e) => retry_unknown(format!("submit outcome unknown: {e}")),
        }
    }

    async fn failed(&self, e: ExchangeError, in_doubt: bool) -> LiveOutcome {
        match e.class {
            ErrorClass::Terminal if !in_doubt => LiveOutcome::Rejected(e.to_string()),
            ErrorClass::Terminal | ErrorClass::Unknown => retry_unknown(e.to_string()),
            ErrorClass::Retryable {
                retry_after_seconds,
            } => LiveOutcome::Retry {
                delay_seconds: retry_after_seconds,
                error: e.to_string(),
                released: !in_doubt,
            },
            ErrorClass::Banned {
                retry_after_seconds,
            } => {
                // The pause is the exchange's announced (or documented) ban, else a default;
                // the var overrides both (tests, or an operator who knows the ban is shorter).
                let forced = self
                    .env
                    .var(BAN_SECONDS_VAR)
                    .ok()
                    .and_then(|v| v.to_string().parse::<u32>().ok());
                let wait = forced
                    .or(retry_after_seconds)
                    .unwrap_or(DEFAULT_BAN_SECONDS);
                open_circuit(self.env, e.exchange, wait).await;
                LiveOutcome::Retry {
                    delay_seconds: Some(wait),
                    error: e.to_string(),
                    released: !in_doubt,
                }
            }
        }
    }

    /// Instrument rules from KV, else from the exchange (then cached).
    async fn instrument(
        &self,
        base: &str,
        order: &OrderRequest,
    ) -> Result<Instrument, LiveOutcome> {
        let exchange = self.venue.exchange();
        let key = format!("instrument:{exchange}:{}", order.symbol.canonical());
        let kv = self.env.kv(CONFIG_KV).ok();
        if let Some(kv) = &kv {
            if let Ok(Some(cached)) = kv.get(&key).json::<Instrument>().await {
                return Ok(cached);
            }
        }
        let req = self
            .venue
            .instrument_request(&self.context(base), &order.symbol);
        let resp = self
            .call("instrument", &req)
            .await
            .map_err(|e| LiveOutcome::Retry {
                delay_seconds: None,
                error: format!("instrument info: {e}"),
                released: true,
            })?;
        let instrument = match self.venue.parse_instrument(&order.symbol, &resp) {
            Ok(i) => i,
            Err(e) => return Err(self.failed(e, false).await),
        };
        if let (Some(kv), Ok(text)) = (&kv, serde_json::to_string(&instrument)) {
            if let Ok(put) = kv.put(&key, text) {
                let _ = put.expiration_ttl(INSTRUMENT_TTL_SECONDS).execute().await;
            }
        }
        Ok(instrument)
    }

    /// Sets leverage once per (exchange, symbol, value): cached per isolate and in KV.
    async fn leverage(
        &self,
        base: &str,
        creds: &Credentials,
        order: &OrderRequest,
    ) -> Result<(), LiveOutcome> {
        if order.reduce_only {
            return Ok(());
        }
        let exchange = self.venue.exchange();
        let symbol = order.symbol.canonical();
        let known = LEVERAGE.with(|l| l.borrow().get(&(exchange, symbol.clone())).copied());
        if known == Some(order.leverage) {
            return Ok(());
        }
        let key = format!("leverage:{exchange}:{symbol}");
        let kv = self.env.kv(CONFIG_KV).ok();
        if let Some(kv) = &kv {
            if let Ok(Some(v)) = kv.get(&key).text().await {
                if v.parse::<u8>().ok() == Some(order.leverage) {
                    LEVERAGE.with(|l| l.borrow_mut().insert((exchange, symbol), order.leverage));
                    return Ok(());
                }
            }
        }
        let req =
            self.venue
                .leverage_request(&self.context(base), creds, &order.symbol, order.leverage);
        let resp = self
            .call("leverage", &req)
            .await
            .map_err(|e| LiveOutcome::Retry {
                delay_seconds: None,
                error: format!("set leverage: {e}"),
                released: true,
            })?;
        if let Err(e) = self.venue.parse_leverage(&resp) {
            return Err(self.failed(e, false).await);
        }
        LEVERAGE.with(|l| l.borrow_mut().insert((exchange, symbol), order.leverage));
        if let Some(kv) = &kv {
            if let Ok(put) = kv.put(&key, order.leverage.to_string()) {
                let _ = put.expiration_ttl(LEVERAGE_TTL_SECONDS).execute().await;
            }
        }
        Ok(())
    }
}

/// Exchange statuses of an order that ended without (complete) execution.
fn ended_unfilled(status: &str) -> bool {
    let s = status.to_ascii_lowercase();
    ["cancel", "reject", "expire", "invalid"]
        .iter()
        .any(|w| s.contains(w))
}

/// The ledger records base-asset units; MEXC answers in contracts.
fn in_base_units(mut ack: OrderAck, instrument: &Instrument) -> OrderAck {
    ack.filled_quantity = instrument.base_quantity(ack.filled_quantity);
    ack
}

fn retry_unknown(error: String) -> LiveOutcome {
    LiveOutcome::Retry {
        delay_seconds: None,
        error,
        released: false,
    }
}

/// Seconds left on `exchange`'s ban, if any (this isolate's view, else KV's).
async fn circuit_open(env: &Env, exchange: Exchange) -> Option<u32> {
    let now = runtime::now_ms();
    let local = CIRCUIT.with(|c| c.borrow().get(&exchange).copied());
    let until = match local {
        Some(until) => until,
        None => match env.kv(CONFIG_KV) {
            Ok(kv) => kv
                .get(&format!("circuit:{exchange}"))
                .text()
                .await
                .ok()
                .flatten()
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0),
            Err(_) => 0,
        },
    };
    (until > now).then(|| ((until - now) / 1000 + 1) as u32)
}

async fn open_circuit(env: &Env, exchange: Exchange, seconds: u32) {
    let until = runtime::now_ms() + i64::from(seconds) * 1000;
    CIRCUIT.with(|c| c.borrow_mut().insert(exchange, until));
    tracing::error!(%exchange, seconds, "exchange banned this IP: circuit open");
    if let Ok(kv) = env.kv(CONFIG_KV) {
        if let Ok(put) = kv.put(&format!("circuit:{exchange}"), until.to_string()) {
            // KV's minimum TTL is 60 s.
            let _ = put
                .expiration_ttl(u64::from(seconds.max(60)))
                .execute()
                .await;
        }
    }
}
