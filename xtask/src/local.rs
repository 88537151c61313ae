//! Building the workers, running them locally, and the full test sequence.

use crate::toolchain::{bootstrap, run, Result, Tools};
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const DEV_PORT: u16 = 8787;
const FUZZ_SECONDS_IN_TEST: u32 = 15;

/// Crates every worker links beside its own (the registry lists the workers' own crates), and
/// the workspace manifest and lockfile. Tests, the CLI, xtask and fuzz targets are not linked
/// into a worker.
const SHARED_BUILD_INPUTS: [&str; 13] = [
    "Cargo.toml",
    "Cargo.lock",
    "registry",
    "contracts",
    "email",
    "engine",
    "exchanges",
    "runtime",
    "ops",
    "alerts",
    "report",
    "risk",
    "console",
];

/// The dashboard's chart library, copied from the pinned npm package into its static assets
/// (`dashboard/assets/`, where the two copies are git-ignored).
const DASHBOARD_VENDORED: [&str; 2] = ["uPlot.iife.min.js", "uPlot.min.css"];

/// Copies the vendored assets when missing or changed.
pub fn dashboard_assets(root: &Path) -> Result<()> {
    let from = root.join("tools/node_modules/uplot/dist");
    let to = root.join("dashboard/assets");
    for f in DASHBOARD_VENDORED {
        let src = std::fs::read(from.join(f)).map_err(|e| {
            format!(
                "{}: {e} (run `cargo xtask bootstrap`)",
                from.join(f).display()
            )
        })?;
        if std::fs::read(to.join(f)).ok().as_deref() != Some(src.as_slice()) {
            std::fs::write(to.join(f), &src)
                .map_err(|e| format!("{}: {e}", to.join(f).display()))?;
        }
    }
    Ok(())
}

/// Crates clippy checks for wasm32: every deployable's, and the shared wasm-only edge crate.
fn wasm_packages() -> Vec<&'static str> {
    registry::DEPLOYABLES
        .iter()
        .map(|d| d.krate)
        .chain(["runtime"])
        .collect()
}

/// Every path a worker build reads: the shared inputs and each deployable's crate.
fn build_inputs() -> Vec<&'static str> {
    SHARED_BUILD_INPUTS
        .into_iter()
        .chain(registry::DEPLOYABLES.iter().map(|d| d.krate))
        .collect()
}

/// The build inputs' files: what git tracks under them plus untracked files it does not
/// ignore (a new source file counts before it is added), so generated files (`.dev.vars`
/// beside each config, build output, `.wrangler/` state) never count. Outside a git checkout,
/// a walk that skips those by name.
fn input_files(root: &Path) -> Vec<std::path::PathBuf> {
    let inputs = build_inputs();
    let listed = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
            "--",
        ])
        .args(&inputs)
        .current_dir(root)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success() && !o.stdout.is_empty());
    if let Some(out) = listed {
        let mut files: Vec<_> = out
            .stdout
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| root.join(String::from_utf8_lossy(p).as_ref()))
            // A tracked file deleted in the work tree is not an input any more.
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        files.dedup();
        return files;
    }
    fn walk(path: &Path, out: &mut Vec<std::path::PathBuf>) {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if matches!(name, ".dev.vars" | ".wrangler") || name.starts_with(".deploy-") {
            return;
        }
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
    for input in inputs {
        walk(&root.join(input), &mut files);
    }
    files.sort();
    files
}

/// A fingerprint of every build input's path and content and of `extra` (tools, compiler,
/// flags): equal fingerprints mean worker-build would produce the same output.
fn source_fingerprint(root: &Path, extra: &[String]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    crate::toolchain::WORKER_BUILD_VERSION.hash(&mut h);
    extra.hash(&mut h);
    for f in input_files(root) {
        f.strip_prefix(root).unwrap_or(&f).hash(&mut h);
        std::fs::read(&f).unwrap_or_default().hash(&mut h);
    }
    h.finish()
}

