//! `cargo xtask deploy`: the production deploy (SPEC §7), a thin wrapper over wrangler.
//!
//! It reads the worker configs the registry lists, checks that only the public one (the
//! gateway) can be reached from the internet, asks wrangler what the account already has, creates what is
//! missing (queues and dead-letter queues, KV namespaces, the D1 database, R2 buckets), writes
//! the real ids into the configs in place of the local placeholders, applies the D1 migrations,
//! deploys every worker after the workers its bindings name, and lists the secrets still to set.
//! Everything that decides what to do is here, pure, and tested against a fake wrangler that
//! enforces the platform's rules; only [`Wrangler::run`] reaches Cloudflare.

use crate::jsonc;
use registry::Registry;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The worker configs, in the deploy order of SPEC §7 (used wherever the bindings allow it):
/// the registry's.
pub const CONFIGS: [&str; registry::DEPLOYABLES.len()] = {
    let mut out = [""; registry::DEPLOYABLES.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = registry::DEPLOYABLES[i].config;
        i += 1;
    }
    out
};

/// Secrets each worker reads, from the registry: (worker, required, optional). The same
/// `INTERNAL_KEY_BINDING` value must be set on every worker: it authenticates their calls to
/// one another. Live trading needs the pair of each exchange it trades on; paper trading needs
/// none; `test: true` signals are signed with the testnets' own pairs (MEXC has no testnet).
pub fn secrets() -> Vec<(&'static str, &'static [&'static str], Vec<&'static str>)> {
    secrets_of(&registry::HOOX)
}

/// [`secrets`] of any registry.
pub fn secrets_of(
    reg: &Registry,
) -> Vec<(&'static str, &'static [&'static str], Vec<&'static str>)> {
    reg.deployables
        .iter()
        .map(|d| (d.worker, d.secrets, d.all_optional_secrets()))
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("{path}: {message}")]
    Config { path: String, message: String },
    #[error("`wrangler {command}` failed:\n{message}")]
    Wrangler { command: String, message: String },
    #[error("`wrangler {command}` printed something other than what it documents: {message}")]
    Output { command: String, message: String },
    #[error("{what} was created, but `wrangler {command}` does not list it; run the deploy again")]
    NotListed { what: String, command: String },
    #[error(
        "the workers' Durable Object bindings form a cycle, so none can be deployed first: {0}"
    )]
    Cycle(String),
    #[error(
        "{path}: {worker} is internal (reached only through service bindings), so its config must \
         set \"workers_dev\": false and \"preview_urls\": false; it sets {found}"
    )]
    Public {
        path: String,
        worker: String,
        found: String,
    },
    #[error("{path}: worker {worker} is not in the registry (registry/src/lib.rs)")]
    Unregistered { path: String, worker: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

type Result<T> = std::result::Result<T, DeployError>;

/// Runs wrangler from the repository root.
pub trait Wrangler {
    /// Stdout when wrangler exits 0; otherwise what it printed, for the operator.
    fn run(&mut self, args: &[&str]) -> std::result::Result<String, String>;
}

/// A D1 database binding.
#[derive(Debug, Clone, PartialEq)]
pub struct Database {
    pub name: String,
    pub id: String,
    pub migrations: bool,
}

/// What one worker config needs from the account.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Relative to the repository root.
    pub path: String,
    pub text: String,
    pub name: String,
    /// (binding, id)
    pub kv: Vec<(String, String)>,
    pub databases: Vec<Database>,
    pub buckets: Vec<String>,
    /// Producer, consumer and dead-letter queues.
    pub queues: Vec<String>,
    /// Workers named by service bindings.
    pub services: Vec<String>,
    /// Workers whose Durable Object classes this one binds (`script_name`).
    pub object_scripts: Vec<String>,
    /// `workers_dev` and `preview_urls` as set (absent: wrangler's default, on).
    pub workers_dev: Option<bool>,
    pub preview_urls: Option<bool>,
}

fn strings<'a>(v: &'a Value, list: &str, field: &'a str) -> impl Iterator<Item = &'a str> {
    v[list]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(move |e| e[field].as_str())
}

