//! The command line, as clap derives it.

use clap::{Args, Parser, Subcommand, ValueEnum};

pub const DEFAULT_URL: &str = "http://127.0.0.1:8787";

/// Operate hoox: kill switch, runtime config, dead letters, trades, test signals.
///
/// Keys come from HOOX_INTERNAL_KEY / HOOX_WEBHOOK_KEY, else from .dev.vars in the current
/// directory. They are never taken from a flag.
#[derive(Debug, Parser)]
#[command(name = "hoox", version, about, long_about = None)]
pub struct Cli {
    /// Gateway URL (a local `cargo xtask dev`, or a deployed gateway).
    #[arg(long, global = true, env = "HOOX_URL", default_value = DEFAULT_URL)]
    pub url: String,
    /// Print the API's JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The kill switch (trade:kill_switch): on stops every order submission.
    Kill {
        #[arg(value_enum)]
        state: KillState,
    },
    /// Runtime config in CONFIG_KV.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Dead letters: list, show, replay, discard.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Trades in the ledger.
    #[command(subcommand)]
    Trades(TradesCommand),
    /// Signals in the ledger with their outcome, newest first (`--source email`: the mails).
    Signals {
        #[arg(long, short = 'n', default_value_t = 20)]
        limit: u32,
        /// Who sent them: the key's prefix (`email`, `risk`).
        #[arg(long)]
        source: Option<String>,
        #[arg(long)]
        symbol: Option<String>,
        #[arg(long)]
        exchange: Option<String>,
        /// filled, rejected, blocked, ...
        #[arg(long)]
        outcome: Option<String>,
    },
    /// Open positions as the exchanges report them (live, testnet and paper apart), each
    /// flagged where it differs from what hoox's own fills imply; realised PnL and equity.
    Positions {
        /// bybit, binance, mexc or paper.
        #[arg(long)]
        exchange: Option<String>,
        /// mainnet or testnet.
        #[arg(long)]
        network: Option<String>,
        /// Only the positions that differ from hoox's fills.
        #[arg(long)]
        flagged: bool,
    },
    /// Test signals.
    #[command(subcommand)]
    Signal(SignalCommand),
    /// The risk manager (agent-worker): its rules, positions' state and pauses; pause or
    /// resume entries (exits keep running); flatten positions; run an evaluation now.
    #[command(subcommand)]
    Risk(RiskCommand),
    /// Performance reports (daily, weekly, monthly) stored by the report-worker.
    #[command(subcommand)]
    Reports(ReportsCommand),
    /// The dashboard's login.
    #[command(subcommand)]
    Dashboard(DashboardCommand),
}

#[derive(Debug, Subcommand)]
pub enum DashboardCommand {
    /// Read a password from standard input and print its PBKDF2 hash, the value of the
    /// dashboard's DASHBOARD_PASSWORD_HASH secret (`wrangler secret put DASHBOARD_PASSWORD_HASH`).
    HashPassword,
}

#[derive(Debug, Subcommand)]
pub enum RiskCommand {
    /// Rules in force, each position's state, pauses, equity memory and the last run.
    Status,
    /// Evaluate every rule now (what the one-minute cron does) and show what it did.
    Run,
    /// Pause entries (opening signals become dead letters `entries_paused`; closes still run).
    Pause {
        #[command(flatten)]
        scope: RiskScope,
        /// How long; without it, until `hoox risk resume`.
        #[arg(long)]
        minutes: Option<i64>,
        #[arg(long)]
        reason: String,
    },
    /// Lift the pauses in the scope. A network-wide resume also re-bases max daily loss and
    /// max drawdown at the equity of now.
    Resume {
        #[command(flatten)]
        scope: RiskScope,
        #[arg(long)]
        reason: String,
    },
    /// Close every position in the scope (reduce-only market closes, through the same door
    /// as every signal).
    Flatten {
        #[command(flatten)]
        scope: RiskScope,
        #[arg(long)]
        reason: String,
        /// Needed: flattening closes real positions.
        #[arg(long)]
        yes: bool,
    },
}

