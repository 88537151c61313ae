//! Every figure of one report, from the ledger's rows.
//!
//! The books are `ops::pnl::fold` over the ledger's fills (never re-derived here): a position
//! belongs to the period in which it **closed** (`closed_at_ms` in `[start, end)`), and its net
//! PnL (gross − the exchange's own fees) is what the period realised. Each figure is kept per
//! section — mainnet, testnet, paper (any network) — never summed across them, and every amount
//! is USDT (fees in another asset make a position's fees incomplete, flagged, never converted).
//!
//! - **Trades**: positions closed in the period. A win has net PnL > 0, a loss < 0 (a trade at
//!   exactly 0 is neither); **win rate** = wins / trades with known PnL; **profit factor** = sum
//!   of wins / |sum of losses| (none without a loss); average win and loss, best and worst trade.
//! - **Starting equity**: per exchange and network of the section, the snapshot of the period's
//!   first day (the first read of that UTC day, `ops::reconcile`), else its earliest within the
//!   period; summed. **Ending equity** and **unrealised PnL at the end**: the snapshot of the day
//!   after the period (read just after it closed) of those same pairs; for a period still
//!   running, the unrealised PnL the exchanges report now (the `positions` rows). Unknown when a
//!   pair has no such snapshot — never guessed.
//! - **Return** = realised net PnL / starting equity × 100 (deposits and withdrawals move
//!   equity, not this).
//! - **Equity curve**: starting equity (0 when unknown) plus the realised net PnL of each close,
//!   in time order; **max drawdown** is its largest fall from a running peak, in USDT and, when
//!   starting equity is known, as a percentage of that peak. Unrealised swings between the daily
//!   snapshots are not in the curve.
//! - **Sharpe / Sortino**: on the daily returns (a day's realised net PnL / the curve's equity at
//!   the day's start) of the days elapsed in the period, once there are at least
//!   [`MIN_DAYS_FOR_RATIOS`] of them and starting equity is known; annualised by √365 (crypto
//!   trades every day), risk-free rate 0; Sharpe with the sample standard deviation, Sortino with
//!   the downside deviation √(Σ min(r, 0)² / n). Not shown otherwise.
//! - **Funnel** (all sections together; the ledger's signal rows carry no section): signals
//!   received in the period by outcome, those dead-lettered in it, and dead letters still pending
//!   when the report was made.

use crate::period::Period;
use contracts::amount::{self, AmountError};
use ops::pnl::{Books, ClosedPosition, PnlError, Side};
use ops::reconcile::{EquityRow, PositionRow};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::str::FromStr;

/// Fewest elapsed days before Sharpe and Sortino are shown: fewer daily returns say nothing.
pub const MIN_DAYS_FOR_RATIOS: u32 = 7;

/// Which account a figure belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    Mainnet,
    Testnet,
    Paper,
}

impl Section {
    pub const ALL: [Section; 3] = [Section::Mainnet, Section::Testnet, Section::Paper];

    /// Paper on any network, else the network.
    pub fn of(exchange: &str, network: &str) -> Self {
        if exchange == "paper" {
            Self::Paper
        } else if network == "testnet" {
            Self::Testnet
        } else {
            Self::Mainnet
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mainnet => "mainnet",
            Self::Testnet => "testnet",
            Self::Paper => "paper",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::Mainnet => "Live (mainnet)",
            Self::Testnet => "Testnet",
            Self::Paper => "Paper",
        }
    }
}

/// The signal funnel of the period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Funnel {
    /// Every signal that reached an outcome or a dead letter.
    pub accepted: u64,
    pub filled: u64,
    pub rejected: u64,
    /// Refused by a check before any order (kill switch, stale, disabled exchange).
    pub blocked: u64,
    pub dead_lettered: u64,
}

impl Funnel {
    /// From `(outcome, count)` rows and the dead-lettered count.
    pub fn from_counts<'a>(outcomes: impl IntoIterator<Item = (&'a str, u64)>, dead: u64) -> Self {
        let mut f = Self {
            dead_lettered: dead,
            ..Self::default()
        };
        for (name, n) in outcomes {
            match name {
                "filled" => f.filled += n,
                "rejected" => f.rejected += n,
                _ => f.blocked += n,
            }
        }
        f.accepted = f.filled + f.rejected + f.blocked + f.dead_lettered;
        f
    }
}

/// What a report is computed from.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    /// `ops::pnl::fold` of every fill (oldest first).
    pub books: Books,
    /// The snapshots of the period's days and of the day after it.
    pub equity: Vec<EquityRow>,
    /// The exchanges' positions as last read (for a running period's unrealised PnL).
    pub positions: Vec<PositionRow>,
    pub funnel: Funnel,
    pub pending_dead_letters: u64,
}

/// One closed position, as the report lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeLine {
    pub exchange: String,
    pub symbol: String,
    pub side: Side,
    pub net_pnl: Decimal,
    pub closed_at_ms: i64,
}

/// One line of a breakdown table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    pub name: String,
    pub trades: u32,
    pub wins: u32,
    pub net_pnl: Decimal,
    pub fees: Decimal,
}

