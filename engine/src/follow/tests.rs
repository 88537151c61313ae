//! The follow-up's rules: its schedule, what counts as final, what is published and when it
//! stops, and the attempt that starts it. Where a test pins what the old code did, its doc
//! comment says so.

use super::*;
use crate::attempt::Disposition;
use crate::memory::tests::{keyed_job, World, T0};
use crate::memory::{StepClock, Submit};
use contracts::config::{Mode, RuntimeConfig};
use contracts::event::StatusClass;
use futures::executor::block_on;
use rust_decimal::Decimal;
use std::str::FromStr;

const BYBIT_LIMIT: &str = r#"{"exchange":"bybit","action":"LONG","symbol":"BTCUSDT","quantity":"0.01","price":"60000","orderType":"limit"}"#;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn live() -> RuntimeConfig {
    RuntimeConfig {
        mode: Mode::Live,
        ..RuntimeConfig::defaults()
    }
}

fn job() -> TradeJob {
    keyed_job("k", T0, BYBIT_LIMIT)
}

fn cid() -> String {
    contracts::idempotency::client_order_id("k", T0)
}

fn ack(status: &str, filled: &str, avg: Option<&str>) -> OrderAck {
    OrderAck {
        client_order_id: cid(),
        exchange_order_id: "42".into(),
        status: status.into(),
        filled_quantity: d(filled),
        average_price: avg.map(d),
    }
}

fn usdt(amount: &str) -> Fee {
    Fee {
        amount: d(amount),
        asset: "USDT".into(),
    }
}

/// The follow-up an acknowledged Bybit limit order starts with.
fn follow() -> FollowOrder {
    let mut e = TradeEvent::for_job(&job(), Outcome::Filled, 1, T0 + 100);
    e.order = Some(ack("Acknowledged", "0", None));
    e.venue = Some(Exchange::Bybit);
    start(&e).expect("an acknowledgement is followed")
}

fn found(a: OrderAck, fee: FeeSeen) -> Seen {
    Seen::Found(a, fee)
}

#[test]
fn the_schedule_is_2_5_15_60_then_every_five_minutes() {
    let delays: Vec<u32> = (0..7).map(delay_after).collect();
    assert_eq!(delays, [2, 5, 15, 60, 300, 300, 300]);
    assert_eq!(delay_after(u32::MAX), 300);
}

#[test]
fn only_real_orders_that_are_not_final_are_followed() {
    let f = follow();
    assert_eq!(f.venue, Exchange::Bybit);
    assert_eq!((f.lookups, f.first_seen_ms), (0, T0 + 100));
    assert_eq!(f.client_order_id, cid());
    let base = || {
        let mut e = TradeEvent::for_job(&job(), Outcome::Filled, 1, T0);
        e.venue = Some(Exchange::Bybit);
        e
    };
    for status in [
        "New",
        "PartiallyFilled",
        "Created",
        "Acknowledged",
        "NEW",
        "Pending",
    ] {
        let mut e = base();
        e.order = Some(ack(status, "0", None));
        assert!(start(&e).is_some(), "{status}");
    }
    // Final with nothing filled: nothing more to learn.
    for status in ["Cancelled", "REJECTED", "EXPIRED"] {
        let mut e = base();
        e.order = Some(ack(status, "0", None));
        assert!(start(&e).is_none(), "{status}");
    }
    // Final with a fill: followed once more for its fee, unless the event already has it.
    let mut e = base();
    e.order = Some(ack("FILLED", "0.01", Some("60000")));
    let f = start(&e).expect("its fee is still to be read");
    let s = step(
        &f,
        found(
            ack("FILLED", "0.01", Some("60000")),
            FeeSeen::Read(Some(usdt("0.3"))),
        ),
        &live(),
        T0 + 2_000,
    );
    assert_eq!(s.event.and_then(|e| e.fee), Some(usdt("0.3")));
    assert_eq!(s.next, None);
    e.fee = Some(usdt("0.3"));
    assert!(start(&e).is_none());
    // Paper fills at once; an event without a venue (version 1) or an order is not followed.
    let mut e = base();
    e.order = Some(ack("New", "0", None));
    e.venue = Some(Exchange::Paper);
    assert!(start(&e).is_none());
    e.venue = None;
    assert!(start(&e).is_none());
    let mut e = base();
    e.order = None;
    assert!(start(&e).is_none());
    // A follow-up's own update never starts another chain.
    let mut e = base();
    e.order = Some(ack("New", "0", None));
    e.update = Some(OrderUpdate {
        state: FollowState::Following,
        lookups: 1,
        first_seen_ms: T0,
        status_changed: false,
        fill_changed: false,
    });
    assert!(start(&e).is_none());
}

