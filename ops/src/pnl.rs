//! What hoox's own fills imply, per exchange and network: the open books (what the exchange
//! should hold if every trade on the account was hoox's) and, for every position that closed,
//! its realised PnL and fees.
//!
//! The fold reads the ledger's orders oldest first ([`fills_query`]; the exchange and network
//! each order went to, its filled quantity, average price and fees as the follow-up last saw
//! them). Opening actions (`LONG`, `SHORT`) add to their side at their average price;
//! closing actions (`CLOSE_LONG`, `CLOSE_SHORT`) reduce it, never below zero, and realise
//! `(exit − entry) × closed` on a long, `(entry − exit) × closed` on a short, with `entry` the
//! book's running average. Fees are charged to what they belong to: an opening fill's fee to the
//! book, released pro rata as it closes; a closing fill's fee, pro rata to the part of it that
//! closed something. When a book returns to zero it is a [`ClosedPosition`]: gross PnL, fees
//! known, and net = gross − fees.
//!
//! Nothing is guessed. A fill without a price leaves its book's PnL unknown (`gross_pnl: None`);
//! a fill whose fee is unknown, or in another asset than USDT, makes the fees incomplete
//! (`fees_complete: false`): the known ones are subtracted and the flag says the rest are not.
//! Every computation is checked ([`contracts::amount`]): a book whose arithmetic overflows is a
//! [`PnlError`] naming it, never a panic.
//!
//! Long and short books are kept apart here; where an exchange nets them (one-way mode),
//! [`crate::reconcile`] compares their difference.

use crate::query::Query;
use contracts::amount::{self, AmountError};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::str::FromStr;

/// The asset fees and PnL are counted in.
pub const QUOTE: &str = "USDT";

/// One order with what it filled, as [`fills_query`] reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerFill {
    pub client_order_id: String,
    /// Where it executed: `bybit`, `binance`, `mexc`, `paper`.
    pub exchange: Option<String>,
    /// `mainnet` or `testnet`.
    pub network: Option<String>,
    pub symbol: String,
    /// The signal's action (`LONG`, `CLOSE_LONG`, ...).
    pub action: Option<String>,
    pub filled_quantity: String,
    pub average_price: Option<String>,
    pub fee: Option<String>,
    pub fee_asset: Option<String>,
    pub created_at_ms: i64,
}

/// Every order, oldest first, with the exchange and network it went to (for rows written before
/// those were recorded: paper for paper orders, else the signal's exchange and its `test` flag).
pub fn fills_query() -> Query {
    Query::new(
        "SELECT o.client_order_id, \
         COALESCE(o.venue_exchange, CASE WHEN o.exchange = 'paper' THEN 'paper' ELSE s.exchange END) AS exchange, \
         COALESCE(o.network, CASE WHEN s.test = 1 THEN 'testnet' ELSE 'mainnet' END) AS network, \
         o.symbol, s.action AS action, o.filled_quantity, o.average_price, o.fee, o.fee_asset, \
         o.created_at_ms \
         FROM orders o LEFT JOIN signals s ON s.idempotency_key = o.idempotency_key \
         ORDER BY o.created_at_ms, o.client_order_id",
        vec![],
    )
}

/// Which way a book faces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Long,
    Short,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Long => "long",
            Self::Short => "short",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "long" => Some(Self::Long),
            "short" => Some(Self::Short),
            _ => None,
        }
    }
}

/// Which book: exchange, network, symbol, side.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BookKey {
    pub exchange: String,
    pub network: String,
    pub symbol: String,
    pub side: Side,
}

/// What hoox's fills imply is open on one book.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenBook {
    #[serde(flatten)]
    pub key: BookKey,
    /// Base-asset units, > 0.
    pub quantity: Decimal,
    /// `None` when a fill had no price.
    pub entry_price: Option<Decimal>,
    /// PnL realised by partial closes so far.
    pub realised_pnl: Option<Decimal>,
    pub opened_at_ms: i64,
    pub last_fill_at_ms: i64,
}

