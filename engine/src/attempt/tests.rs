//! The attempt's rules, each against the in-memory ports. Where a test pins a hole of the old
//! consumer flow (issue 12), its doc comment says what the old flow did.

use super::*;
use crate::circuit::Network;
use crate::memory::tests::{keyed_job, World, T0};
use crate::memory::{reached, Gate, StepClock, StoreFault, Submit};
use crate::ports::{Failure, FailureClass, Lookup, Prepared};
use contracts::config::{Mode, RuntimeConfig};
use contracts::event::Outcome;
use contracts::idempotency::Lifecycle;
use contracts::lifecycle::{CLAIM_LEASE_MS, SETTLE_MS};
use futures::executor::block_on;
use rust_decimal::Decimal;

const BYBIT_LONG: &str =
    r#"{"exchange":"bybit","action":"LONG","symbol":"BTCUSDT","quantity":"0.01","price":"60000"}"#;

/// Live mode; everything else as a fresh install (notional cap 1000, max age 300 s, retry
/// 2 s doubling, and the clock's jitter draw 0.5 makes that exact).
fn live() -> RuntimeConfig {
    RuntimeConfig {
        mode: Mode::Live,
        ..RuntimeConfig::defaults()
    }
}

/// A job received at the tests' start, recorded in `w`'s store.
fn accepted(w: &World<'_>, key: &str, json: &str) -> TradeJob {
    let job = keyed_job(key, T0, json);
    w.store.accept(&job);
    job
}

/// Leaves `job`'s key as an earlier attempt whose submit had an unknown outcome left it, long
/// enough ago that its order has settled: the next claim is in doubt.
fn in_doubt(w: &World<'_>, job: &TradeJob) {
    w.store.update(&job.idempotency_key, |r| {
        r.in_doubt = true;
        r.attempt = 1;
        r.submit_at_ms = Some(w.clock.now_ms() - SETTLE_MS - 1);
    });
}

fn ack(job: &TradeJob, status: &str, filled: &str) -> OrderAck {
    OrderAck {
        client_order_id: contracts::idempotency::client_order_id(
            &job.idempotency_key,
            job.received_at_ms,
        ),
        exchange_order_id: "x-1".into(),
        status: status.into(),
        filled_quantity: filled.parse().unwrap(),
        average_price: Some(Decimal::from(60_000)),
    }
}

fn failure(class: FailureClass) -> Failure {
    Failure {
        class,
        message: "scripted".into(),
    }
}

fn state(w: &World<'_>, job: &TradeJob) -> (Lifecycle, bool) {
    let r = w.store.record(&job.idempotency_key).expect("a record");
    (r.state, r.in_doubt)
}

/// The `released` flag of each `attempt_failed` the store saw.
fn releases(w: &World<'_>) -> Vec<bool> {
    w.store.calls().iter().filter_map(|c| c.released).collect()
}

fn is_retry(d: &Disposition) -> bool {
    matches!(d, Disposition::Retry { .. })
}

// ---- The ordinary path ----

#[test]
fn paper_goes_through_the_same_claim_grant_and_complete() {
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let job = accepted(&w, "k", BYBIT_LONG);
    let d = w.run(&job, 1, &RuntimeConfig::defaults());
    assert_eq!(d, Disposition::Ack);
    assert_eq!(
        w.store.ops(),
        ["claim", "begin_submit", "complete", "event_published"]
    );
    assert!(w.x(Exchange::Bybit).calls().is_empty(), "paper mode");
    let events = w.events.published();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].outcome, Outcome::Filled);
    assert_eq!(
        events[0]
            .order
            .as_ref()
            .map(|o| o.exchange_order_id.starts_with("paper-")),
        Some(true)
    );
    assert_eq!(state(&w, &job), (Lifecycle::Done(Outcome::Filled), false));
}

/// Hole 1. The old flow never renewed the claim before the submit (there was no grant to ask
/// for), wrote `complete` without an attempt, and gave exchange calls their own 10 s each with
/// no budget for the whole attempt.
#[test]
fn every_write_names_the_attempt_every_call_gets_the_one_deadline_and_the_submit_is_granted_first()
{
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let job = accepted(&w, "k", BYBIT_LONG);
    w.x(Exchange::Bybit).set_latency(1_000);
    assert_eq!(w.run(&job, 1, &live()), Disposition::Ack);
    let deadline = T0 + ATTEMPT_DEADLINE_MS;
    let store = w.store.calls();
    assert!(store.iter().all(|c| c.deadline_ms == deadline), "{store:?}");
    for c in store
        .iter()
        .filter(|c| c.op != "claim" && c.op != "event_published")
    {
        assert_eq!(c.attempt, Some(1), "{} names the claim's attempt", c.op);
    }
    let exchange = w.x(Exchange::Bybit).calls();
    assert!(exchange.iter().all(|c| c.deadline_ms == deadline));
    assert_eq!(
        exchange.iter().map(|c| c.op).collect::<Vec<_>>(),
        ["prepare", "submit"]
    );
    // The grant comes after everything else and immediately before the submit.
    let granted_at = store.iter().find(|c| c.op == "begin_submit").unwrap().at_ms;
    let prepared_at = exchange[0].at_ms;
    let submitted_at = exchange[1].at_ms;
    assert!(prepared_at < granted_at && granted_at == submitted_at);
    assert_eq!(state(&w, &job), (Lifecycle::Done(Outcome::Filled), false));
}

