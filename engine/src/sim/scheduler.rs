//! The seeded scheduler: it owns the deliveries (futures, polled with a no-op waker) and, one
//! step at a time, picks from the seed what happens next — a pending request arrives, fails,
//! loses its answer or outlives its caller; time moves (a tick, to a boundary, past the TTL);
//! the queue delivers a due message or a duplicate; a delivery crashes where it awaits; the
//! operator flips the kill switch or the config, replays or discards a dead letter; the store's
//! alarm expires keys; a new signal arrives, maybe under a forgotten key. After `steps` such
//! steps the run drains without faults, and the invariants are checked after every step and once
//! more at the end.

use super::invariants::{check, check_drained, Finding, Hole, Violation, ViolationKind};
use super::legacy::{self, LegacyStore};
use super::ports::{Shared, SimClock, SimEvents, SimExchanges, SimStore};
use super::rng::Rng;
use super::store::{NewStore, StoreModel};
use super::world::{
    ts, ActorId, Arrival, LetterState, OpId, World, DLQ_HORIZON_MS, INVOCATION_LIMIT_MS,
};
use super::{execute, Disposition, Model, Ports, SimConfig, Weights};
use contracts::config::RuntimeConfig;
use contracts::job::TradeJob;
use contracts::lifecycle::UNFINISHED_GRACE_MS;
use contracts::signal::{Action, Exchange, OrderType, Signal};
use contracts::symbol::Symbol;
use rust_decimal::Decimal;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// Steps the drain may take before the run counts as stuck.
const DRAIN_LIMIT: u64 = 20_000;

/// What one or more schedules explored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub schedules: u64,
    /// Scheduler steps, drain included.
    pub steps: u64,
    pub deliveries: u64,
    pub crashes: u64,
    /// Crashes by the port call the delivery was awaiting (its await point).
    pub crashes_at: BTreeMap<&'static str, u64>,
    pub signals: u64,
    pub orders: u64,
    /// Signals that ended filled / rejected (or blocked) in the ledger.
    pub filled: u64,
    pub rejected: u64,
    /// Signals that ended as a dead letter only.
    pub dead_lettered: u64,
    pub replays: u64,
    /// Replays of keys the store had forgotten.
    pub replays_forgotten: u64,
    /// New signals under a key a forgotten signal had used.
    pub keys_reused: u64,
    /// Times days passed (past the keys' TTL).
    pub ttl_jumps: u64,
}

impl Stats {
    pub fn add(&mut self, o: &Stats) {
        self.schedules += o.schedules;
        self.steps += o.steps;
        self.deliveries += o.deliveries;
        self.crashes += o.crashes;
        for (k, n) in &o.crashes_at {
            *self.crashes_at.entry(k).or_default() += n;
        }
        self.signals += o.signals;
        self.orders += o.orders;
        self.filled += o.filled;
        self.rejected += o.rejected;
        self.dead_lettered += o.dead_lettered;
        self.replays += o.replays;
        self.replays_forgotten += o.replays_forgotten;
        self.keys_reused += o.keys_reused;
        self.ttl_jumps += o.ttl_jumps;
    }
}

/// Runs the schedule `seed` names under `config`. A violation comes back with its trace (the
/// schedule is run a second time with tracing on, which replays it exactly).
pub fn run(seed: u64, config: &SimConfig) -> Result<Stats, Violation> {
    let mut sim = Sim::new(seed, config, false);
    let Err((step, finding)) = sim.run() else {
        return Ok(sim.stats());
    };
    let mut traced = Sim::new(seed, config, true);
    let again = traced.run();
    let mut trace = traced.world.borrow_mut().trace.take().unwrap_or_default();
    if again != Err((step, finding.clone())) {
        trace.push(format!(
            "!! the traced replay diverged from the first run: {again:?}"
        ));
    }
    Err(Violation {
        seed,
        model: config.model,
        step,
        kind: finding.kind,
        hole: finding.hole,
        message: finding.message,
        trace,
    })
}

