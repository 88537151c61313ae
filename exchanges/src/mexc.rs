//! MEXC futures (contract API): contract rules, order placement with `externalOid` and lookup by
//! it, for USDT-margined perpetuals (`BTC_USDT`).
//!
//! MEXC counts orders in contracts, not coins: a signal's base quantity is divided by the
//! contract's `contractSize` and rounded down to its `volUnit`, so fills reported here are in
//! contracts too (`Instrument::base_quantity` converts back). Leverage travels with each opening
//! order (isolated margin, `openType` 1), which MEXC requires, so the separate leverage call is a
//! signed read of the current setting rather than a change. MEXC has no testnet: a test signal
//! is refused, never sent to the real exchange.
//!
//! Every signed request carries `ApiKey`, `Request-Time` (ms), `Signature` and `Recv-Window`,
//! as "Authentication method" and "Time security" describe,
//! <https://mexcdevelop.github.io/apidocs/contract_v1_en/#authentication-method> and
//! <https://mexcdevelop.github.io/apidocs/contract_v1_en/#time-security> (source:
//! `mexcdevelop/apidocs`, branch `contract_v1_en`, `source/index.html.md`): MEXC
//! refuses a request whose `Request-Time` is more than the window from its clock with code 513
//! ("Invalid request(for open api serves time more or less than 10s)"). The window is counted in
//! seconds, 10 by default and at most 60, so the context's 5000 ms go out as `Recv-Window: 5`;
//! without it MEXC would keep a late request valid for 10 s. The window takes no part in the
//! signature, which covers `accessKey + timestamp + parameter string` only.
//!
//! The reference price is MEXC's fair price (its mark price), `GET /api/v1/contract/fair_price/
//! BTC_USDT` → `data.fairPrice` (a JSON number), as documented in "Get contract fair price",
//! <https://mexcdevelop.github.io/apidocs/contract_v1_en/#get-contract-fair-price> (source:
//! `mexcdevelop/apidocs`, branch `contract_v1_en`, `source/index.html.md`). A contract MEXC
//! does not list is code 1001 "Contract does not exist" of the same page's error code table:
//! terminal.

use crate::order::{OrderRequest, Side};
use crate::precision::fit;
use crate::signing::{mexc_payload, sign};
use crate::venue::{
    Context, Credentials, ErrorClass, ExchangeError, HttpRequest, HttpResponse, Instrument, Method,
    PriceKind, QueryResult, ReferencePrice, Venue,
};
use crate::wire::{
    decimal, error, excerpt, not_tradable, parse_json, percent_encode, query_string,
    reference_price, refused, retry_after, text, Call, JsonObject,
};
use contracts::event::OrderAck;
use contracts::signal::{Exchange, OrderType};
use contracts::symbol::Symbol;
use rust_decimal::Decimal;
use serde_json::Value;

pub const MAINNET: &str = "https://contract.mexc.com";

/// Order placement. MEXC's current documentation names `order/create`; the older `order/submit`
/// path takes the same body.
pub const ORDER_PATH: &str = "/api/v1/private/order/create";

/// "Excessive frequency of requests".
pub const TOO_FREQUENT: i64 = 510;
/// "Invalid request (for open api serves time more or less than 10s)": clock outside the window.
pub const BAD_REQUEST_TIME: i64 = 513;
/// "Verify failed": bad signature.
pub const VERIFY_FAILED: i64 = 602;
/// "Repeated requests": MEXC saw this request (or `externalOid`) before.
pub const REPEATED_REQUEST: i64 = 603;
/// "order not exist".
pub const ORDER_NOT_EXIST: i64 = 2040;
/// "Contract does not exist": MEXC does not list the symbol.
pub const CONTRACT_NOT_EXIST: i64 = 1001;

/// MEXC's largest `Recv-Window`, in seconds ("Time security").
pub const MAX_RECV_WINDOW_S: u32 = 60;

