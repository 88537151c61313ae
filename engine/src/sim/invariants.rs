//! What must hold after every step of a schedule (SPEC §3), and how a violation is reported:
//! - **One order per signal.** No signal has two orders at the exchanges, and no client order
//!   id names two orders (a key reused after its TTL is a new signal, but it must not collide
//!   with the old one's order).
//! - **The ledger agrees with the exchanges.** A signal recorded filled names an order that
//!   signal placed; a signal recorded rejected has no order; no signal has two
//!   outcomes.
//! - **No order a delivery's checks should have stopped** (disabled exchange, failed pre-trade
//!   check, stale signal, kill switch on since before the grant) — noticed when the order is
//!   created.
//! - **Once the run drains**, every accepted signal ended: its event is in the ledger, or it is
//!   a dead letter the operator can see (pending, recorded, or discarded by them).
//!
//! A violation on the legacy model is also classified by the hole it exhibits, from facts the
//! simulation kept about the deliveries involved.

use super::exchange::Order;
use super::world::{LetterState, SignalId, World};
use super::Model;
use contracts::event::Outcome;
use std::collections::BTreeMap;
use std::fmt;

/// The holes of the old logic the simulation is meant to find (numbered as in the issue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Hole {
    /// 1: a claim's lease ran out (or was expired on purpose) while its submit was still in
    /// flight, so a second attempt looked, found nothing, and placed a second order.
    LeaseExpiredUnderSubmit,
    /// 2: a replay after the key's TTL recreated it as fresh, not in doubt, so it submitted
    /// again without looking.
    ReplayAfterTtl,
    /// 4: a key reused after its TTL met the old signal's order (same client order id,
    /// reconciled to the old order) or the old signal's job ran on the new signal's record.
    KeyReusedAfterTtl,
    /// 6: a delivery in doubt skipped the checks, or ended the signal rejected (or released its
    /// claim) without looking the order up.
    InDoubtSkipsChecks,
    /// Anything else: on the new logic every violation is a finding.
    Other,
}

impl Hole {
    pub fn number(self) -> Option<u8> {
        match self {
            Self::LeaseExpiredUnderSubmit => Some(1),
            Self::ReplayAfterTtl => Some(2),
            Self::KeyReusedAfterTtl => Some(4),
            Self::InDoubtSkipsChecks => Some(6),
            Self::Other => None,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Self::LeaseExpiredUnderSubmit => {
                "hole 1: lease expired under an in-flight submit → second order"
            }
            Self::ReplayAfterTtl => "hole 2: replay after TTL → second order",
            Self::KeyReusedAfterTtl => {
                "hole 4: key reused after TTL reconciled to the old order / client id collision"
            }
            Self::InDoubtSkipsChecks => {
                "hole 6: in-doubt job skips checks or rejects without lookup"
            }
            Self::Other => "not one of the known holes",
        }
    }
}

/// Which invariant broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ViolationKind {
    /// A signal has two orders at the exchanges.
    SecondOrder,
    /// Two signals' orders share a client order id.
    ClientIdCollision,
    /// The ledger disagrees with the exchanges.
    LedgerMismatch,
    /// An order was created although the sending delivery's checks should have stopped it.
    UncheckedOrder,
    /// The run drained and a signal neither reached the ledger nor is a visible dead letter.
    NotEnded,
    /// A published event was undecodable or named no accepted signal.
    BadEvent,
    /// The run did not drain within its step budget.
    NoProgress,
}

/// A broken invariant, before the scheduler adds where and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub kind: ViolationKind,
    pub hole: Hole,
    pub message: String,
}

