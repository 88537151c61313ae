//! The registry: every deployable of hoox and every exchange it trades on, in one place.
//!
//! `cargo xtask build|dev|test|deploy`, the integration harness, the deploy planner, the
//! gateway's route table, the trade-worker's credential and host names and the config keys all
//! read these tables; nothing else in the tree lists the workers or the exchanges. A new worker
//! is a crate plus one [`Deployable`] row; a new exchange is an adapter plus one [`ExchangeInfo`]
//! row. Plain data with no dependencies, so it builds for wasm32 as well as natively.

pub mod dev_vars;

/// Who can reach a deployable from the internet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// On `workers.dev` (and the account's routes): the one door signals and operators use.
    Public,
    /// No `workers.dev` URL and no preview URLs (`"workers_dev": false`, `"preview_urls": false`
    /// in its config): reached only through service bindings.
    Internal,
}

/// How a gateway path selects a [`Route`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// The path itself or anything under it (`/admin/dlq`, `/admin/dlq/12/replay`); the target
    /// sees the rest (`/`, `/12/replay`).
    Prefix,
    /// Exactly this path; the target sees [`Route::to`].
    Exact,
}

/// A gateway path forwarded to a deployable through its service binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub path: &'static str,
    pub matching: Match,
    /// The path on the target for an [`Match::Exact`] route (unused for a prefix).
    pub to: &'static str,
    /// What the gateway checks before forwarding.
    pub guard: Guard,
}

/// What the gateway checks on a forwarded route before the target sees the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// The internal key (the target checks again) and the actor it names.
    InternalKey,
    /// Telegram's secret-token header (the bot checks again), before the body is read.
    TelegramToken,
    /// Nothing: the target authenticates its caller its own way (the dashboard's sessions).
    /// The gateway strips the internal key and actor headers a caller sent, and tells the
    /// target the public origin the request came to (`X-Hoox-Origin`).
    Own,
    /// Nothing, as for [`Guard::Own`], for a sender that signs each request with a secret the
    /// target verifies (Mailgun's webhook signature): the internal key and actor headers are
    /// stripped, and the body may be as large as a mail.
    Signed,
}

/// One deployable worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deployable {
    /// Its cargo package, in the directory of the same name.
    pub krate: &'static str,
    /// `name` in its wrangler config.
    pub worker: &'static str,
    /// Its wrangler config, relative to the repository root.
    pub config: &'static str,
    pub exposure: Exposure,
    /// Secrets it refuses to run without.
    pub secrets: &'static [&'static str],
    /// Secrets it reads when set, beside the exchanges' credentials (see [`Self::trades`]).
    pub optional_secrets: &'static [&'static str],
    /// Whether it signs exchange orders: it then reads every [`ExchangeInfo`]'s credentials.
    pub trades: bool,
    /// The service binding other workers' configs name it by, if any.
    pub binding: Option<&'static str>,
    /// Gateway paths forwarded to it (through [`Self::binding`]).
    pub routes: &'static [Route],
}

/// The secret every worker shares: it authenticates their calls to one another.
pub const INTERNAL_KEY: &str = "INTERNAL_KEY_BINDING";

/// The dashboard's password as a PBKDF2 hash (`console::password`). A local run generates a
/// password ([`DASHBOARD_PASSWORD`], kept beside it in `.dev.vars` for the operator and the
/// tests; no worker reads it) and stores its hash here.
pub const DASHBOARD_PASSWORD_HASH: &str = "DASHBOARD_PASSWORD_HASH";
/// The generated local password whose hash is [`DASHBOARD_PASSWORD_HASH`].
pub const DASHBOARD_PASSWORD: &str = "DASHBOARD_PASSWORD";

/// Mailgun's HTTP webhook signing key (its dashboard: Sending → Webhooks), which signs each
/// route post the email-worker takes. Required, so a Mailgun post is never taken unverified;
/// a deployment without Mailgun sets any random value (a local run generates one).
pub const MAILGUN_SIGNING_KEY: &str = "MAILGUN_WEBHOOK_SIGNING_KEY";

