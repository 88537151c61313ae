//! One exchange's protocol, pure: how to ask (request building and signing) and how to read the
//! answer (parsing and error classification). The `consumers` worker supplies the transport and
//! the clock; everything here is tested natively against the exchanges' documented formats.

use crate::order::OrderRequest;
use contracts::amount::{self, AmountError};
use contracts::event::OrderAck;
use contracts::signal::Exchange;
use contracts::symbol::Symbol;
use rust_decimal::Decimal;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    /// Binance's cancels (`DELETE /fapi/v1/algoOrder`).
    Delete,
}

/// A request ready to send: full URL (query included), headers, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

impl HttpRequest {
    /// An unsigned GET (public market data).
    pub fn public_get(url: String) -> Self {
        Self {
            method: Method::Get,
            url,
            headers: Vec::new(),
            body: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// API credentials. `Debug` never prints the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub api_key: String,
    pub api_secret: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("api_key", &self.api_key)
            .field("api_secret", &"<redacted>")
            .finish()
    }
}

/// Per-call context: where to send, and the clock used for signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// Base URL without trailing slash, e.g. `https://api.bybit.com` (a var, so tests point it
    /// at a local mock).
    pub base_url: String,
    pub now_ms: i64,
    /// Sent where the exchange takes one; 5000 ms by default.
    pub recv_window_ms: u32,
}

/// Trading rules of one instrument, cached in KV by the worker; and, for one order, what the
/// live port learnt of the account beside them ([`Placement`], never cached).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Instrument {
    /// The exchange's own symbol (`BTCUSDT`, `BTC_USDT`).
    pub symbol: String,
    /// Quantity step in the exchange's order unit (base asset; contracts on MEXC futures).
    pub qty_step: Decimal,
    pub min_qty: Decimal,
    pub tick_size: Decimal,
    /// Base-asset units per contract (1 where orders are in base units).
    pub contract_size: Decimal,
    /// The exchange's other size rules (maximums, market-order lots, minimum notional). An
    /// entry cached before they were read has none (`serde(default)`): the exchange alone
    /// checks them until the entry is refreshed.
    #[serde(default)]
    pub limits: Limits,
    /// What the live port learnt for the order at hand (the account's position mode, MEXC's
    /// open position, the exchange's reference price). Per order, so never stored with the
    /// rules (`serde(skip)`): an instrument read back from a cache has the default, and the
    /// port fills it in before the order is built.
    #[serde(skip)]
    pub placement: Placement,
}

/// Size rules beyond the lot step and minimum, each as the exchange publishes it (`None`: it
/// publishes none, and nothing is checked here). Quantities are in the exchange's order unit
/// (contracts on MEXC futures); the notional is in the quote asset (USDT).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// The largest quantity of one order (Binance `LOT_SIZE.maxQty`, Bybit
    /// `lotSizeFilter.maxOrderQty` for limit orders, MEXC `maxVol`); a market order's too
    /// unless [`Self::max_market_qty`] says otherwise.
    pub max_qty: Option<Decimal>,
    /// A market order's own lot step, minimum and maximum where the exchange sets them apart
    /// (Binance `MARKET_LOT_SIZE`; Bybit `lotSizeFilter.maxMktOrderQty`).
    pub market_qty_step: Option<Decimal>,
    pub market_min_qty: Option<Decimal>,
    pub max_market_qty: Option<Decimal>,
    /// The smallest notional (quantity × price) of an order that opens or adds to a position
    /// (Binance `MIN_NOTIONAL.notional`, Bybit `lotSizeFilter.minNotionalValue`).
    pub min_notional: Option<Decimal>,
}

/// How the account holds positions on an instrument: one net position (one-way), or a long
/// and a short one side by side (hedge). Each exchange is told which side an order is for in
/// its own way (Bybit `positionIdx`, Binance `positionSide`, MEXC's open/close side codes),
/// and refuses an order written for the other mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PositionMode {
    /// One net position per symbol: Bybit's and Binance's default for a fresh account.
    OneWay,
    /// A long and a short position side by side.
    Hedge,
}

impl PositionMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OneWay => "one_way",
            Self::Hedge => "hedge",
        }
    }
}

/// How an open position's margin is held (MEXC's `openType`: 1 isolated, 2 cross).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarginType {
    Isolated,
    Cross,
}

