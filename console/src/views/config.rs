//! Runtime config: every key with its value (or default), what it means, and a typed form
//! per key; writes go through `runtime::config::set` (validated, audited), and a refusal is
//! shown with the validator's words.

use super::Chrome;
use crate::keys::{Kind, KEYS};
use maud::{html, Markup};

/// A key's stored value (`None`: absent, its default applies) and default.
pub struct Value<'a> {
    pub key: &'a str,
    pub value: Option<&'a str>,
    pub default: Option<&'a str>,
}

pub fn page(chrome: &Chrome<'_>, values: &[Value<'_>], overrides: &[Value<'_>]) -> Markup {
    let value_of = |k: &str| values.iter().find(|v| v.key == k);
    super::page(
        chrome,
        "Config",
        html! {
            p.muted { "Each change is validated and audited under your name; workers see it within their config cache (about 2 s)." }
            table.config #config {
                thead { tr { th { "key" } th { "value" } th { "meaning" } } }
                tbody {
                    @for d in &KEYS {
                        @let v = value_of(d.key);
                        @let current = v.and_then(|v| v.value).or(v.and_then(|v| v.default)).or(contracts::config::default_of(d.key)).unwrap_or("");
                        tr id=(format!("key-{}", d.key.replace(':', "-"))) {
                            td { code { (d.key) } @if v.and_then(|v| v.value).is_none() { br; small.muted { "default" } } }
                            td { (edit(chrome, d.key, d.kind, current)) }
                            td { (d.meaning) }
                        }
                    }
                    @for o in overrides {
                        tr { td { code { (o.key) } } td { (edit(chrome, o.key, Kind::Json, o.value.unwrap_or("null"))) } td { "Per-symbol override." } }
                    }
                }
            }
            @let missing = contracts::config::missing_keys(|k| values.iter().any(|v| v.key == k && v.value.is_some())).count();
            @if missing > 0 {
                form #apply-manifest method="post" action=(chrome.href("/config/apply-manifest")) {
                    (chrome.csrf_field())
                    p { (missing) " manifest key" @if missing != 1 { "s" } " not stored (their defaults apply). "
                        button type="submit" { "Write their defaults" } }
                }
            }
            h2 { "Per-symbol rule" }
            form method="post" action=(chrome.href("/config")) {
                (chrome.csrf_field())
                label { "Key " input type="text" name="key" placeholder="risk:stop_loss_pct:BTCUSDT" required; }
                label { "Value " input type="text" name="value" placeholder="2" required; }
                button type="submit" { "Set" }
            }
        },
    )
}

fn edit(chrome: &Chrome<'_>, key: &str, kind: Kind, current: &str) -> Markup {
    let confirm = if key == contracts::config::MODE {
        Some("Change the trade mode? live sends real orders.")
    } else {
        None
    };
    html! {
        form.edit method="post" action=(chrome.href("/config")) data-confirm=[confirm] {
            (chrome.csrf_field())
            input type="hidden" name="key" value=(key);
            @match kind {
                Kind::Bool => {
                    select name="value" aria-label=(key) {
                        @for b in ["true", "false"] { option value=(b) selected[contracts::config::parse_bool(current) == Some(b == "true")] { (b) } }
                    }
                }
                Kind::Choice(choices) => {
                    select name="value" aria-label=(key) { @for c in choices { option value=(c) selected[*c == current] { (c) } } }
                }
                Kind::Integer => input type="number" name="value" value=(current) step="1" aria-label=(key);
                Kind::Decimal => input type="text" inputmode="decimal" name="value" value=(current) aria-label=(key);
                Kind::Json => input.json type="text" name="value" value=(current) aria-label=(key) size="40";
            }
            button type="submit" { "Save" }
        }
    }
}
