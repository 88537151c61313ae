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
//!
//! What the rest rests on, all from `bybit-exchange/docs` (checked at commit `072c197`):
//!
//! - **Create answer** — "Place Order", <https://bybit-exchange.github.io/docs/v5/order/create-order>
//!   (`docs/v5/order/create-order.mdx`): the response is `orderId` and `orderLinkId` only, and
//!   "The acknowledgement of an place order request indicates that the request was sucessfully
//!   accepted. This request is asynchronous so please use the websocket to confirm the order
//!   status." So a create answer parses as [`ACKNOWLEDGED`] with nothing filled: no fill is
//!   invented, a lookup tells the rest.
//! - **Take-profit / stop-loss** — "Place Order" (above): `takeProfit`, `stopLoss`;
//!   `tpTriggerBy` / `slTriggerBy` "`MarkPrice`, `IndexPrice`, default: `LastPrice`";
//!   `tpslMode` "`Full`: entire position for TP/SL … `Partial`: partial position tp/sl (as there
//!   is no size option, so it will create tp/sl orders with the qty you actually fill)";
//!   `reduceOnly` "When reduceOnly is true, take profit/stop loss cannot be set". hoox sends
//!   `tpslMode` `Partial` with `MarkPrice` triggers, and refuses a close that carries either.
//! - **Lookups** — "Get Open & Closed Orders", <https://bybit-exchange.github.io/docs/v5/order/open-order>
//!   (`docs/v5/order/open-order.mdx`): "After a server release or restart, filled, cancelled,
//!   and rejected orders of Unified account should only be queried through order history.";
//!   of `openOnly`: "`openOnly` param will be ignored when query by _orderId_ or
//!   _orderLinkId_". So a lookup asks `GET /v5/order/realtime?category=linear&symbol=…&
//!   orderLinkId=…` (open orders, and closed ones until a release clears them) and then
//!   `GET /v5/order/history?category=linear&symbol=…&orderLinkId=…`, "Get Order History",
//!   <https://bybit-exchange.github.io/docs/v5/order/order-list> (`docs/v5/order/order-list.mdx`),
//!   whose data "may delay" as "order creation/cancellation is **asynchronous**" and which keeps
//!   fully cancelled orders for 24 hours and orders with fills beyond 7 days.
//! - **Statuses** — "Enums Definitions", <https://bybit-exchange.github.io/docs/v5/enum#orderstatus>
//!   (`docs/v5/enum.mdx`): "`Cancelled` In derivatives, orders with this status may have an
//!   executed qty" (`PartiallyFilledCanceled` is spot only). A found order carries `orderStatus`
//!   verbatim, `cumExecQty` as its fill and `avgPrice` ("returns `""` for those orders without
//!   avg price"), else `cumExecValue / cumExecQty`, as its price.
//! - **Codes** — "Error Codes", <https://bybit-exchange.github.io/docs/v5/error> (`docs/v5/error.mdx`):
//!   UTA `429` "The trading service is experiencing a high server load. Please retry if you
//!   encounter this issue." and `-1` "request expired: o@0, now[] diff[]" are retryable;
//!   `10009` "Service Restricted: Access is currently unavailable for your region. Please
//!   contact our support team for further assistance" is terminal; `110072` "OrderLinkedID is
//!   duplicate" means the id is taken by an order that exists, even when no lookup finds it
//!   yet (history lags): Unknown, look again later, never resubmit. HTTP 403 is "Forbidden
//!   request. Possible causes: 1. IP rate limit breached; 2. You send GET request with an
//!   empty json body; 3. You are using U.S IP".
//! - **Regions** — "Integration Guidance", <https://bybit-exchange.github.io/docs/v5/guide>
//!   (`docs/v5/guide.mdx`): "IP addresses located in the US or Mainland China are restricted
//!   and will return a 403 Forbidden error for requests to Bybit API." That 403 comes from
//!   Bybit's CloudFront edge as CloudFront's geo-restriction page ("The Amazon CloudFront
//!   distribution is configured to block access from your country."; CloudFront's "HTTP 403
//!   status code (Permission Denied)",
//!   <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/http-403-permission-denied.html>,
//!   lists "Geographic restrictions return a 403 error"), not Bybit JSON: it is terminal with
//!   [`GEO_BLOCK_REASON`], not the ten-minute ban of "403, access too frequent" ("Rate Limit
//!   Rules", <https://bybit-exchange.github.io/docs/v5/rate-limit>).
//! - **Size rules** — "Get Instruments Info", <https://bybit-exchange.github.io/docs/v5/market/instrument>
//!   (`docs/v5/market/instrument.mdx`): `lotSizeFilter.maxOrderQty` "Maximum quantity for Limit
//!   and PostOnly order", `maxMktOrderQty` "Maximum quantity for Market order" (both "adjusted
//!   bi-monthly"), `minNotionalValue` "Minimum notional value". They are refused before sending,
//!   with the rule's name and numbers, except where Bybit would take the order: "If
//!   reduceOnly=true and order qty > max order qty, the order will automatically be split up
//!   into multiple orders" ("Place Order"), and a reduce-only order is not held to the minimum
//!   notional here (the documentation does not say it is). Bybit's code for the notional is
//!   `110094` "Order notional value below the lower limit" ("Error Codes"); it documents no
//!   price for a market order's notional, so hoox values one at the mark, as Binance does.
//! - **Position mode** — "Switch Position Mode", <https://bybit-exchange.github.io/docs/v5/position/position-mode>
//!   (`docs/v5/position/position-mode.mdx`): a mode per symbol, else per coin, else one-way
//!   ("Priority for configuration to take effect: symbol > coin > system default"); v5 has no
//!   endpoint that reads it. "Get Position Info", <https://bybit-exchange.github.io/docs/v5/position>
//!   (`docs/v5/position/position.mdx`): "If `symbol` passed, it returns data regardless of
//!   having position or not", and `positionIdx` is "`0`: One-Way Mode, `1`: Buy side of both
//!   side mode, `2`: Sell side of both side mode": the rows of the symbol tell its mode. "Place
//!   Order": `positionIdx` "Under hedge-mode, this param is **required**" and `reduceOnly` "You
//!   **must** specify it as `true` when you are about to close/reduce the position": so every
//!   order read for a mode carries its `positionIdx` (0; or 1 for the buy side, opened by a
//!   buy and closed by a reduce-only sell, 2 for the sell side), and a close stays reduce-only.
//!   An index the mode does not have is `10001` "Request parameter error".