/// The open position an order meets (same symbol, same direction), where the venue's order
/// must agree with it (MEXC: its margin type, and its leverage for an opening order).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OpenPosition {
    /// The exchange's position id (MEXC `positionId`).
    pub id: String,
    pub margin: MarginType,
    pub leverage: u32,
}

/// What an order is placed against beyond the instrument's published rules, learnt by the
/// live port for this order. The default knows nothing: no position mode read (the order is
/// written as it was before modes were read: no Bybit `positionIdx`, no Binance
/// `positionSide`, no MEXC `reduceOnly`, each exchange then applying the account's own
/// setting where it can), no open position read, no reference price (a market order's
/// notional is then valued at the sender's price, if any, else left to the exchange).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    /// Read once per (exchange, network, symbol) and kept beside the leverage.
    pub position_mode: Option<PositionMode>,
    /// MEXC only: the open position in the order's direction, read for each order (`None`
    /// when there is none, and on the other venues).
    pub position: Option<OpenPosition>,
    /// The exchange's reference price (mark) from the same prepare: what a market order's
    /// notional is valued at ("Since MARKET orders have no price, the mark price is used",
    /// Binance's filter rules).
    pub reference_price: Option<Decimal>,
}

impl Instrument {
    /// Base-asset units of a quantity in the exchange's order unit (contracts on MEXC futures):
    /// `OrderAck::filled_quantity` from a venue is in that unit. `Err` when the exchange's
    /// numbers multiply past a decimal.
    pub fn checked_base_quantity(
        &self,
        exchange_quantity: Decimal,
    ) -> Result<Decimal, AmountError> {
        Ok(amount::mul(exchange_quantity, self.contract_size)?.normalize())
    }

    /// [`Self::checked_base_quantity`], saturating at `Decimal::MAX`/`MIN` instead of failing:
    /// the fill it converts already happened and must be recorded as something, and an answer
    /// that large is absurd on its face. Never panics.
    pub fn base_quantity(&self, exchange_quantity: Decimal) -> Decimal {
        self.checked_base_quantity(exchange_quantity)
            .unwrap_or_else(|_| exchange_quantity.saturating_mul(self.contract_size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    /// An instrument cached before its limits were read still reads (no limits: the exchange
    /// checks them), and what the port learnt for one order never reaches the cache.
    #[test]
    fn cached_rules_carry_no_placement_and_older_entries_still_read() {
        let old = r#"{"symbol":"BTCUSDT","qty_step":"0.001","min_qty":"0.001","tick_size":"0.1","contract_size":"1"}"#;
        let i: Instrument = serde_json::from_str(old).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(i.limits, Limits::default());
        assert_eq!(i.placement, Placement::default());
        let placed = Instrument {
            placement: Placement {
                position_mode: Some(PositionMode::Hedge),
                position: None,
                reference_price: Some(Decimal::from(65000)),
            },
            limits: Limits {
                min_notional: Some(Decimal::from(100)),
                ..Limits::default()
            },
            ..i
        };
        let text = serde_json::to_string(&placed).unwrap_or_default();
        assert!(
            !text.contains("placement") && !text.contains("hedge"),
            "{text}"
        );
        let back: Instrument = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.limits.min_notional, Some(Decimal::from(100)));
        assert_eq!(back.placement, Placement::default());
    }

    #[test]
    fn base_quantity_of_an_absurd_answer_does_not_panic() {
        let i = Instrument {
            symbol: "BTC_USDT".into(),
            qty_step: Decimal::ONE,
            min_qty: Decimal::ONE,
            tick_size: Decimal::from_str("0.1").unwrap(),
            contract_size: Decimal::from(10),
            limits: Limits::default(),
            placement: Placement::default(),
        };
        assert_eq!(i.base_quantity(Decimal::MAX), Decimal::MAX);
        assert!(i.checked_base_quantity(Decimal::MAX).is_err());
        assert_eq!(i.base_quantity(Decimal::from(3)), Decimal::from(30));
        assert_eq!(
            i.checked_base_quantity(Decimal::from(3)),
            Ok(Decimal::from(30))
        );
    }
}

/// Which of the exchange's prices a [`ReferencePrice`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PriceKind {
    /// The mark price (Bybit, Binance): the exchange's own fair value of the contract, the one
    /// it liquidates and values positions at, smoothed against the index so one trade cannot
    /// move it.
    Mark,
    /// The last traded price, for a venue that publishes no mark.
    Last,
    /// MEXC's fair price: its mark price under its own name.
    Fair,
}

/// A price the exchange itself publishes for an instrument (public market data), for checks
/// that must not trust the price a signal's sender wrote (the notional cap). Always strictly
/// positive: an answer with a zero, negative or missing price is an error, never a price.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReferencePrice {
    /// The exchange's own symbol (`BTCUSDT`, `BTC_USDT`).
    pub symbol: String,
    /// Quote-asset units per base-asset unit (USDT per BTC), whatever the order unit.
    pub price: Decimal,
    pub kind: PriceKind,
}

