//! `cargo xtask bench`: load figures for hoox on the local Workers runtime.
//!
//! `ingest`: in one `wrangler dev`, closed-loop load with 16 connections against a trivial
//! worker that answers 200 and against the gateway with unique idempotency keys, alternating in
//! rounds so both see the machine in the same state (a shared two-core VM's speed drifts by tens
//! of percent over minutes); then the gateway's cheaper paths and duplicate replays. All of it
//! twice: through wrangler's dev port (a proxy workerd in front) and through the runtime's own
//! entry socket, whose trivial worker is the runtime's ceiling. Prints requests/s, the
//! gateway/trivial ratio, p50/p99/max latency, and the CPU each process spent per request.
//!
//! `e2e`: live trading against the mock exchanges (signatures verified), twice with N signals
//! posted with 16 connections: spread over every lane (each of the mock's twelve symbols on
//! Bybit, Binance and MEXC: 36 lanes), then all on one lane (Bybit ETHUSDT), whose jobs must
//! run in order. For each, signals/s from the first webhook to the last order acknowledged at
//! the exchange, and p50/p99 of each signal's webhook → exchange-acknowledgement latency.
//!
//! `latency`: one live signal every 200 ms for N seconds (open loop), each on the next lane
//! (every mocked symbol on all three mock exchanges); prints p50/p90/p99/max of webhook arrival
//! → exchange accepted.
//!
//! `dashboard`: the operator console's pages on data made by real (paper) signals, through the
//! runtime's entry socket with a logged-in session: each view's first answer (the dashboard's
//! fresh isolate for the first) and p50/p99/max over repeats, and the runtime's CPU per page.

use integration::Hoox;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// CPU time used so far by each process of the `wrangler dev` group and by this benchmark,
/// from /proc. On two cores the client, wrangler's proxy and the runtime share the machine, so
/// which process pays for a request explains the other figures.
struct CpuSample(std::collections::BTreeMap<u32, (String, u64)>);

impl CpuSample {
    fn take(group: u32) -> Self {
        let me = std::process::id();
        let mut out = std::collections::BTreeMap::new();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // `pid (comm) state ppid pgrp … utime stime …`: comm may hold spaces.
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
                continue;
            };
            let rest: Vec<&str> = stat[close + 1..].split_whitespace().collect();
            let field = |i: usize| rest.get(i).and_then(|v| v.parse::<u64>().ok());
            let (Some(pgrp), Some(utime), Some(stime)) = (field(2), field(11), field(12)) else {
                continue;
            };
            if pgrp == u64::from(group) || pid == me {
                out.insert(pid, (stat[open + 1..close].to_owned(), utime + stime));
            }
        }
        Self(out)
    }

    /// Each busy process's CPU milliseconds per request since `self` (clock ticks are 10 ms).
    fn per_request(&self, later: &Self, requests: usize) -> String {
        let mut used: Vec<(String, f64)> = later
            .0
            .iter()
            .map(|(pid, (comm, t))| {
                let before = self.0.get(pid).map(|(_, b)| *b).unwrap_or(0);
                let ms = (t.saturating_sub(before) * 10) as f64 / requests.max(1) as f64;
                (format!("{comm}[{pid}]"), ms)
            })
            .filter(|(_, ms)| *ms >= 0.05)
            .collect();
        used.sort_by(|a, b| b.1.total_cmp(&a.1));
        let total: f64 = used.iter().map(|(_, ms)| ms).sum();
        let parts: Vec<String> = used.iter().map(|(n, ms)| format!("{n} {ms:.2}")).collect();
        format!("cpu ms/request {total:.2} = {}", parts.join(" + "))
    }
}

struct Figures {
    name: String,
    latencies: Vec<Duration>,
    errors: usize,
    seconds: f64,
    cpu: String,
}