impl WorkerConfig {
    pub fn parse(path: &str, text: &str) -> Result<Self> {
        let bad = |message: String| DeployError::Config {
            path: path.to_owned(),
            message,
        };
        let v = jsonc::parse(text).map_err(|e| bad(format!("not JSONC: {e}")))?;
        let name = v["name"]
            .as_str()
            .ok_or_else(|| bad("no worker `name`".into()))?
            .to_owned();
        let mut kv = Vec::new();
        for ns in v["kv_namespaces"].as_array().into_iter().flatten() {
            match (ns["binding"].as_str(), ns["id"].as_str()) {
                (Some(b), Some(id)) => kv.push((b.to_owned(), id.to_owned())),
                _ => return Err(bad("a KV namespace without `binding` and `id`".into())),
            }
        }
        let mut databases = Vec::new();
        for db in v["d1_databases"].as_array().into_iter().flatten() {
            match (db["database_name"].as_str(), db["database_id"].as_str()) {
                (Some(n), Some(id)) => databases.push(Database {
                    name: n.to_owned(),
                    id: id.to_owned(),
                    migrations: db["migrations_dir"].is_string(),
                }),
                _ => {
                    return Err(bad(
                        "a D1 database without `database_name` and `database_id`".into(),
                    ))
                }
            }
        }
        let queues = &v["queues"];
        let mut queue_names: Vec<String> = strings(queues, "producers", "queue")
            .chain(strings(queues, "consumers", "queue"))
            .chain(strings(queues, "consumers", "dead_letter_queue"))
            .map(str::to_owned)
            .collect();
        queue_names.sort();
        queue_names.dedup();
        Ok(Self {
            path: path.to_owned(),
            text: text.to_owned(),
            kv,
            databases,
            buckets: strings(&v, "r2_buckets", "bucket_name")
                .map(str::to_owned)
                .collect(),
            queues: queue_names,
            services: strings(&v, "services", "service")
                .map(str::to_owned)
                .collect(),
            object_scripts: strings(&v["durable_objects"], "bindings", "script_name")
                .filter(|s| *s != name)
                .map(str::to_owned)
                .collect(),
            workers_dev: v["workers_dev"].as_bool(),
            preview_urls: v["preview_urls"].as_bool(),
            name,
        })
    }
}

/// The KV namespace title for a binding: `CONFIG_KV` → `hoox-config-kv`.
pub fn kv_title(binding: &str) -> String {
    format!("hoox-{}", binding.to_lowercase().replace('_', "-"))
}

/// What the account has.
#[derive(Debug, Default, Clone)]
pub struct Account {
    /// title → id
    pub kv: BTreeMap<String, String>,
    /// name → id
    pub databases: BTreeMap<String, String>,
    pub buckets: BTreeSet<String>,
    pub queues: BTreeSet<String>,
    pub workers: BTreeSet<String>,
}

impl Account {
    /// Whether a KV namespace with this id exists.
    pub fn has_kv(&self, id: &str) -> bool {
        self.kv.values().any(|v| v == id)
    }
    /// Whether a D1 database with this id exists.
    pub fn has_database(&self, id: &str) -> bool {
        self.databases.values().any(|v| v == id)
    }
}

/// A resource to create.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Create {
    Queue(String),
    Bucket(String),
    /// A KV namespace, by title.
    Kv(String),
    Database(String),
}

impl Create {
    pub fn args(&self) -> Vec<&str> {
        match self {
            Create::Queue(n) => vec!["queues", "create", n],
            Create::Bucket(n) => vec!["r2", "bucket", "create", n],
            Create::Kv(t) => vec!["kv", "namespace", "create", t],
            Create::Database(n) => vec!["d1", "create", n],
        }
    }
    pub fn describe(&self) -> String {
        match self {
            Create::Queue(n) => format!("queue {n}"),
            Create::Bucket(n) => format!("R2 bucket {n}"),
            Create::Kv(t) => format!("KV namespace {t}"),
            Create::Database(n) => format!("D1 database {n}"),
        }
    }
}

