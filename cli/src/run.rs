//! Carrying out one command against the gateway.

use crate::args::{
    Cli, Command, ConfigCommand, DashboardCommand, DlqCommand, DlqFilter, KillState,
    ReportsCommand, RiskCommand, RiskScope, SignalCommand, TradesCommand,
};
use crate::client::{query, Body, Client};
use crate::keys::{self, Key};
use crate::{render, when, CliError};
use indicatif::{ProgressBar, ProgressStyle};
use ops::dead_letters::{DeadLetterDetail, DeadLetterList, ReplayResponse, Status};
use ops::ledger::{SignalRow, TradeRow};
use ops::query::Page;
use ops::reconcile::{PositionsFilter, PositionsView};
use serde_json::{json, Value};
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

/// Dead letters per replay request (each request shows as one step of the progress bar).
pub const REPLAY_CHUNK: usize = 10;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Who the audit log names: `cli:<user>`.
fn actor() -> String {
    format!(
        "cli:{}",
        env_var("USER")
            .or_else(|| env_var("USERNAME"))
            .unwrap_or_else(|| "unknown".into())
    )
}

fn print_json(v: &impl serde::Serialize) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// Runs a parsed command line; output goes to stdout, progress to stderr.
pub fn run(cli: Cli, dir: &Path) -> Result<(), CliError> {
    let internal = || keys::find(Key::Internal, env_var, dir);
    match cli.command {
        Command::Signal(SignalCommand::Send {
            exchange,
            symbol,
            action,
            quantity,
            price,
            order_type,
            leverage,
            key,
        }) => {
            let webhook_key = keys::find(Key::Webhook, env_var, dir)?;
            let client = Client::new(&cli.url, None, actor())?;
            let mut body = json!({
                "exchange": exchange, "symbol": symbol, "action": action, "quantity": quantity,
            });
            let fields = [
                ("price", price),
                ("orderType", order_type),
                ("idempotencyKey", key),
            ];
            for (k, v) in fields {
                if let Some(v) = v {
                    body[k] = json!(v);
                }
            }
            if let Some(l) = leverage {
                body["leverage"] = json!(l);
            }
            let auth = format!("Bearer {webhook_key}");
            let answer: Value = client.request(
                "POST",
                "/webhook",
                Body::Json(&body),
                &[("Authorization", &auth)],
            )?;
            if cli.json {
                print_json(&answer);
            } else {
                println!(
                    "{} — idempotency key {}, request {}",
                    answer["status"].as_str().unwrap_or("?"),
                    answer["idempotency_key"].as_str().unwrap_or("?"),
                    answer["request_id"].as_str().unwrap_or("?")
                );
            }
            Ok(())
        }
        Command::Dashboard(DashboardCommand::HashPassword) => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| CliError::Usage(format!("reading the password: {e}")))?;
            let password = line.trim_end_matches(['\r', '\n']);
            let mut salt = [0u8; console::password::SALT_BYTES];
            getrandom::getrandom(&mut salt)
                .map_err(|e| CliError::Usage(format!("no OS randomness: {e}")))?;
            let hash = console::password::hash(password, salt)
                .map_err(|e| CliError::Usage(e.to_string()))?;
            println!("{}", hash.to_phc());
            Ok(())
        }
        Command::Kill { state } => {
            let client = Client::new(&cli.url, Some(internal()?), actor())?;
            if state != KillState::Status {
                let value = if state == KillState::On {
                    "true"
                } else {
                    "false"
                };
                let _: Value = client.request(
                    "PUT",
                    "/admin/config/trade:kill_switch",
                    Body::Text(value),
                    &[],
                )?;
            }
            let cfg: Value = client.get("/admin/config")?;
            if cli.json {
                print_json(&json!({"kill_switch": cfg["effective"]["kill_switch"]}));
            } else {
                println!("{}", render::kill_status(&cfg));
            }
            Ok(())
        }
        Command::Config(cmd) => {
            let client = Client::new(&cli.url, Some(internal()?), actor())?;
            match cmd {
                ConfigCommand::List => {
                    let cfg: Value = client.get("/admin/config")?;
                    if cli.json {
                        print_json(&cfg);
                    } else {
                        println!("{}", render::config(&cfg));
                    }
                }
                ConfigCommand::Get { key } => {
                    let cfg: Value = client.get("/admin/config")?;
                    let entry = cfg["keys"]
                        .as_array()
                        .and_then(|keys| keys.iter().find(|k| k["key"] == key.as_str()).cloned())
                        .ok_or_else(|| {
                            CliError::Usage(format!(
                                "{key} is not a hoox config key (see `hoox config list`)"
                            ))
                        })?;
                    if cli.json {
                        print_json(&entry);
                    } else {
                        match entry["value"].as_str() {
                            Some(v) => println!("{v}"),
                            None => println!(
                                "(unset; default {})",
                                entry["default"].as_str().unwrap_or("?")
                            ),
                        }
                    }
                }
                ConfigCommand::Set { key, value } => {
                    let path = format!(
                        "/admin/config/{}",
                        crate::client::encode(&key).replace("%3A", ":")
                    );
                    let answer: Value = client.request("PUT", &path, Body::Text(&value), &[])?;
                    if cli.json {
                        print_json(&answer);
                    } else {
                        println!(
                            "{} = {}",
                            answer["key"].as_str().unwrap_or(&key),
                            answer["value"].as_str().unwrap_or(&value)
                        );
                    }
                }
                ConfigCommand::ApplyManifest => {
                    let answer: Value =
                        client.request("POST", "/admin/config/apply-manifest", Body::None, &[])?;
                    if cli.json {
                        print_json(&answer);
                    } else {
                        let written: Vec<&str> = answer["written"]
                            .as_array()
                            .map(|w| w.iter().filter_map(Value::as_str).collect())
                            .unwrap_or_default();
                        if written.is_empty() {
                            println!("every manifest key is already set; nothing written");
                        } else {
                            println!("wrote defaults for: {}", written.join(", "));
                        }
                    }
                }
            }
            Ok(())
        }
        Command::Dlq(cmd) => dlq(
            cmd,
            &Client::new(&cli.url, Some(internal()?), actor())?,
            cli.json,
        ),
        Command::Risk(cmd) => {
            let client = Client::new(&cli.url, Some(internal()?), actor())?;
            let over = |action: &str, scope: &RiskScope, reason: &str, minutes: Option<i64>| {
                let mut body = json!({
                    "action": action,
                    "network": scope.network,
                    "reason": reason,
                });
                if let Some(e) = &scope.exchange {
                    body["exchange"] = json!(e);
                }
                if let Some(s) = &scope.symbol {
                    body["symbol"] = json!(s);
                }
                if let Some(m) = minutes {
                    body["minutes"] = json!(m);
                }
                client.post::<Value>("/admin/agent/risk-override", &body)
            };
            let (answer, shown) = match cmd {
                RiskCommand::Status => {
                    let v: Value = client.get("/admin/agent/status")?;
                    let text = render::risk_status(&v);
                    (v, text)
                }
                RiskCommand::Run => {
                    let spinner = ProgressBar::new_spinner();
                    spinner.set_message("evaluating every rule (reads every exchange)…");
                    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
                    let v: Result<Value, CliError> = client.post("/admin/agent/run", &json!({}));
                    spinner.finish_and_clear();
                    let v = v?;
                    let text = render::risk_run(&v);
                    (v, text)
                }
                RiskCommand::Pause {
                    scope,
                    minutes,
                    reason,
                } => {
                    let v = over("pause", &scope, &reason, minutes)?;
                    let text = render::risk_pauses("paused", &v["paused"]);
                    (v, text)
                }
                RiskCommand::Resume { scope, reason } => {
                    let v = over("resume", &scope, &reason, None)?;
                    let mut text = render::risk_pauses("still paused", &v["paused"]);
                    text.push_str(&format!(
                        "\nlifted: {}",
                        v["lifted"].as_array().map_or(0, Vec::len)
                    ));
                    if let Some(e) = v["rebased_equity"].as_str() {
                        text.push_str(&format!(
                            "\ndaily loss and drawdown now measured from {e} USDT"
                        ));
                    }
                    (v, text)
                }
                RiskCommand::Flatten { scope, reason, yes } => {
                    if !yes {
                        return Err(CliError::Usage(
                            "flatten closes real positions: add --yes to go ahead".into(),
                        ));
                    }
                    let v = over("flatten", &scope, &reason, None)?;
                    let text = render::risk_flatten(&v);
                    (v, text)
                }
            };
            if cli.json {
                print_json(&answer);
            } else {
                println!("{shown}");
            }
            Ok(())
        }
        Command::Reports(cmd) => {
            let client = Client::new(&cli.url, Some(internal()?), actor())?;
            match cmd {
                ReportsCommand::List => {
                    let v: Value = client.get("/admin/reports/reports")?;
                    if cli.json {
                        print_json(&v);
                    } else {
                        println!("{}", render::reports(&v));
                    }
                }
                ReportsCommand::Get { key, output } => {
                    let key = key.trim_start_matches('/');
                    let bytes = client.get_bytes(&format!("/admin/reports/{key}"))?;
                    let target = output
                        .unwrap_or_else(|| key.rsplit('/').next().unwrap_or("report").to_owned());
                    if target == "-" {
                        std::io::stdout()
                            .write_all(&bytes)
                            .map_err(|e| CliError::Usage(format!("stdout: {e}")))?;
                    } else {
                        std::fs::write(dir.join(&target), &bytes)
                            .map_err(|e| CliError::Usage(format!("cannot write {target}: {e}")))?;
                        eprintln!("wrote {} ({} bytes)", target, bytes.len());
                    }
                }
                ReportsCommand::Generate { period, date } => {
                    let mut body = json!({ "period": period.as_str() });
                    if let Some(d) = date {
                        body["date"] = json!(d);
                    }
                    // Rendering the PDF takes seconds: show that something is happening.
                    let spinner = ProgressBar::new_spinner();
                    if !std::io::stderr().is_terminal() {
                        spinner.set_draw_target(indicatif::ProgressDrawTarget::hidden());
                    }
                    spinner.set_message(format!("generating the {} report", period.as_str()));
                    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
                    let answer: Result<Value, CliError> =
                        client.post("/admin/reports/reports", &body);
                    spinner.finish_and_clear();
                    let v = answer?;
                    if cli.json {
                        print_json(&v);
                    } else {
                        println!("{}", render::generated(&v));
                    }
                }
            }
            Ok(())
        }
        Command::Positions {
            exchange,
            network,
            flagged,
        } => {
            let client = Client::new(&cli.url, Some(internal()?), actor())?;
            let filter = PositionsFilter {
                exchange,
                network,
                flagged,
            };
            let path = format!("/admin/ledger/positions{}", query(&filter.to_pairs()));
            let view: PositionsView = client.get(&path)?;
            if cli.json {
                print_json(&view);
            } else {
                println!("{}", render::positions(&view));
            }
            Ok(())
        }
        Command::Signals {
            limit,
            source,
            symbol,
            exchange,
            outcome,
        } => {
            let client = Client::new(&cli.url, Some(internal()?), actor())?;
            let mut pairs = vec![("limit".to_owned(), limit.clamp(1, 200).to_string())];
            for (k, v) in [
                ("source", source),
                ("symbol", symbol),
                ("exchange", exchange),
                ("outcome", outcome),
            ] {
                if let Some(v) = v {
                    pairs.push((k.to_owned(), v));
                }
            }
            let page: Page<SignalRow> =
                client.get(&format!("/admin/ledger/signals{}", query(&pairs)))?;
            if cli.json {
                print_json(&page.items);
            } else if page.items.is_empty() {
                eprintln!("no signals");
            } else {
                for s in &page.items {
                    println!("{}", render::signal_line(s));
                }
            }
            Ok(())
        }
        Command::Trades(TradesCommand::Tail {
            limit,
            follow,
            interval,
            symbol,
            exchange,
        }) => {
            let client = Client::new(&cli.url, Some(internal()?), actor())?;
            let mut pairs = vec![("limit".to_owned(), limit.clamp(1, 200).to_string())];
            if let Some(s) = symbol {
                pairs.push(("symbol".into(), s));
            }
            if let Some(e) = exchange {
                pairs.push(("exchange".into(), e));
            }
            let path = format!("/admin/ledger/trades{}", query(&pairs));
            let mut seen: Option<(i64, String)> = None;
            loop {
                let page: Page<TradeRow> = client.get(&path)?;
                let mut fresh: Vec<&TradeRow> = page
                    .items
                    .iter()
                    .filter(|t| {
                        seen.as_ref()
                            .is_none_or(|s| (t.created_at_ms, t.client_order_id.clone()) > *s)
                    })
                    .collect();
                fresh.reverse();
                for t in &fresh {
                    if cli.json {
                        println!("{}", serde_json::to_string(t).unwrap_or_default());
                    } else {
                        println!("{}", render::trade_line(t));
                    }
                }
                if let Some(t) = fresh.last() {
                    seen = Some((t.created_at_ms, t.client_order_id.clone()));
                } else if seen.is_none() {
                    seen = Some((0, String::new()));
                    if !cli.json {
                        eprintln!("no trades yet");
                    }
                }
                if !follow {
                    return Ok(());
                }
                let _ = std::io::stdout().flush();
                std::thread::sleep(std::time::Duration::from_secs(interval.max(1)));
            }
        }
    }
}

