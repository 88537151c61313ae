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
//!
//! `cost`: N live signals (default 10), one every 2.5 s, with the workers' meter on
//! (`runtime::meter`); prints each billed operation per signal, what a million signals cost at
//! the dated rates in `docs/cloudflare-prices.json`, and which operation dominates, saying for
//! each figure whether it was measured or counted from code.
//!
//! `cold`: a fresh stack's first live signal (webhook → 202 and → exchange accepted) and a
//! second right after it, then each worker's wasm and gzipped size.

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
        // `seconds` is the number of signals here (default 10).
        "cost" => cost(seconds as usize),
        "cold" => cold(),
        other => {
            eprintln!("unknown benchmark {other}; try `ingest`, `e2e`, `latency`, `dashboard`, `cost` or `cold`");
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
    live_stack_with(rt, &[])
}

/// [`live_stack`] with `extra` vars for every worker.
fn live_stack_with(
    rt: &tokio::runtime::Runtime,
    extra: &[(&str, &str)],
) -> (integration::mock_exchange::MockExchanges, Hoox) {
    use integration::mock_exchange::{MockCredentials, MockExchanges};
    let mock = rt
        .block_on(MockExchanges::start(MockCredentials::default()))
        .expect("mock exchanges");
    let mut vars: Vec<(String, String)> = vec![("WEBHOOK_RATE_LIMIT".into(), "1000000/s".into())];
    vars.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
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
        hoox.config_visible().await;
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

/// Cloudflare's published rates, from the dated table in the repository
/// (`docs/cloudflare-prices.json`): USD per million units beyond the included amounts.
struct Prices {
    read: String,
    usd_per_million: std::collections::HashMap<String, f64>,
}

impl Prices {
    fn load() -> Self {
        let path = integration::root().join("docs/cloudflare-prices.json");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let v: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let usd_per_million = v["prices"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| Some((p["op"].as_str()?.to_owned(), p["usd_per_million"].as_f64()?)))
            .collect();
        Prices {
            read: v["read"].as_str().unwrap_or("undated").to_owned(),
            usd_per_million,
        }
    }

    /// The cost in USD of `per_signal` units of `op` for each of a million signals.
    fn per_million_signals(&self, op: &str, per_signal: f64) -> f64 {
        let rate = self
            .usd_per_million
            .get(op)
            .unwrap_or_else(|| panic!("no price for {op} in docs/cloudflare-prices.json"));
        per_signal * rate
    }
}

/// One meter line of the workers' log (`runtime::meter`): operation, count, what it was on,
/// and the worker whose request span it ran in (none for queue batches and the store).
#[derive(Debug, PartialEq)]
struct MeterEvent {
    op: String,
    n: u64,
    on: String,
    worker: String,
}

/// The meter lines among `log`'s lines (each a JSON object, possibly after a prefix).
fn meter_events(log: &str) -> Vec<MeterEvent> {
    log.lines()
        .filter(|l| l.contains("\"message\":\"meter\""))
        .filter_map(|l| {
            let json = &l[l.find('{')?..];
            let v: serde_json::Value = serde_json::Deserializer::from_str(json)
                .into_iter()
                .next()?
                .ok()?;
            let f = &v["fields"];
            Some(MeterEvent {
                op: f["op"].as_str()?.to_owned(),
                n: f["n"].as_u64()?,
                on: f["on"].as_str().unwrap_or_default().to_owned(),
                worker: v["span"]["worker"].as_str().unwrap_or_default().to_owned(),
            })
        })
        .collect()
}

/// Sums of the meter lines by operation, and by operation and target.
struct Tally {
    by_op: std::collections::BTreeMap<String, u64>,
    by_on: std::collections::BTreeMap<(String, String), u64>,
}

impl Tally {
    fn of(events: &[MeterEvent]) -> Self {
        let mut by_op = std::collections::BTreeMap::new();
        let mut by_on = std::collections::BTreeMap::new();
        for e in events {
            *by_op.entry(e.op.clone()).or_insert(0) += e.n;
            *by_on.entry((e.op.clone(), e.on.clone())).or_insert(0) += e.n;
        }
        Tally { by_op, by_on }
    }
    fn op(&self, op: &str) -> u64 {
        self.by_op.get(op).copied().unwrap_or(0)
    }
    fn on(&self, op: &str, on: &str) -> u64 {
        self.by_on
            .get(&(op.to_owned(), on.to_owned()))
            .copied()
            .unwrap_or(0)
    }
    /// The queues that delivered messages.
    fn queues(&self) -> Vec<String> {
        self.by_on
            .keys()
            .filter(|(op, _)| op == "queue_read")
            .map(|(_, on)| on.clone())
            .collect()
    }
    /// Queue operations: per queue, writes (metered, or at least the first deliveries, each of
    /// which a write preceded: the store's send is not metered), reads and deletes. The second
    /// value says whether any queue's writes were inferred.
    fn queue_operations(&self) -> (u64, bool) {
        let mut queues = self.queues();
        queues.extend(
            self.by_on
                .keys()
                .filter(|(op, _)| op == "queue_write")
                .map(|(_, on)| on.clone()),
        );
        queues.sort();
        queues.dedup();
        let mut inferred = false;
        let total = queues
            .iter()
            .map(|q| {
                let first = self
                    .on("queue_read", q)
                    .saturating_sub(self.on("queue_redelivery", q));
                let metered = self.on("queue_write", q);
                inferred |= first > metered;
                metered.max(first) + self.on("queue_read", q) + self.on("queue_delete", q)
            })
            .sum();
        (total, inferred)
    }
}

/// [`live_stack`] with the meter on (`runtime::meter`).
fn metered_stack(
    rt: &tokio::runtime::Runtime,
) -> (integration::mock_exchange::MockExchanges, Hoox) {
    live_stack_with(rt, &[("HOOX_METER", "on")])
}

/// A live market entry of 0.01 ETHUSDT on the `i`th of the three exchanges (above each venue's
/// minimum notional at the mock's mark).
fn entry_signal(api_key: &str, key: &str, i: usize) -> serde_json::Value {
    let exchange = ["bybit", "binance", "mexc"][i % 3];
    json!({"apiKey": api_key, "exchange": exchange, "action": "LONG", "symbol": "ETHUSDT",
           "quantity": "0.01", "orderType": "market", "idempotencyKey": key})
}

/// The CPU milliseconds the runtime's processes (workerd: every worker, the store, the local
/// queues, D1, KV and R2) used between two samples.
fn runtime_cpu_ms(before: &CpuSample, after: &CpuSample) -> u64 {
    after
        .0
        .iter()
        .filter(|(_, (comm, _))| comm == "workerd")
        .map(|(pid, (_, t))| t.saturating_sub(before.0.get(pid).map_or(0, |(_, b)| *b)) * 10)
        .sum()
}

/// The cost benchmark: `signals` live signals, one every [`COST_SPACING`] (the rate of about a
/// million a month, so each runs alone as it would then: its own queue batches and store
/// alarm), each waited for until the ledger has recorded and alerted it; then the workers'
/// meter lines of that window, per signal, priced at the table's rates.
fn cost(signals: usize) {
    let prices = Prices::load();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (mock, hoox) = metered_stack(&rt);
    // The config writes' own work (audit entries, KV) ends before the window opens.
    std::thread::sleep(Duration::from_secs(3));
    let offset = std::fs::metadata(&hoox.log).map_or(0, |m| m.len() as usize);
    let cpu_before = CpuSample::take(hoox.process_group());
    let started = Instant::now();
    let run = std::process::id();
    let prefix = format!("cost-{run}-");
    let accepted = rt.block_on(async {
        let mut accepted = 0usize;
        let mut tick = tokio::time::interval(COST_SPACING);
        for i in 0..signals {
            tick.tick().await;
            let body = entry_signal(&hoox.api_key, &format!("{prefix}{i}"), i);
            accepted += usize::from(post_signal(&hoox.http, &hoox.base, &body).await);
        }
        accepted
    });
    let ended = rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let rows = hoox
                .sql(
                    "SELECT COUNT(*) AS n FROM signals WHERE idempotency_key LIKE ? AND alerted_at_ms IS NOT NULL",
                    &[json!(format!("{prefix}%"))],
                )
                .await;
            let n = rows.first().and_then(|r| r["n"].as_u64()).unwrap_or(0) as usize;
            if n >= accepted || Instant::now() > deadline {
                break n;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    // What follows the last alert: the positions read after its fill, the store's outbox alarm.
    std::thread::sleep(Duration::from_secs(6));
    let seconds = started.elapsed().as_secs_f64();
    let cpu_ms = runtime_cpu_ms(&cpu_before, &CpuSample::take(hoox.process_group()));
    // The mock is this run's alone: every order it holds is one of these signals'.
    let orders = mock.orders().len();
    let log = std::fs::read(&hoox.log).unwrap_or_default();
    let window = String::from_utf8_lossy(log.get(offset..).unwrap_or_default()).into_owned();
    let events = meter_events(&window);
    let tally = Tally::of(&events);
    drop(hoox);
    drop(mock);

    let n = accepted.max(1) as f64;
    let per = |units: u64| units as f64 / n;
    println!(
        "cost benchmark: {signals} live signals (bybit, binance, mexc in turn, ETHUSDT market entries), one every {:.1} s, against the mock exchanges; {accepted} accepted, {ended} recorded and alerted in the ledger, {orders} orders at the mock exchanges; {} meter lines in {seconds:.0} s",
        COST_SPACING.as_secs_f64(),
        events.len()
    );
    println!(
        "prices: docs/cloudflare-prices.json, read {} (Workers Paid, the rates beyond the monthly included amounts, which this ignores)",
        prices.read
    );
    let queue_invocations: u64 = tally
        .queues()
        .iter()
        .map(|q| tally.on("invocation", q))
        .sum();
    let bound_invocations = tally.op("invocation") - queue_invocations;
    let (queue_ops, queue_inferred) = tally.queue_operations();
    let do_rows_metered = tally.op("do_rows_written") + tally.op("do_rows_read") > 0;
    let alarms_metered = tally.op("do_alarm") > 0;
    // Counted from gateway/src/store.rs when its statements are not metered (see the README).
    let (do_rows_written, do_rows_read) = if do_rows_metered {
        (
            per(tally.op("do_rows_written")),
            per(tally.op("do_rows_read")),
        )
    } else {
        (STORE_ROWS_WRITTEN_PER_SIGNAL, STORE_ROWS_READ_PER_SIGNAL)
    };
    let alarms = if alarms_metered {
        per(tally.op("do_alarm"))
    } else {
        1.0
    };
    let rows: Vec<(&str, &str, f64, String)> = vec![
        (
            "worker requests",
            "worker_request",
            1.0 + per(queue_invocations),
            format!(
                "measured: the webhook (1) + queue batches ({:.2}); service-binding calls ({:.2}) are not billed as requests",
                per(queue_invocations),
                per(bound_invocations)
            ),
        ),
        (
            "CPU ms, all workers",
            "worker_cpu_ms",
            cpu_ms as f64 / n,
            "measured: the runtime process (every worker, the store and the local services, idle included) / signals; an upper bound, 10 ms ticks".into(),
        ),
        (
            "DO requests",
            "do_request",
            per(tally.op("do_request")) + alarms,
            format!(
                "measured: RPC calls ({:.2}); alarms {alarms:.2} {}",
                per(tally.op("do_request")),
                if alarms_metered { "measured" } else { "counted from code (the outbox alarm of each intake; store.rs is not metered)" }
            ),
        ),
        (
            "DO rows written",
            "do_rows_written",
            do_rows_written,
            if do_rows_metered { "measured (cursor.rowsWritten)".into() } else { "counted from code (store.rs not metered): table rows and setAlarm only, a lower bound (each index on a written column adds one)".into() },
        ),
        (
            "DO rows read",
            "do_rows_read",
            do_rows_read,
            if do_rows_metered { "measured (cursor.rowsRead)".into() } else { "counted from code (store.rs not metered)".into() },
        ),
        (
            "queue operations",
            "queue_operation",
            per(queue_ops),
            if queue_inferred { "measured reads and deletes; writes the store makes are inferred from first deliveries (store.rs not metered)".into() } else { "measured: writes, reads, deletes".into() },
        ),
        ("D1 rows read", "d1_rows_read", per(tally.op("d1_rows_read")), "measured (meta.rows_read)".into()),
        ("D1 rows written", "d1_rows_written", per(tally.op("d1_rows_written")), "measured (meta.rows_written)".into()),
        ("R2 Class A", "r2_class_a", per(tally.op("r2_class_a")), "measured (puts)".into()),
        ("R2 Class B", "r2_class_b", per(tally.op("r2_class_b")), "measured".into()),
        ("KV reads", "kv_read", per(tally.op("kv_read")), "measured".into()),
        ("KV writes", "kv_write", per(tally.op("kv_write")), "measured".into()),
        ("KV deletes", "kv_delete", per(tally.op("kv_delete")), "measured".into()),
    ];
    println!(
        "{:<22} {:>11} {:>17}   how",
        "operation", "per signal", "$ per 1M signals"
    );
    let mut total = 0.0;
    let mut dominant = ("", 0.0);
    for (name, op, units, how) in &rows {
        let usd = prices.per_million_signals(op, *units);
        total += usd;
        if usd > dominant.1 {
            dominant = (name, usd);
        }
        println!("{name:<22} {units:>11.2} {usd:>17.2}   {how}");
    }
    println!("{:<22} {:>11} {total:>17.2}", "total", "");
    println!(
        "dominant: {} (${:.2} of ${total:.2} per million signals, {:.0}%)",
        dominant.0,
        dominant.1,
        100.0 * dominant.1 / total.max(f64::MIN_POSITIVE)
    );
    println!("not measured: Durable Object duration (GB-s), storage (GB-month), the crons' own work (fixed per minute, not per signal)");
    println!("per signal by target:");
    for ((op, on), units) in &tally.by_on {
        println!("  {op:<18} {on:<24} {:>8.2}", per(*units));
    }
}

/// The cost benchmark's spacing: about the rate of a million signals a month (one per 2.6 s).
const COST_SPACING: Duration = Duration::from_millis(2_500);

/// Rows the store writes per signal, counted from `gateway/src/store.rs` while its statements
/// are not metered: the intake's insert, the claim's, the grant's, the completion's and the
/// published mark's saves, the outbox alarm's mark and, at the key's end, its delete (7), and
/// two `setAlarm`s (the intake's outbox alarm and the expiry alarm the alarm sets after it).
const STORE_ROWS_WRITTEN_PER_SIGNAL: f64 = 9.0;
/// Rows it reads per signal, likewise: the four loads before a save, the status read after the
/// published mark, the alarm's read of unmarked rows and of the next expiry.
const STORE_ROWS_READ_PER_SIGNAL: f64 = 7.0;

/// Each deployable's wasm and its gzipped size (`gzip -6`, as `cargo xtask build` compresses),
/// from `<crate>/build/`.
fn wasm_sizes() -> Vec<(&'static str, u64, Option<u64>)> {
    fn find(dir: &std::path::Path) -> Option<std::path::PathBuf> {
        for entry in std::fs::read_dir(dir).ok()?.flatten() {
            let p = entry.path();
            if p.is_dir() {
                if let Some(found) = find(&p) {
                    return Some(found);
                }
            } else if p.extension().is_some_and(|e| e == "wasm") {
                return Some(p);
            }
        }
        None
    }
    registry::DEPLOYABLES
        .iter()
        .filter_map(|d| {
            let wasm = find(&integration::root().join(d.krate).join("build"))?;
            let size = std::fs::metadata(&wasm).ok()?.len();
            let gzipped = std::process::Command::new("gzip")
                .args(["-6", "-n", "-c"])
                .arg(&wasm)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| o.stdout.len() as u64);
            Some((d.krate, size, gzipped))
        })
        .collect()
}

/// The cold start: a fresh stack (new state, no worker has run a signal; the harness's
/// `/health` reached the gateway), one live signal timed from the webhook to the exchange's
/// acceptance, and a second right after it for contrast; then each worker's wasm size.
fn cold() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    use integration::mock_exchange::{MockCredentials, MockExchanges};
    let mock = rt
        .block_on(MockExchanges::start(MockCredentials::default()))
        .expect("mock exchanges");
    let vars = integration::mock_exchange_vars(&mock);
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let hoox = Hoox::start_with(&vars);
    let run = std::process::id();
    let mut lines = vec![];
    rt.block_on(async {
        // Through the fixture, straight to CONFIG_KV: no hoox worker runs before the signal.
        hoox.put_kv("trade:mode", "live").await;
        for (i, what) in [
            "first signal (fresh isolates)",
            "second signal, right after",
        ]
        .iter()
        .enumerate()
        {
            let key = format!("cold-{run}-{i}");
            let body = entry_signal(&hoox.api_key, &key, 0);
            let at = wall_ms();
            let t = Instant::now();
            let accepted = post_signal(&hoox.http, &hoox.base, &body).await;
            let answered = t.elapsed();
            assert!(accepted, "{what} not accepted:\n{}", hoox.log_tail(40));
            // The exchange's acceptance of this signal's order, by its client order id.
            let id = hoox.client_order_id(&key).await.expect("client order id");
            let deadline = Instant::now() + Duration::from_secs(60);
            let acked = loop {
                let found = mock
                    .orders()
                    .iter()
                    .find(|o| o.client_order_id == id)
                    .map(|o| o.accepted_at_ms);
                if found.is_some() || Instant::now() > deadline {
                    break found;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            let Some(acked) = acked else {
                panic!(
                    "{what}: no order at the exchange in 60 s:\n{}",
                    hoox.log_tail(40)
                );
            };
            lines.push(format!(
                "{what:<34} webhook -> 202 {:>7.1} ms   webhook -> exchange accepted {:>6} ms",
                answered.as_secs_f64() * 1000.0,
                acked - at
            ));
        }
    });
    drop(hoox);
    drop(mock);
    println!("cold-start benchmark: a fresh local stack, live mode against the mock exchanges (bybit ETHUSDT market entries)");
    for l in lines {
        println!("{l}");
    }
    println!("worker wasm sizes (<crate>/build, gzip -6):");
    for (krate, size, gz) in wasm_sizes() {
        let gz_kib = gz.map(|g| g as f64 / 1024.0);
        let flag = match gz_kib {
            Some(k) if k > 400.0 => "  OVER the 400 KiB budget",
            Some(k) if k > 300.0 => "  above 300 KiB",
            Some(_) => "",
            None => "  (gzip unavailable)",
        };
        println!(
            "  {krate:<14} {:>8.0} KiB wasm {:>8.0} KiB gzipped{flag}",
            size as f64 / 1024.0,
            gz_kib.unwrap_or(0.0)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meter_lines_are_read_from_the_workers_log() {
        let log = r#"{"level":"INFO","fields":{"message":"ledger written","events":1}}
{"level":"INFO","fields":{"message":"meter","op":"kv_read","n":17,"on":"CONFIG_KV"},"span":{"request_id":"r","worker":"trade-worker","name":"request"}}
prefix {"level":"INFO","fields":{"message":"meter","op":"queue_read","n":2,"on":"trade-events"}}
{"level":"INFO","fields":{"message":"meter","op":"broken"
"#;
        let events = meter_events(log);
        assert_eq!(
            events,
            vec![
                MeterEvent {
                    op: "kv_read".into(),
                    n: 17,
                    on: "CONFIG_KV".into(),
                    worker: "trade-worker".into()
                },
                MeterEvent {
                    op: "queue_read".into(),
                    n: 2,
                    on: "trade-events".into(),
                    worker: String::new()
                },
            ]
        );
    }

    #[test]
    fn unmetered_queue_writes_are_inferred_from_first_deliveries() {
        let e = |op: &str, n: u64, on: &str| MeterEvent {
            op: op.into(),
            n,
            on: on.into(),
            worker: String::new(),
        };
        let tally = Tally::of(&[
            // trade-execution: the store's send unmetered; 3 delivered, one of them a retry.
            e("queue_read", 3, "trade-execution"),
            e("queue_redelivery", 1, "trade-execution"),
            e("queue_delete", 2, "trade-execution"),
            // trade-events: its write metered.
            e("queue_write", 2, "trade-events"),
            e("queue_read", 2, "trade-events"),
            e("queue_delete", 2, "trade-events"),
        ]);
        assert_eq!(tally.queue_operations(), (2 + 3 + 2 + 2 + 2 + 2, true));
        let metered = Tally::of(&[
            e("queue_write", 1, "q"),
            e("queue_read", 1, "q"),
            e("queue_delete", 1, "q"),
        ]);
        assert_eq!(metered.queue_operations(), (3, false));
    }

    #[test]
    fn the_price_table_prices_every_operation_the_bench_prints() {
        let prices = Prices::load();
        assert!(prices.read.starts_with("20"), "{}", prices.read);
        for op in [
            "worker_request",
            "worker_cpu_ms",
            "do_request",
            "do_rows_written",
            "do_rows_read",
            "queue_operation",
            "d1_rows_read",
            "d1_rows_written",
            "r2_class_a",
            "r2_class_b",
            "kv_read",
            "kv_write",
            "kv_delete",
        ] {
            assert!(prices.per_million_signals(op, 1.0) > 0.0, "{op}");
        }
        assert_eq!(
            prices.per_million_signals("queue_operation", 3.0),
            3.0 * 0.40
        );
    }
}
