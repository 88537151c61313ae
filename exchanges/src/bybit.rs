//! Bybit v5, USDT linear perpetuals: the requests hoox makes (instrument rules, leverage, order
//! create, order lookup by `orderLinkId`) and how their answers are read and classified.
//!
//! Bybit answers most refusals with HTTP 200 and a non-zero `retCode`, and refuses a repeated
//! `orderLinkId` (110072), so a duplicate submit is an order that exists: it is classified
//! `Unknown`, which makes the worker look the order up instead of giving up on it.
//!
//! The reference price is the mark price of the linear ticker, `GET /v5/market/tickers?category=
//! linear&symbol=BTCUSDT` → `result.list[].markPrice` (a string), as documented in "Get
//! Tickers", <https://bybit-exchange.github.io/docs/v5/market/tickers> (source:
//! `bybit-exchange/docs`, `docs/v5/market/tickers.mdx`). `category` is required; a symbol Bybit
//! does not list is refused with `retCode` 10001 (request parameter error, "Not supported
//! symbols"), which is terminal like every other parameter error.

use crate::order::{OrderRequest, Side};
use crate::precision::fit;
use crate::signing::{bybit_payload, sign};
use crate::venue::{
    Context, Credentials, ErrorClass, ExchangeError, HttpRequest, HttpResponse, Instrument, Method,
    PriceKind, QueryResult, ReferencePrice, Venue,
};
use crate::wire::{
    decimal, error, excerpt, not_tradable, parse_json, plain, query_string, reference_price,
    retry_after, text, Call, JsonObject,
};
use contracts::event::OrderAck;
use contracts::signal::{Exchange, OrderType};
use contracts::symbol::Symbol;
use rust_decimal::Decimal;
use serde_json::Value;

pub const MAINNET: &str = "https://api.bybit.com";
pub const TESTNET: &str = "https://api-testnet.bybit.com";

/// `retCode` of a successful call.
pub const OK: i64 = 0;
/// Set-leverage to the leverage already in force: nothing to do, so success.
pub const LEVERAGE_NOT_MODIFIED: i64 = 110043;
/// `orderLinkId` already used: the order exists (or existed).
pub const DUPLICATE_ORDER_LINK_ID: i64 = 110072;
/// Per-UID API rate limit.
pub const TOO_MANY_VISITS: i64 = 10006;
/// Per-IP rate limit.
pub const IP_RATE_LIMIT: i64 = 10018;
/// Timestamp outside the receive window.
pub const BAD_TIMESTAMP: i64 = 10002;
/// After an IP-level `403 access too frequent`, Bybit asks for at least ten minutes of silence.
pub const IP_BAN_SECONDS: u32 = 600;

/// The Bybit v5 linear adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bybit;

pub static BYBIT: Bybit = Bybit;

/// Positions, the USDT wallet and fees: [`crate::account::Account`].
mod account;

impl Bybit {
    fn signed_headers(ctx: &Context, creds: &Credentials, params: &str) -> Vec<(String, String)> {
        let payload = bybit_payload(ctx.now_ms, &creds.api_key, ctx.recv_window_ms, params);
        vec![
            ("X-BAPI-API-KEY".into(), creds.api_key.clone()),
            ("X-BAPI-TIMESTAMP".into(), ctx.now_ms.to_string()),
            ("X-BAPI-RECV-WINDOW".into(), ctx.recv_window_ms.to_string()),
            ("X-BAPI-SIGN".into(), sign(&creds.api_secret, &payload)),
        ]
    }

    fn signed_post(ctx: &Context, creds: &Credentials, path: &str, body: String) -> HttpRequest {
        let mut headers = Self::signed_headers(ctx, creds, &body);
        headers.push(("Content-Type".into(), "application/json".into()));
        HttpRequest {
            method: Method::Post,
            url: format!("{}{path}", ctx.base_url),
            headers,
            body: Some(body),
        }
    }

    fn signed_get(ctx: &Context, creds: &Credentials, path: &str, query: String) -> HttpRequest {
        HttpRequest {
            method: Method::Get,
            headers: Self::signed_headers(ctx, creds, &query),
            url: format!("{}{path}?{query}", ctx.base_url),
            body: None,
        }
    }

