//! The shared world of one schedule: the clock, the operations every port call leaves pending,
//! the store, the exchanges, the queue, the dead-letter queue, the ledger of published events,
//! and what the invariants need to know about each signal and each delivery. Port calls
//! register operations here and wait; the scheduler resolves them one step at a time. Nothing
//! in here runs on its own, and nothing iterates a hash map, so a seed is one schedule.
//!
//! An operation has two halves, as a network call does: the request on its way to the server
//! (applied when it arrives, whether or not anyone still waits for the answer) and the caller
//! waiting for an answer (which a timeout, a lost answer or a crash can end first). That split
//! is what lets a submit arrive after its caller gave up, or a store write land after its
//! delivery died.

use super::exchange::SimExchange;
use super::invariants::{Finding, Hole, ViolationKind};
use super::rng::Rng;
use super::store::StoreModel;
use super::SimConfig;
use crate::ports::{Failure, FailureClass, Lookup, Prepared};
use base64::Engine as _;
use contracts::config::{Mode, RuntimeConfig};
use contracts::event::{OrderAck, Outcome, TradeEvent};
use contracts::idempotency::{
    AttemptFailedRequest, ClaimResponse, CompleteRequest, Fenced, IntakeRequest, SubmitGrant,
    SubmitRequest, ATTEMPT_DEADLINE_MS,
};
use contracts::job::{DeadLetterReason, TradeJob};
use contracts::signal::Exchange;
use exchanges::order::OrderRequest;
use exchanges::venue::Instrument;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};

/// The simulation's epoch (traces show times relative to it).
pub(crate) const T0: i64 = 1_764_300_000_000;
/// A queue consumer invocation is killed after this long (the Workers wall-clock limit for
/// queue handlers): a delivery still running then crashes.
pub(crate) const INVOCATION_LIMIT_MS: i64 = 15 * 60_000;
/// The DLQ worker records a dead letter (and a redelivered `MarkDead` arrives) this soon after
/// the letter was sent.
pub(crate) const DLQ_HORIZON_MS: i64 = 3_600_000;

/// A time for traces: seconds since [`T0`].
pub(crate) fn ts(t: i64) -> String {
    format!("{:.3}s", (t - T0) as f64 / 1000.0)
}

pub(crate) type OpId = u64;
pub(crate) type ActorId = u64;
pub(crate) type SignalId = usize;
pub(crate) type LetterId = usize;

/// What a port call asks of its server.
#[derive(Debug, Clone)]
pub(crate) enum Request {
    Claim {
        key: String,
        /// Whose job asks.
        signal: SignalId,
    },
    BeginSubmit(SubmitRequest),
    Complete {
        req: CompleteRequest,
        by: CallerFacts,
    },
    AttemptFailed {
        req: AttemptFailedRequest,
        by: CallerFacts,
    },
    EventPublished {
        key: String,
    },
    Prepare {
        exchange: Exchange,
        order: Box<OrderRequest>,
    },
    Lookup {
        exchange: Exchange,
        order: Box<OrderRequest>,
    },
    Submit {
        exchange: Exchange,
        order: Box<OrderRequest>,
        /// The submit's signed timestamp.
        sent_at: i64,
        by: CallerFacts,
    },
    Publish {
        event: Vec<u8>,
    },
}

/// Which server a request goes to and how it can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpClass {
    Store,
    Prepare,
    Lookup,
    Submit,
    Publish,
}

impl Request {
    fn class(&self) -> OpClass {
        match self {
            Self::Claim { .. }
            | Self::BeginSubmit(_)
            | Self::Complete { .. }
            | Self::AttemptFailed { .. }
            | Self::EventPublished { .. } => OpClass::Store,
            Self::Prepare { .. } => OpClass::Prepare,
            Self::Lookup { .. } => OpClass::Lookup,
            Self::Submit { .. } => OpClass::Submit,
            Self::Publish { .. } => OpClass::Publish,
        }
    }

    /// The port call's name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Claim { .. } => "claim",
            Self::BeginSubmit(_) => "begin_submit",
            Self::Complete { .. } => "complete",
            Self::AttemptFailed { .. } => "attempt_failed",
            Self::EventPublished { .. } => "event_published",
            Self::Prepare { .. } => "prepare",
            Self::Lookup { .. } => "lookup",
            Self::Submit { .. } => "submit",
            Self::Publish { .. } => "publish",
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Claim { key, .. } => format!("claim {key}"),
            Self::BeginSubmit(r) => format!("begin_submit {} attempt {}", r.key, r.attempt),
            Self::Complete { req, .. } => format!(
                "complete {} attempt {} {}",
                req.key,
                req.attempt,
                req.outcome.as_str()
            ),
            Self::AttemptFailed { req: r, .. } => format!(
                "attempt_failed {} attempt {} released={} ({})",
                r.key, r.attempt, r.released, r.error
            ),
            Self::EventPublished { key } => format!("event_published {key}"),
            Self::Prepare { exchange, order } => format!("prepare {exchange:?} {}", order.symbol),
            Self::Lookup { exchange, order } => {
                format!("lookup {exchange:?} {}", order.client_order_id)
            }
            Self::Submit {
                exchange, order, ..
            } => format!(
                "submit {exchange:?} {} {:?}",
                order.client_order_id, order.order_type
            ),
            Self::Publish { event } => match TradeEvent::decode(event) {
                Ok(e) => format!("publish {} {}", e.idempotency_key, e.outcome.as_str()),
                Err(_) => "publish <undecodable>".into(),
            },
        }
    }
}

