//! From the records to one evaluation's [`Input`](crate::Input), and from its actions back to
//! records and signals: what the agent-worker gathers and carries out, as pure functions.
//!
//! - **Positions** are the exchanges' own (the trade-worker's fresh read, every real exchange
//!   with credentials), not hoox's books: the agent protects what is open, however it opened.
//!   A position's opening time, part of its identity, is hoox's book's when hoox opened it, else
//!   the time the agent first saw it; a stored state whose opening time differs belongs to an
//!   earlier position and is cleared, so nothing is inherited. A state is cleared only where the
//!   read succeeded: an exchange that could not be read keeps its states (unknown is not closed).
//!   Paper has no market data, so no price rule could ever judge it: it is not managed.
//!   A position that closed without the agent counts as a stop-out when an exchange-side stop
//!   was in force and hoox's own books still hold it open (nothing hoox sent closed it).
//! - **Equity** per network is the sum over the exchanges read on it, and only when every one
//!   answered (a partial sum would look like a loss); its start of day is the same exchanges'
//!   first snapshot of the UTC day (or an operator's re-base); its peak is the highest seen.
//! - **Closes** become signals for the trade-worker's `POST /signals`, the door every signal
//!   uses, with the close's deterministic key as the idempotency key.

use crate::evaluate::{
    Account, Close, CloseReason, Exit, Network, Position, PositionId, PositionState, Quantity, Side,
};
use contracts::amount;
use contracts::signal::Exchange;
use contracts::symbol::Symbol;
use ops::account::AccountSnapshot;
use ops::reconcile::EquityRow;
use ops::risk::{EquityState, ExitRow, StateRow};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

/// How far back exits are read: the longest StoplossGuard window or cooldown this reads (the
/// rules' bounds keep both within a week).
pub const EXITS_LOOKBACK_MS: i64 = 7 * 86_400_000;

/// The open positions of one read, with their states.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gathered {
    pub positions: Vec<Position>,
    pub states: BTreeMap<PositionId, PositionState>,
    /// The stored exchange-side stop of each position, as JSON.
    pub stops: BTreeMap<PositionId, String>,
    /// Stored states of positions that are no longer open (or were replaced by a newer one on
    /// the same pair and side): to clear, each an exit for the protections, with whether it
    /// counts as a stop-out (see [`positions`]).
    pub closed: Vec<(StateRow, bool)>,
    /// What could not be used, for the run's notes.
    pub problems: Vec<String>,
}

fn side_of(s: &str) -> Option<Side> {
    match s {
        "long" => Some(Side::Long),
        "short" => Some(Side::Short),
        _ => None,
    }
}

fn network_of(s: &str) -> Option<Network> {
    match s {
        "mainnet" => Some(Network::Mainnet),
        "testnet" => Some(Network::Testnet),
        _ => None,
    }
}

fn decimal(s: &str) -> Option<Decimal> {
    Decimal::from_str(s.trim()).ok()
}

/// The position identity of a stored state row, if it names one.
pub fn id_of_row(row: &StateRow) -> Option<PositionId> {
    Some(PositionId {
        exchange: Exchange::from_str(&row.exchange).ok()?,
        network: network_of(&row.network)?,
        symbol: Symbol::parse(&row.symbol).ok()?,
        side: side_of(&row.side)?,
        opened_at_ms: u64::try_from(row.opened_at_ms).ok()?,
    })
}

