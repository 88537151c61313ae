//! The engine's exchange port at the edge: fetch to the real exchanges with one deadline per call
//! that covers the whole answer (headers and body), credentials and base URLs from the
//! environment, per-exchange order quotas (`governor`), the isolate's IP-ban circuit breaker and
//! its KV mirror, instrument rules (KV, and the isolate) and the reference price (the isolate,
//! a few seconds) fetched together with the account's position mode (read once per exchange,
//! network and symbol, kept in the isolate and KV beside the leverage, forgotten when a submit
//! is refused for a mode the account may have switched) and, where the venue needs it (MEXC),
//! the open position the order meets;
//! leverage set once per symbol (MEXC: the position's, changed when an opening order's
//! differs), Binance's take-profit/stop-loss placed after the entry fills (written for the
//! same position mode as the entry), and a redacted R2 log of every call written after the
//! batch is settled. What to send and how to read the answer live in `exchanges`; what to do
//! with it lives in `engine`.
//!
//! Mainnet and testnet are different systems with different accounts: an order is signed with
//! its network's own pair (`secret_names`: `BYBIT_TESTNET_API_KEY`, ... for `test: true`),
//! and everything kept about an exchange is keyed by exchange *and* network: instrument rules
//! (isolate and KV), the reference price, leverage (isolate and KV), the account's position
//! mode (isolate and KV) and the circuit breaker (isolate and KV). Only the order quota
//! (`ratelimit:orders`) is per exchange, as configured.

use contracts::config::{Mode, Quota, RuntimeConfig};
use contracts::event::{Fee, OrderAck, Protection, ProtectiveKind, ProtectiveOrder};
use contracts::job::TradeJob;
use contracts::signal::Exchange;
use contracts::symbol::Symbol;
use engine::circuit::{CircuitBreaker, Network};
use engine::paper::{PaperExchange, Routed};
use engine::ports::{
    ExchangePort, Exchanges, Failure, FailureClass, Lookup, Prepared, StopRequest, StopsSet,
    CALL_TIMEOUT_MS,
};
use exchanges::order::{OrderRequest, ReferencePrice};
use exchanges::protect::{self, ProtectiveOrders};
use exchanges::stops::StopPosition;
use exchanges::venue::{
    Context, Credentials, ErrorClass, ExchangeError, HttpRequest, HttpResponse, Instrument, Method,
    OpenPosition, Placement, PositionMode, PriceKind, QueryResult, Venue,
};
use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::RateLimiter;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::num::NonZeroU32;
use std::time::Duration;
use worker::{Env, Headers, Request, RequestInit};

const CONFIG_KV: &str = "CONFIG_KV";
const LOGS_BUCKET: &str = "SYSTEM_LOGS_BUCKET";
const INSTRUMENT_TTL_SECONDS: u64 = 3_600;
/// Instrument rules kept in the isolate, in front of KV.
const INSTRUMENT_ISOLATE_TTL_MS: i64 = 300_000;
/// The exchange's reference price kept in the isolate: fresh enough to bound a notional, and
/// saves a round trip for every order of a burst on one symbol.
const PRICE_TTL_MS: i64 = 3_000;
const LEVERAGE_TTL_SECONDS: u64 = 86_400;
/// How long KV keeps an account's position mode. A mode can only change while the account
/// holds no position and no order of the symbol (each exchange refuses the switch otherwise),
/// and a submit the exchange refuses forgets it, so the next attempt reads it again.
const POSITION_MODE_TTL_SECONDS: u64 = 86_400;
/// The position mode kept in the isolate, in front of KV.
const POSITION_MODE_ISOLATE_TTL_MS: i64 = 300_000;
/// Var that, when set, fixes the circuit-breaker pause after an IP ban.
const BAN_SECONDS_VAR: &str = "EXCHANGE_BAN_SECONDS";

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

/// Values kept for a while, with the time passed in.
#[derive(Debug)]
pub struct TtlCache<K, V> {
    ttl_ms: i64,
    entries: HashMap<K, (i64, V)>,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    pub fn new(ttl_ms: i64) -> Self {
        Self {
            ttl_ms,
            entries: HashMap::new(),
        }
    }

    /// The value stored less than the TTL before `now_ms`.
    pub fn get(&self, key: &K, now_ms: i64) -> Option<V> {
        let (at, v) = self.entries.get(key)?;
        (now_ms.saturating_sub(*at) < self.ttl_ms).then(|| v.clone())
    }

    pub fn remove(&mut self, key: &K) {
        self.entries.remove(key);
    }

    pub fn put(&mut self, key: K, now_ms: i64, value: V) {
        let ttl = self.ttl_ms;
        self.entries
            .retain(|_, (at, _)| now_ms.saturating_sub(*at) < ttl);
        self.entries.insert(key, (now_ms, value));
    }
}

/// Which instrument of which exchange's hosts.
type InstrumentKey = (Exchange, Network, String);

