//! `cargo xtask`: hoox's development automation, in Rust rather than scattered shell.
//!
//! - `bootstrap`: installs the pinned toolchain (idempotent; a second run touches no network).
//! - `build`: builds every worker to wasm with worker-build and prints gzipped sizes.
//! - `dev`: runs every worker locally in one `wrangler dev` (local KV, D1, R2, Queues, DOs).
//! - `test`: fmt, clippy, native tests, fuzzing (bounded), wasm builds, integration suites.
//! - `bench [ingest|ingest-full|e2e|latency|dashboard|cost|cold] [seconds|signals] [rounds]`: load figures on the
//!   local runtime; `cost` the billed operations per signal and a million signals' price, `cold`
//!   the first signal's latency and the workers' wasm sizes.
//! - `chaos [signals]`: the long chaos run (default 10 000 signals) with its figures.
//! - `simulate [schedules] [seed]`: the deterministic simulation of exactly-once, at length.
//! - `fuzz [seconds]`: runs every libFuzzer target for a bounded time.
//! - `deploy [--dry-run]`: creates what the account lacks and deploys every worker (SPEC §7).

mod fuzz;
mod local;
mod release;
mod toolchain;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("bootstrap") => toolchain::bootstrap().map(drop),
        Some("build") => toolchain::bootstrap().and_then(|t| local::build(&t)),
        Some("dev") => local::dev(),
        Some("test") => local::test(),
        Some("bench") => local::bench(&args[1..]),
        Some("chaos") => local::chaos(args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10_000)),
        Some("simulate") => local::simulate(&args[1..]),
        Some("fuzz") => fuzz::fuzz(args.get(1).and_then(|s| s.parse().ok()).unwrap_or(30)),
        Some("deploy") => toolchain::bootstrap()
            .and_then(|t| release::deploy(&t, args.iter().any(|a| a == "--dry-run"))),
        _ => {
            eprintln!("usage: cargo xtask <bootstrap|build|dev|test|bench [ingest|ingest-full|e2e|latency|dashboard|cost|cold] [seconds|signals] [rounds]|chaos [signals]|simulate [schedules] [seed]|fuzz [seconds]|deploy [--dry-run]>");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