/// The `Recv-Window` header value for a window of `recv_window_ms`: MEXC counts whole seconds, so
/// the window is rounded down (never longer than asked), and kept within 1..=60 s.
pub fn recv_window_seconds(recv_window_ms: u32) -> u32 {
    (recv_window_ms / 1000).clamp(1, MAX_RECV_WINDOW_S)
}

/// `openType` 1: isolated margin, where each opening order carries its leverage.
const ISOLATED: i64 = 1;

/// The MEXC futures adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mexc;

pub static MEXC: Mexc = Mexc;

/// Positions, the USDT wallet and fees: [`crate::account::Account`].
mod account;

fn no_testnet() -> ExchangeError {
    refused(
        Exchange::Mexc,
        "MEXC futures has no testnet: a test signal cannot be routed to MEXC (use bybit or binance with test, or paper)",
    )
}

impl Mexc {
    fn signed(
        ctx: &Context,
        creds: &Credentials,
        method: Method,
        path: &str,
        query: String,
        body: Option<String>,
    ) -> HttpRequest {
        // GET signs its business parameters sorted by key; POST signs the raw JSON body. The
        // receive window is sent but not signed.
        let params = body.clone().unwrap_or_else(|| query.clone());
        let signature = sign(
            &creds.api_secret,
            &mexc_payload(&creds.api_key, ctx.now_ms, &params),
        );
        let url = if query.is_empty() {
            format!("{}{path}", ctx.base_url)
        } else {
            format!("{}{path}?{query}", ctx.base_url)
        };
        HttpRequest {
            method,
            url,
            headers: vec![
                ("ApiKey".into(), creds.api_key.clone()),
                ("Request-Time".into(), ctx.now_ms.to_string()),
                (
                    "Recv-Window".into(),
                    recv_window_seconds(ctx.recv_window_ms).to_string(),
                ),
                ("Signature".into(), signature),
                ("Content-Type".into(), "application/json".into()),
            ],
            body,
        }
    }
}