/// The open positions of `snapshot` with their states from `stored`.
pub fn positions(snapshot: &AccountSnapshot, stored: &[StateRow], now_ms: i64) -> Gathered {
    let mut out = Gathered::default();
    let mut read: BTreeSet<(String, String)> = BTreeSet::new();
    let mut open: BTreeSet<(String, String, String, String, i64)> = BTreeSet::new();
    for r in &snapshot.reads {
        let Some(rows) = &r.positions else { continue };
        if r.exchange == Exchange::Paper.as_str() {
            continue;
        }
        read.insert((r.exchange.clone(), r.network.clone()));
        for row in rows {
            let (Some(exchange), Some(network), Some(side), Ok(symbol)) = (
                Exchange::from_str(&row.exchange).ok(),
                network_of(&row.network),
                side_of(&row.side),
                Symbol::parse(&row.symbol),
            ) else {
                out.problems.push(format!(
                    "{} {} {} {}: a position hoox cannot name, not managed",
                    row.exchange, row.network, row.symbol, row.side
                ));
                continue;
            };
            let size = decimal(&row.size).unwrap_or_default();
            if size <= Decimal::ZERO {
                // A row of what hoox's fills imply that the exchange does not hold.
                continue;
            }
            let Some(entry) = row.entry_price.as_deref().and_then(decimal) else {
                out.problems.push(format!(
                    "{} {} {} {}: no entry price, not managed",
                    row.exchange, row.network, row.symbol, row.side
                ));
                continue;
            };
            if size <= Decimal::ZERO {
                continue;
            }
            let same_pair = |s: &&StateRow| {
                s.exchange == row.exchange
                    && s.network == row.network
                    && s.symbol == row.symbol
                    && s.side == row.side
            };
            let book = snapshot.open.iter().find(|b| {
                b.key.exchange == row.exchange
                    && b.key.network == row.network
                    && b.key.symbol == row.symbol
                    && b.key.side.as_str() == row.side
            });
            let opened_at = match book {
                Some(b) => b.opened_at_ms,
                None => stored
                    .iter()
                    .filter(same_pair)
                    .map(|s| s.opened_at_ms)
                    .max()
                    .unwrap_or(now_ms),
            };
            let id = PositionId {
                exchange,
                network,
                symbol,
                side,
                opened_at_ms: u64::try_from(opened_at).unwrap_or(0),
            };
            if let Some(s) = stored
                .iter()
                .filter(same_pair)
                .find(|s| s.opened_at_ms == opened_at)
            {
                match serde_json::from_str::<PositionState>(&s.state) {
                    Ok(state) => {
                        out.states.insert(id.clone(), state);
                    }
                    Err(e) => out.problems.push(format!(
                        "{id}: stored state unreadable ({e}), starting afresh"
                    )),
                }
                if let Some(stops) = &s.stops {
                    out.stops.insert(id.clone(), stops.clone());
                }
            }
            open.insert((
                row.exchange.clone(),
                row.network.clone(),
                row.symbol.clone(),
                row.side.clone(),
                opened_at,
            ));
            out.positions.push(Position {
                id,
                size,
                entry_price: entry,
                mark_price: row.mark_price.as_deref().and_then(decimal),
                lot_step: None,
            });
        }
    }
    for s in stored {
        let key = (
            s.exchange.clone(),
            s.network.clone(),
            s.symbol.clone(),
            s.side.clone(),
            s.opened_at_ms,
        );
        if read.contains(&(s.exchange.clone(), s.network.clone())) && !open.contains(&key) {
            let stop_in_force = s
                .stops
                .as_deref()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
                .is_some_and(|v| {
                    !v["placed"]["stop"].is_null() || !v["placed"]["trailing"].is_null()
                });
            let hoox_holds_it = snapshot.open.iter().any(|b| {
                b.key.exchange == s.exchange
                    && b.key.network == s.network
                    && b.key.symbol == s.symbol
                    && b.key.side.as_str() == s.side
            });
            out.closed.push((s.clone(), stop_in_force && hoox_holds_it));
        }
    }
    out.positions.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// Each network's account figures, and the equity memory to store back (peaks raised).
pub fn accounts(
    snapshot: &AccountSnapshot,
    day: &[EquityRow],
    stored: &[EquityState],
    today: &str,
    now_ms: i64,
) -> (Vec<Account>, Vec<EquityState>) {
    let mut accounts = Vec::new();
    let mut memory = Vec::new();
    for network in [Network::Mainnet, Network::Testnet] {
        let reads: Vec<_> = snapshot
            .reads
            .iter()
            .filter(|r| r.network == network.as_str() && r.exchange != Exchange::Paper.as_str())
            .collect();
        if reads.is_empty() {
            continue;
        }
        let sum = |values: Vec<Option<Decimal>>| -> Option<Decimal> {
            values
                .into_iter()
                .try_fold(Decimal::ZERO, |acc, v| amount::add(acc, v?).ok())
        };
        let equity = sum(reads
            .iter()
            .map(|r| r.equity.as_deref().and_then(decimal))
            .collect());
        let previous = stored.iter().find(|s| s.network == network.as_str());
        let rebased = previous
            .filter(|s| s.base_day.as_deref() == Some(today))
            .and_then(|s| s.base.as_deref())
            .and_then(decimal);
        let start_of_day = rebased.or_else(|| {
            sum(reads
                .iter()
                .map(|r| {
                    day.iter()
                        .find(|d| d.exchange == r.exchange && d.network == r.network)
                        .and_then(|d| decimal(&d.equity))
                })
                .collect())
        });
        let stored_peak = previous.and_then(|s| s.peak.as_deref()).and_then(decimal);
        let peak = match (stored_peak, equity) {
            (Some(p), Some(e)) => Some(p.max(e)),
            (p, e) => p.or(e),
        };
        if peak != stored_peak {
            memory.push(EquityState {
                network: network.as_str().into(),
                peak: peak.map(|p| p.normalize().to_string()),
                peak_at_ms: Some(now_ms),
                base_day: previous.and_then(|s| s.base_day.clone()),
                base: previous.and_then(|s| s.base.clone()),
                updated_at_ms: now_ms,
            });
        }
        accounts.push(Account {
            network,
            start_of_day_equity: start_of_day,
            equity_peak: peak,
            equity,
        });
    }
    (accounts, memory)
}

/// The memory after an operator's resume on `network`: the drawdown is measured from `equity`
/// and today's loss from it too, so the breach that paused entries does not pause them again
/// at once; a further fall of the limit does.
pub fn rebase(network: Network, equity: Decimal, today: &str, now_ms: i64) -> EquityState {
    let e = equity.normalize().to_string();
    EquityState {
        network: network.as_str().into(),
        peak: Some(e.clone()),
        peak_at_ms: Some(now_ms),
        base_day: Some(today.into()),
        base: Some(e),
        updated_at_ms: now_ms,
    }
}

/// Stored exits as the evaluation reads them (rows naming no known exchange are skipped).
pub fn exits(rows: &[ExitRow]) -> Vec<Exit> {
    rows.iter()
        .filter_map(|r| {
            Some(Exit {
                at_ms: u64::try_from(r.at_ms).ok()?,
                exchange: Exchange::from_str(&r.exchange).ok()?,
                network: network_of(&r.network)?,
                symbol: Symbol::parse(&r.symbol).ok()?,
                stop_out: r.stop_out != 0,
            })
        })
        .collect()
}

/// The base-unit quantity a close asks for.
pub fn close_quantity(close: &Close, position: &Position) -> Option<Decimal> {
    let q = match close.quantity {
        Quantity::All => position.size,
        Quantity::Exact(q) => q,
        Quantity::Share(pct) => {
            amount::mul(position.size, amount::div(pct, Decimal::ONE_HUNDRED).ok()?).ok()?
        }
    };
    (q > Decimal::ZERO).then(|| q.min(position.size).normalize())
}

/// The signal of a close, for `POST /signals`: a reduce-only market close of the position's
/// side, on its network, keyed by the close's deterministic key.
pub fn close_signal(close: &Close, position: &Position) -> Option<serde_json::Value> {
    let quantity = close_quantity(close, position)?;
    let action = match position.id.side {
        Side::Long => "CLOSE_LONG",
        Side::Short => "CLOSE_SHORT",
    };
    Some(serde_json::json!({
        "exchange": position.id.exchange.as_str(),
        "action": action,
        "symbol": position.id.symbol.canonical(),
        "quantity": quantity.to_string(),
        "orderType": "market",
        "test": position.id.network == Network::Testnet,
        "idempotencyKey": close.key,
    }))
}

fn row_of(id: &PositionId) -> (String, String, String, String) {
    (
        id.exchange.as_str().into(),
        id.network.as_str().into(),
        id.symbol.canonical(),
        id.side.as_str().into(),
    )
}

/// The exit a close records once accepted: only a close of the whole position is an exit (a
/// ladder target's part leaves it open).
pub fn close_exit(close: &Close, now_ms: i64) -> Option<ExitRow> {
    if close.quantity != Quantity::All {
        return None;
    }
    let (exchange, network, symbol, side) = row_of(&close.position);
    Some(ExitRow {
        key: close.key.clone(),
        position: close.position.to_string(),
        at_ms: now_ms,
        exchange,
        network,
        symbol,
        side,
        stop_out: i64::from(close.reason.is_stop_out()),
        reason: reason_name(&close.reason).into(),
    })
}

/// The exit of a position that closed without the agent (by hand, a signal, an exchange-side
/// stop or liquidation): counted by cooldowns, and by StoplossGuard when `stop_out`.
pub fn gone_exit(row: &StateRow, stop_out: bool, now_ms: i64) -> ExitRow {
    let position = id_of_row(row).map_or_else(
        || {
            format!(
                "{}:{}:{}:{}:{}",
                row.exchange, row.network, row.symbol, row.side, row.opened_at_ms
            )
        },
        |id| id.to_string(),
    );
    ExitRow {
        key: format!("gone:{position}"),
        position,
        at_ms: now_ms,
        exchange: row.exchange.clone(),
        network: row.network.clone(),
        symbol: row.symbol.clone(),
        side: row.side.clone(),
        stop_out: i64::from(stop_out),
        reason: if stop_out { "exchange_stop" } else { "closed" }.into(),
    }
}

/// The rule that closed: `stop_loss`, `breakeven`, `trailing`, `take_profit`, `roi`, `flatten`.
pub fn reason_name(r: &CloseReason) -> &'static str {
    match r {
        CloseReason::StopLoss { .. } => "stop_loss",
        CloseReason::Breakeven { .. } => "breakeven",
        CloseReason::Trailing { .. } => "trailing",
        CloseReason::TakeProfit { .. } => "take_profit",
        CloseReason::Roi { .. } => "roi",
        CloseReason::Flatten(_) | CloseReason::OperatorFlatten => "flatten",
    }
}

