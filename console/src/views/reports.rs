//! Reports: the report-worker's stored files (daily, weekly, monthly: PDF, HTML, JSON), each
//! downloadable through the dashboard, and a form to make one now. Shown only where a
//! report-worker is bound.

use super::{encode, Chrome};
use maud::{html, Markup};

pub fn page(chrome: &Chrome<'_>, reports: &[serde_json::Value], problem: Option<&str>) -> Markup {
    super::page(
        chrome,
        "Reports",
        html! {
            @if let Some(p) = problem { p.notice.warn { (p) } }
            form method="post" action=(chrome.href("/reports/generate")) {
                (chrome.csrf_field())
                select name="period" aria-label="period" { option value="daily" { "daily" } option value="weekly" { "weekly" } option value="monthly" { "monthly" } }
                input type="date" name="date" aria-label="date";
                button type="submit" { "Make the report" }
            }
            table #reports {
                thead { tr { th { "file" } th { "period" } th { "kind" } th { "generated" } th { "bytes" } } }
                tbody { @for r in reports {
                    @let key = r["key"].as_str().unwrap_or("");
                    tr {
                        td { a href=(chrome.href(&format!("/reports/file/{}", encode(key)))) { (key) } }
                        td { (r["period"].as_str().unwrap_or("—")) } td { (r["kind"].as_str().unwrap_or("—")) }
                        td { (r["generated_at"].as_str().unwrap_or("—")) } td { (r["size"].as_u64().unwrap_or(0)) }
                    }
                } }
            }
            @if reports.is_empty() { p.muted { "No report stored yet." } }
        },
    )
}
