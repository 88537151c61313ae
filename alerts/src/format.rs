//! How alerts and bot replies read. Every value from outside hoox is escaped; the markup is
//! Telegram's HTML subset (`<b>`, `<i>`, `<code>`), one tag level per line, so messages split
//! cleanly.
//!
//! [`Alert`] is also the wire type of the telegram-worker's `POST /alert`: callers (the fan-out,
//! the dlq worker) send what happened, and the wording lives here, in one place.

use crate::html::escape;
use contracts::event::{classify_status, FollowState, Outcome, StatusClass, TradeEvent};
use ops::dead_letters::DeadLetterSummary;
use ops::ledger::{Stats, TradeRow};
use ops::positions::{Position, Side};
use ops::reconcile::{PositionRow, PositionsView};
use serde::{Deserialize, Serialize};

/// A trade that ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeAlert {
    pub outcome: Outcome,
    pub idempotency_key: String,
    pub exchange: String,
    pub symbol: String,
    pub action: String,
    pub quantity: String,
    pub price: Option<String>,
    pub order_id: Option<String>,
    pub filled_quantity: Option<String>,
    pub average_price: Option<String>,
    pub detail: Option<String>,
    /// The take-profit/stop-loss of a filled entry, when its signal asked for them: what is in
    /// place ([`contracts::event::Protection::summary`]). (Absent in alerts from before.)
    #[serde(default)]
    pub protection: Option<String>,
    /// They are not (all) in place: the position is open without the protection asked for.
    #[serde(default)]
    pub unprotected: bool,
    /// The order's status word as the exchange reported it.
    #[serde(default)]
    pub status: Option<String>,
    /// Set on a follow-up's update: `following`, `final`, `left_open`, `stopped`.
    #[serde(default)]
    pub update: Option<String>,
    /// `0.35 USDT`, when the exchange's fill records told it.
    #[serde(default)]
    pub fee: Option<String>,
    /// Where the order went (`bybit`), when the event says; else `exchange`.
    #[serde(default)]
    pub venue: Option<String>,
    #[serde(default)]
    pub testnet: bool,
}

impl TradeAlert {
    pub fn from_event(e: &TradeEvent) -> Self {
        let s = &e.signal;
        let protection = e.protection.as_ref().map(|p| p.summary());
        let unprotected = e.protection.as_ref().is_some_and(|p| !p.in_place());
        // The engine copies a failed protection into the detail (for the ledger): said once.
        let detail = match (&protection, &e.detail) {
            (Some(p), Some(d)) if unprotected && d == p => None,
            (Some(p), Some(d)) if unprotected => d
                .strip_suffix(p.as_str())
                .map(|rest| rest.trim_end_matches("; ").to_owned())
                .or_else(|| Some(d.clone())),
            (_, d) => d.clone(),
        };
        Self {
            outcome: e.outcome,
            idempotency_key: e.idempotency_key.clone(),
            exchange: s.exchange.as_str().to_owned(),
            symbol: s.symbol.canonical(),
            action: s.action.as_str().to_owned(),
            quantity: s.quantity.to_string(),
            price: s.price.map(|p| p.to_string()),
            order_id: e.order.as_ref().map(|o| o.exchange_order_id.clone()),
            filled_quantity: e.order.as_ref().map(|o| o.filled_quantity.to_string()),
            average_price: e
                .order
                .as_ref()
                .and_then(|o| o.average_price.map(|p| p.to_string())),
            detail,
            protection,
            unprotected,
            status: e.order.as_ref().map(|o| o.status.clone()),
            update: e.update.as_ref().map(|u| u.state.as_str().to_owned()),
            fee: e
                .fee
                .as_ref()
                .map(|f| format!("{} {}", f.amount.normalize(), f.asset)),
            venue: e.venue.map(|v| v.as_str().to_owned()),
            testnet: e.testnet,
        }
    }

    /// Whether an event is alerted: every outcome; of a follow-up's updates, those that say
    /// something an operator acts on (a fill, the order's end, an order left open or no longer
    /// followed), not a bare status change of an order with nothing filled, nor the fee of an
    /// order whose end was already alerted.
    pub fn worth_telling(e: &TradeEvent) -> bool {
        let Some(u) = &e.update else {
            return true;
        };
        let filled = e
            .order
            .as_ref()
            .is_some_and(|o| o.filled_quantity > rust_decimal::Decimal::ZERO);
        match u.state {
            FollowState::Following => u.fill_changed && filled,
            FollowState::Final => u.fill_changed || u.status_changed,
            FollowState::LeftOpen | FollowState::Stopped => true,
        }
    }
}

/// A dead letter was recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterAlert {
    pub id: i64,
    pub queue: String,
    pub reason: String,
    pub idempotency_key: Option<String>,
    pub exchange: Option<String>,
    pub symbol: Option<String>,
    pub action: Option<String>,
    pub detail: Option<String>,
    pub attempts: i64,
}

