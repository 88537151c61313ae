//! `cargo xtask deploy` against a fake wrangler that keeps an account and enforces the
//! platform's rules: a deploy is refused while a service binding or a Durable Object class
//! names a worker that does not exist, or while a KV, D1, R2 or queue binding names a resource
//! the account lacks; creating what exists fails; nothing works before login.

use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use xtask::deploy::{self, Create, Deploy, DeployError, WorkerConfig, Wrangler, CONFIGS};

#[derive(Default)]
struct Fake {
    root: PathBuf,
    logged_in: bool,
    kv: BTreeMap<String, String>,
    databases: BTreeMap<String, String>,
    buckets: BTreeSet<String>,
    queues: BTreeSet<String>,
    /// worker → the services its live version binds
    workers: BTreeMap<String, Vec<String>>,
    /// worker → secrets set
    secrets: BTreeMap<String, BTreeSet<String>>,
    migrated: Vec<String>,
    calls: Vec<String>,
    fail_deploy_of: Option<String>,
    ids: u32,
    /// Workers deployed with a workers.dev URL or preview URLs.
    reachable: BTreeSet<String>,
}

impl Fake {
    fn new(root: &Path) -> Self {
        Self {
            root: root.to_owned(),
            logged_in: true,
            ..Self::default()
        }
    }

    fn id(&mut self, kind: &str) -> String {
        self.ids += 1;
        format!("{kind}{:032x}", self.ids)
    }

    fn deploy(&mut self, config: &str) -> Result<String, String> {
        let text = std::fs::read_to_string(self.root.join(config)).map_err(|e| e.to_string())?;
        let c = WorkerConfig::parse(config, &text).map_err(|e| e.to_string())?;
        if self.fail_deploy_of.as_deref() == Some(c.name.as_str()) {
            return Err("A request to the Cloudflare API failed. [code: 10013]".into());
        }
        for (binding, id) in &c.kv {
            if !self.kv.values().any(|v| v == id) {
                return Err(format!(
                    "KV namespace '{id}' ({binding}) is not valid. [code: 10041]"
                ));
            }
        }
        for db in &c.databases {
            if self.databases.get(&db.name) != Some(&db.id) {
                return Err(format!("D1 database {} not found. [code: 10181]", db.id));
            }
        }
        for b in &c.buckets {
            if !self.buckets.contains(b) {
                return Err(format!("R2 bucket '{b}' not found. [code: 10085]"));
            }
        }
        for q in &c.queues {
            if !self.queues.contains(q) {
                return Err(format!("Queue \"{q}\" does not exist. [code: 11000]"));
            }
        }
        for s in &c.services {
            if *s != c.name && !self.workers.contains_key(s) {
                return Err(format!(
                    "Could not resolve service binding '{s}'. [code: 10144]"
                ));
            }
        }
        for s in &c.object_scripts {
            if !self.workers.contains_key(s) {
                return Err(format!(
                    "Cannot create binding for class in script '{s}' that does not exist. [code: 10061]"
                ));
            }
        }
        self.workers.insert(c.name.clone(), c.services.clone());
        // wrangler prints a workers.dev URL only for a worker that has one (on by default).
        let url = if c.workers_dev == Some(false) {
            String::new()
        } else {
            format!("\n  https://{}.example.workers.dev", c.name)
        };
        if c.workers_dev != Some(false) || c.preview_urls != Some(false) {
            self.reachable.insert(c.name.clone());
        } else {
            self.reachable.remove(&c.name);
        }
        Ok(format!(
            "Uploaded {0} (2.1 sec)\nDeployed {0} triggers (0.4 sec){url}\nCurrent Version ID: 1",
            c.name
        ))
    }
}