impl Figures {
    fn rps(&self) -> f64 {
        self.latencies.len() as f64 / self.seconds
    }
    fn pct(&self, p: f64) -> f64 {
        let n = self.latencies.len();
        self.latencies
            .get(((n as f64 * p) as usize).min(n.saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    }
    /// Several runs of one load as one: requests and time add up, latencies pool.
    fn merge(name: &str, runs: &[Figures]) -> Figures {
        let mut latencies: Vec<Duration> = runs
            .iter()
            .flat_map(|r| r.latencies.iter().copied())
            .collect();
        latencies.sort_unstable();
        Figures {
            name: name.to_owned(),
            latencies,
            errors: runs.iter().map(|r| r.errors).sum(),
            seconds: runs.iter().map(|r| r.seconds).sum(),
            cpu: String::new(),
        }
    }
    fn print(&self) {
        println!(
            "{:<28} {:>6.0} req/s   p50 {:>6.1} ms   p99 {:>6.1} ms   max {:>6.1} ms   ({} requests, {} errors, {:.1} s)",
            self.name,
            self.rps(),
            self.pct(0.50),
            self.pct(0.99),
            self.pct(1.0),
            self.latencies.len(),
            self.errors,
            self.seconds
        );
        if !self.cpu.is_empty() {
            println!("{:<28} {}", "", self.cpu);
        }
    }
}

/// Miniflare's entry worker sends a request carrying this header straight to the named worker
/// (and strips it). At the runtime's entry socket the benchmark uses it so the trivial worker
/// and the gateway are each the first worker a request meets, as the gateway is in production,
/// rather than one hop behind the test fixture (the harness's primary worker). Through
/// wrangler's dev port the proxy's own Miniflare would take the header, so there both loads
/// keep the fixture hop.
const ROUTE: &str = "MF-Route-Override";

#[derive(Clone, Copy)]
enum Load {
    /// The fixture itself answers (no hop).
    Direct,
    /// The trivial worker (tests/fixture/trivial.js): the runtime's ceiling.
    Trivial,
    /// The gateway's `GET /health`: the Rust worker with no store or queue call.
    Health,
    /// A signal with a wrong key: parsing and authentication, refused before the store.
    Refused,
    /// Signals with keys never sent before; a replayed answer counts as an error.
    Unique,
    /// One key over and over: every answer after the first is a replay.
    Duplicate,
    /// The same signals as `Unique`, to the hand-written reference (tests/fixture/reference.js).
    Reference,
    /// The reference doing only its Durable Object insert (`?only=insert`).
    ReferenceInsert,
    /// The reference doing only its queue send (`?only=send`).
    ReferenceSend,
}

impl Load {
    /// The worker a direct request names in [`ROUTE`] (none: the fixture answers).
    fn worker(self) -> Option<&'static str> {
        match self {
            Load::Direct => None,
            Load::Trivial => Some("hoox-trivial"),
            Load::Reference | Load::ReferenceInsert | Load::ReferenceSend => Some("hoox-reference"),
            Load::Health | Load::Refused | Load::Unique | Load::Duplicate => Some("hoox"),
        }
    }
}

async fn phase(
    h: &Hoox,
    name: &str,
    load: Load,
    connections: usize,
    duration: Duration,
    direct: bool,
) -> Figures {
    let counter = Arc::new(AtomicU64::new(0));
    let cpu_before = CpuSample::take(h.process_group());
    let started = Instant::now();
    let deadline = started + duration;
    // Keys must be new in every phase, not only within one: the store remembers every earlier
    // phase's keys, and a repeated key is a replay (no insert, no queue send), not a signal.
    static PHASE: AtomicU64 = AtomicU64::new(0);
    let run = format!(
        "{}-{}",
        std::process::id(),
        PHASE.fetch_add(1, Ordering::Relaxed)
    );
    let tasks = (0..connections).map(|_| {
        let counter = counter.clone();
        let run = run.clone();
        let client = h.http.clone();
        let base = h.base.clone();
        let api_key = h.api_key.clone();
        async move {
            let routed = |r: reqwest::RequestBuilder| match load.worker() {
                Some(worker) if direct => r.header(ROUTE, worker),
                _ => r,
            };
            let mut latencies = Vec::new();
            let mut starts = Vec::new();
            let mut errors = 0usize;
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                let result = match load {
                    Load::Direct => client.get(format!("{base}/__fixture/ok")).send().await,
                    Load::Trivial if direct => routed(client.get(format!("{base}/"))).send().await,
                    Load::Trivial => client.get(format!("{base}/__fixture/trivial")).send().await,
                    Load::Health => routed(client.get(format!("{base}/health"))).send().await,
                    Load::Refused => {
                        let body = json!({"apiKey": "wrong", "exchange": "paper", "action": "LONG", "symbol": "BTCUSDT", "quantity": "0.001", "price": 65000});
                        routed(client.post(format!("{base}/webhook")))
                            .header("content-type", "application/json")
                            .body(body.to_string())
                            .send()
                            .await
                    }
                    Load::Unique
                    | Load::Duplicate
                    | Load::Reference
                    | Load::ReferenceInsert
                    | Load::ReferenceSend => {
                        let key = match load {
                            Load::Duplicate => format!("bench-{run}-dup"),
                            _ => format!("bench-{run}-{n}"),
                        };
                        let query = match load {
                            Load::ReferenceInsert => "?only=insert",
                            Load::ReferenceSend => "?only=send",
                            _ => "",
                        };
                        let body = json!({"apiKey": api_key, "exchange": "paper", "action": "LONG", "symbol": "BTCUSDT", "quantity": "0.001", "price": 65000, "idempotencyKey": key});
                        routed(client.post(format!("{base}/webhook{query}")))
                            .header("content-type", "application/json")
                            .body(body.to_string())
                            .send()
                            .await
                    }
                };
                let ok = match result {
                    Ok(r) => {
                        // A replay where a new signal was meant is an error, not a fast signal.
                        let replayed = r.headers().contains_key("idempotent-replayed");
                        let good = (r.status().is_success() || matches!(load, Load::Refused))
                            && !(replayed && matches!(load, Load::Unique));
                        let _ = r.bytes().await;
                        good
                    }
                    Err(_) => false,
                };
                if ok {
                    latencies.push(t.elapsed());
                    starts.push(t - started);
                } else {
                    errors += 1;
                }
            }
            (latencies, errors, starts)
        }
    });
    let results = futures::future::join_all(tasks).await;
    if let Ok(dir) = std::env::var("HOOX_BENCH_SAMPLES") {
        let mut out = String::new();
        for (l, _, s) in &results {
            for (l, s) in l.iter().zip(s) {
                out.push_str(&format!(
                    "{:.3} {:.3}\n",
                    s.as_secs_f64() * 1000.0,
                    l.as_secs_f64() * 1000.0
                ));
            }
        }
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let file = format!(
            "{dir}/{seq:02}-{}.txt",
            name.replace([' ', ',', '(', ')', '/', '\''], "_")
        );
        let _ = std::fs::write(file, out);
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu_after = CpuSample::take(h.process_group());
    let mut latencies: Vec<Duration> = results
        .iter()
        .flat_map(|(l, _, _)| l.iter().copied())
        .collect();
    latencies.sort_unstable();
    Figures {
        name: name.to_owned(),
        cpu: cpu_before.per_request(&cpu_after, latencies.len()),
        latencies,
        errors: results.iter().map(|(_, e, _)| e).sum(),
        seconds,
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_else(|| "ingest".into());
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(10);
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(3);
    match what.as_str() {
        "ingest" | "ingest-full" => ingest(&what, seconds, rounds),
        "e2e" => e2e(seconds as usize * 30),
        "latency" => latency(seconds),
        "dashboard" => dashboard(seconds as usize * 5),
        other => {
            eprintln!("unknown benchmark {other}; try `ingest`, `e2e`, `latency` or `dashboard`");
            std::process::exit(2);
        }
    }
}

const CONNECTIONS: usize = 16;

/// The base URL of the runtime's own entry socket: a listening socket of a workerd in this
/// `wrangler dev` whose `/health` is the gateway's.
async fn runtime_entry(h: &Hoox) -> Option<String> {
    let listening: std::collections::HashMap<String, u16> =
        std::fs::read_to_string("/proc/net/tcp")
            .ok()?
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                // local_address is HEX_IP:HEX_PORT; state 0A is LISTEN; field 9 is the inode.
                let port = u16::from_str_radix(f.get(1)?.split(':').nth(1)?, 16).ok()?;
                if f.get(3) != Some(&"0A") {
                    return None;
                }
                Some((f.get(9)?.to_string(), port))
            })
            .collect();
    let before = CpuSample::take(h.process_group());
    for (pid, (comm, _)) in &before.0 {
        if comm != "workerd" {
            continue;
        }
        for fd in std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let target = target.to_string_lossy().into_owned();
            let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|t| t.strip_suffix(']'))
            else {
                continue;
            };
            let Some(port) = listening.get(inode) else {
                continue;
            };
            let base = format!("http://127.0.0.1:{port}");
            if base == h.base {
                continue;
            }
            let health = h.http.get(format!("{base}/health")).send().await;
            if let Ok(r) = health {
                if r.text()
                    .await
                    .is_ok_and(|t| t.contains("\"worker\":\"hoox\""))
                {
                    return Some(base);
                }
            }
        }
    }
    None
}