use crate::order::{OrderRequest, PreTradeError, Side};
use crate::precision::{check_limits, fit, RuleNames};
use crate::protect;
use crate::signing::{bybit_payload, sign};
use crate::venue::{
    Context, Credentials, ErrorClass, ExchangeError, HttpRequest, HttpResponse, Instrument, Limits,
    Method, Placement, PositionMode, PriceKind, QueryResult, ReferencePrice, Venue, ACKNOWLEDGED,
};
use crate::wire::{
    average_price, decimal, error, excerpt, not_tradable, parse_json, plain, query_string,
    reference_price, refused, retry_after, text, Call, JsonObject,
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
/// UTA: "The trading service is experiencing a high server load. Please retry if you encounter
/// this issue."
pub const HIGH_SERVER_LOAD: i64 = 429;
/// UTA: "request expired: o@0, now[] diff[]": refused before processing.
pub const REQUEST_EXPIRED: i64 = -1;
/// "Service Restricted: Access is currently unavailable for your region."
pub const REGION_RESTRICTED: i64 = 10009;
/// After an IP-level `403 access too frequent`, Bybit asks for at least ten minutes of silence.
pub const IP_BAN_SECONDS: u32 = 600;
/// What an operator reads when Bybit's edge refuses the region the requests leave from.
pub const GEO_BLOCK_REASON: &str =
    "Bybit refuses requests from this region (CloudFront 403); see README 'Exchange regions'";
/// The sentence of CloudFront's geo-restriction page (its 403 HTML body).
const CLOUDFRONT_GEO_BLOCK: &str = "block access from your country";

/// "Order notional value below the lower limit".
pub const NOTIONAL_BELOW_LOWER_LIMIT: i64 = 110094;
/// "Request parameter error": among others, a `positionIdx` the account's position mode does
/// not have.
pub const PARAMETER_ERROR: i64 = 10001;

/// Bybit's names for its size rules (`lotSizeFilter` of "Get Instruments Info").
const RULES: RuleNames = RuleNames {
    venue: "Bybit",
    max_qty: "lotSizeFilter.maxOrderQty",
    max_market_qty: "lotSizeFilter.maxMktOrderQty",
    min_notional: "lotSizeFilter.minNotionalValue",
    splits_reduce_only_over_max: true,
};

/// The Bybit v5 linear adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bybit;

pub static BYBIT: Bybit = Bybit;

/// Positions, the USDT wallet and fees: [`crate::account::Account`].
mod account;
/// Server-side stops: [`crate::stops::ServerStops`].
mod stops;

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

    /// `GET {path}?category=linear&symbol=…&orderLinkId=…`: the order by its link id
    /// (`openOnly` is ignored with an `orderLinkId`, so none is sent).
    fn lookup(
        &self,
        ctx: &Context,
        creds: &Credentials,
        order: &OrderRequest,
        path: &str,
    ) -> HttpRequest {
        let query = query_string(&[
            ("category", "linear".into()),
            ("symbol", self.symbol(&order.symbol)),
            ("orderLinkId", order.client_order_id.clone()),
        ]);
        Self::signed_get(ctx, creds, path, query)
    }
}

/// Whether a 403 is CloudFront's geographic block (its HTML page), not Bybit's own refusal.
fn is_geo_block(resp: &HttpResponse) -> bool {
    resp.status == 403
        && resp
            .body
            .to_ascii_lowercase()
            .contains(CLOUDFRONT_GEO_BLOCK)
}