impl Wrangler for Fake {
    fn run(&mut self, args: &[&str]) -> Result<String, String> {
        self.calls.push(args.join(" "));
        if !self.logged_in {
            return Err("You are not authenticated. Please run `wrangler login`.".into());
        }
        let exists = |yes: bool, what: &str| {
            if yes {
                Ok(format!("{what} exists"))
            } else {
                Err(format!("{what} not found"))
            }
        };
        match args {
            ["kv", "namespace", "list"] => Ok(json!(self
                .kv
                .iter()
                .map(|(t, id)| json!({"id": id, "title": t}))
                .collect::<Vec<_>>())
            .to_string()),
            ["kv", "namespace", "create", title] => {
                if self.kv.contains_key(*title) {
                    return Err(format!(
                        "A KV namespace with the title \"{title}\" already exists."
                    ));
                }
                let id = self.id("");
                self.kv.insert(title.to_string(), id.clone());
                Ok(format!(
                    "{{\"kv_namespaces\": [{{\"binding\": \"X\", \"id\": \"{id}\"}}]}}"
                ))
            }
            ["d1", "list", "--json"] => Ok(json!(self
                .databases
                .iter()
                .map(|(n, id)| json!({"uuid": id, "name": n, "version": "production"}))
                .collect::<Vec<_>>())
            .to_string()),
            ["d1", "create", name] => {
                if self.databases.contains_key(*name) {
                    return Err("A database with that name already exists [code: 7502]".into());
                }
                let id = self.id("d1-");
                self.databases.insert(name.to_string(), id);
                Ok(format!("Successfully created DB '{name}'"))
            }
            ["r2", "bucket", "info", b] => exists(self.buckets.contains(*b), b),
            ["r2", "bucket", "create", b] => {
                if !self.buckets.insert(b.to_string()) {
                    return Err(
                        "The bucket you tried to create already exists [code: 10004]".into(),
                    );
                }
                Ok(format!("Created bucket '{b}'"))
            }
            ["queues", "info", q] => exists(self.queues.contains(*q), q),
            ["queues", "create", q] => {
                if !self.queues.insert(q.to_string()) {
                    return Err("Queue name already taken [code: 11009]".into());
                }
                Ok(format!("Created queue '{q}'"))
            }
            ["deployments", "list", "--name", w, "--json"] => {
                exists(self.workers.contains_key(*w), w).map(|_| "[]".into())
            }
            ["d1", "migrations", "apply", db, "--remote", "-c", config] => {
                let text =
                    std::fs::read_to_string(self.root.join(config)).map_err(|e| e.to_string())?;
                let c = WorkerConfig::parse(config, &text).map_err(|e| e.to_string())?;
                if !c
                    .databases
                    .iter()
                    .any(|d| d.name == *db && self.databases.get(*db) == Some(&d.id))
                {
                    return Err(format!("Couldn't find DB with name '{db}'"));
                }
                self.migrated.push(db.to_string());
                Ok("Migrations applied".into())
            }
            ["deploy", "-c", config] => self.deploy(config),
            ["secret", "list", "--name", w, "--format", "json"] => {
                if !self.workers.contains_key(*w) {
                    return Err(format!("Worker \"{w}\" not found."));
                }
                let set = self.secrets.get(*w).cloned().unwrap_or_default();
                Ok(json!(set
                    .iter()
                    .map(|n| json!({"name": n, "type": "secret_text"}))
                    .collect::<Vec<_>>())
                .to_string())
            }
            other => Err(format!(
                "the fake does not know `wrangler {}`",
                other.join(" ")
            )),
        }
    }
}

/// A copy of the repository's five worker configs in a fresh directory, removed on drop (so
/// a failing test leaves nothing behind either).
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn configs_copy(tag: &str) -> Scratch {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::temp_dir().join(format!("hoox-deploy-{tag}-{}", std::process::id()));
    for c in CONFIGS {
        let to = dir.join(c);
        std::fs::create_dir_all(to.parent().unwrap_or(&dir)).unwrap_or_else(|e| panic!("{e}"));
        std::fs::copy(repo.join(c), &to).unwrap_or_else(|e| panic!("{c}: {e}"));
    }
    Scratch(dir)
}

fn texts(dir: &Path) -> Vec<String> {
    CONFIGS
        .iter()
        .map(|c| std::fs::read_to_string(dir.join(c)).unwrap_or_else(|e| panic!("{c}: {e}")))
        .collect()
}