/// Every deployable, in deploy order (SPEC §7: a worker after those its bindings name, where
/// the bindings allow it). Exactly one is public.
pub const DEPLOYABLES: [Deployable; 9] = [
    Deployable {
        krate: "telegram",
        worker: "telegram-worker",
        config: "telegram/wrangler.jsonc",
        exposure: Exposure::Internal,
        secrets: &[
            INTERNAL_KEY,
            "TG_BOT_TOKEN_BINDING",
            "TELEGRAM_SECRET_TOKEN",
        ],
        optional_secrets: &[],
        trades: false,
        binding: Some("TELEGRAM_SERVICE"),
        // Telegram's secret-token header is checked by the bot, not the internal key.
        routes: &[Route {
            path: "/telegram/webhook",
            matching: Match::Exact,
            to: "/webhook",
            guard: Guard::TelegramToken,
        }],
    },
    Deployable {
        krate: "d1-worker",
        worker: "d1-worker",
        config: "d1-worker/wrangler.jsonc",
        exposure: Exposure::Internal,
        secrets: &[INTERNAL_KEY],
        optional_secrets: &[],
        trades: false,
        binding: Some("D1_SERVICE"),
        routes: &[Route {
            path: "/admin/ledger",
            matching: Match::Prefix,
            to: "",
            guard: Guard::InternalKey,
        }],
    },
    Deployable {
        krate: "dlq",
        worker: "dlq",
        config: "dlq/wrangler.jsonc",
        exposure: Exposure::Internal,
        secrets: &[INTERNAL_KEY],
        optional_secrets: &[],
        trades: false,
        binding: Some("DLQ_SERVICE"),
        routes: &[Route {
            path: "/admin/dlq",
            matching: Match::Prefix,
            to: "",
            guard: Guard::InternalKey,
        }],
    },
    Deployable {
        krate: "report-worker",
        worker: "report-worker",
        config: "report-worker/wrangler.jsonc",
        exposure: Exposure::Internal,
        secrets: &[INTERNAL_KEY],
        // Browser Rendering's token: without it the HTML is stored and no PDF is made.
        optional_secrets: &["CF_API_TOKEN"],
        trades: false,
        binding: Some("REPORT_SERVICE"),
        routes: &[Route {
            path: "/admin/reports",
            matching: Match::Prefix,
            to: "",
            guard: Guard::InternalKey,
        }],
    },
    Deployable {
        krate: "consumers",
        worker: "trade-worker",
        config: "consumers/wrangler.jsonc",
        exposure: Exposure::Internal,
        secrets: &[INTERNAL_KEY],
        optional_secrets: &[],
        trades: true,
        // Its internal `POST /signals` and `POST /quote` (the agent's door); no gateway routes.
        binding: Some("TRADE_SERVICE"),
        routes: &[],
    },
    Deployable {
        krate: "agent-worker",
        worker: "agent-worker",
        config: "agent-worker/wrangler.jsonc",
        exposure: Exposure::Internal,
        secrets: &[INTERNAL_KEY],
        optional_secrets: &[],
        trades: false,
        binding: Some("AGENT_SERVICE"),
        routes: &[
            Route {
                path: "/admin/agent/status",
                matching: Match::Exact,
                to: "/agent/status",
                guard: Guard::InternalKey,
            },
            Route {
                path: "/admin/agent/run",
                matching: Match::Exact,
                to: "/agent/run",
                guard: Guard::InternalKey,
            },
            Route {
                path: "/admin/agent/risk-override",
                matching: Match::Exact,
                to: "/agent/risk-override",
                guard: Guard::InternalKey,
            },
        ],
    },
    Deployable {
        krate: "dashboard",
        worker: "dashboard",
        config: "dashboard/wrangler.jsonc",
        exposure: Exposure::Internal,
        secrets: &[INTERNAL_KEY, DASHBOARD_PASSWORD_HASH],
        optional_secrets: &[],
        trades: false,
        binding: Some("DASHBOARD_SERVICE"),
        // Its sessions authenticate the browser; the gateway strips internal headers.
        routes: &[Route {
            path: "/dashboard",
            matching: Match::Prefix,
            to: "",
            guard: Guard::Own,
        }],
    },
    Deployable {
        krate: "email-worker",
        worker: "email-worker",
        config: "email-worker/wrangler.jsonc",
        exposure: Exposure::Internal,
        secrets: &[INTERNAL_KEY, MAILGUN_SIGNING_KEY],
        optional_secrets: &[],
        trades: false,
        binding: Some("EMAIL_SERVICE"),
        // Email Routing calls its `email()` handler directly; these are its two HTTP ingresses.
        // Mailgun posts to a route's URL, raw MIME when the URL ends in `mime`.
        routes: &[
            Route {
                path: "/email/mailgun",
                matching: Match::Exact,
                to: "/mailgun",
                guard: Guard::Signed,
            },
            Route {
                path: "/email/mailgun/mime",
                matching: Match::Exact,
                to: "/mailgun",
                guard: Guard::Signed,
            },
            Route {
                path: "/email-signal",
                matching: Match::Exact,
                to: "/email-signal",
                guard: Guard::InternalKey,
            },
        ],
    },
    Deployable {
        krate: "gateway",
        worker: "hoox",
        config: "wrangler.jsonc",
        exposure: Exposure::Public,
        secrets: &["WEBHOOK_API_KEY", INTERNAL_KEY, "TELEGRAM_SECRET_TOKEN"],
        optional_secrets: &["WEBHOOK_SIGNING_SECRET"],
        trades: false,
        binding: None,
        routes: &[],
    },
];

