//! Binance USDⓈ-M futures: instrument rules from `exchangeInfo`, leverage, order placement and
//! lookup by `newClientOrderId`, with Binance's HTTP-status-first error model.
//!
//! Binance accepts a reused `newClientOrderId` once the earlier order is no longer open, so the
//! exchange is no guard against a second order: the idempotency claim is. Any 5xx on a submit
//! leaves the order's fate unknown and is classified so the worker looks it up before anything
//! else. Take-profit and stop-loss are separate conditional orders on Binance futures; hoox does
//! not place them here (the entry order alone is sent), see `order_request`.
//!
//! The reference price is the mark price of `GET /fapi/v1/premiumIndex?symbol=BTCUSDT` →
//! `markPrice` (a string; one object with `symbol`, an array of them when no symbol is sent), as
//! documented in "Mark Price" (Mark Price and Funding Rate, weight 1),
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Mark-Price>.
//! A symbol Binance does not list is HTTP 400 `{"code":-1121,"msg":"Invalid symbol."}`, the
//! example payload of "Error Codes",
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures/error-code>: terminal.

use crate::order::{OrderRequest, Side};
use crate::precision::fit;
use crate::signing::binance_signature;
use crate::venue::{
    Context, Credentials, ErrorClass, ExchangeError, HttpRequest, HttpResponse, Instrument, Method,
    PriceKind, QueryResult, ReferencePrice, Venue,
};
use crate::wire::{
    decimal, error, excerpt, not_tradable, parse_json, plain, query_string, reference_price,
    retry_after, text, Call,
};
use contracts::event::OrderAck;
use contracts::signal::{Exchange, OrderType};
use contracts::symbol::Symbol;
use rust_decimal::Decimal;
use serde_json::Value;

pub const MAINNET: &str = "https://fapi.binance.com";
pub const TESTNET: &str = "https://testnet.binancefuture.com";

/// "Order does not exist." on a query: the order was never placed (or expired unfilled).
pub const NO_SUCH_ORDER: i64 = -2013;
/// "Timestamp for this request is outside of the recvWindow."
pub const INVALID_TIMESTAMP: i64 = -1021;
/// "ClientOrderId is duplicated." — an open order already carries this id.
pub const DUPLICATE_CLIENT_ORDER_ID: i64 = -4116;
/// "Invalid symbol." — Binance does not list the symbol.
pub const INVALID_SYMBOL: i64 = -1121;

/// The Binance USDⓈ-M futures adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Binance;

pub static BINANCE: Binance = Binance;

/// Positions, the USDT wallet and fees: [`crate::account::Account`].
mod account;

impl Binance {
    /// `params` + `recvWindow` + `timestamp`, then `signature` over all of it as the last
    /// parameter.
    fn signed_params(ctx: &Context, creds: &Credentials, params: &[(&str, String)]) -> String {
        let mut all = params.to_vec();
        all.push(("recvWindow", ctx.recv_window_ms.to_string()));
        all.push(("timestamp", ctx.now_ms.to_string()));
        let total = query_string(&all);
        let signature = binance_signature(&creds.api_secret, &total);
        format!("{total}&signature={signature}")
    }

    fn signed_post(
        ctx: &Context,
        creds: &Credentials,
        path: &str,
        params: &[(&str, String)],
    ) -> HttpRequest {
        HttpRequest {
            method: Method::Post,
            url: format!("{}{path}", ctx.base_url),
            headers: vec![
                ("X-MBX-APIKEY".into(), creds.api_key.clone()),
                (
                    "Content-Type".into(),
                    "application/x-www-form-urlencoded".into(),
                ),
            ],
            body: Some(Self::signed_params(ctx, creds, params)),
        }
    }

    fn signed_get(
        ctx: &Context,
        creds: &Credentials,
        path: &str,
        params: &[(&str, String)],
    ) -> HttpRequest {
        HttpRequest {
            method: Method::Get,
            url: format!(
                "{}{path}?{}",
                ctx.base_url,
                Self::signed_params(ctx, creds, params)
            ),
            headers: vec![("X-MBX-APIKEY".into(), creds.api_key.clone())],
            body: None,
        }
    }
}