thread_local! {
    static LIMITERS: RefCell<HashMap<Exchange, (Quota, Limiter)>> = RefCell::new(HashMap::new());
    /// This isolate's bans; each batch starts from it (plus the KV mirror) and leaves it updated.
    static CIRCUIT: RefCell<CircuitBreaker> = RefCell::new(CircuitBreaker::new());
    static LEVERAGE: RefCell<HashMap<InstrumentKey, u8>> = RefCell::new(HashMap::new());
    static POSITION_MODES: RefCell<TtlCache<InstrumentKey, PositionMode>> =
        RefCell::new(TtlCache::new(POSITION_MODE_ISOLATE_TTL_MS));
    static INSTRUMENTS: RefCell<TtlCache<InstrumentKey, Instrument>> =
        RefCell::new(TtlCache::new(INSTRUMENT_ISOLATE_TTL_MS));
    static PRICES: RefCell<TtlCache<InstrumentKey, ReferencePrice>> =
        RefCell::new(TtlCache::new(PRICE_TTL_MS));
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

/// The secrets holding `exchange`'s key pair on a network: `BYBIT_API_KEY` / `BYBIT_API_SECRET`
/// on mainnet, `BYBIT_TESTNET_API_KEY` / `BYBIT_TESTNET_API_SECRET` on its testnet. A testnet
/// is another system with its own accounts: a mainnet key is unknown there (Bybit's "Error
/// Codes", <https://bybit-exchange.github.io/docs/v5/error>: 10003 "API key is invalid. Check
/// whether the key and domain are matched, there are 4 env: mainnet, testnet, mainnet-demo,
/// testnet-demo"; Binance -2015), so a `test: true` signal is signed with the testnet's own
/// pair, never the mainnet one.
fn secret_names(exchange: Exchange, testnet: bool) -> [String; 2] {
    // The names are the registry's (`registry::ExchangeInfo`).
    match registry::exchange(exchange.as_str()).and_then(|e| e.credential(testnet)) {
        Some(c) => [c.key.to_owned(), c.secret.to_owned()],
        // A network the registry has no pair for: names no secret holds, so the order is
        // refused as unsigned, naming them.
        None => {
            let prefix = format!(
                "{}_{}",
                exchange.as_str().to_ascii_uppercase(),
                if testnet { "TESTNET_" } else { "" }
            );
            [format!("{prefix}API_KEY"), format!("{prefix}API_SECRET")]
        }
    }
}

/// The pair of `exchange` on the order's network, or the names of the secrets that are not set.
fn credentials(env: &Env, exchange: Exchange, testnet: bool) -> Result<Credentials, Vec<String>> {
    let [key, secret] = secret_names(exchange, testnet);
    match (
        runtime::http::secret(env, &key),
        runtime::http::secret(env, &secret),
    ) {
        (Some(api_key), Some(api_secret)) => Ok(Credentials {
            api_key,
            api_secret,
        }),
        (k, s) => Err([(k.is_none(), key), (s.is_none(), secret)]
            .into_iter()
            .filter_map(|(missing, name)| missing.then_some(name))
            .collect()),
    }
}

/// Why an order cannot be signed: the secrets it needs are not set. Terminal: no retry sets them.
fn missing_credentials(exchange: Exchange, testnet: bool, missing: &[String]) -> String {
    let network = if testnet { "testnet" } else { "mainnet" };
    let also = if testnet {
        " (a `test: true` signal is signed with the testnet's own keys, never the mainnet ones)"
    } else {
        ""
    };
    format!(
        "{exchange} {network} credentials missing: {} not set{also}",
        missing.join(" and ")
    )
}

fn base_url(env: &Env, venue: &dyn Venue, testnet: bool) -> Result<String, ExchangeError> {
    // The default host also decides whether the route exists (MEXC has no testnet).
    let default = venue.default_base_url(testnet)?;
    let Some(var) =
        registry::exchange(venue.exchange().as_str()).and_then(|e| e.base_url_var(testnet))
    else {
        return Ok(default.trim_end_matches('/').to_owned());
    };
    Ok(env
        .var(var)
        .map(|v| v.to_string())
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
        .trim_end_matches('/')
        .to_owned())
}

/// How a call failed before an answer was read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Transport {
    /// Nothing left the worker: the exchange certainly did nothing.
    #[error("not sent: {0}")]
    NotSent(String),
    /// Sent, and no complete answer (timeout, reset, DNS, a body cut off): for a submit, the
    /// order may exist.
    #[error("no answer: {0}")]
    NoAnswer(String),
}

/// Sends one request and reads its whole answer, giving up at `deadline_ms` or after
/// [`CALL_TIMEOUT_MS`], whichever comes first: one timer covers the headers and the body.
async fn send(req: &HttpRequest, deadline_ms: i64) -> Result<HttpResponse, Transport> {
    let budget_ms = deadline_ms
        .saturating_sub(runtime::now_ms())
        .min(CALL_TIMEOUT_MS);
    if budget_ms <= 0 {
        return Err(Transport::NotSent(
            "the attempt's deadline has passed".into(),
        ));
    }
    let not_sent = |e: worker::Error| Transport::NotSent(e.to_string());
    let headers = Headers::new();
    for (k, v) in &req.headers {
        headers.set(k, v).map_err(not_sent)?;
    }
    let mut init = RequestInit::new();
    init.with_method(match req.method {
        Method::Get => worker::Method::Get,
        Method::Post => worker::Method::Post,
        Method::Delete => worker::Method::Delete,
    })
    .with_headers(headers);
    if let Some(body) = &req.body {
        init.with_body(Some(body.as_str().into()));
    }
    let request = Request::new_with_init(&req.url, &init).map_err(not_sent)?;
    match runtime::fetch::text(request, budget_ms.unsigned_abs()).await {
        Ok(a) => Ok(HttpResponse {
            status: a.status,
            headers: a.headers,
            body: a.body,
        }),
        Err(e) => Err(Transport::NoAnswer(e.to_string())),
    }
}

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
            // Header names whose values are credentials or signatures are the registry's.
            let shown = if registry::is_secret_header(k) {
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

/// One exchange call, kept for the R2 log until the batch is settled.
#[derive(Debug, Clone)]
pub struct CallLog {
    pub exchange: Exchange,
    pub client_order_id: String,
    pub op: &'static str,
    pub at_ms: i64,
    pub elapsed_ms: i64,
    /// Redacted.
    pub request: serde_json::Value,
    pub response: serde_json::Value,
}

impl CallLog {
    /// The R2 object of this call for the job `key` (its `delivery`-th delivery).
    fn object(&self, key: &str, delivery: u32) -> (String, String) {
        let path = format!(
            "exchange/{}/{}/{}/{}-{}-{}.json",
            ops::logs::date_path(self.at_ms),
            self.exchange.as_str(),
            ops::logs::path_segment(key),
            delivery,
            self.op,
            self.at_ms
        );
        let body = serde_json::json!({
            "exchange": self.exchange.as_str(),
            "idempotency_key": key,
            "client_order_id": self.client_order_id,
            "delivery": delivery,
            "op": self.op,
            "at_ms": self.at_ms,
            "elapsed_ms": self.elapsed_ms,
            "request": self.request,
            "response": self.response,
        });
        (path, body.to_string())
    }
}

/// The exchanges as one batch's attempts see them.
pub struct LiveExchanges<'e> {
    env: &'e Env,
    calls: RefCell<Vec<CallLog>>,
    circuit: RefCell<CircuitBreaker>,
    /// The breaker as the batch found it, to tell which bans the batch opened.
    seeded: CircuitBreaker,
    ban_override: Option<u32>,
}

impl<'e> LiveExchanges<'e> {
    /// This isolate's breaker, with the KV mirror's bans for the exchanges `jobs` go to in live
    /// mode, and for `also` (follow-ups' and account reads' exchanges, whatever the mode), read
    /// concurrently, once per batch.
    pub async fn open(
        env: &'e Env,
        cfg: &RuntimeConfig,
        jobs: &[&TradeJob],
        also: &[(Exchange, Network)],
    ) -> Self {
        let mut circuit = CIRCUIT.with(|c| c.borrow().clone());
        let now = runtime::now_ms();
        circuit.prune(now);
        let live_jobs = jobs
            .iter()
            .filter(|_| cfg.mode == Mode::Live)
            .filter_map(|job| OrderRequest::for_job(job, cfg).ok())
            .map(|o| (o.exchange, Network::of(o.testnet)));
        let mut routes: Vec<(Exchange, Network)> = live_jobs
            .chain(also.iter().copied())
            .filter(|&(e, n)| e != Exchange::Paper && circuit.open_for(e, n, now).is_none())
            .collect();
        if !routes.is_empty() {
            routes.sort();
            routes.dedup();
            if let Ok(kv) = env.kv(CONFIG_KV) {
                let reads = routes.iter().map(|&(e, n)| {
                    let kv = &kv;
                    async move {
                        runtime::meter::count(runtime::meter::Op::KvRead, 1, CONFIG_KV);
                        let until = kv
                            .get(&circuit_key(e, n))
                            .text()
                            .await
                            .ok()
                            .flatten()
                            .and_then(|v| v.parse::<i64>().ok());
                        (e, n, until)
                    }
                });
                for (e, n, until) in futures::future::join_all(reads).await {
                    if let Some(until) = until {
                        circuit.ban_until(e, n, until);
                    }
                }
            }
        }
        let ban_override = env
            .var(BAN_SECONDS_VAR)
            .ok()
            .and_then(|v| v.to_string().parse::<u32>().ok());
        Self {
            env,
            calls: RefCell::new(Vec::new()),
            seeded: circuit.clone(),
            circuit: RefCell::new(circuit),
            ban_override,
        }
    }