/// Worker configs in the tree that are not deployables: the integration harness's fixture
/// workers (plain JavaScript, no crate, never deployed; `tests/fixture/*.jsonc`).
pub const TEST_ONLY_CONFIGS: [&str; 1] = ["tests/fixture/wrangler.jsonc"];

impl Deployable {
    /// The directory holding its config (`""` for the repository root).
    pub fn config_dir(&self) -> &'static str {
        self.config.rsplit_once('/').map_or("", |(dir, _)| dir)
    }

    /// Every optional secret: its own, then if it trades each exchange's mainnet pair and then
    /// each testnet pair (live trading needs the first; `test: true` signals the second).
    pub fn all_optional_secrets(&self) -> Vec<&'static str> {
        let mut out = self.optional_secrets.to_vec();
        if self.trades {
            for testnet in [false, true] {
                out.extend(
                    EXCHANGES
                        .iter()
                        .filter_map(|e| e.credential(testnet))
                        .flat_map(|c| [c.key, c.secret]),
                );
            }
        }
        out
    }
}

/// A table of deployables and exchanges. [`HOOX`] is the one the tools and workers read; a test
/// can build another (an extra row) and hand it to the same code.
#[derive(Debug, Clone, Copy)]
pub struct Registry {
    pub deployables: &'static [Deployable],
    pub exchanges: &'static [ExchangeInfo],
}

/// hoox's registry.
pub const HOOX: Registry = Registry {
    deployables: &DEPLOYABLES,
    exchanges: &EXCHANGES,
};

impl Registry {
    /// The public deployable (the gateway); the first row if none is (tests hold one is).
    pub fn public(&self) -> &'static Deployable {
        let rows = self.deployables;
        rows.iter()
            .find(|d| d.exposure == Exposure::Public)
            .unwrap_or(&rows[0])
    }

    /// The deployable whose wrangler `name` is `worker`.
    pub fn by_worker(&self, worker: &str) -> Option<&'static Deployable> {
        self.deployables.iter().find(|d| d.worker == worker)
    }

    /// Every deployable's config, in deploy order.
    pub fn configs(&self) -> Vec<&'static str> {
        self.deployables.iter().map(|d| d.config).collect()
    }

    /// Configs for one local `wrangler dev`: the public worker first (the primary), then the
    /// rest in deploy order.
    pub fn dev_configs(&self) -> Vec<&'static str> {
        let first = self.public();
        std::iter::once(first.config)
            .chain(
                self.deployables
                    .iter()
                    .filter(|d| d.worker != first.worker)
                    .map(|d| d.config),
            )
            .collect()
    }

    /// Every secret some deployable requires, each once, in deploy order: what a local run
    /// generates (`.dev.vars`).
    pub fn local_secrets(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for s in self.deployables.iter().flat_map(|d| d.secrets) {
            if !out.contains(s) {
                out.push(s);
            }
        }
        out
    }
}

