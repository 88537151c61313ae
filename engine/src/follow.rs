//! Following an order to a final state, by lookups only.
//!
//! A submit's answer is often not the order's end: Bybit's and MEXC's carry ids and nothing
//! else, a limit order rests on the book, a partial fill goes on filling. When an outcome's
//! order is not final ([`contracts::event::classify_status`]), the trade-worker looks it up
//! again by client order id on a schedule ([`delay_after`]: 2 s, 5 s, 15 s, 60 s, then every
//! 5 min) until it is filled, cancelled, expired or rejected, and publishes a [`TradeEvent`]
//! with an [`OrderUpdate`] each time it changed (fill, average price, fees, status), so the
//! ledger, the event log and Telegram follow it. An order still open
//! `trade:follow_orders_seconds` after it was first seen is left open, and an event says so.
//!
//! **Design.** Each follow-up is one [`FollowOrder`] message on `trade-execution` (its own tag,
//! so it never decodes as a job), sent with a queue delay, rather than a Durable Object alarm or
//! a cron scan:
//!
//! - The queue already is the trade-worker's durable scheduler: a message survives isolates and
//!   deploys, a delivery that fails is retried, and a delay up to 12 h is free. An alarm would
//!   put order state into the idempotency store, whose rows are about exactly-once, not about
//!   an order's life after it; a cron scan of the ledger would read D1 every minute and make
//!   the fan-out (which must never be on the execution path) the source of work.
//! - The message carries everything a lookup needs (venue, network, symbol, client order id,
//!   the job for the events it publishes, first-seen time, lookups so far, the last state and
//!   fee), so a follow-up reads no store and claims nothing. It never submits: the port it uses
//!   offers `lookup` and `fees`, both reads.
//! - It is idempotent by construction: a duplicate or redelivered follow-up is one more lookup,
//!   and the ledger never lets a less advanced state overwrite a more advanced one
//!   (`ops::ledger::order_progress`), whatever order the events arrive in.
//! - The first follow-up is sent by the execution attempt after its outcome's event is
//!   published and before the key is marked published, so a lost send is redone by the next
//!   delivery (which republishes the stored event and sends the follow-up again).
//!
//! Each delivery: look the order up ([`run`]), fetch its fees when its fill changed (or it
//! ended with its fee unknown), decide ([`step`], pure), publish the update if there is one,
//! then send the next follow-up if the order is still followed. A failure of either send
//! retries the delivery, whose lookup repeats harmlessly; after [`MAX_DELIVERIES`] the
//! follow-up is dropped with an error log (the order's last state stands, and the positions
//! read from the exchange still show its exposure), never left for the dead-letter queue, which
//! only knows jobs.

use crate::attempt::Disposition;
use crate::circuit::{Network, DEFAULT_BAN_SECONDS};
use crate::ports::{Clock, Events, ExchangePort, Exchanges, Failure, FailureClass, Lookup};
use contracts::config::RuntimeConfig;
use contracts::event::{
    classify_status, Fee, FollowState, OrderAck, OrderUpdate, Outcome, TradeEvent,
};
use contracts::job::{FollowOrder, TradeJob};
use contracts::lifecycle::ATTEMPT_DEADLINE_MS;
use contracts::signal::Exchange;
use exchanges::order::{OrderRequest, Side};

/// The waits before the first lookups: 2 s, 5 s, 15 s, 60 s; then [`STEADY_SECONDS`].
pub const SCHEDULE_SECONDS: [u32; 4] = [2, 5, 15, 60];
/// The wait between lookups once the schedule is used up: 5 min.
pub const STEADY_SECONDS: u32 = 300;
/// Deliveries of one follow-up before it is given up (the queue moves a message to the DLQ
/// after `max_retries`, 5, retries; a follow-up never goes there).
pub const MAX_DELIVERIES: u32 = 5;
/// Wait before a delivery whose publish or send failed is tried again.
pub const SEND_RETRY_SECONDS: u32 = 5;
/// Lookups after an order is final, while its fee is still unknown (the fill records lag the
/// order on some exchanges): then the fee is left unknown.
pub const FEE_RETRIES: u32 = 3;

