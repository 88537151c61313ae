//! In-memory implementations of every port, beside the real ones, so each rule of exactly-once
//! is tested natively: a [`MemoryStore`] that runs the store's own state machine
//! ([`KeyRecord`]) with the kill switch and faults the test sets, a [`MemoryExchange`] that keeps
//! the orders it accepted and answers as scripted (and refuses a second order with the same
//! client order id, as Bybit and Binance do), and keeps the protective orders it placed for a
//! venue that takes take-profit/stop-loss separately (Binance: looked up by client id before
//! any placement, so a second `protect` of one entry places nothing new), a [`StepClock`] the
//! test moves, and a [`MemoryEvents`] sink.
//!
//! Every call is recorded with the deadline it was given and the time it was made, so tests can
//! assert what was called, in which order, and within which budget. Deadlines are recorded, not
//! enforced: a test can stage the late answer (an isolate frozen past its deadline) that
//! fencing exists for. A [`Gate`] holds a call
//! until the test opens it, which is how two deliveries of one key are interleaved on one thread.

use crate::circuit::CircuitBreaker;
use crate::paper::{PaperExchange, Routed};
use crate::ports::{
    Clock, Events, ExchangePort, Exchanges, Failure, FailureClass, KeyStore, Lookup, PortError,
    Prepared, StopRequest, StopsSet, CALL_TIMEOUT_MS,
};
use base64::Engine as _;
use contracts::event::{Fee, OrderAck, Protection, ProtectiveOrder};
use contracts::idempotency::{
    AttemptFailedRequest, ClaimResponse, CompleteRequest, Fenced, IntakeRequest, SubmitGrant,
    SubmitRequest,
};
use contracts::job::TradeJob;
use contracts::lifecycle::KeyRecord;
use contracts::signal::Exchange;
use exchanges::account::PositionSide;
use exchanges::order::OrderRequest;
use exchanges::stops::{Placed, PlacedStop, StopKind, StopTarget};
use exchanges::venue::Instrument;
use rust_decimal::Decimal;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::rc::Rc;
use std::task::{Poll, Waker};

// ---- Clock ----

/// A clock that moves only when told to, and a fixed "random" number (jitter).
#[derive(Debug)]
pub struct StepClock {
    now: Cell<i64>,
    random: Cell<f64>,
}

impl StepClock {
    pub fn new(now_ms: i64) -> Self {
        Self {
            now: Cell::new(now_ms),
            random: Cell::new(0.5),
        }
    }

    pub fn set(&self, now_ms: i64) {
        self.now.set(now_ms);
    }

    pub fn advance(&self, ms: i64) {
        self.now.set(self.now.get().saturating_add(ms));
    }

    /// What [`Clock::random`] answers from now on (clamped into [0, 1)).
    pub fn set_random(&self, unit: f64) {
        self.random.set(unit.clamp(0.0, 0.999_999));
    }
}

impl Clock for StepClock {
    fn now_ms(&self) -> i64 {
        self.now.get()
    }
    fn random(&self) -> f64 {
        self.random.get()
    }
}

// ---- Gate ----

/// Holds whoever waits on it until [`Gate::open`]: a call that "takes a while" in a test where
/// another delivery must run meanwhile.
#[derive(Debug, Default)]
pub struct Gate {
    open: Cell<bool>,
    waiters: RefCell<Vec<Waker>>,
    /// Someone is waiting at the gate now.
    reached: Cell<bool>,
}

impl Gate {
    pub fn new() -> Rc<Self> {
        Rc::new(Self::default())
    }

    pub fn open(&self) {
        self.open.set(true);
        for w in self.waiters.borrow_mut().drain(..) {
            w.wake();
        }
    }

    /// A caller is held at the gate.
    pub fn reached(&self) -> bool {
        self.reached.get()
    }

    pub fn wait(&self) -> impl Future<Output = ()> + '_ {
        futures::future::poll_fn(move |cx| {
            if self.open.get() {
                return Poll::Ready(());
            }
            self.reached.set(true);
            self.waiters.borrow_mut().push(cx.waker().clone());
            Poll::Pending
        })
    }
}