/// A server's answer.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    Claim(ClaimResponse),
    Grant(SubmitGrant),
    Fenced(Fenced),
    Done,
    Prepared(Box<Prepared>),
    Lookup(Lookup),
    Ack(OrderAck),
}

/// What the caller sees instead of an answer.
#[derive(Debug, Clone)]
pub(crate) enum Fault {
    /// The store or the events queue: nothing is known.
    Port(String),
    Exchange(Failure),
}

pub(crate) type Answer = Result<Reply, Fault>;

fn describe_answer(a: &Answer) -> String {
    match a {
        Ok(Reply::Claim(c)) => format!("{c:?}"),
        Ok(Reply::Grant(g)) => format!("{g:?}"),
        Ok(Reply::Fenced(f)) => format!("{f:?}"),
        Ok(Reply::Done) => "ok".into(),
        Ok(Reply::Prepared(_)) => "prepared".into(),
        Ok(Reply::Lookup(Lookup::Found(a))) => {
            format!("found {} {}", a.exchange_order_id, a.status)
        }
        Ok(Reply::Lookup(Lookup::NotFound)) => "not found".into(),
        Ok(Reply::Ack(a)) => format!("accepted {} {}", a.exchange_order_id, a.status),
        Err(Fault::Port(m)) => format!("error: {m}"),
        Err(Fault::Exchange(f)) => format!("{:?}: {}", f.class, f.message),
    }
}

/// What becomes of a request's answer when the request arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// The caller gets it now.
    Answered,
    /// It travels back (a later step delivers it, loses it, or the caller gives up first).
    Held,
    /// It is lost: the caller sees a transport error.
    Lost,
}

/// One port call in progress.
#[derive(Debug)]
pub(crate) struct Op {
    pub actor: ActorId,
    pub class: OpClass,
    pub name: &'static str,
    /// For traces (empty when not tracing).
    pub label: String,
    /// On its way to the server; `None` once it arrived or was lost.
    pub request: Option<Request>,
    pub issued_at: i64,
    /// The caller gives up by then (exchange calls).
    pub deadline: Option<i64>,
    /// The caller still awaits an answer.
    pub waiting: bool,
    /// Applied by the server; the answer is on its way back.
    pub reply: Option<Answer>,
    /// Ready for the caller to take on its next poll.
    pub answer: Option<Answer>,
}

impl Op {
    /// The caller waits and nothing has answered it yet.
    pub fn unanswered(&self) -> bool {
        self.waiting && self.answer.is_none()
    }
}

/// What a delivery learnt from its claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClaimFacts {
    pub attempt: u32,
    pub in_doubt: bool,
    pub applied_at: i64,
    /// The record was recreated by a replay of a key the store had forgotten.
    pub recreated: bool,
    /// The record belongs to another signal (one accepted under the same key).
    pub foreign: bool,
}

/// What the invariants need to know about the delivery behind a request, taken when the call
/// was made (the delivery may be gone when the request lands).
#[derive(Debug, Clone)]
pub(crate) struct CallerFacts {
    pub actor: ActorId,
    pub signal: SignalId,
    pub delivery: u32,
    pub claim: Option<ClaimFacts>,
    /// Lookups the delivery got an answer to.
    pub lookups: u32,
    /// Why the delivery's own view of the world should have stopped this submit.
    pub unchecked: Option<String>,
}

impl CallerFacts {
    pub fn in_doubt(&self) -> bool {
        self.claim.is_some_and(|c| c.in_doubt)
    }
}

/// One running delivery (an `execute` call).
#[derive(Debug)]
pub(crate) struct ActorMeta {
    pub signal: SignalId,
    /// The queue's attempt number (1 for the first delivery).
    pub delivery: u32,
    /// The config the delivery was given (CONFIG_KV at its start).
    pub cfg: RuntimeConfig,
    pub started_at: i64,
    pub claim: Option<ClaimFacts>,
    pub granted_at: Option<i64>,
    pub lookups: u32,
}

/// One accepted signal: one intake of a key (a key reused after the store forgot it is another
/// signal).
#[derive(Debug)]
pub(crate) struct SignalInfo {
    pub job: TradeJob,
    pub last_replayed_at: Option<i64>,
    pub last_enqueued_at: i64,
    /// A delivery in doubt ended its claim without an order (completed it rejected, or
    /// released it) and without an answered lookup.
    pub ended_blind: bool,
    /// Another signal's job claimed this signal's record, or its dead letter was marked,
    /// replayed or discarded on it.
    pub hijacked_by: Option<SignalId>,
    /// This signal's job or dead letter acted on another signal's record (of the same key).
    pub strayed: bool,
}