/// Everything the configs need that the account lacks, each once.
pub fn missing(configs: &[WorkerConfig], account: &Account) -> Vec<Create> {
    let mut out = BTreeSet::new();
    for c in configs {
        out.extend(
            c.queues
                .iter()
                .filter(|q| !account.queues.contains(*q))
                .map(|q| Create::Queue(q.clone())),
        );
        out.extend(
            c.buckets
                .iter()
                .filter(|b| !account.buckets.contains(*b))
                .map(|b| Create::Bucket(b.clone())),
        );
        out.extend(
            c.kv.iter()
                .filter(|(_, id)| !account.has_kv(id))
                .map(|(b, _)| kv_title(b))
                .filter(|t| !account.kv.contains_key(t))
                .map(Create::Kv),
        );
        out.extend(
            c.databases
                .iter()
                .filter(|d| !account.has_database(&d.id))
                .filter(|d| !account.databases.contains_key(&d.name))
                .map(|d| Create::Database(d.name.clone())),
        );
    }
    out.into_iter().collect()
}

/// The config text with each KV and D1 id that the account does not have replaced by the
/// account's id for that resource, found by title or name (comments and layout kept); `None`
/// when every id is already one of the account's. An id the operator set to a namespace or
/// database of their own is kept.
pub fn with_account_ids(config: &WorkerConfig, account: &Account) -> Result<Option<String>> {
    let mut text = config.text.clone();
    let not_listed = |what: String, command: &str| DeployError::NotListed {
        what,
        command: command.to_owned(),
    };
    // (list, the element's name field and value, the id field, the account's id)
    let mut swaps = Vec::new();
    for (binding, id) in config.kv.iter().filter(|(_, id)| !account.has_kv(id)) {
        let title = kv_title(binding);
        let real = account
            .kv
            .get(&title)
            .ok_or_else(|| not_listed(format!("KV namespace {title}"), "kv namespace list"))?;
        if real != id {
            swaps.push(("kv_namespaces", ("binding", binding), "id", real));
        }
    }
    for db in config
        .databases
        .iter()
        .filter(|d| !account.has_database(&d.id))
    {
        let real = account
            .databases
            .get(&db.name)
            .ok_or_else(|| not_listed(format!("D1 database {}", db.name), "d1 list --json"))?;
        if *real != db.id {
            swaps.push((
                "d1_databases",
                ("database_name", &db.name),
                "database_id",
                real,
            ));
        }
    }
    for (list, (key, value), field, new) in swaps {
        // A structural edit of that one binding's id: comments and layout stay.
        text = jsonc::set_in_list(&text, list, (key, value), field, new)
            .map_err(|e| DeployError::Config {
                path: config.path.clone(),
                message: format!("not JSONC: {e}"),
            })?
            .ok_or_else(|| DeployError::Config {
                path: config.path.clone(),
                message: format!("no `{field}` in the {list} entry {key} = {value}"),
            })?;
    }
    Ok((text != config.text).then_some(text))
}

/// Checks each config's exposure against the registry: an internal worker has no
/// `workers.dev` URL and no preview URLs (only the gateway is public), and every config names a
/// registered worker. Returns, per config, whether it is public.
pub fn check_exposure(
    reg: &Registry,
    configs: &[WorkerConfig],
) -> Result<Vec<(String, registry::Exposure)>> {
    configs
        .iter()
        .map(|c| {
            let d = reg
                .by_worker(&c.name)
                .ok_or_else(|| DeployError::Unregistered {
                    path: c.path.clone(),
                    worker: c.name.clone(),
                })?;
            if d.exposure == registry::Exposure::Internal
                && (c.workers_dev != Some(false) || c.preview_urls != Some(false))
            {
                let shown = |v: Option<bool>| v.map_or("unset (on)".to_owned(), |b| b.to_string());
                return Err(DeployError::Public {
                    path: c.path.clone(),
                    worker: c.name.clone(),
                    found: format!(
                        "workers_dev {}, preview_urls {}",
                        shown(c.workers_dev),
                        shown(c.preview_urls)
                    ),
                });
            }
            Ok((c.name.clone(), d.exposure))
        })
        .collect()
}

/// One `wrangler deploy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deploy {
    pub worker: String,
    pub config: String,
    /// Service bindings left out of a first deploy, because their worker does not exist yet
    /// and itself binds this one (a cycle); a later deploy of this worker has them all.
    pub without: Vec<String>,
}

