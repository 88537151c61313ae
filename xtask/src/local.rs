//! Building the workers, running them locally, and the full test sequence.

use crate::toolchain::{bootstrap, run, Result, Tools};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Worker crates in deploy order's reverse (dependencies first), with their config.
pub const WORKERS: [(&str, &str); 5] = [
    ("telegram", "telegram/wrangler.jsonc"),
    ("d1-worker", "d1-worker/wrangler.jsonc"),
    ("dlq", "dlq/wrangler.jsonc"),
    ("consumers", "consumers/wrangler.jsonc"),
    ("gateway", "wrangler.jsonc"),
];
/// Config files for one local `wrangler dev`; the first is the primary (the public gateway).
pub const DEV_CONFIGS: [&str; 5] = [
    "wrangler.jsonc",
    "consumers/wrangler.jsonc",
    "dlq/wrangler.jsonc",
    "telegram/wrangler.jsonc",
    "d1-worker/wrangler.jsonc",
];
const DEV_PORT: u16 = 8787;
const FUZZ_SECONDS_IN_TEST: u32 = 15;
const SECRETS: [&str; 4] = [
    "WEBHOOK_API_KEY",
    "INTERNAL_KEY_BINDING",
    // The bot token is a local placeholder (alerts go nowhere until a real one is set and
    // `telegram:allowed_chat_ids` lists a chat); the webhook secret token is random.
    "TG_BOT_TOKEN_BINDING",
    "TELEGRAM_SECRET_TOKEN",
];

/// Directories (and files) a worker build reads: every crate the workers link, the workspace
/// manifest and lockfile. Tests, the CLI, xtask and fuzz targets are not linked into a worker.
const BUILD_INPUTS: [&str; 13] = [
    "Cargo.toml",
    "Cargo.lock",
    "contracts",
    "engine",
    "exchanges",
    "runtime",
    "ops",
    "alerts",
    "gateway",
    "consumers",
    "dlq",
    "telegram",
    "d1-worker",
];

/// A fingerprint of every build input's path and content (`build/` and `target/` excluded)
/// and of `extra` (tools, compiler, flags): equal fingerprints mean worker-build would
/// produce the same output.
fn source_fingerprint(root: &Path, extra: &[String]) -> u64 {
    use std::hash::{Hash, Hasher};
    fn walk(path: &Path, out: &mut Vec<std::path::PathBuf>) {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if matches!(name, "build" | "target" | "node_modules") {
                return;
            }
            for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
                walk(&entry.path(), out);
            }
        } else {
            out.push(path.to_path_buf());
        }
    }
    let mut files = Vec::new();
    for input in BUILD_INPUTS {
        walk(&root.join(input), &mut files);
    }
    files.sort();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    crate::toolchain::WORKER_BUILD_VERSION.hash(&mut h);
    extra.hash(&mut h);
    for f in files {
        f.strip_prefix(root).unwrap_or(&f).hash(&mut h);
        std::fs::read(&f).unwrap_or_default().hash(&mut h);
    }
    h.finish()
}

pub fn build(tools: &Tools) -> Result<()> {
    // The compiler and flags count too: a new rustc or RUSTFLAGS rebuilds everything.
    let rustc = Command::new("rustc")
        .arg("-vV")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let flags = std::env::var("RUSTFLAGS").unwrap_or_default();
    let fingerprint = format!(
        "{:x}",
        source_fingerprint(
            &tools.root,
            &[
                tools.wasm_bindgen.display().to_string(),
                tools.esbuild.display().to_string(),
                tools.wasm_opt.display().to_string(),
                rustc,
                flags,
            ],
        )
    );
    // The stamp also names the wasm it was written for, so a build made outside xtask (by
    // hand, from other sources) is never taken for an up-to-date one.
    let output_id = |krate: &str| {
        find_wasm(&tools.root.join(krate).join("build"))
            .and_then(|w| std::fs::metadata(w).ok())
            .and_then(|m| Some(format!("{}-{:?}", m.len(), m.modified().ok()?)))
    };
    for (krate, _) in WORKERS {
        let stamp = tools
            .root
            .join(krate)
            .join("build")
            .join(".source-fingerprint");
        let current = output_id(krate).map(|id| format!("{fingerprint} {id}"));
        if current.is_some() && std::fs::read_to_string(&stamp).ok() == current {
            eprintln!("==> {krate}: up to date (no build input changed since its last build)");
            continue;
        }
        eprintln!("==> building {krate} (worker-build --release)");
        let started = Instant::now();
        run(
            Command::new(&tools.worker_build)
                .arg("--release")
                .current_dir(tools.root.join(krate))
                .env("PATH", tools.path_env())
                .env("WASM_BINDGEN_BIN", &tools.wasm_bindgen)
                .env("ESBUILD_BIN", &tools.esbuild)
                .env("WASM_OPT_BIN", &tools.wasm_opt),
            &format!("worker-build {krate}"),
        )?;
        let wasm = find_wasm(&tools.root.join(krate).join("build"))
            .ok_or_else(|| format!("{krate}: no .wasm in build/"))?;
        let bytes = std::fs::read(&wasm).map_err(|e| e.to_string())?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&bytes).map_err(|e| e.to_string())?;
        let gz = gz.finish().map_err(|e| e.to_string())?;
        eprintln!(
            "    {krate}: {} KiB wasm, {} KiB gzipped, built in {:.0?}",
            bytes.len() / 1024,
            gz.len() / 1024,
            started.elapsed()
        );
        let id = output_id(krate).unwrap_or_default();
        std::fs::write(&stamp, format!("{fingerprint} {id}"))
            .map_err(|e| format!("{}: {e}", stamp.display()))?;
    }
    Ok(())
}