impl Row {
    pub fn win_rate_pct(&self) -> Option<Decimal> {
        pct(Decimal::from(self.wins), Decimal::from(self.trades))
    }
}

/// One point of the equity curve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub at_ms: i64,
    pub equity: Decimal,
    /// How far below the running peak.
    pub drawdown: Decimal,
}

/// The figures of one section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SectionReport {
    pub section: Section,
    /// Net of fees, of the positions closed in the period.
    pub realised_pnl: Decimal,
    pub gross_pnl: Decimal,
    pub fees: Decimal,
    /// Every closed position's PnL and fees were known (USDT).
    pub complete: bool,
    pub unrealised_pnl: Option<Decimal>,
    pub start_equity: Option<Decimal>,
    pub end_equity: Option<Decimal>,
    pub return_pct: Option<Decimal>,
    pub trades: u32,
    pub wins: u32,
    pub losses: u32,
    pub win_rate_pct: Option<Decimal>,
    pub profit_factor: Option<Decimal>,
    pub avg_win: Option<Decimal>,
    pub avg_loss: Option<Decimal>,
    pub best: Option<TradeLine>,
    pub worst: Option<TradeLine>,
    pub max_drawdown: Decimal,
    pub max_drawdown_pct: Option<Decimal>,
    /// Days of daily returns behind the ratios.
    pub return_days: u32,
    pub sharpe: Option<f64>,
    pub sortino: Option<f64>,
    pub by_symbol: Vec<Row>,
    pub by_exchange: Vec<Row>,
    pub by_side: Vec<Row>,
    pub curve: Vec<CurvePoint>,
    /// Closed in the period, oldest first.
    pub closed: Vec<TradeLine>,
}

/// One report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub period: Period,
    pub label: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub generated_at_ms: i64,
    /// Sections with anything to show (a trade, an open book, a snapshot), in the order
    /// mainnet, testnet, paper.
    pub sections: Vec<SectionReport>,
    pub funnel: Funnel,
    pub pending_dead_letters: u64,
}

/// A figure that could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Books(#[from] PnlError),
    #[error("{what} of the {section} section overflows: {source}")]
    Amount {
        section: &'static str,
        what: &'static str,
        source: AmountError,
    },
}

fn pct(part: Decimal, whole: Decimal) -> Option<Decimal> {
    if whole.is_zero() {
        return None;
    }
    amount::div(amount::mul(part, Decimal::ONE_HUNDRED).ok()?, whole)
        .ok()
        .map(|p| p.round_dp(4).normalize())
}

fn dec(s: &str) -> Option<Decimal> {
    Decimal::from_str(s.trim()).ok()
}

/// Computes the report of `period` at `now_ms` (see the module doc for every definition).
pub fn compute(period: &Period, ledger: &Ledger, now_ms: i64) -> Result<Report, ReportError> {
    let (start, end) = (period.start_ms(), period.end_ms());
    let mut sections = Vec::new();
    for section in Section::ALL {
        let closed: Vec<&ClosedPosition> = ledger
            .books
            .closed
            .iter()
            .filter(|c| Section::of(&c.key.exchange, &c.key.network) == section)
            .filter(|c| c.closed_at_ms >= start && c.closed_at_ms < end)
            .collect();
        let snapshots: Vec<&EquityRow> = ledger
            .equity
            .iter()
            .filter(|e| Section::of(&e.exchange, &e.network) == section)
            .collect();
        let open = ledger
            .books
            .open
            .iter()
            .any(|b| Section::of(&b.key.exchange, &b.key.network) == section);
        if closed.is_empty() && snapshots.is_empty() && !open {
            continue;
        }
        sections.push(section_report(
            section, period, &closed, &snapshots, ledger, now_ms,
        )?);
    }
    Ok(Report {
        period: *period,
        label: period.label(),
        start_ms: start,
        end_ms: end,
        generated_at_ms: now_ms,
        sections,
        funnel: ledger.funnel,
        pending_dead_letters: ledger.pending_dead_letters,
    })
}

/// The snapshot values of each pair of the section on its period's first day (else earliest in
/// the period), and on the day after the period.
fn equity_at(
    snapshots: &[&EquityRow],
    period: &Period,
) -> (Option<Decimal>, Option<Decimal>, Option<Decimal>) {
    let first = period.start.format(ops::utc::DAY).unwrap_or_default();
    let after = period.end().format(ops::utc::DAY).unwrap_or_default();
    // Per (exchange, network): (the opening snapshot, the closing one).
    type Pair<'a> = (Option<&'a EquityRow>, Option<&'a EquityRow>);
    let mut pairs: BTreeMap<(&str, &str), Pair> = BTreeMap::new();
    for e in snapshots {
        if e.day < first || e.day > after {
            continue;
        }
        let slot = pairs
            .entry((e.exchange.as_str(), e.network.as_str()))
            .or_default();
        if e.day == after {
            slot.1 = Some(e);
        } else if slot.0.is_none_or(|s| e.day < s.day) {
            slot.0 = Some(e);
        }
    }
    let sum = |vals: Vec<Option<Decimal>>| -> Option<Decimal> {
        let mut total = Decimal::ZERO;
        for v in vals {
            total = amount::add(total, v?).ok()?;
        }
        Some(total)
    };
    let starts: Vec<Option<Decimal>> = pairs
        .values()
        .filter_map(|(s, _)| s.map(|s| dec(&s.equity)))
        .collect();
    let start = if starts.is_empty() { None } else { sum(starts) };
    let ends: Vec<Option<Decimal>> = pairs
        .values()
        .map(|(_, e)| e.and_then(|e| dec(&e.equity)))
        .collect();
    let unrealised: Vec<Option<Decimal>> = pairs
        .values()
        .map(|(_, e)| e.and_then(|e| e.unrealised_pnl.as_deref().and_then(dec)))
        .collect();
    let known = !pairs.is_empty();
    (
        start,
        if known { sum(ends) } else { None },
        if known { sum(unrealised) } else { None },
    )
}