/// Which entries or positions a risk command is about.
#[derive(Debug, Clone, Args)]
pub struct RiskScope {
    /// mainnet or testnet.
    #[arg(long, default_value = "mainnet")]
    pub network: String,
    /// bybit, binance or mexc (default: every exchange).
    #[arg(long)]
    pub exchange: Option<String>,
    /// One pair (needs --exchange).
    #[arg(long)]
    pub symbol: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ReportsCommand {
    /// Every stored report file with its period, size and when it was made.
    List,
    /// One stored file (`reports/daily/2026-01-14.pdf`), to a file or stdout.
    Get {
        key: String,
        /// Where to write it (default: the key's file name in the current directory; `-` for
        /// stdout).
        #[arg(short, long)]
        output: Option<String>,
    },
    /// Makes (or remakes) the report of a period now: stored, and sent to Telegram.
    Generate {
        #[arg(value_enum)]
        period: ReportPeriod,
        /// Any day of the period, YYYY-MM-DD (default: the period running now).
        #[arg(long)]
        date: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportPeriod {
    Daily,
    Weekly,
    Monthly,
}

impl ReportPeriod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Daily => "daily",
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KillState {
    On,
    Off,
    Status,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Every config key (the manifest and the typed keys beside it) with its value and default.
    List,
    /// One key's value.
    Get { key: String },
    /// Set one key (validated by the gateway).
    Set { key: String, value: String },
    /// Write the defaults of missing keys (never overwrites).
    ApplyManifest,
}

/// Filters shared by `dlq list` and `dlq replay`.
#[derive(Debug, Clone, Default, Args)]
pub struct DlqFilter {
    /// kill_switch, stale, max_retries, unrecorded, unclaimed, abandoned, undecodable, ...
    #[arg(long)]
    pub reason: Option<String>,
    #[arg(long)]
    pub exchange: Option<String>,
    /// Any spelling: BTCUSDT, BTC/USDT, btc-usdt.
    #[arg(long)]
    pub symbol: Option<String>,
    /// trade-execution-dlq, trade-events-dlq, or sweep (stuck keys the dlq worker found).
    #[arg(long)]
    pub queue: Option<String>,
    /// One idempotency key.
    #[arg(long)]
    pub key: Option<String>,
    /// Recorded at or after: 30m, 2h, 7d, 2026-11-28, RFC 3339, or epoch ms.
    #[arg(long)]
    pub since: Option<String>,
    /// Recorded before (same forms as --since).
    #[arg(long)]
    pub until: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List dead letters (newest first).
    List {
        #[command(flatten)]
        filter: DlqFilter,
        /// pending (default), replayed, discarded, ended, or all.
        #[arg(long, default_value = "pending")]
        status: String,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Continue after a previous page.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// One dead letter: record, decoded job, audit history.
    Show { id: i64 },
    /// Replay dead letters by id, or every pending one matching the filters.
    Replay {
        /// Dead letter ids; without ids, the filters select.
        ids: Vec<i64>,
        #[command(flatten)]
        filter: DlqFilter,
        /// Show what would be replayed; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask before replaying more than one.
        #[arg(long, short = 'y')]
        yes: bool,
        /// At most this many (filters only).
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Close a dead letter without replaying it.
    Discard {
        id: i64,
        /// Why (kept in the record and the audit log).
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TradesCommand {
    /// The latest trades, oldest first; --follow keeps printing new ones.
    Tail {
        #[arg(long, short = 'n', default_value_t = 20)]
        limit: u32,
        #[arg(long, short = 'f')]
        follow: bool,
        /// Seconds between polls with --follow.
        #[arg(long, default_value_t = 2)]
        interval: u64,
        #[arg(long)]
        symbol: Option<String>,
        #[arg(long)]
        exchange: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SignalCommand {
    /// Send a test signal to the webhook (paper by default).
    Send {
        #[arg(long, default_value = "paper")]
        exchange: String,
        #[arg(long, default_value = "BTCUSDT")]
        symbol: String,
        /// LONG, SHORT, CLOSE_LONG, CLOSE_SHORT (or buy / sell).
        #[arg(long, default_value = "LONG")]
        action: String,
        #[arg(long, default_value = "0.001")]
        quantity: String,
        #[arg(long)]
        price: Option<String>,
        /// market or limit.
        #[arg(long)]
        order_type: Option<String>,
        #[arg(long)]
        leverage: Option<u8>,
        /// Idempotency key (default: the gateway's fingerprint).
        #[arg(long)]
        key: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn positions_take_exchange_network_and_flagged() {
        let cli = Cli::try_parse_from(["hoox", "positions", "--network", "testnet", "--flagged"])
            .unwrap();
        match cli.command {
            Command::Positions {
                exchange,
                network,
                flagged,
            } => {
                assert_eq!(
                    (exchange, network.as_deref(), flagged),
                    (None, Some("testnet"), true)
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn replay_takes_ids_or_filters() {
        let cli = Cli::try_parse_from(["hoox", "dlq", "replay", "3", "4", "--dry-run"]).unwrap();
        match cli.command {
            Command::Dlq(DlqCommand::Replay { ids, dry_run, .. }) => {
                assert_eq!(ids, vec![3, 4]);
                assert!(dry_run);
            }
            other => panic!("{other:?}"),
        }
        let cli = Cli::try_parse_from([
            "hoox",
            "--url",
            "https://hoox.example",
            "dlq",
            "replay",
            "--reason",
            "kill_switch",
            "--yes",
        ])
        .unwrap();
        assert_eq!(cli.url, "https://hoox.example");
        assert!(Cli::try_parse_from(["hoox", "kill", "maybe"]).is_err());
        assert!(
            Cli::try_parse_from(["hoox", "--key", "secret", "kill", "on"]).is_err(),
            "no key flag exists"
        );
    }
}
