//! Binance's server-side stops: conditional orders of the Algo Service, as the official
//! connector documents them (`binance/binance-connector-python`,
//! `clients/derivatives_trading_usds_futures`, `rest_api/api/trade_api.py`, commit `29da329`):
//!
//! - "New Algo Order (TRADE)", `POST /fapi/v1/algoOrder`,
//!   <https://developers.binance.com/en/docs/catalog/core-trading-derivatives-trading-usd-s-m-futures/api/rest-api/trade#new-algo-order>:
//!   "Use this endpoint to place TP/SL (Take Profit / Stop Loss) and trailing stop orders";
//!   `STOP_MARKET` with `closePosition=true` "If triggered, close all current long position (if
//!   `SELL`) or current short position (if `BUY`)", "Cannot be used with `quantity`", "Cannot be
//!   used with `reduceOnly`"; `TRAILING_STOP_MARKET` takes `activatePrice` ("default as the
//!   latest price") and `callbackRate`, and "SELL: `activatePrice` should be larger than latest
//!   price" (else -2021 "Order would immediately trigger."); `closePosition` is "used with
//!   `STOP_MARKET` or `TAKE_PROFIT_MARKET`" only, so the trailing stop carries the position's
//!   quantity, `reduceOnly` on a one-way account; `positionSide` "must be sent in Hedge Mode".
//!   `callbackRate`'s range is "[0.1, 10], where 1 means 1%" ("New Order",
//!   <https://developers.binance.com/docs/zh-CN/derivatives/usds-margined-futures/trade/rest-api>):
//!   a rate outside it is refused before sending.
//! - "Current All Algo Open Orders (USER_DATA)", `GET /fapi/v1/openAlgoOrders` ("Weight: 1 for a
//!   single symbol"): each order's `algoId`, `clientAlgoId`, `orderType`, `side`,
//!   `positionSide`, `triggerPrice` (no trailing parameters are listed).
//! - "Cancel Algo Order (TRADE)", `DELETE /fapi/v1/algoOrder` ("Either `algoId` or
//!   `clientAlgoId` must be sent"; answer `algoId`, `clientAlgoId`, `code`, `msg`).
//!
//! Binance documents no change of an algo order, so a stop moves by placing the new one first
//! and cancelling the old one after: the position is never without one. hoox's own orders are
//! told apart by their `clientAlgoId`: `hxs-<L|S>-…` for a stop, `hxt-<L|S>-<params>-…` for a
//! trailing stop, whose `<params>` (a hash of its rate and activation price) stand in for the
//! parameters the open-order list does not show: the same trailing stop asked again is kept,
//! so its watermark is never reset by a rerun.

use super::*;
use crate::account::PositionSide;
use crate::stops::{
    on_tick, Existing, PlacedStop, Plan, ServerStops, StopKind, StopPosition, StopTarget, Support,
    Trailing, Write, WriteKind,
};

/// `callbackRate` bounds, percent.
pub const CALLBACK_RATE_MIN: Decimal = Decimal::from_parts(1, 0, 0, false, 1);
pub const CALLBACK_RATE_MAX: Decimal = Decimal::TEN;

fn leg(side: PositionSide) -> &'static str {
    match side {
        PositionSide::Long => "L",
        PositionSide::Short => "S",
    }
}

/// FNV-1a of the trailing stop's parameters, 8 hex digits.
fn params_tag(rate: Decimal, activation: Option<Decimal>) -> String {
    let text = format!(
        "{}|{}",
        plain(rate),
        activation.map(plain).unwrap_or_default()
    );
    let mut h: u32 = 0x811c_9dc5;
    for b in text.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{h:08x}")
}

fn stop_prefix(side: PositionSide) -> String {
    format!("hxs-{}-", leg(side))
}

fn trailing_prefix(side: PositionSide, rate: Decimal, activation: Option<Decimal>) -> String {
    format!("hxt-{}-{}-", leg(side), params_tag(rate, activation))
}

