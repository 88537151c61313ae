//! The exchange's truth beside hoox's: the `positions` table and the daily equity snapshots.
//!
//! The trade-worker reads each exchange's open positions (per network) and hands them here as
//! [`Holding`]s, with the books hoox's own fills imply ([`crate::pnl::Books`]). Each
//! `(exchange, network, symbol, side)` becomes one [`PositionRow`] with the exchange's size,
//! entry and mark price, unrealised PnL, leverage and margin mode, the size hoox implies, and a
//! [`Reconcile`] flag that says how they compare, so an order placed by hand in the exchange's
//! app, a liquidation, or a fill hoox missed shows as a difference instead of being hidden:
//!
//! - `ok` — the exchange holds what hoox's fills imply;
//! - `differs` — both hold a position, of different sizes;
//! - `untracked` — the exchange holds a position hoox's fills do not imply (opened elsewhere);
//! - `missing` — hoox's fills imply a position the exchange does not hold (closed elsewhere,
//!   liquidated, or a fill hoox never saw); the row's size is 0;
//! - `unknown` — the exchange's answer was not the whole list (a next page), so a position
//!   missing from it proves nothing.
//!
//! Where the exchange nets long and short (one-way mode, Bybit's and Binance's default), hoox's
//! long and short books of a symbol are netted before the comparison; where it keeps them apart
//! (MEXC, or a symbol the exchange reports as hedge-mode legs), each side is compared on its
//! own. Paper has no exchange: its rows are the
//! books of its simulated fills, `source` `paper`, always `ok`.
//!
//! A refresh replaces one exchange and network's rows in one D1 batch ([`replace_rows`]), so a
//! reader sees the old snapshot or the new one, never half of each, and never an older one
//! after a newer (the batch is a no-op when a later refresh has written). Paper's rows are not stored:
//! the read API derives them from its fills ([`paper_rows`]) on every read.

use crate::pnl::{Books, OpenBook, Side};
use crate::query::{parse_exchange, parse_word, FilterError, Param, Query, Where};
use contracts::amount;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One open position as an exchange reports it, in base-asset units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holding {
    /// Canonical (`BTCUSDT`).
    pub symbol: String,
    pub side: Side,
    pub size: Decimal,
    pub entry_price: Option<Decimal>,
    pub mark_price: Option<Decimal>,
    pub unrealised_pnl: Option<Decimal>,
    pub leverage: Option<Decimal>,
    /// `cross` or `isolated`.
    pub margin_mode: Option<String>,
    /// The exchange holds it as one leg of a hedge-mode account: hoox's long and short books of
    /// its symbol are compared side by side, not netted, even on a venue that nets by default.
    pub hedge_leg: bool,
}

/// How a row's exchange size compares with what hoox implies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reconcile {
    Ok,
    Differs,
    Untracked,
    Missing,
    Unknown,
}

impl Reconcile {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Differs => "differs",
            Self::Untracked => "untracked",
            Self::Missing => "missing",
            Self::Unknown => "unknown",
        }
    }

    /// Anything but `ok` is shown as a difference.
    pub fn flagged(self) -> bool {
        self != Self::Ok
    }
}

/// One row of `positions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PositionRow {
    pub exchange: String,
    /// `mainnet` or `testnet`.
    pub network: String,
    pub symbol: String,
    /// `long` or `short`.
    pub side: String,
    /// What the exchange holds (base units); `0` on a `missing` row.
    pub size: String,
    pub entry_price: Option<String>,
    pub mark_price: Option<String>,
    pub unrealised_pnl: Option<String>,
    pub leverage: Option<String>,
    pub margin_mode: Option<String>,
    /// `exchange` (read from it) or `paper` (hoox's simulated fills).
    pub source: String,
    /// What hoox's fills imply for this side (netted where the exchange nets).
    pub implied_size: Option<String>,
    pub reconcile: String,
    /// The difference in words, for operators.
    pub reconcile_detail: Option<String>,
    pub updated_at_ms: i64,
}

impl PositionRow {
    pub fn flagged(&self) -> bool {
        self.reconcile != Reconcile::Ok.as_str()
    }
}

fn text(d: Decimal) -> String {
    d.normalize().to_string()
}