#[test]
fn a_pretrade_refusal_is_rejected_without_calling_the_exchange() {
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let job = accepted(&w, "k", BYBIT_LONG);
    let mut cfg = live();
    cfg.allowed_symbols = vec!["ETHUSDT".into()];
    assert_eq!(w.run(&job, 1, &cfg), Disposition::Ack);
    assert!(w.x(Exchange::Bybit).calls().is_empty());
    let events = w.events.published();
    assert_eq!(events[0].outcome, Outcome::Rejected);
    assert!(events[0]
        .detail
        .as_deref()
        .unwrap()
        .contains("allowed_symbols"));
}

/// Hole 7. The old flow checked the notional only against the sender's own price, so a signal
/// that wrote a low price passed a cap the exchange's price would have refused.
#[test]
fn the_order_is_checked_against_the_exchanges_reference_price_before_the_submit() {
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let job = accepted(&w, "k", BYBIT_LONG);
    let x = w.x(Exchange::Bybit);
    x.script_prepare(Ok(Prepared {
        instrument: crate::memory::plain_instrument("BTCUSDT"),
        // 0.01 × 200 000 = 2 000, over the 1 000 cap (at the sender's 60 000 it was 600).
        reference_price: exchanges::order::ReferencePrice::mark(Decimal::from(200_000)),
    }));
    assert_eq!(w.run(&job, 1, &live()), Disposition::Ack);
    assert_eq!(x.ops(), ["prepare"], "no submit");
    assert!(!w.store.ops().contains(&"begin_submit"));
    let events = w.events.published();
    assert_eq!(events[0].outcome, Outcome::Rejected);
    assert!(events[0]
        .detail
        .as_deref()
        .unwrap()
        .contains("max_order_notional"));
}

// ---- Entries paused ----

/// A pause of every mainnet entry on Bybit, in force from before the tests' start.
fn paused_bybit() -> RuntimeConfig {
    RuntimeConfig {
        entries_paused: contracts::pause::parse(
            r#"[{"network":"mainnet","exchange":"bybit","reason":"max daily loss","since_ms":1}]"#,
        )
        .unwrap(),
        ..live()
    }
}

#[test]
fn a_paused_entry_is_a_dead_letter_with_the_claim_released_and_nothing_sent() {
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let job = accepted(&w, "k", BYBIT_LONG);
    let d = w.run(&job, 1, &paused_bybit());
    let Disposition::Dead { reason, detail } = d else {
        panic!("expected a dead letter, got {d:?}");
    };
    assert_eq!(reason, DeadLetterReason::EntriesPaused);
    assert_eq!(reason.as_str(), "entries_paused");
    assert!(detail.contains("max daily loss"), "{detail}");
    assert!(
        w.x(Exchange::Bybit).calls().is_empty(),
        "nothing at the exchange"
    );
    assert_eq!(releases(&w), [true]);
    assert_eq!(state(&w, &job), (Lifecycle::Accepted, false), "replayable");
}

#[test]
fn a_close_passes_a_pause_and_other_exchanges_and_networks_are_not_paused() {
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let cfg = paused_bybit();
    let close = accepted(
        &w,
        "close",
        r#"{"exchange":"bybit","action":"CLOSE_LONG","symbol":"BTCUSDT","quantity":"0.01","price":"60000"}"#,
    );
    assert!(matches!(w.run(&close, 1, &cfg), Disposition::Ack));
    let testnet = accepted(
        &w,
        "testnet",
        r#"{"exchange":"bybit","action":"SHORT","symbol":"BTCUSDT","quantity":"0.01","price":"60000","test":true}"#,
    );
    assert!(matches!(w.run(&testnet, 1, &cfg), Disposition::Ack));
    let other = accepted(
        &w,
        "binance",
        r#"{"exchange":"binance","action":"LONG","symbol":"BTCUSDT","quantity":"0.01","price":"60000"}"#,
    );
    assert!(matches!(w.run(&other, 1, &cfg), Disposition::Ack));
    assert_eq!(w.x(Exchange::Bybit).orders().len(), 2);
}

#[test]
fn paper_is_its_own_exchange_and_an_expired_pause_is_ignored() {
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    // Paper mode: the order goes to paper, which the Bybit pause does not cover.
    let paper_mode = RuntimeConfig {
        mode: Mode::Paper,
        ..paused_bybit()
    };
    let job = accepted(&w, "paper", BYBIT_LONG);
    assert!(matches!(w.run(&job, 1, &paper_mode), Disposition::Ack));
    let expired = RuntimeConfig {
        entries_paused: contracts::pause::parse(&format!(
            r#"[{{"network":"mainnet","reason":"guard","since_ms":1,"until_ms":{T0}}}]"#
        ))
        .unwrap(),
        ..live()
    };
    let job = accepted(&w, "expired", BYBIT_LONG);
    assert!(matches!(w.run(&job, 1, &expired), Disposition::Ack));
}

// ---- Kill switch ----

#[test]
fn the_kill_switch_mirror_dead_letters_before_anything_is_claimed() {
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let job = accepted(&w, "k", BYBIT_LONG);
    let cfg = RuntimeConfig {
        kill_switch: true,
        ..live()
    };
    let d = w.run(&job, 1, &cfg);
    assert!(matches!(
        d,
        Disposition::Dead {
            reason: DeadLetterReason::KillSwitch,
            ..
        }
    ));
    assert!(w.store.calls().is_empty());
}

#[test]
fn the_stores_kill_switch_at_claim_dead_letters_with_nothing_claimed() {
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let job = accepted(&w, "k", BYBIT_LONG);
    w.store.set_kill_switch(true);
    let d = w.run(&job, 1, &live());
    assert!(matches!(
        d,
        Disposition::Dead {
            reason: DeadLetterReason::KillSwitch,
            ..
        }
    ));
    assert_eq!(w.store.ops(), ["claim"]);
    assert_eq!(state(&w, &job), (Lifecycle::Accepted, false));
    assert!(w.x(Exchange::Bybit).calls().is_empty());
}