/// The deploy's result and what it printed.
fn deploy_printing(
    dir: &Path,
    fake: &mut Fake,
    dry_run: bool,
) -> (Result<deploy::Report, DeployError>, String) {
    let mut out = Vec::new();
    let r = deploy::run(dir, fake, dry_run, &mut out);
    let printed = String::from_utf8_lossy(&out).into_owned();
    println!("{printed}");
    (r, printed)
}

fn deploy(dir: &Path, fake: &mut Fake, dry_run: bool) -> Result<deploy::Report, DeployError> {
    deploy_printing(dir, fake, dry_run).0
}

/// SPEC §7's order, which a deploy keeps once every worker exists.
const SPEC_ORDER: [&str; 9] = [
    "telegram-worker",
    "d1-worker",
    "dlq",
    "report-worker",
    "trade-worker",
    "agent-worker",
    "dashboard",
    "email-worker",
    "hoox",
];

fn names(deploys: &[Deploy]) -> Vec<String> {
    deploys
        .iter()
        .map(|d| {
            if d.without.is_empty() {
                d.worker.clone()
            } else {
                format!("{} without {}", d.worker, d.without.join("+"))
            }
        })
        .collect()
}

#[test]
fn a_fresh_account_gets_everything_and_every_deploy_is_accepted() {
    let dir = configs_copy("fresh");
    let before = texts(&dir);
    let mut fake = Fake::new(&dir);
    let (report, printed) = deploy_printing(&dir, &mut fake, false);
    let report = report.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        printed.contains("] deploy hoox\n      https://hoox.example.workers.dev"),
        "the gateway's URL is shown under its deploy:\n{printed}"
    );
    assert!(
        printed.contains("[26/26] check each worker's secrets"),
        "{printed}"
    );
    // Only the gateway is public: no other worker has a workers.dev or preview URL.
    assert_eq!(fake.reachable, ["hoox".to_string()].into());
    assert_eq!(printed.matches(".workers.dev").count(), 2, "{printed}");
    assert!(
        printed.contains("] deploy dlq (internal: no workers.dev or preview URL)"),
        "{printed}"
    );

    let created: BTreeSet<Create> = report.created.iter().cloned().collect();
    let expected: BTreeSet<Create> = [
        Create::Queue("trade-execution".into()),
        Create::Queue("trade-execution-dlq".into()),
        Create::Queue("trade-events".into()),
        Create::Queue("trade-events-dlq".into()),
        Create::Bucket("hoox-system-logs".into()),
        Create::Bucket("trade-reports".into()),
        Create::Bucket("user-uploads".into()),
        Create::Kv("hoox-config-kv".into()),
        Create::Kv("hoox-sessions-kv".into()),
        Create::Database("trade-data-db".into()),
    ]
    .into_iter()
    .collect();
    assert_eq!(created, expected);
    assert_eq!(report.created.len(), expected.len(), "each resource once");

    // The gateway binds the dlq and telegram workers, and both bind the gateway's store object
    // (telegram-worker for the kill switch), so the gateway goes first without those two
    // services and again whole; the report-worker and telegram-worker bind each other, so the
    // report-worker goes first without telegram-worker and again whole (the agent-worker too:
    // telegram-worker binds it, and it binds trade-worker, which binds the gateway's store;
    // and the email-worker: the gateway binds it, and it binds trade-worker); every other
    // worker once, after its targets.
    assert_eq!(
        names(&report.deploys),
        [
            "d1-worker",
            "report-worker without telegram-worker",
            "agent-worker without trade-worker+telegram-worker",
            "email-worker without trade-worker+telegram-worker",
            "hoox without dlq+telegram-worker+dashboard",
            "telegram-worker",
            "dlq",
            "report-worker",
            "trade-worker",
            "agent-worker",
            "dashboard",
            "email-worker",
            "hoox"
        ]
    );
    assert_eq!(
        fake.workers.get("hoox").map(Vec::as_slice),
        Some(
            &[
                "dlq".to_string(),
                "agent-worker".into(),
                "d1-worker".into(),
                "report-worker".into(),
                "telegram-worker".into(),
                "dashboard".into(),
                "email-worker".into()
            ][..]
        ),
        "the gateway's live version binds every service"
    );
    assert_eq!(fake.migrated, ["trade-data-db"]);
    let first_deploy = fake.calls.iter().position(|c| c.starts_with("deploy "));
    let migration = fake
        .calls
        .iter()
        .position(|c| c.starts_with("d1 migrations"));
    assert!(
        migration < first_deploy,
        "the schema exists before a worker runs"
    );

    // The configs name the account's ids, keep their comments, and no temporary file stays.
    let after = texts(&dir);
    for (c, (old, new)) in CONFIGS.iter().zip(before.iter().zip(&after)) {
        assert!(
            !new.contains("\"local-"),
            "{c} still has a placeholder id:\n{new}"
        );
        assert_eq!(
            old.lines()
                .filter(|l| l.trim_start().starts_with("//"))
                .count(),
            new.lines()
                .filter(|l| l.trim_start().starts_with("//"))
                .count(),
            "{c} keeps its comments"
        );
    }
    let config_kv = &fake.kv["hoox-config-kv"];
    assert!(after[5].contains(&format!("\"id\": \"{config_kv}\"")));
    assert!(after[4].contains(&format!(
        "\"database_id\": \"{}\"",
        fake.databases["trade-data-db"]
    )));
    assert!(!dir.join(".deploy-hoox.json").exists());
    assert_eq!(
        report.rewritten.len(),
        9,
        "every config binds a KV namespace or D1"
    );

    // No secret is set yet: each worker's required ones are listed.
    let hoox = report.secrets.iter().find(|(w, _, _)| w == "hoox");
    assert_eq!(
        hoox.map(|(_, r, o)| (r.clone(), o.clone())),
        Some((
            // The gateway checks Telegram's secret token itself before reading an update.
            vec![
                "WEBHOOK_API_KEY".to_string(),
                "INTERNAL_KEY_BINDING".into(),
                "TELEGRAM_SECRET_TOKEN".into()
            ],
            vec!["WEBHOOK_SIGNING_SECRET".to_string()]
        ))
    );
    assert_eq!(report.secrets.len(), 9);
    let email = report.secrets.iter().find(|(w, _, _)| w == "email-worker");
    assert_eq!(
        email.map(|(_, r, _)| r.clone()),
        Some(vec![
            "INTERNAL_KEY_BINDING".to_string(),
            "MAILGUN_WEBHOOK_SIGNING_KEY".into()
        ])
    );
}

