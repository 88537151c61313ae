//! Bybit's server-side stops: one call sets the position's whole protection, "Set Trading
//! Stop", `POST /v5/position/trading-stop`,
//! <https://bybit-exchange.github.io/docs/v5/position/trading-stop>: "Set the take profit, stop
//! loss or trailing stop for the position. … The system will cancel these orders if the
//! position is closed, and adjust the qty according to the size of the open position."
//! Parameters: `category` (`linear`), `symbol`, `tpslMode` (required; "Full: entire position
//! TP/SL" — "This API can be used to modify the parameters of existing TP/SL orders"),
//! `positionIdx` (required; "0: one-way mode, 1: hedge-mode Buy side, 2: hedge-mode Sell
//! side"), `stopLoss` ("Cannot be less than 0, 0 means cancel SL"), `slTriggerBy`
//! (`MarkPrice`), `trailingStop` ("Trailing stop by price distance. Cannot be less than 0, 0
//! means cancel TS"), `activePrice` ("Trailing stop trigger price. Trailing stop will be
//! triggered when this price is reached only"). The answer's `result` is `{}`: the protection
//! is the position's, with no id to name. A refusal is `retCode` 10001 with Bybit's words (a
//! long's stop above the mark: "StopLoss:… set for Buy position should lower than
//! base_price:…"); 34040 "Not modified" (v5 "Error Codes",
//! <https://bybit-exchange.github.io/docs/v5/error>) means the position already holds exactly
//! this: success.
//!
//! hoox always sends both fields, `"0"` for what the target leaves out, so one call says the
//! whole protection and nothing older survives by omission. The trailing distance is the
//! target's percentage of its activation price, else of the mark, rounded down to the tick.

use super::*;
use crate::account::PositionSide;
use crate::stops::{
    distance_of, on_tick, Existing, PlacedStop, Plan, ServerStops, StopKind, StopPosition,
    StopTarget, Support, Write, WriteKind,
};

/// "Not modified": the position already holds this protection.
pub const NOT_MODIFIED: i64 = 34040;

/// `positionIdx` of a position of `side` in `mode`.
fn position_idx(position: &StopPosition) -> i64 {
    match (position.mode, position.side) {
        (PositionMode::OneWay, _) => 0,
        (PositionMode::Hedge, PositionSide::Long) => 1,
        (PositionMode::Hedge, PositionSide::Short) => 2,
    }
}

impl ServerStops for Bybit {
    fn exchange(&self) -> Exchange {
        Exchange::Bybit
    }

    fn support(&self) -> Support {
        Support {
            stop: true,
            trailing: true,
        }
    }

    fn stops_read_request(
        &self,
        _ctx: &Context,
        _creds: &Credentials,
        _position: &StopPosition,
    ) -> Option<HttpRequest> {
        None
    }

    fn parse_stops_read(
        &self,
        _position: &StopPosition,
        _resp: &HttpResponse,
    ) -> Result<Existing, ExchangeError> {
        Ok(Existing::default())
    }

    fn stops_plan(
        &self,
        ctx: &Context,
        creds: &Credentials,
        position: &StopPosition,
        target: &StopTarget,
        _existing: &Existing,
    ) -> Result<Plan, ExchangeError> {
        let tick = position.tick_size;
        let stop = target
            .stop_price
            .map(|p| on_tick(Exchange::Bybit, "stop-loss", p, tick))
            .transpose()?;
        let trailing = match &target.trailing {
            None => None,
            Some(t) => {
                let activation = t
                    .activation_price
                    .map(|p| on_tick(Exchange::Bybit, "activation price", p, tick))
                    .transpose()?;
                let base = activation.unwrap_or(position.mark);
                let distance = distance_of(t.distance_pct, base, tick).ok_or_else(|| {
                    refused(
                        Exchange::Bybit,
                        format!(
                            "a trailing distance of {} % of {} rounds to nothing at tick {tick}",
                            plain(t.distance_pct),
                            plain(base)
                        ),
                    )
                })?;
                Some((distance, activation))
            }
        };
        let mut body = JsonObject::new()
            .string("category", "linear")
            .string("symbol", &position.exchange_symbol)
            .string("tpslMode", "Full")
            .int("positionIdx", position_idx(position))
            .string("stopLoss", &stop.map(plain).unwrap_or_else(|| "0".into()));
        if stop.is_some() {
            body = body.string("slTriggerBy", "MarkPrice");
        }
        body = body.string(
            "trailingStop",
            &trailing
                .map(|(d, _)| plain(d))
                .unwrap_or_else(|| "0".into()),
        );
        if let Some((_, Some(a))) = trailing {
            body = body.string("activePrice", &plain(a));
        }
        let mut placed = Vec::new();
        if let Some(p) = stop {
            placed.push(PlacedStop {
                kind: StopKind::Stop,
                exchange_id: None,
                client_id: None,
                trigger_price: Some(p),
                distance: None,
                activation_price: None,
                take_profit: None,
            });
        }
        if let Some((distance, activation)) = trailing {
            placed.push(PlacedStop {
                kind: StopKind::Trailing,
                exchange_id: None,
                client_id: None,
                trigger_price: None,
                distance: Some(distance),
                activation_price: activation,
                take_profit: None,
            });
        }
        Ok(Plan {
            writes: vec![Write {
                kind: WriteKind::Set { placed },
                request: Self::signed_post(ctx, creds, "/v5/position/trading-stop", body.finish()),
            }],
            kept: Vec::new(),
            notes: Vec::new(),
        })
    }