/// Deploys in an order the platform accepts: a worker goes only after every worker its
/// bindings name exists (Cloudflare refuses a service binding or a Durable Object class of a
/// worker that is not deployed). Among those that can go, the order of [`CONFIGS`]. A cycle is
/// broken at a worker whose missing targets are only service bindings: it goes first without
/// them and again, whole, once they exist.
pub fn deploy_order(configs: &[WorkerConfig], existing: &BTreeSet<String>) -> Result<Vec<Deploy>> {
    let mut live = existing.clone();
    let mut pending: Vec<&WorkerConfig> = configs.iter().collect();
    let mut first_passed = BTreeSet::new();
    let mut out = Vec::new();
    let ready = |w: &WorkerConfig, live: &BTreeSet<String>| {
        w.services
            .iter()
            .chain(&w.object_scripts)
            .all(|t| *t == w.name || live.contains(t))
    };
    while !pending.is_empty() {
        if let Some(i) = pending.iter().position(|w| ready(w, &live)) {
            let w = pending.remove(i);
            live.insert(w.name.clone());
            out.push(Deploy {
                worker: w.name.clone(),
                config: w.path.clone(),
                without: Vec::new(),
            });
            continue;
        }
        let breakable = pending.iter().position(|w| {
            !first_passed.contains(&w.name) && w.object_scripts.iter().all(|s| live.contains(s))
        });
        let Some(i) = breakable else {
            let names: Vec<&str> = pending.iter().map(|w| w.name.as_str()).collect();
            return Err(DeployError::Cycle(names.join(", ")));
        };
        let w = pending[i];
        let without: Vec<String> = w
            .services
            .iter()
            .filter(|s| **s != w.name && !live.contains(*s))
            .cloned()
            .collect();
        first_passed.insert(w.name.clone());
        live.insert(w.name.clone());
        out.push(Deploy {
            worker: w.name.clone(),
            config: w.path.clone(),
            without,
        });
    }
    Ok(out)
}

/// The config text without the named service bindings, as plain JSON (for a first deploy).
pub fn without_services(config: &WorkerConfig, without: &[String]) -> Result<String> {
    let mut v = jsonc::parse(&config.text).map_err(|e| DeployError::Config {
        path: config.path.clone(),
        message: format!("not JSONC: {e}"),
    })?;
    if let Some(list) = v["services"].as_array_mut() {
        list.retain(|s| {
            !s["service"]
                .as_str()
                .is_some_and(|n| without.iter().any(|w| w == n))
        });
    }
    serde_json::to_string_pretty(&v).map_err(|e| DeployError::Config {
        path: config.path.clone(),
        message: e.to_string(),
    })
}

/// Deploys `d.worker` without `d.without` from a temporary config beside its own, so the
/// relative paths in it (main, migrations) still resolve; the file is removed afterwards.
fn first_deploy(
    root: &Path,
    w: &mut dyn Wrangler,
    configs: &[WorkerConfig],
    d: &Deploy,
) -> Result<String> {
    let c = configs
        .iter()
        .find(|c| c.path == d.config)
        .ok_or_else(|| DeployError::Config {
            path: d.config.clone(),
            message: "planned but not read".into(),
        })?;
    let dir = Path::new(&d.config).parent().unwrap_or(Path::new(""));
    let rel: PathBuf = dir.join(format!(".deploy-{}.json", d.worker));
    let path = root.join(&rel);
    std::fs::write(&path, without_services(c, &d.without)?).map_err(io(&path))?;
    let result = call(w, &["deploy", "-c", &rel.to_string_lossy()]);
    let _ = std::fs::remove_file(&path);
    result
}

/// Parses a JSON array printed by wrangler (after any banner line), as `(key, value)` pairs.
fn listed(out: &str, command: &str, key: &str, value: &str) -> Result<Vec<(String, String)>> {
    let bad = |message: String| DeployError::Output {
        command: command.to_owned(),
        message,
    };
    let start = out
        .find('[')
        .ok_or_else(|| bad("no JSON array in its output".into()))?;
    let v: Value =
        serde_json::from_str(out[start..].trim()).map_err(|e| bad(format!("not JSON: {e}")))?;
    let items = v.as_array().ok_or_else(|| bad("not a JSON array".into()))?;
    items
        .iter()
        .map(|i| match (i[key].as_str(), i[value].as_str()) {
            (Some(k), Some(v)) => Ok((k.to_owned(), v.to_owned())),
            _ => Err(bad(format!("an entry without `{key}` and `{value}`: {i}"))),
        })
        .collect()
}