/// `Ok(data)` for `success: true`, else the classified error.
fn answer(call: Call, resp: &HttpResponse) -> Result<Value, ExchangeError> {
    let fail = |class, code: Option<i64>, message: String| {
        Err(error(
            Exchange::Mexc,
            class,
            resp.status,
            code.map(|c| c.to_string()),
            message,
        ))
    };
    match resp.status {
        429 => {
            return fail(
                ErrorClass::Retryable {
                    retry_after_seconds: retry_after(resp),
                },
                None,
                format!("HTTP 429: {}", excerpt(&resp.body)),
            )
        }
        403 | 418 => {
            return fail(
                ErrorClass::Banned {
                    retry_after_seconds: retry_after(resp),
                },
                None,
                format!("HTTP {}: {}", resp.status, excerpt(&resp.body)),
            )
        }
        s if s >= 500 => {
            return fail(
                call.unclear(),
                None,
                format!("HTTP {s}: {}", excerpt(&resp.body)),
            )
        }
        _ => {}
    }
    let Some(json) = parse_json(resp) else {
        return fail(
            call.unreadable(resp.status),
            None,
            format!("unreadable answer: {}", excerpt(&resp.body)),
        );
    };
    let code = json.get("code").and_then(Value::as_i64);
    let success = json
        .get("success")
        .and_then(Value::as_bool)
        .unwrap_or(code == Some(0));
    if success && (200..300).contains(&resp.status) {
        return Ok(json.get("data").cloned().unwrap_or(Value::Null));
    }
    let message = json
        .get("message")
        .or_else(|| json.get("msg"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| excerpt(&resp.body));
    let class = match code {
        Some(TOO_FREQUENT | 2037) => ErrorClass::Retryable {
            retry_after_seconds: retry_after(resp),
        },
        // Clock outside the window: rejected before processing.
        Some(BAD_REQUEST_TIME) => ErrorClass::Retryable {
            retry_after_seconds: None,
        },
        // Internal error, system busy, public abnormal: a submit may have gone through.
        Some(500 | 501 | 9999) => call.unclear(),
        // A repeated request or externalOid means an earlier attempt reached MEXC.
        Some(REPEATED_REQUEST) => match call {
            Call::Submit => ErrorClass::Unknown,
            _ => ErrorClass::Retryable {
                retry_after_seconds: None,
            },
        },
        _ => ErrorClass::Terminal,
    };
    fail(class, code, message)
}

/// MEXC's numeric order states, in words for the ledger.
fn state_name(state: i64) -> String {
    match state {
        1 => "Pending".into(),
        2 => "Unfilled".into(),
        3 => "Filled".into(),
        4 => "Canceled".into(),
        5 => "Invalid".into(),
        other => format!("State{other}"),
    }
}

impl Venue for Mexc {
    fn exchange(&self) -> Exchange {
        Exchange::Mexc
    }

    fn default_base_url(&self, testnet: bool) -> Result<&'static str, ExchangeError> {
        if testnet {
            Err(no_testnet())
        } else {
            Ok(MAINNET)
        }
    }

    fn symbol(&self, symbol: &Symbol) -> String {
        symbol.underscored()
    }

    fn instrument_request(&self, ctx: &Context, symbol: &Symbol) -> HttpRequest {
        HttpRequest::public_get(format!(
            "{}/api/v1/contract/detail?{}",
            ctx.base_url,
            query_string(&[("symbol", self.symbol(symbol))])
        ))
    }

    fn parse_instrument(
        &self,
        symbol: &Symbol,
        resp: &HttpResponse,
    ) -> Result<Instrument, ExchangeError> {
        let data = answer(Call::Instrument, resp)?;
        let wanted = self.symbol(symbol);
        let terminal = |message: String| not_tradable(Exchange::Mexc, resp.status, message);
        // With `symbol` the detail is one object; without, a list.
        let item = match &data {
            Value::Array(list) => list
                .iter()
                .find(|c| c.get("symbol").and_then(Value::as_str) == Some(wanted.as_str())),
            Value::Object(_) => Some(&data),
            _ => None,
        }
        .filter(|c| c.get("symbol").and_then(Value::as_str) == Some(wanted.as_str()))
        .ok_or_else(|| terminal(format!("{wanted} is not a MEXC futures contract")))?;
        if let Some(state) = item.get("state").and_then(Value::as_i64) {
            if state != 0 {
                return Err(terminal(format!(
                    "{wanted} is not enabled on MEXC futures (state {state})"
                )));
            }
        }
        if item.get("apiAllowed").and_then(Value::as_bool) == Some(false) {
            return Err(terminal(format!(
                "MEXC does not allow API trading of {wanted} (apiAllowed=false)"
            )));
        }
        let num = |field: &str| {
            item.get(field).and_then(decimal).ok_or_else(|| {
                error(
                    Exchange::Mexc,
                    ErrorClass::Retryable {
                        retry_after_seconds: None,
                    },
                    resp.status,
                    None,
                    format!("{field} missing for {wanted} in contract detail"),
                )
            })
        };
        Ok(Instrument {
            symbol: wanted.clone(),
            qty_step: num("volUnit")?,
            min_qty: num("minVol")?,
            tick_size: num("priceUnit")?,
            contract_size: num("contractSize")?,
        })
    }

    fn price_request(&self, ctx: &Context, symbol: &Symbol) -> HttpRequest {
        HttpRequest::public_get(format!(
            "{}/api/v1/contract/fair_price/{}",
            ctx.base_url,
            percent_encode(&self.symbol(symbol))
        ))
    }

    fn parse_price(
        &self,
        symbol: &Symbol,
        resp: &HttpResponse,
    ) -> Result<ReferencePrice, ExchangeError> {
        let data = answer(Call::Price, resp)?;
        let wanted = self.symbol(symbol);
        let item = Some(&data)
            .filter(|d| d.get("symbol").and_then(Value::as_str) == Some(wanted.as_str()))
            .ok_or_else(|| {
                not_tradable(
                    Exchange::Mexc,
                    resp.status,
                    format!("MEXC has no fair price for {wanted}"),
                )
            })?;
        reference_price(
            Exchange::Mexc,
            resp.status,
            wanted,
            PriceKind::Fair,
            "fairPrice",
            item.get("fairPrice"),
        )
    }

    /// A signed read of the symbol's leverage (`GET /api/v1/private/position/leverage`): on
    /// MEXC the leverage is set by each opening order itself, so nothing needs changing here,
    /// and the call still proves the credentials before an order is sent.
    fn leverage_request(
        &self,
        ctx: &Context,
        creds: &Credentials,
        symbol: &Symbol,
        _leverage: u8,
    ) -> HttpRequest {
        Self::signed(
            ctx,
            creds,
            Method::Get,
            "/api/v1/private/position/leverage",
            query_string(&[("symbol", self.symbol(symbol))]),
            None,
        )
    }

    fn parse_leverage(&self, resp: &HttpResponse) -> Result<(), ExchangeError> {
        answer(Call::Leverage, resp).map(|_| ())
    }

    fn order_request(
        &self,
        ctx: &Context,
        creds: &Credentials,
        order: &OrderRequest,
        instrument: &Instrument,
    ) -> Result<HttpRequest, ExchangeError> {
        if order.testnet {
            return Err(no_testnet());
        }
        let sized = fit(order, instrument)?;
        // 1 open long, 2 close short, 3 open short, 4 close long.
        let side = match (order.side, order.reduce_only) {
            (Side::Buy, false) => 1,
            (Side::Buy, true) => 2,
            (Side::Sell, false) => 3,
            (Side::Sell, true) => 4,
        };
        // `price` is mandatory even for a market order, where MEXC ignores it.
        let price = match order.order_type {
            OrderType::Limit => sized.price,
            OrderType::Market => sized.price.or(Some(Decimal::ZERO)),
        }
        .unwrap_or(Decimal::ZERO);
        let mut body = JsonObject::new()
            .string("symbol", &instrument.symbol)
            .number("price", price)
            .number("vol", sized.quantity);
        if !order.reduce_only {
            body = body.int("leverage", i64::from(order.leverage));
        }
        body = body
            .int("side", side)
            .int(
                "type",
                match order.order_type {
                    OrderType::Limit => 1,
                    OrderType::Market => 5,
                },
            )
            .int("openType", ISOLATED)
            .string("externalOid", &order.client_order_id);
        if !order.reduce_only {
            if let Some(sl) = sized.stop_loss {
                body = body.number("stopLossPrice", sl);
            }
            if let Some(tp) = sized.take_profit {
                body = body.number("takeProfitPrice", tp);
            }
        }
        Ok(Self::signed(
            ctx,
            creds,
            Method::Post,
            ORDER_PATH,
            String::new(),
            Some(body.finish()),
        ))
    }

    fn parse_order(
        &self,
        order: &OrderRequest,
        resp: &HttpResponse,
    ) -> Result<OrderAck, ExchangeError> {
        let data = answer(Call::Submit, resp)?;
        // `data` is `{"orderId": "...", "ts": ...}`, or the bare id on the older path.
        let order_id = data
            .get("orderId")
            .and_then(text)
            .or_else(|| text(&data))
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                error(
                    Exchange::Mexc,
                    ErrorClass::Unknown,
                    resp.status,
                    None,
                    format!("order id missing from answer: {}", excerpt(&resp.body)),
                )
            })?;
        Ok(OrderAck {
            client_order_id: order.client_order_id.clone(),
            exchange_order_id: order_id,
            status: state_name(1),
            filled_quantity: Decimal::ZERO,
            average_price: None,
        })
    }

    fn query_request(
        &self,
        ctx: &Context,
        creds: &Credentials,
        order: &OrderRequest,
    ) -> HttpRequest {
        // Path parameters take no part in the signature, so the signed parameter string is "".
        let path = format!(
            "/api/v1/private/order/external/{}/{}",
            self.symbol(&order.symbol),
            percent_encode(&order.client_order_id)
        );
        Self::signed(ctx, creds, Method::Get, &path, String::new(), None)
    }

    fn parse_query(
        &self,
        order: &OrderRequest,
        resp: &HttpResponse,
    ) -> Result<QueryResult, ExchangeError> {
        let data = match answer(Call::Query, resp) {
            Ok(data) => data,
            Err(e) if e.code.as_deref() == Some(&ORDER_NOT_EXIST.to_string()) => {
                return Ok(QueryResult::NotFound)
            }
            Err(e) => return Err(e),
        };
        if data.is_null() {
            return Ok(QueryResult::NotFound);
        }
        let order_id = data.get("orderId").and_then(text).ok_or_else(|| {
            error(
                Exchange::Mexc,
                ErrorClass::Retryable {
                    retry_after_seconds: None,
                },
                resp.status,
                None,
                format!("orderId missing from order answer: {}", excerpt(&resp.body)),
            )
        })?;
        let avg = data
            .get("dealAvgPriceStr")
            .and_then(decimal)
            .or_else(|| data.get("dealAvgPrice").and_then(decimal))
            .filter(|p| !p.is_zero());
        Ok(QueryResult::Found(OrderAck {
            client_order_id: data
                .get("externalOid")
                .and_then(text)
                .unwrap_or_else(|| order.client_order_id.clone()),
            exchange_order_id: order_id,
            status: data
                .get("state")
                .and_then(Value::as_i64)
                .map(state_name)
                .unwrap_or_else(|| "Unknown".into()),
            filled_quantity: data
                .get("dealVol")
                .and_then(decimal)
                .unwrap_or(Decimal::ZERO),
            average_price: avg,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{creds, ctx_at, instrument, order, response};
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap_or_default()
    }

    fn btc() -> Instrument {
        instrument("BTC_USDT", "1", "1", "0.1", "0.0001")
    }

    #[test]
    fn hosts_and_no_testnet() {
        assert_eq!(MEXC.default_base_url(false).ok(), Some(MAINNET));
        let e = MEXC.default_base_url(true).err();
        assert_eq!(e.as_ref().map(|e| e.class), Some(ErrorClass::Terminal));
        assert!(e
            .map(|e| e.message)
            .unwrap_or_default()
            .contains("no testnet"));
        let mut o = order(Exchange::Mexc, "0.01", None);
        o.testnet = true;
        let e = MEXC
            .order_request(&ctx_at(MAINNET), &creds(), &o, &btc())
            .err();
        assert_eq!(e.map(|e| e.class), Some(ErrorClass::Terminal));
    }

    #[test]
    fn open_order_converts_to_contracts_and_signs_the_body() {
        let mut o = order(Exchange::Mexc, "0.00159", Some("65000.04"));
        o.leverage = 10;
        o.stop_loss = Some(d("60000.06"));
        o.take_profit = Some(d("70000"));
        let r = MEXC
            .order_request(&ctx_at(MAINNET), &creds(), &o, &btc())
            .unwrap_or_else(|e| panic!("{e}"));
        let body = r#"{"symbol":"BTC_USDT","price":65000,"vol":15,"leverage":10,"side":1,"type":5,"openType":1,"externalOid":"hx0123456789abcdef0123456789abcd","stopLossPrice":60000.1,"takeProfitPrice":70000}"#;
        assert_eq!(r.method, Method::Post);
        assert_eq!(
            r.url,
            "https://contract.mexc.com/api/v1/private/order/create"
        );
        assert_eq!(r.body.as_deref(), Some(body));
        assert_eq!(
            r.headers,
            vec![
                ("ApiKey".to_string(), "test-key".to_string()),
                ("Request-Time".into(), "1700000000000".into()),
                ("Recv-Window".into(), "5".into()),
                (
                    "Signature".into(),
                    sign("test-secret", &format!("test-key1700000000000{body}"))
                ),
                ("Content-Type".into(), "application/json".into()),
            ]
        );
    }

    #[test]
    fn closing_limit_order() {
        let mut o = order(Exchange::Mexc, "0.002", Some("65000.06"));
        o.order_type = OrderType::Limit;
        o.side = Side::Sell;
        o.reduce_only = true;
        o.stop_loss = Some(d("1"));
        let r = MEXC
            .order_request(&ctx_at(MAINNET), &creds(), &o, &btc())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            r.body.as_deref(),
            Some(
                r#"{"symbol":"BTC_USDT","price":65000.1,"vol":20,"side":4,"type":1,"openType":1,"externalOid":"hx0123456789abcdef0123456789abcd"}"#
            )
        );
        let mut market = order(Exchange::Mexc, "0.001", None);
        market.side = Side::Buy;
        market.reduce_only = true;
        let r = MEXC
            .order_request(&ctx_at(MAINNET), &creds(), &market, &btc())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(r
            .body
            .unwrap_or_default()
            .starts_with(r#"{"symbol":"BTC_USDT","price":0,"vol":10,"side":2,"type":5"#));
    }

    #[test]
    fn query_leverage_and_instrument_requests() {
        let o = order(Exchange::Mexc, "0.01", None);
        let q = MEXC.query_request(&ctx_at(MAINNET), &creds(), &o);
        assert_eq!(
            q.url,
            "https://contract.mexc.com/api/v1/private/order/external/BTC_USDT/hx0123456789abcdef0123456789abcd"
        );
        assert_eq!(q.body, None);
        assert!(q.headers.contains(&(
            "Signature".into(),
            sign("test-secret", "test-key1700000000000")
        )));
        let l = MEXC.leverage_request(&ctx_at(MAINNET), &creds(), &o.symbol, 5);
        assert_eq!(
            l.url,
            "https://contract.mexc.com/api/v1/private/position/leverage?symbol=BTC_USDT"
        );
        assert!(l.headers.contains(&(
            "Signature".into(),
            sign("test-secret", "test-key1700000000000symbol=BTC_USDT")
        )));
        let i = MEXC.instrument_request(&ctx_at(MAINNET), &o.symbol);
        assert_eq!(
            i.url,
            "https://contract.mexc.com/api/v1/contract/detail?symbol=BTC_USDT"
        );
        assert!(i.headers.is_empty());
        for r in [&q, &l] {
            assert!(
                r.headers.contains(&("Recv-Window".into(), "5".into())),
                "{}",
                r.url
            );
        }
    }

    #[test]
    fn the_receive_window_goes_out_in_whole_seconds_and_is_not_signed() {
        assert_eq!(recv_window_seconds(5000), 5);
        // Rounded down, never longer than asked; within MEXC's 1..=60 s.
        assert_eq!(recv_window_seconds(5999), 5);
        assert_eq!(recv_window_seconds(0), 1);
        assert_eq!(recv_window_seconds(60_000), 60);
        assert_eq!(recv_window_seconds(120_000), 60);
        let o = order(Exchange::Mexc, "0.01", None);
        let header = |ctx: &Context| {
            let r = MEXC.query_request(ctx, &creds(), &o);
            let get = |name: &str| {
                r.headers
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            };
            (get("Recv-Window"), get("Signature"))
        };
        let five = header(&ctx_at(MAINNET));
        let ten = header(&Context {
            recv_window_ms: 10_000,
            ..ctx_at(MAINNET)
        });
        assert_eq!(five.0.as_deref(), Some("5"));
        assert_eq!(ten.0.as_deref(), Some("10"));
        // The signature covers key + time + parameters only.
        assert_eq!(five.1, ten.1);
    }

    #[test]
    fn parses_contract_detail() {
        let sym = Symbol::parse("BTCUSDT").unwrap_or_else(|e| panic!("{e}"));
        let body = r#"{"success":true,"code":0,"data":{"symbol":"BTC_USDT","contractSize":0.0001,"priceUnit":0.1,"volUnit":1,"minVol":1,"maxVol":5000000,"state":0,"apiAllowed":true}}"#;
        assert_eq!(MEXC.parse_instrument(&sym, &response(200, body)), Ok(btc()));
        let list = format!(
            "{{\"success\":true,\"code\":0,\"data\":[{}]}}",
            &body[32..body.len() - 1]
        );
        assert_eq!(
            MEXC.parse_instrument(&sym, &response(200, &list)),
            Ok(btc())
        );
        let closed = body.replace("\"apiAllowed\":true", "\"apiAllowed\":false");
        let e = MEXC.parse_instrument(&sym, &response(200, &closed)).err();
        assert_eq!(e.map(|e| e.class), Some(ErrorClass::Terminal));
        let unknown = r#"{"success":false,"code":1001,"message":"Contract does not exist!"}"#;
        let e = MEXC.parse_instrument(&sym, &response(200, unknown)).err();
        assert_eq!(e.map(|e| e.class), Some(ErrorClass::Terminal));
    }

    fn btc_symbol() -> Symbol {
        Symbol::parse("BTCUSDT").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn price_request_asks_for_the_fair_price_of_the_contract() {
        let r = MEXC.price_request(&ctx_at(MAINNET), &btc_symbol());
        assert_eq!(r.method, Method::Get);
        assert_eq!(
            r.url,
            "https://contract.mexc.com/api/v1/contract/fair_price/BTC_USDT"
        );
        assert!(r.headers.is_empty(), "public market data is not signed");
        assert_eq!(r.body, None);
    }

    /// The response example of "Get contract fair price", verbatim.
    const DOC_FAIR_PRICE: &str = r#"{
    "success": true,
    "code": 0,
    "data": {
        "symbol": "BTC_USDT",
        "fairPrice": 31103.4,
        "timestamp": 1609829705178
    }
}"#;

    #[test]
    fn parses_the_documented_fair_price() {
        assert_eq!(
            MEXC.parse_price(&btc_symbol(), &response(200, DOC_FAIR_PRICE)),
            Ok(ReferencePrice {
                symbol: "BTC_USDT".into(),
                price: d("31103.4"),
                kind: PriceKind::Fair,
            })
        );
        // A JSON number reaches the decimal without a float's error.
        let fine = DOC_FAIR_PRICE.replace("31103.4", "0.000012345");
        assert_eq!(
            MEXC.parse_price(&btc_symbol(), &response(200, &fine))
                .map(|p| p.price),
            Ok(d("0.000012345"))
        );
    }

    #[test]
    fn a_missing_zero_or_negative_fair_price_is_no_price() {
        let retry = Some(ErrorClass::Retryable {
            retry_after_seconds: None,
        });
        for fair in [
            r#""fairPrice": 0"#,
            r#""fairPrice": 0.0"#,
            r#""fairPrice": -31103.4"#,
            r#""fairPrice": null"#,
            r#""fairPrice": """#,
            r#""indexPrice": 31103.4"#,
        ] {
            let body = DOC_FAIR_PRICE.replace(r#""fairPrice": 31103.4"#, fair);
            let e = MEXC.parse_price(&btc_symbol(), &response(200, &body)).err();
            assert_eq!(e.map(|e| e.class), retry, "{fair}");
        }
    }

    #[test]
    fn classifies_price_errors() {
        let class = |status: u16, body: &str| {
            MEXC.parse_price(&btc_symbol(), &response(status, body))
                .err()
                .map(|e| (e.class, e.code))
        };
        assert_eq!(
            class(
                200,
                r#"{"success":false,"code":1001,"message":"Contract does not exist!"}"#
            ),
            Some((ErrorClass::Terminal, Some(CONTRACT_NOT_EXIST.to_string())))
        );
        for other in [
            DOC_FAIR_PRICE.replace("BTC_USDT", "ETH_USDT"),
            r#"{"success":true,"code":0,"data":null}"#.to_owned(),
        ] {
            assert_eq!(
                class(200, &other),
                Some((ErrorClass::Terminal, None)),
                "{other}"
            );
        }
        let retry = ErrorClass::Retryable {
            retry_after_seconds: None,
        };
        assert_eq!(
            class(
                200,
                r#"{"success":false,"code":510,"message":"Excessive frequency of requests"}"#
            ),
            Some((retry, Some("510".into())))
        );
        assert_eq!(
            class(
                200,
                r#"{"success":false,"code":500,"message":"System internal error!"}"#
            ),
            Some((retry, Some("500".into())))
        );
        assert_eq!(class(429, ""), Some((retry, None)));
        assert_eq!(class(503, "unavailable"), Some((retry, None)));
        assert_eq!(
            class(403, "Access Denied").map(|(c, _)| c),
            Some(ErrorClass::Banned {
                retry_after_seconds: None
            })
        );
    }

    #[test]
    fn parses_order_and_query() {
        let o = order(Exchange::Mexc, "0.01", None);
        let ok = r#"{"success":true,"code":0,"data":{"orderId":"739113577038255616","ts":1761888808839}}"#;
        let ack = MEXC
            .parse_order(&o, &response(200, ok))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ack.exchange_order_id, "739113577038255616");
        assert_eq!(ack.status, "Pending");
        let legacy = r#"{"success":true,"code":0,"data":102057569836905984}"#;
        let ack = MEXC
            .parse_order(&o, &response(200, legacy))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ack.exchange_order_id, "102057569836905984");
        let found = r#"{"success":true,"code":0,"data":{"orderId":"739106551624717312","symbol":"BTC_USDT","price":109777.5,"vol":5,"side":1,"dealAvgPrice":109777.5,"dealAvgPriceStr":"109777.500000000000000000","dealVol":5,"state":3,"externalOid":"hx0123456789abcdef0123456789abcd"}}"#;
        match MEXC.parse_query(&o, &response(200, found)) {
            Ok(QueryResult::Found(a)) => {
                assert_eq!(a.status, "Filled");
                assert_eq!(a.filled_quantity, d("5"));
                assert_eq!(a.average_price, Some(d("109777.5")));
            }
            other => panic!("{other:?}"),
        }
        let missing = r#"{"success":false,"code":2040,"message":"order not exist"}"#;
        assert_eq!(
            MEXC.parse_query(&o, &response(200, missing)),
            Ok(QueryResult::NotFound)
        );
        let null = r#"{"success":true,"code":0,"data":null}"#;
        assert_eq!(
            MEXC.parse_query(&o, &response(200, null)),
            Ok(QueryResult::NotFound)
        );
    }

    #[test]
    fn classifies_errors() {
        let o = order(Exchange::Mexc, "0.01", None);
        let class = |status: u16, body: &str| {
            MEXC.parse_order(&o, &response(status, body))
                .err()
                .map(|e| e.class)
        };
        let retry = Some(ErrorClass::Retryable {
            retry_after_seconds: None,
        });
        assert_eq!(
            class(
                200,
                r#"{"success":false,"code":510,"message":"Excessive frequency of requests"}"#
            ),
            retry
        );
        assert_eq!(
            class(
                200,
                r#"{"success":false,"code":513,"message":"Invalid request"}"#
            ),
            retry
        );
        assert_eq!(
            class(
                200,
                r#"{"success":false,"code":500,"message":"System internal error!"}"#
            ),
            Some(ErrorClass::Unknown)
        );
        assert_eq!(
            class(
                200,
                r#"{"success":false,"code":603,"message":"Repeated requests"}"#
            ),
            Some(ErrorClass::Unknown)
        );
        assert_eq!(class(503, "unavailable"), Some(ErrorClass::Unknown));
        assert_eq!(class(429, ""), retry);
        for code in [401, 402, 602, 600, 1001, 2005, 2015, 2030] {
            let body = format!(r#"{{"success":false,"code":{code},"message":"x"}}"#);
            assert_eq!(class(200, &body), Some(ErrorClass::Terminal), "{code}");
        }
        let e = MEXC
            .parse_query(
                &o,
                &response(200, r#"{"success":false,"code":500,"message":"x"}"#),
            )
            .err();
        assert_eq!(e.map(|e| e.class), retry);
        assert_eq!(
            MEXC.parse_leverage(&response(200, r#"{"success":true,"code":0,"data":[]}"#)),
            Ok(())
        );
    }

    #[test]
    fn fills_convert_back_to_base_units() {
        assert_eq!(btc().base_quantity(d("15")), d("0.0015"));
    }
}
