//! Size scaling and leverage calculation: the quantity of an order worth a notional (USDT), or a
//! share of the network's USDT equity at a leverage, at the exchange's current reference price,
//! rounded down to the instrument's lot and refused below its minimums or above hoox's caps.
//!
//! The trade-worker's `POST /quote` answers with it; the agent (or an operator) then sends the
//! signal with that quantity through `POST /signals`, where the same rules are applied again.
//! Pure: the instrument, price and equity come in; nothing is fetched here.
//!
//! - `notional`: the position's value in USDT; the quantity is the largest lot multiple whose value
//!   at the reference price does not exceed it.
//! - `equity_pct`: the margin committed, as a percentage (0 < p ≤ 100) of the network's USDT
//!   equity; the position's notional is that margin times the leverage.
//! - `leverage`: the request's, else `trade:default_leverage`; above `trade:max_leverage` refused.
//!
//! A market order's own lot (Binance `MARKET_LOT_SIZE`) applies where the exchange publishes one,
//! as [`crate::precision::fit`] applies it. Quantities are answered in base-asset units, and in
//! the exchange's own unit (contracts on MEXC futures) beside them. At most
//! [`contracts::signal::MAX_AMOUNT_DECIMALS`] decimals, so the answer is a valid signal quantity.

use crate::order::ReferencePrice;
use crate::precision::round_down_to_step;
use crate::venue::Instrument;
use contracts::amount::{self, AmountError};
use contracts::config::RuntimeConfig;
use contracts::signal::{Exchange, MAX_AMOUNT_DECIMALS};
use contracts::symbol::Symbol;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value};
use std::str::FromStr;

/// How big the position is asked to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// USDT, > 0.
    Notional(Decimal),
    /// Percent of the network's USDT equity committed as margin, 0 < p ≤ 100.
    EquityPct(Decimal),
}

/// A validated `POST /quote` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteRequest {
    pub exchange: Exchange,
    pub symbol: Symbol,
    pub test: bool,
    pub size: Size,
    pub leverage: Option<u8>,
    /// Paper only: its reference price (paper has no market data). Refused for a real exchange,
    /// which is quoted at its own price.
    pub price: Option<Decimal>,
}

/// Why a quote was refused; every variant names the rule and its numbers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuoteError {
    #[error("invalid `{field}`: {message}")]
    Field {
        field: &'static str,
        message: String,
    },
    #[error("{symbol} on {exchange}: {notional} USDT at {price} is {quantity} at lot step {step}, below the minimum order quantity {min}")]
    BelowMinQuantity {
        exchange: Exchange,
        symbol: String,
        notional: Decimal,
        price: Decimal,
        quantity: Decimal,
        step: Decimal,
        min: Decimal,
    },
    #[error("{symbol} on {exchange}: {quantity} at {price} is worth {notional} USDT, below the exchange's minimum order value {min} USDT")]
    BelowMinNotional {
        exchange: Exchange,
        symbol: String,
        quantity: Decimal,
        price: Decimal,
        notional: Decimal,
        min: Decimal,
    },
    #[error("{symbol} on {exchange}: {quantity} (exchange units) is above the exchange's maximum order quantity {max}")]
    AboveMaxQuantity {
        exchange: Exchange,
        symbol: String,
        quantity: Decimal,
        max: Decimal,
    },
    #[error("notional {notional} USDT is above trade:max_order_notional {cap}")]
    AboveNotionalCap { notional: Decimal, cap: Decimal },
    #[error("quantity {quantity} {symbol} is above trade:max_quantity {cap}")]
    AboveQuantityCap {
        symbol: String,
        quantity: Decimal,
        cap: Decimal,
    },
    #[error("leverage {leverage} is above trade:max_leverage {max}")]
    AboveMaxLeverage { leverage: u8, max: u8 },
    #[error("equity_pct needs the network's USDT equity, and it is {equity} (not positive)")]
    NoEquity { equity: Decimal },
    #[error("the reference price {price} is not positive")]
    BadPrice { price: Decimal },
    #[error("instrument {symbol} has a non-positive {what} ({value}); refusing to size with it")]
    BadInstrument {
        symbol: String,
        what: &'static str,
        value: Decimal,
    },
    #[error("the quote's arithmetic has no decimal result ({0})")]
    Amount(#[from] AmountError),
}

