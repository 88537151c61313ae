//! The webhook signal: what a sender posts, validated into what hoox executes.
//!
//! Field names are the original hoox payload's (`apiKey`, `orderType`, `takeProfit`, ...) so
//! existing TradingView alert templates keep working. Parsing is lenient where senders differ
//! (numeric strings, enum case, `buy`/`sell`, symbol spellings, timestamp units) and precise where
//! it refuses: every refusal names the field.
//!
//! Amounts (`quantity`, `price`, `takeProfit`, `stopLoss`) are each greater than 0, at most
//! [`MAX_AMOUNT`] (10^12) and of at most [`MAX_AMOUNT_DECIMALS`] (12) decimal places, so at
//! least 10^-12: the product of any two of them (a notional) and the quotient of any two are at
//! most 10^24, inside a `Decimal` (about 7.9 × 10^28). They can round past 28 significant digits;
//! they never overflow.

use crate::symbol::Symbol;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::{fmt, str::FromStr};

/// Largest body the gateway reads; enforced while reading, before parsing.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest idempotency key accepted.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;
/// Largest `quantity`, `price`, `takeProfit` or `stopLoss` accepted: 10^12. The product of two
/// amounts is then at most 10^24, far inside a `Decimal`.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(0xD4A5_1000, 0xE8, 0, false, 0);
/// Most decimal places an amount may have (after trailing zeros are dropped): 12, so the
/// smallest amount is 10^-12 and a quotient of two amounts is at most 10^24.
pub const MAX_AMOUNT_DECIMALS: u32 = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Exchange {
    Bybit,
    Binance,
    Mexc,
    Paper,
}

impl Exchange {
    pub const ALL: [Exchange; 4] = [Self::Bybit, Self::Binance, Self::Mexc, Self::Paper];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bybit => "bybit",
            Self::Binance => "binance",
            Self::Mexc => "mexc",
            Self::Paper => "paper",
        }
    }
}

impl FromStr for Exchange {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL
            .into_iter()
            .find(|e| e.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or(())
    }
}

impl fmt::Display for Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    Long,
    Short,
    CloseLong,
    CloseShort,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Long => "LONG",
            Self::Short => "SHORT",
            Self::CloseLong => "CLOSE_LONG",
            Self::CloseShort => "CLOSE_SHORT",
        }
    }

    /// Closing actions reduce a position and never open one.
    pub fn is_close(self) -> bool {
        matches!(self, Self::CloseLong | Self::CloseShort)
    }

    /// True when the order buys (opening a long or closing a short).
    pub fn is_buy(self) -> bool {
        matches!(self, Self::Long | Self::CloseShort)
    }
}

impl FromStr for Action {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.trim().to_ascii_uppercase().replace('-', "_").as_str() {
            "LONG" | "BUY" => Ok(Self::Long),
            "SHORT" | "SELL" => Ok(Self::Short),
            "CLOSE_LONG" => Ok(Self::CloseLong),
            "CLOSE_SHORT" => Ok(Self::CloseShort),
            _ => Err(()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderType {
    Market,
    Limit,
}

impl OrderType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Market => "market",
            Self::Limit => "limit",
        }
    }
}

/// A validated signal. Holds no secret: `apiKey` never gets this far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signal {
    pub exchange: Exchange,
    pub action: Action,
    pub symbol: Symbol,
    /// Base-asset units on every exchange.
    pub quantity: Decimal,
    pub price: Option<Decimal>,
    pub order_type: OrderType,
    pub leverage: Option<u8>,
    pub take_profit: Option<Decimal>,
    pub stop_loss: Option<Decimal>,
    pub test: bool,
    /// The sender's own time of the signal, epoch milliseconds.
    pub timestamp_ms: Option<i64>,
}

/// A parsed webhook body: the signal plus what the gateway needs and must not store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookBody {
    pub signal: Signal,
    /// The sender's secret, if it authenticated in the body. Never stored or logged.
    pub api_key: Option<String>,
    pub idempotency_key: Option<String>,
}