#[test]
fn the_lookup_order_is_the_one_sent() {
    let mut f = follow();
    f.testnet = true;
    let o = lookup_order(&f);
    assert_eq!(o.client_order_id, cid());
    assert_eq!((o.exchange, o.testnet), (Exchange::Bybit, true));
    assert_eq!(o.symbol.canonical(), "BTCUSDT");
    assert_eq!((o.side, o.reduce_only), (Side::Buy, false));
}

#[test]
fn an_unchanged_open_order_publishes_nothing_and_is_looked_up_again() {
    let f = follow();
    let s = step(
        &f,
        found(ack("Acknowledged", "0", None), FeeSeen::Unchanged),
        &live(),
        T0 + 3_000,
    );
    assert_eq!(s.event, None);
    let (next, wait) = s.next.expect("followed on");
    assert_eq!((next.lookups, wait), (1, 5));
}

#[test]
fn each_change_is_published_and_the_final_state_ends_the_follow_up() {
    let mut f = follow();
    // Resting on the book.
    let s = step(
        &f,
        found(ack("New", "0", None), FeeSeen::Unchanged),
        &live(),
        T0 + 2_000,
    );
    let e = s.event.expect("status changed");
    assert_eq!(
        e.update.as_ref().map(|u| u.state),
        Some(FollowState::Following)
    );
    assert_eq!((e.venue, e.testnet), (Some(Exchange::Bybit), false));
    f = s.next.expect("followed on").0;
    // Partly filled, with its fee.
    let part = ack("PartiallyFilled", "0.004", Some("60000"));
    let s = step(
        &f,
        found(part.clone(), FeeSeen::Read(Some(usdt("0.13")))),
        &live(),
        T0 + 7_000,
    );
    let e = s.event.expect("fill changed");
    assert_eq!(
        e.order.as_ref().map(|o| o.filled_quantity),
        Some(d("0.004"))
    );
    assert_eq!(e.fee, Some(usdt("0.13")));
    let (next, wait) = s.next.expect("followed on");
    assert_eq!((next.lookups, wait), (2, 15));
    assert_eq!(next.last, part);
    f = next;
    // Filled: published as final, no further lookup.
    let s = step(
        &f,
        found(
            ack("Filled", "0.01", Some("60000")),
            FeeSeen::Read(Some(usdt("0.33"))),
        ),
        &live(),
        T0 + 22_000,
    );
    let e = s.event.expect("final");
    let u = e.update.expect("an update");
    assert_eq!(
        (u.state, u.lookups, u.first_seen_ms),
        (FollowState::Final, 3, T0 + 100)
    );
    assert_eq!(e.fee, Some(usdt("0.33")));
    assert_eq!(e.outcome, Outcome::Filled);
    assert_eq!(s.next, None);
}

#[test]
fn a_cancel_with_nothing_filled_is_final_too() {
    let s = step(
        &follow(),
        found(ack("Cancelled", "0", None), FeeSeen::Unchanged),
        &live(),
        T0 + 2_000,
    );
    let e = s.event.expect("final");
    assert_eq!(e.status_class(), Some(StatusClass::Ended));
    assert_eq!(s.next, None);
}

#[test]
fn a_lagging_answer_never_takes_a_fill_back() {
    let mut f = follow();
    f.last = ack("PartiallyFilled", "0.005", Some("60000"));
    let s = step(
        &f,
        found(ack("New", "0", None), FeeSeen::Unchanged),
        &live(),
        T0 + 2_000,
    );
    assert_eq!(s.event, None);
    assert_eq!(
        s.next.expect("followed on").0.last.filled_quantity,
        d("0.005")
    );
}

#[test]
fn an_order_open_past_the_window_is_left_open_and_says_so() {
    let cfg = RuntimeConfig {
        follow_orders_seconds: 600,
        ..live()
    };
    let f = follow();
    let late = f.first_seen_ms + 600_000;
    for seen in [
        found(ack("New", "0", None), FeeSeen::Unchanged),
        Seen::NotFound,
        Seen::Failed(Failure {
            class: FailureClass::Unknown,
            message: "no answer".into(),
        }),
    ] {
        let s = step(&f, seen, &cfg, late);
        let e = s.event.expect("left open is published");
        assert_eq!(e.update.map(|u| u.state), Some(FollowState::LeftOpen));
        assert_eq!(s.next, None);
    }
    // One millisecond earlier it is still followed.
    let s = step(&f, Seen::NotFound, &cfg, late - 1);
    assert!(s.event.is_none() && s.next.is_some());
}