impl QuoteError {
    /// The request field at fault, if one is.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::Field { field, .. } => Some(field),
            Self::AboveMaxLeverage { .. } => Some("leverage"),
            _ => None,
        }
    }

    /// The HTTP status: a malformed body is 400, a well-formed one the rules refuse is 422.
    pub fn status(&self) -> u16 {
        match self {
            Self::Field { .. } => 400,
            _ => 422,
        }
    }

    /// The error code of the HTTP answer.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Field { .. } => "invalid_field",
            Self::BelowMinQuantity { .. } => "below_min_quantity",
            Self::BelowMinNotional { .. } => "below_min_notional",
            Self::AboveMaxQuantity { .. } => "above_max_quantity",
            Self::AboveNotionalCap { .. } => "above_max_order_notional",
            Self::AboveQuantityCap { .. } => "above_max_quantity_cap",
            Self::AboveMaxLeverage { .. } => "above_max_leverage",
            Self::NoEquity { .. } => "no_equity",
            Self::BadPrice { .. } | Self::BadInstrument { .. } | Self::Amount(_) => "unquotable",
        }
    }
}

fn field(field: &'static str, message: impl Into<String>) -> QuoteError {
    QuoteError::Field {
        field,
        message: message.into(),
    }
}

fn decimal_of(obj: &Map<String, Value>, name: &'static str) -> Result<Option<Decimal>, QuoteError> {
    let parsed = match obj.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => Decimal::from_str(s.trim()).ok(),
        Some(Value::Number(n)) => Decimal::from_str(&n.to_string())
            .or_else(|_| Decimal::from_scientific(&n.to_string()))
            .ok(),
        Some(_) => None,
    };
    match parsed {
        Some(d) if d > Decimal::ZERO => Ok(Some(d.normalize())),
        _ => Err(field(name, "expected a decimal greater than 0")),
    }
}

const KNOWN_FIELDS: [&str; 7] = [
    "exchange",
    "symbol",
    "test",
    "notional",
    "equity_pct",
    "leverage",
    "price",
];

impl QuoteRequest {
    /// Reads a `POST /quote` body. Unknown fields are refused (a misspelt size must not quote
    /// something else).
    pub fn from_json(obj: &Map<String, Value>) -> Result<Self, QuoteError> {
        if let Some(k) = obj.keys().find(|k| !KNOWN_FIELDS.contains(&k.as_str())) {
            let message = format!("unknown field; expected {}", KNOWN_FIELDS.join(", "));
            return Err(QuoteError::Field {
                field: "body",
                message: format!("{k}: {message}"),
            });
        }
        let text = |name: &'static str| -> Result<&str, QuoteError> {
            obj.get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| field(name, "required, a string"))
        };
        let exchange = text("exchange")?
            .parse::<Exchange>()
            .map_err(|()| field("exchange", "expected one of bybit, binance, mexc, paper"))?;
        let symbol = Symbol::parse(text("symbol")?).map_err(|e| field("symbol", e.to_string()))?;
        let test = match obj.get("test") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(field("test", "expected a boolean")),
        };
        let size = match (decimal_of(obj, "notional")?, decimal_of(obj, "equity_pct")?) {
            (Some(n), None) => Size::Notional(n),
            (None, Some(p)) if p <= Decimal::ONE_HUNDRED => Size::EquityPct(p),
            (None, Some(_)) => {
                return Err(field("equity_pct", "a percentage of equity: 0 < x <= 100"))
            }
            _ => {
                return Err(field(
                    "notional",
                    "give exactly one of notional (USDT) and equity_pct (percent of equity)",
                ))
            }
        };
        let leverage = match obj.get("leverage") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_u64() {
                Some(n @ 1..=125) => Some(n as u8),
                _ => return Err(field("leverage", "an integer between 1 and 125")),
            },
        };
        let price = decimal_of(obj, "price")?;
        match (exchange, price) {
            (Exchange::Paper, None) => {
                return Err(field(
                    "price",
                    "paper has no market data: give the price to quote at",
                ))
            }
            (Exchange::Paper, Some(_)) | (_, None) => {}
            (_, Some(_)) => return Err(field(
                "price",
                "only paper takes a price; a real exchange is quoted at its own reference price",
            )),
        }
        Ok(Self {
            exchange,
            symbol,
            test,
            size,
            leverage,
            price,
        })
    }
}