fn ingest(what: &str, seconds: u64, rounds: usize) {
    // `ingest` measures the gateway's own work: trade-execution is drained by a sink that
    // acknowledges every message (tests/fixture/sink.jsonc) instead of the trade-worker, so
    // execution does not compete for the two cores. `ingest-full` runs every worker.
    if what == "ingest" && std::env::var_os("HOOX_IT_CONFIGS").is_none() {
        let configs = integration::FIXTURE_CONFIGS
            .into_iter()
            .chain([
                registry::public().config,
                "tests/fixture/sink.jsonc",
                "tests/fixture/reference.jsonc",
            ])
            .collect::<Vec<_>>()
            .join(",");
        std::env::set_var("HOOX_IT_CONFIGS", configs);
    }
    // LOG_LEVEL in the environment is passed on to the workers (`warn` shows what the local
    // log pipeline costs); the default is production's `info`, one line per signal.
    let level = std::env::var("LOG_LEVEL").unwrap_or_else(|_| "info".into());
    let mut hoox = Hoox::start_with(&[
        ("WEBHOOK_RATE_LIMIT", "1000000/s"),
        ("LOG_LEVEL", level.as_str()),
    ]);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    println!(
        "{what} benchmark: {CONNECTIONS} connections, {rounds} rounds of {seconds} s per load, one wrangler dev, LOG_LEVEL={level}, workers: {}",
        std::env::var("HOOX_IT_CONFIGS").unwrap_or_else(|_| "all".into())
    );
    // Warm every isolate and Durable Object shard first.
    rt.block_on(phase(
        &hoox,
        "warm-up",
        Load::Unique,
        4,
        Duration::from_secs(3),
        false,
    ));
    // Two doors into the same runtime: wrangler's dev port, where a proxy (a second workerd
    // and a Durable Object) re-sends every request over HTTP, and the runtime's own entry
    // socket behind it. The proxy is dev tooling with its own ceiling and pauses; the entry
    // socket shows the runtime's.
    // A profiling aid: HOOX_BENCH_SOAK=<seconds> runs one long load at the entry socket (the
    // gateway with unique keys, or HOOX_BENCH_SOAK_LOAD=trivial|reference|reference-insert|
    // reference-send) so a profiler can be attached to the runtime; it prints the load's start
    // (epoch ms) first.
    if let Some(secs) = std::env::var("HOOX_BENCH_SOAK")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        if let Some(base) = rt.block_on(runtime_entry(&hoox)) {
            hoox.base = base;
        }
        println!("soak-start {}", wall_ms());
        let load = match std::env::var("HOOX_BENCH_SOAK_LOAD").as_deref() {
            Ok("trivial") => Load::Trivial,
            Ok("reference") => Load::Reference,
            Ok("reference-insert") => Load::ReferenceInsert,
            Ok("reference-send") => Load::ReferenceSend,
            _ => Load::Unique,
        };
        rt.block_on(phase(
            &hoox,
            "soak",
            load,
            CONNECTIONS,
            Duration::from_secs(secs),
            true,
        ))
        .print();
        return;
    }
    // A tuning aid: HOOX_BENCH_VERSUS=<rounds> alternates only the gateway and the reference
    // at the entry socket, for comparing two builds of the gateway by their ratio to the same
    // yardstick (the machine's drift cancels out of a ratio taken in alternating rounds).
    if let Some(rounds) = std::env::var("HOOX_BENCH_VERSUS")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
    {
        if let Some(base) = rt.block_on(runtime_entry(&hoox)) {
            hoox.base = base;
        }
        versus(&rt, &hoox, seconds, rounds);
        return;
    }
    let mut summary = vec![];
    let proxy_base = hoox.base.clone();
    summary.push(doors(
        &rt,
        &hoox,
        "wrangler's dev port",
        seconds,
        rounds,
        false,
    ));
    match rt.block_on(runtime_entry(&hoox)) {
        Some(base) => {
            hoox.base = base;
            summary.push(doors(
                &rt,
                &hoox,
                "the runtime's entry socket",
                seconds,
                rounds,
                true,
            ));
            hoox.base = proxy_base;
        }
        None => {
            println!("(the runtime's entry socket was not found; measured through wrangler only)")
        }
    }
    println!();
    for line in summary {
        println!("{line}");
    }
    println!(
        "targets: gateway >= 0.25x the trivial worker, p99 < 100 ms at {CONNECTIONS} connections"
    );
}