fn section_report(
    section: Section,
    period: &Period,
    closed: &[&ClosedPosition],
    snapshots: &[&EquityRow],
    ledger: &Ledger,
    now_ms: i64,
) -> Result<SectionReport, ReportError> {
    let fail = |what: &'static str| {
        move |source| ReportError::Amount {
            section: section.as_str(),
            what,
            source,
        }
    };
    let mut gross = Decimal::ZERO;
    let mut fees = Decimal::ZERO;
    let mut net = Decimal::ZERO;
    let mut complete = true;
    let (mut wins, mut losses) = (0u32, 0u32);
    let (mut won, mut lost) = (Decimal::ZERO, Decimal::ZERO);
    let mut lines: Vec<TradeLine> = Vec::new();
    let mut by_symbol: BTreeMap<String, Row> = BTreeMap::new();
    let mut by_exchange: BTreeMap<String, Row> = BTreeMap::new();
    let mut by_side: BTreeMap<String, Row> = BTreeMap::new();
    for c in closed {
        fees = amount::add(fees, c.fees).map_err(fail("fees"))?;
        complete &= c.fees_complete && c.net_pnl.is_some();
        let Some(n) = c.net_pnl else { continue };
        gross = amount::add(gross, c.gross_pnl.unwrap_or_default()).map_err(fail("gross PnL"))?;
        net = amount::add(net, n).map_err(fail("realised PnL"))?;
        if n > Decimal::ZERO {
            wins += 1;
            won = amount::add(won, n).map_err(fail("wins"))?;
        } else if n < Decimal::ZERO {
            losses += 1;
            lost = amount::add(lost, n).map_err(fail("losses"))?;
        }
        for (table, name) in [
            (&mut by_symbol, c.key.symbol.clone()),
            (&mut by_exchange, c.key.exchange.clone()),
            (&mut by_side, c.key.side.as_str().to_owned()),
        ] {
            let row = table.entry(name.clone()).or_insert(Row {
                name,
                trades: 0,
                wins: 0,
                net_pnl: Decimal::ZERO,
                fees: Decimal::ZERO,
            });
            row.trades += 1;
            row.wins += u32::from(n > Decimal::ZERO);
            row.net_pnl = amount::add(row.net_pnl, n).map_err(fail("a table row"))?;
            row.fees = amount::add(row.fees, c.fees).map_err(fail("a table row"))?;
        }
        lines.push(TradeLine {
            exchange: c.key.exchange.clone(),
            symbol: c.key.symbol.clone(),
            side: c.key.side,
            net_pnl: n,
            closed_at_ms: c.closed_at_ms,
        });
    }
    lines.sort_by_key(|l| l.closed_at_ms);
    let trades = lines.len() as u32;
    let best = lines.iter().max_by_key(|l| l.net_pnl).cloned();
    let worst = lines.iter().min_by_key(|l| l.net_pnl).cloned();
    let avg = |sum: Decimal, n: u32| -> Option<Decimal> {
        (n > 0)
            .then(|| amount::div(sum, Decimal::from(n)).ok())
            .flatten()
            .map(|d| d.round_dp(8).normalize())
    };
    let profit_factor = if losses > 0 {
        amount::div(won, lost.abs())
            .ok()
            .map(|d| d.round_dp(4).normalize())
    } else {
        None
    };

    let (start_equity, mut end_equity, mut unrealised) = equity_at(snapshots, period);
    if !period.ended(now_ms) {
        // Still running: no closing snapshot yet; the exchanges' unrealised PnL as last read.
        end_equity = None;
        unrealised = running_unrealised(section, &ledger.positions);
    }
    let return_pct = start_equity.and_then(|s| pct(net, s));

    // The realised equity curve and its drawdown.
    let base = start_equity.unwrap_or_default();
    let mut curve = vec![CurvePoint {
        at_ms: period.start_ms(),
        equity: base,
        drawdown: Decimal::ZERO,
    }];
    let (mut equity, mut peak) = (base, base);
    let (mut max_dd, mut max_dd_pct) = (Decimal::ZERO, Decimal::ZERO);
    for l in &lines {
        equity = amount::add(equity, l.net_pnl).map_err(fail("the equity curve"))?;
        peak = peak.max(equity);
        let dd = amount::sub(peak, equity).map_err(fail("the drawdown"))?;
        max_dd = max_dd.max(dd);
        if start_equity.is_some() {
            if let Some(p) = pct(dd, peak) {
                max_dd_pct = max_dd_pct.max(p);
            }
        }
        curve.push(CurvePoint {
            at_ms: l.closed_at_ms,
            equity,
            drawdown: dd,
        });
    }
    let end_point = period.end_ms().min(now_ms.max(period.start_ms()));
    curve.push(CurvePoint {
        at_ms: end_point,
        equity,
        drawdown: amount::sub(peak, equity).map_err(fail("the drawdown"))?,
    });
    let max_drawdown_pct = start_equity
        .filter(|s| *s > Decimal::ZERO)
        .map(|_| max_dd_pct);

    let (return_days, sharpe, sortino) = ratios(period, &lines, start_equity, now_ms);
    Ok(SectionReport {
        section,
        realised_pnl: net,
        gross_pnl: gross,
        fees,
        complete,
        unrealised_pnl: unrealised,
        start_equity,
        end_equity,
        return_pct,
        trades,
        wins,
        losses,
        win_rate_pct: pct(Decimal::from(wins), Decimal::from(trades)),
        profit_factor,
        avg_win: avg(won, wins),
        avg_loss: avg(lost, losses),
        best,
        worst,
        max_drawdown: max_dd,
        max_drawdown_pct,
        return_days,
        sharpe,
        sortino,
        by_symbol: sorted(by_symbol),
        by_exchange: sorted(by_exchange),
        by_side: sorted(by_side),
        curve,
        closed: lines,
    })
}