/// The old flow had no pre-submit grant: a kill switch turned on after the claim did not stop
/// the submit.
#[test]
fn the_kill_switch_at_the_grant_releases_the_claim_and_dead_letters() {
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let job = accepted(&w, "k", BYBIT_LONG);
    w.store
        .on_next("begin_submit", StoreFault::KillSwitch(true));
    let d = w.run(&job, 1, &live());
    assert!(matches!(
        d,
        Disposition::Dead {
            reason: DeadLetterReason::KillSwitch,
            ..
        }
    ));
    assert_eq!(w.x(Exchange::Bybit).ops(), ["prepare"], "no submit");
    assert_eq!(releases(&w), [true]);
    assert_eq!(state(&w, &job), (Lifecycle::Accepted, false));
}

#[test]
fn the_kill_switch_at_the_grant_of_an_in_doubt_job_releases_only_after_the_lookup_found_nothing() {
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let job = accepted(&w, "k", BYBIT_LONG);
    in_doubt(&w, &job);
    w.store
        .on_next("begin_submit", StoreFault::KillSwitch(true));
    let d = w.run(&job, 2, &live());
    assert!(matches!(
        d,
        Disposition::Dead {
            reason: DeadLetterReason::KillSwitch,
            ..
        }
    ));
    assert_eq!(w.x(Exchange::Bybit).ops(), ["lookup", "prepare"]);
    assert_eq!(releases(&w), [true]);
    assert_eq!(state(&w, &job), (Lifecycle::Accepted, false));
}

// ---- Claims: busy, done, dead, unknown ----

/// The old flow took the store's `Busy` delay as it came too; this pins that it is never
/// recomputed (to the lease's exact end, which would race the lease).
#[test]
fn busy_retries_after_the_stores_own_delay() {
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let job = accepted(&w, "k", BYBIT_LONG);
    // Another delivery claimed the key 10 s ago and is still inside its lease.
    w.store.update("k", |r| {
        r.claim(T0 - 10_000, false);
    });
    let mut probe = w.store.record("k").unwrap();
    let ClaimResponse::Busy {
        retry_after_seconds,
    } = probe.claim(T0, false)
    else {
        panic!("expected busy");
    };
    let d = w.run(&job, 1, &live());
    assert_eq!(
        d,
        Disposition::Retry {
            delay_seconds: retry_after_seconds,
            error: "another attempt holds the claim, or an earlier submit is still settling".into()
        }
    );
    assert!(T0 + i64::from(retry_after_seconds) * 1000 > T0 - 10_000 + CLAIM_LEASE_MS);
    assert!(w.x(Exchange::Bybit).calls().is_empty());
}

#[test]
fn a_done_key_is_acked_and_its_unpublished_event_published_again() {
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let job = accepted(&w, "k", BYBIT_LONG);
    w.events.fail_next(1);
    // Filled, but the event's send failed: retried.
    assert!(is_retry(&w.run(&job, 1, &live())));
    assert!(w.events.published().is_empty());
    assert_eq!(state(&w, &job).0, Lifecycle::Done(Outcome::Filled));
    // The next delivery only publishes.
    assert_eq!(w.run(&job, 2, &live()), Disposition::Ack);
    assert_eq!(w.x(Exchange::Bybit).ops(), ["prepare", "submit"]);
    assert_eq!(w.events.published().len(), 1);
    assert!(w.store.record("k").unwrap().event_published);
    // And a third sees it all done.
    assert_eq!(w.run(&job, 3, &live()), Disposition::Ack);
    assert_eq!(w.events.published().len(), 1);
}

#[test]
fn dead_keys_are_acked_and_unknown_keys_dead_lettered() {
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let job = accepted(&w, "k", BYBIT_LONG);
    w.store.update("k", |r| r.mark_dead("stale", T0, T0));
    assert_eq!(w.run(&job, 1, &live()), Disposition::Ack);
    let stranger = keyed_job("never-recorded", T0, BYBIT_LONG);
    assert!(matches!(
        w.run(&stranger, 1, &live()),
        Disposition::Dead {
            reason: DeadLetterReason::Unrecorded,
            ..
        }
    ));
    assert!(w.x(Exchange::Bybit).calls().is_empty());
}

// ---- Releasing the claim ----

#[test]
fn refusals_before_any_order_release_the_claim() {
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let mut cfg = live();
    cfg.exchange_enabled.insert(Exchange::Bybit, false);
    let job = accepted(&w, "disabled", BYBIT_LONG);
    let d = w.run(&job, 1, &cfg);
    assert!(matches!(
        d,
        Disposition::Dead {
            reason: DeadLetterReason::ExchangeDisabled,
            ..
        }
    ));
    assert_eq!(releases(&w), [true]);
    assert_eq!(state(&w, &job), (Lifecycle::Accepted, false));

    // Stale: received 301 s ago.
    let old = keyed_job("old", T0 - 301_000, BYBIT_LONG);
    w.store.accept(&old);
    let d = w.run(&old, 1, &live());
    assert!(matches!(
        d,
        Disposition::Dead {
            reason: DeadLetterReason::Stale,
            ..
        }
    ));
    assert_eq!(releases(&w), [true, true]);
    assert!(w.x(Exchange::Bybit).calls().is_empty());
}