/// A schedule that broke an invariant: `run(seed, config)` with the same config replays it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub seed: u64,
    pub model: Model,
    /// The step after which the invariant was found broken.
    pub step: u64,
    pub kind: ViolationKind,
    /// The legacy hole it exhibits (`Other` for anything else).
    pub hole: Hole,
    pub message: String,
    /// One line per step and per port call, answer and outcome, up to the violation.
    pub trace: Vec<String>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "violation on the {} model, seed {} (step {}): {:?}: {}",
            self.model.as_str(),
            self.seed,
            self.step,
            self.kind,
            self.message
        )?;
        writeln!(f, "classified: {}", self.hole.describe())?;
        writeln!(f, "trace:")?;
        for line in &self.trace {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

fn finding(kind: ViolationKind, hole: Hole, message: String) -> Option<Finding> {
    Some(Finding {
        kind,
        hole,
        message,
    })
}

/// Which legacy hole a broken "one order" or ledger invariant of signal `s` exhibits, from
/// what the simulation kept about it and its orders' deliveries, most specific first: a job or
/// letter of one signal acting on another's record (4), a replay that recreated a forgotten
/// key (2), an in-doubt delivery that ended or released the claim without a lookup (6), else a
/// claim that ran out under a submit (1).
fn hole_of(w: &World, s: SignalId, orders: &[&Order]) -> Hole {
    let info = &w.signals[s];
    let claims = orders.iter().filter_map(|o| o.by.claim);
    if info.strayed || info.hijacked_by.is_some() || claims.clone().any(|c| c.foreign) {
        Hole::KeyReusedAfterTtl
    } else if claims.into_iter().any(|c| c.recreated) {
        Hole::ReplayAfterTtl
    } else if info.ended_blind {
        Hole::InDoubtSkipsChecks
    } else {
        Hole::LeaseExpiredUnderSubmit
    }
}

/// The invariants that hold after every step.
pub(crate) fn check(w: &World) -> Option<Finding> {
    if let Some(f) = w.found.first() {
        return Some(f.clone());
    }
    let orders = &w.exchange.orders;
    let mut by_signal: BTreeMap<SignalId, Vec<usize>> = BTreeMap::new();
    let mut by_id: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, o) in orders.iter().enumerate() {
        by_signal.entry(o.by.signal).or_default().push(i);
        by_id
            .entry((format!("{:?}", o.exchange), o.client_order_id.clone()))
            .or_default()
            .push(i);
    }
    for ((ex, coid), list) in &by_id {
        if let [a, b, ..] = list[..] {
            let (a, b) = (&orders[a], &orders[b]);
            if a.by.signal != b.by.signal {
                return finding(
                    ViolationKind::ClientIdCollision,
                    Hole::KeyReusedAfterTtl,
                    format!(
                        "{ex} has orders {} (s{}) and {} (s{}) under one client order id {coid}",
                        a.id, a.by.signal, b.id, b.by.signal
                    ),
                );
            }
        }
    }
    for (&s, list) in &by_signal {
        if let [first, second, ..] = list[..] {
            let (a, b) = (&orders[first], &orders[second]);
            return finding(
                ViolationKind::SecondOrder,
                hole_of(w, s, &[a, b]),
                format!(
                    "s{s} ({}) has two orders: {} ({}, sent {}, created {} by a{} delivery {}) and {} ({}, sent {} by a{} delivery {}{})",
                    w.signals[s].job.idempotency_key,
                    a.id,
                    a.client_order_id,
                    super::world::ts(a.sent_at),
                    super::world::ts(a.created_at),
                    a.by.actor,
                    a.by.delivery,
                    b.id,
                    b.client_order_id,
                    super::world::ts(b.sent_at),
                    b.by.actor,
                    b.by.delivery,
                    if b.by.in_doubt() { ", in doubt" } else { "" }
                ),
            );
        }
    }
    for (&s, entries) in &w.ledger {
        let own: Vec<&Order> = by_signal
            .get(&s)
            .map_or(vec![], |l| l.iter().map(|&i| &orders[i]).collect());
        let outcomes: Vec<Outcome> = entries.iter().map(|e| e.outcome).collect();
        if outcomes.iter().any(|&o| o != outcomes[0]) {
            return finding(
                ViolationKind::LedgerMismatch,
                hole_of(w, s, &own),
                format!("s{s} is in the ledger as {outcomes:?}"),
            );
        }
        for e in entries {
            match e.outcome {
                Outcome::Filled => {
                    let Some(id) = &e.order_id else {
                        return finding(
                            ViolationKind::LedgerMismatch,
                            Hole::Other,
                            format!("s{s} is in the ledger as filled without an order"),
                        );
                    };
                    match orders.iter().find(|o| &o.id == id) {
                        None => {
                            return finding(
                                ViolationKind::LedgerMismatch,
                                Hole::Other,
                                format!(
                                "s{s} is in the ledger as filled by {id}, which no exchange has"
                            ),
                            )
                        }
                        Some(o) if o.by.signal != s => {
                            return finding(
                                ViolationKind::LedgerMismatch,
                                Hole::KeyReusedAfterTtl,
                                format!(
                                "s{s} is in the ledger as filled by {id}, which s{} placed ({})",
                                o.by.signal, o.client_order_id
                            ),
                            )
                        }
                        Some(_) => {}
                    }
                }
                Outcome::Rejected => {
                    if let Some(o) = own.first() {
                        return finding(
                            ViolationKind::LedgerMismatch,
                            hole_of(w, s, &own),
                            format!(
                                "s{s} is in the ledger as {} but its order {} exists",
                                e.outcome.as_str(),
                                o.id
                            ),
                        );
                    }
                }
            }
        }
    }
    None
}

/// The invariants of a drained run (nothing queued, running or in flight).
pub(crate) fn check_drained(w: &World) -> Option<Finding> {
    for (s, info) in w.signals.iter().enumerate() {
        let recorded = w.ledger.get(&s).is_some_and(|l| !l.is_empty());
        let lettered = w.letters.iter().any(|l| {
            l.signal == s
                && matches!(
                    l.state,
                    LetterState::Pending | LetterState::Recorded | LetterState::Discarded
                )
        });
        if !recorded && !lettered {
            let orders: Vec<&str> = w
                .exchange
                .orders
                .iter()
                .filter(|o| o.by.signal == s)
                .map(|o| o.id.as_str())
                .collect();
            let hole = if info.hijacked_by.is_some() || info.strayed {
                Hole::KeyReusedAfterTtl
            } else {
                Hole::Other
            };
            return finding(
                ViolationKind::NotEnded,
                hole,
                format!(
                    "s{s} ({}) ended neither in the ledger nor as a dead letter (orders {orders:?}{}; store: {})",
                    info.job.idempotency_key,
                    match (info.hijacked_by, info.strayed) {
                        (Some(o), _) => format!("; s{o}'s job or dead letter acted on its record"),
                        (None, true) => "; its job or dead letter acted on a later signal's record".into(),
                        _ => String::new(),
                    },
                    w.store.describe(&info.job.idempotency_key)
                ),
            );
        }
    }
    None
}
