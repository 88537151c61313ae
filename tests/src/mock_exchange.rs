//! Local stand-ins for Bybit, Binance and MEXC: one HTTP server on 127.0.0.1 that speaks each
//! exchange's protocol under its own path prefix (`/bybit`, `/binance`, `/mexc`), so the workers
//! and the adapters can be driven end to end on a machine that may not reach the real ones.
//!
//! It is strict where a lax mock would hide bugs: it checks the API key, the HMAC signature
//! (rebuilt from the bytes on the wire, by each exchange's own rule) and the timestamp window
//! against its own clock, and refuses with the exchange's own codes; it applies lot steps, ticks
//! and minimums; and it keeps each exchange's client-order-id rule (Bybit and MEXC refuse any
//! reuse, Binance only while the earlier order is open, accepting a reused id once it filled).
//! Market orders, and limit orders priced through the market, fill at once at the mark price;
//! other limit orders rest open.
//!
//! Each exchange publishes its mark as its own public price: Bybit's linear ticker
//! (`GET /v5/market/tickers`, `category` required, `retCode` 10001 "Not supported symbols" for a
//! symbol it does not list), Binance's premium index (`GET /fapi/v1/premiumIndex`, HTTP 400
//! -1121 "Invalid symbol.") and MEXC's fair price (`GET /api/v1/contract/fair_price/{symbol}`,
//! code 1001 "Contract does not exist!"). The mark is 65000 for BTC and 3000 for ETH until a
//! test sets another per (exchange, symbol) with [`MockExchanges::set_price`]; fills follow it.
//!
//! A control API that no exchange has, under `/__mock`, queues faults for the next order submits,
//! sets marks and lists every accepted order, so tests can count orders and assert there is no
//! duplicate: `POST /__mock/faults` `{"exchange":"binance","fault":"http_503_unknown",
//! "retry_after":2,"count":1,"delay_ms":15000}`, `POST /__mock/prices` `{"exchange":"mexc",
//! "symbol":"BTCUSDT","price":"64000.5"}`, `GET /__mock/orders`, `POST /__mock/reset`.
//!
//! Each fault is rendered the way that exchange expresses it: `http_429` is a 429 with
//! `Retry-After` on Binance, `retCode` 10006 with `X-Bapi-Limit-Reset-Timestamp` on Bybit and
//! code 510 on MEXC; `http_418` is Binance's 418 ban and a 403 IP ban on Bybit and MEXC;
//! `http_503_unknown` records the order and then answers 503 (Binance: "Unknown error, please
//! check your request or try again later."); `timeout_after_accept` records the order and holds
//! the answer back longer than a client waits; `reset_after_accept` records it and resets the
//! connection. A queued fault is used up by the next order submit of its exchange, whether or not
//! that submit is accepted; the `*_after_accept` and `http_503_unknown` faults only change the
//! answer of an accepted order.

use contracts::auth::hmac_sha256_hex;
use contracts::signal::Exchange;
use contracts::symbol::Symbol;
use exchanges::venue::Credentials;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

/// The one key pair the mock accepts per exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockCredentials {
    pub bybit: Credentials,
    pub binance: Credentials,
    pub mexc: Credentials,
}

impl MockCredentials {
    pub fn get(&self, exchange: Exchange) -> Option<&Credentials> {
        match exchange {
            Exchange::Bybit => Some(&self.bybit),
            Exchange::Binance => Some(&self.binance),
            Exchange::Mexc => Some(&self.mexc),
            Exchange::Paper => None,
        }
    }
}

impl Default for MockCredentials {
    /// Fixed, obviously fake pairs (`mock-bybit-key` / `mock-bybit-secret`, ...).
    fn default() -> Self {
        let pair = |ex: &str| Credentials {
            api_key: format!("mock-{ex}-key"),
            api_secret: format!("mock-{ex}-secret"),
        };
        Self {
            bybit: pair("bybit"),
            binance: pair("binance"),
            mexc: pair("mexc"),
        }
    }
}

/// How to start the mock.
#[derive(Debug, Clone)]
pub struct MockOptions {
    pub credentials: MockCredentials,
    /// 0 picks a free port.
    pub port: u16,
    /// How long `timeout_after_accept` holds an answer back when the fault names no delay;
    /// longer than the workers' exchange timeout.
    pub accept_delay: Duration,
}

impl Default for MockOptions {
    fn default() -> Self {
        Self {
            credentials: MockCredentials::default(),
            port: 0,
            accept_delay: Duration::from_secs(15),
        }
    }
}

/// The failures the mock can inject into order submits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    Http500,
    Http503Unknown,
    Http429,
    Http418,
    TimeoutAfterAccept,
    ResetAfterAccept,
}

impl FaultKind {
    pub const ALL: [FaultKind; 6] = [
        Self::Http500,
        Self::Http503Unknown,
        Self::Http429,
        Self::Http418,
        Self::TimeoutAfterAccept,
        Self::ResetAfterAccept,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http500 => "http_500",
            Self::Http503Unknown => "http_503_unknown",
            Self::Http429 => "http_429",
            Self::Http418 => "http_418",
            Self::TimeoutAfterAccept => "timeout_after_accept",
            Self::ResetAfterAccept => "reset_after_accept",
        }
    }

    /// Whether the order is recorded before the fault shapes the answer.
    pub fn records_order(self) -> bool {
        matches!(
            self,
            Self::Http503Unknown | Self::TimeoutAfterAccept | Self::ResetAfterAccept
        )
    }
}

impl FromStr for FaultKind {
    type Err = MockError;
    fn from_str(s: &str) -> Result<Self, MockError> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s.trim())
            .ok_or_else(|| MockError::BadFault(format!("unknown fault {s:?}")))
    }
}

/// Faults for the next `count` order submits of one exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub exchange: Exchange,
    pub kind: FaultKind,
    /// Seconds announced in `Retry-After` (429/418) or the rate-limit reset header.
    pub retry_after_seconds: Option<u32>,
    pub count: u32,
    /// `timeout_after_accept` only: overrides [`MockOptions::accept_delay`].
    pub delay: Option<Duration>,
}

impl Fault {
    pub fn new(exchange: Exchange, kind: FaultKind) -> Self {
        Self {
            exchange,
            kind,
            retry_after_seconds: None,
            count: 1,
            delay: None,
        }
    }

    pub fn times(mut self, count: u32) -> Self {
        self.count = count;
        self
    }

    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after_seconds = Some(seconds);
        self
    }

    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Reads the control API's JSON form.
    pub fn from_json(v: &Value) -> Result<Self, MockError> {
        let exchange = v
            .get("exchange")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<Exchange>().ok())
            .filter(|e| *e != Exchange::Paper)
            .ok_or_else(|| MockError::BadFault("exchange must be bybit, binance or mexc".into()))?;
        let kind = v
            .get("fault")
            .and_then(Value::as_str)
            .ok_or_else(|| MockError::BadFault("fault is required".into()))?
            .parse()?;
        let number = |k: &str| v.get(k).and_then(Value::as_u64);
        let count = match number("count") {
            Some(n) => {
                u32::try_from(n).map_err(|_| MockError::BadFault("count too large".into()))?
            }
            None => 1,
        };
        Ok(Self {
            exchange,
            kind,
            retry_after_seconds: number("retry_after").and_then(|n| u32::try_from(n).ok()),
            count,
            delay: number("delay_ms").map(Duration::from_millis),
        })
    }
}

/// Where an accepted order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderState {
    /// A limit order resting on the book.
    Open,
    Filled,
}

/// One order the mock accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedOrder {
    pub exchange: Exchange,
    pub client_order_id: String,
    pub exchange_order_id: String,
    /// The exchange's symbol (`BTCUSDT`, `BTC_USDT`).
    pub symbol: String,
    /// `Buy` or `Sell`.
    pub side: String,
    /// `Market` or `Limit`.
    pub order_type: String,
    /// In the exchange's order unit (contracts on MEXC).
    pub quantity: Decimal,
    pub base_quantity: Decimal,
    pub price: Option<Decimal>,
    pub reduce_only: bool,
    pub state: OrderState,
    pub filled_quantity: Decimal,
    pub average_price: Option<Decimal>,
    pub accepted_at_ms: i64,
}