/// Resolves once `gate` has a waiter (yielding to the other futures of a `join` meanwhile).
pub fn reached(gate: &Gate) -> impl Future<Output = ()> + '_ {
    futures::future::poll_fn(move |cx| {
        if gate.reached() {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
}

// ---- Store ----

/// One store call as the store saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreCall {
    pub op: &'static str,
    pub key: String,
    /// The fencing token the call named (none for a claim or a publish mark).
    pub attempt: Option<u32>,
    /// `released` of an `attempt_failed`.
    pub released: Option<bool>,
    pub deadline_ms: i64,
    pub at_ms: i64,
}

/// What the store does on the next call of an op (see [`MemoryStore::on_next`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreFault {
    /// Unreachable: the call fails and changes nothing.
    Fail(String),
    /// The call is applied, but its answer is lost.
    LoseAnswer,
    /// The kill switch turns on or off just before the call.
    KillSwitch(bool),
    /// The call takes this long (the clock moves before it is applied).
    Slow(i64),
}

/// The `IdempotencyStore` in memory: one [`KeyRecord`] per key, driven by the store's own
/// transitions, so the engine is tested against the rules the Durable Object runs.
pub struct MemoryStore<'c> {
    clock: &'c StepClock,
    records: RefCell<HashMap<String, KeyRecord>>,
    kill_switch: Cell<bool>,
    faults: RefCell<Vec<(&'static str, StoreFault)>>,
    calls: RefCell<Vec<StoreCall>>,
}

impl<'c> MemoryStore<'c> {
    pub fn new(clock: &'c StepClock) -> Self {
        Self {
            clock,
            records: RefCell::new(HashMap::new()),
            kill_switch: Cell::new(false),
            faults: RefCell::new(Vec::new()),
            calls: RefCell::new(Vec::new()),
        }
    }

    /// Records `job` as the gateway's intake would.
    pub fn accept(&self, job: &TradeJob) {
        let req = IntakeRequest {
            key: job.idempotency_key.clone(),
            payload_hash: String::new(),
            job: base64::engine::general_purpose::STANDARD.encode(job.encode()),
            status: 202,
            body: "{}".into(),
            ttl_seconds: 86_400,
            fingerprint: None,
            received_at_ms: Some(job.received_at_ms),
        };
        let record = KeyRecord::accepted(&req, self.clock.now_ms());
        self.insert(record);
    }

    pub fn insert(&self, record: KeyRecord) {
        self.records.borrow_mut().insert(record.key.clone(), record);
    }

    pub fn record(&self, key: &str) -> Option<KeyRecord> {
        self.records.borrow().get(key).cloned()
    }

    /// Changes a record in place (to stage a state the test needs).
    pub fn update(&self, key: &str, f: impl FnOnce(&mut KeyRecord)) {
        if let Some(r) = self.records.borrow_mut().get_mut(key) {
            f(r);
        }
    }

    pub fn set_kill_switch(&self, on: bool) {
        self.kill_switch.set(on);
    }

    /// `fault` happens on the next call of `op` (`claim`, `begin_submit`, `complete`,
    /// `attempt_failed`, `event_published`).
    pub fn on_next(&self, op: &'static str, fault: StoreFault) {
        self.faults.borrow_mut().push((op, fault));
    }

    pub fn calls(&self) -> Vec<StoreCall> {
        self.calls.borrow().clone()
    }

    pub fn ops(&self) -> Vec<&'static str> {
        self.calls.borrow().iter().map(|c| c.op).collect()
    }

    /// Runs one call: its fault (if any), then `apply` on the key's record.
    fn call<T>(
        &self,
        op: &'static str,
        key: &str,
        attempt: Option<u32>,
        released: Option<bool>,
        deadline_ms: i64,
        apply: impl FnOnce(Option<&mut KeyRecord>, i64, bool) -> T,
    ) -> Result<T, PortError> {
        let fault = {
            let mut faults = self.faults.borrow_mut();
            faults
                .iter()
                .position(|(o, _)| *o == op)
                .map(|i| faults.remove(i).1)
        };
        let mut lose = false;
        match fault {
            Some(StoreFault::Fail(message)) => {
                self.log(op, key, attempt, released, deadline_ms);
                return Err(PortError { op, message });
            }
            Some(StoreFault::LoseAnswer) => lose = true,
            Some(StoreFault::KillSwitch(on)) => self.kill_switch.set(on),
            Some(StoreFault::Slow(ms)) => self.clock.advance(ms),
            None => {}
        }
        self.log(op, key, attempt, released, deadline_ms);
        let now = self.clock.now_ms();
        let out = apply(
            self.records.borrow_mut().get_mut(key),
            now,
            self.kill_switch.get(),
        );
        if lose {
            return Err(PortError {
                op,
                message: "the answer was lost".into(),
            });
        }
        Ok(out)
    }

    fn log(
        &self,
        op: &'static str,
        key: &str,
        attempt: Option<u32>,
        released: Option<bool>,
        deadline_ms: i64,
    ) {
        self.calls.borrow_mut().push(StoreCall {
            op,
            key: key.to_owned(),
            attempt,
            released,
            deadline_ms,
            at_ms: self.clock.now_ms(),
        });
    }
}

