//! Binance USDⓈ-M futures: instrument rules from `exchangeInfo`, leverage, order placement and
//! lookup by `newClientOrderId`, with Binance's HTTP-status-first error model.
//!
//! Binance accepts a reused `newClientOrderId` once the earlier order is no longer open, so the
//! exchange is no guard against a second order: the idempotency claim is. Any 5xx on a submit
//! leaves the order's fate unknown and is classified so the worker looks it up before anything
//! else.
//!
//! **Take-profit and stop-loss** are conditional orders of Binance's Algo Service, placed after
//! the entry fills ([`ProtectiveOrders`]); the entry order carries neither. From the official
//! connector (`binance/binance-connector-python`, `clients/derivatives_trading_usds_futures`,
//! commit `29da329`): "New Algo Order (TRADE)", `POST /fapi/v1/algoOrder`,
//! <https://developers.binance.com/en/docs/catalog/core-trading-derivatives-trading-usd-s-m-futures/api/rest-api/trade#new-algo-order>
//! ("Use this endpoint to place **TP/SL (Take Profit / Stop Loss)** … Supported order types
//! under `algoType=CONDITIONAL` are `STOP_MARKET`, `TAKE_PROFIT_MARKET`, `STOP`, `TAKE_PROFIT`,
//! and `TRAILING_STOP_MARKET`"; mandatory `algoType`, `symbol`, `side`, `type`; `triggerPrice`;
//! `workingType` "MARK_PRICE, CONTRACT_PRICE. Default CONTRACT_PRICE"; `closePosition` "Cannot
//! be used with `quantity`", "Cannot be used with `reduceOnly`"; `clientAlgoId` "A unique id
//! among open orders … `^[.A-Z:/a-z0-9_-]{1,36}$`"; the answer's `algoId`, `clientAlgoId`,
//! `algoStatus`, `triggerPrice`, `quantity`), and "Query Algo Order (USER_DATA)", `GET
//! /fapi/v1/algoOrder` ("Either `algoId` or `clientAlgoId` must be sent."). The same page's
//! WebSocket twin, "New Algo Order(TRADE)",
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/websocket-api/New-Algo-Order>,
//! lists the same parameters. The connector's 5.0.0 release (2025-12-22) deleted `stopPrice`,
//! `closePosition`, `workingType`, `priceProtect` from "New Order" (`POST /fapi/v1/order`),
//! which since Binance's 2025-12-09 migration answers the conditional types with -4120 "Order
//! type not supported for this endpoint. Please use the Algo Order API endpoints instead." (the
//! answer quoted in, e.g., `binance/binance-futures-connector-python` issue 251 and
//! `JKorf/Binance.Net` issue 1542; Binance's change log entry is
//! <https://developers.binance.com/docs/derivatives/change-log#2025-11-06>).
//!
//! hoox places, for an entry that filled `q`: `TAKE_PROFIT_MARKET` and `STOP_MARKET` on the
//! opposite side with `quantity=q` (this signal's fill, not the whole position, which other
//! signals may share: `closePosition` would close theirs too), written for the account's
//! position mode as the entry was (the algo order's `positionSide` and `reduceOnly` read as
//! "New Order"'s, below): `reduceOnly=true` on a one-way account, the entry's `positionSide`
//! (`LONG` for a buy, `SHORT` for a sell) and no `reduceOnly` on a hedge-mode one,
//! `workingType=MARK_PRICE` (the price the notional cap is judged at), `clientAlgoId` = the
//! entry's client order id + `-tp` / `-sl`. The documentation names no code for an unknown
//! `clientAlgoId`; "Query Order"'s -2013 "Order does not exist." is read as not found, and any
//! other refusal of a lookup is an error (never a reason to place again).
//!
//! The reference price is the mark price of `GET /fapi/v1/premiumIndex?symbol=BTCUSDT` →
//! `markPrice` (a string; one object with `symbol`, an array of them when no symbol is sent), as
//! documented in "Mark Price" (Mark Price and Funding Rate, weight 1),
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Mark-Price>.
//! A symbol Binance does not list is HTTP 400 `{"code":-1121,"msg":"Invalid symbol."}`, the
//! example payload of "Error Codes",
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures/error-code>: terminal.
//!
//! What the rest rests on (Binance's USDⓈ-M documentation, and its official connector
//! `binance/binance-connector-python`, `clients/derivatives_trading_usds_futures`, checked at
//! commit `29da329`):
//!
//! - **Submit answers** — "New Order (TRADE)",
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api>
//!   (the connector's `new_order` docstring): "If `newOrderRespType` is sent as `RESULT`:
//!   `MARKET` order: the final FILLED result of the order will be returned directly. `LIMIT`
//!   order with special `timeInForce`: the final status result of the order (FILLED or
//!   EXPIRED) will be returned directly." The answer's `status` is an order status: `NEW`,
//!   `PARTIALLY_FILLED`, `FILLED`, `CANCELED`, `EXPIRED`, `EXPIRED_IN_MATCH` ("Event: Order
//!   Update", <https://developers.binance.com/docs/derivatives/usds-margined-futures/user-data-streams/Event-Order-Update>),
//!   or `REJECTED`. A final status with nothing executed (`EXPIRED`, `EXPIRED_IN_MATCH`,
//!   `CANCELED`, `REJECTED` and `executedQty` 0) is a definite refusal: terminal, no order
//!   position. The same statuses with something executed are a fill of that part.
//! - **Amounts** — the documented response example carries `executedQty`, `cumQuote` and
//!   `avgPrice`; the connector's `NewOrderResponse` model has `executedQty` and `cumQty` but
//!   neither `cumQuote` nor `avgPrice`, so the average is `avgPrice`, else
//!   `cumQuote / executedQty`, else unknown (never made up). "Query Order (USER_DATA)" answers
//!   `avgPrice`, `cumQuote`, `executedQty`, `status`, and "These orders will not be found:
//!   order status is `CANCELED` or `EXPIRED` **AND** order has NO filled trade **AND** created
//!   time + 3 days < current time; order create time + 90 days < current time".
//! - **HTTP codes** — "General Info",
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info>:
//!   "HTTP 408 return code is used when a timeout has occurred while waiting for a response
//!   from the backend server": on a submit the order may exist (Unknown, look it up), on a
//!   read it is retried. "HTTP 5XX … It is important to NOT treat this as a failure
//!   operation; the execution status is UNKNOWN and could have been a success".
//! - **Error codes** — "Error Codes" (above): `-5028 ME_RECVWINDOW_REJECT` "Timestamp for
//!   this request is outside of the ME recvWindow.", refused by the matching engine before
//!   processing like `-1021 INVALID_TIMESTAMP`: retryable with a fresh timestamp.
//! - **Size rules** — "Filters" of "Public Endpoints Info",
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/common-definition>:
//!   `LOT_SIZE` (`minQty`, `maxQty`, `stepSize`), `MARKET_LOT_SIZE` ("the quantity … rules for
//!   MARKET orders": its own `minQty`, `maxQty`, `stepSize`) and `MIN_NOTIONAL.notional` ("An
//!   order's notional value is the price * quantity. Since MARKET orders have no price, the
//!   mark price is used"). The notional is per symbol and Binance "will adjust the threshold
//!   from time to time without prior announcement, users can check via API" ("Contract
//!   Specifications of USDⓈ-M Futures", <https://www.binance.com/en/support/articles/360033161972>,
//!   which also says "“Reduce-Only” order is not affected"): BTCUSDT's has been 100 USDT and
//!   ETHUSDT's 20 since 2023-11-02 (5 is the documented example's and most symbols'), so it is
//!   read from `exchangeInfo`, never written here. Breaking one is refused before sending with
//!   the rule's name and numbers; Binance's own codes for them are `-4004` "Quantity less than
//!   min quantity.", `-4005` "Quantity greater than max quantity." and `-4164 MIN_NOTIONAL`
//!   "Order's notional must be no smaller than %s (unless you choose reduce only)" ("Error
//!   Codes").
//! - **Position mode** — "Get Current Position Mode (USER_DATA)", `GET
//!   /fapi/v1/positionSide/dual` (weight 30) → `dualSidePosition`, "true": Hedge Mode;
//!   "false": One-way Mode, for every symbol of the account (the connector's
//!   `get_current_position_mode`). "New Order": `positionSide` "Default `BOTH` for One-way
//!   Mode; `LONG` or `SHORT` for Hedge Mode. It must be sent in Hedge Mode", `reduceOnly`
//!   "Cannot be sent in Hedge Mode". So a hedge-mode order names its side (a close is the
//!   opposite side of its position) and is never `reduceOnly`; a one-way order is written as
//!   before. `-4061 POSITION_SIDE_NOT_MATCH` "Order's position side does not match user's
//!   setting." means the mode changed since it was read: retryable, and the mode is read
//!   again; `-1106` "Parameter '%s' sent when not required." is what `reduceOnly` in hedge
//!   mode gets.

