//! `cargo xtask`: hoox's development automation, in Rust rather than scattered shell.
//!
//! - `bootstrap`: installs the pinned toolchain (idempotent; a second run touches no network).
//! - `build`: builds every worker to wasm with worker-build and prints gzipped sizes.
//! - `dev`: runs every worker locally in one `wrangler dev` (local KV, D1, R2, Queues, DOs).
//! - `test`: fmt, clippy, native tests, wasm builds, then the integration suite.

mod local;
mod toolchain;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("bootstrap") => toolchain::bootstrap().map(drop),
        Some("build") => toolchain::bootstrap().and_then(|t| local::build(&t)),
        Some("dev") => local::dev(),
        Some("test") => local::test(),
        _ => {
            eprintln!("usage: cargo xtask <bootstrap|build|dev|test>");
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