/// Per-round requests/s ratios of `a` to `b`, e.g. `0.17, 0.16, 0.18`.
fn round_ratios(a: &[Figures], b: &[Figures]) -> String {
    let ratios: Vec<String> = a
        .iter()
        .zip(b)
        .map(|(a, b)| format!("{:.2}", a.rps() / b.rps()))
        .collect();
    ratios.join(", ")
}

/// `HOOX_BENCH_VERSUS`: the gateway and the reference only, alternating, at the entry socket.
fn versus(rt: &tokio::runtime::Runtime, hoox: &Hoox, seconds: u64, rounds: usize) {
    let run = |name: &str, load: Load, connections: usize, d: Duration| {
        rt.block_on(phase(hoox, name, load, connections, d, true))
    };
    // The reference's shards warm too (the common warm-up only loaded the gateway).
    run("warm-up", Load::Reference, 4, Duration::from_secs(3));
    let d = Duration::from_secs(seconds);
    let (mut unique, mut reference) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let u = run(
            &format!("gateway unique, round {round}"),
            Load::Unique,
            CONNECTIONS,
            d,
        );
        let r = run(
            &format!("JS reference, round {round}"),
            Load::Reference,
            CONNECTIONS,
            d,
        );
        u.print();
        r.print();
        unique.push(u);
        reference.push(r);
    }
    let ratios = round_ratios(&unique, &reference);
    let u = Figures::merge("gateway unique, all rounds", &unique);
    let r = Figures::merge("JS reference, all rounds", &reference);
    println!(
        "gateway {:.0} req/s = {:.3}x the reference's {:.0} (rounds: {ratios}); gateway p99 {:.1} ms",
        u.rps(),
        u.rps() / r.rps(),
        r.rps(),
        u.pct(0.99)
    );
}

