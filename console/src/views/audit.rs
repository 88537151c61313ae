//! The audit log: every operator and agent action, filtered by actor, action or target.

use super::{filters, pager, time, Chrome};
use maud::{html, Markup};
use ops::audit::AuditEntry;
use ops::query::Page;

fn get<'a>(q: &[(&'a str, &'a str)], k: &str) -> &'a str {
    q.iter().find(|(n, _)| *n == k).map_or("", |(_, v)| v)
}

pub fn page(chrome: &Chrome<'_>, q: &[(&str, &str)], p: &Page<AuditEntry>) -> Markup {
    super::page(
        chrome,
        "Audit log",
        html! {
            (filters(&chrome.href("/audit"), &[
                ("actor", "actor", get(q, "actor"), &[]),
                ("action", "action", get(q, "action"), &["config_set", "replay", "discard", "risk_close", "risk_close_failed", "risk_stop_moved", "risk_pause", "risk_resume", "risk_flatten", "position_close", "manual_order"]),
                ("target", "target", get(q, "target"), &[]),
            ]))
            table #audit {
                thead { tr { th { "#" } th { "at" } th { "actor" } th { "action" } th { "target" } th { "detail" } } }
                tbody { @for a in &p.items {
                    tr { td { (a.id) } td { (time(a.at_ms)) } td { (a.actor) } td { (a.action) } td { code { (a.target) } } td { small { (a.detail) } } }
                } }
            }
            (pager(&chrome.href("/audit"), q, p.next_cursor.as_deref()))
        },
    )
}