/// A position that opened and closed again, and what it made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedPosition {
    #[serde(flatten)]
    pub key: BookKey,
    /// The largest size it reached, base units.
    pub max_quantity: Decimal,
    /// Everything closed, base units.
    pub closed_quantity: Decimal,
    /// Average entry price over all opening fills; `None` when one had no price.
    pub entry_price: Option<Decimal>,
    /// Average exit price over the closing fills; `None` when one had no price.
    pub exit_price: Option<Decimal>,
    /// `None` when a price was missing.
    pub gross_pnl: Option<Decimal>,
    /// Fees known (USDT), of opening and closing fills alike.
    pub fees: Decimal,
    /// Every fill's fee was known and in USDT.
    pub fees_complete: bool,
    /// `gross_pnl − fees`.
    pub net_pnl: Option<Decimal>,
    pub opened_at_ms: i64,
    pub closed_at_ms: i64,
}

/// Realised results of one exchange and network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealisedTotal {
    pub exchange: String,
    pub network: String,
    pub closed_positions: u32,
    /// Sum of the known net PnL.
    pub net_pnl: Decimal,
    pub fees: Decimal,
    /// Every closed position's PnL and fees were known.
    pub complete: bool,
}

/// The fold's result.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Books {
    pub open: Vec<OpenBook>,
    /// Oldest first.
    pub closed: Vec<ClosedPosition>,
    /// Every fill's signed quantity summed per (exchange, network, symbol): buys (`LONG`,
    /// `CLOSE_SHORT`) up, sells down. What a venue that nets long and short holds, whatever the
    /// order hoox recorded its fills in: the books above clamp a close to what their side holds
    /// at that point of the ledger's order, which on a netting venue (a close filled against a
    /// position an opposite open built) is not the exchange's order.
    #[serde(skip)]
    pub net: BTreeMap<(String, String, String), Decimal>,
}

impl Books {
    /// The open books of one exchange and network.
    pub fn open_on<'a>(
        &'a self,
        exchange: &'a str,
        network: &'a str,
    ) -> impl Iterator<Item = &'a OpenBook> + 'a {
        self.open
            .iter()
            .filter(move |b| b.key.exchange == exchange && b.key.network == network)
    }

    /// The signed net of every fill on one exchange and network, per symbol ([`Self::net`]).
    pub fn net_on<'a>(
        &'a self,
        exchange: &'a str,
        network: &'a str,
    ) -> impl Iterator<Item = (&'a str, Decimal)> + 'a {
        self.net
            .iter()
            .filter(move |((e, n, _), _)| e == exchange && n == network)
            .map(|((_, _, s), q)| (s.as_str(), *q))
    }

    /// Realised totals per exchange and network.
    pub fn realised(&self) -> Result<Vec<RealisedTotal>, PnlError> {
        let mut totals: BTreeMap<(String, String), RealisedTotal> = BTreeMap::new();
        for c in &self.closed {
            let t = totals
                .entry((c.key.exchange.clone(), c.key.network.clone()))
                .or_insert_with(|| RealisedTotal {
                    exchange: c.key.exchange.clone(),
                    network: c.key.network.clone(),
                    closed_positions: 0,
                    net_pnl: Decimal::ZERO,
                    fees: Decimal::ZERO,
                    complete: true,
                });
            let fail = |source| PnlError {
                key: c.key.clone(),
                source,
            };
            t.closed_positions = t.closed_positions.saturating_add(1);
            t.fees = amount::add(t.fees, c.fees).map_err(fail)?;
            match c.net_pnl {
                Some(n) => t.net_pnl = amount::add(t.net_pnl, n).map_err(fail)?,
                None => t.complete = false,
            }
            t.complete &= c.fees_complete;
        }
        Ok(totals.into_values().collect())
    }
}

/// A book whose fold overflowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("book {}/{} {} {} cannot be folded: {source}", .key.exchange, .key.network, .key.symbol, .key.side.as_str())]
pub struct PnlError {
    pub key: BookKey,
    pub source: AmountError,
}