/// Why a body was refused; `code()` is the error code of the HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignalError {
    #[error("body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("body must be a JSON object")]
    NotAnObject,
    #[error("missing required field `{0}`")]
    MissingField(&'static str),
    #[error("invalid `{field}`: {message}")]
    InvalidField {
        field: &'static str,
        message: String,
    },
}

impl SignalError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::MalformedJson(_) | Self::NotAnObject => "malformed_json",
            Self::MissingField(_) => "missing_field",
            Self::InvalidField { .. } => "invalid_field",
        }
    }

    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::MissingField(f) | Self::InvalidField { field: f, .. } => Some(f),
            _ => None,
        }
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> SignalError {
    SignalError::InvalidField {
        field,
        message: message.into(),
    }
}

/// Parses and validates a webhook body (JSON, possibly sent as `text/plain`).
pub fn parse_webhook(body: &[u8]) -> Result<WebhookBody, SignalError> {
    validate(&parse_json(body)?)
}

/// The body as a JSON object; the gateway reads `apiKey` from it before validating the rest, so
/// an unauthenticated sender learns nothing about the signal format.
pub fn parse_json(body: &[u8]) -> Result<Map<String, Value>, SignalError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        // serde_json's message has line/column only, never the input itself.
        SignalError::MalformedJson(e.to_string())
    })?;
    match value {
        Value::Object(obj) => Ok(obj),
        _ => Err(SignalError::NotAnObject),
    }
}

/// The body's `apiKey`, if it is a string.
pub fn api_key_of(obj: &Map<String, Value>) -> Option<&str> {
    obj.get("apiKey").and_then(Value::as_str)
}

/// Validates a parsed body into a signal.
pub fn validate(obj: &Map<String, Value>) -> Result<WebhookBody, SignalError> {
    let api_key = optional_string(obj, "apiKey")?;
    let exchange = required_string(obj, "exchange")?
        .parse::<Exchange>()
        .map_err(|_| invalid("exchange", "expected one of bybit, binance, mexc, paper"))?;
    let action = required_string(obj, "action")?
        .parse::<Action>()
        .map_err(|_| {
            invalid(
                "action",
                "expected one of LONG, SHORT, CLOSE_LONG, CLOSE_SHORT (or buy/sell)",
            )
        })?;
    let symbol = Symbol::parse(required_string(obj, "symbol")?)
        .map_err(|e| invalid("symbol", e.to_string()))?;
    let quantity = decimal_field(obj, "quantity")?.ok_or(SignalError::MissingField("quantity"))?;
    let price = decimal_field(obj, "price")?;
    let take_profit = decimal_field(obj, "takeProfit")?;
    let stop_loss = decimal_field(obj, "stopLoss")?;
    let order_type = match optional_string(obj, "orderType")? {
        None if price.is_some() => OrderType::Limit,
        None => OrderType::Market,
        Some(s) if s.eq_ignore_ascii_case("market") => OrderType::Market,
        Some(s) if s.eq_ignore_ascii_case("limit") => {
            if price.is_none() {
                return Err(invalid("price", "a limit order needs a price"));
            }
            OrderType::Limit
        }
        Some(_) => return Err(invalid("orderType", "expected market or limit")),
    };
    let leverage = match obj.get("leverage") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let n = integer_of(v).ok_or_else(|| invalid("leverage", "expected an integer"))?;
            if !(1..=125).contains(&n) {
                return Err(invalid("leverage", "must be between 1 and 125"));
            }
            Some(n as u8)
        }
    };
    let test = match obj.get("test") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" | "" => false,
            _ => return Err(invalid("test", "expected a boolean")),
        },
        Some(_) => return Err(invalid("test", "expected a boolean")),
    };
    let idempotency_key = optional_string(obj, "idempotencyKey")?
        .map(|k| validate_idempotency_key(k).map(str::to_owned))
        .transpose()
        .map_err(|m| invalid("idempotencyKey", m))?;
    let timestamp_ms = match obj.get("timestamp") {
        None | Some(Value::Null) => None,
        Some(v) => Some(parse_timestamp(v).ok_or_else(|| {
            invalid(
                "timestamp",
                "expected epoch milliseconds, epoch seconds or RFC 3339",
            )
        })?),
    };
    Ok(WebhookBody {
        signal: Signal {
            exchange,
            action,
            symbol,
            quantity,
            price,
            order_type,
            leverage,
            take_profit,
            stop_loss,
            test,
            timestamp_ms,
        },
        api_key: api_key.map(str::to_owned),
        idempotency_key,
    })
}

