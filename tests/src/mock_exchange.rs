//! Local stand-ins for Bybit, Binance and MEXC: one HTTP server on 127.0.0.1 that speaks each
//! exchange's protocol under its own path prefix (`/bybit`, `/binance`, `/mexc`), so the workers
//! and the adapters can be driven end to end on a machine that may not reach the real ones.
//!
//! It is strict where a lax mock would hide bugs: it checks the API key, the HMAC signature
//! (rebuilt from the bytes on the wire, by each exchange's own rule) and the timestamp window
//! against its own clock, and refuses with the exchange's own codes; it applies lot steps, ticks
//! and minimums, and the size limits each one publishes (Binance `MARKET_LOT_SIZE` and
//! `LOT_SIZE` maxima with -4005 and `MIN_NOTIONAL`, 100 USDT on BTCUSDT, 20 on ETHUSDT, 5 elsewhere, with
//! -4164 unless reduce-only; Bybit `maxMktOrderQty`/`maxOrderQty` with 10001, a reduce-only order
//! above them split rather than refused, and `minNotionalValue` 5 with 110094; MEXC `maxVol`
//! with 2028), a market order valued at the mark; it keeps each account's position mode
//! ([`Switches::hedge_mode`]) and refuses an order written for the other one; and it keeps each
//! exchange's client-order-id rule (Bybit and MEXC refuse any reuse, Binance only while the
//! earlier order is open, accepting a reused id once it filled).
//! Market orders, and limit orders priced through the market, fill at once at the mark price;
//! other limit orders rest open.
//!
//! Each exchange publishes its mark as its own public price: Bybit's linear ticker
//! (`GET /v5/market/tickers`, `category` required, `retCode` 10001 "Not supported symbols" for a
//! symbol it does not list), Binance's premium index (`GET /fapi/v1/premiumIndex`, HTTP 400
//! -1121 "Invalid symbol.") and MEXC's fair price (`GET /api/v1/contract/fair_price/{symbol}`,
//! code 1001 "Contract does not exist!"). Each exchange lists the same twelve USDT perpetuals
//! (BTC, ETH, SOL, XRP, BIO, BLZ, DOGE, BNB, ADA, LINK, AVAX, LTC; [`listed_symbols`]), each
//! with its lot step, minimum, tick, MEXC contract size and starting mark (65000 for BTC, 3000
//! for ETH) until a test sets another per (exchange, symbol) with
//! [`MockExchanges::set_price`]; fills follow it.
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
//!
//! [`Switches`] (per exchange, for both its networks, until a reset) turn on behaviours the
//! real exchanges have and a happy mock hides: market orders filled only in part with their
//! remainder cancelled (`partial_fill`), Bybit's realtime order list cleared of closed orders as after a release, so
//! only order history has them (`realtime_forgets_closed`), Bybit's geographic block, a
//! CloudFront 403 page for every request (`geo_block`), the account's position mode
//! (`hedge_mode`: hedge or one-way; unset, each exchange's default, one-way on Bybit and
//! Binance, hedge on MEXC), MEXC's margin conflicts (`margin_conflicts`: 2021 for an opening
//! order at another leverage than its position's, 2027 for one of another margin type), an
//! external-id lookup that misses every order (`external_lookup_misses`) and orders that
//! lookups see only some time after they were accepted (`visible_after_ms`):
//! [`MockExchanges::set_switches`] or `POST /__mock/switches` `{"exchange":"bybit",
//! "partial_fill":"0.5"}`.
//!
//! Bybit's `GET /v5/order/realtime` follows its documentation: `openOnly` is ignored when the
//! query names an `orderId` or `orderLinkId`; `GET /v5/order/history` lists closed orders;
//! `GET /v5/position/list` has a row per position index of the mode for a `symbol`. Binance
//! answers `GET /fapi/v1/positionSide/dual`. MEXC answers `position_mode`, `open_positions`
//! (each position's id, margin type and leverage), `change_leverage` by `positionId` (or, with
//! no position, `symbol`, `openType` and `positionType`) and `order/list/history_orders`.
//!
//! **Networks.** Bybit's and Binance's testnets are other systems with other accounts: under
//! `/bybit-testnet` and `/binance-testnet` ([`MockExchanges::testnet_base_url`]) the mock takes
//! only the testnet pairs ([`MockCredentials::for_network`]), refusing a mainnet key there as an
//! unknown one (Bybit 10003, Binance -2015) and a testnet key on mainnet likewise, and keeps each
//! network's orders, positions and leverage apart. MEXC has no testnet.
//!
//! **Take-profit and stop-loss.** Bybit keeps what an order carried (`takeProfit`, `stopLoss`,
//! `tpslMode` `Full`/`Partial`, `tpTriggerBy`/`slTriggerBy` `MarkPrice`/`IndexPrice`/
//! `LastPrice`) and refuses them on a `reduceOnly` order ("When reduceOnly is true, take
//! profit/stop loss cannot be set"); MEXC keeps `takeProfitPrice`/`stopLossPrice`. Binance takes
//! them only as conditional orders of its Algo Service: `POST /fapi/v1/order` refuses the
//! conditional types with -4120, `POST /fapi/v1/algoOrder` places one (signed, validated as the
//! official connector documents it, written for the account's position mode as an order must
//! be: `positionSide` `LONG`/`SHORT` and no `reduceOnly` in hedge mode, -4061 / -1106
//! otherwise; a duplicate open `clientAlgoId` refused, one that would trigger at once refused
//! with -2021), `GET /fapi/v1/algoOrder` finds it by `clientAlgoId` or
//! `algoId`, and [`MockExchanges::algo_orders`] / `GET /__mock/algo_orders` list them. A fault
//! with `"target": "algo_order"` ([`Fault::on_algo_orders`]) serves algo-order placements
//! instead of order submits. The mock never triggers a conditional order.

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

/// The key pairs the mock accepts: one per exchange on mainnet, and one per testnet (Bybit's and
/// Binance's testnets are other systems with their own accounts, so a mainnet pair is an unknown
/// key there, and the other way round).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockCredentials {
    pub bybit: Credentials,
    pub binance: Credentials,
    pub mexc: Credentials,
    pub bybit_testnet: Credentials,
    pub binance_testnet: Credentials,
}

impl MockCredentials {
    /// The mainnet pair of `exchange`.
    pub fn get(&self, exchange: Exchange) -> Option<&Credentials> {
        self.for_network(exchange, false)
    }

    /// The pair of `exchange` on mainnet or its testnet (MEXC has none).
    pub fn for_network(&self, exchange: Exchange, testnet: bool) -> Option<&Credentials> {
        match (exchange, testnet) {
            (Exchange::Bybit, false) => Some(&self.bybit),
            (Exchange::Bybit, true) => Some(&self.bybit_testnet),
            (Exchange::Binance, false) => Some(&self.binance),
            (Exchange::Binance, true) => Some(&self.binance_testnet),
            (Exchange::Mexc, false) => Some(&self.mexc),
            _ => None,
        }
    }
}

impl Default for MockCredentials {
    /// Fixed, obviously fake pairs (`mock-bybit-key` / `mock-bybit-secret`, ...; on a testnet
    /// `mock-bybit-testnet-key` / `mock-bybit-testnet-secret`).
    fn default() -> Self {
        let pair = |ex: &str| Credentials {
            api_key: format!("mock-{ex}-key"),
            api_secret: format!("mock-{ex}-secret"),
        };
        Self {
            bybit: pair("bybit"),
            binance: pair("binance"),
            mexc: pair("mexc"),
            bybit_testnet: pair("bybit-testnet"),
            binance_testnet: pair("binance-testnet"),
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
    /// The fault serves Binance's algo-order placements (`POST /fapi/v1/algoOrder`, the
    /// take-profit and stop-loss orders) instead of order submits: `"target": "algo_order"`.
    pub algo: bool,
}

impl Fault {
    pub fn new(exchange: Exchange, kind: FaultKind) -> Self {
        Self {
            exchange,
            kind,
            retry_after_seconds: None,
            count: 1,
            delay: None,
            algo: false,
        }
    }

    /// The fault serves algo-order placements (Binance only) instead of order submits.
    pub fn on_algo_orders(mut self) -> Self {
        self.algo = true;
        self
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
        let algo = match v.get("target").and_then(Value::as_str) {
            None | Some("order") => false,
            Some("algo_order") if exchange == Exchange::Binance => true,
            Some(other) => {
                return Err(MockError::BadFault(format!(
                    "target must be order, or algo_order on binance, not {other:?}"
                )))
            }
        };
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
            algo,
        })
    }
}

/// Where an accepted order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderState {
    /// A limit order resting on the book.
    Open,
    Filled,
    /// Closed with its remainder cancelled (a market order's IOC remainder, under
    /// [`Switches::partial_fill`]); `filled_quantity` says what executed, possibly nothing.
    Cancelled,
}

/// Behaviours of one mocked exchange that differ from the plain, happy one, each the way the
/// real exchange behaves in that situation. All off by default and after a reset.
///
/// Set with [`MockExchanges::set_switches`] or `POST /__mock/switches` `{"exchange":"bybit",
/// "partial_fill":"0.5","realtime_forgets_closed":true,"geo_block":false}` (the body sets all
/// of that exchange's switches at once; an omitted one is off).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Switches {
    /// Market orders fill only this fraction (`0..=1`) of their quantity, rounded down to the lot
    /// step (whole contracts on MEXC), and the remainder is cancelled as an IOC remainder is:
    /// Bybit `Cancelled` with its `cumExecQty` ("In derivatives, orders with this status may
    /// have an executed qty"), Binance `EXPIRED` with its `executedQty` (the `RESULT` answer of
    /// the submit says so too), MEXC state 4 (cancelled) with its `dealVol`. `0` fills nothing:
    /// the order is closed at once, unfilled. Limit orders are not affected.
    pub partial_fill: Option<Decimal>,
    /// Bybit only: `GET /v5/order/realtime` no longer returns closed orders, as after a Bybit
    /// release or restart ("filled, cancelled, and rejected orders of Unified account should
    /// only be queried through order history"); `GET /v5/order/history` still has them.
    pub realtime_forgets_closed: bool,
    /// Bybit only: every request is refused as Bybit refuses US and mainland-China egress: HTTP
    /// 403 with CloudFront's geo-restriction page (HTML, not Bybit JSON).
    pub geo_block: bool,
    /// The account's position mode: `Some(true)` hedge (a long and a short position side by
    /// side), `Some(false)` one-way (one net position), `None` the exchange's default for a
    /// fresh account (one-way on Bybit and Binance, hedge on MEXC). Each refuses an order
    /// written for the other mode in its own words: Bybit `retCode` 10001 for a
    /// `positionIdx` the mode does not have; Binance -4061 "Order's position side does not
    /// match user's setting." for a `positionSide` that does not fit, -1106 "Parameter
    /// 'reduceonly' sent when not required." for `reduceOnly` in hedge mode; MEXC 600
    /// "Parameter error" for `reduceOnly` in hedge mode ("two-way positions will not accept
    /// this parameter"). Each answers its mode endpoint accordingly.
    pub hedge_mode: Option<bool>,
    /// MEXC only: an opening order must agree with the open position of its direction: its
    /// margin type (else 2027 "There is only one cross or isolated in the same direction")
    /// and its leverage (else 2021 "The single leverage is not consistent with the existing
    /// position leverage").
    pub margin_conflicts: bool,
    /// MEXC only: the external-id lookup answers 2040 "order not exist" for every order, as
    /// an undocumented answer may; only the order history still has them.
    pub external_lookup_misses: bool,
    /// Every order lookup (by client order id or order id, and the order history lists) finds
    /// an order only this long after it was accepted, as a read replica behind the matching
    /// engine does: Binance's "an order in flight may not be visible yet" (issue 13 item 6). A
    /// lookup before then answers as for an unknown order.
    pub visible_after_ms: Option<u64>,
}

