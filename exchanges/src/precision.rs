//! Fitting an order to an instrument's trading rules before it is signed: quantity down to the
//! lot step (never more than the sender asked for), prices to the nearest tick, base units to
//! contracts where the exchange counts in contracts, and a clear refusal below the minimum.
//!
//! Exchanges reject any other precision, and a refusal after signing costs a round trip and a
//! rate-limit token; here it is a typed, testable answer.

use crate::order::OrderRequest;
use crate::venue::{ExchangeError, Instrument};
use crate::wire::{plain, refused};
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

/// Largest multiple of `step` not above `qty` (`qty` ≥ 0, `step` > 0).
pub fn round_down_to_step(qty: Decimal, step: Decimal) -> Decimal {
    (qty - qty % step).normalize()
}

/// Nearest multiple of `tick` (`price` ≥ 0, `tick` > 0); exactly halfway rounds up. The
/// remainder is exact in decimal arithmetic, where `price / tick` could round in its 28th digit.
pub fn round_to_tick(price: Decimal, tick: Decimal) -> Decimal {
    let rem = price % tick;
    let below = price - rem;
    let nearest = if rem * Decimal::TWO >= tick {
        below + tick
    } else {
        below
    };
    nearest.normalize()
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
    let units = order.quantity / instrument.contract_size;
    let quantity = round_down_to_step(units, instrument.qty_step);
    if quantity.is_zero() || quantity < instrument.min_qty {
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
                plain(instrument.qty_step),
                plain(instrument.min_qty)
            ),
        ));
    }
    let tick = |name: &str, p: Option<Decimal>| -> Result<Option<Decimal>, ExchangeError> {
        match p {
            None => Ok(None),
            Some(p) => {
                let r = round_to_tick(p, instrument.tick_size);
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
        assert_eq!(round_to_tick(d("65000.04"), d("0.1")), d("65000"));
        assert_eq!(round_to_tick(d("65000.05"), d("0.1")), d("65000.1"));
        assert_eq!(round_to_tick(d("1.25"), d("0.5")), d("1.5"));
        assert_eq!(round_to_tick(d("1.24"), d("0.5")), d("1"));
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
            let r = round_down_to_step(qty, step);
            prop_assert!(r <= qty);
            prop_assert!(qty - r < step);
            prop_assert!((r % step).is_zero());
        }

        #[test]
        fn tick_rounding_is_nearest(m in 1i64..10_000_000_000, scale in 0u32..10, tick in step()) {
            let p = Decimal::new(m, scale);
            let r = round_to_tick(p, tick);
            prop_assert!((r % tick).is_zero());
            let diff = (r - p).abs();
            prop_assert!(diff * Decimal::TWO <= tick);
        }

        #[test]
        fn fitted_quantity_is_never_more_than_asked(m in 1i64..10_000_000_000, scale in 0u32..10, step in step(), contract in prop::sample::select(vec!["1", "0.0001", "0.01", "10"]).prop_map(d)) {
            let i = Instrument { symbol: "X".into(), qty_step: step, min_qty: step, tick_size: d("0.1"), contract_size: contract };
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