#[test]
fn a_certain_refusal_releases_the_claim_and_an_unknown_outcome_does_not() {
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let x = w.x(Exchange::Bybit);

    // A preparation that failed in an unknown way placed nothing.
    let job = accepted(&w, "prep", BYBIT_LONG);
    x.script_prepare(Err(failure(FailureClass::Unknown)));
    assert!(is_retry(&w.run(&job, 1, &live())));
    assert_eq!(state(&w, &job), (Lifecycle::Accepted, false));

    // 429 on the submit: certainly refused.
    let job = accepted(&w, "refused", BYBIT_LONG);
    x.script_submit(Submit::Refuse(failure(FailureClass::Retryable {
        retry_after_seconds: None,
    })));
    assert!(is_retry(&w.run(&job, 1, &live())));
    assert_eq!(state(&w, &job), (Lifecycle::Accepted, false));

    // No answer to the submit: maybe placed.
    let job = accepted(&w, "lost", BYBIT_LONG);
    x.script_submit(Submit::Lost);
    assert!(is_retry(&w.run(&job, 1, &live())));
    assert_eq!(state(&w, &job), (Lifecycle::Accepted, true));
    assert_eq!(releases(&w), [true, true, false]);

    // A terminal refusal ends the job rejected.
    let job = accepted(&w, "terminal", BYBIT_LONG);
    x.script_submit(Submit::Refuse(failure(FailureClass::Terminal)));
    assert_eq!(w.run(&job, 1, &live()), Disposition::Ack);
    assert_eq!(state(&w, &job), (Lifecycle::Done(Outcome::Rejected), false));
}

// ---- Reconcile before retry ----

#[test]
fn an_unknown_submit_is_looked_up_before_anything_else_and_never_resubmitted() {
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let job = accepted(&w, "k", BYBIT_LONG);
    let x = w.x(Exchange::Bybit);
    // Accepted at the exchange; the answer is lost.
    x.script_submit(Submit::AcceptLost);
    assert!(is_retry(&w.run(&job, 1, &live())));
    assert_eq!(state(&w, &job), (Lifecycle::Accepted, true));
    // Too soon: the order may not be visible yet.
    clock.advance(5_000);
    let d = w.run(&job, 2, &live());
    let Disposition::Retry { delay_seconds, .. } = d else {
        panic!("expected busy, got {d:?}");
    };
    clock.advance(i64::from(delay_seconds) * 1000);
    let before = x.calls().len();
    assert_eq!(w.run(&job, 3, &live()), Disposition::Ack);
    let ops: Vec<_> = x.ops().into_iter().skip(before).collect();
    assert_eq!(ops, ["lookup"], "found: nothing else is called");
    assert_eq!(x.orders().len(), 1);
    let events = w.events.published();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].outcome, Outcome::Filled);
    assert_eq!(events[0].attempts, 2, "the claim that reconciled");
}

// ---- Hole 6: in doubt ----

/// The old flow judged a found order by its status word: a partial fill whose rest was
/// cancelled (`PartiallyFilledCanceled`) was recorded as rejected, losing a real position.
#[test]
fn in_doubt_a_found_partial_fill_is_filled_whatever_its_status_says() {
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let job = accepted(&w, "k", BYBIT_LONG);
    in_doubt(&w, &job);
    let found = ack(&job, "PartiallyFilledCanceled", "0.004");
    w.x(Exchange::Bybit).place(found.clone());
    assert_eq!(w.run(&job, 2, &live()), Disposition::Ack);
    assert_eq!(w.x(Exchange::Bybit).ops(), ["lookup"]);
    let e = &w.events.published()[0];
    assert_eq!(e.outcome, Outcome::Filled);
    assert_eq!(e.order.as_ref(), Some(&found));
}

#[test]
fn in_doubt_a_found_order_that_ended_with_nothing_filled_is_rejected() {
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let job = accepted(&w, "k", BYBIT_LONG);
    in_doubt(&w, &job);
    w.x(Exchange::Bybit).place(ack(&job, "Cancelled", "0"));
    assert_eq!(w.run(&job, 2, &live()), Disposition::Ack);
    assert_eq!(
        w.x(Exchange::Bybit).ops(),
        ["lookup"],
        "its id is spent: no new order"
    );
    assert_eq!(state(&w, &job), (Lifecycle::Done(Outcome::Rejected), false));
    // A resting limit order (nothing filled yet, not ended) is an accepted order.
    let resting = accepted(&w, "resting", BYBIT_LONG);
    in_doubt(&w, &resting);
    w.x(Exchange::Bybit).place(ack(&resting, "New", "0"));
    assert_eq!(w.run(&resting, 2, &live()), Disposition::Ack);
    assert_eq!(
        state(&w, &resting),
        (Lifecycle::Done(Outcome::Filled), false)
    );
}

/// The old flow built the order (and refused it) before the live attempt looked anything up:
/// an in-doubt job the config now refuses was recorded rejected while its order existed.
#[test]
fn in_doubt_the_lookup_comes_before_a_pretrade_refusal() {
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let job = accepted(&w, "k", BYBIT_LONG);
    in_doubt(&w, &job);
    w.x(Exchange::Bybit).place(ack(&job, "Filled", "0.01"));
    let mut cfg = live();
    cfg.allowed_symbols = vec!["ETHUSDT".into()];
    cfg.max_order_notional = Decimal::ONE;
    assert_eq!(w.run(&job, 2, &cfg), Disposition::Ack);
    assert_eq!(w.x(Exchange::Bybit).ops(), ["lookup"]);
    assert_eq!(state(&w, &job), (Lifecycle::Done(Outcome::Filled), false));

    // And when the lookup finds nothing, the refusal stands.
    let absent = accepted(&w, "absent", BYBIT_LONG);
    in_doubt(&w, &absent);
    assert_eq!(w.run(&absent, 2, &cfg), Disposition::Ack);
    assert_eq!(w.x(Exchange::Bybit).ops(), ["lookup", "lookup"]);
    assert_eq!(
        state(&w, &absent),
        (Lifecycle::Done(Outcome::Rejected), false)
    );
}