    /// After the batch's dispositions are applied: the isolate keeps the breaker, KV mirrors the
    /// bans the batch opened, and every call of the batch is logged to R2 (concurrently; a log
    /// failure never fails a trade). `who` names the job of a client order id: its idempotency
    /// key and delivery count.
    pub async fn close(self, who: impl Fn(&str) -> Option<(String, u32)>) {
        let circuit = self.circuit.into_inner();
        let now = runtime::now_ms();
        let opened: Vec<(Exchange, Network, i64)> = circuit
            .bans()
            .filter(|&(e, n, until)| self.seeded.until(e, n).is_none_or(|s| until > s))
            .filter(|&(_, _, until)| until > now)
            .collect();
        CIRCUIT.with(|c| *c.borrow_mut() = circuit);
        let kv = self.env.kv(CONFIG_KV).ok();
        let mirror = opened.into_iter().map(|(e, n, until)| {
            let kv = kv.as_ref();
            async move {
                let Some(kv) = kv else { return };
                // KV's minimum TTL is 60 s.
                let ttl = u64::try_from((until - now) / 1000 + 1)
                    .unwrap_or(60)
                    .max(60);
                runtime::meter::count(runtime::meter::Op::KvWrite, 1, CONFIG_KV);
                if let Ok(put) = kv.put(&circuit_key(e, n), until.to_string()) {
                    if let Err(e) = put.expiration_ttl(ttl).execute().await {
                        tracing::warn!(error = %e, "circuit ban not mirrored to KV");
                    }
                }
            }
        });
        let bucket = match self.env.bucket(LOGS_BUCKET) {
            Ok(b) => Some(b),
            Err(e) => {
                tracing::warn!(error = %e, "SYSTEM_LOGS_BUCKET missing");
                None
            }
        };
        let logs = self.calls.into_inner().into_iter().filter_map(|call| {
            let bucket = bucket.as_ref()?;
            let (key, delivery) =
                who(&call.client_order_id).unwrap_or_else(|| (call.client_order_id.clone(), 0));
            let (path, body) = call.object(&key, delivery);
            Some(async move {
                runtime::meter::count(runtime::meter::Op::R2ClassA, 1, LOGS_BUCKET);
                if let Err(e) = bucket.put(&path, body).execute().await {
                    tracing::warn!(error = %e, "exchange log not written to R2");
                }
            })
        });
        futures::future::join(
            futures::future::join_all(mirror),
            futures::future::join_all(logs),
        )
        .await;
    }
}

impl LiveExchanges<'_> {
    /// The port of a real exchange (its account reads); `None` for paper.
    pub fn live(&self, exchange: Exchange) -> Option<LivePort<'_>> {
        exchanges::venue(exchange).map(|venue| LivePort {
            env: self.env,
            venue,
            calls: &self.calls,
            ban_override: self.ban_override,
        })
    }

    /// Whether the exchange's key pair for `testnet` or mainnet is set (each network has its
    /// own: see `secret_names`).
    pub fn has_credentials(&self, exchange: Exchange, testnet: bool) -> bool {
        credentials(self.env, exchange, testnet).is_ok()
    }
}

fn circuit_key(exchange: Exchange, network: Network) -> String {
    format!("circuit:{exchange}:{}", network.as_str())
}

impl<'e> Exchanges for LiveExchanges<'e> {
    type Port<'p>
        = Routed<LivePort<'p>>
    where
        Self: 'p;

    fn port(&self, exchange: Exchange) -> Self::Port<'_> {
        match exchanges::venue(exchange) {
            Some(venue) => Routed::Live(LivePort {
                env: self.env,
                venue,
                calls: &self.calls,
                ban_override: self.ban_override,
            }),
            None => Routed::Paper(PaperExchange),
        }
    }

    fn circuit(&self) -> Option<&RefCell<CircuitBreaker>> {
        Some(&self.circuit)
    }
}

/// One real exchange, for one batch.
pub struct LivePort<'p> {
    env: &'p Env,
    venue: &'static dyn Venue,
    calls: &'p RefCell<Vec<CallLog>>,
    ban_override: Option<u32>,
}

/// Where and as whom an order's calls go.
struct Connection {
    creds: Credentials,
    base: String,
}

/// A reference price, and whether it is the instrument's (so other orders may use it).
struct Reference {
    price: ReferencePrice,
    instrument_wide: bool,
}