/// Reads Bybit's envelope: `Ok(result)` when `retCode` is 0, else the classified error.
fn envelope(call: Call, resp: &HttpResponse) -> Result<Value, ExchangeError> {
    let fail = |class, code: Option<String>, message: String| {
        Err(error(Exchange::Bybit, class, resp.status, code, message))
    };
    match resp.status {
        // US or mainland-China egress, refused at Bybit's edge: no wait lifts it.
        403 if is_geo_block(resp) => {
            return fail(
                ErrorClass::Terminal,
                None,
                format!("{GEO_BLOCK_REASON}: {}", excerpt(&resp.body)),
            )
        }
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
        // "high server load, please retry": refused, not processed.
        HIGH_SERVER_LOAD => ErrorClass::Retryable {
            retry_after_seconds: None,
        },
        // The request never reached the matching engine (expired, or outside the receive
        // window): safe to send again with a fresh clock.
        BAD_TIMESTAMP | REQUEST_EXPIRED => ErrorClass::Retryable {
            retry_after_seconds: None,
        },
        // Server timeout / server error: the submit may have been processed.
        10000 | 10016 => call.unclear(),
        // A repeated orderLinkId (or request) means an earlier attempt reached Bybit.
        DUPLICATE_ORDER_LINK_ID | 10014 => ErrorClass::Unknown,
        // Region restriction (10009) and every other refusal: retrying cannot help.
        _ => ErrorClass::Terminal,
    };
    let message = match code {
        DUPLICATE_ORDER_LINK_ID => format!(
            "{message} (the orderLinkId is taken: the order exists at Bybit even if no lookup \
             finds it yet; look it up again later, never resubmit)"
        ),
        REGION_RESTRICTED => format!("{message} (see README 'Exchange regions')"),
        _ => message,
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

/// An order of Bybit's order list (realtime or history) as found: its status verbatim, what
/// executed (`cumExecQty`) and at what average (`avgPrice`, else `cumExecValue / cumExecQty`),
/// whether it is open, filled or cancelled.
fn ack_of(order: &OrderRequest, item: &Value) -> OrderAck {
    let filled = item
        .get("cumExecQty")
        .and_then(decimal)
        .unwrap_or(Decimal::ZERO);
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
        filled_quantity: filled,
        average_price: average_price(item.get("avgPrice"), item.get("cumExecValue"), filled),
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
        // The other size rules, where listed; a missing one is left to Bybit to check.
        let optional = |path: &[&str]| str_field(item, path).and_then(decimal);
        Ok(Instrument {
            symbol: wanted,
            qty_step: num(&["lotSizeFilter", "qtyStep"])?,
            min_qty: num(&["lotSizeFilter", "minOrderQty"])?,
            tick_size: num(&["priceFilter", "tickSize"])?,
            contract_size: Decimal::ONE,
            limits: Limits {
                max_qty: optional(&["lotSizeFilter", "maxOrderQty"]),
                market_qty_step: None,
                market_min_qty: None,
                max_market_qty: optional(&["lotSizeFilter", "maxMktOrderQty"]),
                min_notional: optional(&["lotSizeFilter", "minNotionalValue"]),
            },
            placement: Placement::default(),
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

    /// `GET /v5/position/list?category=linear&symbol=…` ("Get Position Info"): "If `symbol`
    /// passed, it returns data regardless of having position or not", one row per position
    /// index: `0` in one-way mode, `1` and `2` in hedge mode. Bybit has no endpoint that
    /// reads the mode itself (only "Switch Position Mode" sets it, per symbol or per coin).
    fn position_mode_request(
        &self,
        ctx: &Context,
        creds: &Credentials,
        symbol: &Symbol,
    ) -> HttpRequest {
        let query = query_string(&[
            ("category", "linear".into()),
            ("symbol", self.symbol(symbol)),
        ]);
        Self::signed_get(ctx, creds, "/v5/position/list", query)
    }

    fn parse_position_mode(
        &self,
        symbol: &Symbol,
        resp: &HttpResponse,
    ) -> Result<PositionMode, ExchangeError> {
        let result = envelope(Call::Account, resp)?;
        let wanted = self.symbol(symbol);
        let indexes: Vec<i64> = result
            .get("list")
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter(|p| p.get("symbol").and_then(Value::as_str) == Some(wanted.as_str()))
                    .filter_map(|p| p.get("positionIdx").and_then(Value::as_i64))
                    .collect()
            })
            .unwrap_or_default();
        if indexes.iter().any(|i| matches!(i, 1 | 2)) {
            Ok(PositionMode::Hedge)
        } else if indexes.contains(&0) {
            Ok(PositionMode::OneWay)
        } else {
            Err(parse_error(
                Call::Account,
                resp.status,
                &format!("a positionIdx of {wanted}"),
                &resp.body,
            ))
        }
    }

    /// 10001, "Request parameter error", is what Bybit answers for a `positionIdx` the mode
    /// does not have (among other parameter errors: reading the mode again costs one call).
    fn refuses_position_mode(&self, e: &ExchangeError) -> bool {
        e.code.as_deref() == Some(PARAMETER_ERROR.to_string().as_str())
    }

    /// `positionIdx` says which position the order is for: `0` in one-way mode; in hedge mode
    /// `1` the buy side (a buy opens it, a reduce-only sell closes it), `2` the sell side
    /// ("Under hedge-mode, this param is **required**"). A close is `reduceOnly` in either
    /// mode ("You **must** specify it as `true` when you are about to close/reduce the
    /// position").
    fn order_request(
        &self,
        ctx: &Context,
        creds: &Credentials,
        order: &OrderRequest,
        instrument: &Instrument,
    ) -> Result<HttpRequest, ExchangeError> {
        let sized = fit(order, instrument)?;
        check_limits(order, instrument, &sized, &RULES)?;
        let position_idx = match instrument.placement.position_mode {
            None => None,
            Some(PositionMode::OneWay) => Some(0),
            Some(PositionMode::Hedge) if (order.side == Side::Buy) != order.reduce_only => Some(1),
            Some(PositionMode::Hedge) => Some(2),
        };
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
        body = body.string(
            "timeInForce",
            match order.order_type {
                OrderType::Market => "IOC",
                OrderType::Limit => "GTC",
            },
        );
        if let Some(idx) = position_idx {
            body = body.int("positionIdx", idx);
        }
        body = body
            .bool("reduceOnly", order.reduce_only)
            .string("orderLinkId", &order.client_order_id);
        // Take-profit and stop-loss attach to the order ("Place Order": `takeProfit`,
        // `stopLoss`); "When reduceOnly is true, take profit/stop loss cannot be set", so a close
        // with either is refused rather than sent without it. `tpslMode` `Partial` "will create
        // tp/sl orders with the qty you actually fill": this signal's fill, not the whole
        // position (`Full`), which other signals may share. Triggered by `MarkPrice`, the price
        // the notional cap is judged at (the default is `LastPrice`).
        if protect::asks_for_protection(order) {
            if order.reduce_only {
                return Err(refused(
                    Exchange::Bybit,
                    PreTradeError::ProtectionOnClose.to_string(),
                ));
            }
            if let Some(tp) = sized.take_profit {
                body = body
                    .string("takeProfit", &plain(tp))
                    .string("tpTriggerBy", "MarkPrice");
            }
            if let Some(sl) = sized.stop_loss {
                body = body
                    .string("stopLoss", &plain(sl))
                    .string("slTriggerBy", "MarkPrice");
            }
            body = body.string("tpslMode", "Partial");
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
            // The create answer carries ids only ("This request is asynchronous"): accepted,
            // nothing known of its fills. A lookup tells the rest; none is invented here.
            status: ACKNOWLEDGED.into(),
            filled_quantity: Decimal::ZERO,
            average_price: None,
        })
    }

    /// `GET /v5/order/realtime` by `orderLinkId`: open orders, and closed ones until a Bybit
    /// release clears them.
    fn query_request(
        &self,
        ctx: &Context,
        creds: &Credentials,
        order: &OrderRequest,
    ) -> HttpRequest {
        self.lookup(ctx, creds, order, "/v5/order/realtime")
    }

    /// Realtime, then order history: "After a server release or restart, filled, cancelled,
    /// and rejected orders of Unified account should only be queried through order history."
    /// Without the second, an order closed before a release would be called absent, and the
    /// resubmit refused as a duplicate (110072) while its position stands.
    fn query_requests(
        &self,
        ctx: &Context,
        creds: &Credentials,
        order: &OrderRequest,
    ) -> Vec<HttpRequest> {
        vec![
            self.query_request(ctx, creds, order),
            self.lookup(ctx, creds, order, "/v5/order/history"),
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
        let body = r#"{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Market","qty":"0.012","timeInForce":"IOC","reduceOnly":false,"orderLinkId":"hx0123456789abcdef0123456789abcd","takeProfit":"70000","tpTriggerBy":"MarkPrice","stopLoss":"60000.1","slTriggerBy":"MarkPrice","tpslMode":"Partial"}"#;
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

    /// Issue 13, item 2: "When reduceOnly is true, take profit/stop loss cannot be set": a close
    /// carrying one is refused, never sent without it (the adapter used to drop it silently).
    #[test]
    fn a_close_with_take_profit_or_stop_loss_is_refused_not_stripped() {
        let mut o = order(Exchange::Bybit, "1", Some("65000.06"));
        o.side = Side::Sell;
        o.reduce_only = true;
        for (tp, sl) in [(Some(d("1")), None), (None, Some(d("70000")))] {
            o.take_profit = tp;
            o.stop_loss = sl;
            let e = BYBIT
                .order_request(
                    &ctx(),
                    &creds(),
                    &o,
                    &instrument("BTCUSDT", "0.001", "0.001", "0.1", "1"),
                )
                .err();
            assert_eq!(e.as_ref().map(|e| e.class), Some(ErrorClass::Terminal));
            assert!(
                e.map(|e| e.message)
                    .unwrap_or_default()
                    .contains("closing signal"),
                "{tp:?} {sl:?}"
            );
        }
    }

    /// Only the take-profit: its own trigger type, and `Partial` for this fill.
    #[test]
    fn a_lone_take_profit_is_sent_with_its_trigger_and_partial_mode() {
        let mut o = order(Exchange::Bybit, "0.01", None);
        o.take_profit = Some(d("70000"));
        let r = BYBIT
            .order_request(
                &ctx(),
                &creds(),
                &o,
                &instrument("BTCUSDT", "0.001", "0.001", "0.1", "1"),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let body = r.body.unwrap_or_default();
        assert!(
            body.ends_with(
                r#""takeProfit":"70000","tpTriggerBy":"MarkPrice","tpslMode":"Partial"}"#
            ),
            "{body}"
        );
        assert!(
            !body.contains("stopLoss") && !body.contains("slTriggerBy"),
            "{body}"
        );
    }

    #[test]
    fn limit_close_order_has_price_reduce_only_and_no_tpsl() {
        let mut o = order(Exchange::Bybit, "1", Some("65000.06"));
        o.order_type = OrderType::Limit;
        o.side = Side::Sell;
        o.reduce_only = true;
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

    /// Issue 13, item 5: realtime first (it has open orders, and closed ones until a release
    /// clears them), then order history; `openOnly` is not sent, as Bybit ignores it when the
    /// query names an `orderLinkId`.
    #[test]
    fn a_lookup_asks_realtime_then_order_history() {
        let urls_of = |o: &OrderRequest| -> Vec<String> {
            BYBIT
                .query_requests(&ctx(), &creds(), o)
                .into_iter()
                .map(|r| r.url)
                .collect()
        };
        let query = "category=linear&symbol=BTCUSDT&orderLinkId=hx0123456789abcdef0123456789abcd";
        let expected = [
            format!("https://api.bybit.com/v5/order/realtime?{query}"),
            format!("https://api.bybit.com/v5/order/history?{query}"),
        ];
        let market = order(Exchange::Bybit, "0.01", None);
        assert_eq!(urls_of(&market), expected);
        let limit = OrderRequest {
            order_type: OrderType::Limit,
            ..order(Exchange::Bybit, "0.01", Some("65000"))
        };
        assert_eq!(urls_of(&limit), expected);
        for r in BYBIT.query_requests(&ctx(), &creds(), &market) {
            assert_eq!(r.method, Method::Get);
            assert_eq!(
                header(&r, "X-BAPI-SIGN"),
                sign("test-secret", &format!("1700000000000test-key5000{query}"))
            );
        }
    }

    #[test]
    fn query_and_instrument_requests() {
        let o = order(Exchange::Bybit, "0.01", None);
        let q = BYBIT.query_request(&ctx(), &creds(), &o);
        let query = "category=linear&symbol=BTCUSDT&orderLinkId=hx0123456789abcdef0123456789abcd";
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
        let mut expected = instrument("BTCUSDT", "0.001", "0.001", "0.1", "1");
        expected.limits.max_qty = Some(d("100"));
        assert_eq!(i, expected);
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
        // Ids only: acknowledged, nothing filled, no price (a lookup tells the rest).
        assert_eq!(ack.status, "Acknowledged");
        assert_eq!(
            (ack.filled_quantity, ack.average_price),
            (Decimal::ZERO, None)
        );
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

    /// The response example of "Get Order History", verbatim but for the `orderLinkId` (ours):
    /// a linear order cancelled with nothing executed.
    const DOC_HISTORY: &str = r#"{
    "retCode": 0,
    "retMsg": "OK",
    "result": {
        "list": [
            {
                "orderId": "14bad3a1-6454-43d8-bcf2-5345896cf74d",
                "orderLinkId": "hx0123456789abcdef0123456789abcd",
                "blockTradeId": "",
                "symbol": "BTCUSDT",
                "price": "26864.40",
                "qty": "0.003",
                "side": "Buy",
                "isLeverage": "",
                "positionIdx": 1,
                "orderStatus": "Cancelled",
                "cancelType": "UNKNOWN",
                "rejectReason": "EC_PostOnlyWillTakeLiquidity",
                "avgPrice": "0",
                "leavesQty": "0.000",
                "leavesValue": "0",
                "cumExecQty": "0.000",
                "cumExecValue": "0",
                "cumExecFee": "0",
                "timeInForce": "PostOnly",
                "orderType": "Limit",
                "stopOrderType": "UNKNOWN",
                "orderIv": "",
                "triggerPrice": "0.00",
                "takeProfit": "0.00",
                "stopLoss": "0.00",
                "tpTriggerBy": "UNKNOWN",
                "slTriggerBy": "UNKNOWN",
                "triggerDirection": 0,
                "triggerBy": "UNKNOWN",
                "lastPriceOnCreated": "0.00",
                "reduceOnly": false,
                "closeOnTrigger": false,
                "smpType": "None",
                "smpGroup": 0,
                "smpOrderId": "",
                "tpslMode": "",
                "tpLimitPrice": "",
                "slLimitPrice": "",
                "placeType": "",
                "slippageToleranceType": "UNKNOWN",
                "slippageTolerance": "",
                "createdTime": "1684476068369",
                "updatedTime": "1684476068372",
                "extraFees": "",
                "cumFeeDetail": {
                    "MNT": "0.00242968"
                },
                "rpiTakerAccess": false,
                "rpiMatchedQty": "0"
            }
        ],
        "nextPageCursor": "page_token%3D39380%26",
        "category": "linear"
    },
    "retExtInfo": {},
    "time": 1684766282976
}"#;

    /// Issue 13, item 3: `Cancelled` ("In derivatives, orders with this status may have an
    /// executed qty") is found with what executed; the status is kept verbatim and the
    /// average price comes from `avgPrice`, else `cumExecValue / cumExecQty`.
    #[test]
    fn a_cancelled_order_is_found_with_what_it_executed() {
        let o = order(Exchange::Bybit, "0.003", None);
        match BYBIT.parse_query(&o, &response(200, DOC_HISTORY)) {
            Ok(QueryResult::Found(a)) => {
                assert_eq!(a.status, "Cancelled");
                assert_eq!((a.filled_quantity, a.average_price), (Decimal::ZERO, None));
                assert_eq!(a.exchange_order_id, "14bad3a1-6454-43d8-bcf2-5345896cf74d");
            }
            other => panic!("{other:?}"),
        }
        let partly = DOC_HISTORY
            .replace(r#""cumExecQty": "0.000""#, r#""cumExecQty": "0.002""#)
            .replace(r#""cumExecValue": "0""#, r#""cumExecValue": "53.7289""#)
            .replace(r#""avgPrice": "0""#, r#""avgPrice": "26864.45""#);
        match BYBIT.parse_query(&o, &response(200, &partly)) {
            Ok(QueryResult::Found(a)) => {
                assert_eq!(a.status, "Cancelled");
                assert_eq!(a.filled_quantity, d("0.002"));
                assert_eq!(a.average_price, Some(d("26864.45")));
            }
            other => panic!("{other:?}"),
        }
        // "avgPrice ... returns "" for those orders without avg price": the executed value
        // over the executed quantity still gives it.
        let no_avg = partly.replace(r#""avgPrice": "26864.45""#, r#""avgPrice": """#);
        match BYBIT.parse_query(&o, &response(200, &no_avg)) {
            Ok(QueryResult::Found(a)) => {
                assert_eq!(a.filled_quantity, d("0.002"));
                assert_eq!(a.average_price, Some(d("26864.45")));
            }
            other => panic!("{other:?}"),
        }
    }

    /// Issue 13, item 10, against "Error Codes": UTA `429` ("The trading service is
    /// experiencing a high server load. Please retry") and `-1` ("request expired") are
    /// retryable; `10009` ("Service Restricted: Access is currently unavailable for your
    /// region") is terminal: no wait lifts it.
    #[test]
    fn classifies_load_expiry_and_region() {
        let o = order(Exchange::Bybit, "0.01", None);
        let class = |code: i64, msg: &str| {
            let body = format!(
                r#"{{"retCode":{code},"retMsg":"{msg}","result":{{}},"retExtInfo":{{}},"time":1}}"#
            );
            BYBIT
                .parse_order(&o, &response(200, &body))
                .err()
                .map(|e| e.class)
        };
        let retry = Some(ErrorClass::Retryable {
            retry_after_seconds: None,
        });
        assert_eq!(
            class(
                429,
                "The trading service is experiencing a high server load. Please retry if you encounter this issue."
            ),
            retry
        );
        assert_eq!(class(-1, "request expired: o@0, now[] diff[]"), retry);
        assert_eq!(
            class(
                10009,
                "Service Restricted: Access is currently unavailable for your region. Please contact our support team for further assistance"
            ),
            Some(ErrorClass::Terminal)
        );
    }

    /// CloudFront's geo-restriction page, as US and mainland-China IPs get it from Bybit.
    const CLOUDFRONT_GEO_BLOCK: &str = "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\" \"http://www.w3.org/TR/html4/loose.dtd\">\n<HTML><HEAD><META HTTP-EQUIV=\"Content-Type\" CONTENT=\"text/html; charset=iso-8859-1\">\n<TITLE>ERROR: The request could not be satisfied</TITLE>\n</HEAD><BODY>\n<H1>403 ERROR</H1>\n<H2>The request could not be satisfied.</H2>\n<HR noshade size=\"1px\">\nThe Amazon CloudFront distribution is configured to block access from your country.\nWe can't connect to the server for this app or website at this time. There might be too much traffic or a configuration error. Try again later, or contact the app or website owner.\n<BR clear=\"all\">\nIf you provide content to customers through CloudFront, you can find steps to troubleshoot and help prevent this error by reviewing the CloudFront documentation.\n<BR clear=\"all\">\n<HR noshade size=\"1px\">\n<PRE>\nGenerated by cloudfront (CloudFront)\nRequest ID: 7Qv1pX3Kb0cQk8l2m9fZ0s4Y6aT5rW2eJ1nU8hG3dL4oP7iC5xB9Ag==\n</PRE>\n<ADDRESS>\n</ADDRESS>\n</BODY></HTML>";

    /// Issue 13, item 10: a 403 that is CloudFront's geographic block is terminal for every
    /// call, with a reason an operator can act on; "403, access too frequent" stays a ban.
    #[test]
    fn a_geo_block_is_terminal_and_names_its_cause() {
        let o = order(Exchange::Bybit, "0.01", None);
        let blocked = response(403, CLOUDFRONT_GEO_BLOCK);
        let reason = "Bybit refuses requests from this region (CloudFront 403); see README 'Exchange regions'";
        let errors = [
            BYBIT.parse_order(&o, &blocked).err(),
            BYBIT.parse_query(&o, &blocked).err(),
            BYBIT.parse_instrument(&o.symbol, &blocked).err(),
            BYBIT.parse_price(&o.symbol, &blocked).err(),
            BYBIT.parse_leverage(&blocked).err(),
        ];
        for e in errors {
            let e = e.unwrap_or_else(|| panic!("a geo block read as success"));
            assert_eq!((e.status, e.class), (403, ErrorClass::Terminal), "{e}");
            assert!(e.message.contains(reason), "{e}");
        }
        assert_eq!(
            BYBIT
                .parse_order(&o, &response(403, "access too frequent"))
                .err()
                .map(|e| e.class),
            Some(ErrorClass::Banned {
                retry_after_seconds: Some(IP_BAN_SECONDS)
            })
        );
    }

    /// Issue 13, item 5: 110072 is "OrderLinkedID is duplicate": the id is taken, so the order
    /// exists even when no lookup finds it yet. Unknown: look again later, never resubmit.
    #[test]
    fn a_duplicate_link_id_is_an_order_that_exists() {
        let o = order(Exchange::Bybit, "0.01", None);
        let e = BYBIT
            .parse_order(
                &o,
                &response(
                    200,
                    r#"{"retCode":110072,"retMsg":"OrderLinkedID is duplicate","result":{},"retExtInfo":{},"time":1}"#,
                ),
            )
            .err()
            .unwrap_or_else(|| panic!("110072 read as success"));
        assert_eq!(
            (e.class, e.code.as_deref()),
            (ErrorClass::Unknown, Some("110072"))
        );
        assert!(e.message.contains("OrderLinkedID is duplicate"), "{e}");
        assert!(e.message.contains("exists"), "{e}");
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

    /// The linear response example of "Get Instruments Info", trimmed of fields hoox does not
    /// read (its `lotSizeFilter` verbatim).
    const DOC_INSTRUMENT: &str = r#"{"retCode":0,"retMsg":"OK","result":{"category":"linear","list":[{"symbol":"BTCUSDT","contractType":"LinearPerpetual","status":"Trading","baseCoin":"BTC","quoteCoin":"USDT","priceScale":"2","leverageFilter":{"minLeverage":"1","maxLeverage":"100.00","leverageStep":"0.01"},"priceFilter":{"minPrice":"0.10","maxPrice":"1999999.80","tickSize":"0.10"},"lotSizeFilter":{"maxOrderQty":"1190.000","minOrderQty":"0.001","qtyStep":"0.001","postOnlyMaxOrderQty":"1190.000","maxMktOrderQty":"500.000","minNotionalValue":"5"},"settleCoin":"USDT"}],"nextPageCursor":""},"retExtInfo":{},"time":1700000000000}"#;

    fn btc_rules(mark: &str, mode: Option<PositionMode>) -> Instrument {
        let mut i = BYBIT
            .parse_instrument(&sym("BTCUSDT"), &response(200, DOC_INSTRUMENT))
            .unwrap_or_else(|e| panic!("{e}"));
        i.placement = Placement {
            position_mode: mode,
            position: None,
            reference_price: Some(d(mark)),
        };
        i
    }

    fn refusal(o: &OrderRequest, i: &Instrument) -> Option<String> {
        BYBIT.order_request(&ctx(), &creds(), o, i).err().map(|e| {
            assert_eq!((e.class, e.status), (ErrorClass::Terminal, 0), "{e}");
            e.message
        })
    }

    /// Issue 13, item 9: `lotSizeFilter.maxOrderQty` ("Maximum quantity for Limit and
    /// PostOnly order"), `maxMktOrderQty` ("Maximum quantity for Market order") and
    /// `minNotionalValue` are read and applied before anything is signed.
    #[test]
    fn size_rules_are_read_and_applied_before_any_round_trip() {
        let i = btc_rules("65000", None);
        assert_eq!(
            i.limits,
            Limits {
                max_qty: Some(d("1190")),
                market_qty_step: None,
                market_min_qty: None,
                max_market_qty: Some(d("500")),
                min_notional: Some(d("5")),
            }
        );
        let m = refusal(&order(Exchange::Bybit, "500.001", None), &i).unwrap_or_default();
        assert!(
            m.starts_with(
                "quantity 500.001 above Bybit's lotSizeFilter.maxMktOrderQty 500 for BTCUSDT"
            ),
            "{m}"
        );
        let limit = |qty: &str| OrderRequest {
            order_type: OrderType::Limit,
            price: Some(d("65000")),
            ..order(Exchange::Bybit, qty, None)
        };
        assert_eq!(refusal(&limit("600"), &i), None);
        let m = refusal(&limit("1190.001"), &i).unwrap_or_default();
        assert!(
            m.starts_with(
                "quantity 1190.001 above Bybit's lotSizeFilter.maxOrderQty 1190 for BTCUSDT"
            ),
            "{m}"
        );
        // "If reduceOnly=true and order qty > max order qty, the order will automatically be
        // split up into multiple orders": a close is never refused for its size.
        let close = OrderRequest {
            side: Side::Sell,
            reduce_only: true,
            ..order(Exchange::Bybit, "600", None)
        };
        assert_eq!(refusal(&close, &i), None);
        // 0.001 BTC at a 4000 mark is 4 USDT, under the 5 minimum; a close is not held to it.
        let cheap = btc_rules("4000", None);
        let m = refusal(&order(Exchange::Bybit, "0.001", None), &cheap).unwrap_or_default();
        assert!(
            m.starts_with(
                "notional 4 USDT below Bybit's lotSizeFilter.minNotionalValue 5 for BTCUSDT"
            ),
            "{m}"
        );
        assert_eq!(
            refusal(&order(Exchange::Bybit, "0.002", None), &cheap),
            None
        );
        let small_close = OrderRequest {
            side: Side::Sell,
            reduce_only: true,
            ..order(Exchange::Bybit, "0.001", None)
        };
        assert_eq!(refusal(&small_close, &cheap), None);
    }

    /// Issue 13, item 7: `positionIdx` 0 in one-way mode; in hedge mode 1 for the buy side (a
    /// buy opens it, a reduce-only sell closes it) and 2 for the sell side ("Under
    /// hedge-mode, this param is **required**"); a close stays `reduceOnly`. A mode never read
    /// sends none, as before.
    #[test]
    fn orders_name_their_position_index_in_the_account_s_mode() {
        let body = |side: Side, reduce_only: bool, mode: Option<PositionMode>| {
            let o = OrderRequest {
                side,
                reduce_only,
                ..order(Exchange::Bybit, "0.01", None)
            };
            BYBIT
                .order_request(&ctx(), &creds(), &o, &btc_rules("65000", mode))
                .unwrap_or_else(|e| panic!("{e}"))
                .body
                .unwrap_or_default()
        };
        let hedge = Some(PositionMode::Hedge);
        for (side, reduce_only, idx) in [
            (Side::Buy, false, 1),
            (Side::Sell, true, 1),
            (Side::Sell, false, 2),
            (Side::Buy, true, 2),
        ] {
            let b = body(side, reduce_only, hedge);
            assert!(
                b.contains(&format!(
                    r#""timeInForce":"IOC","positionIdx":{idx},"reduceOnly":{reduce_only},"#
                )),
                "{b}"
            );
        }
        let one_way = body(Side::Sell, true, Some(PositionMode::OneWay));
        assert!(
            one_way.contains(r#""positionIdx":0,"reduceOnly":true"#),
            "{one_way}"
        );
        assert!(!body(Side::Buy, false, None).contains("positionIdx"));
    }

    /// The response example of "Get Position Info", verbatim (an inverse symbol: the linear
    /// rows have the same fields), as a one-way account answers.
    const DOC_POSITION: &str = r#"{"retCode":0,"retMsg":"OK","result":{"list":[{"positionIdx":0,"riskId":1,"riskLimitValue":"150","symbol":"BTCUSD","side":"Sell","size":"300","avgPrice":"27464.50441675","positionValue":"0.01092319","tradeMode":0,"positionStatus":"Normal","autoAddMargin":1,"adlRankIndicator":2,"leverage":"10","breakEvenPrice":"93556.73034991","positionBalance":"0.00139186","markPrice":"28224.50","liqPrice":"","bustPrice":"999999.00","positionMM":"0.0000015","positionMMByMp":"0.0000015","positionIM":"0.00010923","positionIMByMp":"0.00010923","tpslMode":"Full","takeProfit":"0.00","stopLoss":"0.00","trailingStop":"0.00","unrealisedPnl":"-0.00029413","curRealisedPnl":"0.00013123","cumRealisedPnl":"-0.00096902","seq":5723621632,"isReduceOnly":false,"mmrSysUpdateTime":"","leverageSysUpdatedTime":"","sessionAvgPrice":"","createdTime":"1676538056258","updatedTime":"1697673600012"}],"nextPageCursor":"","category":"inverse"},"retExtInfo":{},"time":1697684980172}"#;

    /// Issue 13, item 7: the mode is read from the symbol's position rows ("If `symbol`
    /// passed, it returns data regardless of having position or not"): `positionIdx` 0 is
    /// one-way, 1 and 2 are hedge. No row for the symbol: no mode is guessed.
    #[test]
    fn reads_the_position_mode_from_the_position_rows() {
        let r = BYBIT.position_mode_request(&ctx(), &creds(), &sym("BTCUSDT"));
        let query = "category=linear&symbol=BTCUSDT";
        assert_eq!(r.method, Method::Get);
        assert_eq!(
            r.url,
            format!("https://api.bybit.com/v5/position/list?{query}")
        );
        assert_eq!(
            header(&r, "X-BAPI-SIGN"),
            sign("test-secret", &format!("1700000000000test-key5000{query}"))
        );
        let mode = |s: &str, body: &str| BYBIT.parse_position_mode(&sym(s), &response(200, body));
        assert_eq!(mode("BTCUSD", DOC_POSITION), Ok(PositionMode::OneWay));
        let hedge = DOC_POSITION.replace(r#"{"positionIdx":0,"#, r#"{"positionIdx":1,"#);
        assert_eq!(mode("BTCUSD", &hedge), Ok(PositionMode::Hedge));
        let retry = Some(ErrorClass::Retryable {
            retry_after_seconds: None,
        });
        assert_eq!(mode("BTCUSDT", DOC_POSITION).err().map(|e| e.class), retry);
        let empty =
            r#"{"retCode":0,"retMsg":"OK","result":{"list":[],"category":"linear"},"time":1}"#;
        assert_eq!(mode("BTCUSD", empty).err().map(|e| e.class), retry);
        let o = order(Exchange::Bybit, "0.01", None);
        let refused = |code: i64| {
            let body = format!(r#"{{"retCode":{code},"retMsg":"x","result":{{}},"time":1}}"#);
            BYBIT
                .parse_order(&o, &response(200, &body))
                .err()
                .map(|e| BYBIT.refuses_position_mode(&e))
        };
        assert_eq!(refused(10001), Some(true));
        assert_eq!(refused(110007), Some(false));
    }
}
