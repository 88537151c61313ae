//! Fitting an order to an instrument's trading rules before it is signed: quantity down to the
//! lot step (never more than the sender asked for), prices to the nearest tick, base units to
//! contracts where the exchange counts in contracts, and a clear refusal below the minimum.
//!
//! Exchanges reject any other precision, and a refusal after signing costs a round trip and a
//! rate-limit token; here it is a typed, testable answer. So are the exchanges' other size
//! rules (`check_limits`): a maximum quantity, a market order's own lot, the minimum notional
//! of an order that opens.

use crate::order::OrderRequest;
use crate::venue::{ExchangeError, Instrument};
use crate::wire::{plain, refused};
use contracts::amount::{self, AmountError};
use contracts::signal::OrderType;
use rust_decimal::Decimal;

/// An order's numbers in the exchange's own units, ready to write into a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sized {
    /// In the exchange's order unit (base asset; contracts on MEXC futures).
    pub quantity: Decimal,
    /// Limit price, or a market order's reference price; on the tick.
    pub price: Option<Decimal>,
    pub take_profit: Option<Decimal>,
    pub stop_loss: Option<Decimal>,
}

/// Largest multiple of `step` not above `qty` (`qty` ≥ 0, `step` > 0). `Err` only when the
/// arithmetic has no decimal result (a zero step).
pub fn round_down_to_step(qty: Decimal, step: Decimal) -> Result<Decimal, AmountError> {
    Ok(amount::sub(qty, amount::rem(qty, step)?)?.normalize())
}

/// Nearest multiple of `tick` (`price` ≥ 0, `tick` > 0); exactly halfway rounds up. The
/// remainder is exact in decimal arithmetic, where `price / tick` could round in its 28th digit.
/// `Err` when the result does not fit (a price within a tick of `Decimal::MAX` rounding up).
pub fn round_to_tick(price: Decimal, tick: Decimal) -> Result<Decimal, AmountError> {
    let rem = amount::rem(price, tick)?;
    let below = amount::sub(price, rem)?;
    // `rem ≥ tick − rem` is `2 × rem ≥ tick` without a product that could overflow.
    let nearest = if rem >= amount::sub(tick, rem)? {
        amount::add(below, tick)?
    } else {
        below
    };
    Ok(nearest.normalize())
}

/// Applies `instrument` to `order`: converts base units with the contract size, rounds, and
/// refuses what the exchange would refuse.
pub fn fit(order: &OrderRequest, instrument: &Instrument) -> Result<Sized, ExchangeError> {
    let ex = order.exchange;
    let sym = &instrument.symbol;
    for (name, v) in [
        ("qty step", instrument.qty_step),
        ("tick size", instrument.tick_size),
        ("contract size", instrument.contract_size),
    ] {
        if v <= Decimal::ZERO {
            return Err(refused(
                ex,
                format!("instrument {sym} has a non-positive {name} ({v}); refusing to size an order with it"),
            ));
        }
    }
    if order.quantity <= Decimal::ZERO {
        return Err(refused(
            ex,
            format!("quantity {} is not positive", order.quantity),
        ));
    }
    let out_of_range = |what: &str, e: AmountError| {
        refused(
            ex,
            format!("{what} of the order on {sym} is out of range ({e}); refusing to size it"),
        )
    };
    // A market order follows the market lot where the exchange publishes one apart (Binance
    // `MARKET_LOT_SIZE`).
    let market = order.order_type == OrderType::Market;
    let pick = |own: Option<Decimal>, general: Decimal| match own {
        Some(v) if market && v > Decimal::ZERO => v,
        _ => general,
    };
    let qty_step = pick(instrument.limits.market_qty_step, instrument.qty_step);
    let min_qty = pick(instrument.limits.market_min_qty, instrument.min_qty);
    let units = amount::div(order.quantity, instrument.contract_size)
        .map_err(|e| out_of_range("the contract count", e))?;
    let quantity =
        round_down_to_step(units, qty_step).map_err(|e| out_of_range("the quantity", e))?;
    if quantity.is_zero() || quantity < min_qty {
        let unit = if instrument.contract_size == Decimal::ONE {
            String::new()
        } else {
            format!(
                " ({} base units per contract, so {} contracts)",
                plain(instrument.contract_size),
                plain(units)
            )
        };
        return Err(refused(
            ex,
            format!(
                "quantity {}{unit} rounds down to {} at step {} on {sym}, below the minimum order quantity {}",
                plain(order.quantity),
                plain(quantity),
                plain(qty_step),
                plain(min_qty)
            ),
        ));
    }
    let tick = |name: &str, p: Option<Decimal>| -> Result<Option<Decimal>, ExchangeError> {
        match p {
            None => Ok(None),
            Some(p) => {
                let r =
                    round_to_tick(p, instrument.tick_size).map_err(|e| out_of_range(name, e))?;
                if r <= Decimal::ZERO {
                    Err(refused(
                        ex,
                        format!(
                            "{name} {} rounds to {} at tick {} on {sym}",
                            plain(p),
                            plain(r),
                            plain(instrument.tick_size)
                        ),
                    ))
                } else {
                    Ok(Some(r))
                }
            }
        }
    };
    let price = tick("price", order.price)?;
    if order.order_type == OrderType::Limit && price.is_none() {
        return Err(refused(ex, "a limit order needs a price"));
    }
    Ok(Sized {
        quantity,
        price,
        take_profit: tick("take-profit", order.take_profit)?,
        stop_loss: tick("stop-loss", order.stop_loss)?,
    })
}