impl KeyStore for MemoryStore<'_> {
    async fn claim(
        &self,
        key: &str,
        received_at_ms: i64,
        deadline_ms: i64,
    ) -> Result<ClaimResponse, PortError> {
        self.call(
            "claim",
            key,
            None,
            None,
            deadline_ms,
            |r, now, ks| match r {
                Some(r) if r.is_signal(Some(received_at_ms)) => r.claim(now, ks),
                _ => ClaimResponse::Unknown,
            },
        )
    }

    async fn begin_submit(
        &self,
        req: &SubmitRequest,
        deadline_ms: i64,
    ) -> Result<SubmitGrant, PortError> {
        let attempt = req.attempt;
        self.call(
            "begin_submit",
            &req.key,
            Some(attempt),
            None,
            deadline_ms,
            |r, now, ks| match r {
                Some(r) => r.begin_submit(attempt, now, ks),
                None => SubmitGrant::Stale {
                    reason: "no record".into(),
                },
            },
        )
    }

    async fn complete(&self, req: &CompleteRequest, deadline_ms: i64) -> Result<Fenced, PortError> {
        self.call(
            "complete",
            &req.key,
            Some(req.attempt),
            None,
            deadline_ms,
            |r, now, _| r.map_or(Fenced::Stale, |r| r.complete(req, now)),
        )
    }

    async fn attempt_failed(
        &self,
        req: &AttemptFailedRequest,
        deadline_ms: i64,
    ) -> Result<Fenced, PortError> {
        self.call(
            "attempt_failed",
            &req.key,
            Some(req.attempt),
            Some(req.released),
            deadline_ms,
            |r, now, _| {
                r.map_or(Fenced::Stale, |r| {
                    r.attempt_failed(req.attempt, &req.error, req.released, now)
                })
            },
        )
    }

    async fn event_published(
        &self,
        key: &str,
        received_at_ms: i64,
        deadline_ms: i64,
    ) -> Result<(), PortError> {
        self.call(
            "event_published",
            key,
            None,
            None,
            deadline_ms,
            |r, now, _| {
                if let Some(r) = r.filter(|r| r.is_signal(Some(received_at_ms))) {
                    r.event_published(now);
                }
            },
        )
    }
}

// ---- Exchange ----

/// What the exchange does with the next submit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submit {
    /// Accepted and filled in full at the reference price.
    Fill,
    /// Accepted; the exchange answers (and later looks up as) this acknowledgement.
    Accept(OrderAck),
    /// Accepted, but the answer never arrives: the caller sees an unknown outcome.
    AcceptLost,
    /// Lost before it reached the exchange: no order, and the caller sees an unknown outcome.
    Lost,
    /// Refused: no order.
    Refuse(Failure),
}

/// One exchange call as the exchange saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeCall {
    pub op: &'static str,
    pub client_order_id: String,
    pub testnet: bool,
    pub deadline_ms: i64,
    pub at_ms: i64,
}

