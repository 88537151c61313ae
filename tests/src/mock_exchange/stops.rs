//! The mock exchanges' server-side stops, and their firing when a test moves the mark.
//!
//! - Bybit `POST /v5/position/trading-stop` (signed as every Bybit POST): `category` `linear`,
//!   `tpslMode` required, `positionIdx` of the account's mode (0 one-way, 1/2 hedge; another
//!   is 10001 "position idx not match position mode"), a position to protect (10001 "can not
//!   set tp/sl/ts for zero position"), a long's `stopLoss` below the mark and a short's above
//!   (10001 "StopLoss:… set for Buy position should lower than base_price:…??MarkPrice",
//!   Bybit's words, with its prices ×10⁴), `"0"` cancelling; `trailingStop` a price distance
//!   (`"0"` cancels), `activePrice` where it starts; the same protection again is 34040 "Not
//!   modified". Kept per (network, symbol, leg) ([`ServerStop`]).
//! - Binance's Algo Service takes `TRAILING_STOP_MARKET` too (`callbackRate` in [0.1, 10], else
//!   -1130 "Data sent for parameter 'callbackRate' is not valid."; a SELL's `activatePrice`
//!   at or below the mark, a BUY's at or above, -2021), lists open algo orders (`GET
//!   /fapi/v1/openAlgoOrders`) and cancels them (`DELETE /fapi/v1/algoOrder` by `algoId` or
//!   `clientAlgoId`, -2011 "Unknown order sent." for one not open).
//!
//! **Firing.** When a test sets a mark ([`super::MockExchanges::set_price`], `POST
//! /__mock/prices`), every stop of that exchange and symbol is judged at it: a trailing stop's
//! watermark follows the best mark since activation (a long's highest, a short's lowest) and
//! its stop sits `distance` (Bybit, a price) or `callbackRate` % (Binance) behind it; a stop
//! whose trigger the mark reached closes its position exactly as a reduce-only market order
//! would: an accepted order (client id `stop-<n>`), a fill record at the mark with its fee, the
//! leg reduced or gone. A fired Binance order is `FINISHED`; a Bybit stop is cleared with its
//! position ("The system will cancel these orders if the position is closed").

use super::account::fill_order;
use super::*;

/// One Bybit trading stop of a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerStop {
    pub testnet: bool,
    pub symbol: String,
    leg: Leg,
    /// The position's side: true long.
    pub long: bool,
    pub stop_loss: Option<Decimal>,
    pub trailing_distance: Option<Decimal>,
    pub active_price: Option<Decimal>,
    /// Best mark since the trailing stop activated (`None`: not active yet).
    pub watermark: Option<Decimal>,
}

/// Bybit quotes prices in its messages ×10⁴, as its answers show.
fn e4(p: Decimal) -> String {
    (p * Decimal::from(10_000)).trunc().normalize().to_string()
}