/// The old flow skipped every check for an in-doubt job ("its first attempt passed them"), so a
/// job whose lookup found nothing was submitted however stale, or on a disabled exchange.
#[test]
fn in_doubt_and_absent_every_check_applies_before_a_new_submit() {
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let x = w.x(Exchange::Bybit);

    let stale = keyed_job("stale", T0 - 400_000, BYBIT_LONG);
    w.store.accept(&stale);
    in_doubt(&w, &stale);
    let d = w.run(&stale, 2, &live());
    assert!(matches!(
        d,
        Disposition::Dead {
            reason: DeadLetterReason::Stale,
            ..
        }
    ));
    assert_eq!(x.ops(), ["lookup"]);
    // The lookup proved no order exists: released.
    assert_eq!(state(&w, &stale), (Lifecycle::Accepted, false));

    let disabled = accepted(&w, "disabled", BYBIT_LONG);
    in_doubt(&w, &disabled);
    let mut cfg = live();
    cfg.exchange_enabled.insert(Exchange::Bybit, false);
    let d = w.run(&disabled, 2, &cfg);
    assert!(matches!(
        d,
        Disposition::Dead {
            reason: DeadLetterReason::ExchangeDisabled,
            ..
        }
    ));
    assert_eq!(x.ops(), ["lookup", "lookup"]);

    // Everything passes: one new submit.
    let fine = accepted(&w, "fine", BYBIT_LONG);
    in_doubt(&w, &fine);
    assert_eq!(w.run(&fine, 2, &live()), Disposition::Ack);
    assert_eq!(x.ops(), ["lookup", "lookup", "lookup", "prepare", "submit"]);
    assert_eq!(x.orders().len(), 1);
    assert_eq!(releases(&w), [true, true]);
}

#[test]
fn in_doubt_a_failed_lookup_keeps_the_key_in_doubt() {
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let job = accepted(&w, "k", BYBIT_LONG);
    in_doubt(&w, &job);
    w.x(Exchange::Bybit)
        .script_lookup(Err(failure(FailureClass::Terminal)));
    assert!(is_retry(&w.run(&job, 2, &live())));
    assert_eq!(releases(&w), [false]);
    assert_eq!(state(&w, &job), (Lifecycle::Accepted, true));
    assert_eq!(w.x(Exchange::Bybit).ops(), ["lookup"]);
}

#[test]
fn in_doubt_on_paper_looks_up_finds_nothing_and_fills() {
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let job = accepted(&w, "k", BYBIT_LONG);
    in_doubt(&w, &job);
    assert_eq!(w.run(&job, 2, &RuntimeConfig::defaults()), Disposition::Ack);
    assert_eq!(state(&w, &job), (Lifecycle::Done(Outcome::Filled), false));
}

// ---- Retry-After and the circuit breaker ----

#[test]
fn a_larger_retry_after_wins_over_the_backoff() {
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let x = w.x(Exchange::Bybit);
    let retryable = |s| {
        Submit::Refuse(failure(FailureClass::Retryable {
            retry_after_seconds: Some(s),
        }))
    };
    let job = accepted(&w, "long", BYBIT_LONG);
    x.script_submit(retryable(30));
    let Disposition::Retry { delay_seconds, .. } = w.run(&job, 1, &live()) else {
        panic!()
    };
    assert_eq!(delay_seconds, 30);
    // The backoff of the 3rd delivery is 8 s: a Retry-After of 1 s does not shorten it.
    let job = accepted(&w, "short", BYBIT_LONG);
    x.script_submit(retryable(1));
    let Disposition::Retry { delay_seconds, .. } = w.run(&job, 3, &live()) else {
        panic!()
    };
    assert_eq!(delay_seconds, 8);
}

/// The old breaker was keyed by exchange only: a ban on Binance's mainnet also stopped its
/// testnet (and the other way round).
#[test]
fn a_ban_opens_the_circuit_of_that_exchange_and_network_only() {
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let binance = w.x(Exchange::Binance);
    let long = |test: bool| {
        format!(
            r#"{{"exchange":"binance","action":"LONG","symbol":"BTCUSDT","quantity":"0.01","price":"60000","test":{test}}}"#
        )
    };
    let banned = accepted(&w, "banned", &long(false));
    binance.script_submit(Submit::Refuse(failure(FailureClass::Banned {
        retry_after_seconds: Some(120),
    })));
    let Disposition::Retry { delay_seconds, .. } = w.run(&banned, 1, &live()) else {
        panic!()
    };
    assert_eq!(delay_seconds, 120);
    // The ban is a refusal: nothing was placed.
    assert_eq!(state(&w, &banned), (Lifecycle::Accepted, false));
    let circuit = w.exchanges.circuit().unwrap();
    assert_eq!(
        circuit
            .borrow()
            .open_for(Exchange::Binance, Network::Mainnet, T0),
        Some(120)
    );

    // Another mainnet job: not sent, retried when the ban ends, its claim released.
    clock.advance(20_000);
    let next = accepted(&w, "next", &long(false));
    let calls = binance.calls().len();
    let Disposition::Retry { delay_seconds, .. } = w.run(&next, 1, &live()) else {
        panic!()
    };
    assert_eq!(delay_seconds, 100);
    assert_eq!(
        binance.calls().len(),
        calls,
        "nothing sent to a banned exchange"
    );
    assert_eq!(state(&w, &next), (Lifecycle::Accepted, false));

    // Testnet and the other exchanges run.
    let testnet = accepted(&w, "testnet", &long(true));
    assert_eq!(w.run(&testnet, 1, &live()), Disposition::Ack);
    assert_eq!(binance.calls().last().map(|c| c.testnet), Some(true));
    let bybit = accepted(&w, "bybit", BYBIT_LONG);
    assert_eq!(w.run(&bybit, 1, &live()), Disposition::Ack);

    // After the ban, mainnet runs again.
    clock.advance(100_000);
    assert_eq!(w.run(&next, 2, &live()), Disposition::Ack);
}

