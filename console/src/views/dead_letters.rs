//! Dead letters: a filtered list, one inspected (its job, raw body, audit history), a dry run
//! or replay of it and a discard with a reason — each through the dlq worker's operator API,
//! which audits them under the signed-in user.

use super::{badge, encode, filters, pager, time, Chrome};
use maud::{html, Markup};
use ops::dead_letters::{DeadLetterDetail, DeadLetterList, ReplayResponse, ReplayResult};

/// `contracts::job::DeadLetterReason::as_str` of every reason.
const REASONS: &[&str] = &[
    "kill_switch",
    "stale",
    "exchange_disabled",
    "entries_paused",
    "max_retries",
    "unrecorded",
    "unclaimed",
    "abandoned",
    "undecodable",
    "unknown_version",
];
const STATUSES: &[&str] = &["pending", "replayed", "discarded"];

fn get<'a>(q: &[(&'a str, &'a str)], k: &str) -> &'a str {
    q.iter().find(|(n, _)| *n == k).map_or("", |(_, v)| v)
}

pub fn list(chrome: &Chrome<'_>, q: &[(&str, &str)], l: &DeadLetterList) -> Markup {
    super::page(
        chrome,
        "Dead letters",
        html! {
            (filters(&chrome.href("/dead-letters"), &[
                ("status", "status", get(q, "status"), STATUSES),
                ("reason", "reason", get(q, "reason"), REASONS),
                ("exchange", "exchange", get(q, "exchange"), &["bybit", "binance", "mexc", "paper"]),
                ("symbol", "symbol", get(q, "symbol"), &[]),
            ]))
            p.muted { (l.total) " match." }
            @if l.total > 0 && matches!(get(q, "status"), "" | "pending") {
                // Every pending one the filters select, as `hoox dlq replay --reason …` does.
                form.bulk #replay-matching method="post" action=(chrome.href("/dead-letters/replay")) {
                    (chrome.csrf_field())
                    @for k in ["reason", "exchange", "symbol"] {
                        input type="hidden" name=(k) value=(get(q, k));
                    }
                    button type="submit" name="dry_run" value="true" { "Dry run: replay the pending ones that match" }
                    " "
                    button.bad type="submit" name="dry_run" value="false" data-confirm="Replay every pending dead letter these filters select?" { "Replay them (at most " (ops::dead_letters::MAX_REPLAY_BATCH) ")" }
                }
            }
            table #dead-letters {
                thead { tr { th { "#" } th { "recorded" } th { "queue" } th { "reason" } th { "exchange" } th { "symbol" } th { "action" } th { "attempts" } th { "status" } th { "in doubt" } } }
                tbody { @for d in &l.page.items {
                    tr {
                        td { a href=(chrome.href(&format!("/dead-letters/{}", d.id))) { (d.id) } }
                        td { (time(d.created_at_ms)) } td { (d.queue) } td { (d.reason) }
                        td { (d.exchange.as_deref().unwrap_or("—")) } td { (d.symbol.as_deref().unwrap_or("—")) } td { (d.action.as_deref().unwrap_or("—")) }
                        td { (d.attempts) } td { (badge(&d.status)) } td { @if d.in_doubt { "yes" } @else { "no" } }
                    }
                } }
            }
            (pager(&chrome.href("/dead-letters"), q, l.page.next_cursor.as_deref()))
        },
    )
}

pub fn detail(chrome: &Chrome<'_>, d: &DeadLetterDetail) -> Markup {
    let s = &d.summary;
    super::page(
        chrome,
        &format!("Dead letter #{}", s.id),
        html! {
            dl.kv {
                dt { "status" } dd { (badge(&s.status)) }
                dt { "reason" } dd { (s.reason) }
                dt { "detail" } dd { (s.detail.as_deref().unwrap_or("—")) }
                dt { "last error" } dd { (s.last_error.as_deref().unwrap_or("—")) }
                dt { "queue" } dd { (s.queue) }
                dt { "attempts" } dd { (s.attempts) }
                dt { "in doubt" } dd { @if s.in_doubt { "yes — a replay looks the order up first" } @else { "no" } }
                dt { "recorded" } dd { (time(s.created_at_ms)) }
                @if let Some(k) = &s.idempotency_key {
                    dt { "signal" } dd { a href=(chrome.href(&format!("/signals/{}", encode(k)))) { (k) } }
                }
                @if let Some(by) = &s.resolved_by { dt { "resolved by" } dd { (by) " — " (s.resolution.as_deref().unwrap_or("")) } }
            }
            @if let Some(j) = &d.job {
                h2 { "Job" }
                pre { (serde_json::to_string_pretty(&j.signal).unwrap_or_default()) }
            }
            @if let Some(raw) = &d.raw_base64 { h2 { "Raw body (base64)" } pre { (raw) } }
            @if s.status == "pending" {
                section.actions {
                    form method="post" action=(chrome.href(&format!("/dead-letters/{}/replay", s.id))) {
                        (chrome.csrf_field())
                        button type="submit" name="dry_run" value="true" { "Dry run" }
                        " "
                        @if d.replayable {
                            button.bad type="submit" name="dry_run" value="false" data-confirm="Replay this signal? It re-enters execution under its own key." { "Replay" }
                        } @else { span.muted { "not replayable" } }
                    }
                    form method="post" action=(chrome.href(&format!("/dead-letters/{}/discard", s.id))) data-confirm="Discard this dead letter?" {
                        (chrome.csrf_field())
                        label { "Reason " input type="text" name="reason" required minlength="3" maxlength="200"; }
                        button type="submit" { "Discard" }
                    }
                }
            }
            h2 { "History" }
            @if d.history.is_empty() { p.muted { "no operator action yet" } }
            ul { @for h in &d.history { li { (time(h.at_ms)) " " (h.action) " by " (h.actor) ": " (h.detail) } } }
        },
    )
}

/// A replay's answer: per item what happened (dry runs say what would).
/// What a replay (or its dry run) did; `back` is the page it came from.
pub fn replayed(chrome: &Chrome<'_>, back: (&str, &str), r: &ReplayResponse) -> Markup {
    super::page(
        chrome,
        if r.dry_run { "Dry run" } else { "Replay" },
        html! {
            ul.results #replay-results {
                @for i in &r.items {
                    li { "#" (i.id) ": " (match &i.result {
                        ReplayResult::WouldReplay => "would replay".to_string(),
                        ReplayResult::Replayed { .. } => "replayed: it re-entered execution".to_string(),
                        other => serde_json::to_string(other).unwrap_or_default(),
                    }) }
                }
            }
            @if r.items.is_empty() { p.muted { "Nothing pending matched." } }
            p { a href=(chrome.href(back.0)) { (back.1) } }
        },
    )
}
