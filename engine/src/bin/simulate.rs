//! `simulate <schedules> [first-seed]`: runs that many seeded schedules of the deterministic
//! simulation (`engine::sim`) and prints schedules/s, steps explored and the first failing
//! seed with its trace; exits non-zero on a violation. `HOOX_SIM_LEGACY=1` runs the model of
//! the old logic instead. (The wall clock here only measures the run; the simulation has none.)

use engine::sim::{run, SimConfig, Stats};
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parse = |i: usize, default: u64| -> Result<u64, String> {
        args.get(i).map_or(Ok(default), |a| {
            a.parse().map_err(|_| format!("not a number: {a}"))
        })
    };
    let (schedules, first) = match (parse(0, 1_000), parse(1, 0)) {
        (Ok(n), Ok(f)) => (n, f),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{e}\nusage: simulate <schedules> [first-seed]   (HOOX_SIM_LEGACY=1: the old logic)");
            return ExitCode::from(2);
        }
    };
    let legacy = std::env::var("HOOX_SIM_LEGACY").is_ok_and(|v| !v.is_empty() && v != "0");
    let config = if legacy {
        SimConfig::legacy()
    } else {
        SimConfig::new_logic()
    };
    let mut config = config;
    if let Ok(v) = std::env::var("HOOX_SIM_DLQ_ACTION_MS") {
        config.dlq_action_ms = v.parse().unwrap_or(0);
    }
    if std::env::var("HOOX_SIM_NO_STALE_LETTERS").is_ok() {
        config.stale_letters = false;
    }
    if std::env::var("HOOX_SIM_DLQ_CHECKS").is_ok() {
        config.dlq_checks_letters = true;
    }
    let started = Instant::now();
    let mut total = Stats::default();
    // HOOX_SIM_SURVEY=1: go on past violations and count them by kind and hole.
    let survey = std::env::var("HOOX_SIM_SURVEY").is_ok_and(|v| !v.is_empty() && v != "0");
    let mut failed = None;
    let mut tally: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    for seed in first..first.saturating_add(schedules) {
        match run(seed, &config) {
            Ok(s) => total.add(&s),
            Err(v) => {
                total.schedules += 1;
                let e = tally
                    .entry(format!("{:?} / {}", v.kind, v.hole.describe()))
                    .or_insert((0, v.seed));
                e.0 += 1;
                failed.get_or_insert(v);
                if !survey {
                    break;
                }
            }
        }
    }
    for (what, (n, seed)) in &tally {
        println!("  {n:>6} × {what} (first seed {seed})");
    }
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    println!(
        "model {}: {} schedules from seed {first} in {secs:.2} s ({:.0} schedules/s), {} steps explored",
        config.model.as_str(),
        total.schedules,
        total.schedules as f64 / secs,
        total.steps
    );
    println!("  {total:?}");
    match failed {
        None => {
            println!("no violation");
            ExitCode::SUCCESS
        }
        Some(v) => {
            println!("first failing seed: {} ({})", v.seed, v.hole.describe());
            println!("{v}");
            ExitCode::FAILURE
        }
    }
}