pub fn build(tools: &Tools) -> Result<()> {
    dashboard_assets(&tools.root)?;
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
    for krate in registry::DEPLOYABLES.iter().map(|d| d.krate) {
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

/// Reads `.dev.vars` at the root, generating the local secrets (the registry's
/// [`registry::local_secrets`]) the first time, and copies it beside every worker config for
/// `cargo xtask dev`. Returns (values, newly generated). The integration harness does not use
/// these copies: it writes its own per run with the local secrets only.
pub fn ensure_dev_vars(root: &Path) -> Result<(Vec<(String, String)>, bool)> {
    let main = root.join(".dev.vars");
    let mut generated = false;
    let text = match std::fs::read_to_string(&main) {
        // A `.dev.vars` from before a secret was added gets the missing ones appended.
        Ok(mut t) => {
            for name in registry::local_secrets() {
                if name != registry::DASHBOARD_PASSWORD_HASH
                    && registry::dev_vars::get(&t, name).is_none()
                {
                    if !t.is_empty() && !t.ends_with('\n') {
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
            let values: Vec<(&str, String)> = registry::local_secrets()
                .into_iter()
                .filter(|n| *n != registry::DASHBOARD_PASSWORD_HASH)
                .map(|n| Ok((n, random_hex(24)?)))
                .collect::<Result<_>>()?;
            let pairs: Vec<(&str, &str)> = values.iter().map(|(n, v)| (*n, v.as_str())).collect();
            registry::dev_vars::render(
                "Local secrets for `cargo xtask dev` (generated; never commit).",
                &pairs,
            )
        }
    };
    let text = with_dashboard_password(text)?;
    if std::fs::read_to_string(&main).ok().as_deref() != Some(text.as_str()) {
        std::fs::write(&main, &text).map_err(|e| format!(".dev.vars: {e}"))?;
    }
    for d in registry::DEPLOYABLES {
        let path = root.join(d.config_dir()).join(".dev.vars");
        // Rewritten only when it differs, so a warm run touches nothing.
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            std::fs::write(&path, &text).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok((registry::dev_vars::parse(&text), generated))
}

/// The dashboard's local password (generated once) and its PBKDF2 hash, the secret the
/// dashboard reads; the hash is remade when it does not match the password.
fn with_dashboard_password(mut text: String) -> Result<String> {
    use registry::{dev_vars, DASHBOARD_PASSWORD, DASHBOARD_PASSWORD_HASH};
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    let password = match dev_vars::get(&text, DASHBOARD_PASSWORD) {
        Some(p) => p,
        None => {
            let p = random_hex(16)?;
            text.push_str(&format!("{DASHBOARD_PASSWORD}={p}\n"));
            p
        }
    };
    let current = dev_vars::get(&text, DASHBOARD_PASSWORD_HASH)
        .and_then(|h| console::password::PasswordHash::parse(&h).ok());
    if current.is_some_and(|h| h.verify(&password)) {
        return Ok(text);
    }
    let mut salt = [0u8; console::password::SALT_BYTES];
    getrandom::getrandom(&mut salt).map_err(|e| format!("no OS randomness: {e}"))?;
    let hash = console::password::hash(&password, salt).map_err(|e| e.to_string())?;
    let mut kept: String = text
        .lines()
        .filter(|l| {
            !l.trim_start()
                .starts_with(&format!("{DASHBOARD_PASSWORD_HASH}="))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    kept.push_str(&format!("{DASHBOARD_PASSWORD_HASH}={}\n", hash.to_phc()));
    Ok(kept)
}

fn random_hex(n: usize) -> Result<String> {
    let mut buf = vec![0u8; n];
    getrandom::getrandom(&mut buf).map_err(|e| format!("no OS randomness: {e}"))?;
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

/// One HTTP request to the local `wrangler dev` on 127.0.0.1: (status, body). Any status is an
/// answer, not an error.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<(u16, String)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = ureq::http::Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1:{port}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(body.to_owned()).map_err(|e| e.to_string())?;
    let mut resp = agent.run(req).map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .read_to_string()
        .map_err(|e| e.to_string())?;
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
        for name in registry::local_secrets() {
            eprintln!("    {name}={}", secret(name));
        }
    }
    let persist = root.join(".state");
    apply_migrations(&tools, &persist)?;
    let persist_s = persist.to_string_lossy().into_owned();
    let port = DEV_PORT.to_string();
    let mut args = vec!["dev"];
    for c in registry::dev_configs() {
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
    println!("{}", mail_curl(DEV_PORT, &key));
    println!(
        "\nhoox is running (paper trading). Place a paper trade:\n\n  curl -sS -X POST http://127.0.0.1:{DEV_PORT}/webhook \\\n    -H 'content-type: application/json' \\\n    -d '{{\"apiKey\":\"{api_key}\",\"exchange\":\"paper\",\"action\":\"LONG\",\"symbol\":\"BTCUSDT\",\"quantity\":0.001,\"price\":65000}}'\n\nThen watch it reach the ledger (keys from .dev.vars):\n\n  cargo run -q -p cli --bin hoox -- trades tail\n\nThe dashboard: http://127.0.0.1:{DEV_PORT}/dashboard/ (user operator, password {password}, from .dev.vars)\n\nCtrl-C stops every worker.\n",
        password = secret(registry::DASHBOARD_PASSWORD),
    );
    let status = child.wait().map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("wrangler dev: {status}"))
    }
}

/// The sender the local mail example authorizes, and the mail it sends: a TradingView-style
/// command in the subject, and the `Authentication-Results` Email Routing's MX puts on top of
/// every routed mail (`mx.cloudflare.net`, DMARC pass for the sender's domain).
const DEV_MAIL_SENDER: &str = "alerts@desk.example";
const DEV_MAIL_SUBJECT: &str = "Alert: LONG PAPER:BTCUSDT.P 0.001 65000";
const DEV_MAIL_TEXT: &str = "Your alert BTC breakout was triggered.";
const DEV_MAIL_AUTH: &str =
    "mx.cloudflare.net; dkim=pass header.d=desk.example; dmarc=pass header.from=desk.example";

/// The two `curl`s `cargo xtask dev` prints to place a paper trade by mail: authorize the
/// sender (`email:authorized_senders`), then hand a mail to the email-worker's `email()`
/// handler. wrangler 4.164's raw endpoint (`/cdn-cgi/local/email`, formerly
/// `/cdn-cgi/handler/email`) delivers to the primary worker only, the gateway here, so the
/// mail goes through the Local Explorer's `email/routing/send?worker=`, which composes it
/// (a fresh Message-ID each time: each run is one more trade) and delivers it to the named
/// worker's handler the same way.
fn mail_curl(port: u16, internal_key: &str) -> String {
    let mail = serde_json::json!({
        "from": format!("TradingView alerts <{DEV_MAIL_SENDER}>"),
        "to": ["signals@hoox.local"],
        "subject": DEV_MAIL_SUBJECT,
        "text": DEV_MAIL_TEXT,
        "headers": { "Authentication-Results": DEV_MAIL_AUTH },
    });
    format!(
        "\nPlace a paper trade by mail (the email-worker's Email Routing handler, locally):\n\n  curl -sS -X PUT http://127.0.0.1:{port}/admin/config/email:authorized_senders \\\n    -H 'X-Internal-Auth-Key: {internal_key}' -d '[\"{DEV_MAIL_SENDER}\"]'\n  curl -sS -X POST 'http://127.0.0.1:{port}/cdn-cgi/local/explorer/api/local/email/routing/send?worker=email-worker' \\\n    -H 'content-type: application/json' \\\n    -d '{mail}'\n\n(`\"outcome\":\"ok\"` with no `rejectReason`: accepted; `hoox signals --source email` shows it.)\n"
    )
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
    let wasm_clippy: Vec<&str> = ["clippy", "--target", "wasm32-unknown-unknown"]
        .into_iter()
        .chain(wasm_packages().into_iter().flat_map(|p| ["-p", p]))
        .chain(["--", "-D", "warnings"])
        .collect();
    cargo(&wasm_clippy, "cargo clippy (wasm32)")?;
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
    crate::toolchain::browser_tools()?;
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

    /// The printed mail, as the Local Explorer composes it (its managed headers first, the
    /// custom ones after), is one the email-worker accepts from the sender the first curl
    /// authorizes: a paper LONG with a price (paper fills at the signal's own price).
    #[test]
    fn the_printed_mail_places_a_paper_trade() {
        let text = super::mail_curl(8787, "k");
        assert!(text
            .contains("/cdn-cgi/local/explorer/api/local/email/routing/send?worker=email-worker"));
        let body = text
            .split("-d '")
            .nth(2)
            .and_then(|t| t.split("'\n").next())
            .unwrap_or_default();
        let mail: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        let raw = format!(
            "From: {}\r\nTo: signals@hoox.local\r\nSubject: {}\r\nMessage-ID: <x@desk.example>\r\nMIME-Version: 1.0\r\nAuthentication-Results: {}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}",
            mail["from"].as_str().unwrap_or_default(),
            mail["subject"].as_str().unwrap_or_default(),
            mail["headers"]["Authentication-Results"].as_str().unwrap_or_default(),
            mail["text"].as_str().unwrap_or_default(),
        );
        let policy = email::Policy {
            senders: email::AuthorizedSenders::parse(&format!("[\"{}\"]", super::DEV_MAIL_SENDER))
                .unwrap_or_default(),
            trusted_authserv_ids: contracts::email::parse_trusted_authserv_ids(
                contracts::email::DEFAULT_TRUSTED_AUTHSERV_IDS,
            )
            .unwrap_or_default(),
        };
        let a = email::accept(raw.as_bytes(), &policy).unwrap_or_else(|r| panic!("{}", r.error));
        assert_eq!(a.signal.exchange, contracts::signal::Exchange::Paper);
        assert_eq!(
            a.signal.price.map(|p| p.to_string()).as_deref(),
            Some("65000")
        );
        // The JSON sits in single quotes: none inside it.
        assert!(!body.contains('\''));
    }

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
        // Nor do the generated local secrets beside a worker config.
        std::fs::write(root.join("gateway/.dev.vars"), "K=v").unwrap();
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

    /// Issue 14: `cargo xtask dev` writes `.dev.vars` beside every worker config after the
    /// build, so the next build hashed new files and rebuilt all five workers. In a checkout
    /// only what git tracks (or would track) counts.
    #[test]
    fn in_a_checkout_only_tracked_or_unignored_inputs_count() {
        let root = std::env::temp_dir().join(format!("hoox-fp-git-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("dlq/src")).unwrap();
        let git = |args: &[&str]| {
            std::process::Command::new("git")
                .args(args)
                .current_dir(&root)
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        };
        if !git(&["init", "-q"]) {
            eprintln!("no git here: the walk's case is covered above");
            return;
        }
        std::fs::write(root.join(".gitignore"), ".dev.vars\n**/.dev.vars\n").unwrap();
        std::fs::write(root.join("dlq/src/lib.rs"), "fn a() {}").unwrap();
        assert!(git(&["add", "."]));
        let tools = ["t".to_owned()];
        let first = source_fingerprint(&root, &tools);
        std::fs::write(root.join("dlq/.dev.vars"), "BYBIT_API_KEY=x").unwrap();
        assert_eq!(
            first,
            source_fingerprint(&root, &tools),
            ".dev.vars is ignored"
        );
        std::fs::write(root.join("dlq/src/new.rs"), "fn n() {}").unwrap();
        let with_new = source_fingerprint(&root, &tools);
        assert_ne!(first, with_new, "a new, not yet added source file counts");
        std::fs::write(root.join("dlq/src/lib.rs"), "fn b() {}").unwrap();
        assert_ne!(
            with_new,
            source_fingerprint(&root, &tools),
            "an edit counts"
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
