//! The order an adapter submits, derived from a signal and the runtime config, and the checks it
//! passes before any exchange sees it. Two steps, because only one needs market data:
//!
//! 1. [`OrderRequest::for_job`]: `trade:allowed_symbols`, `trade:routing`, leverage (the
//!    signal's, else `trade:default_leverage`) at most `trade:max_leverage`, and `quantity` at
//!    most the symbol's `trade:max_quantity`.
//! 2. [`OrderRequest::check_against`] a reference price the exchange gave (mark or last price):
//!    the notional `quantity × reference` at most `trade:max_order_notional`, and a sender's
//!    `price` (limit price, or a market order's own reference) within `trade:price_band_pct` of
//!    the reference. The sender's price never bounds the notional of a live order: a market order
//!    "priced" 0.0001 would pass any cap. Then the take-profit and stop-loss
//!    ([`crate::protect::check_against`]): none on a close, each on its side of the reference.
//!
//! The paper exchange fills at the signal's price, so that price is its reference:
//! [`OrderRequest::check_own_price`]. All arithmetic is checked ([`contracts::amount`]): any
//! numbers give an answer, never a panic.

use contracts::amount::{self, AmountError};
use contracts::config::RuntimeConfig;
use contracts::idempotency::client_order_id;
use contracts::job::TradeJob;
use contracts::signal::{Exchange, OrderType};
use contracts::symbol::Symbol;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Buy => "Buy",
            Self::Sell => "Sell",
        }
    }
}

/// One order, exchange-neutral.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRequest {
    pub exchange: Exchange,
    pub client_order_id: String,
    pub symbol: Symbol,
    pub side: Side,
    pub order_type: OrderType,
    /// Base-asset units.
    pub quantity: Decimal,
    /// Limit price, or for market orders the sender's reference price if it gave one.
    pub price: Option<Decimal>,
    /// Closing orders only reduce a position.
    pub reduce_only: bool,
    pub leverage: u8,
    pub take_profit: Option<Decimal>,
    pub stop_loss: Option<Decimal>,
    pub testnet: bool,
}

/// Where a reference price came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PriceSource {
    /// The exchange's mark price.
    Mark,
    /// The exchange's last traded price.
    Last,
    /// The signal's own `price` (the paper exchange, which fills at it).
    Signal,
    /// A limit order's own price, where it fills (take-profit/stop-loss sides).
    Limit,
}

impl PriceSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mark => "mark",
            Self::Last => "last",
            Self::Signal => "signal",
            Self::Limit => "limit",
        }
    }
}

/// The price an order's size and its sender's price are checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferencePrice {
    pub price: Decimal,
    pub source: PriceSource,
}

impl ReferencePrice {
    pub fn mark(price: Decimal) -> Self {
        Self {
            price,
            source: PriceSource::Mark,
        }
    }

    pub fn last(price: Decimal) -> Self {
        Self {
            price,
            source: PriceSource::Last,
        }
    }

    pub fn signal(price: Decimal) -> Self {
        Self {
            price,
            source: PriceSource::Signal,
        }
    }
}

impl fmt::Display for ReferencePrice {
    /// `mark price 60000`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} price {}",
            self.source.as_str(),
            self.price.normalize()
        )
    }
}

