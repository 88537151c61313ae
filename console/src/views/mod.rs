//! Every page of the dashboard as server-rendered HTML (maud: each interpolation escaped).
//! Pages read without JavaScript; `assets/app.js` adds the live feed, the equity chart and
//! confirmation prompts. No inline script or style anywhere (the CSP forbids both): data for
//! the chart travels in a `<script type="application/json">` block, which is never executed.

pub mod agent;
pub mod audit;
pub mod config;
pub mod dead_letters;
pub mod login;
pub mod order;
pub mod overview;
pub mod positions;
pub mod reports;
pub mod signals;
pub mod workers;

use maud::{html, Markup, PreEscaped, DOCTYPE};

/// What every signed-in page shows around its content.
#[derive(Debug, Clone)]
pub struct Chrome<'a> {
    /// The path the gateway serves the dashboard under (`/dashboard`).
    pub base: &'a str,
    pub user: &'a str,
    pub csrf: &'a str,
    /// `Some(on)` when the kill switch could be read.
    pub kill_switch: Option<bool>,
    pub mode: Option<&'a str>,
    /// Which nav entry is current.
    pub current: &'static str,
}

/// The navigation: (path under base, label).
pub const NAV: [(&str, &str); 10] = [
    ("/", "Overview"),
    ("/positions", "Positions"),
    ("/signals", "Signals"),
    ("/orders", "Orders"),
    ("/dead-letters", "Dead letters"),
    ("/config", "Config"),
    ("/audit", "Audit"),
    ("/workers", "Workers"),
    ("/agent", "Risk agent"),
    ("/reports", "Reports"),
];

impl Chrome<'_> {
    /// A link under the dashboard's base.
    pub fn href(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The hidden CSRF field every state-changing form carries.
    pub fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name="csrf" value=(self.csrf); }
    }
}

fn head(base: &str, title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · hoox" }
            link rel="stylesheet" href=(format!("{base}/assets/app.css"));
            link rel="stylesheet" href=(format!("{base}/assets/uPlot.min.css"));
            script src=(format!("{base}/assets/uPlot.iife.min.js")) defer {}
            script src=(format!("{base}/assets/app.js")) defer {}
        }
    }
}

/// A signed-in page.
pub fn page(chrome: &Chrome<'_>, title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(chrome.base, title))
            body data-base=(chrome.base) {
                header.top {
                    a.brand href=(chrome.href("/")) { "hoox" }
                    nav {
                        @for (path, label) in NAV {
                            @if path == chrome.current {
                                a.current href=(chrome.href(path)) aria-current="page" { (label) }
                            } @else {
                                a href=(chrome.href(path)) { (label) }
                            }
                        }
                    }
                    div.status {
                        @match chrome.kill_switch {
                            Some(true) => span.badge.bad #kill-badge { "KILL SWITCH ON" },
                            Some(false) => span.badge.good #kill-badge { "trading" },
                            None => span.badge.warn #kill-badge { "config unreadable" },
                        }
                        @if let Some(m) = chrome.mode {
                            span.badge.neutral { "mode: " (m) }
                        }
                        span.user { (chrome.user) }
                        form.inline method="post" action=(chrome.href("/logout")) {
                            (chrome.csrf_field())
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main { h1 { (title) } (content) }
            }
        }
    }
}

/// A page with no session (login, errors before login).
pub fn bare(base: &str, title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(base, title))
            body.bare data-base=(base) { main { (content) } }
        }
    }
}

/// A notice: an action's result or a refusal, with a way back.
pub fn notice(chrome: &Chrome<'_>, title: &str, ok: bool, message: &str, back: &str) -> Markup {
    page(
        chrome,
        title,
        html! {
            p class=(if ok { "notice good" } else { "notice bad" }) role="status" { (message) }
            p { a href=(chrome.href(back)) { "Back" } }
        },
    )
}

/// `2026-11-28 12:00:00 UTC` of an epoch-ms time.
pub fn when(ms: i64) -> String {
    format!("{} UTC", ops::utc::format(ms, ops::utc::SECOND))
}

/// A `<time>` element.
pub fn time(ms: i64) -> Markup {
    html! { time datetime=(ms) { (when(ms)) } }
}

/// A status word as a coloured badge.
pub fn badge(word: &str) -> Markup {
    let tone = match word.to_ascii_lowercase().as_str() {
        "filled" | "ok" | "placed" | "accepted" | "replayed" | "healthy" | "ended" => "good",
        "rejected" | "failed" | "dead" | "pending" | "down" | "missing" | "breach" => "bad",
        "" => "neutral",
        _ => "warn",
    };
    html! { span class=(format!("badge {tone}")) { (word) } }
}