/// An exchange in memory: the orders it accepted, and answers scripted per call (by default
/// everything succeeds and lookups answer from the accepted orders).
pub struct MemoryExchange<'c> {
    exchange: Exchange,
    clock: &'c StepClock,
    /// Accepted orders by client order id.
    orders: RefCell<BTreeMap<String, OrderAck>>,
    prepares: RefCell<VecDeque<Result<Prepared, Failure>>>,
    lookups: RefCell<VecDeque<Result<Lookup, Failure>>>,
    fees: RefCell<VecDeque<Result<Option<Fee>, Failure>>>,
    submits: RefCell<VecDeque<Submit>>,
    /// How long each call takes (the clock moves by this before it answers).
    latency_ms: Cell<i64>,
    /// The next submit reaches the exchange, then waits here before it answers.
    hold_submit: RefCell<Option<Rc<Gate>>>,
    submit_timeout_ms: Cell<i64>,
    calls: RefCell<Vec<ExchangeCall>>,
    /// Protective orders the exchange holds, by client id.
    protective: RefCell<BTreeMap<String, ProtectiveOrder>>,
    /// Client ids of every protective placement, in order (a repeat would be a second order).
    placements: RefCell<Vec<String>>,
    protections: RefCell<VecDeque<Protection>>,
    /// The server-side stops each position holds, by (symbol, side, testnet).
    stops: RefCell<BTreeMap<(String, PositionSide, bool), StopTarget>>,
    /// Scripted answers of the next `set_stops` calls.
    stop_answers: RefCell<VecDeque<Result<StopsSet, Failure>>>,
}

impl<'c> MemoryExchange<'c> {
    pub fn new(exchange: Exchange, clock: &'c StepClock) -> Self {
        Self {
            exchange,
            clock,
            orders: RefCell::new(BTreeMap::new()),
            prepares: RefCell::new(VecDeque::new()),
            lookups: RefCell::new(VecDeque::new()),
            fees: RefCell::new(VecDeque::new()),
            submits: RefCell::new(VecDeque::new()),
            latency_ms: Cell::new(0),
            hold_submit: RefCell::new(None),
            submit_timeout_ms: Cell::new(CALL_TIMEOUT_MS),
            calls: RefCell::new(Vec::new()),
            protective: RefCell::new(BTreeMap::new()),
            placements: RefCell::new(Vec::new()),
            protections: RefCell::new(VecDeque::new()),
            stops: RefCell::new(BTreeMap::new()),
            stop_answers: RefCell::new(VecDeque::new()),
        }
    }

    /// The server-side stops each position holds now, by (canonical symbol, side, testnet).
    pub fn stops(&self) -> BTreeMap<(String, PositionSide, bool), StopTarget> {
        self.stops.borrow().clone()
    }

    /// The next `set_stops` answers this (and changes nothing).
    pub fn script_stops(&self, answer: Result<StopsSet, Failure>) {
        self.stop_answers.borrow_mut().push_back(answer);
    }

    /// The answer of the next `protect` (else: attached, or placed as the venue takes them).
    pub fn script_protect(&self, answer: Protection) {
        self.protections.borrow_mut().push_back(answer);
    }

    /// A protective order the exchange has (placed by an earlier, unseen attempt).
    pub fn place_protective(&self, order: ProtectiveOrder) {
        self.protective
            .borrow_mut()
            .insert(order.client_id.clone(), order);
    }

    pub fn protective_orders(&self) -> Vec<ProtectiveOrder> {
        self.protective.borrow().values().cloned().collect()
    }

    /// Client ids of the protective orders placed, one entry per placement.
    pub fn placements(&self) -> Vec<String> {
        self.placements.borrow().clone()
    }

    /// The answer of the next `prepare` (else: rules that round nothing, the order's price).
    pub fn script_prepare(&self, answer: Result<Prepared, Failure>) {
        self.prepares.borrow_mut().push_back(answer);
    }

    /// The answer of the next `lookup` (else: from the accepted orders).
    pub fn script_lookup(&self, answer: Result<Lookup, Failure>) {
        self.lookups.borrow_mut().push_back(answer);
    }

    /// The answer of the next `fees` (else: `Ok(None)`, nothing known).
    pub fn script_fees(&self, answer: Result<Option<Fee>, Failure>) {
        self.fees.borrow_mut().push_back(answer);
    }

    /// What the next `submit` does (else: [`Submit::Fill`]).
    pub fn script_submit(&self, submit: Submit) {
        self.submits.borrow_mut().push_back(submit);
    }

    pub fn set_latency(&self, ms: i64) {
        self.latency_ms.set(ms);
    }

    pub fn set_submit_timeout(&self, ms: i64) {
        self.submit_timeout_ms.set(ms);
    }

    pub fn hold_next_submit(&self, gate: Rc<Gate>) {
        *self.hold_submit.borrow_mut() = Some(gate);
    }