impl From<&DeadLetterSummary> for DeadLetterAlert {
    fn from(d: &DeadLetterSummary) -> Self {
        Self {
            id: d.id,
            queue: d.queue.clone(),
            reason: d.reason.clone(),
            idempotency_key: d.idempotency_key.clone(),
            exchange: d.exchange.clone(),
            symbol: d.symbol.clone(),
            action: d.action.clone(),
            detail: d.detail.clone(),
            attempts: d.attempts,
        }
    }
}

/// Something operators must hear about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Alert {
    Trade(TradeAlert),
    DeadLetter(DeadLetterAlert),
    /// Free text from hoox itself (escaped like everything else).
    Notice {
        text: String,
    },
}

/// The body of the telegram-worker's `POST /alert`: alerts sent together become one message
/// (split if long), so a burst does not hit Telegram's per-chat limit message by message.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AlertRequest {
    pub alerts: Vec<Alert>,
}

/// The answer of `POST /alert`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AlertResponse {
    /// Chats the alerts were meant for.
    pub chats: u32,
    /// Messages Telegram accepted.
    pub sent: u32,
    /// Why nothing was sent, when nothing was meant to be (no chats allowed, no bot token).
    pub skipped: Option<String>,
}

impl AlertResponse {
    /// What became of `event`'s alert in this answer, as its signal's path shows it.
    pub fn note_for(&self, event: &TradeEvent) -> String {
        let chats = |n: u32| format!("{n} chat{}", if n == 1 { "" } else { "s" });
        if !TradeAlert::worth_telling(event) {
            return "not sent: events of this kind are not alerted".into();
        }
        match (&self.skipped, self.sent) {
            (_, n) if n > 0 => format!("sent to {n} of {}", chats(self.chats)),
            (Some(why), _) => format!("not sent: {why}"),
            (None, _) => format!(
                "not sent: Telegram accepted it for none of {}",
                chats(self.chats)
            ),
        }
    }
}

fn e(s: &str) -> String {
    escape(s)
}

fn opt(s: &Option<String>) -> String {
    s.as_deref().map(escape).unwrap_or_else(|| "?".into())
}

/// `2026-11-28 12:00:00 UTC`.
pub fn time_of(ms: i64) -> String {
    format!("{} UTC", ops::utc::format(ms, ops::utc::SECOND))
}

fn trade_alert(t: &TradeAlert) -> String {
    let class = t.status.as_deref().map(classify_status);
    let filled = t.filled_quantity.as_deref().filter(|q| !is_zero(q));
    let status = t.status.as_deref().unwrap_or("?");
    let (icon, title, qty, note): (&str, String, String, Option<String>) =
        match (t.update.as_deref(), t.outcome, class) {
            (Some("final"), _, Some(StatusClass::Filled)) => (
                "✅",
                "Order filled".into(),
                filled.map_or_else(|| t.quantity.clone(), str::to_owned),
                None,
            ),
            (Some("final"), _, _) => (
                "❌",
                format!("Order {}", e(status)),
                part_of(filled, &t.quantity),
                filled.is_none().then(|| "nothing filled".to_owned()),
            ),
            (Some("left_open"), _, _) => (
                "ℹ️",
                "Order left open".into(),
                part_of(filled, &t.quantity),
                Some(format!(
                "still {} at the exchange after trade:follow_orders_seconds; no longer followed",
                e(status)
            )),
            ),
            (Some("stopped"), _, _) => (
                "ℹ️",
                "Order no longer followed".into(),
                part_of(filled, &t.quantity),
                Some(format!("last seen {}", e(status))),
            ),
            (Some(_), _, _) => (
                "✅",
                "Partly filled".into(),
                part_of(filled, &t.quantity),
                None,
            ),
            (None, Outcome::Filled, Some(StatusClass::Open)) => (
                "✅",
                "Accepted".into(),
                filled.map_or_else(|| t.quantity.clone(), |f| part_of(Some(f), &t.quantity)),
                Some(format!(
                    "{} at the exchange; followed until it ends",
                    e(status)
                )),
            ),
            (None, Outcome::Filled, _) => (
                "✅",
                "Filled".into(),
                t.filled_quantity
                    .clone()
                    .unwrap_or_else(|| t.quantity.clone()),
                None,
            ),
            (None, Outcome::Rejected, _) => (
                "❌",
                "Rejected".into(),
                t.filled_quantity
                    .clone()
                    .unwrap_or_else(|| t.quantity.clone()),
                None,
            ),
        };
    let price = match (&t.average_price, &t.price) {
        (Some(p), _) | (None, Some(p)) => format!(" @ {}", e(p)),
        _ => String::new(),
    };
    let venue = t.venue.as_deref().unwrap_or(&t.exchange);
    let network = if t.testnet { " (testnet)" } else { "" };
    let mut out = format!(
        "{icon} <b>{title}</b> {} {} {}{price} on {}{network}",
        e(&t.action),
        e(&qty),
        e(&t.symbol),
        e(venue)
    );
    if let Some(n) = note {
        out.push_str(&format!("\n<i>{n}</i>"));
    }
    if let Some(d) = &t.detail {
        out.push_str(&format!("\n<i>{}</i>", e(d)));
    }
    match (&t.protection, t.unprotected) {
        (Some(p), true) => out.push_str(&format!(
            "\n⚠️ <b>Position open without its take-profit/stop-loss</b>\n<i>{}</i>",
            e(p)
        )),
        (Some(p), false) => out.push_str(&format!("\n🛡 {}", e(p))),
        (None, _) => {}
    }
    out.push('\n');
    if let Some(f) = &t.fee {
        out.push_str(&format!("fee {} · ", e(f)));
    }
    out.push_str(&format!("key <code>{}</code>", e(&t.idempotency_key)));
    if let Some(id) = &t.order_id {
        out.push_str(&format!(" · order <code>{}</code>", e(id)));
    }
    out
}