/// `POST /v5/position/trading-stop`.
pub(super) fn bybit_trading_stop(shared: &Shared, call: &Call) -> Answer {
    let ret = |code: i64, msg: &str| {
        json_reply(
            StatusCode::OK,
            &json!({"retCode": code, "retMsg": msg, "result": {}, "retExtInfo": {}, "time": shared.now_ms()}),
        )
    };
    let Ok(v) = serde_json::from_str::<Value>(&call.body) else {
        return ret(10001, "params error: body");
    };
    if v.get("category").and_then(Value::as_str) != Some("linear") {
        return ret(10001, "params error: category");
    }
    match v.get("tpslMode").and_then(Value::as_str) {
        Some("Full" | "Partial") => {}
        _ => return ret(10001, "params error: tpslMode"),
    }
    let Some(sp) = v
        .get("symbol")
        .and_then(Value::as_str)
        .and_then(|s| spec(s).filter(|sp| sp.joined() == s))
    else {
        return ret(10001, "params error: symbol invalid");
    };
    let symbol = sp.joined();
    let mut book = shared.book();
    let hedge = book.switches(Exchange::Bybit).hedge(Exchange::Bybit);
    let leg = match (hedge, v.get("positionIdx").and_then(Value::as_i64)) {
        (false, Some(0)) => Leg::Net,
        (true, Some(1)) => Leg::Long,
        (true, Some(2)) => Leg::Short,
        _ => return ret(10001, "position idx not match position mode"),
    };
    let size = book.position_at(Exchange::Bybit, call.testnet, &symbol, leg);
    if size.is_zero() {
        return ret(10001, "can not set tp/sl/ts for zero position");
    }
    let long = match leg {
        Leg::Net => size > Decimal::ZERO,
        Leg::Long => true,
        Leg::Short => false,
    };
    let price = |k: &str| -> Result<Option<Decimal>, Answer> {
        match v.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => match dec(s) {
                Some(d) if d >= Decimal::ZERO => Ok(Some(d)),
                _ => Err(ret(10001, &format!("params error: {k}"))),
            },
            Some(_) => Err(ret(10001, &format!("params error: {k}"))),
        }
    };
    let (stop_loss, trailing, active) = match (
        price("stopLoss"),
        price("trailingStop"),
        price("activePrice"),
    ) {
        (Ok(a), Ok(b), Ok(c)) => (a, b, c),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return e,
    };
    let mark = book.mark(Exchange::Bybit, sp);
    let tick = lit(sp.tick);
    if let Some(sl) = stop_loss.filter(|p| !p.is_zero()) {
        if !on_step(sl, tick) {
            return ret(10001, "params error: stopLoss tick");
        }
        if long && sl >= mark {
            return ret(
                10001,
                &format!(
                    "StopLoss:{} set for Buy position should lower than base_price:{}??MarkPrice",
                    e4(sl),
                    e4(mark)
                ),
            );
        }
        if !long && sl <= mark {
            return ret(
                10001,
                &format!(
                    "StopLoss:{} set for Sell position should greater base_price:{}??MarkPrice",
                    e4(sl),
                    e4(mark)
                ),
            );
        }
    }
    let key = |s: &ServerStop| s.testnet == call.testnet && s.symbol == symbol && s.leg == leg;
    let old = book.server_stops.iter().find(|s| key(s)).cloned();
    let mut stop = old.clone().unwrap_or(ServerStop {
        testnet: call.testnet,
        symbol: symbol.clone(),
        leg,
        long,
        stop_loss: None,
        trailing_distance: None,
        active_price: None,
        watermark: None,
    });
    if let Some(sl) = stop_loss {
        stop.stop_loss = (!sl.is_zero()).then_some(sl);
    }
    if let Some(t) = trailing {
        if t.is_zero() {
            stop.trailing_distance = None;
            stop.active_price = None;
            stop.watermark = None;
        } else {
            if !on_step(t, tick) {
                return ret(10001, "params error: trailingStop tick");
            }
            stop.trailing_distance = Some(t);
            stop.active_price = active.filter(|a| !a.is_zero());
            let reached = stop
                .active_price
                .is_none_or(|a| if long { mark >= a } else { mark <= a });
            stop.watermark = reached.then_some(mark);
        }
    }
    if old.as_ref() == Some(&stop) {
        return ret(34040, "Not modified");
    }
    book.server_stops.retain(|s| !key(s));
    if stop.stop_loss.is_some() || stop.trailing_distance.is_some() {
        book.server_stops.push(stop);
    }
    ret(0, "OK")
}