/// Why an order was refused before any exchange saw it. Terminal: retrying cannot help. Each
/// message carries the numbers an operator needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreTradeError {
    #[error("symbol {0} is not in trade:allowed_symbols")]
    SymbolNotAllowed(String),
    #[error("leverage {leverage} ({}) > trade:max_leverage {max}", if *.from_default { "trade:default_leverage" } else { "the signal's" })]
    LeverageTooHigh {
        leverage: u8,
        max: u8,
        /// The signal named no leverage: `trade:default_leverage` applied.
        from_default: bool,
    },
    #[error("quantity {quantity} > trade:max_quantity {max} for {symbol}")]
    QuantityTooLarge {
        symbol: String,
        quantity: Decimal,
        max: Decimal,
    },
    #[error("order notional {notional} > trade:max_order_notional {max} (quantity {quantity} at the reference {reference})")]
    NotionalTooLarge {
        notional: Decimal,
        max: Decimal,
        quantity: Decimal,
        reference: ReferencePrice,
    },
    #[error("price {price} is {deviation_pct}% from the reference {reference}, outside trade:price_band_pct {band_pct}")]
    PriceOutsideBand {
        price: Decimal,
        reference: ReferencePrice,
        /// `|price − reference| / reference`, in percent, rounded to 2 places.
        deviation_pct: Decimal,
        band_pct: Decimal,
    },
    #[error("reference {0} is not positive: the order cannot be checked, so it is refused")]
    InvalidReference(ReferencePrice),
    #[error("no reference `price`: trade:max_order_notional cannot be checked, so the order is refused (send the alert's close price)")]
    NoReferencePrice,
    /// An amount of the order has no decimal result (a job the gateway's bounds never saw).
    #[error("order amounts out of range: {0}; the order is refused")]
    Arithmetic(#[from] AmountError),
    /// A closing signal with a take-profit or stop-loss: nothing would carry it.
    #[error("takeProfit/stopLoss on a closing signal: a close leaves no position to protect, and a reduce-only order takes none (Bybit: \"When reduceOnly is true, take profit/stop loss cannot be set\"); send the close without them")]
    ProtectionOnClose,
    /// A take-profit or stop-loss on the wrong side of the reference: placed, it would trigger at
    /// once (Binance refuses such a conditional order: -2021 "Order would immediately trigger.").
    #[error("{kind} {price} of a {side:?} must be {should_be} the reference {reference}, or it triggers the moment it is placed")]
    ProtectionWouldTrigger {
        kind: &'static str,
        price: Decimal,
        side: Side,
        should_be: &'static str,
        reference: ReferencePrice,
    },
}

impl OrderRequest {
    /// Builds the order for `job`: routing, the leverage default, and the checks that need no
    /// price (`trade:allowed_symbols`, `trade:max_leverage`, `trade:max_quantity`). The notional
    /// and price band are [`Self::check_against`]'s: call it (or [`Self::check_own_price`] on
    /// the paper exchange) before anything is sent.
    pub fn for_job(job: &TradeJob, cfg: &RuntimeConfig) -> Result<Self, PreTradeError> {
        let s = &job.signal;
        let canonical = s.symbol.canonical();
        if !cfg.allowed_symbols.is_empty() && !cfg.allowed_symbols.contains(&canonical) {
            return Err(PreTradeError::SymbolNotAllowed(canonical));
        }
        let exchange = cfg.routing.get(&canonical).copied().unwrap_or(s.exchange);
        let leverage = s.leverage.unwrap_or(cfg.default_leverage);
        if leverage > cfg.max_leverage {
            return Err(PreTradeError::LeverageTooHigh {
                leverage,
                max: cfg.max_leverage,
                from_default: s.leverage.is_none(),
            });
        }
        if let Some(max) = cfg.max_quantity.get(&canonical) {
            if s.quantity > *max {
                return Err(PreTradeError::QuantityTooLarge {
                    symbol: canonical,
                    quantity: s.quantity,
                    max: *max,
                });
            }
        }
        Ok(Self {
            exchange,
            client_order_id: client_order_id(&job.idempotency_key, job.received_at_ms),
            symbol: s.symbol.clone(),
            side: if s.action.is_buy() {
                Side::Buy
            } else {
                Side::Sell
            },
            order_type: s.order_type,
            quantity: s.quantity,
            price: s.price,
            reduce_only: s.action.is_close(),
            leverage,
            take_profit: s.take_profit,
            stop_loss: s.stop_loss,
            testnet: s.test,
        })
    }

    /// The checks that need market data, against `reference` (the exchange's mark or last
    /// price): notional `quantity × reference` at most `trade:max_order_notional`, and the
    /// sender's `price`, if it gave one, within `trade:price_band_pct` of the reference.
    /// Without any reference price there is nothing to bound the order with: the caller refuses
    /// it with [`PreTradeError::NoReferencePrice`].
    pub fn check_against(
        &self,
        reference: ReferencePrice,
        cfg: &RuntimeConfig,
    ) -> Result<(), PreTradeError> {
        if reference.price <= Decimal::ZERO {
            return Err(PreTradeError::InvalidReference(reference));
        }
        let notional = amount::mul(self.quantity, reference.price)?;
        if notional > cfg.max_order_notional {
            return Err(PreTradeError::NotionalTooLarge {
                notional: notional.normalize(),
                max: cfg.max_order_notional,
                quantity: self.quantity,
                reference,
            });
        }
        if let Some(price) = self.price {
            // |price − reference| / reference > band / 100, without the division's rounding.
            let off = amount::mul(
                amount::sub(price, reference.price)?.abs(),
                Decimal::ONE_HUNDRED,
            )?;
            if off > amount::mul(cfg.price_band_pct, reference.price)? {
                return Err(PreTradeError::PriceOutsideBand {
                    price,
                    reference,
                    deviation_pct: amount::div(off, reference.price)?.round_dp(2).normalize(),
                    band_pct: cfg.price_band_pct,
                });
            }
        }
        crate::protect::check_against(self, reference)
    }