/// The exchange-side protection a position should hold (the trade-worker's `POST /stops` body
/// without the position's identity): its stop-loss price — the entry once the stop moved to
/// breakeven — and its trailing stop (distance, and the activation price its offset gives).
/// `None` when no rule asks for one. The exchange then fires between two evaluations; the
/// minute's evaluation stays the backstop.
pub fn stop_target(
    position: &Position,
    rules: &crate::rules::PositionRules,
    state: &PositionState,
) -> Option<serde_json::Value> {
    let hundred = Decimal::ONE_HUNDRED;
    let entry = position.entry_price;
    let toward_loss = |pct: Decimal| -> Option<Decimal> {
        let f = amount::div(pct, hundred).ok()?;
        match position.id.side {
            Side::Long => amount::mul(entry, amount::sub(Decimal::ONE, f).ok()?).ok(),
            Side::Short => amount::mul(entry, amount::add(Decimal::ONE, f).ok()?).ok(),
        }
    };
    let toward_profit = |pct: Decimal| -> Option<Decimal> {
        let f = amount::div(pct, hundred).ok()?;
        match position.id.side {
            Side::Long => amount::mul(entry, amount::add(Decimal::ONE, f).ok()?).ok(),
            Side::Short => amount::mul(entry, amount::sub(Decimal::ONE, f).ok()?).ok(),
        }
    };
    let stop = if state.breakeven {
        Some(entry)
    } else {
        rules.stop_loss.and_then(|sl| toward_loss(sl.get()))
    };
    let trailing = rules.trailing.map(|t| {
        serde_json::json!({
            "distance_pct": t.distance_pct.get().normalize().to_string(),
            "activation_price": t
                .activation_pct
                .and_then(|a| toward_profit(a.get()))
                .map(|p| p.normalize().to_string()),
        })
    });
    if stop.is_none() && trailing.is_none() {
        return None;
    }
    Some(serde_json::json!({
        "stop_price": stop.map(|p| p.normalize().to_string()),
        "trailing": trailing,
    }))
}

