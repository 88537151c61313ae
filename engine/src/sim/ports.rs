//! The engine's ports, implemented over the simulated world. Every call registers an operation
//! and returns a future that stays `Pending` until the scheduler has answered it; dropping that
//! future (a crash) leaves the request in flight with nobody to answer. The clock reads the
//! world's time, which only the scheduler moves, and its randomness is the world's seeded one.

use super::world::{ActorId, Answer, Fault, OpId, Reply, Request, World};
use crate::ports::{
    Clock, Events, ExchangePort, Exchanges, Failure, FailureClass, KeyStore, Lookup, PortError,
    Prepared,
};
use contracts::event::{Fee, OrderAck, Protection};
use contracts::idempotency::{
    AttemptFailedRequest, ClaimResponse, CompleteRequest, Fenced, SubmitGrant, SubmitRequest,
};
use contracts::signal::Exchange;
use exchanges::order::OrderRequest;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

pub(crate) type Shared = Rc<RefCell<World>>;

/// The answer to one operation, once the scheduler gives it.
pub(crate) struct OpFuture {
    world: Shared,
    op: OpId,
    done: bool,
}

impl Future for OpFuture {
    type Output = Answer;
    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Answer> {
        let answer = self.world.borrow_mut().take_answer(self.op);
        match answer {
            Some(a) => {
                self.done = true;
                Poll::Ready(a)
            }
            None => Poll::Pending,
        }
    }
}

impl Drop for OpFuture {
    fn drop(&mut self) {
        if !self.done {
            self.world.borrow_mut().caller_gone(self.op);
        }
    }
}

fn call(world: &Shared, actor: ActorId, request: Request, deadline: Option<i64>) -> OpFuture {
    let op = world.borrow_mut().register(actor, request, deadline);
    OpFuture {
        world: world.clone(),
        op,
        done: false,
    }
}

/// A store or events call's deadline; the legacy model's calls had none (`i64::MAX`).
fn bounded(deadline_ms: i64) -> Option<i64> {
    (deadline_ms != i64::MAX).then_some(deadline_ms)
}

fn port_error(op: &'static str, fault: Fault) -> PortError {
    PortError {
        op,
        message: match fault {
            Fault::Port(m) => m,
            Fault::Exchange(f) => f.message,
        },
    }
}

fn exchange_failure(fault: Fault) -> Failure {
    match fault {
        Fault::Exchange(f) => f,
        Fault::Port(message) => Failure {
            class: FailureClass::Unknown,
            message,
        },
    }
}

fn unexpected(op: &str, reply: &Reply) -> ! {
    unreachable!("the simulated world answered {op} with {reply:?}")
}

/// The `IdempotencyStore`, for one delivery.
pub(crate) struct SimStore {
    pub world: Shared,
    pub actor: ActorId,
}

impl KeyStore for SimStore {
    async fn claim(
        &self,
        key: &str,
        _received_at_ms: i64,
        deadline_ms: i64,
    ) -> Result<ClaimResponse, PortError> {
        let signal = self.world.borrow().actors[&self.actor].signal;
        let req = Request::Claim {
            key: key.into(),
            signal,
        };
        match call(&self.world, self.actor, req, bounded(deadline_ms)).await {
            Ok(Reply::Claim(c)) => Ok(c),
            Ok(other) => unexpected("claim", &other),
            Err(f) => Err(port_error("claim", f)),
        }
    }

    async fn begin_submit(
        &self,
        req: &SubmitRequest,
        deadline_ms: i64,
    ) -> Result<SubmitGrant, PortError> {
        let req = Request::BeginSubmit(req.clone());
        match call(&self.world, self.actor, req, bounded(deadline_ms)).await {
            Ok(Reply::Grant(g)) => Ok(g),
            Ok(other) => unexpected("begin_submit", &other),
            Err(f) => Err(port_error("begin_submit", f)),
        }
    }

    async fn complete(&self, req: &CompleteRequest, deadline_ms: i64) -> Result<Fenced, PortError> {
        let by = self.world.borrow().caller_facts(self.actor, None);
        let req = Request::Complete {
            req: req.clone(),
            by,
        };
        match call(&self.world, self.actor, req, bounded(deadline_ms)).await {
            Ok(Reply::Fenced(f)) => Ok(f),
            Ok(other) => unexpected("complete", &other),
            Err(f) => Err(port_error("complete", f)),
        }
    }

    async fn attempt_failed(
        &self,
        req: &AttemptFailedRequest,
        deadline_ms: i64,
    ) -> Result<Fenced, PortError> {
        let by = self.world.borrow().caller_facts(self.actor, None);
        let req = Request::AttemptFailed {
            req: req.clone(),
            by,
        };
        match call(&self.world, self.actor, req, bounded(deadline_ms)).await {
            Ok(Reply::Fenced(f)) => Ok(f),
            Ok(other) => unexpected("attempt_failed", &other),
            Err(f) => Err(port_error("attempt_failed", f)),
        }
    }