    /// An order the exchange has (placed by an earlier, unseen attempt).
    pub fn place(&self, ack: OrderAck) {
        self.orders
            .borrow_mut()
            .insert(ack.client_order_id.clone(), ack);
    }

    pub fn orders(&self) -> Vec<OrderAck> {
        self.orders.borrow().values().cloned().collect()
    }

    pub fn calls(&self) -> Vec<ExchangeCall> {
        self.calls.borrow().clone()
    }

    pub fn ops(&self) -> Vec<&'static str> {
        self.calls.borrow().iter().map(|c| c.op).collect()
    }

    fn log(&self, op: &'static str, order: &OrderRequest, deadline_ms: i64) {
        self.calls.borrow_mut().push(ExchangeCall {
            op,
            client_order_id: order.client_order_id.clone(),
            testnet: order.testnet,
            deadline_ms,
            at_ms: self.clock.now_ms(),
        });
        self.clock.advance(self.latency_ms.get());
    }

    fn filled(order: &OrderRequest, price: Decimal) -> OrderAck {
        OrderAck {
            client_order_id: order.client_order_id.clone(),
            exchange_order_id: format!("mem-{}", order.client_order_id),
            status: "Filled".into(),
            filled_quantity: order.quantity,
            average_price: Some(price),
        }
    }
}

/// Rules that change nothing: what the memory exchange prepares by default.
pub fn plain_instrument(symbol: &str) -> Instrument {
    let fine = Decimal::new(1, 12);
    Instrument {
        symbol: symbol.to_owned(),
        qty_step: fine,
        min_qty: Decimal::ZERO,
        tick_size: fine,
        contract_size: Decimal::ONE,
        limits: Default::default(),
        placement: Default::default(),
    }
}

fn unknown(message: &str) -> Failure {
    Failure {
        class: FailureClass::Unknown,
        message: message.to_owned(),
    }
}

