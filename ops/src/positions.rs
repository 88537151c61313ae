//! Open positions, derived from filled orders rather than stored: hoox's own view, the fold the
//! ledger has always had. What operators see now is the exchanges' own positions beside what
//! hoox's fills imply per exchange and network ([`crate::reconcile`], [`crate::pnl`]); this fold
//! stays for callers of its types.
//!
//! The ledger upserts orders keyed by client order id, so replays and redeliveries never count a
//! fill twice; a positions table updated incrementally would need read-modify-write on every
//! event and could drift. Instead a position is the fold of its fills: opening actions (`LONG`,
//! `SHORT`) add to their side at the fill price, closing actions (`CLOSE_LONG`, `CLOSE_SHORT`)
//! reduce it (never below zero) at the running average. Long and short sides are kept apart, as
//! in hedge mode.
//!
//! The fold's arithmetic is checked: ledger rows are not bounded like webhook amounts (they may
//! predate the bounds, or come from an exchange), and a sum over many fills can outgrow a
//! `Decimal` even when each fill fits. A book that overflows is a [`PositionError`] naming it,
//! never a panic.

use crate::query::Query;
use contracts::amount::{self, AmountError};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::str::FromStr;

/// One filled order, as [`fills_query`] reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fill {
    pub exchange: Option<String>,
    pub venue: String,
    pub symbol: String,
    pub action: Option<String>,
    pub filled_quantity: String,
    pub average_price: Option<String>,
    pub created_at_ms: i64,
}

/// Every order with a fill, oldest first.
pub fn fills_query() -> Query {
    Query::new(
        "SELECT s.exchange AS exchange, o.exchange AS venue, o.symbol, s.action AS action, \
         o.filled_quantity, o.average_price, o.created_at_ms \
         FROM orders o LEFT JOIN signals s ON s.idempotency_key = o.idempotency_key \
         ORDER BY o.created_at_ms, o.client_order_id",
        vec![],
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Long,
    Short,
}

/// One open side of one symbol on one venue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub exchange: String,
    pub venue: String,
    pub symbol: String,
    pub side: Side,
    pub quantity: Decimal,
    /// Average entry price; `None` when a fill had no price.
    pub average_entry_price: Option<Decimal>,
    pub last_fill_at_ms: i64,
}

/// A book whose fold overflowed: which one, and the computation that did.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("position {exchange}/{venue} {symbol} {side:?} cannot be derived: {source}")]
pub struct PositionError {
    pub exchange: String,
    pub venue: String,
    pub symbol: String,
    pub side: Side,
    pub source: AmountError,
}

#[derive(Debug, Default, Clone)]
struct Book {
    qty: Decimal,
    cost: Decimal,
    priced: bool,
    last_ms: i64,
}

impl Book {
    fn open(&mut self, qty: Decimal, price: Option<Decimal>, at: i64) -> Result<(), AmountError> {
        let fresh = self.qty.is_zero();
        let new_qty = amount::add(self.qty, qty)?;
        let (cost, priced) = match price {
            Some(p) => {
                let base = if fresh { Decimal::ZERO } else { self.cost };
                (
                    amount::add(base, amount::mul(qty, p)?)?,
                    fresh || self.priced,
                )
            }
            None => (if fresh { Decimal::ZERO } else { self.cost }, false),
        };
        // Nothing changes unless everything fitted.
        *self = Self {
            qty: new_qty,
            cost,
            priced,
            last_ms: at,
        };
        Ok(())
    }

    fn close(&mut self, qty: Decimal, at: i64) -> Result<(), AmountError> {
        let reduce = qty.min(self.qty);
        let mut cost = self.cost;
        if !self.qty.is_zero() {
            let avg = amount::div(self.cost, self.qty)?;
            cost = amount::sub(cost, amount::mul(avg, reduce)?)?;
        }
        self.qty = amount::sub(self.qty, reduce)?;
        self.cost = if self.qty.is_zero() {
            Decimal::ZERO
        } else {
            cost
        };
        self.last_ms = at;
        Ok(())
    }
}

/// Folds fills (oldest first) into the open positions, largest venue/symbol order. `Err` names
/// the first book whose arithmetic overflowed (see the module doc).
pub fn derive(fills: &[Fill]) -> Result<Vec<Position>, PositionError> {
    let mut books: BTreeMap<(String, String, String, Side), Book> = BTreeMap::new();
    for f in fills {
        let Ok(qty) = Decimal::from_str(f.filled_quantity.trim()) else {
            continue;
        };
        if qty <= Decimal::ZERO {
            continue;
        }
        let price = f
            .average_price
            .as_deref()
            .and_then(|p| Decimal::from_str(p.trim()).ok());
        let (side, opens) = match f.action.as_deref() {
            Some("LONG") => (Side::Long, true),
            Some("SHORT") => (Side::Short, true),
            Some("CLOSE_LONG") => (Side::Long, false),
            Some("CLOSE_SHORT") => (Side::Short, false),
            _ => continue,
        };
        let exchange = f.exchange.clone().unwrap_or_else(|| f.venue.clone());
        let key = (exchange, f.venue.clone(), f.symbol.clone(), side);
        let book = books.entry(key.clone()).or_default();
        let folded = if opens {
            book.open(qty, price, f.created_at_ms)
        } else {
            book.close(qty, f.created_at_ms)
        };
        folded.map_err(|source| error_of(key, source))?;
    }
    books
        .into_iter()
        .filter(|(_, b)| b.qty > Decimal::ZERO)
        .map(|(key, b)| {
            let average_entry_price = if b.priced {
                let avg = amount::div(b.cost, b.qty).map_err(|e| error_of(key.clone(), e))?;
                Some(avg.round_dp(8).normalize())
            } else {
                None
            };
            let (exchange, venue, symbol, side) = key;
            Ok(Position {
                exchange,
                venue,
                symbol,
                side,
                quantity: b.qty.normalize(),
                average_entry_price,
                last_fill_at_ms: b.last_ms,
            })
        })
        .collect()
}

