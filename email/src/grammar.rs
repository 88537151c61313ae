//! The strict grammar of a signal mail, tried in this order (the first that applies is the
//! only one read):
//!
//! 1. **JSON**: a body line starting with `{` opens a signal object in the gateway's shape
//!    (`contracts::signal`); text after the object (a mail client's signature) is ignored.
//! 2. **`key: value` lines** (`=` works too): `exchange`, `action`, `symbol`, `quantity`,
//!    `price`, `orderType`, `leverage`, `takeProfit`, `stopLoss`, `test` (any case, snake_case
//!    accepted). Only whole lines whose key is one of these count, so prose elsewhere ("method",
//!    "ETH is up") is never read as a field. A field given twice with different values is
//!    ambiguous.
//! 3. **A one-line command** `ACTION [EXCHANGE:]SYMBOL QUANTITY [PRICE]` (`LONG
//!    BYBIT:BTCUSDT.P 0.01`) in the subject (after `Alert:`, `TradingView Alert:`, `Fwd:`, `Re:`
//!    prefixes) or on a line of the body; every command found must agree.
//!
//! `EXCHANGE:` (TradingView's venue prefix) names the exchange when no field does and must agree
//! with one that does; TradingView's `.P` suffix is accepted (`contracts::symbol`). There is no
//! default: a missing quantity, exchange, action or symbol is refused naming it, an unknown
//! action is refused, and `apiKey` / `idempotencyKey` are refused in a mail. The result is then
//! validated by the gateway's own `contracts::signal::validate`.

use crate::EmailError;
use contracts::signal::{self, Action, Exchange, SignalError};
use serde_json::{Map, Value};

/// Body fields a mail may not carry: the sender authenticates by its mail, and the mail's
/// identity is its Message-ID.
const FORBIDDEN: [&str; 3] = ["apiKey", "idempotencyKey", "idempotency_key"];

/// `key: value` keys, as written (lower case) → the signal's field.
const KEYS: [(&str, &str); 14] = [
    ("exchange", "exchange"),
    ("action", "action"),
    ("symbol", "symbol"),
    ("quantity", "quantity"),
    ("price", "price"),
    ("ordertype", "orderType"),
    ("order_type", "orderType"),
    ("leverage", "leverage"),
    ("takeprofit", "takeProfit"),
    ("take_profit", "takeProfit"),
    ("stoploss", "stopLoss"),
    ("stop_loss", "stopLoss"),
    ("test", "test"),
    ("apikey", "apiKey"),
];

/// Subject prefixes mail clients and TradingView add.
const SUBJECT_PREFIXES: [&str; 6] = ["tradingview alert:", "alert:", "fwd:", "fw:", "re:", "aw:"];

/// A line without its quoting (`> `) and surrounding space.
fn unquote(line: &str) -> &str {
    let mut l = line.trim();
    while let Some(rest) = l.strip_prefix('>') {
        l = rest.trim_start();
    }
    l.trim_end()
}

/// The signal object a mail's subject and text body hold (not yet validated).
pub fn signal_fields(subject: &str, text: &str) -> Result<Map<String, Value>, EmailError> {
    let obj = if let Some(obj) = json(text)? {
        obj
    } else if let Some(obj) = key_values(text)? {
        obj
    } else {
        command(subject, text)?
    };
    if let Some(f) = FORBIDDEN.iter().find(|f| obj.contains_key(**f)) {
        return Err(EmailError::Forbidden(f));
    }
    Ok(obj)
}

/// The validated signal of a mail's subject and body, with the object it came from.
pub fn parse_signal(
    subject: &str,
    text: &str,
) -> Result<(signal::Signal, Map<String, Value>), EmailError> {
    let obj = signal_fields(subject, text)?;
    let parsed = signal::validate(&obj)?;
    Ok((parsed.signal, obj))
}

fn json(text: &str) -> Result<Option<Map<String, Value>>, EmailError> {
    let Some(start) = text
        .lines()
        .map(unquote)
        .find(|l| l.starts_with('{'))
        .and_then(|l| text.find(l))
    else {
        return Ok(None);
    };
    let mut stream = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
    match stream.next() {
        Some(Ok(Value::Object(obj))) => Ok(Some(obj)),
        Some(Ok(_)) => Err(SignalError::NotAnObject.into()),
        Some(Err(e)) => Err(SignalError::MalformedJson(e.to_string()).into()),
        None => Ok(None),
    }
}

/// Sets `field`, refusing a second, different value.
fn set(obj: &mut Map<String, Value>, field: &'static str, value: String) -> Result<(), EmailError> {
    match obj.get(field).and_then(Value::as_str) {
        Some(prev) if !prev.eq_ignore_ascii_case(&value) => Err(EmailError::Ambiguous {
            field,
            first: prev.to_owned(),
            second: value,
        }),
        Some(_) => Ok(()),
        None => {
            obj.insert(field.to_owned(), Value::String(value));
            Ok(())
        }
    }
}

fn field_of(key: &str) -> Option<&'static str> {
    let key = key.trim().to_ascii_lowercase();
    KEYS.iter().find(|(k, _)| *k == key).map(|(_, f)| *f)
}

