//! The overview: per network (live and testnet apart, paper on its own) the equity, today's
//! realised and unrealised PnL and the open positions; signals today by outcome, dead letters
//! pending, the kill switch (with its form), the trade mode and the entry pauses; the equity
//! chart over the daily snapshots and the live feed.

use super::{badge, data_block, time, Chrome};
use maud::{html, Markup};
use ops::ledger::Stats;
use ops::reconcile::{EquityRow, PositionsView};
use std::collections::BTreeMap;

/// What the overview is made of.
pub struct Overview<'a> {
    pub positions: Option<&'a PositionsView>,
    pub stats: Option<&'a Stats>,
    pub equity: &'a [EquityRow],
    pub entries_paused: &'a [contracts::pause::EntryPause],
    /// Start of the UTC day, for "realised today".
    pub day_start_ms: i64,
    /// What could not be read, said on the page rather than shown as zeros.
    pub problems: &'a [String],
}

/// The network a row belongs to in the overview: paper rows on their own.
fn network_of(network: &str, source: &str) -> String {
    if source == "paper" {
        "paper".into()
    } else {
        network.into()
    }
}

/// Per network: (equity, unrealised, realised today, open positions).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct NetworkFigures {
    pub equity: Option<rust_decimal::Decimal>,
    pub unrealised: rust_decimal::Decimal,
    pub realised_today: rust_decimal::Decimal,
    pub open: usize,
}

/// The per-network figures of the overview (pure, tested).
pub fn figures(view: &PositionsView, day_start_ms: i64) -> BTreeMap<String, NetworkFigures> {
    use rust_decimal::Decimal;
    let mut out: BTreeMap<String, NetworkFigures> = BTreeMap::new();
    for e in &view.equity {
        let f = out.entry(network_of(&e.network, &e.source)).or_default();
        if let Ok(v) = e.equity.parse::<Decimal>() {
            f.equity = Some(f.equity.unwrap_or_default() + v);
        }
    }
    for p in &view.positions {
        if p.size.parse::<Decimal>().is_ok_and(|s| !s.is_zero()) {
            let f = out.entry(network_of(&p.network, &p.source)).or_default();
            f.open += 1;
            if let Some(u) = p
                .unrealised_pnl
                .as_deref()
                .and_then(|u| u.parse::<Decimal>().ok())
            {
                f.unrealised += u;
            }
        }
    }
    for c in view
        .closed
        .iter()
        .filter(|c| c.closed_at_ms >= day_start_ms)
    {
        let net = if c.key.exchange == "paper" {
            "paper".to_string()
        } else {
            c.key.network.clone()
        };
        out.entry(net).or_default().realised_today += c.net_pnl.unwrap_or_default();
    }
    out
}

/// The chart's series: per network, each day's summed equity.
pub fn series(rows: &[EquityRow]) -> serde_json::Value {
    let mut by: BTreeMap<String, BTreeMap<String, rust_decimal::Decimal>> = BTreeMap::new();
    for r in rows {
        if let Ok(v) = r.equity.parse::<rust_decimal::Decimal>() {
            *by.entry(network_of(&r.network, &r.source))
                .or_default()
                .entry(r.day.clone())
                .or_default() += v;
        }
    }
    serde_json::json!(by
        .into_iter()
        .map(|(net, days)| serde_json::json!({
            "network": net,
            "days": days.keys().collect::<Vec<_>>(),
            "equity": days.values().map(|v| v.to_string()).collect::<Vec<_>>(),
        }))
        .collect::<Vec<_>>())
}