impl LivePort<'_> {
    fn context(&self, base: &str) -> Context {
        Context {
            base_url: base.to_owned(),
            now_ms: runtime::now_ms(),
            recv_window_ms: 5_000,
        }
    }

    fn failure(&self, e: ExchangeError) -> Failure {
        let class = match e.class {
            ErrorClass::Retryable {
                retry_after_seconds,
            } => FailureClass::Retryable {
                retry_after_seconds,
            },
            // The exchange's announced ban, unless the var fixes it (tests, or an operator who
            // knows the ban is shorter); the engine's default when neither says.
            ErrorClass::Banned {
                retry_after_seconds,
            } => FailureClass::Banned {
                retry_after_seconds: self.ban_override.or(retry_after_seconds),
            },
            ErrorClass::Terminal => FailureClass::Terminal,
            ErrorClass::Unknown => FailureClass::Unknown,
        };
        Failure {
            class,
            message: e.to_string(),
        }
    }

    /// The network's host, then its own key pair: a route that does not exist (MEXC has no
    /// testnet) is refused as such, before any secret is looked for.
    fn connection(&self, order: &OrderRequest) -> Result<Connection, Failure> {
        self.connection_to(order.testnet)
    }

    /// The base URL of `testnet` or mainnet, then that network's own credentials.
    fn connection_to(&self, testnet: bool) -> Result<Connection, Failure> {
        let exchange = self.venue.exchange();
        let base = base_url(self.env, self.venue, testnet).map_err(|e| self.failure(e))?;
        let creds = credentials(self.env, exchange, testnet).map_err(|missing| Failure {
            class: FailureClass::Terminal,
            message: missing_credentials(exchange, testnet, &missing),
        })?;
        Ok(Connection { creds, base })
    }

    fn key(&self, order: &OrderRequest) -> InstrumentKey {
        self.key_of(&order.symbol, order.testnet)
    }

    fn key_of(&self, symbol: &Symbol, testnet: bool) -> InstrumentKey {
        (
            self.venue.exchange(),
            Network::of(testnet),
            symbol.canonical(),
        )
    }

    /// Sends one call and keeps its log entry for after the batch.
    async fn call(
        &self,
        op: &'static str,
        order: &OrderRequest,
        req: &HttpRequest,
        deadline_ms: i64,
    ) -> Result<HttpResponse, Transport> {
        self.call_for(op, &order.client_order_id, req, deadline_ms)
            .await
    }

    /// [`Self::call`], logged under `who` (a client order id, or [`ACCOUNT_CALLS`]).
    async fn call_for(
        &self,
        op: &'static str,
        who: &str,
        req: &HttpRequest,
        deadline_ms: i64,
    ) -> Result<HttpResponse, Transport> {
        let started = runtime::now_ms();
        let result = send(req, deadline_ms).await;
        let failed = !matches!(&result, Ok(r) if (200..300).contains(&r.status));
        if who == ACCOUNT_CALLS && !failed {
            // The one-minute account reads are logged when they fail only: a successful read
            // every minute per exchange would be most of the log, and its answer is in D1.
            return result;
        }
        self.calls.borrow_mut().push(CallLog {
            exchange: self.venue.exchange(),
            client_order_id: who.to_owned(),
            op,
            at_ms: started,
            elapsed_ms: runtime::now_ms() - started,
            request: redacted(req),
            response: match &result {
                Ok(r) => serde_json::json!({"status": r.status, "body": r.body}),
                Err(e) => serde_json::json!({"transport_error": e.to_string()}),
            },
        });
        result
    }

    /// A read (instrument, price, leverage) that got no answer: nothing was placed, so retry.
    fn read_failed(what: &str, e: Transport) -> Failure {
        Failure {
            class: FailureClass::Retryable {
                retry_after_seconds: None,
            },
            message: format!("{what}: {e}"),
        }
    }

    /// Instrument rules from the isolate, else KV, else the exchange (then kept in both).
    async fn instrument(
        &self,
        conn: &Connection,
        order: &OrderRequest,
        deadline_ms: i64,
    ) -> Result<Instrument, Failure> {
        self.instrument_of(
            conn,
            &order.symbol,
            order.testnet,
            &order.client_order_id,
            deadline_ms,
        )
        .await
    }

    /// The rules of `symbol` on `testnet` or mainnet; the call, if any, logged under `who`.
    async fn instrument_of(
        &self,
        conn: &Connection,
        symbol: &Symbol,
        testnet: bool,
        who: &str,
        deadline_ms: i64,
    ) -> Result<Instrument, Failure> {
        let key = self.key_of(symbol, testnet);
        let now = runtime::now_ms();
        if let Some(i) = INSTRUMENTS.with(|c| c.borrow().get(&key, now)) {
            return Ok(i);
        }
        let kv_key = format!("instrument:{}:{}:{}", key.0, key.1.as_str(), key.2);
        let kv = self.env.kv(CONFIG_KV).ok();
        runtime::meter::count(runtime::meter::Op::KvRead, kv.iter().count(), CONFIG_KV);
        let cached = match &kv {
            Some(kv) => kv.get(&kv_key).json::<Instrument>().await.ok().flatten(),
            None => None,
        };
        let instrument = match cached {
            Some(i) => i,
            None => {
                let req = self
                    .venue
                    .instrument_request(&self.context(&conn.base), symbol);
                let resp = self
                    .call_for("instrument", who, &req, deadline_ms)
                    .await
                    .map_err(|e| Self::read_failed("instrument info", e))?;
                let i = self
                    .venue
                    .parse_instrument(symbol, &resp)
                    .map_err(|e| self.failure(e))?;
                if let (Some(kv), Ok(text)) = (&kv, serde_json::to_string(&i)) {
                    runtime::meter::count(runtime::meter::Op::KvWrite, 1, CONFIG_KV);
                    if let Ok(put) = kv.put(&kv_key, text) {
                        let _ = put.expiration_ttl(INSTRUMENT_TTL_SECONDS).execute().await;
                    }
                }
                i
            }
        };
        INSTRUMENTS.with(|c| {
            c.borrow_mut()
                .put(key, runtime::now_ms(), instrument.clone())
        });
        Ok(instrument)
    }

    /// The exchange's reference price for the order's instrument: the isolate's if it is only
    /// seconds old, else fetched (and kept when it is the instrument's price).
    async fn reference_price(
        &self,
        conn: &Connection,
        order: &OrderRequest,
        deadline_ms: i64,
    ) -> Result<ReferencePrice, Failure> {
        self.reference_price_of(
            conn,
            &order.symbol,
            order.testnet,
            &order.client_order_id,
            deadline_ms,
        )
        .await
    }

    /// The reference price of `symbol` on `testnet` or mainnet; the call, if any, logged under
    /// `who`.
    async fn reference_price_of(
        &self,
        conn: &Connection,
        symbol: &Symbol,
        testnet: bool,
        who: &str,
        deadline_ms: i64,
    ) -> Result<ReferencePrice, Failure> {
        let key = self.key_of(symbol, testnet);
        if let Some(p) = PRICES.with(|c| c.borrow().get(&key, runtime::now_ms())) {
            return Ok(p);
        }
        let fetched = self.fetch_reference(conn, symbol, who, deadline_ms).await?;
        if fetched.instrument_wide {
            PRICES.with(|c| c.borrow_mut().put(key, runtime::now_ms(), fetched.price));
        }
        Ok(fetched.price)
    }

    /// The exchange's own price for the instrument (Bybit and Binance mark price, MEXC fair
    /// price), read from its public market data.
    async fn fetch_reference(
        &self,
        conn: &Connection,
        symbol: &Symbol,
        who: &str,
        deadline_ms: i64,
    ) -> Result<Reference, Failure> {
        let req = self.venue.price_request(&self.context(&conn.base), symbol);
        let resp = self
            .call_for("price", who, &req, deadline_ms)
            .await
            .map_err(|e| Self::read_failed("reference price", e))?;
        let quoted = self
            .venue
            .parse_price(symbol, &resp)
            .map_err(|e| self.failure(e))?;
        let price = match quoted.kind {
            PriceKind::Last => ReferencePrice::last(quoted.price),
            PriceKind::Mark | PriceKind::Fair => ReferencePrice::mark(quoted.price),
        };
        Ok(Reference {
            price,
            instrument_wide: true,
        })
    }

    fn position_mode_kv_key(key: &InstrumentKey) -> String {
        format!("position_mode:{}:{}:{}", key.0, key.1.as_str(), key.2)
    }

    /// The account's position mode for the order's symbol: the isolate's, else KV's, else
    /// read from the exchange (then kept in both), once per (exchange, network, symbol).
    async fn position_mode(
        &self,
        conn: &Connection,
        order: &OrderRequest,
        deadline_ms: i64,
    ) -> Result<PositionMode, Failure> {
        let key = self.key(order);
        if let Some(m) = POSITION_MODES.with(|m| m.borrow().get(&key, runtime::now_ms())) {
            return Ok(m);
        }
        let kv_key = Self::position_mode_kv_key(&key);
        let kv = self.env.kv(CONFIG_KV).ok();
        if let Some(kv) = &kv {
            runtime::meter::count(runtime::meter::Op::KvRead, 1, CONFIG_KV);
            if let Ok(Some(m)) = kv.get(&kv_key).json::<PositionMode>().await {
                POSITION_MODES.with(|c| c.borrow_mut().put(key, runtime::now_ms(), m));
                return Ok(m);
            }
        }
        let req =
            self.venue
                .position_mode_request(&self.context(&conn.base), &conn.creds, &order.symbol);
        let resp = self
            .call("position_mode", order, &req, deadline_ms)
            .await
            .map_err(|e| Self::read_failed("position mode", e))?;
        let mode = self
            .venue
            .parse_position_mode(&order.symbol, &resp)
            .map_err(|e| self.failure(e))?;
        POSITION_MODES.with(|c| c.borrow_mut().put(key, runtime::now_ms(), mode));
        if let (Some(kv), Ok(text)) = (&kv, serde_json::to_string(&mode)) {
            runtime::meter::count(runtime::meter::Op::KvWrite, 1, CONFIG_KV);
            if let Ok(put) = kv.put(&kv_key, text) {
                let _ = put
                    .expiration_ttl(POSITION_MODE_TTL_SECONDS)
                    .execute()
                    .await;
            }
        }
        Ok(mode)
    }

    /// After the exchange refused a submit: the position mode is read again next time (the
    /// account may have switched it since it was read).
    async fn forget_position_mode(&self, order: &OrderRequest) {
        let key = self.key(order);
        POSITION_MODES.with(|c| c.borrow_mut().remove(&key));
        if let Ok(kv) = self.env.kv(CONFIG_KV) {
            runtime::meter::count(runtime::meter::Op::KvDelete, 1, CONFIG_KV);
            let _ = kv.delete(&Self::position_mode_kv_key(&key)).await;
        }
    }

    /// Where the venue needs it (MEXC), the open position the order meets, read for each
    /// order: `None` for a venue that reads none, `Some(None)` when there is none.
    async fn position(
        &self,
        conn: &Connection,
        order: &OrderRequest,
        deadline_ms: i64,
    ) -> Result<Option<Option<OpenPosition>>, Failure> {
        let Some(req) =
            self.venue
                .position_margin_request(&self.context(&conn.base), &conn.creds, order)
        else {
            return Ok(None);
        };
        let resp = self
            .call("position", order, &req, deadline_ms)
            .await
            .map_err(|e| Self::read_failed("open position", e))?;
        self.venue
            .parse_position_margin(order, &resp)
            .map(Some)
            .map_err(|e| self.failure(e))
    }

    /// A venue whose leverage is a position's (MEXC): brought to the order's when the order
    /// opens into a position that has another (never cached: it is the position's).
    async fn position_leverage(
        &self,
        conn: &Connection,
        order: &OrderRequest,
        position: &OpenPosition,
        deadline_ms: i64,
    ) -> Result<(), Failure> {
        let Some(req) = self.venue.leverage_change_request(
            &self.context(&conn.base),
            &conn.creds,
            order,
            position,
        ) else {
            return Ok(());
        };
        let resp = self
            .call("leverage", order, &req, deadline_ms)
            .await
            .map_err(|e| Self::read_failed("change leverage", e))?;
        self.venue
            .parse_leverage(&resp)
            .map_err(|e| self.failure(e))
    }

    /// Sets leverage once per (exchange, network, symbol, value): kept in the isolate and KV.
    async fn leverage(
        &self,
        conn: &Connection,
        order: &OrderRequest,
        deadline_ms: i64,
    ) -> Result<(), Failure> {
        if order.reduce_only {
            return Ok(());
        }
        let key = self.key(order);
        let known = LEVERAGE.with(|l| l.borrow().get(&key).copied());
        if known == Some(order.leverage) {
            return Ok(());
        }
        let kv_key = format!("leverage:{}:{}:{}", key.0, key.1.as_str(), key.2);
        let kv = self.env.kv(CONFIG_KV).ok();
        if let Some(kv) = &kv {
            runtime::meter::count(runtime::meter::Op::KvRead, 1, CONFIG_KV);
            if let Ok(Some(v)) = kv.get(&kv_key).text().await {
                if v.parse::<u8>().ok() == Some(order.leverage) {
                    LEVERAGE.with(|l| l.borrow_mut().insert(key, order.leverage));
                    return Ok(());
                }
            }
        }
        let req = self.venue.leverage_request(
            &self.context(&conn.base),
            &conn.creds,
            &order.symbol,
            order.leverage,
        );
        let resp = self
            .call("leverage", order, &req, deadline_ms)
            .await
            .map_err(|e| Self::read_failed("set leverage", e))?;
        self.venue
            .parse_leverage(&resp)
            .map_err(|e| self.failure(e))?;
        LEVERAGE.with(|l| l.borrow_mut().insert(key, order.leverage));
        if let Some(kv) = &kv {
            runtime::meter::count(runtime::meter::Op::KvWrite, 1, CONFIG_KV);
            if let Ok(put) = kv.put(&kv_key, order.leverage.to_string()) {
                let _ = put.expiration_ttl(LEVERAGE_TTL_SECONDS).execute().await;
            }
        }
        Ok(())
    }
}