impl AcceptedOrder {
    pub fn to_json(&self) -> Value {
        json!({
            "exchange": self.exchange.as_str(),
            "client_order_id": self.client_order_id,
            "exchange_order_id": self.exchange_order_id,
            "symbol": self.symbol,
            "side": self.side,
            "order_type": self.order_type,
            "quantity": self.quantity.normalize().to_string(),
            "base_quantity": self.base_quantity.normalize().to_string(),
            "price": self.price.map(|p| p.normalize().to_string()),
            "reduce_only": self.reduce_only,
            "state": match self.state { OrderState::Open => "open", OrderState::Filled => "filled" },
            "filled_quantity": self.filled_quantity.normalize().to_string(),
            "average_price": self.average_price.map(|p| p.normalize().to_string()),
            "accepted_at_ms": self.accepted_at_ms,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MockError {
    #[error("mock exchange socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("bad fault: {0}")]
    BadFault(String),
    #[error("bad price: {0}")]
    BadPrice(String),
}

/// A mark price for one exchange's instrument, as a test sets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkPrice {
    pub exchange: Exchange,
    /// Any spelling `contracts::symbol::Symbol` reads (`BTCUSDT`, `BTC_USDT`, `BTC/USDT`), of
    /// an instrument the mock lists.
    pub symbol: String,
    /// Published as given, even zero or negative, so tests can see an adapter refuse it.
    pub price: Decimal,
}

impl MarkPrice {
    pub fn new(exchange: Exchange, symbol: &str, price: Decimal) -> Self {
        Self {
            exchange,
            symbol: symbol.to_owned(),
            price,
        }
    }

    /// Reads the control API's JSON form; `price` is a decimal string or a JSON number.
    pub fn from_json(v: &Value) -> Result<Self, MockError> {
        let exchange = v
            .get("exchange")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<Exchange>().ok())
            .filter(|e| *e != Exchange::Paper)
            .ok_or_else(|| MockError::BadPrice("exchange must be bybit, binance or mexc".into()))?;
        let symbol = v
            .get("symbol")
            .and_then(Value::as_str)
            .ok_or_else(|| MockError::BadPrice("symbol is required".into()))?;
        let price = v
            .get("price")
            .and_then(json_dec)
            .ok_or_else(|| MockError::BadPrice("price must be a decimal".into()))?;
        Ok(Self::new(exchange, symbol, price))
    }

    /// The listed instrument it names, or why not.
    fn spec(&self) -> Result<&'static Spec, MockError> {
        if self.exchange == Exchange::Paper {
            return Err(MockError::BadPrice("paper has no mock".into()));
        }
        Symbol::parse(&self.symbol)
            .ok()
            .and_then(|s| spec(&s.canonical()))
            .ok_or_else(|| {
                MockError::BadPrice(format!("{} is not listed by the mock", self.symbol))
            })
    }
}

/// A running mock. Dropping it stops the server.
pub struct MockExchanges {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
}

impl MockExchanges {
    /// Starts on a free port of 127.0.0.1 with `credentials`.
    pub async fn start(credentials: MockCredentials) -> Result<Self, MockError> {
        Self::start_with(MockOptions {
            credentials,
            ..MockOptions::default()
        })
        .await
    }

    pub async fn start_with(options: MockOptions) -> Result<Self, MockError> {
        let listener = TcpListener::bind(("127.0.0.1", options.port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            credentials: options.credentials,
            accept_delay: options.accept_delay,
            clock_offset_ms: AtomicI64::new(0),
            book: Mutex::new(Book::default()),
            account: Mutex::new(account::State::default()),
        });
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(accept_loop(listener, shared.clone(), stopped));
        Ok(Self { addr, shared, stop })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The base URL an adapter uses for `exchange`: `http://127.0.0.1:PORT/bybit` (paper has no
    /// mock; its URL answers 404).
    pub fn base_url(&self, exchange: Exchange) -> String {
        format!("{}/{}", self.url(), exchange.as_str())
    }

    pub fn credentials(&self) -> &MockCredentials {
        &self.shared.credentials
    }

    /// Every accepted order, oldest first.
    pub fn orders(&self) -> Vec<AcceptedOrder> {
        self.shared.book().orders.clone()
    }

    /// Queues `fault` for the next `fault.count` order submits of its exchange.
    pub fn inject(&self, fault: Fault) {
        self.shared.book().queue(fault);
    }

    /// Sets the mark of `symbol` on `exchange`: the price its public endpoint publishes and
    /// market orders fill at, until [`Self::reset`].
    pub fn set_price(
        &self,
        exchange: Exchange,
        symbol: &str,
        price: Decimal,
    ) -> Result<(), MockError> {
        self.shared
            .book()
            .set_mark(&MarkPrice::new(exchange, symbol, price))
    }

    /// The mark `exchange` publishes for `symbol` (`None` if the mock does not list it).
    pub fn price(&self, exchange: Exchange, symbol: &str) -> Option<Decimal> {
        let sp = MarkPrice::new(exchange, symbol, Decimal::ZERO)
            .spec()
            .ok()?;
        Some(self.shared.book().mark(exchange, sp))
    }

    /// Forgets orders, positions, leverage, marks set by tests and queued faults.
    pub fn reset(&self) {
        *self.shared.book() = Book::default();
        self.shared.account().reset();
    }

    /// Moves the mock's clock (the one timestamps are checked against) by `offset_ms`.
    pub fn set_clock_offset_ms(&self, offset_ms: i64) {
        self.shared
            .clock_offset_ms
            .store(offset_ms, Ordering::SeqCst);
    }

    pub fn now_ms(&self) -> i64 {
        self.shared.now_ms()
    }
}

impl Drop for MockExchanges {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

// ---------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------

/// Positions, balances and fills as each exchange reports them, and orders that fill later.
mod account;
pub use account::{FillLater, FillRecord};

struct Shared {
    credentials: MockCredentials,
    accept_delay: Duration,
    clock_offset_ms: AtomicI64,
    book: Mutex<Book>,
    /// Positions' entry prices, fills and wallets, and the fill-later switch ([`account`]).
    account: Mutex<account::State>,
}

impl Shared {
    fn book(&self) -> MutexGuard<'_, Book> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.book
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn now_ms(&self) -> i64 {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        wall + self.clock_offset_ms.load(Ordering::SeqCst)
    }
}

/// Position keys: one net position per symbol on Bybit and Binance (one-way mode); MEXC keeps
/// long and short apart (dual-side mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Leg {
    Net,
    Long,
    Short,
}

#[derive(Default)]
struct Book {
    orders: Vec<AcceptedOrder>,
    faults: BTreeMap<Exchange, VecDeque<Fault>>,
    positions: BTreeMap<(Exchange, String, Leg), Decimal>,
    leverage: BTreeMap<(Exchange, String), u32>,
    /// Marks set by tests, by (exchange, canonical symbol); the others are [`Spec::mark`].
    marks: BTreeMap<(Exchange, String), Decimal>,
    next_id: u64,
}

impl Book {
    fn queue(&mut self, fault: Fault) {
        if fault.count > 0 {
            self.faults
                .entry(fault.exchange)
                .or_default()
                .push_back(fault);
        }
    }

    /// The fault for this submit, if one is queued; each queued entry serves `count` submits.
    fn take_fault(&mut self, exchange: Exchange) -> Option<Fault> {
        let queue = self.faults.get_mut(&exchange)?;
        let front = queue.front_mut()?;
        let fault = front.clone();
        front.count = front.count.saturating_sub(1);
        if front.count == 0 {
            queue.pop_front();
        }
        Some(fault)
    }

    fn set_mark(&mut self, m: &MarkPrice) -> Result<(), MockError> {
        let sp = m.spec()?;
        self.marks.insert((m.exchange, sp.joined()), m.price);
        Ok(())
    }

    /// The mark of `sp` on `exchange`: what its price endpoint publishes and fills happen at.
    fn mark(&self, exchange: Exchange, sp: &Spec) -> Decimal {
        self.marks
            .get(&(exchange, sp.joined()))
            .copied()
            .unwrap_or_else(|| lit(sp.mark))
    }

    fn next_order_id(&mut self) -> String {
        self.next_id += 1;
        (1_000_000_000 + self.next_id).to_string()
    }

    fn position(&self, exchange: Exchange, symbol: &str, leg: Leg) -> Decimal {
        self.positions
            .get(&(exchange, symbol.to_owned(), leg))
            .copied()
            .unwrap_or(Decimal::ZERO)
    }

    fn add_position(&mut self, exchange: Exchange, symbol: &str, leg: Leg, delta: Decimal) {
        *self
            .positions
            .entry((exchange, symbol.to_owned(), leg))
            .or_insert(Decimal::ZERO) += delta;
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    tokio::spawn(serve_connection(stream, shared.clone(), stopped.clone()));
                }
            }
        }
    }
}

/// Keeps a second handle on a connection's socket so a fault can turn its close into a reset.
struct ConnectionGuard(std::net::TcpStream);

impl ConnectionGuard {
    /// With a zero linger time the kernel answers the close with RST instead of FIN.
    fn reset_on_close(&self) {
        let _ = socket2::SockRef::from(&self.0).set_linger(Some(Duration::ZERO));
    }
}

/// The error a service returns to make hyper drop the connection without an answer.
#[derive(Debug, thiserror::Error)]
#[error("connection reset by the mock (reset_after_accept)")]
struct ResetConnection;

async fn serve_connection(
    stream: TcpStream,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    let Ok(std_stream) = stream.into_std() else {
        return;
    };
    let Ok(guard) = std_stream.try_clone() else {
        return;
    };
    let Ok(stream) = TcpStream::from_std(std_stream) else {
        return;
    };
    let guard = Arc::new(ConnectionGuard(guard));
    let service = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        let guard = guard.clone();
        async move { handle(shared, guard, req).await }
    });
    let conn =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = conn => {}
        _ = stopped.changed() => {}
    }
}

/// What a route decided.
enum Reply {
    Now(Answer),
    After(Duration, Answer),
    Reset,
}

/// A request as the routes see it: the path below the exchange prefix, the raw query and body.
struct Call {
    method: Method,
    path: String,
    query: String,
    headers: HeaderMap,
    body: String,
}

impl Call {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn handle(
    shared: Arc<Shared>,
    guard: Arc<ConnectionGuard>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ResetConnection> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
        Err(_) => String::new(),
    };
    // `/bybit/v5/order/create` → prefix `bybit`, path `/v5/order/create`.
    let trimmed = parts.uri.path().trim_start_matches('/');
    let (prefix, rest) = match trimmed.split_once('/') {
        Some((p, r)) => (p.to_owned(), format!("/{r}")),
        None => (trimmed.to_owned(), "/".to_owned()),
    };
    let call = Call {
        method: parts.method,
        path: rest,
        query: parts.uri.query().unwrap_or("").to_owned(),
        headers: parts.headers,
        body,
    };
    let mut seen = account::before(&shared, &prefix, &call);
    let reply = match seen.reply.take() {
        Some(reply) => reply,
        None => match prefix.as_str() {
            "bybit" => bybit::route(&shared, &call),
            "binance" => binance::route(&shared, &call),
            "mexc" => mexc::route(&shared, &call),
            "__mock" => control(&shared, &call),
            _ => Reply::Now(text(StatusCode::NOT_FOUND, "no such exchange on this mock")),
        },
    };
    let reply = account::after(&shared, &prefix, seen, reply);
    match reply {
        Reply::Now(a) => Ok(a.into_response()),
        Reply::After(delay, a) => {
            tokio::time::sleep(delay).await;
            Ok(a.into_response())
        }
        Reply::Reset => {
            guard.reset_on_close();
            Err(ResetConnection)
        }
    }
}