/// What hoox implies per (symbol, side) on one exchange and network, netted when `nets`.
fn implied_sizes<'a>(
    books: impl Iterator<Item = &'a OpenBook>,
    nets: impl Fn(&str) -> bool,
) -> Result<BTreeMap<(String, Side), Decimal>, amount::AmountError> {
    let mut by_side: BTreeMap<(String, Side), Decimal> = BTreeMap::new();
    for b in books {
        let e = by_side
            .entry((b.key.symbol.clone(), b.key.side))
            .or_insert(Decimal::ZERO);
        *e = amount::add(*e, b.quantity)?;
    }
    let mut symbols: Vec<String> = by_side.keys().map(|(s, _)| s.clone()).collect();
    symbols.dedup();
    let mut net = BTreeMap::new();
    for s in symbols {
        if !nets(&s) {
            for side in [Side::Long, Side::Short] {
                if let Some(q) = by_side.get(&(s.clone(), side)) {
                    net.insert((s.clone(), side), *q);
                }
            }
            continue;
        }
        let long = by_side
            .get(&(s.clone(), Side::Long))
            .copied()
            .unwrap_or_default();
        let short = by_side
            .get(&(s.clone(), Side::Short))
            .copied()
            .unwrap_or_default();
        let n = amount::sub(long, short)?;
        if n > Decimal::ZERO {
            net.insert((s, Side::Long), n);
        } else if n < Decimal::ZERO {
            net.insert((s, Side::Short), n.abs());
        }
    }
    Ok(net)
}

/// The rows of one exchange and network: its holdings beside what `books` imply there.
/// `complete` is whether the exchange's list was whole; `nets` whether it nets long and short.
pub fn reconcile(
    exchange: &str,
    network: &str,
    holdings: &[Holding],
    books: &Books,
    nets: bool,
    complete: bool,
    now_ms: i64,
) -> Result<Vec<PositionRow>, amount::AmountError> {
    // A symbol the exchange reports as hedge-mode legs is compared side by side: the account's
    // mode, not the venue's default, decides.
    let hedged: std::collections::BTreeSet<&str> = holdings
        .iter()
        .filter(|h| h.hedge_leg)
        .map(|h| h.symbol.as_str())
        .collect();
    let nets_symbol = |s: &str| nets && !hedged.contains(s);
    let mut implied = implied_sizes(books.open_on(exchange, network), nets_symbol)?;
    // Netted, what the exchange holds is the signed sum of the fills, in any order.
    for (symbol, q) in books.net_on(exchange, network) {
        if !nets_symbol(symbol) {
            continue;
        }
        implied.remove(&(symbol.to_owned(), Side::Long));
        implied.remove(&(symbol.to_owned(), Side::Short));
        if q > Decimal::ZERO {
            implied.insert((symbol.to_owned(), Side::Long), q);
        } else if q < Decimal::ZERO {
            implied.insert((symbol.to_owned(), Side::Short), q.abs());
        }
    }
    let mut rows = Vec::new();
    // The exchange may report one side of a symbol in more than one row (never in practice):
    // summed.
    let mut held: BTreeMap<(String, Side), Holding> = BTreeMap::new();
    for h in holdings {
        match held.get_mut(&(h.symbol.clone(), h.side)) {
            Some(prev) => prev.size = amount::add(prev.size, h.size)?,
            None => {
                held.insert((h.symbol.clone(), h.side), h.clone());
            }
        }
    }
    for ((symbol, side), h) in held {
        let hoox = implied.remove(&(symbol.clone(), side));
        let (flag, detail) = match hoox {
            Some(q) if q == h.size => (Reconcile::Ok, None),
            Some(q) => (
                Reconcile::Differs,
                Some(format!(
                    "the exchange holds {} {symbol} {}; hoox's fills imply {}",
                    text(h.size),
                    side.as_str(),
                    text(q)
                )),
            ),
            None => (
                Reconcile::Untracked,
                Some(format!(
                    "the exchange holds {} {symbol} {} that hoox's fills do not imply (an order placed elsewhere?)",
                    text(h.size),
                    side.as_str()
                )),
            ),
        };
        rows.push(PositionRow {
            exchange: exchange.to_owned(),
            network: network.to_owned(),
            symbol,
            side: side.as_str().to_owned(),
            size: text(h.size),
            entry_price: h.entry_price.map(text),
            mark_price: h.mark_price.map(text),
            unrealised_pnl: h.unrealised_pnl.map(text),
            leverage: h.leverage.map(text),
            margin_mode: h.margin_mode.clone(),
            source: "exchange".into(),
            implied_size: Some(text(hoox.unwrap_or_default())),
            reconcile: flag.as_str().into(),
            reconcile_detail: detail,
            updated_at_ms: now_ms,
        });
    }
    for ((symbol, side), q) in implied {
        let (flag, detail) = if complete {
            (
                Reconcile::Missing,
                format!(
                    "hoox's fills imply {} {symbol} {} the exchange does not hold (closed elsewhere, liquidated, or a fill hoox missed?)",
                    text(q),
                    side.as_str()
                ),
            )
        } else {
            (
                Reconcile::Unknown,
                "the exchange's list was not complete (a next page): not compared".to_owned(),
            )
        };
        rows.push(PositionRow {
            exchange: exchange.to_owned(),
            network: network.to_owned(),
            symbol,
            side: side.as_str().to_owned(),
            size: "0".into(),
            entry_price: None,
            mark_price: None,
            unrealised_pnl: None,
            leverage: None,
            margin_mode: None,
            source: "exchange".into(),
            implied_size: Some(text(q)),
            reconcile: flag.as_str().into(),
            reconcile_detail: Some(detail),
            updated_at_ms: now_ms,
        });
    }
    rows.sort_by(|a, b| (&a.symbol, &a.side).cmp(&(&b.symbol, &b.side)));
    Ok(rows)
}