/// One entry's protection in progress: where and as whom, what filled, and by when.
struct Protecting<'a> {
    venue: &'a dyn ProtectiveOrders,
    conn: &'a Connection,
    order: &'a OrderRequest,
    /// Base units.
    filled: rust_decimal::Decimal,
    /// The rules, with the account's position mode in `placement`.
    instrument: &'a Instrument,
    deadline_ms: i64,
}

impl LivePort<'_> {
    /// The `kind` protective order of the entry: looked up first (an earlier attempt may have
    /// placed it), placed only if absent, looked up again after an unknown outcome. `Err` says
    /// why it is not (known to be) in place; nothing is ever placed twice.
    async fn protect_one(
        &self,
        p: &Protecting<'_>,
        kind: ProtectiveKind,
    ) -> Result<ProtectiveOrder, String> {
        let Protecting {
            venue,
            conn,
            order,
            filled,
            instrument,
            deadline_ms,
        } = *p;
        let what = kind.as_str();
        match self
            .find_protective(venue, conn, order, kind, deadline_ms)
            .await
        {
            Ok(Some(found)) => return standing(found),
            Ok(None) => {}
            Err(e) => return Err(format!("{what}: lookup failed ({e}), so it was not placed")),
        }
        let req = venue
            .protective_request(
                &self.context(&conn.base),
                &conn.creds,
                order,
                kind,
                filled,
                instrument,
            )
            .map_err(|e| format!("{what}: {e}"))?;
        let unknown = match self.call("protect", order, &req, deadline_ms).await {
            Ok(resp) => match venue.parse_protective(order, kind, &resp) {
                Ok(placed) => return Ok(placed),
                Err(e) if e.class == ErrorClass::Unknown => e.to_string(),
                Err(e) => {
                    // Refused for a mode the account may have switched: read it again next
                    // time, as after a refused entry.
                    if self.venue.refuses_position_mode(&e) {
                        self.forget_position_mode(order).await;
                    }
                    return Err(format!("{what}: {e}"));
                }
            },
            Err(Transport::NotSent(e)) => return Err(format!("{what}: not sent: {e}")),
            Err(e @ Transport::NoAnswer(_)) => e.to_string(),
        };
        // It may have been placed: only a lookup may say so, never a second placement.
        match self.find_protective(venue, conn, order, kind, deadline_ms).await {
            Ok(Some(found)) => standing(found),
            Ok(None) => Err(format!(
                "{what}: placement outcome unknown ({unknown}) and a lookup does not find {}: it may still appear; check the open algo orders",
                kind.client_id(&order.client_order_id)
            )),
            Err(e) => Err(format!(
                "{what}: placement outcome unknown ({unknown}) and the lookup failed ({e})"
            )),
        }
    }

    async fn find_protective(
        &self,
        venue: &dyn ProtectiveOrders,
        conn: &Connection,
        order: &OrderRequest,
        kind: ProtectiveKind,
        deadline_ms: i64,
    ) -> Result<Option<ProtectiveOrder>, String> {
        let req =
            venue.protective_query_request(&self.context(&conn.base), &conn.creds, order, kind);
        let resp = self
            .call("protect_query", order, &req, deadline_ms)
            .await
            .map_err(|e| e.to_string())?;
        venue
            .parse_protective_query(order, kind, &resp)
            .map_err(|e| e.to_string())
    }
}