/// `{"code":-1121,"msg":"Invalid symbol."}` → (code, msg).
fn code_and_msg(json: &Value) -> (Option<i64>, String) {
    (
        json.get("code").and_then(Value::as_i64),
        json.get("msg")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    )
}

/// `Ok(json)` for a successful answer, else the classified error.
fn answer(call: Call, resp: &HttpResponse) -> Result<Value, ExchangeError> {
    let json = parse_json(resp);
    let (code, msg) = json
        .as_ref()
        .map(code_and_msg)
        .unwrap_or((None, String::new()));
    let message = if msg.is_empty() {
        format!("HTTP {}: {}", resp.status, excerpt(&resp.body))
    } else {
        msg
    };
    let fail = |class| {
        Err(error(
            Exchange::Binance,
            class,
            resp.status,
            code.map(|c| c.to_string()),
            message.clone(),
        ))
    };
    match resp.status {
        200..=299 => match json {
            // Futures endpoints answer errors with a 4xx; a negative code in a 2xx is still one.
            Some(j) if code.is_none_or(|c| c >= 0) => Ok(j),
            Some(_) => fail(classify_code(call, code)),
            None => fail(call.unclear()),
        },
        429 => fail(ErrorClass::Retryable {
            retry_after_seconds: retry_after(resp),
        }),
        // 418: IP auto-banned after ignoring 429s; 403: WAF refusal. Both: stop calling.
        418 | 403 => fail(ErrorClass::Banned {
            retry_after_seconds: retry_after(resp),
        }),
        // Binance: a 5xx means the execution status is unknown and could have been a success
        // ("Unknown error, please check your request or try again later.", -1007 timeout, ...).
        s if s >= 500 => fail(call.unclear()),
        _ => fail(classify_code(call, code)),
    }
}

fn classify_code(call: Call, code: Option<i64>) -> ErrorClass {
    match code {
        // Backend timeout / unexpected bus answer / unknown: execution status unknown.
        Some(-1000 | -1006 | -1007) => call.unclear(),
        // Rate limits that arrive without a 429.
        Some(-1003 | -1015 | -1008) => ErrorClass::Retryable {
            retry_after_seconds: None,
        },
        // Rejected before matching; a fresh timestamp may pass.
        Some(INVALID_TIMESTAMP) => ErrorClass::Retryable {
            retry_after_seconds: None,
        },
        // An open order already holds this id: an earlier attempt reached Binance.
        Some(DUPLICATE_CLIENT_ORDER_ID) => ErrorClass::Unknown,
        _ => ErrorClass::Terminal,
    }
}

fn ack_of(order: &OrderRequest, json: &Value) -> Result<OrderAck, ExchangeError> {
    let missing = |what: &str| {
        error(
            Exchange::Binance,
            ErrorClass::Unknown,
            200,
            None,
            format!(
                "{what} missing from order answer: {}",
                excerpt(&json.to_string())
            ),
        )
    };
    Ok(OrderAck {
        client_order_id: json
            .get("clientOrderId")
            .and_then(text)
            .unwrap_or_else(|| order.client_order_id.clone()),
        exchange_order_id: json
            .get("orderId")
            .and_then(text)
            .ok_or_else(|| missing("orderId"))?,
        status: json
            .get("status")
            .and_then(text)
            .ok_or_else(|| missing("status"))?,
        filled_quantity: json
            .get("executedQty")
            .and_then(decimal)
            .unwrap_or(Decimal::ZERO),
        average_price: json
            .get("avgPrice")
            .and_then(decimal)
            .filter(|p| !p.is_zero()),
    })
}

impl Venue for Binance {
    fn exchange(&self) -> Exchange {
        Exchange::Binance
    }