    async fn event_published(
        &self,
        key: &str,
        _received_at_ms: i64,
        deadline_ms: i64,
    ) -> Result<(), PortError> {
        let signal = self.world.borrow().actors[&self.actor].signal;
        let req = Request::EventPublished {
            key: key.into(),
            signal,
        };
        match call(&self.world, self.actor, req, bounded(deadline_ms)).await {
            Ok(Reply::Done) => Ok(()),
            Ok(other) => unexpected("event_published", &other),
            Err(f) => Err(port_error("event_published", f)),
        }
    }
}

/// The exchanges, for one delivery.
pub(crate) struct SimExchanges {
    pub world: Shared,
    pub actor: ActorId,
}

impl Exchanges for SimExchanges {
    type Port<'a> = SimVenue<'a>;
    fn port(&self, exchange: Exchange) -> SimVenue<'_> {
        SimVenue {
            world: &self.world,
            actor: self.actor,
            exchange,
        }
    }
}

/// One exchange, for one delivery.
pub(crate) struct SimVenue<'a> {
    world: &'a Shared,
    actor: ActorId,
    exchange: Exchange,
}

impl ExchangePort for SimVenue<'_> {
    fn exchange(&self) -> Exchange {
        self.exchange
    }

    async fn prepare(&self, order: &OrderRequest, deadline_ms: i64) -> Result<Prepared, Failure> {
        let req = Request::Prepare {
            exchange: self.exchange,
            order: Box::new(order.clone()),
        };
        match call(self.world, self.actor, req, Some(deadline_ms)).await {
            Ok(Reply::Prepared(p)) => Ok(*p),
            Ok(other) => unexpected("prepare", &other),
            Err(f) => Err(exchange_failure(f)),
        }
    }

    async fn lookup(&self, order: &OrderRequest, deadline_ms: i64) -> Result<Lookup, Failure> {
        let req = Request::Lookup {
            exchange: self.exchange,
            order: Box::new(order.clone()),
        };
        match call(self.world, self.actor, req, Some(deadline_ms)).await {
            Ok(Reply::Lookup(l)) => Ok(l),
            Ok(other) => unexpected("lookup", &other),
            Err(f) => Err(exchange_failure(f)),
        }
    }

    async fn submit(
        &self,
        order: &OrderRequest,
        _prepared: &Prepared,
        deadline_ms: i64,
    ) -> Result<OrderAck, Failure> {
        let (by, now) = {
            let w = self.world.borrow();
            (w.caller_facts(self.actor, Some(self.exchange)), w.now)
        };
        let req = Request::Submit {
            exchange: self.exchange,
            order: Box::new(order.clone()),
            sent_at: now,
            by,
        };
        match call(self.world, self.actor, req, Some(deadline_ms)).await {
            Ok(Reply::Ack(a)) => Ok(a),
            Ok(other) => unexpected("submit", &other),
            Err(f) => Err(exchange_failure(f)),
        }
    }

    /// The simulated signals carry no take-profit or stop-loss (the engine asks only for an
    /// entry that does), and the simulated venues keep no protective orders: were one asked
    /// for, it is reported not in place rather than pretended.
    async fn protect(
        &self,
        _order: &OrderRequest,
        _fill: &OrderAck,
        _deadline_ms: i64,
    ) -> Protection {
        Protection::Failed {
            placed: vec![],
            reason: "the simulation places no protective orders".into(),
        }
    }

    /// The simulated venues charge no fees and keep no fill records: the fees are unknown.
    async fn fees(
        &self,
        _order: &OrderRequest,
        _ack: &OrderAck,
        _deadline_ms: i64,
    ) -> Result<Option<Fee>, Failure> {
        Ok(None)
    }
}

/// The world's clock: it moves only when the scheduler moves it.
pub(crate) struct SimClock {
    pub world: Shared,
}

impl Clock for SimClock {
    fn now_ms(&self) -> i64 {
        self.world.borrow().now
    }

    fn random(&self) -> f64 {
        self.world.borrow_mut().rng.unit()
    }
}

/// The `trade-events` producer, for one delivery.
pub(crate) struct SimEvents {
    pub world: Shared,
    pub actor: ActorId,
}

impl Events for SimEvents {
    async fn publish(&self, event: &[u8], deadline_ms: i64) -> Result<(), PortError> {
        let req = Request::Publish {
            event: event.to_vec(),
        };
        match call(&self.world, self.actor, req, bounded(deadline_ms)).await {
            Ok(Reply::Done) => Ok(()),
            Ok(other) => unexpected("publish", &other),
            Err(f) => Err(port_error("publish", f)),
        }
    }

    /// The simulation delivers no follow-ups (its invariants are about the signal's order and
    /// its one outcome event; a follow-up only looks the order up again): sending one succeeds
    /// and does nothing.
    async fn follow(
        &self,
        _body: &[u8],
        _delay_seconds: u32,
        _deadline_ms: i64,
    ) -> Result<(), PortError> {
        Ok(())
    }
}