/// The wait before the next lookup, after `lookups` have been made.
pub fn delay_after(lookups: u32) -> u32 {
    usize::try_from(lookups)
        .ok()
        .and_then(|i| SCHEDULE_SECONDS.get(i).copied())
        .unwrap_or(STEADY_SECONDS)
}

/// The follow-up an outcome needs, if any: its order went to a real exchange and is not final,
/// or is final with a fill whose fee is not known yet (no submit answer carries fees: they come
/// from the exchange's fill records, read by the follow-up). Paper fills at once and costs
/// nothing it could report; a version-1 event names no venue and is not followed.
pub fn start(event: &TradeEvent) -> Option<FollowOrder> {
    let ack = event.order.as_ref()?;
    let venue = event.venue.filter(|v| *v != Exchange::Paper)?;
    let filled = ack.filled_quantity > rust_decimal::Decimal::ZERO;
    let fee_unknown = filled && event.fee.is_none();
    if event.update.is_some() || (classify_status(&ack.status).is_final() && !fee_unknown) {
        return None;
    }
    Some(FollowOrder {
        job: TradeJob {
            idempotency_key: event.idempotency_key.clone(),
            request_id: event.request_id.clone(),
            received_at_ms: event.received_at_ms,
            signal: event.signal.clone(),
        },
        venue,
        testnet: event.testnet,
        client_order_id: ack.client_order_id.clone(),
        first_seen_ms: event.at_ms,
        lookups: 0,
        last: ack.clone(),
        last_fee: event.fee.clone(),
        attempts: event.attempts,
        fee_retries: 0,
    })
}

/// The order a follow-up looks up: the job's order as it was sent, to the exchange and network
/// it was sent to, under its client order id (whatever today's config would route or allow).
pub fn lookup_order(f: &FollowOrder) -> OrderRequest {
    let s = &f.job.signal;
    OrderRequest {
        exchange: f.venue,
        client_order_id: f.client_order_id.clone(),
        symbol: s.symbol.clone(),
        side: if s.action.is_buy() {
            Side::Buy
        } else {
            Side::Sell
        },
        order_type: s.order_type,
        quantity: s.quantity,
        price: s.price,
        reduce_only: s.action.is_close(),
        leverage: s.leverage.unwrap_or(1),
        take_profit: s.take_profit,
        stop_loss: s.stop_loss,
        testnet: f.testnet,
    }
}

/// What a follow-up's fee read found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeeSeen {
    /// Not asked: the fill did not change, so the last known fee stands.
    Unchanged,
    /// The exchange's records: the fee, or `None` when they do not tell it (yet).
    Read(Option<Fee>),
    /// The read failed: the fee is unknown for now.
    Failed,
}

/// What one lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Found(OrderAck, FeeSeen),
    NotFound,
    Failed(Failure),
}

/// What to do after one lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The update to publish: the order changed, or the follow-up ends.
    pub event: Option<TradeEvent>,
    /// The next follow-up and the wait before it, while the order is still followed.
    pub next: Option<(FollowOrder, u32)>,
}