/// Paper's rows: the books of its simulated fills, per network (paper keeps the signal's
/// `test` flag), nothing to compare them with.
pub fn paper_rows(books: &Books, now_ms: i64) -> Vec<PositionRow> {
    books
        .open
        .iter()
        .filter(|b| b.key.exchange == "paper")
        .map(|b| PositionRow {
            exchange: "paper".into(),
            network: b.key.network.clone(),
            symbol: b.key.symbol.clone(),
            side: b.key.side.as_str().into(),
            size: text(b.quantity),
            entry_price: b.entry_price.map(text),
            mark_price: None,
            unrealised_pnl: None,
            leverage: None,
            margin_mode: None,
            source: "paper".into(),
            implied_size: Some(text(b.quantity)),
            reconcile: Reconcile::Ok.as_str().into(),
            reconcile_detail: None,
            updated_at_ms: now_ms,
        })
        .collect()
}

const POSITION_COLUMNS: &str = "exchange, network, symbol, side, size, entry_price, mark_price, \
     unrealised_pnl, leverage, margin_mode, source, implied_size, reconcile, reconcile_detail, \
     updated_at_ms";

/// Replaces every row of `exchange` on each of `networks` by `rows`, as one batch, unless a
/// later refresh already has: `read_at_ms` is when this refresh read the ledger, and
/// `position_reads` keeps the latest per exchange and network. Without it, a refresh whose
/// ledger read predates a fill (its books one fill short) could land after a newer one and
/// flag a difference that is not there.
pub fn replace_rows(
    exchange: &str,
    networks: &[&str],
    rows: &[PositionRow],
    read_at_ms: i64,
) -> Vec<Query> {
    const LATEST: &str =
        "(SELECT read_at_ms FROM position_reads WHERE exchange = ?1 AND network = ?2)";
    let mut out: Vec<Query> = Vec::new();
    for n in networks {
        out.push(Query::new(
            "INSERT INTO position_reads (exchange, network, read_at_ms) VALUES (?1, ?2, ?3) \
             ON CONFLICT (exchange, network) DO UPDATE SET read_at_ms = excluded.read_at_ms \
             WHERE excluded.read_at_ms > position_reads.read_at_ms",
            vec![exchange.into(), (*n).into(), Param::Int(read_at_ms)],
        ));
        out.push(Query::new(
            format!("DELETE FROM positions WHERE exchange = ?1 AND network = ?2 AND {LATEST} = ?3"),
            vec![exchange.into(), (*n).into(), Param::Int(read_at_ms)],
        ));
    }
    for r in rows {
        out.push(Query::new(
            format!(
                "INSERT INTO positions ({POSITION_COLUMNS}) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, \
                 ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15 WHERE {LATEST} = ?16 \
                 ON CONFLICT (exchange, network, symbol, side) \
                 DO UPDATE SET size = excluded.size, entry_price = excluded.entry_price, \
                 mark_price = excluded.mark_price, unrealised_pnl = excluded.unrealised_pnl, \
                 leverage = excluded.leverage, margin_mode = excluded.margin_mode, \
                 source = excluded.source, implied_size = excluded.implied_size, \
                 reconcile = excluded.reconcile, reconcile_detail = excluded.reconcile_detail, \
                 updated_at_ms = excluded.updated_at_ms"
            ),
            vec![
                r.exchange.clone().into(),
                r.network.clone().into(),
                r.symbol.clone().into(),
                r.side.clone().into(),
                r.size.clone().into(),
                r.entry_price.clone().into(),
                r.mark_price.clone().into(),
                r.unrealised_pnl.clone().into(),
                r.leverage.clone().into(),
                r.margin_mode.clone().into(),
                r.source.clone().into(),
                r.implied_size.clone().into(),
                r.reconcile.clone().into(),
                r.reconcile_detail.clone().into(),
                Param::Int(r.updated_at_ms),
                Param::Int(read_at_ms),
            ],
        ));
    }
    out
}