/// A message on `trade-execution`.
#[derive(Debug, Clone)]
pub(crate) struct Message {
    pub signal: SignalId,
    /// Deliveries so far.
    pub attempts: u32,
    pub visible_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LetterState {
    /// On `trade-execution-dlq`, not yet recorded by the DLQ worker.
    Pending,
    Recorded,
    Replayed,
    Discarded,
}

/// A dead letter.
#[derive(Debug, Clone)]
pub(crate) struct Letter {
    pub signal: SignalId,
    pub reason: DeadLetterReason,
    pub detail: String,
    pub created_at: i64,
    pub recorded_at: Option<i64>,
    pub state: LetterState,
}

/// A published trade event, as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LedgerEntry {
    pub outcome: Outcome,
    pub order_id: Option<String>,
}

/// Everything one schedule has.
pub(crate) struct World {
    pub now: i64,
    pub recv_window_ms: i64,
    pub max_visibility_lag_ms: i64,
    pub max_retries: u32,
    /// See `SimConfig::dlq_checks_letters`.
    pub dlq_checks_letters: bool,
    /// See `SimConfig::claim_checks_signal`.
    pub claim_checks_signal: bool,
    /// The world's own draws (visibility lags, `Clock::random`), apart from the scheduler's.
    pub rng: Rng,
    pub store: Box<dyn StoreModel>,
    pub exchange: SimExchange,
    /// The authoritative kill switch (in the store's shards).
    pub kill_switch: bool,
    pub kill_on_since: Option<i64>,
    /// CONFIG_KV as it is now.
    pub cfg: RuntimeConfig,
    pub ops: BTreeMap<OpId, Op>,
    next_op: OpId,
    pub actors: BTreeMap<ActorId, ActorMeta>,
    next_actor: ActorId,
    pub signals: Vec<SignalInfo>,
    by_intake: BTreeMap<(String, i64), SignalId>,
    /// Which signal's intake (or replay) made the store's record of each key.
    pub key_owner: BTreeMap<String, SignalId>,
    /// Keys whose record a replay recreated.
    pub recreated: BTreeSet<String>,
    pub queue: Vec<Message>,
    pub letters: Vec<Letter>,
    pub ledger: BTreeMap<SignalId, Vec<LedgerEntry>>,
    /// Violations noticed while applying a request (checked after the step).
    pub found: Vec<Finding>,
    pub trace: Option<Vec<String>>,
}

impl World {
    pub fn new(config: &SimConfig, store: Box<dyn StoreModel>, rng: Rng, trace: bool) -> Self {
        let mut cfg = RuntimeConfig::defaults();
        cfg.mode = Mode::Live;
        Self {
            now: T0,
            recv_window_ms: config.recv_window_ms,
            max_visibility_lag_ms: config.max_visibility_lag_ms,
            max_retries: config.max_retries,
            dlq_checks_letters: config.dlq_checks_letters,
            claim_checks_signal: config.claim_checks_signal,
            rng,
            store,
            exchange: SimExchange::default(),
            kill_switch: false,
            kill_on_since: None,
            cfg,
            ops: BTreeMap::new(),
            next_op: 1,
            actors: BTreeMap::new(),
            next_actor: 1,
            signals: Vec::new(),
            by_intake: BTreeMap::new(),
            key_owner: BTreeMap::new(),
            recreated: BTreeSet::new(),
            queue: Vec::new(),
            letters: Vec::new(),
            ledger: BTreeMap::new(),
            found: Vec::new(),
            trace: trace.then(Vec::new),
        }
    }

    pub fn tracing(&self) -> bool {
        self.trace.is_some()
    }

    /// Adds a line to the trace (built only when tracing).
    pub fn note(&mut self, line: impl FnOnce() -> String) {
        if let Some(t) = &mut self.trace {
            t.push(format!("        {}", line()));
        }
    }

    fn found(&mut self, kind: ViolationKind, hole: Hole, message: String) {
        self.found.push(Finding {
            kind,
            hole,
            message,
        });
    }

    // ---- deliveries ----

    /// A delivery of `signal`'s job starts; it gets CONFIG_KV as it is now.
    pub fn new_actor(&mut self, signal: SignalId, delivery: u32) -> (ActorId, RuntimeConfig) {
        let id = self.next_actor;
        self.next_actor += 1;
        let mut cfg = self.cfg.clone();
        cfg.kill_switch = self.kill_switch;
        self.actors.insert(
            id,
            ActorMeta {
                signal,
                delivery,
                cfg: cfg.clone(),
                started_at: self.now,
                claim: None,
                granted_at: None,
                lookups: 0,
            },
        );
        (id, cfg)
    }