/// A kind of step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Deliver,
    Respond,
    LoseAnswer,
    Fail,
    TimeOut,
    Drop,
    Tick,
    Jump,
    TtlJump,
    Start,
    Crash,
    Duplicate,
    KillSwitch,
    Config,
    DlqRecord,
    DlqRedeliver,
    Replay,
    Discard,
    Expire,
    NewSignal,
    Fill,
}

const KINDS: [Kind; 21] = [
    Kind::Deliver,
    Kind::Respond,
    Kind::LoseAnswer,
    Kind::Fail,
    Kind::TimeOut,
    Kind::Drop,
    Kind::Tick,
    Kind::Jump,
    Kind::TtlJump,
    Kind::Start,
    Kind::Crash,
    Kind::Duplicate,
    Kind::KillSwitch,
    Kind::Config,
    Kind::DlqRecord,
    Kind::DlqRedeliver,
    Kind::Replay,
    Kind::Discard,
    Kind::Expire,
    Kind::NewSignal,
    Kind::Fill,
];

fn weight(w: &Weights, k: Kind) -> u32 {
    match k {
        Kind::Deliver => w.deliver,
        Kind::Respond => w.respond,
        Kind::LoseAnswer => w.lose_answer,
        Kind::Fail => w.fail,
        Kind::TimeOut => w.time_out,
        Kind::Drop => w.drop,
        Kind::Tick => w.tick,
        Kind::Jump => w.jump,
        Kind::TtlJump => w.ttl_jump,
        Kind::Start => w.start,
        Kind::Crash => w.crash,
        Kind::Duplicate => w.duplicate,
        Kind::KillSwitch => w.kill_switch,
        Kind::Config => w.config,
        Kind::DlqRecord => w.dlq_record,
        Kind::DlqRedeliver => w.dlq_redeliver,
        Kind::Replay => w.replay,
        Kind::Discard => w.discard,
        Kind::Expire => w.expire,
        Kind::NewSignal => w.new_signal,
        Kind::Fill => w.fill,
    }
}

/// What each kind of step could act on now.
#[derive(Default)]
struct Candidates {
    in_flight: Vec<OpId>,
    /// In flight, and the caller still waits.
    awaited: Vec<OpId>,
    /// Applied, the answer on its way back to a caller that still waits.
    replies: Vec<OpId>,
    orphans: Vec<OpId>,
    due: Vec<usize>,
    actors: Vec<ActorId>,
    duplicable: Vec<usize>,
    pending: Vec<usize>,
    recorded: Vec<usize>,
    redeliverable: Vec<usize>,
    open_orders: Vec<usize>,
    times: Vec<i64>,
    can_ttl_jump: bool,
    can_intake: bool,
    fresh_intake: bool,
    /// Keys of signals the store no longer has.
    forgotten_keys: Vec<String>,
}

impl Candidates {
    fn has(&self, k: Kind) -> bool {
        match k {
            Kind::Deliver => !self.in_flight.is_empty(),
            Kind::Respond => !self.replies.is_empty(),
            Kind::Fail => !self.awaited.is_empty(),
            Kind::LoseAnswer | Kind::TimeOut => {
                !self.awaited.is_empty() || !self.replies.is_empty()
            }
            Kind::Drop => !self.orphans.is_empty(),
            Kind::Jump => !self.times.is_empty(),
            Kind::TtlJump => self.can_ttl_jump,
            Kind::Start => !self.due.is_empty(),
            Kind::Crash => !self.actors.is_empty(),
            Kind::Duplicate => !self.duplicable.is_empty(),
            Kind::DlqRecord => !self.pending.is_empty(),
            Kind::DlqRedeliver => !self.redeliverable.is_empty(),
            Kind::Replay | Kind::Discard => !self.recorded.is_empty(),
            Kind::NewSignal => self.can_intake,
            Kind::Fill => !self.open_orders.is_empty(),
            Kind::Tick | Kind::KillSwitch | Kind::Config | Kind::Expire => true,
        }
    }
}

type Delivery = Pin<Box<dyn Future<Output = Disposition>>>;