/// The answer of `POST /quote`. Decimals are strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quote {
    /// `bybit`, `binance`, `mexc`, `paper`.
    pub exchange: &'static str,
    /// Canonical.
    pub symbol: String,
    /// `mainnet` or `testnet`.
    pub network: &'static str,
    /// The reference price quoted at (`price_source` says which: mark, last, or signal for
    /// paper's given price).
    pub mark_price: Decimal,
    pub price_source: &'static str,
    /// Base-asset units: the signal's `quantity`.
    pub quantity: Decimal,
    /// In the exchange's order unit (contracts on MEXC futures; equal to `quantity` elsewhere).
    pub exchange_quantity: Decimal,
    /// `quantity × mark_price`, USDT: never above `requested_notional`.
    pub notional: Decimal,
    pub requested_notional: Decimal,
    /// `notional / leverage`, USDT.
    pub margin: Decimal,
    pub leverage: u8,
    /// Base-asset units per lot.
    pub lot_step: Decimal,
    /// Base-asset units.
    pub min_quantity: Decimal,
    pub min_notional: Option<Decimal>,
    /// The network's USDT equity the share was taken of (equity_pct only).
    pub equity: Option<Decimal>,
    pub equity_pct: Option<Decimal>,
}

/// The finest lot a signal quantity can carry.
fn signal_step() -> Decimal {
    Decimal::new(1, MAX_AMOUNT_DECIMALS)
}

