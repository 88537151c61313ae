//! `cargo xtask bench`: load figures for hoox on the local Workers runtime.
//!
//! `ingest`: in one `wrangler dev`, closed-loop load with N connections against a trivial
//! worker that answers 200 (the runtime's ceiling on this machine), then against the gateway
//! with unique idempotency keys, then with one repeated key (duplicate replays). Prints
//! requests/s, the gateway/trivial ratio, and p50/p99 latency of each.
//!
//! `e2e`: live trading against the mock exchanges (signatures verified): N signals posted with
//! 16 connections; prints signals/s from the first webhook to the last order acknowledged at the
//! exchange, and p50/p99 of each signal's webhook → exchange-acknowledgement latency.

use integration::Hoox;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Figures {
    name: &'static str,
    requests: usize,
    errors: usize,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
}

impl Figures {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
    fn print(&self) {
        println!(
            "{:<22} {:>8.0} req/s   p50 {:>6.1} ms   p99 {:>6.1} ms   ({} requests, {} errors, {:.1} s)",
            self.name,
            self.rps(),
            self.p50_ms,
            self.p99_ms,
            self.requests,
            self.errors,
            self.seconds
        );
    }
}

#[derive(Clone, Copy)]
enum Load {
    /// The fixture itself answers (no hop).
    Direct,
    /// The trivial worker, behind the same service-binding hop as the gateway.
    Trivial,
    /// The gateway's `GET /health`: the Rust worker with no store or queue call.
    Health,
    /// A signal with a wrong key: parsing and authentication, refused before the store.
    Refused,
    Unique,
    Duplicate,
}