fn filter_pairs(f: &DlqFilter, status: Option<&str>) -> Result<Vec<(String, String)>, CliError> {
    let now = now_ms();
    let mut pairs = Vec::new();
    let fields = [
        ("reason", f.reason.clone()),
        ("exchange", f.exchange.clone()),
        ("symbol", f.symbol.clone()),
        ("queue", f.queue.clone()),
        ("key", f.key.clone()),
        (
            "since",
            f.since
                .as_deref()
                .map(|s| when::parse(s, now))
                .transpose()?
                .map(|v| v.to_string()),
        ),
        (
            "until",
            f.until
                .as_deref()
                .map(|s| when::parse(s, now))
                .transpose()?
                .map(|v| v.to_string()),
        ),
        ("status", status.map(str::to_owned)),
    ];
    for (k, v) in fields {
        if let Some(v) = v {
            pairs.push((k.to_owned(), v));
        }
    }
    Ok(pairs)
}

/// Every pending dead letter id matching the filters, oldest first, at most `limit`.
fn matching_ids(client: &Client, f: &DlqFilter, limit: Option<u32>) -> Result<Vec<i64>, CliError> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut pairs = filter_pairs(f, Some(Status::Pending.as_str()))?;
        pairs.push(("limit".into(), "200".into()));
        if let Some(c) = &cursor {
            pairs.push(("cursor".into(), c.clone()));
        }
        let page: DeadLetterList = client.get(&format!("/admin/dlq/{}", query(&pairs)))?;
        ids.extend(page.page.items.iter().map(|d| d.id));
        match page.page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    ids.sort_unstable();
    if let Some(l) = limit {
        ids.truncate(l as usize);
    }
    Ok(ids)
}