fn control(shared: &Shared, call: &Call) -> Reply {
    let reply = match (&call.method, call.path.as_str()) {
        (&Method::POST, "/faults") => {
            let parsed: Result<Vec<Fault>, MockError> =
                match serde_json::from_str::<Value>(&call.body) {
                    Ok(Value::Array(items)) => items.iter().map(Fault::from_json).collect(),
                    Ok(v) => Fault::from_json(&v).map(|f| vec![f]),
                    Err(e) => Err(MockError::BadFault(format!("body is not JSON: {e}"))),
                };
            match parsed {
                Ok(faults) => {
                    let mut book = shared.book();
                    let queued: Vec<Value> = faults
                        .into_iter()
                        .map(|f| {
                            let v = json!({"exchange": f.exchange.as_str(), "fault": f.kind.as_str(), "count": f.count});
                            book.queue(f);
                            v
                        })
                        .collect();
                    json_reply(StatusCode::OK, &json!({ "queued": queued }))
                }
                Err(e) => json_reply(StatusCode::BAD_REQUEST, &json!({ "error": e.to_string() })),
            }
        }
        (&Method::POST, "/prices") => {
            let parsed: Result<Vec<MarkPrice>, MockError> =
                match serde_json::from_str::<Value>(&call.body) {
                    Ok(Value::Array(items)) => items.iter().map(MarkPrice::from_json).collect(),
                    Ok(v) => MarkPrice::from_json(&v).map(|p| vec![p]),
                    Err(e) => Err(MockError::BadPrice(format!("body is not JSON: {e}"))),
                };
            // All or nothing: a bad entry sets none.
            let checked = parsed.and_then(|prices| {
                prices
                    .into_iter()
                    .map(|p| p.spec().map(|sp| (p, sp)))
                    .collect::<Result<Vec<_>, _>>()
            });
            match checked {
                Ok(prices) => {
                    let mut book = shared.book();
                    let set: Vec<Value> = prices
                        .into_iter()
                        .map(|(p, sp)| {
                            book.marks.insert((p.exchange, sp.joined()), p.price);
                            json!({"exchange": p.exchange.as_str(), "symbol": sp.joined(), "price": p.price.normalize().to_string()})
                        })
                        .collect();
                    json_reply(StatusCode::OK, &json!({ "prices": set }))
                }
                Err(e) => json_reply(StatusCode::BAD_REQUEST, &json!({ "error": e.to_string() })),
            }
        }
        (&Method::GET, "/orders") => {
            let filter = query_params(&call.query)
                .into_iter()
                .find(|(k, _)| k == "exchange")
                .and_then(|(_, v)| v.parse::<Exchange>().ok());
            let orders: Vec<Value> = shared
                .book()
                .orders
                .iter()
                .filter(|o| filter.is_none_or(|f| o.exchange == f))
                .map(AcceptedOrder::to_json)
                .collect();
            json_reply(StatusCode::OK, &json!({ "orders": orders }))
        }
        (&Method::POST, "/reset") => {
            *shared.book() = Book::default();
            json_reply(StatusCode::OK, &json!({ "reset": true }))
        }
        (&Method::GET, "/health") => json_reply(
            StatusCode::OK,
            &json!({ "ok": true, "now_ms": shared.now_ms() }),
        ),
        _ => text(StatusCode::NOT_FOUND, "unknown control route"),
    };
    Reply::Now(reply)
}

// ---------------------------------------------------------------------------------------------
// Shared protocol pieces
// ---------------------------------------------------------------------------------------------

/// The instruments every mocked exchange lists, with their rules and the mark price they start
/// at.
struct Spec {
    base: &'static str,
    quote: &'static str,
    qty_step: &'static str,
    min_qty: &'static str,
    tick: &'static str,
    mark: &'static str,
    /// MEXC: base units per contract; orders count whole contracts (`volUnit` 1, `minVol` 1).
    contract_size: &'static str,
}

const SPECS: [Spec; 2] = [
    Spec {
        base: "BTC",
        quote: "USDT",
        qty_step: "0.001",
        min_qty: "0.001",
        tick: "0.1",
        mark: "65000",
        contract_size: "0.0001",
    },
    Spec {
        base: "ETH",
        quote: "USDT",
        qty_step: "0.01",
        min_qty: "0.01",
        tick: "0.01",
        mark: "3000",
        contract_size: "0.01",
    },
];

impl Spec {
    fn joined(&self) -> String {
        format!("{}{}", self.base, self.quote)
    }
    fn underscored(&self) -> String {
        format!("{}_{}", self.base, self.quote)
    }
}

fn spec(symbol: &str) -> Option<&'static Spec> {
    SPECS
        .iter()
        .find(|s| s.joined() == symbol || s.underscored() == symbol)
}

/// A decimal from a literal of this file or a request field.
fn dec(s: &str) -> Option<Decimal> {
    let s = s.trim();
    if s.contains(['e', 'E']) {
        Decimal::from_scientific(s).ok()
    } else {
        Decimal::from_str(s).ok()
    }
}

fn lit(s: &str) -> Decimal {
    dec(s).unwrap_or(Decimal::ZERO)
}

/// A JSON string or number as a decimal (JSON numbers via their shortest spelling).
fn json_dec(v: &Value) -> Option<Decimal> {
    match v {
        Value::String(s) => dec(s),
        Value::Number(n) => dec(&n.to_string()),
        _ => None,
    }
}

/// A decimal as a JSON number (MEXC answers in numbers).
fn json_number(d: Decimal) -> Value {
    serde_json::from_str(&d.normalize().to_string()).unwrap_or(Value::Null)
}

fn on_step(v: Decimal, step: Decimal) -> bool {
    !step.is_zero() && (v % step).is_zero()
}

fn hmac_hex(secret: &str, message: &str) -> String {
    hmac_sha256_hex(secret.as_bytes(), message.as_bytes())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |c: u8| char::from(c).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(hi), Some(lo)) => {
                        out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_params(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// An answer before it becomes an HTTP response: small enough to pass around in `Result`s.
struct Answer {
    status: StatusCode,
    content_type: &'static str,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Answer {
    fn into_response(self) -> Response<Full<Bytes>> {
        let mut r = Response::new(Full::new(Bytes::from(self.body)));
        *r.status_mut() = self.status;
        r.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                r.headers_mut().insert(name, v);
            }
        }
        r
    }
}

fn json_reply(status: StatusCode, v: &Value) -> Answer {
    Answer {
        status,
        content_type: "application/json",
        headers: Vec::new(),
        body: v.to_string(),
    }
}

fn text(status: StatusCode, body: &str) -> Answer {
    Answer {
        status,
        content_type: "text/plain",
        headers: Vec::new(),
        body: body.to_owned(),
    }
}

fn with_header(mut a: Answer, name: &'static str, value: String) -> Answer {
    a.headers.push((name, value));
    a
}

/// A fault that refuses a submit before anything is recorded (500, 429, 418) answers at once as
/// `Err`; the others leave the submit to proceed and shape its answer in [`late_fault`].
fn early_fault(fault: &Option<Fault>, render: impl Fn(&Fault) -> Answer) -> Result<(), Reply> {
    match fault {
        Some(f) if !f.kind.records_order() => Err(Reply::Now(render(f))),
        _ => Ok(()),
    }
}

/// The answer to an accepted submit under an after-accept fault.
fn late_fault(
    shared: &Shared,
    fault: Option<Fault>,
    ok: Answer,
    unknown_503: impl Fn() -> Answer,
) -> Reply {
    match fault.map(|f| (f.kind, f.delay)) {
        Some((FaultKind::Http503Unknown, _)) => Reply::Now(unknown_503()),
        Some((FaultKind::TimeoutAfterAccept, delay)) => {
            Reply::After(delay.unwrap_or(shared.accept_delay), ok)
        }
        Some((FaultKind::ResetAfterAccept, _)) => Reply::Reset,
        _ => Reply::Now(ok),
    }
}

/// The fields of a new order, in the exchange's units, checked by the exchange's rules.
struct NewOrder {
    exchange: Exchange,
    client_order_id: String,
    symbol: String,
    spec: &'static Spec,
    buy: bool,
    market: bool,
    quantity: Decimal,
    base_quantity: Decimal,
    price: Option<Decimal>,
    reduce_only: bool,
    leg: Leg,
}