    /// What the invariants keep about `actor`'s call; `submit_to` adds the checks a submit
    /// to that exchange must have passed.
    pub fn caller_facts(&self, actor: ActorId, submit_to: Option<Exchange>) -> CallerFacts {
        let m = &self.actors[&actor];
        CallerFacts {
            actor,
            signal: m.signal,
            delivery: m.delivery,
            claim: m.claim,
            lookups: m.lookups,
            unchecked: submit_to.and_then(|ex| self.unchecked(m, ex)),
        }
    }

    /// Why a submit sent now by the delivery `m` should not have been sent, judged by what that
    /// delivery was told (its config) and by the signal's real age.
    fn unchecked(&self, m: &ActorMeta, exchange: Exchange) -> Option<String> {
        let s = &self.signals[m.signal];
        let job = &s.job;
        let cfg = &m.cfg;
        if !cfg
            .exchange_enabled
            .get(&exchange)
            .copied()
            .unwrap_or(false)
        {
            return Some(format!(
                "exchange:{exchange:?}:enabled was off in the delivery's config"
            ));
        }
        if let Err(e) = OrderRequest::for_job(job, cfg) {
            return Some(format!(
                "the delivery's config fails the pre-trade checks: {e}"
            ));
        }
        let signal_time = s
            .last_replayed_at
            .unwrap_or(job.signal.timestamp_ms.unwrap_or(job.received_at_ms));
        let age = self.now - signal_time;
        let max = i64::try_from(cfg.max_signal_age_seconds)
            .unwrap_or(i64::MAX / 2_000)
            .saturating_mul(1000);
        if cfg.max_signal_age_seconds > 0 && age > max + ATTEMPT_DEADLINE_MS {
            return Some(format!(
                "sent {} s after the signal (or its replay); trade:max_signal_age_seconds = {}",
                age / 1000,
                cfg.max_signal_age_seconds
            ));
        }
        let since_grant = m.granted_at.or(m.claim.map(|c| c.applied_at));
        if let (Some(on), Some(granted)) = (self.kill_on_since, since_grant) {
            if on < granted {
                return Some(
                    "sent while the kill switch had been on since before its grant".into(),
                );
            }
        }
        None
    }

    // ---- operations ----

    /// A port call: registers its request and returns the operation the caller waits on. An
    /// exchange call whose deadline already passed gives up without sending anything.
    pub fn register(&mut self, actor: ActorId, request: Request, deadline: Option<i64>) -> OpId {
        let id = self.next_op;
        self.next_op += 1;
        let class = request.class();
        let label = if self.tracing() {
            request.describe()
        } else {
            String::new()
        };
        let expired = deadline.is_some_and(|d| d <= self.now);
        if self.tracing() {
            let l = label.clone();
            self.note(|| {
                format!(
                    "a{actor} calls {l} [op{id}]{}",
                    if expired {
                        ": deadline already passed, not sent"
                    } else {
                        ""
                    }
                )
            });
        }
        self.ops.insert(
            id,
            Op {
                actor,
                class,
                name: request.name(),
                label,
                request: (!expired).then_some(request),
                issued_at: self.now,
                deadline,
                waiting: true,
                reply: None,
                answer: expired.then(|| Err(timeout_fault(class))),
            },
        );
        id
    }

    /// The caller's answer, once there is one.
    pub fn take_answer(&mut self, op: OpId) -> Option<Answer> {
        let o = self.ops.get_mut(&op)?;
        let a = o.answer.take()?;
        o.waiting = false;
        self.gc(op);
        Some(a)
    }

    /// The caller was dropped (its delivery crashed); the request may still arrive.
    pub fn caller_gone(&mut self, op: OpId) {
        if let Some(o) = self.ops.get_mut(&op) {
            o.waiting = false;
            o.answer = None;
            o.reply = None;
            self.gc(op);
        }
    }

    fn gc(&mut self, op: OpId) {
        if self.ops.get(&op).is_some_and(|o| {
            !o.waiting && o.answer.is_none() && o.reply.is_none() && o.request.is_none()
        }) {
            self.ops.remove(&op);
        }
    }

    /// The caller's answer (unless it already has one); a reply still on its way is dropped.
    fn set_answer(&mut self, op: OpId, answer: Answer) {
        let tracing = self.tracing();
        if let Some(o) = self.ops.get_mut(&op) {
            o.reply = None;
            if o.unanswered() {
                if o.class == OpClass::Lookup && answer.is_ok() {
                    if let Some(m) = self.actors.get_mut(&o.actor) {
                        m.lookups += 1;
                    }
                }
                if tracing {
                    let line = format!(
                        "a{} ← {} [op{op}]: {}",
                        o.actor,
                        o.label,
                        describe_answer(&answer)
                    );
                    o.answer = Some(answer);
                    self.note(|| line);
                } else {
                    o.answer = Some(answer);
                }
            }
        }
    }

