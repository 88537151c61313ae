//! Bytes on the wire: query strings and JSON bodies written exactly as they are signed, and the
//! exchanges' answers read without ever passing an amount through a float.
//!
//! A signature covers the exact bytes sent, so bodies are written by hand in a fixed field order
//! (MEXC wants JSON numbers, which `rust_decimal`'s string serialisation cannot give), and numbers
//! that arrive as JSON numbers are re-read from their shortest decimal spelling.

use crate::venue::{ErrorClass, ExchangeError, HttpResponse, PriceKind, ReferencePrice};
use contracts::signal::Exchange;
use rust_decimal::Decimal;
use serde_json::Value;
use std::str::FromStr;

/// Which kind of call an answer belongs to: an unclear answer to a submit may hide an order,
/// while any other call has no side effect that a retry could repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Call {
    Instrument,
    Price,
    Leverage,
    /// A read of the account's settings or positions (position mode, MEXC's open position).
    Account,
    Submit,
    Query,
}

impl Call {
    /// The class of an answer that says nothing certain (5xx, unreadable body).
    pub(crate) fn unclear(self) -> ErrorClass {
        match self {
            Self::Submit => ErrorClass::Unknown,
            _ => ErrorClass::Retryable {
                retry_after_seconds: None,
            },
        }
    }

    /// The class of an answer whose body cannot be read: on a 2xx the call may have taken
    /// effect ([`Self::unclear`]); any other status is a refusal.
    pub(crate) fn unreadable(self, status: u16) -> ErrorClass {
        if (200..300).contains(&status) {
            self.unclear()
        } else {
            ErrorClass::Terminal
        }
    }
}

pub(crate) fn error(
    exchange: Exchange,
    class: ErrorClass,
    status: u16,
    code: Option<String>,
    message: impl Into<String>,
) -> ExchangeError {
    ExchangeError {
        exchange,
        class,
        status,
        code,
        message: message.into(),
    }
}

/// The exchange answered, and the instrument cannot be traded there: unlisted, halted, closed
/// to the API. Retrying cannot help.
pub(crate) fn not_tradable(exchange: Exchange, status: u16, message: String) -> ExchangeError {
    error(exchange, ErrorClass::Terminal, status, None, message)
}

/// A refusal made before any request: nothing was sent, and sending cannot help.
pub(crate) fn refused(exchange: Exchange, message: impl Into<String>) -> ExchangeError {
    error(exchange, ErrorClass::Terminal, 0, None, message)
}

/// The reference price in `value` (the answer's `field`): a decimal above zero. Anything else
/// (missing, empty, unreadable, zero, negative) is Retryable: nothing was placed, and a price is
/// never made up.
pub(crate) fn reference_price(
    exchange: Exchange,
    status: u16,
    symbol: String,
    kind: PriceKind,
    field: &str,
    value: Option<&Value>,
) -> Result<ReferencePrice, ExchangeError> {
    let refuse = |what: String| {
        Err(error(
            exchange,
            ErrorClass::Retryable {
                retry_after_seconds: None,
            },
            status,
            None,
            format!("{symbol}: {what}, no usable price in the answer"),
        ))
    };
    match value {
        None | Some(Value::Null) => refuse(format!("{field} missing")),
        Some(v) => match decimal(v) {
            Some(price) if price > Decimal::ZERO => Ok(ReferencePrice {
                symbol,
                price: price.normalize(),
                kind,
            }),
            Some(price) => refuse(format!("{field} is {price}")),
            None => refuse(format!(
                "{field} is {} (not a number)",
                excerpt(&v.to_string())
            )),
        },
    }
}