impl Switches {
    /// Reads the control API's JSON form (without `exchange`); a switch only Bybit has is
    /// refused for the others, where it would silently do nothing.
    pub fn from_json(exchange: Exchange, v: &Value) -> Result<Self, MockError> {
        let bad = |m: String| MockError::BadSwitch(m);
        let flag = |k: &str| match v.get(k) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(bad(format!("{k} must be true or false, not {other}"))),
        };
        let partial_fill = match v.get("partial_fill") {
            None | Some(Value::Null) => None,
            Some(f) => Some(
                json_dec(f)
                    .filter(|f| *f >= Decimal::ZERO && *f <= Decimal::ONE)
                    .ok_or_else(|| {
                        bad(format!("partial_fill must be a decimal in 0..=1, not {f}"))
                    })?,
            ),
        };
        let hedge_mode = match v.get("hedge_mode") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(other) => {
                return Err(bad(format!(
                    "hedge_mode must be true, false or null, not {other}"
                )))
            }
        };
        let visible_after_ms = match v.get("visible_after_ms") {
            None | Some(Value::Null) => None,
            Some(ms) => Some(ms.as_u64().ok_or_else(|| {
                bad(format!(
                    "visible_after_ms must be a whole number of milliseconds, not {ms}"
                ))
            })?),
        };
        let s = Self {
            partial_fill,
            visible_after_ms,
            realtime_forgets_closed: flag("realtime_forgets_closed")?,
            geo_block: flag("geo_block")?,
            hedge_mode,
            margin_conflicts: flag("margin_conflicts")?,
            external_lookup_misses: flag("external_lookup_misses")?,
        };
        s.check(exchange)?;
        Ok(s)
    }

    /// Refuses a switch `exchange` does not have, which would silently do nothing.
    fn check(&self, exchange: Exchange) -> Result<(), MockError> {
        if exchange == Exchange::Paper {
            return Err(MockError::BadSwitch("paper has no mock".into()));
        }
        if exchange != Exchange::Bybit && (self.realtime_forgets_closed || self.geo_block) {
            return Err(MockError::BadSwitch(format!(
                "realtime_forgets_closed and geo_block are Bybit behaviours, not {exchange}'s"
            )));
        }
        if exchange != Exchange::Mexc && (self.margin_conflicts || self.external_lookup_misses) {
            return Err(MockError::BadSwitch(format!(
                "margin_conflicts and external_lookup_misses are MEXC behaviours, not {exchange}'s"
            )));
        }
        Ok(())
    }

    /// Whether the account is in hedge mode (`hedge_mode`, else the exchange's default).
    pub fn hedge(&self, exchange: Exchange) -> bool {
        self.hedge_mode.unwrap_or(exchange == Exchange::Mexc)
    }

    /// The control API's JSON form of these switches.
    fn to_json(&self, exchange: Exchange) -> Value {
        json!({
            "exchange": exchange.as_str(),
            "partial_fill": self.partial_fill.map(|f| f.normalize().to_string()),
            "realtime_forgets_closed": self.realtime_forgets_closed,
            "geo_block": self.geo_block,
            "hedge_mode": self.hedge_mode,
            "margin_conflicts": self.margin_conflicts,
            "external_lookup_misses": self.external_lookup_misses,
            "visible_after_ms": self.visible_after_ms,
        })
    }
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
    /// Placed on the exchange's testnet (its own keys, its own orders).
    pub testnet: bool,
    /// The take-profit and stop-loss the order carried (Bybit `takeProfit`/`stopLoss`, MEXC
    /// `takeProfitPrice`/`stopLossPrice`), as sent.
    pub take_profit: Option<Decimal>,
    pub stop_loss: Option<Decimal>,
    /// Bybit's `tpslMode`, `tpTriggerBy`, `slTriggerBy`, as sent.
    pub tpsl_mode: Option<String>,
    pub tp_trigger_by: Option<String>,
    pub sl_trigger_by: Option<String>,
    /// The position it moves (the account's mode when it was placed).
    leg: Leg,
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
            "state": match self.state {
                OrderState::Open => "open",
                OrderState::Filled => "filled",
                OrderState::Cancelled => "cancelled",
            },
            "filled_quantity": self.filled_quantity.normalize().to_string(),
            "average_price": self.average_price.map(|p| p.normalize().to_string()),
            "accepted_at_ms": self.accepted_at_ms,
            "testnet": self.testnet,
            "take_profit": self.take_profit.map(|p| p.normalize().to_string()),
            "stop_loss": self.stop_loss.map(|p| p.normalize().to_string()),
            "tpsl_mode": self.tpsl_mode,
            "tp_trigger_by": self.tp_trigger_by,
            "sl_trigger_by": self.sl_trigger_by,
        })
    }
}

/// One conditional order Binance's Algo Service accepted (`POST /fapi/v1/algoOrder`): a
/// take-profit or stop-loss waiting for its trigger. The mock never triggers them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlgoOrder {
    pub testnet: bool,
    pub algo_id: u64,
    pub client_algo_id: String,
    pub symbol: String,
    /// `BUY` or `SELL`.
    pub side: String,
    /// `BOTH` on a one-way account; `LONG` or `SHORT` (the position it closes or adds to) on a
    /// hedge-mode one.
    pub position_side: String,
    /// `STOP_MARKET`, `TAKE_PROFIT_MARKET`, ...
    pub order_type: String,
    /// `None` with `closePosition=true`.
    pub quantity: Option<Decimal>,
    pub trigger_price: Decimal,
    /// `MARK_PRICE` or `CONTRACT_PRICE`.
    pub working_type: String,
    pub reduce_only: bool,
    pub close_position: bool,
    /// `NEW` while it waits; `FINISHED` once the mark fired it, `CANCELED` once cancelled.
    pub status: String,
    pub created_at_ms: i64,
    /// A trailing stop's `callbackRate` (percent) and `activatePrice`.
    pub callback_rate: Option<Decimal>,
    pub activate_price: Option<Decimal>,
    /// Its best mark since activation (`None`: not active yet).
    pub watermark: Option<Decimal>,
}