/// One delivery of `job`: the consumer of `model` over the simulated ports.
fn consumer(
    model: Model,
    world: Shared,
    actor: ActorId,
    job: TradeJob,
    delivery: u32,
    cfg: RuntimeConfig,
) -> Delivery {
    let store = SimStore {
        world: world.clone(),
        actor,
    };
    let exchanges = SimExchanges {
        world: world.clone(),
        actor,
    };
    let clock = SimClock {
        world: world.clone(),
    };
    let events = SimEvents { world, actor };
    Box::pin(async move {
        let ports = Ports {
            store: &store,
            exchanges: &exchanges,
            clock: &clock,
            events: &events,
        };
        match model {
            Model::New => execute(&job, delivery, &cfg, &ports).await,
            Model::Legacy => legacy::execute(&job, delivery, &cfg, &ports).await,
        }
    })
}

fn describe(d: &Disposition) -> String {
    match d {
        Disposition::Ack => "ack".into(),
        Disposition::Retry {
            delay_seconds,
            error,
        } => format!("retry in {delay_seconds} s ({error})"),
        Disposition::Dead { reason, detail } => {
            format!("dead letter {} ({detail})", reason.as_str())
        }
    }
}

struct Sim<'c> {
    config: &'c SimConfig,
    rng: Rng,
    world: Shared,
    actors: BTreeMap<ActorId, Delivery>,
    step: u64,
    stats: Stats,
    next_key: u32,
}

impl<'c> Sim<'c> {
    fn new(seed: u64, config: &'c SimConfig, trace: bool) -> Self {
        let mut rng = Rng::new(seed);
        let world_rng = rng.fork();
        let store: Box<dyn StoreModel> = match config.model {
            Model::New => Box::new(NewStore::default()),
            Model::Legacy => Box::new(LegacyStore::default()),
        };
        Self {
            config,
            rng,
            world: Rc::new(RefCell::new(World::new(config, store, world_rng, trace))),
            actors: BTreeMap::new(),
            step: 0,
            stats: Stats {
                schedules: 1,
                ..Stats::default()
            },
            next_key: 0,
        }
    }

    fn line(&self, what: impl FnOnce() -> String) {
        let mut w = self.world.borrow_mut();
        let (step, now) = (self.step, w.now);
        if let Some(t) = &mut w.trace {
            t.push(format!("#{step:<5} t={:<12} {}", ts(now), what()));
        }
    }

    fn run(&mut self) -> Result<(), (u64, Finding)> {
        for _ in 0..self.config.initial_signals {
            self.intake(None);
            let dt = self.rng.range(0, 2_000);
            self.advance_by(dt);
        }
        for _ in 0..self.config.steps {
            self.step += 1;
            self.chaos_step();
            self.poll_ready();
            if let Some(f) = check(&self.world.borrow()) {
                return Err((self.step, f));
            }
        }
        self.line(|| "---- drain: no more faults ----".into());
        self.drain()?;
        let w = self.world.borrow();
        match check_drained(&w) {
            Some(f) => Err((self.step, f)),
            None => Ok(()),
        }
    }

