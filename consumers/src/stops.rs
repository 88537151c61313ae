//! `POST /stops` (internal key): the agent-worker's door to the exchanges' server-side stops
//! (issue 15), so a position's stop-loss and trailing stop are kept on the exchange and do not
//! wait for the agent's next minute. One call says what the position's exchange-side
//! protection should be; the live port ([`ExchangePort::set_stops`]) places, moves or cancels
//! what is needed on that network's own account, under one attempt-length deadline.
//!
//! In: `{"exchange":"bybit","test":true,"symbol":"BTCUSDT","side":"long",
//! "stop_price":"60000"|null,"trailing":{"distance_pct":"1.5","activation_price":"66000"|null}|null}`
//! (both null: cancel what hoox placed). Out (200): `{"exchange","network","symbol","side",
//! "placed":{"stop":{..}|null,"trailing":{..}|null,"cancelled":[ids],"notes":[..]},
//! "supported":{"stop":bool,"trailing":bool}}`, each placed entry naming the exchange's ids
//! (`exchange_id`, `client_id`), `trigger_price`, `distance`, `activation_price`. A bad body is
//! 400 with the field; a refusal by the exchange (a long's stop above the mark, no such
//! position, a trailing distance outside the venue's bounds) is 422 `refused` with the
//! exchange's words; a retryable failure 503 with `Retry-After`; an answer that may have taken
//! effect 502 `unknown` (the next call reads what is there first).
//!
//! The route is wired into the worker's fetch entry by its owner; everything but [`handle`] is
//! pure and tested natively.

use contracts::signal::Exchange;
use contracts::symbol::Symbol;
use engine::circuit::Network;
use engine::ports::{ExchangePort, Exchanges as _, Failure, FailureClass, StopRequest, StopsSet};
use exchanges::account::PositionSide;
use exchanges::stops::{Placed, StopTarget, Support, Trailing};
use runtime::http::{read_capped, require_internal, HttpError};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;
use std::str::FromStr;
use worker::{Env, Method, Request, Response};

/// The largest body taken.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// A trailing distance above this is no trailing stop (percent).
pub const MAX_DISTANCE_PCT: Decimal = Decimal::ONE_HUNDRED;

/// A validated `POST /stops` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopsIn {
    pub exchange: Exchange,
    pub request: StopRequest,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StopsOut {
    pub exchange: &'static str,
    pub network: &'static str,
    pub symbol: String,
    pub side: &'static str,
    pub placed: Placed,
    pub supported: Support,
}

impl StopsOut {
    pub fn of(input: &StopsIn, set: StopsSet) -> Self {
        Self {
            exchange: input.exchange.as_str(),
            network: Network::of(input.request.testnet).as_str(),
            symbol: input.request.symbol.canonical(),
            side: input.request.side.as_str(),
            placed: set.placed,
            supported: set.supported,
        }
    }
}

fn bad(field: &str, message: impl Into<String>) -> HttpError {
    HttpError::new(400, "invalid_request", message).field(field)
}

/// A strictly positive decimal given as a string (a JSON number would pass through a float).
fn positive(v: Option<&Value>, field: &str) -> Result<Option<Decimal>, HttpError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => match Decimal::from_str(s.trim()) {
            Ok(d) if d > Decimal::ZERO => Ok(Some(d)),
            _ => Err(bad(
                field,
                format!("{field} must be a positive decimal, not {s:?}"),
            )),
        },
        Some(other) => Err(bad(
            field,
            format!("{field} must be a decimal in a string, not {other}"),
        )),
    }
}