    /// The request arrives and is applied; what happens to its answer is `arrival`.
    pub fn deliver(&mut self, op: OpId, arrival: Arrival) {
        let Some(o) = self.ops.get_mut(&op) else {
            return;
        };
        let Some(req) = o.request.take() else {
            return;
        };
        let waiting = o.unanswered();
        let (actor, class, to_caller) = (o.actor, o.class, waiting && arrival != Arrival::Lost);
        let label = o.label.clone();
        let answer = self.apply(actor, req, to_caller);
        if self.tracing() && (!waiting || arrival == Arrival::Held) {
            let a = describe_answer(&answer);
            let fate = if waiting {
                "its answer is on its way back"
            } else {
                "the answer goes nowhere"
            };
            self.note(|| format!("{label} [op{op}] arrived: {a}; {fate}"));
        }
        match arrival {
            Arrival::Answered => self.set_answer(op, answer),
            Arrival::Held if waiting => {
                if let Some(o) = self.ops.get_mut(&op) {
                    o.reply = Some(answer);
                }
            }
            Arrival::Held => {}
            Arrival::Lost => self.set_answer(op, Err(lost_fault(class))),
        }
        self.gc(op);
    }

    /// An answer on its way back reaches its caller.
    pub fn respond(&mut self, op: OpId) {
        if let Some(a) = self.ops.get_mut(&op).and_then(|o| o.reply.take()) {
            self.set_answer(op, a);
        }
    }

    /// An answer on its way back is lost: the caller sees a transport error.
    pub fn lose_reply(&mut self, op: OpId) {
        if let Some(o) = self.ops.get_mut(&op) {
            if o.reply.take().is_some() {
                let class = o.class;
                self.set_answer(op, Err(lost_fault(class)));
            }
        }
    }

    /// The request fails without taking effect (`choice` picks how).
    pub fn fail(&mut self, op: OpId, choice: usize) {
        let Some(o) = self.ops.get_mut(&op) else {
            return;
        };
        if o.request.take().is_none() {
            return;
        }
        let class = o.class;
        self.set_answer(op, Err(fail_fault(class, choice)));
        self.gc(op);
    }

    /// The caller stops waiting; the request (if still on its way) may yet arrive.
    pub fn time_out(&mut self, op: OpId) {
        if let Some(o) = self.ops.get(&op) {
            let class = o.class;
            self.set_answer(op, Err(timeout_fault(class)));
        }
    }

    /// A request nobody waits for is lost.
    pub fn drop_request(&mut self, op: OpId) {
        if let Some(o) = self.ops.get_mut(&op) {
            o.request = None;
            self.gc(op);
        }
    }

    /// Time moves to `to`: callers past their deadline get a timeout (their requests stay in
    /// flight), and requests older than an invocation's life are lost.
    pub fn advance(&mut self, to: i64) {
        if to <= self.now {
            return;
        }
        self.now = to;
        let due: Vec<OpId> = self
            .ops
            .iter()
            .filter(|(_, o)| o.unanswered() && o.deadline.is_some_and(|d| d <= to))
            .map(|(&id, _)| id)
            .collect();
        for op in due {
            self.time_out(op);
        }
        let lost: Vec<OpId> = self
            .ops
            .iter()
            .filter(|(_, o)| !o.waiting && o.issued_at + INVOCATION_LIMIT_MS <= to)
            .map(|(&id, _)| id)
            .collect();
        for op in lost {
            self.drop_request(op);
        }
    }