use crate::order::{OrderRequest, PreTradeError, Side};
use crate::precision::{check_limits, fit, round_down_to_step, round_to_tick, RuleNames};
use crate::protect::{self, ProtectiveOrders};
use crate::signing::binance_signature;
use crate::venue::{
    Context, Credentials, ErrorClass, ExchangeError, HttpRequest, HttpResponse, Instrument, Limits,
    Method, Placement, PositionMode, PriceKind, QueryResult, ReferencePrice, Venue,
};
use crate::wire::{
    average_price, decimal, error, excerpt, not_tradable, parse_json, plain, query_string,
    reference_price, refused, retry_after, text, Call,
};
use contracts::amount;
use contracts::event::{OrderAck, ProtectiveKind, ProtectiveOrder};
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
/// "Timestamp for this request is outside of the ME recvWindow." (ME_RECVWINDOW_REJECT).
pub const ME_RECV_WINDOW_REJECT: i64 = -5028;

/// "Order's position side does not match user's setting." (POSITION_SIDE_NOT_MATCH): the
/// account's position mode is not the one the order was written for.
pub const POSITION_SIDE_NOT_MATCH: i64 = -4061;
/// "Order's notional must be no smaller than %s (unless you choose reduce only)".
pub const MIN_NOTIONAL: i64 = -4164;

/// Binance's names for its size rules ("Filters", "Public Endpoints Info").
const RULES: RuleNames = RuleNames {
    venue: "Binance",
    max_qty: "LOT_SIZE.maxQty",
    max_market_qty: "MARKET_LOT_SIZE.maxQty",
    min_notional: "MIN_NOTIONAL",
    splits_reduce_only_over_max: false,
};

/// Order statuses that end an order: with nothing executed, no position came of it.
const ENDED_STATUSES: [&str; 4] = ["EXPIRED", "EXPIRED_IN_MATCH", "CANCELED", "REJECTED"];

/// The Binance USDⓈ-M futures adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Binance;

pub static BINANCE: Binance = Binance;

/// Positions, the USDT wallet and fees: [`crate::account::Account`].
mod account;
/// Server-side stops: [`crate::stops::ServerStops`].
mod stops;

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

    /// A signed `DELETE`, its parameters in the query string as a `GET`'s.
    fn signed_delete(
        ctx: &Context,
        creds: &Credentials,
        path: &str,
        params: &[(&str, String)],
    ) -> HttpRequest {
        HttpRequest {
            method: Method::Delete,
            ..Self::signed_get(ctx, creds, path, params)
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
        // "a timeout has occurred while waiting for a response from the backend server": the
        // request may have been processed, so a submit's order may exist.
        408 => fail(call.unclear()),
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
        // Rejected before matching (by the API or by the matching engine's own window); a
        // fresh timestamp may pass.
        Some(INVALID_TIMESTAMP | ME_RECV_WINDOW_REJECT) => ErrorClass::Retryable {
            retry_after_seconds: None,
        },
        // An open order already holds this id: an earlier attempt reached Binance.
        Some(DUPLICATE_CLIENT_ORDER_ID) => ErrorClass::Unknown,
        // The account's position mode changed since it was read: refused before placement,
        // and the next attempt reads the mode again (the port forgets it on a refusal).
        Some(POSITION_SIDE_NOT_MATCH) => ErrorClass::Retryable {
            retry_after_seconds: None,
        },
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
    let filled = json
        .get("executedQty")
        .and_then(decimal)
        .unwrap_or(Decimal::ZERO);
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
        filled_quantity: filled,
        average_price: average_price(json.get("avgPrice"), json.get("cumQuote"), filled),
    })
}

