//! MEXC's server-side stops, from its contract API documentation (`mexcdevelop/apidocs`, branch
//! `contract_v1_en`, `source/index.html.md`, commit `84922b1`,
//! <https://mexcdevelop.github.io/apidocs/contract_v1_en/>):
//!
//! - "Get the Stop-Limit order list", `GET api/v1/private/stoporder/list/orders` (`symbol`,
//!   `is_finished` "0: uncompleted, 1: completed", `page_num`, `page_size` "maximum 100"):
//!   each order's `id` ("Stop-Limit order ID"), `positionId`, `positionType` ("1: long, 2:
//!   short"), `stopLossPrice`, `takeProfitPrice`, `state` ("1: untriggered, 2: cancelled, 3:
//!   executed, 4: invalid, 5: execution failed").
//! - "Switch the Stop-Limit price of trigger orders", `POST
//!   api/v1/private/stoporder/change_plan_price` (`stopPlanOrderId`, `stopLossPrice`,
//!   `takeProfitPrice`: "at least one … is not empty and must be more than 0").
//! - "Cancel the Stop-Limit trigger order", `POST api/v1/private/stoporder/cancel` (a list of
//!   `{"stopPlanOrderId"}`).
//!
//! A position's stop-limit order is the one its opening order created from `stopLossPrice` /
//! `takeProfitPrice` (see [`crate::mexc`]): hoox moves its stop-loss, keeping the take-profit
//! that shares the order (both are sent, so neither is lost), and removes it by sending the
//! take-profit alone, or by cancelling the order when nothing else is on it. The document names
//! no call that places a stop-limit order on an open position, and no trailing stop at all:
//! both are said in the plan's notes and left to the agent's minute loop, never faked. The
//! trigger price type stays what the order was placed with (the document gives
//! `change_plan_price` no price-type field).

use super::*;
use crate::account::PositionSide;
use crate::stops::{
    on_tick, Existing, PlacedStop, Plan, ServerStops, StopKind, StopPosition, StopTarget, Support,
    Write, WriteKind,
};

/// "1: untriggered".
const UNTRIGGERED: i64 = 1;

/// A note when the target asks for a trailing stop.
pub const NO_TRAILING: &str =
    "MEXC documents no trailing stop: the agent's minute loop trails this position";
/// A note when the position has no stop-limit order to move.
pub const NO_STOP_ORDER: &str = "MEXC documents no call that places a stop on an open position \
     (its stop-limit order comes with the entry's stopLossPrice): the agent's minute loop is \
     this position's stop";

fn position_type(side: PositionSide) -> i64 {
    match side {
        PositionSide::Long => 1,
        PositionSide::Short => 2,
    }
}

impl ServerStops for Mexc {
    fn exchange(&self) -> Exchange {
        Exchange::Mexc
    }

    fn support(&self) -> Support {
        Support {
            stop: true,
            trailing: false,
        }
    }

    fn stops_read_request(
        &self,
        ctx: &Context,
        creds: &Credentials,
        position: &StopPosition,
    ) -> Option<HttpRequest> {
        // Sorted by name, as a MEXC GET signs them.
        let query = query_string(&[
            ("is_finished", "0".into()),
            ("page_num", "1".into()),
            ("page_size", "100".into()),
            ("symbol", position.exchange_symbol.clone()),
        ]);
        Some(Self::signed(
            ctx,
            creds,
            Method::Get,
            "/api/v1/private/stoporder/list/orders",
            query,
            None,
        ))
    }

    fn parse_stops_read(
        &self,
        position: &StopPosition,
        resp: &HttpResponse,
    ) -> Result<Existing, ExchangeError> {
        let data = answer(Call::Query, resp)?;
        let Some(list) = data.as_array() else {
            return Err(error(
                Exchange::Mexc,
                ErrorClass::Retryable {
                    retry_after_seconds: None,
                },
                resp.status,
                None,
                format!("stop-limit orders not a list: {}", excerpt(&resp.body)),
            ));
        };
        let positive = |v: Option<&Value>| {
            v.and_then(decimal)
                .filter(|d| *d > Decimal::ZERO)
                .map(|d| d.normalize())
        };
        let stops = list
            .iter()
            .filter(|o| o.get("symbol").and_then(Value::as_str) == Some(&position.exchange_symbol))
            .filter(|o| {
                o.get("positionType").and_then(Value::as_i64) == Some(position_type(position.side))
            })
            .filter(|o| o.get("state").and_then(Value::as_i64) == Some(UNTRIGGERED))
            .map(|o| PlacedStop {
                kind: StopKind::Stop,
                exchange_id: o.get("id").and_then(text),
                client_id: None,
                trigger_price: positive(o.get("stopLossPrice")),
                distance: None,
                activation_price: None,
                take_profit: positive(o.get("takeProfitPrice")),
            })
            .collect();
        Ok(Existing { stops })
    }