/// One door's figures; returns its summary line.
fn doors(
    rt: &tokio::runtime::Runtime,
    hoox: &Hoox,
    door: &str,
    seconds: u64,
    rounds: usize,
    direct: bool,
) -> String {
    let d = Duration::from_secs(seconds);
    let run = |name: &str, load: Load| rt.block_on(phase(hoox, name, load, CONNECTIONS, d, direct));
    println!("\n== through {door} ({})", hoox.base);
    run("entry worker (200)", Load::Direct).print();
    let (mut trivial, mut unique) = (Vec::new(), Vec::new());
    let (mut reference, mut insert_only, mut send_only) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        let t = run(&format!("trivial worker, round {round}"), Load::Trivial);
        let u = run(&format!("gateway unique, round {round}"), Load::Unique);
        t.print();
        u.print();
        trivial.push(t);
        unique.push(u);
        // The reference is reached by its name, which only the runtime's entry socket takes.
        if direct {
            let r = run(&format!("JS reference, round {round}"), Load::Reference);
            r.print();
            reference.push(r);
            // Each hop alone, so the summary can say what the floor is made of.
            let i = run(
                &format!("JS insert only, round {round}"),
                Load::ReferenceInsert,
            );
            let s = run(&format!("JS send only, round {round}"), Load::ReferenceSend);
            i.print();
            s.print();
            insert_only.push(i);
            send_only.push(s);
        }
    }
    run("gateway GET /health", Load::Health).print();
    run("gateway refused (401)", Load::Refused).print();
    run("gateway duplicates (replay)", Load::Duplicate).print();
    let ratios = round_ratios(&unique, &trivial);
    let trivial = Figures::merge("trivial worker, all rounds", &trivial);
    let unique = Figures::merge("gateway unique, all rounds", &unique);
    trivial.print();
    unique.print();
    let mut line = format!(
        "{door:<28} gateway {:.0} req/s = {:.2}x the trivial worker's {:.0} (rounds: {}); gateway p50 {:.1} ms, p99 {:.1} ms (trivial p99 {:.1} ms)",
        unique.rps(),
        unique.rps() / trivial.rps(),
        trivial.rps(),
        ratios,
        unique.pct(0.50),
        unique.pct(0.99),
        trivial.pct(0.99),
    );
    if !reference.is_empty() {
        let reference = Figures::merge("JS reference, all rounds", &reference);
        reference.print();
        let insert_only = Figures::merge("JS insert only, all rounds", &insert_only);
        let send_only = Figures::merge("JS send only, all rounds", &send_only);
        insert_only.print();
        send_only.print();
        line.push_str(&format!(
            "\n{:<28} JS reference (one DO insert + one queue send) {:.0} req/s = {:.2}x the trivial worker; the gateway does {:.2}x the reference's requests/s (reference p99 {:.1} ms)\n{:<28} the reference's hops alone: DO insert {:.0} req/s = {:.2}x, queue send {:.0} req/s = {:.2}x the trivial worker",
            "",
            reference.rps(),
            reference.rps() / trivial.rps(),
            unique.rps() / reference.rps(),
            reference.pct(0.99),
            "",
            insert_only.rps(),
            insert_only.rps() / trivial.rps(),
            send_only.rps(),
            send_only.rps() / trivial.rps(),
        ));
    }
    line
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Every worker in live mode against the mock exchanges (signatures verified), with the
/// webhook's and the exchanges' quotas out of the way.
fn live_stack(rt: &tokio::runtime::Runtime) -> (integration::mock_exchange::MockExchanges, Hoox) {
    use integration::mock_exchange::{MockCredentials, MockExchanges};
    let mock = rt
        .block_on(MockExchanges::start(MockCredentials::default()))
        .expect("mock exchanges");
    let mut vars: Vec<(String, String)> = vec![("WEBHOOK_RATE_LIMIT".into(), "1000000/s".into())];
    vars.extend(integration::mock_exchange_vars(&mock));
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let hoox = Hoox::start_with(&vars);
    rt.block_on(async {
        hoox.set_config("trade:mode", "live").await;
        hoox.set_config(
            "ratelimit:orders",
            r#"{"bybit":"1000/s","binance":"1000/s","mexc":"1000/s","paper":"1000/s"}"#,
        )
        .await;
        tokio::time::sleep(Duration::from_millis(2_500)).await;
    });
    (mock, hoox)
}