/// Reads and validates the body; every refusal names its field.
pub fn parse(body: &[u8]) -> Result<StopsIn, HttpError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| HttpError::new(400, "invalid_json", format!("body is not JSON: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| HttpError::new(400, "invalid_json", "body must be a JSON object"))?;
    let exchange = obj
        .get("exchange")
        .and_then(Value::as_str)
        .and_then(|s| Exchange::from_str(s).ok())
        .ok_or_else(|| bad("exchange", "exchange must be bybit, binance or mexc"))?;
    if exchange == Exchange::Paper {
        return Err(bad(
            "exchange",
            "paper keeps no server-side stops: the agent's loop is its stop",
        ));
    }
    let testnet = match obj.get("test") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(bad(
                "test",
                format!("test must be true or false, not {other}"),
            ))
        }
    };
    let symbol = obj
        .get("symbol")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("symbol", "symbol is required"))
        .and_then(|s| Symbol::parse(s).map_err(|e| bad("symbol", e.to_string())))?;
    let side = match obj.get("side").and_then(Value::as_str) {
        Some("long") => PositionSide::Long,
        Some("short") => PositionSide::Short,
        _ => return Err(bad("side", "side must be long or short")),
    };
    let stop_price = positive(obj.get("stop_price"), "stop_price")?;
    let trailing = match obj.get("trailing") {
        None | Some(Value::Null) => None,
        Some(Value::Object(t)) => {
            let distance_pct = positive(t.get("distance_pct"), "trailing.distance_pct")?
                .ok_or_else(|| bad("trailing.distance_pct", "trailing.distance_pct is required"))?;
            if distance_pct >= MAX_DISTANCE_PCT {
                return Err(bad(
                    "trailing.distance_pct",
                    format!("trailing.distance_pct must be below {MAX_DISTANCE_PCT} %"),
                ));
            }
            Some(Trailing {
                distance_pct,
                activation_price: positive(t.get("activation_price"), "trailing.activation_price")?,
            })
        }
        Some(other) => {
            return Err(bad(
                "trailing",
                format!("trailing must be an object or null, not {other}"),
            ))
        }
    };
    Ok(StopsIn {
        exchange,
        request: StopRequest {
            symbol,
            side,
            testnet,
            target: StopTarget {
                stop_price,
                trailing,
            },
        },
    })
}

/// A failure of the port as the caller sees it.
pub fn failure_error(f: &Failure) -> HttpError {
    match &f.class {
        FailureClass::Terminal => HttpError::new(422, "refused", f.message.clone()),
        FailureClass::Retryable {
            retry_after_seconds,
        }
        | FailureClass::Banned {
            retry_after_seconds,
        } => {
            HttpError::unavailable(f.message.clone()).retry_after(retry_after_seconds.unwrap_or(5))
        }
        FailureClass::Unknown => HttpError::new(
            502,
            "unknown",
            format!(
                "{} (it may have taken effect: the next call reads what is there first)",
                f.message
            ),
        ),
    }
}

/// `POST /stops`.
pub async fn handle(req: Request, env: &Env, request_id: &str) -> worker::Result<Response> {
    match serve(req, env, request_id).await {
        Ok(out) => runtime::http::json(200, &out),
        Err(e) => e.respond(request_id),
    }
}