/// Records `o`, filling it at the mark price if it is a market order or a limit order priced
/// through the mark (a buy at or above it, a sell at or below it).
fn accept(shared: &Shared, book: &mut Book, o: NewOrder) -> AcceptedOrder {
    let mark = book.mark(o.exchange, o.spec);
    let marketable = o.market
        || o.price
            .is_some_and(|p| if o.buy { p >= mark } else { p <= mark });
    let mut order = AcceptedOrder {
        exchange: o.exchange,
        client_order_id: o.client_order_id,
        exchange_order_id: book.next_order_id(),
        symbol: o.symbol.clone(),
        side: if o.buy { "Buy" } else { "Sell" }.to_owned(),
        order_type: if o.market { "Market" } else { "Limit" }.to_owned(),
        quantity: o.quantity,
        base_quantity: o.base_quantity,
        price: o.price,
        reduce_only: o.reduce_only,
        state: OrderState::Open,
        filled_quantity: Decimal::ZERO,
        average_price: None,
        accepted_at_ms: shared.now_ms(),
    };
    if marketable {
        order.state = OrderState::Filled;
        order.filled_quantity = o.quantity;
        order.average_price = Some(mark);
        let delta = match o.leg {
            // One-way: buys add, sells subtract; a reduce-only order never crosses zero.
            Leg::Net => {
                let signed = if o.buy { o.quantity } else { -o.quantity };
                if o.reduce_only {
                    let pos = book.position(o.exchange, &o.symbol, Leg::Net);
                    if signed.abs() > pos.abs() {
                        -pos
                    } else {
                        signed
                    }
                } else {
                    signed
                }
            }
            Leg::Long | Leg::Short => {
                if o.reduce_only {
                    -o.quantity.min(book.position(o.exchange, &o.symbol, o.leg))
                } else {
                    o.quantity
                }
            }
        };
        book.add_position(o.exchange, &o.symbol, o.leg, delta);
    }
    book.orders.push(order.clone());
    order
}

/// Whether a reduce-only order has a position to reduce.
fn can_reduce(book: &Book, o: &NewOrder) -> bool {
    let pos = book.position(o.exchange, &o.symbol, o.leg);
    match o.leg {
        Leg::Net => (o.buy && pos < Decimal::ZERO) || (!o.buy && pos > Decimal::ZERO),
        Leg::Long | Leg::Short => pos > Decimal::ZERO,
    }
}

// ---------------------------------------------------------------------------------------------
// Bybit v5
// ---------------------------------------------------------------------------------------------

mod bybit {
    use super::*;