    /// The server side of a request.
    fn apply(&mut self, actor: ActorId, req: Request, to_caller: bool) -> Answer {
        let now = self.now;
        let kill = self.kill_switch;
        match req {
            Request::Claim { key, signal } => {
                let foreign = self.key_owner.get(&key).is_some_and(|&o| o != signal);
                let r = if foreign && self.claim_checks_signal {
                    // The job is not the one this record was accepted for.
                    ClaimResponse::Unknown
                } else {
                    self.store.claim(&key, now, kill)
                };
                if to_caller && foreign && r != ClaimResponse::Unknown {
                    if let Some(&owner) = self.key_owner.get(&key) {
                        self.signals[owner].hijacked_by = Some(signal);
                    }
                    self.signals[signal].strayed = true;
                }
                if let (
                    true,
                    ClaimResponse::Claimed {
                        attempt, in_doubt, ..
                    },
                ) = (to_caller, &r)
                {
                    self.claimed(actor, &key, *attempt, *in_doubt);
                }
                Ok(Reply::Claim(r))
            }
            Request::BeginSubmit(r) => {
                let g = self.store.begin_submit(&r, now, kill);
                if to_caller && matches!(g, SubmitGrant::Granted { .. }) {
                    if let Some(m) = self.actors.get_mut(&actor) {
                        m.granted_at = Some(now);
                    }
                }
                Ok(Reply::Grant(g))
            }
            Request::Complete { req, by } => {
                let f = self.store.complete(&req, now);
                if f == Fenced::Applied
                    && req.outcome != Outcome::Filled
                    && by.in_doubt()
                    && by.lookups == 0
                {
                    self.signals[by.signal].ended_blind = true;
                }
                Ok(Reply::Fenced(f))
            }
            Request::AttemptFailed { req, by } => {
                let f = self.store.attempt_failed(&req, now);
                if f == Fenced::Applied && req.released && by.in_doubt() && by.lookups == 0 {
                    self.signals[by.signal].ended_blind = true;
                }
                Ok(Reply::Fenced(f))
            }
            Request::EventPublished { key } => {
                self.store.event_published(&key, now);
                Ok(Reply::Done)
            }
            Request::Prepare { order, .. } => Ok(Reply::Prepared(Box::new(prepared(&order)))),
            Request::Lookup { exchange, order } => Ok(Reply::Lookup(self.exchange.lookup(
                now,
                exchange,
                &order.client_order_id,
            ))),
            Request::Submit {
                exchange,
                order,
                sent_at,
                by,
            } => {
                let lag = self.rng.range(0, self.max_visibility_lag_ms);
                let unchecked = by.unchecked.clone();
                let in_doubt = by.in_doubt();
                match self.exchange.arrive(
                    now,
                    self.recv_window_ms,
                    lag,
                    exchange,
                    &order,
                    sent_at,
                    by,
                ) {
                    Ok(ack) => {
                        if self.tracing() {
                            let (id, coid) =
                                (ack.exchange_order_id.clone(), order.client_order_id.clone());
                            self.note(|| format!("EXCHANGE {exchange:?} created order {id} ({coid}), visible after {lag} ms"));
                        }
                        if let Some(why) = unchecked {
                            let hole = if in_doubt {
                                Hole::InDoubtSkipsChecks
                            } else {
                                Hole::Other
                            };
                            self.found(
                                ViolationKind::UncheckedOrder,
                                hole,
                                format!(
                                    "order {} for {}: {why}",
                                    ack.exchange_order_id, order.client_order_id
                                ),
                            );
                        }
                        Ok(Reply::Ack(ack))
                    }
                    Err(f) => Err(Fault::Exchange(f)),
                }
            }
            Request::Publish { event } => {
                self.publish(&event);
                Ok(Reply::Done)
            }
        }
    }

    /// A delivery learns it holds the claim.
    fn claimed(&mut self, actor: ActorId, key: &str, attempt: u32, in_doubt: bool) {
        let Some(signal) = self.actors.get(&actor).map(|m| m.signal) else {
            return;
        };
        let owner = self.key_owner.get(key).copied();
        let facts = ClaimFacts {
            attempt,
            in_doubt,
            applied_at: self.now,
            recreated: self.recreated.contains(key),
            foreign: owner != Some(signal),
        };
        if let Some(m) = self.actors.get_mut(&actor) {
            m.claim = Some(facts);
        }
        if let Some(o) = owner.filter(|&o| o != signal) {
            self.signals[o].hijacked_by = Some(signal);
            self.signals[signal].strayed = true;
        }
    }

    /// A trade event reaches `trade-events` (and so the ledger, which upserts).
    fn publish(&mut self, bytes: &[u8]) {
        let ev = match TradeEvent::decode(bytes) {
            Ok(ev) => ev,
            Err(e) => {
                self.found(
                    ViolationKind::BadEvent,
                    Hole::Other,
                    format!("an undecodable trade event was published: {e}"),
                );
                return;
            }
        };
        let Some(&s) = self
            .by_intake
            .get(&(ev.idempotency_key.clone(), ev.received_at_ms))
        else {
            self.found(
                ViolationKind::BadEvent,
                Hole::Other,
                format!(
                    "a trade event for {} received at {} names no accepted signal",
                    ev.idempotency_key, ev.received_at_ms
                ),
            );
            return;
        };
        let entry = LedgerEntry {
            outcome: ev.outcome,
            order_id: ev.order.map(|o| o.exchange_order_id),
        };
        let list = self.ledger.entry(s).or_default();
        if !list.contains(&entry) {
            list.push(entry);
        }
    }

    // ---- the gateway, the queue, the DLQ worker, the operator, the alarm ----

    /// The gateway accepts `job` under its key: a new signal, unless the store still has the
    /// key (then the sender gets the recorded answer and nothing is enqueued).
    pub fn intake(&mut self, job: TradeJob) -> Option<SignalId> {
        let key = job.idempotency_key.clone();
        let req = IntakeRequest {
            key: key.clone(),
            payload_hash: format!("h{}", job.received_at_ms),
            job: base64::engine::general_purpose::STANDARD.encode(job.encode()),
            status: 202,
            body: "{}".into(),
            ttl_seconds: self.cfg.idempotency_ttl_seconds,
            fingerprint: None,
            received_at_ms: Some(job.received_at_ms),
        };
        if !self.store.intake(&req, self.now) {
            self.note(|| format!("GATEWAY {key}: repeat, recorded answer replayed"));
            return None;
        }
        let id = self.signals.len();
        self.by_intake.insert((key.clone(), job.received_at_ms), id);
        self.key_owner.insert(key.clone(), id);
        self.recreated.remove(&key);
        self.signals.push(SignalInfo {
            job,
            last_replayed_at: None,
            last_enqueued_at: self.now,
            ended_blind: false,
            hijacked_by: None,
            strayed: false,
        });
        self.note(|| format!("GATEWAY accepted s{id} under {key}"));
        self.enqueue(id, 0, self.now);
        Some(id)
    }

