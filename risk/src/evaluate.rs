//! One evaluation: rules, open positions, their state, account facts, recent exits, the pauses in
//! force and the time in; closes, pauses, flattens and notes out, with each position's new state.
//!
//! Pure and deterministic: the same input gives the same output, keys included, so the minute
//! evaluated twice asks for the same orders and the idempotency store makes each one order.
//! Exits never depend on whether entries are paused. Each network (testnet, mainnet) is judged on
//! its own equity and exits only. Nothing is guessed: a missing mark price or equity figure means
//! no decision for the rules that need it, and a [`Note`] saying so.

use crate::rules::{Pct, PositionRules, RuleSet};
use contracts::amount::{self, AmountError};
use contracts::signal::Exchange;
use contracts::symbol::Symbol;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

const DAY_MS: u64 = 86_400_000;
const MINUTE_MS: u64 = 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    Testnet,
    Mainnet,
}

impl Network {
    pub fn from_testnet(testnet: bool) -> Self {
        if testnet {
            Self::Testnet
        } else {
            Self::Mainnet
        }
    }

    /// `mainnet` or `testnet`, as the ledger names networks.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Testnet => "testnet",
            Self::Mainnet => "mainnet",
        }
    }
}

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
}

/// A position's identity: a later position on the same pair and side has another opening time,
/// hence another identity and a fresh state.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PositionId {
    pub exchange: Exchange,
    pub network: Network,
    pub symbol: Symbol,
    pub side: Side,
    pub opened_at_ms: u64,
}

impl fmt::Display for PositionId {
    /// `bybit:testnet:BTCUSDT:long:1700000000000`: the position part of every close key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}:{}:{}",
            self.exchange.as_str(),
            self.network.as_str(),
            self.symbol.canonical(),
            self.side.as_str(),
            self.opened_at_ms
        )
    }
}

/// An open position as the exchange reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub id: PositionId,
    /// Open size in base units, positive.
    pub size: Decimal,
    pub entry_price: Decimal,
    /// `None` when no mark price could be read this minute.
    pub mark_price: Option<Decimal>,
    /// The instrument's quantity step; partial closes are rounded down to it. `None`: partial
    /// closes are given as a share of the open size.
    pub lot_step: Option<Decimal>,
}

/// What the rules remember about one position between evaluations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PositionState {
    /// Best price seen since the trailing stop was armed (highest for a long, lowest for a short).
    pub watermark: Option<Decimal>,
    /// Ladder targets taken so far.
    pub ladder_done: usize,
    /// The stop has moved to the entry price.
    pub breakeven: bool,
}

/// A network's account figures; each `None` when it could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub network: Network,
    pub start_of_day_equity: Option<Decimal>,
    pub equity_peak: Option<Decimal>,
    pub equity: Option<Decimal>,
}

/// A position that closed recently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exit {
    pub at_ms: u64,
    pub exchange: Exchange,
    pub network: Network,
    pub symbol: Symbol,
    /// Closed by a stop (stop-loss, breakeven or trailing), which StoplossGuard counts.
    pub stop_out: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Pair {
    pub exchange: Exchange,
    pub symbol: Symbol,
}

/// What a pause blocks: every entry on a network, or entries on one pair of it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PauseScope {
    pub network: Network,
    pub pair: Option<Pair>,
}

/// A pause in force; `until_ms: None` lasts until an operator resumes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntriesPaused {
    pub scope: PauseScope,
    pub until_ms: Option<u64>,
}

/// Everything one evaluation reads.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub rules: &'a RuleSet,
    pub positions: &'a [Position],
    /// States from the last evaluation, by position identity.
    pub states: &'a BTreeMap<PositionId, PositionState>,
    pub accounts: &'a [Account],
    pub exits: &'a [Exit],
    pub paused: &'a [EntriesPaused],
    pub now_ms: u64,
}