/// Keys are opaque to hoox but must be printable and bounded, since they are stored and logged.
pub fn validate_idempotency_key(key: &str) -> Result<&str, &'static str> {
    if key.is_empty() {
        Err("must not be empty")
    } else if key.len() > MAX_IDEMPOTENCY_KEY_LEN {
        Err("must be at most 255 bytes")
    } else if key.chars().any(|c| c.is_control()) {
        Err("must not contain control characters")
    } else {
        Ok(key)
    }
}

fn required_string<'a>(
    obj: &'a Map<String, Value>,
    field: &'static str,
) -> Result<&'a str, SignalError> {
    match optional_string(obj, field)? {
        Some(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(SignalError::MissingField(field)),
    }
}

fn optional_string<'a>(
    obj: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Option<&'a str>, SignalError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(invalid(field, "expected a string")),
    }
}

/// A positive, finite decimal from a JSON number or numeric string, at most [`MAX_AMOUNT`] and
/// of at most [`MAX_AMOUNT_DECIMALS`] places.
fn decimal_field(
    obj: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<Decimal>, SignalError> {
    let text = match obj.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => return Err(invalid(field, "expected a number or numeric string")),
    };
    let value = Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| invalid(field, "expected a finite decimal number"))?;
    if value <= Decimal::ZERO {
        return Err(invalid(field, "must be greater than 0"));
    }
    if value > MAX_AMOUNT {
        return Err(invalid(
            field,
            format!("must be at most {MAX_AMOUNT} (10^12)"),
        ));
    }
    let value = value.normalize();
    if value.scale() > MAX_AMOUNT_DECIMALS {
        return Err(invalid(
            field,
            format!("must have at most {MAX_AMOUNT_DECIMALS} decimal places"),
        ));
    }
    Ok(Some(value))
}