/// One book while it is open.
#[derive(Debug, Clone, Default)]
struct Book {
    qty: Decimal,
    /// Cost of what is open: Σ qty × price of the opens, less what closes took out.
    cost: Decimal,
    priced: bool,
    /// Opening fees of what is still open (USDT).
    open_fees: Decimal,
    // The position since it last opened from zero:
    max_qty: Decimal,
    opened_qty: Decimal,
    opened_value: Decimal,
    closed_qty: Decimal,
    closed_value: Decimal,
    gross: Decimal,
    fees: Decimal,
    fees_complete: bool,
    opened_at: i64,
    last_at: i64,
}

fn dec(s: &str) -> Option<Decimal> {
    Decimal::from_str(s.trim()).ok()
}

/// A fill's fee in USDT, and whether it is known.
fn fee_of(f: &LedgerFill) -> (Decimal, bool) {
    match (f.fee.as_deref().and_then(dec), f.fee_asset.as_deref()) {
        (Some(fee), Some(QUOTE) | None) => (fee, true),
        _ => (Decimal::ZERO, false),
    }
}

impl Book {
    fn open(
        &mut self,
        qty: Decimal,
        price: Option<Decimal>,
        fee: (Decimal, bool),
        at: i64,
    ) -> Result<(), AmountError> {
        let mut b = self.clone();
        if b.qty.is_zero() {
            b = Book {
                priced: true,
                fees_complete: true,
                opened_at: at,
                ..Book::default()
            };
        }
        b.qty = amount::add(b.qty, qty)?;
        b.max_qty = b.max_qty.max(b.qty);
        b.opened_qty = amount::add(b.opened_qty, qty)?;
        match price {
            Some(p) => {
                let value = amount::mul(qty, p)?;
                b.cost = amount::add(b.cost, value)?;
                b.opened_value = amount::add(b.opened_value, value)?;
            }
            None => b.priced = false,
        }
        b.open_fees = amount::add(b.open_fees, fee.0)?;
        b.fees_complete &= fee.1;
        b.last_at = at;
        // Nothing changes unless everything fitted.
        *self = b;
        Ok(())
    }

    /// Closes up to `qty`; `Some` when the book reached zero.
    fn close(
        &mut self,
        side: Side,
        qty: Decimal,
        price: Option<Decimal>,
        fee: (Decimal, bool),
        at: i64,
    ) -> Result<Option<Closed>, AmountError> {
        if self.qty.is_zero() {
            // Nothing open: a close of a position hoox did not open (or already closed).
            return Ok(None);
        }
        let mut b = self.clone();
        let reduce = qty.min(b.qty);
        let share = amount::div(reduce, b.qty)?;
        let avg = amount::div(b.cost, b.qty)?;
        let cost_out = amount::mul(avg, reduce)?;
        let open_fee_out = amount::mul(b.open_fees, share)?;
        let close_fee = amount::mul(fee.0, amount::div(reduce, qty)?)?;
        b.cost = amount::sub(b.cost, cost_out)?;
        b.open_fees = amount::sub(b.open_fees, open_fee_out)?;
        b.fees = amount::add(b.fees, amount::add(open_fee_out, close_fee)?)?;
        b.fees_complete &= fee.1;
        b.closed_qty = amount::add(b.closed_qty, reduce)?;
        match price {
            Some(exit) => {
                let value = amount::mul(exit, reduce)?;
                b.closed_value = amount::add(b.closed_value, value)?;
                let diff = match side {
                    Side::Long => amount::sub(value, cost_out)?,
                    Side::Short => amount::sub(cost_out, value)?,
                };
                b.gross = amount::add(b.gross, diff)?;
            }
            None => b.priced = false,
        }
        b.qty = amount::sub(b.qty, reduce)?;
        b.last_at = at;
        let closed = if b.qty.is_zero() {
            let entry = if b.priced && !b.opened_qty.is_zero() {
                Some(amount::div(b.opened_value, b.opened_qty)?)
            } else {
                None
            };
            let exit = if b.priced && !b.closed_qty.is_zero() {
                Some(amount::div(b.closed_value, b.closed_qty)?)
            } else {
                None
            };
            let gross = b.priced.then_some(b.gross);
            let net = match gross {
                Some(g) => Some(amount::sub(g, b.fees)?),
                None => None,
            };
            Some(Closed {
                max_quantity: b.max_qty,
                closed_quantity: b.closed_qty,
                entry_price: entry,
                exit_price: exit,
                gross_pnl: gross,
                fees: b.fees,
                fees_complete: b.fees_complete,
                net_pnl: net,
                opened_at_ms: b.opened_at,
                closed_at_ms: at,
            })
        } else {
            None
        };
        *self = if closed.is_some() { Book::default() } else { b };
        Ok(closed)
    }
}

