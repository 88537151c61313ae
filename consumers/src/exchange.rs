//! The engine's exchange port at the edge: fetch to the real exchanges with one deadline per call
//! that covers the whole answer (headers and body), credentials and base URLs from the
//! environment, per-exchange order quotas (`governor`), the isolate's IP-ban circuit breaker and
//! its KV mirror, instrument rules (KV, and the isolate) and the reference price (the isolate,
//! a few seconds) fetched together, leverage set once per symbol, and a redacted R2 log of every
//! call written after the batch is settled. What to send and how to read the answer live in
//! `exchanges`; what to do with it lives in `engine`.

use contracts::config::{Mode, Quota, RuntimeConfig};
use contracts::event::{Fee, OrderAck};
use contracts::job::TradeJob;
use contracts::signal::Exchange;
use contracts::symbol::Symbol;
use engine::circuit::{CircuitBreaker, Network};
use engine::paper::{PaperExchange, Routed};
use engine::ports::{
    ExchangePort, Exchanges, Failure, FailureClass, Lookup, Prepared, CALL_TIMEOUT_MS,
};
use exchanges::order::{OrderRequest, ReferencePrice};
use exchanges::venue::{
    Context, Credentials, ErrorClass, ExchangeError, HttpRequest, HttpResponse, Instrument, Method,
    PriceKind, QueryResult, Venue,
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
use worker::{AbortController, Delay, Env, Fetch, Headers, Request, RequestInit};

const CONFIG_KV: &str = "CONFIG_KV";
const LOGS_BUCKET: &str = "SYSTEM_LOGS_BUCKET";
const INSTRUMENT_TTL_SECONDS: u64 = 3_600;
/// Instrument rules kept in the isolate, in front of KV.
const INSTRUMENT_ISOLATE_TTL_MS: i64 = 300_000;
/// The exchange's reference price kept in the isolate: fresh enough to bound a notional, and
/// saves a round trip for every order of a burst on one symbol.
const PRICE_TTL_MS: i64 = 3_000;
const LEVERAGE_TTL_SECONDS: u64 = 86_400;
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
    })
    .with_headers(headers);
    if let Some(body) = &req.body {
        init.with_body(Some(body.as_str().into()));
    }
    let request = Request::new_with_init(&req.url, &init).map_err(not_sent)?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let no_answer = |e: worker::Error| Transport::NoAnswer(e.to_string());
    let exchange = async {
        let mut resp = Fetch::Request(request)
            .send_with_signal(&signal)
            .await
            .map_err(no_answer)?;
        let status = resp.status_code();
        let headers = resp.headers().entries().collect();
        let body = resp.text().await.map_err(no_answer)?;
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    };
    let timer = Delay::from(Duration::from_millis(budget_ms.unsigned_abs()));
    let first = futures::future::select(Box::pin(exchange), Box::pin(timer)).await;
    match first {
        futures::future::Either::Left((answer, _)) => answer,
        futures::future::Either::Right(_) => {
            controller.abort();
            Err(Transport::NoAnswer(format!(
                "no complete answer within {budget_ms} ms"
            )))
        }
    }
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

    /// Whether the exchange's credentials are set.
    pub fn has_credentials(&self, exchange: Exchange) -> bool {
        credentials(self.env, exchange).is_some()
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

    fn connection(&self, order: &OrderRequest) -> Result<Connection, Failure> {
        self.connection_to(order.testnet)
    }

    /// Credentials and the base URL of `testnet` or mainnet.
    fn connection_to(&self, testnet: bool) -> Result<Connection, Failure> {
        let exchange = self.venue.exchange();
        let creds = credentials(self.env, exchange).ok_or_else(|| Failure {
            class: FailureClass::Terminal,
            message: format!(
                "{p}_API_KEY / {p}_API_SECRET are not set",
                p = env_name(exchange)
            ),
        })?;
        let base = base_url(self.env, self.venue, testnet).map_err(|e| self.failure(e))?;
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
        let key = self.key(order);
        if let Some(p) = PRICES.with(|c| c.borrow().get(&key, runtime::now_ms())) {
            return Ok(p);
        }
        let fetched = self.fetch_reference(conn, order, deadline_ms).await?;
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
        order: &OrderRequest,
        deadline_ms: i64,
    ) -> Result<Reference, Failure> {
        let req = self
            .venue
            .price_request(&self.context(&conn.base), &order.symbol);
        let resp = self
            .call("price", order, &req, deadline_ms)
            .await
            .map_err(|e| Self::read_failed("reference price", e))?;
        let quoted = self
            .venue
            .parse_price(&order.symbol, &resp)
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
            if let Ok(put) = kv.put(&kv_key, order.leverage.to_string()) {
                let _ = put.expiration_ttl(LEVERAGE_TTL_SECONDS).execute().await;
            }
        }
        Ok(())
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

    async fn prepare(&self, order: &OrderRequest, deadline_ms: i64) -> Result<Prepared, Failure> {
        let conn = self.connection(order)?;
        let (instrument, reference_price) = futures::future::join(
            self.instrument(&conn, order, deadline_ms),
            self.reference_price(&conn, order, deadline_ms),
        )
        .await;
        let prepared = Prepared {
            instrument: instrument?,
            reference_price: reference_price?,
        };
        self.leverage(&conn, order, deadline_ms).await?;
        Ok(prepared)
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
            Ok(resp) => self
                .venue
                .parse_order(order, &resp)
                .map(|ack| in_base_units(ack, &prepared.instrument))
                .map_err(|e| self.failure(e)),
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

    /// Whether the account nets long and short (see `exchanges::account::Account::nets_sides`).
    pub fn nets_sides(&self) -> bool {
        self.venue.nets_sides()
    }
}

/// Who the account reads are logged under (no job is behind them).
pub const ACCOUNT_CALLS: &str = "account";

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