fn find_wasm(dir: &Path) -> Option<std::path::PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let p = entry.path();
        if p.is_dir() {
            if let Some(found) = find_wasm(&p) {
                return Some(found);
            }
        } else if p.extension().is_some_and(|e| e == "wasm") {
            return Some(p);
        }
    }
    None
}

/// Reads `.dev.vars` at the root, generating local secrets the first time. Every worker reads the
/// same values (`.dev.vars` beside each config). Returns (values, newly generated).
pub fn ensure_dev_vars(root: &Path) -> Result<(Vec<(String, String)>, bool)> {
    let main = root.join(".dev.vars");
    let mut generated = false;
    let text = match std::fs::read_to_string(&main) {
        // A `.dev.vars` from before a secret was added gets the missing ones appended.
        Ok(mut t) => {
            for name in SECRETS {
                if !t
                    .lines()
                    .any(|l| l.trim_start().starts_with(&format!("{name}=")))
                {
                    if !t.ends_with('\n') {
                        t.push('\n');
                    }
                    t.push_str(&format!("{name}={}\n", random_hex(24)?));
                    std::fs::write(&main, &t).map_err(|e| format!(".dev.vars: {e}"))?;
                }
            }
            t
        }
        Err(_) => {
            generated = true;
            let mut out =
                String::from("# Local secrets for `cargo xtask dev` (generated; never commit).\n");
            for name in SECRETS {
                out.push_str(&format!("{name}={}\n", random_hex(24)?));
            }
            out
        }
    };
    for (_, config) in WORKERS {
        let dir = root
            .join(config)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        std::fs::write(dir.join(".dev.vars"), &text).map_err(|e| format!(".dev.vars: {e}"))?;
    }
    let values = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Ok((values, generated))
}

