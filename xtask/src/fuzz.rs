//! `cargo xtask fuzz [seconds]`: builds the libFuzzer targets in `fuzz/` on the stable toolchain
//! (the SanitizerCoverage instrumentation cargo-fuzz would add, as plain codegen flags) and runs
//! each for a bounded time. A crash fails the command and leaves its input in
//! `fuzz/artifacts/<target>/`.

use crate::toolchain::{root, run, Result};
use std::process::Command;

const HOST: &str = "x86_64-unknown-linux-gnu";

pub const TARGETS: [&str; 4] = [
    "webhook_body",
    "webhook_signature",
    "queue_envelope",
    "email_message",
];

const INSTRUMENT: &str = "-Cpasses=sancov-module \
    -Cllvm-args=-sanitizer-coverage-level=4 \
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
    -Cllvm-args=-sanitizer-coverage-pc-table \
    -Cllvm-args=-sanitizer-coverage-trace-compares \
    --cfg fuzzing -Cdebug-assertions -Coverflow-checks";

pub fn fuzz(seconds: u32) -> Result<()> {
    let dir = root().join("fuzz");
    eprintln!("==> building fuzz targets (libFuzzer, SanitizerCoverage)");
    run(
        Command::new("cargo")
            // An explicit target keeps RUSTFLAGS off build scripts and proc macros.
            .args(["build", "--release", "--bins", "--target", HOST])
            .current_dir(&dir)
            .env("RUSTFLAGS", INSTRUMENT),
        "fuzz build",
    )?;
    for target in TARGETS {
        let corpus = dir.join("corpus").join(target);
        let artifacts = dir.join("artifacts").join(target);
        std::fs::create_dir_all(&corpus).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(&artifacts).map_err(|e| e.to_string())?;
        let seeds = dir.join("corpus_seed").join(target);
        if let Ok(entries) = std::fs::read_dir(&seeds) {
            for e in entries.flatten() {
                let _ = std::fs::copy(e.path(), corpus.join(e.file_name()));
            }
        }
        eprintln!("==> fuzzing {target} for {seconds} s");
        run(
            Command::new(dir.join("target").join(HOST).join("release").join(target))
                .arg(&corpus)
                .arg(format!("-max_total_time={seconds}"))
                .arg(format!("-artifact_prefix={}/", artifacts.display()))
                .arg("-max_len=8192")
                .arg("-print_final_stats=1"),
            &format!("fuzz {target}"),
        )?;
    }
    Ok(())
}
