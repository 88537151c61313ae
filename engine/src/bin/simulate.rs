//! `simulate <schedules> [first-seed]`: runs that many seeded schedules of the deterministic
//! simulation (`engine::sim`) and prints schedules/s, steps explored and the first failing
//! seed with its trace; exits non-zero on a violation. `simulate 1 <seed>` replays one.
//! (The wall clock here only measures the run; the simulation has none.)
//!
//! Environment:
//! - `HOOX_SIM_LEGACY=1`: the model of the old logic instead of the new one.
//! - `HOOX_SIM_PROFILE=ttl`: schedules that spend their time past the keys' TTL.
//! - `HOOX_SIM_SURVEY=1`: go on past violations and count them by kind and hole.
//! - `HOOX_SIM_WEIGHTS=name=value,...`: override step weights (`engine::sim::Weights`).
//! - `HOOX_SIM_VISIBILITY_LAG_MS`, `HOOX_SIM_DLQ_ACTION_MS`, `HOOX_SIM_DLQ_CHECKS=1`: single
//!   knobs of `SimConfig`.

use engine::sim::{run, Model, SimConfig, Stats};
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
    let model = if legacy { Model::Legacy } else { Model::New };
    // HOOX_SIM_PROFILE=ttl: schedules that spend their time past the keys' TTL.
    let mut config = match std::env::var("HOOX_SIM_PROFILE").as_deref() {
        Ok("ttl") => SimConfig::after_ttl(model),
        _ if legacy => SimConfig::legacy(),
        _ => SimConfig::new_logic(),
    };
    if let Ok(v) = std::env::var("HOOX_SIM_DLQ_ACTION_MS") {
        config.dlq_action_ms = v.parse().unwrap_or(0);
    }
    if std::env::var("HOOX_SIM_NO_STALE_LETTERS").is_ok() {
        config.stale_letters = false;
    }
    if let Ok(v) = std::env::var("HOOX_SIM_VISIBILITY_LAG_MS") {
        config.max_visibility_lag_ms = v.parse().unwrap_or(config.max_visibility_lag_ms);
    }
    if std::env::var("HOOX_SIM_DLQ_CHECKS").is_ok() {
        config.dlq_checks_letters = true;
    }
    // HOOX_SIM_WEIGHTS=crash=10,ttl_jump=5: override step weights.
    if let Ok(list) = std::env::var("HOOX_SIM_WEIGHTS") {
        for pair in list.split(',').filter(|p| !p.is_empty()) {
            let Some((name, value)) = pair.split_once('=') else {
                eprintln!("HOOX_SIM_WEIGHTS: expected name=value, got {pair}");
                return ExitCode::from(2);
            };
            let Some(slot) = weight(&mut config.weights, name.trim()) else {
                eprintln!("HOOX_SIM_WEIGHTS: no weight named {name}");
                return ExitCode::from(2);
            };
            match value.trim().parse() {
                Ok(v) => *slot = v,
                Err(_) => {
                    eprintln!("HOOX_SIM_WEIGHTS: not a number: {value}");
                    return ExitCode::from(2);
                }
            }
        }
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

/// The weight called `name`.
fn weight<'a>(w: &'a mut engine::sim::Weights, name: &str) -> Option<&'a mut u32> {
    Some(match name {
        "deliver" => &mut w.deliver,
        "respond" => &mut w.respond,
        "lose_answer" => &mut w.lose_answer,
        "fail" => &mut w.fail,
        "time_out" => &mut w.time_out,
        "drop" => &mut w.drop,
        "tick" => &mut w.tick,
        "jump" => &mut w.jump,
        "ttl_jump" => &mut w.ttl_jump,
        "start" => &mut w.start,
        "crash" => &mut w.crash,
        "duplicate" => &mut w.duplicate,
        "kill_switch" => &mut w.kill_switch,
        "config" => &mut w.config,
        "dlq_record" => &mut w.dlq_record,
        "dlq_redeliver" => &mut w.dlq_redeliver,
        "replay" => &mut w.replay,
        "discard" => &mut w.discard,
        "expire" => &mut w.expire,
        "new_signal" => &mut w.new_signal,
        "fill" => &mut w.fill,
        _ => return None,
    })
}