async fn serve(req: Request, env: &Env, request_id: &str) -> Result<StopsOut, HttpError> {
    require_internal(&req, env)?;
    if req.method() != Method::Post {
        return Err(HttpError::method_not_allowed("POST"));
    }
    let body = read_capped(
        <worker::web_sys::Request as Clone>::clone(req.inner()),
        MAX_BODY_BYTES,
    )
    .await?;
    let input = parse(&body)?;
    let cfg = runtime::config::load(env)
        .await
        .map_err(|e| HttpError::unavailable(format!("config unreadable: {e}")))?;
    let network = Network::of(input.request.testnet);
    let exchanges =
        crate::exchange::LiveExchanges::open(env, &cfg, &[], &[(input.exchange, network)]).await;
    let now = runtime::now_ms();
    if let Some(wait) = exchanges
        .circuit()
        .and_then(|c| c.borrow().open_for(input.exchange, network, now))
    {
        return Err(HttpError::unavailable(format!(
            "{} {} is banning this IP: no call for {wait} s",
            input.exchange,
            network.as_str()
        ))
        .retry_after(wait));
    }
    let Some(port) = exchanges.live(input.exchange) else {
        return Err(bad("exchange", "no live port for this exchange"));
    };
    let deadline = now.saturating_add(contracts::lifecycle::ATTEMPT_DEADLINE_MS);
    let result = port.set_stops(&input.request, deadline).await;
    exchanges.close(|_| None).await;
    match result {
        Ok(set) => {
            tracing::info!(request_id, exchange = %input.exchange, network = network.as_str(),
                symbol = %input.request.symbol.canonical(), side = input.request.side.as_str(),
                stop = set.placed.stop.is_some(), trailing = set.placed.trailing.is_some(),
                cancelled = set.placed.cancelled.len(), "server-side stops set");
            Ok(StopsOut::of(&input, set))
        }
        Err(f) => {
            tracing::warn!(request_id, exchange = %input.exchange, network = network.as_str(),
                symbol = %input.request.symbol.canonical(), error = %f.message, "server-side stops not set");
            Err(failure_error(&f))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use exchanges::stops::{PlacedStop, StopKind};

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap_or_else(|_| panic!("{s}"))
    }

    #[test]
    fn a_full_body_reads_into_the_request() {
        let body = br#"{"exchange":"binance","test":true,"symbol":"btc/usdt","side":"short",
            "stop_price":"70000","trailing":{"distance_pct":"1.5","activation_price":null}}"#;
        let input = parse(body).unwrap_or_else(|e| panic!("{}", e.message));
        assert_eq!(input.exchange, Exchange::Binance);
        assert!(input.request.testnet);
        assert_eq!(input.request.symbol.canonical(), "BTCUSDT");
        assert_eq!(input.request.side, PositionSide::Short);
        assert_eq!(input.request.target.stop_price, Some(d("70000")));
        assert_eq!(
            input.request.target.trailing,
            Some(Trailing {
                distance_pct: d("1.5"),
                activation_price: None
            })
        );
        let none = parse(br#"{"exchange":"bybit","symbol":"ETHUSDT","side":"long","stop_price":null,"trailing":null}"#)
            .unwrap_or_else(|e| panic!("{}", e.message));
        assert_eq!(none.request.target, StopTarget::default());
        assert!(!none.request.testnet);
    }

    #[test]
    fn every_bad_field_is_named() {
        let cases: [(&[u8], &str); 9] = [
            (br#"{"exchange":"kraken","symbol":"BTCUSDT","side":"long"}"#, "exchange"),
            (br#"{"exchange":"paper","symbol":"BTCUSDT","side":"long"}"#, "exchange"),
            (br#"{"exchange":"bybit","symbol":"BTCUSDT","side":"up"}"#, "side"),
            (br#"{"exchange":"bybit","side":"long"}"#, "symbol"),
            (br#"{"exchange":"bybit","symbol":"BTCUSDT","side":"long","stop_price":60000}"#, "stop_price"),
            (br#"{"exchange":"bybit","symbol":"BTCUSDT","side":"long","stop_price":"-1"}"#, "stop_price"),
            (br#"{"exchange":"bybit","symbol":"BTCUSDT","side":"long","trailing":{"distance_pct":"0"}}"#, "trailing.distance_pct"),
            (br#"{"exchange":"bybit","symbol":"BTCUSDT","side":"long","trailing":{"distance_pct":"100"}}"#, "trailing.distance_pct"),
            (br#"{"exchange":"bybit","symbol":"BTCUSDT","side":"long","test":"yes"}"#, "test"),
        ];
        for (body, field) in cases {
            let e = parse(body)
                .err()
                .unwrap_or_else(|| panic!("{field} refused"));
            assert_eq!(
                (e.status, e.field.as_deref()),
                (400, Some(field)),
                "{}",
                e.message
            );
        }
        assert_eq!(parse(b"[]").err().map(|e| e.status), Some(400));
    }

    #[test]
    fn refusals_keep_the_exchange_words_and_their_class() {
        let f = |class| Failure {
            class,
            message: "binance 400 Some(\"-2021\"): Order would immediately trigger.".into(),
        };
        let e = failure_error(&f(FailureClass::Terminal));
        assert_eq!((e.status, e.code), (422, "refused"));
        assert!(e.message.contains("Order would immediately trigger."));
        let e = failure_error(&f(FailureClass::Retryable {
            retry_after_seconds: Some(2),
        }));
        assert_eq!((e.status, e.retry_after), (503, Some(2)));
        assert_eq!(failure_error(&f(FailureClass::Unknown)).status, 502);
    }

    #[test]
    fn the_answer_names_network_ids_and_support() {
        let input =
            parse(br#"{"exchange":"mexc","symbol":"BTCUSDT","side":"long","stop_price":"60000"}"#)
                .unwrap_or_else(|e| panic!("{}", e.message));
        let set = StopsSet {
            placed: Placed {
                stop: Some(PlacedStop {
                    kind: StopKind::Stop,
                    exchange_id: Some("101".into()),
                    client_id: None,
                    trigger_price: Some(d("60000")),
                    distance: None,
                    activation_price: None,
                    take_profit: None,
                }),
                trailing: None,
                cancelled: vec![],
                notes: vec![],
            },
            supported: Support {
                stop: true,
                trailing: false,
            },
        };
        let v = serde_json::to_value(StopsOut::of(&input, set)).unwrap_or_default();
        assert_eq!(
            v,
            serde_json::json!({"exchange":"mexc","network":"mainnet","symbol":"BTCUSDT","side":"long",
                "placed":{"stop":{"kind":"stop","exchange_id":"101","client_id":null,"trigger_price":"60000",
                    "distance":null,"activation_price":null},"trailing":null,"cancelled":[],"notes":[]},
                "supported":{"stop":true,"trailing":false}})
        );
    }
}