fn integer_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Epoch milliseconds from ms, seconds (values below 10^11 are seconds) or RFC 3339.
pub fn parse_timestamp(v: &Value) -> Option<i64> {
    const SECONDS_BELOW: f64 = 1e11;
    let from_number = |n: f64| {
        if !n.is_finite() || n <= 0.0 {
            None
        } else if n < SECONDS_BELOW {
            Some((n * 1000.0).round() as i64)
        } else if n < 1e14 {
            Some(n.round() as i64)
        } else {
            None
        }
    };
    match v {
        Value::Number(n) => n.as_f64().and_then(from_number),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(n) = s.parse::<f64>() {
                return from_number(n);
            }
            let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .ok()?;
            i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(json: &str) -> Result<WebhookBody, SignalError> {
        parse_webhook(json.as_bytes())
    }

    #[test]
    fn original_hoox_payload_parses() {
        let b = parse(r#"{"apiKey":"k","exchange":"Bybit","action":"buy","symbol":"BINANCE:BTCUSDT.P","quantity":"0.001","price":65000.5,"leverage":"10","takeProfit":70000,"stopLoss":"60000","test":true,"idempotencyKey":"tv-1","timestamp":"2026-11-28T05:00:00Z"}"#).unwrap();
        assert_eq!(b.api_key.as_deref(), Some("k"));
        assert_eq!(b.idempotency_key.as_deref(), Some("tv-1"));
        let s = b.signal;
        assert_eq!(s.exchange, Exchange::Bybit);
        assert_eq!(s.action, Action::Long);
        assert_eq!(s.symbol.canonical(), "BTCUSDT");
        assert_eq!(s.quantity, Decimal::from_str("0.001").unwrap());
        assert_eq!(s.price, Some(Decimal::from_str("65000.5").unwrap()));
        assert_eq!(s.order_type, OrderType::Limit);
        assert_eq!(s.leverage, Some(10));
        assert!(s.test);
        assert_eq!(s.timestamp_ms, Some(1_795_842_000_000));
    }

    #[test]
    fn order_type_follows_price_unless_stated() {
        let m = parse(r#"{"exchange":"paper","action":"SHORT","symbol":"ETHUSDT","quantity":1}"#)
            .unwrap();
        assert_eq!(m.signal.order_type, OrderType::Market);
        let m = parse(r#"{"exchange":"paper","action":"sell","symbol":"ETHUSDT","quantity":1,"price":"3000","orderType":"MARKET"}"#).unwrap();
        assert_eq!(m.signal.order_type, OrderType::Market);
        assert_eq!(m.signal.action, Action::Short);
        let e = parse(r#"{"exchange":"paper","action":"LONG","symbol":"ETHUSDT","quantity":1,"orderType":"limit"}"#).unwrap_err();
        assert_eq!(e.field(), Some("price"));
    }

    #[test]
    fn refusals_name_the_field() {
        let cases = [
            (
                r#"{"action":"LONG","symbol":"BTCUSDT","quantity":1}"#,
                "missing_field",
                Some("exchange"),
            ),
            (
                r#"{"exchange":"kraken","action":"LONG","symbol":"BTCUSDT","quantity":1}"#,
                "invalid_field",
                Some("exchange"),
            ),
            (
                r#"{"exchange":"paper","action":"HOLD","symbol":"BTCUSDT","quantity":1}"#,
                "invalid_field",
                Some("action"),
            ),
            (
                r#"{"exchange":"paper","action":"LONG","quantity":1}"#,
                "missing_field",
                Some("symbol"),
            ),
            (
                r#"{"exchange":"paper","action":"LONG","symbol":"BTCUSDT"}"#,
                "missing_field",
                Some("quantity"),
            ),
            (
                r#"{"exchange":"paper","action":"LONG","symbol":"BTCUSDT","quantity":0}"#,
                "invalid_field",
                Some("quantity"),
            ),
            (
                r#"{"exchange":"paper","action":"LONG","symbol":"BTCUSDT","quantity":"-1"}"#,
                "invalid_field",
                Some("quantity"),
            ),
            (
                r#"{"exchange":"paper","action":"LONG","symbol":"BTCUSDT","quantity":"abc"}"#,
                "invalid_field",
                Some("quantity"),
            ),
            (
                r#"{"exchange":"paper","action":"LONG","symbol":"BTCUSDT","quantity":1,"leverage":200}"#,
                "invalid_field",
                Some("leverage"),
            ),
            (
                r#"{"exchange":"paper","action":"LONG","symbol":"BTCUSDT","quantity":1,"timestamp":"yesterday"}"#,
                "invalid_field",
                Some("timestamp"),
            ),
            (
                r#"{"exchange":"paper","action":"LONG","symbol":"BTCUSDT","quantity":1,"apiKey":5}"#,
                "invalid_field",
                Some("apiKey"),
            ),
            (
                r#"{"exchange":"paper","action":"LONG","symbol":"BTCUSDT","quantity":1,"idempotencyKey":""}"#,
                "invalid_field",
                Some("idempotencyKey"),
            ),
            (r#"[1,2]"#, "malformed_json", None),
            (r#"{"exchange":"#, "malformed_json", None),
        ];
        for (body, code, field) in cases {
            let e = parse(body).expect_err(body);
            assert_eq!((e.code(), e.field()), (code, field), "{body}: {e}");
        }
    }

    #[test]
    fn timestamps_in_every_unit() {
        let ms = 1_764_300_000_000_i64;
        for v in [
            serde_json::json!(ms),
            serde_json::json!(ms / 1000),
            serde_json::json!(ms.to_string()),
            serde_json::json!("2025-11-28T03:20:00Z"),
            serde_json::json!("2025-11-28T04:20:00+01:00"),
        ] {
            assert_eq!(parse_timestamp(&v), Some(ms), "{v}");
        }
        assert_eq!(parse_timestamp(&serde_json::json!(-5)), None);
    }

    fn with(field: &str, value: Value) -> Result<WebhookBody, SignalError> {
        let mut obj = parse_json(
            br#"{"exchange":"paper","action":"LONG","symbol":"BTCUSDT","quantity":"1","price":"2"}"#,
        )
        .unwrap();
        obj.insert(field.into(), value);
        validate(&obj)
    }

    #[test]
    fn amounts_are_bounded() {
        // The hole: both accepted with a 202, then `quantity * price` overflowed in the worker.
        let e = parse(r#"{"exchange":"paper","action":"LONG","symbol":"BTCUSDT","quantity":"1e20","price":"1e20"}"#).unwrap_err();
        assert_eq!(
            (e.code(), e.field()),
            ("invalid_field", Some("quantity")),
            "{e}"
        );
        assert!(e.to_string().contains("at most 1000000000000"), "{e}");
        let e = with("price", serde_json::json!("0.0000000000001")).unwrap_err();
        assert!(e.to_string().contains("at most 12 decimal places"), "{e}");
        assert_eq!(MAX_AMOUNT, Decimal::from(1_000_000_000_000_i64));
        // The corners: largest × largest, largest / smallest.
        let smallest = Decimal::new(1, MAX_AMOUNT_DECIMALS);
        assert!(MAX_AMOUNT.checked_mul(MAX_AMOUNT).is_some());
        assert!(MAX_AMOUNT.checked_div(smallest).is_some());
        for field in ["quantity", "price", "takeProfit", "stopLoss"] {
            for bad in [
                serde_json::json!("1e20"),
                serde_json::json!(1e20),
                serde_json::json!("1000000000000.1"),
                serde_json::json!("0.0000000000001"),
                serde_json::json!("1.0000000000001"),
            ] {
                let e = with(field, bad.clone()).expect_err(&format!("{field}={bad}"));
                assert_eq!(
                    (e.code(), e.field()),
                    ("invalid_field", Some(field)),
                    "{field}={bad}: {e}"
                );
            }
            for good in [
                "1000000000000",
                "0.000000000001",
                "65000.5",
                "1.000000000000000",
            ] {
                with(field, serde_json::json!(good))
                    .unwrap_or_else(|e| panic!("{field}={good}: {e}"));
            }
        }
    }

    proptest! {
        #[test]
        fn parser_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_webhook(&body);
        }

        /// Whatever amounts validation accepts, the product and quotient of any two fit a decimal.
        #[test]
        fn accepted_amounts_multiply_without_overflow(
            a in 1i128..=1_000_000_000_000_000_000_000_000, a_scale in 0u32..=14,
            b in 1i128..=1_000_000_000_000_000_000_000_000, b_scale in 0u32..=14,
        ) {
            let a = Decimal::from_i128_with_scale(a, a_scale);
            let b = Decimal::from_i128_with_scale(b, b_scale);
            let q = with("quantity", serde_json::json!(a.to_string()));
            let p = with("price", serde_json::json!(b.to_string()));
            if let (Ok(q), Ok(p)) = (q, p) {
                let (q, p) = (q.signal.quantity, p.signal.price.unwrap());
                prop_assert!(q <= MAX_AMOUNT && p <= MAX_AMOUNT);
                prop_assert!(q.checked_mul(p).is_some());
                prop_assert!(q.checked_div(p).is_some() && p.checked_div(q).is_some());
            }
        }

        #[test]
        fn numeric_strings_equal_numbers(q in 1u64..10_000_000, scale in 0u32..8) {
            let d = Decimal::new(q as i64, scale);
            let a = parse(&format!(r#"{{"exchange":"paper","action":"LONG","symbol":"BTCUSDT","quantity":"{d}"}}"#)).unwrap();
            let b = parse(&format!(r#"{{"exchange":"paper","action":"LONG","symbol":"BTCUSDT","quantity":{d}}}"#)).unwrap();
            prop_assert_eq!(a.signal.quantity, b.signal.quantity);
            prop_assert_eq!(a.signal.quantity, d.normalize());
        }
    }
}