#[test]
fn an_in_doubt_job_waits_for_the_ban_without_releasing() {
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let job = accepted(&w, "k", BYBIT_LONG);
    in_doubt(&w, &job);
    w.exchanges
        .circuit()
        .unwrap()
        .borrow_mut()
        .open(Exchange::Bybit, Network::Mainnet, T0, 30);
    assert!(is_retry(&w.run(&job, 2, &live())));
    assert!(w.x(Exchange::Bybit).calls().is_empty());
    assert_eq!(releases(&w), [false]);
}

// ---- Fencing ----

/// A slow attempt whose key was taken over cannot overwrite the newer attempt's outcome, nor
/// publish its own. The old flow's `complete` named no attempt, so the slow attempt's write
/// replaced the outcome the newer one had recorded.
#[test]
fn a_stale_complete_is_ignored() {
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let job = accepted(&w, "k", BYBIT_LONG);
    let x = w.x(Exchange::Bybit);
    let gate = Gate::new();
    // Attempt 1's order reaches the exchange; its answer is held.
    x.hold_next_submit(gate.clone());
    let cfg = live();
    let ports = w.ports();
    let slow = execute(&job, 1, &cfg, &ports);
    let takeover = async {
        reached(&gate).await;
        // Past attempt 1's lease and the settle time: a redelivery claims the key in doubt,
        // finds attempt 1's order and records it.
        clock.advance(CLAIM_LEASE_MS.max(SETTLE_MS) + 5_000);
        let d = execute(&job, 2, &cfg, &ports).await;
        gate.open();
        d
    };
    let (slow, takeover) = block_on(futures::future::join(slow, takeover));
    assert_eq!(takeover, Disposition::Ack);
    assert!(is_retry(&slow), "{slow:?}");
    let completes: Vec<_> = w
        .store
        .calls()
        .into_iter()
        .filter(|c| c.op == "complete")
        .map(|c| c.attempt)
        .collect();
    assert_eq!(completes, [Some(2), Some(1)]);
    let r = w.store.record("k").unwrap();
    assert_eq!(r.state, Lifecycle::Done(Outcome::Filled));
    assert_eq!(r.attempt, 2);
    let events = w.events.published();
    assert_eq!(events.len(), 1, "only the recorded outcome is published");
    assert_eq!(events[0].attempts, 2);
    assert_eq!(x.orders().len(), 1);
    assert_eq!(x.ops(), ["prepare", "submit", "lookup"]);
}

#[test]
fn a_stale_grant_submits_nothing_and_writes_nothing() {
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let job = accepted(&w, "k", BYBIT_LONG);
    // The grant arrives after the lease ran out.
    w.store
        .on_next("begin_submit", StoreFault::Slow(CLAIM_LEASE_MS));
    let d = w.run(&job, 1, &live());
    assert!(is_retry(&d), "{d:?}");
    assert_eq!(w.store.ops(), ["claim", "begin_submit"]);
    assert_eq!(w.x(Exchange::Bybit).ops(), ["prepare"]);
}

// ---- The deadline ----

/// The old flow had no budget for the whole attempt: after a slow preparation it still sent a
/// submit that could outlive the claim's lease.
#[test]
fn a_submit_that_cannot_finish_by_the_deadline_is_not_started() {
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let x = w.x(Exchange::Bybit);
    // 9 s of preparation leaves 11 s; a submit needs its 10 s plus the outcome's 2 s.
    x.set_latency(9_000);
    let job = accepted(&w, "slow-prepare", BYBIT_LONG);
    let d = w.run(&job, 1, &live());
    assert!(is_retry(&d), "{d:?}");
    assert_eq!(x.ops(), ["prepare"]);
    assert!(!w.store.ops().contains(&"begin_submit"));
    assert_eq!(releases(&w), [true]);
    assert_eq!(state(&w, &job), (Lifecycle::Accepted, false));

    // The same budget with a faster exchange (5 s submit timeout) is enough.
    x.set_submit_timeout(5_000);
    let job = accepted(&w, "fast-exchange", BYBIT_LONG);
    assert_eq!(w.run(&job, 1, &live()), Disposition::Ack);
}

#[test]
fn a_slow_grant_leaves_no_time_for_the_submit_and_releases() {
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let job = accepted(&w, "k", BYBIT_LONG);
    w.store.on_next("begin_submit", StoreFault::Slow(9_000));
    let d = w.run(&job, 1, &live());
    assert!(is_retry(&d), "{d:?}");
    assert_eq!(
        w.x(Exchange::Bybit).ops(),
        ["prepare"],
        "granted, but not submitted"
    );
    assert_eq!(w.store.ops(), ["claim", "begin_submit", "attempt_failed"]);
    // The grant marked the key in doubt; nothing was sent, so the release clears it.
    assert_eq!(state(&w, &job), (Lifecycle::Accepted, false));
}