struct Closed {
    max_quantity: Decimal,
    closed_quantity: Decimal,
    entry_price: Option<Decimal>,
    exit_price: Option<Decimal>,
    gross_pnl: Option<Decimal>,
    fees: Decimal,
    fees_complete: bool,
    net_pnl: Option<Decimal>,
    opened_at_ms: i64,
    closed_at_ms: i64,
}

fn tidy(d: Decimal) -> Decimal {
    d.round_dp(8).normalize()
}

/// Folds `fills` (oldest first) into open books and closed positions (see the module doc).
/// Rows without a usable quantity, action, exchange or network are skipped.
pub fn fold(fills: &[LedgerFill]) -> Result<Books, PnlError> {
    let mut books: BTreeMap<BookKey, Book> = BTreeMap::new();
    let mut closed = Vec::new();
    let mut net: BTreeMap<(String, String, String), Decimal> = BTreeMap::new();
    for f in fills {
        let Some(qty) = dec(&f.filled_quantity).filter(|q| *q > Decimal::ZERO) else {
            continue;
        };
        let (side, opens) = match f.action.as_deref() {
            Some("LONG") => (Side::Long, true),
            Some("SHORT") => (Side::Short, true),
            Some("CLOSE_LONG") => (Side::Long, false),
            Some("CLOSE_SHORT") => (Side::Short, false),
            _ => continue,
        };
        let (Some(exchange), Some(network)) = (f.exchange.clone(), f.network.clone()) else {
            continue;
        };
        let key = BookKey {
            exchange,
            network,
            symbol: f.symbol.clone(),
            side,
        };
        let price = f.average_price.as_deref().and_then(dec);
        let fee = fee_of(f);
        let fail = |source| PnlError {
            key: key.clone(),
            source,
        };
        let buys = matches!((side, opens), (Side::Long, true) | (Side::Short, false));
        let n = net
            .entry((
                key.exchange.clone(),
                key.network.clone(),
                key.symbol.clone(),
            ))
            .or_default();
        *n = if buys {
            amount::add(*n, qty)
        } else {
            amount::sub(*n, qty)
        }
        .map_err(fail)?;
        let book = books.entry(key.clone()).or_default();
        if opens {
            book.open(qty, price, fee, f.created_at_ms).map_err(fail)?;
        } else if let Some(c) = book
            .close(side, qty, price, fee, f.created_at_ms)
            .map_err(fail)?
        {
            closed.push(ClosedPosition {
                key: key.clone(),
                max_quantity: tidy(c.max_quantity),
                closed_quantity: tidy(c.closed_quantity),
                entry_price: c.entry_price.map(tidy),
                exit_price: c.exit_price.map(tidy),
                gross_pnl: c.gross_pnl.map(tidy),
                fees: tidy(c.fees),
                fees_complete: c.fees_complete,
                net_pnl: c.net_pnl.map(tidy),
                opened_at_ms: c.opened_at_ms,
                closed_at_ms: c.closed_at_ms,
            });
        }
    }
    let mut open = Vec::new();
    for (key, b) in books {
        if b.qty <= Decimal::ZERO {
            continue;
        }
        let fail = |source| PnlError {
            key: key.clone(),
            source,
        };
        let entry_price = if b.priced {
            Some(tidy(amount::div(b.cost, b.qty).map_err(fail)?))
        } else {
            None
        };
        let realised = if b.closed_qty.is_zero() {
            None
        } else {
            b.priced.then_some(tidy(b.gross))
        };
        open.push(OpenBook {
            key,
            quantity: b.qty.normalize(),
            entry_price,
            realised_pnl: realised,
            opened_at_ms: b.opened_at,
            last_fill_at_ms: b.last_at,
        });
    }
    Ok(Books { open, closed, net })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn fill(
        action: &str,
        qty: &str,
        price: Option<&str>,
        fee: Option<&str>,
        at: i64,
    ) -> LedgerFill {
        LedgerFill {
            client_order_id: format!("hx{at}"),
            exchange: Some("bybit".into()),
            network: Some("mainnet".into()),
            symbol: "BTCUSDT".into(),
            action: Some(action.into()),
            filled_quantity: qty.into(),
            average_price: price.map(str::to_owned),
            fee: fee.map(str::to_owned),
            fee_asset: fee.map(|_| "USDT".to_owned()),
            created_at_ms: at,
        }
    }

    #[test]
    fn a_long_round_trip_realises_exit_minus_entry_less_fees() {
        let books = fold(&[
            fill("LONG", "1", Some("100"), Some("0.1"), 1),
            fill("LONG", "1", Some("200"), Some("0.2"), 2),
            fill("CLOSE_LONG", "2", Some("180"), Some("0.36"), 3),
        ])
        .unwrap();
        assert!(books.open.is_empty());
        let c = &books.closed[0];
        assert_eq!(c.key.side, Side::Long);
        assert_eq!((c.max_quantity, c.closed_quantity), (d("2"), d("2")));
        assert_eq!(
            (c.entry_price, c.exit_price),
            (Some(d("150")), Some(d("180")))
        );
        // (180 − 150) × 2 = 60; fees 0.1 + 0.2 + 0.36.
        assert_eq!(c.gross_pnl, Some(d("60")));
        assert_eq!(c.fees, d("0.66"));
        assert!(c.fees_complete);
        assert_eq!(c.net_pnl, Some(d("59.34")));
        assert_eq!((c.opened_at_ms, c.closed_at_ms), (1, 3));
    }

    #[test]
    fn a_short_realises_entry_minus_exit_and_partial_closes_carry_their_share_of_fees() {
        let books = fold(&[
            fill("SHORT", "2", Some("100"), Some("0.2"), 1),
            fill("CLOSE_SHORT", "1", Some("90"), Some("0.09"), 2),
        ])
        .unwrap();
        assert!(books.closed.is_empty());
        let o = &books.open[0];
        assert_eq!((o.quantity, o.entry_price), (d("1"), Some(d("100"))));
        assert_eq!(o.realised_pnl, Some(d("10")));
        let books = fold(&[
            fill("SHORT", "2", Some("100"), Some("0.2"), 1),
            fill("CLOSE_SHORT", "1", Some("90"), Some("0.09"), 2),
            fill("CLOSE_SHORT", "1", Some("110"), Some("0.11"), 3),
        ])
        .unwrap();
        let c = &books.closed[0];
        // +10 then −10: flat, less all fees.
        assert_eq!(c.gross_pnl, Some(d("0")));
        assert_eq!(c.fees, d("0.4"));
        assert_eq!(c.net_pnl, Some(d("-0.4")));
        assert_eq!(c.exit_price, Some(d("100")));
    }

    #[test]
    fn an_oversized_close_takes_only_what_is_open_and_its_fee_pro_rata() {
        let books = fold(&[
            fill("LONG", "1", Some("100"), Some("0"), 1),
            fill("CLOSE_LONG", "4", Some("110"), Some("0.4"), 2),
            // Nothing is open any more: this close realises nothing.
            fill("CLOSE_LONG", "1", Some("120"), Some("1"), 3),
        ])
        .unwrap();
        assert_eq!(books.closed.len(), 1);
        let c = &books.closed[0];
        assert_eq!(c.fees, d("0.1"));
        assert_eq!(c.net_pnl, Some(d("9.9")));
    }

    #[test]
    fn unknown_prices_and_fees_are_said_not_guessed() {
        let books = fold(&[
            fill("LONG", "1", Some("100"), None, 1),
            fill("CLOSE_LONG", "1", Some("110"), Some("0.1"), 2),
            fill("SHORT", "1", None, Some("0.1"), 3),
            fill("CLOSE_SHORT", "1", Some("90"), Some("0.1"), 4),
        ])
        .unwrap();
        let long = &books.closed[0];
        assert_eq!(long.gross_pnl, Some(d("10")));
        assert!(!long.fees_complete, "the opening fee is unknown");
        assert_eq!(long.net_pnl, Some(d("9.9")));
        let short = &books.closed[1];
        assert_eq!((short.gross_pnl, short.net_pnl), (None, None));
        assert_eq!(short.entry_price, None);
        // A fee in another asset is not subtracted, and makes the fees incomplete.
        let mut bnb = fill("CLOSE_LONG", "1", Some("110"), Some("0.001"), 2);
        bnb.fee_asset = Some("BNB".into());
        let books = fold(&[fill("LONG", "1", Some("100"), Some("0"), 1), bnb]).unwrap();
        assert_eq!(books.closed[0].fees, Decimal::ZERO);
        assert!(!books.closed[0].fees_complete);
        let totals = books.realised().unwrap();
        assert_eq!(totals.len(), 1);
        assert!(!totals[0].complete);
        assert_eq!(totals[0].net_pnl, d("10"));
    }

    #[test]
    fn books_are_per_exchange_and_network() {
        let mut test = fill("LONG", "1", Some("100"), None, 2);
        test.network = Some("testnet".into());
        let mut paper = fill("LONG", "3", Some("100"), None, 3);
        paper.exchange = Some("paper".into());
        let books = fold(&[fill("LONG", "2", Some("100"), None, 1), test, paper]).unwrap();
        assert_eq!(books.open.len(), 3);
        assert_eq!(books.open_on("bybit", "mainnet").count(), 1);
        assert_eq!(
            books.open_on("bybit", "testnet").map(|b| b.quantity).next(),
            Some(d("1"))
        );
        assert_eq!(books.open_on("paper", "mainnet").count(), 1);
    }

    #[test]
    fn overflow_is_an_error_naming_the_book() {
        let e = fold(&[fill(
            "LONG",
            "100000000000000000000",
            Some("100000000000000000000"),
            None,
            1,
        )])
        .unwrap_err();
        assert_eq!(e.key.symbol, "BTCUSDT");
        assert!(e.to_string().contains("overflows"), "{e}");
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
        /// Any ledger rows: books or an error naming one, never a panic.
        #[test]
        fn any_fills_fold_without_panic(rows in proptest::collection::vec(
            (0usize..4, any_decimal(), proptest::option::of(any_decimal()), proptest::option::of(any_decimal())), 0..30,
        )) {
            let actions = ["LONG", "SHORT", "CLOSE_LONG", "CLOSE_SHORT"];
            let fills: Vec<LedgerFill> = rows
                .iter()
                .enumerate()
                .map(|(i, (a, q, p, f))| LedgerFill {
                    filled_quantity: q.to_string(),
                    average_price: p.map(|p| p.to_string()),
                    fee: f.map(|f| f.to_string()),
                    ..fill(actions[*a], "1", None, None, i as i64)
                })
                .collect();
            if let Ok(books) = fold(&fills) {
                for b in &books.open {
                    prop_assert!(b.quantity > Decimal::ZERO);
                }
                let _ = books.realised();
            }
        }

        /// A long opened and closed at the same price realises nothing but its fees.
        #[test]
        fn a_flat_round_trip_costs_its_fees(q in 1u32..10_000, p in 1u32..100_000, f1 in 0u32..100, f2 in 0u32..100) {
            let qty = Decimal::new(i64::from(q), 3);
            let price = Decimal::from(p);
            let fees = [Decimal::new(i64::from(f1), 2), Decimal::new(i64::from(f2), 2)];
            let books = fold(&[
                fill("LONG", &qty.to_string(), Some(&price.to_string()), Some(&fees[0].to_string()), 1),
                fill("CLOSE_LONG", &qty.to_string(), Some(&price.to_string()), Some(&fees[1].to_string()), 2),
            ]).unwrap();
            let c = &books.closed[0];
            prop_assert_eq!(c.gross_pnl, Some(Decimal::ZERO));
            prop_assert_eq!(c.net_pnl, Some(tidy(-(fees[0] + fees[1]))));
        }
    }
}