/// How many times a close is sent again after its order dead-lettered.
pub const MAX_CLOSE_RETRIES: usize = 3;

/// What to do with a close given the dead letters of its key and its earlier retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retry {
    /// Send under this key: the close's own, or `<key>~<n>` after n dead letters (a dead key
    /// answers its stored reply forever, so the same key would never reach the exchange again).
    Send { key: String, dead: Vec<String> },
    /// Do not send: a dead letter says the order may have reached the exchange, or the retries
    /// are spent. The operator decides (the alert says why).
    Blocked(String),
}

/// The key a close goes out under, from the dead letters of the agent's closes.
pub fn retry_key(key: &str, dead: &[ops::risk::DeadClose]) -> Retry {
    let mine: Vec<&ops::risk::DeadClose> = dead
        .iter()
        .filter(|d| {
            d.idempotency_key == key
                || d.idempotency_key
                    .strip_prefix(key)
                    .and_then(|rest| rest.strip_prefix('~'))
                    .is_some_and(|n| n.parse::<u32>().is_ok())
        })
        .collect();
    if let Some(d) = mine.iter().find(|d| d.in_doubt != 0) {
        return Retry::Blocked(format!(
            "{} dead-lettered in doubt ({}): the order may be at the exchange; check it, then \
             replay or discard the dead letter",
            d.idempotency_key, d.reason
        ));
    }
    if mine.len() > MAX_CLOSE_RETRIES {
        return Retry::Blocked(format!(
            "{key} dead-lettered {} times (last: {}); close it by hand",
            mine.len(),
            mine.last().map_or("", |d| d.reason.as_str())
        ));
    }
    let dead = mine
        .iter()
        .map(|d| format!("{} ({})", d.idempotency_key, d.reason))
        .collect();
    let key = if mine.is_empty() {
        key.to_owned()
    } else {
        format!("{key}~{}", mine.len())
    };
    Retry::Send { key, dead }
}

