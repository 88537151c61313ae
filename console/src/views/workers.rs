//! Worker health: each worker the dashboard is bound to, asked for `/health` through its
//! service binding, with the answer and how long it took.

use super::{badge, Chrome};
use maud::{html, Markup};

/// One worker's answer.
pub struct Health {
    pub binding: &'static str,
    pub worker: &'static str,
    pub ok: bool,
    pub detail: String,
    pub ms: i64,
}

pub fn page(chrome: &Chrome<'_>, rows: &[Health]) -> Markup {
    super::page(
        chrome,
        "Workers",
        html! {
            table #workers {
                thead { tr { th { "worker" } th { "binding" } th { "health" } th { "answer" } th { "ms" } } }
                tbody { @for h in rows {
                    tr { td { (h.worker) } td { code { (h.binding) } } td { (badge(if h.ok { "healthy" } else { "down" })) } td { small { (h.detail) } } td { (h.ms) } }
                } }
            }
        },
    )
}