/// Narrows the positions read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PositionsFilter {
    pub exchange: Option<String>,
    /// `mainnet` or `testnet`.
    pub network: Option<String>,
    /// Only rows whose flag is not `ok`.
    pub flagged: bool,
}

impl PositionsFilter {
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, FilterError> {
        let mut f = Self::default();
        for (k, v) in pairs {
            match k {
                "exchange" => f.exchange = Some(parse_exchange(v)?),
                "network" => {
                    let n = parse_word("network", v)?;
                    if n != "mainnet" && n != "testnet" {
                        return Err(FilterError::Invalid {
                            field: "network",
                            message: "mainnet or testnet".into(),
                        });
                    }
                    f.network = Some(n);
                }
                "flagged" => {
                    f.flagged = contracts::config::parse_bool(v).ok_or(FilterError::Invalid {
                        field: "flagged",
                        message: "true or false".into(),
                    })?
                }
                other => return Err(FilterError::Unknown(other.to_owned())),
            }
        }
        Ok(f)
    }

    /// Whether `row` passes the filter (for rows not read through [`positions_query`]).
    pub fn keeps(&self, row: &PositionRow) -> bool {
        self.exchange.as_deref().is_none_or(|e| e == row.exchange)
            && self.network.as_deref().is_none_or(|n| n == row.network)
            && (!self.flagged || row.flagged())
    }

    pub fn to_pairs(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(e) = &self.exchange {
            out.push(("exchange".into(), e.clone()));
        }
        if let Some(n) = &self.network {
            out.push(("network".into(), n.clone()));
        }
        if self.flagged {
            out.push(("flagged".into(), "true".into()));
        }
        out
    }
}

/// The rows, by exchange, network, symbol and side.
pub fn positions_query(f: &PositionsFilter) -> Query {
    let mut w = Where::default();
    w.eq_opt("exchange", f.exchange.clone());
    w.eq_opt("network", f.network.clone());
    if f.flagged {
        w.cmp("reconcile", "<>", "ok");
    }
    Query::new(
        format!(
            "SELECT {POSITION_COLUMNS} FROM positions{} ORDER BY exchange, network, symbol, side \
             LIMIT 500",
            w.sql()
        ),
        w.params,
    )
}

// ---- Equity snapshots ----

/// One day's equity of one exchange and network, in USDT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EquityRow {
    pub exchange: String,
    pub network: String,
    /// UTC `YYYY-MM-DD`.
    pub day: String,
    pub asset: String,
    pub wallet_balance: String,
    pub unrealised_pnl: Option<String>,
    pub equity: String,
    /// `exchange` or `paper` (the realised PnL of its simulated fills).
    pub source: String,
    pub at_ms: i64,
}

/// The UTC day of an epoch-ms time, `YYYY-MM-DD` (`1970-01-01` out of range).
pub fn day_of(at_ms: i64) -> String {
    crate::utc::format(at_ms, crate::utc::DAY)
}