#[test]
fn a_second_deploy_creates_and_rewrites_nothing_and_deploys_each_worker_once() {
    let dir = configs_copy("again");
    let mut fake = Fake::new(&dir);
    deploy(&dir, &mut fake, false).unwrap_or_else(|e| panic!("{e}"));
    let configs = texts(&dir);
    fake.secrets.insert(
        "hoox".into(),
        [
            "WEBHOOK_API_KEY",
            "INTERNAL_KEY_BINDING",
            "TELEGRAM_SECRET_TOKEN",
            "WEBHOOK_SIGNING_SECRET",
        ]
        .map(String::from)
        .into(),
    );
    fake.calls.clear();

    let report = deploy(&dir, &mut fake, false).unwrap_or_else(|e| panic!("{e}"));
    assert!(report.created.is_empty(), "{:?}", report.created);
    assert!(report.rewritten.is_empty());
    assert_eq!(texts(&dir), configs);
    assert_eq!(
        names(&report.deploys),
        SPEC_ORDER,
        "with every worker live, the order of SPEC §7"
    );
    assert!(
        !fake.calls.iter().any(|c| c.contains(" create ")),
        "{:?}",
        fake.calls
    );
    assert!(
        report.secrets.iter().all(|(w, _, _)| w != "hoox"),
        "a worker with its secrets set is not listed"
    );
}

#[test]
fn a_dry_run_reads_the_account_and_changes_nothing() {
    let dir = configs_copy("dry");
    let before = texts(&dir);
    let mut fake = Fake::new(&dir);
    let report = deploy(&dir, &mut fake, true).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        report.created.len(),
        10,
        "the plan names what it would create"
    );
    assert_eq!(report.deploys.len(), 13);
    assert_eq!(texts(&dir), before);
    let writes: Vec<&String> = fake
        .calls
        .iter()
        .filter(|c| !(c.contains(" list") || c.contains(" info ")))
        .collect();
    assert!(writes.is_empty(), "a dry run only reads: {writes:?}");
    assert!(fake.workers.is_empty() && fake.queues.is_empty() && fake.kv.is_empty());
}