    pub fn enqueue(&mut self, signal: SignalId, attempts: u32, visible_at: i64) {
        self.signals[signal].last_enqueued_at = self.now;
        self.queue.push(Message {
            signal,
            attempts,
            visible_at,
        });
    }

    /// A delivery asked for a retry (or died): the queue redelivers after `delay_ms`, or moves
    /// the message to the DLQ once its retries are spent.
    pub fn retry(&mut self, signal: SignalId, delivery: u32, delay_ms: i64) {
        if delivery > self.max_retries {
            self.dead_letter(
                signal,
                DeadLetterReason::MaxRetries,
                format!("{delivery} deliveries failed"),
            );
        } else {
            self.enqueue(signal, delivery, self.now + delay_ms);
        }
    }

    pub fn dead_letter(&mut self, signal: SignalId, reason: DeadLetterReason, detail: String) {
        self.note(|| format!("DLQ ← s{signal} {}: {detail}", reason.as_str()));
        self.letters.push(Letter {
            signal,
            reason,
            detail,
            created_at: self.now,
            recorded_at: None,
            state: LetterState::Pending,
        });
    }

    /// The key of a letter's job, and whether the DLQ worker acts on it: not when it checks
    /// letters and the store's record of the key is another signal's (one accepted under the
    /// key after the letter's signal was forgotten). Acting on another signal's record is
    /// noted for the classification.
    fn key_of(&mut self, letter: LetterId) -> (String, bool) {
        let s = self.letters[letter].signal;
        let key = self.signals[s].job.idempotency_key.clone();
        match self.key_owner.get(&key).copied().filter(|&o| o != s) {
            Some(_) if self.dlq_checks_letters => {
                self.note(|| {
                    format!("DLQ worker: the record of {key} is another signal's; left alone")
                });
                (key, false)
            }
            Some(owner) => {
                self.signals[owner].hijacked_by = Some(s);
                self.signals[s].strayed = true;
                (key, true)
            }
            None => (key, true),
        }
    }

    /// Whether a DLQ worker that checks would replay this letter: its signal has not ended in
    /// the ledger, and the store's record of its key (if any) is its signal's.
    pub fn letter_replayable(&self, letter: LetterId) -> bool {
        let s = self.letters[letter].signal;
        let key = &self.signals[s].job.idempotency_key;
        !self.ledger.contains_key(&s) && self.key_owner.get(key).is_none_or(|&o| o == s)
    }

    /// The DLQ worker records a letter and marks its key dead.
    pub fn dlq_record(&mut self, letter: LetterId) {
        let (key, act) = self.key_of(letter);
        let l = &mut self.letters[letter];
        l.recorded_at = Some(self.now);
        l.state = LetterState::Recorded;
        let (reason, detail) = (l.reason.as_str(), l.detail.clone());
        if act {
            self.store.mark_dead(&key, reason, self.now, self.now);
        }
        let d = self.store.describe(&key);
        self.note(|| {
            format!("DLQ worker recorded letter {letter} ({reason}: {detail}), MarkDead → {d}")
        });
    }

    /// A recorded letter's `MarkDead` arrives again, with the row's original time. Like the DLQ
    /// worker, only while the letter's row is still pending: once an operator replayed or
    /// discarded it, the redelivery only finds the row (`dlq::consumer`).
    pub fn dlq_redeliver(&mut self, letter: LetterId) {
        let (key, act) = self.key_of(letter);
        let l = &self.letters[letter];
        let (reason, at) = (l.reason.as_str(), l.recorded_at.unwrap_or(self.now));
        let pending = l.state == LetterState::Recorded;
        if act && pending {
            self.store.mark_dead(&key, reason, at, self.now);
        }
        let d = self.store.describe(&key);
        self.note(|| format!("DLQ worker: MarkDead of letter {letter} again → {d}"));
    }

    /// The operator replays a letter: reopen (or recreate) the key, enqueue the job.
    pub fn replay(&mut self, letter: LetterId) -> bool {
        let (key, _) = self.key_of(letter);
        let s = self.letters[letter].signal;
        self.letters[letter].state = LetterState::Replayed;
        let recorded_at = self.letters[letter].recorded_at;
        let recreated = self.store.reopen(&key, self.now, recorded_at);
        if recreated {
            self.key_owner.insert(key.clone(), s);
            self.recreated.insert(key.clone());
        }
        self.signals[s].last_replayed_at = Some(self.now);
        self.enqueue(s, 0, self.now);
        let d = self.store.describe(&key);
        self.note(|| {
            format!(
                "OPERATOR replays letter {letter} (s{s}){} → {d}",
                if recreated { ", key recreated" } else { "" }
            )
        });
        recreated
    }