    /// [`Self::check_against`] the order's own price: the paper exchange's check, which fills
    /// at the signal's price (so the band holds trivially). No price: [`PreTradeError::NoReferencePrice`].
    pub fn check_own_price(&self, cfg: &RuntimeConfig) -> Result<(), PreTradeError> {
        let price = self.price.ok_or(PreTradeError::NoReferencePrice)?;
        self.check_against(ReferencePrice::signal(price), cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use contracts::signal::parse_webhook;
    use proptest::prelude::*;

    fn job(json: &str) -> TradeJob {
        TradeJob {
            idempotency_key: "k1".into(),
            request_id: "r1".into(),
            received_at_ms: 0,
            signal: parse_webhook(json.as_bytes()).unwrap().signal,
        }
    }

    #[test]
    fn close_short_buys_reduce_only() {
        let o = OrderRequest::for_job(
            &job(r#"{"exchange":"bybit","action":"CLOSE_SHORT","symbol":"BTCUSDT","quantity":"0.01","price":"60000"}"#),
            &RuntimeConfig::defaults(),
        )
        .unwrap();
        assert_eq!(o.side, Side::Buy);
        assert!(o.reduce_only);
        assert_eq!(o.leverage, 1);
        assert_eq!(o.client_order_id, client_order_id("k1", 0));
    }

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s)
            .or_else(|_| Decimal::from_scientific(s))
            .unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn overflowing_notional_is_refused_not_a_panic() {
        // A job the gateway did not bound (encoded before the bounds, or made by hand): its
        // notional does not fit a decimal, which must be a refusal, not a trapped invocation.
        let mut j = job(
            r#"{"exchange":"bybit","action":"LONG","symbol":"BTCUSDT","quantity":"1","price":"1"}"#,
        );
        j.signal.quantity = d("1e20");
        j.signal.price = Some(d("1e20"));
        let cfg = RuntimeConfig::defaults();
        let o = OrderRequest::for_job(&j, &cfg).unwrap();
        assert!(matches!(
            o.check_own_price(&cfg),
            Err(PreTradeError::Arithmetic(AmountError::Overflow { .. }))
        ));
        assert!(matches!(
            o.check_against(ReferencePrice::mark(d("1e20")), &cfg),
            Err(PreTradeError::Arithmetic(_))
        ));
    }

    #[test]
    fn routing_and_allow_list() {
        let mut cfg = RuntimeConfig::defaults();
        cfg.routing.insert("BTCUSDT".into(), Exchange::Binance);
        let j = job(
            r#"{"exchange":"bybit","action":"LONG","symbol":"BTC/USDT","quantity":"0.01","price":"60000"}"#,
        );
        assert_eq!(
            OrderRequest::for_job(&j, &cfg).unwrap().exchange,
            Exchange::Binance
        );
        cfg.allowed_symbols = vec!["ETHUSDT".into()];
        assert_eq!(
            OrderRequest::for_job(&j, &cfg),
            Err(PreTradeError::SymbolNotAllowed("BTCUSDT".into()))
        );
    }

    #[test]
    fn leverage_is_capped_by_trade_max_leverage() {
        let mut cfg = RuntimeConfig::defaults();
        let at = |lev: &str| {
            job(&format!(
                r#"{{"exchange":"bybit","action":"LONG","symbol":"BTCUSDT","quantity":"0.01","price":"60000"{lev}}}"#
            ))
        };
        assert_eq!(
            OrderRequest::for_job(&at(r#","leverage":20"#), &cfg)
                .unwrap()
                .leverage,
            20
        );
        let e = OrderRequest::for_job(&at(r#","leverage":21"#), &cfg).unwrap_err();
        assert_eq!(
            e,
            PreTradeError::LeverageTooHigh {
                leverage: 21,
                max: 20,
                from_default: false
            }
        );
        assert_eq!(
            e.to_string(),
            "leverage 21 (the signal's) > trade:max_leverage 20"
        );
        // The default is held to the same cap.
        cfg.default_leverage = 50;
        let e = OrderRequest::for_job(&at(""), &cfg).unwrap_err();
        assert_eq!(
            e.to_string(),
            "leverage 50 (trade:default_leverage) > trade:max_leverage 20"
        );
        cfg.max_leverage = 125;
        assert_eq!(OrderRequest::for_job(&at(""), &cfg).unwrap().leverage, 50);
    }

    #[test]
    fn quantity_is_capped_per_symbol() {
        let mut cfg = RuntimeConfig::defaults();
        cfg.max_quantity.insert("BTCUSDT".into(), d("0.5"));
        let q = |qty: &str, sym: &str| {
            job(&format!(
                r#"{{"exchange":"bybit","action":"LONG","symbol":"{sym}","quantity":"{qty}","price":"1"}}"#
            ))
        };
        assert!(OrderRequest::for_job(&q("0.5", "BTC/USDT"), &cfg).is_ok());
        let e = OrderRequest::for_job(&q("0.51", "BTCUSDT"), &cfg).unwrap_err();
        assert_eq!(
            e.to_string(),
            "quantity 0.51 > trade:max_quantity 0.5 for BTCUSDT"
        );
        // A symbol without a cap has none.
        assert!(OrderRequest::for_job(&q("1000", "ETHUSDT"), &cfg).is_ok());
    }

    #[test]
    fn the_notional_uses_the_reference_not_the_senders_price() {
        // The hole: 500 BTC "priced" 0.0001 passed a 1000 cap (notional 0.05).
        let cfg = RuntimeConfig::defaults();
        let j = job(
            r#"{"exchange":"bybit","action":"LONG","symbol":"BTCUSDT","quantity":"500","price":"0.0001","orderType":"market"}"#,
        );
        let o = OrderRequest::for_job(&j, &cfg).unwrap();
        assert_eq!(o.check_own_price(&cfg), Ok(()));
        let e = o
            .check_against(ReferencePrice::mark(d("60000")), &cfg)
            .unwrap_err();
        assert_eq!(
            e,
            PreTradeError::NotionalTooLarge {
                notional: d("30000000"),
                max: d("1000"),
                quantity: d("500"),
                reference: ReferencePrice::mark(d("60000")),
            }
        );
        assert_eq!(
            e.to_string(),
            "order notional 30000000 > trade:max_order_notional 1000 (quantity 500 at the reference mark price 60000)"
        );
        // Small enough to pass the cap, the same price is still 99.99...% off the reference.
        let tiny = OrderRequest {
            quantity: d("0.01"),
            ..o
        };
        let e = tiny
            .check_against(ReferencePrice::last(d("60000")), &cfg)
            .unwrap_err();
        assert!(matches!(e, PreTradeError::PriceOutsideBand { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            "price 0.0001 is 100% from the reference last price 60000, outside trade:price_band_pct 5"
        );
    }

    #[test]
    fn the_price_band() {
        let cfg = RuntimeConfig::defaults();
        let at = |price: Option<&str>| OrderRequest {
            exchange: Exchange::Bybit,
            client_order_id: client_order_id("k", 0),
            symbol: Symbol::parse("BTCUSDT").unwrap(),
            side: Side::Buy,
            order_type: OrderType::Limit,
            quantity: d("0.01"),
            price: price.map(d),
            reduce_only: false,
            leverage: 1,
            take_profit: None,
            stop_loss: None,
            testnet: false,
        };
        let mark = ReferencePrice::mark(d("60000"));
        // Exactly 5% either side is inside; a hair beyond is not.
        for ok in ["63000", "57000", "60000"] {
            assert_eq!(at(Some(ok)).check_against(mark, &cfg), Ok(()), "{ok}");
        }
        for bad in ["63000.01", "56999.99"] {
            let e = at(Some(bad)).check_against(mark, &cfg).unwrap_err();
            assert!(
                matches!(e, PreTradeError::PriceOutsideBand { .. }),
                "{bad}: {e}"
            );
        }
        let e = at(Some("66000")).check_against(mark, &cfg).unwrap_err();
        assert_eq!(
            e,
            PreTradeError::PriceOutsideBand {
                price: d("66000"),
                reference: mark,
                deviation_pct: d("10"),
                band_pct: d("5"),
            }
        );
        // No sender price: only the notional is checked.
        assert_eq!(at(None).check_against(mark, &cfg), Ok(()));
        assert_eq!(
            at(None).check_own_price(&cfg),
            Err(PreTradeError::NoReferencePrice)
        );
        // A reference that is no price at all.
        assert_eq!(
            at(None).check_against(ReferencePrice::mark(Decimal::ZERO), &cfg),
            Err(PreTradeError::InvalidReference(ReferencePrice::mark(
                Decimal::ZERO
            )))
        );
    }

    #[test]
    fn the_paper_path_checks_the_signals_own_price() {
        let cfg = RuntimeConfig::defaults();
        let big = job(
            r#"{"exchange":"paper","action":"LONG","symbol":"BTCUSDT","quantity":"1","price":"60000"}"#,
        );
        let o = OrderRequest::for_job(&big, &cfg).unwrap();
        let e = o.check_own_price(&cfg).unwrap_err();
        assert_eq!(
            e.to_string(),
            "order notional 60000 > trade:max_order_notional 1000 (quantity 1 at the reference signal price 60000)"
        );
        let unpriced =
            job(r#"{"exchange":"paper","action":"LONG","symbol":"BTCUSDT","quantity":"1"}"#);
        let o = OrderRequest::for_job(&unpriced, &cfg).unwrap();
        assert_eq!(
            o.check_own_price(&cfg),
            Err(PreTradeError::NoReferencePrice)
        );
    }

    /// Amounts the gateway accepts: > 0, at most 10^12, at most 12 decimal places.
    fn bounded() -> impl Strategy<Value = Decimal> {
        (1i128..=1_000_000_000_000_000_000_000_000, 0u32..=12).prop_map(|(m, scale)| {
            Decimal::from_i128_with_scale(m, scale)
                .min(contracts::signal::MAX_AMOUNT)
                .normalize()
        })
    }

    proptest! {
        /// Within the gateway's bounds, and any config the reader accepts, every check answers
        /// (never a panic), and an accepted order is inside the cap and the band.
        #[test]
        fn the_checks_never_panic_within_the_bounds(
            quantity in bounded(),
            price in proptest::option::of(bounded()),
            reference in bounded(),
            max_notional in bounded(),
            band in (1u32..=10_000).prop_map(|b| Decimal::new(i64::from(b), 2)),
            cap in proptest::option::of(bounded()),
            leverage in proptest::option::of(1u8..=125),
            max_leverage in 1u8..=125,
        ) {
            let mut cfg = RuntimeConfig::defaults();
            cfg.max_order_notional = max_notional;
            cfg.price_band_pct = band;
            cfg.max_leverage = max_leverage;
            if let Some(cap) = cap {
                cfg.max_quantity.insert("BTCUSDT".into(), cap);
            }
            let mut j = job(r#"{"exchange":"bybit","action":"LONG","symbol":"BTCUSDT","quantity":"1"}"#);
            j.signal.quantity = quantity;
            j.signal.price = price;
            j.signal.leverage = leverage;
            let Ok(o) = OrderRequest::for_job(&j, &cfg) else { return Ok(()) };
            let _ = o.check_own_price(&cfg);
            if o.check_against(ReferencePrice::mark(reference), &cfg).is_ok() {
                prop_assert!(quantity * reference <= max_notional);
                if let Some(p) = price {
                    prop_assert!((p - reference).abs() * Decimal::ONE_HUNDRED <= band * reference);
                }
            }
        }

        /// Past the bounds (any decimals at all): still an answer, never a panic.
        #[test]
        fn the_checks_never_panic_on_any_numbers(
            quantity in any_decimal(),
            price in proptest::option::of(any_decimal()),
            reference in any_decimal(),
            max_notional in any_decimal(),
            band in any_decimal(),
        ) {
            let mut cfg = RuntimeConfig::defaults();
            cfg.max_order_notional = max_notional;
            cfg.price_band_pct = band;
            cfg.max_quantity.insert("BTCUSDT".into(), max_notional);
            let mut j = job(r#"{"exchange":"bybit","action":"LONG","symbol":"BTCUSDT","quantity":"1"}"#);
            j.signal.quantity = quantity;
            j.signal.price = price;
            if let Ok(o) = OrderRequest::for_job(&j, &cfg) {
                let _ = o.check_own_price(&cfg);
                let _ = o.check_against(ReferencePrice::mark(reference), &cfg);
            }
        }
    }

    fn any_decimal() -> impl Strategy<Value = Decimal> {
        (
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<bool>(),
            0u32..=28,
        )
            .prop_map(|(lo, mid, hi, neg, scale)| Decimal::from_parts(lo, mid, hi, neg, scale))
    }
}
