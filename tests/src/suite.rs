//! The integration suites as libtest trials (`libtest-mimic`): each scenario is one trial, so a
//! suite takes libtest's own arguments (`cargo test -p integration --test gateway -- <filter>`,
//! `--exact`, `--skip`, `--list`, `--test-threads`) and prints its summary line
//! (`test result: ok. N passed; ...`, which `cargo xtask test` counts).
//!
//! The scenarios of a suite share one running hoox, started only when a scenario is selected,
//! and run one at a time unless `--test-threads` says otherwise: some build on earlier ones
//! (a position, a config value), and others measure quotas a neighbour would spend. Each starts
//! once the config written before it is in force ([`Hoox::config_visible`]), so no scenario
//! ends with a sleep for the next one's sake.

use crate::Hoox;
use libtest_mimic::{Arguments, Conclusion, Failed, Trial};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub type Scenario = for<'a> fn(&'a Hoox) -> Pin<Box<dyn Future<Output = ()> + 'a>>;

/// The suite's command line, one test thread unless `--test-threads` is given.
pub fn suite_args() -> Arguments {
    let mut args = Arguments::from_args();
    if args.test_threads.is_none() {
        args.test_threads = Some(1);
    }
    args
}

/// Whether libtest's filters (`<filter>`, `--exact`, `--skip`, `--ignored`) select `name`.
pub fn selected(args: &Arguments, name: &str) -> bool {
    let matches = |f: &str| {
        if args.exact {
            name == f
        } else {
            name.contains(f)
        }
    };
    !args.list
        && !args.ignored
        && args.filter.as_deref().is_none_or(matches)
        && !args.skip.iter().any(|s| matches(s))
}

/// Runs `scenarios` as trials against the hoox `start` brings up (not started when none is
/// selected); after a failure the wrangler log's last `tail` lines go to stderr. The instance is
/// stopped before this returns.
pub fn run_suite(
    args: &Arguments,
    start: impl FnOnce() -> Hoox,
    scenarios: &[(&str, Scenario)],
    tail: usize,
) -> Conclusion {
    if !scenarios.iter().any(|(name, _)| selected(args, name)) {
        let trials = scenarios
            .iter()
            .map(|(name, _)| Trial::test(*name, || Ok(())))
            .collect();
        return libtest_mimic::run(args, trials);
    }
    let hoox = Arc::new(start());
    let rt = Arc::new(tokio::runtime::Runtime::new().expect("tokio runtime"));
    let trials = scenarios
        .iter()
        .map(|&(name, scenario)| {
            let (hoox, rt) = (Arc::clone(&hoox), Arc::clone(&rt));
            Trial::test(name, move || {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    rt.block_on(async {
                        // Each scenario starts with the config its predecessors wrote in force.
                        hoox.config_visible().await;
                        scenario(&hoox).await
                    })
                }))
                .map_err(|panic| Failed::from(panic_message(&panic)))
            })
        })
        .collect();
    let conclusion = libtest_mimic::run(args, trials);
    if conclusion.has_failed() {
        eprintln!("--- wrangler log (tail) ---\n{}", hoox.log_tail(tail));
    }
    drop(rt);
    // Every trial has run and dropped its handle: this stops the workers.
    drop(hoox);
    conclusion
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "the scenario panicked".into())
}

/// Exits with libtest's status for the suite's runs together (101 if any failed).
pub fn exit(conclusions: &[Conclusion]) -> ! {
    std::process::exit(if conclusions.iter().any(Conclusion::has_failed) {
        101
    } else {
        0
    })
}