/// An (exchange, symbol) pair and the quantity its signals carry. Each lane's jobs run in
/// order; different lanes' jobs run side by side.
#[derive(Clone)]
struct Lane {
    exchange: contracts::signal::Exchange,
    symbol: String,
    quantity: String,
}

/// Every lane the mock exchanges offer: each listed symbol on Bybit, Binance and MEXC (the
/// exchange changing fastest, so consecutive signals reach different exchanges), with the
/// smallest quantity every venue takes at the mock's marks plus a margin.
fn lanes() -> Vec<Lane> {
    use contracts::signal::Exchange;
    use integration::mock_exchange::{listed_symbols, tradable_quantity};
    listed_symbols()
        .into_iter()
        .flat_map(|symbol| {
            let quantity = tradable_quantity(&symbol)
                .map(|q| q.to_string())
                .expect("a listed symbol has a quantity");
            [Exchange::Bybit, Exchange::Binance, Exchange::Mexc].map(|exchange| Lane {
                exchange,
                symbol: symbol.clone(),
                quantity: quantity.clone(),
            })
        })
        .collect()
}

/// A live market LONG on `lane`.
fn live_signal(api_key: &str, key: &str, lane: &Lane) -> serde_json::Value {
    json!({"apiKey": api_key, "exchange": lane.exchange.as_str(), "action": "LONG",
           "symbol": lane.symbol, "quantity": lane.quantity, "orderType": "market",
           "idempotencyKey": key})
}