async fn phase(
    h: &Hoox,
    name: &'static str,
    load: Load,
    connections: usize,
    duration: Duration,
) -> Figures {
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let run = std::process::id();
    let tasks = (0..connections).map(|_| {
        let counter = counter.clone();
        let client = h.http.clone();
        let base = h.base.clone();
        let api_key = h.api_key.clone();
        async move {
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                let result = match load {
                    Load::Direct => client.get(format!("{base}/__fixture/ok")).send().await,
                    Load::Trivial => client.get(format!("{base}/__fixture/trivial")).send().await,
                    Load::Health => client.get(format!("{base}/health")).send().await,
                    Load::Refused => {
                        let body = json!({"apiKey": "wrong", "exchange": "paper", "action": "LONG", "symbol": "BTCUSDT", "quantity": "0.001", "price": 65000});
                        client
                            .post(format!("{base}/webhook"))
                            .header("content-type", "application/json")
                            .body(body.to_string())
                            .send()
                            .await

                    }
                    Load::Unique | Load::Duplicate => {
                        let key = match load {
                            Load::Unique => format!("bench-{run}-{n}"),
                            _ => format!("bench-{run}-dup"),
                        };
                        let body = json!({"apiKey": api_key, "exchange": "paper", "action": "LONG", "symbol": "BTCUSDT", "quantity": "0.001", "price": 65000, "idempotencyKey": key});
                        client
                            .post(format!("{base}/webhook"))
                            .header("content-type", "application/json")
                            .body(body.to_string())
                            .send()
                            .await
                    }
                };
                let ok = match result {
                    Ok(r) => {
                        let good = r.status().is_success() || matches!(load, Load::Refused);
                        let _ = r.bytes().await;
                        good
                    }
                    Err(_) => false,
                };
                if ok {
                    latencies.push(t.elapsed());
                } else {
                    errors += 1;
                }
            }
            (latencies, errors)
        }
    });
    let results = futures::future::join_all(tasks).await;
    let seconds = started.elapsed().as_secs_f64();
    let mut all: Vec<Duration> = results
        .iter()
        .flat_map(|(l, _)| l.iter().copied())
        .collect();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    };
    Figures {
        name,
        requests: all.len(),
        errors: results.iter().map(|(_, e)| e).sum(),
        seconds,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_else(|| "ingest".into());
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(10);
    let connections = 16;
    match what.as_str() {
        "ingest" | "ingest-full" => {
            // `ingest` measures the gateway's own work: the consumers are not started, so jobs
            // wait in the local queue instead of competing for the same two cores.
            // `ingest-full` runs every worker, so execution and the ledger share the machine.
            if what == "ingest" && std::env::var_os("HOOX_IT_CONFIGS").is_none() {
                std::env::set_var(
                    "HOOX_IT_CONFIGS",
                    "tests/fixture/wrangler.jsonc,tests/fixture/trivial.jsonc,wrangler.jsonc",
                );
            }
            // LOG_LEVEL in the environment is passed on to the workers (e.g. `warn` to see what
            // the local runtime's log pipeline costs).
            let level = std::env::var("LOG_LEVEL").unwrap_or_else(|_| "info".into());
            let hoox = Hoox::start_with(&[
                ("WEBHOOK_RATE_LIMIT", "1000000/s"),
                ("LOG_LEVEL", level.as_str()),
            ]);
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            let d = Duration::from_secs(seconds);
            println!(
                "{what} benchmark: {connections} connections, {seconds} s per phase, one wrangler dev (workerd), 2 cores, workers: {}",
                std::env::var("HOOX_IT_CONFIGS").unwrap_or_else(|_| "all".into())
            );
            // Warm every isolate first.
            rt.block_on(phase(
                &hoox,
                "warm-up",
                Load::Unique,
                4,
                Duration::from_secs(2),
            ));
            let direct = rt.block_on(phase(
                &hoox,
                "entry worker (200)",
                Load::Direct,
                connections,
                d,
            ));
            direct.print();
            let trivial = rt.block_on(phase(
                &hoox,
                "trivial worker (200)",
                Load::Trivial,
                connections,
                d,
            ));
            trivial.print();
            rt.block_on(phase(
                &hoox,
                "gateway GET /health",
                Load::Health,
                connections,
                d,
            ))
            .print();
            rt.block_on(phase(
                &hoox,
                "gateway, refused (401)",
                Load::Refused,
                connections,
                d,
            ))
            .print();
            let unique = rt.block_on(phase(
                &hoox,
                "gateway, unique keys",
                Load::Unique,
                connections,
                d,
            ));
            unique.print();
            let dup = rt.block_on(phase(
                &hoox,
                "gateway, duplicates",
                Load::Duplicate,
                connections,
                d,
            ));
            dup.print();
            println!(
                "gateway / trivial = {:.2}x   (target >= 0.25x, p99 < 100 ms); gateway / entry worker without the hop = {:.2}x",
                unique.rps() / trivial.rps(),
                unique.rps() / direct.rps()
            );
        }
        "e2e" => e2e(seconds as usize * 30),
        other => {
            eprintln!("unknown benchmark {other}; try `ingest` or `e2e`");
            std::process::exit(2);
        }
    }
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Webhook → order acknowledged at the (mock) exchange, end to end.
fn e2e(signals: usize) {
    use contracts::signal::Exchange;
    use integration::mock_exchange::{MockCredentials, MockExchanges};
    let rt = tokio::runtime::Runtime::new().expect("runtime");
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
    let exchanges = [Exchange::Bybit, Exchange::Binance, Exchange::Mexc];
    let run = std::process::id();
    let sent = Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
    let next = Arc::new(AtomicU64::new(0));
    let started = wall_ms();
    rt.block_on(async {
        let tasks = (0..16).map(|_| {
            let (sent, next, client) = (sent.clone(), next.clone(), hoox.http.clone());
            let (base, api_key) = (hoox.base.clone(), hoox.api_key.clone());
            async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    if i >= signals {
                        break;
                    }
                    let key = format!("e2e-{run}-{i}");
                    let body = json!({"apiKey": api_key, "exchange": exchanges[i % 3].as_str(), "action": "LONG", "symbol": "ETHUSDT", "quantity": "0.01", "price": "3000", "orderType": "market", "idempotencyKey": key});
                    let at = wall_ms();
                    let ok = client.post(format!("{base}/webhook")).header("content-type", "application/json").body(body.to_string()).send().await.map(|r| r.status().as_u16() == 202).unwrap_or(false);
                    if ok {
                        if let Ok(mut m) = sent.lock() {
                            m.insert(contracts::idempotency::client_order_id(&key), at);
                        }
                    }
                }
            }
        });
        futures::future::join_all(tasks).await;
    });
    let accepted = sent.lock().map(|m| m.clone()).unwrap_or_default();
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
    let mut latencies: Vec<i64> = acked.iter().map(|(s, a)| a - s).collect();
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    let last = acked.iter().map(|(_, a)| *a).max().unwrap_or(started);
    let secs = ((last - started) as f64 / 1000.0).max(0.001);
    println!("e2e benchmark: {signals} signals, 16 connections, live mode against the mock exchanges (bybit, binance, mexc)");
    println!(
        "accepted {} / acknowledged at the exchange {}: {:.1} signals/s webhook -> exchange ack; latency p50 {} ms, p99 {} ms",
        accepted.len(),
        acked.len(),
        acked.len() as f64 / secs,
        pct(0.50),
        pct(0.99)
    );
    drop(hoox);
    drop(mock);
}