/// Records a day's snapshot once: the first taken that day stands.
pub fn equity_insert(row: &EquityRow) -> Query {
    Query::new(
        "INSERT INTO equity_snapshots (exchange, network, day, asset, wallet_balance, \
         unrealised_pnl, equity, source, at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         ON CONFLICT (exchange, network, day) DO NOTHING",
        vec![
            row.exchange.clone().into(),
            row.network.clone().into(),
            row.day.clone().into(),
            row.asset.clone().into(),
            row.wallet_balance.clone().into(),
            row.unrealised_pnl.clone().into(),
            row.equity.clone().into(),
            row.source.clone().into(),
            Param::Int(row.at_ms),
        ],
    )
}

/// The `(exchange, network)` pairs that have today's snapshot.
pub fn equity_taken_query(day: &str) -> Query {
    Query::new(
        "SELECT exchange, network FROM equity_snapshots WHERE day = ?1",
        vec![day.into()],
    )
}

/// A pair that has a snapshot, as [`equity_taken_query`] reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Taken {
    pub exchange: String,
    pub network: String,
}

/// The latest snapshot of each exchange and network.
/// Every daily snapshot from `since_day` (`YYYY-MM-DD`) on, oldest first (the dashboard's
/// equity chart).
pub fn equity_series_query(since_day: &str) -> Query {
    Query::new(
        "SELECT exchange, network, day, asset, wallet_balance, unrealised_pnl, equity, source, at_ms \
         FROM equity_snapshots WHERE day >= ?1 ORDER BY day, exchange, network LIMIT 2000",
        vec![since_day.into()],
    )
}

pub fn latest_equity_query(f: &PositionsFilter) -> Query {
    let mut w = Where::default();
    w.eq_opt("e.exchange", f.exchange.clone());
    w.eq_opt("e.network", f.network.clone());
    let extra = w.sql().replacen(" WHERE ", " AND ", 1);
    Query::new(
        format!(
            "SELECT e.exchange, e.network, e.day, e.asset, e.wallet_balance, e.unrealised_pnl, \
             e.equity, e.source, e.at_ms FROM equity_snapshots e WHERE e.day = (SELECT MAX(day) \
             FROM equity_snapshots x WHERE x.exchange = e.exchange AND x.network = e.network){extra} \
             ORDER BY e.exchange, e.network"
        ),
        w.params,
    )
}

/// What `GET /admin/ledger/positions` answers: the exchange's truth with the reconcile flags,
/// what hoox's fills imply, closed positions with their realised PnL, and the latest equity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PositionsView {
    pub positions: Vec<PositionRow>,
    /// How many rows are flagged (anything but `ok`).
    pub flagged: usize,
    pub implied: Vec<OpenBook>,
    /// The most recent closed positions, newest first.
    pub closed: Vec<crate::pnl::ClosedPosition>,
    pub realised: Vec<crate::pnl::RealisedTotal>,
    pub equity: Vec<EquityRow>,
}

/// Closed positions kept in the view, newest first.
pub const CLOSED_SHOWN: usize = 50;