/// A protective order the exchange has: in place unless it ended without acting.
fn standing(found: ProtectiveOrder) -> Result<ProtectiveOrder, String> {
    if protect::ended_unused(&found.status) {
        Err(format!(
            "{} {} is {} at the exchange",
            found.kind.as_str(),
            found.client_id,
            found.status
        ))
    } else {
        Ok(found)
    }
}

/// The ledger records base-asset units; MEXC answers in contracts.
fn in_base_units(mut ack: OrderAck, instrument: &Instrument) -> OrderAck {
    ack.filled_quantity = instrument.base_quantity(ack.filled_quantity);
    ack
}

impl ExchangePort for LivePort<'_> {
    fn exchange(&self) -> Exchange {
        self.venue.exchange()
    }

    /// The instrument's rules, the reference price, the account's position mode and (MEXC)
    /// the open position the order meets, fetched together; then the leverage. What was learnt
    /// of the account rides in `instrument.placement` to the submit.
    async fn prepare(&self, order: &OrderRequest, deadline_ms: i64) -> Result<Prepared, Failure> {
        let conn = self.connection(order)?;
        let (instrument, reference_price, mode, position) = futures::future::join4(
            self.instrument(&conn, order, deadline_ms),
            self.reference_price(&conn, order, deadline_ms),
            self.position_mode(&conn, order, deadline_ms),
            self.position(&conn, order, deadline_ms),
        )
        .await;
        let (mut instrument, reference_price) = (instrument?, reference_price?);
        let (mode, position) = (mode?, position?);
        match &position {
            // The venue's leverage is the position's.
            Some(Some(p)) => self.position_leverage(&conn, order, p, deadline_ms).await?,
            // No position to agree with: the opening order carries its own leverage.
            Some(None) => {}
            None => self.leverage(&conn, order, deadline_ms).await?,
        }
        instrument.placement = Placement {
            position_mode: Some(mode),
            position: position.flatten(),
            reference_price: Some(reference_price.price),
        };
        Ok(Prepared {
            instrument,
            reference_price,
        })
    }

    async fn lookup(&self, order: &OrderRequest, deadline_ms: i64) -> Result<Lookup, Failure> {
        let conn = self.connection(order)?;
        let instrument = self.instrument(&conn, order, deadline_ms).await?;
        // Every lookup the venue needs; "not found" only when all of them say so.
        for req in self
            .venue
            .query_requests(&self.context(&conn.base), &conn.creds, order)
        {
            let resp = self
                .call("query", order, &req, deadline_ms)
                .await
                .map_err(|e| Failure {
                    class: FailureClass::Unknown,
                    message: format!("order lookup: {e}"),
                })?;
            match self.venue.parse_query(order, &resp) {
                Ok(QueryResult::Found(ack)) => {
                    return Ok(Lookup::Found(in_base_units(ack, &instrument)))
                }
                Ok(QueryResult::NotFound) => {}
                Err(e) => return Err(self.failure(e)),
            }
        }
        Ok(Lookup::NotFound)
    }

    async fn submit(
        &self,
        order: &OrderRequest,
        prepared: &Prepared,
        deadline_ms: i64,
    ) -> Result<OrderAck, Failure> {
        let conn = self.connection(order)?;
        let req = self
            .venue
            .order_request(
                &self.context(&conn.base),
                &conn.creds,
                order,
                &prepared.instrument,
            )
            .map_err(|e| self.failure(e))?;
        match self.call("submit", order, &req, deadline_ms).await {
            Ok(resp) => match self.venue.parse_order(order, &resp) {
                Ok(ack) => Ok(in_base_units(ack, &prepared.instrument)),
                Err(e) => {
                    // Refused for a mode the account may have switched since it was read:
                    // the next order reads it again.
                    if self.venue.refuses_position_mode(&e) {
                        self.forget_position_mode(order).await;
                    }
                    Err(self.failure(e))
                }
            },
            Err(Transport::NotSent(e)) => Err(Failure {
                class: FailureClass::Retryable {
                    retry_after_seconds: None,
                },
                message: format!("submit not sent: {e}"),
            }),
            // Sent and no complete answer: the order may exist. Never blind-retried.
            Err(e @ Transport::NoAnswer(_)) => Err(Failure {
                class: FailureClass::Unknown,
                message: format!("submit outcome unknown: {e}"),
            }),
        }
    }

    /// Binance: each protective order the signal asks for, concurrently, each looked up before
    /// it could be placed, written for the account's position mode (hedge: the entry's
    /// `positionSide`, no `reduceOnly`). Bybit and MEXC sent them with the order: attached.
    async fn protect(&self, order: &OrderRequest, fill: &OrderAck, deadline_ms: i64) -> Protection {
        let Some(venue) = self.venue.separate_protection() else {
            return Protection::Attached;
        };
        let failed = |reason: String| Protection::Failed {
            placed: vec![],
            reason,
        };
        if fill.filled_quantity <= rust_decimal::Decimal::ZERO {
            return failed(format!(
                "the entry has not filled (status {}): nothing to protect yet",
                fill.status
            ));
        }
        let conn = match self.connection(order) {
            Ok(c) => c,
            Err(f) => return failed(f.message),
        };
        // The rules, and the account's position mode the entry was written for (kept per
        // exchange, network and symbol since the prepare; an open position keeps the account
        // from switching it): the protective orders are written for the same mode.
        let (instrument, mode) = futures::future::join(
            self.instrument(&conn, order, deadline_ms),
            self.position_mode(&conn, order, deadline_ms),
        )
        .await;
        let mut instrument = match instrument {
            Ok(i) => i,
            Err(f) => return failed(format!("instrument rules: {}", f.message)),
        };
        match mode {
            Ok(m) => instrument.placement.position_mode = Some(m),
            Err(f) => return failed(format!("position mode: {}", f.message)),
        }
        let protecting = Protecting {
            venue,
            conn: &conn,
            order,
            filled: fill.filled_quantity,
            instrument: &instrument,
            deadline_ms,
        };
        let legs = protect::requested(order)
            .into_iter()
            .map(|kind| self.protect_one(&protecting, kind));
        let mut placed = vec![];
        let mut missing = vec![];
        for leg in futures::future::join_all(legs).await {
            match leg {
                Ok(p) => placed.push(p),
                Err(e) => missing.push(e),
            }
        }
        if missing.is_empty() {
            Protection::Placed(placed)
        } else {
            Protection::Failed {
                placed,
                reason: missing.join("; "),
            }
        }
    }

    /// The order's fees from the exchange's fill records (a read: a lost answer is retried).
    async fn fees(
        &self,
        order: &OrderRequest,
        ack: &OrderAck,
        deadline_ms: i64,
    ) -> Result<Option<Fee>, Failure> {
        let conn = self.connection(order)?;
        let req = self
            .venue
            .fees_request(&self.context(&conn.base), &conn.creds, order, ack);
        let resp = self
            .call("fees", order, &req, deadline_ms)
            .await
            .map_err(|e| Self::read_failed("order fees", e))?;
        self.venue
            .parse_fees(order, ack, &resp)
            .map_err(|e| self.failure(e))
    }

    /// The position's server-side stops made `request.target` (`exchanges::stops`): the
    /// position read from the exchange (its size in the exchange's unit, its mark, whether it
    /// is a hedge leg), the instrument's tick and step, what it holds now where the venue needs
    /// a read, then each write of the plan in order (new placements before the cancels they
    /// replace). The first refusal stops there, with the exchange's words; every call is on
    /// the network's own key pair and under `deadline_ms`.
    async fn set_stops(
        &self,
        request: &StopRequest,
        deadline_ms: i64,
    ) -> Result<StopsSet, Failure> {
        let exchange = self.venue.exchange();
        let Some(stops) = exchanges::stops::of(exchange) else {
            return Err(Failure {
                class: FailureClass::Terminal,
                message: format!("{exchange} keeps no server-side stops"),
            });
        };
        let conn = self.connection_to(request.testnet)?;
        let ctx = self.context(&conn.base);
        let req = self.venue.positions_request(&ctx, &conn.creds);
        let resp = self
            .call_for("stops_position", STOP_CALLS, &req, deadline_ms)
            .await
            .map_err(|e| Self::read_failed("positions", e))?;
        let positions = self
            .venue
            .parse_positions(&resp)
            .map_err(|e| self.failure(e))?;
        let Some(held) = positions
            .positions
            .iter()
            .find(|p| p.symbol == request.symbol && p.side == request.side)
        else {
            return Err(Failure {
                class: FailureClass::Terminal,
                message: format!(
                    "{exchange} holds no open {} position on {} ({}): no stop to set",
                    request.side.as_str(),
                    request.symbol.canonical(),
                    Network::of(request.testnet).as_str()
                ),
            });
        };
        let instrument = self
            .instrument_of(
                &conn,
                &request.symbol,
                request.testnet,
                STOP_CALLS,
                deadline_ms,
            )
            .await?;
        let mark = match held.mark_price {
            Some(m) if m > rust_decimal::Decimal::ZERO => m,
            _ => {
                let req = self.venue.price_request(&ctx, &request.symbol);
                let resp = self
                    .call_for("stops_price", STOP_CALLS, &req, deadline_ms)
                    .await
                    .map_err(|e| Self::read_failed("reference price", e))?;
                self.venue
                    .parse_price(&request.symbol, &resp)
                    .map_err(|e| self.failure(e))?
                    .price
            }
        };
        let position = StopPosition {
            symbol: request.symbol.clone(),
            exchange_symbol: held.exchange_symbol.clone(),
            side: request.side,
            mode: if held.hedge_leg {
                PositionMode::Hedge
            } else {
                PositionMode::OneWay
            },
            size: held.size,
            mark,
            tick_size: instrument.tick_size,
            qty_step: instrument.qty_step,
        };
        let existing = match stops.stops_read_request(&ctx, &conn.creds, &position) {
            None => exchanges::stops::Existing::default(),
            Some(req) => {
                let resp = self
                    .call_for("stops_read", STOP_CALLS, &req, deadline_ms)
                    .await
                    .map_err(|e| Self::read_failed("stop orders", e))?;
                stops
                    .parse_stops_read(&position, &resp)
                    .map_err(|e| self.failure(e))?
            }
        };
        let plan = stops
            .stops_plan(
                &self.context(&conn.base),
                &conn.creds,
                &position,
                &request.target,
                &existing,
            )
            .map_err(|e| self.failure(e))?;
        let mut results = Vec::with_capacity(plan.writes.len());
        for w in &plan.writes {
            let resp = self
                .call_for("stops_write", STOP_CALLS, &w.request, deadline_ms)
                .await
                .map_err(|e| Failure {
                    // A write that got no answer may have taken effect: the next call's read
                    // (or the agent's next minute) finds what it did.
                    class: FailureClass::Unknown,
                    message: format!("stop write: {e}"),
                })?;
            results.push(
                stops
                    .parse_stop_write(w, &resp)
                    .map_err(|e| self.failure(e))?,
            );
        }
        Ok(StopsSet {
            placed: exchanges::stops::settle(&plan, &results),
            supported: stops.support(),
        })
    }
}