fn error_of(
    (exchange, venue, symbol, side): (String, String, String, Side),
    source: AmountError,
) -> PositionError {
    PositionError {
        exchange,
        venue,
        symbol,
        side,
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fill(action: &str, qty: &str, price: Option<&str>, at: i64) -> Fill {
        Fill {
            exchange: Some("paper".into()),
            venue: "paper".into(),
            symbol: "BTCUSDT".into(),
            action: Some(action.into()),
            filled_quantity: qty.into(),
            average_price: price.map(str::to_owned),
            created_at_ms: at,
        }
    }

    #[test]
    fn opens_average_and_closes_reduce() {
        let p = derive(&[
            fill("LONG", "1", Some("100"), 1),
            fill("LONG", "1", Some("200"), 2),
            fill("CLOSE_LONG", "0.5", Some("300"), 3),
        ])
        .unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].side, Side::Long);
        assert_eq!(p[0].quantity, Decimal::new(15, 1));
        assert_eq!(p[0].average_entry_price, Some(Decimal::from(150)));
        assert_eq!(p[0].last_fill_at_ms, 3);
    }

    #[test]
    fn a_full_close_leaves_nothing_and_sides_stay_apart() {
        let p = derive(&[
            fill("LONG", "1", Some("100"), 1),
            fill("SHORT", "2", Some("110"), 2),
            fill("CLOSE_LONG", "5", None, 3),
        ])
        .unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].side, Side::Short);
        assert_eq!(p[0].quantity, Decimal::from(2));
    }

    #[test]
    fn unpriced_fills_leave_the_average_unknown_and_junk_is_ignored() {
        let p = derive(&[
            fill("LONG", "1", None, 1),
            fill("LONG", "abc", Some("1"), 2),
            fill("HOLD", "1", Some("1"), 3),
        ])
        .unwrap();
        assert_eq!(p[0].quantity, Decimal::ONE);
        assert_eq!(p[0].average_entry_price, None);
    }

    #[test]
    fn overflowing_fills_do_not_panic() {
        // A ledger row the bounds never saw (recorded before them, or written by hand).
        let e = derive(&[fill(
            "LONG",
            "100000000000000000000",
            Some("100000000000000000000"),
            1,
        )])
        .unwrap_err();
        assert_eq!((e.symbol.as_str(), e.side), ("BTCUSDT", Side::Long));
        assert!(e.to_string().contains("overflows a decimal"), "{e}");
        // Each fill fits; their sum does not.
        let e = derive(&[
            fill("LONG", "50000000000000000000000000000", Some("1"), 1),
            fill("LONG", "50000000000000000000000000000", Some("1"), 2),
        ])
        .unwrap_err();
        assert!(matches!(e.source, AmountError::Overflow { .. }), "{e}");
        // The same fills on another book do not hide a good one.
        let ok = derive(&[
            fill("LONG", "1", Some("2"), 1),
            fill("CLOSE_LONG", "50000000000000000000000000000", None, 2),
        ])
        .unwrap();
        assert!(ok.is_empty());
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

    proptest! {
        /// Any ledger rows at all: positions or an error naming the book, never a panic.
        #[test]
        fn any_fills_fold_without_panic(rows in proptest::collection::vec(
            (0usize..4, any_decimal(), proptest::option::of(any_decimal())), 0..30,
        )) {
            let actions = ["LONG", "SHORT", "CLOSE_LONG", "CLOSE_SHORT"];
            let fills: Vec<Fill> = rows
                .iter()
                .enumerate()
                .map(|(i, (a, q, p))| Fill {
                    filled_quantity: q.to_string(),
                    average_price: p.map(|p| p.to_string()),
                    ..fill(actions[*a], "1", None, i as i64)
                })
                .collect();
            if let Ok(positions) = derive(&fills) {
                for p in positions {
                    prop_assert!(p.quantity > Decimal::ZERO);
                }
            }
        }

        /// Quantity is conserved: opens minus what closes could take, never negative.
        #[test]
        fn long_quantity_is_opens_minus_closes(ops in proptest::collection::vec((any::<bool>(), 1u32..1000), 0..40)) {
            let fills: Vec<Fill> = ops
                .iter()
                .enumerate()
                .map(|(i, (open, q))| fill(if *open { "LONG" } else { "CLOSE_LONG" }, &q.to_string(), Some("10"), i as i64))
                .collect();
            let mut expect: i64 = 0;
            for (open, q) in &ops {
                expect = if *open { expect + i64::from(*q) } else { (expect - i64::from(*q)).max(0) };
            }
            let got = derive(&fills).unwrap().into_iter().find(|p| p.side == Side::Long).map(|p| p.quantity).unwrap_or_default();
            prop_assert_eq!(got, Decimal::from(expect));
            for p in derive(&fills).unwrap() {
                prop_assert!(p.quantity > Decimal::ZERO);
                prop_assert_eq!(p.average_entry_price, Some(Decimal::from(10)));
            }
        }
    }
}