/// A submit answer whose order already ended with nothing executed (a RESULT answer `EXPIRED`,
/// `EXPIRED_IN_MATCH`, `CANCELED` or `REJECTED` with `executedQty` 0): a definite refusal, no
/// position. Anything else is the order as it stands.
fn refused_unfilled(ack: OrderAck, status: u16) -> Result<OrderAck, ExchangeError> {
    if ack.filled_quantity.is_zero() && ENDED_STATUSES.contains(&ack.status.as_str()) {
        return Err(error(
            Exchange::Binance,
            ErrorClass::Terminal,
            status,
            None,
            format!(
                "order {} ended {} with nothing executed: no order, no position",
                ack.exchange_order_id, ack.status
            ),
        ));
    }
    Ok(ack)
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
        // The other size rules, where the symbol lists them ("Filters" of "Public Endpoints
        // Info"); a missing one is left to Binance to check.
        let optional = |kind: &str, field: &str| filter(kind, field).ok();
        Ok(Instrument {
            symbol: wanted.clone(),
            qty_step: filter("LOT_SIZE", "stepSize")?,
            min_qty: filter("LOT_SIZE", "minQty")?,
            tick_size: filter("PRICE_FILTER", "tickSize")?,
            contract_size: Decimal::ONE,
            limits: Limits {
                max_qty: optional("LOT_SIZE", "maxQty"),
                market_qty_step: optional("MARKET_LOT_SIZE", "stepSize"),
                market_min_qty: optional("MARKET_LOT_SIZE", "minQty"),
                max_market_qty: optional("MARKET_LOT_SIZE", "maxQty"),
                min_notional: optional("MIN_NOTIONAL", "notional"),
            },
            placement: Placement::default(),
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

    /// `GET /fapi/v1/positionSide/dual` ("Get Current Position Mode"): the mode of every
    /// symbol of the account.
    fn position_mode_request(
        &self,
        ctx: &Context,
        creds: &Credentials,
        _symbol: &Symbol,
    ) -> HttpRequest {
        Self::signed_get(ctx, creds, "/fapi/v1/positionSide/dual", &[])
    }

    /// `{"dualSidePosition": true}`: "true": Hedge Mode; "false": One-way Mode.
    fn parse_position_mode(
        &self,
        _symbol: &Symbol,
        resp: &HttpResponse,
    ) -> Result<PositionMode, ExchangeError> {
        let json = answer(Call::Account, resp)?;
        match json.get("dualSidePosition").and_then(Value::as_bool) {
            Some(true) => Ok(PositionMode::Hedge),
            Some(false) => Ok(PositionMode::OneWay),
            None => Err(error(
                Exchange::Binance,
                Call::Account.unclear(),
                resp.status,
                None,
                format!(
                    "dualSidePosition missing from the position mode answer: {}",
                    excerpt(&resp.body)
                ),
            )),
        }
    }

    /// -4061 "Order's position side does not match user's setting.", and -1106 (a
    /// parameter "sent when not required", as `reduceOnly` is in hedge mode).
    fn refuses_position_mode(&self, e: &ExchangeError) -> bool {
        e.code.as_deref() == Some(POSITION_SIDE_NOT_MATCH.to_string().as_str())
            || e.code.as_deref() == Some("-1106")
    }

    /// The entry order only: Binance takes no take-profit/stop-loss on the entry itself (they
    /// are the separate conditional orders of [`ProtectiveOrders`], placed once it filled). A
    /// limit entry or a close with either is refused rather than sent without it: a resting
    /// limit order's later fills are not followed, and a close has nothing to protect.
    ///
    /// In hedge mode the order names its position, `positionSide` `LONG` or `SHORT` ("It must
    /// be sent in Hedge Mode"), and a close is that side's opposite (`SELL` `LONG` closes a
    /// long) without `reduceOnly` ("Cannot be sent in Hedge Mode"). In one-way mode no
    /// `positionSide` is sent (it defaults to `BOTH`) and a close is `reduceOnly`.
    fn order_request(
        &self,
        ctx: &Context,
        creds: &Credentials,
        order: &OrderRequest,
        instrument: &Instrument,
    ) -> Result<HttpRequest, ExchangeError> {
        if protect::asks_for_protection(order) {
            if order.reduce_only {
                return Err(refused(
                    Exchange::Binance,
                    PreTradeError::ProtectionOnClose.to_string(),
                ));
            }
            if order.order_type == OrderType::Limit {
                return Err(refused(
                    Exchange::Binance,
                    "Binance takes take-profit/stop-loss only as conditional orders placed once the entry has filled, and hoox does not follow a resting limit order's later fills: send a market entry, or the limit entry without takeProfit/stopLoss",
                ));
            }
        }
        let sized = fit(order, instrument)?;
        check_limits(order, instrument, &sized, &RULES)?;
        let hedge = instrument.placement.position_mode == Some(PositionMode::Hedge);
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
        ];
        if hedge {
            // A buy opens a long or closes a short; a sell opens a short or closes a long.
            let long = (order.side == Side::Buy) != order.reduce_only;
            params.push(("positionSide", if long { "LONG" } else { "SHORT" }.into()));
        }
        params.push((
            "type",
            match order.order_type {
                OrderType::Market => "MARKET",
                OrderType::Limit => "LIMIT",
            }
            .into(),
        ));
        if order.order_type == OrderType::Limit {
            params.push(("timeInForce", "GTC".into()));
        }
        params.push(("quantity", plain(sized.quantity)));
        if order.order_type == OrderType::Limit {
            if let Some(price) = sized.price {
                params.push(("price", plain(price)));
            }
        }
        // Sent only on closes, and never in hedge mode, which refuses it.
        if order.reduce_only && !hedge {
            params.push(("reduceOnly", "true".into()));
        }
        params.push(("newClientOrderId", order.client_order_id.clone()));
        // RESULT: a market order's answer is its final state (FILLED, or EXPIRED with what
        // executed, possibly nothing), with quantity and price.
        params.push(("newOrderRespType", "RESULT".into()));
        Ok(Self::signed_post(ctx, creds, "/fapi/v1/order", &params))
    }

    fn parse_order(
        &self,
        order: &OrderRequest,
        resp: &HttpResponse,
    ) -> Result<OrderAck, ExchangeError> {
        let json = answer(Call::Submit, resp)?;
        refused_unfilled(ack_of(order, &json)?, resp.status)
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

    fn separate_protection(&self) -> Option<&dyn ProtectiveOrders> {
        Some(self)
    }
}

/// `algoType` of every take-profit and stop-loss: "Only support CONDITIONAL".
const CONDITIONAL: &str = "CONDITIONAL";

/// A protective order from Binance's algo-order JSON (`NewAlgoOrderResponse`,
/// `QueryAlgoOrderResponse`): `algoId`, `clientAlgoId`, `algoStatus`, `triggerPrice`,
/// `quantity`.
fn protective_of(
    order: &OrderRequest,
    kind: ProtectiveKind,
    json: &Value,
) -> Result<ProtectiveOrder, ExchangeError> {
    let missing = |what: &str| {
        error(
            Exchange::Binance,
            ErrorClass::Unknown,
            200,
            None,
            format!(
                "{what} missing from algo order answer: {}",
                excerpt(&json.to_string())
            ),
        )
    };
    Ok(ProtectiveOrder {
        kind,
        client_id: json
            .get("clientAlgoId")
            .and_then(text)
            .unwrap_or_else(|| kind.client_id(&order.client_order_id)),
        exchange_id: json
            .get("algoId")
            .and_then(text)
            .ok_or_else(|| missing("algoId"))?,
        trigger_price: json
            .get("triggerPrice")
            .and_then(decimal)
            .or_else(|| protect::trigger(order, kind))
            .unwrap_or_default()
            .normalize(),
        quantity: json
            .get("quantity")
            .and_then(decimal)
            .unwrap_or_default()
            .normalize(),
        status: json
            .get("algoStatus")
            .and_then(text)
            .ok_or_else(|| missing("algoStatus"))?,
    })
}

impl ProtectiveOrders for Binance {
    fn protective_request(
        &self,
        ctx: &Context,
        creds: &Credentials,
        order: &OrderRequest,
        kind: ProtectiveKind,
        filled: Decimal,
        instrument: &Instrument,
    ) -> Result<HttpRequest, ExchangeError> {
        let what = kind.as_str();
        let trigger = protect::trigger(order, kind)
            .ok_or_else(|| refused(Exchange::Binance, format!("the order asks for no {what}")))?;
        let out_of_range = |e| {
            refused(
                Exchange::Binance,
                format!("{what} out of range ({e}); not placed"),
            )
        };
        let trigger = round_to_tick(trigger, instrument.tick_size).map_err(out_of_range)?;
        // Base units to the order unit (Binance's is the base asset: a contract size of 1).
        let units = amount::div(filled, instrument.contract_size).map_err(out_of_range)?;
        let quantity = round_down_to_step(units, instrument.qty_step).map_err(out_of_range)?;
        if trigger <= Decimal::ZERO || quantity <= Decimal::ZERO {
            return Err(refused(
                Exchange::Binance,
                format!(
                    "{what} of a fill of {} at {}: rounds to nothing on {}",
                    plain(filled),
                    plain(trigger),
                    instrument.symbol
                ),
            ));
        }
        // Written for the account's mode as the entry was (`instrument.placement`): in hedge
        // mode it names the entry's position (`positionSide` "It must be sent in Hedge Mode":
        // the opposite side of that position closes it) and is never `reduceOnly` ("Cannot be
        // sent in Hedge Mode"); in one-way mode it is `reduceOnly`.
        let hedge = instrument.placement.position_mode == Some(PositionMode::Hedge);
        let mut params: Vec<(&str, String)> = vec![
            ("algoType", CONDITIONAL.into()),
            ("symbol", instrument.symbol.clone()),
            // The opposite side of the entry: it closes what the entry opened.
            (
                "side",
                match order.side {
                    Side::Buy => "SELL",
                    Side::Sell => "BUY",
                }
                .into(),
            ),
        ];
        if hedge {
            // The entry opened (an entry never reduces: a close carries no protection).
            let long = order.side == Side::Buy;
            params.push(("positionSide", if long { "LONG" } else { "SHORT" }.into()));
        }
        params.extend([
            (
                "type",
                match kind {
                    ProtectiveKind::TakeProfit => "TAKE_PROFIT_MARKET",
                    ProtectiveKind::StopLoss => "STOP_MARKET",
                }
                .into(),
            ),
            ("quantity", plain(quantity)),
            ("triggerPrice", plain(trigger)),
            ("workingType", "MARK_PRICE".into()),
        ]);
        if !hedge {
            params.push(("reduceOnly", "true".into()));
        }
        params.push(("clientAlgoId", kind.client_id(&order.client_order_id)));
        Ok(Self::signed_post(ctx, creds, "/fapi/v1/algoOrder", &params))
    }

    fn parse_protective(
        &self,
        order: &OrderRequest,
        kind: ProtectiveKind,
        resp: &HttpResponse,
    ) -> Result<ProtectiveOrder, ExchangeError> {
        // A placement has the submit's failure model: an unclear answer may hide the order.
        let json = answer(Call::Submit, resp)?;
        protective_of(order, kind, &json)
    }

    fn protective_query_request(
        &self,
        ctx: &Context,
        creds: &Credentials,
        order: &OrderRequest,
        kind: ProtectiveKind,
    ) -> HttpRequest {
        Self::signed_get(
            ctx,
            creds,
            "/fapi/v1/algoOrder",
            &[("clientAlgoId", kind.client_id(&order.client_order_id))],
        )
    }

    fn parse_protective_query(
        &self,
        order: &OrderRequest,
        kind: ProtectiveKind,
        resp: &HttpResponse,
    ) -> Result<Option<ProtectiveOrder>, ExchangeError> {
        match answer(Call::Query, resp) {
            Ok(json) => protective_of(order, kind, &json)
                .map(Some)
                .map_err(|e| ExchangeError {
                    class: ErrorClass::Retryable {
                        retry_after_seconds: None,
                    },
                    ..e
                }),
            Err(e) if e.code.as_deref() == Some(&NO_SUCH_ORDER.to_string()) => Ok(None),
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

    /// Issue 13, item 2: the entry never carries them (they are conditional orders placed after
    /// the fill), and an entry whose protection hoox could not place is refused before it is
    /// sent: a limit entry (its later fills are not followed) or a close (nothing to protect).
    #[test]
    fn an_entry_carries_no_protection_and_a_limit_or_close_with_one_is_refused() {
        let c = ctx_at(MAINNET);
        let btc = instrument("BTCUSDT", "0.001", "0.001", "0.1", "1");
        let mut o = order(Exchange::Binance, "0.01", None);
        o.take_profit = Some(d("70000"));
        o.stop_loss = Some(d("60000"));
        let body = BINANCE
            .order_request(&c, &creds(), &o, &btc)
            .unwrap_or_else(|e| panic!("{e}"))
            .body
            .unwrap_or_default();
        assert!(
            body.starts_with("symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.01&newClientOrderId="),
            "{body}"
        );
        for (order_type, reduce_only, why) in [
            (OrderType::Limit, false, "resting limit"),
            (OrderType::Market, true, "closing signal"),
        ] {
            let o = OrderRequest {
                order_type,
                reduce_only,
                price: Some(d("65000")),
                ..o.clone()
            };
            let e = BINANCE.order_request(&c, &creds(), &o, &btc).err();
            assert_eq!(e.as_ref().map(|e| e.class), Some(ErrorClass::Terminal));
            assert!(
                e.map(|e| e.message).unwrap_or_default().contains(why),
                "{why}"
            );
        }
    }

    /// The protective orders of a buy that filled 0.012: a `TAKE_PROFIT_MARKET` and a
    /// `STOP_MARKET` SELL of exactly that quantity, reduce-only, triggered by the mark price,
    /// under the entry's client order id + `-tp` / `-sl`, signed like every TRADE endpoint.
    #[test]
    fn protective_orders_are_conditional_algo_orders_of_the_fill() {
        let c = ctx_at(MAINNET);
        let btc = instrument("BTCUSDT", "0.001", "0.001", "0.1", "1");
        let mut o = order(Exchange::Binance, "0.0129", None);
        o.take_profit = Some(d("70000.04"));
        o.stop_loss = Some(d("60000.06"));
        let p = BINANCE
            .separate_protection()
            .expect("Binance places them apart");
        let tp = p
            .protective_request(
                &c,
                &creds(),
                &o,
                ProtectiveKind::TakeProfit,
                d("0.012"),
                &btc,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let total = "algoType=CONDITIONAL&symbol=BTCUSDT&side=SELL&type=TAKE_PROFIT_MARKET&quantity=0.012&triggerPrice=70000&workingType=MARK_PRICE&reduceOnly=true&clientAlgoId=hx0123456789abcdef0123456789abcd-tp&recvWindow=5000&timestamp=1700000000000";
        assert_eq!(tp.method, Method::Post);
        assert_eq!(tp.url, "https://fapi.binance.com/fapi/v1/algoOrder");
        assert_eq!(
            tp.body,
            Some(format!("{total}&signature={}", sign("test-secret", total)))
        );
        o.side = Side::Sell;
        let sl = p
            .protective_request(
                &c,
                &creds(),
                &o,
                ProtectiveKind::StopLoss,
                d("0.0125"),
                &btc,
            )
            .unwrap_or_else(|e| panic!("{e}"))
            .body
            .unwrap_or_default();
        assert!(sl.starts_with("algoType=CONDITIONAL&symbol=BTCUSDT&side=BUY&type=STOP_MARKET&quantity=0.012&triggerPrice=60000.1&workingType=MARK_PRICE&reduceOnly=true&clientAlgoId=hx0123456789abcdef0123456789abcd-sl&"), "{sl}");
        // A fill that rounds to nothing, or a price the order never asked for, is not placed.
        let e = p.protective_request(
            &c,
            &creds(),
            &o,
            ProtectiveKind::StopLoss,
            d("0.0005"),
            &btc,
        );
        assert_eq!(e.err().map(|e| e.class), Some(ErrorClass::Terminal));
        o.take_profit = None;
        let e = p.protective_request(&c, &creds(), &o, ProtectiveKind::TakeProfit, d("1"), &btc);
        assert_eq!(e.err().map(|e| e.class), Some(ErrorClass::Terminal));
        let q = p.protective_query_request(&c, &creds(), &o, ProtectiveKind::StopLoss);
        let total = "clientAlgoId=hx0123456789abcdef0123456789abcd-sl&recvWindow=5000&timestamp=1700000000000";
        assert_eq!(
            q.url,
            format!(
                "https://fapi.binance.com/fapi/v1/algoOrder?{total}&signature={}",
                sign("test-secret", total)
            )
        );
    }

    /// Issue 13, items 2 and 7: the protective orders are written for the account's position
    /// mode as the entry was. In hedge mode they name the entry's position (`positionSide` "It
    /// must be sent in Hedge Mode") and never say `reduceOnly` ("Cannot be sent in Hedge
    /// Mode"); on a one-way account (or one whose mode was not read) they are `reduceOnly`.
    #[test]
    fn protective_orders_are_written_for_the_position_mode() {
        let c = ctx_at(MAINNET);
        let p = BINANCE
            .separate_protection()
            .expect("Binance places them apart");
        let body = |side: Side, kind: ProtectiveKind, mode: Option<PositionMode>| {
            let mut o = order(Exchange::Binance, "0.01", None);
            o.side = side;
            let (above, below) = (d("70000"), d("60000"));
            (o.take_profit, o.stop_loss) = match side {
                Side::Buy => (Some(above), Some(below)),
                Side::Sell => (Some(below), Some(above)),
            };
            let mut i = instrument("BTCUSDT", "0.001", "0.001", "0.1", "1");
            i.placement.position_mode = mode;
            let body = p
                .protective_request(&c, &creds(), &o, kind, d("0.01"), &i)
                .unwrap_or_else(|e| panic!("{e}"))
                .body
                .unwrap_or_default();
            body[..body.find("&recvWindow=").unwrap_or(body.len())].to_owned()
        };
        let hedge = Some(PositionMode::Hedge);
        assert_eq!(
            body(Side::Buy, ProtectiveKind::TakeProfit, hedge),
            "algoType=CONDITIONAL&symbol=BTCUSDT&side=SELL&positionSide=LONG&type=TAKE_PROFIT_MARKET&quantity=0.01&triggerPrice=70000&workingType=MARK_PRICE&clientAlgoId=hx0123456789abcdef0123456789abcd-tp"
        );
        assert_eq!(
            body(Side::Sell, ProtectiveKind::StopLoss, hedge),
            "algoType=CONDITIONAL&symbol=BTCUSDT&side=BUY&positionSide=SHORT&type=STOP_MARKET&quantity=0.01&triggerPrice=70000&workingType=MARK_PRICE&clientAlgoId=hx0123456789abcdef0123456789abcd-sl"
        );
        for mode in [Some(PositionMode::OneWay), None] {
            assert_eq!(
                body(Side::Buy, ProtectiveKind::StopLoss, mode),
                "algoType=CONDITIONAL&symbol=BTCUSDT&side=SELL&type=STOP_MARKET&quantity=0.01&triggerPrice=60000&workingType=MARK_PRICE&reduceOnly=true&clientAlgoId=hx0123456789abcdef0123456789abcd-sl"
            );
        }
    }

    /// An answer in the shape of the connector's `NewAlgoOrderResponse`.
    const ALGO_ANSWER: &str = r#"{"algoId":2146760,"clientAlgoId":"hx0123456789abcdef0123456789abcd-sl","algoType":"CONDITIONAL","orderType":"STOP_MARKET","symbol":"BTCUSDT","side":"SELL","positionSide":"BOTH","timeInForce":"GTC","quantity":"0.012","algoStatus":"NEW","triggerPrice":"60000.10","price":"0.00","icebergQuantity":null,"selfTradePreventionMode":"EXPIRE_MAKER","workingType":"MARK_PRICE","priceMatch":"NONE","closePosition":false,"priceProtect":false,"reduceOnly":true,"activatePrice":"","callbackRate":"","createTime":1750485492076,"updateTime":1750485492076,"triggerTime":0,"goodTillDate":0}"#;

    #[test]
    fn protective_answers_are_read_and_classified() {
        let mut o = order(Exchange::Binance, "0.012", None);
        o.stop_loss = Some(d("60000.1"));
        let p = BINANCE
            .separate_protection()
            .expect("Binance places them apart");
        let placed = p
            .parse_protective(&o, ProtectiveKind::StopLoss, &response(200, ALGO_ANSWER))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            placed,
            ProtectiveOrder {
                kind: ProtectiveKind::StopLoss,
                client_id: "hx0123456789abcdef0123456789abcd-sl".into(),
                exchange_id: "2146760".into(),
                trigger_price: d("60000.1"),
                quantity: d("0.012"),
                status: "NEW".into(),
            }
        );
        let class = |status: u16, body: &str| {
            p.parse_protective(&o, ProtectiveKind::StopLoss, &response(status, body))
                .err()
                .map(|e| e.class)
        };
        // It may exist: look it up, never place it again blindly.
        assert_eq!(class(503, ""), Some(ErrorClass::Unknown));
        assert_eq!(
            class(
                400,
                r#"{"code":-4116,"msg":"ClientOrderId is duplicated."}"#
            ),
            Some(ErrorClass::Unknown)
        );
        assert_eq!(
            class(
                400,
                r#"{"code":-2021,"msg":"Order would immediately trigger."}"#
            ),
            Some(ErrorClass::Terminal)
        );
        // Lookups: found, not found, and a refusal that proves nothing.
        let found =
            p.parse_protective_query(&o, ProtectiveKind::StopLoss, &response(200, ALGO_ANSWER));
        assert_eq!(
            found.ok().flatten().map(|f| f.exchange_id),
            Some("2146760".into())
        );
        let absent = p.parse_protective_query(
            &o,
            ProtectiveKind::StopLoss,
            &response(400, r#"{"code":-2013,"msg":"Order does not exist."}"#),
        );
        assert_eq!(absent, Ok(None));
        let other = p.parse_protective_query(
            &o,
            ProtectiveKind::StopLoss,
            &response(
                400,
                r#"{"code":-1102,"msg":"Mandatory parameter 'algoId' was not sent."}"#,
            ),
        );
        assert!(other.is_err());
        // The others attach them to the order.
        assert!(crate::bybit::BYBIT.separate_protection().is_none());
        assert!(crate::mexc::MEXC.separate_protection().is_none());
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
        let mut expected = instrument("BTCUSDT", "0.001", "0.001", "0.1", "1");
        expected.limits = Limits {
            max_qty: Some(d("1000")),
            market_qty_step: Some(d("0.001")),
            market_min_qty: Some(d("0.001")),
            max_market_qty: Some(d("120")),
            min_notional: None,
        };
        assert_eq!(
            BINANCE.parse_instrument(&sym, &response(200, body)),
            Ok(expected)
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
            .replace("\"avgPrice\":\"65000.00\"", "\"avgPrice\":\"0.00000\"")
            .replace("\"cumQty\":\"0.010\"", "\"cumQty\":\"0\"")
            .replace("\"cumQuote\":\"650.00\"", "\"cumQuote\":\"0\"")
            .replace("\"executedQty\":\"0.010\"", "\"executedQty\":\"0\"");
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

    /// The response example of "New Order (TRADE)", verbatim, as a MARKET order's RESULT answer
    /// would carry it once it ended: `status`, `executedQty`, `cumQuote`, `avgPrice` replaced.
    const DOC_NEW_ORDER: &str = r#"{
  "clientOrderId": "testOrder",
  "cumQty": "0",
  "cumQuote": "0",
  "executedQty": "0",
  "orderId": 22542179,
  "avgPrice": "0.00000",
  "origQty": "10",
  "price": "0",
  "reduceOnly": false,
  "side": "BUY",
  "positionSide": "SHORT",
  "status": "NEW",
  "stopPrice": "0",
  "closePosition": false,
  "symbol": "BTCUSDT",
  "timeInForce": "GTD",
  "type": "LIMIT",
  "origType": "LIMIT",
  "updateTime": 1566818724722,
  "workingType": "CONTRACT_PRICE",
  "priceProtect": false,
  "priceMatch": "NONE",
  "selfTradePreventionMode": "NONE",
  "goodTillDate": 1693207680000
}"#;

    fn ended(status: &str, executed: &str, quote: &str, avg: &str) -> String {
        DOC_NEW_ORDER
            .replace(r#""status": "NEW""#, &format!(r#""status": "{status}""#))
            .replace(
                r#""executedQty": "0""#,
                &format!(r#""executedQty": "{executed}""#),
            )
            .replace(r#""cumQty": "0""#, &format!(r#""cumQty": "{executed}""#))
            .replace(r#""cumQuote": "0""#, &format!(r#""cumQuote": "{quote}""#))
            .replace(
                r#""avgPrice": "0.00000""#,
                &format!(r#""avgPrice": "{avg}""#),
            )
    }

    /// Issue 13, item 4: a RESULT answer that ended with nothing executed (EXPIRED: "the order
    /// was canceled according to the order type's rules"; EXPIRED_IN_MATCH; CANCELED;
    /// REJECTED) is a definite refusal: terminal, and no position comes of it.
    #[test]
    fn a_result_answer_that_ended_unfilled_is_a_refusal() {
        let o = order(Exchange::Binance, "10", None);
        for status in ["EXPIRED", "EXPIRED_IN_MATCH", "CANCELED", "REJECTED"] {
            let e = BINANCE
                .parse_order(&o, &response(200, &ended(status, "0", "0", "0.00000")))
                .err()
                .unwrap_or_else(|| panic!("{status} with nothing executed read as an order"));
            assert_eq!((e.status, e.class), (200, ErrorClass::Terminal), "{status}");
            assert!(e.message.contains(status), "{e}");
        }
        // A resting order and a filled one are orders.
        for status in ["NEW", "FILLED", "PARTIALLY_FILLED"] {
            assert!(
                BINANCE
                    .parse_order(&o, &response(200, &ended(status, "0", "0", "0")))
                    .is_ok(),
                "{status}"
            );
        }
    }

    /// Issue 13, item 3: EXPIRED with something executed (a MARKET order that took part of
    /// the book) is a fill of that part, at submit and at lookup; the status stays verbatim.
    #[test]
    fn an_order_that_expired_after_a_partial_fill_is_a_fill() {
        let o = order(Exchange::Binance, "10", None);
        let partly = ended("EXPIRED", "4", "260000.4", "65000.1");
        for ack in [
            BINANCE.parse_order(&o, &response(200, &partly)),
            match BINANCE.parse_query(&o, &response(200, &partly)) {
                Ok(QueryResult::Found(a)) => Ok(a),
                other => panic!("{other:?}"),
            },
        ] {
            let ack = ack.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(ack.status, "EXPIRED");
            assert_eq!(ack.filled_quantity, d("4"));
            assert_eq!(ack.average_price, Some(d("65000.1")));
        }
        for status in ["EXPIRED_IN_MATCH", "CANCELED"] {
            let ack = BINANCE
                .parse_order(
                    &o,
                    &response(200, &ended(status, "4", "260000.4", "65000.1")),
                )
                .unwrap_or_else(|e| panic!("{status}: {e}"));
            assert_eq!((ack.status.as_str(), ack.filled_quantity), (status, d("4")));
        }
    }

    /// Without `avgPrice` (the official connector's New Order model has none) the average is
    /// `cumQuote / executedQty`; with neither it is unknown, never made up.
    #[test]
    fn the_average_price_falls_back_to_the_cumulative_quote() {
        let o = order(Exchange::Binance, "10", None);
        let no_avg = ended("FILLED", "4", "260000.4", "0").replace(r#""avgPrice": "0","#, "");
        let ack = BINANCE
            .parse_order(&o, &response(200, &no_avg))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ack.average_price, Some(d("65000.1")));
        let neither = no_avg.replace(r#""cumQuote": "260000.4","#, "");
        let ack = BINANCE
            .parse_order(&o, &response(200, &neither))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((ack.filled_quantity, ack.average_price), (d("4"), None));
    }

    /// Issue 13, item 10, against "General Info" ("HTTP 408 return code is used when a
    /// timeout has occurred while waiting for a response from the backend server") and
    /// "Error Codes" (-5028 ME_RECVWINDOW_REJECT, "Timestamp for this request is outside of the
    /// ME recvWindow.").
    #[test]
    fn a_408_submit_is_unknown_and_5028_is_retryable() {
        let o = order(Exchange::Binance, "0.01", None);
        let submit = |status: u16, body: &str| {
            BINANCE
                .parse_order(&o, &response(status, body))
                .err()
                .map(|e| e.class)
        };
        // The order may exist: look it up before anything else.
        assert_eq!(submit(408, ""), Some(ErrorClass::Unknown));
        assert_eq!(
            submit(408, "<html>Request Timeout</html>"),
            Some(ErrorClass::Unknown)
        );
        // A read has nothing to hide: simply retried.
        assert_eq!(
            BINANCE
                .parse_query(&o, &response(408, ""))
                .err()
                .map(|e| e.class),
            Some(ErrorClass::Retryable {
                retry_after_seconds: None
            })
        );
        assert_eq!(
            submit(
                400,
                r#"{"code":-5028,"msg":"Timestamp for this request is outside of the ME recvWindow."}"#
            ),
            Some(ErrorClass::Retryable {
                retry_after_seconds: None
            })
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

    /// BTCUSDT's filters as Binance lists them: "Filters" of "Public Endpoints Info", with
    /// BTCUSDT's `MIN_NOTIONAL` at 100 (5 is the documented example's, and most symbols').
    const BTC_FILTERS: &str = r#"{"timezone":"UTC","symbols":[{"symbol":"BTCUSDT","status":"TRADING","filters":[{"filterType":"PRICE_FILTER","minPrice":"556.80","maxPrice":"4529764","tickSize":"0.10"},{"filterType":"LOT_SIZE","stepSize":"0.001","maxQty":"1000","minQty":"0.001"},{"filterType":"MARKET_LOT_SIZE","stepSize":"0.001","maxQty":"120","minQty":"0.001"},{"filterType":"MAX_NUM_ORDERS","limit":200},{"filterType":"MAX_NUM_ALGO_ORDERS","limit":10},{"filterType":"MIN_NOTIONAL","notional":"100"},{"filterType":"PERCENT_PRICE","multiplierUp":"1.0500","multiplierDown":"0.9500","multiplierDecimal":"4"}]}]}"#;

    fn btc_rules() -> Instrument {
        BINANCE
            .parse_instrument(&btc(), &response(200, BTC_FILTERS))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// `btc_rules()` as the live port hands them over: the mark price and the account's mode.
    fn placed(mark: &str, mode: Option<PositionMode>) -> Instrument {
        let mut i = btc_rules();
        i.placement = Placement {
            position_mode: mode,
            position: None,
            reference_price: Some(d(mark)),
        };
        i
    }

    fn refusal(o: &OrderRequest, i: &Instrument) -> Option<String> {
        BINANCE
            .order_request(&ctx_at(MAINNET), &creds(), o, i)
            .err()
            .map(|e| {
                assert_eq!((e.class, e.status), (ErrorClass::Terminal, 0), "{e}");
                e.message
            })
    }

    /// Issue 13, item 9: `MIN_NOTIONAL.notional` ("An order's notional value is the price *
    /// quantity. Since MARKET orders have no price, the mark price is used") and the market
    /// lot are read from `exchangeInfo`.
    #[test]
    fn reads_the_size_rules_of_exchange_info() {
        assert_eq!(
            btc_rules().limits,
            Limits {
                max_qty: Some(d("1000")),
                market_qty_step: Some(d("0.001")),
                market_min_qty: Some(d("0.001")),
                max_market_qty: Some(d("120")),
                min_notional: Some(d("100")),
            }
        );
    }

    /// Issue 13, item 9: 0.001 BTC at a 65000 mark is 65 USDT, under BTCUSDT's 100: refused
    /// before anything is signed, with the rule's numbers. A reduce-only order is not held to
    /// it ("“Reduce-Only” order is not affected", Contract Specifications of USDⓈ-M Futures).
    #[test]
    fn an_order_below_min_notional_is_refused_before_any_round_trip() {
        let i = placed("65000", Some(PositionMode::OneWay));
        let small = order(Exchange::Binance, "0.001", None);
        let m = refusal(&small, &i).unwrap_or_else(|| panic!("0.001 BTC was sent"));
        assert!(
            m.starts_with("notional 65 USDT below Binance's MIN_NOTIONAL 100 for BTCUSDT"),
            "{m}"
        );
        assert!(m.contains("reference price 65000"), "{m}");
        assert_eq!(refusal(&order(Exchange::Binance, "0.002", None), &i), None);
        let close = OrderRequest {
            side: Side::Sell,
            reduce_only: true,
            ..small.clone()
        };
        assert_eq!(refusal(&close, &i), None);
        // A limit order is valued at its own price.
        let limit = |price: &str| OrderRequest {
            order_type: OrderType::Limit,
            price: Some(d(price)),
            ..small.clone()
        };
        let m = refusal(&limit("65000"), &i).unwrap_or_default();
        assert!(m.contains("below Binance's MIN_NOTIONAL 100"), "{m}");
        assert_eq!(refusal(&limit("110000"), &i), None);
        // Without the exchange's price, a market order is valued at the sender's; without
        // either, Binance alone can tell.
        let mut unplaced = btc_rules();
        assert!(refusal(&order(Exchange::Binance, "0.001", Some("65000")), &unplaced).is_some());
        assert_eq!(refusal(&small, &unplaced), None);
        unplaced.limits.min_notional = None;
        assert_eq!(
            refusal(&order(Exchange::Binance, "0.001", Some("65000")), &unplaced),
            None
        );
    }

    /// Issue 13, item 9: a market order follows `MARKET_LOT_SIZE` (its own step, minimum and
    /// maximum), a limit order `LOT_SIZE`.
    #[test]
    fn market_orders_follow_the_market_lot_and_limit_orders_the_lot() {
        let mut i = placed("65000", None);
        let m = refusal(&order(Exchange::Binance, "130", None), &i).unwrap_or_default();
        assert!(
            m.starts_with("quantity 130 above Binance's MARKET_LOT_SIZE.maxQty 120 for BTCUSDT"),
            "{m}"
        );
        let limit = |qty: &str| OrderRequest {
            order_type: OrderType::Limit,
            price: Some(d("65000")),
            ..order(Exchange::Binance, qty, None)
        };
        assert_eq!(refusal(&limit("130"), &i), None);
        let m = refusal(&limit("1000.5"), &i).unwrap_or_default();
        assert!(
            m.starts_with("quantity 1000.5 above Binance's LOT_SIZE.maxQty 1000 for BTCUSDT"),
            "{m}"
        );
        // The market lot's own step and minimum.
        i.limits.market_qty_step = Some(d("0.01"));
        i.limits.market_min_qty = Some(d("0.01"));
        let r = BINANCE
            .order_request(
                &ctx_at(MAINNET),
                &creds(),
                &order(Exchange::Binance, "0.0199", None),
                &i,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(r.body.unwrap_or_default().contains("&quantity=0.01&"));
        let m = refusal(&order(Exchange::Binance, "0.009", None), &i).unwrap_or_default();
        assert!(m.contains("below the minimum order quantity 0.01"), "{m}");
        assert_eq!(refusal(&limit("0.009"), &i), None);
    }

    /// Issue 13, item 7: in hedge mode every order names its position (`positionSide`
    /// LONG or SHORT, "It must be sent in Hedge Mode") and none is `reduceOnly` ("Cannot be
    /// sent in Hedge Mode"): a close is the opposite side of its position. One-way orders are
    /// written as before.
    #[test]
    fn hedge_mode_orders_name_their_position_side_and_are_never_reduce_only() {
        let c = ctx_at(MAINNET);
        let body = |side: Side, reduce_only: bool, mode: Option<PositionMode>| {
            let o = OrderRequest {
                side,
                reduce_only,
                ..order(Exchange::Binance, "0.01", None)
            };
            let r = BINANCE
                .order_request(&c, &creds(), &o, &placed("65000", mode))
                .unwrap_or_else(|e| panic!("{e}"));
            let body = r.body.unwrap_or_default();
            body[..body.find("&newClientOrderId=").unwrap_or(body.len())].to_owned()
        };
        let hedge = Some(PositionMode::Hedge);
        for (side, reduce_only, expected) in [
            (
                Side::Buy,
                false,
                "symbol=BTCUSDT&side=BUY&positionSide=LONG&type=MARKET&quantity=0.01",
            ),
            (
                Side::Sell,
                true,
                "symbol=BTCUSDT&side=SELL&positionSide=LONG&type=MARKET&quantity=0.01",
            ),
            (
                Side::Sell,
                false,
                "symbol=BTCUSDT&side=SELL&positionSide=SHORT&type=MARKET&quantity=0.01",
            ),
            (
                Side::Buy,
                true,
                "symbol=BTCUSDT&side=BUY&positionSide=SHORT&type=MARKET&quantity=0.01",
            ),
        ] {
            assert_eq!(body(side, reduce_only, hedge), expected);
        }
        for mode in [Some(PositionMode::OneWay), None] {
            assert_eq!(
                body(Side::Sell, true, mode),
                "symbol=BTCUSDT&side=SELL&type=MARKET&quantity=0.01&reduceOnly=true"
            );
            assert_eq!(
                body(Side::Buy, false, mode),
                "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.01"
            );
        }
    }

    /// Issue 13, item 7: "Get Current Position Mode", `GET /fapi/v1/positionSide/dual`
    /// (USER_DATA, signed) → `{"dualSidePosition": true}` ("true": Hedge Mode; "false":
    /// One-way Mode). -4061 (POSITION_SIDE_NOT_MATCH) means the mode changed since it was
    /// read: refused, and worth a retry once it is read again.
    #[test]
    fn reads_the_position_mode() {
        let r = BINANCE.position_mode_request(&ctx_at(MAINNET), &creds(), &btc());
        let total = "recvWindow=5000&timestamp=1700000000000";
        assert_eq!(r.method, Method::Get);
        assert_eq!(
            r.url,
            format!(
                "https://fapi.binance.com/fapi/v1/positionSide/dual?{total}&signature={}",
                sign("test-secret", total)
            )
        );
        let mode = |body: &str| BINANCE.parse_position_mode(&btc(), &response(200, body));
        assert_eq!(
            mode(r#"{"dualSidePosition": true}"#),
            Ok(PositionMode::Hedge)
        );
        assert_eq!(
            mode(r#"{"dualSidePosition": false}"#),
            Ok(PositionMode::OneWay)
        );
        assert_eq!(
            mode("{}").err().map(|e| e.class),
            Some(ErrorClass::Retryable {
                retry_after_seconds: None
            })
        );
        let o = order(Exchange::Binance, "0.01", None);
        let e = BINANCE
            .parse_order(
                &o,
                &response(
                    400,
                    r#"{"code":-4061,"msg":"Order's position side does not match user's setting."}"#,
                ),
            )
            .err()
            .unwrap_or_else(|| panic!("-4061 read as an order"));
        assert_eq!(
            e.class,
            ErrorClass::Retryable {
                retry_after_seconds: None
            }
        );
        assert!(BINANCE.refuses_position_mode(&e));
        let reduce_only = BINANCE
            .parse_order(
                &o,
                &response(
                    400,
                    r#"{"code":-1106,"msg":"Parameter 'reduceonly' sent when not required."}"#,
                ),
            )
            .err()
            .unwrap_or_else(|| panic!("-1106 read as an order"));
        assert!(BINANCE.refuses_position_mode(&reduce_only));
        let balance = BINANCE
            .parse_order(
                &o,
                &response(400, r#"{"code":-2019,"msg":"Margin is insufficient."}"#),
            )
            .err()
            .unwrap_or_else(|| panic!("-2019 read as an order"));
        assert!(!BINANCE.refuses_position_mode(&balance));
    }
}