#[test]
fn a_lost_complete_leaves_the_order_to_the_next_attempts_lookup() {
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let job = accepted(&w, "k", BYBIT_LONG);
    w.store
        .on_next("complete", StoreFault::Fail("unreachable".into()));
    assert!(is_retry(&w.run(&job, 1, &live())));
    clock.advance(CLAIM_LEASE_MS.max(SETTLE_MS) + 5_000);
    assert_eq!(w.run(&job, 2, &live()), Disposition::Ack);
    let x = w.x(Exchange::Bybit);
    assert_eq!(x.ops(), ["prepare", "submit", "lookup"]);
    assert_eq!(x.orders().len(), 1);
    assert_eq!(state(&w, &job), (Lifecycle::Done(Outcome::Filled), false));
}

#[test]
fn outcomes_are_judged_by_the_filled_quantity() {
    let job = keyed_job("k", 0, BYBIT_LONG);
    assert_eq!(
        judge(&ack(&job, "PartiallyFilledCanceled", "0.1"), "o").0,
        Outcome::Filled
    );
    assert_eq!(judge(&ack(&job, "CANCELED", "0"), "o").0, Outcome::Rejected);
    assert_eq!(judge(&ack(&job, "EXPIRED", "0"), "o").0, Outcome::Rejected);
    assert_eq!(judge(&ack(&job, "NEW", "0"), "o").0, Outcome::Filled);
    assert_eq!(judge(&ack(&job, "Filled", "0.01"), "o").0, Outcome::Filled);
}

#[test]
fn lookup_answers_from_a_script_override_the_book() {
    // The in-memory exchange's own contract, relied on above.
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let job = accepted(&w, "k", BYBIT_LONG);
    in_doubt(&w, &job);
    w.x(Exchange::Bybit)
        .script_lookup(Ok(Lookup::Found(ack(&job, "Filled", "0.01"))));
    assert_eq!(w.run(&job, 2, &live()), Disposition::Ack);
    assert_eq!(state(&w, &job), (Lifecycle::Done(Outcome::Filled), false));
}

// ---- Issue 13, item 2: take-profit and stop-loss ----

const BINANCE_PROTECTED: &str = r#"{"exchange":"binance","action":"LONG","symbol":"BTCUSDT","quantity":"0.01","price":"60000","takeProfit":"70000","stopLoss":"50000"}"#;

fn protection_of(w: &World<'_>) -> Option<Protection> {
    let events = w.events.published();
    assert_eq!(events.len(), 1, "{events:?}");
    events[0].protection.clone()
}

/// The hole: a Binance signal with a take-profit and a stop-loss filled with neither placed
/// (the adapter sent the entry alone and nothing placed the rest). Now both protective orders
/// are placed after the fill, once each, under the same claim and before `complete`, and the
/// event says they are in place.
#[test]
fn a_binance_fill_places_its_take_profit_and_stop_loss_once_before_completing() {
    use contracts::event::ProtectiveKind;
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let job = accepted(&w, "k", BINANCE_PROTECTED);
    assert_eq!(w.run(&job, 1, &live()), Disposition::Ack);
    let binance = w.x(Exchange::Binance);
    assert_eq!(binance.ops(), ["prepare", "submit", "protect"]);
    let coid = contracts::idempotency::client_order_id("k", T0);
    assert_eq!(
        binance.placements(),
        [
            ProtectiveKind::TakeProfit.client_id(&coid),
            ProtectiveKind::StopLoss.client_id(&coid)
        ]
    );
    // The same claim: no store write between the submit and the outcome.
    assert_eq!(
        w.store.ops(),
        ["claim", "begin_submit", "complete", "event_published"]
    );
    // The attempt's deadline, less what `complete` needs after it.
    let protect = binance.calls().into_iter().find(|c| c.op == "protect");
    assert_eq!(
        protect.map(|c| c.deadline_ms),
        Some(T0 + ATTEMPT_DEADLINE_MS - OUTCOME_RESERVE_MS)
    );
    let Some(Protection::Placed(orders)) = protection_of(&w) else {
        panic!("placed: {:?}", protection_of(&w));
    };
    let placed: Vec<(ProtectiveKind, String, Decimal)> = orders
        .iter()
        .map(|o| (o.kind, o.trigger_price.to_string(), o.quantity))
        .collect();
    assert_eq!(
        placed,
        [
            (
                ProtectiveKind::TakeProfit,
                "70000".into(),
                Decimal::new(1, 2)
            ),
            (ProtectiveKind::StopLoss, "50000".into(), Decimal::new(1, 2)),
        ]
    );
    let events = w.events.published();
    assert_eq!(
        (events[0].outcome, events[0].detail.as_deref()),
        (Outcome::Filled, None)
    );
}

/// Bybit and MEXC take them with the order itself, and paper records them so: nothing is
/// placed apart, and the event says they are attached.
#[test]
fn where_the_order_carries_them_they_are_attached_and_nothing_is_placed() {
    for (exchange, cfg) in [
        ("bybit", live()),
        ("mexc", live()),
        ("binance", RuntimeConfig::defaults()),
    ] {
        let clock = StepClock::new(T0);
        let w = World::new(&clock);
        let json = BINANCE_PROTECTED.replace("binance", exchange);
        let job = accepted(&w, "k", &json);
        assert_eq!(w.run(&job, 1, &cfg), Disposition::Ack, "{exchange}");
        assert_eq!(protection_of(&w), Some(Protection::Attached), "{exchange}");
        for x in [Exchange::Bybit, Exchange::Binance, Exchange::Mexc] {
            assert!(w.x(x).placements().is_empty(), "{exchange}");
        }
    }
}