    fn stops_plan(
        &self,
        ctx: &Context,
        creds: &Credentials,
        position: &StopPosition,
        target: &StopTarget,
        existing: &Existing,
    ) -> Result<Plan, ExchangeError> {
        let mut plan = Plan::default();
        if target.trailing.is_some() {
            plan.notes.push(NO_TRAILING.into());
        }
        let stop = target
            .stop_price
            .map(|p| on_tick(Exchange::Mexc, "stop-loss", p, position.tick_size))
            .transpose()?;
        let orders = existing.of(StopKind::Stop);
        let Some(order) = orders.first() else {
            if stop.is_some() {
                plan.notes.push(NO_STOP_ORDER.into());
            }
            return Ok(plan);
        };
        // The order id is a `long`; one MEXC answered otherwise cannot be named back to it.
        let Some((id, number)) = order
            .exchange_id
            .clone()
            .and_then(|id| id.parse::<i64>().ok().map(|n| (id, n)))
        else {
            return Err(refused(
                Exchange::Mexc,
                format!(
                    "stop-limit order id {:?} is not a number",
                    order.exchange_id
                ),
            ));
        };
        let change = |sl: Option<Decimal>, tp: Option<Decimal>| {
            let mut body = JsonObject::new().int("stopPlanOrderId", number);
            if let Some(sl) = sl {
                body = body.number("stopLossPrice", sl);
            }
            if let Some(tp) = tp {
                body = body.number("takeProfitPrice", tp);
            }
            Self::signed(
                ctx,
                creds,
                Method::Post,
                "/api/v1/private/stoporder/change_plan_price",
                String::new(),
                Some(body.finish()),
            )
        };
        match stop {
            Some(p) if order.trigger_price == Some(p) => plan.kept.push((*order).clone()),
            Some(p) => plan.writes.push(Write {
                kind: WriteKind::Move(PlacedStop {
                    trigger_price: Some(p),
                    ..(*order).clone()
                }),
                request: change(Some(p), order.take_profit),
            }),
            None if order.trigger_price.is_none() => {}
            None => match order.take_profit {
                // The take-profit stays on the order: only the stop-loss goes.
                Some(tp) => plan.writes.push(Write {
                    kind: WriteKind::Move(PlacedStop {
                        kind: StopKind::Stop,
                        trigger_price: None,
                        ..(*order).clone()
                    }),
                    request: change(None, Some(tp)),
                }),
                None => plan.writes.push(Write {
                    kind: WriteKind::Cancel {
                        kind: StopKind::Stop,
                        exchange_id: id.clone(),
                    },
                    request: Self::signed(
                        ctx,
                        creds,
                        Method::Post,
                        "/api/v1/private/stoporder/cancel",
                        String::new(),
                        Some(format!(r#"[{{"stopPlanOrderId":{number}}}]"#)),
                    ),
                }),
            },
        }
        Ok(plan)
    }

    fn parse_stop_write(
        &self,
        write: &Write,
        resp: &HttpResponse,
    ) -> Result<Option<PlacedStop>, ExchangeError> {
        // Both calls change an existing order in place: sending one again does the same, so an
        // unclear answer is retried like a read.
        answer(Call::Leverage, resp)?;
        Ok(match &write.kind {
            WriteKind::Move(s) if s.trigger_price.is_some() => Some(s.clone()),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stops::{settle, Trailing};
    use crate::test_support::{creds, ctx_at, d, response, NOW_MS};

    fn position(side: PositionSide) -> StopPosition {
        StopPosition {
            symbol: Symbol::parse("BTCUSDT").unwrap_or_else(|e| panic!("{e}")),
            exchange_symbol: "BTC_USDT".into(),
            side,
            mode: PositionMode::Hedge,
            size: d("3"),
            mark: d("65000"),
            tick_size: d("0.1"),
            qty_step: d("1"),
        }
    }

    fn ctx() -> Context {
        ctx_at("https://contract.mexc.com")
    }

    const LIST: &str = r#"{"success":true,"code":0,"data":[
        {"id":101,"symbol":"BTC_USDT","orderId":0,"positionId":7,"stopLossPrice":60000,"takeProfitPrice":70000,"state":1,"triggerSide":0,"positionType":1,"vol":3},
        {"id":102,"symbol":"BTC_USDT","orderId":0,"positionId":8,"stopLossPrice":70000,"takeProfitPrice":0,"state":1,"triggerSide":0,"positionType":2,"vol":1},
        {"id":103,"symbol":"BTC_USDT","orderId":0,"positionId":6,"stopLossPrice":59000,"takeProfitPrice":0,"state":3,"triggerSide":2,"positionType":1,"vol":1}]}"#;

    fn existing(side: PositionSide) -> Existing {
        MEXC.parse_stops_read(&position(side), &response(200, LIST))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_read_is_signed_and_finds_the_positions_untriggered_order() {
        let req = MEXC
            .stops_read_request(&ctx(), &creds(), &position(PositionSide::Long))
            .unwrap_or_else(|| panic!("a read"));
        assert_eq!(
            req.url,
            "https://contract.mexc.com/api/v1/private/stoporder/list/orders?is_finished=0&page_num=1&page_size=100&symbol=BTC_USDT"
        );
        let sig = req
            .headers
            .iter()
            .find(|(k, _)| k == "Signature")
            .map(|(_, v)| v.clone());
        assert_eq!(
            sig,
            Some(crate::signing::sign(
                "test-secret",
                &crate::signing::mexc_payload(
                    "test-key",
                    NOW_MS,
                    "is_finished=0&page_num=1&page_size=100&symbol=BTC_USDT"
                )
            ))
        );
        let long = existing(PositionSide::Long);
        assert_eq!(long.stops.len(), 1);
        assert_eq!(long.stops[0].exchange_id.as_deref(), Some("101"));
        assert_eq!(long.stops[0].trigger_price, Some(d("60000")));
        assert_eq!(long.stops[0].take_profit, Some(d("70000")));
        assert_eq!(
            existing(PositionSide::Short).stops[0]
                .exchange_id
                .as_deref(),
            Some("102")
        );
    }

    #[test]
    fn a_stop_moves_in_place_keeping_the_take_profit() {
        let p = position(PositionSide::Long);
        let t = StopTarget {
            stop_price: Some(d("61000.06")),
            trailing: Some(Trailing {
                distance_pct: d("1"),
                activation_price: None,
            }),
        };
        let plan = MEXC
            .stops_plan(&ctx(), &creds(), &p, &t, &existing(PositionSide::Long))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plan.notes, [NO_TRAILING]);
        let w = &plan.writes[0];
        assert_eq!(
            w.request.url,
            "https://contract.mexc.com/api/v1/private/stoporder/change_plan_price"
        );
        assert_eq!(
            w.request.body.as_deref(),
            Some(r#"{"stopPlanOrderId":101,"stopLossPrice":61000.1,"takeProfitPrice":70000}"#)
        );
        let r = MEXC
            .parse_stop_write(w, &response(200, r#"{"success":true,"code":0}"#))
            .unwrap_or_else(|e| panic!("{e}"));
        let placed = settle(&plan, &[r]);
        assert_eq!(
            placed.stop.map(|s| (s.exchange_id, s.trigger_price)),
            Some((Some("101".into()), Some(d("61000.1"))))
        );
        assert_eq!(placed.trailing, None);
        // The same stop again: nothing sent.
        let again = StopTarget {
            stop_price: Some(d("60000")),
            trailing: None,
        };
        let plan = MEXC
            .stops_plan(&ctx(), &creds(), &p, &again, &existing(PositionSide::Long))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(plan.writes.is_empty());
        assert_eq!(plan.kept.len(), 1);
    }

    #[test]
    fn none_removes_the_stop_and_keeps_a_take_profit_or_cancels_the_order() {
        let plan = MEXC
            .stops_plan(
                &ctx(),
                &creds(),
                &position(PositionSide::Long),
                &StopTarget::default(),
                &existing(PositionSide::Long),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            plan.writes[0].request.body.as_deref(),
            Some(r#"{"stopPlanOrderId":101,"takeProfitPrice":70000}"#)
        );
        let plan = MEXC
            .stops_plan(
                &ctx(),
                &creds(),
                &position(PositionSide::Short),
                &StopTarget::default(),
                &existing(PositionSide::Short),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            plan.writes[0].request.url,
            "https://contract.mexc.com/api/v1/private/stoporder/cancel"
        );
        assert_eq!(
            plan.writes[0].request.body.as_deref(),
            Some(r#"[{"stopPlanOrderId":102}]"#)
        );
    }

    #[test]
    fn no_order_to_move_is_said_not_faked_and_refusals_keep_mexc_words() {
        let p = position(PositionSide::Long);
        let t = StopTarget {
            stop_price: Some(d("60000")),
            trailing: None,
        };
        let plan = MEXC
            .stops_plan(&ctx(), &creds(), &p, &t, &Existing::default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(plan.writes.is_empty());
        assert_eq!(plan.notes, [NO_STOP_ORDER]);
        let plan = MEXC
            .stops_plan(
                &ctx(),
                &creds(),
                &p,
                &StopTarget {
                    stop_price: Some(d("61000")),
                    trailing: None,
                },
                &existing(PositionSide::Long),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let e = MEXC
            .parse_stop_write(
                &plan.writes[0],
                &response(
                    200,
                    r#"{"success":false,"code":2015,"message":"Price or quantity error"}"#,
                ),
            )
            .err()
            .unwrap_or_else(|| panic!("refused"));
        assert_eq!(
            (e.class, e.code.as_deref(), e.message.as_str()),
            (
                ErrorClass::Terminal,
                Some("2015"),
                "Price or quantity error"
            )
        );
    }
}