    fn candidates(&mut self) -> Candidates {
        let w = self.world.borrow();
        let now = w.now;
        let mut c = Candidates::default();
        for (&id, o) in &w.ops {
            if o.reply.is_some() && o.unanswered() {
                c.replies.push(id);
            }
            if o.request.is_some() {
                c.in_flight.push(id);
                if o.unanswered() {
                    c.awaited.push(id);
                } else {
                    c.orphans.push(id);
                }
            }
        }
        c.due = (0..w.queue.len())
            .filter(|&i| w.queue[i].visible_at <= now)
            .collect();
        c.actors = self.actors.keys().copied().collect();
        c.duplicable = (0..w.signals.len())
            .filter(|&s| now - w.signals[s].last_enqueued_at <= self.config.duplicate_horizon_ms)
            .collect();
        let ttl_ms = i64::from(w.cfg.idempotency_ttl_seconds) * 1000;
        for (i, l) in w.letters.iter().enumerate() {
            let young = now - l.created_at < ttl_ms;
            match l.state {
                LetterState::Pending => c.pending.push(i),
                LetterState::Recorded
                    if (self.config.stale_letters || young)
                        && (!self.config.dlq_checks_letters || w.letter_replayable(i)) =>
                {
                    c.recorded.push(i)
                }
                _ => {}
            }
            if l.state != LetterState::Pending && now - l.created_at <= DLQ_HORIZON_MS {
                c.redeliverable.push(i);
            }
        }
        c.open_orders = w.exchange.open_orders();
        c.times = w.times();
        // Days pass only over a quiet system: the queue holds a message for minutes (its
        // retries are bounded), a delivery lives at most an invocation, and the DLQ worker
        // records a letter within minutes.
        c.can_ttl_jump = c.pending.is_empty() && w.queue.is_empty() && self.actors.is_empty();
        // A third of the signals are kept for keys reused after the store forgot them.
        let n = w.signals.len() as u32;
        let fresh = n + self.config.max_signals / 3 < self.config.max_signals;
        c.forgotten_keys = w
            .signals
            .iter()
            .map(|s| s.job.idempotency_key.clone())
            .filter(|k| !w.store.contains(k))
            .collect();
        c.forgotten_keys.sort();
        c.forgotten_keys.dedup();
        c.can_intake = n < self.config.max_signals && (fresh || !c.forgotten_keys.is_empty());
        c.fresh_intake = fresh;
        c
    }