fn dead_letter_alert(d: &DeadLetterAlert) -> String {
    let what = match (&d.action, &d.symbol) {
        (Some(a), Some(s)) => format!(" — {} {} on {}", e(a), e(s), opt(&d.exchange)),
        _ => String::new(),
    };
    let mut out = format!(
        "☠️ <b>Dead letter #{}</b> <code>{}</code>{what}",
        d.id,
        e(&d.reason)
    );
    if let Some(detail) = &d.detail {
        out.push_str(&format!("\n<i>{}</i>", e(detail)));
    }
    if let Some(k) = &d.idempotency_key {
        out.push_str(&format!("\nkey <code>{}</code> · ", e(k)));
    } else {
        out.push('\n');
    }
    out.push_str(&format!(
        "attempts {} · <code>hoox dlq show {}</code>",
        d.attempts, d.id
    ));
    out
}

fn is_zero(q: &str) -> bool {
    q.parse::<rust_decimal::Decimal>()
        .is_ok_and(|d| d.is_zero())
}

/// `0.004 of 0.01` (or `0 of 0.01` when nothing filled).
fn part_of(filled: Option<&str>, quantity: &str) -> String {
    format!("{} of {quantity}", filled.unwrap_or("0"))
}

/// One alert as HTML.
pub fn alert(a: &Alert) -> String {
    match a {
        Alert::Trade(t) => trade_alert(t),
        Alert::DeadLetter(d) => dead_letter_alert(d),
        Alert::Notice { text } => format!("ℹ️ {}", e(text)),
    }
}

/// Several alerts as one message, a blank line between them.
pub fn alerts(list: &[Alert]) -> String {
    list.iter().map(alert).collect::<Vec<_>>().join("\n\n")
}

fn trade_line(t: &TradeRow) -> String {
    let price = t
        .average_price
        .as_deref()
        .or(t.price.as_deref())
        .map(|p| format!(" @ {}", e(p)))
        .unwrap_or_default();
    format!(
        "• {} {} {}{price} on {} — {} <i>{}</i>",
        e(t.action.as_deref().unwrap_or(&t.side)),
        e(&t.filled_quantity),
        e(&t.symbol),
        e(t.exchange.as_deref().unwrap_or(&t.venue)),
        e(&t.status),
        time_of(t.created_at_ms)
    )
}

/// What `/status` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusView {
    /// `None` when CONFIG_KV could not be read (execution then treats the switch as on).
    pub kill_switch: Option<bool>,
    pub mode: Option<String>,
    pub stats: Option<Stats>,
}

pub fn status(v: &StatusView) -> String {
    let kill = match v.kill_switch {
        Some(true) => "🛑 <b>ON</b> — no orders are submitted".to_owned(),
        Some(false) => "🟢 off".to_owned(),
        None => "⚠️ unreadable (treated as ON)".to_owned(),
    };
    let mut out = format!(
        "<b>hoox status</b>\nKill switch: {kill}\nMode: <code>{}</code>",
        opt(&v.mode)
    );
    match &v.stats {
        Some(s) => {
            out.push_str(&format!(
                "\nDead letters pending: <b>{}</b>\nSignals: {} filled · {} rejected · {} blocked",
                s.pending_dead_letters(),
                s.signals.get("filled").copied().unwrap_or(0),
                s.signals.get("rejected").copied().unwrap_or(0),
                s.signals.get("blocked").copied().unwrap_or(0),
            ));
            match &s.last_trade {
                Some(t) => out.push_str(&format!("\nLast trade:\n{}", trade_line(t))),
                None => out.push_str("\nLast trade: none yet"),
            }
        }
        None => out.push_str("\n<i>ledger unavailable</i>"),
    }
    out
}

pub fn trades(rows: &[TradeRow]) -> String {
    if rows.is_empty() {
        return "<b>Trades</b>\nNo trades yet.".into();
    }
    let mut out = format!("<b>Last {} trade(s)</b>", rows.len());
    for t in rows {
        out.push('\n');
        out.push_str(&trade_line(t));
    }
    out
}

pub fn positions(list: &[Position]) -> String {
    if list.is_empty() {
        return "<b>Positions</b>\nNo open positions.".into();
    }
    let mut out = "<b>Open positions</b> <i>(from filled orders)</i>".to_owned();
    for p in list {
        let side = match p.side {
            Side::Long => "LONG",
            Side::Short => "SHORT",
        };
        let avg = p
            .average_entry_price
            .map(|a| format!(" @ {a}"))
            .unwrap_or_default();
        out.push_str(&format!(
            "\n• {side} {} {}{avg} on {}",
            p.quantity,
            e(&p.symbol),
            e(&p.exchange)
        ));
    }
    out
}