/// The public deployable (the gateway).
pub fn public() -> &'static Deployable {
    HOOX.public()
}

/// The deployable whose wrangler `name` is `worker`.
pub fn by_worker(worker: &str) -> Option<&'static Deployable> {
    HOOX.by_worker(worker)
}

/// [`Registry::dev_configs`] of [`HOOX`].
pub fn dev_configs() -> Vec<&'static str> {
    HOOX.dev_configs()
}

/// [`Registry::local_secrets`] of [`HOOX`].
pub fn local_secrets() -> Vec<&'static str> {
    HOOX.local_secrets()
}

/// A gateway path's forwarding target: (the deployable, its binding, the path on it, whether
/// what the gateway checks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    pub deployable: &'static Deployable,
    pub binding: &'static str,
    pub path: String,
    pub guard: Guard,
}

/// Where the gateway forwards `path`, if it does.
pub fn forward(path: &str) -> Option<Forward> {
    for d in &DEPLOYABLES {
        let Some(binding) = d.binding else { continue };
        for r in d.routes {
            let to = match r.matching {
                Match::Exact => (path == r.path).then(|| r.to.to_owned()),
                Match::Prefix => match path.strip_prefix(r.path) {
                    Some("") => Some("/".to_owned()),
                    Some(rest) if rest.starts_with('/') => Some(rest.to_owned()),
                    _ => None,
                },
            };
            if let Some(path) = to {
                return Some(Forward {
                    deployable: d,
                    binding,
                    path,
                    guard: r.guard,
                });
            }
        }
    }
    None
}

/// The secret pair an exchange signs with on one network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credential {
    pub key: &'static str,
    pub secret: &'static str,
}

/// One exchange hoox trades on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExchangeInfo {
    /// As in signals, config keys and `contracts::signal::Exchange::as_str`.
    pub name: &'static str,
    /// The prefix of its environment names (`BYBIT_API_KEY`, `BYBIT_BASE_URL`).
    pub env_prefix: &'static str,
    pub mainnet: Credential,
    /// `None` where the exchange has no testnet (MEXC): a testnet is another system with its
    /// own accounts, signed with its own pair.
    pub testnet: Option<Credential>,
    /// The var overriding its mainnet host (tests point it at the mock exchanges).
    pub base_url_var: &'static str,
    pub testnet_base_url_var: Option<&'static str>,
    /// Request headers (lower case) whose values are credentials or signatures: redacted
    /// wherever a request is logged.
    pub secret_headers: &'static [&'static str],
    /// Its default order quota in `ratelimit:orders` (`10/s`).
    pub default_quota: &'static str,
    /// The CONFIG_KV key that enables it (`exchange:bybit:enabled`).
    pub enabled_key: &'static str,
}

impl ExchangeInfo {
    /// The pair on `testnet` or mainnet; `None` for a testnet the exchange does not have.
    pub fn credential(&self, testnet: bool) -> Option<Credential> {
        if testnet {
            self.testnet
        } else {
            Some(self.mainnet)
        }
    }

    /// The host override var on `testnet` or mainnet.
    pub fn base_url_var(&self, testnet: bool) -> Option<&'static str> {
        if testnet {
            self.testnet_base_url_var
        } else {
            Some(self.base_url_var)
        }
    }

    /// Every credential secret name: the mainnet pair, then the testnet pair if any.
    pub fn credential_names(&self) -> Vec<&'static str> {
        [Some(self.mainnet), self.testnet]
            .into_iter()
            .flatten()
            .flat_map(|c| [c.key, c.secret])
            .collect()
    }
}