/// Rows by net PnL, best first (name breaks ties).
fn sorted(rows: BTreeMap<String, Row>) -> Vec<Row> {
    let mut v: Vec<Row> = rows.into_values().collect();
    v.sort_by(|a, b| b.net_pnl.cmp(&a.net_pnl).then(a.name.cmp(&b.name)));
    v
}

fn running_unrealised(section: Section, positions: &[PositionRow]) -> Option<Decimal> {
    let rows: Vec<&PositionRow> = positions
        .iter()
        .filter(|p| Section::of(&p.exchange, &p.network) == section)
        .filter(|p| dec(&p.size).is_some_and(|s| !s.is_zero()))
        .collect();
    let mut total = Decimal::ZERO;
    for p in rows {
        total = amount::add(total, p.unrealised_pnl.as_deref().and_then(dec)?).ok()?;
    }
    Some(total)
}

/// (days, Sharpe, Sortino) of the daily returns of the days elapsed in the period.
fn ratios(
    period: &Period,
    lines: &[TradeLine],
    start_equity: Option<Decimal>,
    now_ms: i64,
) -> (u32, Option<f64>, Option<f64>) {
    const DAY_MS: i64 = 86_400_000;
    let start = period.start_ms();
    let elapsed_end = period.end_ms().min(now_ms);
    let days = if elapsed_end <= start {
        0
    } else {
        ((elapsed_end - start + DAY_MS - 1) / DAY_MS) as u32
    };
    let Some(mut equity) = start_equity
        .filter(|e| *e > Decimal::ZERO)
        .and_then(|e| e.to_f64())
    else {
        return (days, None, None);
    };
    if days < MIN_DAYS_FOR_RATIOS {
        return (days, None, None);
    }
    let mut pnl = vec![0f64; days as usize];
    for l in lines {
        let i = ((l.closed_at_ms - start) / DAY_MS) as usize;
        if let (Some(slot), Some(v)) = (pnl.get_mut(i), l.net_pnl.to_f64()) {
            *slot += v;
        }
    }
    let mut returns = Vec::with_capacity(pnl.len());
    for p in pnl {
        if equity <= 0.0 {
            return (days, None, None);
        }
        returns.push(p / equity);
        equity += p;
    }
    let n = returns.len() as f64;
    let mean = returns.iter().sum::<f64>() / n;
    let var = returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let down = (returns.iter().map(|r| r.min(0.0).powi(2)).sum::<f64>() / n).sqrt();
    let annual = 365f64.sqrt();
    let round = |x: f64| (x * 100.0).round() / 100.0;
    let sharpe = (var > 0.0).then(|| round(mean / var.sqrt() * annual));
    let sortino = (down > 0.0).then(|| round(mean / down * annual));
    (days, sharpe, sortino)
}

/// A section's headline figures, for a caption or a bot reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Headline {
    pub section: Section,
    pub realised_pnl: Decimal,
    pub fees: Decimal,
    pub trades: u32,
    pub win_rate_pct: Option<Decimal>,
    pub return_pct: Option<Decimal>,
    pub complete: bool,
}

impl SectionReport {
    pub fn headline(&self) -> Headline {
        Headline {
            section: self.section,
            realised_pnl: self.realised_pnl,
            fees: self.fees,
            trades: self.trades,
            win_rate_pct: self.win_rate_pct,
            return_pct: self.return_pct,
            complete: self.complete,
        }
    }
}