impl LivePort<'_> {
    /// The exchange's open positions on `testnet` or mainnet, sizes in base-asset units (MEXC's
    /// contracts converted with each instrument's contract size). Reads only.
    pub async fn positions(
        &self,
        testnet: bool,
        deadline_ms: i64,
    ) -> Result<exchanges::account::Positions, Failure> {
        let conn = self.connection_to(testnet)?;
        let req = self
            .venue
            .positions_request(&self.context(&conn.base), &conn.creds);
        let resp = self
            .call_for("positions", ACCOUNT_CALLS, &req, deadline_ms)
            .await
            .map_err(|e| Self::read_failed("positions", e))?;
        let mut positions = self
            .venue
            .parse_positions(&resp)
            .map_err(|e| self.failure(e))?;
        for p in &mut positions.positions {
            let instrument = self
                .instrument_of(&conn, &p.symbol, testnet, ACCOUNT_CALLS, deadline_ms)
                .await?;
            p.size = instrument
                .checked_base_quantity(p.size)
                .map_err(|e| Failure {
                    class: FailureClass::Terminal,
                    message: format!("position size of {}: {e}", p.exchange_symbol),
                })?;
        }
        Ok(positions)
    }

    /// The account's USDT wallet on `testnet` or mainnet. Reads only.
    pub async fn balance(
        &self,
        testnet: bool,
        deadline_ms: i64,
    ) -> Result<exchanges::account::Balance, Failure> {
        let conn = self.connection_to(testnet)?;
        let req = self
            .venue
            .balance_request(&self.context(&conn.base), &conn.creds);
        let resp = self
            .call_for("balance", ACCOUNT_CALLS, &req, deadline_ms)
            .await
            .map_err(|e| Self::read_failed("balance", e))?;
        self.venue.parse_balance(&resp).map_err(|e| self.failure(e))
    }

    /// The instrument's rules and the reference price of `symbol` on `testnet` or mainnet,
    /// fetched together through the same caches as an order's (`POST /quote`). Reads only: no
    /// leverage is set, nothing is placed.
    pub async fn market(
        &self,
        symbol: &Symbol,
        testnet: bool,
        deadline_ms: i64,
    ) -> Result<(Instrument, ReferencePrice), Failure> {
        let conn = self.connection_to(testnet)?;
        let (instrument, price) = futures::future::join(
            self.instrument_of(&conn, symbol, testnet, QUOTE_CALLS, deadline_ms),
            self.reference_price_of(&conn, symbol, testnet, QUOTE_CALLS, deadline_ms),
        )
        .await;
        Ok((instrument?, price?))
    }

    /// The exchange's reference price of `symbol` read now, past the isolate's cache: what the
    /// agent-worker judges a position at (a price seconds old could miss a stop).
    pub async fn reference_now(
        &self,
        symbol: &Symbol,
        testnet: bool,
        deadline_ms: i64,
    ) -> Result<ReferencePrice, Failure> {
        let conn = self.connection_to(testnet)?;
        let fetched = self
            .fetch_reference(&conn, symbol, ACCOUNT_CALLS, deadline_ms)
            .await?;
        Ok(fetched.price)
    }

    /// Whether the account nets long and short (see `exchanges::account::Account::nets_sides`).
    pub fn nets_sides(&self) -> bool {
        self.venue.nets_sides()
    }
}

