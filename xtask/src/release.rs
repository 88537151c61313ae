//! `cargo xtask deploy [--dry-run]`: builds the workers and deploys them with the pinned
//! wrangler. What to create, write and deploy, and in which order, is decided in the library
//! (`xtask::deploy`, tested against a fake wrangler); this runs the real one.

use crate::toolchain::{Result, Tools};
use std::process::{Command, Stdio};
use xtask::deploy::Wrangler;

/// The pinned wrangler, run from the repository root with the account of the environment
/// (`wrangler login`, or `CLOUDFLARE_API_TOKEN` and `CLOUDFLARE_ACCOUNT_ID`).
struct Cli<'a>(&'a Tools);

impl Wrangler for Cli<'_> {
    fn run(&mut self, args: &[&str]) -> std::result::Result<String, String> {
        let out = Command::new(&self.0.node)
            .arg(&self.0.wrangler_js)
            .args(args)
            .current_dir(&self.0.root)
            .env("PATH", self.0.path_env())
            // No terminal: wrangler takes its non-interactive defaults instead of prompting.
            .stdin(Stdio::null())
            .env("FORCE_COLOR", "0")
            .output()
            .map_err(|e| format!("could not start wrangler: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            return Ok(stdout);
        }
        // The end of what it printed holds its reason.
        let all = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
        let lines: Vec<&str> = all.lines().filter(|l| !l.trim().is_empty()).collect();
        Err(lines[lines.len().saturating_sub(25)..].join("\n"))
    }
}

pub fn deploy(tools: &Tools, dry_run: bool) -> Result<()> {
    if !dry_run {
        crate::local::build(tools)?;
    }
    xtask::deploy::run(
        &tools.root,
        &mut Cli(tools),
        dry_run,
        &mut std::io::stdout(),
    )
    .map(drop)
    .map_err(|e| e.to_string())
}
