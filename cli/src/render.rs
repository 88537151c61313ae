//! What the CLI prints: aligned tables and short summaries. Pure functions of the API's answers,
//! so the output is tested without a server.

use crate::when::show;
use ops::dead_letters::{
    DeadLetterDetail, DeadLetterList, DeadLetterSummary, ReplayResponse, ReplayResult,
};
use ops::ledger::TradeRow;
use ops::reconcile::{PositionRow, PositionsView};
use serde_json::Value;

/// Left-aligned columns separated by two spaces, a header row first.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths.get(i).copied().unwrap_or(0)))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = vec![line(headers.to_vec())];
    out.extend(
        rows.iter()
            .map(|r| line(r.iter().map(String::as_str).collect())),
    );
    out.join("\n")
}

fn or_dash(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".into())
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// `GET /admin/config` as key / value / default.
pub fn config(v: &Value) -> String {
    let rows: Vec<Vec<String>> = v["keys"]
        .as_array()
        .map(|keys| {
            keys.iter()
                .map(|k| {
                    let s = |x: &Value| x.as_str().map(str::to_owned);
                    vec![
                        s(&k["key"]).unwrap_or_default(),
                        s(&k["value"]).unwrap_or_else(|| "(unset)".into()),
                        s(&k["default"]).unwrap_or_default(),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    let mut out = table(&["KEY", "VALUE", "DEFAULT"], &rows);
    if let Some(w) = v["warnings"].as_array().filter(|w| !w.is_empty()) {
        for warning in w {
            out.push_str(&format!(
                "\nwarning: {}: {}",
                warning["key"].as_str().unwrap_or("?"),
                warning["message"].as_str().unwrap_or("?")
            ));
        }
    }
    out
}

/// The kill switch from `GET /admin/config`.
pub fn kill_status(v: &Value) -> String {
    let effective = v["effective"]["kill_switch"].as_bool();
    let raw = v["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["key"] == "trade:kill_switch"))
        .and_then(|k| k["value"].as_str().map(str::to_owned));
    let state = match effective {
        Some(true) => "ON — no orders are submitted",
        Some(false) => "off",
        None => "unknown",
    };
    format!(
        "kill switch: {state} (trade:kill_switch = {})",
        raw.unwrap_or_else(|| "unset".into())
    )
}

pub fn dlq_list(l: &DeadLetterList) -> String {
    let rows: Vec<Vec<String>> = l
        .page
        .items
        .iter()
        .map(|d| {
            vec![
                d.id.to_string(),
                show(d.created_at_ms),
                d.reason.clone(),
                status_cell(d),
                or_dash(&d.exchange),
                or_dash(&d.symbol),
                or_dash(&d.action),
                cut(d.idempotency_key.as_deref().unwrap_or("-"), 36),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "ID",
            "RECORDED (UTC)",
            "REASON",
            "STATUS",
            "EXCHANGE",
            "SYMBOL",
            "ACTION",
            "KEY",
        ],
        &rows,
    );
    out.push_str(&format!(
        "\n{} shown, {} matching",
        l.page.items.len(),
        l.total
    ));
    if let Some(c) = &l.page.next_cursor {
        out.push_str(&format!(" — next page: --cursor {c}"));
    }
    out
}

/// A dead letter's status, and whether an order may exist for it.
fn status_cell(d: &DeadLetterSummary) -> String {
    if d.in_doubt {
        format!("{} (in doubt)", d.status)
    } else {
        d.status.clone()
    }
}

pub fn dlq_detail(d: &DeadLetterDetail) -> String {
    let s = &d.summary;
    let mut out = vec![
        format!("dead letter #{} ({})", s.id, s.status),
        format!("  recorded    {} UTC", show(s.created_at_ms)),
        format!("  queue       {}", s.queue),
        format!("  reason      {}", s.reason),
        format!("  detail      {}", or_dash(&s.detail)),
        format!("  last error  {}", or_dash(&s.last_error)),
        format!("  attempts    {}", s.attempts),
        format!("  key         {}", or_dash(&s.idempotency_key)),
        format!(
            "  in doubt    {}",
            if s.in_doubt {
                "yes — an order may exist; a replay looks it up before it may submit"
            } else {
                "no"
            }
        ),
        format!("  replayable  {}", if d.replayable { "yes" } else { "no" }),
    ];
    if let Some(j) = &d.job {
        let sig = &j.signal;
        out.push(format!(
            "  job         {} {} {}{} on {} (request {}, received {} UTC)",
            sig.action.as_str(),
            sig.quantity,
            sig.symbol.canonical(),
            sig.price.map(|p| format!(" @ {p}")).unwrap_or_default(),
            sig.exchange,
            j.request_id,
            show(j.received_at_ms)
        ));
    }
    if let Some(r) = &s.resolution {
        out.push(format!(
            "  resolved    {} by {} at {} UTC",
            r,
            or_dash(&s.resolved_by),
            s.resolved_at_ms.map(show).unwrap_or_default()
        ));
    }
    if d.history.is_empty() {
        out.push("  history     none".into());
    } else {
        out.push("  history".into());
        for h in &d.history {
            out.push(format!(
                "    {} UTC  {}  {}  {}",
                show(h.at_ms),
                h.actor,
                h.action,
                h.detail
            ));
        }
    }
    out.join("\n")
}

/// The result column of one replay item.
pub fn replay_result(r: &ReplayResult) -> String {
    match r {
        ReplayResult::WouldReplay => "would replay".into(),
        ReplayResult::Replayed {
            key_state,
            in_doubt: false,
        } => format!("replayed (key {key_state})"),
        ReplayResult::Replayed {
            key_state,
            in_doubt: true,
        } => format!("replayed (key {key_state}, in doubt: looked up first)"),
        ReplayResult::Skipped { reason } => format!(
            "skipped: {}",
            serde_json::to_value(reason)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        ),
        ReplayResult::Failed { error } => format!("FAILED: {error}"),
        ReplayResult::NotFound => "not found".into(),
    }
}

pub fn replay(r: &ReplayResponse) -> String {
    let rows: Vec<Vec<String>> = r
        .items
        .iter()
        .map(|i| {
            vec![
                i.id.to_string(),
                or_dash(&i.reason),
                or_dash(&i.symbol),
                or_dash(&i.action),
                cut(i.idempotency_key.as_deref().unwrap_or("-"), 36),
                replay_result(&i.result),
            ]
        })
        .collect();
    let c = &r.counts;
    let summary = if r.dry_run {
        format!(
            "dry run: {} would be replayed, {} skipped, {} not found — nothing changed",
            c.would_replay, c.skipped, c.not_found
        )
    } else {
        format!(
            "{} replayed, {} skipped, {} failed, {} not found",
            c.replayed, c.skipped, c.failed, c.not_found
        )
    };
    format!(
        "{}\n{summary}",
        table(
            &["ID", "REASON", "SYMBOL", "ACTION", "KEY", "RESULT"],
            &rows
        )
    )
}

/// One trade per line, as `trades tail` prints them.
fn position_cells(p: &PositionRow) -> Vec<String> {
    vec![
        p.exchange.clone(),
        p.symbol.clone(),
        p.side.clone(),
        p.size.clone(),
        or_dash(&p.entry_price),
        or_dash(&p.mark_price),
        or_dash(&p.unrealised_pnl),
        or_dash(&p.leverage),
        or_dash(&p.margin_mode),
        or_dash(&p.implied_size),
        if p.flagged() {
            format!("! {}", p.reconcile)
        } else {
            p.reconcile.clone()
        },
        show(p.updated_at_ms),
    ]
}

/// `hoox positions`: one table per network (live, testnet, paper), the differences spelt out,
/// then realised PnL and the latest equity.
pub fn positions(v: &PositionsView) -> String {
    const HEADERS: [&str; 12] = [
        "EXCHANGE",
        "SYMBOL",
        "SIDE",
        "SIZE",
        "ENTRY",
        "MARK",
        "UPNL",
        "LEV",
        "MARGIN",
        "HOOX",
        "RECONCILE",
        "READ (UTC)",
    ];
    let mut out = Vec::new();
    type Keep = fn(&PositionRow) -> bool;
    let groups: [(&str, Keep); 3] = [
        ("LIVE (mainnet)", |p| {
            p.exchange != "paper" && p.network == "mainnet"
        }),
        ("TESTNET", |p| {
            p.exchange != "paper" && p.network == "testnet"
        }),
        ("PAPER (simulated fills)", |p| p.exchange == "paper"),
    ];
    for (title, keep) in groups {
        let rows: Vec<Vec<String>> = v
            .positions
            .iter()
            .filter(|p| keep(p))
            .map(position_cells)
            .collect();
        if !rows.is_empty() {
            out.push(format!("{title}\n{}", table(&HEADERS, &rows)));
        }
    }
    if v.positions.is_empty() {
        out.push("no open positions".into());
    }
    let diffs: Vec<String> = v
        .positions
        .iter()
        .filter(|p| p.flagged())
        .map(|p| {
            format!(
                "! {} {} {} {} ({}): {}",
                p.exchange,
                p.network,
                p.symbol,
                p.side,
                p.reconcile,
                p.reconcile_detail.as_deref().unwrap_or("")
            )
        })
        .collect();
    if !diffs.is_empty() {
        out.push(format!(
            "{}\n{} difference(s) between the exchanges and hoox's fills",
            diffs.join("\n"),
            diffs.len()
        ));
    }
    if !v.realised.is_empty() {
        let rows: Vec<Vec<String>> = v
            .realised
            .iter()
            .map(|r| {
                vec![
                    r.exchange.clone(),
                    r.network.clone(),
                    r.closed_positions.to_string(),
                    r.net_pnl.normalize().to_string(),
                    r.fees.normalize().to_string(),
                    if r.complete { "yes" } else { "no" }.into(),
                ]
            })
            .collect();
        out.push(format!(
            "REALISED (USDT)\n{}",
            table(
                &[
                    "EXCHANGE",
                    "NETWORK",
                    "CLOSED",
                    "NET PNL",
                    "FEES",
                    "ALL KNOWN"
                ],
                &rows
            )
        ));
    }
    if !v.equity.is_empty() {
        let rows: Vec<Vec<String>> = v
            .equity
            .iter()
            .map(|q| {
                vec![
                    q.exchange.clone(),
                    q.network.clone(),
                    q.day.clone(),
                    q.wallet_balance.clone(),
                    or_dash(&q.unrealised_pnl),
                    q.equity.clone(),
                    q.asset.clone(),
                ]
            })
            .collect();
        out.push(format!(
            "EQUITY (latest daily snapshot)\n{}",
            table(
                &["EXCHANGE", "NETWORK", "DAY", "WALLET", "UPNL", "EQUITY", "ASSET"],
                &rows
            )
        ));
    }
    out.join("\n\n")
}

pub fn trade_line(t: &TradeRow) -> String {
    format!(
        "{}  {:<11} {:<10} {:>12} @ {:<12} {:<8} {:<8} {}",
        show(t.created_at_ms),
        t.action.as_deref().unwrap_or(&t.side),
        t.symbol,
        t.filled_quantity,
        t.average_price
            .as_deref()
            .or(t.price.as_deref())
            .unwrap_or("-"),
        t.exchange.as_deref().unwrap_or(&t.venue),
        t.status,
        t.idempotency_key
    )
}

/// One ledger signal: when, what, where, how it ended and its key (`email:…` for a mail).
pub fn signal_line(s: &ops::ledger::SignalRow) -> String {
    format!(
        "{}  {:<11} {:<10} {:>12} {:<8} {:<10} {}",
        show(s.received_at_ms),
        s.action,
        s.symbol,
        s.quantity,
        s.exchange,
        s.outcome,
        s.idempotency_key
    )
}

/// `hoox reports list`: one line per stored file.
pub fn reports(v: &Value) -> String {
    let items = v["reports"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        return "No reports stored yet (hoox reports generate daily).".into();
    }
    let text = |r: &Value, k: &str| r[k].as_str().unwrap_or("—").to_owned();
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|r| {
            vec![
                text(r, "key"),
                text(r, "period"),
                r["size"].as_u64().map_or("—".into(), |s| s.to_string()),
                text(r, "generated_at"),
                text(r, "pdf"),
            ]
        })
        .collect();
    table(&["key", "period", "bytes", "generated", "pdf"], &rows)
}

/// `hoox reports generate`: the period, the files, the PDF and Telegram outcome, headlines.
pub fn generated(v: &Value) -> String {
    let s = |k: &str| v[k].as_str().unwrap_or("?").to_owned();
    let mut out = format!("{} report {} ({})\n", s("kind"), s("period"), s("span"));
    for k in v["keys"].as_array().into_iter().flatten() {
        out.push_str(&format!("  stored {}\n", k.as_str().unwrap_or("?")));
    }
    if v["pdf"]["rendered"] == true {
        out.push_str("  PDF rendered\n");
    } else {
        out.push_str(&format!(
            "  PDF not rendered: {}\n",
            v["pdf"]["reason"].as_str().unwrap_or("unknown")
        ));
    }
    let t = &v["telegram"];
    match t["skipped"].as_str() {
        Some(why) => out.push_str(&format!("  Telegram: not sent ({why})\n")),
        None => out.push_str(&format!(
            "  Telegram: sent to {} of {} chat(s)\n",
            t["sent"].as_u64().unwrap_or(0),
            t["chats"].as_u64().unwrap_or(0)
        )),
    }
    for h in v["summary"]["sections"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {}: realised {} USDT, fees {}, {} trade(s), win rate {}%\n",
            h["section"].as_str().unwrap_or("?"),
            h["realised_pnl"].as_str().unwrap_or("?"),
            h["fees"].as_str().unwrap_or("?"),
            h["trades"].as_u64().unwrap_or(0),
            h["win_rate_pct"].as_str().unwrap_or("—"),
        ));
    }
    out.trim_end().to_owned()
}

/// The non-null fields of a JSON object as `name value` pairs (values compact).
fn set_fields(v: &Value) -> Vec<String> {
    v.as_object()
        .map(|o| {
            o.iter()
                .filter(|(_, v)| !v.is_null() && *v != &Value::Bool(false))
                .map(|(k, v)| match v {
                    Value::String(s) => format!("{k} {s}"),
                    other => format!("{k} {other}"),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// A pause list (`trade:entries_paused`) as a table.
pub fn risk_pauses(title: &str, list: &Value) -> String {
    let rows: Vec<Vec<String>> = list
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    vec![
                        text(&p["network"]),
                        p["exchange"].as_str().unwrap_or("all").to_owned(),
                        p["symbol"].as_str().unwrap_or("all").to_owned(),
                        p["until_ms"].as_i64().map_or("until resumed".into(), show),
                        cut(&text(&p["reason"]), 70),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    if rows.is_empty() {
        return format!("{title}: nothing (entries open)");
    }
    format!(
        "{title}:\n{}",
        table(&["network", "exchange", "symbol", "until", "reason"], &rows)
    )
}

/// `GET /admin/agent/status`.
pub fn risk_status(v: &Value) -> String {
    let mut out = Vec::new();
    let rules = &v["rules"];
    let global = set_fields(&rules["global"]);
    let account = set_fields(&rules["account"]);
    out.push(format!(
        "rules (global): {}",
        if global.is_empty() {
            "none".into()
        } else {
            global.join(", ")
        }
    ));
    out.push(format!(
        "protections: {}",
        if account.is_empty() {
            "none".into()
        } else {
            account.join(", ")
        }
    ));
    if let Some(symbols) = rules["symbols"].as_object() {
        for (s, o) in symbols {
            out.push(format!("rules ({s}): {}", set_fields(o).join(", ")));
        }
    }
    for e in v["rule_errors"].as_array().into_iter().flatten() {
        out.push(format!("rule left out: {}", text(e)));
    }
    out.push(risk_pauses("entries paused", &v["paused"]));
    let positions: Vec<Vec<String>> = v["positions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let s = &p["state"];
            vec![
                text(&p["position"]),
                text(&s["watermark"]),
                text(&s["ladder_done"]),
                if s["breakeven"].as_bool() == Some(true) {
                    "yes".into()
                } else {
                    "no".into()
                },
                p["updated_at_ms"].as_i64().map_or("-".into(), show),
            ]
        })
        .collect();
    if positions.is_empty() {
        out.push("positions: none open".into());
    } else {
        out.push(table(
            &[
                "position",
                "watermark",
                "targets taken",
                "breakeven",
                "updated",
            ],
            &positions,
        ));
    }
    for e in v["equity"].as_array().into_iter().flatten() {
        out.push(format!(
            "equity {}: peak {}{}",
            text(&e["network"]),
            text(&e["peak"]),
            e["base"].as_str().map_or(String::new(), |b| format!(
                ", start of day re-based to {b} on {}",
                text(&e["base_day"])
            ))
        ));
    }
    match v.get("last_run").filter(|r| !r.is_null()) {
        Some(r) => out.push(format!("last run:\n{}", risk_run(r))),
        None => out.push("last run: none yet".into()),
    }
    out.join("\n")
}

/// One run's summary (`POST /admin/agent/run`, or the status's last run).
pub fn risk_run(r: &Value) -> String {
    let mut out = vec![format!(
        "{} ({}): {} position(s), {} action(s)",
        r["at_ms"].as_i64().map_or("-".into(), show),
        text(&r["trigger"]),
        r["positions"].as_array().map_or(0, Vec::len),
        r["actions"].as_array().map_or(0, Vec::len),
    )];
    for a in r["actions"].as_array().into_iter().flatten() {
        let what = match a["action"].as_str() {
            Some("close") => format!(
                "close {} ({})",
                text(&a["key"]),
                a["sent"]["outcome"].as_str().unwrap_or("not sent")
            ),
            Some("pause_entries") => format!("pause entries {}", a["scope"]),
            Some("flatten") => format!("flatten {}", text(&a["network"])),
            _ => a.to_string(),
        };
        out.push(format!("  - {what}"));
    }
    for a in r["accounts"].as_array().into_iter().flatten() {
        out.push(format!(
            "  equity {}: {} (start of day {}, peak {})",
            text(&a["network"]),
            text(&a["equity"]),
            text(&a["start_of_day_equity"]),
            text(&a["equity_peak"])
        ));
    }
    for n in r["notes"].as_array().into_iter().flatten() {
        out.push(format!("  note: {}", text(&n["message"])));
    }
    for p in r["problems"].as_array().into_iter().flatten() {
        out.push(format!("  problem: {}", text(p)));
    }
    out.join("\n")
}

/// `hoox risk flatten`'s answer.
pub fn risk_flatten(v: &Value) -> String {
    let rows: Vec<Vec<String>> = v["closes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            vec![
                text(&c["position"]),
                c["sent"]["outcome"].as_str().unwrap_or("-").to_owned(),
                cut(&text(&c["sent"]["detail"]), 60),
            ]
        })
        .collect();
    if rows.is_empty() {
        return "nothing to flatten: no open position in that scope".into();
    }
    format!(
        "{}\nfailed: {}",
        table(&["position", "close", "detail"], &rows),
        text(&v["failed"])
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ops::dead_letters::{ReplayItem, SkipReason};
    use ops::query::Page;

    fn summary(id: i64) -> DeadLetterSummary {
        DeadLetterSummary {
            id,
            queue: "trade-execution-dlq".into(),
            idempotency_key: Some(format!("key-{id}")),
            reason: "kill_switch".into(),
            detail: None,
            attempts: 1,
            last_error: None,
            exchange: Some("paper".into()),
            symbol: Some("BTCUSDT".into()),
            action: Some("LONG".into()),
            status: "pending".into(),
            in_doubt: false,
            created_at_ms: 1_795_867_200_000,
            replays: 0,
            resolved_at_ms: None,
            resolved_by: None,
            resolution: None,
        }
    }

    #[test]
    fn positions_print_per_network_with_the_differences_spelt_out() {
        let row = |exchange: &str, network: &str, flag: &str| PositionRow {
            exchange: exchange.into(),
            network: network.into(),
            symbol: "BTCUSDT".into(),
            side: "long".into(),
            size: "0.01".into(),
            entry_price: Some("65000".into()),
            mark_price: None,
            unrealised_pnl: None,
            leverage: None,
            margin_mode: None,
            source: "exchange".into(),
            implied_size: Some("0.02".into()),
            reconcile: flag.into(),
            reconcile_detail: (flag != "ok").then(|| "hoox's fills imply 0.02".into()),
            updated_at_ms: 1_795_867_200_000,
        };
        let v = PositionsView {
            positions: vec![
                row("bybit", "mainnet", "ok"),
                row("bybit", "testnet", "differs"),
            ],
            flagged: 1,
            implied: vec![],
            closed: vec![],
            realised: vec![],
            equity: vec![],
        };
        let out = positions(&v);
        assert!(out.starts_with("LIVE (mainnet)\nEXCHANGE"), "{out}");
        assert!(out.contains("TESTNET\nEXCHANGE"));
        assert!(out.contains("! differs"));
        assert!(out.contains("! bybit testnet BTCUSDT long (differs): hoox's fills imply 0.02"));
        assert!(out.ends_with("1 difference(s) between the exchanges and hoox's fills"));
    }

    #[test]
    fn tables_align() {
        let t = table(
            &["A", "BB"],
            &[vec!["xxx".into(), "y".into()], vec!["z".into(), "".into()]],
        );
        assert_eq!(t, "A    BB\nxxx  y\nz");
    }

    #[test]
    fn dead_letter_lists_say_how_many_match_and_how_to_go_on() {
        let l = DeadLetterList {
            page: Page {
                items: vec![summary(3)],
                next_cursor: Some("abc".into()),
            },
            total: 7,
        };
        let out = dlq_list(&l);
        assert!(out.contains("3   2026-11-28 12:00:00  kill_switch  pending  paper"));
        assert!(out.ends_with("1 shown, 7 matching — next page: --cursor abc"));
        let mut doubt = summary(4);
        doubt.in_doubt = true;
        let l = DeadLetterList {
            page: Page {
                items: vec![doubt.clone()],
                next_cursor: None,
            },
            total: 1,
        };
        assert!(dlq_list(&l).contains("kill_switch  pending (in doubt)  paper"));
        let d = dlq_detail(&DeadLetterDetail {
            summary: doubt,
            job: None,
            raw_base64: None,
            replayable: true,
            history: vec![],
        });
        assert!(d.contains("  in doubt    yes — an order may exist"), "{d}");
    }

    #[test]
    fn replay_summaries_differ_for_dry_runs() {
        let items = vec![
            ReplayItem::of(&summary(1), ReplayResult::WouldReplay),
            ReplayItem::of(
                &summary(2),
                ReplayResult::Skipped {
                    reason: SkipReason::NotPending,
                },
            ),
        ];
        let dry = replay(&ReplayResponse::new(true, items));
        assert!(dry.contains("would replay"));
        assert!(dry.contains("skipped: not_pending"));
        assert!(
            dry.ends_with("dry run: 1 would be replayed, 1 skipped, 0 not found — nothing changed")
        );
        let real = replay(&ReplayResponse::new(
            false,
            vec![ReplayItem::of(
                &summary(1),
                ReplayResult::Replayed {
                    key_state: "filled".into(),
                    in_doubt: false,
                },
            )],
        ));
        assert!(real.contains("replayed (key filled)"));
        assert_eq!(
            replay_result(&ReplayResult::Replayed {
                key_state: "accepted".into(),
                in_doubt: true
            }),
            "replayed (key accepted, in doubt: looked up first)"
        );
        assert_eq!(
            replay_result(&ReplayResult::Skipped {
                reason: SkipReason::AlreadyFilled
            }),
            "skipped: already_filled"
        );
        assert!(real.ends_with("1 replayed, 0 skipped, 0 failed, 0 not found"));
    }

    #[test]
    fn kill_status_reads_the_effective_value() {
        let v = serde_json::json!({
            "keys": [{"key": "trade:kill_switch", "value": "true", "default": "false"}],
            "effective": {"kill_switch": true}
        });
        assert_eq!(
            kill_status(&v),
            "kill switch: ON — no orders are submitted (trade:kill_switch = true)"
        );
        assert!(config(&v).contains("trade:kill_switch  true   false"));
    }
}