/// Sizes `req` on `instrument` at `price`; `equity` is the network's USDT equity (needed for
/// [`Size::EquityPct`] only).
pub fn quote(
    req: &QuoteRequest,
    instrument: &Instrument,
    price: ReferencePrice,
    equity: Option<Decimal>,
    cfg: &RuntimeConfig,
) -> Result<Quote, QuoteError> {
    let exchange = req.exchange;
    let symbol = req.symbol.canonical();
    let leverage = req.leverage.unwrap_or(cfg.default_leverage).max(1);
    if leverage > cfg.max_leverage {
        return Err(QuoteError::AboveMaxLeverage {
            leverage,
            max: cfg.max_leverage,
        });
    }
    let p = price.price;
    if p <= Decimal::ZERO {
        return Err(QuoteError::BadPrice { price: p });
    }
    let market = |own: Option<Decimal>, general: Decimal| match own {
        Some(v) if v > Decimal::ZERO => v,
        _ => general,
    };
    let step = market(instrument.limits.market_qty_step, instrument.qty_step);
    let min_qty = market(instrument.limits.market_min_qty, instrument.min_qty);
    let contract = instrument.contract_size;
    for (what, value) in [("lot step", step), ("contract size", contract)] {
        if value <= Decimal::ZERO {
            return Err(QuoteError::BadInstrument {
                symbol: instrument.symbol.clone(),
                what,
                value,
            });
        }
    }
    let (requested, equity_used) = match req.size {
        Size::Notional(n) => (n, None),
        Size::EquityPct(pct) => {
            let e = equity.unwrap_or_default();
            if e <= Decimal::ZERO {
                return Err(QuoteError::NoEquity { equity: e });
            }
            let margin = amount::div(amount::mul(e, pct)?, Decimal::ONE_HUNDRED)?;
            (
                amount::mul(margin, Decimal::from(leverage))?,
                Some(e.normalize()),
            )
        }
    };
    // The lot in base units, no finer than a signal quantity can be written.
    let base_step = amount::mul(step, contract)?.max(signal_step());
    let base = amount::div(requested, p)?;
    let mut quantity = round_down_to_step(base, base_step)?;
    // A quotient rounded up in its last digit must not carry the value past the request.
    if amount::mul(quantity, p)? > requested && quantity >= base_step {
        quantity = amount::sub(quantity, base_step)?;
    }
    let exchange_quantity = amount::div(quantity, contract)?.normalize();
    let notional = amount::mul(quantity, p)?.normalize();
    let min_quantity = amount::mul(min_qty, contract)?.normalize();
    if quantity.is_zero() || exchange_quantity < min_qty {
        return Err(QuoteError::BelowMinQuantity {
            exchange,
            symbol,
            notional: requested.normalize(),
            price: p.normalize(),
            quantity: quantity.normalize(),
            step: base_step.normalize(),
            min: min_quantity.max(base_step).normalize(),
        });
    }
    if let Some(min) = instrument.limits.min_notional {
        if notional < min {
            return Err(QuoteError::BelowMinNotional {
                exchange,
                symbol,
                quantity: quantity.normalize(),
                price: p.normalize(),
                notional,
                min,
            });
        }
    }
    let max = instrument
        .limits
        .max_market_qty
        .filter(|m| *m > Decimal::ZERO)
        .or(instrument.limits.max_qty);
    if let Some(max) = max.filter(|m| exchange_quantity > *m) {
        return Err(QuoteError::AboveMaxQuantity {
            exchange,
            symbol,
            quantity: exchange_quantity,
            max,
        });
    }
    if notional > cfg.max_order_notional {
        return Err(QuoteError::AboveNotionalCap {
            notional,
            cap: cfg.max_order_notional,
        });
    }
    if let Some(cap) = cfg.max_quantity.get(&symbol).filter(|c| quantity > **c) {
        return Err(QuoteError::AboveQuantityCap {
            symbol,
            quantity: quantity.normalize(),
            cap: *cap,
        });
    }
    Ok(Quote {
        exchange: exchange.as_str(),
        symbol,
        network: contracts::event::network_name(req.test),
        mark_price: p.normalize(),
        price_source: price.source.as_str(),
        quantity: quantity.normalize(),
        exchange_quantity,
        notional,
        requested_notional: requested.normalize(),
        margin: amount::div(notional, Decimal::from(leverage))?.normalize(),
        leverage,
        lot_step: base_step.normalize(),
        min_quantity,
        min_notional: instrument.limits.min_notional.map(|m| m.normalize()),
        equity: equity_used,
        equity_pct: match req.size {
            Size::EquityPct(p) => Some(p),
            Size::Notional(_) => None,
        },
    })
}