/// A Binance algo order's trailing parameters, checked as the Algo Service checks them.
pub(super) fn binance_trailing(
    p: &[(String, String)],
    buy: bool,
    mark: Decimal,
) -> Result<(Decimal, Option<Decimal>), Answer> {
    let bad = |code: i64, msg: &str| {
        json_reply(StatusCode::BAD_REQUEST, &json!({"code": code, "msg": msg}))
    };
    let rate = param(p, "callbackRate")
        .and_then(dec)
        .filter(|r| *r >= lit("0.1") && *r <= lit("10"))
        .ok_or_else(|| {
            bad(
                -1130,
                "Data sent for parameter 'callbackRate' is not valid.",
            )
        })?;
    let activate = param(p, "activatePrice").and_then(dec);
    if let Some(a) = activate {
        let wrong = if buy { a >= mark } else { a <= mark };
        if wrong {
            return Err(bad(-2021, "Order would immediately trigger."));
        }
    }
    Ok((rate, activate))
}

/// `GET /fapi/v1/openAlgoOrders`: open algo orders, of one `symbol` if given.
pub(super) fn binance_open_algo(p: &[(String, String)], shared: &Shared, testnet: bool) -> Answer {
    let symbol = param(p, "symbol");
    let book = shared.book();
    let list: Vec<Value> = book
        .algo_orders
        .iter()
        .filter(|a| a.testnet == testnet && a.status == "NEW")
        .filter(|a| symbol.is_none_or(|s| a.symbol == s))
        .map(binance::algo_json)
        .collect();
    json_reply(StatusCode::OK, &Value::Array(list))
}

/// `DELETE /fapi/v1/algoOrder`.
pub(super) fn binance_cancel_algo(
    p: &[(String, String)],
    shared: &Shared,
    testnet: bool,
) -> Answer {
    let by_id = param(p, "algoId");
    let by_client = param(p, "clientAlgoId");
    if by_id.is_none() && by_client.is_none() {
        return json_reply(
            StatusCode::BAD_REQUEST,
            &json!({"code": -1102, "msg": "Mandatory parameter 'algoId' was not sent, was empty/null, or malformed."}),
        );
    }
    let mut book = shared.book();
    let found = book.algo_orders.iter_mut().find(|a| {
        a.testnet == testnet
            && a.status == "NEW"
            && by_id.is_none_or(|i| a.algo_id.to_string() == i)
            && by_client.is_none_or(|c| a.client_algo_id == c)
    });
    match found {
        Some(a) => {
            a.status = "CANCELED".into();
            json_reply(
                StatusCode::OK,
                &json!({"algoId": a.algo_id, "clientAlgoId": a.client_algo_id, "code": "200", "msg": "success"}),
            )
        }
        None => json_reply(
            StatusCode::BAD_REQUEST,
            &json!({"code": -2011, "msg": "Unknown order sent."}),
        ),
    }
}

/// What closes at a mark: (testnet, exchange symbol, leg, buy, quantity or whole leg).
struct Close {
    testnet: bool,
    symbol: String,
    leg: Leg,
    buy: bool,
    quantity: Option<Decimal>,
}