impl AlgoOrder {
    pub fn to_json(&self) -> Value {
        json!({
            "exchange": "binance",
            "testnet": self.testnet,
            "algo_id": self.algo_id,
            "client_algo_id": self.client_algo_id,
            "symbol": self.symbol,
            "side": self.side,
            "position_side": self.position_side,
            "type": self.order_type,
            "quantity": self.quantity.map(|q| q.normalize().to_string()),
            "trigger_price": self.trigger_price.normalize().to_string(),
            "working_type": self.working_type,
            "reduce_only": self.reduce_only,
            "close_position": self.close_position,
            "status": self.status,
            "created_at_ms": self.created_at_ms,
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
    #[error("bad switch: {0}")]
    BadSwitch(String),
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

    /// The base URL of `exchange`'s testnet: `http://127.0.0.1:PORT/bybit-testnet` and
    /// `/binance-testnet`, which take the testnet pairs only. MEXC has no testnet: `None`.
    pub fn testnet_base_url(&self, exchange: Exchange) -> Option<String> {
        matches!(exchange, Exchange::Bybit | Exchange::Binance)
            .then(|| format!("{}/{}-testnet", self.url(), exchange.as_str()))
    }

    pub fn credentials(&self) -> &MockCredentials {
        &self.shared.credentials
    }

    /// Every accepted order, oldest first.
    pub fn orders(&self) -> Vec<AcceptedOrder> {
        self.shared.book().orders.clone()
    }

    /// Every conditional order Binance's Algo Service accepted (take-profits, stop-losses),
    /// oldest first.
    pub fn algo_orders(&self) -> Vec<AlgoOrder> {
        self.shared.book().algo_orders.clone()
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
        let m = MarkPrice::new(exchange, symbol, price);
        let sp = m.spec()?;
        self.shared.book().set_mark(&m)?;
        stops::fire(&self.shared, exchange, sp);
        Ok(())
    }

    /// The mark `exchange` publishes for `symbol` (`None` if the mock does not list it).
    pub fn price(&self, exchange: Exchange, symbol: &str) -> Option<Decimal> {
        let sp = MarkPrice::new(exchange, symbol, Decimal::ZERO)
            .spec()
            .ok()?;
        Some(self.shared.book().mark(exchange, sp))
    }

    /// Sets every [`Switches`] of `exchange` (paper has no mock: refused), until [`Self::reset`].
    pub fn set_switches(&self, exchange: Exchange, switches: Switches) -> Result<(), MockError> {
        switches.check(exchange)?;
        self.shared.book().switches.insert(exchange, switches);
        Ok(())
    }

    /// The switches in force for `exchange`.
    pub fn switches(&self, exchange: Exchange) -> Switches {
        self.shared.book().switches(exchange)
    }

    /// Drops the faults still queued for `exchange` (a scenario that queued more than its
    /// signal's submits used must not leave them to the next one).
    pub fn clear_faults(&self, exchange: Exchange) {
        self.shared
            .book()
            .faults
            .retain(|(ex, _), _| *ex != exchange);
    }

    /// Forgets orders, positions, leverage, marks and switches set by tests and queued faults.
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
pub use account::{FillLater, FillRecord, HeldPosition};
/// Server-side stops (Bybit's trading stop, Binance's trailing and open/cancel algo orders)
/// and their firing when a mark moves.
mod stops;
pub use stops::ServerStop;

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

/// Position keys: one net position per symbol in one-way mode (Bybit's and Binance's default),
/// long and short apart in hedge mode (MEXC's default); [`Switches::hedge_mode`] picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Leg {
    Net,
    Long,
    Short,
}

/// What MEXC keeps of an open position besides its size: its id, margin type (`openType` 1
/// isolated, 2 cross) and leverage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MexcPosition {
    id: u64,
    open_type: i64,
    leverage: u32,
}

#[derive(Default)]
struct Book {
    orders: Vec<AcceptedOrder>,
    /// Queued faults by (exchange, whether they serve algo-order placements).
    faults: BTreeMap<(Exchange, bool), VecDeque<Fault>>,
    /// Positions by (exchange, testnet, symbol, leg): each network has its own account.
    positions: BTreeMap<(Exchange, bool, String, Leg), Decimal>,
    /// MEXC's open positions, by (symbol, leg), while their size is not zero (MEXC has no
    /// testnet).
    mexc_positions: BTreeMap<(String, Leg), MexcPosition>,
    /// Leverage by (exchange, testnet, symbol).
    leverage: BTreeMap<(Exchange, bool, String), u32>,
    /// Marks set by tests, by (exchange, canonical symbol); the others are [`Spec::mark`].
    marks: BTreeMap<(Exchange, String), Decimal>,
    switches: BTreeMap<Exchange, Switches>,
    next_id: u64,
    /// Binance's conditional orders (`POST /fapi/v1/algoOrder`).
    algo_orders: Vec<AlgoOrder>,
    /// Bybit's trading stops (`POST /v5/position/trading-stop`).
    server_stops: Vec<stops::ServerStop>,
}

impl Book {
    fn queue(&mut self, fault: Fault) {
        if fault.count > 0 {
            self.faults
                .entry((fault.exchange, fault.algo))
                .or_default()
                .push_back(fault);
        }
    }

    /// The fault for this submit, if one is queued; each queued entry serves `count` submits.
    fn take_fault(&mut self, exchange: Exchange) -> Option<Fault> {
        self.take_fault_of(exchange, false)
    }

    /// [`Self::take_fault`] of order submits (`algo` false) or algo-order placements.
    fn take_fault_of(&mut self, exchange: Exchange, algo: bool) -> Option<Fault> {
        let queue = self.faults.get_mut(&(exchange, algo))?;
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

    fn switches(&self, exchange: Exchange) -> Switches {
        self.switches.get(&exchange).cloned().unwrap_or_default()
    }

    /// Whether a lookup at `now_ms` sees `o` ([`Switches::visible_after_ms`]).
    fn visible(&self, o: &AcceptedOrder, now_ms: i64) -> bool {
        self.switches
            .get(&o.exchange)
            .and_then(|s| s.visible_after_ms)
            .is_none_or(|ms| {
                now_ms.saturating_sub(o.accepted_at_ms) >= i64::try_from(ms).unwrap_or(i64::MAX)
            })
    }

    fn next_order_id(&mut self) -> String {
        self.next_id += 1;
        (1_000_000_000 + self.next_id).to_string()
    }

    fn position(&self, o: &NewOrder) -> Decimal {
        self.position_at(o.exchange, o.testnet, &o.symbol, o.leg)
    }

    /// The size of the position of `leg` on `symbol` of `exchange`'s account on that network.
    fn position_at(&self, exchange: Exchange, testnet: bool, symbol: &str, leg: Leg) -> Decimal {
        self.positions
            .get(&(exchange, testnet, symbol.to_owned(), leg))
            .copied()
            .unwrap_or(Decimal::ZERO)
    }

    fn add_position(&mut self, o: &NewOrder, delta: Decimal) {
        self.add_position_at(o.exchange, o.testnet, &o.symbol, o.leg, delta);
    }

    fn add_position_at(
        &mut self,
        exchange: Exchange,
        testnet: bool,
        symbol: &str,
        leg: Leg,
        delta: Decimal,
    ) {
        *self
            .positions
            .entry((exchange, testnet, symbol.to_owned(), leg))
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

/// A request as the routes see it: the path below the exchange prefix, the raw query and body,
/// and the network its prefix named (`/bybit-testnet`, `/binance-testnet`).
struct Call {
    method: Method,
    path: String,
    query: String,
    headers: HeaderMap,
    body: String,
    testnet: bool,
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
    let (prefix, testnet) = match prefix.strip_suffix("-testnet") {
        // MEXC has no testnet.
        Some(p @ ("bybit" | "binance")) => (p.to_owned(), true),
        Some(_) => (String::new(), false),
        None => (prefix, false),
    };
    let call = Call {
        method: parts.method,
        path: rest,
        query: parts.uri.query().unwrap_or("").to_owned(),
        headers: parts.headers,
        body,
        testnet,
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
                            let v = json!({"exchange": f.exchange.as_str(), "fault": f.kind.as_str(), "count": f.count, "target": if f.algo { "algo_order" } else { "order" }});
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
                        .iter()
                        .map(|(p, sp)| {
                            book.marks.insert((p.exchange, sp.joined()), p.price);
                            json!({"exchange": p.exchange.as_str(), "symbol": sp.joined(), "price": p.price.normalize().to_string()})
                        })
                        .collect();
                    drop(book);
                    for (p, sp) in &prices {
                        stops::fire(shared, p.exchange, sp);
                    }
                    json_reply(StatusCode::OK, &json!({ "prices": set }))
                }
                Err(e) => json_reply(StatusCode::BAD_REQUEST, &json!({ "error": e.to_string() })),
            }
        }
        (&Method::POST, "/switches") => {
            let parsed = serde_json::from_str::<Value>(&call.body)
                .map_err(|e| MockError::BadSwitch(format!("body is not JSON: {e}")))
                .and_then(|v| {
                    let exchange = v
                        .get("exchange")
                        .and_then(Value::as_str)
                        .and_then(|s| s.parse::<Exchange>().ok())
                        .filter(|e| *e != Exchange::Paper)
                        .ok_or_else(|| {
                            MockError::BadSwitch("exchange must be bybit, binance or mexc".into())
                        })?;
                    Switches::from_json(exchange, &v).map(|s| (exchange, s))
                });
            match parsed {
                Ok((exchange, s)) => {
                    let answer = s.to_json(exchange);
                    shared.book().switches.insert(exchange, s);
                    json_reply(StatusCode::OK, &json!({ "switches": answer }))
                }
                Err(e) => json_reply(StatusCode::BAD_REQUEST, &json!({ "error": e.to_string() })),
            }
        }
        (&Method::GET, "/algo_orders") => {
            let list: Vec<Value> = shared
                .book()
                .algo_orders
                .iter()
                .map(AlgoOrder::to_json)
                .collect();
            json_reply(StatusCode::OK, &json!({ "algo_orders": list }))
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
    /// Binance's `MIN_NOTIONAL.notional`: 100 USDT on BTCUSDT and 20 on ETHUSDT since
    /// 2023-11-02 (5 elsewhere, the documented example's value).
    binance_min_notional: &'static str,
}

/// Binance's `LOT_SIZE.maxQty` and `MARKET_LOT_SIZE.maxQty` (BTCUSDT's), and below Bybit's
/// maxima: one set for every symbol, so a low-priced coin's maximum is far below its real one.
const BINANCE_MAX_QTY: &str = "1000";
const BINANCE_MAX_MARKET_QTY: &str = "120";
/// Bybit's `lotSizeFilter`: `maxOrderQty` (limit orders), `maxMktOrderQty` (market orders),
/// `minNotionalValue`.
const BYBIT_MAX_ORDER_QTY: &str = "1000";
const BYBIT_MAX_MKT_ORDER_QTY: &str = "100";
const BYBIT_MIN_NOTIONAL: &str = "5";
/// MEXC's `maxVol`, in contracts.
const MEXC_MAX_VOL: &str = "1000000";

/// The listed instruments. One set of rules serves all three exchanges (each publishes its own,
/// and they differ in places: this mock keeps one per symbol). Where the sources below give no
/// value, the value is this mock's choice, said so, and picked to keep the venues' documented
/// minimums meaningful: a qty step and MEXC contract size of which one divides the other, one
/// step worth a few USDT or less at the mark so the 5 USDT minimum notional (Bybit
/// `minNotionalValue`, Binance `MIN_NOTIONAL`, both documented below) is what binds small
/// orders, and a tick of about four significant digits at the mark. Every mark is this mock's
/// own starting price, not a market fact.
///
/// - BTCUSDT, ETHUSDT: as before (Bybit's instruments-info example, `docs/v5/market/instrument.mdx`
///   in bybit-exchange/docs: BTCUSDT tick 0.10, qty step and minimum 0.001; ETHUSDT qty step
///   0.01 in that file's earlier versions).
/// - SOLUSDT: qty step and minimum 0.1 from Bybit's spread instrument example
///   (`docs/v5/spread/market/instrument.mdx`: `SOLUSDT_SOL/USDT`, whose perpetual leg is
///   SOLUSDT, `lotSize` and `minSize` 0.1); tick 0.01, MEXC contract 0.1 SOL chosen.
/// - XRPUSDT: Bybit's order examples trade it in whole coins at four-decimal prices
///   (`docs/v5/order/batch-place.mdx`: qty "10", price "0.6080"; `amend-order.mdx`: qty "15",
///   price "0.5"), hence step and minimum 1, tick 0.0001, mark 0.6; MEXC contract 1 XRP chosen.
/// - BIOUSDT: every field from Bybit's instruments-info example (`docs/v5/market/instrument.mdx`,
///   the pre-market BIOUSDT: tick 0.0001, `qtyStep` 1, `minOrderQty` 1, `minNotionalValue` 5);
///   MEXC contract 1 BIO chosen.
/// - BLZUSDT: every field from Binance's exchangeInfo example
///   (<https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Exchange-Information>:
///   `PRICE_FILTER.tickSize` 0.0001, `LOT_SIZE` and `MARKET_LOT_SIZE` `stepSize` and `minQty` 1,
///   `MIN_NOTIONAL.notional` 5.0); MEXC contract 1 BLZ chosen.
/// - DOGEUSDT, BNBUSDT, ADAUSDT, LINKUSDT, AVAXUSDT, LTCUSDT: no official source of their
///   per-symbol rules was found in the exchanges' documentation or connectors on hand; qty
///   step, minimum, tick and MEXC contract size are chosen as above (DOGE 1 / 0.00001 /
///   10 DOGE, BNB 0.01 / 0.01 / 0.01 BNB, ADA 1 / 0.0001 / 1 ADA, LINK 0.1 / 0.001 / 0.1 LINK,
///   AVAX 0.1 / 0.001 / 0.1 AVAX, LTC 0.1 / 0.01 / 0.01 LTC).
///
/// Binance's minimum notional is 5 USDT for every symbol but BTC and ETH: "The minimum notional
/// value of each order must be no less than the threshold of 5 USDT"
/// (<https://www.binance.com/en/support/faq/usd%E2%93%A2-margined-futures-contract-specifications-360033161972>).
const SPECS: [Spec; 12] = [
    Spec {
        base: "BTC",
        quote: "USDT",
        qty_step: "0.001",
        min_qty: "0.001",
        tick: "0.1",
        mark: "65000",
        contract_size: "0.0001",
        binance_min_notional: "100",
    },
    Spec {
        base: "ETH",
        quote: "USDT",
        qty_step: "0.01",
        min_qty: "0.01",
        tick: "0.01",
        mark: "3000",
        contract_size: "0.01",
        binance_min_notional: "20",
    },
    Spec {
        base: "SOL",
        quote: "USDT",
        qty_step: "0.1",
        min_qty: "0.1",
        tick: "0.01",
        mark: "150",
        contract_size: "0.1",
        binance_min_notional: "5",
    },
    Spec {
        base: "XRP",
        quote: "USDT",
        qty_step: "1",
        min_qty: "1",
        tick: "0.0001",
        mark: "0.6",
        contract_size: "1",
        binance_min_notional: "5",
    },
    Spec {
        base: "BIO",
        quote: "USDT",
        qty_step: "1",
        min_qty: "1",
        tick: "0.0001",
        mark: "0.2",
        contract_size: "1",
        binance_min_notional: "5",
    },
    Spec {
        base: "BLZ",
        quote: "USDT",
        qty_step: "1",
        min_qty: "1",
        tick: "0.0001",
        mark: "0.1",
        contract_size: "1",
        binance_min_notional: "5",
    },
    Spec {
        base: "DOGE",
        quote: "USDT",
        qty_step: "1",
        min_qty: "1",
        tick: "0.00001",
        mark: "0.15",
        contract_size: "10",
        binance_min_notional: "5",
    },
    Spec {
        base: "BNB",
        quote: "USDT",
        qty_step: "0.01",
        min_qty: "0.01",
        tick: "0.01",
        mark: "600",
        contract_size: "0.01",
        binance_min_notional: "5",
    },
    Spec {
        base: "ADA",
        quote: "USDT",
        qty_step: "1",
        min_qty: "1",
        tick: "0.0001",
        mark: "0.45",
        contract_size: "1",
        binance_min_notional: "5",
    },
    Spec {
        base: "LINK",
        quote: "USDT",
        qty_step: "0.1",
        min_qty: "0.1",
        tick: "0.001",
        mark: "15",
        contract_size: "0.1",
        binance_min_notional: "5",
    },
    Spec {
        base: "AVAX",
        quote: "USDT",
        qty_step: "0.1",
        min_qty: "0.1",
        tick: "0.001",
        mark: "25",
        contract_size: "0.1",
        binance_min_notional: "5",
    },
    Spec {
        base: "LTC",
        quote: "USDT",
        qty_step: "0.1",
        min_qty: "0.1",
        tick: "0.01",
        mark: "80",
        contract_size: "0.01",
        binance_min_notional: "5",
    },
];

/// Every symbol the mocks list (`BTCUSDT`, `ETHUSDT`, …), hoox's spelling.
pub fn listed_symbols() -> Vec<String> {
    SPECS.iter().map(Spec::joined).collect()
}

/// The smallest quantity of `symbol`, in base units, that every mocked venue takes for an
/// opening market order at its starting mark, with half again the largest minimum notional
/// to spare: on the lot step, a whole number of MEXC contracts, at least every minimum.
/// `None` for a symbol the mocks do not list.
pub fn tradable_quantity(symbol: &str) -> Option<Decimal> {
    let sp = spec(symbol)?;
    let (step, contract) = (lit(sp.qty_step), lit(sp.contract_size));
    let unit = step.max(contract);
    let need = lit(BYBIT_MIN_NOTIONAL).max(lit(sp.binance_min_notional)) * Decimal::new(15, 1);
    let floor = lit(sp.min_qty).max(contract).max(need / lit(sp.mark));
    Some(((floor / unit).ceil() * unit).normalize())
}

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
    testnet: bool,
    tpsl: TpSl,
}

/// The take-profit and stop-loss an order carries, as sent.
#[derive(Debug, Clone, Default)]
struct TpSl {
    take_profit: Option<Decimal>,
    stop_loss: Option<Decimal>,
    mode: Option<String>,
    tp_trigger_by: Option<String>,
    sl_trigger_by: Option<String>,
}

/// Records `o`, filling it at the mark price if it is a market order or a limit order priced
/// through the mark (a buy at or above it, a sell at or below it); under
/// [`Switches::partial_fill`] a market order fills only in part and is closed as cancelled.
fn accept(shared: &Shared, book: &mut Book, o: NewOrder) -> AcceptedOrder {
    let mark = book.mark(o.exchange, o.spec);
    let marketable = o.market
        || o.price
            .is_some_and(|p| if o.buy { p >= mark } else { p <= mark });
    let mut order = AcceptedOrder {
        exchange: o.exchange,
        client_order_id: o.client_order_id.clone(),
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
        testnet: o.testnet,
        take_profit: o.tpsl.take_profit,
        stop_loss: o.tpsl.stop_loss,
        tpsl_mode: o.tpsl.mode.clone(),
        tp_trigger_by: o.tpsl.tp_trigger_by.clone(),
        sl_trigger_by: o.tpsl.sl_trigger_by.clone(),
        leg: o.leg,
    };
    if marketable {
        // Under `partial_fill`, a market order takes only part of the book and its IOC
        // remainder is cancelled; limit orders priced through the mark fill whole.
        let filled = match book.switches(o.exchange).partial_fill {
            Some(fraction) if o.market => {
                let step = if o.exchange == Exchange::Mexc {
                    Decimal::ONE
                } else {
                    lit(o.spec.qty_step)
                };
                let wanted = o.quantity * fraction;
                (wanted - wanted % step).min(o.quantity)
            }
            _ => o.quantity,
        };
        let delta = match o.leg {
            // One-way: buys add, sells subtract; a reduce-only order never crosses zero.
            Leg::Net => {
                let signed = if o.buy { filled } else { -filled };
                if o.reduce_only {
                    reduce_net(book.position(&o), signed)
                } else {
                    signed
                }
            }
            Leg::Long | Leg::Short => {
                if o.reduce_only {
                    -filled.min(book.position(&o))
                } else {
                    filled
                }
            }
        };
        // A reduce-only order larger than its position executes only the position (Bybit
        // "fixes" its quantity, 110017 "current position is zero, cannot fix reduce-only order
        // qty"; Binance expires the rest): what it filled is what it moved.
        let filled = if o.reduce_only {
            delta.abs().min(filled)
        } else {
            filled
        };
        order.state = if filled == o.quantity {
            OrderState::Filled
        } else {
            OrderState::Cancelled
        };
        order.filled_quantity = filled;
        order.average_price = (!filled.is_zero()).then_some(mark);
        book.add_position(&o, delta);
    }
    book.orders.push(order.clone());
    order
}

/// What a reduce-only fill of `signed` moves a one-way position of `before` by: towards zero and
/// no further, and nothing when the position is flat or on the order's own side by then (an
/// order that rested while the position flipped; Binance and Bybit never let a reduce-only
/// order grow a position: -2022, 110017).
fn reduce_net(before: Decimal, signed: Decimal) -> Decimal {
    if before.is_zero() || before.is_sign_positive() == signed.is_sign_positive() {
        Decimal::ZERO
    } else if signed.abs() > before.abs() {
        -before
    } else {
        signed
    }
}

/// The notional an exchange values an order of `base_quantity` at: a limit order at its price,
/// a market order at the mark ("Since MARKET orders have no price, the mark price is used").
fn order_notional(
    book: &Book,
    exchange: Exchange,
    sp: &Spec,
    base_quantity: Decimal,
    price: Option<Decimal>,
) -> Decimal {
    base_quantity * price.unwrap_or_else(|| book.mark(exchange, sp))
}

/// Whether a reduce-only order has a position to reduce.
fn can_reduce(book: &Book, o: &NewOrder) -> bool {
    let pos = book.position(o);
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
        if shared.book().switches(Exchange::Bybit).geo_block {
            // Refused at the edge, before Bybit sees anything: nothing is recorded.
            return Reply::Now(geo_block());
        }
        let r = match (&call.method, call.path.as_str()) {
            (&Method::GET, "/v5/market/instruments-info") => instruments(shared, call),
            (&Method::GET, "/v5/market/tickers") => tickers(shared, call),
            (&Method::POST, "/v5/order/create") => return submit(shared, call),
            (&Method::POST, "/v5/position/set-leverage") => authed(shared, call, set_leverage),
            (&Method::GET, "/v5/order/realtime") => authed(shared, call, realtime),
            (&Method::GET, "/v5/order/history") => authed(shared, call, history),
            (&Method::GET, "/v5/position/list") => authed(shared, call, position_list),
            (&Method::POST, "/v5/position/trading-stop") => {
                authed(shared, call, stops::bybit_trading_stop)
            }
            _ => text(StatusCode::NOT_FOUND, "Cannot find path"),
        };
        Reply::Now(r)
    }

    /// What a US or mainland-China IP gets from `api.bybit.com` ("IP addresses located in the
    /// US or Mainland China are restricted and will return a 403 Forbidden error", Bybit's
    /// Integration Guidance): CloudFront's geo-restriction page, HTML, no Bybit JSON.
    fn geo_block() -> Answer {
        let body = concat!(
            "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\" \"http://www.w3.org/TR/html4/loose.dtd\">\n",
            "<HTML><HEAD><META HTTP-EQUIV=\"Content-Type\" CONTENT=\"text/html; charset=iso-8859-1\">\n",
            "<TITLE>ERROR: The request could not be satisfied</TITLE>\n",
            "</HEAD><BODY>\n<H1>403 ERROR</H1>\n<H2>The request could not be satisfied.</H2>\n",
            "<HR noshade size=\"1px\">\n",
            "The Amazon CloudFront distribution is configured to block access from your country.\n",
            "We can't connect to the server for this app or website at this time. There might be too much traffic or a configuration error. Try again later, or contact the app or website owner.\n",
            "<BR clear=\"all\">\n",
            "If you provide content to customers through CloudFront, you can find steps to troubleshoot and help prevent this error by reviewing the CloudFront documentation.\n",
            "<BR clear=\"all\">\n<HR noshade size=\"1px\">\n<PRE>\nGenerated by cloudfront (CloudFront)\n",
            "Request ID: mock-geo-block\n</PRE>\n<ADDRESS>\n</ADDRESS>\n</BODY></HTML>",
        );
        let a = Answer {
            status: StatusCode::FORBIDDEN,
            content_type: "text/html",
            headers: Vec::new(),
            body: body.to_owned(),
        };
        with_header(
            with_header(a, "server", "CloudFront".into()),
            "x-cache",
            "Error from cloudfront".into(),
        )
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
        // Each network has its own accounts: the other network's key is unknown here.
        let creds = shared
            .credentials
            .for_network(Exchange::Bybit, call.testnet)
            .ok_or_else(|| ret(shared, 10003, "API key is invalid.", json!({})))?;
        if key != creds.api_key {
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
        if hmac_hex(&creds.api_secret, &origin) != sign {
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
            "lotSizeFilter": {"maxOrderQty": BYBIT_MAX_ORDER_QTY, "minOrderQty": s.min_qty, "qtyStep": s.qty_step,
                               "maxMktOrderQty": BYBIT_MAX_MKT_ORDER_QTY, "minNotionalValue": BYBIT_MIN_NOTIONAL},
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
        let mut tpsl = TpSl::default();
        for (k, slot) in [
            ("takeProfit", &mut tpsl.take_profit),
            ("stopLoss", &mut tpsl.stop_loss),
        ] {
            if let Some(v) = s(k) {
                match dec(v) {
                    Some(p) if p > Decimal::ZERO && on_step(p, lit(sp.tick)) => *slot = Some(p),
                    _ => return Reply::Now(params_error(shared, k)),
                }
            }
        }
        // "`Full`: entire position for TP/SL ... `Partial`: partial position tp/sl"; the trigger
        // price types are `MarkPrice`, `IndexPrice`, `LastPrice` (enum `triggerBy`).
        for (k, allowed, slot) in [
            ("tpslMode", &["Full", "Partial"][..], &mut tpsl.mode),
            (
                "tpTriggerBy",
                &["MarkPrice", "IndexPrice", "LastPrice"][..],
                &mut tpsl.tp_trigger_by,
            ),
            (
                "slTriggerBy",
                &["MarkPrice", "IndexPrice", "LastPrice"][..],
                &mut tpsl.sl_trigger_by,
            ),
        ] {
            if let Some(v) = s(k) {
                if !allowed.contains(&v) {
                    return Reply::Now(params_error(shared, k));
                }
                *slot = Some(v.to_owned());
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
        // "When reduceOnly is true, take profit/stop loss cannot be set".
        if reduce_only && (tpsl.take_profit.is_some() || tpsl.stop_loss.is_some()) {
            return Reply::Now(params_error(
                shared,
                "take profit/stop loss cannot be set when reduceOnly is true",
            ));
        }
        // "If reduceOnly=true and order qty > max order qty, the order will automatically be
        // split up into multiple orders": only an order that may open is refused for its size
        // (`maxMktOrderQty` for a market order, `maxOrderQty` for a limit one).
        let max = lit(if market {
            BYBIT_MAX_MKT_ORDER_QTY
        } else {
            BYBIT_MAX_ORDER_QTY
        });
        if qty > max && !reduce_only {
            return Reply::Now(ret(
                shared,
                10001,
                &format!(
                    "The number of contracts exceeds maximum limit allowed: {}",
                    max.normalize()
                ),
                json!({}),
            ));
        }
        let mut book = shared.book();
        // `positionIdx`: 0 in one-way mode; in hedge mode 1 (buy side) or 2 (sell side),
        // "Under hedge-mode, this param is required".
        let hedge = book.switches(Exchange::Bybit).hedge(Exchange::Bybit);
        let leg = match (hedge, body.get("positionIdx").map(Value::as_i64)) {
            (false, None | Some(Some(0))) => Leg::Net,
            (true, Some(Some(1))) => Leg::Long,
            (true, Some(Some(2))) => Leg::Short,
            _ => {
                return Reply::Now(ret(
                    shared,
                    10001,
                    "position idx not match position mode",
                    json!({}),
                ))
            }
        };
        if !reduce_only
            && order_notional(&book, Exchange::Bybit, sp, qty, price) < lit(BYBIT_MIN_NOTIONAL)
        {
            return Reply::Now(ret(
                shared,
                110094,
                "Order notional value below the lower limit",
                json!({}),
            ));
        }
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
            leg,
            testnet: call.testnet,
            tpsl,
        };
        // Bybit refuses any reuse of an orderLinkId, whatever became of the first order.
        if !link_id.is_empty()
            && book.orders.iter().any(|o| {
                o.exchange == Exchange::Bybit
                    && o.testnet == call.testnet
                    && o.client_order_id == link_id
            })
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
            .entry((Exchange::Bybit, call.testnet, symbol.to_owned()))
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
            // "Cancelled: In derivatives, orders with this status may have an executed qty".
            "orderStatus": match o.state {
                OrderState::Open => "New",
                OrderState::Filled => "Filled",
                OrderState::Cancelled => "Cancelled",
            },
            "avgPrice": o.average_price.map(|p| p.to_string()).unwrap_or_default(),
            "leavesQty": match o.state {
                OrderState::Open => (o.quantity - o.filled_quantity).to_string(),
                _ => "0".to_owned(),
            },
            "cumExecQty": o.filled_quantity.to_string(),
            "cumExecValue": (o.filled_quantity * o.average_price.unwrap_or_default()).to_string(),
            "orderType": o.order_type,
            "timeInForce": if o.order_type == "Market" { "IOC" } else { "GTC" },
            "reduceOnly": o.reduce_only,
            "takeProfit": o.take_profit.map(|p| p.to_string()).unwrap_or_default(),
            "stopLoss": o.stop_loss.map(|p| p.to_string()).unwrap_or_default(),
            "tpslMode": o.tpsl_mode.clone().unwrap_or_default(),
            "tpTriggerBy": o.tp_trigger_by.clone().unwrap_or_default(),
            "slTriggerBy": o.sl_trigger_by.clone().unwrap_or_default(),
            "createdTime": o.accepted_at_ms.to_string(), "updatedTime": o.accepted_at_ms.to_string(),
        })
    }

    /// Open orders by default; with `openOnly=1` the closed ones (filled or cancelled, here).
    /// As documented, "`openOnly` param will be ignored when query by _orderId_ or
    /// _orderLinkId_": such a query finds the order whatever its state, unless
    /// [`Switches::realtime_forgets_closed`] has cleared the closed ones (then only
    /// [`history`] has them).
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
        let by_id = link.is_some() || id.is_some();
        let now = shared.now_ms();
        let book = shared.book();
        let forgotten = book.switches(Exchange::Bybit).realtime_forgets_closed;
        let list: Vec<Value> = book
            .orders
            .iter()
            .rev()
            .filter(|o| o.exchange == Exchange::Bybit && o.testnet == call.testnet)
            .filter(|o| symbol.is_none_or(|s| o.symbol == s))
            .filter(|o| link.is_none_or(|l| o.client_order_id == l))
            .filter(|o| id.is_none_or(|i| o.exchange_order_id == i))
            .filter(|o| by_id || (o.state != OrderState::Open) == closed)
            .filter(|o| !(forgotten && o.state != OrderState::Open))
            .filter(|o| book.visible(o, now))
            .map(order_json)
            .collect();
        ret(
            shared,
            0,
            "OK",
            json!({"category": "linear", "list": list, "nextPageCursor": ""}),
        )
    }

    /// `GET /v5/position/list` ("Get Position Info"): `category` required, and `symbol` or
    /// `settleCoin`. "If `symbol` passed, it returns data regardless of having position or
    /// not": one row per position index of the account's mode (0; or 1 and 2 in hedge mode);
    /// with `settleCoin` only, the positions of a size above zero.
    fn position_list(shared: &Shared, call: &Call) -> Answer {
        let q = query_params(&call.query);
        if param(&q, "category") != Some("linear") {
            return params_error(shared, "category");
        }
        let book = shared.book();
        let hedge = book.switches(Exchange::Bybit).hedge(Exchange::Bybit);
        let legs: &[(Leg, i64)] = if hedge {
            &[(Leg::Long, 1), (Leg::Short, 2)]
        } else {
            &[(Leg::Net, 0)]
        };
        let (specs, with_empty): (Vec<&Spec>, bool) =
            match (param(&q, "symbol"), param(&q, "settleCoin")) {
                (Some(sym), _) => match spec(sym).filter(|s| s.joined() == sym) {
                    Some(s) => (vec![s], true),
                    None => return params_error(shared, "symbol invalid"),
                },
                (None, Some(coin)) => (SPECS.iter().filter(|s| s.quote == coin).collect(), false),
                (None, None) => return params_error(shared, "symbol or settleCoin is required"),
            };
        let mut list = Vec::new();
        for sp in specs {
            let symbol = sp.joined();
            for &(leg, idx) in legs {
                let size = book.position_at(Exchange::Bybit, call.testnet, &symbol, leg);
                if size.is_zero() && !with_empty {
                    continue;
                }
                let side = match (leg, size.cmp(&Decimal::ZERO)) {
                    (_, std::cmp::Ordering::Equal) => "",
                    (Leg::Long, _) => "Buy",
                    (Leg::Short, _) => "Sell",
                    (Leg::Net, std::cmp::Ordering::Greater) => "Buy",
                    (Leg::Net, std::cmp::Ordering::Less) => "Sell",
                };
                let mark = book.mark(Exchange::Bybit, sp);
                let (entry, upnl) = account::entry_and_upnl(
                    shared,
                    &book,
                    Exchange::Bybit,
                    call.testnet,
                    &symbol,
                    leg,
                    size,
                );
                let mark = mark.normalize().to_string();
                list.push(json!({
                    "positionIdx": idx, "riskId": 1, "symbol": symbol, "side": side,
                    "size": size.abs().normalize().to_string(), "markPrice": mark,
                    "avgPrice": entry.to_string(), "unrealisedPnl": upnl.to_string(),
                    "positionValue": (size.abs() * entry).normalize().to_string(),
                    "cumRealisedPnl": "0", "updatedTime": shared.now_ms().to_string(),
                    "leverage": book.leverage.get(&(Exchange::Bybit, call.testnet, symbol.clone())).copied().unwrap_or(10).to_string(),
                    "positionStatus": "Normal", "autoAddMargin": 0, "tradeMode": 0,
                }));
            }
        }
        ret(
            shared,
            0,
            "OK",
            json!({"category": "linear", "list": list, "nextPageCursor": ""}),
        )
    }

    /// `GET /v5/order/history`: closed orders (filled, or cancelled with or without fills),
    /// newest first, filtered by `symbol`, `orderLinkId`, `orderId`; `category` required.
    fn history(shared: &Shared, call: &Call) -> Answer {
        let q = query_params(&call.query);
        if param(&q, "category") != Some("linear") {
            return params_error(shared, "category");
        }
        let symbol = param(&q, "symbol");
        let link = param(&q, "orderLinkId");
        let id = param(&q, "orderId");
        let now = shared.now_ms();
        let book = shared.book();
        let list: Vec<Value> = book
            .orders
            .iter()
            .rev()
            .filter(|o| o.exchange == Exchange::Bybit && o.testnet == call.testnet)
            .filter(|o| o.state != OrderState::Open)
            .filter(|o| book.visible(o, now))
            .filter(|o| symbol.is_none_or(|s| o.symbol == s))
            .filter(|o| link.is_none_or(|l| o.client_order_id == l))
            .filter(|o| id.is_none_or(|i| o.exchange_order_id == i))
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
                Ok(p) => query(&p, shared, call.testnet),
                Err(r) => r,
            },
            (&Method::POST, "/fapi/v1/algoOrder") => return place_algo(shared, call),
            (&Method::GET, "/fapi/v1/algoOrder") => match auth(shared, call) {
                Ok(p) => query_algo(&p, shared, call.testnet),
                Err(r) => r,
            },
            (&Method::DELETE, "/fapi/v1/algoOrder") => match auth(shared, call) {
                Ok(p) => stops::binance_cancel_algo(&p, shared, call.testnet),
                Err(r) => r,
            },
            (&Method::GET, "/fapi/v1/openAlgoOrders") => match auth(shared, call) {
                Ok(p) => stops::binance_open_algo(&p, shared, call.testnet),
                Err(r) => r,
            },
            (&Method::POST, "/fapi/v1/leverage") => match auth(shared, call) {
                Ok(p) => leverage(&p, shared, call.testnet),
                Err(r) => r,
            },
            // "Get Current Position Mode": "true": Hedge Mode; "false": One-way Mode.
            (&Method::GET, "/fapi/v1/positionSide/dual") => match auth(shared, call) {
                Ok(_) => json_reply(
                    StatusCode::OK,
                    &json!({"dualSidePosition": shared.book().switches(Exchange::Binance).hedge(Exchange::Binance)}),
                ),
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
        // Each network has its own accounts: the other network's key is unknown here.
        let unknown_key = || {
            err(
                StatusCode::UNAUTHORIZED,
                -2015,
                "Invalid API-key, IP, or permissions for action.",
            )
        };
        let creds = shared
            .credentials
            .for_network(Exchange::Binance, call.testnet)
            .ok_or_else(unknown_key)?;
        if key != creds.api_key {
            return Err(unknown_key());
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
        if !hmac_hex(&creds.api_secret, &total).eq_ignore_ascii_case(&signature) {
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
                        {"filterType": "LOT_SIZE", "stepSize": s.qty_step, "maxQty": BINANCE_MAX_QTY, "minQty": s.min_qty},
                        {"filterType": "MARKET_LOT_SIZE", "stepSize": s.qty_step, "maxQty": BINANCE_MAX_MARKET_QTY, "minQty": s.min_qty},
                        {"filterType": "MIN_NOTIONAL", "notional": s.binance_min_notional},
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
            // A market order whose remainder was cancelled "according to the order type's
            // rules" is EXPIRED, with what it executed.
            "status": match o.state {
                OrderState::Open => "NEW",
                OrderState::Filled => "FILLED",
                OrderState::Cancelled => "EXPIRED",
            },
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
            // Conditional orders moved to the Algo Service (`POST /fapi/v1/algoOrder`).
            Some(t) if CONDITIONAL_TYPES.contains(&t) => return bad(err(
                StatusCode::BAD_REQUEST,
                -4120,
                "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead.",
            )),
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
        // `MARKET_LOT_SIZE` for a market order, `LOT_SIZE` for a limit one.
        let max = lit(if market {
            BINANCE_MAX_MARKET_QTY
        } else {
            BINANCE_MAX_QTY
        });
        if qty > max {
            return bad(err(
                StatusCode::BAD_REQUEST,
                -4005,
                "Quantity greater than max quantity.",
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
        let mut book = shared.book();
        let hedge = book.switches(Exchange::Binance).hedge(Exchange::Binance);
        let (leg, reduces) = match position_side(hedge, &p, buy, reduce_only) {
            Ok(v) => v,
            Err(r) => return bad(r),
        };
        // "Order's notional must be no smaller than 100 (unless you choose reduce only)",
        // a market order valued at the mark.
        let min_notional = lit(sp.binance_min_notional);
        if !reduces && order_notional(&book, Exchange::Binance, sp, qty, price) < min_notional {
            return bad(err(
                StatusCode::BAD_REQUEST,
                -4164,
                &format!(
                    "Order's notional must be no smaller than {} (unless you choose reduce only).",
                    min_notional.normalize()
                ),
            ));
        }
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
            reduce_only: reduces,
            leg,
            testnet: call.testnet,
            tpsl: TpSl::default(),
        };
        // The id must be unique among *open* orders only: a filled order's id may be reused.
        if book.orders.iter().any(|o| {
            o.exchange == Exchange::Binance
                && o.testnet == call.testnet
                && o.client_order_id == client_id
                && o.state == OrderState::Open
        }) {
            return bad(err(
                StatusCode::BAD_REQUEST,
                -4116,
                "ClientOrderId is duplicated.",
            ));
        }
        if reduces && !can_reduce(&book, &o) {
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

    /// The position an order (or an algo order) names, checked against the account's mode:
    /// hedge orders name their position, `positionSide` `LONG` or `SHORT` ("It must be sent in
    /// Hedge Mode"), and never say `reduceOnly` ("Cannot be sent in Hedge Mode": -1106
    /// "Parameter 'reduceonly' sent when not required."); one-way orders are `BOTH` (or send
    /// none). Another side than the mode's is -4061 "Order's position side does not match
    /// user's setting.", an unknown one -4060. The leg the order acts on, and whether it
    /// closes (hedge: a sell of the long position, a buy of the short one; one-way:
    /// `reduceOnly`).
    fn position_side(
        hedge: bool,
        p: &[(String, String)],
        buy: bool,
        reduce_only: bool,
    ) -> Result<(Leg, bool), Answer> {
        match (hedge, param(p, "positionSide")) {
            (false, None | Some("BOTH")) => Ok((Leg::Net, reduce_only)),
            (true, Some(side @ ("LONG" | "SHORT"))) => {
                if param(p, "reduceOnly").is_some() {
                    return Err(not_required("reduceonly"));
                }
                let long = side == "LONG";
                Ok((if long { Leg::Long } else { Leg::Short }, long != buy))
            }
            (_, Some("BOTH" | "LONG" | "SHORT") | None) => Err(err(
                StatusCode::BAD_REQUEST,
                -4061,
                "Order's position side does not match user's setting.",
            )),
            (_, Some(_)) => Err(err(
                StatusCode::BAD_REQUEST,
                -4060,
                "Invalid position side.",
            )),
        }
    }

    /// The conditional types, which only the Algo Service takes since the migration.
    pub(super) const CONDITIONAL_TYPES: [&str; 5] = [
        "STOP",
        "STOP_MARKET",
        "TAKE_PROFIT",
        "TAKE_PROFIT_MARKET",
        "TRAILING_STOP_MARKET",
    ];

    fn invalid(name: &str) -> Answer {
        err(
            StatusCode::BAD_REQUEST,
            -1130,
            &format!("Data sent for parameter '{name}' is not valid."),
        )
    }

    fn not_required(name: &str) -> Answer {
        err(
            StatusCode::BAD_REQUEST,
            -1106,
            &format!("Parameter '{name}' sent when not required."),
        )
    }

    /// `"true"` / `"false"` (absent: false).
    fn flag(p: &[(String, String)], name: &str) -> Result<bool, Answer> {
        match param(p, name) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(invalid(name)),
        }
    }

    /// The algo order's JSON in the shape of the connector's `NewAlgoOrderResponse` /
    /// `QueryAlgoOrderResponse`.
    pub(super) fn algo_json(a: &AlgoOrder) -> Value {
        json!({
            "algoId": a.algo_id, "clientAlgoId": a.client_algo_id, "algoType": "CONDITIONAL",
            "orderType": a.order_type, "symbol": a.symbol, "side": a.side, "positionSide": a.position_side,
            "timeInForce": "GTC",
            "quantity": a.quantity.map(|q| q.to_string()).unwrap_or_else(|| "0".into()),
            "algoStatus": a.status, "triggerPrice": a.trigger_price.to_string(), "price": "0",
            "workingType": a.working_type, "priceMatch": "NONE",
            "closePosition": a.close_position, "priceProtect": false,
            "reduceOnly": a.reduce_only, "createTime": a.created_at_ms,
            "callbackRate": a.callback_rate.map(|r| r.to_string()),
            "activatePrice": a.activate_price.map(|p| p.to_string()),
            "updateTime": a.created_at_ms, "triggerTime": 0, "goodTillDate": 0,
        })
    }

    /// `POST /fapi/v1/algoOrder`, as the official connector's "New Algo Order (TRADE)" documents
    /// it (`binance/binance-connector-python`, `clients/derivatives_trading_usds_futures`,
    /// `rest_api/api/trade_api.py`, `new_algo_order`): `algoType` (only `CONDITIONAL`), `symbol`,
    /// `side`, `type` are mandatory; `closePosition=true` "Cannot be used with `quantity`
    /// paremeter", "Cannot be used with `reduceOnly` parameter"; `workingType` is `MARK_PRICE`
    /// or `CONTRACT_PRICE` (default); `clientAlgoId` follows `^[.A-Z:/a-z0-9_-]{1,36}$` and is
    /// "A unique id among open orders"; `positionSide` and `reduceOnly` follow the account's
    /// position mode as on `/fapi/v1/order` ([`position_side`]). Conditions:
    /// `STOP`/`STOP_MARKET` BUY triggers at a price at or above `triggerPrice`, SELL at or
    /// below; `TAKE_PROFIT`/`TAKE_PROFIT_MARKET` the other way round; one that would trigger at
    /// once is refused, -2021 "Order would immediately trigger.". Codes the documentation does
    /// not name are the ones Binance uses for the same rule on `/fapi/v1/order`: -4116 for a
    /// duplicate open id, -4015 for a malformed one.
    fn place_algo(shared: &Shared, call: &Call) -> Reply {
        let fault = shared.book().take_fault_of(Exchange::Binance, true);
        if let Err(r) = early_fault(&fault, render_fault) {
            return r;
        }
        let p = match auth(shared, call) {
            Ok(p) => p,
            Err(r) => return Reply::Now(r),
        };
        let bad = |r| Reply::Now(r);
        match param(&p, "algoType") {
            Some("CONDITIONAL") => {}
            Some(_) => return bad(invalid("algoType")),
            None => return bad(mandatory("algoType")),
        }
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
        let order_type = match param(&p, "type") {
            Some(t @ ("STOP_MARKET" | "TAKE_PROFIT_MARKET" | "TRAILING_STOP_MARKET")) => {
                t.to_owned()
            }
            // Limit stops exist but hoox places none: the mock refuses them rather than accept
            // what it does not simulate.
            Some(_) => return bad(err(StatusCode::BAD_REQUEST, -1116, "Invalid orderType.")),
            None => return bad(mandatory("type")),
        };
        let trailing = order_type == "TRAILING_STOP_MARKET";
        let trailing_params = if trailing {
            let mark = shared.book().mark(Exchange::Binance, sp);
            match stops::binance_trailing(&p, buy, mark) {
                Ok(t) => Some(t),
                Err(r) => return bad(r),
            }
        } else {
            None
        };
        let trigger = match param(&p, "triggerPrice")
            .and_then(dec)
            .filter(|t| *t > Decimal::ZERO)
        {
            Some(t) => t,
            // A trailing stop triggers off its watermark, not a price.
            None if trailing => lit(sp.tick),
            None => return bad(mandatory("triggerPrice")),
        };
        if !on_step(trigger, lit(sp.tick)) {
            return bad(err(
                StatusCode::BAD_REQUEST,
                -4014,
                "Price not increased by tick size.",
            ));
        }
        let working_type = match param(&p, "workingType") {
            None => "CONTRACT_PRICE",
            Some(w @ ("MARK_PRICE" | "CONTRACT_PRICE")) => w,
            Some(_) => return bad(invalid("workingType")),
        }
        .to_owned();
        let (close_position, reduce_only) =
            match (flag(&p, "closePosition"), flag(&p, "reduceOnly")) {
                (Ok(c), Ok(r)) => (c, r),
                (Err(e), _) | (_, Err(e)) => return bad(e),
            };
        let quantity = if close_position {
            if param(&p, "quantity").is_some() {
                return bad(not_required("quantity"));
            }
            if param(&p, "reduceOnly").is_some() {
                return bad(not_required("reduceOnly"));
            }
            None
        } else {
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
            Some(qty)
        };
        let client_algo_id = match param(&p, "clientAlgoId") {
            Some(id) if valid_client_id(id) => id.to_owned(),
            Some(_) => {
                return bad(err(
                    StatusCode::BAD_REQUEST,
                    -4015,
                    "Client order id is not valid.",
                ))
            }
            None => format!("algo_{}", shared.now_ms()),
        };
        let mut book = shared.book();
        // The account's mode, as on `/fapi/v1/order` (the parameters are documented alike): in
        // hedge mode the order names the position it acts on and is never `reduceOnly`.
        let hedge = book.switches(Exchange::Binance).hedge(Exchange::Binance);
        let position_side = match position_side(hedge, &p, buy, reduce_only) {
            Ok((Leg::Long, _)) => "LONG",
            Ok((Leg::Short, _)) => "SHORT",
            Ok((Leg::Net, _)) => "BOTH",
            Err(r) => return bad(r),
        }
        .to_owned();
        // The trigger is judged against the mark (which is also the mock's last price).
        let mark = book.mark(Exchange::Binance, sp);
        let stop = order_type == "STOP_MARKET";
        let triggers_now = !trailing
            && match (stop, buy) {
                (true, true) | (false, false) => mark >= trigger,
                (true, false) | (false, true) => mark <= trigger,
            };
        if triggers_now {
            return bad(err(
                StatusCode::BAD_REQUEST,
                -2021,
                "Order would immediately trigger.",
            ));
        }
        if book.algo_orders.iter().any(|a| {
            a.testnet == call.testnet && a.client_algo_id == client_algo_id && a.status == "NEW"
        }) {
            return bad(err(
                StatusCode::BAD_REQUEST,
                -4116,
                "ClientOrderId is duplicated.",
            ));
        }
        book.next_id += 1;
        let algo = AlgoOrder {
            testnet: call.testnet,
            algo_id: book.next_id,
            client_algo_id,
            symbol: symbol.to_owned(),
            side: if buy { "BUY" } else { "SELL" }.to_owned(),
            position_side,
            order_type,
            quantity,
            trigger_price: trigger,
            working_type,
            reduce_only,
            close_position,
            status: "NEW".into(),
            created_at_ms: shared.now_ms(),
            callback_rate: trailing_params.map(|(r, _)| r),
            activate_price: trailing_params.and_then(|(_, a)| a),
            watermark: trailing_params.filter(|(_, a)| a.is_none()).map(|_| mark),
        };
        book.algo_orders.push(algo.clone());
        drop(book);
        let ok = json_reply(StatusCode::OK, &algo_json(&algo));
        late_fault(shared, fault, ok, || {
            err(
                StatusCode::SERVICE_UNAVAILABLE,
                -1000,
                "Unknown error, please check your request or try again later.",
            )
        })
    }

    /// `GET /fapi/v1/algoOrder`: "Either `algoId` or `clientAlgoId` must be sent." Not found is
    /// answered as "Query Order" answers it, -2013 "Order does not exist." (the algo pages name
    /// no code of their own).
    fn query_algo(p: &[(String, String)], shared: &Shared, testnet: bool) -> Answer {
        let by_client = param(p, "clientAlgoId");
        let by_id = param(p, "algoId");
        if by_client.is_none() && by_id.is_none() {
            return mandatory("algoId");
        }
        let book = shared.book();
        let found = book.algo_orders.iter().rev().find(|a| {
            a.testnet == testnet
                && by_client.is_none_or(|c| a.client_algo_id == c)
                && by_id.is_none_or(|i| a.algo_id.to_string() == i)
        });
        match found {
            Some(a) => json_reply(StatusCode::OK, &algo_json(a)),
            None => err(StatusCode::BAD_REQUEST, -2013, "Order does not exist."),
        }
    }

    fn query(p: &[(String, String)], shared: &Shared, testnet: bool) -> Answer {
        let Some(symbol) = param(p, "symbol") else {
            return mandatory("symbol");
        };
        let by_client = param(p, "origClientOrderId");
        let by_id = param(p, "orderId");
        if by_client.is_none() && by_id.is_none() {
            return mandatory("orderId");
        }
        let now = shared.now_ms();
        let book = shared.book();
        // A reused client id names its latest order.
        let found = book.orders.iter().rev().find(|o| {
            o.exchange == Exchange::Binance
                && o.testnet == testnet
                && o.symbol == symbol
                && by_client.is_none_or(|c| o.client_order_id == c)
                && by_id.is_none_or(|i| o.exchange_order_id == i)
        });
        let found = found.filter(|o| book.visible(o, now));
        match found {
            Some(o) => json_reply(StatusCode::OK, &order_json(o)),
            None => err(StatusCode::BAD_REQUEST, -2013, "Order does not exist."),
        }
    }

    fn leverage(p: &[(String, String)], shared: &Shared, testnet: bool) -> Answer {
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
            .insert((Exchange::Binance, testnet, symbol.to_owned()), lev);
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
            // "Get position mode": 1 hedge, 2 one-way.
            Method::GET if path == "/api/v1/private/position/position_mode" => {
                match auth(shared, call) {
                    Ok(()) => {
                        let hedge = shared.book().switches(Exchange::Mexc).hedge(Exchange::Mexc);
                        ok(json!(if hedge { 1 } else { 2 }))
                    }
                    Err(r) => r,
                }
            }
            Method::GET if path == "/api/v1/private/position/open_positions" => {
                match auth(shared, call) {
                    Ok(()) => open_positions(shared, call),
                    Err(r) => r,
                }
            }
            Method::GET if path == "/api/v1/private/order/list/history_orders" => {
                match auth(shared, call) {
                    Ok(()) => history_orders(shared, call),
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

    /// What Java's `URLEncoder` keeps (`A-Z a-z 0-9 . - * _`); its `+` for a space is `%20`
    /// here, as MEXC signs it.
    const JAVA_KEPT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'.')
        .remove(b'-')
        .remove(b'*')
        .remove(b'_');

    fn java_url_encode(s: &str) -> String {
        percent_encoding::utf8_percent_encode(s, JAVA_KEPT).to_string()
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
            "priceUnit": json_number(lit(s.tick)), "volUnit": 1, "minVol": 1, "maxVol": json_number(lit(MEXC_MAX_VOL)),
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
        if vol > lit(MEXC_MAX_VOL) {
            return bad(2028, "The maximum order quantity is exceeded");
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
        let open_type = int("openType").unwrap_or(1);
        let leverage = int("leverage")
            .and_then(|l| u32::try_from(l).ok())
            .unwrap_or(0);
        let switches = shared.book().switches(Exchange::Mexc);
        let hedge = switches.hedge(Exchange::Mexc);
        // "For one-way positions, if you need to only reduce positions, pass in true, and
        // two-way positions will not accept this parameter."
        match body.get("reduceOnly") {
            None | Some(Value::Null) => {}
            Some(_) if hedge => return bad(600, "Parameter error"),
            Some(Value::Bool(_)) => {}
            Some(_) => return bad(600, "Parameter error"),
        }
        // Hedge mode keeps long (sides 1 and 4) and short (2 and 3) apart; one-way mode nets.
        let leg = if !hedge {
            Leg::Net
        } else if matches!(side, 1 | 4) {
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
            testnet: false,
            // Documented as optional decimals of the order ("stop-loss price", "take-profit
            // price"); kept as sent.
            tpsl: TpSl {
                take_profit: body.get("takeProfitPrice").and_then(json_dec),
                stop_loss: body.get("stopLossPrice").and_then(json_dec),
                ..TpSl::default()
            },
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
        // The open position of the order's direction (one-way: the net position, when it
        // faces that way).
        let direction = if matches!(side, 1 | 4) {
            Leg::Long
        } else {
            Leg::Short
        };
        let key = (symbol.to_owned(), leg);
        let facing = |book: &Book| {
            let size = book.position_at(Exchange::Mexc, false, symbol, leg);
            let faces = match leg {
                Leg::Net => (size > Decimal::ZERO) == (direction == Leg::Long) && !size.is_zero(),
                _ => size > Decimal::ZERO,
            };
            faces
                .then(|| book.mexc_positions.get(&key).copied())
                .flatten()
        };
        if opening && switches.margin_conflicts {
            if let Some(p) = facing(&book) {
                if p.open_type != open_type {
                    return bad(
                        2027,
                        "There is only one cross or isolated in the same direction",
                    );
                }
                if p.leverage != leverage {
                    return bad(
                        2021,
                        "The single leverage is not consistent with the existing position leverage",
                    );
                }
            }
        }
        let before = book.position_at(Exchange::Mexc, false, symbol, leg);
        let accepted = accept(shared, &mut book, o);
        let after = book.position_at(Exchange::Mexc, false, symbol, leg);
        if after.is_zero() {
            book.mexc_positions.remove(&key);
        } else if before.is_zero() || before.is_sign_positive() != after.is_sign_positive() {
            // A new position (or a one-way one that turned): it takes the order's margin type
            // and leverage.
            book.next_id += 1;
            let id = book.next_id;
            book.mexc_positions.insert(
                key,
                MexcPosition {
                    id,
                    open_type,
                    leverage,
                },
            );
        }
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
        if book.switches(Exchange::Mexc).external_lookup_misses {
            return fail(2040, "order not exist");
        }
        let now = shared.now_ms();
        let found = book.orders.iter().rev().find(|o| {
            o.exchange == Exchange::Mexc && o.symbol == symbol && o.client_order_id == oid
        });
        let found = found.filter(|o| book.visible(o, now));
        let Some(o) = found else {
            return fail(2040, "order not exist");
        };
        ok(order_json(o))
    }

    /// MEXC's side code of an accepted order: 1 open long, 2 close short, 3 open short, 4
    /// close long.
    fn side_code(o: &AcceptedOrder) -> i64 {
        match (o.side.as_str(), o.reduce_only) {
            ("Buy", false) => 1,
            ("Buy", true) => 2,
            ("Sell", false) => 3,
            _ => 4,
        }
    }

    /// `GET api/v1/private/order/list/history_orders` ("Get all of the user's historical
    /// orders"): the account's orders, newest first, filtered by `symbol`, `states` (comma
    /// separated), `side`, `start_time`/`end_time` (at most 90 days apart; without them "the
    /// last 7 days"), a page of `page_size` (default 20, at most 100) from `page_num`.
    fn history_orders(shared: &Shared, call: &Call) -> Answer {
        let q = query_params(&call.query);
        let num = |k: &str| param(&q, k).map(|v| v.parse::<i64>().map_err(|_| ()));
        let (Ok(start), Ok(end), Ok(side), Ok(page_num), Ok(page_size)) = (
            num("start_time").transpose(),
            num("end_time").transpose(),
            num("side").transpose(),
            num("page_num").transpose(),
            num("page_size").transpose(),
        ) else {
            return fail(600, "Parameter error");
        };
        let now = shared.now_ms();
        let day = 24 * 3_600_000;
        let end = end.unwrap_or(now);
        let start = start.unwrap_or(end - 7 * day);
        if start > end || end - start > 90 * day {
            return fail(6003, "Time range error");
        }
        let page_size = page_size.unwrap_or(20);
        let page_num = page_num.unwrap_or(1);
        if !(1..=100).contains(&page_size) || page_num < 1 {
            return fail(600, "Parameter error");
        }
        let states: Option<Vec<i64>> = param(&q, "states")
            .map(|s| s.split(',').filter_map(|v| v.trim().parse().ok()).collect());
        let symbol = param(&q, "symbol");
        let book = shared.book();
        let list: Vec<Value> = book
            .orders
            .iter()
            .rev()
            .filter(|o| o.exchange == Exchange::Mexc)
            .filter(|o| symbol.is_none_or(|s| o.symbol == s))
            .filter(|o| side.is_none_or(|s| side_code(o) == s))
            .filter(|o| (start..=end).contains(&o.accepted_at_ms))
            .filter(|o| book.visible(o, now))
            .map(order_json)
            .filter(|o| {
                states
                    .as_ref()
                    .is_none_or(|st| o["state"].as_i64().is_some_and(|s| st.contains(&s)))
            })
            .skip(usize::try_from((page_num - 1) * page_size).unwrap_or(usize::MAX))
            .take(usize::try_from(page_size).unwrap_or(0))
            .collect();
        ok(Value::Array(list))
    }

    /// `GET api/v1/private/position/open_positions` ("Get the user's current holding
    /// position"): the positions of a size above zero, of `symbol` if given.
    fn open_positions(shared: &Shared, call: &Call) -> Answer {
        let symbol = param(&query_params(&call.query), "symbol").map(str::to_owned);
        let book = shared.book();
        let list: Vec<Value> = book
            .mexc_positions
            .iter()
            .filter(|((s, _), _)| symbol.as_ref().is_none_or(|w| w == s))
            .filter_map(|((s, leg), p)| {
                let size = book.position_at(Exchange::Mexc, false, s, *leg);
                let position_type = match leg {
                    Leg::Long => 1,
                    Leg::Short => 2,
                    Leg::Net if size > Decimal::ZERO => 1,
                    Leg::Net => 2,
                };
                (!size.is_zero()).then(|| {
                    let (entry, _) = account::entry_and_upnl(
                        shared,
                        &book,
                        Exchange::Mexc,
                        false,
                        s,
                        *leg,
                        size,
                    );
                    json!({
                        "positionId": p.id, "symbol": s, "positionType": position_type,
                        "openType": p.open_type, "state": 1,
                        "holdVol": json_number(size.abs()), "frozenVol": 0, "closeVol": 0,
                        "holdAvgPrice": json_number(entry), "openAvgPrice": json_number(entry),
                        "closeAvgPrice": 0, "realised": 0, "holdFee": 0,
                        "updateTime": shared.now_ms(),
                        "leverage": p.leverage, "autoAddIm": false,
                    })
                })
            })
            .collect();
        ok(Value::Array(list))
    }

    /// An accepted order in MEXC's order shape (the external-id lookup, the history).
    fn order_json(o: &AcceptedOrder) -> Value {
        let side = match (o.side.as_str(), o.reduce_only) {
            ("Buy", false) => 1,
            ("Buy", true) => 2,
            ("Sell", false) => 3,
            _ => 4,
        };
        let avg = o.average_price.unwrap_or_default();
        json!({
            "orderId": o.exchange_order_id, "symbol": o.symbol, "positionId": 0,
            "price": json_number(o.price.unwrap_or_default()), "priceStr": o.price.unwrap_or_default().to_string(),
            "vol": json_number(o.quantity), "leverage": 1, "side": side, "category": 1,
            "orderType": if o.order_type == "Market" { 5 } else { 1 },
            "dealAvgPrice": json_number(avg), "dealAvgPriceStr": avg.to_string(),
            "dealVol": json_number(o.filled_quantity), "orderMargin": 0, "takerFee": 0, "makerFee": 0,
            "profit": 0, "feeCurrency": "USDT", "openType": 1,
            // "order state,1: uninformed,2uncompleted,3completed,4canceled,5invalid".
            "state": match o.state {
                OrderState::Open => 2,
                OrderState::Filled => 3,
                OrderState::Cancelled => 4,
            },
            "externalOid": o.client_order_id, "errorCode": 0, "usedMargin": 0,
            "createTime": o.accepted_at_ms, "updateTime": o.accepted_at_ms,
        })
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
            .get(&(Exchange::Mexc, false, symbol.clone()))
            .copied()
            .unwrap_or(20);
        let leg = |position_type: i64| {
            json!({"level": 1, "maxVol": 1000000, "mmr": 0.004, "imr": 0.008, "positionType": position_type,
                   "openType": 1, "leverage": lev, "limitBySys": false, "currentMmr": 0.004, "maxLeverageView": 125})
        };
        ok(json!([leg(1), leg(2)]))
    }

    /// "Switch leverage": an open position's by its `positionId`, or, "when there is no
    /// position", the one `symbol`, `openType` and `positionType` name.
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
        let mut book = shared.book();
        if let Some(id) = body.get("positionId").and_then(Value::as_u64) {
            return match book.mexc_positions.values_mut().find(|p| p.id == id) {
                Some(p) => {
                    p.leverage = lev;
                    json_reply(StatusCode::OK, &json!({"success": true, "code": 0}))
                }
                None => fail(2009, "Positions do not exist or have been closed"),
            };
        }
        let (Some(symbol), Some(1 | 2), Some(1 | 2)) = (
            body.get("symbol").and_then(Value::as_str),
            body.get("openType").and_then(Value::as_i64),
            body.get("positionType").and_then(Value::as_i64),
        ) else {
            return fail(600, "Parameter error");
        };
        book.leverage
            .insert((Exchange::Mexc, false, symbol.to_owned()), lev);
        json_reply(StatusCode::OK, &json!({"success": true, "code": 0}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_instrument_is_coherent_and_its_tradable_quantity_passes_every_rule() {
        assert_eq!(listed_symbols().len(), SPECS.len());
        for sp in &SPECS {
            let name = sp.joined();
            let (step, contract, mark) = (lit(sp.qty_step), lit(sp.contract_size), lit(sp.mark));
            assert!(on_step(step.max(contract), step.min(contract)), "{name}");
            assert!(on_step(lit(sp.min_qty), step), "{name}");
            assert!(on_step(mark, lit(sp.tick)), "{name}");
            let q = tradable_quantity(&name).unwrap_or_else(|| panic!("{name} is listed"));
            assert!(on_step(q, step) && on_step(q, contract), "{name}: {q}");
            assert!(q >= lit(sp.min_qty), "{name}: {q}");
            let notional = q * mark;
            assert!(notional >= lit(BYBIT_MIN_NOTIONAL), "{name}: {notional}");
            assert!(
                notional >= lit(sp.binance_min_notional),
                "{name}: {notional}"
            );
            assert!(q <= lit(BYBIT_MAX_MKT_ORDER_QTY), "{name}: {q}");
            assert!(q <= lit(BINANCE_MAX_MARKET_QTY), "{name}: {q}");
        }
        assert_eq!(tradable_quantity("ETHUSDT"), Some(lit("0.01")));
        assert_eq!(tradable_quantity("DOGE_USDT"), Some(lit("50")));
        assert_eq!(tradable_quantity("PEPEUSDT"), None);
    }

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
        let algo = Fault::from_json(
            &json!({"exchange":"binance","fault":"http_503_unknown","target":"algo_order"}),
        );
        assert_eq!(
            algo.ok(),
            Some(Fault::new(Exchange::Binance, FaultKind::Http503Unknown).on_algo_orders())
        );
        // Only Binance has algo orders.
        assert!(Fault::from_json(
            &json!({"exchange":"bybit","fault":"http_500","target":"algo_order"})
        )
        .is_err());
        let mut book = Book::default();
        book.queue(Fault::new(Exchange::Binance, FaultKind::Http500).on_algo_orders());
        assert!(
            book.take_fault(Exchange::Binance).is_none(),
            "not an order submit's"
        );
        assert!(book.take_fault_of(Exchange::Binance, true).is_some());
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
            .set_mark(&MarkPrice::new(Exchange::Bybit, "PEPEUSDT", lit("1")))
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
    fn switches_parse_from_the_control_json() {
        let s = Switches::from_json(
            Exchange::Bybit,
            &json!({"partial_fill":"0.5","realtime_forgets_closed":true}),
        );
        assert_eq!(
            s.ok(),
            Some(Switches {
                partial_fill: Some(lit("0.5")),
                realtime_forgets_closed: true,
                ..Switches::default()
            })
        );
        assert_eq!(
            Switches::from_json(Exchange::Mexc, &json!({"partial_fill":0})).ok(),
            Some(Switches {
                partial_fill: Some(Decimal::ZERO),
                ..Switches::default()
            })
        );
        for bad in [
            json!({"partial_fill":"1.5"}),
            json!({"partial_fill":"-0.1"}),
            json!({"partial_fill":"half"}),
            json!({"geo_block":"yes"}),
        ] {
            assert!(Switches::from_json(Exchange::Bybit, &bad).is_err(), "{bad}");
        }
        let s = Switches::from_json(
            Exchange::Mexc,
            &json!({"hedge_mode":false,"margin_conflicts":true,"external_lookup_misses":true}),
        );
        assert_eq!(
            s.as_ref()
                .ok()
                .map(|s| (s.hedge(Exchange::Mexc), s.margin_conflicts)),
            Some((false, true))
        );
        // Unset, each exchange's default mode: hedge on MEXC only.
        assert!(Switches::default().hedge(Exchange::Mexc));
        assert!(!Switches::default().hedge(Exchange::Binance));
        assert!(Switches::from_json(Exchange::Bybit, &json!({"hedge_mode":1})).is_err());
        // MEXC's behaviours elsewhere, and Bybit's, would silently do nothing.
        assert!(Switches::from_json(Exchange::Bybit, &json!({"margin_conflicts":true})).is_err());
        assert!(Switches::from_json(Exchange::Binance, &json!({"geo_block":true})).is_err());
        assert!(
            Switches::from_json(Exchange::Mexc, &json!({"realtime_forgets_closed":true})).is_err()
        );
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
