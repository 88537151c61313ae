//! The mock exchanges driven by the real adapters over real HTTP: signed orders are accepted, a
//! wrong signature, a stale clock or a wrong key are refused with each exchange's own code, the
//! client-order-id rules of each exchange hold, every injected fault reaches the adapter as
//! the error class the worker must act on, and each exchange's public price is the mark a test
//! set, refused in the exchange's own words for a symbol it does not list.

use contracts::event::OrderAck;
use contracts::signal::{Exchange, OrderType};
use contracts::symbol::Symbol;
use exchanges::order::{OrderRequest, Side};
use exchanges::venue::{
    Context, Credentials, ErrorClass, ExchangeError, HttpRequest, HttpResponse, Instrument, Limits,
    MarginType, Method, OpenPosition, Placement, PositionMode, PriceKind, QueryResult,
    ReferencePrice, Venue,
};
use integration::mock_exchange::{
    Fault, FaultKind, FillLater, MockExchanges, MockOptions, OrderState, Switches,
};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::str::FromStr;
use std::time::Duration;

const REAL: [Exchange; 3] = [Exchange::Bybit, Exchange::Binance, Exchange::Mexc];

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_else(|_| panic!("{s}"))
}

fn venue(ex: Exchange) -> &'static dyn Venue {
    exchanges::venue(ex).unwrap_or_else(|| panic!("{ex} has a venue"))
}

/// How one exchange call ended, as the worker would see it.
#[derive(Debug)]
enum Sent<T> {
    Done(T),
    Refused(ExchangeError),
    /// No answer at all: timeout, reset, closed connection.
    Transport(reqwest::Error),
}

impl<T: std::fmt::Debug> Sent<T> {
    fn done(self) -> T {
        match self {
            Sent::Done(v) => v,
            other => panic!("expected success, got {other:?}"),
        }
    }