fn call(w: &mut dyn Wrangler, args: &[&str]) -> Result<String> {
    w.run(args).map_err(|message| DeployError::Wrangler {
        command: args.join(" "),
        message,
    })
}

/// The account's KV namespaces and D1 databases, with their ids.
fn list_ids(w: &mut dyn Wrangler, account: &mut Account) -> Result<()> {
    let out = call(w, &["kv", "namespace", "list"])?;
    account.kv = listed(&out, "kv namespace list", "title", "id")?
        .into_iter()
        .collect();
    let out = call(w, &["d1", "list", "--json"])?;
    account.databases = listed(&out, "d1 list --json", "name", "uuid")?
        .into_iter()
        .collect();
    Ok(())
}

/// Reads what the account has of everything the configs need.
pub fn discover(w: &mut dyn Wrangler, configs: &[WorkerConfig]) -> Result<Account> {
    let mut account = Account::default();
    // The first call is a listing that must work: a failure here is a login or network
    // problem, and it stops the deploy before anything is decided from a failed probe.
    list_ids(w, &mut account)?;
    // Buckets, queues and workers are probed by name: wrangler lists queues only as a paged
    // table. With the listings above working, a failed probe means the resource is missing
    // (and if it is something else, the create that follows fails with wrangler's reason).
    let all = |f: fn(&WorkerConfig) -> &Vec<String>| -> BTreeSet<String> {
        configs.iter().flat_map(|c| f(c).iter().cloned()).collect()
    };
    for b in all(|c| &c.buckets) {
        if w.run(&["r2", "bucket", "info", &b]).is_ok() {
            account.buckets.insert(b);
        }
    }
    for q in all(|c| &c.queues) {
        if w.run(&["queues", "info", &q]).is_ok() {
            account.queues.insert(q);
        }
    }
    for c in configs {
        if w.run(&["deployments", "list", "--name", &c.name, "--json"])
            .is_ok()
        {
            account.workers.insert(c.name.clone());
        }
    }
    Ok(account)
}

/// What a deploy did, for the closing summary.
#[derive(Debug, Default)]
pub struct Report {
    pub created: Vec<Create>,
    pub rewritten: Vec<String>,
    pub deploys: Vec<Deploy>,
    /// (worker, required secrets not set, optional secrets not set)
    pub secrets: Vec<(String, Vec<String>, Vec<String>)>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DeployError + '_ {
    move |source| DeployError::Io {
        path: path.display().to_string(),
        source,
    }
}

pub fn read_configs(root: &Path) -> Result<Vec<WorkerConfig>> {
    read_configs_of(&registry::HOOX, root)
}

/// Every config `reg` lists, read from under `root`.
pub fn read_configs_of(reg: &Registry, root: &Path) -> Result<Vec<WorkerConfig>> {
    reg.configs()
        .into_iter()
        .map(|c| {
            let path = root.join(c);
            let text = std::fs::read_to_string(&path).map_err(io(&path))?;
            WorkerConfig::parse(c, &text)
        })
        .collect()
}

/// The whole deploy. With `dry_run`, only wrangler's read-only listings run and the plan is
/// printed; nothing is created, written or deployed. Progress goes to `out`.
pub fn run(
    root: &Path,
    w: &mut dyn Wrangler,
    dry_run: bool,
    out: &mut dyn Write,
) -> Result<Report> {
    run_with(&registry::HOOX, root, w, dry_run, out)
}