impl ExchangePort for &MemoryExchange<'_> {
    fn exchange(&self) -> Exchange {
        self.exchange
    }

    fn submit_timeout_ms(&self) -> i64 {
        self.submit_timeout_ms.get()
    }

    async fn prepare(&self, order: &OrderRequest, deadline_ms: i64) -> Result<Prepared, Failure> {
        self.log("prepare", order, deadline_ms);
        self.prepares.borrow_mut().pop_front().unwrap_or_else(|| {
            Ok(Prepared {
                instrument: plain_instrument(&order.symbol.canonical()),
                reference_price: exchanges::order::ReferencePrice::signal(
                    order.price.unwrap_or(Decimal::ONE),
                ),
            })
        })
    }

    async fn lookup(&self, order: &OrderRequest, deadline_ms: i64) -> Result<Lookup, Failure> {
        self.log("lookup", order, deadline_ms);
        self.lookups.borrow_mut().pop_front().unwrap_or_else(|| {
            Ok(match self.orders.borrow().get(&order.client_order_id) {
                Some(ack) => Lookup::Found(ack.clone()),
                None => Lookup::NotFound,
            })
        })
    }

    async fn submit(
        &self,
        order: &OrderRequest,
        prepared: &Prepared,
        deadline_ms: i64,
    ) -> Result<OrderAck, Failure> {
        self.log("submit", order, deadline_ms);
        let script = self
            .submits
            .borrow_mut()
            .pop_front()
            .unwrap_or(Submit::Fill);
        // Like Bybit (110072) and Binance (-4116): a second order with the same id is refused,
        // with an answer that says nothing certain (the caller must look the order up).
        let duplicate = self.orders.borrow().contains_key(&order.client_order_id);
        let accepted = match (&script, duplicate) {
            (_, true) => Err(unknown("client order id is duplicated")),
            (Submit::Fill, _) => Ok(Some(MemoryExchange::filled(
                order,
                prepared.reference_price.price,
            ))),
            (Submit::Accept(ack), _) => Ok(Some(ack.clone())),
            (Submit::AcceptLost, _) => Ok(Some(MemoryExchange::filled(
                order,
                prepared.reference_price.price,
            ))),
            (Submit::Lost, _) => Ok(None),
            (Submit::Refuse(f), _) => Err(f.clone()),
        };
        if let Ok(Some(ack)) = &accepted {
            self.place(ack.clone());
        }
        let gate = self.hold_submit.borrow_mut().take();
        if let Some(gate) = gate {
            gate.wait().await;
        }
        match (accepted?, script) {
            (Some(_), Submit::AcceptLost) | (None, _) => Err(unknown("no answer")),
            (Some(ack), _) => Ok(ack),
        }
    }

    async fn protect(&self, order: &OrderRequest, fill: &OrderAck, deadline_ms: i64) -> Protection {
        self.log("protect", order, deadline_ms);
        if let Some(scripted) = self.protections.borrow_mut().pop_front() {
            return scripted;
        }
        let separate = exchanges::venue(self.exchange)
            .and_then(|v| v.separate_protection())
            .is_some();
        if !separate {
            return Protection::Attached;
        }
        if fill.filled_quantity <= Decimal::ZERO {
            return Protection::Failed {
                placed: vec![],
                reason: "nothing filled to protect".into(),
            };
        }
        let mut placed = vec![];
        for kind in exchanges::protect::requested(order) {
            let id = kind.client_id(&order.client_order_id);
            // Looked up first, as the live port does: an earlier attempt's stays the only one.
            let existing = self.protective.borrow().get(&id).cloned();
            let po = existing.unwrap_or_else(|| {
                let po = ProtectiveOrder {
                    kind,
                    client_id: id.clone(),
                    exchange_id: format!("mem-{id}"),
                    trigger_price: exchanges::protect::trigger(order, kind).unwrap_or_default(),
                    quantity: fill.filled_quantity,
                    status: "NEW".into(),
                };
                self.place_protective(po.clone());
                self.placements.borrow_mut().push(id);
                po
            });
            placed.push(po);
        }
        Protection::Placed(placed)
    }

    async fn fees(
        &self,
        order: &OrderRequest,
        _ack: &OrderAck,
        deadline_ms: i64,
    ) -> Result<Option<Fee>, Failure> {
        self.log("fees", order, deadline_ms);
        self.fees.borrow_mut().pop_front().unwrap_or(Ok(None))
    }

    /// Keeps the target as the position's stops, as far as the venue documents keeping them
    /// (a trailing stop MEXC cannot keep is said in a note, not kept); a scripted answer first.
    async fn set_stops(
        &self,
        request: &StopRequest,
        deadline_ms: i64,
    ) -> Result<StopsSet, Failure> {
        self.clock.advance(self.latency_ms.get());
        let _ = deadline_ms;
        if let Some(answer) = self.stop_answers.borrow_mut().pop_front() {
            return answer;
        }
        let Some(venue) = exchanges::stops::of(self.exchange) else {
            return Err(Failure {
                class: FailureClass::Terminal,
                message: format!("{} keeps no server-side stops", self.exchange),
            });
        };
        let supported = venue.support();
        let mut target = request.target.clone();
        let mut placed = Placed::default();
        if target.trailing.is_some() && !supported.trailing {
            target.trailing = None;
            placed
                .notes
                .push(format!("{} documents no trailing stop", self.exchange));
        }
        let id = |kind: &str| format!("mem-{kind}-{}", request.symbol.canonical());
        placed.stop = target.stop_price.map(|p| PlacedStop {
            kind: StopKind::Stop,
            exchange_id: Some(id("stop")),
            client_id: None,
            trigger_price: Some(p),
            distance: None,
            activation_price: None,
            take_profit: None,
        });
        placed.trailing = target.trailing.as_ref().map(|t| PlacedStop {
            kind: StopKind::Trailing,
            exchange_id: Some(id("trailing")),
            client_id: None,
            trigger_price: None,
            distance: Some(t.distance_pct),
            activation_price: t.activation_price,
            take_profit: None,
        });
        let key = (request.symbol.canonical(), request.side, request.testnet);
        if target == StopTarget::default() {
            self.stops.borrow_mut().remove(&key);
        } else {
            self.stops.borrow_mut().insert(key, target);
        }
        Ok(StopsSet { placed, supported })
    }
}

/// The three real exchanges in memory, paper as itself, and a circuit breaker.
pub struct MemoryExchanges<'c> {
    live: BTreeMap<Exchange, MemoryExchange<'c>>,
    circuit: RefCell<CircuitBreaker>,
}