fn confirm(n: usize) -> Result<(), CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(format!(
            "about to replay {n} dead letters: run with --dry-run first, then add --yes"
        )));
    }
    eprint!("Replay {n} dead letters? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(CliError::Usage("nothing replayed".into()))
    }
}

fn dlq(cmd: DlqCommand, client: &Client, as_json: bool) -> Result<(), CliError> {
    match cmd {
        DlqCommand::List {
            filter,
            status,
            limit,
            cursor,
        } => {
            let status = (status != "all").then_some(status);
            let mut pairs = filter_pairs(&filter, status.as_deref())?;
            pairs.push(("limit".into(), limit.to_string()));
            if let Some(c) = cursor {
                pairs.push(("cursor".into(), c));
            }
            let list: DeadLetterList = client.get(&format!("/admin/dlq/{}", query(&pairs)))?;
            if as_json {
                print_json(&list);
            } else {
                println!("{}", render::dlq_list(&list));
            }
            Ok(())
        }
        DlqCommand::Show { id } => {
            let d: DeadLetterDetail = client.get(&format!("/admin/dlq/{id}"))?;
            if as_json {
                print_json(&d);
            } else {
                println!("{}", render::dlq_detail(&d));
            }
            Ok(())
        }
        DlqCommand::Discard { id, reason } => {
            let after: Value = client.post(
                &format!("/admin/dlq/{id}/discard"),
                &json!({"reason": reason}),
            )?;
            if as_json {
                print_json(&after);
            } else {
                println!(
                    "dead letter #{id} discarded: {}",
                    after["resolution"].as_str().unwrap_or(&reason)
                );
            }
            Ok(())
        }
        DlqCommand::Replay {
            ids,
            filter,
            dry_run,
            yes,
            limit,
        } => {
            let filtered = filter.reason.is_some()
                || filter.exchange.is_some()
                || filter.symbol.is_some()
                || filter.queue.is_some()
                || filter.key.is_some()
                || filter.since.is_some()
                || filter.until.is_some();
            let ids =
                match (ids.is_empty(), filtered) {
                    (false, false) => ids,
                    (true, true) => matching_ids(client, &filter, limit)?,
                    (false, true) => {
                        return Err(CliError::Usage("give ids or filters, not both".into()))
                    }
                    (true, false) => return Err(CliError::Usage(
                        "name dead letter ids, or select with filters (--reason, --symbol, ...)"
                            .into(),
                    )),
                };
            if ids.is_empty() {
                println!("no pending dead letter matches");
                return Ok(());
            }
            if !dry_run && ids.len() > 1 && !yes {
                confirm(ids.len())?;
            }
            let bar = ProgressBar::new(ids.len() as u64);
            if !dry_run && ids.len() > REPLAY_CHUNK {
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} replaying [{bar:30}] {pos}/{len} {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
            } else {
                bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
            }
            let mut items = Vec::new();
            for chunk in ids.chunks(REPLAY_CHUNK) {
                let r: ReplayResponse = client.post(
                    "/admin/dlq/replay",
                    &json!({"ids": chunk, "dry_run": dry_run}),
                )?;
                bar.inc(chunk.len() as u64);
                items.extend(r.items);
            }
            bar.finish_and_clear();
            let all = ReplayResponse::new(dry_run, items);
            if as_json {
                print_json(&all);
            } else {
                println!("{}", render::replay(&all));
            }
            match all.counts.failed {
                0 => Ok(()),
                n => Err(CliError::ReplayFailed(n)),
            }
        }
    }
}