/// The status of an [`OrderAck`] parsed from a submit answer that carries ids only (Bybit's
/// `/v5/order/create`, MEXC's order placement): the exchange accepted the request, and nothing
/// is known yet of what became of the order. Its `filled_quantity` is 0 and its
/// `average_price` `None` because nothing was reported, not because nothing executed: a lookup
/// ([`Venue::query_requests`]) tells the order's real state. No exchange uses this word itself.
pub const ACKNOWLEDGED: &str = "Acknowledged";

/// Whether `ack` is only the acknowledgement of a submit ([`ACKNOWLEDGED`]): its fill is still
/// to be learnt from a lookup.
pub fn is_acknowledgement_only(ack: &OrderAck) -> bool {
    ack.status == ACKNOWLEDGED
}

/// How a failure must be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Safe to retry after a delay (the order certainly was not placed): 429, 5xx before
    /// acceptance, Bybit 10006 and its UTA 429 "high server load", a request refused as
    /// expired or outside the receive window.
    Retryable { retry_after_seconds: Option<u32> },
    /// IP ban (Binance 418, Bybit 403 "access too frequent"): stop calling this exchange for a
    /// while.
    Banned { retry_after_seconds: Option<u32> },
    /// Retrying cannot help (bad symbol, precision, balance, invalid key, a region the exchange
    /// refuses), or, on a submit, the exchange's answer says the order ended with nothing
    /// executed: no order position.
    Terminal,
    /// The order may or may not exist (timeout after sending, 5xx on submit, Binance/MEXC
    /// "unknown"): reconcile by client order id before anything else.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{exchange} {status} {code:?}: {message}")]
pub struct ExchangeError {
    pub exchange: Exchange,
    pub class: ErrorClass,
    pub status: u16,
    pub code: Option<String>,
    pub message: String,
}

/// What a query by client order id found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryResult {
    /// The order exists, whatever its state: open, filled, or closed (cancelled, expired) with
    /// or without an executed quantity. `filled_quantity` is what executed and `status` the
    /// exchange's own word, verbatim; an order closed after a partial fill is a fill of that
    /// part, so judge by `filled_quantity > 0`, never by the status word.
    Found(OrderAck),
    NotFound,
}

/// One exchange's protocol.
///
/// Quantities in the `OrderAck`s it parses are in the exchange's order unit (contracts on MEXC
/// futures); `Instrument::base_quantity` turns them into base-asset units.
pub trait Venue: Sync + crate::account::Account {
    fn exchange(&self) -> Exchange;
    /// Default host (`https://…`) for production or testnet; MEXC has no testnet → Terminal.
    fn default_base_url(&self, testnet: bool) -> Result<&'static str, ExchangeError>;
    /// The exchange's form of a canonical symbol.
    fn symbol(&self, symbol: &Symbol) -> String;

    fn instrument_request(&self, ctx: &Context, symbol: &Symbol) -> HttpRequest;
    fn parse_instrument(
        &self,
        symbol: &Symbol,
        resp: &HttpResponse,
    ) -> Result<Instrument, ExchangeError>;

    /// The exchange's own price of the instrument (public market data, unsigned), fetched
    /// with the instrument rules.
    fn price_request(&self, ctx: &Context, symbol: &Symbol) -> HttpRequest;
    /// An unknown symbol is Terminal; 429/5xx and the like are classified as for any read; an
    /// answer without a strictly positive price is Retryable (nothing was placed, and the
    /// exchange may publish one soon), never a price.
    fn parse_price(
        &self,
        symbol: &Symbol,
        resp: &HttpResponse,
    ) -> Result<ReferencePrice, ExchangeError>;