/// One line saying what a close is and why, for its alert and audit entry.
pub fn describe_close(close: &Close, quantity: Option<Decimal>) -> String {
    let why = match &close.reason {
        CloseReason::StopLoss { loss_pct, limit } => format!(
            "stop-loss: {} % loss (limit {limit})",
            loss_pct.round_dp(2).normalize()
        ),
        CloseReason::Breakeven { profit_pct } => format!(
            "breakeven stop: profit back to {} % after the first target",
            profit_pct.round_dp(2).normalize()
        ),
        CloseReason::Trailing {
            watermark,
            stop_price,
            distance,
        } => format!(
            "trailing stop: {distance} below the best price {} (stop {})",
            watermark.normalize(),
            stop_price.round_dp(8).normalize()
        ),
        CloseReason::TakeProfit {
            step,
            of,
            profit_pct,
            target,
        } => format!(
            "take-profit {step}/{of}: {} % profit (target {target})",
            profit_pct.round_dp(2).normalize()
        ),
        CloseReason::Roi {
            after_minutes,
            profit_pct,
            target,
        } => format!(
            "ROI table: {} % profit after {after_minutes} min (target {target})",
            profit_pct.round_dp(2).normalize()
        ),
        CloseReason::Flatten(b) => format!(
            "flatten on breach: {}",
            crate::pauses::describe(&crate::evaluate::PauseReason::Breach(*b))
        ),
        CloseReason::OperatorFlatten => "flatten by an operator".to_owned(),
    };
    let what = match (close.quantity, quantity) {
        (Quantity::All, _) => "all".to_owned(),
        (_, Some(q)) => q.normalize().to_string(),
        (_, None) => "?".to_owned(),
    };
    format!("closing {what} of {}: {why}", close.position)
}