/// How much a close closes. Never more than is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Quantity {
    /// Everything open (a reduce-only close of the position).
    All,
    /// This many base units, already rounded down to the lot step.
    Exact(Decimal),
    /// This percentage of the size open at evaluation (no lot step was given).
    Share(Decimal),
}

/// An account breach: what protections pause and flatten on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Breach {
    DailyLoss { loss_pct: Decimal, limit: Pct },
    Drawdown { drawdown_pct: Decimal, limit: Pct },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    StopLoss {
        loss_pct: Decimal,
        limit: Pct,
    },
    /// The stop moved to the entry after the first ladder target, and the price came back.
    Breakeven {
        profit_pct: Decimal,
    },
    Trailing {
        watermark: Decimal,
        stop_price: Decimal,
        distance: Pct,
    },
    /// Ladder target `step` (1-based) of `of`.
    TakeProfit {
        step: usize,
        of: usize,
        profit_pct: Decimal,
        target: Pct,
    },
    Roi {
        after_minutes: u32,
        profit_pct: Decimal,
        target: Pct,
    },
    Flatten(Breach),
    /// An operator's flatten (`hoox risk flatten`): the same key as a breach's, so the two
    /// never close one position twice.
    OperatorFlatten,
}

impl CloseReason {
    /// The close key's rule and trigger part.
    fn trigger(&self) -> String {
        match self {
            Self::StopLoss { .. } => "sl".into(),
            Self::Breakeven { .. } => "be".into(),
            Self::Trailing { .. } => "trail".into(),
            Self::TakeProfit { step, .. } => format!("tp{step}"),
            Self::Roi { after_minutes, .. } => format!("roi{after_minutes}"),
            Self::Flatten(_) | Self::OperatorFlatten => "flatten".into(),
        }
    }

