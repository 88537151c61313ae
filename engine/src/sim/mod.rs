//! The deterministic simulation of exactly-once (SPEC §3): it runs the consumer's pure logic —
//! one `execute` call per delivery of a job — as futures polled by a seeded scheduler, over a
//! simulated idempotency store (the real [`contracts::lifecycle::KeyRecord`] state machine in a
//! `HashMap`), simulated exchanges that enforce the venues' rules, a queue that redelivers, a
//! dead-letter queue with an operator who replays and discards, and a clock that moves only when
//! the scheduler moves it. Every port call is an operation pending in a shared world until the
//! scheduler resolves it (answer, refusal, timeout, lost answer, late arrival) or crashes the
//! delivery awaiting it, so a consumer crash is tried at every await point. After every step the
//! invariants are checked: at most one order per signal and per client order id, a ledger that
//! agrees with the exchanges, no order a delivery's checks should have stopped, and once the run
//! drains, every accepted signal ended filled, rejected or dead-lettered.
//!
//! The same seed always produces the same schedule (no wall clock, no hash-order iteration), so a
//! [`Violation`]'s seed and trace replay it exactly. [`Model::Legacy`] runs a model of the logic
//! before the lifecycle rework (`legacy`), so the simulation can be shown to find its holes; on
//! [`Model::New`] it must find none. On its first runs it found three holes of the new logic,
//! all about dead letters that share a millisecond with a replay or outlive their key; each is
//! fixed (see the `finding_*` tests, now clean runs of the schedules that found them).

mod exchange;
mod invariants;
mod legacy;
mod ports;
mod rng;
mod scheduler;
mod store;
#[cfg(test)]
mod tests;
mod world;

use crate::attempt::{execute, Disposition, Ports};

pub use invariants::{Hole, Violation, ViolationKind};
pub use scheduler::{run, Stats};

/// Which consumer and store logic a schedule runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// `engine`'s `execute` over the `contracts::lifecycle` state machine.
    New,
    /// The logic before the rework (`git show 18866d1`), modelled in `sim::legacy`.
    Legacy,
}

impl Model {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Legacy => "legacy",
        }
    }
}

/// How likely each kind of step is, relative to the others (a kind with nothing to act on is
/// never picked). The defaults favour progress, with every fault frequent enough that a few
/// thousand schedules try each at every await point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Weights {
    /// A pending request reaches its server (and is applied); its answer comes back at once,
    /// or (one time in three) travels back slowly.
    pub deliver: u32,
    /// A slow answer reaches its caller.
    pub respond: u32,
    /// A pending request reaches its server but its answer is lost, or a slow answer is lost
    /// (the caller sees a transport error).
    pub lose_answer: u32,
    /// A pending request is refused or fails without taking effect.
    pub fail: u32,
    /// The caller gives up on a pending request (which stays in flight and may still arrive)
    /// or on a slow answer.
    pub time_out: u32,
    /// A request whose caller is gone is lost in the network.
    pub drop: u32,
    /// Time moves on by up to 3 s.
    pub tick: u32,
    /// Time moves to (just before, at, or just after) a lease end, settle time, deadline,
    /// receive window, visibility, queue delay or expiry.
    pub jump: u32,
    /// Time moves past the keys' TTL (and sometimes past the unfinished keys' grace too).
    pub ttl_jump: u32,
    /// The queue delivers a message that is due.
    pub start: u32,
    /// A delivery's invocation dies at the await point it is at (its message is redelivered).
    pub crash: u32,
    /// A second copy of a job reaches the queue (at-least-once redelivery, outbox re-send).
    pub duplicate: u32,
    /// The operator flips the kill switch.
    pub kill_switch: u32,
    /// The operator disables or enables an exchange, or narrows `trade:allowed_symbols`.
    pub config: u32,
    /// The DLQ worker records a dead letter and marks its key dead.
    pub dlq_record: u32,
    /// The DLQ worker's `MarkDead` for an already recorded letter arrives again.
    pub dlq_redeliver: u32,
    /// The operator replays a dead letter.
    pub replay: u32,
    /// The operator discards a dead letter (its key may then expire).
    pub discard: u32,
    /// The store's alarm deletes the keys `KeyRecord::expired` says may go.
    pub expire: u32,
    /// A new signal is accepted (sometimes under the key of a signal the store forgot).
    pub new_signal: u32,
    /// A resting limit order fills at the exchange.
    pub fill: u32,
}