/// A protection that fails never loses the fill: the key ends filled, the event carries the
/// failure and the ledger's detail says what is missing.
#[test]
fn a_failed_protection_keeps_the_fill_and_says_so() {
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let job = accepted(&w, "k", BINANCE_PROTECTED);
    let failed = Protection::Failed {
        placed: vec![],
        reason: "stop-loss: Order would immediately trigger.".into(),
    };
    w.x(Exchange::Binance).script_protect(failed.clone());
    assert_eq!(w.run(&job, 1, &live()), Disposition::Ack);
    assert_eq!(state(&w, &job), (Lifecycle::Done(Outcome::Filled), false));
    assert_eq!(protection_of(&w), Some(failed));
    let events = w.events.published();
    assert_eq!(events[0].outcome, Outcome::Filled);
    assert_eq!(
        events[0].detail.as_deref(),
        Some("take-profit/stop-loss NOT in place: stop-loss: Order would immediately trigger.")
    );
}

/// An earlier attempt filled the entry and placed its take-profit, then died. The next one
/// finds the entry, and protects it before it completes: the take-profit is found and kept, only
/// the stop-loss is placed.
#[test]
fn in_doubt_a_found_fill_is_protected_without_placing_anything_twice() {
    use contracts::event::{ProtectiveKind, ProtectiveOrder};
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let job = accepted(&w, "k", BINANCE_PROTECTED);
    in_doubt(&w, &job);
    let binance = w.x(Exchange::Binance);
    binance.place(ack(&job, "FILLED", "0.01"));
    let coid = contracts::idempotency::client_order_id("k", T0);
    let tp = ProtectiveOrder {
        kind: ProtectiveKind::TakeProfit,
        client_id: ProtectiveKind::TakeProfit.client_id(&coid),
        exchange_id: "earlier".into(),
        trigger_price: Decimal::from(70_000),
        quantity: Decimal::new(1, 2),
        status: "NEW".into(),
    };
    binance.place_protective(tp.clone());
    assert_eq!(w.run(&job, 2, &live()), Disposition::Ack);
    assert_eq!(binance.ops(), ["lookup", "protect"]);
    assert_eq!(
        binance.placements(),
        [ProtectiveKind::StopLoss.client_id(&coid)]
    );
    let Some(Protection::Placed(orders)) = protection_of(&w) else {
        panic!("placed: {:?}", protection_of(&w));
    };
    assert_eq!(orders[0], tp);
    assert_eq!(orders.len(), 2);
    // A third delivery of the done key places nothing.
    assert_eq!(w.run(&job, 3, &live()), Disposition::Ack);
    assert_eq!(binance.placements().len(), 1);
}

/// Nothing to protect: a signal without either, or an entry that ended with nothing filled.
#[test]
fn no_protection_without_a_request_or_a_standing_entry() {
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let plain = accepted(
        &w,
        "plain",
        &BINANCE_PROTECTED.replace(r#","takeProfit":"70000","stopLoss":"50000""#, ""),
    );
    assert_eq!(w.run(&plain, 1, &live()), Disposition::Ack);
    assert_eq!(protection_of(&w), None);
    assert!(!w.x(Exchange::Binance).ops().contains(&"protect"));

    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let job = accepted(&w, "k", BINANCE_PROTECTED);
    w.x(Exchange::Binance)
        .script_submit(Submit::Accept(ack(&job, "EXPIRED", "0")));
    assert_eq!(w.run(&job, 1, &live()), Disposition::Ack);
    assert_eq!(w.events.published()[0].outcome, Outcome::Rejected);
    assert_eq!(protection_of(&w), None);
    assert!(!w.x(Exchange::Binance).ops().contains(&"protect"));
}

/// Refused before anything is sent: a close carrying a stop-loss (nothing would take it), and a
/// stop-loss on the wrong side of the exchange's reference price (it would trigger at once).
#[test]
fn a_close_or_a_price_on_the_wrong_side_is_rejected_before_the_submit() {
    for (json, why) in [
        (
            r#"{"exchange":"binance","action":"CLOSE_LONG","symbol":"BTCUSDT","quantity":"0.01","price":"60000","stopLoss":"50000"}"#,
            "closing signal",
        ),
        (
            r#"{"exchange":"bybit","action":"LONG","symbol":"BTCUSDT","quantity":"0.01","price":"60000","stopLoss":"61000"}"#,
            "stop-loss 61000 of a Buy must be below the reference",
        ),
        (
            r#"{"exchange":"mexc","action":"SHORT","symbol":"BTCUSDT","quantity":"0.01","price":"60000","takeProfit":"60000"}"#,
            "take-profit 60000 of a Sell must be below the reference",
        ),
    ] {
        let clock = StepClock::new(T0);
        let w = World::new(&clock);
        let job = accepted(&w, "k", json);
        assert_eq!(w.run(&job, 1, &live()), Disposition::Ack, "{why}");
        let events = w.events.published();
        assert_eq!(events[0].outcome, Outcome::Rejected, "{why}");
        let detail = events[0].detail.clone().unwrap_or_default();
        assert!(detail.contains(why), "{why}: {detail}");
        for x in [Exchange::Bybit, Exchange::Binance, Exchange::Mexc] {
            assert!(!w.x(x).ops().contains(&"submit"), "{why}");
        }
    }
    // Paper checks against the signal's own price, the same way.
    let clock = StepClock::new(T0);
    let w = World::new(&clock);
    let job = accepted(
        &w,
        "k",
        r#"{"exchange":"paper","action":"LONG","symbol":"BTCUSDT","quantity":"0.01","price":"60000","takeProfit":"59000"}"#,
    );
    assert_eq!(w.run(&job, 1, &RuntimeConfig::defaults()), Disposition::Ack);
    assert_eq!(w.events.published()[0].outcome, Outcome::Rejected);
}