    fn chaos_step(&mut self) {
        let c = self.candidates();
        let weights: Vec<u32> = KINDS
            .iter()
            .map(|&k| {
                if c.has(k) {
                    weight(&self.config.weights, k)
                } else {
                    0
                }
            })
            .collect();
        let Some(i) = self.rng.weighted(&weights) else {
            let dt = self.rng.range(1, 3_000);
            self.advance_by(dt);
            return;
        };
        let rng = &mut self.rng;
        match KINDS[i] {
            Kind::Deliver => {
                let op = *rng.pick(&c.in_flight);
                if rng.chance(1, 3) {
                    self.line(|| format!("op{op} arrives; its answer is slow"));
                    self.world.borrow_mut().deliver(op, Arrival::Held);
                } else {
                    self.line(|| format!("deliver op{op}"));
                    self.world.borrow_mut().deliver(op, Arrival::Answered);
                }
            }
            Kind::Respond => {
                let op = *rng.pick(&c.replies);
                self.line(|| format!("op{op}'s answer arrives"));
                self.world.borrow_mut().respond(op);
            }
            Kind::LoseAnswer => {
                let (a, r) = (c.awaited.len(), c.replies.len());
                let i = rng.below(a + r);
                if i < a {
                    let op = c.awaited[i];
                    self.line(|| format!("deliver op{op}, lose its answer"));
                    self.world.borrow_mut().deliver(op, Arrival::Lost);
                } else {
                    let op = c.replies[i - a];
                    self.line(|| format!("op{op}'s answer is lost"));
                    self.world.borrow_mut().lose_reply(op);
                }
            }
            Kind::Fail => {
                let (op, choice) = (*rng.pick(&c.awaited), rng.below(20));
                self.line(|| format!("fail op{op}"));
                self.world.borrow_mut().fail(op, choice);
            }
            Kind::TimeOut => {
                let mut either = c.awaited.clone();
                either.extend(&c.replies);
                let op = *rng.pick(&either);
                self.line(|| format!("op{op}'s caller gives up; the request stays in flight"));
                self.world.borrow_mut().time_out(op);
            }
            Kind::Drop => {
                let op = *rng.pick(&c.orphans);
                self.line(|| format!("op{op}'s request is lost"));
                self.world.borrow_mut().drop_request(op);
            }
            Kind::Tick => {
                let dt = rng.range(1, 3_000);
                self.advance_by(dt);
            }
            Kind::Jump => {
                let t = *rng.pick(&c.times);
                let offset = *rng.pick(&[-1, 0, 1, 1, 500]);
                let now = self.world.borrow().now;
                self.advance_to((t + offset).max(now + 1));
            }
            Kind::TtlJump => {
                let ttl = i64::from(self.world.borrow().cfg.idempotency_ttl_seconds) * 1000;
                let grace = if rng.chance(1, 3) {
                    UNFINISHED_GRACE_MS
                } else {
                    0
                };
                let dt = ttl + grace + rng.range(1, 3_600_000);
                self.stats.ttl_jumps += 1;
                self.advance_by(dt);
            }
            Kind::Start => {
                let i = *rng.pick(&c.due);
                self.start(i);
            }
            Kind::Crash => {
                let a = *rng.pick(&c.actors);
                self.crash(a, "crashes at its await point");
            }
            Kind::Duplicate => {
                let s = *rng.pick(&c.duplicable);
                let delay = rng.range(0, 5_000);
                self.line(|| format!("a duplicate of s{s}'s job reaches the queue"));
                let mut w = self.world.borrow_mut();
                let now = w.now;
                w.enqueue(s, 0, now + delay);
            }
            Kind::KillSwitch => {
                self.line(|| "kill switch".into());
                self.world.borrow_mut().flip_kill_switch();
            }
            Kind::Config => {
                let which = rng.below(3);
                let mut w = self.world.borrow_mut();
                let what = match which {
                    0 | 1 => {
                        let ex = if which == 0 {
                            Exchange::Binance
                        } else {
                            Exchange::Bybit
                        };
                        let on = w.cfg.exchange_enabled.entry(ex).or_insert(true);
                        *on = !*on;
                        format!("exchange:{ex:?}:enabled = {on}")
                    }
                    _ => {
                        if w.cfg.allowed_symbols.is_empty() {
                            w.cfg.allowed_symbols = vec!["ETHUSDT".into()];
                        } else {
                            w.cfg.allowed_symbols.clear();
                        }
                        format!("trade:allowed_symbols = {:?}", w.cfg.allowed_symbols)
                    }
                };
                drop(w);
                self.line(|| format!("OPERATOR sets {what}"));
            }
            Kind::DlqRecord => {
                let l = *rng.pick(&c.pending);
                self.dlq_action_time();
                self.line(|| format!("DLQ worker takes letter {l}"));
                self.world.borrow_mut().dlq_record(l);
            }
            Kind::DlqRedeliver => {
                let l = *rng.pick(&c.redeliverable);
                self.dlq_action_time();
                self.line(|| format!("letter {l}'s DLQ message is redelivered"));
                self.world.borrow_mut().dlq_redeliver(l);
            }
            Kind::Replay => {
                let l = *rng.pick(&c.recorded);
                self.dlq_action_time();
                self.line(|| format!("operator replays letter {l}"));
                self.stats.replays += 1;
                if self.world.borrow_mut().replay(l) {
                    self.stats.replays_forgotten += 1;
                }
            }
            Kind::Discard => {
                let l = *rng.pick(&c.recorded);
                self.dlq_action_time();
                self.line(|| format!("operator discards letter {l}"));
                self.world.borrow_mut().discard(l);
            }
            Kind::Expire => {
                self.line(|| "store alarm".into());
                self.world.borrow_mut().expire();
            }
            Kind::NewSignal => {
                let reuse = (!c.forgotten_keys.is_empty()
                    && (!c.fresh_intake || self.rng.chance(3, 4)))
                .then(|| self.rng.pick(&c.forgotten_keys).clone());
                if reuse.is_some() {
                    self.stats.keys_reused += 1;
                }
                self.intake(reuse);
            }
            Kind::Fill => {
                let i = *rng.pick(&c.open_orders);
                self.line(|| format!("order #{i} fills at the exchange"));
                self.world.borrow_mut().exchange.fill(i);
            }
        }
    }

    /// The clock moves by `dlq_action_ms` before a DLQ-worker or operator action.
    fn dlq_action_time(&mut self) {
        if self.config.dlq_action_ms > 0 {
            self.advance_by(self.config.dlq_action_ms);
        }
    }