/// The side that closes `side` and, in hedge mode, the `positionSide` it names.
fn closing(position: &StopPosition) -> (&'static str, Option<&'static str>) {
    let side = match position.side {
        PositionSide::Long => "SELL",
        PositionSide::Short => "BUY",
    };
    let leg = (position.mode == PositionMode::Hedge).then_some(match position.side {
        PositionSide::Long => "LONG",
        PositionSide::Short => "SHORT",
    });
    (side, leg)
}

fn placed_of(json: &Value, kind: StopKind) -> Option<PlacedStop> {
    Some(PlacedStop {
        kind,
        exchange_id: json.get("algoId").and_then(text),
        client_id: json.get("clientAlgoId").and_then(text),
        trigger_price: match kind {
            StopKind::Stop => json
                .get("triggerPrice")
                .and_then(decimal)
                .map(|d| d.normalize()),
            StopKind::Trailing => None,
        },
        distance: json
            .get("callbackRate")
            .and_then(decimal)
            .map(|d| d.normalize()),
        activation_price: json
            .get("activatePrice")
            .and_then(decimal)
            .filter(|d| !d.is_zero())
            .map(|d| d.normalize()),
        take_profit: None,
    })
}

impl ServerStops for Binance {
    fn exchange(&self) -> Exchange {
        Exchange::Binance
    }

    fn support(&self) -> Support {
        Support {
            stop: true,
            trailing: true,
        }
    }

    fn stops_read_request(
        &self,
        ctx: &Context,
        creds: &Credentials,
        position: &StopPosition,
    ) -> Option<HttpRequest> {
        Some(Self::signed_get(
            ctx,
            creds,
            "/fapi/v1/openAlgoOrders",
            &[("symbol", position.exchange_symbol.clone())],
        ))
    }