impl PositionsView {
    pub fn new(
        positions: Vec<PositionRow>,
        books: Books,
        equity: Vec<EquityRow>,
        f: &PositionsFilter,
    ) -> Result<Self, crate::pnl::PnlError> {
        let keep = |exchange: &str, network: &str| {
            f.exchange.as_deref().is_none_or(|e| e == exchange)
                && f.network.as_deref().is_none_or(|n| n == network)
        };
        let realised = books
            .realised()?
            .into_iter()
            .filter(|t| keep(&t.exchange, &t.network))
            .collect();
        let closed = books
            .closed
            .iter()
            .rev()
            .filter(|c| keep(&c.key.exchange, &c.key.network))
            .take(CLOSED_SHOWN)
            .cloned()
            .collect();
        let implied = books
            .open
            .into_iter()
            .filter(|b| keep(&b.key.exchange, &b.key.network))
            .collect();
        Ok(Self {
            flagged: positions.iter().filter(|p| p.flagged()).count(),
            positions,
            implied,
            closed,
            realised,
            equity,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pnl::{fold, LedgerFill};
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn fill(exchange: &str, network: &str, action: &str, qty: &str, at: i64) -> LedgerFill {
        LedgerFill {
            client_order_id: format!("hx{at}"),
            exchange: Some(exchange.into()),
            network: Some(network.into()),
            symbol: "BTCUSDT".into(),
            action: Some(action.into()),
            filled_quantity: qty.into(),
            average_price: Some("65000".into()),
            fee: None,
            fee_asset: None,
            created_at_ms: at,
        }
    }

    fn holding(side: Side, size: &str) -> Holding {
        Holding {
            symbol: "BTCUSDT".into(),
            side,
            size: d(size),
            entry_price: Some(d("65000")),
            mark_price: Some(d("65100")),
            unrealised_pnl: Some(d("1")),
            leverage: Some(d("5")),
            margin_mode: Some("cross".into()),
            hedge_leg: false,
        }
    }

    fn flags(rows: &[PositionRow]) -> Vec<(&str, &str, &str)> {
        rows.iter()
            .map(|r| (r.side.as_str(), r.size.as_str(), r.reconcile.as_str()))
            .collect()
    }

    #[test]
    fn what_the_exchange_holds_is_compared_with_what_hoox_implies() {
        let books = fold(&[fill("bybit", "mainnet", "LONG", "0.01", 1)]).unwrap();
        let ok = reconcile(
            "bybit",
            "mainnet",
            &[holding(Side::Long, "0.01")],
            &books,
            true,
            true,
            5,
        )
        .unwrap();
        assert_eq!(flags(&ok), [("long", "0.01", "ok")]);
        assert_eq!(ok[0].mark_price.as_deref(), Some("65100"));
        assert_eq!(ok[0].updated_at_ms, 5);
        assert!(!ok[0].flagged());
        // Bought more by hand: differs.
        let more = reconcile(
            "bybit",
            "mainnet",
            &[holding(Side::Long, "0.03")],
            &books,
            true,
            true,
            5,
        )
        .unwrap();
        assert_eq!(flags(&more), [("long", "0.03", "differs")]);
        assert!(more[0]
            .reconcile_detail
            .as_deref()
            .unwrap_or("")
            .contains("imply 0.01"));
        // Closed by hand: missing, size 0.
        let gone = reconcile("bybit", "mainnet", &[], &books, true, true, 5).unwrap();
        assert_eq!(flags(&gone), [("long", "0", "missing")]);
        // An answer that was not the whole list proves nothing.
        let partial = reconcile("bybit", "mainnet", &[], &books, true, false, 5).unwrap();
        assert_eq!(flags(&partial), [("long", "0", "unknown")]);
        // A position hoox never opened: untracked. Another network's books do not count.
        let none = reconcile(
            "bybit",
            "testnet",
            &[holding(Side::Short, "1")],
            &books,
            true,
            true,
            5,
        )
        .unwrap();
        assert_eq!(flags(&none), [("short", "1", "untracked")]);
    }

    #[test]
    fn one_way_exchanges_net_the_sides_and_hedged_ones_do_not() {
        let books = fold(&[
            fill("bybit", "mainnet", "LONG", "0.03", 1),
            fill("bybit", "mainnet", "SHORT", "0.01", 2),
            fill("mexc", "mainnet", "LONG", "0.03", 3),
            fill("mexc", "mainnet", "SHORT", "0.01", 4),
        ])
        .unwrap();
        let net = reconcile(
            "bybit",
            "mainnet",
            &[holding(Side::Long, "0.02")],
            &books,
            true,
            true,
            5,
        )
        .unwrap();
        assert_eq!(flags(&net), [("long", "0.02", "ok")]);
        let hedged = reconcile(
            "mexc",
            "mainnet",
            &[holding(Side::Long, "0.03"), holding(Side::Short, "0.01")],
            &books,
            false,
            true,
            5,
        )
        .unwrap();
        assert_eq!(
            flags(&hedged),
            [("long", "0.03", "ok"), ("short", "0.01", "ok")]
        );
        // Netted to zero: the exchange holds nothing, and that is right.
        let flat = fold(&[
            fill("binance", "mainnet", "LONG", "0.01", 1),
            fill("binance", "mainnet", "SHORT", "0.01", 2),
        ])
        .unwrap();
        assert!(reconcile("binance", "mainnet", &[], &flat, true, true, 5)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn paper_rows_are_its_own_books() {
        let books = fold(&[
            fill("paper", "mainnet", "LONG", "0.5", 1),
            fill("bybit", "mainnet", "LONG", "1", 2),
        ])
        .unwrap();
        let rows = paper_rows(&books, 9);
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].source.as_str(), rows[0].reconcile.as_str()),
            ("paper", "ok")
        );
        assert_eq!(rows[0].entry_price.as_deref(), Some("65000"));
    }

    #[test]
    fn a_refresh_replaces_one_exchange_and_network_in_one_batch() {
        let books = fold(&[fill("bybit", "testnet", "LONG", "0.01", 1)]).unwrap();
        let rows = reconcile("bybit", "testnet", &[], &books, true, true, 5).unwrap();
        let qs = replace_rows("bybit", &["testnet"], &rows, 4);
        assert_eq!(qs.len(), 3);
        assert!(qs[0].sql.starts_with("INSERT INTO position_reads"));
        assert!(qs[1]
            .sql
            .starts_with("DELETE FROM positions WHERE exchange = ?1 AND network = ?2"));
        assert_eq!(
            qs[1].params,
            vec![
                Param::Text("bybit".into()),
                Param::Text("testnet".into()),
                Param::Int(4)
            ]
        );
        assert!(qs[2].sql.starts_with("INSERT INTO positions"));
        assert_eq!(qs[2].params.len(), 16);
        assert_eq!(qs[2].params[12], Param::Text("missing".into()));
    }

    /// The batches run on SQLite (D1's engine) over the real migrations: a refresh that read
    /// the ledger earlier but lands later leaves the newer snapshot standing.
    #[test]
    fn an_older_refresh_landing_late_does_not_overwrite_a_newer_one() {
        let db = crate::sqlite::migrated();
        let run = |qs: Vec<Query>| {
            for q in qs {
                crate::sqlite::execute(&db, &q);
            }
        };
        let holding = |size: &str| Holding {
            symbol: "BTCUSDT".into(),
            side: Side::Long,
            size: Decimal::from_str_exact(size).unwrap(),
            entry_price: None,
            mark_price: None,
            unrealised_pnl: None,
            leverage: None,
            margin_mode: None,
            hedge_leg: false,
        };
        let one = fold(&[fill("bybit", "mainnet", "LONG", "0.01", 1)]).unwrap();
        let two = fold(&[
            fill("bybit", "mainnet", "LONG", "0.01", 1),
            fill("bybit", "mainnet", "LONG", "0.01", 2),
        ])
        .unwrap();
        let exchange = [holding("0.02")];
        // The newer refresh (ledger read at 20, both fills) lands first...
        let newer = reconcile("bybit", "mainnet", &exchange, &two, true, true, 21).unwrap();
        run(replace_rows("bybit", &["mainnet"], &newer, 20));
        // ...then the older one (ledger read at 10, one fill short) arrives.
        let older = reconcile("bybit", "mainnet", &exchange, &one, true, true, 22).unwrap();
        assert_eq!(older[0].reconcile, "differs");
        run(replace_rows("bybit", &["mainnet"], &older, 10));
        let flag: String = db
            .query_row("SELECT reconcile FROM positions", [], |r| r.get(0))
            .unwrap();
        assert_eq!(flag, "ok", "the newer snapshot stands");
        // A later refresh still replaces it, rows it no longer has included.
        run(replace_rows("bybit", &["mainnet"], &[], 30));
        let n: i64 = db
            .query_row("SELECT COUNT(*) FROM positions", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
    }

    /// A Bybit or Binance account switched to hedge mode reports its legs apart: hoox's long
    /// and short books of the symbol are then compared side by side, not netted.
    #[test]
    fn hedge_legs_on_a_netting_venue_are_compared_side_by_side() {
        let books = fold(&[
            fill("binance", "mainnet", "LONG", "0.01", 1),
            fill("binance", "mainnet", "SHORT", "0.004", 2),
        ])
        .unwrap();
        let leg = |side: Side, size: &str, hedge_leg: bool| Holding {
            symbol: "BTCUSDT".into(),
            side,
            size: Decimal::from_str_exact(size).unwrap(),
            entry_price: None,
            mark_price: None,
            unrealised_pnl: None,
            leverage: None,
            margin_mode: None,
            hedge_leg,
        };
        let hedge = [
            leg(Side::Long, "0.01", true),
            leg(Side::Short, "0.004", true),
        ];
        let rows = reconcile("binance", "mainnet", &hedge, &books, true, true, 3).unwrap();
        let flags: Vec<_> = rows
            .iter()
            .map(|r| (r.side.as_str(), r.size.as_str(), r.reconcile.as_str()))
            .collect();
        assert_eq!(flags, [("long", "0.01", "ok"), ("short", "0.004", "ok")]);
        // One-way, the same fills are one net long.
        let one_way = [leg(Side::Long, "0.006", false)];
        let rows = reconcile("binance", "mainnet", &one_way, &books, true, true, 3).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].reconcile, "ok", "{:?}", rows[0]);
    }

    /// On a netting venue, a close recorded before the open it closed against (the ledger's
    /// order is the signals', not the exchange's fills') still nets: the books clamp that
    /// close to nothing, the exchange does not.
    #[test]
    fn a_netting_venue_is_compared_with_the_signed_sum_of_its_fills() {
        let books = fold(&[
            fill("binance", "mainnet", "SHORT", "0.005", 1),
            fill("binance", "mainnet", "CLOSE_LONG", "0.005", 2),
            fill("binance", "mainnet", "LONG", "0.02", 3),
        ])
        .unwrap();
        let held = [Holding {
            symbol: "BTCUSDT".into(),
            side: Side::Long,
            size: Decimal::from_str_exact("0.01").unwrap(),
            entry_price: None,
            mark_price: None,
            unrealised_pnl: None,
            leverage: None,
            margin_mode: None,
            hedge_leg: false,
        }];
        let rows = reconcile("binance", "mainnet", &held, &books, true, true, 4).unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].reconcile, "ok", "{:?}", rows[0]);
        assert_eq!(rows[0].implied_size.as_deref(), Some("0.01"));
    }

    #[test]
    fn filters_and_days() {
        let f = PositionsFilter::from_pairs([
            ("network", "testnet"),
            ("flagged", "1"),
            ("exchange", "BYBIT"),
        ])
        .unwrap();
        let q = positions_query(&f);
        assert!(
            q.sql
                .contains("WHERE exchange = ?1 AND network = ?2 AND reconcile <> ?3"),
            "{}",
            q.sql
        );
        assert_eq!(
            PositionsFilter::from_pairs(f.to_pairs().iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            Ok(f.clone())
        );
        assert!(PositionsFilter::from_pairs([("network", "live")]).is_err());
        assert!(PositionsFilter::from_pairs([("symbol", "x")]).is_err());
        let books = fold(&[fill("paper", "mainnet", "LONG", "1", 1)]).unwrap();
        let paper = &paper_rows(&books, 1)[0];
        assert!(!f.keeps(paper), "neither testnet nor flagged");
        assert!(PositionsFilter::default().keeps(paper));
        let q = latest_equity_query(&f);
        assert!(
            q.sql.contains("AND e.exchange = ?1 AND e.network = ?2"),
            "{}",
            q.sql
        );
        // 2026-11-28T12:00:00Z
        assert_eq!(day_of(1_795_867_200_000), "2026-11-28");
        let row = EquityRow {
            exchange: "bybit".into(),
            network: "mainnet".into(),
            day: "2026-11-28".into(),
            asset: "USDT".into(),
            wallet_balance: "100".into(),
            unrealised_pnl: None,
            equity: "100".into(),
            source: "exchange".into(),
            at_ms: 1,
        };
        assert!(equity_insert(&row).sql.contains("DO NOTHING"));
    }

    #[test]
    fn the_view_counts_flags_and_keeps_its_filter() {
        let books = fold(&[
            fill("bybit", "mainnet", "LONG", "0.01", 1),
            fill("bybit", "mainnet", "CLOSE_LONG", "0.01", 2),
            fill("bybit", "testnet", "LONG", "0.01", 3),
        ])
        .unwrap();
        let rows = reconcile("bybit", "testnet", &[], &books, true, true, 5).unwrap();
        let f = PositionsFilter {
            network: Some("testnet".into()),
            ..Default::default()
        };
        let v = PositionsView::new(rows, books, vec![], &f).unwrap();
        assert_eq!(v.flagged, 1);
        assert!(v.closed.is_empty(), "the closed one is on mainnet");
        assert_eq!(v.implied.len(), 1);
    }
}
