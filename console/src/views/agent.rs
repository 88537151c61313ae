//! The risk agent: its status (rules in force, pauses, positions' state, equity memory, the
//! last runs) and the operator's overrides — run now, pause or resume entries, flatten — each
//! through the agent-worker's own API. Shown only where an agent-worker is bound.

use super::{json, Chrome};
use maud::{html, Markup};

pub fn page(
    chrome: &Chrome<'_>,
    status: Option<&serde_json::Value>,
    problem: Option<&str>,
) -> Markup {
    super::page(
        chrome,
        "Risk agent",
        html! {
            @if let Some(p) = problem { p.notice.warn { (p) } }
            section.actions {
                form method="post" action=(chrome.href("/agent/run")) {
                    (chrome.csrf_field())
                    button type="submit" { "Run an evaluation now" }
                }
                form method="post" action=(chrome.href("/agent/override")) {
                    (chrome.csrf_field())
                    select name="action" aria-label="action" {
                        option value="pause" { "pause entries" }
                        option value="resume" { "resume entries" }
                        option value="flatten" { "flatten (close every position)" }
                    }
                    select name="network" aria-label="network" { option value="mainnet" { "mainnet" } option value="testnet" { "testnet" } }
                    input type="text" name="exchange" placeholder="exchange (optional)" size="10";
                    input type="text" name="symbol" placeholder="symbol (optional)" size="10";
                    input type="number" name="minutes" placeholder="minutes" min="1" max="10080";
                    input type="text" name="reason" placeholder="reason" required minlength="3" maxlength="200";
                    button.bad type="submit" data-confirm="Apply this override?" { "Apply" }
                }
            }
            @if let Some(s) = status {
                @for section in ["rules", "paused", "positions", "equity", "exits", "last_run", "recent_runs", "rule_errors"] {
                    @if let Some(v) = s.get(section) {
                        h2 { (section.replace('_', " ")) }
                        div.json data-section=(section) { (json(v)) }
                    }
                }
            }
        },
    )
}
