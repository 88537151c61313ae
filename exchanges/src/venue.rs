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

/// Trading rules of one instrument, cached in KV by the worker.
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

    #[test]
    fn base_quantity_of_an_absurd_answer_does_not_panic() {
        let i = Instrument {
            symbol: "BTC_USDT".into(),
            qty_step: Decimal::ONE,
            min_qty: Decimal::ONE,
            tick_size: Decimal::from_str("0.1").unwrap(),
            contract_size: Decimal::from(10),
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

/// How a failure must be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Safe to retry after a delay (the order certainly was not placed): 429, 5xx before
    /// acceptance, Bybit 10006, Bybit 403 "access too frequent".
    Retryable { retry_after_seconds: Option<u32> },
    /// IP ban (Binance 418, Bybit 403): stop calling this exchange for a while.
    Banned { retry_after_seconds: Option<u32> },
    /// Retrying cannot help (bad symbol, precision, balance, invalid key).
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

    /// Rounds quantity and price to the instrument (quantity down to the step, price to the
    /// tick), converts base units to contracts where needed; below `min_qty` → Terminal.
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
}
