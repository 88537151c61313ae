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

/// The new logic with mitigations of the three findings (`finding_*` below): a DLQ or operator
/// action never shares a millisecond with the previous one, the DLQ worker neither replays a
/// letter whose signal already ended nor touches a record a later signal holds, and a claim
/// from another signal's job is answered `Unknown`.
fn mitigated() -> SimConfig {
    SimConfig {
        dlq_action_ms: 1,
        dlq_checks_letters: true,
        ..SimConfig::new_logic()
    }
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

/// The first violation among `seeds` that `pred` accepts.
fn hunt(
    config: &SimConfig,
    seeds: std::ops::Range<u64>,
    pred: impl Fn(&Violation) -> bool,
) -> Option<Violation> {
    seeds.filter_map(|s| run(s, config).err()).find(pred)
}

#[test]
fn the_new_logic_keeps_every_invariant_first_half() {
    let total = clean(&mitigated(), 0..NEW_LOGIC_SCHEDULES / 2);
    assert!(
        total.orders > 0 && total.crashes > 0 && total.replays > 0,
        "{total:?}"
    );
}

#[test]
fn the_new_logic_keeps_every_invariant_second_half() {
    let total = clean(&mitigated(), NEW_LOGIC_SCHEDULES / 2..NEW_LOGIC_SCHEDULES);
    assert!(
        total.orders > 0 && total.filled > 0 && total.rejected > 0,
        "{total:?}"
    );
}

/// Days pass, keys are forgotten, replayed and reused: the paths of holes 2 and 4.
fn after_ttl(model: Model) -> SimConfig {
    match model {
        Model::New => SimConfig::after_ttl(model).with_mitigations(),
        Model::Legacy => SimConfig::after_ttl(model),
    }
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
    assert_eq!(run(3, &mitigated()), run(3, &mitigated()));
    let a = run(230, &SimConfig::legacy()).expect_err("a violation");
    let b = run(230, &SimConfig::legacy()).expect_err("a violation");
    assert_eq!(a.trace, b.trace);
    assert!(a.trace.len() > 20 && !a.trace.iter().any(|l| l.contains("diverged")));
}

// ---- Findings on the new logic: each test reproduces one, so it fails once it is fixed
// (then replace it by a `clean` run of the faithful config). ----

/// F1: `KeyRecord::mark_dead` ignores a redelivered `MarkDead` only if the key was reopened
/// strictly after the letter's row was written (`reopened_at_ms > recorded_at_ms`). A replay in
/// the same millisecond as the row (or on a store clock behind the DLQ worker's) is undone by
/// the redelivered `MarkDead`: the replayed job then finds the key dead and is acked, and the
/// signal ends as neither an outcome nor a visible dead letter.
#[test]
fn finding_f1_a_replay_in_the_letters_millisecond_is_undone() {
    let v = hunt(&SimConfig::new_logic(), 0..400, |v| {
        v.kind == ViolationKind::NotEnded && v.hole == Hole::Other
    })
    .expect("F1 reproduced");
    assert!(v.message.contains(": dead"), "{v}");
}

/// Dead letters outlive their keys, are named by key only, and a signal can have several
/// (duplicates dead-lettered while another delivery completed it): days pass, keys are
/// forgotten and reused, letters pile up and are replayed or discarded.
fn stale_letters() -> SimConfig {
    let mut c = SimConfig {
        dlq_action_ms: 1,
        ..SimConfig::after_ttl(Model::New)
    };
    c.weights.config = 10;
    c.weights.kill_switch = 4;
    c.weights.duplicate = 6;
    c.weights.discard = 5;
    c
}

/// F2: a dead letter of a signal that already ended, replayed after the store forgot its key,
/// executes the signal again: the key comes back in doubt, the lookup finds nothing (the
/// signal had been rejected), and the replay submits — an order for a signal the ledger
/// records as rejected. Rare (about 4 schedules in 10 000 of this profile), so not in the
/// default run: `cargo test -p engine --release -- --ignored finding_f2`.
#[test]
#[ignore = "a long hunt; run in release"]
fn finding_f2_a_stale_letter_of_an_ended_signal_executes_it_again() {
    let v = hunt(&stale_letters(), 0..20_000, |v| {
        v.kind == ViolationKind::LedgerMismatch && v.hole == Hole::ReplayAfterTtl
    })
    .expect("F2 reproduced");
    assert!(v.message.contains("rejected"), "{v}");
}

/// F3: a dead letter of a signal whose key was forgotten and then reused by a new signal acts
/// on the new signal's record (`MarkDead`, `Reopen`, `Resolve` and the claim are all by key
/// only): the old job runs on the new record, or its letter kills or absorbs it, and one of the
/// two signals never ends visibly (or ends twice). About 14 schedules in 10 000 of this
/// profile: `cargo test -p engine --release -- --ignored finding_f3`.
#[test]
#[ignore = "a long hunt; run in release"]
fn finding_f3_a_stale_letter_acts_on_the_record_of_a_reused_key() {
    let v = hunt(&stale_letters(), 0..20_000, |v| {
        v.hole == Hole::KeyReusedAfterTtl
    })
    .expect("F3 reproduced");
    assert!(matches!(
        v.kind,
        ViolationKind::NotEnded | ViolationKind::LedgerMismatch | ViolationKind::SecondOrder
    ));
}