pub fn page(chrome: &Chrome<'_>, o: &Overview<'_>) -> Markup {
    let figs = o
        .positions
        .map(|v| figures(v, o.day_start_ms))
        .unwrap_or_default();
    super::page(
        chrome,
        "Overview",
        html! {
            @for p in o.problems { p.notice.warn { (p) } }
            section.cards {
                @for (net, f) in &figs {
                    article.card data-network=(net) {
                        h2 { (net) }
                        dl.kv {
                            dt { "Equity (USDT)" } dd.equity { (f.equity.map(|e| e.round_dp(2).to_string()).unwrap_or_else(|| "not read yet".into())) }
                            dt { "Unrealised PnL" } dd { (f.unrealised.round_dp(2)) }
                            dt { "Realised today" } dd { (f.realised_today.round_dp(2)) }
                            dt { "Open positions" } dd { (f.open) }
                        }
                    }
                }
                @if figs.is_empty() { article.card { h2 { "No positions or equity yet" } p.muted { "The one-minute account read fills this in." } } }
                article.card {
                    h2 { "Signals today" }
                    @if let Some(s) = o.stats {
                        dl.kv #today {
                            @for (outcome, n) in &s.since { dt { (badge(outcome)) } dd { (n) } }
                            @if s.since.is_empty() { dt { "none" } dd { "0" } }
                        }
                        p { a href=(chrome.href("/dead-letters?status=pending")) { "Dead letters pending: " strong #pending { (s.pending_dead_letters()) } } }
                    } @else { p.muted { "ledger unreadable" } }
                }
                article.card {
                    h2 { "Kill switch" }
                    (kill_form(chrome))
                    h3 { "Entries paused" }
                    @if o.entries_paused.is_empty() { p.muted { "none" } }
                    ul { @for p in o.entries_paused { li { (p.detail()) } } }
                }
            }
            section {
                h2 { "Equity over time" }
                div #equity-chart aria-label="Equity over time" {}
                (data_block("equity-data", &series(o.equity)))
                details {
                    summary { "Daily snapshots" }
                    table {
                        thead { tr { th { "day" } th { "exchange" } th { "network" } th { "equity" } th { "unrealised" } th { "source" } } }
                        tbody { @for r in o.equity.iter().rev().take(60) {
                            tr { td { (r.day) } td { (r.exchange) } td { (r.network) } td { (r.equity) } td { (r.unrealised_pnl.as_deref().unwrap_or("—")) } td { (r.source) } }
                        } }
                    }
                }
            }
            (feed(chrome))
        },
    )
}

/// The kill switch's form: on/off with a reason, confirmed by the browser when JS runs.
pub fn kill_form(chrome: &Chrome<'_>) -> Markup {
    let on = chrome.kill_switch.unwrap_or(true);
    html! {
        p { "Now: " @if on { strong.bad { "ON — no order is submitted" } } @else { strong.good { "off" } } }
        form.kill method="post" action=(chrome.href("/kill")) data-confirm=(if on { "Turn the kill switch off and resume trading?" } else { "Turn the kill switch ON and stop every order?" }) {
            (chrome.csrf_field())
            input type="hidden" name="on" value=(if on { "false" } else { "true" });
            label { "Reason " input type="text" name="reason" required minlength="3" maxlength="200"; }
            button type="submit" class=(if on { "good" } else { "bad" }) { @if on { "Turn off" } @else { "Turn ON" } }
        }
    }
}

/// The live feed: filled by `app.js` polling `feed.json` every second; without JS it says how
/// to see new events.
pub fn feed(chrome: &Chrome<'_>) -> Markup {
    html! {
        section.feed {
            h2 { "Live feed" }
            p.muted #feed-state { "Reload the page to see new events (the feed updates live with JavaScript)." }
            ol #feed data-src=(chrome.href("/feed.json")) {}
        }
    }
}

/// A time for the feed's server-side rows.
pub fn at(ms: i64) -> Markup {
    time(ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ops::reconcile::PositionRow;

    fn equity(net: &str, day: &str, v: &str, source: &str) -> EquityRow {
        EquityRow {
            exchange: "bybit".into(),
            network: net.into(),
            day: day.into(),
            asset: "USDT".into(),
            wallet_balance: v.into(),
            unrealised_pnl: None,
            equity: v.into(),
            source: source.into(),
            at_ms: 0,
        }
    }

    #[test]
    fn live_testnet_and_paper_are_never_summed_together() {
        let view = PositionsView {
            positions: vec![PositionRow {
                exchange: "bybit".into(),
                network: "testnet".into(),
                symbol: "BTCUSDT".into(),
                side: "long".into(),
                size: "0.01".into(),
                entry_price: Some("50000".into()),
                mark_price: Some("51000".into()),
                unrealised_pnl: Some("10".into()),
                leverage: None,
                margin_mode: None,
                source: "exchange".into(),
                implied_size: None,
                reconcile: "ok".into(),
                reconcile_detail: None,
                updated_at_ms: 0,
            }],
            flagged: 0,
            implied: vec![],
            closed: vec![],
            realised: vec![],
            equity: vec![
                equity("mainnet", "2026-12-01", "1000", "exchange"),
                equity("testnet", "2026-12-01", "50", "exchange"),
                equity("mainnet", "2026-12-01", "7", "paper"),
            ],
        };
        let f = figures(&view, 0);
        assert_eq!(f["mainnet"].equity, Some("1000".parse().unwrap()));
        assert_eq!(f["testnet"].equity, Some("50".parse().unwrap()));
        assert_eq!(f["paper"].equity, Some("7".parse().unwrap()));
        assert_eq!(
            (f["testnet"].open, f["testnet"].unrealised),
            (1, "10".parse().unwrap())
        );
        let s = series(&view.equity);
        assert_eq!(s.as_array().unwrap().len(), 3);
    }
}