/// Posts one signal; whether the gateway answered 202.
async fn post_signal(client: &reqwest::Client, base: &str, body: &serde_json::Value) -> bool {
    client
        .post(format!("{base}/webhook"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .map(|r| r.status().as_u16() == 202)
        .unwrap_or(false)
}

/// For each accepted signal (key, webhook time in epoch ms), when the mock exchange accepted
/// its order: (webhook ms, accepted ms) pairs, waiting up to five minutes for the last.
fn acknowledged(
    rt: &tokio::runtime::Runtime,
    hoox: &Hoox,
    mock: &integration::mock_exchange::MockExchanges,
    sent: Vec<(String, i64)>,
) -> (usize, Vec<(i64, i64)>) {
    // Client order ids come from each key and its intake time, which the store holds.
    let accepted: std::collections::HashMap<String, i64> = rt.block_on(async {
        let mut out = std::collections::HashMap::new();
        for (key, at) in sent {
            if let Some(id) = hoox.client_order_id(&key).await {
                out.insert(id, at);
            }
        }
        out
    });
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut acked: Vec<(i64, i64)> = vec![];
    while Instant::now() < deadline {
        acked = mock
            .orders()
            .iter()
            .filter_map(|o| {
                accepted
                    .get(&o.client_order_id)
                    .map(|t| (*t, o.accepted_at_ms))
            })
            .collect();
        if acked.len() >= accepted.len() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    (accepted.len(), acked)
}

/// The `p` quantile of sorted `v` (0 when empty).
fn quantile(v: &[i64], p: f64) -> i64 {
    v.get(((v.len() as f64 * p) as usize).min(v.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0)
}

/// `signals` live signals over `lanes` in turn, posted with [`CONNECTIONS`] connections (closed
/// loop), then waited for at the exchange: the summary line of accepted, acknowledged,
/// signals/s from the first webhook to the last acknowledgement, and p50/p99 latency.
fn closed_loop(
    rt: &tokio::runtime::Runtime,
    hoox: &Hoox,
    mock: &integration::mock_exchange::MockExchanges,
    tag: &str,
    signals: usize,
    lanes: &[Lane],
) -> String {
    let run = std::process::id();
    let sent = Arc::new(std::sync::Mutex::new(Vec::new()));
    let next = Arc::new(AtomicU64::new(0));
    let started = wall_ms();
    rt.block_on(async {
        let tasks = (0..CONNECTIONS).map(|_| {
            let (sent, next, client) = (sent.clone(), next.clone(), hoox.http.clone());
            let (base, api_key) = (hoox.base.clone(), hoox.api_key.clone());
            async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    if i >= signals {
                        break;
                    }
                    let key = format!("{tag}-{run}-{i}");
                    let body = live_signal(&api_key, &key, &lanes[i % lanes.len()]);
                    let at = wall_ms();
                    if post_signal(&client, &base, &body).await {
                        if let Ok(mut m) = sent.lock() {
                            m.push((key, at));
                        }
                    }
                }
            }
        });
        futures::future::join_all(tasks).await;
    });
    let sent = sent.lock().map(|m| m.clone()).unwrap_or_default();
    let (accepted, acked) = acknowledged(rt, hoox, mock, sent);
    let mut latencies: Vec<i64> = acked.iter().map(|(s, a)| a - s).collect();
    latencies.sort_unstable();
    let last = acked.iter().map(|(_, a)| *a).max().unwrap_or(started);
    let secs = ((last - started) as f64 / 1000.0).max(0.001);
    format!(
        "accepted {} / acknowledged at the exchange {}: {:.1} signals/s webhook -> exchange ack; latency p50 {} ms, p99 {} ms",
        accepted,
        acked.len(),
        acked.len() as f64 / secs,
        quantile(&latencies, 0.50),
        quantile(&latencies, 0.99)
    )
}

/// Webhook → order acknowledged at the (mock) exchange, end to end: `signals` spread over
/// every lane, then as many on one lane (Bybit ETHUSDT), whose jobs run one after another.
fn e2e(signals: usize) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (mock, hoox) = live_stack(&rt);
    let lanes = lanes();
    let symbols = lanes.len() / 3;
    let one: Vec<Lane> = lanes
        .iter()
        .filter(|l| l.exchange == contracts::signal::Exchange::Bybit && l.symbol == "ETHUSDT")
        .cloned()
        .collect();
    println!("e2e benchmark: {signals} signals per run, {CONNECTIONS} connections, live mode against the mock exchanges (bybit, binance, mexc)");
    let spread = closed_loop(&rt, &hoox, &mock, "e2e-spread", signals, &lanes);
    println!(
        "{} lanes (3 exchanges x {symbols} symbols): {spread}",
        lanes.len()
    );
    let single = closed_loop(&rt, &hoox, &mock, "e2e-lane", signals, &one);
    println!("one lane (bybit ETHUSDT, its jobs in order): {single}");
    drop(hoox);
    drop(mock);
}

/// Latency at low load: one signal every 200 ms for `seconds`, open loop (a slow answer does
/// not delay the next), over every lane (each mocked symbol on all three exchanges) in turn.
fn latency(seconds: u64) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (mock, hoox) = live_stack(&rt);
    let run = std::process::id();
    let count = (seconds * 5) as usize;
    let lanes = lanes();
    let sent: Vec<(String, i64)> = rt.block_on(async {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        let mut tasks = Vec::with_capacity(count);
        for i in 0..count {
            tick.tick().await;
            let (client, base) = (hoox.http.clone(), hoox.base.clone());
            let key = format!("latency-{run}-{i}");
            let body = live_signal(&hoox.api_key, &key, &lanes[i % lanes.len()]);
            tasks.push(tokio::spawn(async move {
                let at = wall_ms();
                post_signal(&client, &base, &body)
                    .await
                    .then_some((key, at))
            }));
        }
        let mut out = vec![];
        for t in tasks {
            if let Ok(Some(s)) = t.await {
                out.push(s);
            }
        }
        out
    });
    let (accepted, acked) = acknowledged(&rt, &hoox, &mock, sent);
    let mut latencies: Vec<i64> = acked.iter().map(|(s, a)| a - s).collect();
    latencies.sort_unstable();
    println!(
        "latency benchmark: one signal every 200 ms for {seconds} s ({count} signals), live mode, bybit/binance/mexc x {} symbols ({} lanes) against the mock exchanges",
        lanes.len() / 3,
        lanes.len()
    );
    println!(
        "accepted {accepted} / acknowledged at the exchange {}: webhook arrival -> exchange accepted p50 {} ms, p90 {} ms, p99 {} ms, max {} ms",
        acked.len(),
        quantile(&latencies, 0.50),
        quantile(&latencies, 0.90),
        quantile(&latencies, 0.99),
        quantile(&latencies, 1.0)
    );
    drop(hoox);
    drop(mock);
}