fn key_values(text: &str) -> Result<Option<Map<String, Value>>, EmailError> {
    let mut obj = Map::new();
    let mut idempotency = false;
    for line in text.lines().map(unquote) {
        let Some((k, v)) = line.split_once([':', '=']) else {
            continue;
        };
        let v = v.trim().trim_matches(['"', '\'', ',']).trim();
        if k.trim().eq_ignore_ascii_case("idempotencykey")
            || k.trim().eq_ignore_ascii_case("idempotency_key")
        {
            idempotency = true;
            continue;
        }
        let Some(field) = field_of(k) else { continue };
        if v.is_empty() {
            continue;
        }
        if field == "action" && v.parse::<Action>().is_err() {
            return Err(EmailError::UnknownAction(v.to_owned()));
        }
        set(&mut obj, field, v.to_owned())?;
    }
    if idempotency {
        return Err(EmailError::Forbidden("idempotencyKey"));
    }
    if obj.is_empty() {
        return Ok(None);
    }
    venue_prefix(&mut obj)?;
    Ok(Some(obj))
}

/// `EXCHANGE:SYMBOL`: the prefix names the exchange when no field does, and must agree with
/// one that does. A chart venue hoox does not trade (`COINBASE:`) only counts when no exchange
/// is named (then the validation refuses it as the exchange).
fn venue_prefix(obj: &mut Map<String, Value>) -> Result<(), EmailError> {
    let Some(prefix) = obj
        .get("symbol")
        .and_then(Value::as_str)
        .and_then(|s| s.rsplit_once(':'))
        .map(|(p, _)| p.trim().to_owned())
    else {
        return Ok(());
    };
    match (
        obj.get("exchange").and_then(Value::as_str),
        prefix.parse::<Exchange>(),
    ) {
        (None, _) => {
            obj.insert(
                "exchange".into(),
                Value::String(prefix.to_ascii_lowercase()),
            );
            Ok(())
        }
        (Some(named), Ok(venue)) if named.parse::<Exchange>() != Ok(venue) => {
            Err(EmailError::Ambiguous {
                field: "exchange",
                first: named.to_owned(),
                second: prefix,
            })
        }
        _ => Ok(()),
    }
}

fn is_number(t: &str) -> bool {
    !t.is_empty() && t.parse::<f64>().is_ok_and(f64::is_finite)
}

/// One command line, if the line is one: `None` for prose.
fn command_line(line: &str) -> Option<Result<Map<String, Value>, EmailError>> {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let action_known = tokens.first().is_some_and(|t| t.parse::<Action>().is_ok());
    let shaped = (3..=4).contains(&tokens.len())
        && contracts::symbol::Symbol::parse(tokens[1]).is_ok()
        && is_number(tokens[2])
        && tokens.get(3).is_none_or(|p| is_number(p));
    if !action_known && !shaped {
        return None;
    }
    Some((|| {
        let action = tokens[0];
        if action.parse::<Action>().is_err() {
            return Err(EmailError::UnknownAction(action.to_owned()));
        }
        let symbol = tokens.get(1).ok_or(SignalError::MissingField("symbol"))?;
        let quantity = tokens.get(2).ok_or(SignalError::MissingField("quantity"))?;
        if tokens.len() > 4 {
            return Err(SignalError::InvalidField {
                field: "price",
                message: format!(
                    "a command is ACTION [EXCHANGE:]SYMBOL QUANTITY [PRICE]; {line:?} has more"
                ),
            }
            .into());
        }
        let mut obj = Map::new();
        obj.insert("action".into(), Value::String(action.to_owned()));
        obj.insert("symbol".into(), Value::String((*symbol).to_owned()));
        obj.insert("quantity".into(), Value::String((*quantity).to_owned()));
        if let Some(p) = tokens.get(3) {
            obj.insert("price".into(), Value::String((*p).to_owned()));
        }
        venue_prefix(&mut obj)?;
        Ok(obj)
    })())
}

fn strip_subject(subject: &str) -> &str {
    let mut s = subject.trim();
    'again: loop {
        for p in SUBJECT_PREFIXES {
            if s.len() >= p.len()
                && s.is_char_boundary(p.len())
                && s[..p.len()].eq_ignore_ascii_case(p)
            {
                s = s[p.len()..].trim_start();
                continue 'again;
            }
        }
        return s;
    }
}

fn command(subject: &str, text: &str) -> Result<Map<String, Value>, EmailError> {
    let mut found: Option<Map<String, Value>> = None;
    let lines = std::iter::once(strip_subject(subject)).chain(text.lines().map(unquote));
    for line in lines {
        let Some(parsed) = command_line(line) else {
            continue;
        };
        let obj = parsed?;
        match &found {
            None => found = Some(obj),
            Some(prev) => {
                for field in ["action", "symbol", "exchange", "quantity", "price"] {
                    let (a, b) = (prev.get(field), obj.get(field));
                    if a != b {
                        let s =
                            |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_owned();
                        return Err(EmailError::Ambiguous {
                            field,
                            first: s(a),
                            second: s(b),
                        });
                    }
                }
            }
        }
    }
    found.ok_or(EmailError::NoSignal)
}