pub const BYBIT: ExchangeInfo = ExchangeInfo {
    name: "bybit",
    env_prefix: "BYBIT",
    mainnet: Credential {
        key: "BYBIT_API_KEY",
        secret: "BYBIT_API_SECRET",
    },
    testnet: Some(Credential {
        key: "BYBIT_TESTNET_API_KEY",
        secret: "BYBIT_TESTNET_API_SECRET",
    }),
    base_url_var: "BYBIT_BASE_URL",
    testnet_base_url_var: Some("BYBIT_TESTNET_BASE_URL"),
    secret_headers: &["x-bapi-sign", "x-bapi-api-key"],
    default_quota: "10/s",
    enabled_key: "exchange:bybit:enabled",
};

pub const BINANCE: ExchangeInfo = ExchangeInfo {
    name: "binance",
    env_prefix: "BINANCE",
    mainnet: Credential {
        key: "BINANCE_API_KEY",
        secret: "BINANCE_API_SECRET",
    },
    testnet: Some(Credential {
        key: "BINANCE_TESTNET_API_KEY",
        secret: "BINANCE_TESTNET_API_SECRET",
    }),
    base_url_var: "BINANCE_BASE_URL",
    testnet_base_url_var: Some("BINANCE_TESTNET_BASE_URL"),
    // Binance signs in the query string (`signature=`), which is redacted separately.
    secret_headers: &["x-mbx-apikey"],
    default_quota: "5/s",
    enabled_key: "exchange:binance:enabled",
};

pub const MEXC: ExchangeInfo = ExchangeInfo {
    name: "mexc",
    env_prefix: "MEXC",
    mainnet: Credential {
        key: "MEXC_API_KEY",
        secret: "MEXC_API_SECRET",
    },
    testnet: None,
    base_url_var: "MEXC_BASE_URL",
    testnet_base_url_var: None,
    secret_headers: &["apikey", "signature"],
    default_quota: "5/s",
    enabled_key: "exchange:mexc:enabled",
};

/// Every live exchange, in documentation order.
pub const EXCHANGES: [ExchangeInfo; 3] = [BYBIT, BINANCE, MEXC];

/// Paper trading's order quota: it has no exchange, and no credentials or enabled key.
pub const PAPER_QUOTA: &str = "100/s";

/// The live exchange called `name` (case-insensitive).
pub fn exchange(name: &str) -> Option<&'static ExchangeInfo> {
    EXCHANGES.iter().find(|e| e.name.eq_ignore_ascii_case(name))
}

/// Whether `header` (any case) carries a credential or signature of some exchange.
pub fn is_secret_header(header: &str) -> bool {
    EXCHANGES
        .iter()
        .flat_map(|e| e.secret_headers)
        .any(|h| h.eq_ignore_ascii_case(header))
}