#[test]
fn without_a_login_the_deploy_stops_at_the_first_listing() {
    let dir = configs_copy("login");
    let before = texts(&dir);
    let mut fake = Fake::new(&dir);
    fake.logged_in = false;
    let e = deploy(&dir, &mut fake, false).map(|_| ()).err();
    let message = e.map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("wrangler kv namespace list"), "{message}");
    assert!(message.contains("wrangler login"), "{message}");
    assert_eq!(fake.calls.len(), 1);
    assert_eq!(texts(&dir), before);
}

#[test]
fn a_refused_deploy_stops_with_wranglers_reason_and_a_rerun_finishes() {
    let dir = configs_copy("refused");
    let mut fake = Fake::new(&dir);
    fake.fail_deploy_of = Some("dlq".into());
    let message = deploy(&dir, &mut fake, false)
        .map(|_| ())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        message.contains("wrangler deploy -c dlq/wrangler.jsonc"),
        "{message}"
    );
    assert!(message.contains("code: 10013"), "{message}");
    assert!(
        !fake.workers.contains_key("trade-worker"),
        "nothing after the failure"
    );

    fake.fail_deploy_of = None;
    let report = deploy(&dir, &mut fake, false).unwrap_or_else(|e| panic!("{e}"));
    assert!(report.created.is_empty());
    // The gateway exists (its first pass), so no cycle is left to break.
    assert_eq!(names(&report.deploys), SPEC_ORDER);
    assert_eq!(fake.workers.len(), 9);
}

#[test]
fn an_id_the_operator_set_to_their_own_namespace_is_kept() {
    let dir = configs_copy("own");
    let mut fake = Fake::new(&dir);
    fake.kv.insert(
        "my-config".into(),
        "0123456789abcdef0123456789abcdef".into(),
    );
    for c in [
        "telegram/wrangler.jsonc",
        "consumers/wrangler.jsonc",
        "dlq/wrangler.jsonc",
        "agent-worker/wrangler.jsonc",
        "dashboard/wrangler.jsonc",
        "email-worker/wrangler.jsonc",
        "wrangler.jsonc",
    ] {
        let path = dir.join(c);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
        let text = text.replace(
            "\"local-config-kv\"",
            "\"0123456789abcdef0123456789abcdef\"",
        );
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    }
    let report = deploy(&dir, &mut fake, false).unwrap_or_else(|e| panic!("{e}"));
    assert!(!report
        .created
        .contains(&Create::Kv("hoox-config-kv".into())));
    assert!(report
        .created
        .contains(&Create::Kv("hoox-sessions-kv".into())));
    let gateway = std::fs::read_to_string(dir.join("wrangler.jsonc")).unwrap_or_default();
    assert!(gateway.contains("\"id\": \"0123456789abcdef0123456789abcdef\""));
    assert!(!gateway.contains("\"local-"), "{gateway}");
}

fn config(name: &str, services: &[&str], objects: &[&str]) -> WorkerConfig {
    let text = json!({
        "name": name,
        "services": services.iter().map(|s| json!({"binding": "S", "service": s})).collect::<Vec<_>>(),
        "durable_objects": {"bindings": objects.iter().map(|s| json!({"name": "O", "class_name": "C", "script_name": s})).collect::<Vec<_>>()},
    })
    .to_string();
    WorkerConfig::parse(&format!("{name}.jsonc"), &text).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_cycle_through_durable_objects_alone_is_refused_with_the_workers_named() {
    let configs = [config("a", &[], &["b"]), config("b", &[], &["a"])];
    let e = deploy::deploy_order(&configs, &BTreeSet::new()).err();
    let message = e.map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("a, b"), "{message}");
    // Once one of them exists, the other can go first.
    let live: BTreeSet<String> = ["a".to_string()].into();
    let order = deploy::deploy_order(&configs, &live).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(names(&order), ["b", "a"]);
}