    /// A new signal from a sender, under `key` (a static key reused) or a fresh one.
    fn intake(&mut self, key: Option<String>) {
        let key = key.unwrap_or_else(|| {
            self.next_key += 1;
            format!("k{}", self.next_key)
        });
        let job = self.job(key);
        self.line(|| format!("a sender's signal arrives under {}", job.idempotency_key));
        self.world.borrow_mut().intake(job);
    }

    fn job(&mut self, key: String) -> TradeJob {
        let now = self.world.borrow().now;
        let r = &mut self.rng;
        let exchange = *r.pick(&[Exchange::Binance, Exchange::Bybit]);
        let (symbol, price) = *r.pick(&[("BTCUSDT", 60_000), ("ETHUSDT", 3_000)]);
        let action = *r.pick(&[
            Action::Long,
            Action::Short,
            Action::CloseLong,
            Action::CloseShort,
        ]);
        let order_type = if r.chance(1, 4) {
            OrderType::Limit
        } else {
            OrderType::Market
        };
        let timestamp_ms = r.chance(1, 2).then(|| now - r.range(0, 2_000));
        TradeJob {
            idempotency_key: key,
            request_id: format!("req-{now}"),
            received_at_ms: now,
            signal: Signal {
                exchange,
                action,
                symbol: Symbol::parse(symbol).expect("a valid symbol"),
                quantity: Decimal::new(1, 2),
                price: Some(Decimal::from(price)),
                order_type,
                leverage: Some(5),
                take_profit: None,
                stop_loss: None,
                test: false,
                timestamp_ms,
            },
        }
    }

    fn advance_by(&mut self, dt: i64) {
        let now = self.world.borrow().now;
        self.advance_to(now + dt.max(1));
    }

    /// Time moves; deliveries past the invocation limit die.
    fn advance_to(&mut self, to: i64) {
        let from = self.world.borrow().now;
        self.line(|| format!("time +{} ms", to - from));
        self.world.borrow_mut().advance(to);
        let expired: Vec<ActorId> = {
            let w = self.world.borrow();
            w.actors
                .iter()
                .filter(|(_, m)| m.started_at + INVOCATION_LIMIT_MS <= to)
                .map(|(&a, _)| a)
                .collect()
        };
        for a in expired {
            self.crash(a, "is killed at the invocation's time limit");
        }
    }

    /// The queue delivers message `i`.
    fn start(&mut self, i: usize) {
        let (actor, job, delivery, cfg) = {
            let mut w = self.world.borrow_mut();
            let msg = w.queue.remove(i);
            let delivery = msg.attempts + 1;
            let (actor, cfg) = w.new_actor(msg.signal, delivery);
            (actor, w.signals[msg.signal].job.clone(), delivery, cfg)
        };
        self.line(|| {
            format!(
                "queue delivers {} (delivery {delivery}) to a{actor}",
                job.idempotency_key
            )
        });
        self.stats.deliveries += 1;
        let fut = consumer(
            self.config.model,
            self.world.clone(),
            actor,
            job,
            delivery,
            cfg,
        );
        self.actors.insert(actor, fut);
        self.poll(actor);
    }

    /// The delivery dies where it is; its message comes back after the queue's delay (or goes
    /// to the DLQ once its retries are spent).
    fn crash(&mut self, actor: ActorId, how: &str) {
        // The await point: the call whose answer it is waiting for.
        let at = self
            .world
            .borrow()
            .ops
            .values()
            .find(|o| o.actor == actor && o.waiting)
            .map_or("-", |o| o.name);
        if let Some(fut) = self.actors.remove(&actor) {
            drop(fut);
        }
        let delay = self.rng.range(0, 30_000);
        self.line(|| format!("a{actor} {how} (awaiting {at})"));
        self.stats.crashes += 1;
        *self.stats.crashes_at.entry(at).or_default() += 1;
        let mut w = self.world.borrow_mut();
        if let Some(m) = w.actors.remove(&actor) {
            w.retry(m.signal, m.delivery, delay);
        }
    }