/// A GET filter form over `fields` (name, label, current value, choices; empty choices = text).
pub fn filters(action: &str, fields: &[(&str, &str, &str, &[&str])]) -> Markup {
    html! {
        form.filters method="get" action=(action) {
            @for (name, label, value, choices) in fields {
                label {
                    (label) " "
                    @if choices.is_empty() {
                        input type="text" name=(name) value=(value) size="12";
                    } @else {
                        select name=(name) {
                            option value="" { "any" }
                            @for c in *choices {
                                option value=(c) selected[*c == *value] { (c) }
                            }
                        }
                    }
                }
            }
            button type="submit" { "Filter" }
        }
    }
}

/// The "next page" link of a list, keeping its filters.
pub fn pager(path: &str, query: &[(&str, &str)], next: Option<&str>) -> Markup {
    let Some(cursor) = next else {
        return html! {};
    };
    let mut q: Vec<String> = query
        .iter()
        .filter(|(k, v)| *k != "cursor" && !v.is_empty())
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    q.push(format!("cursor={}", encode(cursor)));
    html! { p.pager { a href=(format!("{path}?{}", q.join("&"))) { "Older →" } } }
}

/// A value as one URL query component or path segment (RFC 3986's unreserved characters kept).
pub fn encode(v: &str) -> String {
    const KEPT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(v, KEPT).to_string()
}

/// Any JSON as nested HTML: objects as definition lists, arrays of objects as tables.
/// For the answers of workers whose shape the dashboard only shows (the agent's status, the
/// report list).
pub fn json(v: &serde_json::Value) -> Markup {
    use serde_json::Value;
    match v {
        Value::Null => html! { span.muted { "—" } },
        Value::Bool(b) => html! { (b) },
        Value::Number(n) => html! { (n.to_string()) },
        Value::String(s) => html! { (s) },
        Value::Array(items) if items.is_empty() => html! { span.muted { "none" } },
        Value::Array(items) if items.iter().all(Value::is_object) => {
            let mut cols: Vec<&str> = Vec::new();
            for i in items {
                for k in i.as_object().into_iter().flat_map(|o| o.keys()) {
                    if !cols.contains(&k.as_str()) {
                        cols.push(k);
                    }
                }
            }
            html! {
                table {
                    thead { tr { @for c in &cols { th { (c) } } } }
                    tbody {
                        @for i in items {
                            tr { @for c in &cols { td { (json(&i[*c])) } } }
                        }
                    }
                }
            }
        }
        Value::Array(items) => html! { ul { @for i in items { li { (json(i)) } } } },
        Value::Object(o) if o.is_empty() => html! { span.muted { "none" } },
        Value::Object(o) => html! {
            dl.kv { @for (k, v) in o { dt { (k) } dd { (json(v)) } } }
        },
    }
}

/// Data for a script, in a block the browser never executes: `</` is escaped so no value can
/// end the element.
pub fn data_block(id: &str, v: &serde_json::Value) -> Markup {
    let text = v.to_string().replace("</", "<\\/");
    html! { script type="application/json" id=(id) { (PreEscaped(text)) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chrome() -> Chrome<'static> {
        Chrome {
            base: "/dashboard",
            user: "operator",
            csrf: "tok",
            kill_switch: Some(true),
            mode: Some("paper"),
            current: "/",
        }
    }

    #[test]
    fn every_page_links_its_assets_and_carries_no_inline_script_or_style() {
        let html = page(&chrome(), "Overview", html! { p { "x" } }).into_string();
        assert!(html.contains(r#"src="/dashboard/assets/app.js""#));
        assert!(html.contains("KILL SWITCH ON"));
        assert!(html.contains(r#"name="csrf" value="tok""#));
        assert!(
            !html.contains("<script>") && !html.contains("style=") && !html.contains("onclick")
        );
    }

    #[test]
    fn text_from_the_ledger_is_escaped_everywhere() {
        let evil = serde_json::json!({"k": "<img src=x onerror=alert(1)>", "list": [{"a": "</script><b>"}]});
        let out = json(&evil).into_string();
        assert!(
            !out.contains("<img") && !out.contains("</script><b>"),
            "{out}"
        );
        let block = data_block("d", &evil).into_string();
        assert!(!block.contains("</script><b>"), "{block}");
        assert_eq!(block.matches("</script>").count(), 1);
    }

    /// Issue 18: the mails are found by their source.
    #[test]
    fn the_signal_list_filters_by_source() {
        let page = ops::query::Page {
            items: vec![],
            next_cursor: None,
        };
        let html = signals::list(&chrome(), &[("source", "email")], &page).into_string();
        assert!(html.contains(r#"<select name="source">"#), "{html}");
        assert!(
            html.contains(r#"<option value="email" selected>email</option>"#),
            "{html}"
        );
    }

    #[test]
    fn the_pager_keeps_the_filters_and_encodes_them() {
        let p = pager(
            "/dashboard/signals",
            &[("symbol", "BTC&X"), ("outcome", "")],
            Some("c1"),
        )
        .into_string();
        assert!(p.contains("symbol=BTC%26X&amp;cursor=c1"), "{p}");
        assert!(!p.contains("outcome="));
        assert_eq!(pager("/x", &[], None).into_string(), "");
    }
}