/// Who the account reads are logged under (no job is behind them).
pub const ACCOUNT_CALLS: &str = "account";
/// Who a quote's market reads are logged under.
pub const QUOTE_CALLS: &str = "quote";

/// Who the server-side stop calls are logged under.
pub const STOP_CALLS: &str = "stops";

/// The client order id of each job, to name the job of a call in its log.
pub fn jobs_by_client_order_id<'j>(
    jobs: impl IntoIterator<Item = (&'j TradeJob, u32)>,
) -> BTreeMap<String, (String, u32)> {
    jobs.into_iter()
        .map(|(job, delivery)| {
            (
                contracts::idempotency::client_order_id(&job.idempotency_key, job.received_at_ms),
                (job.idempotency_key.clone(), delivery),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 13, item 1: a testnet order is signed with the testnet's own pair.
    #[test]
    fn each_network_has_its_own_secrets() {
        assert_eq!(
            secret_names(Exchange::Bybit, false),
            ["BYBIT_API_KEY", "BYBIT_API_SECRET"]
        );
        assert_eq!(
            secret_names(Exchange::Bybit, true),
            ["BYBIT_TESTNET_API_KEY", "BYBIT_TESTNET_API_SECRET"]
        );
        assert_eq!(
            secret_names(Exchange::Binance, true),
            ["BINANCE_TESTNET_API_KEY", "BINANCE_TESTNET_API_SECRET"]
        );
        assert_eq!(
            missing_credentials(
                Exchange::Binance,
                true,
                &["BINANCE_TESTNET_API_SECRET".into()]
            ),
            "binance testnet credentials missing: BINANCE_TESTNET_API_SECRET not set (a `test: true` signal is signed with the testnet's own keys, never the mainnet ones)"
        );
    }

    #[test]
    fn the_isolate_cache_forgets_after_its_ttl() {
        let mut c: TtlCache<&str, u32> = TtlCache::new(3_000);
        c.put("BTCUSDT", 1_000, 7);
        assert_eq!(c.get(&"BTCUSDT", 3_999), Some(7));
        assert_eq!(c.get(&"BTCUSDT", 4_000), None);
        // Old entries are dropped as new ones arrive.
        c.put("ETHUSDT", 10_000, 8);
        assert_eq!(c.entries.len(), 1);
    }

    #[test]
    fn logged_requests_carry_no_secret() {
        let req = HttpRequest {
            method: Method::Get,
            url: "https://x/fapi/v1/order?symbol=BTCUSDT&signature=abc123&recvWindow=5000".into(),
            headers: vec![
                ("X-MBX-APIKEY".into(), "key".into()),
                ("Accept".into(), "json".into()),
            ],
            body: None,
        };
        let shown = redacted(&req).to_string();
        assert!(!shown.contains("abc123") && !shown.contains("\"key\""));
        assert!(shown.contains("recvWindow=5000") && shown.contains("json"));
    }

    #[test]
    fn calls_are_logged_under_their_jobs_key_and_delivery() {
        let call = CallLog {
            exchange: Exchange::Bybit,
            client_order_id: "hx1".into(),
            op: "submit",
            // 2026-11-28T12:00:00Z
            at_ms: 1_795_867_200_000,
            elapsed_ms: 5,
            request: serde_json::Value::Null,
            response: serde_json::json!({"status": 200}),
        };
        let (path, body) = call.object("tv/1", 2);
        assert_eq!(
            path,
            "exchange/2026/11/28/bybit/tv%2F1/2-submit-1795867200000.json"
        );
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["idempotency_key"], "tv/1");
        assert_eq!(body["client_order_id"], "hx1");
        assert_eq!(body["response"]["status"], 200);
    }
}