#[test]
fn a_config_missing_what_a_binding_needs_is_refused_with_its_path() {
    let e = WorkerConfig::parse(
        "x/wrangler.jsonc",
        r#"{ "name": "x", "kv_namespaces": [{ "binding": "CONFIG_KV" }] }"#,
    )
    .err();
    let message = e.map(|e| e.to_string()).unwrap_or_default();
    assert!(message.starts_with("x/wrangler.jsonc: "), "{message}");
    assert!(message.contains("`id`"), "{message}");
    let e = WorkerConfig::parse("y.jsonc", "{ // no name\n }").err();
    assert!(e.is_some_and(|e| e.to_string().contains("no worker `name`")));
}

#[test]
fn a_listing_wrangler_does_not_document_is_an_error_not_an_empty_account() {
    struct Odd;
    impl Wrangler for Odd {
        fn run(&mut self, args: &[&str]) -> Result<String, String> {
            Ok(match args {
                ["kv", "namespace", "list"] => r#"[{"title": "hoox-config-kv"}]"#.into(),
                _ => "[]".into(),
            })
        }
    }
    let dir = configs_copy("odd");
    let configs = deploy::read_configs(&dir).unwrap_or_else(|e| panic!("{e}"));
    let message = deploy::discover(&mut Odd, &configs)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(message.contains("kv namespace list"), "{message}");
    assert!(message.contains("without `title` and `id`"), "{message}");
}

#[test]
fn every_worker_with_secrets_is_one_the_configs_deploy() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let configs = deploy::read_configs(&repo).unwrap_or_else(|e| panic!("{e}"));
    let workers: BTreeSet<&str> = configs.iter().map(|c| c.name.as_str()).collect();
    let listed: BTreeSet<&str> = deploy::secrets().iter().map(|(w, _, _)| *w).collect();
    assert_eq!(listed, workers);
}

/// Issue 13, item 1: the testnets have their own pairs, listed with the mainnet ones.
#[test]
fn the_trade_worker_lists_each_networks_own_exchange_pairs() {
    let dir = configs_copy("testnet-pairs");
    let mut fake = Fake::new(&dir);
    let report = deploy(&dir, &mut fake, true).unwrap_or_else(|e| panic!("{e}"));
    let trade = report.secrets.iter().find(|(w, _, _)| w == "trade-worker");
    assert_eq!(
        trade.map(|(_, r, o)| (r.clone(), o.clone())),
        Some((
            vec!["INTERNAL_KEY_BINDING".to_string()],
            [
                "BYBIT_API_KEY",
                "BYBIT_API_SECRET",
                "BINANCE_API_KEY",
                "BINANCE_API_SECRET",
                "MEXC_API_KEY",
                "MEXC_API_SECRET",
                "BYBIT_TESTNET_API_KEY",
                "BYBIT_TESTNET_API_SECRET",
                "BINANCE_TESTNET_API_KEY",
                "BINANCE_TESTNET_API_SECRET",
            ]
            .map(String::from)
            .to_vec()
        ))
    );
}

/// Issue 14: only the gateway is public. An internal worker whose config would give it a URL
/// stops the deploy before the account is read, naming the config and the keys to set.
#[test]
fn an_internal_worker_with_a_url_is_refused_before_anything_happens() {
    for (key, shown) in [
        (
            "\"workers_dev\": false",
            "workers_dev unset (on), preview_urls false",
        ),
        (
            "\"preview_urls\": false",
            "workers_dev false, preview_urls unset (on)",
        ),
    ] {
        let dir = configs_copy("public");
        let path = dir.join("dlq/wrangler.jsonc");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(text.contains(key), "the dlq's config sets {key}");
        std::fs::write(&path, text.replace(key, "\"unrelated\": 1"))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut fake = Fake::new(&dir);
        let message = deploy(&dir, &mut fake, true)
            .map(|_| ())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            message.starts_with("dlq/wrangler.jsonc: dlq is internal"),
            "{message}"
        );
        assert!(message.contains(shown), "{message}");
        assert!(fake.calls.is_empty(), "nothing read: {:?}", fake.calls);
    }
}