    fn ret(shared: &Shared, code: i64, msg: &str, result: Value) -> Answer {
        json_reply(
            StatusCode::OK,
            &json!({"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {}, "time": shared.now_ms()}),
        )
    }

    fn params_error(shared: &Shared, what: &str) -> Answer {
        ret(shared, 10001, &format!("params error: {what}"), json!({}))
    }

    pub(super) fn route(shared: &Shared, call: &Call) -> Reply {
        let r = match (&call.method, call.path.as_str()) {
            (&Method::GET, "/v5/market/instruments-info") => instruments(shared, call),
            (&Method::GET, "/v5/market/tickers") => tickers(shared, call),
            (&Method::POST, "/v5/order/create") => return submit(shared, call),
            (&Method::POST, "/v5/position/set-leverage") => authed(shared, call, set_leverage),
            (&Method::GET, "/v5/order/realtime") => authed(shared, call, realtime),
            _ => text(StatusCode::NOT_FOUND, "Cannot find path"),
        };
        Reply::Now(r)
    }

    fn authed(shared: &Shared, call: &Call, f: fn(&Shared, &Call) -> Answer) -> Answer {
        match auth(shared, call) {
            Ok(()) => f(shared, call),
            Err(r) => r,
        }
    }

    /// Key, then the time window `server - recv_window <= timestamp < server + 1000`, then the
    /// signature over `timestamp + key + recv_window + (query | body)`.
    fn auth(shared: &Shared, call: &Call) -> Result<(), Answer> {
        let (Some(key), Some(ts), Some(sign)) = (
            call.header("x-bapi-api-key"),
            call.header("x-bapi-timestamp"),
            call.header("x-bapi-sign"),
        ) else {
            // Missing authentication headers are refused at the HTTP level.
            return Err(text(StatusCode::UNAUTHORIZED, "401 Unauthorized"));
        };
        let recv = call.header("x-bapi-recv-window").unwrap_or("5000");
        if key != shared.credentials.bybit.api_key {
            return Err(ret(shared, 10003, "API key is invalid.", json!({})));
        }
        let now = shared.now_ms();
        let window: i64 = recv.parse().unwrap_or(5000);
        let Ok(t) = ts.parse::<i64>() else {
            return Err(params_error(shared, "X-BAPI-TIMESTAMP"));
        };
        if !(now - window <= t && t < now + 1000) {
            return Err(ret(
                shared,
                10002,
                &format!("invalid request, please check your server timestamp or recv_window param. req_timestamp[{t}],server_timestamp[{now}],recv_window[{window}]"),
                json!({}),
            ));
        }
        let params = if call.method == Method::GET {
            &call.query
        } else {
            &call.body
        };
        let origin = format!("{ts}{key}{recv}{params}");
        if hmac_hex(&shared.credentials.bybit.api_secret, &origin) != sign {
            return Err(ret(
                shared,
                10004,
                &format!("error sign! origin_string[{origin}]"),
                json!({}),
            ));
        }
        Ok(())
    }

    fn instrument_json(s: &Spec) -> Value {
        json!({
            "symbol": s.joined(), "contractType": "LinearPerpetual", "status": "Trading",
            "baseCoin": s.base, "quoteCoin": s.quote, "settleCoin": s.quote,
            "priceFilter": {"minPrice": s.tick, "maxPrice": "1999999.8", "tickSize": s.tick},
            "lotSizeFilter": {"maxOrderQty": "1000", "minOrderQty": s.min_qty, "qtyStep": s.qty_step,
                               "maxMktOrderQty": "100", "minNotionalValue": "5"},
            "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
        })
    }

    fn instruments(shared: &Shared, call: &Call) -> Answer {
        let q = query_params(&call.query);
        if param(&q, "category") != Some("linear") {
            return params_error(shared, "category");
        }
        let list: Vec<Value> = match param(&q, "symbol") {
            Some(sym) => match spec(sym).filter(|s| s.joined() == sym) {
                Some(s) => vec![instrument_json(s)],
                None => return params_error(shared, "symbol invalid"),
            },
            None => SPECS.iter().map(instrument_json).collect(),
        };
        ret(
            shared,
            0,
            "OK",
            json!({"category": "linear", "list": list, "nextPageCursor": ""}),
        )
    }

    /// A linear ticker in the documented shape, every price at the mark.
    fn ticker_json(s: &Spec, mark: Decimal) -> Value {
        let p = mark.normalize().to_string();
        json!({
            "symbol": s.joined(), "lastPrice": p, "indexPrice": p, "markPrice": p,
            "prevPrice24h": p, "price24hPcnt": "0", "highPrice24h": p, "lowPrice24h": p,
            "prevPrice1h": p, "openInterest": "1000", "openInterestValue": (mark * Decimal::from(1000)).normalize().to_string(),
            "turnover24h": "0", "volume24h": "0", "fundingRate": "0.0001",
            "nextFundingTime": "0", "predictedDeliveryPrice": "", "basisRate": "",
            "deliveryFeeRate": "", "deliveryTime": "0", "ask1Size": "1", "bid1Price": p,
            "ask1Price": p, "bid1Size": "1", "basis": "", "preOpenPrice": "", "preQty": "",
            "curPreListingPhase": "", "fundingIntervalHour": "8", "basisRateYear": "",
            "fundingCap": "0.005",
        })
    }

    /// `category` is required (only `linear` is mocked); an unlisted symbol is Bybit's
    /// parameter error 10001 "Not supported symbols"; no symbol lists every ticker.
    fn tickers(shared: &Shared, call: &Call) -> Answer {
        let q = query_params(&call.query);
        if param(&q, "category") != Some("linear") {
            return params_error(shared, "category");
        }
        let book = shared.book();
        let list: Vec<Value> = match param(&q, "symbol") {
            Some(sym) => match spec(sym).filter(|s| s.joined() == sym) {
                Some(s) => vec![ticker_json(s, book.mark(Exchange::Bybit, s))],
                None => return ret(shared, 10001, "Not supported symbols", json!({})),
            },
            None => SPECS
                .iter()
                .map(|s| ticker_json(s, book.mark(Exchange::Bybit, s)))
                .collect(),
        };
        ret(shared, 0, "OK", json!({"category": "linear", "list": list}))
    }

    fn valid_link_id(id: &str) -> bool {
        (1..=36).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }

    fn submit(shared: &Shared, call: &Call) -> Reply {
        let fault = shared.book().take_fault(Exchange::Bybit);
        if let Err(r) = early_fault(&fault, |f| render_fault(shared, f)) {
            return r;
        }
        if let Err(r) = auth(shared, call) {
            return Reply::Now(r);
        }
        let Ok(body) = serde_json::from_str::<Value>(&call.body) else {
            return Reply::Now(params_error(shared, "request body is not JSON"));
        };
        let s = |k: &str| body.get(k).and_then(Value::as_str);
        if s("category") != Some("linear") {
            return Reply::Now(params_error(shared, "category"));
        }
        let Some((symbol, sp)) = s("symbol").and_then(|sym| {
            spec(sym)
                .filter(|sp| sp.joined() == sym)
                .map(|sp| (sym, sp))
        }) else {
            return Reply::Now(params_error(shared, "symbol invalid"));
        };
        let buy = match s("side") {
            Some("Buy") => true,
            Some("Sell") => false,
            _ => return Reply::Now(params_error(shared, "side invalid")),
        };
        let market = match s("orderType") {
            Some("Market") => true,
            Some("Limit") => false,
            _ => return Reply::Now(params_error(shared, "orderType invalid")),
        };
        // Bybit takes quantities and prices as strings only.
        let Some(qty) = s("qty").and_then(dec).filter(|q| *q > Decimal::ZERO) else {
            return Reply::Now(params_error(shared, "qty"));
        };
        if !on_step(qty, lit(sp.qty_step)) || qty < lit(sp.min_qty) {
            return Reply::Now(ret(shared, 10001, "Qty invalid", json!({})));
        }
        let price = match (market, s("price")) {
            (true, _) => None,
            (false, Some(p)) => match dec(p).filter(|p| *p > Decimal::ZERO) {
                Some(p) if on_step(p, lit(sp.tick)) => Some(p),
                _ => return Reply::Now(ret(shared, 10001, "Price invalid", json!({}))),
            },
            (false, None) => {
                return Reply::Now(params_error(shared, "price is required for limit orders"))
            }
        };
        for k in ["takeProfit", "stopLoss"] {
            if let Some(v) = s(k) {
                if !dec(v).is_some_and(|p| p > Decimal::ZERO && on_step(p, lit(sp.tick))) {
                    return Reply::Now(params_error(shared, k));
                }
            }
        }
        let link_id = s("orderLinkId").unwrap_or_default().to_owned();
        if !link_id.is_empty() && !valid_link_id(&link_id) {
            return Reply::Now(params_error(shared, "orderLinkId"));
        }
        let reduce_only = body
            .get("reduceOnly")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let o = NewOrder {
            exchange: Exchange::Bybit,
            client_order_id: link_id.clone(),
            symbol: symbol.to_owned(),
            spec: sp,
            buy,
            market,
            quantity: qty,
            base_quantity: qty,
            price,
            reduce_only,
            leg: Leg::Net,
        };
        let mut book = shared.book();
        // Bybit refuses any reuse of an orderLinkId, whatever became of the first order.
        if !link_id.is_empty()
            && book
                .orders
                .iter()
                .any(|o| o.exchange == Exchange::Bybit && o.client_order_id == link_id)
        {
            return Reply::Now(ret(shared, 110072, "OrderLinkedID is duplicate", json!({})));
        }
        if reduce_only && !can_reduce(&book, &o) {
            return Reply::Now(ret(
                shared,
                110017,
                "Reduce-only rule not satisfied",
                json!({}),
            ));
        }
        let accepted = accept(shared, &mut book, o);
        drop(book);
        let ok = ret(
            shared,
            0,
            "OK",
            json!({"orderId": accepted.exchange_order_id, "orderLinkId": accepted.client_order_id}),
        );
        late_fault(shared, fault, ok, || {
            text(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
        })
    }

    fn render_fault(shared: &Shared, f: &Fault) -> Answer {
        match f.kind {
            // Bybit's API rate limit is a retCode with the reset time in a header.
            FaultKind::Http429 => {
                // One clock reading for both, so the reset is exactly `retry_after` ahead of
                // the answer's `time`.
                let now = shared.now_ms();
                let reset = now + i64::from(f.retry_after_seconds.unwrap_or(1)) * 1000;
                with_header(
                    json_reply(
                        StatusCode::OK,
                        &json!({"retCode": 10006, "retMsg": "Too many visits!", "result": {}, "retExtInfo": {}, "time": now}),
                    ),
                    "x-bapi-limit-reset-timestamp",
                    reset.to_string(),
                )
            }
            // The IP ban: "403, access too frequent".
            FaultKind::Http418 => text(StatusCode::FORBIDDEN, "access too frequent"),
            _ => text(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
        }
    }

    fn set_leverage(shared: &Shared, call: &Call) -> Answer {
        let Ok(body) = serde_json::from_str::<Value>(&call.body) else {
            return params_error(shared, "request body is not JSON");
        };
        let s = |k: &str| body.get(k).and_then(Value::as_str);
        let Some(symbol) =
            s("symbol").filter(|sym| spec(sym).is_some_and(|sp| sp.joined() == *sym))
        else {
            return params_error(shared, "symbol invalid");
        };
        let (Some(buy), Some(sell)) = (
            s("buyLeverage").and_then(dec),
            s("sellLeverage").and_then(dec),
        ) else {
            return params_error(shared, "buyLeverage and sellLeverage are required");
        };
        if buy != sell || buy < Decimal::ONE || buy > Decimal::from(100) || !buy.fract().is_zero() {
            return ret(shared, 10001, "leverage invalid", json!({}));
        }
        let lev = u32::try_from(buy.trunc().mantissa()).unwrap_or(1);
        let mut book = shared.book();
        // A fresh account sits at 10x.
        let current = book
            .leverage
            .entry((Exchange::Bybit, symbol.to_owned()))
            .or_insert(10);
        if *current == lev {
            return ret(shared, 110043, "Set leverage not modified", json!({}));
        }
        *current = lev;
        ret(shared, 0, "OK", json!({}))
    }

    fn order_json(o: &AcceptedOrder) -> Value {
        json!({
            "orderId": o.exchange_order_id, "orderLinkId": o.client_order_id, "symbol": o.symbol,
            "price": o.price.map(|p| p.to_string()).unwrap_or_else(|| "0".into()),
            "qty": o.quantity.to_string(), "side": o.side, "positionIdx": 0,
            "orderStatus": match o.state { OrderState::Open => "New", OrderState::Filled => "Filled" },
            "avgPrice": o.average_price.map(|p| p.to_string()).unwrap_or_default(),
            "leavesQty": (o.quantity - o.filled_quantity).to_string(),
            "cumExecQty": o.filled_quantity.to_string(),
            "cumExecValue": (o.filled_quantity * o.average_price.unwrap_or_default()).to_string(),
            "orderType": o.order_type,
            "timeInForce": if o.order_type == "Market" { "IOC" } else { "GTC" },
            "reduceOnly": o.reduce_only,
            "createdTime": o.accepted_at_ms.to_string(), "updatedTime": o.accepted_at_ms.to_string(),
        })
    }

    /// Open orders by default; with `openOnly=1` the closed ones (filled, here).
    fn realtime(shared: &Shared, call: &Call) -> Answer {
        let q = query_params(&call.query);
        if param(&q, "category") != Some("linear") {
            return params_error(shared, "category");
        }
        let symbol = param(&q, "symbol");
        if symbol.is_none() && param(&q, "baseCoin").is_none() && param(&q, "settleCoin").is_none()
        {
            return params_error(shared, "symbol, baseCoin or settleCoin is required");
        }
        let closed = match param(&q, "openOnly").unwrap_or("0") {
            "0" => false,
            "1" => true,
            _ => return params_error(shared, "openOnly"),
        };
        let link = param(&q, "orderLinkId");
        let id = param(&q, "orderId");
        let list: Vec<Value> = shared
            .book()
            .orders
            .iter()
            .rev()
            .filter(|o| o.exchange == Exchange::Bybit)
            .filter(|o| symbol.is_none_or(|s| o.symbol == s))
            .filter(|o| link.is_none_or(|l| o.client_order_id == l))
            .filter(|o| id.is_none_or(|i| o.exchange_order_id == i))
            .filter(|o| (o.state == OrderState::Filled) == closed)
            .map(order_json)
            .collect();
        ret(
            shared,
            0,
            "OK",
            json!({"category": "linear", "list": list, "nextPageCursor": ""}),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Binance USDⓈ-M futures
// ---------------------------------------------------------------------------------------------

mod binance {
    use super::*;

    fn err(status: StatusCode, code: i64, msg: &str) -> Answer {
        json_reply(status, &json!({"code": code, "msg": msg}))
    }

    fn mandatory(name: &str) -> Answer {
        err(
            StatusCode::BAD_REQUEST,
            -1102,
            &format!("Mandatory parameter '{name}' was not sent, was empty/null, or malformed."),
        )
    }

    pub(super) fn route(shared: &Shared, call: &Call) -> Reply {
        let r = match (&call.method, call.path.as_str()) {
            (&Method::GET, "/fapi/v1/exchangeInfo") => exchange_info(),
            (&Method::GET, "/fapi/v1/premiumIndex") => premium_index(shared, call),
            (&Method::POST, "/fapi/v1/order") => return submit(shared, call),
            (&Method::GET, "/fapi/v1/order") => match auth(shared, call) {
                Ok(p) => query(&p, shared),
                Err(r) => r,
            },
            (&Method::POST, "/fapi/v1/leverage") => match auth(shared, call) {
                Ok(p) => leverage(&p, shared),
                Err(r) => r,
            },
            _ => text(StatusCode::NOT_FOUND, "Not Found"),
        };
        Reply::Now(r)
    }

    /// Splits a trailing `signature=` parameter off `s`.
    fn split_signature(s: &str) -> Option<(String, String)> {
        let idx = s.rfind("signature=")?;
        if idx != 0 && !s[..idx].ends_with('&') {
            return None;
        }
        let sig = &s[idx + "signature=".len()..];
        if sig.contains('&') {
            // Binance wants the signature last.
            return None;
        }
        Some((s[..idx].trim_end_matches('&').to_owned(), sig.to_owned()))
    }

    /// API key, mandatory timestamp, the window `timestamp < server + 1000 && server -
    /// timestamp <= recvWindow`, and the signature over query string + body (without it).
    fn auth(shared: &Shared, call: &Call) -> Result<Vec<(String, String)>, Answer> {
        let Some(key) = call.header("x-mbx-apikey").filter(|k| !k.is_empty()) else {
            return Err(err(
                StatusCode::UNAUTHORIZED,
                -2014,
                "API-key format invalid.",
            ));
        };
        if key != shared.credentials.binance.api_key {
            return Err(err(
                StatusCode::UNAUTHORIZED,
                -2015,
                "Invalid API-key, IP, or permissions for action.",
            ));
        }
        let (total, signature) = if let Some((body, sig)) = split_signature(&call.body) {
            (format!("{}{body}", call.query), sig)
        } else if let Some((query, sig)) = split_signature(&call.query) {
            (format!("{query}{}", call.body), sig)
        } else {
            return Err(mandatory("signature"));
        };
        let mut params = query_params(&call.query);
        params.extend(query_params(&call.body));
        params.retain(|(k, _)| k != "signature");
        let Some(ts) = param(&params, "timestamp").and_then(|t| t.parse::<i64>().ok()) else {
            return Err(mandatory("timestamp"));
        };
        let window = match param(&params, "recvWindow") {
            Some(w) => match w.parse::<i64>() {
                Ok(w) if (1..=60_000).contains(&w) => w,
                _ => {
                    return Err(err(
                        StatusCode::BAD_REQUEST,
                        -1131,
                        "recvWindow must be less than 60000",
                    ))
                }
            },
            None => 5000,
        };
        let now = shared.now_ms();
        if ts >= now + 1000 {
            return Err(err(
                StatusCode::BAD_REQUEST,
                -1021,
                "Timestamp for this request was 1000ms ahead of the server's time.",
            ));
        }
        if now - ts > window {
            return Err(err(
                StatusCode::BAD_REQUEST,
                -1021,
                "Timestamp for this request is outside of the recvWindow.",
            ));
        }
        // "The signature is not case sensitive."
        if !hmac_hex(&shared.credentials.binance.api_secret, &total)
            .eq_ignore_ascii_case(&signature)
        {
            return Err(err(
                StatusCode::BAD_REQUEST,
                -1022,
                "Signature for this request is not valid.",
            ));
        }
        Ok(params)
    }

    fn exchange_info() -> Answer {
        let symbols: Vec<Value> = SPECS
            .iter()
            .map(|s| {
                json!({
                    "symbol": s.joined(), "pair": s.joined(), "contractType": "PERPETUAL", "status": "TRADING",
                    "baseAsset": s.base, "quoteAsset": s.quote, "marginAsset": s.quote,
                    "filters": [
                        {"filterType": "PRICE_FILTER", "minPrice": s.tick, "maxPrice": "4529764", "tickSize": s.tick},
                        {"filterType": "LOT_SIZE", "stepSize": s.qty_step, "maxQty": "1000", "minQty": s.min_qty},
                        {"filterType": "MARKET_LOT_SIZE", "stepSize": s.qty_step, "maxQty": "120", "minQty": s.min_qty},
                        {"filterType": "MIN_NOTIONAL", "notional": "5"},
                    ],
                })
            })
            .collect();
        json_reply(
            StatusCode::OK,
            &json!({"timezone": "UTC", "serverTime": 0, "symbols": symbols}),
        )
    }

    /// Binance writes prices with eight decimals.
    fn eight(d: Decimal) -> String {
        format!("{d:.8}")
    }

    fn premium_json(shared: &Shared, s: &Spec, mark: Decimal) -> Value {
        let now = shared.now_ms();
        // The next 8-hour funding boundary.
        let period = 8 * 3600 * 1000;
        json!({
            "symbol": s.joined(), "markPrice": eight(mark), "indexPrice": eight(mark),
            "estimatedSettlePrice": eight(mark), "lastFundingRate": "0.00010000",
            "interestRate": "0.00010000", "nextFundingTime": (now / period + 1) * period,
            "time": now,
        })
    }

    /// One object for `symbol`, a list of all without; an unlisted symbol is HTTP 400 -1121.
    fn premium_index(shared: &Shared, call: &Call) -> Answer {
        let book = shared.book();
        let answer = match param(&query_params(&call.query), "symbol") {
            Some(sym) => match spec(sym).filter(|s| s.joined() == sym) {
                Some(s) => premium_json(shared, s, book.mark(Exchange::Binance, s)),
                None => return err(StatusCode::BAD_REQUEST, -1121, "Invalid symbol."),
            },
            None => Value::Array(
                SPECS
                    .iter()
                    .map(|s| premium_json(shared, s, book.mark(Exchange::Binance, s)))
                    .collect(),
            ),
        };
        json_reply(StatusCode::OK, &answer)
    }

    fn valid_client_id(id: &str) -> bool {
        (1..=36).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'/' | b'_' | b'-'))
    }

    fn order_json(o: &AcceptedOrder) -> Value {
        json!({
            "orderId": o.exchange_order_id.parse::<u64>().unwrap_or(0), "symbol": o.symbol,
            "status": match o.state { OrderState::Open => "NEW", OrderState::Filled => "FILLED" },
            "clientOrderId": o.client_order_id,
            "price": o.price.map(|p| p.to_string()).unwrap_or_else(|| "0".into()),
            "avgPrice": o.average_price.map(|p| p.to_string()).unwrap_or_else(|| "0.00000".into()),
            "origQty": o.quantity.to_string(), "executedQty": o.filled_quantity.to_string(),
            "cumQty": o.filled_quantity.to_string(),
            "cumQuote": (o.filled_quantity * o.average_price.unwrap_or_default()).to_string(),
            "timeInForce": "GTC", "type": o.order_type.to_ascii_uppercase(),
            "reduceOnly": o.reduce_only, "closePosition": false,
            "side": o.side.to_ascii_uppercase(), "positionSide": "BOTH",
            "origType": o.order_type.to_ascii_uppercase(),
            "time": o.accepted_at_ms, "updateTime": o.accepted_at_ms,
        })
    }

    fn submit(shared: &Shared, call: &Call) -> Reply {
        let fault = shared.book().take_fault(Exchange::Binance);
        if let Err(r) = early_fault(&fault, render_fault) {
            return r;
        }
        let p = match auth(shared, call) {
            Ok(p) => p,
            Err(r) => return Reply::Now(r),
        };
        let bad = |r| Reply::Now(r);
        let Some(symbol) = param(&p, "symbol") else {
            return bad(mandatory("symbol"));
        };
        let Some(sp) = spec(symbol).filter(|s| s.joined() == symbol) else {
            return bad(err(StatusCode::BAD_REQUEST, -1121, "Invalid symbol."));
        };
        let buy = match param(&p, "side") {
            Some("BUY") => true,
            Some("SELL") => false,
            Some(_) => return bad(err(StatusCode::BAD_REQUEST, -1117, "Invalid side.")),
            None => return bad(mandatory("side")),
        };
        let market = match param(&p, "type") {
            Some("MARKET") => true,
            Some("LIMIT") => false,
            Some(_) => return bad(err(StatusCode::BAD_REQUEST, -1116, "Invalid orderType.")),
            None => return bad(mandatory("type")),
        };
        let Some(qty) = param(&p, "quantity").and_then(dec) else {
            return bad(mandatory("quantity"));
        };
        if qty <= Decimal::ZERO {
            return bad(err(
                StatusCode::BAD_REQUEST,
                -4003,
                "Quantity less than or equal to zero.",
            ));
        }
        if !on_step(qty, lit(sp.qty_step)) {
            return bad(err(
                StatusCode::BAD_REQUEST,
                -1111,
                "Precision is over the maximum defined for this asset.",
            ));
        }
        if qty < lit(sp.min_qty) {
            return bad(err(
                StatusCode::BAD_REQUEST,
                -4004,
                "Quantity less than min quantity.",
            ));
        }
        let price = if market {
            if param(&p, "price").is_some() {
                return bad(err(
                    StatusCode::BAD_REQUEST,
                    -1106,
                    "Parameter 'price' sent when not required.",
                ));
            }
            None
        } else {
            if param(&p, "timeInForce").is_none() {
                return bad(mandatory("timeInForce"));
            }
            let Some(price) = param(&p, "price")
                .and_then(dec)
                .filter(|p| *p > Decimal::ZERO)
            else {
                return bad(mandatory("price"));
            };
            if !on_step(price, lit(sp.tick)) {
                return bad(err(
                    StatusCode::BAD_REQUEST,
                    -4014,
                    "Price not increased by tick size.",
                ));
            }
            Some(price)
        };
        let reduce_only = match param(&p, "reduceOnly") {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                return bad(err(
                    StatusCode::BAD_REQUEST,
                    -1130,
                    "Data sent for parameter 'reduceOnly' is not valid.",
                ))
            }
        };
        let client_id = match param(&p, "newClientOrderId") {
            Some(id) if valid_client_id(id) => id.to_owned(),
            Some(_) => {
                return bad(err(
                    StatusCode::BAD_REQUEST,
                    -4015,
                    "Client order id is not valid.",
                ))
            }
            // Binance makes one up when none is sent.
            None => format!("web_{}", shared.now_ms()),
        };
        let result = param(&p, "newOrderRespType") == Some("RESULT");
        let o = NewOrder {
            exchange: Exchange::Binance,
            client_order_id: client_id.clone(),
            symbol: symbol.to_owned(),
            spec: sp,
            buy,
            market,
            quantity: qty,
            base_quantity: qty,
            price,
            reduce_only,
            leg: Leg::Net,
        };
        let mut book = shared.book();
        // The id must be unique among *open* orders only: a filled order's id may be reused.
        if book.orders.iter().any(|o| {
            o.exchange == Exchange::Binance
                && o.client_order_id == client_id
                && o.state == OrderState::Open
        }) {
            return bad(err(
                StatusCode::BAD_REQUEST,
                -4116,
                "ClientOrderId is duplicated.",
            ));
        }
        if reduce_only && !can_reduce(&book, &o) {
            return bad(err(
                StatusCode::BAD_REQUEST,
                -2022,
                "ReduceOnly Order is rejected.",
            ));
        }
        let accepted = accept(shared, &mut book, o);
        drop(book);
        let mut answer = order_json(&accepted);
        if !result {
            // ACK: the order as it entered the book, before any fill.
            answer["status"] = json!("NEW");
            answer["executedQty"] = json!("0");
            answer["cumQty"] = json!("0");
            answer["cumQuote"] = json!("0");
            answer["avgPrice"] = json!("0.00000");
        }
        let ok = json_reply(StatusCode::OK, &answer);
        late_fault(shared, fault, ok, || {
            err(
                StatusCode::SERVICE_UNAVAILABLE,
                -1000,
                "Unknown error, please check your request or try again later.",
            )
        })
    }

    fn render_fault(f: &Fault) -> Answer {
        let retry = |r: Answer| match f.retry_after_seconds {
            Some(s) => with_header(r, "retry-after", s.to_string()),
            None => r,
        };
        match f.kind {
            FaultKind::Http429 => retry(err(
                StatusCode::TOO_MANY_REQUESTS,
                -1003,
                "Too many requests; current limit of IP(127.0.0.1) is 2400 requests per minute. Please use the websocket for live updates to avoid polling the API.",
            )),
            FaultKind::Http418 => retry(err(
                StatusCode::IM_A_TEAPOT,
                -1003,
                "Way too many requests; IP(127.0.0.1) banned. Please use the websocket for live updates to avoid bans.",
            )),
            _ => err(
                StatusCode::INTERNAL_SERVER_ERROR,
                -1001,
                "Internal error; unable to process your request. Please try again.",
            ),
        }
    }

    fn query(p: &[(String, String)], shared: &Shared) -> Answer {
        let Some(symbol) = param(p, "symbol") else {
            return mandatory("symbol");
        };
        let by_client = param(p, "origClientOrderId");
        let by_id = param(p, "orderId");
        if by_client.is_none() && by_id.is_none() {
            return mandatory("orderId");
        }
        let book = shared.book();
        // A reused client id names its latest order.
        let found = book.orders.iter().rev().find(|o| {
            o.exchange == Exchange::Binance
                && o.symbol == symbol
                && by_client.is_none_or(|c| o.client_order_id == c)
                && by_id.is_none_or(|i| o.exchange_order_id == i)
        });
        match found {
            Some(o) => json_reply(StatusCode::OK, &order_json(o)),
            None => err(StatusCode::BAD_REQUEST, -2013, "Order does not exist."),
        }
    }

    fn leverage(p: &[(String, String)], shared: &Shared) -> Answer {
        let Some(symbol) = param(p, "symbol") else {
            return mandatory("symbol");
        };
        if spec(symbol).is_none_or(|s| s.joined() != symbol) {
            return err(StatusCode::BAD_REQUEST, -1121, "Invalid symbol.");
        }
        let Some(lev) = param(p, "leverage").and_then(|l| l.parse::<u32>().ok()) else {
            return mandatory("leverage");
        };
        if !(1..=125).contains(&lev) {
            return err(StatusCode::BAD_REQUEST, -4028, "Leverage is not valid");
        }
        shared
            .book()
            .leverage
            .insert((Exchange::Binance, symbol.to_owned()), lev);
        json_reply(
            StatusCode::OK,
            &json!({"leverage": lev, "maxNotionalValue": "1000000", "symbol": symbol}),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// MEXC futures (contract API)
// ---------------------------------------------------------------------------------------------

mod mexc {
    use super::*;

    fn fail(code: i64, message: &str) -> Answer {
        json_reply(
            StatusCode::OK,
            &json!({"success": false, "code": code, "message": message}),
        )
    }

    fn ok(data: Value) -> Answer {
        json_reply(
            StatusCode::OK,
            &json!({"success": true, "code": 0, "data": data}),
        )
    }

    pub(super) fn route(shared: &Shared, call: &Call) -> Reply {
        let path = call.path.as_str();
        let r = match call.method {
            Method::GET if path == "/api/v1/contract/detail" => detail(call),
            Method::GET if path.starts_with("/api/v1/contract/fair_price/") => {
                fair_price(shared, &path["/api/v1/contract/fair_price/".len()..])
            }
            // The current documented path and the older one take the same body.
            Method::POST
                if path == "/api/v1/private/order/create"
                    || path == "/api/v1/private/order/submit" =>
            {
                return submit(shared, call)
            }
            Method::GET if path.starts_with("/api/v1/private/order/external/") => {
                match auth(shared, call) {
                    Ok(()) => external(shared, &path["/api/v1/private/order/external/".len()..]),
                    Err(r) => r,
                }
            }
            Method::GET if path == "/api/v1/private/position/leverage" => {
                match auth(shared, call) {
                    Ok(()) => leverage(shared, call),
                    Err(r) => r,
                }
            }
            Method::POST if path == "/api/v1/private/position/change_leverage" => {
                match auth(shared, call) {
                    Ok(()) => change_leverage(shared, call),
                    Err(r) => r,
                }
            }
            _ => text(StatusCode::NOT_FOUND, "Not Found"),
        };
        Reply::Now(r)
    }

    /// MEXC's GET parameter string: business parameters sorted by name, values URL-encoded as
    /// Java's `URLEncoder` does with `+` written `%20`.
    pub(super) fn sorted_params(query: &str) -> String {
        let mut params = query_params(query);
        params.sort_by(|a, b| a.0.cmp(&b.0));
        params
            .iter()
            .map(|(k, v)| format!("{k}={}", java_url_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    fn java_url_encode(s: &str) -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'*' | b'_') {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }

    /// `ApiKey`, `Request-Time` within `Recv-Window` seconds (default 10, at most 60) of the
    /// mock's clock when the request arrives, else 513, so nothing is recorded or looked up
    /// ("Time security" and the error code table of
    /// <https://mexcdevelop.github.io/apidocs/contract_v1_en/#time-security>), then `Signature`
    /// over `key + time + (sorted query | raw body)`, which does not cover the window.
    fn auth(shared: &Shared, call: &Call) -> Result<(), Answer> {
        let (Some(key), Some(time), Some(signature)) = (
            call.header("apikey"),
            call.header("request-time"),
            call.header("signature"),
        ) else {
            return Err(fail(401, "Unauthorized"));
        };
        if key != shared.credentials.mexc.api_key {
            return Err(fail(401, "Unauthorized"));
        }
        let window_s = call
            .header("recv-window")
            .and_then(|w| w.parse::<i64>().ok())
            .unwrap_or(10)
            .clamp(1, 60);
        let Ok(t) = time.parse::<i64>() else {
            return Err(fail(
                513,
                "Invalid request(for open api serves time more or less than 10s)",
            ));
        };
        if (shared.now_ms() - t).abs() > window_s * 1000 {
            return Err(fail(
                513,
                "Invalid request(for open api serves time more or less than 10s)",
            ));
        }
        let params = if call.method == Method::POST {
            call.body.clone()
        } else {
            sorted_params(&call.query)
        };
        if hmac_hex(
            &shared.credentials.mexc.api_secret,
            &format!("{key}{t}{params}"),
        ) != signature
        {
            return Err(fail(602, "Verify failed"));
        }
        Ok(())
    }

    fn contract_json(s: &Spec) -> Value {
        json!({
            "symbol": s.underscored(), "displayName": format!("{} PERPETUAL", s.underscored()),
            "baseCoin": s.base, "quoteCoin": s.quote, "settleCoin": s.quote,
            "contractSize": json_number(lit(s.contract_size)), "minLeverage": 1, "maxLeverage": 125,
            "priceScale": lit(s.tick).scale(), "volScale": 0,
            "priceUnit": json_number(lit(s.tick)), "volUnit": 1, "minVol": 1, "maxVol": 1000000,
            "state": 0, "apiAllowed": true, "positionOpenType": 3,
        })
    }

    fn detail(call: &Call) -> Answer {
        match param(&query_params(&call.query), "symbol") {
            Some(sym) => match spec(sym).filter(|s| s.underscored() == sym) {
                Some(s) => ok(contract_json(s)),
                None => fail(1001, "Contract does not exist!"),
            },
            None => ok(Value::Array(SPECS.iter().map(contract_json).collect())),
        }
    }

    /// The documented `{symbol, fairPrice, timestamp}`; an unlisted contract is code 1001.
    fn fair_price(shared: &Shared, symbol: &str) -> Answer {
        let symbol = percent_decode(symbol);
        if symbol.is_empty() || symbol.contains('/') {
            return text(StatusCode::NOT_FOUND, "Not Found");
        }
        let Some(s) = spec(&symbol).filter(|s| s.underscored() == symbol) else {
            return fail(1001, "Contract does not exist!");
        };
        let mark = shared.book().mark(Exchange::Mexc, s);
        ok(
            json!({"symbol": s.underscored(), "fairPrice": json_number(mark), "timestamp": shared.now_ms()}),
        )
    }

    fn submit(shared: &Shared, call: &Call) -> Reply {
        let fault = shared.book().take_fault(Exchange::Mexc);
        if let Err(r) = early_fault(&fault, render_fault) {
            return r;
        }
        if let Err(r) = auth(shared, call) {
            return Reply::Now(r);
        }
        let bad = |code, msg: &str| Reply::Now(fail(code, msg));
        let Ok(body) = serde_json::from_str::<Value>(&call.body) else {
            return bad(601, "Data decoding error");
        };
        let Some((symbol, sp)) = body.get("symbol").and_then(Value::as_str).and_then(|sym| {
            spec(sym)
                .filter(|s| s.underscored() == sym)
                .map(|s| (sym, s))
        }) else {
            return bad(1001, "Contract does not exist!");
        };
        let int = |k: &str| body.get(k).and_then(Value::as_i64);
        let side = match int("side") {
            Some(s @ 1..=4) => s,
            _ => return bad(2001, "Wrong order direction"),
        };
        let market = match int("type") {
            Some(5) => true,
            Some(1) => false,
            _ => return bad(2029, "Error order type"),
        };
        if !matches!(int("openType"), Some(1 | 2)) {
            return bad(2002, "Wrong opening type");
        }
        let Some(vol) = body
            .get("vol")
            .and_then(json_dec)
            .filter(|v| *v > Decimal::ZERO)
        else {
            return bad(2011, "Order quantity error");
        };
        // volUnit 1, minVol 1: whole contracts only.
        if !vol.fract().is_zero() || vol < Decimal::ONE {
            return bad(2015, "Price or quantity accuracy error");
        }
        let Some(price) = body.get("price").and_then(json_dec) else {
            return bad(600, "Parameter error");
        };
        let price = if market {
            None
        } else if price <= Decimal::ZERO || !on_step(price, lit(sp.tick)) {
            return bad(2015, "Price or quantity accuracy error");
        } else {
            Some(price)
        };
        let opening = matches!(side, 1 | 3);
        if opening {
            match int("leverage") {
                Some(1..=125) => {}
                Some(_) => return bad(2006, "Leverage ratio error"),
                None => return bad(600, "Parameter error"),
            }
        }
        let external = body
            .get("externalOid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if external.len() > 32 {
            return bad(2030, "External order ID is too long (Max. 32 bits )");
        }
        let leg = if matches!(side, 1 | 4) {
            Leg::Long
        } else {
            Leg::Short
        };
        let contract = lit(sp.contract_size);
        let o = NewOrder {
            exchange: Exchange::Mexc,
            client_order_id: external.clone(),
            symbol: symbol.to_owned(),
            spec: sp,
            buy: matches!(side, 1 | 2),
            market,
            quantity: vol,
            base_quantity: (vol * contract).normalize(),
            price,
            reduce_only: !opening,
            leg,
        };
        let mut book = shared.book();
        // MEXC keeps externalOid unique per account; a repeat is refused as a repeated request.
        if !external.is_empty()
            && book
                .orders
                .iter()
                .any(|o| o.exchange == Exchange::Mexc && o.client_order_id == external)
        {
            return bad(603, "Repeated requests");
        }
        if !opening && !can_reduce(&book, &o) {
            return bad(2009, "Positions do not exist or have been closed");
        }
        let accepted = accept(shared, &mut book, o);
        drop(book);
        let answer =
            ok(json!({"orderId": accepted.exchange_order_id, "ts": accepted.accepted_at_ms}));
        late_fault(shared, fault, answer, || {
            text(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
        })
    }

    fn render_fault(f: &Fault) -> Answer {
        match f.kind {
            FaultKind::Http429 => fail(510, "Excessive frequency of requests"),
            FaultKind::Http418 => text(StatusCode::FORBIDDEN, "Access Denied"),
            _ => text(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
        }
    }

    fn external(shared: &Shared, rest: &str) -> Answer {
        let Some((symbol, oid)) = rest.split_once('/') else {
            return fail(600, "Parameter error");
        };
        let oid = percent_decode(oid);
        let book = shared.book();
        let found = book.orders.iter().rev().find(|o| {
            o.exchange == Exchange::Mexc && o.symbol == symbol && o.client_order_id == oid
        });
        let Some(o) = found else {
            return fail(2040, "order not exist");
        };
        let side = match (o.side.as_str(), o.reduce_only) {
            ("Buy", false) => 1,
            ("Buy", true) => 2,
            ("Sell", false) => 3,
            _ => 4,
        };
        let avg = o.average_price.unwrap_or_default();
        ok(json!({
            "orderId": o.exchange_order_id, "symbol": o.symbol, "positionId": 0,
            "price": json_number(o.price.unwrap_or_default()), "priceStr": o.price.unwrap_or_default().to_string(),
            "vol": json_number(o.quantity), "leverage": 1, "side": side, "category": 1,
            "orderType": if o.order_type == "Market" { 5 } else { 1 },
            "dealAvgPrice": json_number(avg), "dealAvgPriceStr": avg.to_string(),
            "dealVol": json_number(o.filled_quantity), "orderMargin": 0, "takerFee": 0, "makerFee": 0,
            "profit": 0, "feeCurrency": "USDT", "openType": 1,
            "state": match o.state { OrderState::Open => 2, OrderState::Filled => 3 },
            "externalOid": o.client_order_id, "errorCode": 0, "usedMargin": 0,
            "createTime": o.accepted_at_ms, "updateTime": o.accepted_at_ms,
        }))
    }

    fn leverage(shared: &Shared, call: &Call) -> Answer {
        let Some(symbol) = param(&query_params(&call.query), "symbol").map(str::to_owned) else {
            return fail(600, "Parameter error");
        };
        if spec(&symbol).is_none_or(|s| s.underscored() != symbol) {
            return fail(1001, "Contract does not exist!");
        }
        let lev = shared
            .book()
            .leverage
            .get(&(Exchange::Mexc, symbol.clone()))
            .copied()
            .unwrap_or(20);
        let leg = |position_type: i64| {
            json!({"level": 1, "maxVol": 1000000, "mmr": 0.004, "imr": 0.008, "positionType": position_type,
                   "openType": 1, "leverage": lev, "limitBySys": false, "currentMmr": 0.004, "maxLeverageView": 125})
        };
        ok(json!([leg(1), leg(2)]))
    }

    fn change_leverage(shared: &Shared, call: &Call) -> Answer {
        let Ok(body) = serde_json::from_str::<Value>(&call.body) else {
            return fail(601, "Data decoding error");
        };
        let Some(lev) = body
            .get("leverage")
            .and_then(Value::as_u64)
            .and_then(|l| u32::try_from(l).ok())
        else {
            return fail(600, "Parameter error");
        };
        if !(1..=125).contains(&lev) {
            return fail(2006, "Leverage ratio error");
        }
        let Some(symbol) = body.get("symbol").and_then(Value::as_str) else {
            return fail(600, "Parameter error");
        };
        shared
            .book()
            .leverage
            .insert((Exchange::Mexc, symbol.to_owned()), lev);
        json_reply(StatusCode::OK, &json!({"success": true, "code": 0}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse_from_the_control_json() {
        let f = Fault::from_json(
            &json!({"exchange":"binance","fault":"http_429","retry_after":2,"count":3}),
        );
        assert_eq!(
            f.ok(),
            Some(
                Fault::new(Exchange::Binance, FaultKind::Http429)
                    .retry_after(2)
                    .times(3)
            )
        );
        assert!(Fault::from_json(&json!({"exchange":"paper","fault":"http_500"})).is_err());
        assert!(Fault::from_json(&json!({"exchange":"mexc","fault":"nope"})).is_err());
        let t = Fault::from_json(
            &json!({"exchange":"mexc","fault":"timeout_after_accept","delay_ms":1500}),
        );
        assert_eq!(
            t.ok().and_then(|f| f.delay),
            Some(Duration::from_millis(1500))
        );
    }

    #[test]
    fn marks_parse_from_the_control_json_and_name_listed_instruments() {
        let m =
            MarkPrice::from_json(&json!({"exchange":"mexc","symbol":"BTC_USDT","price":"64000.5"}));
        assert_eq!(
            m.ok(),
            Some(MarkPrice::new(Exchange::Mexc, "BTC_USDT", lit("64000.5")))
        );
        let n =
            MarkPrice::from_json(&json!({"exchange":"bybit","symbol":"ETHUSDT","price":2999.25}));
        assert_eq!(n.ok().map(|n| n.price), Some(lit("2999.25")));
        for bad in [
            json!({"exchange":"paper","symbol":"BTCUSDT","price":"1"}),
            json!({"exchange":"bybit","price":"1"}),
            json!({"exchange":"bybit","symbol":"BTCUSDT","price":"cheap"}),
        ] {
            assert!(MarkPrice::from_json(&bad).is_err(), "{bad}");
        }
        let mut book = Book::default();
        assert!(book
            .set_mark(&MarkPrice::new(Exchange::Bybit, "DOGEUSDT", lit("1")))
            .is_err());
        let btc = spec("BTCUSDT").unwrap_or_else(|| panic!("BTC is listed"));
        assert_eq!(book.mark(Exchange::Bybit, btc), lit("65000"));
        assert!(book
            .set_mark(&MarkPrice::new(Exchange::Bybit, "BTC/USDT", lit("64000")))
            .is_ok());
        assert_eq!(book.mark(Exchange::Bybit, btc), lit("64000"));
        assert_eq!(book.mark(Exchange::Binance, btc), lit("65000"));
    }

    #[test]
    fn a_fault_serves_count_submits() {
        let mut book = Book::default();
        book.queue(Fault::new(Exchange::Bybit, FaultKind::Http500).times(2));
        assert!(book.take_fault(Exchange::Binance).is_none());
        assert!(book.take_fault(Exchange::Bybit).is_some());
        assert!(book.take_fault(Exchange::Bybit).is_some());
        assert!(book.take_fault(Exchange::Bybit).is_none());
    }

    #[test]
    fn percent_decoding_and_signature_split() {
        assert_eq!(percent_decode("a%20b%2Fc+d"), "a b/c d");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(
            query_params("symbol=BTCUSDT&x=1%2B1"),
            vec![
                ("symbol".to_string(), "BTCUSDT".to_string()),
                ("x".into(), "1+1".into())
            ]
        );
        assert_eq!(
            mexc::sorted_params("symbol=BTC_USDT&a=b%20c%7E"),
            "a=b%20c%7E&symbol=BTC_USDT"
        );
    }
}