/// One period's headlines (the bot's `/daily`, `/weekly`, `/monthly`, `/profit`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodSummary {
    /// `2026-01-14`, `2026-W03`, `2026-01`, or `all` for `/profit`.
    pub label: String,
    pub sections: Vec<Headline>,
}

impl Report {
    pub fn summary(&self) -> PeriodSummary {
        PeriodSummary {
            label: self.label.clone(),
            sections: self.sections.iter().map(SectionReport::headline).collect(),
        }
    }
}

/// `/profit`: every closed position of each section, whenever it closed (no equity, so no
/// return).
pub fn profit(ledger: &Ledger) -> PeriodSummary {
    let mut sections = Vec::new();
    for section in Section::ALL {
        let closed: Vec<&ClosedPosition> = ledger
            .books
            .closed
            .iter()
            .filter(|c| Section::of(&c.key.exchange, &c.key.network) == section)
            .collect();
        if closed.is_empty() {
            continue;
        }
        let mut h = Headline {
            section,
            realised_pnl: Decimal::ZERO,
            fees: Decimal::ZERO,
            trades: 0,
            win_rate_pct: None,
            return_pct: None,
            complete: true,
        };
        let mut wins = 0u32;
        for c in closed {
            h.fees = amount::add(h.fees, c.fees).unwrap_or(h.fees);
            h.complete &= c.fees_complete && c.net_pnl.is_some();
            if let Some(n) = c.net_pnl {
                h.trades += 1;
                wins += u32::from(n > Decimal::ZERO);
                h.realised_pnl = amount::add(h.realised_pnl, n).unwrap_or(h.realised_pnl);
            }
        }
        h.win_rate_pct = pct(Decimal::from(wins), Decimal::from(h.trades));
        sections.push(h);
    }
    PeriodSummary {
        label: "all".into(),
        sections,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::period::{parse_date, Kind};
    use ops::pnl::{fold, LedgerFill};
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    /// 2026-01-14 00:00 UTC.
    const DAY0: i64 = 1_768_348_800_000;
    const H: i64 = 3_600_000;

    struct Fill<'a> {
        exchange: &'a str,
        network: &'a str,
        symbol: &'a str,
        action: &'a str,
        qty: &'a str,
        price: &'a str,
        fee: &'a str,
        at: i64,
    }

    fn fills(rows: &[Fill]) -> Vec<LedgerFill> {
        rows.iter()
            .enumerate()
            .map(|(i, f)| LedgerFill {
                client_order_id: format!("hx{i}"),
                exchange: Some(f.exchange.into()),
                network: Some(f.network.into()),
                symbol: f.symbol.into(),
                action: Some(f.action.into()),
                filled_quantity: f.qty.into(),
                average_price: Some(f.price.into()),
                fee: Some(f.fee.into()),
                fee_asset: Some("USDT".into()),
                created_at_ms: f.at,
            })
            .collect()
    }

    fn snap(exchange: &str, network: &str, day: &str, equity: &str, upnl: &str) -> EquityRow {
        EquityRow {
            exchange: exchange.into(),
            network: network.into(),
            day: day.into(),
            asset: "USDT".into(),
            wallet_balance: equity.into(),
            unrealised_pnl: Some(upnl.into()),
            equity: equity.into(),
            source: "exchange".into(),
            at_ms: 0,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn f<'a>(
        exchange: &'a str,
        network: &'a str,
        symbol: &'a str,
        action: &'a str,
        qty: &'a str,
        price: &'a str,
        fee: &'a str,
        at: i64,
    ) -> Fill<'a> {
        Fill {
            exchange,
            network,
            symbol,
            action,
            qty,
            price,
            fee,
            at,
        }
    }

    /// The hand-computed ledger of 2026-01-14:
    ///
    /// mainnet bybit BTCUSDT long 0.1 @ 60000 (fee 3) → closed @ 61000 (fee 3.05):
    ///   gross (61000 − 60000) × 0.1 = 100, fees 6.05, net 93.95 (a win), closed 02:00.
    /// mainnet binance ETHUSDT short 1 @ 3000 (fee 1.5) → closed @ 3050 (fee 1.525):
    ///   gross (3000 − 3050) × 1 = −50, fees 3.025, net −53.025 (a loss), closed 05:00.
    /// mainnet bybit BTCUSDT long 0.05 @ 62000 (fee 1.55) → closed @ 62400 (fee 1.56):
    ///   gross 400 × 0.05 = 20, fees 3.11, net 16.89 (a win), closed 09:00.
    /// mainnet bybit SOLUSDT long 10 @ 100, opened 10:00, still open.
    /// A mainnet position closed the day before (2026-01-13) is not in the report.
    /// testnet bybit BTCUSDT long 1 @ 60000 → 59000, fees 0: net −1000 at 03:00 (its own
    /// section, never summed with mainnet).
    ///
    /// Equity: mainnet bybit 10000 and binance 5000 on the 14th (start 15000); on the 15th
    /// bybit 10110.84 (upnl 12.5) and binance 4946.975 (upnl 0): end 15057.815, unrealised 12.5.
    ///
    /// Mainnet: realised 93.95 − 53.025 + 16.89 = 57.815; fees 6.05 + 3.025 + 3.11 = 12.185;
    /// gross 70; 3 trades, 2 wins, 1 loss → win rate 66.6667 %; profit factor
    /// (93.95 + 16.89) / 53.025 = 110.84 / 53.025 = 2.0903; avg win 55.42, avg loss −53.025;
    /// best BTC 93.95, worst ETH −53.025; return 57.815 / 15000 = 0.3854 %.
    /// Curve: 15000 → 15093.95 (peak) → 15040.925 (drawdown 53.025, 0.3513 % of the peak)
    /// → 15057.815; max drawdown 53.025.
    fn ledger() -> Ledger {
        let rows = [
            f(
                "bybit",
                "mainnet",
                "BTCUSDT",
                "LONG",
                "0.1",
                "59000",
                "0",
                DAY0 - 20 * H,
            ),
            f(
                "bybit",
                "mainnet",
                "BTCUSDT",
                "CLOSE_LONG",
                "0.1",
                "59500",
                "0",
                DAY0 - 19 * H,
            ),
            f(
                "bybit", "mainnet", "BTCUSDT", "LONG", "0.1", "60000", "3", DAY0,
            ),
            f(
                "bybit",
                "mainnet",
                "BTCUSDT",
                "CLOSE_LONG",
                "0.1",
                "61000",
                "3.05",
                DAY0 + 2 * H,
            ),
            f(
                "binance",
                "mainnet",
                "ETHUSDT",
                "SHORT",
                "1",
                "3000",
                "1.5",
                DAY0 + H,
            ),
            f(
                "binance",
                "mainnet",
                "ETHUSDT",
                "CLOSE_SHORT",
                "1",
                "3050",
                "1.525",
                DAY0 + 5 * H,
            ),
            f(
                "bybit",
                "mainnet",
                "BTCUSDT",
                "LONG",
                "0.05",
                "62000",
                "1.55",
                DAY0 + 6 * H,
            ),
            f(
                "bybit",
                "mainnet",
                "BTCUSDT",
                "CLOSE_LONG",
                "0.05",
                "62400",
                "1.56",
                DAY0 + 9 * H,
            ),
            f(
                "bybit",
                "mainnet",
                "SOLUSDT",
                "LONG",
                "10",
                "100",
                "0.5",
                DAY0 + 10 * H,
            ),
            f(
                "bybit",
                "testnet",
                "BTCUSDT",
                "LONG",
                "1",
                "60000",
                "0",
                DAY0 + H,
            ),
            f(
                "bybit",
                "testnet",
                "BTCUSDT",
                "CLOSE_LONG",
                "1",
                "59000",
                "0",
                DAY0 + 3 * H,
            ),
        ];
        Ledger {
            books: fold(&fills(&rows)).unwrap(),
            equity: vec![
                snap("bybit", "mainnet", "2026-01-14", "10000", "0"),
                snap("binance", "mainnet", "2026-01-14", "5000", "0"),
                snap("bybit", "mainnet", "2026-01-15", "10110.84", "12.5"),
                snap("binance", "mainnet", "2026-01-15", "4946.975", "0"),
            ],
            positions: vec![],
            funnel: Funnel::from_counts([("filled", 9), ("rejected", 2), ("blocked", 1)], 1),
            pending_dead_letters: 1,
        }
    }

    fn day() -> Period {
        Period::containing(Kind::Daily, parse_date("2026-01-14").unwrap())
    }

    #[test]
    fn a_hand_computed_day() {
        let r = compute(&day(), &ledger(), DAY0 + 30 * H).unwrap();
        let sections: Vec<Section> = r.sections.iter().map(|s| s.section).collect();
        assert_eq!(sections, [Section::Mainnet, Section::Testnet]);
        let m = &r.sections[0];
        assert_eq!(m.realised_pnl, d("57.815"));
        assert_eq!(m.gross_pnl, d("70"));
        assert_eq!(m.fees, d("12.185"));
        assert!(m.complete);
        assert_eq!((m.trades, m.wins, m.losses), (3, 2, 1));
        assert_eq!(m.win_rate_pct, Some(d("66.6667")));
        assert_eq!(m.profit_factor, Some(d("2.0903")));
        assert_eq!(m.avg_win, Some(d("55.42")));
        assert_eq!(m.avg_loss, Some(d("-53.025")));
        assert_eq!(
            m.best.as_ref().map(|b| (b.symbol.as_str(), b.net_pnl)),
            Some(("BTCUSDT", d("93.95")))
        );
        assert_eq!(
            m.worst.as_ref().map(|b| (b.symbol.as_str(), b.net_pnl)),
            Some(("ETHUSDT", d("-53.025")))
        );
        assert_eq!(m.start_equity, Some(d("15000")));
        assert_eq!(m.end_equity, Some(d("15057.815")));
        assert_eq!(m.unrealised_pnl, Some(d("12.5")));
        assert_eq!(m.return_pct, Some(d("0.3854")));
        assert_eq!(m.max_drawdown, d("53.025"));
        assert_eq!(m.max_drawdown_pct, Some(d("0.3513")));
        let eq: Vec<Decimal> = m.curve.iter().map(|p| p.equity).collect();
        assert_eq!(
            eq,
            [
                d("15000"),
                d("15093.95"),
                d("15040.925"),
                d("15057.815"),
                d("15057.815")
            ]
        );
        // One day of returns: no ratios.
        assert_eq!((m.return_days, m.sharpe, m.sortino), (1, None, None));
        let sym: Vec<(&str, u32, u32, Decimal)> = m
            .by_symbol
            .iter()
            .map(|r| (r.name.as_str(), r.trades, r.wins, r.net_pnl))
            .collect();
        assert_eq!(
            sym,
            [
                ("BTCUSDT", 2, 2, d("110.84")),
                ("ETHUSDT", 1, 0, d("-53.025"))
            ]
        );
        let ex: Vec<(&str, Decimal, Decimal)> = m
            .by_exchange
            .iter()
            .map(|r| (r.name.as_str(), r.net_pnl, r.fees))
            .collect();
        assert_eq!(
            ex,
            [
                ("bybit", d("110.84"), d("9.16")),
                ("binance", d("-53.025"), d("3.025"))
            ]
        );
        let side: Vec<(&str, u32)> = m
            .by_side
            .iter()
            .map(|r| (r.name.as_str(), r.trades))
            .collect();
        assert_eq!(side, [("long", 2), ("short", 1)]);
        let t = &r.sections[1];
        assert_eq!((t.realised_pnl, t.trades, t.wins), (d("-1000"), 1, 0));
        // Only a loss: profit factor 0 (no wins over 1000 lost).
        assert_eq!(
            (t.start_equity, t.return_pct, t.profit_factor),
            (None, None, Some(d("0")))
        );
        assert_eq!(
            t.max_drawdown_pct, None,
            "no starting equity: no percentage"
        );
        assert_eq!(t.max_drawdown, d("1000"));
        assert_eq!(r.funnel.accepted, 13);
        assert_eq!(r.pending_dead_letters, 1);
    }

    #[test]
    fn profit_counts_every_close_of_each_section() {
        let p = profit(&ledger());
        let m = &p.sections[0];
        // The 13th's 50 and the 14th's 57.815; three wins of four.
        assert_eq!(
            (m.section, m.realised_pnl, m.trades),
            (Section::Mainnet, d("107.815"), 4)
        );
        assert_eq!(m.win_rate_pct, Some(d("75")));
        assert_eq!(
            (p.sections[1].section, p.sections[1].realised_pnl),
            (Section::Testnet, d("-1000"))
        );
    }

    #[test]
    fn the_day_before_holds_only_its_own_close() {
        let prev = day().previous();
        let r = compute(&prev, &ledger(), DAY0 + 30 * H).unwrap();
        let m = &r.sections[0];
        // (59500 − 59000) × 0.1 = 50, no fees.
        assert_eq!(
            (m.trades, m.realised_pnl, m.start_equity),
            (1, d("50"), None)
        );
        // The 14th's snapshot is the day after: the closing figures.
        assert_eq!(m.end_equity, Some(d("15000")));
    }

    #[test]
    fn a_running_period_takes_unrealised_pnl_from_the_positions() {
        let mut l = ledger();
        l.positions = vec![PositionRow {
            exchange: "bybit".into(),
            network: "mainnet".into(),
            symbol: "SOLUSDT".into(),
            side: "long".into(),
            size: "10".into(),
            entry_price: Some("100".into()),
            mark_price: Some("101.5".into()),
            unrealised_pnl: Some("15".into()),
            leverage: None,
            margin_mode: None,
            source: "exchange".into(),
            implied_size: Some("10".into()),
            reconcile: "ok".into(),
            reconcile_detail: None,
            updated_at_ms: 0,
        }];
        let r = compute(&day(), &l, DAY0 + 12 * H).unwrap();
        let m = &r.sections[0];
        assert_eq!((m.unrealised_pnl, m.end_equity), (Some(d("15")), None));
        assert_eq!(m.curve.last().map(|p| p.at_ms), Some(DAY0 + 12 * H));
    }

    /// A week of daily returns on 1000 USDT: +10 on Monday, −5 Tuesday, +20 Wednesday, nothing
    /// else. Returns r = 10/1000, −5/1010, 20/1005, 0, 0, 0, 0 = 0.01, −0.0049505, 0.0199005,
    /// 0 × 4; mean 0.00356429; sample sd 0.00848143; Sharpe = mean / sd × √365 = 8.03;
    /// downside deviation √(0.0049505² / 7) = 0.00187112; Sortino = 36.39.
    #[test]
    fn sharpe_and_sortino_by_hand_on_a_week() {
        let mon = parse_date("2026-01-12").unwrap();
        let m0 = mon.midnight().assume_utc().unix_timestamp() * 1000;
        let rows = [
            f(
                "bybit",
                "mainnet",
                "BTCUSDT",
                "LONG",
                "1",
                "100",
                "0",
                m0 + H,
            ),
            f(
                "bybit",
                "mainnet",
                "BTCUSDT",
                "CLOSE_LONG",
                "1",
                "110",
                "0",
                m0 + 2 * H,
            ),
            f(
                "bybit",
                "mainnet",
                "BTCUSDT",
                "LONG",
                "1",
                "100",
                "0",
                m0 + 25 * H,
            ),
            f(
                "bybit",
                "mainnet",
                "BTCUSDT",
                "CLOSE_LONG",
                "1",
                "95",
                "0",
                m0 + 26 * H,
            ),
            f(
                "bybit",
                "mainnet",
                "BTCUSDT",
                "LONG",
                "1",
                "100",
                "0",
                m0 + 49 * H,
            ),
            f(
                "bybit",
                "mainnet",
                "BTCUSDT",
                "CLOSE_LONG",
                "1",
                "120",
                "0",
                m0 + 50 * H,
            ),
        ];
        let l = Ledger {
            books: fold(&fills(&rows)).unwrap(),
            equity: vec![snap("bybit", "mainnet", "2026-01-12", "1000", "0")],
            ..Ledger::default()
        };
        let week = Period::containing(Kind::Weekly, mon);
        let r = compute(&week, &l, week.end_ms() + H).unwrap();
        let m = &r.sections[0];
        assert_eq!(
            (m.return_days, m.sharpe, m.sortino),
            (7, Some(8.03), Some(36.39))
        );
        assert_eq!(m.profit_factor, Some(d("6")));
        // Six days in: too few.
        let early = compute(&week, &l, m0 + 6 * 24 * H - 1).unwrap();
        assert_eq!(
            (early.sections[0].return_days, early.sections[0].sharpe),
            (6, None)
        );
    }

    #[test]
    fn paper_is_its_own_section_and_an_empty_ledger_has_none() {
        let rows = [
            f(
                "paper",
                "mainnet",
                "BTCUSDT",
                "SHORT",
                "1",
                "100",
                "0",
                DAY0 + H,
            ),
            f(
                "paper",
                "mainnet",
                "BTCUSDT",
                "CLOSE_SHORT",
                "1",
                "90",
                "0",
                DAY0 + 2 * H,
            ),
        ];
        let l = Ledger {
            books: fold(&fills(&rows)).unwrap(),
            ..Ledger::default()
        };
        let r = compute(&day(), &l, DAY0 + 30 * H).unwrap();
        assert_eq!(r.sections.len(), 1);
        assert_eq!(r.sections[0].section, Section::Paper);
        assert_eq!(r.sections[0].realised_pnl, d("10"));
        assert_eq!(
            r.sections[0].profit_factor, None,
            "no loss: no profit factor"
        );
        let empty = compute(&day(), &Ledger::default(), DAY0).unwrap();
        assert!(empty.sections.is_empty());
    }

    proptest! {
        /// Over any sequence of round trips: wins + losses ≤ trades, the realised PnL is the
        /// sum of the table rows (by symbol, by exchange, by side alike), the drawdown never
        /// exceeds the curve's rise plus its fall, and the curve ends at start + realised.
        #[test]
        fn totals_agree_with_their_tables(trips in proptest::collection::vec(
            (0usize..3, 0usize..2, any::<bool>(), 1u32..1000, 1u32..1000, 0u32..50), 0..25)) {
            let symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT"];
            let exchanges = ["bybit", "binance"];
            let mut rows = Vec::new();
            let texts: Vec<(String, String, String)> = trips
                .iter()
                .map(|(_, _, _, a, b, fee)| (a.to_string(), b.to_string(), format!("0.{fee:02}")))
                .collect();
            for (i, ((s, e, long, _, _, _), (open, close, fee))) in trips.iter().zip(&texts).enumerate() {
                let at = DAY0 + (i as i64) * 60_000;
                let (o, c) = if *long { ("LONG", "CLOSE_LONG") } else { ("SHORT", "CLOSE_SHORT") };
                rows.push(f(exchanges[*e], "mainnet", symbols[*s], o, "1", open, fee, at));
                rows.push(f(exchanges[*e], "mainnet", symbols[*s], c, "1", close, fee, at + 1));
            }
            let l = Ledger {
                books: fold(&fills(&rows)).unwrap(),
                equity: vec![snap("bybit", "mainnet", "2026-01-14", "100000", "0")],
                ..Ledger::default()
            };
            let r = compute(&day(), &l, DAY0 + 30 * H).unwrap();
            let m = &r.sections[0];
            prop_assert_eq!(m.trades as usize, trips.len());
            prop_assert!(m.wins + m.losses <= m.trades);
            for table in [&m.by_symbol, &m.by_exchange, &m.by_side] {
                let sum: Decimal = table.iter().map(|r| r.net_pnl).sum();
                prop_assert_eq!(sum, m.realised_pnl);
                let n: u32 = table.iter().map(|r| r.trades).sum();
                prop_assert_eq!(n, m.trades);
            }
            let last = m.curve.last().map(|p| p.equity);
            prop_assert_eq!(last, Some(d("100000") + m.realised_pnl));
            prop_assert!(m.max_drawdown >= Decimal::ZERO);
            let lost: Decimal = m.closed.iter().filter(|t| t.net_pnl < Decimal::ZERO).map(|t| -t.net_pnl).sum();
            prop_assert!(m.max_drawdown <= lost);
        }
    }
}