impl Default for Weights {
    fn default() -> Self {
        Self {
            deliver: 60,
            respond: 20,
            lose_answer: 4,
            fail: 5,
            time_out: 4,
            drop: 3,
            tick: 10,
            jump: 9,
            ttl_jump: 1,
            start: 30,
            crash: 3,
            duplicate: 3,
            kill_switch: 1,
            config: 2,
            dlq_record: 10,
            dlq_redeliver: 1,
            replay: 4,
            discard: 1,
            expire: 3,
            new_signal: 2,
            fill: 3,
        }
    }
}

/// One schedule's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    pub model: Model,
    /// Steps of faults and operator actions before the run drains (no more faults: every
    /// request arrives, every due message is delivered, until nothing is left to do).
    pub steps: u32,
    /// Signals accepted at the start.
    pub initial_signals: u32,
    /// Signals accepted in all (including new ones under forgotten keys).
    pub max_signals: u32,
    /// The `trade-execution` consumer's `max_retries` (its wrangler config says 5).
    pub max_retries: u32,
    /// Binance's and Bybit's receive window: a submit older than this when it reaches the
    /// matching engine is refused.
    pub recv_window_ms: i64,
    /// An accepted order shows in lookups up to this long after the matching engine took it.
    /// The design tolerates `SETTLE_MS - ATTEMPT_DEADLINE_MS - recv_window_ms` (5 s): a submit
    /// begins at `begin_submit`, is sent before the attempt's deadline and reaches the
    /// exchange within the receive window or not at all, and nobody looks it up before
    /// `SETTLE_MS` after it began.
    pub max_visibility_lag_ms: i64,
    /// A copy of a job reaches the queue again only this soon after the job was last enqueued
    /// (the queue's redelivery and the outbox act within minutes, not days).
    pub duplicate_horizon_ms: i64,
    /// How long each DLQ-worker or operator action (record, redelivered `MarkDead`, replay,
    /// discard) takes: the clock moves this much before it. With 0, a letter's row can be
    /// recorded in the same millisecond as a replay of its key (clocks are coarse, and the DLQ
    /// worker's and the store's are not the same clock).
    pub dlq_action_ms: i64,
    /// The operator may replay or discard a dead letter older than the keys' TTL (the letters
    /// are kept until an operator acts on them, so this is the faithful setting).
    pub stale_letters: bool,
    /// The DLQ worker refuses to replay a letter whose signal already ended (its outcome is in
    /// the ledger: `ops::dead_letters::ledger_fill_query`), and its `MarkDead`, `Reopen` and
    /// `Resolve` leave alone a key whose record the store now holds for a later signal (they
    /// name the job's intake time: `KeyRecord::is_signal`). What hoox does (the fixes of
    /// findings F2 and F3); off in the legacy model.
    pub dlq_checks_letters: bool,
    /// A claim names the job's intake time and the store answers `Unknown` to a job that is not
    /// the one its record of the key was accepted for (`KeyRecord::is_signal`, fix of F3). What
    /// hoox does; off in the legacy model.
    pub claim_checks_signal: bool,
    pub weights: Weights,
}

impl SimConfig {
    /// The schedules the test suite and `simulate` run on the new logic.
    pub fn new_logic() -> Self {
        Self {
            model: Model::New,
            steps: 300,
            initial_signals: 2,
            max_signals: 5,
            max_retries: 5,
            recv_window_ms: 5_000,
            max_visibility_lag_ms: 4_000,
            duplicate_horizon_ms: 3_600_000,
            dlq_action_ms: 0,
            stale_letters: true,
            dlq_checks_letters: true,
            claim_checks_signal: true,
            weights: Weights::default(),
        }
    }

    /// Schedules that spend their time past the keys' TTL: days pass often, the alarm
    /// forgets keys, dead letters are replayed onto forgotten keys and new signals reuse old
    /// keys (the paths of holes 2 and 4).
    pub fn after_ttl(model: Model) -> Self {
        let fixed = model == Model::New;
        let mut c = Self {
            model,
            initial_signals: 3,
            max_signals: 12,
            dlq_checks_letters: fixed,
            claim_checks_signal: fixed,
            ..Self::new_logic()
        };
        let w = &mut c.weights;
        w.ttl_jump = 25;
        w.expire = 10;
        w.new_signal = 10;
        w.replay = 6;
        w.start = 60;
        w.duplicate = 1;
        w.crash = 1;
        c
    }

    /// The same schedules on the legacy model.
    pub fn legacy() -> Self {
        Self {
            model: Model::Legacy,
            dlq_checks_letters: false,
            claim_checks_signal: false,
            ..Self::new_logic()
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self::new_logic()
    }
}