    fn parse_stop_write(
        &self,
        _write: &Write,
        resp: &HttpResponse,
    ) -> Result<Option<PlacedStop>, ExchangeError> {
        // A setting, not an order: sending it again sets the same thing, so an unclear answer
        // is retried like a read.
        match envelope(Call::Leverage, resp) {
            Ok(_) => Ok(None),
            Err(e) if e.code.as_deref() == Some(&NOT_MODIFIED.to_string()) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stops::{settle, Trailing};
    use crate::test_support::{creds, ctx, d, response};

    fn position(side: PositionSide, mode: PositionMode) -> StopPosition {
        StopPosition {
            symbol: Symbol::parse("BTCUSDT").unwrap_or_else(|e| panic!("{e}")),
            exchange_symbol: "BTCUSDT".into(),
            side,
            mode,
            size: d("0.01"),
            mark: d("65000"),
            tick_size: d("0.1"),
            qty_step: d("0.001"),
        }
    }

    fn plan(p: &StopPosition, t: &StopTarget) -> Plan {
        BYBIT
            .stops_plan(&ctx(), &creds(), p, t, &Existing::default())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn one_call_sets_the_whole_protection_signed_as_every_post() {
        let p = position(PositionSide::Long, PositionMode::OneWay);
        let t = StopTarget {
            stop_price: Some(d("60000.04")),
            trailing: Some(Trailing {
                distance_pct: d("1.5"),
                activation_price: Some(d("66000")),
            }),
        };
        let plan = plan(&p, &t);
        assert_eq!(plan.writes.len(), 1);
        let req = &plan.writes[0].request;
        assert_eq!(req.url, "https://api.bybit.com/v5/position/trading-stop");
        let body = req.body.clone().unwrap_or_default();
        assert_eq!(
            body,
            r#"{"category":"linear","symbol":"BTCUSDT","tpslMode":"Full","positionIdx":0,"stopLoss":"60000","slTriggerBy":"MarkPrice","trailingStop":"990","activePrice":"66000"}"#
        );
        let header = |n: &str| {
            req.headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
        };
        let payload =
            crate::signing::bybit_payload(crate::test_support::NOW_MS, "test-key", 5000, &body);
        assert_eq!(
            header("X-BAPI-SIGN"),
            Some(crate::signing::sign("test-secret", &payload))
        );
        let placed = settle(&plan, &[None]);
        assert_eq!(placed.stop.and_then(|s| s.trigger_price), Some(d("60000")));
        assert_eq!(
            placed.trailing.map(|s| (s.distance, s.activation_price)),
            Some((Some(d("990")), Some(d("66000"))))
        );
    }

    #[test]
    fn none_cancels_both_and_hedge_legs_name_their_index() {
        let p = position(PositionSide::Short, PositionMode::Hedge);
        let plan = plan(&p, &StopTarget::default());
        assert_eq!(
            plan.writes[0].request.body.as_deref(),
            Some(
                r#"{"category":"linear","symbol":"BTCUSDT","tpslMode":"Full","positionIdx":2,"stopLoss":"0","trailingStop":"0"}"#
            )
        );
        let long = position(PositionSide::Long, PositionMode::Hedge);
        let body = plan_body(&long);
        assert!(body.contains(r#""positionIdx":1"#), "{body}");
        // Trailing from the mark: 1 % of 65000.
        let t = StopTarget {
            stop_price: None,
            trailing: Some(Trailing {
                distance_pct: d("1"),
                activation_price: None,
            }),
        };
        let b = self::plan(&long, &t).writes[0]
            .request
            .body
            .clone()
            .unwrap_or_default();
        assert!(
            b.ends_with(r#""stopLoss":"0","trailingStop":"650"}"#),
            "{b}"
        );
    }

    fn plan_body(p: &StopPosition) -> String {
        plan(p, &StopTarget::default()).writes[0]
            .request
            .body
            .clone()
            .unwrap_or_default()
    }

    #[test]
    fn answers_are_read_and_not_modified_is_success() {
        let p = position(PositionSide::Long, PositionMode::OneWay);
        let plan = plan(&p, &StopTarget::default());
        let w = &plan.writes[0];
        let ok = r#"{"retCode":0,"retMsg":"OK","result":{},"retExtInfo":{},"time":1672281607343}"#;
        assert_eq!(BYBIT.parse_stop_write(w, &response(200, ok)), Ok(None));
        let same =
            r#"{"retCode":34040,"retMsg":"Not modified","result":{},"retExtInfo":{},"time":1}"#;
        assert_eq!(BYBIT.parse_stop_write(w, &response(200, same)), Ok(None));
        let wrong = r#"{"retCode":10001,"retMsg":"StopLoss:6600000 set for Buy position should lower than base_price:6500000??MarkPrice","result":{},"retExtInfo":{},"time":1}"#;
        let e = BYBIT
            .parse_stop_write(w, &response(200, wrong))
            .err()
            .unwrap_or_else(|| panic!("refused"));
        assert_eq!(e.class, ErrorClass::Terminal);
        assert_eq!(e.code.as_deref(), Some("10001"));
        assert!(e.message.contains("should lower than"), "{}", e.message);
        let busy = BYBIT
            .parse_stop_write(w, &response(503, "busy"))
            .err()
            .map(|e| e.class);
        assert_eq!(
            busy,
            Some(ErrorClass::Retryable {
                retry_after_seconds: None
            })
        );
    }

    #[test]
    fn a_distance_that_rounds_to_nothing_is_refused_before_sending() {
        let p = position(PositionSide::Long, PositionMode::OneWay);
        let t = StopTarget {
            stop_price: None,
            trailing: Some(Trailing {
                distance_pct: d("0.0000001"),
                activation_price: None,
            }),
        };
        let e = BYBIT
            .stops_plan(&ctx(), &creds(), &p, &t, &Existing::default())
            .err()
            .map(|e| e.class);
        assert_eq!(e, Some(ErrorClass::Terminal));
    }
}