/// `ratelimit:orders`' default: every exchange's quota, then paper's, as the JSON object the
/// key holds (`{"bybit":"10/s",…,"paper":"100/s"}`).
pub fn default_order_quotas() -> String {
    let parts: Vec<String> = EXCHANGES
        .iter()
        .map(|e| (e.name, e.default_quota))
        .chain([("paper", PAPER_QUOTA)])
        .map(|(n, q)| format!("\"{n}\":\"{q}\""))
        .collect();
    format!("{{{}}}", parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_deployable_is_public_and_it_is_the_gateway() {
        let public: Vec<_> = DEPLOYABLES
            .iter()
            .filter(|d| d.exposure == Exposure::Public)
            .collect();
        assert_eq!(public.len(), 1);
        assert_eq!(super::public().worker, "hoox");
        assert_eq!(dev_configs()[0], "wrangler.jsonc");
        assert_eq!(dev_configs().len(), DEPLOYABLES.len());
    }

    #[test]
    fn names_are_unique() {
        for (i, a) in DEPLOYABLES.iter().enumerate() {
            for b in &DEPLOYABLES[i + 1..] {
                assert_ne!(a.krate, b.krate);
                assert_ne!(a.worker, b.worker);
                assert_ne!(a.config, b.config);
                assert!(a.binding.is_none() || a.binding != b.binding);
            }
        }
    }

    #[test]
    fn every_worker_holds_the_internal_key_and_local_secrets_cover_all() {
        assert!(DEPLOYABLES
            .iter()
            .all(|d| d.secrets.contains(&INTERNAL_KEY)));
        let local = local_secrets();
        for s in DEPLOYABLES.iter().flat_map(|d| d.secrets) {
            assert_eq!(local.iter().filter(|l| *l == s).count(), 1, "{s}");
        }
        assert_eq!(local.len(), 6);
        assert!(local.contains(&MAILGUN_SIGNING_KEY));
    }

    #[test]
    fn gateway_routes() {
        let f = forward("/admin/dlq").unwrap();
        assert_eq!(
            (f.binding, f.path.as_str(), f.guard),
            ("DLQ_SERVICE", "/", Guard::InternalKey)
        );
        let f = forward("/dashboard/signals/k1").unwrap();
        assert_eq!(
            (f.binding, f.path.as_str(), f.guard),
            ("DASHBOARD_SERVICE", "/signals/k1", Guard::Own)
        );
        assert_eq!(forward("/dashboard").unwrap().path, "/");
        for (p, to, guard) in [
            ("/email/mailgun", "/mailgun", Guard::Signed),
            ("/email/mailgun/mime", "/mailgun", Guard::Signed),
            ("/email-signal", "/email-signal", Guard::InternalKey),
        ] {
            let f = forward(p).unwrap();
            assert_eq!(
                (f.binding, f.path.as_str(), f.guard),
                ("EMAIL_SERVICE", to, guard)
            );
        }
        assert_eq!(forward("/email"), None);
        assert_eq!(forward("/email/mailgun/x"), None);
        assert_eq!(forward("/dashboardx"), None);
        assert_eq!(forward("/admin/dlq/12/replay").unwrap().path, "/12/replay");
        let f = forward("/admin/ledger/trades").unwrap();
        assert_eq!(
            (f.binding, f.deployable.worker),
            ("D1_SERVICE", "d1-worker")
        );
        let f = forward("/telegram/webhook").unwrap();
        assert_eq!(
            (f.path.as_str(), f.guard),
            ("/webhook", Guard::TelegramToken)
        );
        for p in [
            "/webhook",
            "/admin/dlqx",
            "/telegram/webhook/x",
            "/telegram",
            "/",
        ] {
            assert_eq!(forward(p), None, "{p}");
        }
    }

    #[test]
    fn exchange_names_follow_their_prefix() {
        for e in &EXCHANGES {
            for name in e.credential_names() {
                assert!(name.starts_with(&format!("{}_", e.env_prefix)), "{name}");
            }
            assert!(e.base_url_var.starts_with(e.env_prefix));
            assert_eq!(e.enabled_key, format!("exchange:{}:enabled", e.name));
            assert_eq!(e.testnet.is_some(), e.testnet_base_url_var.is_some());
            assert!(e
                .secret_headers
                .iter()
                .all(|h| *h == h.to_ascii_lowercase()));
        }
        assert_eq!(exchange("BYBIT"), Some(&BYBIT));
        assert_eq!(exchange("paper"), None);
        assert!(is_secret_header("X-MBX-APIKEY"));
        assert!(!is_secret_header("content-type"));
        assert_eq!(
            default_order_quotas(),
            r#"{"bybit":"10/s","binance":"5/s","mexc":"5/s","paper":"100/s"}"#
        );
    }

    #[test]
    fn the_trade_worker_reads_every_credential() {
        let trade = by_worker("trade-worker").unwrap();
        let names = trade.all_optional_secrets();
        assert_eq!(names.len(), 10);
        assert_eq!(&names[..2], ["BYBIT_API_KEY", "BYBIT_API_SECRET"]);
        assert_eq!(names[6], "BYBIT_TESTNET_API_KEY", "mainnet pairs first");
        assert!(by_worker("hoox").unwrap().all_optional_secrets() == ["WEBHOOK_SIGNING_SECRET"]);
    }
}