/// Decides one follow-up, pure: `f` as delivered, what its lookup found at `now_ms`.
///
/// - A final order publishes its final state and is followed no further, unless something
///   filled and its fee is still unknown: then it is looked up again, up to [`FEE_RETRIES`]
///   times within the follow window, and the fee is left unknown after that.
/// - An open order publishes when it changed (status, fill, average price, fee), and is looked
///   up again after [`delay_after`]; `trade:follow_orders_seconds` after it was first seen it is
///   left open ([`FollowState::LeftOpen`]), with an event that says so.
/// - An answer showing less filled than already seen (an exchange's lagging copy) changes
///   nothing: fills only grow.
/// - "Not found" (a lagging order history) and passing failures wait for the next lookup; a
///   terminal failure (no credentials, a refusal for good) stops the follow-up
///   ([`FollowState::Stopped`]).
pub fn step(f: &FollowOrder, seen: Seen, cfg: &RuntimeConfig, now_ms: i64) -> Step {
    let lookups = f.lookups.saturating_add(1);
    let window_ms = i64::from(cfg.follow_orders_seconds).saturating_mul(1000);
    let expired = now_ms.saturating_sub(f.first_seen_ms) >= window_ms;
    let event = |ack: &OrderAck, fee: &Option<Fee>, state: FollowState| {
        let mut e = TradeEvent::for_job(&f.job, Outcome::Filled, f.attempts, now_ms);
        let status_changed = ack.status != f.last.status;
        let fill_changed = ack.filled_quantity != f.last.filled_quantity;
        e.order = Some(ack.clone());
        e.venue = Some(f.venue);
        e.testnet = f.testnet;
        e.fee = fee.clone();
        e.update = Some(OrderUpdate {
            state,
            lookups,
            first_seen_ms: f.first_seen_ms,
            status_changed,
            fill_changed,
        });
        e
    };
    let again = |last: OrderAck, last_fee: Option<Fee>, wait: u32| {
        let mut next = f.clone();
        next.lookups = lookups;
        next.last = last;
        next.last_fee = last_fee;
        (next, wait.max(delay_after(lookups)))
    };
    let left_open = |ack: &OrderAck, fee: &Option<Fee>| Step {
        event: Some(event(ack, fee, FollowState::LeftOpen)),
        next: None,
    };
    match seen {
        Seen::Found(ack, fee_seen) => {
            if ack.filled_quantity < f.last.filled_quantity {
                // A lagging answer: nothing learnt.
                return if expired {
                    left_open(&f.last, &f.last_fee)
                } else {
                    Step {
                        event: None,
                        next: Some(again(f.last.clone(), f.last_fee.clone(), 0)),
                    }
                };
            }
            let fill_changed = ack.filled_quantity != f.last.filled_quantity;
            let fee = match &fee_seen {
                FeeSeen::Read(fee) => fee.clone(),
                // The last fee holds only for the fill it was read for.
                FeeSeen::Unchanged | FeeSeen::Failed if !fill_changed => f.last_fee.clone(),
                FeeSeen::Unchanged | FeeSeen::Failed => None,
            };
            let changed = fill_changed
                || ack.status != f.last.status
                || ack.average_price != f.last.average_price
                || ack.exchange_order_id != f.last.exchange_order_id
                || fee != f.last_fee;
            let is_final = classify_status(&ack.status).is_final();
            if is_final {
                let fee_missing =
                    fee.is_none() && ack.filled_quantity > rust_decimal::Decimal::ZERO;
                let already_final = classify_status(&f.last.status).is_final();
                let retries = if already_final {
                    f.fee_retries.saturating_add(1)
                } else {
                    0
                };
                let event = changed.then(|| event(&ack, &fee, FollowState::Final));
                let next = (fee_missing && !expired && retries < FEE_RETRIES).then(|| {
                    let (mut next, wait) = again(ack, fee, 0);
                    next.fee_retries = retries;
                    (next, wait)
                });
                return Step { event, next };
            }
            if expired {
                return left_open(&ack, &fee);
            }
            Step {
                event: changed.then(|| event(&ack, &fee, FollowState::Following)),
                next: Some(again(ack, fee, 0)),
            }
        }
        Seen::NotFound => {
            if expired {
                left_open(&f.last, &f.last_fee)
            } else {
                Step {
                    event: None,
                    next: Some(again(f.last.clone(), f.last_fee.clone(), 0)),
                }
            }
        }
        Seen::Failed(failure) => {
            let wait = match failure.class {
                FailureClass::Terminal => {
                    return Step {
                        event: Some(event(&f.last, &f.last_fee, FollowState::Stopped)),
                        next: None,
                    }
                }
                FailureClass::Retryable {
                    retry_after_seconds,
                } => retry_after_seconds.unwrap_or(0),
                FailureClass::Banned {
                    retry_after_seconds,
                } => retry_after_seconds.unwrap_or(DEFAULT_BAN_SECONDS),
                FailureClass::Unknown => 0,
            };
            if expired {
                left_open(&f.last, &f.last_fee)
            } else {
                Step {
                    event: None,
                    next: Some(again(f.last.clone(), f.last_fee.clone(), wait)),
                }
            }
        }
    }
}