    /// `GET /v5/order/realtime` for the order's link id, among closed orders or open ones.
    fn realtime(
        &self,
        ctx: &Context,
        creds: &Credentials,
        order: &OrderRequest,
        closed: bool,
    ) -> HttpRequest {
        let query = query_string(&[
            ("category", "linear".into()),
            ("symbol", self.symbol(&order.symbol)),
            ("orderLinkId", order.client_order_id.clone()),
            ("openOnly", if closed { "1" } else { "0" }.into()),
        ]);
        Self::signed_get(ctx, creds, "/v5/order/realtime", query)
    }
}

/// Reads Bybit's envelope: `Ok(result)` when `retCode` is 0, else the classified error.
fn envelope(call: Call, resp: &HttpResponse) -> Result<Value, ExchangeError> {
    let fail = |class, code: Option<String>, message: String| {
        Err(error(Exchange::Bybit, class, resp.status, code, message))
    };
    match resp.status {
        // An IP-level ban ("403, access too frequent"): Bybit asks for ten minutes' silence.
        403 => {
            return fail(
                ErrorClass::Banned {
                    retry_after_seconds: Some(retry_after(resp).unwrap_or(IP_BAN_SECONDS)),
                },
                None,
                format!(
                    "HTTP 403 (IP rate limit or access ban): {}",
                    excerpt(&resp.body)
                ),
            )
        }
        429 => {
            return fail(
                ErrorClass::Retryable {
                    retry_after_seconds: retry_after(resp),
                },
                None,
                format!(
                    "HTTP 429 system frequency protection: {}",
                    excerpt(&resp.body)
                ),
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
    let Some(code) = json.get("retCode").and_then(Value::as_i64) else {
        return fail(
            call.unreadable(resp.status),
            None,
            format!("answer without retCode: {}", excerpt(&resp.body)),
        );
    };
    if code == OK && (200..300).contains(&resp.status) {
        return Ok(json.get("result").cloned().unwrap_or(Value::Null));
    }
    let message = json
        .get("retMsg")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let class = match code {
        TOO_MANY_VISITS | IP_RATE_LIMIT => ErrorClass::Retryable {
            retry_after_seconds: limit_reset_seconds(resp, &json),
        },
        10009 => ErrorClass::Banned {
            retry_after_seconds: None,
        },
        // The request never reached the matching engine: safe to send again with a fresh clock.
        BAD_TIMESTAMP => ErrorClass::Retryable {
            retry_after_seconds: None,
        },
        // Server timeout / server error: the submit may have been processed.
        10000 | 10016 => call.unclear(),
        // A repeated orderLinkId (or request) means an earlier attempt reached Bybit.
        DUPLICATE_ORDER_LINK_ID | 10014 => ErrorClass::Unknown,
        _ => ErrorClass::Terminal,
    };
    fail(class, Some(code.to_string()), message)
}

/// Seconds until `X-Bapi-Limit-Reset-Timestamp`, measured against Bybit's own `time` field so no
/// local clock is involved.
fn limit_reset_seconds(resp: &HttpResponse, json: &Value) -> Option<u32> {
    let reset: i64 = resp
        .header("x-bapi-limit-reset-timestamp")?
        .trim()
        .parse()
        .ok()?;
    let now = json.get("time").and_then(Value::as_i64)?;
    let ms = reset.checked_sub(now)?.max(0);
    u32::try_from(ms.saturating_add(999) / 1000).ok()
}

fn str_field<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

fn parse_error(call: Call, status: u16, what: &str, body: &str) -> ExchangeError {
    error(
        Exchange::Bybit,
        call.unclear(),
        status,
        None,
        format!("{what} missing from answer: {}", excerpt(body)),
    )
}

/// An order of Bybit's order list as an acknowledgement.
fn ack_of(order: &OrderRequest, item: &Value) -> OrderAck {
    let avg = item
        .get("avgPrice")
        .and_then(decimal)
        .filter(|p| !p.is_zero());
    OrderAck {
        client_order_id: item
            .get("orderLinkId")
            .and_then(text)
            .unwrap_or_else(|| order.client_order_id.clone()),
        exchange_order_id: item.get("orderId").and_then(text).unwrap_or_default(),
        status: item
            .get("orderStatus")
            .and_then(text)
            .unwrap_or_else(|| "Unknown".into()),
        filled_quantity: item
            .get("cumExecQty")
            .and_then(decimal)
            .unwrap_or(Decimal::ZERO),
        average_price: avg,
    }
}

impl Venue for Bybit {
    fn exchange(&self) -> Exchange {
        Exchange::Bybit
    }

    fn default_base_url(&self, testnet: bool) -> Result<&'static str, ExchangeError> {
        Ok(if testnet { TESTNET } else { MAINNET })
    }

    fn symbol(&self, symbol: &Symbol) -> String {
        symbol.canonical()
    }

    fn instrument_request(&self, ctx: &Context, symbol: &Symbol) -> HttpRequest {
        let query = query_string(&[
            ("category", "linear".into()),
            ("symbol", self.symbol(symbol)),
        ]);
        HttpRequest::public_get(format!(
            "{}/v5/market/instruments-info?{query}",
            ctx.base_url
        ))
    }

    fn parse_instrument(
        &self,
        symbol: &Symbol,
        resp: &HttpResponse,
    ) -> Result<Instrument, ExchangeError> {
        let call = Call::Instrument;
        let result = envelope(call, resp)?;
        let wanted = self.symbol(symbol);
        let item = result
            .get("list")
            .and_then(Value::as_array)
            .and_then(|l| {
                l.iter()
                    .find(|i| i.get("symbol").and_then(Value::as_str) == Some(wanted.as_str()))
            })
            .ok_or_else(|| {
                not_tradable(
                    Exchange::Bybit,
                    resp.status,
                    format!("{wanted} is not a Bybit linear instrument"),
                )
            })?;
        if let Some(status) = item.get("status").and_then(Value::as_str) {
            if status != "Trading" {
                return Err(not_tradable(
                    Exchange::Bybit,
                    resp.status,
                    format!("{wanted} is not trading on Bybit (status {status})"),
                ));
            }
        }
        let num = |path: &[&str]| {
            str_field(item, path)
                .and_then(decimal)
                .ok_or_else(|| parse_error(call, resp.status, &path.join("."), &resp.body))
        };
        Ok(Instrument {
            symbol: wanted,
            qty_step: num(&["lotSizeFilter", "qtyStep"])?,
            min_qty: num(&["lotSizeFilter", "minOrderQty"])?,
            tick_size: num(&["priceFilter", "tickSize"])?,
            contract_size: Decimal::ONE,
        })
    }

    fn price_request(&self, ctx: &Context, symbol: &Symbol) -> HttpRequest {
        let query = query_string(&[
            ("category", "linear".into()),
            ("symbol", self.symbol(symbol)),
        ]);
        HttpRequest::public_get(format!("{}/v5/market/tickers?{query}", ctx.base_url))
    }

    fn parse_price(
        &self,
        symbol: &Symbol,
        resp: &HttpResponse,
    ) -> Result<ReferencePrice, ExchangeError> {
        let result = envelope(Call::Price, resp)?;
        let wanted = self.symbol(symbol);
        let item = result
            .get("list")
            .and_then(Value::as_array)
            .and_then(|l| {
                l.iter()
                    .find(|i| i.get("symbol").and_then(Value::as_str) == Some(wanted.as_str()))
            })
            .ok_or_else(|| {
                not_tradable(
                    Exchange::Bybit,
                    resp.status,
                    format!("Bybit has no linear ticker for {wanted}"),
                )
            })?;
        reference_price(
            Exchange::Bybit,
            resp.status,
            wanted,
            PriceKind::Mark,
            "markPrice",
            item.get("markPrice"),
        )
    }

    fn leverage_request(
        &self,
        ctx: &Context,
        creds: &Credentials,
        symbol: &Symbol,
        leverage: u8,
    ) -> HttpRequest {
        let body = JsonObject::new()
            .string("category", "linear")
            .string("symbol", &self.symbol(symbol))
            .string("buyLeverage", &leverage.to_string())
            .string("sellLeverage", &leverage.to_string())
            .finish();
        Self::signed_post(ctx, creds, "/v5/position/set-leverage", body)
    }

    fn parse_leverage(&self, resp: &HttpResponse) -> Result<(), ExchangeError> {
        match envelope(Call::Leverage, resp) {
            Ok(_) => Ok(()),
            Err(e) if e.code.as_deref() == Some(LEVERAGE_NOT_MODIFIED.to_string().as_str()) => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn order_request(
        &self,
        ctx: &Context,
        creds: &Credentials,
        order: &OrderRequest,
        instrument: &Instrument,
    ) -> Result<HttpRequest, ExchangeError> {
        let sized = fit(order, instrument)?;
        let mut body = JsonObject::new()
            .string("category", "linear")
            .string("symbol", &instrument.symbol)
            .string(
                "side",
                match order.side {
                    Side::Buy => "Buy",
                    Side::Sell => "Sell",
                },
            )
            .string(
                "orderType",
                match order.order_type {
                    OrderType::Market => "Market",
                    OrderType::Limit => "Limit",
                },
            )
            .string("qty", &plain(sized.quantity));
        if order.order_type == OrderType::Limit {
            if let Some(price) = sized.price {
                body = body.string("price", &plain(price));
            }
        }
        body = body
            .string(
                "timeInForce",
                match order.order_type {
                    OrderType::Market => "IOC",
                    OrderType::Limit => "GTC",
                },
            )
            .bool("reduceOnly", order.reduce_only)
            .string("orderLinkId", &order.client_order_id);
        // Take-profit and stop-loss attach to a position being opened; a closing order has none.
        if !order.reduce_only {
            if let Some(tp) = sized.take_profit {
                body = body.string("takeProfit", &plain(tp));
            }
            if let Some(sl) = sized.stop_loss {
                body = body.string("stopLoss", &plain(sl));
            }
        }
        Ok(Self::signed_post(
            ctx,
            creds,
            "/v5/order/create",
            body.finish(),
        ))
    }

    fn parse_order(
        &self,
        order: &OrderRequest,
        resp: &HttpResponse,
    ) -> Result<OrderAck, ExchangeError> {
        let result = envelope(Call::Submit, resp)?;
        let order_id = result
            .get("orderId")
            .and_then(text)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| parse_error(Call::Submit, resp.status, "result.orderId", &resp.body))?;
        Ok(OrderAck {
            client_order_id: result
                .get("orderLinkId")
                .and_then(text)
                .unwrap_or_else(|| order.client_order_id.clone()),
            exchange_order_id: order_id,
            // The create answer carries ids only; "Created" is Bybit's word for an order the
            // system accepted before matching. Fill details come from a query.
            status: "Created".into(),
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
        // `/v5/order/realtime` shows open orders by default and the latest 500 closed ones with
        // openOnly=1. A market order is closed (filled or cancelled) within moments, so it is
        // looked for among closed orders first; a limit order among open ones.
        self.realtime(ctx, creds, order, order.order_type == OrderType::Market)
    }

    fn query_requests(
        &self,
        ctx: &Context,
        creds: &Credentials,
        order: &OrderRequest,
    ) -> Vec<HttpRequest> {
        // Both sides: a limit order priced through the market fills at once (closed), and a
        // market order may still be open for a moment. Looking on one side only would call
        // an existing order absent, and the retry would be refused as a duplicate id while
        // the position stands.
        let closed_first = order.order_type == OrderType::Market;
        vec![
            self.realtime(ctx, creds, order, closed_first),
            self.realtime(ctx, creds, order, !closed_first),
        ]
    }

    fn parse_query(
        &self,
        order: &OrderRequest,
        resp: &HttpResponse,
    ) -> Result<QueryResult, ExchangeError> {
        let result = envelope(Call::Query, resp)?;
        let list = result
            .get("list")
            .and_then(Value::as_array)
            .ok_or_else(|| parse_error(Call::Query, resp.status, "result.list", &resp.body))?;
        Ok(list
            .iter()
            .find(|i| {
                i.get("orderLinkId").and_then(Value::as_str) == Some(order.client_order_id.as_str())
            })
            .map(|item| QueryResult::Found(ack_of(order, item)))
            .unwrap_or(QueryResult::NotFound))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{creds, ctx, instrument, order, response};
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap_or_default()
    }

    fn header<'a>(r: &'a HttpRequest, name: &str) -> &'a str {
        r.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("header {name}"))
    }

    #[test]
    fn hosts() {
        assert_eq!(BYBIT.default_base_url(false).ok(), Some(MAINNET));
        assert_eq!(BYBIT.default_base_url(true).ok(), Some(TESTNET));
    }

    #[test]
    fn market_order_request_is_exact() {
        let mut o = order(Exchange::Bybit, "0.0129", None);
        o.take_profit = Some(d("70000.04"));
        o.stop_loss = Some(d("60000.06"));
        let r = BYBIT
            .order_request(
                &ctx(),
                &creds(),
                &o,
                &instrument("BTCUSDT", "0.001", "0.001", "0.1", "1"),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let body = r#"{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Market","qty":"0.012","timeInForce":"IOC","reduceOnly":false,"orderLinkId":"hx0123456789abcdef0123456789abcd","takeProfit":"70000","stopLoss":"60000.1"}"#;
        assert_eq!(r.method, Method::Post);
        assert_eq!(r.url, "https://api.bybit.com/v5/order/create");
        assert_eq!(r.body.as_deref(), Some(body));
        let expected_sign = sign("test-secret", &format!("1700000000000test-key5000{body}"));
        assert_eq!(
            r.headers,
            vec![
                ("X-BAPI-API-KEY".to_string(), "test-key".to_string()),
                ("X-BAPI-TIMESTAMP".into(), "1700000000000".into()),
                ("X-BAPI-RECV-WINDOW".into(), "5000".into()),
                ("X-BAPI-SIGN".into(), expected_sign),
                ("Content-Type".into(), "application/json".into()),
            ]
        );
    }

    #[test]
    fn limit_close_order_has_price_reduce_only_and_no_tpsl() {
        let mut o = order(Exchange::Bybit, "1", Some("65000.06"));
        o.order_type = OrderType::Limit;
        o.side = Side::Sell;
        o.reduce_only = true;
        o.take_profit = Some(d("1"));
        let r = BYBIT
            .order_request(
                &ctx(),
                &creds(),
                &o,
                &instrument("BTCUSDT", "0.001", "0.001", "0.1", "1"),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            r.body.as_deref(),
            Some(
                r#"{"category":"linear","symbol":"BTCUSDT","side":"Sell","orderType":"Limit","qty":"1","price":"65000.1","timeInForce":"GTC","reduceOnly":true,"orderLinkId":"hx0123456789abcdef0123456789abcd"}"#
            )
        );
    }

    #[test]
    fn a_reconcile_looks_among_closed_and_open_orders() {
        let url = |open_only: &str| {
            format!("https://api.bybit.com/v5/order/realtime?category=linear&symbol=BTCUSDT&orderLinkId=hx0123456789abcdef0123456789abcd&openOnly={open_only}")
        };
        let urls_of = |o: &OrderRequest| -> Vec<String> {
            BYBIT
                .query_requests(&ctx(), &creds(), o)
                .into_iter()
                .map(|r| r.url)
                .collect()
        };
        let market = order(Exchange::Bybit, "0.01", None);
        assert_eq!(urls_of(&market), [url("1"), url("0")]);
        let limit = OrderRequest {
            order_type: OrderType::Limit,
            ..order(Exchange::Bybit, "0.01", Some("65000"))
        };
        assert_eq!(urls_of(&limit), [url("0"), url("1")]);
    }

    #[test]
    fn query_and_instrument_requests() {
        let o = order(Exchange::Bybit, "0.01", None);
        let q = BYBIT.query_request(&ctx(), &creds(), &o);
        let query = "category=linear&symbol=BTCUSDT&orderLinkId=hx0123456789abcdef0123456789abcd&openOnly=1";
        assert_eq!(
            q.url,
            format!("https://api.bybit.com/v5/order/realtime?{query}")
        );
        assert_eq!(q.method, Method::Get);
        assert_eq!(q.body, None);
        assert_eq!(
            header(&q, "X-BAPI-SIGN"),
            sign("test-secret", &format!("1700000000000test-key5000{query}"))
        );
        let i = BYBIT.instrument_request(&ctx(), &o.symbol);
        assert_eq!(
            i.url,
            "https://api.bybit.com/v5/market/instruments-info?category=linear&symbol=BTCUSDT"
        );
        assert!(i.headers.is_empty());
        let l = BYBIT.leverage_request(&ctx(), &creds(), &o.symbol, 10);
        assert_eq!(l.url, "https://api.bybit.com/v5/position/set-leverage");
        assert_eq!(
            l.body.as_deref(),
            Some(
                r#"{"category":"linear","symbol":"BTCUSDT","buyLeverage":"10","sellLeverage":"10"}"#
            )
        );
    }

    #[test]
    fn parses_instrument() {
        let body = r#"{"retCode":0,"retMsg":"OK","result":{"category":"linear","list":[{"symbol":"BTCUSDT","status":"Trading","priceFilter":{"minPrice":"0.10","maxPrice":"199999.80","tickSize":"0.10"},"lotSizeFilter":{"maxOrderQty":"100.000","minOrderQty":"0.001","qtyStep":"0.001"}}]},"retExtInfo":{},"time":1700000000000}"#;
        let sym = Symbol::parse("BTCUSDT").unwrap_or_else(|e| panic!("{e}"));
        let i = BYBIT
            .parse_instrument(&sym, &response(200, body))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(i, instrument("BTCUSDT", "0.001", "0.001", "0.1", "1"));
        let empty =
            r#"{"retCode":0,"retMsg":"OK","result":{"category":"linear","list":[]},"time":1}"#;
        let e = BYBIT.parse_instrument(&sym, &response(200, empty)).err();
        assert_eq!(e.map(|e| e.class), Some(ErrorClass::Terminal));
    }

    fn sym(s: &str) -> Symbol {
        Symbol::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn price_request_asks_for_the_linear_ticker() {
        let r = BYBIT.price_request(&ctx(), &sym("BTCUSDT"));
        assert_eq!(r.method, Method::Get);
        assert_eq!(
            r.url,
            "https://api.bybit.com/v5/market/tickers?category=linear&symbol=BTCUSDT"
        );
        assert!(r.headers.is_empty(), "public market data is not signed");
        assert_eq!(r.body, None);
    }

    /// The "Linear/Inverse" response example of Get Tickers, verbatim (the docs' one example of
    /// that shape is an inverse contract; linear answers have the same fields).
    const DOC_TICKER: &str = r#"{
    "retCode": 0,
    "retMsg": "OK",
    "result": {
        "category": "inverse",
        "list": [
            {
                "symbol": "BTCUSD",
                "lastPrice": "120635.50",
                "indexPrice": "114890.92",
                "markPrice": "114898.43",
                "prevPrice24h": "105595.90",
                "price24hPcnt": "0.142425",
                "highPrice24h": "131309.30",
                "lowPrice24h": "102007.60",
                "prevPrice1h": "119806.10",
                "openInterest": "240113967",
                "openInterestValue": "2089.79",
                "turnover24h": "115.6907",
                "volume24h": "13713832.0000",
                "fundingRate": "0.0001",
                "nextFundingTime": "1760371200000",
                "predictedDeliveryPrice": "",
                "basisRate": "",
                "deliveryFeeRate": "",
                "deliveryTime": "0",
                "ask1Size": "9854",
                "bid1Price": "103401.00",
                "ask1Price": "109152.80",
                "bid1Size": "1063",
                "basis": "",
                "preOpenPrice": "",
                "preQty": "",
                "curPreListingPhase": "",
                "fundingIntervalHour": "8",
                "basisRateYear": "",
                "fundingCap": "0.005"
            }
        ]
    },
    "retExtInfo": {},
    "time": 1760352369814
}"#;

    #[test]
    fn parses_the_mark_price_of_the_documented_ticker() {
        // The mark, not the last trade (120635.50) a thin book can print anywhere.
        assert_eq!(
            BYBIT.parse_price(&sym("BTCUSD"), &response(200, DOC_TICKER)),
            Ok(ReferencePrice {
                symbol: "BTCUSD".into(),
                price: d("114898.43"),
                kind: PriceKind::Mark,
            })
        );
        let linear = r#"{"retCode":0,"retMsg":"OK","result":{"category":"linear","list":[{"symbol":"ETHUSDT","lastPrice":"3001.10","markPrice":"3000.55"},{"symbol":"BTCUSDT","lastPrice":"109740.00","indexPrice":"109794.46","markPrice":"109738.20"}]},"retExtInfo":{},"time":1756480000000}"#;
        let p = BYBIT
            .parse_price(&sym("BTCUSDT"), &response(200, linear))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((p.symbol.as_str(), p.price), ("BTCUSDT", d("109738.2")));
    }

    #[test]
    fn a_missing_zero_or_negative_mark_price_is_no_price() {
        let btc = sym("BTCUSDT");
        let retry = Some(ErrorClass::Retryable {
            retry_after_seconds: None,
        });
        for mark in [
            r#""markPrice":"""#,
            r#""markPrice":"0""#,
            r#""markPrice":"0.00""#,
            r#""markPrice":"-1""#,
            r#""markPrice":"abc""#,
            r#""markPrice":null"#,
            r#""indexPrice":"109794.46""#,
        ] {
            let body = format!(
                r#"{{"retCode":0,"retMsg":"OK","result":{{"category":"linear","list":[{{"symbol":"BTCUSDT","lastPrice":"109740.00",{mark}}}]}},"retExtInfo":{{}},"time":1}}"#
            );
            let e = BYBIT.parse_price(&btc, &response(200, &body)).err();
            assert_eq!(e.map(|e| e.class), retry, "{mark}");
        }
    }

    #[test]
    fn classifies_price_errors() {
        let btc = sym("BTCUSDT");
        let class = |status: u16, body: &str| {
            BYBIT
                .parse_price(&btc, &response(status, body))
                .err()
                .map(|e| (e.class, e.code))
        };
        // An unlisted symbol: Bybit's parameter error, terminal.
        assert_eq!(
            class(
                200,
                r#"{"retCode":10001,"retMsg":"Not supported symbols","result":{},"retExtInfo":{},"time":1700000000000}"#
            ),
            Some((ErrorClass::Terminal, Some("10001".into())))
        );
        // An answer that lists other symbols only.
        let other = r#"{"retCode":0,"retMsg":"OK","result":{"category":"linear","list":[{"symbol":"ETHUSDT","markPrice":"3000"}]},"retExtInfo":{},"time":1}"#;
        assert_eq!(class(200, other), Some((ErrorClass::Terminal, None)));
        let retry = ErrorClass::Retryable {
            retry_after_seconds: None,
        };
        assert_eq!(class(502, "bad gateway"), Some((retry, None)));
        assert_eq!(class(200, "<html>"), Some((retry, None)));
        assert_eq!(
            class(
                200,
                r#"{"retCode":10006,"retMsg":"Too many visits!","result":{},"time":1}"#
            ),
            Some((retry, Some("10006".into())))
        );
        assert_eq!(
            class(403, "access too frequent").map(|(c, _)| c),
            Some(ErrorClass::Banned {
                retry_after_seconds: Some(IP_BAN_SECONDS)
            })
        );
    }

    #[test]
    fn parses_order_ack_and_query() {
        let o = order(Exchange::Bybit, "0.01", None);
        let ok = r#"{"retCode":0,"retMsg":"OK","result":{"orderId":"1321003749386327552","orderLinkId":"hx0123456789abcdef0123456789abcd"},"retExtInfo":{},"time":1}"#;
        let ack = BYBIT
            .parse_order(&o, &response(200, ok))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ack.exchange_order_id, "1321003749386327552");
        assert_eq!(ack.status, "Created");
        let found = r#"{"retCode":0,"retMsg":"OK","result":{"list":[{"orderId":"42","orderLinkId":"hx0123456789abcdef0123456789abcd","orderStatus":"Filled","cumExecQty":"0.010","avgPrice":"65000.5"}],"nextPageCursor":""},"time":1}"#;
        match BYBIT.parse_query(&o, &response(200, found)) {
            Ok(QueryResult::Found(a)) => {
                assert_eq!(a.status, "Filled");
                assert_eq!(a.filled_quantity, d("0.01"));
                assert_eq!(a.average_price, Some(d("65000.5")));
                assert_eq!(a.exchange_order_id, "42");
            }
            other => panic!("{other:?}"),
        }
        let none =
            r#"{"retCode":0,"retMsg":"OK","result":{"list":[],"nextPageCursor":""},"time":1}"#;
        assert_eq!(
            BYBIT.parse_query(&o, &response(200, none)),
            Ok(QueryResult::NotFound)
        );
    }

    #[test]
    fn classifies_errors() {
        let o = order(Exchange::Bybit, "0.01", None);
        let class = |status: u16, body: &str, headers: Vec<(&str, &str)>| {
            let mut r = response(status, body);
            r.headers = headers
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect();
            BYBIT.parse_order(&o, &r).err().map(|e| e.class)
        };
        assert_eq!(
            class(
                200,
                r#"{"retCode":10006,"retMsg":"Too many visits!","result":{},"time":1700000000000}"#,
                vec![("X-Bapi-Limit-Reset-Timestamp", "1700000002500")]
            ),
            Some(ErrorClass::Retryable {
                retry_after_seconds: Some(3)
            })
        );
        // A reset timestamp at the end of i64 is no overflow (and no delay we could use).
        assert_eq!(
            class(
                200,
                r#"{"retCode":10006,"retMsg":"Too many visits!","result":{},"time":0}"#,
                vec![("X-Bapi-Limit-Reset-Timestamp", "9223372036854775807")]
            ),
            Some(ErrorClass::Retryable {
                retry_after_seconds: None
            })
        );
        assert_eq!(
            class(403, "access too frequent", vec![]),
            Some(ErrorClass::Banned {
                retry_after_seconds: Some(600)
            })
        );
        assert_eq!(
            class(429, "", vec![("Retry-After", "2")]),
            Some(ErrorClass::Retryable {
                retry_after_seconds: Some(2)
            })
        );
        assert_eq!(class(502, "bad gateway", vec![]), Some(ErrorClass::Unknown));
        assert_eq!(class(200, "<html>", vec![]), Some(ErrorClass::Unknown));
        assert_eq!(
            class(
                200,
                r#"{"retCode":110072,"retMsg":"OrderLinkedID is duplicate","result":{},"time":1}"#,
                vec![]
            ),
            Some(ErrorClass::Unknown)
        );
        assert_eq!(
            class(
                200,
                r#"{"retCode":10002,"retMsg":"invalid request, please check your server timestamp","result":{},"time":1}"#,
                vec![]
            ),
            Some(ErrorClass::Retryable {
                retry_after_seconds: None
            })
        );
        for terminal in [10001, 10003, 10004, 110007] {
            let body = format!(r#"{{"retCode":{terminal},"retMsg":"x","result":{{}},"time":1}}"#);
            assert_eq!(
                class(200, &body, vec![]),
                Some(ErrorClass::Terminal),
                "{terminal}"
            );
        }
        // The same 5xx on a read is simply retried.
        let e = BYBIT
            .parse_query(&o, &response(500, "oops"))
            .err()
            .map(|e| e.class);
        assert_eq!(
            e,
            Some(ErrorClass::Retryable {
                retry_after_seconds: None
            })
        );
    }

    #[test]
    fn leverage_not_modified_is_success() {
        let r = response(
            200,
            r#"{"retCode":110043,"retMsg":"Set leverage not modified","result":{},"time":1}"#,
        );
        assert_eq!(BYBIT.parse_leverage(&r), Ok(()));
        let r = response(200, r#"{"retCode":0,"retMsg":"OK","result":{},"time":1}"#);
        assert_eq!(BYBIT.parse_leverage(&r), Ok(()));
        let r = response(
            200,
            r#"{"retCode":10001,"retMsg":"leverage invalid","result":{},"time":1}"#,
        );
        assert_eq!(
            BYBIT.parse_leverage(&r).err().map(|e| e.class),
            Some(ErrorClass::Terminal)
        );
    }

    #[test]
    fn below_minimum_is_refused_before_signing() {
        let o = order(Exchange::Bybit, "0.0004", None);
        let e = BYBIT
            .order_request(
                &ctx(),
                &creds(),
                &o,
                &instrument("BTCUSDT", "0.001", "0.001", "0.1", "1"),
            )
            .err();
        assert_eq!(e.map(|e| e.class), Some(ErrorClass::Terminal));
    }
}