fn random_hex(n: usize) -> Result<String> {
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| format!("/dev/urandom: {e}"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// `wrangler d1 migrations apply` against a local state directory.
pub fn apply_migrations(tools: &Tools, persist: &Path) -> Result<()> {
    let persist = persist.to_string_lossy();
    run(
        tools
            .wrangler(&[
                "d1",
                "migrations",
                "apply",
                "trade-data-db",
                "--local",
                "--persist-to",
                &persist,
                "-c",
                "consumers/wrangler.jsonc",
            ])
            .env("CI", "true"),
        "d1 migrations apply",
    )
}

/// A minimal HTTP/1.1 request to 127.0.0.1 (no client dependency for two calls).
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).map_err(|e| e.to_string())?;
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or("no HTTP status")?;
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

pub fn dev() -> Result<()> {
    let tools = bootstrap()?;
    build(&tools)?;
    let root = &tools.root;
    let (vars, generated) = ensure_dev_vars(root)?;
    let secret = |k: &str| {
        vars.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    if generated {
        eprintln!("==> generated local secrets in .dev.vars (git-ignored):");
        for name in SECRETS {
            eprintln!("    {name}={}", secret(name));
        }
    }
    let persist = root.join(".state");
    apply_migrations(&tools, &persist)?;
    let persist_s = persist.to_string_lossy().into_owned();
    let port = DEV_PORT.to_string();
    let mut args = vec!["dev"];
    for c in DEV_CONFIGS {
        args.extend(["-c", c]);
    }
    args.extend([
        "--ip",
        "127.0.0.1",
        "--port",
        &port,
        "--persist-to",
        &persist_s,
        "--show-interactive-dev-session=false",
    ]);
    eprintln!("==> starting every worker in one wrangler dev on http://127.0.0.1:{DEV_PORT}");
    let mut child = tools
        .wrangler(&args)
        .spawn()
        .map_err(|e| format!("wrangler dev: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok((200, _)) = http(DEV_PORT, "GET", "/health", &[], "") {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("wrangler dev exited: {status}"));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err("hoox did not become healthy within 120 s".into());
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let key = secret("INTERNAL_KEY_BINDING");
    match http(
        DEV_PORT,
        "POST",
        "/admin/config/apply-manifest",
        &[("X-Internal-Auth-Key", &key)],
        "",
    ) {
        Ok((200, body)) => eprintln!("==> CONFIG_KV manifest applied (missing keys only): {body}"),
        Ok((status, body)) => eprintln!("!! manifest not applied: {status} {body}"),
        Err(e) => eprintln!("!! manifest not applied: {e}"),
    }
    let api_key = secret("WEBHOOK_API_KEY");
    println!(
        "\nhoox is running (paper trading). Place a paper trade:\n\n  curl -sS -X POST http://127.0.0.1:{DEV_PORT}/webhook \\\n    -H 'content-type: application/json' \\\n    -d '{{\"apiKey\":\"{api_key}\",\"exchange\":\"paper\",\"action\":\"LONG\",\"symbol\":\"BTCUSDT\",\"quantity\":0.001,\"price\":65000}}'\n\nThen see it in the ledger:\n\n  cargo run -q -p cli --bin hoox -- trades tail\n\nCtrl-C stops every worker.\n"
    );
    let status = child.wait().map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("wrangler dev: {status}"))
    }
}

pub fn test() -> Result<()> {
    let tools = bootstrap()?;
    let root = &tools.root;
    let cargo =
        |args: &[&str], what: &str| run(Command::new("cargo").args(args).current_dir(root), what);
    let started = Instant::now();
    cargo(&["fmt", "--all", "--check"], "cargo fmt --check")?;
    cargo(
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        "cargo clippy",
    )?;
    cargo(
        &[
            "clippy",
            "--target",
            "wasm32-unknown-unknown",
            "-p",
            "gateway",
            "-p",
            "consumers",
            "-p",
            "dlq",
            "-p",
            "runtime",
            "-p",
            "telegram",
            "-p",
            "d1-worker",
            "--",
            "-D",
            "warnings",
        ],
        "cargo clippy (wasm32)",
    )?;
    let mut totals = Counts::default();
    totals += counted(
        Command::new("cargo")
            .args(["test", "--workspace", "--exclude", "integration"])
            .current_dir(root),
        "native tests",
    )?;
    // Coverage-guided fuzzing of every parser of untrusted input, bounded in time.
    crate::fuzz::fuzz(FUZZ_SECONDS_IN_TEST)?;
    build(&tools)?;
    ensure_dev_vars(root)?;
    // The operators suite drives the `hoox` CLI binary.
    cargo(
        &["build", "-p", "cli", "--bin", "hoox"],
        "build the hoox CLI",
    )?;
    totals += counted(
        Command::new("cargo")
            .args(["test", "-p", "integration", "--", "--test-threads=1"])
            .current_dir(root)
            .env("HOOX_NODE", &tools.node)
            .env("HOOX_WRANGLER_JS", &tools.wrangler_js),
        "integration tests",
    )?;
    eprintln!("==> all checks passed in {:.0?}", started.elapsed());
    println!("tests: {} passed, {} failed", totals.passed, totals.failed);
    Ok(())
}

#[derive(Default)]
struct Counts {
    passed: u64,
    failed: u64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Self) {
        self.passed += o.passed;
        self.failed += o.failed;
    }
}

/// The number before `word` in a `test result:` line (`ok. 31 passed; 0 failed; ...`).
fn count_of(result_line: &str, word: &str) -> u64 {
    result_line
        .split(';')
        .filter_map(|part| {
            let part = part.trim();
            let part = part.rsplit(". ").next().unwrap_or(part);
            part.strip_suffix(word)
        })
        .find_map(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Runs a test command, echoing its output and adding up its `test result:` lines.
fn counted(cmd: &mut Command, what: &str) -> Result<Counts> {
    use std::io::BufRead;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("{what}: could not start: {e}"))?;
    let mut counts = Counts::default();
    if let Some(out) = child.stdout.take() {
        for line in std::io::BufReader::new(out)
            .lines()
            .map_while(std::result::Result::ok)
        {
            println!("{line}");
            if let Some(rest) = line.strip_prefix("test result: ") {
                counts.passed += count_of(rest, " passed");
                counts.failed += count_of(rest, " failed");
            }
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if status.success() {
        Ok(counts)
    } else {
        Err(format!("{what}: {status}"))
    }
}

pub fn bench(args: &[String]) -> Result<()> {
    let tools = bootstrap()?;
    build(&tools)?;
    ensure_dev_vars(&tools.root)?;
    let mut cmd = Command::new("cargo");
    cmd.args([
        "run",
        "--release",
        "-q",
        "-p",
        "integration",
        "--bin",
        "bench",
        "--",
    ])
    .args(args)
    .current_dir(&tools.root)
    .env("HOOX_NODE", &tools.node)
    .env("HOOX_WRANGLER_JS", &tools.wrangler_js);
    run(&mut cmd, "benchmark")
}

/// The long chaos run: the execution suite's chaos scenario with `signals` signals.
pub fn chaos(signals: u32) -> Result<()> {
    let tools = bootstrap()?;
    build(&tools)?;
    ensure_dev_vars(&tools.root)?;
    run(
        Command::new("cargo")
            .args([
                "test",
                "--release",
                "-p",
                "integration",
                "--test",
                "execution",
                "--",
                "chaos",
            ])
            .current_dir(&tools.root)
            .env("CHAOS_SIGNALS", signals.to_string())
            .env("HOOX_NODE", &tools.node)
            .env("HOOX_WRANGLER_JS", &tools.wrangler_js),
        "chaos run",
    )
}

/// `cargo xtask simulate [schedules] [first seed]`: the deterministic simulation of the
/// exactly-once protocol (`engine::sim`), natively and in release mode; it prints schedules/s
/// and the first failing seed, which replays with the same arguments.
pub fn simulate(args: &[String]) -> Result<()> {
    let root = crate::toolchain::root();
    let mut cmd = Command::new("cargo");
    cmd.args([
        "run",
        "--release",
        "-q",
        "-p",
        "engine",
        "--bin",
        "simulate",
        "--",
    ])
    .args(args)
    .current_dir(root);
    run(&mut cmd, "simulation")
}

#[cfg(test)]
mod tests {
    use super::{count_of, source_fingerprint};

    #[test]
    fn the_fingerprint_follows_every_build_input() {
        let root = std::env::temp_dir().join(format!("hoox-fp-{}", std::process::id()));
        let src = root.join("runtime/src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::create_dir_all(root.join("gateway/build")).unwrap();
        std::fs::write(root.join("Cargo.lock"), "lock").unwrap();
        std::fs::write(src.join("lib.rs"), "fn a() {}").unwrap();
        let tools = ["/bin/wasm-opt".to_owned()];
        let first = source_fingerprint(&root, &tools);
        assert_eq!(first, source_fingerprint(&root, &tools), "stable");
        // Build output does not count; a source edit, a lockfile edit and another tool do.
        std::fs::write(root.join("gateway/build/index.js"), "out").unwrap();
        assert_eq!(first, source_fingerprint(&root, &tools));
        std::fs::write(src.join("lib.rs"), "fn b() {}").unwrap();
        let edited = source_fingerprint(&root, &tools);
        assert_ne!(first, edited);
        std::fs::write(root.join("Cargo.lock"), "lock 2").unwrap();
        assert_ne!(edited, source_fingerprint(&root, &tools));
        let other = ["/other/wasm-opt".to_owned()];
        assert_ne!(
            source_fingerprint(&root, &tools),
            source_fingerprint(&root, &other)
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn reads_cargo_and_harness_summaries() {
        let cargo =
            "ok. 31 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.15s";
        assert_eq!(
            (count_of(cargo, " passed"), count_of(cargo, " failed")),
            (31, 0)
        );
        let harness = "FAILED. 5 passed; 3 failed; 0 ignored";
        assert_eq!(
            (count_of(harness, " passed"), count_of(harness, " failed")),
            (5, 3)
        );
    }
}