    /// Closes that a stop made, as StoplossGuard counts them.
    pub fn is_stop_out(&self) -> bool {
        matches!(
            self,
            Self::StopLoss { .. } | Self::Breakeven { .. } | Self::Trailing { .. }
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Close {
    /// `risk:<trigger>:<position>`: deterministic, the idempotency key of the close signal.
    pub key: String,
    pub position: PositionId,
    pub quantity: Quantity,
    pub reason: CloseReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PauseReason {
    Breach(Breach),
    StoplossGuard {
        stop_outs: usize,
        window_minutes: u32,
    },
    Cooldown {
        exit_at_ms: u64,
        minutes: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pause {
    pub scope: PauseScope,
    /// `None`: until an operator resumes.
    pub until_ms: Option<u64>,
    pub reason: PauseReason,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum Action {
    Close(Close),
    /// Entries are refused in this scope; exits still run.
    PauseEntries(Pause),
    /// `risk:flatten_on_breach`: every position of the network is closed (the closes follow).
    Flatten {
        network: Network,
        reason: Breach,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteKind {
    /// No mark price: the position's price rules were not evaluated.
    MissingMark,
    /// An equity figure is missing: the protection needing it was not evaluated.
    MissingEquity,
    /// An input out of its domain (a zero entry price or equity, a negative lot step) or an
    /// amount without a decimal result.
    BadInput,
    /// The trailing stop armed (its activation profit was reached).
    TrailArmed,
    /// The trailing stop's watermark moved.
    TrailMoved,
    /// The stop moved to the entry price.
    BreakevenSet,
    /// A ladder target's share rounds down to zero lots: nothing closed for it.
    BelowLot,
}

/// Something an operator should see that is not an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    pub kind: NoteKind,
    pub network: Network,
    pub position: Option<PositionId>,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Evaluation {
    pub actions: Vec<Action>,
    pub notes: Vec<Note>,
    /// The state of every open position, assuming this evaluation's actions are carried out.
    /// Positions no longer open have none: their state is cleared.
    pub states: BTreeMap<PositionId, PositionState>,
}

impl Evaluation {
    pub fn closes(&self) -> impl Iterator<Item = &Close> {
        self.actions.iter().filter_map(|a| match a {
            Action::Close(c) => Some(c),
            _ => None,
        })
    }

    pub fn pauses(&self) -> impl Iterator<Item = &Pause> {
        self.actions.iter().filter_map(|a| match a {
            Action::PauseEntries(p) => Some(p),
            _ => None,
        })
    }
}

/// The signed profit of a position at `mark`, in percent of the entry price.
pub fn profit_pct(side: Side, entry: Decimal, mark: Decimal) -> Result<Decimal, AmountError> {
    let diff = match side {
        Side::Long => amount::sub(mark, entry)?,
        Side::Short => amount::sub(entry, mark)?,
    };
    amount::mul(amount::div(diff, entry)?, Decimal::ONE_HUNDRED)
}

/// How far `value` is below `reference`, in percent of `reference` (negative when above).
fn fall_pct(reference: Decimal, value: Decimal) -> Result<Decimal, AmountError> {
    amount::mul(
        amount::div(amount::sub(reference, value)?, reference)?,
        Decimal::ONE_HUNDRED,
    )
}

/// The close of a whole position for `reason`, keyed like every close.
pub fn close_all(p: &Position, reason: CloseReason) -> Close {
    close(p, Quantity::All, reason)
}

/// Evaluates every rule once.
pub fn evaluate(input: Input<'_>) -> Evaluation {
    let mut out = Evaluation::default();
    let mut positions: Vec<&Position> = input.positions.iter().collect();
    positions.sort_by(|a, b| a.id.cmp(&b.id));

    let mut networks: BTreeSet<Network> = input.accounts.iter().map(|a| a.network).collect();
    networks.extend(positions.iter().map(|p| p.id.network));
    networks.extend(input.exits.iter().map(|e| e.network));

    let mut flatten: BTreeMap<Network, Breach> = BTreeMap::new();
    let mut pauses = Vec::new();
    for &network in &networks {
        let breaches = account_breaches(&input, network, &mut out.notes);
        for b in &breaches {
            let until_ms = match b {
                Breach::DailyLoss { .. } => Some((input.now_ms / DAY_MS + 1) * DAY_MS),
                Breach::Drawdown { .. } => None,
            };
            pauses.push(Pause {
                scope: PauseScope {
                    network,
                    pair: None,
                },
                until_ms,
                reason: PauseReason::Breach(*b),
            });
        }
        if let (true, Some(b)) = (input.rules.account.flatten_on_breach, breaches.first()) {
            if positions.iter().any(|p| p.id.network == network) {
                flatten.insert(network, *b);
                out.actions.push(Action::Flatten {
                    network,
                    reason: *b,
                });
            }
        }
        pauses.extend(stoploss_guard(&input, network));
    }
    pauses.extend(cooldowns(&input));

    let mut in_force: Vec<EntriesPaused> = input.paused.to_vec();
    for p in pauses {
        if !covered(&in_force, &p.scope, p.until_ms) {
            in_force.push(EntriesPaused {
                scope: p.scope.clone(),
                until_ms: p.until_ms,
            });
            out.actions.push(Action::PauseEntries(p));
        }
    }

    for p in positions {
        let state = input.states.get(&p.id).cloned().unwrap_or_default();
        let rules = input.rules.for_symbol(&p.id.symbol);
        let (closes, state) = match flatten.get(&p.id.network) {
            Some(b) => (
                vec![close(p, Quantity::All, CloseReason::Flatten(*b))],
                state,
            ),
            None => position(p, &rules, state, input.now_ms, &mut out.notes),
        };
        out.actions.extend(closes.into_iter().map(Action::Close));
        out.states.insert(p.id.clone(), state);
    }
    out
}

/// Whether a pause in force already blocks `scope` at least until `until_ms`.
fn covered(in_force: &[EntriesPaused], scope: &PauseScope, until_ms: Option<u64>) -> bool {
    in_force.iter().any(|p| {
        let same =
            p.scope == *scope || (p.scope.network == scope.network && p.scope.pair.is_none());
        same && match (p.until_ms, until_ms) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(have), Some(want)) => have >= want,
        }
    })
}

fn note(
    notes: &mut Vec<Note>,
    kind: NoteKind,
    network: Network,
    p: Option<&Position>,
    message: String,
) {
    notes.push(Note {
        kind,
        network,
        position: p.map(|p| p.id.clone()),
        message,
    });
}

fn account_breaches(input: &Input<'_>, network: Network, notes: &mut Vec<Note>) -> Vec<Breach> {
    let rules = &input.rules.account;
    let account = input.accounts.iter().find(|a| a.network == network);
    let mut breaches = Vec::new();
    let checks = [
        (
            rules.max_daily_loss,
            account.and_then(|a| a.start_of_day_equity),
            "start-of-day equity",
            "max_daily_loss_pct",
        ),
        (
            rules.max_drawdown,
            account.and_then(|a| a.equity_peak),
            "equity peak",
            "max_drawdown_pct",
        ),
    ];
    for (i, (limit, reference, what, rule)) in checks.into_iter().enumerate() {
        let Some(limit) = limit else { continue };
        let equity = account.and_then(|a| a.equity);
        let (Some(reference), Some(equity)) = (reference, equity) else {
            let missing = if equity.is_none() {
                "current equity"
            } else {
                what
            };
            note(
                notes,
                NoteKind::MissingEquity,
                network,
                None,
                format!("{rule} not evaluated on {}: no {missing}", network.as_str()),
            );
            continue;
        };
        if reference <= Decimal::ZERO {
            note(
                notes,
                NoteKind::BadInput,
                network,
                None,
                format!(
                    "{rule} not evaluated on {}: {what} is {reference}",
                    network.as_str()
                ),
            );
            continue;
        }
        match fall_pct(reference, equity) {
            Ok(pct) if pct >= limit.get() => breaches.push(if i == 0 {
                Breach::DailyLoss {
                    loss_pct: pct,
                    limit,
                }
            } else {
                Breach::Drawdown {
                    drawdown_pct: pct,
                    limit,
                }
            }),
            Ok(_) => {}
            Err(e) => note(
                notes,
                NoteKind::BadInput,
                network,
                None,
                format!("{rule}: {e}"),
            ),
        }
    }
    breaches
}

fn stoploss_guard(input: &Input<'_>, network: Network) -> Option<Pause> {
    let guard = input.rules.account.stoploss_guard?;
    let from = input.now_ms.saturating_sub(guard.window.as_ms());
    let stops: Vec<u64> = input
        .exits
        .iter()
        .filter(|e| {
            e.network == network && e.stop_out && e.at_ms >= from && e.at_ms <= input.now_ms
        })
        .map(|e| e.at_ms)
        .collect();
    let last = stops.iter().max()?;
    let until = last.saturating_add(guard.pause.as_ms());
    (stops.len() >= guard.stop_outs as usize && until > input.now_ms).then_some(Pause {
        scope: PauseScope {
            network,
            pair: None,
        },
        until_ms: Some(until),
        reason: PauseReason::StoplossGuard {
            stop_outs: stops.len(),
            window_minutes: guard.window.get(),
        },
    })
}

fn cooldowns(input: &Input<'_>) -> Vec<Pause> {
    let mut last: BTreeMap<(Network, Pair), u64> = BTreeMap::new();
    for e in input.exits.iter().filter(|e| e.at_ms <= input.now_ms) {
        let pair = Pair {
            exchange: e.exchange,
            symbol: e.symbol.clone(),
        };
        let at = last.entry((e.network, pair)).or_insert(e.at_ms);
        *at = (*at).max(e.at_ms);
    }
    last.into_iter()
        .filter_map(|((network, pair), at)| {
            let minutes = input.rules.for_symbol(&pair.symbol).cooldown?;
            let until = at.saturating_add(minutes.as_ms());
            (until > input.now_ms).then_some(Pause {
                scope: PauseScope {
                    network,
                    pair: Some(pair),
                },
                until_ms: Some(until),
                reason: PauseReason::Cooldown {
                    exit_at_ms: at,
                    minutes: minutes.get(),
                },
            })
        })
        .collect()
}

fn close(p: &Position, quantity: Quantity, reason: CloseReason) -> Close {
    Close {
        key: format!("risk:{}:{}", reason.trigger(), p.id),
        position: p.id.clone(),
        quantity,
        reason,
    }
}

fn has_price_rules(r: &PositionRules) -> bool {
    r.stop_loss.is_some() || r.trailing.is_some() || r.ladder.is_some() || r.roi.is_some()
}

/// The position rules: at most one full close (stop-loss, breakeven, trailing, ROI, in that
/// order), otherwise the ladder targets reached.
fn position(
    p: &Position,
    rules: &PositionRules,
    mut state: PositionState,
    now_ms: u64,
    notes: &mut Vec<Note>,
) -> (Vec<Close>, PositionState) {
    let network = p.id.network;
    if !has_price_rules(rules) && !state.breakeven {
        return (Vec::new(), state);
    }
    let Some(mark) = p.mark_price else {
        note(
            notes,
            NoteKind::MissingMark,
            network,
            Some(p),
            format!("{}: no mark price, its stops were not evaluated", p.id),
        );
        return (Vec::new(), state);
    };
    if p.entry_price <= Decimal::ZERO || mark <= Decimal::ZERO || p.size <= Decimal::ZERO {
        note(
            notes,
            NoteKind::BadInput,
            network,
            Some(p),
            format!(
                "{}: entry {}, mark {}, size {}: not evaluated",
                p.id, p.entry_price, mark, p.size
            ),
        );
        return (Vec::new(), state);
    }
    match position_closes(p, rules, &mut state, mark, now_ms, notes) {
        Ok(closes) => (closes, state),
        Err(e) => {
            note(
                notes,
                NoteKind::BadInput,
                network,
                Some(p),
                format!("{}: {e}", p.id),
            );
            (Vec::new(), state)
        }
    }
}

fn position_closes(
    p: &Position,
    rules: &PositionRules,
    state: &mut PositionState,
    mark: Decimal,
    now_ms: u64,
    notes: &mut Vec<Note>,
) -> Result<Vec<Close>, AmountError> {
    let network = p.id.network;
    let side = p.id.side;
    let profit = profit_pct(side, p.entry_price, mark)?;
    let better = |a: Decimal, b: Decimal| match side {
        Side::Long => a > b,
        Side::Short => a < b,
    };

    if let Some(sl) = rules.stop_loss {
        if -profit >= sl.get() {
            return Ok(vec![close(
                p,
                Quantity::All,
                CloseReason::StopLoss {
                    loss_pct: -profit,
                    limit: sl,
                },
            )]);
        }
    }
    if state.breakeven && profit <= Decimal::ZERO {
        return Ok(vec![close(
            p,
            Quantity::All,
            CloseReason::Breakeven { profit_pct: profit },
        )]);
    }
    if let Some(t) = rules.trailing {
        let start = match (state.watermark, t.activation_pct) {
            (Some(_), _) => None,
            // From the entry: the watermark starts at the better of entry and mark.
            (None, None) => Some(if better(mark, p.entry_price) {
                mark
            } else {
                p.entry_price
            }),
            (None, Some(a)) => (profit >= a.get()).then_some(mark),
        };
        if let Some(w) = start {
            state.watermark = Some(w);
            note(
                notes,
                NoteKind::TrailArmed,
                network,
                Some(p),
                format!("{}: trailing stop armed at {w}", p.id),
            );
        } else if state.watermark.is_some_and(|w| better(mark, w)) {
            state.watermark = Some(mark);
            note(
                notes,
                NoteKind::TrailMoved,
                network,
                Some(p),
                format!("{}: trailing watermark now {mark}", p.id),
            );
        }
        if let Some(w) = state.watermark {
            let d = amount::div(t.distance_pct.get(), Decimal::ONE_HUNDRED)?;
            let (stop_price, hit) = match side {
                Side::Long => {
                    let s = amount::mul(w, amount::sub(Decimal::ONE, d)?)?;
                    (s, mark <= s)
                }
                Side::Short => {
                    let s = amount::mul(w, amount::add(Decimal::ONE, d)?)?;
                    (s, mark >= s)
                }
            };
            if hit {
                return Ok(vec![close(
                    p,
                    Quantity::All,
                    CloseReason::Trailing {
                        watermark: w,
                        stop_price,
                        distance: t.distance_pct,
                    },
                )]);
            }
        }
    }
    if let Some(roi) = &rules.roi {
        let age_minutes = now_ms.saturating_sub(p.id.opened_at_ms) / MINUTE_MS;
        if let Some(e) = roi.at(age_minutes) {
            if profit >= e.profit_pct.get() {
                return Ok(vec![close(
                    p,
                    Quantity::All,
                    CloseReason::Roi {
                        after_minutes: e.after_minutes,
                        profit_pct: profit,
                        target: e.profit_pct,
                    },
                )]);
            }
        }
    }
    let Some(ladder) = &rules.ladder else {
        return Ok(Vec::new());
    };
    let targets = &ladder.targets;
    let done = state.ladder_done.min(targets.len());
    let taken: Decimal = targets[..done].iter().map(|t| t.share_pct.get()).sum();
    // What is open now is the position's remaining share; each target's share is of the opened
    // size, so its part of what is open is share / remaining.
    let remaining = amount::sub(Decimal::ONE_HUNDRED, taken)?;
    let mut closes = Vec::new();
    let mut cumulative = taken;
    for (i, t) in targets.iter().enumerate().skip(done) {
        if profit < t.profit_pct.get() {
            break;
        }
        cumulative = amount::add(cumulative, t.share_pct.get())?;
        let reason = CloseReason::TakeProfit {
            step: i + 1,
            of: targets.len(),
            profit_pct: profit,
            target: t.profit_pct,
        };
        state.ladder_done = i + 1;
        let quantity = if cumulative >= Decimal::ONE_HUNDRED {
            Some(Quantity::All)
        } else {
            let share = amount::mul(
                amount::div(t.share_pct.get(), remaining)?,
                Decimal::ONE_HUNDRED,
            )?;
            match p.lot_step {
                None => Some(Quantity::Share(share)),
                Some(step) if step <= Decimal::ZERO => {
                    note(
                        notes,
                        NoteKind::BadInput,
                        network,
                        Some(p),
                        format!("{}: lot step {step}", p.id),
                    );
                    None
                }
                Some(step) => {
                    let q = amount::div(amount::mul(p.size, share)?, Decimal::ONE_HUNDRED)?;
                    let lots = amount::div(q, step)?.floor();
                    let q = amount::mul(lots, step)?;
                    if q.is_zero() {
                        note(
                            notes,
                            NoteKind::BelowLot,
                            network,
                            Some(p),
                            format!(
                                "{}: take-profit {} of {} is below one lot of {step}",
                                p.id,
                                i + 1,
                                targets.len()
                            ),
                        );
                        None
                    } else {
                        Some(Quantity::Exact(q))
                    }
                }
            }
        };
        if let Some(q) = quantity {
            closes.push(close(p, q, reason));
        }
        if i == 0 && ladder.breakeven_after_first && !state.breakeven {
            state.breakeven = true;
            note(
                notes,
                NoteKind::BreakevenSet,
                network,
                Some(p),
                format!("{}: stop moved to the entry price {}", p.id, p.entry_price),
            );
        }
    }
    Ok(closes)
}