/// The dashboard's pages, `repeats` times each after their first answer.
fn dashboard(repeats: usize) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let hoox = Hoox::start();
    rt.block_on(async {
        let entry = runtime_entry(&hoox).await;
        let base = entry.clone().unwrap_or_else(|| hoox.base.clone());
        // The login answers with a redirect that carries the cookie: not followed.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        let get = |path: &str, cookie: Option<&str>| {
            let mut r = http.get(format!("{base}/dashboard{path}"));
            if entry.is_some() {
                r = r.header(ROUTE, "hoox");
            }
            if let Some(c) = cookie {
                r = r.header("cookie", c);
            }
            r
        };
        // The first page of all: the login, before the dashboard has answered anything.
        let at = Instant::now();
        let login_page = get("/login", None).send().await.expect("login page");
        let first = at.elapsed();
        assert_eq!(login_page.status(), 200, "the login page");
        // Pages with rows: paper signals through the webhook, the last one waited for.
        let mut last = String::new();
        for i in 0..20 {
            last = integration::unique("bench-dash");
            let action = if i % 4 == 3 { "CLOSE_LONG" } else { "LONG" };
            let symbol = ["BTCUSDT", "ETHUSDT"][i % 2];
            let body = json!({"apiKey": hoox.api_key, "exchange": "paper", "action": action,
                              "symbol": symbol, "quantity": "0.01",
                              "price": "50000", "idempotencyKey": last});
            let r = hoox.webhook(&body, &[]).await;
            assert_eq!(r.status(), 202, "a seeding signal");
        }
        hoox.wait_orders(&last, Duration::from_secs(60)).await;
        let mut login = http
            .post(format!("{base}/dashboard/login"))
            .header("origin", &base)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "user=operator&password={}",
                integration::dev_var("DASHBOARD_PASSWORD")
            ));
        if entry.is_some() {
            login = login.header(ROUTE, "hoox");
        }
        let at = Instant::now();
        let r = login.send().await.expect("login");
        let login_took = at.elapsed();
        let status = r.status();
        let cookie = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("__Host-hoox_session="))
            .and_then(|v| v.split(';').next())
            .map(str::to_owned);
        let Some(cookie) = cookie else {
            let body = r.text().await.unwrap_or_default();
            panic!("the login gave no session ({status}): {}", body.chars().take(600).collect::<String>());
        };
        println!(
            "dashboard benchmark: {} ({} repeats per view, one request at a time, 20 paper signals seeded)",
            if entry.is_some() { "the runtime's entry socket, the gateway first" } else { "wrangler's dev port" },
            repeats
        );
        println!("{:<28} {:>8.1} ms   (the dashboard's first answer: a fresh isolate)", "GET /login, first", first.as_secs_f64() * 1000.0);
        println!("{:<28} {:>8.1} ms   (PBKDF2-SHA256, 100 000 iterations, then a KV write)", "POST /login", login_took.as_secs_f64() * 1000.0);
        let views = [
            "/".to_owned(),
            "/positions".into(),
            "/signals".into(),
            format!("/signals/{last}"),
            "/orders".into(),
            "/dead-letters".into(),
            "/config".into(),
            "/audit".into(),
            "/workers".into(),
            "/agent".into(),
            "/reports".into(),
            "/feed.json".into(),
        ];
        for view in &views {
            let mut latencies = vec![];
            let mut first = None;
            let mut errors = 0;
            let cpu_before = CpuSample::take(hoox.process_group());
            let at = Instant::now();
            for _ in 0..=repeats {
                let t = Instant::now();
                let ok = match get(view, Some(&cookie)).send().await {
                    Ok(r) => r.status() == 200 && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                let took = t.elapsed();
                errors += usize::from(!ok);
                if first.is_none() {
                    first = Some(took);
                } else {
                    latencies.push(took);
                }
            }
            latencies.sort_unstable();
            let f = Figures {
                name: format!("GET {}", view.chars().take(24).collect::<String>()),
                cpu: cpu_before.per_request(&CpuSample::take(hoox.process_group()), repeats + 1),
                latencies,
                errors,
                seconds: at.elapsed().as_secs_f64(),
            };
            println!(
                "{:<28} first {:>6.1} ms   p50 {:>6.1} ms   p99 {:>6.1} ms   max {:>6.1} ms   ({} errors)\n{:<28} {}",
                f.name,
                first.unwrap_or_default().as_secs_f64() * 1000.0,
                f.pct(0.5),
                f.pct(0.99),
                f.pct(1.0),
                f.errors,
                "",
                f.cpu
            );
        }
    });
}