/// Looks `f`'s order up (and its fees when its fill changed), the way [`step`] needs it. Never
/// submits. An open circuit (an IP ban) is a failure without a call.
pub async fn observe<X: Exchanges>(
    f: &FollowOrder,
    exchanges: &X,
    now_ms: i64,
    deadline_ms: i64,
) -> Seen {
    let network = Network::of(f.testnet);
    if let Some(circuit) = exchanges.circuit() {
        if let Some(wait) = circuit.borrow().open_for(f.venue, network, now_ms) {
            return Seen::Failed(Failure {
                class: FailureClass::Banned {
                    retry_after_seconds: Some(wait),
                },
                message: format!("{} {} circuit open", f.venue, network.as_str()),
            });
        }
    }
    let order = lookup_order(f);
    let port = exchanges.port(f.venue);
    match port.lookup(&order, deadline_ms).await {
        Ok(Lookup::Found(ack)) => {
            let is_final = classify_status(&ack.status).is_final();
            let fill_changed = ack.filled_quantity != f.last.filled_quantity;
            let filled = ack.filled_quantity > rust_decimal::Decimal::ZERO;
            let fee_seen = if fill_changed || (is_final && filled && f.last_fee.is_none()) {
                match port.fees(&order, &ack, deadline_ms).await {
                    Ok(fee) => FeeSeen::Read(fee),
                    Err(e) => {
                        tracing::warn!(client_order_id = %f.client_order_id, error = %e.message, "order fees not read");
                        FeeSeen::Failed
                    }
                }
            } else {
                FeeSeen::Unchanged
            };
            Seen::Found(ack, fee_seen)
        }
        Ok(Lookup::NotFound) => Seen::NotFound,
        Err(failure) => {
            if let FailureClass::Banned {
                retry_after_seconds,
            } = failure.class
            {
                if let Some(circuit) = exchanges.circuit() {
                    circuit.borrow_mut().open(
                        f.venue,
                        network,
                        now_ms,
                        retry_after_seconds.unwrap_or(DEFAULT_BAN_SECONDS),
                    );
                }
            }
            Seen::Failed(failure)
        }
    }
}

/// One delivery of a follow-up (its `delivery_attempts`-th): look up, decide, publish, send the
/// next. Only `Ack` or `Retry`, never `Dead` (see the module doc).
pub async fn run<X: Exchanges, C: Clock, E: Events>(
    f: &FollowOrder,
    delivery_attempts: u32,
    cfg: &RuntimeConfig,
    exchanges: &X,
    clock: &C,
    events: &E,
) -> Disposition {
    let now = clock.now_ms();
    let deadline_ms = now.saturating_add(ATTEMPT_DEADLINE_MS);
    let seen = observe(f, exchanges, now, deadline_ms).await;
    if let Seen::Failed(failure) = &seen {
        tracing::warn!(client_order_id = %f.client_order_id, error = %failure.message, "order lookup failed");
    }
    let Step { event, next } = step(f, seen, cfg, clock.now_ms());
    let give_up = |what: &str, error: String| {
        if delivery_attempts >= MAX_DELIVERIES {
            tracing::error!(client_order_id = %f.client_order_id, error = %error, deliveries = delivery_attempts,
                "{what} failed on every delivery: the follow-up is given up; the order's last state stands");
            Disposition::Ack
        } else {
            Disposition::Retry {
                delay_seconds: SEND_RETRY_SECONDS,
                error,
            }
        }
    };
    if let Some(e) = &event {
        if let Err(err) = events.publish(&e.encode(), deadline_ms).await {
            return give_up("publishing the order's update", err.to_string());
        }
        let state = e.update.as_ref().map(|u| u.state.as_str()).unwrap_or("");
        let ack = e.order.as_ref();
        tracing::info!(
            client_order_id = %f.client_order_id,
            exchange = %f.venue,
            status = ack.map(|a| a.status.as_str()).unwrap_or(""),
            filled = %ack.map(|a| a.filled_quantity).unwrap_or_default(),
            follow = state,
            "order followed: update published"
        );
    }
    if let Some((next, delay)) = next {
        if let Err(err) = events.follow(&next.encode(), delay, deadline_ms).await {
            return give_up("scheduling the next lookup", err.to_string());
        }
    }
    Disposition::Ack
}

#[cfg(test)]
mod tests;