    fn parse_stops_read(
        &self,
        position: &StopPosition,
        resp: &HttpResponse,
    ) -> Result<Existing, ExchangeError> {
        let json = answer(Call::Query, resp)?;
        let Some(list) = json.as_array() else {
            return Err(error(
                Exchange::Binance,
                ErrorClass::Retryable {
                    retry_after_seconds: None,
                },
                resp.status,
                None,
                format!("open algo orders not a list: {}", excerpt(&resp.body)),
            ));
        };
        let (side, leg_side) = closing(position);
        let stops = list
            .iter()
            .filter(|o| o.get("side").and_then(Value::as_str) == Some(side))
            .filter(|o| {
                leg_side.is_none_or(|l| o.get("positionSide").and_then(Value::as_str) == Some(l))
            })
            .filter_map(|o| {
                let id = o.get("clientAlgoId").and_then(Value::as_str)?;
                let kind = if id.starts_with(&stop_prefix(position.side)) {
                    StopKind::Stop
                } else if id.starts_with(&format!("hxt-{}-", leg(position.side))) {
                    StopKind::Trailing
                } else {
                    return None;
                };
                placed_of(o, kind)
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
        let (side, leg_side) = closing(position);
        let hedge = leg_side.is_some();
        let mut plan = Plan::default();
        let mut cancels = Vec::new();
        let base = |t: &str| -> Vec<(&'static str, String)> {
            let mut p = vec![
                ("algoType", CONDITIONAL.to_owned()),
                ("symbol", position.exchange_symbol.clone()),
                ("side", side.to_owned()),
            ];
            if let Some(l) = leg_side {
                p.push(("positionSide", l.to_owned()));
            }
            p.push(("type", t.to_owned()));
            p
        };
        // The stop-loss.
        let stop = target
            .stop_price
            .map(|p| on_tick(Exchange::Binance, "stop-loss", p, position.tick_size))
            .transpose()?;
        let olds = existing.of(StopKind::Stop);
        let keep = stop.and_then(|p| olds.iter().find(|o| o.trigger_price == Some(p)).copied());
        match (stop, keep) {
            (_, Some(k)) => plan.kept.push(k.clone()),
            (Some(p), None) => {
                let client_id = format!("{}{}", stop_prefix(position.side), ctx.now_ms);
                let mut params = base("STOP_MARKET");
                params.extend([
                    ("triggerPrice", plain(p)),
                    ("workingType", "MARK_PRICE".to_owned()),
                    ("closePosition", "true".to_owned()),
                    ("clientAlgoId", client_id.clone()),
                ]);
                plan.writes.push(Write {
                    kind: WriteKind::Place(PlacedStop {
                        kind: StopKind::Stop,
                        exchange_id: None,
                        client_id: Some(client_id),
                        trigger_price: Some(p),
                        distance: None,
                        activation_price: None,
                        take_profit: None,
                    }),
                    request: Self::signed_post(ctx, creds, "/fapi/v1/algoOrder", &params),
                });
            }
            (None, None) => {}
        }
        for o in olds {
            if keep.is_none_or(|k| k.exchange_id != o.exchange_id) {
                cancels.push((StopKind::Stop, o.exchange_id.clone()));
            }
        }
        // The trailing stop.
        let olds = existing.of(StopKind::Trailing);
        let mut kept_trailing = None;
        if let Some(Trailing {
            distance_pct,
            activation_price,
        }) = &target.trailing
        {
            let rate = distance_pct.normalize();
            if rate < CALLBACK_RATE_MIN || rate > CALLBACK_RATE_MAX || rate.scale() > 1 {
                return Err(refused(
                    Exchange::Binance,
                    format!(
                        "a trailing distance of {} % is outside Binance's callbackRate range \
                         [0.1, 10] in steps of 0.1; not sent",
                        plain(rate)
                    ),
                ));
            }
            let activation = activation_price
                .map(|p| on_tick(Exchange::Binance, "activation price", p, position.tick_size))
                .transpose()?;
            let prefix = trailing_prefix(position.side, rate, activation);
            kept_trailing = olds
                .iter()
                .find(|o| {
                    o.client_id
                        .as_deref()
                        .is_some_and(|c| c.starts_with(&prefix))
                })
                .map(|o| (*o).clone());
            match &kept_trailing {
                Some(k) => plan.kept.push(PlacedStop {
                    distance: Some(rate),
                    activation_price: activation,
                    ..k.clone()
                }),
                None => {
                    let quantity =
                        round_down_to_step(position.size, position.qty_step).map_err(|e| {
                            refused(
                                Exchange::Binance,
                                format!("position size out of range ({e})"),
                            )
                        })?;
                    if quantity <= Decimal::ZERO {
                        return Err(refused(
                            Exchange::Binance,
                            format!("a position of {} rounds to nothing", plain(position.size)),
                        ));
                    }
                    let client_id = format!("{prefix}{}", ctx.now_ms);
                    let mut params = base("TRAILING_STOP_MARKET");
                    params.push(("quantity", plain(quantity)));
                    if let Some(a) = activation {
                        params.push(("activatePrice", plain(a)));
                    }
                    params.extend([
                        ("callbackRate", plain(rate)),
                        ("workingType", "MARK_PRICE".to_owned()),
                    ]);
                    if !hedge {
                        params.push(("reduceOnly", "true".to_owned()));
                    }
                    params.push(("clientAlgoId", client_id.clone()));
                    plan.writes.push(Write {
                        kind: WriteKind::Place(PlacedStop {
                            kind: StopKind::Trailing,
                            exchange_id: None,
                            client_id: Some(client_id),
                            trigger_price: None,
                            distance: Some(rate),
                            activation_price: activation,
                            take_profit: None,
                        }),
                        request: Self::signed_post(ctx, creds, "/fapi/v1/algoOrder", &params),
                    });
                }
            }
        }
        for o in olds {
            if kept_trailing
                .as_ref()
                .is_none_or(|k| k.exchange_id != o.exchange_id)
            {
                cancels.push((StopKind::Trailing, o.exchange_id.clone()));
            }
        }
        // Cancels last: what replaces an order is in force before it goes.
        for (kind, id) in cancels {
            let Some(id) = id else { continue };
            plan.writes.push(Write {
                kind: WriteKind::Cancel {
                    kind,
                    exchange_id: id.clone(),
                },
                request: Self::signed_delete(ctx, creds, "/fapi/v1/algoOrder", &[("algoId", id)]),
            });
        }
        Ok(plan)
    }

    fn parse_stop_write(
        &self,
        write: &Write,
        resp: &HttpResponse,
    ) -> Result<Option<PlacedStop>, ExchangeError> {
        match &write.kind {
            WriteKind::Place(asked) => {
                // A placement may hide an order on an unclear answer: Unknown, and the next
                // call's read finds it by its client id.
                let json = answer(Call::Submit, resp)?;
                let got = placed_of(&json, asked.kind);
                Ok(Some(PlacedStop {
                    exchange_id: got.as_ref().and_then(|g| g.exchange_id.clone()),
                    trigger_price: got
                        .as_ref()
                        .and_then(|g| g.trigger_price)
                        .or(asked.trigger_price),
                    ..asked.clone()
                }))
            }
            WriteKind::Cancel { .. } => match answer(Call::Leverage, resp) {
                Ok(_) => Ok(None),
                // Already gone (triggered or cancelled): what the cancel wanted.
                Err(e) if e.code.as_deref() == Some(&NO_SUCH_ORDER.to_string()) => Ok(None),
                Err(e) if e.code.as_deref() == Some(&UNKNOWN_ORDER.to_string()) => Ok(None),
                Err(e) => Err(e),
            },
            WriteKind::Set { .. } | WriteKind::Move(_) => Ok(None),
        }
    }
}

/// "Unknown order sent." (a cancel of an order that is not open).
pub const UNKNOWN_ORDER: i64 = -2011;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stops::settle;
    use crate::test_support::{creds, ctx_at, d, response, NOW_MS};

    fn position(side: PositionSide, mode: PositionMode) -> StopPosition {
        StopPosition {
            symbol: Symbol::parse("BTCUSDT").unwrap_or_else(|e| panic!("{e}")),
            exchange_symbol: "BTCUSDT".into(),
            side,
            mode,
            size: d("0.0125"),
            mark: d("65000"),
            tick_size: d("0.1"),
            qty_step: d("0.001"),
        }
    }

    fn ctx() -> Context {
        ctx_at("https://fapi.binance.com")
    }

    fn body_without_signature(req: &HttpRequest) -> String {
        let b = req.body.clone().unwrap_or_default();
        b.split("&signature=").next().unwrap_or_default().to_owned()
    }

    #[test]
    fn a_stop_and_a_trailing_stop_are_algo_orders_signed_as_every_post() {
        let p = position(PositionSide::Long, PositionMode::OneWay);
        let t = StopTarget {
            stop_price: Some(d("60000.04")),
            trailing: Some(Trailing {
                distance_pct: d("1.5"),
                activation_price: Some(d("66000")),
            }),
        };
        let plan = BINANCE
            .stops_plan(&ctx(), &creds(), &p, &t, &Existing::default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plan.writes.len(), 2);
        let stop = &plan.writes[0].request;
        assert_eq!(stop.url, "https://fapi.binance.com/fapi/v1/algoOrder");
        assert_eq!(
            body_without_signature(stop),
            format!(
                "algoType=CONDITIONAL&symbol=BTCUSDT&side=SELL&type=STOP_MARKET&triggerPrice=60000&workingType=MARK_PRICE&closePosition=true&clientAlgoId=hxs-L-{NOW_MS}&recvWindow=5000&timestamp={NOW_MS}"
            )
        );
        let sig = stop
            .body
            .as_deref()
            .and_then(|b| b.split("&signature=").nth(1))
            .unwrap_or_default();
        assert_eq!(
            sig,
            crate::signing::binance_signature("test-secret", &body_without_signature(stop))
        );
        let trailing = body_without_signature(&plan.writes[1].request);
        let tag = params_tag(d("1.5"), Some(d("66000")));
        assert_eq!(
            trailing,
            format!(
                "algoType=CONDITIONAL&symbol=BTCUSDT&side=SELL&type=TRAILING_STOP_MARKET&quantity=0.012&activatePrice=66000&callbackRate=1.5&workingType=MARK_PRICE&reduceOnly=true&clientAlgoId=hxt-L-{tag}-{NOW_MS}&recvWindow=5000&timestamp={NOW_MS}"
            )
        );
        assert!(format!("hxt-L-{tag}-{NOW_MS}").len() <= 36);
    }

    #[test]
    fn hedge_legs_name_their_side_and_are_never_reduce_only() {
        let p = position(PositionSide::Short, PositionMode::Hedge);
        let t = StopTarget {
            stop_price: Some(d("70000")),
            trailing: Some(Trailing {
                distance_pct: d("2"),
                activation_price: None,
            }),
        };
        let plan = BINANCE
            .stops_plan(&ctx(), &creds(), &p, &t, &Existing::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let stop = body_without_signature(&plan.writes[0].request);
        assert!(
            stop.starts_with("algoType=CONDITIONAL&symbol=BTCUSDT&side=BUY&positionSide=SHORT&type=STOP_MARKET&triggerPrice=70000"),
            "{stop}"
        );
        let tr = body_without_signature(&plan.writes[1].request);
        assert!(!tr.contains("reduceOnly"), "{tr}");
        assert!(tr.contains("positionSide=SHORT"), "{tr}");
    }

    #[test]
    fn callback_rates_outside_the_documented_range_are_refused_before_sending() {
        let p = position(PositionSide::Long, PositionMode::OneWay);
        for rate in ["0.05", "10.1", "1.25"] {
            let t = StopTarget {
                stop_price: None,
                trailing: Some(Trailing {
                    distance_pct: d(rate),
                    activation_price: None,
                }),
            };
            let e = BINANCE
                .stops_plan(&ctx(), &creds(), &p, &t, &Existing::default())
                .err()
                .unwrap_or_else(|| panic!("{rate} refused"));
            assert_eq!(e.class, ErrorClass::Terminal, "{rate}");
        }
        for rate in ["0.1", "10", "3.5"] {
            let t = StopTarget {
                stop_price: None,
                trailing: Some(Trailing {
                    distance_pct: d(rate),
                    activation_price: None,
                }),
            };
            assert!(BINANCE
                .stops_plan(&ctx(), &creds(), &p, &t, &Existing::default())
                .is_ok());
        }
    }

    /// A rerun with the same target changes nothing; a moved stop is placed before the old one
    /// is cancelled; none cancels hoox's orders and leaves others' alone.
    #[test]
    fn the_read_decides_what_is_kept_placed_and_cancelled() {
        let p = position(PositionSide::Long, PositionMode::OneWay);
        let tag = params_tag(d("1.5"), None);
        let list = format!(
            r#"[{{"algoId":11,"clientAlgoId":"hxs-L-1","orderType":"STOP_MARKET","symbol":"BTCUSDT","side":"SELL","positionSide":"BOTH","algoStatus":"NEW","triggerPrice":"60000.00"}},
               {{"algoId":12,"clientAlgoId":"hxt-L-{tag}-1","orderType":"TRAILING_STOP_MARKET","symbol":"BTCUSDT","side":"SELL","positionSide":"BOTH","algoStatus":"NEW","triggerPrice":"0"}},
               {{"algoId":13,"clientAlgoId":"hx0123-sl","orderType":"STOP_MARKET","symbol":"BTCUSDT","side":"SELL","positionSide":"BOTH","algoStatus":"NEW","triggerPrice":"59000"}},
               {{"algoId":14,"clientAlgoId":"hxs-S-1","orderType":"STOP_MARKET","symbol":"BTCUSDT","side":"BUY","positionSide":"BOTH","algoStatus":"NEW","triggerPrice":"70000"}}]"#
        );
        let existing = BINANCE
            .parse_stops_read(&p, &response(200, &list))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            existing
                .stops
                .iter()
                .map(|s| s.exchange_id.clone().unwrap_or_default())
                .collect::<Vec<_>>(),
            ["11", "12"]
        );
        let same = StopTarget {
            stop_price: Some(d("60000")),
            trailing: Some(Trailing {
                distance_pct: d("1.5"),
                activation_price: None,
            }),
        };
        let plan = BINANCE
            .stops_plan(&ctx(), &creds(), &p, &same, &existing)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(plan.writes.is_empty(), "{:?}", plan.writes);
        assert_eq!(plan.kept.len(), 2);
        let moved = StopTarget {
            stop_price: Some(d("61000")),
            ..same.clone()
        };
        let plan = BINANCE
            .stops_plan(&ctx(), &creds(), &p, &moved, &existing)
            .unwrap_or_else(|e| panic!("{e}"));
        let kinds: Vec<_> = plan.writes.iter().map(|w| w.kind.clone()).collect();
        assert!(matches!(kinds[0], WriteKind::Place(_)), "{kinds:?}");
        assert_eq!(
            kinds[1],
            WriteKind::Cancel {
                kind: StopKind::Stop,
                exchange_id: "11".into()
            }
        );
        let cancel = &plan.writes[1].request;
        assert_eq!(cancel.method, Method::Delete);
        assert!(
            cancel.url.starts_with(
                "https://fapi.binance.com/fapi/v1/algoOrder?algoId=11&recvWindow=5000&timestamp="
            ),
            "{}",
            cancel.url
        );
        let placed_answer = r#"{"algoId":21,"clientAlgoId":"hxs-L-1700000000000","algoType":"CONDITIONAL","orderType":"STOP_MARKET","symbol":"BTCUSDT","side":"SELL","algoStatus":"NEW","triggerPrice":"61000.00"}"#;
        let r0 = BINANCE
            .parse_stop_write(&plan.writes[0], &response(200, placed_answer))
            .unwrap_or_else(|e| panic!("{e}"));
        let r1 = BINANCE
            .parse_stop_write(
                &plan.writes[1],
                &response(
                    200,
                    r#"{"algoId":11,"clientAlgoId":"hxs-L-1","code":"200","msg":"success"}"#,
                ),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let placed = settle(&plan, &[r0, r1]);
        assert_eq!(
            placed.stop.map(|s| (s.exchange_id, s.trigger_price)),
            Some((Some("21".into()), Some(d("61000"))))
        );
        assert_eq!(
            placed.trailing.and_then(|t| t.exchange_id),
            Some("12".into())
        );
        assert_eq!(placed.cancelled, ["11"]);
        // None cancels both of hoox's, never the entry's protective order (13).
        let plan = BINANCE
            .stops_plan(&ctx(), &creds(), &p, &StopTarget::default(), &existing)
            .unwrap_or_else(|e| panic!("{e}"));
        let cancelled: Vec<_> = plan
            .writes
            .iter()
            .map(|w| match &w.kind {
                WriteKind::Cancel { exchange_id, .. } => exchange_id.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(cancelled, ["11", "12"]);
    }

    #[test]
    fn refusals_keep_binance_words_and_a_gone_order_is_cancelled() {
        let p = position(PositionSide::Long, PositionMode::OneWay);
        let t = StopTarget {
            stop_price: Some(d("66000")),
            trailing: None,
        };
        let plan = BINANCE
            .stops_plan(&ctx(), &creds(), &p, &t, &Existing::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let e = BINANCE
            .parse_stop_write(
                &plan.writes[0],
                &response(
                    400,
                    r#"{"code":-2021,"msg":"Order would immediately trigger."}"#,
                ),
            )
            .err()
            .unwrap_or_else(|| panic!("refused"));
        assert_eq!(
            (e.class, e.code.as_deref(), e.message.as_str()),
            (
                ErrorClass::Terminal,
                Some("-2021"),
                "Order would immediately trigger."
            )
        );
        let unclear = BINANCE
            .parse_stop_write(&plan.writes[0], &response(503, "{}"))
            .err()
            .map(|e| e.class);
        assert_eq!(unclear, Some(ErrorClass::Unknown));
        let cancel = Write {
            kind: WriteKind::Cancel {
                kind: StopKind::Stop,
                exchange_id: "9".into(),
            },
            request: plan.writes[0].request.clone(),
        };
        assert_eq!(
            BINANCE.parse_stop_write(
                &cancel,
                &response(400, r#"{"code":-2011,"msg":"Unknown order sent."}"#)
            ),
            Ok(None)
        );
    }
}