    fn poll(&mut self, actor: ActorId) {
        let Some(fut) = self.actors.get_mut(&actor) else {
            return;
        };
        let mut cx = Context::from_waker(Waker::noop());
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(d) => {
                self.actors.remove(&actor);
                self.finish(actor, d);
            }
            Poll::Pending => {
                let w = self.world.borrow();
                let mine = w.ops.values().filter(|o| o.actor == actor && o.waiting);
                let (mut waits, mut untaken) = (false, false);
                for o in mine {
                    waits = true;
                    untaken |= o.answer.is_some();
                }
                assert!(
                    waits && !untaken,
                    "a{actor} is pending on something the simulation does not control"
                );
            }
        }
    }

    /// Polls every delivery whose answer is ready, until none is.
    fn poll_ready(&mut self) {
        loop {
            let next = self
                .world
                .borrow()
                .ops
                .values()
                .find(|o| o.waiting && o.answer.is_some())
                .map(|o| o.actor);
            match next {
                Some(a) => self.poll(a),
                None => break,
            }
        }
    }

    /// A delivery returned: the queue acts on its disposition.
    fn finish(&mut self, actor: ActorId, d: Disposition) {
        let meta = self.world.borrow_mut().actors.remove(&actor);
        let Some(m) = meta else {
            return;
        };
        self.line(|| {
            format!(
                "a{actor} (s{} delivery {}) → {}",
                m.signal,
                m.delivery,
                describe(&d)
            )
        });
        let mut w = self.world.borrow_mut();
        match d {
            Disposition::Ack => {}
            Disposition::Retry { delay_seconds, .. } => {
                w.retry(m.signal, m.delivery, i64::from(delay_seconds) * 1000)
            }
            Disposition::Dead { reason, detail } => w.dead_letter(m.signal, reason, detail),
        }
    }

    /// No more faults: every request arrives, every due message is delivered, letters are
    /// recorded, time jumps to the next queued message, until nothing is left.
    fn drain(&mut self) -> Result<(), (u64, Finding)> {
        for _ in 0..DRAIN_LIMIT {
            self.step += 1;
            let (in_flight, due, pending, next_due) = {
                let w = self.world.borrow();
                let in_flight: Vec<OpId> = w
                    .ops
                    .iter()
                    .filter(|(_, o)| o.request.is_some() || o.reply.is_some())
                    .map(|(&id, _)| id)
                    .collect();
                let due = (0..w.queue.len()).find(|&i| w.queue[i].visible_at <= w.now);
                let pending = w
                    .letters
                    .iter()
                    .position(|l| l.state == LetterState::Pending);
                let next_due = w.queue.iter().map(|m| m.visible_at).min();
                (in_flight, due, pending, next_due)
            };
            if !in_flight.is_empty() {
                let op = *self.rng.pick(&in_flight);
                self.line(|| format!("deliver op{op}"));
                let mut w = self.world.borrow_mut();
                w.deliver(op, Arrival::Answered);
                w.respond(op);
            } else if let Some(i) = due {
                self.start(i);
            } else if let Some(l) = pending {
                self.line(|| format!("DLQ worker takes letter {l}"));
                self.world.borrow_mut().dlq_record(l);
            } else if let Some(t) = next_due {
                self.advance_to(t);
            } else if self.actors.is_empty() {
                return Ok(());
            } else {
                break;
            }
            self.poll_ready();
            if let Some(f) = check(&self.world.borrow()) {
                return Err((self.step, f));
            }
        }
        Err((
            self.step,
            Finding {
                kind: ViolationKind::NoProgress,
                hole: Hole::Other,
                message: format!(
                    "the run did not drain ({} deliveries still running)",
                    self.actors.len()
                ),
            },
        ))
    }

    fn stats(&self) -> Stats {
        let w = self.world.borrow();
        let mut s = self.stats.clone();
        s.steps = self.step;
        s.signals = w.signals.len() as u64;
        s.orders = w.exchange.orders.len() as u64;
        for id in 0..w.signals.len() {
            match w.ledger.get(&id).and_then(|l| l.first()) {
                Some(e) if e.outcome == contracts::event::Outcome::Filled => s.filled += 1,
                Some(_) => s.rejected += 1,
                None => s.dead_lettered += 1,
            }
        }
        s
    }
}