    fn leverage_request(
        &self,
        ctx: &Context,
        creds: &Credentials,
        symbol: &Symbol,
        leverage: u8,
    ) -> HttpRequest;
    /// "Leverage not modified" counts as success.
    fn parse_leverage(&self, resp: &HttpResponse) -> Result<(), ExchangeError>;

    /// The account's position mode for `symbol` (a signed read): Bybit's position list (one
    /// row `positionIdx` 0 in one-way mode, rows 1 and 2 in hedge mode), Binance's
    /// `positionSide/dual`, MEXC's `position_mode`. The live port reads it once per
    /// (exchange, network, symbol) and keeps it beside the leverage.
    fn position_mode_request(
        &self,
        ctx: &Context,
        creds: &Credentials,
        symbol: &Symbol,
    ) -> HttpRequest;
    /// An answer that does not say the mode is Retryable: a mode is never guessed.
    fn parse_position_mode(
        &self,
        symbol: &Symbol,
        resp: &HttpResponse,
    ) -> Result<PositionMode, ExchangeError>;
    /// Whether a refused submit may mean the account's position mode is not the one the
    /// order was written for (the mode was switched since it was read): the port then reads
    /// it again for the next order.
    fn refuses_position_mode(&self, _e: &ExchangeError) -> bool {
        false
    }

    /// Where an order must agree with the open position it meets (MEXC: its margin type, and
    /// for an opening order its leverage), the signed read that finds that position, made
    /// for each order; `None` for venues whose orders need nothing of it.
    fn position_margin_request(
        &self,
        _ctx: &Context,
        _creds: &Credentials,
        _order: &OrderRequest,
    ) -> Option<HttpRequest> {
        None
    }
    /// The open position in the order's direction (`None`: there is none).
    fn parse_position_margin(
        &self,
        _order: &OrderRequest,
        _resp: &HttpResponse,
    ) -> Result<Option<OpenPosition>, ExchangeError> {
        Ok(None)
    }
    /// For a venue that reads positions ([`Self::position_margin_request`]): the call that
    /// brings `position`'s leverage to the order's before the order goes (read with
    /// [`Self::parse_leverage`]), or `None` when none is needed. Such a venue's leverage is a
    /// position's, not the symbol's, so the port makes this decision per order instead of
    /// setting [`Self::leverage_request`] once per symbol.
    fn leverage_change_request(
        &self,
        _ctx: &Context,
        _creds: &Credentials,
        _order: &OrderRequest,
        _position: &OpenPosition,
    ) -> Option<HttpRequest> {
        None
    }

    /// Rounds quantity and price to the instrument (quantity down to the step, price to the
    /// tick), converts base units to contracts where needed; below `min_qty`, or breaking one
    /// of the instrument's [`Limits`] (a maximum quantity, the minimum notional of an order
    /// that opens) → Terminal, with the rule's numbers, before any round trip. The order is
    /// written for the account's position mode (`instrument.placement`).
    fn order_request(
        &self,
        ctx: &Context,
        creds: &Credentials,
        order: &OrderRequest,
        instrument: &Instrument,
    ) -> Result<HttpRequest, ExchangeError>;
    fn parse_order(
        &self,
        order: &OrderRequest,
        resp: &HttpResponse,
    ) -> Result<OrderAck, ExchangeError>;

    fn query_request(
        &self,
        ctx: &Context,
        creds: &Credentials,
        order: &OrderRequest,
    ) -> HttpRequest;
    /// Every lookup that together covers where the order can be, in the order to try them:
    /// the order exists if any finds it, and is absent only if all answer "not found". Most
    /// exchanges answer one lookup by client order id wherever the order is.
    fn query_requests(
        &self,
        ctx: &Context,
        creds: &Credentials,
        order: &OrderRequest,
    ) -> Vec<HttpRequest> {
        vec![self.query_request(ctx, creds, order)]
    }
    fn parse_query(
        &self,
        order: &OrderRequest,
        resp: &HttpResponse,
    ) -> Result<QueryResult, ExchangeError>;

    /// How the exchange takes an order's take-profit and stop-loss: `None` when the order
    /// carries them itself ([`Self::order_request`] sends them, or refuses the order), `Some`
    /// when they are separate orders placed after the entry fills (Binance).
    fn separate_protection(&self) -> Option<&dyn crate::protect::ProtectiveOrders> {
        None
    }
}