/// The names one exchange gives its size rules, for refusals an operator can match against
/// the exchange's own documentation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RuleNames {
    /// `Binance`, `Bybit`, `MEXC`.
    pub venue: &'static str,
    pub max_qty: &'static str,
    pub max_market_qty: &'static str,
    pub min_notional: &'static str,
    /// The exchange splits a reduce-only order above the maximum into several itself (Bybit:
    /// "If reduceOnly=true and order qty > max order qty, the order will automatically be
    /// split up into multiple orders"), so a close is never refused for its size.
    pub splits_reduce_only_over_max: bool,
}

/// The instrument's [`crate::venue::Limits`] applied to a sized order, as the exchange would
/// apply them, refusing (Terminal, nothing sent) an order it would refuse:
///
/// - a quantity above the maximum (a market order's own maximum where there is one), unless
///   the exchange splits such a close itself;
/// - an opening order's notional below the minimum. A closing (reduce-only) order is not
///   refused for its notional here: Binance's rule does not apply to one ("“Reduce-Only”
///   order is not affected"), and hoox does not refuse a close on a rule the exchange may
///   not apply. A limit order's notional is at its price; a market order's at the exchange's
///   reference price (`placement.reference_price`: Binance values a market order at its mark
///   price), else the sender's price, else it is left to the exchange.
pub(crate) fn check_limits(
    order: &OrderRequest,
    instrument: &Instrument,
    sized: &Sized,
    names: &RuleNames,
) -> Result<(), ExchangeError> {
    let ex = order.exchange;
    let sym = &instrument.symbol;
    let limits = &instrument.limits;
    let market = order.order_type == OrderType::Market;
    let in_units = |q: Decimal| {
        if instrument.contract_size == Decimal::ONE {
            plain(q)
        } else {
            format!(
                "{} contracts ({} {})",
                plain(q),
                plain(instrument.base_quantity(q)),
                order.symbol.base
            )
        }
    };
    let max = match (market, limits.max_market_qty) {
        (true, Some(m)) => Some((m, names.max_market_qty)),
        _ => limits.max_qty.map(|m| (m, names.max_qty)),
    };
    if let Some((max, rule)) = max {
        let exempt = order.reduce_only && names.splits_reduce_only_over_max;
        if sized.quantity > max && !exempt {
            return Err(refused(
                ex,
                format!(
                    "quantity {} above {}'s {rule} {} for {sym}",
                    in_units(sized.quantity),
                    names.venue,
                    plain(max)
                ),
            ));
        }
    }
    let Some(min) = limits.min_notional.filter(|_| !order.reduce_only) else {
        return Ok(());
    };
    let price = if market {
        instrument
            .placement
            .reference_price
            .map(|p| (p, "the exchange's reference price"))
            .or(sized.price.map(|p| (p, "the signal's price")))
    } else {
        sized.price.map(|p| (p, "the limit price"))
    };
    let Some((price, at)) = price else {
        return Ok(());
    };
    let notional = amount::mul(instrument.base_quantity(sized.quantity), price).map_err(|e| {
        refused(
            ex,
            format!("the notional of the order on {sym} is out of range ({e}); refusing it"),
        )
    })?;
    if notional < min {
        return Err(refused(
            ex,
            format!(
                "notional {} {} below {}'s {} {} for {sym} (quantity {} at {at} {})",
                plain(notional.round_dp(8)),
                order.symbol.quote,
                names.venue,
                names.min_notional,
                plain(min),
                in_units(sized.quantity),
                plain(price)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::Side;
    use crate::venue::ErrorClass;
    use contracts::signal::Exchange;
    use contracts::symbol::Symbol;
    use proptest::prelude::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap_or_else(|_| panic!("{s}"))
    }

    fn instrument(step: &str, min: &str, tick: &str, contract: &str) -> Instrument {
        Instrument {
            symbol: "BTCUSDT".into(),
            qty_step: d(step),
            min_qty: d(min),
            tick_size: d(tick),
            contract_size: d(contract),
            limits: Default::default(),
            placement: Default::default(),
        }
    }

    fn order(qty: &str, price: Option<&str>, order_type: OrderType) -> OrderRequest {
        OrderRequest {
            exchange: Exchange::Bybit,
            client_order_id: "hx0123456789abcdef0123456789abcd".into(),
            symbol: Symbol::parse("BTCUSDT").unwrap_or_else(|e| panic!("{e}")),
            side: Side::Buy,
            order_type,
            quantity: d(qty),
            price: price.map(d),
            reduce_only: false,
            leverage: 1,
            take_profit: None,
            stop_loss: None,
            testnet: false,
        }
    }

    #[test]
    fn quantity_rounds_down_price_to_nearest_tick() {
        let i = instrument("0.001", "0.001", "0.1", "1");
        let s = fit(&order("0.0129", Some("65000.06"), OrderType::Limit), &i)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.quantity, d("0.012"));
        assert_eq!(s.price, Some(d("65000.1")));
        assert_eq!(round_to_tick(d("65000.04"), d("0.1")), Ok(d("65000")));
        assert_eq!(round_to_tick(d("65000.05"), d("0.1")), Ok(d("65000.1")));
        assert_eq!(round_to_tick(d("1.25"), d("0.5")), Ok(d("1.5")));
        assert_eq!(round_to_tick(d("1.24"), d("0.5")), Ok(d("1")));
    }

    #[test]
    fn contracts_on_mexc() {
        // BTC_USDT: 0.0001 BTC per contract, step 1 contract.
        let i = instrument("1", "1", "0.1", "0.0001");
        let s =
            fit(&order("0.00159", None, OrderType::Market), &i).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.quantity, d("15"));
        assert_eq!(s.price, None);
    }

    #[test]
    fn below_minimum_is_terminal_with_a_clear_message() {
        let i = instrument("0.001", "0.001", "0.1", "1");
        let e = fit(&order("0.0009", None, OrderType::Market), &i).err();
        let e = e.unwrap_or_else(|| panic!("should refuse"));
        assert_eq!(e.class, ErrorClass::Terminal);
        assert!(
            e.message.contains("below the minimum order quantity 0.001"),
            "{}",
            e.message
        );
        let i = instrument("1", "1", "0.1", "0.0001");
        let e = fit(&order("0.00005", None, OrderType::Market), &i).err();
        let msg = e.map(|e| e.message).unwrap_or_default();
        assert!(msg.contains("0.5 contracts"), "{msg}");
    }

    #[test]
    fn limit_without_price_and_bad_instruments_are_refused() {
        let i = instrument("0.001", "0.001", "0.1", "1");
        assert!(fit(&order("1", None, OrderType::Limit), &i).is_err());
        let bad = instrument("0", "0.001", "0.1", "1");
        assert!(fit(&order("1", None, OrderType::Market), &bad).is_err());
        assert!(fit(&order("1", Some("0.01"), OrderType::Limit), &i).is_err());
    }

    #[test]
    fn extreme_numbers_are_refused_not_a_panic() {
        // Base units to contracts: Decimal::MAX / 1e-10 overflows.
        let i = instrument("1", "1", "0.1", "0.0000000001");
        let mut o = order("1", None, OrderType::Market);
        o.quantity = Decimal::MAX;
        let e = fit(&o, &i).err().map(|e| e.class);
        assert_eq!(e, Some(ErrorClass::Terminal));
        // A price that rounds up past Decimal::MAX (MAX % 11 = 8, so it rounds up).
        let i = instrument("0.001", "0.001", "11", "1");
        let mut o = order("1", None, OrderType::Limit);
        o.price = Some(Decimal::MAX);
        let e = fit(&o, &i).err().map(|e| e.class);
        assert_eq!(e, Some(ErrorClass::Terminal));
        // A take-profit likewise.
        let mut o = order("1", Some("100"), OrderType::Limit);
        o.take_profit = Some(Decimal::MAX);
        assert!(fit(&o, &i).is_err());
        // A tiny step below a huge quantity: the remainder must not overflow either.
        let i = instrument(
            "0.0000000000000000000000000001",
            "0.0000000000000000000000000001",
            "0.1",
            "1",
        );
        let mut o = order("1", None, OrderType::Market);
        o.quantity = Decimal::MAX;
        let _ = fit(&o, &i);
        assert_eq!(
            round_to_tick(Decimal::MAX, Decimal::from(11)).map_err(|e| e.to_string()),
            Err(format!(
                "{} + 11 overflows a decimal (at most {})",
                Decimal::MAX - Decimal::from(8),
                Decimal::MAX
            ))
        );
        assert!(round_down_to_step(Decimal::ONE, Decimal::ZERO).is_err());
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

    fn step() -> impl Strategy<Value = Decimal> {
        prop::sample::select(vec![
            "0.001", "0.01", "0.1", "1", "5", "0.0005", "0.3", "0.000001",
        ])
        .prop_map(d)
    }

    proptest! {
        #[test]
        fn round_down_never_exceeds_and_is_within_one_step(m in 0i64..10_000_000_000, scale in 0u32..10, step in step()) {
            let qty = Decimal::new(m, scale);
            let r = round_down_to_step(qty, step).unwrap();
            prop_assert!(r <= qty);
            prop_assert!(qty - r < step);
            prop_assert!((r % step).is_zero());
        }

        #[test]
        fn tick_rounding_is_nearest(m in 1i64..10_000_000_000, scale in 0u32..10, tick in step()) {
            let p = Decimal::new(m, scale);
            let r = round_to_tick(p, tick).unwrap();
            prop_assert!((r % tick).is_zero());
            let diff = (r - p).abs();
            prop_assert!(diff * Decimal::TWO <= tick);
        }

        /// Any numbers at all, from the order or the instrument: an answer, never a panic.
        #[test]
        fn fit_never_panics(
            qty in any_decimal(),
            price in proptest::option::of(any_decimal()),
            take_profit in proptest::option::of(any_decimal()),
            step in any_decimal(),
            min in any_decimal(),
            tick in any_decimal(),
            contract in any_decimal(),
            limit in any::<bool>(),
        ) {
            let i = Instrument { symbol: "X".into(), qty_step: step, min_qty: min, tick_size: tick, contract_size: contract, limits: Default::default(), placement: Default::default() };
            let mut o = order("1", None, if limit { OrderType::Limit } else { OrderType::Market });
            o.quantity = qty;
            o.price = price;
            o.take_profit = take_profit;
            let _ = fit(&o, &i);
        }

        #[test]
        fn fitted_quantity_is_never_more_than_asked(m in 1i64..10_000_000_000, scale in 0u32..10, step in step(), contract in prop::sample::select(vec!["1", "0.0001", "0.01", "10"]).prop_map(d)) {
            let i = Instrument { symbol: "X".into(), qty_step: step, min_qty: step, tick_size: d("0.1"), contract_size: contract, limits: Default::default(), placement: Default::default() };
            let mut o = order("1", None, OrderType::Market);
            o.quantity = Decimal::new(m, scale);
            if let Ok(s) = fit(&o, &i) {
                prop_assert!(s.quantity * contract <= o.quantity);
                prop_assert!(s.quantity >= step);
                prop_assert!((s.quantity % step).is_zero());
            }
        }
    }
}