/// Paper's instrument for a quote: no lot of its own, so the finest a signal quantity can be.
pub fn paper_instrument(symbol: &Symbol) -> Instrument {
    Instrument {
        symbol: symbol.canonical(),
        qty_step: signal_step(),
        min_qty: Decimal::ZERO,
        tick_size: signal_step(),
        contract_size: Decimal::ONE,
        limits: Default::default(),
        placement: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::venue::Limits;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn req(body: &str) -> Result<QuoteRequest, QuoteError> {
        let v: Value = serde_json::from_str(body).unwrap();
        QuoteRequest::from_json(v.as_object().unwrap())
    }

    fn instrument(step: &str, min: &str, contract: &str) -> Instrument {
        Instrument {
            symbol: "BTCUSDT".into(),
            qty_step: d(step),
            min_qty: d(min),
            tick_size: d("0.1"),
            contract_size: d(contract),
            limits: Limits::default(),
            placement: Default::default(),
        }
    }

    fn roomy() -> RuntimeConfig {
        RuntimeConfig {
            max_order_notional: d("1000000"),
            ..RuntimeConfig::defaults()
        }
    }

    #[test]
    fn a_notional_is_rounded_down_to_the_lot_at_the_mark_price() {
        let r = req(r#"{"exchange":"bybit","symbol":"BTCUSDT","notional":"1000"}"#).unwrap();
        let q = quote(
            &r,
            &instrument("0.001", "0.001", "1"),
            ReferencePrice::mark(d("65000")),
            None,
            &roomy(),
        )
        .unwrap();
        // 1000 / 65000 = 0.01538…, down to 0.015: 975 USDT.
        assert_eq!(q.quantity, d("0.015"));
        assert_eq!(q.notional, d("975"));
        assert_eq!(q.lot_step, d("0.001"));
        assert_eq!(q.network, "mainnet");
        assert_eq!(q.leverage, 1);
        let v = serde_json::to_value(&q).unwrap();
        assert_eq!(
            (v["exchange"].as_str(), v["quantity"].as_str()),
            (Some("bybit"), Some("0.015"))
        );
        assert_eq!(q.margin, d("975"));
    }

    #[test]
    fn an_equity_share_is_margin_times_leverage_in_contracts_where_the_exchange_counts_them() {
        // MEXC BTC_USDT: 0.0001 BTC per contract, 1 contract lot.
        let r = req(
            r#"{"exchange":"mexc","symbol":"BTC_USDT","equity_pct":"10","leverage":5,"test":true}"#,
        )
        .unwrap();
        let q = quote(
            &r,
            &instrument("1", "1", "0.0001"),
            ReferencePrice::mark(d("60000")),
            Some(d("2000.000")),
            &roomy(),
        )
        .unwrap();
        // 10 % of 2000 = 200 margin × 5 = 1000 notional: 0.01666… BTC, 166 contracts.
        assert_eq!(q.requested_notional, d("1000"));
        assert_eq!(q.exchange_quantity, d("166"));
        assert_eq!(q.quantity, d("0.0166"));
        assert_eq!(q.notional, d("996"));
        assert_eq!(q.network, "testnet");
        assert_eq!(
            q.equity.map(|e| e.to_string()).as_deref(),
            Some("2000"),
            "normalised"
        );
    }

    #[test]
    fn the_minimums_and_caps_are_refused_with_their_numbers() {
        let cfg = roomy();
        let small = req(r#"{"exchange":"bybit","symbol":"BTCUSDT","notional":"50"}"#).unwrap();
        let e = quote(
            &small,
            &instrument("0.001", "0.001", "1"),
            ReferencePrice::mark(d("65000")),
            None,
            &cfg,
        )
        .unwrap_err();
        assert_eq!(e.code(), "below_min_quantity");
        assert!(e.to_string().contains("0.001"), "{e}");
        let mut i = instrument("0.001", "0.001", "1");
        i.limits.min_notional = Some(d("100"));
        let r = req(r#"{"exchange":"binance","symbol":"BTCUSDT","notional":"99"}"#).unwrap();
        let e = quote(&r, &i, ReferencePrice::mark(d("20000")), None, &cfg).unwrap_err();
        assert_eq!(e.code(), "below_min_notional");
        assert!(e.to_string().contains("100"), "{e}");
        i.limits.max_qty = Some(d("0.01"));
        let r = req(r#"{"exchange":"binance","symbol":"BTCUSDT","notional":"10000"}"#).unwrap();
        let e = quote(&r, &i, ReferencePrice::mark(d("20000")), None, &cfg).unwrap_err();
        assert_eq!(e.code(), "above_max_quantity");
        let e = quote(
            &r,
            &instrument("0.001", "0.001", "1"),
            ReferencePrice::mark(d("20000")),
            None,
            &RuntimeConfig::defaults(),
        )
        .unwrap_err();
        assert_eq!(e.code(), "above_max_order_notional");
        assert!(e.to_string().contains("1000"), "{e}");
        let lev = req(r#"{"exchange":"bybit","symbol":"BTCUSDT","notional":"100","leverage":50}"#)
            .unwrap();
        let e = quote(
            &lev,
            &instrument("0.001", "0.001", "1"),
            ReferencePrice::mark(d("100")),
            None,
            &cfg,
        )
        .unwrap_err();
        assert_eq!(
            (e.code(), e.field()),
            ("above_max_leverage", Some("leverage"))
        );
        let eq = req(r#"{"exchange":"bybit","symbol":"BTCUSDT","equity_pct":"5"}"#).unwrap();
        let e = quote(
            &eq,
            &instrument("0.001", "0.001", "1"),
            ReferencePrice::mark(d("100")),
            Some(Decimal::ZERO),
            &cfg,
        )
        .unwrap_err();
        assert_eq!(e.code(), "no_equity");
    }

    #[test]
    fn bodies_are_read_strictly() {
        for (body, at) in [
            (r#"{"exchange":"bybit","symbol":"BTCUSDT"}"#, "notional"),
            (
                r#"{"exchange":"bybit","symbol":"BTCUSDT","notional":"1","equity_pct":"1"}"#,
                "notional",
            ),
            (
                r#"{"exchange":"bybit","symbol":"BTCUSDT","equity_pct":"101"}"#,
                "equity_pct",
            ),
            (
                r#"{"exchange":"bybit","symbol":"BTCUSDT","notional":"-1"}"#,
                "notional",
            ),
            (
                r#"{"exchange":"ftx","symbol":"BTCUSDT","notional":"1"}"#,
                "exchange",
            ),
            (
                r#"{"exchange":"bybit","symbol":"BTCUSDT","notional":"1","leverage":0}"#,
                "leverage",
            ),
            (
                r#"{"exchange":"bybit","symbol":"BTCUSDT","notional":"1","price":"5"}"#,
                "price",
            ),
            (
                r#"{"exchange":"paper","symbol":"BTCUSDT","notional":"1"}"#,
                "price",
            ),
            (
                r#"{"exchange":"bybit","symbol":"BTCUSDT","notional":"1","qty":"1"}"#,
                "body",
            ),
        ] {
            let e = req(body).expect_err(body);
            assert_eq!(e.field(), Some(at), "{body}: {e}");
            assert_eq!(e.status(), 400);
        }
    }

    #[test]
    fn paper_quotes_at_the_given_price_to_twelve_decimals() {
        let r =
            req(r#"{"exchange":"paper","symbol":"BTCUSDT","notional":"100","price":"3"}"#).unwrap();
        let q = quote(
            &r,
            &paper_instrument(&r.symbol),
            ReferencePrice::signal(r.price.unwrap()),
            None,
            &roomy(),
        )
        .unwrap();
        assert_eq!(q.quantity, d("33.333333333333"));
        assert!(q.notional <= d("100"));
        assert_eq!(q.price_source, "signal");
    }

    proptest! {
        /// Whatever the notional, price and lot: the value never exceeds the request and the
        /// quantity is a whole number of lots (or the quote is refused).
        #[test]
        fn never_above_the_request_and_always_whole_lots(
            notional in 1u64..10_000_000,
            notional_scale in 0u32..4,
            price in 1u64..100_000_000,
            price_scale in 0u32..6,
            step_exp in 0u32..9,
            contract_exp in 0u32..5,
        ) {
            let requested = Decimal::new(notional as i64, notional_scale);
            let p = Decimal::new(price as i64, price_scale);
            let step = Decimal::new(1, step_exp);
            let contract = Decimal::new(1, contract_exp);
            let r = QuoteRequest {
                exchange: Exchange::Bybit,
                symbol: Symbol::parse("BTCUSDT").unwrap(),
                test: false,
                size: Size::Notional(requested),
                leverage: None,
                price: None,
            };
            let cfg = RuntimeConfig { max_order_notional: Decimal::MAX, ..RuntimeConfig::defaults() };
            let i = instrument(&step.to_string(), "0", &contract.to_string());
            if let Ok(q) = quote(&r, &i, ReferencePrice::mark(p), None, &cfg) {
                prop_assert!(q.quantity * p <= requested, "{} × {} > {}", q.quantity, p, requested);
                prop_assert_eq!(q.notional, (q.quantity * p).normalize());
                prop_assert!((q.quantity % q.lot_step).is_zero(), "{} not a multiple of {}", q.quantity, q.lot_step);
                prop_assert!((q.exchange_quantity % step).is_zero() || q.lot_step > step * contract);
                prop_assert!(q.quantity > Decimal::ZERO);
            }
        }
    }
}