    /// The operator discards a letter: the key may expire.
    pub fn discard(&mut self, letter: LetterId) {
        let (key, act) = self.key_of(letter);
        self.letters[letter].state = LetterState::Discarded;
        if act {
            self.store.resolve(&key, self.now);
        }
        self.note(|| format!("OPERATOR discards letter {letter}"));
    }

    /// The store's alarm.
    pub fn expire(&mut self) {
        let gone = self.store.expire(self.now);
        for k in &gone {
            self.key_owner.remove(k);
            self.recreated.remove(k);
        }
        if !gone.is_empty() {
            self.note(|| format!("STORE alarm deleted {gone:?}"));
        }
    }

    pub fn flip_kill_switch(&mut self) {
        self.kill_switch = !self.kill_switch;
        self.kill_on_since = self.kill_switch.then_some(self.now);
        let on = self.kill_switch;
        self.note(|| format!("OPERATOR kill switch {}", if on { "on" } else { "off" }));
    }

    /// Times worth jumping to, within the next hour (days pass only by a TTL jump).
    pub fn times(&self) -> Vec<i64> {
        let mut out = Vec::new();
        self.store.times(&mut out);
        for o in self.ops.values() {
            out.extend(o.deadline);
            if let Some(Request::Submit { sent_at, .. }) = &o.request {
                out.push(sent_at + self.recv_window_ms);
            }
        }
        // A delivery's last moment to send (the engine's deadline runs from about its start).
        out.extend(
            self.actors
                .values()
                .map(|m| m.started_at + ATTEMPT_DEADLINE_MS - 1),
        );
        out.extend(self.exchange.orders.iter().map(|o| o.visible_at));
        out.extend(self.queue.iter().map(|m| m.visible_at));
        out.retain(|&t| t > self.now && t <= self.now + 3_600_000);
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// What `prepare` answers: the instrument's rules and a reference price.
fn prepared(order: &OrderRequest) -> Prepared {
    Prepared {
        instrument: Instrument {
            symbol: order.symbol.canonical(),
            qty_step: Decimal::new(1, 3),
            min_qty: Decimal::new(1, 3),
            tick_size: Decimal::new(1, 1),
            contract_size: Decimal::ONE,
            limits: Default::default(),
            placement: Default::default(),
        },
        reference_price: exchanges::order::ReferencePrice::mark(
            order.price.unwrap_or(Decimal::from(60_000)),
        ),
    }
}

fn failure(class: FailureClass, message: &str) -> Fault {
    Fault::Exchange(Failure {
        class,
        message: message.into(),
    })
}

const RETRYABLE: FailureClass = FailureClass::Retryable {
    retry_after_seconds: None,
};

/// The caller's deadline passed.
fn timeout_fault(class: OpClass) -> Fault {
    match class {
        OpClass::Store | OpClass::Publish => Fault::Port("no answer".into()),
        OpClass::Submit => failure(
            FailureClass::Unknown,
            "no answer by the deadline: the order may exist",
        ),
        OpClass::Prepare | OpClass::Lookup => failure(RETRYABLE, "no answer by the deadline"),
    }
}

/// The request was applied but its answer was lost.
fn lost_fault(class: OpClass) -> Fault {
    match class {
        OpClass::Store | OpClass::Publish => {
            Fault::Port("connection lost before the answer".into())
        }
        OpClass::Submit => failure(
            FailureClass::Unknown,
            "connection reset after the submit was sent",
        ),
        OpClass::Prepare | OpClass::Lookup => failure(RETRYABLE, "connection reset"),
    }
}

/// The request was refused, or failed, without taking effect.
fn fail_fault(class: OpClass, choice: usize) -> Fault {
    let limited = FailureClass::Retryable {
        retry_after_seconds: Some(3),
    };
    let banned = FailureClass::Banned {
        retry_after_seconds: Some(60),
    };
    match class {
        OpClass::Store => Fault::Port("store unavailable (not processed)".into()),
        OpClass::Publish => Fault::Port("trade-events send failed".into()),
        OpClass::Prepare => match choice % 4 {
            0 => failure(RETRYABLE, "503 service unavailable"),
            1 => failure(limited, "429 too many requests"),
            2 => failure(banned, "418 IP banned"),
            _ => failure(FailureClass::Terminal, "-1121 Invalid symbol"),
        },
        OpClass::Lookup => match choice % 2 {
            0 => failure(RETRYABLE, "503 service unavailable"),
            _ => failure(limited, "429 too many requests"),
        },
        OpClass::Submit => match choice % 5 {
            0 => failure(RETRYABLE, "503 service unavailable (not processed)"),
            1 => failure(limited, "429 too many requests"),
            2 => failure(banned, "418 IP banned"),
            3 => failure(FailureClass::Terminal, "-2019 Margin is insufficient"),
            _ => failure(
                FailureClass::Unknown,
                "-1007 timeout waiting for the backend; execution status unknown",
            ),
        },
    }
}