/// `k=v&k=v` in the given order, values percent-encoded (RFC 3986 unreserved characters kept).
pub(crate) fn query_string(params: &[(&str, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Every byte but RFC 3986's unreserved characters (`A-Z a-z 0-9 - _ . ~`) is escaped, as
/// upper-case `%XX`: the signed query strings depend on exactly this set.
const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub(crate) fn percent_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, UNRESERVED).to_string()
}

/// A JSON object written field by field, in call order.
#[derive(Debug, Default)]
pub(crate) struct JsonObject {
    buf: String,
}

impl JsonObject {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    fn key(&mut self, key: &str) {
        self.buf.push(if self.buf.is_empty() { '{' } else { ',' });
        self.buf.push_str(&json_string(key));
        self.buf.push(':');
    }

    pub(crate) fn string(mut self, key: &str, value: &str) -> Self {
        self.key(key);
        self.buf.push_str(&json_string(value));
        self
    }

    /// A JSON number with exactly the decimal's digits (no exponent, no float on the way).
    pub(crate) fn number(mut self, key: &str, value: Decimal) -> Self {
        self.key(key);
        self.buf.push_str(&plain(value));
        self
    }

    pub(crate) fn int(mut self, key: &str, value: i64) -> Self {
        self.key(key);
        self.buf.push_str(&value.to_string());
        self
    }

    pub(crate) fn bool(mut self, key: &str, value: bool) -> Self {
        self.key(key);
        self.buf.push_str(if value { "true" } else { "false" });
        self
    }

    pub(crate) fn finish(mut self) -> String {
        if self.buf.is_empty() {
            self.buf.push('{');
        }
        self.buf.push('}');
        self.buf
    }
}

fn json_string(s: &str) -> String {
    // Serialising a `str` cannot fail.
    serde_json::to_string(s).unwrap_or_else(|_| String::from("\"\""))
}

/// The shortest plain spelling of a decimal: `0.0010` → `0.001`, `100` → `100`.
pub(crate) fn plain(d: Decimal) -> String {
    d.normalize().to_string()
}

/// A decimal from a JSON string (`"0.001"`) or number (`0.001`). Numbers are re-read from their
/// shortest round-trip spelling, which is the text the exchange sent for up to 15 significant
/// digits, so no binary-float error reaches an amount.
pub(crate) fn decimal(v: &Value) -> Option<Decimal> {
    let text = match v {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    if text.is_empty() {
        return None;
    }
    if text.contains(['e', 'E']) {
        Decimal::from_scientific(&text).ok()
    } else {
        Decimal::from_str(&text).ok()
    }
}

/// The average fill price of an order: `avg` when the exchange gives one above zero, else the
/// cumulative quote over the executed quantity (`quote / executed`), else `None` (nothing
/// executed, or the exchange said nothing usable: a price is never made up). Rounded to 12
/// decimal places; never panics.
pub(crate) fn average_price(
    avg: Option<&Value>,
    quote: Option<&Value>,
    executed: Decimal,
) -> Option<Decimal> {
    if let Some(p) = avg.and_then(decimal).filter(|p| *p > Decimal::ZERO) {
        return Some(p.normalize());
    }
    if executed <= Decimal::ZERO {
        return None;
    }
    let quote = quote.and_then(decimal).filter(|q| *q > Decimal::ZERO)?;
    contracts::amount::div(quote, executed)
        .ok()
        .map(|p| p.round_dp(12).normalize())
}

/// A string or number field as text (exchange order ids arrive either way).
pub(crate) fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub(crate) fn parse_json(resp: &HttpResponse) -> Option<Value> {
    serde_json::from_str(&resp.body).ok()
}

/// `Retry-After` in seconds, when given as a number.
pub(crate) fn retry_after(resp: &HttpResponse) -> Option<u32> {
    resp.header("retry-after")
        .and_then(|v| v.trim().parse::<u32>().ok())
}

/// A short, single-line excerpt of a body for error messages.
pub(crate) fn excerpt(body: &str) -> String {
    let one_line: String = body
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    one_line.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn json_object_is_written_in_call_order() {
        let body = JsonObject::new()
            .string("symbol", "BTC_USDT")
            .number("price", Decimal::from_str("65000.50").unwrap_or_default())
            .number("vol", Decimal::from_str("15").unwrap_or_default())
            .int("side", 1)
            .bool("reduceOnly", false)
            .string("note", "a\"b")
            .finish();
        assert_eq!(
            body,
            r#"{"symbol":"BTC_USDT","price":65000.5,"vol":15,"side":1,"reduceOnly":false,"note":"a\"b"}"#
        );
        assert_eq!(JsonObject::new().finish(), "{}");
    }

    #[test]
    fn query_string_encodes_values() {
        assert_eq!(
            query_string(&[("symbol", "BTCUSDT".into()), ("id", "a b/c".into())]),
            "symbol=BTCUSDT&id=a%20b%2Fc"
        );
    }

    #[test]
    fn decimals_from_strings_and_numbers() {
        let d = |s: &str| decimal(&serde_json::from_str::<Value>(s).unwrap_or(Value::Null));
        assert_eq!(d("\"0.001\""), Decimal::from_str("0.001").ok());
        assert_eq!(d("0.0001"), Decimal::from_str("0.0001").ok());
        assert_eq!(d("109777.5"), Decimal::from_str("109777.5").ok());
        assert_eq!(d("1e-5"), Decimal::from_str("0.00001").ok());
        assert_eq!(d("5"), Some(Decimal::from(5)));
        assert_eq!(d("\"\""), None);
        assert_eq!(d("null"), None);
        assert_eq!(d("\"abc\""), None);
    }

    #[test]
    fn the_average_price_is_given_or_derived_never_made_up() {
        let v = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
        let dec = |s: &str| Decimal::from_str(s).unwrap_or_default();
        assert_eq!(
            average_price(Some(&v("\"65000.10\"")), Some(&v("\"1\"")), dec("1")),
            Some(dec("65000.1"))
        );
        assert_eq!(
            average_price(Some(&v("\"0.00000\"")), Some(&v("\"260000.4\"")), dec("4")),
            Some(dec("65000.1"))
        );
        assert_eq!(
            average_price(Some(&v("\"\"")), Some(&v("\"1\"")), dec("3")),
            Some(dec("0.333333333333"))
        );
        assert_eq!(average_price(None, Some(&v("\"0\"")), dec("4")), None);
        assert_eq!(average_price(None, Some(&v("\"10\"")), Decimal::ZERO), None);
        assert_eq!(average_price(None, None, dec("4")), None);
        assert_eq!(
            average_price(
                None,
                Some(&v("\"79228162514264337593543950335\"")),
                dec("0.0000001")
            ),
            None
        );
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        let r = |v: &str| HttpResponse {
            status: 429,
            headers: vec![("Retry-After".into(), v.into())],
            body: String::new(),
        };
        assert_eq!(retry_after(&r("7")), Some(7));
        assert_eq!(retry_after(&r("Wed, 21 Oct 2015 07:28:00 GMT")), None);
    }

    proptest! {
        /// Any decimal with up to 15 significant digits survives the JSON-number round trip.
        #[test]
        fn json_numbers_keep_their_digits(mantissa in 1i64..999_999_999_999_999, scale in 0u32..15) {
            let d = Decimal::new(mantissa, scale);
            let body = JsonObject::new().number("x", d).finish();
            let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            prop_assert_eq!(decimal(&v["x"]), Some(d.normalize()));
        }
    }
}