/// Judges every stop of `exchange` on `sp` at its current mark (see the module doc), closing
/// the positions whose stops fired.
pub(super) fn fire(shared: &Shared, exchange: Exchange, sp: &Spec) {
    let now = shared.now_ms();
    let mut book = shared.book();
    let mark = book.mark(exchange, sp);
    let symbol = sp.joined();
    let mut closes = Vec::new();
    match exchange {
        Exchange::Bybit => {
            for s in book.server_stops.iter_mut().filter(|s| s.symbol == symbol) {
                let better = |a: Decimal, b: Decimal| if s.long { a.max(b) } else { a.min(b) };
                if let Some(d) = s.trailing_distance {
                    let reached =
                        s.active_price
                            .is_none_or(|a| if s.long { mark >= a } else { mark <= a });
                    s.watermark = match s.watermark {
                        Some(w) => Some(better(w, mark)),
                        None if reached => Some(mark),
                        None => None,
                    };
                    let _ = d;
                }
                let trail_stop = match (s.trailing_distance, s.watermark) {
                    (Some(d), Some(w)) => Some(if s.long { w - d } else { w + d }),
                    _ => None,
                };
                let hit = |p: Decimal| if s.long { mark <= p } else { mark >= p };
                if s.stop_loss.is_some_and(hit) || trail_stop.is_some_and(hit) {
                    closes.push(Close {
                        testnet: s.testnet,
                        symbol: s.symbol.clone(),
                        leg: s.leg,
                        buy: !s.long,
                        quantity: None,
                    });
                }
            }
        }
        Exchange::Binance => {
            for a in book
                .algo_orders
                .iter_mut()
                .filter(|a| a.symbol == symbol && a.status == "NEW")
            {
                let buy = a.side == "BUY";
                let fired = match a.order_type.as_str() {
                    "STOP_MARKET" => {
                        if buy {
                            mark >= a.trigger_price
                        } else {
                            mark <= a.trigger_price
                        }
                    }
                    "TAKE_PROFIT_MARKET" => {
                        if buy {
                            mark <= a.trigger_price
                        } else {
                            mark >= a.trigger_price
                        }
                    }
                    "TRAILING_STOP_MARKET" => {
                        let rate = a.callback_rate.unwrap_or_default() / Decimal::ONE_HUNDRED;
                        // A SELL closes a long: it follows the highest mark.
                        let reached =
                            a.activate_price
                                .is_none_or(|p| if buy { mark <= p } else { mark >= p });
                        a.watermark = match a.watermark {
                            Some(w) => Some(if buy { w.min(mark) } else { w.max(mark) }),
                            None if reached => Some(mark),
                            None => None,
                        };
                        a.watermark.is_some_and(|w| {
                            if buy {
                                mark >= w * (Decimal::ONE + rate)
                            } else {
                                mark <= w * (Decimal::ONE - rate)
                            }
                        })
                    }
                    _ => false,
                };
                if fired {
                    a.status = "FINISHED".into();
                    closes.push(Close {
                        testnet: a.testnet,
                        symbol: a.symbol.clone(),
                        leg: match a.position_side.as_str() {
                            "LONG" => Leg::Long,
                            "SHORT" => Leg::Short,
                            _ => Leg::Net,
                        },
                        buy,
                        quantity: if a.close_position { None } else { a.quantity },
                    });
                }
            }
        }
        _ => {}
    }
    if closes.is_empty() {
        return;
    }
    let mut st = shared.account();
    for c in closes {
        let held = book.position_at(exchange, c.testnet, &c.symbol, c.leg);
        let qty = c.quantity.unwrap_or(held.abs()).min(held.abs());
        if qty <= Decimal::ZERO {
            continue;
        }
        let id = book.next_order_id();
        book.orders.push(AcceptedOrder {
            exchange,
            client_order_id: format!("stop-{id}"),
            exchange_order_id: id,
            symbol: c.symbol.clone(),
            side: if c.buy { "Buy" } else { "Sell" }.to_owned(),
            order_type: "Market".into(),
            quantity: qty,
            base_quantity: qty,
            price: None,
            reduce_only: true,
            state: OrderState::Open,
            filled_quantity: Decimal::ZERO,
            average_price: None,
            accepted_at_ms: now,
            testnet: c.testnet,
            take_profit: None,
            stop_loss: None,
            tpsl_mode: None,
            tp_trigger_by: None,
            sl_trigger_by: None,
            leg: c.leg,
        });
        let i = book.orders.len() - 1;
        fill_order(&mut book, &mut st, i, qty, now);
        if book
            .position_at(exchange, c.testnet, &c.symbol, c.leg)
            .is_zero()
        {
            // The position is gone: its trading stop goes with it.
            book.server_stops
                .retain(|s| !(s.testnet == c.testnet && s.symbol == c.symbol && s.leg == c.leg));
        }
    }
}

impl MockExchanges {
    /// Every Bybit trading stop the mock holds.
    pub fn server_stops(&self) -> Vec<ServerStop> {
        self.shared.book().server_stops.clone()
    }
}