    fn refused(self) -> ExchangeError {
        match self {
            Sent::Refused(e) => e,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn transport(self) -> reqwest::Error {
        match self {
            Sent::Transport(e) => e,
            other => panic!("expected a transport failure, got {other:?}"),
        }
    }
}

/// A mock plus an HTTP client, with the adapters wired to it as the worker would.
struct Rig {
    mock: MockExchanges,
    http: reqwest::Client,
}

impl Rig {
    async fn start() -> Self {
        Self::with_client(Duration::from_secs(10)).await
    }

    /// A rig whose client gives up after `timeout` (the worker's exchange timeout).
    async fn with_client(timeout: Duration) -> Self {
        let mock = MockExchanges::start_with(MockOptions::default())
            .await
            .unwrap_or_else(|e| panic!("mock: {e}"));
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .unwrap_or_else(|e| panic!("client: {e}"));
        Self { mock, http }
    }

    fn ctx(&self, ex: Exchange) -> Context {
        Context {
            base_url: self.mock.base_url(ex),
            now_ms: self.mock.now_ms(),
            recv_window_ms: 5000,
        }
    }

    fn creds(&self, ex: Exchange) -> Credentials {
        self.mock
            .credentials()
            .get(ex)
            .cloned()
            .unwrap_or_else(|| panic!("{ex} credentials"))
    }

    async fn send(&self, req: &HttpRequest) -> Result<HttpResponse, reqwest::Error> {
        let mut b = match req.method {
            Method::Get => self.http.get(&req.url),
            Method::Post => self.http.post(&req.url),
            Method::Delete => self.http.delete(&req.url),
        };
        for (k, v) in &req.headers {
            b = b.header(k, v);
        }
        if let Some(body) = &req.body {
            b = b.body(body.clone());
        }
        let resp = b.send().await?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
            .collect();
        let body = resp.text().await?;
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }

    async fn instrument(&self, ex: Exchange, symbol: &Symbol) -> exchanges::venue::Instrument {
        let v = venue(ex);
        let resp = self
            .send(&v.instrument_request(&self.ctx(ex), symbol))
            .await
            .unwrap_or_else(|e| panic!("{ex} instrument: {e}"));
        v.parse_instrument(symbol, &resp)
            .unwrap_or_else(|e| panic!("{ex} instrument: {e}"))
    }

    /// Builds, signs and sends `order` with `creds` and `ctx`, and reads the answer.
    async fn submit_with(
        &self,
        order: &OrderRequest,
        ctx: &Context,
        creds: &Credentials,
    ) -> Sent<OrderAck> {
        let v = venue(order.exchange);
        let instrument = self.instrument(order.exchange, &order.symbol).await;
        let req = match v.order_request(ctx, creds, order, &instrument) {
            Ok(r) => r,
            Err(e) => return Sent::Refused(e),
        };
        match self.send(&req).await {
            Ok(resp) => match v.parse_order(order, &resp) {
                Ok(ack) => Sent::Done(ack),
                Err(e) => Sent::Refused(e),
            },
            Err(e) => Sent::Transport(e),
        }
    }

    async fn submit(&self, order: &OrderRequest) -> Sent<OrderAck> {
        let ex = order.exchange;
        self.submit_with(order, &self.ctx(ex), &self.creds(ex))
            .await
    }

    /// Builds `order` against `instrument` as given (its limits and placement), sends it and
    /// reads the answer.
    async fn submit_placed(&self, order: &OrderRequest, instrument: &Instrument) -> Sent<OrderAck> {
        let ex = order.exchange;
        let v = venue(ex);
        let req = match v.order_request(&self.ctx(ex), &self.creds(ex), order, instrument) {
            Ok(r) => r,
            Err(e) => return Sent::Refused(e),
        };
        match self.send(&req).await {
            Ok(resp) => match v.parse_order(order, &resp) {
                Ok(ack) => Sent::Done(ack),
                Err(e) => Sent::Refused(e),
            },
            Err(e) => Sent::Transport(e),
        }
    }

    /// `order` as the adapter writes it when the instrument's size limits are not known, so
    /// the mock's own limits decide (the adapter checks them first otherwise).
    async fn submit_unchecked(&self, order: &OrderRequest) -> Sent<OrderAck> {
        let mut i = self.instrument(order.exchange, &order.symbol).await;
        i.limits = Limits::default();
        self.submit_placed(order, &i).await
    }

    /// A signed read (`req`) of the venue, parsed with `parse`.
    async fn read<T>(
        &self,
        req: &HttpRequest,
        parse: impl FnOnce(&HttpResponse) -> Result<T, ExchangeError>,
    ) -> Result<T, ExchangeError> {
        let resp = self
            .send(req)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", req.url));
        parse(&resp)
    }

    /// The account's position mode for `symbol`, read as the trade-worker reads it.
    async fn position_mode(
        &self,
        ex: Exchange,
        symbol: &Symbol,
    ) -> Result<PositionMode, ExchangeError> {
        let v = venue(ex);
        let req = v.position_mode_request(&self.ctx(ex), &self.creds(ex), symbol);
        self.read(&req, |r| v.parse_position_mode(symbol, r)).await
    }

    /// The open position `order` meets, where the venue reads one (MEXC).
    async fn position_of(&self, order: &OrderRequest) -> Option<OpenPosition> {
        let ex = order.exchange;
        let v = venue(ex);
        let req = v.position_margin_request(&self.ctx(ex), &self.creds(ex), order)?;
        self.read(&req, |r| v.parse_position_margin(order, r))
            .await
            .unwrap_or_else(|e| panic!("{ex} open position: {e}"))
    }

    /// What the trade-worker's prepare does before a submit (`consumers::exchange`): the
    /// instrument's rules, the exchange's mark, the account's position mode, and on MEXC the
    /// open position the order meets, its leverage brought to the order's; elsewhere the
    /// symbol's leverage set.
    async fn prepare(&self, order: &OrderRequest) -> Result<Instrument, ExchangeError> {
        let ex = order.exchange;
        let v = venue(ex);
        let (ctx, creds) = (self.ctx(ex), self.creds(ex));
        let mut instrument = self.instrument(ex, &order.symbol).await;
        let mark = self.price(ex, &order.symbol).await?.price;
        let mode = self.position_mode(ex, &order.symbol).await?;
        let position = match v.position_margin_request(&ctx, &creds, order) {
            Some(req) => {
                let position = self
                    .read(&req, |r| v.parse_position_margin(order, r))
                    .await?;
                if let Some(change) = position
                    .as_ref()
                    .and_then(|p| v.leverage_change_request(&ctx, &creds, order, p))
                {
                    self.read(&change, |r| v.parse_leverage(r)).await?;
                }
                position
            }
            None => {
                if !order.reduce_only {
                    let req = v.leverage_request(&ctx, &creds, &order.symbol, order.leverage);
                    self.read(&req, |r| v.parse_leverage(r)).await?;
                }
                None
            }
        };
        instrument.placement = Placement {
            position_mode: Some(mode),
            position,
            reference_price: Some(mark),
        };
        Ok(instrument)
    }

    /// [`Self::prepare`], then the order.
    async fn submit_prepared(&self, order: &OrderRequest) -> Sent<OrderAck> {
        match self.prepare(order).await {
            Ok(i) => self.submit_placed(order, &i).await,
            Err(e) => Sent::Refused(e),
        }
    }

    /// Looks the order up as the trade-worker's reconcile does: every lookup of the venue
    /// until one finds it.
    async fn query(&self, order: &OrderRequest) -> QueryResult {
        let ex = order.exchange;
        let v = venue(ex);
        for req in v.query_requests(&self.ctx(ex), &self.creds(ex), order) {
            let resp = self
                .send(&req)
                .await
                .unwrap_or_else(|e| panic!("{ex} query: {e}"));
            let found = v
                .parse_query(order, &resp)
                .unwrap_or_else(|e| panic!("{ex} query: {e}"));
            if found != QueryResult::NotFound {
                return found;
            }
        }
        QueryResult::NotFound
    }

    /// [`Self::query`] for an order that must exist.
    async fn found(&self, order: &OrderRequest) -> OrderAck {
        match self.query(order).await {
            QueryResult::Found(ack) => ack,
            other => panic!(
                "{}: order {} not found by its client id: {other:?}",
                order.exchange, order.client_order_id
            ),
        }
    }

    /// The exchange's own price of `symbol`, fetched and read as the worker does.
    async fn price(&self, ex: Exchange, symbol: &Symbol) -> Result<ReferencePrice, ExchangeError> {
        let v = venue(ex);
        let resp = self
            .send(&v.price_request(&self.ctx(ex), symbol))
            .await
            .unwrap_or_else(|e| panic!("{ex} price: {e}"));
        v.parse_price(symbol, &resp)
    }

    /// [`Self::price`] for a price that must be there.
    async fn mark(&self, ex: Exchange, symbol: &Symbol) -> Decimal {
        self.price(ex, symbol)
            .await
            .unwrap_or_else(|e| panic!("{ex} price of {symbol}: {e}"))
            .price
    }

    async fn set_leverage(&self, ex: Exchange, leverage: u8) -> Result<(), ExchangeError> {
        let v = venue(ex);
        let sym = btc();
        let resp = self
            .send(&v.leverage_request(&self.ctx(ex), &self.creds(ex), &sym, leverage))
            .await
            .unwrap_or_else(|e| panic!("{ex} leverage: {e}"));
        v.parse_leverage(&resp)
    }

    fn orders_of(&self, ex: Exchange) -> Vec<integration::mock_exchange::AcceptedOrder> {
        self.mock
            .orders()
            .into_iter()
            .filter(|o| o.exchange == ex)
            .collect()
    }
}

fn sym(s: &str) -> Symbol {
    Symbol::parse(s).unwrap_or_else(|e| panic!("{e}"))
}

fn btc() -> Symbol {
    sym("BTCUSDT")
}

/// A market buy of `qty` BTC opening a position, under client order id `id`.
fn market(ex: Exchange, id: &str, qty: &str) -> OrderRequest {
    OrderRequest {
        exchange: ex,
        client_order_id: id.into(),
        symbol: btc(),
        side: Side::Buy,
        order_type: OrderType::Market,
        quantity: d(qty),
        price: None,
        reduce_only: false,
        leverage: 5,
        take_profit: None,
        stop_loss: None,
        testnet: false,
    }
}

fn limit(ex: Exchange, id: &str, qty: &str, price: &str) -> OrderRequest {
    OrderRequest {
        order_type: OrderType::Limit,
        price: Some(d(price)),
        ..market(ex, id, qty)
    }
}

/// A 32-character id of `[a-z0-9]`, as `contracts::idempotency::client_order_id` makes.
fn id(tag: &str) -> String {
    contracts::idempotency::client_order_id(tag, 0)
}

#[tokio::test]
async fn signed_market_orders_are_accepted_filled_and_found() {
    let rig = Rig::start().await;
    for ex in REAL {
        assert_eq!(rig.set_leverage(ex, 5).await, Ok(()), "{ex}");
        let o = market(ex, &id(&format!("fill-{ex}")), "0.0123");
        let ack = rig.submit(&o).await.done();
        assert_eq!(ack.client_order_id, o.client_order_id, "{ex}");
        // Bybit's and MEXC's create answers carry ids only: acknowledged, nothing filled yet.
        // Binance's RESULT answer is the market order's final state.
        let expected_ack_status = match ex {
            Exchange::Binance => "FILLED",
            _ => "Acknowledged",
        };
        assert_eq!(ack.status, expected_ack_status, "{ex}");
        if ex != Exchange::Binance {
            assert_eq!(
                (ack.filled_quantity, ack.average_price),
                (Decimal::ZERO, None),
                "{ex}: an acknowledgement invents no fill"
            );
        }
        let found = rig.found(&o).await;
        assert_eq!(found.exchange_order_id, ack.exchange_order_id, "{ex}");
        assert_eq!(found.average_price, Some(d("65000")), "{ex}");
        let orders = rig.orders_of(ex);
        assert_eq!(orders.len(), 1, "{ex}");
        assert_eq!(orders[0].state, OrderState::Filled);
        assert_eq!(orders[0].client_order_id, o.client_order_id);
        // 0.0123 BTC rounds down to the 0.001 step; MEXC counts 123 contracts of 0.0001 BTC.
        let (qty, base) = match ex {
            Exchange::Mexc => ("123", "0.0123"),
            _ => ("0.012", "0.012"),
        };
        assert_eq!(
            (orders[0].quantity, orders[0].base_quantity),
            (d(qty), d(base)),
            "{ex}"
        );
        assert_eq!(found.filled_quantity, d(qty), "{ex}");
        let instrument = rig.instrument(ex, &btc()).await;
        assert_eq!(
            instrument.base_quantity(found.filled_quantity),
            d(base),
            "{ex}"
        );
    }
}

#[tokio::test]
async fn limit_orders_rest_open_and_are_found() {
    let rig = Rig::start().await;
    for ex in REAL {
        let o = limit(ex, &id(&format!("rest-{ex}")), "0.01", "60000.04");
        rig.submit(&o).await.done();
        let found = rig.found(&o).await;
        let open = match ex {
            Exchange::Bybit => "New",
            Exchange::Binance => "NEW",
            _ => "Unfilled",
        };
        assert_eq!(found.status, open, "{ex}");
        assert_eq!(found.filled_quantity, Decimal::ZERO, "{ex}");
        let orders = rig.orders_of(ex);
        assert_eq!(
            orders[0].price,
            Some(d("60000")),
            "{ex}: price on the 0.1 tick"
        );
        assert_eq!(orders[0].state, OrderState::Open);
    }
}

/// A limit order priced through the market fills at once, as on the real exchanges, and a
/// lookup by client order id still finds it.
#[tokio::test]
async fn marketable_limit_orders_fill_at_once_and_are_found() {
    let rig = Rig::start().await;
    for ex in REAL {
        let o = limit(ex, &id(&format!("cross-{ex}")), "0.01", "66000");
        rig.submit(&o).await.done();
        let found = rig.found(&o).await;
        let filled = if ex == Exchange::Binance {
            "FILLED"
        } else {
            "Filled"
        };
        assert_eq!(found.status, filled, "{ex}");
        let orders = rig.orders_of(ex);
        assert_eq!(orders[0].state, OrderState::Filled, "{ex}");
        assert_eq!(
            orders[0].average_price,
            Some(d("65000")),
            "{ex}: filled at the mark"
        );
    }
}

/// Submits with credentials `wrong` makes from the right ones: each exchange refuses with its
/// code, terminally, and records no order.
async fn refused_credentials(
    tag: &str,
    codes: [(Exchange, &str); 3],
    wrong: impl Fn(Credentials) -> Credentials,
) {
    let rig = Rig::start().await;
    for (ex, code) in codes {
        let creds = wrong(rig.creds(ex));
        let e = rig
            .submit_with(&market(ex, &id(tag), "0.01"), &rig.ctx(ex), &creds)
            .await
            .refused();
        assert_eq!(e.code.as_deref(), Some(code), "{ex}: {e}");
        assert_eq!(e.class, ErrorClass::Terminal, "{ex}");
    }
    assert!(rig.mock.orders().is_empty());
}

#[tokio::test]
async fn a_wrong_signature_is_refused_with_the_exchange_code() {
    let codes = [
        (Exchange::Bybit, "10004"),
        (Exchange::Binance, "-1022"),
        (Exchange::Mexc, "602"),
    ];
    refused_credentials("badsig", codes, |c| Credentials {
        api_secret: "not-the-secret".into(),
        ..c
    })
    .await;
}

#[tokio::test]
async fn a_stale_or_future_timestamp_is_refused_with_the_exchange_code() {
    let rig = Rig::start().await;
    for (ex, code) in [
        (Exchange::Bybit, "10002"),
        (Exchange::Binance, "-1021"),
        (Exchange::Mexc, "513"),
    ] {
        for skew in [-60_000, 30_000] {
            let ctx = Context {
                now_ms: rig.mock.now_ms() + skew,
                ..rig.ctx(ex)
            };
            let e = rig
                .submit_with(&market(ex, &id("stale"), "0.01"), &ctx, &rig.creds(ex))
                .await
                .refused();
            assert_eq!(e.code.as_deref(), Some(code), "{ex} {skew}: {e}");
            // Refused before matching: safe to send again with a good clock.
            assert_eq!(
                e.class,
                ErrorClass::Retryable {
                    retry_after_seconds: None
                },
                "{ex}"
            );
        }
    }
    assert!(rig.mock.orders().is_empty());
    // The same order with the right clock goes through.
    rig.submit(&market(Exchange::Binance, &id("stale"), "0.01"))
        .await
        .done();
}

#[tokio::test]
async fn the_mock_clock_decides_the_window() {
    let rig = Rig::start().await;
    let ctx = rig.ctx(Exchange::Bybit);
    rig.mock.set_clock_offset_ms(10_000);
    let e = rig
        .submit_with(
            &market(Exchange::Bybit, &id("clock"), "0.01"),
            &ctx,
            &rig.creds(Exchange::Bybit),
        )
        .await
        .refused();
    assert_eq!(e.code.as_deref(), Some("10002"));
}

/// `req` with its `Recv-Window` header replaced by `window` (`None`: no header, so MEXC's
/// default applies). MEXC does not sign the window, so the signature still holds.
fn with_recv_window(mut req: HttpRequest, window: Option<&str>) -> HttpRequest {
    req.headers
        .retain(|(k, _)| !k.eq_ignore_ascii_case("recv-window"));
    if let Some(w) = window {
        req.headers.push(("Recv-Window".into(), w.into()));
    }
    req
}

/// The `Recv-Window` headers of `req`.
fn recv_windows(req: &HttpRequest) -> Vec<&str> {
    req.headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("recv-window"))
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Sends the adapter's signed MEXC order `o`, stamped `age_ms` before the mock's clock (so it
/// arrives that late) and carrying `window` as its `Recv-Window`.
async fn mexc_submit_aged(
    rig: &Rig,
    o: &OrderRequest,
    age_ms: i64,
    window: Option<&str>,
) -> Result<OrderAck, ExchangeError> {
    let v = venue(Exchange::Mexc);
    let instrument = rig.instrument(Exchange::Mexc, &o.symbol).await;
    let ctx = Context {
        now_ms: rig.mock.now_ms() - age_ms,
        ..rig.ctx(Exchange::Mexc)
    };
    let req = v
        .order_request(&ctx, &rig.creds(Exchange::Mexc), o, &instrument)
        .unwrap_or_else(|e| panic!("{e}"));
    let resp = rig
        .send(&with_recv_window(req, window))
        .await
        .unwrap_or_else(|e| panic!("mexc submit: {e}"));
    v.parse_order(o, &resp)
}

/// MEXC's "Time security": a signed request whose `Request-Time` is more than its
/// `Recv-Window` seconds (10 without the header) from the server's clock when it arrives is
/// refused with 513, before anything else: a late submit creates no order, and a late lookup
/// is refused rather than answered "order not exist" (which would invite a resubmit).
#[tokio::test]
async fn mexc_refuses_a_request_older_than_its_recv_window() {
    let rig = Rig::start().await;
    let ex = Exchange::Mexc;
    let refused_late = |r: Result<OrderAck, ExchangeError>, what: &str| {
        let e = r.err().unwrap_or_else(|| panic!("{what}: accepted"));
        assert_eq!(e.code.as_deref(), Some("513"), "{what}: {e}");
        assert_eq!(
            e.class,
            ErrorClass::Retryable {
                retry_after_seconds: None
            },
            "{what}"
        );
    };
    let o = market(ex, &id("mexc-late"), "0.01");
    // 6 s late: outside a 5 s window, inside the 10 s default.
    refused_late(
        mexc_submit_aged(&rig, &o, 6_000, Some("5")).await,
        "6 s late, window 5",
    );
    // 11 s late without the header: outside the default.
    refused_late(
        mexc_submit_aged(&rig, &o, 11_000, None).await,
        "11 s late, no window",
    );
    assert!(
        rig.mock.orders().is_empty(),
        "a refused late submit creates no order"
    );
    // The same externalOid, on time for its window, goes through.
    mexc_submit_aged(&rig, &o, 4_000, Some("5"))
        .await
        .unwrap_or_else(|e| panic!("4 s late, window 5: {e}"));
    let other = market(ex, &id("mexc-late-default"), "0.01");
    mexc_submit_aged(&rig, &other, 9_000, None)
        .await
        .unwrap_or_else(|e| panic!("9 s late, no window: {e}"));
    assert_eq!(rig.orders_of(ex).len(), 2);
    // A late lookup of an order that exists is refused, never "not found".
    let v = venue(ex);
    let late = Context {
        now_ms: rig.mock.now_ms() - 6_000,
        ..rig.ctx(ex)
    };
    let lookup = with_recv_window(v.query_request(&late, &rig.creds(ex), &o), Some("5"));
    let resp = rig
        .send(&lookup)
        .await
        .unwrap_or_else(|e| panic!("mexc query: {e}"));
    let e = v.parse_query(&o, &resp).err();
    assert_eq!(
        e.and_then(|e| e.code),
        Some("513".into()),
        "late lookup: {}",
        resp.body
    );
}

/// The adapter sends `Recv-Window: 5` (MEXC counts it in seconds) on every signed request, so
/// MEXC refuses one that arrives more than 5 s after its `Request-Time`, not only after its
/// default 10 s: the 15 s settle of `contracts::lifecycle` relies on that.
#[tokio::test]
async fn mexc_adapter_sends_a_5_s_recv_window_on_every_signed_request() {
    let rig = Rig::start().await;
    let ex = Exchange::Mexc;
    let v = venue(ex);
    let creds = rig.creds(ex);
    let o = market(ex, &id("mexc-window"), "0.01");
    // Arriving 6 s after its Request-Time: refused, and no order.
    let late = Context {
        now_ms: rig.mock.now_ms() - 6_000,
        ..rig.ctx(ex)
    };
    let e = rig.submit_with(&o, &late, &creds).await.refused();
    assert_eq!(e.code.as_deref(), Some("513"), "{e}");
    assert!(rig.mock.orders().is_empty());
    // Every signed request carries the header; the public reads are not signed and do not.
    let ctx = rig.ctx(ex);
    let instrument = rig.instrument(ex, &btc()).await;
    let mut signed = vec![
        v.order_request(&ctx, &creds, &o, &instrument)
            .unwrap_or_else(|e| panic!("{e}")),
        v.leverage_request(&ctx, &creds, &btc(), 5),
    ];
    signed.extend(v.query_requests(&ctx, &creds, &o));
    for req in &signed {
        assert_eq!(recv_windows(req), ["5"], "{}", req.url);
    }
    for req in [
        v.instrument_request(&ctx, &btc()),
        v.price_request(&ctx, &btc()),
    ] {
        assert!(recv_windows(&req).is_empty(), "{}", req.url);
    }
    // 4 s late is inside the window: accepted, and the lookup finds it.
    let on_time = Context {
        now_ms: rig.mock.now_ms() - 4_000,
        ..rig.ctx(ex)
    };
    rig.submit_with(&o, &on_time, &creds).await.done();
    assert_eq!(rig.found(&o).await.client_order_id, o.client_order_id);
    assert_eq!(rig.orders_of(ex).len(), 1);
}

#[tokio::test]
async fn a_wrong_key_is_refused_with_the_exchange_code() {
    let codes = [
        (Exchange::Bybit, "10003"),
        (Exchange::Binance, "-2015"),
        (Exchange::Mexc, "401"),
    ];
    refused_credentials("badkey", codes, |c| Credentials {
        api_key: "someone-else".into(),
        ..c
    })
    .await;
}

#[tokio::test]
async fn bybit_refuses_any_reuse_of_an_order_link_id() {
    let rig = Rig::start().await;
    let o = market(Exchange::Bybit, &id("bybit-dup"), "0.01");
    rig.submit(&o).await.done();
    let e = rig.submit(&o).await.refused();
    assert_eq!(e.code.as_deref(), Some("110072"));
    // The order exists: the worker must look it up, not give up.
    assert_eq!(e.class, ErrorClass::Unknown);
    assert_eq!(rig.orders_of(Exchange::Bybit).len(), 1);
    assert!(matches!(rig.query(&o).await, QueryResult::Found(_)));
}

#[tokio::test]
async fn binance_accepts_a_reused_id_once_the_first_order_filled_but_not_while_open() {
    let rig = Rig::start().await;
    let o = market(Exchange::Binance, &id("binance-reuse"), "0.01");
    let first = rig.submit(&o).await.done();
    let second = rig.submit(&o).await.done();
    assert_ne!(first.exchange_order_id, second.exchange_order_id);
    // Two real orders under one id: the exchange is no guard, the idempotency claim is.
    assert_eq!(rig.orders_of(Exchange::Binance).len(), 2);
    let latest = rig.found(&o).await;
    assert_eq!(latest.exchange_order_id, second.exchange_order_id);

    let resting = limit(Exchange::Binance, &id("binance-open"), "0.01", "60000");
    rig.submit(&resting).await.done();
    let e = rig.submit(&resting).await.refused();
    assert_eq!(e.code.as_deref(), Some("-4116"));
    assert_eq!(e.class, ErrorClass::Unknown);
    assert_eq!(rig.orders_of(Exchange::Binance).len(), 3);
}

#[tokio::test]
async fn mexc_refuses_a_repeated_external_oid() {
    let rig = Rig::start().await;
    let o = market(Exchange::Mexc, &id("mexc-dup"), "0.01");
    rig.submit(&o).await.done();
    let e = rig.submit(&o).await.refused();
    assert_eq!(e.code.as_deref(), Some("603"));
    assert_eq!(e.class, ErrorClass::Unknown);
    assert_eq!(rig.orders_of(Exchange::Mexc).len(), 1);
}

#[tokio::test]
async fn an_unknown_client_id_is_not_found() {
    let rig = Rig::start().await;
    for ex in REAL {
        assert_eq!(
            rig.query(&market(ex, &id("never-sent"), "0.01")).await,
            QueryResult::NotFound,
            "{ex}"
        );
        assert_eq!(
            rig.query(&limit(ex, &id("never-sent"), "0.01", "60000"))
                .await,
            QueryResult::NotFound,
            "{ex}"
        );
    }
}

/// Issue 13, item 6: an order in flight may not be visible yet. Under `visible_after_ms` every
/// lookup route of every exchange misses an accepted order until its time has passed, so a
/// worker that took "not found" as "never placed" would order twice.
#[tokio::test]
async fn an_order_is_found_only_once_visible() {
    let rig = Rig::start().await;
    for ex in REAL {
        switch(
            &rig,
            ex,
            Switches {
                visible_after_ms: Some(1_500),
                ..Switches::default()
            },
        );
        let o = market(ex, &id(&format!("unseen-{ex}")), "0.01");
        rig.submit(&o).await.done();
        assert_eq!(rig.orders_of(ex).len(), 1, "{ex}: the order was placed");
        assert!(
            !matches!(rig.query(&o).await, QueryResult::Found(_)),
            "{ex}: a lookup right after the submit must not see the order yet"
        );
        tokio::time::sleep(Duration::from_millis(1_600)).await;
        let found = rig.found(&o).await;
        assert_eq!(found.client_order_id, o.client_order_id, "{ex}");
    }
    assert!(
        Switches::from_json(Exchange::Bybit, &json!({"visible_after_ms": "soon"})).is_err(),
        "a malformed delay is refused, not ignored"
    );
}

#[tokio::test]
async fn closing_without_a_position_is_refused_and_closing_a_position_works() {
    let rig = Rig::start().await;
    for (ex, code) in [
        (Exchange::Bybit, "110017"),
        (Exchange::Binance, "-2022"),
        (Exchange::Mexc, "2009"),
    ] {
        let close = OrderRequest {
            side: Side::Sell,
            reduce_only: true,
            ..market(ex, &id(&format!("close-{ex}")), "0.01")
        };
        let e = rig.submit(&close).await.refused();
        assert_eq!(e.code.as_deref(), Some(code), "{ex}: {e}");
        assert_eq!(e.class, ErrorClass::Terminal, "{ex}");
        rig.submit(&market(ex, &id(&format!("open-{ex}")), "0.01"))
            .await
            .done();
        let close = OrderRequest {
            client_order_id: id(&format!("close2-{ex}")),
            ..close
        };
        rig.submit(&close).await.done();
    }
}

/// A reduce-only order larger than its position executes only the position, and says so: its
/// filled quantity is what it closed (Bybit fixes the quantity, Binance and MEXC close what is
/// open), the rest cancelled. The mock before this reported the whole order filled while the
/// position moved by half, so hoox's books (which trust the order) and the exchange's
/// position disagreed after chaos.
#[tokio::test]
async fn a_reduce_only_order_larger_than_its_position_fills_only_the_position() {
    let rig = Rig::start().await;
    for ex in REAL {
        rig.submit(&market(ex, &id(&format!("half-{ex}")), "0.005"))
            .await
            .done();
        let close = OrderRequest {
            side: Side::Sell,
            reduce_only: true,
            ..market(ex, &id(&format!("overclose-{ex}")), "0.01")
        };
        rig.submit(&close).await.done();
        let found = rig.found(&close).await;
        let orders = rig.orders_of(ex);
        let placed = orders
            .iter()
            .find(|o| o.client_order_id == close.client_order_id)
            .expect("the close was placed");
        let half = placed.quantity / Decimal::TWO;
        assert_eq!(
            placed.filled_quantity, half,
            "{ex}: it filled what was open"
        );
        assert_eq!(
            placed.state,
            OrderState::Cancelled,
            "{ex}: the rest is cancelled"
        );
        assert_eq!(found.filled_quantity, half, "{ex}: the lookup says so too");
    }
}

/// A reduce-only order that rested while its position flipped never grows the new one: when it
/// would fill, it fills nothing and is cancelled. The mock before this filled it, growing the
/// flipped position, which the ledger chaos found as hoox's books one order short of Binance's.
#[tokio::test]
async fn a_resting_reduce_only_order_never_grows_a_flipped_position() {
    let rig = Rig::start().await;
    for ex in [Exchange::Bybit, Exchange::Binance] {
        rig.submit(&market(ex, &id(&format!("long-{ex}")), "0.01"))
            .await
            .done();
        rig.mock.fill_later(FillLater::after_lookups(ex, 1));
        let close = OrderRequest {
            side: Side::Sell,
            reduce_only: true,
            ..market(ex, &id(&format!("rest-close-{ex}")), "0.01")
        };
        rig.submit(&close).await.done();
        // The position flips to a short before the close fills.
        let flip = OrderRequest {
            side: Side::Sell,
            ..market(ex, &id(&format!("flip-{ex}")), "0.02")
        };
        rig.submit(&flip).await.done();
        let found = rig.found(&close).await;
        assert_eq!(
            found.filled_quantity,
            Decimal::ZERO,
            "{ex}: it fills nothing"
        );
        let placed = rig
            .orders_of(ex)
            .into_iter()
            .find(|o| o.client_order_id == close.client_order_id)
            .expect("placed");
        assert_eq!(placed.state, OrderState::Cancelled, "{ex}");
        let held: Vec<_> = rig
            .mock
            .held_positions()
            .into_iter()
            .filter(|p| p.exchange == ex)
            .map(|p| (p.side, p.size))
            .collect();
        assert_eq!(held, vec![("short", d("0.01"))], "{ex}");
    }
}

#[tokio::test]
async fn leverage_is_set_and_not_modified_is_success() {
    let rig = Rig::start().await;
    // A fresh Bybit account sits at 10x: 110043 "not modified" is success.
    assert_eq!(rig.set_leverage(Exchange::Bybit, 10).await, Ok(()));
    assert_eq!(rig.set_leverage(Exchange::Bybit, 3).await, Ok(()));
    assert_eq!(rig.set_leverage(Exchange::Bybit, 3).await, Ok(()));
    assert_eq!(rig.set_leverage(Exchange::Binance, 125).await, Ok(()));
    assert_eq!(rig.set_leverage(Exchange::Mexc, 7).await, Ok(()));
}

/// A symbol beyond BTC and ETH is listed with its own rules, which the mock enforces: SOLUSDT's
/// 0.1 lot step (MEXC: whole contracts of 0.1 SOL). An order the adapter writes off that step
/// (its instrument told of a finer one) is refused in each exchange's words; one on it fills
/// at SOL's mark.
#[tokio::test]
async fn a_listed_altcoin_keeps_its_own_lot_step_at_every_exchange() {
    let rig = Rig::start().await;
    let sol = |ex, tag: &str, qty: &str| OrderRequest {
        symbol: sym("SOLUSDT"),
        ..market(ex, &id(tag), qty)
    };
    for (ex, step, contract, finer, code) in [
        (Exchange::Bybit, "0.1", "1", "0.01", "10001"),
        (Exchange::Binance, "0.1", "1", "0.01", "-1111"),
        (Exchange::Mexc, "1", "0.1", "0.1", "2015"),
    ] {
        let listed = rig.instrument(ex, &sym("SOLUSDT")).await;
        assert_eq!(
            (listed.qty_step, listed.contract_size),
            (d(step), d(contract)),
            "{ex}"
        );
        let mut lax = listed.clone();
        lax.qty_step = d(finer);
        lax.limits = Limits::default();
        let e = rig
            .submit_placed(&sol(ex, "sol-off-step", "0.15"), &lax)
            .await
            .refused();
        assert_eq!(e.code.as_deref(), Some(code), "{ex}: {e}");
        let on_step = sol(ex, "sol-on-step", "0.2");
        rig.submit(&on_step).await.done();
        let found = rig.found(&on_step).await;
        assert_eq!(found.average_price, Some(d("150")), "{ex}");
        let orders = rig.orders_of(ex);
        assert_eq!(orders.len(), 1, "{ex}: only the on-step order");
        assert_eq!(orders[0].base_quantity, d("0.2"), "{ex}");
    }
}

#[tokio::test]
async fn below_the_minimum_never_leaves_the_adapter() {
    let rig = Rig::start().await;
    for ex in REAL {
        let e = rig
            .submit(&market(ex, &id("tiny"), "0.00001"))
            .await
            .refused();
        assert_eq!(e.class, ErrorClass::Terminal, "{ex}");
        assert!(e.message.contains("below the minimum"), "{ex}: {e}");
    }
    assert!(rig.mock.orders().is_empty());
}

#[tokio::test]
async fn http_500_refuses_the_submit_and_leaves_its_fate_to_a_lookup() {
    let rig = Rig::start().await;
    for ex in REAL {
        rig.mock.inject(Fault::new(ex, FaultKind::Http500));
        let o = market(ex, &id(&format!("f500-{ex}")), "0.01");
        let e = rig.submit(&o).await.refused();
        assert_eq!(e.status, 500, "{ex}");
        assert_eq!(
            e.class,
            ErrorClass::Unknown,
            "{ex}: a 5xx on a submit is never blind-retried"
        );
        assert!(rig.orders_of(ex).is_empty(), "{ex}");
        assert_eq!(rig.query(&o).await, QueryResult::NotFound, "{ex}");
        // The fault served one submit; the next goes through.
        rig.submit(&o).await.done();
    }
}

#[tokio::test]
async fn http_503_unknown_hides_an_accepted_order_that_a_lookup_finds() {
    let rig = Rig::start().await;
    for ex in REAL {
        rig.mock.inject(Fault::new(ex, FaultKind::Http503Unknown));
        let o = market(ex, &id(&format!("f503-{ex}")), "0.01");
        let e = rig.submit(&o).await.refused();
        assert_eq!((e.status, e.class), (503, ErrorClass::Unknown), "{ex}: {e}");
        assert_eq!(rig.orders_of(ex).len(), 1, "{ex}");
        assert!(matches!(rig.query(&o).await, QueryResult::Found(_)), "{ex}");
    }
    let binance = rig
        .mock
        .orders()
        .into_iter()
        .filter(|o| o.exchange == Exchange::Binance)
        .count();
    assert_eq!(binance, 1);
}

#[tokio::test]
async fn http_429_asks_for_a_retry_in_each_exchange_s_words() {
    let rig = Rig::start().await;
    for (ex, expected) in [
        (Exchange::Bybit, Some(2)),
        (Exchange::Binance, Some(2)),
        (Exchange::Mexc, None),
    ] {
        rig.mock
            .inject(Fault::new(ex, FaultKind::Http429).retry_after(2));
        let e = rig.submit(&market(ex, &id("f429"), "0.01")).await.refused();
        assert_eq!(
            e.class,
            ErrorClass::Retryable {
                retry_after_seconds: expected
            },
            "{ex}: {e}"
        );
        assert!(rig.orders_of(ex).is_empty(), "{ex}");
    }
}

#[tokio::test]
async fn http_418_is_a_ban() {
    let rig = Rig::start().await;
    for (ex, status, expected) in [
        (Exchange::Bybit, 403, Some(600)),
        (Exchange::Binance, 418, Some(30)),
        (Exchange::Mexc, 403, None),
    ] {
        rig.mock
            .inject(Fault::new(ex, FaultKind::Http418).retry_after(30));
        let e = rig.submit(&market(ex, &id("f418"), "0.01")).await.refused();
        assert_eq!(e.status, status, "{ex}");
        assert_eq!(
            e.class,
            ErrorClass::Banned {
                retry_after_seconds: expected
            },
            "{ex}: {e}"
        );
    }
    assert!(rig.mock.orders().is_empty());
}

#[tokio::test]
async fn timeout_after_accept_records_the_order_and_outlasts_the_client() {
    let rig = Rig::with_client(Duration::from_secs(1)).await;
    for ex in REAL {
        rig.mock
            .inject(Fault::new(ex, FaultKind::TimeoutAfterAccept).delay(Duration::from_secs(3)));
        let o = market(ex, &id(&format!("ftimeout-{ex}")), "0.01");
        let e = rig.submit(&o).await.transport();
        assert!(e.is_timeout(), "{ex}: {e}");
        assert_eq!(
            rig.orders_of(ex).len(),
            1,
            "{ex}: accepted before the silence"
        );
        assert!(matches!(rig.query(&o).await, QueryResult::Found(_)), "{ex}");
    }
}

/// Whether `e` was caused by a TCP reset (RST), not a clean close or a timeout.
fn is_connection_reset(e: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::ConnectionReset;
        }
        source = err.source();
    }
    false
}

#[tokio::test]
async fn reset_after_accept_records_the_order_and_drops_the_connection() {
    let rig = Rig::start().await;
    for ex in REAL {
        rig.mock.inject(Fault::new(ex, FaultKind::ResetAfterAccept));
        let o = market(ex, &id(&format!("freset-{ex}")), "0.01");
        let e = rig.submit(&o).await.transport();
        assert!(is_connection_reset(&e), "{ex}: {e:?}");
        assert_eq!(rig.orders_of(ex).len(), 1, "{ex}");
        assert!(matches!(rig.query(&o).await, QueryResult::Found(_)), "{ex}");
    }
}

#[tokio::test]
async fn a_fault_with_a_count_serves_that_many_submits() {
    let rig = Rig::start().await;
    rig.mock
        .inject(Fault::new(Exchange::Bybit, FaultKind::Http500).times(2));
    for n in 0..2 {
        let e = rig
            .submit(&market(Exchange::Bybit, &id(&format!("count-{n}")), "0.01"))
            .await
            .refused();
        assert_eq!(e.status, 500);
    }
    rig.submit(&market(Exchange::Bybit, &id("count-2"), "0.01"))
        .await
        .done();
    // Faults of one exchange never touch another.
    rig.mock
        .inject(Fault::new(Exchange::Mexc, FaultKind::Http500));
    rig.submit(&market(Exchange::Binance, &id("other"), "0.01"))
        .await
        .done();
}

#[tokio::test]
async fn control_api_queues_faults_lists_orders_and_resets() {
    let rig = Rig::start().await;
    let url = |p: &str| format!("{}/__mock/{p}", rig.mock.url());
    let r = rig
        .http
        .post(url("faults"))
        .json(&json!({"exchange": "binance", "fault": "http_429", "retry_after": 2, "count": 1}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status().as_u16(), 200);
    let e = rig
        .submit(&market(Exchange::Binance, &id("ctl-1"), "0.01"))
        .await
        .refused();
    assert_eq!(e.status, 429);
    rig.submit(&market(Exchange::Binance, &id("ctl-2"), "0.01"))
        .await
        .done();
    rig.submit(&market(Exchange::Mexc, &id("ctl-3"), "0.01"))
        .await
        .done();

    let orders: Value = rig
        .http
        .get(url("orders"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let list = orders["orders"].as_array().cloned().unwrap_or_default();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["exchange"], "binance");
    assert_eq!(list[0]["client_order_id"], id("ctl-2"));
    assert_eq!(list[0]["symbol"], "BTCUSDT");
    assert_eq!(list[0]["side"], "Buy");
    assert_eq!(list[0]["quantity"], "0.01");
    assert!(list[0]["accepted_at_ms"].as_i64().is_some());
    assert_eq!(list[1]["symbol"], "BTC_USDT");
    assert_eq!(list[1]["quantity"], "100");
    assert_eq!(list[1]["base_quantity"], "0.01");

    let bad = rig
        .http
        .post(url("faults"))
        .json(&json!({"exchange": "paper", "fault": "http_500"}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(bad.status().as_u16(), 400);

    let reset = rig
        .http
        .post(url("reset"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reset.status().as_u16(), 200);
    assert!(rig.mock.orders().is_empty());
}

#[tokio::test]
async fn every_fault_name_is_accepted_by_the_control_api() {
    let rig = Rig::start().await;
    let faults: Vec<Value> = FaultKind::ALL
        .iter()
        .map(|k| json!({"exchange": "mexc", "fault": k.as_str()}))
        .collect();
    let r: Value = rig
        .http
        .post(format!("{}/__mock/faults", rig.mock.url()))
        .json(&faults)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        r["queued"].as_array().map(Vec::len),
        Some(FaultKind::ALL.len())
    );
}

#[tokio::test]
async fn mexc_test_signals_never_reach_mexc() {
    let rig = Rig::start().await;
    assert!(venue(Exchange::Mexc).default_base_url(true).is_err());
    let o = OrderRequest {
        testnet: true,
        ..market(Exchange::Mexc, &id("mexc-test"), "0.01")
    };
    let e = rig.submit(&o).await.refused();
    assert_eq!(e.class, ErrorClass::Terminal);
    assert!(rig.mock.orders().is_empty());
}

#[tokio::test]
async fn each_exchange_publishes_its_mark_and_a_test_moves_it() {
    let rig = Rig::start().await;
    for (ex, kind) in [
        (Exchange::Bybit, PriceKind::Mark),
        (Exchange::Binance, PriceKind::Mark),
        (Exchange::Mexc, PriceKind::Fair),
    ] {
        assert_eq!(
            rig.price(ex, &btc()).await,
            Ok(ReferencePrice {
                symbol: venue(ex).symbol(&btc()),
                price: d("65000"),
                kind,
            }),
            "{ex}"
        );
        assert_eq!(rig.mark(ex, &sym("ETHUSDT")).await, d("3000"), "{ex}");
    }
    // Per exchange and symbol: the others keep theirs.
    rig.mock
        .set_price(Exchange::Binance, "BTCUSDT", d("64000.5"))
        .unwrap_or_else(|e| panic!("{e}"));
    rig.mock
        .set_price(Exchange::Mexc, "BTC_USDT", d("66000.1"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        rig.mock.price(Exchange::Binance, "BTC/USDT"),
        Some(d("64000.5"))
    );
    assert_eq!(rig.mark(Exchange::Binance, &btc()).await, d("64000.5"));
    assert_eq!(rig.mark(Exchange::Mexc, &btc()).await, d("66000.1"));
    assert_eq!(rig.mark(Exchange::Bybit, &btc()).await, d("65000"));
    assert_eq!(
        rig.mark(Exchange::Binance, &sym("ETHUSDT")).await,
        d("3000")
    );
    // Fills follow the mark.
    let o = market(Exchange::Binance, &id("moved-mark"), "0.01");
    rig.submit(&o).await.done();
    assert_eq!(rig.found(&o).await.average_price, Some(d("64000.5")));
    // A reset forgets what tests set.
    rig.mock.reset();
    assert_eq!(rig.mark(Exchange::Binance, &btc()).await, d("65000"));
    assert_eq!(rig.mark(Exchange::Mexc, &btc()).await, d("65000"));
}

#[tokio::test]
async fn an_unlisted_symbol_has_no_price_in_each_exchange_s_words() {
    let rig = Rig::start().await;
    let pepe = sym("PEPEUSDT");
    for (ex, status, code) in [
        (Exchange::Bybit, 200, "10001"),
        (Exchange::Binance, 400, "-1121"),
        (Exchange::Mexc, 200, "1001"),
    ] {
        let e = rig
            .price(ex, &pepe)
            .await
            .err()
            .unwrap_or_else(|| panic!("{ex}: a price for an unlisted symbol"));
        assert_eq!(
            (e.status, e.code.as_deref(), e.class),
            (status, Some(code), ErrorClass::Terminal),
            "{ex}: {e}"
        );
        assert!(
            rig.mock.set_price(ex, "PEPEUSDT", d("0.1")).is_err(),
            "{ex}"
        );
        assert_eq!(rig.mock.price(ex, "PEPEUSDT"), None, "{ex}");
    }
}

/// Sends a hand-written public GET to `ex`'s mock.
async fn public_get(rig: &Rig, ex: Exchange, path_and_query: &str) -> HttpResponse {
    rig.send(&HttpRequest::public_get(format!(
        "{}{path_and_query}",
        rig.mock.base_url(ex)
    )))
    .await
    .unwrap_or_else(|e| panic!("{ex} {path_and_query}: {e}"))
}

#[tokio::test]
async fn bybit_refuses_a_ticker_request_without_the_linear_category_or_an_uppercase_symbol() {
    let rig = Rig::start().await;
    let bybit = venue(Exchange::Bybit);
    for query in [
        "symbol=BTCUSDT",
        "category=&symbol=BTCUSDT",
        "category=linear&symbol=btcusdt",
    ] {
        let resp = public_get(
            &rig,
            Exchange::Bybit,
            &format!("/v5/market/tickers?{query}"),
        )
        .await;
        let e = bybit.parse_price(&btc(), &resp).err();
        assert_eq!(
            e.map(|e| (e.code, e.class)),
            Some((Some("10001".into()), ErrorClass::Terminal)),
            "{query}"
        );
    }
}

#[tokio::test]
async fn without_a_symbol_every_ticker_is_listed_and_the_adapter_finds_its_own() {
    let rig = Rig::start().await;
    rig.mock
        .set_price(Exchange::Bybit, "ETHUSDT", d("2999.5"))
        .unwrap_or_else(|e| panic!("{e}"));
    rig.mock
        .set_price(Exchange::Binance, "ETHUSDT", d("3001.25"))
        .unwrap_or_else(|e| panic!("{e}"));
    for (ex, path, expected) in [
        (
            Exchange::Bybit,
            "/v5/market/tickers?category=linear",
            "2999.5",
        ),
        (Exchange::Binance, "/fapi/v1/premiumIndex", "3001.25"),
    ] {
        let resp = public_get(&rig, ex, path).await;
        let listed: Value = serde_json::from_str(&resp.body).unwrap_or(Value::Null);
        let count = listed
            .pointer("/result/list")
            .or(Some(&listed))
            .and_then(Value::as_array)
            .map(Vec::len);
        assert_eq!(
            count,
            Some(integration::mock_exchange::listed_symbols().len()),
            "{ex}: {}",
            resp.body
        );
        let p = venue(ex)
            .parse_price(&sym("ETHUSDT"), &resp)
            .unwrap_or_else(|e| panic!("{ex}: {e}"));
        assert_eq!(p.price, d(expected), "{ex}");
    }
    // MEXC's fair price has the symbol in its path: without one there is no such route.
    let resp = public_get(&rig, Exchange::Mexc, "/api/v1/contract/fair_price/").await;
    assert_eq!(resp.status, 404);
}

#[tokio::test]
async fn a_zero_or_negative_mark_is_never_a_price() {
    let rig = Rig::start().await;
    for ex in REAL {
        for mark in ["0", "-65000"] {
            rig.mock
                .set_price(ex, "BTCUSDT", d(mark))
                .unwrap_or_else(|e| panic!("{e}"));
            let e = rig.price(ex, &btc()).await.err();
            assert_eq!(
                e.map(|e| e.class),
                Some(ErrorClass::Retryable {
                    retry_after_seconds: None
                }),
                "{ex} {mark}"
            );
        }
    }
}

#[tokio::test]
async fn control_api_sets_marks_all_or_nothing() {
    let rig = Rig::start().await;
    let url = format!("{}/__mock/prices", rig.mock.url());
    let post = |body: Value| {
        let req = rig.http.post(&url).json(&body);
        async move { req.send().await.unwrap_or_else(|e| panic!("{e}")) }
    };
    let r = post(json!([
        {"exchange": "bybit", "symbol": "BTCUSDT", "price": "61000"},
        {"exchange": "mexc", "symbol": "ETH_USDT", "price": 2900.5},
    ]))
    .await;
    assert_eq!(r.status().as_u16(), 200);
    let set: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(
        set["prices"][1],
        json!({"exchange": "mexc", "symbol": "ETHUSDT", "price": "2900.5"})
    );
    assert_eq!(rig.mark(Exchange::Bybit, &btc()).await, d("61000"));
    assert_eq!(rig.mark(Exchange::Mexc, &sym("ETHUSDT")).await, d("2900.5"));

    for bad in [
        json!([
            {"exchange": "bybit", "symbol": "BTCUSDT", "price": "1"},
            {"exchange": "bybit", "symbol": "PEPEUSDT", "price": "1"},
        ]),
        json!({"exchange": "paper", "symbol": "BTCUSDT", "price": "1"}),
        json!({"exchange": "binance", "symbol": "BTCUSDT", "price": "cheap"}),
    ] {
        assert_eq!(post(bad.clone()).await.status().as_u16(), 400, "{bad}");
    }
    assert_eq!(
        rig.mark(Exchange::Bybit, &btc()).await,
        d("61000"),
        "a refused batch sets nothing"
    );

    let reset = rig
        .http
        .post(format!("{}/__mock/reset", rig.mock.url()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reset.status().as_u16(), 200);
    assert_eq!(rig.mark(Exchange::Bybit, &btc()).await, d("65000"));
}

fn switch(rig: &Rig, ex: Exchange, switches: Switches) {
    rig.mock
        .set_switches(ex, switches)
        .unwrap_or_else(|e| panic!("{ex}: {e}"));
}

fn partial(fraction: &str) -> Switches {
    Switches {
        partial_fill: Some(d(fraction)),
        ..Switches::default()
    }
}

/// Issue 13, item 3: a market order that took part of the book and had its IOC remainder
/// cancelled is a fill of what executed, whatever the status word says.
#[tokio::test]
async fn a_market_order_filled_in_part_then_cancelled_is_a_fill_at_every_venue() {
    let rig = Rig::start().await;
    for (ex, acked, closed, filled) in [
        (Exchange::Bybit, "Acknowledged", "Cancelled", "0.005"),
        (Exchange::Binance, "EXPIRED", "EXPIRED", "0.005"),
        // 0.01 BTC is 100 contracts of 0.0001 BTC; half of them executed.
        (Exchange::Mexc, "Acknowledged", "Canceled", "50"),
    ] {
        switch(&rig, ex, partial("0.5"));
        let o = market(ex, &id(&format!("partial-{ex}")), "0.01");
        let ack = rig.submit(&o).await.done();
        assert_eq!(ack.status, acked, "{ex}");
        if ex == Exchange::Binance {
            // The RESULT answer is the final state: EXPIRED, with what executed.
            assert_eq!(
                (ack.filled_quantity, ack.average_price),
                (d(filled), Some(d("65000"))),
                "{ex}"
            );
        } else {
            assert_eq!(
                (ack.filled_quantity, ack.average_price),
                (Decimal::ZERO, None),
                "{ex}"
            );
        }
        let found = rig.found(&o).await;
        assert_eq!(found.status, closed, "{ex}: the exchange's word, verbatim");
        assert_eq!(found.filled_quantity, d(filled), "{ex}");
        assert_eq!(found.average_price, Some(d("65000")), "{ex}");
        assert_eq!(found.exchange_order_id, ack.exchange_order_id, "{ex}");
        let instrument = rig.instrument(ex, &btc()).await;
        assert_eq!(
            instrument.base_quantity(found.filled_quantity),
            d("0.005"),
            "{ex}"
        );
        let orders = rig.orders_of(ex);
        assert_eq!(orders.len(), 1, "{ex}");
        assert_eq!(
            (orders[0].state, orders[0].filled_quantity),
            (OrderState::Cancelled, d(filled)),
            "{ex}"
        );
    }
}

/// Issue 13, items 3 and 4: a market order that executed nothing is no fill. Binance's RESULT
/// answer says so at once (EXPIRED, executedQty 0: a definite refusal); Bybit and MEXC only
/// acknowledge, and the lookup shows the order closed with nothing executed.
#[tokio::test]
async fn a_market_order_that_expired_unfilled_is_no_fill() {
    let rig = Rig::start().await;
    for ex in REAL {
        switch(&rig, ex, partial("0"));
        let o = market(ex, &id(&format!("unfilled-{ex}")), "0.01");
        match ex {
            Exchange::Binance => {
                let e = rig.submit(&o).await.refused();
                assert_eq!((e.status, e.class), (200, ErrorClass::Terminal), "{e}");
                assert!(e.message.contains("EXPIRED"), "{e}");
            }
            _ => {
                let ack = rig.submit(&o).await.done();
                assert_eq!(ack.status, "Acknowledged", "{ex}");
                assert_eq!(ack.filled_quantity, Decimal::ZERO, "{ex}");
            }
        }
        let found = rig.found(&o).await;
        assert_eq!(found.filled_quantity, Decimal::ZERO, "{ex}");
        assert_eq!(found.average_price, None, "{ex}");
        let closed = match ex {
            Exchange::Bybit => "Cancelled",
            Exchange::Binance => "EXPIRED",
            _ => "Canceled",
        };
        assert_eq!(found.status, closed, "{ex}");
        assert_eq!(rig.orders_of(ex)[0].state, OrderState::Cancelled, "{ex}");
    }
}

/// Issue 13, item 5: after a Bybit release the realtime list has no closed orders; order
/// history has them, and a lookup must ask it rather than call the order absent (a resubmit
/// would be refused as a duplicate while the position stands).
#[tokio::test]
async fn bybit_finds_closed_orders_in_history_once_realtime_forgot_them() {
    let rig = Rig::start().await;
    let ex = Exchange::Bybit;
    let filled = market(ex, &id("history-filled"), "0.01");
    rig.submit(&filled).await.done();
    switch(&rig, ex, partial("0.5"));
    let cancelled = market(ex, &id("history-partial"), "0.01");
    rig.submit(&cancelled).await.done();
    let resting = limit(ex, &id("history-resting"), "0.01", "60000");
    rig.submit(&resting).await.done();
    switch(
        &rig,
        ex,
        Switches {
            realtime_forgets_closed: true,
            ..Switches::default()
        },
    );
    let a = rig.found(&filled).await;
    assert_eq!(
        (a.status.as_str(), a.filled_quantity),
        ("Filled", d("0.01"))
    );
    let b = rig.found(&cancelled).await;
    assert_eq!(
        (b.status.as_str(), b.filled_quantity, b.average_price),
        ("Cancelled", d("0.005"), Some(d("65000")))
    );
    // An open order is still in the realtime list.
    let c = rig.found(&resting).await;
    assert_eq!(
        (c.status.as_str(), c.filled_quantity),
        ("New", Decimal::ZERO)
    );
    // The id is spent: a resubmit is refused as a duplicate, an order that exists.
    let e = rig.submit(&filled).await.refused();
    assert_eq!(
        (e.code.as_deref(), e.class),
        (Some("110072"), ErrorClass::Unknown)
    );
    assert_eq!(rig.orders_of(ex).len(), 3);
}

/// Issue 13, item 10: a geographic block is CloudFront's 403 page, not Bybit's rate-limit ban;
/// waiting cannot lift it, so it is terminal and says what to do.
#[tokio::test]
async fn bybit_geo_block_is_terminal_with_a_reason_for_the_operator() {
    let rig = Rig::start().await;
    let ex = Exchange::Bybit;
    let bybit = venue(ex);
    let instrument = rig.instrument(ex, &btc()).await;
    switch(
        &rig,
        ex,
        Switches {
            geo_block: true,
            ..Switches::default()
        },
    );
    let reason =
        "Bybit refuses requests from this region (CloudFront 403); see README 'Exchange regions'";
    let check = |what: &str, e: ExchangeError| {
        assert_eq!(
            (e.status, e.class),
            (403, ErrorClass::Terminal),
            "{what}: {e}"
        );
        assert!(e.message.contains(reason), "{what}: {e}");
    };
    let resp = rig
        .send(&bybit.instrument_request(&rig.ctx(ex), &btc()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    check(
        "instrument",
        bybit
            .parse_instrument(&btc(), &resp)
            .err()
            .unwrap_or_else(|| panic!("instrument through a geo block")),
    );
    check(
        "price",
        rig.price(ex, &btc())
            .await
            .err()
            .unwrap_or_else(|| panic!("price through a geo block")),
    );
    let o = market(ex, &id("geo"), "0.01");
    let req = bybit
        .order_request(&rig.ctx(ex), &rig.creds(ex), &o, &instrument)
        .unwrap_or_else(|e| panic!("{e}"));
    let resp = rig.send(&req).await.unwrap_or_else(|e| panic!("{e}"));
    check(
        "submit",
        bybit
            .parse_order(&o, &resp)
            .err()
            .unwrap_or_else(|| panic!("an order through a geo block")),
    );
    assert!(rig.mock.orders().is_empty());
    // Only Bybit is blocked.
    rig.submit(&market(Exchange::Binance, &id("geo"), "0.01"))
        .await
        .done();
}

#[tokio::test]
async fn control_api_sets_switches_and_a_reset_clears_them() {
    let rig = Rig::start().await;
    let url = format!("{}/__mock/switches", rig.mock.url());
    let post = |body: Value| {
        let req = rig.http.post(&url).json(&body);
        async move { req.send().await.unwrap_or_else(|e| panic!("{e}")) }
    };
    let r =
        post(json!({"exchange": "bybit", "partial_fill": "0.25", "realtime_forgets_closed": true}))
            .await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        rig.mock.switches(Exchange::Bybit),
        Switches {
            partial_fill: Some(d("0.25")),
            realtime_forgets_closed: true,
            ..Switches::default()
        }
    );
    assert_eq!(rig.mock.switches(Exchange::Mexc), Switches::default());
    let r = post(json!({"exchange": "mexc", "hedge_mode": false, "margin_conflicts": true, "external_lookup_misses": true})).await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        rig.mock.switches(Exchange::Mexc),
        Switches {
            hedge_mode: Some(false),
            margin_conflicts: true,
            external_lookup_misses: true,
            ..Switches::default()
        }
    );
    for bad in [
        json!({"exchange": "paper", "partial_fill": "0.5"}),
        json!({"exchange": "binance", "geo_block": true}),
        json!({"exchange": "mexc", "partial_fill": "2"}),
        json!({"exchange": "bybit", "margin_conflicts": true}),
        json!({"exchange": "binance", "external_lookup_misses": true}),
        json!({"exchange": "binance", "hedge_mode": "yes"}),
    ] {
        assert_eq!(post(bad.clone()).await.status().as_u16(), 400, "{bad}");
    }
    assert!(rig
        .mock
        .set_switches(
            Exchange::Mexc,
            Switches {
                geo_block: true,
                ..Switches::default()
            }
        )
        .is_err());
    rig.mock.reset();
    assert_eq!(rig.mock.switches(Exchange::Bybit), Switches::default());
}

/// A signed Bybit GET of `path?query`, signed as Bybit wants it.
fn bybit_get(rig: &Rig, path: &str, query: &str) -> HttpRequest {
    let ctx = rig.ctx(Exchange::Bybit);
    let creds = rig.creds(Exchange::Bybit);
    let payload =
        exchanges::signing::bybit_payload(ctx.now_ms, &creds.api_key, ctx.recv_window_ms, query);
    HttpRequest {
        method: Method::Get,
        url: format!("{}{path}?{query}", ctx.base_url),
        headers: vec![
            ("X-BAPI-API-KEY".into(), creds.api_key.clone()),
            ("X-BAPI-TIMESTAMP".into(), ctx.now_ms.to_string()),
            ("X-BAPI-RECV-WINDOW".into(), ctx.recv_window_ms.to_string()),
            (
                "X-BAPI-SIGN".into(),
                exchanges::signing::sign(&creds.api_secret, &payload),
            ),
        ],
        body: None,
    }
}

/// The mock's realtime list follows "Get Open & Closed Orders": "`openOnly` param will be
/// ignored when query by _orderId_ or _orderLinkId_"; without either, `openOnly=0` lists open
/// orders only and `openOnly=1` closed ones. Order history lists closed orders.
#[tokio::test]
async fn bybit_realtime_ignores_open_only_for_a_link_id_and_history_lists_closed_orders() {
    let rig = Rig::start().await;
    let filled = market(Exchange::Bybit, &id("openonly-filled"), "0.01");
    rig.submit(&filled).await.done();
    let resting = limit(Exchange::Bybit, &id("openonly-resting"), "0.01", "60000");
    rig.submit(&resting).await.done();
    let listed = |resp: HttpResponse| -> Vec<String> {
        let v: Value = serde_json::from_str(&resp.body).unwrap_or(Value::Null);
        assert_eq!(v["retCode"], 0, "{}", resp.body);
        v.pointer("/result/list")
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter_map(|o| o["orderLinkId"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let rig = &rig;
    let get = |path: &'static str, query: String| {
        let req = bybit_get(rig, path, &query);
        async move {
            listed(
                rig.send(&req)
                    .await
                    .unwrap_or_else(|e| panic!("{path}: {e}")),
            )
        }
    };
    let base = "category=linear&symbol=BTCUSDT";
    for open_only in ["0", "1"] {
        for o in [&filled, &resting] {
            assert_eq!(
                get(
                    "/v5/order/realtime",
                    format!(
                        "{base}&orderLinkId={}&openOnly={open_only}",
                        o.client_order_id
                    )
                )
                .await,
                vec![o.client_order_id.clone()],
                "openOnly={open_only}"
            );
        }
    }
    assert_eq!(
        get("/v5/order/realtime", format!("{base}&openOnly=0")).await,
        vec![resting.client_order_id.clone()]
    );
    assert_eq!(
        get("/v5/order/realtime", format!("{base}&openOnly=1")).await,
        vec![filled.client_order_id.clone()]
    );
    assert_eq!(
        get("/v5/order/history", base.to_owned()).await,
        vec![filled.client_order_id.clone()]
    );
}

/// Issue 13, item 9: Binance lists BTCUSDT's `MIN_NOTIONAL` at 100 USDT (20 for ETHUSDT), and
/// refuses an opening order below it with -4164 "Order's notional must be no smaller than 100
/// (unless you choose reduce only)", a market order valued at the mark ("Since MARKET orders
/// have no price, the mark price is used"), a limit order at its price; a reduce-only order is
/// not held to it. The adapter refuses such an order itself once it knows the mark.
#[tokio::test]
async fn binance_refuses_an_order_below_its_min_notional_with_4164() {
    let rig = Rig::start().await;
    let ex = Exchange::Binance;
    let i = rig.instrument(ex, &btc()).await;
    assert_eq!(i.limits.min_notional, Some(d("100")));
    assert_eq!(
        rig.instrument(ex, &sym("ETHUSDT"))
            .await
            .limits
            .min_notional,
        Some(d("20"))
    );
    // 0.001 BTC at 65000 is 65 USDT: with no price to value it at, the adapter sends it.
    let e = rig
        .submit(&market(ex, &id("notional-65"), "0.001"))
        .await
        .refused();
    assert_eq!(
        (e.status, e.code.as_deref(), e.class),
        (400, Some("-4164"), ErrorClass::Terminal),
        "{e}"
    );
    assert!(
        e.message.contains(
            "Order's notional must be no smaller than 100 (unless you choose reduce only)"
        ),
        "{e}"
    );
    assert!(rig.orders_of(ex).is_empty());
    rig.submit(&market(ex, &id("notional-130"), "0.002"))
        .await
        .done();
    // A limit order is valued at its own price: 0.001 at 110000 is 110 USDT.
    rig.submit(&limit(ex, &id("notional-limit"), "0.001", "110000"))
        .await
        .done();
    let close = OrderRequest {
        side: Side::Sell,
        reduce_only: true,
        ..market(ex, &id("notional-close"), "0.001")
    };
    rig.submit(&close).await.done();
    // Prepared as the trade-worker does, the same small order never leaves the adapter.
    let e = rig
        .submit_prepared(&market(ex, &id("notional-local"), "0.001"))
        .await
        .refused();
    assert_eq!((e.status, e.class), (0, ErrorClass::Terminal), "{e}");
    assert!(
        e.message
            .starts_with("notional 65 USDT below Binance's MIN_NOTIONAL 100 for BTCUSDT"),
        "{e}"
    );
    assert_eq!(rig.orders_of(ex).len(), 3);
}

/// Issue 13, item 9: Bybit refuses an opening order under `lotSizeFilter.minNotionalValue`
/// with 110094 "Order notional value below the lower limit".
#[tokio::test]
async fn bybit_refuses_an_order_below_its_min_notional_with_110094() {
    let rig = Rig::start().await;
    let ex = Exchange::Bybit;
    rig.mock
        .set_price(ex, "BTCUSDT", d("4000"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        rig.instrument(ex, &btc()).await.limits.min_notional,
        Some(d("5"))
    );
    // 0.001 BTC at 4000 is 4 USDT.
    let e = rig
        .submit(&market(ex, &id("bybit-4"), "0.001"))
        .await
        .refused();
    assert_eq!(
        (e.code.as_deref(), e.class),
        (Some("110094"), ErrorClass::Terminal),
        "{e}"
    );
    rig.submit(&market(ex, &id("bybit-8"), "0.002"))
        .await
        .done();
    let close = OrderRequest {
        side: Side::Sell,
        reduce_only: true,
        ..market(ex, &id("bybit-close"), "0.001")
    };
    rig.submit(&close).await.done();
    let e = rig
        .submit_prepared(&market(ex, &id("bybit-local"), "0.001"))
        .await
        .refused();
    assert_eq!((e.status, e.class), (0, ErrorClass::Terminal), "{e}");
    assert!(
        e.message.starts_with(
            "notional 4 USDT below Bybit's lotSizeFilter.minNotionalValue 5 for BTCUSDT"
        ),
        "{e}"
    );
    assert_eq!(rig.orders_of(ex).len(), 2);
}

/// Issue 13, item 9: each exchange refuses a quantity above its maximum in its own words:
/// Binance -4005 "Quantity greater than max quantity." (`MARKET_LOT_SIZE.maxQty` for a market
/// order, `LOT_SIZE.maxQty` for a limit one), Bybit 10001 (`maxMktOrderQty`, `maxOrderQty`;
/// a reduce-only order above it is split, not refused), MEXC 2028 "The maximum order quantity
/// is exceeded" (`maxVol`). The adapter refuses them itself from the published rules.
#[tokio::test]
async fn each_exchange_refuses_a_quantity_above_its_maximum_in_its_own_words() {
    let rig = Rig::start().await;
    for (ex, too_many_market, too_many_limit, code) in [
        (Exchange::Binance, "121", "1001", "-4005"),
        (Exchange::Bybit, "101", "1001", "10001"),
        // 1000001 contracts of 0.0001 BTC, over maxVol 1000000.
        (Exchange::Mexc, "100.0001", "100.0001", "2028"),
    ] {
        for o in [
            market(ex, &id(&format!("max-m-{ex}")), too_many_market),
            limit(ex, &id(&format!("max-l-{ex}")), too_many_limit, "60000"),
        ] {
            let e = rig.submit_unchecked(&o).await.refused();
            assert_eq!(
                (e.code.as_deref(), e.class),
                (Some(code), ErrorClass::Terminal),
                "{ex}: {e}"
            );
            let e = rig.submit(&o).await.refused();
            assert_eq!((e.status, e.class), (0, ErrorClass::Terminal), "{ex}: {e}");
            assert!(e.message.contains("above"), "{ex}: {e}");
        }
        assert!(rig.orders_of(ex).is_empty(), "{ex}");
    }
    // A limit order may be larger than a market one: 130 BTC resting on Binance, 150 on Bybit.
    rig.submit(&limit(Exchange::Binance, &id("max-ok"), "130", "60000"))
        .await
        .done();
    let big = limit(Exchange::Bybit, &id("max-big"), "150", "70000");
    rig.submit(&big).await.done();
    // "If reduceOnly=true and order qty > max order qty, the order will automatically be
    // split up into multiple orders": Bybit takes the close whole.
    let close = OrderRequest {
        side: Side::Sell,
        reduce_only: true,
        ..market(Exchange::Bybit, &id("max-close"), "150")
    };
    rig.submit(&close).await.done();
}

fn hedge(on: bool) -> Switches {
    Switches {
        hedge_mode: Some(on),
        ..Switches::default()
    }
}

/// `instrument` written for `mode`.
fn in_mode(mut instrument: Instrument, mode: Option<PositionMode>) -> Instrument {
    instrument.placement.position_mode = mode;
    instrument
}

/// Issue 13, item 7: each exchange answers its position-mode read with the account's mode:
/// Bybit's position rows (`positionIdx` 0, or 1 and 2), Binance `dualSidePosition`, MEXC
/// `data` 1 hedge / 2 one-way.
#[tokio::test]
async fn each_exchange_reports_the_account_s_position_mode() {
    let rig = Rig::start().await;
    for (ex, default) in [
        (Exchange::Bybit, PositionMode::OneWay),
        (Exchange::Binance, PositionMode::OneWay),
        (Exchange::Mexc, PositionMode::Hedge),
    ] {
        assert_eq!(rig.position_mode(ex, &btc()).await, Ok(default), "{ex}");
        for (on, mode) in [(true, PositionMode::Hedge), (false, PositionMode::OneWay)] {
            switch(&rig, ex, hedge(on));
            assert_eq!(rig.position_mode(ex, &btc()).await, Ok(mode), "{ex}");
        }
    }
}

/// Issue 13, item 7: a hedge-mode account refuses an order written for one-way mode, in each
/// exchange's words: Bybit 10001 for `positionIdx` 0 or none ("Under hedge-mode, this param is
/// required"); Binance -4061 for no `positionSide` and -1106 for `reduceOnly` ("Cannot be sent
/// in Hedge Mode"); MEXC 600 for `reduceOnly` ("two-way positions will not accept this
/// parameter").
#[tokio::test]
async fn a_hedge_mode_account_refuses_orders_written_for_one_way_mode() {
    let rig = Rig::start().await;
    for ex in [Exchange::Bybit, Exchange::Binance] {
        switch(&rig, ex, hedge(true));
    }
    let placed = |i: Instrument, mode| in_mode(i, mode);
    let bybit = rig.instrument(Exchange::Bybit, &btc()).await;
    for mode in [Some(PositionMode::OneWay), None] {
        let o = market(
            Exchange::Bybit,
            &id(&format!("hedge-bybit-{mode:?}")),
            "0.01",
        );
        let e = rig
            .submit_placed(&o, &placed(bybit.clone(), mode))
            .await
            .refused();
        assert_eq!(
            (e.code.as_deref(), e.class),
            (Some("10001"), ErrorClass::Terminal),
            "{e}"
        );
    }
    let binance = rig.instrument(Exchange::Binance, &btc()).await;
    let o = market(Exchange::Binance, &id("hedge-binance"), "0.01");
    let e = rig
        .submit_placed(&o, &placed(binance.clone(), Some(PositionMode::OneWay)))
        .await
        .refused();
    assert_eq!(
        (e.code.as_deref(), e.class),
        (
            Some("-4061"),
            ErrorClass::Retryable {
                retry_after_seconds: None
            }
        ),
        "{e}"
    );
    // A hedge-mode order that also says reduceOnly.
    let ctx = rig.ctx(Exchange::Binance);
    let creds = rig.creds(Exchange::Binance);
    let total = format!(
        "symbol=BTCUSDT&side=SELL&positionSide=LONG&type=MARKET&quantity=0.01&reduceOnly=true&newClientOrderId={}&recvWindow=5000&timestamp={}",
        id("hedge-reduce"),
        ctx.now_ms
    );
    let req = HttpRequest {
        method: Method::Post,
        url: format!("{}/fapi/v1/order", ctx.base_url),
        headers: vec![
            ("X-MBX-APIKEY".into(), creds.api_key.clone()),
            (
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
        ],
        body: Some(format!(
            "{total}&signature={}",
            exchanges::signing::binance_signature(&creds.api_secret, &total)
        )),
    };
    let resp = rig.send(&req).await.unwrap_or_else(|e| panic!("{e}"));
    let e = venue(Exchange::Binance).parse_order(&o, &resp).err();
    assert_eq!(
        e.as_ref().map(|e| (e.code.as_deref(), e.class)),
        Some((Some("-1106"), ErrorClass::Terminal)),
        "{}",
        resp.body
    );
    assert!(resp
        .body
        .contains("Parameter 'reduceonly' sent when not required."));
    // MEXC's default account is in hedge mode.
    let mexc = rig.instrument(Exchange::Mexc, &btc()).await;
    rig.submit(&market(Exchange::Mexc, &id("hedge-mexc-open"), "0.01"))
        .await
        .done();
    let close = OrderRequest {
        side: Side::Sell,
        reduce_only: true,
        ..market(Exchange::Mexc, &id("hedge-mexc-close"), "0.01")
    };
    let e = rig
        .submit_placed(&close, &placed(mexc, Some(PositionMode::OneWay)))
        .await
        .refused();
    assert_eq!(
        (e.code.as_deref(), e.class),
        (Some("600"), ErrorClass::Terminal),
        "{e}"
    );
    assert_eq!(rig.mock.orders().len(), 1);
}

/// Issue 13, item 7: a one-way account refuses an order written for hedge mode: Bybit 10001
/// for `positionIdx` 1 or 2, Binance -4061 for `positionSide` LONG or SHORT.
#[tokio::test]
async fn a_one_way_account_refuses_orders_written_for_hedge_mode() {
    let rig = Rig::start().await;
    for (ex, code) in [(Exchange::Bybit, "10001"), (Exchange::Binance, "-4061")] {
        let i = in_mode(rig.instrument(ex, &btc()).await, Some(PositionMode::Hedge));
        for side in [Side::Buy, Side::Sell] {
            let o = OrderRequest {
                side,
                ..market(ex, &id(&format!("oneway-{ex}-{side:?}")), "0.01")
            };
            let e = rig.submit_placed(&o, &i).await.refused();
            assert_eq!(e.code.as_deref(), Some(code), "{ex}: {e}");
        }
        assert!(rig.orders_of(ex).is_empty(), "{ex}");
    }
}

/// Issue 13, item 7: orders prepared as the trade-worker prepares them (the account's mode
/// read first) open and close both sides in either mode, at every exchange.
#[tokio::test]
async fn orders_written_for_the_account_s_mode_open_and_close_in_either_mode() {
    let rig = Rig::start().await;
    for ex in REAL {
        for on in [true, false] {
            rig.mock.reset();
            switch(&rig, ex, hedge(on));
            let tag = format!("{ex}-{on}");
            let steps = [
                (Side::Buy, false, "open-long"),
                (Side::Sell, true, "close-long"),
                (Side::Sell, false, "open-short"),
                (Side::Buy, true, "close-short"),
            ];
            for (side, reduce_only, what) in steps {
                let o = OrderRequest {
                    side,
                    reduce_only,
                    ..market(ex, &id(&format!("{what}-{tag}")), "0.01")
                };
                let placed = rig
                    .prepare(&o)
                    .await
                    .unwrap_or_else(|e| panic!("{tag}: {e}"));
                let mode = if on {
                    PositionMode::Hedge
                } else {
                    PositionMode::OneWay
                };
                assert_eq!(placed.placement.position_mode, Some(mode), "{tag}");
                rig.submit_placed(&o, &placed).await.done();
            }
            assert_eq!(rig.orders_of(ex).len(), 4, "{tag}");
        }
    }
}

fn margin_conflicts() -> Switches {
    Switches {
        margin_conflicts: true,
        ..Switches::default()
    }
}

/// A MEXC long of 0.01 BTC at `leverage`, on `margin`.
async fn mexc_long(rig: &Rig, tag: &str, leverage: u8, margin: MarginType) -> OrderRequest {
    let o = OrderRequest {
        leverage,
        ..market(Exchange::Mexc, &id(tag), "0.01")
    };
    let mut i = rig.instrument(Exchange::Mexc, &btc()).await;
    // What the order would carry against a position of that margin type.
    i.placement.position = Some(OpenPosition {
        id: "0".into(),
        margin,
        leverage: u32::from(leverage),
    });
    rig.submit_placed(&o, &i).await.done();
    o
}

/// Issue 13, item 8: MEXC refuses to add to an open position at another leverage than its own
/// with 2021 "The single leverage is not consistent with the existing position leverage";
/// prepared as the trade-worker does, the position's leverage is changed first
/// (`change_leverage` with its `positionId`) and the order goes through.
#[tokio::test]
async fn mexc_refuses_an_open_at_another_leverage_than_its_position_with_2021() {
    let rig = Rig::start().await;
    switch(&rig, Exchange::Mexc, margin_conflicts());
    let first = mexc_long(&rig, "lev-20", 20, MarginType::Isolated).await;
    let position = rig.position_of(&first).await;
    assert_eq!(
        position.as_ref().map(|p| (p.margin, p.leverage)),
        Some((MarginType::Isolated, 20))
    );
    let again = OrderRequest {
        leverage: 5,
        ..market(Exchange::Mexc, &id("lev-5"), "0.01")
    };
    let e = rig.submit(&again).await.refused();
    assert_eq!(
        (e.code.as_deref(), e.class),
        (Some("2021"), ErrorClass::Terminal),
        "{e}"
    );
    rig.submit_prepared(&again).await.done();
    assert_eq!(rig.position_of(&again).await.map(|p| p.leverage), Some(5));
    assert_eq!(rig.orders_of(Exchange::Mexc).len(), 2);
}

/// Issue 13, item 8: MEXC refuses an isolated order against a cross position of the same
/// direction with 2027 "There is only one cross or isolated in the same direction"; prepared
/// as the trade-worker does, the order names the position's margin type.
#[tokio::test]
async fn mexc_refuses_an_isolated_open_against_a_cross_position_with_2027() {
    let rig = Rig::start().await;
    switch(&rig, Exchange::Mexc, margin_conflicts());
    let first = mexc_long(&rig, "cross-1", 10, MarginType::Cross).await;
    assert_eq!(
        rig.position_of(&first).await.map(|p| p.margin),
        Some(MarginType::Cross)
    );
    let again = OrderRequest {
        leverage: 10,
        ..market(Exchange::Mexc, &id("cross-2"), "0.01")
    };
    let e = rig.submit(&again).await.refused();
    assert_eq!(
        (e.code.as_deref(), e.class),
        (Some("2027"), ErrorClass::Terminal),
        "{e}"
    );
    rig.submit_prepared(&again).await.done();
    // The close names it too.
    let close = OrderRequest {
        side: Side::Sell,
        reduce_only: true,
        ..market(Exchange::Mexc, &id("cross-close"), "0.02")
    };
    rig.submit_prepared(&close).await.done();
    assert_eq!(rig.position_of(&first).await, None);
}

/// Issue 13, item 8: an order MEXC's external-id lookup does not return is still found in its
/// order history; "absent" needs both to say so.
#[tokio::test]
async fn mexc_finds_an_order_its_external_lookup_misses_in_the_order_history() {
    let rig = Rig::start().await;
    let o = market(Exchange::Mexc, &id("history-mexc"), "0.01");
    let ack = rig.submit(&o).await.done();
    switch(
        &rig,
        Exchange::Mexc,
        Switches {
            external_lookup_misses: true,
            ..Switches::default()
        },
    );
    let found = rig.found(&o).await;
    assert_eq!(found.exchange_order_id, ack.exchange_order_id);
    assert_eq!(
        (
            found.status.as_str(),
            found.filled_quantity,
            found.average_price
        ),
        ("Filled", d("100"), Some(d("65000")))
    );
    // An id never sent is in neither.
    let never = market(Exchange::Mexc, &id("history-never"), "0.01");
    assert_eq!(rig.query(&never).await, QueryResult::NotFound);
}

// ---- Issue 13, item 1: each network has its own keys ----

/// The base URL of `ex`'s testnet on the mock (`/bybit-testnet`, `/binance-testnet`).
fn testnet_ctx(rig: &Rig, ex: Exchange) -> Context {
    Context {
        base_url: format!("{}/{}-testnet", rig.mock.url(), ex.as_str()),
        ..rig.ctx(ex)
    }
}

/// The mock's testnet pair of `ex` (`mock-bybit-testnet-key` / `mock-bybit-testnet-secret`).
fn testnet_creds(ex: Exchange) -> Credentials {
    Credentials {
        api_key: format!("mock-{}-testnet-key", ex.as_str()),
        api_secret: format!("mock-{}-testnet-secret", ex.as_str()),
    }
}

/// The orders `/__mock/orders` lists, as JSON.
async fn listed_orders(rig: &Rig) -> Vec<Value> {
    let v: Value = rig
        .http
        .get(format!("{}/__mock/orders", rig.mock.url()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    v["orders"].as_array().cloned().unwrap_or_default()
}

/// Issue 13, item 1: Bybit's and Binance's testnets are other systems with other accounts, so a
/// request signed with the mainnet pair is refused there as an unknown key (Bybit 10003,
/// Binance -2015), and the other way round; each network keeps its own orders.
#[tokio::test]
async fn each_network_takes_only_its_own_keys() {
    let rig = Rig::start().await;
    for (ex, code) in [(Exchange::Bybit, "10003"), (Exchange::Binance, "-2015")] {
        let (mainnet, testnet) = (rig.ctx(ex), testnet_ctx(&rig, ex));
        let (main_keys, test_keys) = (rig.creds(ex), testnet_creds(ex));
        let order = |tag: &str, testnet: bool| OrderRequest {
            testnet,
            ..market(ex, &id(&format!("{tag}-{ex}")), "0.01")
        };
        for (o, ctx, keys) in [
            (order("main-on-test", true), &testnet, &main_keys),
            (order("test-on-main", false), &mainnet, &test_keys),
        ] {
            let e = rig.submit_with(&o, ctx, keys).await.refused();
            assert_eq!(e.code.as_deref(), Some(code), "{ex}: {e}");
            assert_eq!(e.class, ErrorClass::Terminal, "{ex}");
        }
        assert!(rig.orders_of(ex).is_empty(), "{ex}");
        let on_test = order("on-test", true);
        rig.submit_with(&on_test, &testnet, &test_keys).await.done();
        let on_main = order("on-main", false);
        rig.submit_with(&on_main, &mainnet, &main_keys).await.done();
        // A lookup asks one network: the testnet order is not on mainnet.
        let v = venue(ex);
        let mut found_on_main = false;
        for req in v.query_requests(&mainnet, &main_keys, &on_test) {
            let resp = rig.send(&req).await.unwrap_or_else(|e| panic!("{e}"));
            found_on_main |= matches!(v.parse_query(&on_test, &resp), Ok(QueryResult::Found(_)));
        }
        assert!(!found_on_main, "{ex}: a testnet order looked up on mainnet");
    }
    let networks: Vec<(String, bool)> = listed_orders(&rig)
        .await
        .iter()
        .map(|o| {
            (
                o["client_order_id"].as_str().unwrap_or_default().to_owned(),
                o["testnet"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(
        networks,
        [
            (id("on-test-bybit"), true),
            (id("on-main-bybit"), false),
            (id("on-test-binance"), true),
            (id("on-main-binance"), false),
        ]
    );
}

// ---- Issue 13, item 2: take-profit and stop-loss ----

/// A Binance request signed with the mock's mainnet pair: `params` as the form body of a POST or
/// the query of a GET, then `recvWindow`, `timestamp` and `signature`.
fn binance_signed(rig: &Rig, method: Method, path: &str, params: &[(&str, &str)]) -> HttpRequest {
    let ctx = rig.ctx(Exchange::Binance);
    let creds = rig.creds(Exchange::Binance);
    let mut total: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    total.push(format!("recvWindow={}", ctx.recv_window_ms));
    total.push(format!("timestamp={}", ctx.now_ms));
    let total = total.join("&");
    let signed = format!(
        "{total}&signature={}",
        exchanges::signing::binance_signature(&creds.api_secret, &total)
    );
    let mut headers = vec![("X-MBX-APIKEY".to_string(), creds.api_key.clone())];
    match method {
        Method::Post => {
            headers.push((
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            ));
            HttpRequest {
                method,
                url: format!("{}{path}", ctx.base_url),
                headers,
                body: Some(signed),
            }
        }
        Method::Get | Method::Delete => HttpRequest {
            method,
            url: format!("{}{path}?{signed}", ctx.base_url),
            headers,
            body: None,
        },
    }
}

/// Sends `req` and reads Binance's answer: (HTTP status, JSON).
async fn binance_answer(rig: &Rig, req: &HttpRequest) -> (u16, Value) {
    let resp = rig.send(req).await.unwrap_or_else(|e| panic!("{e}"));
    let v = serde_json::from_str(&resp.body).unwrap_or(Value::Null);
    (resp.status, v)
}

/// `POST /fapi/v1/algoOrder` with `params`.
async fn place_algo(rig: &Rig, params: &[(&str, &str)]) -> (u16, Value) {
    let req = binance_signed(rig, Method::Post, "/fapi/v1/algoOrder", params);
    binance_answer(rig, &req).await
}

/// Since Binance moved conditional orders to its Algo Service (the official connector's "New
/// Order" lost `stopPrice`, `closePosition`, `workingType` in its 2025-12-22 release; "New Algo
/// Order" is `POST /fapi/v1/algoOrder`), `POST /fapi/v1/order` refuses the conditional types with
/// -4120 "Order type not supported for this endpoint. Please use the Algo Order API endpoints
/// instead." The mock answered -1116 "Invalid orderType." before.
#[tokio::test]
async fn binance_order_endpoint_refuses_conditional_types_with_4120() {
    let rig = Rig::start().await;
    for t in [
        "STOP",
        "STOP_MARKET",
        "TAKE_PROFIT",
        "TAKE_PROFIT_MARKET",
        "TRAILING_STOP_MARKET",
    ] {
        let req = binance_signed(
            &rig,
            Method::Post,
            "/fapi/v1/order",
            &[
                ("symbol", "BTCUSDT"),
                ("side", "SELL"),
                ("type", t),
                ("quantity", "0.01"),
                ("stopPrice", "60000"),
                ("reduceOnly", "true"),
            ],
        );
        let (status, v) = binance_answer(&rig, &req).await;
        assert_eq!((status, v["code"].as_i64()), (400, Some(-4120)), "{t}: {v}");
        assert_eq!(
            v["msg"],
            "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead.",
            "{t}"
        );
    }
    assert!(rig.mock.orders().is_empty());
}

/// `POST /fapi/v1/algoOrder` as the connector's "New Algo Order (TRADE)" documents it: signed;
/// `algoType` CONDITIONAL only; `symbol`, `side`, `type` mandatory; a trigger price on the tick;
/// `closePosition=true` "Cannot be used with `quantity` parameter" nor with `reduceOnly`;
/// `workingType` MARK_PRICE or CONTRACT_PRICE; `clientAlgoId` `^[.A-Z:/a-z0-9_-]{1,36}$` and "A
/// unique id among open orders"; a stop that would trigger at once is refused (-2021). A lookup
/// by `clientAlgoId` finds it (`GET /fapi/v1/algoOrder`), and tests read what was placed.
#[tokio::test]
async fn binance_algo_orders_are_signed_validated_unique_and_found() {
    let rig = Rig::start().await;
    rig.submit(&market(Exchange::Binance, &id("algo-entry"), "0.01"))
        .await
        .done();
    let sl_id = format!("{}-sl", id("algo-entry"));
    let stop = |id: &str, trigger: &str| {
        vec![
            ("algoType", "CONDITIONAL".to_string()),
            ("symbol", "BTCUSDT".into()),
            ("side", "SELL".into()),
            ("type", "STOP_MARKET".into()),
            ("quantity", "0.01".into()),
            ("triggerPrice", trigger.into()),
            ("workingType", "MARK_PRICE".into()),
            ("reduceOnly", "true".into()),
            ("clientAlgoId", id.into()),
        ]
    };
    let send = |p: Vec<(&'static str, String)>| {
        let rig = &rig;
        async move {
            let params: Vec<(&str, &str)> = p.iter().map(|(k, v)| (*k, v.as_str())).collect();
            place_algo(rig, &params).await
        }
    };
    let (status, placed) = send(stop(&sl_id, "60000")).await;
    assert_eq!(status, 200, "{placed}");
    assert_eq!(placed["clientAlgoId"], sl_id.as_str());
    assert_eq!(placed["algoType"], "CONDITIONAL");
    assert_eq!(placed["orderType"], "STOP_MARKET");
    assert_eq!(placed["algoStatus"], "NEW");
    assert_eq!(placed["triggerPrice"], "60000");
    assert!(placed["algoId"].as_i64().is_some(), "{placed}");
    // "A unique id among open orders".
    let (status, dup) = send(stop(&sl_id, "59000")).await;
    assert_eq!((status, dup["code"].as_i64()), (400, Some(-4116)), "{dup}");
    // A SELL stop triggers when the price is at or below its trigger: at 66000, above the
    // 65000 mark, it would trigger at once.
    let (status, now) = send(stop(&format!("{}-x", id("algo-now")), "66000")).await;
    assert_eq!((status, now["code"].as_i64()), (400, Some(-2021)), "{now}");
    let refusals: Vec<(Vec<(&'static str, String)>, i64)> = vec![
        // Not on the 0.1 tick.
        (stop("t1", "60000.05"), -4014),
        // No trigger price for a stop.
        (
            stop("t2", "1")
                .into_iter()
                .filter(|(k, _)| *k != "triggerPrice")
                .collect(),
            -1102,
        ),
        // Only CONDITIONAL exists.
        (
            stop("t3", "60000")
                .into_iter()
                .map(|(k, v)| {
                    if k == "algoType" {
                        (k, "VP".into())
                    } else {
                        (k, v)
                    }
                })
                .collect(),
            -1130,
        ),
        // Close-all cannot carry a quantity or reduceOnly.
        (
            {
                let mut p = stop("t4", "60000");
                p.push(("closePosition", "true".into()));
                p
            },
            -1106,
        ),
        (
            stop("t5", "60000")
                .into_iter()
                .map(|(k, v)| {
                    if k == "workingType" {
                        (k, "LAST".into())
                    } else {
                        (k, v)
                    }
                })
                .collect(),
            -1130,
        ),
        (stop("not valid!", "60000"), -4015),
        (
            stop("t6", "60000")
                .into_iter()
                .map(|(k, v)| {
                    if k == "type" {
                        (k, "LIMIT".into())
                    } else {
                        (k, v)
                    }
                })
                .collect(),
            -1116,
        ),
    ];
    for (params, code) in refusals {
        let shown = format!("{params:?}");
        let (status, v) = send(params).await;
        assert_eq!(
            (status, v["code"].as_i64()),
            (400, Some(code)),
            "{shown}: {v}"
        );
    }
    // Close-all without quantity or reduceOnly is fine.
    let close_all: Vec<(&'static str, String)> = stop("t7", "60000")
        .into_iter()
        .filter(|(k, _)| *k != "quantity" && *k != "reduceOnly")
        .chain([("closePosition", "true".to_string())])
        .collect();
    let (status, v) = send(close_all).await;
    assert_eq!(status, 200, "{v}");
    // Signed like every TRADE endpoint.
    let mut forged = binance_signed(
        &rig,
        Method::Post,
        "/fapi/v1/algoOrder",
        &[("algoType", "CONDITIONAL"), ("clientAlgoId", "forged")],
    );
    forged.body = forged.body.map(|b| b.replace("forged", "forgee"));
    let (status, v) = binance_answer(&rig, &forged).await;
    assert_eq!((status, v["code"].as_i64()), (400, Some(-1022)), "{v}");

    // Found by its client id; an id never placed is not.
    let get = |query: Vec<(&'static str, String)>| {
        let rig = &rig;
        async move {
            let params: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let req = binance_signed(rig, Method::Get, "/fapi/v1/algoOrder", &params);
            binance_answer(rig, &req).await
        }
    };
    let (status, found) = get(vec![("clientAlgoId", sl_id.clone())]).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["algoId"], placed["algoId"]);
    assert_eq!(found["algoStatus"], "NEW");
    let (status, v) = get(vec![("clientAlgoId", "never-placed".into())]).await;
    assert_eq!((status, v["code"].as_i64()), (400, Some(-2013)), "{v}");
    let (status, v) = get(vec![]).await;
    assert_eq!((status, v["code"].as_i64()), (400, Some(-1102)), "{v}");

    // What tests read: every accepted algo order.
    let listed: Value = rig
        .http
        .get(format!("{}/__mock/algo_orders", rig.mock.url()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<&str> = listed["algo_orders"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|o| o["client_algo_id"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(ids, [sl_id.as_str(), "t7"]);
    assert!(rig.mock.orders().len() == 1, "algo orders are not orders");
}

/// Bybit's "Place Order": `takeProfit`/`stopLoss` attach to an opening order ("When reduceOnly
/// is true, take profit/stop loss cannot be set"); `tpslMode` is `Full` or `Partial`;
/// `tpTriggerBy`/`slTriggerBy` are `MarkPrice`, `IndexPrice` or `LastPrice`. The mock keeps what
/// an order carried, so tests read it.
#[tokio::test]
async fn bybit_keeps_an_orders_take_profit_and_stop_loss_and_refuses_them_on_a_close() {
    let rig = Rig::start().await;
    let ctx = rig.ctx(Exchange::Bybit);
    let creds = rig.creds(Exchange::Bybit);
    let post = |body: Value| {
        let body = body.to_string();
        let payload = exchanges::signing::bybit_payload(
            ctx.now_ms,
            &creds.api_key,
            ctx.recv_window_ms,
            &body,
        );
        let req = HttpRequest {
            method: Method::Post,
            url: format!("{}/v5/order/create", ctx.base_url),
            headers: vec![
                ("X-BAPI-API-KEY".into(), creds.api_key.clone()),
                ("X-BAPI-TIMESTAMP".into(), ctx.now_ms.to_string()),
                ("X-BAPI-RECV-WINDOW".into(), ctx.recv_window_ms.to_string()),
                (
                    "X-BAPI-SIGN".into(),
                    exchanges::signing::sign(&creds.api_secret, &payload),
                ),
                ("Content-Type".into(), "application/json".into()),
            ],
            body: Some(body),
        };
        let rig = &rig;
        async move {
            let resp = rig.send(&req).await.unwrap_or_else(|e| panic!("{e}"));
            serde_json::from_str::<Value>(&resp.body).unwrap_or(Value::Null)
        }
    };
    let open = |link: &str| {
        json!({"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Market","qty":"0.01",
               "timeInForce":"IOC","reduceOnly":false,"orderLinkId":link,"takeProfit":"70000",
               "stopLoss":"60000","tpslMode":"Partial","tpTriggerBy":"MarkPrice","slTriggerBy":"MarkPrice"})
    };
    let v = post(open("tpsl-open")).await;
    assert_eq!(v["retCode"], 0, "{v}");
    let mut close = open("tpsl-close");
    close["side"] = json!("Sell");
    close["reduceOnly"] = json!(true);
    let v = post(close).await;
    assert_eq!(v["retCode"], 10001, "{v}");
    for (field, bad) in [
        ("tpslMode", "Some"),
        ("tpTriggerBy", "Mark"),
        ("slTriggerBy", "lastprice"),
    ] {
        let mut o = open(&format!("tpsl-bad-{field}"));
        o[field] = json!(bad);
        let v = post(o).await;
        assert_eq!(v["retCode"], 10001, "{field}: {v}");
    }
    let listed = listed_orders(&rig).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let o = &listed[0];
    assert_eq!(
        (
            &o["take_profit"],
            &o["stop_loss"],
            &o["tpsl_mode"],
            &o["tp_trigger_by"],
            &o["sl_trigger_by"]
        ),
        (
            &json!("70000"),
            &json!("60000"),
            &json!("Partial"),
            &json!("MarkPrice"),
            &json!("MarkPrice")
        )
    );
}

/// The Binance adapter's protective orders against the mock, as the worker places them after a
/// fill: both accepted and found by their client ids; a second placement of one is refused as
/// a duplicate the adapter reads as "may exist, look it up"; a stop that would trigger at once
/// is refused for good.
#[tokio::test]
async fn binance_protective_orders_are_placed_found_and_never_doubled() {
    use contracts::event::ProtectiveKind;
    let rig = Rig::start().await;
    let ex = Exchange::Binance;
    let p = venue(ex)
        .separate_protection()
        .unwrap_or_else(|| panic!("Binance places them apart"));
    let mut entry = market(ex, &id("protected"), "0.0123");
    entry.take_profit = Some(d("70000.04"));
    entry.stop_loss = Some(d("60000"));
    let ack = rig.submit(&entry).await.done();
    assert_eq!(ack.filled_quantity, d("0.012"));
    let btc = rig.instrument(ex, &btc()).await;
    let (ctx, creds) = (rig.ctx(ex), rig.creds(ex));
    let place = |kind: ProtectiveKind| {
        let req = p
            .protective_request(&ctx, &creds, &entry, kind, ack.filled_quantity, &btc)
            .unwrap_or_else(|e| panic!("{e}"));
        let rig = &rig;
        let entry = &entry;
        async move {
            let resp = rig.send(&req).await.unwrap_or_else(|e| panic!("{e}"));
            p.parse_protective(entry, kind, &resp)
        }
    };
    let find = |kind: ProtectiveKind| {
        let req = p.protective_query_request(&ctx, &creds, &entry, kind);
        let rig = &rig;
        let entry = &entry;
        async move {
            let resp = rig.send(&req).await.unwrap_or_else(|e| panic!("{e}"));
            p.parse_protective_query(entry, kind, &resp)
        }
    };
    assert_eq!(find(ProtectiveKind::TakeProfit).await, Ok(None));
    let tp = place(ProtectiveKind::TakeProfit)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let sl = place(ProtectiveKind::StopLoss)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (tp.trigger_price, tp.quantity, tp.status.as_str()),
        (d("70000"), d("0.012"), "NEW")
    );
    assert_eq!(sl.client_id, format!("{}-sl", entry.client_order_id));
    assert_eq!(find(ProtectiveKind::StopLoss).await, Ok(Some(sl.clone())));
    let again = place(ProtectiveKind::StopLoss).await.err();
    assert_eq!(again.map(|e| e.class), Some(ErrorClass::Unknown));
    let algos = rig.mock.algo_orders();
    let shown: Vec<String> = algos
        .iter()
        .map(|a| {
            format!(
                "{} {} {} {:?} reduce_only={} {}",
                a.client_algo_id, a.side, a.order_type, a.quantity, a.reduce_only, a.working_type
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            format!(
                "{} SELL TAKE_PROFIT_MARKET Some(0.012) reduce_only=true MARK_PRICE",
                tp.client_id
            ),
            format!(
                "{} SELL STOP_MARKET Some(0.012) reduce_only=true MARK_PRICE",
                sl.client_id
            ),
        ]
    );
    // The mark moved through the stop before it was placed: refused, nothing placed.
    rig.mock
        .set_price(ex, "BTCUSDT", d("59000"))
        .unwrap_or_else(|e| panic!("{e}"));
    let late = OrderRequest {
        client_order_id: id("protected-late"),
        ..entry.clone()
    };
    let req = p
        .protective_request(
            &ctx,
            &creds,
            &late,
            ProtectiveKind::StopLoss,
            d("0.012"),
            &btc,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let resp = rig.send(&req).await.unwrap_or_else(|e| panic!("{e}"));
    let e = p
        .parse_protective(&late, ProtectiveKind::StopLoss, &resp)
        .err();
    assert_eq!(
        e.map(|e| (e.class, e.code)),
        Some((ErrorClass::Terminal, Some("-2021".into())))
    );
    assert_eq!(rig.mock.algo_orders().len(), 2);
}

/// The Bybit adapter's take-profit and stop-loss reach the mock as sent: on the order, for this
/// fill (`Partial`), triggered by the mark price. MEXC's travel with its order too.
#[tokio::test]
async fn bybit_and_mexc_orders_carry_their_take_profit_and_stop_loss() {
    let rig = Rig::start().await;
    for ex in [Exchange::Bybit, Exchange::Mexc] {
        let mut o = market(ex, &id(&format!("carried-{ex}")), "0.01");
        o.take_profit = Some(d("70000"));
        o.stop_loss = Some(d("60000"));
        rig.submit(&o).await.done();
    }
    let bybit = &rig.orders_of(Exchange::Bybit)[0];
    assert_eq!(
        (
            bybit.take_profit,
            bybit.stop_loss,
            bybit.tpsl_mode.as_deref(),
            bybit.tp_trigger_by.as_deref(),
            bybit.sl_trigger_by.as_deref()
        ),
        (
            Some(d("70000")),
            Some(d("60000")),
            Some("Partial"),
            Some("MarkPrice"),
            Some("MarkPrice")
        )
    );
    let mexc = &rig.orders_of(Exchange::Mexc)[0];
    assert_eq!(
        (mexc.take_profit, mexc.stop_loss),
        (Some(d("70000")), Some(d("60000")))
    );
}

/// Issue 13, items 2 and 7 together: on a hedge-mode Binance account an entry's protective
/// orders name its position (`positionSide` LONG for a long, SHORT for a short, "It must be
/// sent in Hedge Mode") and say no `reduceOnly` ("Cannot be sent in Hedge Mode"), as the
/// adapter writes them from the mode the prepare read. Written for one-way mode, the account
/// refuses them (-4061), and a hedge-mode one that also says `reduceOnly` gets -1106; on a
/// one-way account a `positionSide` of LONG is -4061.
#[tokio::test]
async fn binance_protective_orders_on_a_hedge_mode_account_name_the_entry_s_position() {
    use contracts::event::ProtectiveKind;
    let rig = Rig::start().await;
    let ex = Exchange::Binance;
    switch(&rig, ex, hedge(true));
    let p = venue(ex)
        .separate_protection()
        .unwrap_or_else(|| panic!("Binance places them apart"));
    let (ctx, creds) = (rig.ctx(ex), rig.creds(ex));
    for (side, tp, sl) in [
        (Side::Buy, "70000", "60000"),
        (Side::Sell, "60000", "70000"),
    ] {
        let entry = OrderRequest {
            side,
            take_profit: Some(d(tp)),
            stop_loss: Some(d(sl)),
            ..market(ex, &id(&format!("hedge-protected-{side:?}")), "0.01")
        };
        let placed = rig.prepare(&entry).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(placed.placement.position_mode, Some(PositionMode::Hedge));
        let ack = rig.submit_placed(&entry, &placed).await.done();
        for kind in ProtectiveKind::BOTH {
            let place = |instrument: &Instrument| {
                let req = p
                    .protective_request(&ctx, &creds, &entry, kind, ack.filled_quantity, instrument)
                    .unwrap_or_else(|e| panic!("{e}"));
                let rig = &rig;
                let entry = &entry;
                async move {
                    let resp = rig.send(&req).await.unwrap_or_else(|e| panic!("{e}"));
                    p.parse_protective(entry, kind, &resp)
                }
            };
            let one_way = in_mode(placed.clone(), Some(PositionMode::OneWay));
            let e = place(&one_way).await.err();
            assert_eq!(
                e.as_ref().and_then(|e| e.code.as_deref()),
                Some("-4061"),
                "{side:?} {kind:?}: {e:?}"
            );
            let po = place(&placed)
                .await
                .unwrap_or_else(|e| panic!("{side:?} {kind:?}: {e}"));
            assert_eq!(po.status, "NEW");
        }
    }
    let shown: Vec<String> = rig
        .mock
        .algo_orders()
        .iter()
        .map(|a| {
            format!(
                "{} {} {} {} reduce_only={}",
                a.client_algo_id, a.side, a.position_side, a.order_type, a.reduce_only
            )
        })
        .collect();
    let of = |side: &str, kind: &str| format!("{}-{kind}", id(&format!("hedge-protected-{side}")));
    assert_eq!(
        shown,
        [
            format!(
                "{} SELL LONG TAKE_PROFIT_MARKET reduce_only=false",
                of("Buy", "tp")
            ),
            format!(
                "{} SELL LONG STOP_MARKET reduce_only=false",
                of("Buy", "sl")
            ),
            format!(
                "{} BUY SHORT TAKE_PROFIT_MARKET reduce_only=false",
                of("Sell", "tp")
            ),
            format!(
                "{} BUY SHORT STOP_MARKET reduce_only=false",
                of("Sell", "sl")
            ),
        ]
    );
    let stop = |client: &'static str, reduce_only: bool| {
        let mut p = vec![
            ("algoType", "CONDITIONAL"),
            ("symbol", "BTCUSDT"),
            ("side", "SELL"),
            ("positionSide", "LONG"),
            ("type", "STOP_MARKET"),
            ("quantity", "0.01"),
            ("triggerPrice", "60000"),
            ("clientAlgoId", client),
        ];
        if reduce_only {
            p.push(("reduceOnly", "true"));
        }
        p
    };
    let (status, v) = place_algo(&rig, &stop("hedge-ro", true)).await;
    assert_eq!((status, v["code"].as_i64()), (400, Some(-1106)), "{v}");
    assert_eq!(v["msg"], "Parameter 'reduceonly' sent when not required.");
    switch(&rig, ex, hedge(false));
    let (status, v) = place_algo(&rig, &stop("oneway-long", false)).await;
    assert_eq!((status, v["code"].as_i64()), (400, Some(-4061)), "{v}");
    assert_eq!(rig.mock.algo_orders().len(), 4);
}

// ---------------------------------------------------------------------------------------------
// Server-side stops (issue 15): the adapters' plans against the mock, and stops that fire
// ---------------------------------------------------------------------------------------------

use exchanges::account::PositionSide;
use exchanges::stops::{Placed, StopPosition, StopTarget, Trailing};

fn stop_position(ex: Exchange, side: PositionSide, mode: PositionMode, size: &str) -> StopPosition {
    StopPosition {
        symbol: btc(),
        exchange_symbol: if ex == Exchange::Mexc {
            "BTC_USDT"
        } else {
            "BTCUSDT"
        }
        .into(),
        side,
        mode,
        size: d(size),
        mark: d("65000"),
        tick_size: d("0.1"),
        qty_step: d("0.001"),
    }
}

fn target(stop: Option<&str>, trailing: Option<(&str, Option<&str>)>) -> StopTarget {
    StopTarget {
        stop_price: stop.map(d),
        trailing: trailing.map(|(pct, act)| Trailing {
            distance_pct: d(pct),
            activation_price: act.map(d),
        }),
    }
}

/// What the live port does: read (where the venue needs it), plan, send each write in order.
async fn set_stops(
    rig: &Rig,
    ex: Exchange,
    position: &StopPosition,
    t: &StopTarget,
) -> Result<Placed, ExchangeError> {
    let v = exchanges::stops::of(ex).unwrap_or_else(|| panic!("{ex} stops"));
    let (ctx, creds) = (rig.ctx(ex), rig.creds(ex));
    let existing = match v.stops_read_request(&ctx, &creds, position) {
        Some(req) => {
            let resp = rig.send(&req).await.unwrap_or_else(|e| panic!("{e}"));
            v.parse_stops_read(position, &resp)?
        }
        None => Default::default(),
    };
    let plan = v.stops_plan(&ctx, &creds, position, t, &existing)?;
    let mut results = Vec::new();
    for w in &plan.writes {
        let resp = rig.send(&w.request).await.unwrap_or_else(|e| panic!("{e}"));
        results.push(v.parse_stop_write(w, &resp)?);
    }
    Ok(exchanges::stops::settle(&plan, &results))
}

/// Held size of BTCUSDT on `ex` mainnet, signed by side (0 when flat).
fn held(rig: &Rig, ex: Exchange) -> Decimal {
    rig.mock
        .held_positions()
        .into_iter()
        .filter(|p| p.exchange == ex && !p.testnet && p.symbol == "BTCUSDT")
        .map(|p| if p.side == "long" { p.size } else { -p.size })
        .sum()
}

#[tokio::test]
async fn bybit_trading_stop_refuses_what_bybit_refuses() {
    let rig = Rig::start().await;
    let ex = Exchange::Bybit;
    let long = stop_position(ex, PositionSide::Long, PositionMode::OneWay, "0.01");
    // No position yet.
    let e = set_stops(&rig, ex, &long, &target(Some("60000"), None))
        .await
        .err()
        .unwrap_or_else(|| panic!("refused"));
    assert_eq!(e.code.as_deref(), Some("10001"));
    assert!(e.message.contains("zero position"), "{}", e.message);
    rig.submit(&market(ex, &id("stop-entry"), "0.01"))
        .await
        .done();
    // A long's stop above the mark, in Bybit's words.
    let e = set_stops(&rig, ex, &long, &target(Some("66000"), None))
        .await
        .err()
        .unwrap_or_else(|| panic!("refused"));
    assert_eq!(e.class, ErrorClass::Terminal);
    assert!(
        e.message.contains("should lower than base_price"),
        "{}",
        e.message
    );
    // The hedge-mode index on a one-way account.
    let hedge = stop_position(ex, PositionSide::Long, PositionMode::Hedge, "0.01");
    let e = set_stops(&rig, ex, &hedge, &target(Some("60000"), None))
        .await
        .err()
        .unwrap_or_else(|| panic!("refused"));
    assert!(e.message.contains("position idx"), "{}", e.message);
    // Unsigned: refused before anything is kept.
    let plan = exchanges::stops::of(ex)
        .and_then(|v| {
            v.stops_plan(
                &rig.ctx(ex),
                &rig.creds(ex),
                &long,
                &target(Some("60000"), None),
                &Default::default(),
            )
            .ok()
        })
        .unwrap_or_else(|| panic!("a plan"));
    let mut unsigned = plan.writes[0].request.clone();
    unsigned.headers.retain(|(k, _)| k != "X-BAPI-SIGN");
    let resp = rig.send(&unsigned).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status, 401);
    assert!(rig.mock.server_stops().is_empty());
    // Accepted, then the same again is "Not modified", read as success.
    let placed = set_stops(&rig, ex, &long, &target(Some("60000"), None))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(placed.stop.and_then(|s| s.trigger_price), Some(d("60000")));
    assert!(set_stops(&rig, ex, &long, &target(Some("60000"), None))
        .await
        .is_ok());
    assert_eq!(rig.mock.server_stops().len(), 1);
    // None cancels it.
    set_stops(&rig, ex, &long, &StopTarget::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(rig.mock.server_stops().is_empty());
}

/// A Bybit stop fires when the mark a test sets reaches it: the position closes as a
/// reduce-only market order would, with a fill at the mark, and its stop goes with it.
#[tokio::test]
async fn bybit_stop_and_trailing_stop_fire_when_the_mark_crosses_them() {
    let rig = Rig::start().await;
    let ex = Exchange::Bybit;
    rig.submit(&market(ex, &id("fire-entry"), "0.01"))
        .await
        .done();
    let long = stop_position(ex, PositionSide::Long, PositionMode::OneWay, "0.01");
    set_stops(&rig, ex, &long, &target(Some("60000"), None))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    rig.mock
        .set_price(ex, "BTCUSDT", d("60500"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(held(&rig, ex), d("0.01"), "above the stop: still open");
    rig.mock
        .set_price(ex, "BTCUSDT", d("59990"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(held(&rig, ex), Decimal::ZERO, "the stop closed it");
    let close = rig
        .orders_of(ex)
        .into_iter()
        .last()
        .unwrap_or_else(|| panic!("a close"));
    assert!(close.reduce_only && close.side == "Sell" && close.state == OrderState::Filled);
    assert_eq!(close.average_price, Some(d("59990")));
    let fill = rig
        .mock
        .fills()
        .into_iter()
        .last()
        .unwrap_or_else(|| panic!("a fill"));
    assert_eq!((fill.quantity, fill.price), (d("0.01"), d("59990")));
    assert!(
        rig.mock.server_stops().is_empty(),
        "cleared with the position"
    );
    // A trailing stop: 1 % (650 at 65000) behind the highest mark since activation at 66000.
    rig.mock
        .set_price(ex, "BTCUSDT", d("65000"))
        .unwrap_or_else(|e| panic!("{e}"));
    rig.submit(&market(ex, &id("trail-entry"), "0.01"))
        .await
        .done();
    let placed = set_stops(&rig, ex, &long, &target(None, Some(("1", Some("66000")))))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(placed.trailing.and_then(|t| t.distance), Some(d("660")));
    let stops = rig.mock.server_stops();
    assert_eq!(
        stops[0].watermark, None,
        "not active below its activation price"
    );
    rig.mock
        .set_price(ex, "BTCUSDT", d("64000"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(held(&rig, ex), d("0.01"), "inactive: no trail yet");
    rig.mock
        .set_price(ex, "BTCUSDT", d("67000"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rig.mock.server_stops()[0].watermark, Some(d("67000")));
    rig.mock
        .set_price(ex, "BTCUSDT", d("66400"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(held(&rig, ex), d("0.01"), "within 660 of the watermark");
    rig.mock
        .set_price(ex, "BTCUSDT", d("66300"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(held(&rig, ex), Decimal::ZERO, "67000 - 660 reached");
}

#[tokio::test]
async fn binance_trailing_stops_keep_their_bounds_and_fire_behind_the_watermark() {
    let rig = Rig::start().await;
    let ex = Exchange::Binance;
    rig.submit(&market(ex, &id("bn-trail-entry"), "0.012"))
        .await
        .done();
    let long = stop_position(ex, PositionSide::Long, PositionMode::OneWay, "0.012");
    // The adapter refuses a rate outside [0.1, 10]; the mock refuses one sent anyway.
    assert!(
        set_stops(&rig, ex, &long, &target(None, Some(("12", None))))
            .await
            .is_err()
    );
    let (status, v) = place_algo(
        &rig,
        &[
            ("algoType", "CONDITIONAL"),
            ("symbol", "BTCUSDT"),
            ("side", "SELL"),
            ("type", "TRAILING_STOP_MARKET"),
            ("quantity", "0.012"),
            ("callbackRate", "12"),
            ("reduceOnly", "true"),
        ],
    )
    .await;
    assert_eq!((status, v["code"].as_i64()), (400, Some(-1130)));
    // An activation price at or below the mark for a SELL would trigger at once.
    let e = set_stops(&rig, ex, &long, &target(None, Some(("1", Some("64000")))))
        .await
        .err()
        .unwrap_or_else(|| panic!("refused"));
    assert_eq!(e.code.as_deref(), Some("-2021"));
    let placed = set_stops(&rig, ex, &long, &target(Some("60000"), Some(("2", None))))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let trailing_id = placed.trailing.as_ref().and_then(|t| t.exchange_id.clone());
    assert!(placed.stop.and_then(|s| s.exchange_id).is_some() && trailing_id.is_some());
    // Asked again: the same orders stay (the trailing watermark is not reset).
    let again = set_stops(&rig, ex, &long, &target(Some("60000"), Some(("2", None))))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.trailing.and_then(|t| t.exchange_id), trailing_id);
    assert_eq!(
        rig.mock
            .algo_orders()
            .iter()
            .filter(|a| a.status == "NEW")
            .count(),
        2
    );
    // Moved: the new stop is placed, then the old one cancelled.
    let moved = set_stops(&rig, ex, &long, &target(Some("61000"), Some(("2", None))))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(moved.cancelled.len(), 1);
    let statuses: Vec<_> = rig
        .mock
        .algo_orders()
        .iter()
        .map(|a| a.status.clone())
        .collect();
    assert_eq!(statuses, ["CANCELED", "NEW", "NEW"]);
    // 2 % behind the highest mark: 70000 → fires at 68600.
    rig.mock
        .set_price(ex, "BTCUSDT", d("70000"))
        .unwrap_or_else(|e| panic!("{e}"));
    rig.mock
        .set_price(ex, "BTCUSDT", d("68700"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(held(&rig, ex), d("0.012"));
    rig.mock
        .set_price(ex, "BTCUSDT", d("68600"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(held(&rig, ex), Decimal::ZERO, "the trailing stop closed it");
    let fired: Vec<_> = rig
        .mock
        .algo_orders()
        .into_iter()
        .filter(|a| a.status == "FINISHED")
        .map(|a| a.order_type)
        .collect();
    assert_eq!(fired, ["TRAILING_STOP_MARKET"]);
    // Nothing left to cancel but the stop, which the open-order list still shows.
    let none = set_stops(&rig, ex, &long, &StopTarget::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(none.cancelled.len(), 1);
    assert!(rig.mock.algo_orders().iter().all(|a| a.status != "NEW"));
}
