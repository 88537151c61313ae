//! The simulation's own tests: bounded runs of the new logic that must find nothing; runs of
//! the legacy model that must find each of its holes (the violating seed is named with the hole
//! it exhibits); the findings on the new logic, reproduced; and replayability.
//!
//! Seeds are hunted for rather than pinned wherever the schedule depends on what the new logic
//! does, so the tests hold when the stand-in is replaced by the real `execute` (a schedule is
//! the sequence of its port calls, and the real one may call in another order).

use super::*;
use std::collections::BTreeMap;

/// Schedules of the new logic the suite runs (in two halves, one per core), and of the new
/// logic past the TTL. `simulate` runs many more.
const NEW_LOGIC_SCHEDULES: u64 = 3_000;
const AFTER_TTL_SCHEDULES: u64 = 1_000;

/// The new logic, as hoox runs it.
fn new_logic() -> SimConfig {
    SimConfig::new_logic()
}

/// Runs `seeds` and fails with the first violation's trace.
fn clean(config: &SimConfig, seeds: std::ops::Range<u64>) -> Stats {
    let mut total = Stats::default();
    for seed in seeds {
        match run(seed, config) {
            Ok(s) => total.add(&s),
            Err(v) => panic!("{v}"),
        }
    }
    total
}

#[test]
fn the_new_logic_keeps_every_invariant_first_half() {
    let total = clean(&new_logic(), 0..NEW_LOGIC_SCHEDULES / 2);
    assert!(
        total.orders > 0 && total.crashes > 0 && total.replays > 0,
        "{total:?}"
    );
}

#[test]
fn the_new_logic_keeps_every_invariant_second_half() {
    let total = clean(&new_logic(), NEW_LOGIC_SCHEDULES / 2..NEW_LOGIC_SCHEDULES);
    assert!(
        total.orders > 0 && total.filled > 0 && total.rejected > 0,
        "{total:?}"
    );
}

/// Days pass, keys are forgotten, replayed and reused: the paths of holes 2 and 4.
fn after_ttl(model: Model) -> SimConfig {
    SimConfig::after_ttl(model)
}

#[test]
fn the_new_logic_keeps_every_invariant_across_ttls() {
    let total = clean(&after_ttl(Model::New), 0..AFTER_TTL_SCHEDULES);
    assert!(
        total.ttl_jumps > 0 && total.keys_reused > 0,
        "days passed and keys were reused: {total:?}"
    );
}

#[test]
fn the_legacy_model_exhibits_each_hole() {
    let holes = [
        Hole::LeaseExpiredUnderSubmit,
        Hole::ReplayAfterTtl,
        Hole::KeyReusedAfterTtl,
        Hole::InDoubtSkipsChecks,
    ];
    let mut first: BTreeMap<Hole, Violation> = BTreeMap::new();
    for config in [SimConfig::legacy(), after_ttl(Model::Legacy)] {
        for seed in 0..300 {
            if let Err(v) = run(seed, &config) {
                first.entry(v.hole).or_insert(v);
            }
            if holes.iter().all(|h| first.contains_key(h)) {
                break;
            }
        }
    }
    for h in holes {
        let v = first
            .get(&h)
            .unwrap_or_else(|| panic!("no schedule of the legacy model exhibits {h:?}"));
        eprintln!(
            "legacy seed {} ({} steps in): {}: {}",
            v.seed,
            v.step,
            h.describe(),
            v.message
        );
    }
}

/// Seeds of the legacy model and the hole each exhibits (`HOOX_SIM_LEGACY=1 simulate 1
/// <seed>` prints the trace). The legacy model does not depend on the engine's `execute`, so
/// these stay put unless the simulation itself changes.
const LEGACY_SEEDS: [(u64, Hole, ViolationKind); 4] = [
    // An unknown submit expires the lease at once; the next attempt looks 2.5 s later, before
    // the order shows, and submits again (Binance takes the id: the first order is filled).
    (
        230,
        Hole::LeaseExpiredUnderSubmit,
        ViolationKind::SecondOrder,
    ),
    // A replay a day later recreates the forgotten row as fresh: no lookup, a second order.
    (2, Hole::ReplayAfterTtl, ViolationKind::SecondOrder),
    // A static key reused after the TTL: the client order id from the key alone collides.
    (
        71,
        Hole::KeyReusedAfterTtl,
        ViolationKind::ClientIdCollision,
    ),
    // An in-doubt attempt skips the exchange-enabled check and submits to a disabled exchange.
    (3, Hole::InDoubtSkipsChecks, ViolationKind::UncheckedOrder),
];

#[test]
fn named_legacy_seeds_exhibit_their_holes() {
    for (seed, hole, kind) in LEGACY_SEEDS {
        let v = run(seed, &SimConfig::legacy()).expect_err("a violation");
        assert_eq!((v.hole, v.kind), (hole, kind), "{v}");
    }
}

#[test]
fn a_seed_is_one_schedule() {
    assert_eq!(run(3, &new_logic()), run(3, &new_logic()));
    let a = run(230, &SimConfig::legacy()).expect_err("a violation");
    let b = run(230, &SimConfig::legacy()).expect_err("a violation");
    assert_eq!(a.trace, b.trace);
    assert!(a.trace.len() > 20 && !a.trace.iter().any(|l| l.contains("diverged")));
}

// ---- Findings of the simulation on the new logic, fixed: each runs the schedules that found
// it and must now find nothing. ----

/// F1 (fixed): a replay in the same millisecond as its letter's row (or on a store clock behind
/// the DLQ worker's) was undone by that letter's redelivered `MarkDead`, and the signal ended as
/// neither an outcome nor a visible dead letter. `Reopen` now names the letter's row time and
/// the reopen counts as after it (`contracts::lifecycle::KeyRecord::reopen`).
#[test]
fn finding_f1_a_replay_in_the_letters_millisecond_stays_open() {
    clean(&new_logic(), 0..400);
}

/// Dead letters outlive their keys, and a signal can have several (duplicates dead-lettered
/// while another delivery completed it): days pass, keys are forgotten and reused, letters pile
/// up and are replayed or discarded.
fn stale_letters() -> SimConfig {
    let mut c = SimConfig::after_ttl(Model::New);
    c.weights.config = 10;
    c.weights.kill_switch = 4;
    c.weights.duplicate = 6;
    c.weights.discard = 5;
    c
}

/// F2 (fixed): a dead letter of a signal that had ended rejected, replayed after the store
/// forgot its key, executed it again. The replay now checks the ledger for any final outcome of
/// that very signal. F3 (fixed): a stale letter or job acted on the record of a new signal
/// under a reused key; the store's calls now name the job's intake time. The profile found each
/// a few times in 10 000 schedules; a long run in release:
/// `cargo test -p engine --release -- --ignored stale_letters`.
#[test]
#[ignore = "a long run; in release"]
fn findings_f2_f3_stale_letters_do_nothing_twice() {
    clean(&stale_letters(), 0..20_000);
}

/// The short form of the same profile, in every test run.
#[test]
fn stale_letters_short() {
    clean(&stale_letters(), 0..300);
}