impl<'c> MemoryExchanges<'c> {
    pub fn new(clock: &'c StepClock) -> Self {
        let live = [Exchange::Bybit, Exchange::Binance, Exchange::Mexc]
            .into_iter()
            .map(|e| (e, MemoryExchange::new(e, clock)))
            .collect();
        Self {
            live,
            circuit: RefCell::new(CircuitBreaker::new()),
        }
    }

    /// The memory exchange of a real `exchange`. Paper has none (it is [`PaperExchange`]).
    pub fn exchange(&self, exchange: Exchange) -> Option<&MemoryExchange<'c>> {
        self.live.get(&exchange)
    }
}

impl<'c> Exchanges for MemoryExchanges<'c> {
    type Port<'a>
        = Routed<&'a MemoryExchange<'c>>
    where
        Self: 'a;

    fn port(&self, exchange: Exchange) -> Self::Port<'_> {
        match self.live.get(&exchange) {
            Some(x) => Routed::Live(x),
            None => Routed::Paper(PaperExchange),
        }
    }

    fn circuit(&self) -> Option<&RefCell<CircuitBreaker>> {
        Some(&self.circuit)
    }
}

// ---- Events ----

/// The `trade-events` queue in memory, and the follow-ups sent to `trade-execution`.
#[derive(Debug, Default)]
pub struct MemoryEvents {
    published: RefCell<Vec<Vec<u8>>>,
    fail_next: Cell<u32>,
    follows: RefCell<Vec<(Vec<u8>, u32)>>,
    fail_follow_next: Cell<u32>,
}

impl MemoryEvents {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next `n` sends fail.
    pub fn fail_next(&self, n: u32) {
        self.fail_next.set(n);
    }

    pub fn published(&self) -> Vec<contracts::event::TradeEvent> {
        self.published
            .borrow()
            .iter()
            .filter_map(|b| contracts::event::TradeEvent::decode(b).ok())
            .collect()
    }

    /// The next `n` follow-up sends fail.
    pub fn fail_follow_next(&self, n: u32) {
        self.fail_follow_next.set(n);
    }

    /// Follow-ups sent, with their delays.
    pub fn follows(&self) -> Vec<(contracts::job::FollowOrder, u32)> {
        self.follows
            .borrow()
            .iter()
            .filter_map(|(b, d)| contracts::job::FollowOrder::decode(b).ok().map(|f| (f, *d)))
            .collect()
    }
}

impl Events for MemoryEvents {
    async fn publish(&self, event: &[u8], _deadline_ms: i64) -> Result<(), PortError> {
        let failing = self.fail_next.get();
        if failing > 0 {
            self.fail_next.set(failing - 1);
            return Err(PortError {
                op: "publish",
                message: "queue unavailable".into(),
            });
        }
        self.published.borrow_mut().push(event.to_vec());
        Ok(())
    }

    async fn follow(
        &self,
        body: &[u8],
        delay_seconds: u32,
        _deadline_ms: i64,
    ) -> Result<(), PortError> {
        let failing = self.fail_follow_next.get();
        if failing > 0 {
            self.fail_follow_next.set(failing - 1);
            return Err(PortError {
                op: "follow",
                message: "queue unavailable".into(),
            });
        }
        self.follows
            .borrow_mut()
            .push((body.to_vec(), delay_seconds));
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::attempt::{execute, Disposition, Ports};
    use contracts::config::RuntimeConfig;
    use contracts::signal::parse_webhook;

    /// The tests' "now" when they start: a real epoch time, so ages and dates are plausible.
    pub(crate) const T0: i64 = 1_700_000_000_000;

    /// Every port in memory, on one clock: what one worker isolate sees.
    pub(crate) struct World<'c> {
        pub clock: &'c StepClock,
        pub store: MemoryStore<'c>,
        pub exchanges: MemoryExchanges<'c>,
        pub events: MemoryEvents,
    }

    impl<'c> World<'c> {
        pub fn new(clock: &'c StepClock) -> Self {
            Self {
                clock,
                store: MemoryStore::new(clock),
                exchanges: MemoryExchanges::new(clock),
                events: MemoryEvents::new(),
            }
        }

        pub fn ports(
            &self,
        ) -> Ports<'_, MemoryStore<'c>, MemoryExchanges<'c>, StepClock, MemoryEvents> {
            Ports {
                store: &self.store,
                exchanges: &self.exchanges,
                clock: self.clock,
                events: &self.events,
            }
        }