/// A state row to store for an open position.
pub fn state_row(
    id: &PositionId,
    state: &PositionState,
    stops: Option<String>,
    now_ms: i64,
) -> StateRow {
    let (exchange, network, symbol, side) = row_of(id);
    StateRow {
        exchange,
        network,
        symbol,
        side,
        opened_at_ms: i64::try_from(id.opened_at_ms).unwrap_or(i64::MAX),
        state: serde_json::to_string(state).unwrap_or_else(|_| "{}".into()),
        stops,
        updated_at_ms: now_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ops::account::AccountRead;
    use ops::pnl::{BookKey, OpenBook};
    use ops::reconcile::PositionRow;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn row(exchange: &str, network: &str, side: &str, size: &str) -> PositionRow {
        PositionRow {
            exchange: exchange.into(),
            network: network.into(),
            symbol: "BTCUSDT".into(),
            side: side.into(),
            size: size.into(),
            entry_price: Some("100".into()),
            mark_price: Some("95".into()),
            unrealised_pnl: None,
            leverage: None,
            margin_mode: None,
            source: "exchange".into(),
            implied_size: None,
            reconcile: "ok".into(),
            reconcile_detail: None,
            updated_at_ms: 1,
        }
    }

    fn read(exchange: &str, network: &str, rows: Option<Vec<PositionRow>>) -> AccountRead {
        AccountRead {
            exchange: exchange.into(),
            network: network.into(),
            positions: rows,
            positions_error: None,
            equity: Some("1000".into()),
            equity_error: None,
        }
    }

    fn stored(side: &str, opened: i64, state: &str) -> StateRow {
        StateRow {
            exchange: "bybit".into(),
            network: "mainnet".into(),
            symbol: "BTCUSDT".into(),
            side: side.into(),
            opened_at_ms: opened,
            state: state.into(),
            stops: None,
            updated_at_ms: 1,
        }
    }

    fn book(opened: i64) -> OpenBook {
        OpenBook {
            key: BookKey {
                exchange: "bybit".into(),
                network: "mainnet".into(),
                symbol: "BTCUSDT".into(),
                side: ops::pnl::Side::Long,
            },
            quantity: d("1"),
            entry_price: Some(d("100")),
            realised_pnl: None,
            opened_at_ms: opened,
            last_fill_at_ms: opened,
        }
    }

    #[test]
    fn a_position_takes_hoox_s_opening_time_and_a_newer_one_inherits_nothing() {
        let snapshot = AccountSnapshot {
            read_at_ms: 50,
            reads: vec![read(
                "bybit",
                "mainnet",
                Some(vec![row("bybit", "mainnet", "long", "1")]),
            )],
            open: vec![book(40)],
        };
        // A state of an earlier long on the pair (opened at 10) with a watermark.
        let old = stored(
            "long",
            10,
            r#"{"watermark":"120","ladder_done":1,"breakeven":true}"#,
        );
        let g = positions(&snapshot, std::slice::from_ref(&old), 50);
        assert_eq!(g.positions.len(), 1);
        assert_eq!(g.positions[0].id.opened_at_ms, 40);
        assert!(g.states.is_empty(), "the new position starts fresh");
        assert_eq!(g.closed, vec![(old, false)], "the old state is cleared");
    }

    #[test]
    fn an_untracked_position_keeps_its_first_seen_time() {
        let snapshot = AccountSnapshot {
            read_at_ms: 50,
            reads: vec![read(
                "bybit",
                "mainnet",
                Some(vec![row("bybit", "mainnet", "long", "1")]),
            )],
            open: vec![],
        };
        let first = positions(&snapshot, &[], 50);
        assert_eq!(first.positions[0].id.opened_at_ms, 50);
        let s = stored(
            "long",
            50,
            r#"{"watermark":"101","ladder_done":0,"breakeven":false}"#,
        );
        let later = positions(&snapshot, &[s], 110);
        assert_eq!(later.positions[0].id.opened_at_ms, 50);
        assert_eq!(
            later.states.values().next().and_then(|s| s.watermark),
            Some(d("101"))
        );
        assert!(later.closed.is_empty());
    }

    #[test]
    fn states_are_cleared_only_where_the_read_succeeded() {
        let s = stored("long", 5, "{}");
        let unreadable = AccountSnapshot {
            read_at_ms: 50,
            reads: vec![read("bybit", "mainnet", None)],
            open: vec![],
        };
        assert!(positions(&unreadable, std::slice::from_ref(&s), 50)
            .closed
            .is_empty());
        let flat = AccountSnapshot {
            read_at_ms: 50,
            reads: vec![read("bybit", "mainnet", Some(vec![]))],
            open: vec![],
        };
        assert_eq!(
            positions(&flat, std::slice::from_ref(&s), 50).closed,
            vec![(s.clone(), false)]
        );
        // Gone while an exchange stop was in force and hoox's books still hold it: a stop-out.
        let mut with_stop = s.clone();
        with_stop.stops = Some(r#"{"placed":{"stop":{"kind":"stop"},"trailing":null}}"#.into());
        let held = AccountSnapshot {
            open: vec![book(5)],
            ..flat.clone()
        };
        assert_eq!(
            positions(&held, std::slice::from_ref(&with_stop), 50).closed,
            vec![(with_stop.clone(), true)]
        );
        assert_eq!(
            positions(&flat, std::slice::from_ref(&with_stop), 50).closed,
            vec![(with_stop, false)],
            "hoox's own close is no stop-out"
        );
    }

    #[test]
    fn paper_is_not_managed_and_networks_stay_apart() {
        let snapshot = AccountSnapshot {
            read_at_ms: 50,
            reads: vec![
                read(
                    "paper",
                    "mainnet",
                    Some(vec![row("paper", "mainnet", "long", "1")]),
                ),
                read(
                    "bybit",
                    "testnet",
                    Some(vec![row("bybit", "testnet", "short", "2")]),
                ),
            ],
            open: vec![],
        };
        let g = positions(&snapshot, &[], 50);
        assert_eq!(g.positions.len(), 1);
        assert_eq!(g.positions[0].id.network, Network::Testnet);
        assert_eq!(g.positions[0].id.side, Side::Short);
    }

    fn equity_row(exchange: &str, network: &str, equity: &str) -> EquityRow {
        EquityRow {
            exchange: exchange.into(),
            network: network.into(),
            day: "2026-12-02".into(),
            asset: "USDT".into(),
            wallet_balance: equity.into(),
            unrealised_pnl: None,
            equity: equity.into(),
            source: "exchange".into(),
            at_ms: 1,
        }
    }

    #[test]
    fn equity_is_summed_only_when_every_exchange_answered() {
        let mut a = read("bybit", "mainnet", Some(vec![]));
        a.equity = Some("600".into());
        let mut b = read("binance", "mainnet", Some(vec![]));
        b.equity = Some("300".into());
        let snapshot = AccountSnapshot {
            read_at_ms: 1,
            reads: vec![a.clone(), b.clone()],
            open: vec![],
        };
        let day = [
            equity_row("bybit", "mainnet", "700"),
            equity_row("binance", "mainnet", "300"),
        ];
        let (got, memory) = accounts(&snapshot, &day, &[], "2026-12-02", 9);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].equity, Some(d("900")));
        assert_eq!(got[0].start_of_day_equity, Some(d("1000")));
        assert_eq!(got[0].equity_peak, Some(d("900")));
        assert_eq!(memory[0].peak.as_deref(), Some("900"));

        b.equity = None;
        let snapshot = AccountSnapshot {
            read_at_ms: 1,
            reads: vec![a, b],
            open: vec![],
        };
        let stored = [EquityState {
            network: "mainnet".into(),
            peak: Some("1200".into()),
            peak_at_ms: Some(1),
            base_day: Some("2026-12-01".into()),
            base: Some("5".into()),
            updated_at_ms: 1,
        }];
        let (got, memory) = accounts(&snapshot, &day[..1], &stored, "2026-12-02", 9);
        assert_eq!(got[0].equity, None, "a partial sum would look like a loss");
        assert_eq!(
            got[0].start_of_day_equity, None,
            "binance has no snapshot today; yesterday's re-base does not apply"
        );
        assert_eq!(got[0].equity_peak, Some(d("1200")));
        assert!(memory.is_empty());
    }

    #[test]
    fn a_rebase_sets_peak_and_start_of_day() {
        let snapshot = AccountSnapshot {
            read_at_ms: 1,
            reads: vec![read("bybit", "mainnet", Some(vec![]))],
            open: vec![],
        };
        let stored = [rebase(Network::Mainnet, d("800"), "2026-12-02", 5)];
        let (got, _) = accounts(&snapshot, &[], &stored, "2026-12-02", 9);
        assert_eq!(got[0].start_of_day_equity, Some(d("800")));
        assert_eq!(got[0].equity_peak, Some(d("1000")));
    }

    fn position(size: &str) -> Position {
        Position {
            id: PositionId {
                exchange: Exchange::Bybit,
                network: Network::Testnet,
                symbol: Symbol::parse("BTCUSDT").unwrap(),
                side: Side::Short,
                opened_at_ms: 7,
            },
            size: d(size),
            entry_price: d("100"),
            mark_price: Some(d("90")),
            lot_step: None,
        }
    }

    #[test]
    fn the_exchange_side_stop_follows_the_rules_and_breakeven() {
        let rules = |json: &[(&str, &str)]| crate::rules::RuleSet::load(json.iter().copied()).0;
        let p = position("1"); // a short at 100
        let set = rules(&[
            ("risk:stop_loss_pct", "2"),
            (
                "risk:trailing",
                r#"{"distance_pct": 1, "activation_pct": 3}"#,
            ),
        ]);
        let r = set.for_symbol(&p.id.symbol);
        let t = stop_target(&p, &r, &PositionState::default()).unwrap();
        assert_eq!(t["stop_price"], "102", "a short's stop is above its entry");
        assert_eq!(t["trailing"]["distance_pct"], "1");
        assert_eq!(t["trailing"]["activation_price"], "97");
        let be = PositionState {
            breakeven: true,
            ..PositionState::default()
        };
        assert_eq!(stop_target(&p, &r, &be).unwrap()["stop_price"], "100");
        let none = rules(&[]).for_symbol(&p.id.symbol);
        assert_eq!(stop_target(&p, &none, &PositionState::default()), None);
    }

    #[test]
    fn a_dead_lettered_close_goes_again_under_a_new_key_unless_in_doubt() {
        let dead = |key: &str, in_doubt: i64| ops::risk::DeadClose {
            idempotency_key: key.into(),
            reason: "terminal".into(),
            in_doubt,
            status: "pending".into(),
        };
        let k = "risk:sl:bybit:mainnet:BTCUSDT:long:1";
        assert_eq!(
            retry_key(k, &[dead("risk:sl:bybit:mainnet:BTCUSDT:long:10", 0)]),
            Retry::Send {
                key: k.into(),
                dead: vec![]
            },
            "another position's key is not this one's"
        );
        match retry_key(k, &[dead(k, 0), dead(&format!("{k}~1"), 0)]) {
            Retry::Send { key, dead } => {
                assert_eq!(key, format!("{k}~2"));
                assert_eq!(dead.len(), 2);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(retry_key(k, &[dead(k, 1)]), Retry::Blocked(_)));
        let spent: Vec<_> = (0..=MAX_CLOSE_RETRIES)
            .map(|i| {
                dead(
                    &if i == 0 {
                        k.to_owned()
                    } else {
                        format!("{k}~{i}")
                    },
                    0,
                )
            })
            .collect();
        assert!(matches!(retry_key(k, &spent), Retry::Blocked(_)));
    }

    #[test]
    fn a_close_is_a_keyed_reduce_only_signal_never_above_the_position() {
        let p = position("0.3");
        let close = Close {
            key: format!("risk:tp1:{}", p.id),
            position: p.id.clone(),
            quantity: Quantity::Share(d("50")),
            reason: CloseReason::Breakeven { profit_pct: d("0") },
        };
        let s = close_signal(&close, &p).unwrap();
        assert_eq!(s["action"], "CLOSE_SHORT");
        assert_eq!(s["quantity"], "0.15");
        assert_eq!(s["test"], true);
        assert_eq!(
            s["idempotencyKey"],
            "risk:tp1:bybit:testnet:BTCUSDT:short:7"
        );
        let body = contracts::signal::validate(s.as_object().unwrap()).unwrap();
        assert_eq!(body.idempotency_key.as_deref(), Some(close.key.as_str()));
        assert!(close_exit(&close, 1).is_none(), "a part is not an exit");
        let all = Close {
            quantity: Quantity::Exact(d("5")),
            ..close
        };
        assert_eq!(close_quantity(&all, &p), Some(d("0.3")));
    }
}