/// [`run`] for the deployables of `reg`.
pub fn run_with(
    reg: &Registry,
    root: &Path,
    w: &mut dyn Wrangler,
    dry_run: bool,
    out: &mut dyn Write,
) -> Result<Report> {
    let mut say = |line: String| {
        let _ = writeln!(out, "{line}");
    };
    let mut configs = read_configs_of(reg, root)?;
    // Only the gateway is public: a config that would give an internal worker a URL stops the
    // deploy before anything is read or created.
    let exposure: BTreeMap<String, registry::Exposure> =
        check_exposure(reg, &configs)?.into_iter().collect();
    say("reading the account (a wrangler call per resource and worker)…".into());
    let mut account = discover(w, &configs)?;
    let create = missing(&configs, &account);
    let deploys = deploy_order(&configs, &account.workers)?;
    let migrate: Option<(String, String)> = configs.iter().find_map(|c| {
        c.databases
            .iter()
            .find(|d| d.migrations)
            .map(|d| (d.name.clone(), c.path.clone()))
    });
    let total = create.len() + 1 + usize::from(migrate.is_some()) + deploys.len() + 1;
    let mut step = 0;
    let mut next = |what: String| {
        step += 1;
        format!("[{step}/{total}] {what}")
    };
    let mut report = Report::default();
    if dry_run {
        say("dry run: nothing will be created, written or deployed. The plan:".into());
    }
    for c in &create {
        say(next(format!("create {}", c.describe())));
        if !dry_run {
            call(w, &c.args())?;
        }
    }
    report.created = create;
    say(next("write the account's ids into the configs".into()));
    if dry_run {
        // Ids of resources not yet created are only known after creating them.
        for c in &configs {
            if let Ok(Some(_)) = with_account_ids(c, &account) {
                say(format!("      {} would get the account's ids", c.path));
            }
        }
    } else {
        if report
            .created
            .iter()
            .any(|c| matches!(c, Create::Kv(_) | Create::Database(_)))
        {
            list_ids(w, &mut account)?;
        }
        for c in configs.iter_mut() {
            if let Some(text) = with_account_ids(c, &account)? {
                let path = root.join(&c.path);
                std::fs::write(&path, &text).map_err(io(&path))?;
                say(format!("      {} now names the account's ids", c.path));
                report.rewritten.push(c.path.clone());
                *c = WorkerConfig::parse(&c.path, &text)?;
            }
        }
    }
    if let Some((db, config)) = &migrate {
        say(next(format!("apply the D1 migrations to {db}")));
        if !dry_run {
            call(
                w,
                &["d1", "migrations", "apply", db, "--remote", "-c", config],
            )?;
        }
    }
    for d in &deploys {
        let note = if d.without.is_empty() {
            String::new()
        } else {
            format!(
                " (first deploy, without {}: not deployed yet; it is deployed whole below)",
                d.without.join(", ")
            )
        };
        let reach = match exposure.get(&d.worker) {
            Some(registry::Exposure::Internal) => " (internal: no workers.dev or preview URL)",
            _ => "",
        };
        say(next(format!("deploy {}{reach}{note}", d.worker)));
        if dry_run {
            continue;
        }
        let printed = if d.without.is_empty() {
            call(w, &["deploy", "-c", &d.config])?
        } else {
            first_deploy(root, w, &configs, d)?
        };
        // The worker's URL (workers.dev or routes), as wrangler printed it.
        for url in printed
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("https://"))
        {
            say(format!("      {url}"));
        }
    }
    report.deploys = deploys;
    say(next("check each worker's secrets".into()));
    for (worker, required, optional) in secrets_of(reg) {
        let set: BTreeSet<String> = if dry_run && !account.workers.contains(worker) {
            BTreeSet::new()
        } else {
            let command = ["secret", "list", "--name", worker, "--format", "json"];
            let out = call(w, &command)?;
            listed(&out, &command.join(" "), "name", "type")?
                .into_iter()
                .map(|(n, _)| n)
                .collect()
        };
        let unset = |names: &[&str]| -> Vec<String> {
            names
                .iter()
                .filter(|n| !set.contains(**n))
                .map(|n| n.to_string())
                .collect()
        };
        let (req, opt) = (unset(required), unset(&optional));
        if !req.is_empty() || !opt.is_empty() {
            report.secrets.push((worker.to_owned(), req, opt));
        }
    }
    if report.secrets.iter().any(|(_, r, _)| !r.is_empty()) {
        say("\nsecrets still to set (the same INTERNAL_KEY_BINDING value on every worker):".into());
    }
    for (worker, req, opt) in &report.secrets {
        for s in req {
            say(format!("  wrangler secret put {s} --name {worker}"));
        }
        if !opt.is_empty() {
            say(format!(
                "  optional on {worker}: {} (see README)",
                opt.join(", ")
            ));
        }
    }
    if !dry_run {
        say(format!(
            "deployed: the gateway's URL is the one under `deploy {}`; send signals to its /webhook.",
            reg.public().worker
        ));
    }
    Ok(report)
}