        /// The memory exchange of a real exchange.
        pub fn x(&self, exchange: Exchange) -> &MemoryExchange<'c> {
            self.exchanges.exchange(exchange).expect("a real exchange")
        }

        /// One delivery of `job`, to its end.
        pub fn run(&self, job: &TradeJob, delivery: u32, cfg: &RuntimeConfig) -> Disposition {
            futures::executor::block_on(execute(job, delivery, cfg, &self.ports()))
        }
    }

    /// A job for `json` (a webhook body), received at 0 with key `k1`.
    pub(crate) fn job(json: &str) -> TradeJob {
        keyed_job("k1", 0, json)
    }

    pub(crate) fn keyed_job(key: &str, received_at_ms: i64, json: &str) -> TradeJob {
        TradeJob {
            idempotency_key: key.into(),
            request_id: format!("req-{key}"),
            received_at_ms,
            signal: parse_webhook(json.as_bytes())
                .expect("a valid webhook body")
                .signal,
        }
    }

    #[test]
    fn the_memory_exchange_refuses_a_second_order_with_one_id() {
        let clock = StepClock::new(0);
        let x = MemoryExchange::new(Exchange::Bybit, &clock);
        let j = job(
            r#"{"exchange":"bybit","action":"LONG","symbol":"BTCUSDT","quantity":"0.01","price":"60000"}"#,
        );
        let order =
            OrderRequest::for_job(&j, &contracts::config::RuntimeConfig::defaults()).unwrap();
        let port = &x;
        let prepared = futures::executor::block_on(port.prepare(&order, 1)).unwrap();
        assert!(futures::executor::block_on(port.submit(&order, &prepared, 1)).is_ok());
        let again = futures::executor::block_on(port.submit(&order, &prepared, 1));
        assert_eq!(again.map_err(|f| f.class), Err(FailureClass::Unknown));
        assert_eq!(x.orders().len(), 1);
    }
}

#[cfg(test)]
mod stop_tests {
    use super::*;
    use exchanges::stops::Trailing;

    fn block_on<F: Future>(f: F) -> F::Output {
        futures::executor::block_on(f)
    }

    fn request(stop: Option<&str>, trailing: Option<&str>) -> StopRequest {
        let d = |s: &str| s.parse::<Decimal>().unwrap_or_else(|e| panic!("{e}"));
        StopRequest {
            symbol: contracts::symbol::Symbol::parse("BTCUSDT").unwrap_or_else(|e| panic!("{e}")),
            side: PositionSide::Long,
            testnet: true,
            target: StopTarget {
                stop_price: stop.map(d),
                trailing: trailing.map(|t| Trailing {
                    distance_pct: d(t),
                    activation_price: None,
                }),
            },
        }
    }

    /// The memory exchange keeps what the venue documents keeping: MEXC's trailing stop is a
    /// note, not a stop; none clears the position's stops; a scripted refusal is answered.
    #[test]
    fn stops_are_kept_as_far_as_the_venue_keeps_them() {
        let clock = StepClock::new(0);
        let mexc = MemoryExchange::new(Exchange::Mexc, &clock);
        let set = block_on((&mexc).set_stops(&request(Some("60000"), Some("1")), 1))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(set.placed.trailing.is_none());
        assert_eq!(set.placed.notes.len(), 1);
        assert!(!set.supported.trailing);
        let kept = mexc.stops();
        let target = kept.values().next().cloned().unwrap_or_default();
        assert!(target.trailing.is_none() && target.stop_price.is_some());
        let bybit = MemoryExchange::new(Exchange::Bybit, &clock);
        let set = block_on((&bybit).set_stops(&request(Some("60000"), Some("1")), 1))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(set.placed.trailing.is_some() && set.placed.stop.is_some());
        block_on((&bybit).set_stops(&request(None, None), 1)).unwrap_or_else(|e| panic!("{e}"));
        assert!(bybit.stops().is_empty());
        bybit.script_stops(Err(Failure {
            class: FailureClass::Terminal,
            message: "refused".into(),
        }));
        assert!(block_on((&bybit).set_stops(&request(Some("1"), None), 1)).is_err());
        let paper = PaperExchange;
        assert!(block_on(paper.set_stops(&request(Some("1"), None), 1)).is_err());
    }
}