#[test]
fn failures_wait_and_a_terminal_one_stops() {
    let f = follow();
    let fail = |class| {
        Seen::Failed(Failure {
            class,
            message: "x".into(),
        })
    };
    let s = step(
        &f,
        fail(FailureClass::Retryable {
            retry_after_seconds: Some(30),
        }),
        &live(),
        T0,
    );
    assert_eq!(s.next.map(|(_, w)| w), Some(30));
    let s = step(
        &f,
        fail(FailureClass::Banned {
            retry_after_seconds: None,
        }),
        &live(),
        T0,
    );
    assert_eq!(s.next.map(|(_, w)| w), Some(DEFAULT_BAN_SECONDS));
    let s = step(&f, fail(FailureClass::Terminal), &live(), T0);
    assert_eq!(s.next, None);
    assert_eq!(
        s.event.and_then(|e| e.update).map(|u| u.state),
        Some(FollowState::Stopped)
    );
}

#[test]
fn a_fee_the_records_do_not_tell_yet_is_asked_again_a_few_times() {
    let mut f = follow();
    let filled = ack("Filled", "0.01", Some("60000"));
    let s = step(
        &f,
        found(filled.clone(), FeeSeen::Read(None)),
        &live(),
        T0 + 2_000,
    );
    assert_eq!(s.event.as_ref().and_then(|e| e.fee.clone()), None);
    let mut tries = 0;
    while let Some((next, _)) = step(
        &f,
        found(filled.clone(), FeeSeen::Read(None)),
        &live(),
        T0 + 2_000,
    )
    .next
    {
        f = next;
        tries += 1;
        assert!(tries <= FEE_RETRIES + 1, "bounded");
    }
    assert_eq!(tries, FEE_RETRIES);
    // Once the records tell it, the final state is published again with its fee.
    let mut f = follow();
    f.last = filled.clone();
    let s = step(
        &f,
        found(filled, FeeSeen::Read(Some(usdt("0.33")))),
        &live(),
        T0 + 9_000,
    );
    assert_eq!(s.event.and_then(|e| e.fee), Some(usdt("0.33")));
    assert_eq!(s.next, None);
}

// ---- The delivery, over the in-memory ports ----

#[test]
fn a_delivery_looks_up_publishes_and_schedules_never_submits() {
    let clock = StepClock::new(T0 + 2_000);
    let w = World::new(&clock);
    let x = w.x(Exchange::Bybit);
    x.place(ack("PartiallyFilled", "0.004", Some("60000")));
    x.script_fees(Ok(Some(usdt("0.13"))));
    let f = follow();
    let d = block_on(run(&f, 1, &live(), &w.exchanges, w.clock, &w.events));
    assert_eq!(d, Disposition::Ack);
    assert_eq!(x.ops(), ["lookup", "fees"], "reads only");
    let events = w.events.published();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].fee, Some(usdt("0.13")));
    let follows = w.events.follows();
    assert_eq!(follows.len(), 1);
    assert_eq!((follows[0].0.lookups, follows[0].1), (1, 5));
    assert!(w.store.ops().is_empty(), "a follow-up claims nothing");
    // The next delivery, unchanged: a lookup, no fee read, no event.
    let next = follows[0].0.clone();
    let d = block_on(run(&next, 1, &live(), &w.exchanges, w.clock, &w.events));
    assert_eq!(d, Disposition::Ack);
    assert_eq!(x.ops(), ["lookup", "fees", "lookup"]);
    assert_eq!(w.events.published().len(), 1);
    assert_eq!(w.events.follows().len(), 2);
}

#[test]
fn a_failed_send_retries_the_delivery_and_is_given_up_before_the_dead_letter_queue() {
    let clock = StepClock::new(T0 + 2_000);
    let w = World::new(&clock);
    w.x(Exchange::Bybit).place(ack("New", "0", None));
    let f = follow();
    w.events.fail_next(1);
    let d = block_on(run(&f, 1, &live(), &w.exchanges, w.clock, &w.events));
    assert!(matches!(
        d,
        Disposition::Retry {
            delay_seconds: SEND_RETRY_SECONDS,
            ..
        }
    ));
    w.events.fail_follow_next(1);
    let d = block_on(run(&f, 2, &live(), &w.exchanges, w.clock, &w.events));
    assert!(matches!(d, Disposition::Retry { .. }));
    // The last deliveries the queue gives: acked (logged), never dead-lettered.
    w.events.fail_next(1);
    let d = block_on(run(
        &f,
        MAX_DELIVERIES,
        &live(),
        &w.exchanges,
        w.clock,
        &w.events,
    ));
    assert_eq!(d, Disposition::Ack);
}