fn network_title(exchange: &str, network: &str) -> &'static str {
    match (exchange, network) {
        ("paper", _) => "Paper (simulated fills)",
        (_, "testnet") => "Testnet",
        _ => "Live (mainnet)",
    }
}

/// `/positions`: the exchanges' own positions, live, testnet and paper apart, each flagged where
/// it differs from what hoox's fills imply; realised PnL and the latest equity per exchange.
pub fn exchange_positions(v: &PositionsView) -> String {
    let mut out = "<b>Positions</b> <i>(as the exchanges report them)</i>".to_owned();
    if v.positions.is_empty() {
        out.push_str("\nNo open positions.");
    }
    let mut groups: Vec<(&'static str, Vec<&PositionRow>)> = Vec::new();
    for title in ["Live (mainnet)", "Testnet", "Paper (simulated fills)"] {
        let rows: Vec<&PositionRow> = v
            .positions
            .iter()
            .filter(|p| network_title(&p.exchange, &p.network) == title)
            .collect();
        if !rows.is_empty() {
            groups.push((title, rows));
        }
    }
    for (title, rows) in groups {
        out.push_str(&format!("\n<b>{title}</b>"));
        for p in rows {
            let flag = if p.flagged() { "⚠️ " } else { "" };
            let entry = p
                .entry_price
                .as_deref()
                .map(|a| format!(" @ {}", e(a)))
                .unwrap_or_default();
            let mut extra = Vec::new();
            if let Some(m) = &p.mark_price {
                extra.push(format!("mark {}", e(m)));
            }
            if let Some(u) = &p.unrealised_pnl {
                extra.push(format!("uPnL {}", e(u)));
            }
            match (&p.leverage, &p.margin_mode) {
                (Some(l), Some(m)) => extra.push(format!("{}x {}", e(l), e(m))),
                (Some(l), None) => extra.push(format!("{}x", e(l))),
                (None, Some(m)) => extra.push(e(m)),
                (None, None) => {}
            }
            let extra = if extra.is_empty() {
                String::new()
            } else {
                format!(" — {}", extra.join(" · "))
            };
            out.push_str(&format!(
                "\n• {flag}{} {} {}{entry} on {}{extra}",
                e(&p.side.to_ascii_uppercase()),
                e(&p.size),
                e(&p.symbol),
                e(&p.exchange)
            ));
            if p.flagged() {
                out.push_str(&format!(
                    "\n  <i>{}: {}</i>",
                    e(&p.reconcile),
                    e(p.reconcile_detail.as_deref().unwrap_or(""))
                ));
            }
        }
    }
    if v.flagged > 0 {
        out.push_str(&format!(
            "\n⚠️ <b>{}</b> difference(s) between the exchanges and hoox's fills",
            v.flagged
        ));
    }
    if !v.realised.is_empty() {
        out.push_str("\n<b>Realised</b>");
        for r in &v.realised {
            let partial = if r.complete {
                ""
            } else {
                ", some fees unknown"
            };
            out.push_str(&format!(
                "\n• {} {}: {} USDT net over {} closed position(s), fees {}{partial}",
                e(&r.exchange),
                e(&r.network),
                r.net_pnl.normalize(),
                r.closed_positions,
                r.fees.normalize()
            ));
        }
    }
    if !v.equity.is_empty() {
        out.push_str("\n<b>Equity</b>");
        for q in &v.equity {
            out.push_str(&format!(
                "\n• {} {}: {} {} ({})",
                e(&q.exchange),
                e(&q.network),
                e(&q.equity),
                e(&q.asset),
                e(&q.day)
            ));
        }
    }
    out
}

pub fn dlq(pending: i64, recent: &[DeadLetterSummary]) -> String {
    if pending == 0 {
        return "<b>Dead letters</b>\nNone pending. 👍".into();
    }
    let mut out = format!("<b>Dead letters pending: {pending}</b>");
    for d in recent {
        out.push_str(&format!(
            "\n• #{} <code>{}</code> {} {} — {}",
            d.id,
            e(&d.reason),
            opt(&d.action),
            opt(&d.symbol),
            time_of(d.created_at_ms)
        ));
    }
    if pending > recent.len() as i64 {
        out.push_str(&format!("\n… and {} more", pending - recent.len() as i64));
    }
    out.push_str(
        "\nReplay with <code>hoox dlq replay &lt;id&gt;</code> (dry run: <code>--dry-run</code>).",
    );
    out
}

pub fn kill_switch_set(on: bool) -> String {
    if on {
        "🛑 Kill switch <b>ON</b>. No new orders will be submitted; signals become <code>kill_switch</code> dead letters you can replay later.".into()
    } else {
        "🟢 Kill switch <b>off</b>. Orders are submitted again.".into()
    }
}

pub fn help() -> String {
    [
        "<b>hoox bot</b>",
        "/status — kill switch, mode, dead letters, last trade",
        "/trades [n] — the last n trades (default 5)",
        "/positions — the exchanges' positions (live, testnet, paper), flagged where hoox's fills differ",
        "/risk — the risk manager: rules, entries paused, protected positions, last run",
        "/dlq — pending dead letters",
        "/daily [n], /weekly [n], /monthly [n] — realised PnL, fees, trades, win rate of the last n periods",
        "/profit — realised PnL of every closed position",
        "/kill_on — stop submitting orders",
        "/kill_off — resume",
        "/help — this list",
    ]
    .join("\n")
}

/// `/risk`: the agent-worker's status (`GET /agent/status`), short enough for a phone.
pub fn risk_status(v: &serde_json::Value) -> String {
    let txt = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".into(),
        other => other.to_string(),
    };
    let fields = |v: &serde_json::Value| -> Vec<String> {
        v.as_object()
            .map(|o| {
                o.iter()
                    .filter(|(_, v)| !v.is_null() && **v != serde_json::Value::Bool(false))
                    .map(|(k, v)| format!("{k} {}", txt(v)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out = vec!["<b>Risk manager</b>".to_owned()];
    let rules = fields(&v["rules"]["global"]);
    let protections = fields(&v["rules"]["account"]);
    out.push(format!(
        "Rules: {}",
        if rules.is_empty() {
            "none".into()
        } else {
            e(&rules.join(", "))
        }
    ));
    out.push(format!(
        "Protections: {}",
        if protections.is_empty() {
            "none".into()
        } else {
            e(&protections.join(", "))
        }
    ));
    let paused = v["paused"].as_array().cloned().unwrap_or_default();
    if paused.is_empty() {
        out.push("Entries: open".into());
    } else {
        for p in &paused {
            let scope = match (p["exchange"].as_str(), p["symbol"].as_str()) {
                (Some(x), Some(s)) => format!("{x} {s}"),
                (Some(x), None) => x.to_owned(),
                _ => "all".to_owned(),
            };
            let until = p["until_ms"]
                .as_i64()
                .map_or("until resumed".to_owned(), |u| {
                    format!("until {}", time_of(u))
                });
            out.push(format!(
                "⏸ Entries paused ({} {}) {} — {}",
                e(&txt(&p["network"])),
                e(&scope),
                e(&until),
                e(&txt(&p["reason"]))
            ));
        }
    }
    let positions = v["positions"].as_array().map_or(0, Vec::len);
    out.push(format!("Protected positions: {positions}"));
    match v.get("last_run").filter(|r| !r.is_null()) {
        Some(r) => out.push(format!(
            "Last run: {} — {} action(s), {} problem(s)",
            r["at_ms"].as_i64().map_or("-".into(), time_of),
            r["actions"].as_array().map_or(0, Vec::len),
            r["problems"].as_array().map_or(0, Vec::len)
        )),
        None => out.push("Last run: none yet".into()),
    }
    out.join("\n")
}

pub fn unknown(name: &str) -> String {
    format!("Unknown command <code>/{}</code>.\n\n{}", e(name), help())
}

/// Telegram's limit on a document's caption (characters after entity parsing; the markup here
/// is short, so the whole text is kept under it).
pub const MAX_CAPTION_LEN: usize = 1024;

fn money(d: rust_decimal::Decimal) -> String {
    report::html::usdt(d)
}

fn headline_line(h: &report::metrics::Headline) -> String {
    let rate = h
        .win_rate_pct
        .map(|p| format!(", win rate {}%", p.round_dp(1)))
        .unwrap_or_default();
    let ret = h
        .return_pct
        .map(|p| format!(", return {}%", p.round_dp(2)))
        .unwrap_or_default();
    let flag = if h.complete { "" } else { " ⚠️ incomplete" };
    format!(
        "<b>{}</b>: {} USDT net, fees {}, {} trade(s){rate}{ret}{flag}",
        e(h.section.title()),
        money(h.realised_pnl),
        money(h.fees),
        h.trades
    )
}

/// The caption of a report document: title, period, each section's headline figures, and a
/// note when the PDF could not be made (the document is then the HTML). At most
/// [`MAX_CAPTION_LEN`] characters.
pub fn report_caption(r: &report::Report, pdf_rendered: bool) -> String {
    let mut out = format!(
        "📊 <b>{} {}</b> ({} UTC)",
        e(r.period.kind.title()),
        e(&r.label),
        e(&r.period.span())
    );
    if r.sections.is_empty() {
        out.push_str("\nNo trading activity.");
    }
    for s in &r.sections {
        let line = headline_line(&s.headline());
        let dd = if s.max_drawdown.is_zero() {
            String::new()
        } else {
            format!(", max drawdown {}", money(s.max_drawdown))
        };
        out.push_str(&format!("\n{line}{dd}"));
    }
    if r.pending_dead_letters > 0 {
        out.push_str(&format!(
            "\n{} dead letter(s) pending",
            r.pending_dead_letters
        ));
    }
    if !pdf_rendered {
        out.push_str(
            "\n<i>PDF not rendered (no Browser Rendering token); this is the HTML report.</i>",
        );
    }
    if out.chars().count() > MAX_CAPTION_LEN {
        // Sections beyond the limit are dropped whole, never cut inside a tag.
        let mut kept = String::new();
        for line in out.split('\n') {
            if kept.chars().count() + line.chars().count() + 2 > MAX_CAPTION_LEN {
                break;
            }
            if !kept.is_empty() {
                kept.push('\n');
            }
            kept.push_str(line);
        }
        out = kept;
    }
    out
}

/// The bot's `/daily`, `/weekly`, `/monthly` (`title` names the kind) and `/profit` replies.
pub fn period_summaries(title: &str, periods: &[report::metrics::PeriodSummary]) -> String {
    let mut out = format!("📊 <b>{}</b> (USDT, closed positions)", e(title));
    if periods.iter().all(|p| p.sections.is_empty()) {
        out.push_str("\nNo closed positions.");
        return out;
    }
    for p in periods {
        if p.label != "all" {
            out.push_str(&format!("\n\n<b>{}</b>", e(&p.label)));
        }
        if p.sections.is_empty() {
            out.push_str("\nno closed positions");
        }
        for h in &p.sections {
            out.push('\n');
            out.push_str(&headline_line(h));
        }
    }
    out
}

pub fn failure(what: &str) -> String {
    format!("⚠️ {}", e(what))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_caption_is_escaped_short_and_telegram_html() {
        use report::metrics::{compute, Ledger};
        use report::period::{parse_date, Kind, Period};
        let fill = |action: &str, price: &str, at: i64| ops::pnl::LedgerFill {
            client_order_id: format!("c{at}"),
            exchange: Some("bybit".into()),
            network: Some("mainnet".into()),
            symbol: "BTC<USDT".into(),
            action: Some(action.into()),
            filled_quantity: "1".into(),
            average_price: Some(price.into()),
            fee: Some("0.5".into()),
            fee_asset: Some("USDT".into()),
            created_at_ms: at,
        };
        let p = Period::containing(Kind::Daily, parse_date("2026-01-14").unwrap());
        let l = Ledger {
            books: ops::pnl::fold(&[
                fill("LONG", "100", p.start_ms() + 1),
                fill("CLOSE_LONG", "90", p.start_ms() + 2),
            ])
            .unwrap(),
            pending_dead_letters: 2,
            ..Ledger::default()
        };
        let r = compute(&p, &l, p.end_ms()).unwrap();
        let c = report_caption(&r, false);
        assert!(c.starts_with("📊 <b>Daily report 2026-01-14</b>"), "{c}");
        // 100 → 90 on 1 unit, fees 1: −11 net.
        assert!(
            c.contains(
                "<b>Live (mainnet)</b>: −11.00 USDT net, fees 1.00, 1 trade(s), win rate 0%"
            ),
            "{c}"
        );
        assert!(
            c.contains("2 dead letter(s) pending") && c.contains("PDF not rendered"),
            "{c}"
        );
        assert!(c.chars().count() <= MAX_CAPTION_LEN);
        assert!(!report_caption(&r, true).contains("PDF not rendered"));
    }
    use contracts::event::OrderAck;
    use contracts::job::TradeJob;
    use contracts::signal::parse_webhook;
    use rust_decimal::Decimal;

    fn event(outcome: Outcome) -> TradeEvent {
        let signal = parse_webhook(
            br#"{"exchange":"paper","action":"LONG","symbol":"BTC/USDT","quantity":"0.001","price":65000}"#,
        )
        .unwrap()
        .signal;
        let job = TradeJob {
            idempotency_key: "tv<1>".into(),
            request_id: "r".into(),
            received_at_ms: 0,
            signal,
        };
        TradeEvent::for_job(&job, outcome, 1, 0)
    }

    #[test]
    fn an_alerts_note_says_whether_it_went_out_and_why_not() {
        let filled = event(Outcome::Filled);
        let r = |chats, sent, skipped: Option<&str>| AlertResponse {
            chats,
            sent,
            skipped: skipped.map(str::to_owned),
        };
        assert_eq!(r(2, 2, None).note_for(&filled), "sent to 2 of 2 chats");
        assert_eq!(
            r(0, 0, Some("no chat in telegram:allowed_chat_ids")).note_for(&filled),
            "not sent: no chat in telegram:allowed_chat_ids"
        );
        assert_eq!(
            r(1, 0, None).note_for(&filled),
            "not sent: Telegram accepted it for none of 1 chat"
        );
        let mut quiet = event(Outcome::Filled);
        quiet.update = Some(contracts::event::OrderUpdate {
            state: FollowState::Following,
            lookups: 2,
            first_seen_ms: 0,
            status_changed: false,
            fill_changed: false,
        });
        assert_eq!(
            r(1, 1, None).note_for(&quiet),
            "not sent: events of this kind are not alerted"
        );
    }

    #[test]
    fn trade_alerts_say_what_happened_and_escape_outside_text() {
        let mut filled = event(Outcome::Filled);
        filled.order = Some(OrderAck {
            client_order_id: "hx1".into(),
            exchange_order_id: "paper-1".into(),
            status: "Filled".into(),
            filled_quantity: Decimal::new(1, 3),
            average_price: Some(Decimal::from(65000)),
        });
        let text = alert(&Alert::Trade(TradeAlert::from_event(&filled)));
        assert_eq!(
            text,
            "✅ <b>Filled</b> LONG 0.001 BTCUSDT @ 65000 on paper\nkey <code>tv&lt;1&gt;</code> · order <code>paper-1</code>"
        );
        let mut rejected = event(Outcome::Rejected);
        rejected.detail = Some("notional 65 > max <10> & cap".into());
        let text = alert(&Alert::Trade(TradeAlert::from_event(&rejected)));
        assert!(text.starts_with("❌ <b>Rejected</b> LONG 0.001 BTCUSDT @ 65000 on paper"));
        assert!(text.contains("<i>notional 65 &gt; max &lt;10&gt; &amp; cap</i>"));
    }

    /// Issue 13, item 2: a fill whose take-profit/stop-loss failed says so loudly, once; one
    /// whose protection is in place says that quietly.
    #[test]
    fn a_fill_without_its_protection_is_flagged() {
        use contracts::event::{Protection, ProtectiveKind, ProtectiveOrder};
        let mut filled = event(Outcome::Filled);
        let failed = Protection::Failed {
            placed: vec![],
            reason: "stop-loss: Order would immediately trigger.".into(),
        };
        filled.detail = Some(failed.summary());
        filled.protection = Some(failed);
        let text = alert(&Alert::Trade(TradeAlert::from_event(&filled)));
        assert_eq!(
            text,
            "✅ <b>Filled</b> LONG 0.001 BTCUSDT @ 65000 on paper\n⚠️ <b>Position open without its take-profit/stop-loss</b>\n<i>take-profit/stop-loss NOT in place: stop-loss: Order would immediately trigger.</i>\nkey <code>tv&lt;1&gt;</code>"
        );
        filled.protection = Some(Protection::Placed(vec![ProtectiveOrder {
            kind: ProtectiveKind::TakeProfit,
            client_id: "hx1-tp".into(),
            exchange_id: "9".into(),
            trigger_price: Decimal::from(70000),
            quantity: Decimal::new(1, 3),
            status: "NEW".into(),
        }]));
        filled.detail = None;
        let text = alert(&Alert::Trade(TradeAlert::from_event(&filled)));
        assert!(
            text.contains("\n🛡 protective orders placed: take-profit hx1-tp at 70000\n"),
            "{text}"
        );
        // An alert from before the fields still reads.
        let old: TradeAlert = serde_json::from_value(serde_json::json!({
            "outcome": "Filled", "idempotency_key": "k", "exchange": "paper", "symbol": "BTCUSDT",
            "action": "LONG", "quantity": "1", "price": null, "order_id": null,
            "filled_quantity": null, "average_price": null, "detail": null
        }))
        .unwrap();
        assert_eq!((old.protection, old.unprotected), (None, false));
    }

    fn live_event(status: &str, filled: &str) -> TradeEvent {
        let mut ev = event(Outcome::Filled);
        ev.signal.exchange = contracts::signal::Exchange::Bybit;
        ev.venue = Some(contracts::signal::Exchange::Bybit);
        ev.testnet = true;
        ev.order = Some(OrderAck {
            client_order_id: "hx1".into(),
            exchange_order_id: "42".into(),
            status: status.into(),
            filled_quantity: filled.parse().unwrap(),
            average_price: (filled != "0").then(|| Decimal::from(65000)),
        });
        ev
    }

    fn update(mut ev: TradeEvent, state: FollowState) -> TradeEvent {
        ev.update = Some(contracts::event::OrderUpdate {
            state,
            lookups: 1,
            first_seen_ms: 0,
            status_changed: true,
            fill_changed: true,
        });
        ev
    }

    /// Issue 13. The old alert of a Bybit acknowledgement read "Filled LONG 0": the ack carries
    /// no fill. Now the outcome says accepted and followed, and each update says what changed.
    #[test]
    fn an_order_followed_to_its_end_is_alerted_as_it_goes() {
        let say = |e: &TradeEvent| alert(&Alert::Trade(TradeAlert::from_event(e)));
        let accepted = say(&live_event("Acknowledged", "0"));
        assert!(
            accepted
                .starts_with("✅ <b>Accepted</b> LONG 0.001 BTCUSDT @ 65000 on bybit (testnet)"),
            "{accepted}"
        );
        assert!(accepted.contains("followed until it ends"));
        let mut rest = update(live_event("New", "0"), FollowState::Following);
        if let Some(u) = rest.update.as_mut() {
            u.fill_changed = false;
        }
        assert!(!TradeAlert::worth_telling(&rest), "a bare status change");
        let mut fee_only = update(live_event("FILLED", "0.001"), FollowState::Final);
        if let Some(u) = fee_only.update.as_mut() {
            (u.fill_changed, u.status_changed) = (false, false);
        }
        assert!(
            !TradeAlert::worth_telling(&fee_only),
            "its fill was alerted already"
        );
        let part = update(
            live_event("PartiallyFilled", "0.0004"),
            FollowState::Following,
        );
        assert!(TradeAlert::worth_telling(&part));
        assert!(
            say(&part).starts_with("✅ <b>Partly filled</b> LONG 0.0004 of 0.001 BTCUSDT @ 65000")
        );
        let mut done = update(live_event("Filled", "0.001"), FollowState::Final);
        done.fee = Some(contracts::event::Fee {
            amount: Decimal::new(35, 3),
            asset: "USDT".into(),
        });
        let text = say(&done);
        assert!(
            text.starts_with(
                "✅ <b>Order filled</b> LONG 0.001 BTCUSDT @ 65000 on bybit (testnet)"
            ),
            "{text}"
        );
        assert!(text.contains("fee 0.035 USDT · key"));
        let gone = say(&update(live_event("Cancelled", "0"), FollowState::Final));
        assert!(
            gone.starts_with("❌ <b>Order Cancelled</b> LONG 0 of 0.001"),
            "{gone}"
        );
        assert!(gone.contains("nothing filled"));
        let left = say(&update(live_event("New", "0"), FollowState::LeftOpen));
        assert!(left.starts_with("ℹ️ <b>Order left open</b>"), "{left}");
        assert!(super::super::html::escape("<") == "&lt;");
    }

    #[test]
    fn positions_show_the_exchanges_truth_networks_apart_with_flags() {
        let row = |exchange: &str, network: &str, flag: &str| PositionRow {
            exchange: exchange.into(),
            network: network.into(),
            symbol: "BTCUSDT".into(),
            side: "long".into(),
            size: "0.01".into(),
            entry_price: Some("65000".into()),
            mark_price: Some("65100".into()),
            unrealised_pnl: Some("1".into()),
            leverage: Some("5".into()),
            margin_mode: Some("cross".into()),
            source: "exchange".into(),
            implied_size: Some("0.01".into()),
            reconcile: flag.into(),
            reconcile_detail: (flag != "ok").then(|| "hoox's fills imply 0.02".into()),
            updated_at_ms: 0,
        };
        let v = PositionsView {
            positions: vec![
                row("bybit", "mainnet", "ok"),
                row("binance", "testnet", "differs"),
                row("paper", "mainnet", "ok"),
            ],
            flagged: 1,
            implied: vec![],
            closed: vec![],
            realised: vec![],
            equity: vec![],
        };
        let text = exchange_positions(&v);
        let live = text.find("<b>Live (mainnet)</b>").unwrap();
        let test = text.find("<b>Testnet</b>").unwrap();
        let paper = text.find("<b>Paper (simulated fills)</b>").unwrap();
        assert!(live < test && test < paper, "{text}");
        assert!(
            text.contains("• LONG 0.01 BTCUSDT @ 65000 on bybit — mark 65100 · uPnL 1 · 5x cross")
        );
        assert!(text.contains("• ⚠️ LONG 0.01 BTCUSDT @ 65000 on binance"));
        assert!(
            text.contains("<i>differs: hoox&#39;s fills imply 0.02</i>")
                || text.contains("<i>differs: hoox's fills imply 0.02</i>"),
            "{text}"
        );
        assert!(text.contains("⚠️ <b>1</b> difference(s)"));
        assert!(exchange_positions(&PositionsView {
            positions: vec![],
            flagged: 0,
            implied: vec![],
            closed: vec![],
            realised: vec![],
            equity: vec![]
        })
        .contains("No open positions"));
    }

    #[test]
    fn dead_letter_alerts_point_at_the_cli() {
        let d = DeadLetterAlert {
            id: 12,
            queue: "trade-execution-dlq".into(),
            reason: "kill_switch".into(),
            idempotency_key: Some("k1".into()),
            exchange: Some("paper".into()),
            symbol: Some("BTCUSDT".into()),
            action: Some("LONG".into()),
            detail: Some("trade:kill_switch is on".into()),
            attempts: 1,
        };
        let text = alert(&Alert::DeadLetter(d));
        assert!(text.starts_with(
            "☠️ <b>Dead letter #12</b> <code>kill_switch</code> — LONG BTCUSDT on paper"
        ));
        assert!(text.ends_with("attempts 1 · <code>hoox dlq show 12</code>"));
        let many = alerts(&[
            Alert::Notice { text: "a".into() },
            Alert::Notice { text: "<b>".into() },
        ]);
        assert_eq!(many, "ℹ️ a\n\nℹ️ &lt;b&gt;");
    }

    #[test]
    fn replies_cover_empty_and_unreadable_states() {
        let s = status(&StatusView {
            kill_switch: None,
            mode: Some("paper".into()),
            stats: None,
        });
        assert!(s.contains("unreadable (treated as ON)"));
        assert!(s.contains("ledger unavailable"));
        let s = status(&StatusView {
            kill_switch: Some(false),
            mode: Some("paper".into()),
            stats: Some(Stats::default()),
        });
        assert!(s.contains("Dead letters pending: <b>0</b>"));
        assert!(s.contains("Last trade: none yet"));
        assert!(trades(&[]).contains("No trades yet"));
        assert!(positions(&[]).contains("No open positions"));
        assert!(dlq(0, &[]).contains("None pending"));
        assert!(help().contains("/kill_on"));
        assert!(unknown("<x>").contains("<code>/&lt;x&gt;</code>"));
        assert_eq!(time_of(0), "1970-01-01 00:00:00 UTC");
    }
}