/// Every deployable's config in the tree sets the exposure the registry gives it.
#[test]
fn the_configs_expose_only_the_gateway() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let configs = deploy::read_configs(&repo).unwrap_or_else(|e| panic!("{e}"));
    let exposure =
        deploy::check_exposure(&registry::HOOX, &configs).unwrap_or_else(|e| panic!("{e}"));
    let public: Vec<&str> = exposure
        .iter()
        .filter(|(_, e)| *e == registry::Exposure::Public)
        .map(|(w, _)| w.as_str())
        .collect();
    assert_eq!(public, ["hoox"]);
    let gateway = configs.iter().find(|c| c.name == "hoox");
    assert!(gateway.is_some_and(|c| c.workers_dev != Some(false)));
}

/// Issue 14's "done when": a new worker is a crate plus one registry row. A trivial internal
/// worker (its config, and a row in a registry built from hoox's) is planned, checked for
/// exposure, deployed after what it binds and listed for its secrets with no other edit.
#[test]
fn a_new_worker_is_a_config_and_a_registry_row() {
    static ROWS: std::sync::OnceLock<Vec<registry::Deployable>> = std::sync::OnceLock::new();
    let rows = ROWS.get_or_init(|| {
        let mut rows = registry::DEPLOYABLES.to_vec();
        rows.push(registry::Deployable {
            krate: "digest-worker",
            worker: "digest-worker",
            config: "digest-worker/wrangler.jsonc",
            exposure: registry::Exposure::Internal,
            secrets: &[registry::INTERNAL_KEY, "DIGEST_API_TOKEN"],
            optional_secrets: &[],
            trades: false,
            binding: Some("DIGEST_SERVICE"),
            routes: &[],
        });
        rows
    });
    let reg = registry::Registry {
        deployables: rows,
        exchanges: &registry::EXCHANGES,
    };
    let dir = configs_copy("new-worker");
    let config = r#"// digest-worker: sends the daily report (a test-only row).
{
  "name": "digest-worker",
  "main": "build/index.js",
  "compatibility_date": "2025-11-01",
  "workers_dev": false,
  "preview_urls": false,
  "kv_namespaces": [{ "binding": "CONFIG_KV", "id": "local-config-kv" }],
  "services": [{ "binding": "D1_SERVICE", "service": "d1-worker" }],
}"#;
    std::fs::create_dir_all(dir.join("digest-worker")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join(reg.configs()[9]), config).unwrap_or_else(|e| panic!("{e}"));
    let mut fake = Fake::new(&dir);
    let mut out = Vec::new();
    let report =
        deploy::run_with(&reg, &dir, &mut fake, false, &mut out).unwrap_or_else(|e| panic!("{e}"));
    let order = names(&report.deploys);
    let at = |w: &str| order.iter().position(|n| n == w);
    assert!(at("digest-worker") > at("d1-worker"), "{order:?}");
    assert!(fake.workers.contains_key("digest-worker"));
    assert!(!fake.reachable.contains("digest-worker"), "internal");
    let digest = report.secrets.iter().find(|(w, _, _)| w == "digest-worker");
    assert_eq!(
        digest.map(|(_, r, _)| r.clone()),
        Some(vec![
            "INTERNAL_KEY_BINDING".to_string(),
            "DIGEST_API_TOKEN".into()
        ])
    );
    let rewritten =
        std::fs::read_to_string(dir.join("digest-worker/wrangler.jsonc")).unwrap_or_default();
    assert!(rewritten.starts_with("// digest-worker"), "comments kept");
    assert!(
        !rewritten.contains("local-config-kv"),
        "its KV id rewritten"
    );
    // The local run generates its new secret, and `wrangler dev` starts it.
    assert!(reg.local_secrets().contains(&"DIGEST_API_TOKEN"));
    assert!(reg.dev_configs().contains(&"digest-worker/wrangler.jsonc"));

    // The same row, public by mistake in its config, is refused.
    std::fs::write(
        dir.join("digest-worker/wrangler.jsonc"),
        config.replace("\"workers_dev\": false,", ""),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let e = deploy::run_with(&reg, &dir, &mut Fake::new(&dir), true, &mut Vec::new()).err();
    assert!(matches!(e, Some(DeployError::Public { worker, .. }) if worker == "digest-worker"));
}