#[test]
fn an_open_circuit_calls_nothing_and_waits_out_the_ban() {
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    if let Some(c) = crate::ports::Exchanges::circuit(&w.exchanges) {
        c.borrow_mut()
            .open(Exchange::Bybit, Network::Mainnet, T0, 90);
    }
    let d = block_on(run(&follow(), 1, &live(), &w.exchanges, w.clock, &w.events));
    assert_eq!(d, Disposition::Ack);
    assert!(w.x(Exchange::Bybit).ops().is_empty());
    assert_eq!(w.events.follows()[0].1, 90);
}

// ---- The attempt that starts it ----

/// Issue 13. The old attempt published the submit's answer and stopped: a Bybit or MEXC ack
/// (ids only) or a resting limit order stayed `New`/`Pending` with nothing filled forever. Now
/// the outcome names its venue and network, and its first follow-up goes out 2 s later.
#[test]
fn an_acknowledged_order_is_followed_after_its_outcome_is_published() {
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let job = keyed_job("k", T0, BYBIT_LIMIT);
    w.store.accept(&job);
    w.x(Exchange::Bybit)
        .script_submit(Submit::Accept(ack("Acknowledged", "0", None)));
    assert_eq!(w.run(&job, 1, &live()), Disposition::Ack);
    let events = w.events.published();
    assert_eq!(events[0].venue, Some(Exchange::Bybit));
    let follows = w.events.follows();
    assert_eq!(follows.len(), 1);
    assert_eq!(
        (follows[0].0.client_order_id.clone(), follows[0].1),
        (cid(), 2)
    );
    assert_eq!(
        w.store.ops().last().copied(),
        Some("event_published"),
        "marked published after the follow-up went out"
    );
}

#[test]
fn a_filled_order_is_followed_for_its_fee_only_and_paper_not_at_all() {
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let job = keyed_job("k", T0, BYBIT_LIMIT);
    w.store.accept(&job);
    assert_eq!(w.run(&job, 1, &live()), Disposition::Ack);
    assert_eq!(
        w.events.follows().len(),
        1,
        "filled at once, its fee unknown"
    );
    w.x(Exchange::Bybit).script_fees(Ok(Some(usdt("0.33"))));
    let (f, _) = w.events.follows().remove(0);
    assert_eq!(
        block_on(run(&f, 1, &live(), &w.exchanges, w.clock, &w.events)),
        Disposition::Ack
    );
    assert_eq!(w.events.published()[1].fee, Some(usdt("0.33")));
    assert_eq!(w.events.follows().len(), 1, "nothing more to follow");
    let paper = keyed_job("p", T0, BYBIT_LIMIT);
    w.store.accept(&paper);
    assert_eq!(
        w.run(&paper, 1, &RuntimeConfig::defaults()),
        Disposition::Ack
    );
    assert_eq!(w.events.follows().len(), 1, "paper is not followed");
    assert_eq!(w.events.published()[2].venue, Some(Exchange::Paper));
}

/// A follow-up that cannot be sent is not lost: the delivery is retried, and the next finds the
/// key done with its event unpublished, publishes again and sends the follow-up.
#[test]
fn a_lost_first_follow_up_is_sent_by_the_next_delivery() {
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let job = keyed_job("k", T0, BYBIT_LIMIT);
    w.store.accept(&job);
    w.x(Exchange::Bybit)
        .script_submit(Submit::Accept(ack("New", "0", None)));
    w.events.fail_follow_next(1);
    assert!(matches!(w.run(&job, 1, &live()), Disposition::Retry { .. }));
    assert!(w.events.follows().is_empty());
    assert_eq!(w.run(&job, 2, &live()), Disposition::Ack);
    assert_eq!(w.events.follows().len(), 1);
    assert_eq!(
        w.events.published().len(),
        2,
        "republished: the ledger upserts"
    );
    assert_eq!(w.x(Exchange::Bybit).orders().len(), 1, "one order");
}