    fn default_base_url(&self, testnet: bool) -> Result<&'static str, ExchangeError> {
        Ok(if testnet { TESTNET } else { MAINNET })
    }

    fn symbol(&self, symbol: &Symbol) -> String {
        symbol.canonical()
    }

    fn instrument_request(&self, ctx: &Context, _symbol: &Symbol) -> HttpRequest {
        // USDⓈ-M `exchangeInfo` takes no symbol filter: it lists every symbol.
        HttpRequest::public_get(format!("{}/fapi/v1/exchangeInfo", ctx.base_url))
    }

    fn parse_instrument(
        &self,
        symbol: &Symbol,
        resp: &HttpResponse,
    ) -> Result<Instrument, ExchangeError> {
        let json = answer(Call::Instrument, resp)?;
        let wanted = self.symbol(symbol);
        let terminal = |message: String| not_tradable(Exchange::Binance, resp.status, message);
        let item = json
            .get("symbols")
            .and_then(Value::as_array)
            .and_then(|l| {
                l.iter()
                    .find(|s| s.get("symbol").and_then(Value::as_str) == Some(wanted.as_str()))
            })
            .ok_or_else(|| terminal(format!("{wanted} is not a Binance USDⓈ-M futures symbol")))?;
        if let Some(status) = item.get("status").and_then(Value::as_str) {
            if status != "TRADING" {
                return Err(terminal(format!(
                    "{wanted} is not trading on Binance futures (status {status})"
                )));
            }
        }
        let filter = |kind: &str, field: &str| {
            item.get("filters")
                .and_then(Value::as_array)
                .and_then(|fs| {
                    fs.iter()
                        .find(|f| f.get("filterType").and_then(Value::as_str) == Some(kind))
                })
                .and_then(|f| f.get(field))
                .and_then(decimal)
                .ok_or_else(|| {
                    error(
                        Exchange::Binance,
                        ErrorClass::Retryable {
                            retry_after_seconds: None,
                        },
                        resp.status,
                        None,
                        format!("{kind}.{field} missing for {wanted} in exchangeInfo"),
                    )
                })
        };
        Ok(Instrument {
            symbol: wanted.clone(),
            qty_step: filter("LOT_SIZE", "stepSize")?,
            min_qty: filter("LOT_SIZE", "minQty")?,
            tick_size: filter("PRICE_FILTER", "tickSize")?,
            contract_size: Decimal::ONE,
        })
    }

    fn price_request(&self, ctx: &Context, symbol: &Symbol) -> HttpRequest {
        HttpRequest::public_get(format!(
            "{}/fapi/v1/premiumIndex?{}",
            ctx.base_url,
            query_string(&[("symbol", self.symbol(symbol))])
        ))
    }

    fn parse_price(
        &self,
        symbol: &Symbol,
        resp: &HttpResponse,
    ) -> Result<ReferencePrice, ExchangeError> {
        let json = answer(Call::Price, resp)?;
        let wanted = self.symbol(symbol);
        let is_wanted =
            |i: &&Value| i.get("symbol").and_then(Value::as_str) == Some(wanted.as_str());
        // With `symbol` the answer is one object; without, a list of them.
        let item = match &json {
            Value::Array(list) => list.iter().find(is_wanted),
            Value::Object(_) => Some(&json).filter(is_wanted),
            _ => None,
        }
        .ok_or_else(|| {
            not_tradable(
                Exchange::Binance,
                resp.status,
                format!("Binance has no USDⓈ-M mark price for {wanted}"),
            )
        })?;
        reference_price(
            Exchange::Binance,
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
        Self::signed_post(
            ctx,
            creds,
            "/fapi/v1/leverage",
            &[
                ("symbol", self.symbol(symbol)),
                ("leverage", leverage.to_string()),
            ],
        )
    }

    fn parse_leverage(&self, resp: &HttpResponse) -> Result<(), ExchangeError> {
        answer(Call::Leverage, resp).map(|_| ())
    }

    /// The entry order only: Binance futures has no take-profit/stop-loss on the entry itself
    /// (they are separate `TAKE_PROFIT_MARKET`/`STOP_MARKET` orders), so `take_profit` and
    /// `stop_loss` are not sent to Binance.
    fn order_request(
        &self,
        ctx: &Context,
        creds: &Credentials,
        order: &OrderRequest,
        instrument: &Instrument,
    ) -> Result<HttpRequest, ExchangeError> {
        let sized = fit(order, instrument)?;
        let mut params: Vec<(&str, String)> = vec![
            ("symbol", instrument.symbol.clone()),
            (
                "side",
                match order.side {
                    Side::Buy => "BUY",
                    Side::Sell => "SELL",
                }
                .into(),
            ),
            (
                "type",
                match order.order_type {
                    OrderType::Market => "MARKET",
                    OrderType::Limit => "LIMIT",
                }
                .into(),
            ),
        ];
        if order.order_type == OrderType::Limit {
            params.push(("timeInForce", "GTC".into()));
        }
        params.push(("quantity", plain(sized.quantity)));
        if order.order_type == OrderType::Limit {
            if let Some(price) = sized.price {
                params.push(("price", plain(price)));
            }
        }
        // Sent only on closes: `reduceOnly` may not be sent at all in hedge mode.
        if order.reduce_only {
            params.push(("reduceOnly", "true".into()));
        }
        params.push(("newClientOrderId", order.client_order_id.clone()));
        // RESULT: a market order's answer is its final FILLED state, with quantity and price.
        params.push(("newOrderRespType", "RESULT".into()));
        Ok(Self::signed_post(ctx, creds, "/fapi/v1/order", &params))
    }

    fn parse_order(
        &self,
        order: &OrderRequest,
        resp: &HttpResponse,
    ) -> Result<OrderAck, ExchangeError> {
        let json = answer(Call::Submit, resp)?;
        ack_of(order, &json)
    }

    fn query_request(
        &self,
        ctx: &Context,
        creds: &Credentials,
        order: &OrderRequest,
    ) -> HttpRequest {
        Self::signed_get(
            ctx,
            creds,
            "/fapi/v1/order",
            &[
                ("symbol", self.symbol(&order.symbol)),
                ("origClientOrderId", order.client_order_id.clone()),
            ],
        )
    }

    fn parse_query(
        &self,
        order: &OrderRequest,
        resp: &HttpResponse,
    ) -> Result<QueryResult, ExchangeError> {
        match answer(Call::Query, resp) {
            Ok(json) => ack_of(order, &json)
                .map(QueryResult::Found)
                .map_err(|e| ExchangeError {
                    class: ErrorClass::Retryable {
                        retry_after_seconds: None,
                    },
                    ..e
                }),
            Err(e) if e.code.as_deref() == Some(&NO_SUCH_ORDER.to_string()) => {
                Ok(QueryResult::NotFound)
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::sign;
    use crate::test_support::{creds, ctx_at, instrument, order, response};
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap_or_default()
    }

    #[test]
    fn hosts() {
        assert_eq!(BINANCE.default_base_url(false).ok(), Some(MAINNET));
        assert_eq!(BINANCE.default_base_url(true).ok(), Some(TESTNET));
    }

    #[test]
    fn limit_order_request_is_exact() {
        let c = ctx_at("https://fapi.binance.com");
        let mut o = order(Exchange::Binance, "0.0129", Some("65000.06"));
        o.order_type = OrderType::Limit;
        o.take_profit = Some(d("70000"));
        let r = BINANCE
            .order_request(
                &c,
                &creds(),
                &o,
                &instrument("BTCUSDT", "0.001", "0.001", "0.1", "1"),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let total = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.012&price=65000.1&newClientOrderId=hx0123456789abcdef0123456789abcd&newOrderRespType=RESULT&recvWindow=5000&timestamp=1700000000000";
        assert_eq!(r.method, Method::Post);
        assert_eq!(r.url, "https://fapi.binance.com/fapi/v1/order");
        assert_eq!(
            r.body,
            Some(format!("{total}&signature={}", sign("test-secret", total)))
        );
        assert_eq!(
            r.headers,
            vec![
                ("X-MBX-APIKEY".to_string(), "test-key".to_string()),
                (
                    "Content-Type".into(),
                    "application/x-www-form-urlencoded".into()
                ),
            ]
        );
    }

    #[test]
    fn market_close_and_query_requests() {
        let c = ctx_at("https://fapi.binance.com");
        let mut o = order(Exchange::Binance, "0.5", Some("65000"));
        o.side = Side::Sell;
        o.reduce_only = true;
        let r = BINANCE
            .order_request(
                &c,
                &creds(),
                &o,
                &instrument("BTCUSDT", "0.001", "0.001", "0.1", "1"),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let body = r.body.unwrap_or_default();
        assert!(body.starts_with("symbol=BTCUSDT&side=SELL&type=MARKET&quantity=0.5&reduceOnly=true&newClientOrderId=hx0123456789abcdef0123456789abcd&newOrderRespType=RESULT&recvWindow=5000&timestamp=1700000000000&signature="), "{body}");
        let q = BINANCE.query_request(&c, &creds(), &o);
        let total = "symbol=BTCUSDT&origClientOrderId=hx0123456789abcdef0123456789abcd&recvWindow=5000&timestamp=1700000000000";
        assert_eq!(
            q.url,
            format!(
                "https://fapi.binance.com/fapi/v1/order?{total}&signature={}",
                sign("test-secret", total)
            )
        );
        let l = BINANCE.leverage_request(&c, &creds(), &o.symbol, 20);
        assert!(l.body.unwrap_or_default().starts_with(
            "symbol=BTCUSDT&leverage=20&recvWindow=5000&timestamp=1700000000000&signature="
        ));
        assert_eq!(
            BINANCE.instrument_request(&c, &o.symbol).url,
            "https://fapi.binance.com/fapi/v1/exchangeInfo"
        );
    }

    #[test]
    fn parses_exchange_info() {
        let body = r#"{"timezone":"UTC","symbols":[{"symbol":"ETHUSDT","status":"TRADING","filters":[]},{"symbol":"BTCUSDT","status":"TRADING","filters":[{"filterType":"PRICE_FILTER","minPrice":"556.80","maxPrice":"4529764","tickSize":"0.10"},{"filterType":"LOT_SIZE","stepSize":"0.001","maxQty":"1000","minQty":"0.001"},{"filterType":"MARKET_LOT_SIZE","stepSize":"0.001","maxQty":"120","minQty":"0.001"}]}]}"#;
        let sym = Symbol::parse("BTCUSDT").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            BINANCE.parse_instrument(&sym, &response(200, body)),
            Ok(instrument("BTCUSDT", "0.001", "0.001", "0.1", "1"))
        );
        let sym = Symbol::parse("DOGEUSDT").unwrap_or_else(|e| panic!("{e}"));
        let e = BINANCE.parse_instrument(&sym, &response(200, body)).err();
        assert_eq!(e.map(|e| e.class), Some(ErrorClass::Terminal));
    }

    fn btc() -> Symbol {
        Symbol::parse("BTCUSDT").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn price_request_asks_for_the_premium_index_of_one_symbol() {
        let r = BINANCE.price_request(&ctx_at(MAINNET), &btc());
        assert_eq!(r.method, Method::Get);
        assert_eq!(
            r.url,
            "https://fapi.binance.com/fapi/v1/premiumIndex?symbol=BTCUSDT"
        );
        assert!(r.headers.is_empty(), "public market data is not signed");
        assert_eq!(r.body, None);
    }

    /// The response example of "Mark Price", verbatim but for its `//` comments (JSON has none).
    const DOC_PREMIUM_INDEX: &str = r#"{
    "symbol": "BTCUSDT",
    "markPrice": "11793.63104562",
    "indexPrice": "11781.80495970",
    "estimatedSettlePrice": "11781.16138815",
    "lastFundingRate": "0.00038246",
    "nextFundingTime": 1597392000000,
    "interestRate": "0.00010000",
    "time": 1597370495002
}"#;

    #[test]
    fn parses_the_documented_mark_price() {
        let expected = ReferencePrice {
            symbol: "BTCUSDT".into(),
            price: d("11793.63104562"),
            kind: PriceKind::Mark,
        };
        assert_eq!(
            BINANCE.parse_price(&btc(), &response(200, DOC_PREMIUM_INDEX)),
            Ok(expected.clone())
        );
        // The documented form "when symbol not sent": a list, searched for the symbol.
        let eth = DOC_PREMIUM_INDEX
            .replace("BTCUSDT", "ETHUSDT")
            .replace("11793.63104562", "3000.1");
        let list = format!("[{eth},{DOC_PREMIUM_INDEX}]");
        assert_eq!(
            BINANCE.parse_price(&btc(), &response(200, &list)),
            Ok(expected)
        );
        let trailing = DOC_PREMIUM_INDEX.replace("11793.63104562", "65000.00000000");
        assert_eq!(
            BINANCE
                .parse_price(&btc(), &response(200, &trailing))
                .map(|p| p.price.to_string()),
            Ok("65000".to_string())
        );
    }

    #[test]
    fn a_missing_zero_or_negative_mark_price_is_no_price() {
        let retry = Some(ErrorClass::Retryable {
            retry_after_seconds: None,
        });
        for mark in [
            r#""markPrice": """#,
            r#""markPrice": "0.00000000""#,
            r#""markPrice": "-11793.63104562""#,
            r#""markPrice": null"#,
            r#""markPriceX": "11793.63104562""#,
        ] {
            let body = DOC_PREMIUM_INDEX.replace(r#""markPrice": "11793.63104562""#, mark);
            let e = BINANCE.parse_price(&btc(), &response(200, &body)).err();
            assert_eq!(e.map(|e| e.class), retry, "{mark}");
        }
    }

    #[test]
    fn classifies_price_errors() {
        let class = |status: u16, body: &str, retry: Option<&str>| {
            let mut r = response(status, body);
            if let Some(v) = retry {
                r.headers.push(("Retry-After".into(), v.into()));
            }
            BINANCE
                .parse_price(&btc(), &r)
                .err()
                .map(|e| (e.class, e.code))
        };
        assert_eq!(
            class(400, r#"{"code":-1121,"msg":"Invalid symbol."}"#, None),
            Some((ErrorClass::Terminal, Some(INVALID_SYMBOL.to_string())))
        );
        // An answer about another symbol proves nothing about this one's price.
        let other = DOC_PREMIUM_INDEX.replace("BTCUSDT", "ETHUSDT");
        assert_eq!(class(200, &other, None), Some((ErrorClass::Terminal, None)));
        assert_eq!(
            class(
                429,
                r#"{"code":-1003,"msg":"Too many requests."}"#,
                Some("7")
            ),
            Some((
                ErrorClass::Retryable {
                    retry_after_seconds: Some(7)
                },
                Some("-1003".into())
            ))
        );
        assert_eq!(
            class(
                418,
                r#"{"code":-1003,"msg":"Way too many requests; IP banned until 1700000120000."}"#,
                Some("120")
            )
            .map(|(c, _)| c),
            Some(ErrorClass::Banned {
                retry_after_seconds: Some(120)
            })
        );
        // A 5xx on a read is only retried: no order can hide behind it.
        for status in [500, 502, 503] {
            assert_eq!(
                class(status, "", None).map(|(c, _)| c),
                Some(ErrorClass::Retryable {
                    retry_after_seconds: None
                }),
                "{status}"
            );
        }
        assert_eq!(
            class(200, "<html>", None).map(|(c, _)| c),
            Some(ErrorClass::Retryable {
                retry_after_seconds: None
            })
        );
    }

    #[test]
    fn parses_order_and_query() {
        let o = order(Exchange::Binance, "0.01", None);
        let body = r#"{"clientOrderId":"hx0123456789abcdef0123456789abcd","cumQty":"0.010","cumQuote":"650.00","executedQty":"0.010","orderId":22542179,"avgPrice":"65000.00","origQty":"0.010","price":"0","reduceOnly":false,"side":"BUY","positionSide":"BOTH","status":"FILLED","symbol":"BTCUSDT","timeInForce":"GTC","type":"MARKET","updateTime":1700000000000}"#;
        let ack = BINANCE
            .parse_order(&o, &response(200, body))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            ack,
            OrderAck {
                client_order_id: "hx0123456789abcdef0123456789abcd".into(),
                exchange_order_id: "22542179".into(),
                status: "FILLED".into(),
                filled_quantity: d("0.01"),
                average_price: Some(d("65000")),
            }
        );
        let resting = body
            .replace("\"FILLED\"", "\"NEW\"")
            .replace("\"avgPrice\":\"65000.00\"", "\"avgPrice\":\"0.00000\"");
        let ack = BINANCE
            .parse_order(&o, &response(200, &resting))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ack.average_price, None);
        assert!(matches!(
            BINANCE.parse_query(&o, &response(200, body)),
            Ok(QueryResult::Found(_))
        ));
        let missing = r#"{"code":-2013,"msg":"Order does not exist."}"#;
        assert_eq!(
            BINANCE.parse_query(&o, &response(400, missing)),
            Ok(QueryResult::NotFound)
        );
    }

    #[test]
    fn classifies_errors() {
        let o = order(Exchange::Binance, "0.01", None);
        let class = |status: u16, body: &str, retry: Option<&str>| {
            let mut r = response(status, body);
            if let Some(v) = retry {
                r.headers.push(("Retry-After".into(), v.into()));
            }
            BINANCE.parse_order(&o, &r).err().map(|e| e.class)
        };
        assert_eq!(
            class(
                429,
                r#"{"code":-1003,"msg":"Too many requests."}"#,
                Some("3")
            ),
            Some(ErrorClass::Retryable {
                retry_after_seconds: Some(3)
            })
        );
        assert_eq!(
            class(
                418,
                r#"{"code":-1003,"msg":"Way too many requests; IP banned until 1700000120000."}"#,
                Some("120")
            ),
            Some(ErrorClass::Banned {
                retry_after_seconds: Some(120)
            })
        );
        assert_eq!(
            class(
                503,
                r#"{"code":-1000,"msg":"Unknown error, please check your request or try again later."}"#,
                None
            ),
            Some(ErrorClass::Unknown)
        );
        assert_eq!(class(500, "", None), Some(ErrorClass::Unknown));
        assert_eq!(
            class(
                408,
                r#"{"code":-1007,"msg":"Timeout waiting for response from backend server. Send status unknown; execution status unknown."}"#,
                None
            ),
            Some(ErrorClass::Unknown)
        );
        assert_eq!(
            class(
                400,
                r#"{"code":-1021,"msg":"Timestamp for this request is outside of the recvWindow."}"#,
                None
            ),
            Some(ErrorClass::Retryable {
                retry_after_seconds: None
            })
        );
        assert_eq!(
            class(
                400,
                r#"{"code":-4116,"msg":"ClientOrderId is duplicated."}"#,
                None
            ),
            Some(ErrorClass::Unknown)
        );
        for (status, code) in [
            (400, -1022),
            (401, -2015),
            (400, -2019),
            (400, -1121),
            (400, -4164),
        ] {
            let body = format!(r#"{{"code":{code},"msg":"x"}}"#);
            assert_eq!(
                class(status, &body, None),
                Some(ErrorClass::Terminal),
                "{code}"
            );
        }
        // A 5xx on a read only asks for a retry.
        let e = BINANCE
            .parse_query(&o, &response(503, ""))
            .err()
            .map(|e| e.class);
        assert_eq!(
            e,
            Some(ErrorClass::Retryable {
                retry_after_seconds: None
            })
        );
        assert_eq!(
            BINANCE.parse_leverage(&response(
                200,
                r#"{"leverage":20,"maxNotionalValue":"1000000","symbol":"BTCUSDT"}"#
            )),
            Ok(())
        );
    }
}
