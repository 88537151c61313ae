//! Signals and orders: lists with filters (exchange, symbol, outcome or status, since; a
//! signal's source, the prefix of its key: `email` for mail, `risk` for the agent), and a
//! signal's detail view — its whole path from the ledger (`ops::trail`).

use super::{badge, encode, filters, pager, time, Chrome};
use maud::{html, Markup};
use ops::ledger::{SignalRow, TradeRow};
use ops::query::Page;
use ops::trail::{SignalTrail, Tone};

const EXCHANGES: &[&str] = &["bybit", "binance", "mexc", "paper"];
const OUTCOMES: &[&str] = &["filled", "placed", "rejected", "blocked", "failed"];
/// Who sent a signal, as the ledger's `source` filter reads it (`ops::ledger`).
const SOURCES: &[&str] = &["email", "risk"];

/// A list page's filter values, as the query string gave them.
pub type Query<'a> = [(&'a str, &'a str)];

fn get<'a>(q: &Query<'a>, k: &str) -> &'a str {
    q.iter().find(|(n, _)| *n == k).map_or("", |(_, v)| v)
}

pub fn list(chrome: &Chrome<'_>, q: &Query<'_>, page: &Page<SignalRow>) -> Markup {
    super::page(
        chrome,
        "Signals",
        html! {
            (filters(&chrome.href("/signals"), &[
                ("exchange", "exchange", get(q, "exchange"), EXCHANGES),
                ("symbol", "symbol", get(q, "symbol"), &[]),
                ("outcome", "outcome", get(q, "outcome"), OUTCOMES),
                ("source", "source", get(q, "source"), SOURCES),
            ]))
            table #signals {
                thead { tr { th { "received" } th { "exchange" } th { "symbol" } th { "action" } th { "quantity" } th { "type" } th { "net" } th { "outcome" } th { "attempts" } th { "key" } } }
                tbody {
                    @for s in &page.items {
                        tr {
                            td { (time(s.received_at_ms)) } td { (s.exchange) } td { (s.symbol) } td { (s.action) } td { (s.quantity) }
                            td { (s.order_type) } td { @if s.test != 0 { "testnet" } @else { "mainnet" } }
                            td { (badge(&s.outcome)) } td { (s.attempts) }
                            td { a href=(chrome.href(&format!("/signals/{}", encode(&s.idempotency_key)))) { (s.idempotency_key) } }
                        }
                    }
                }
            }
            @if page.items.is_empty() { p.muted { "No signals match." } }
            (pager(&chrome.href("/signals"), q, page.next_cursor.as_deref()))
            (super::overview::feed(chrome))
        },
    )
}

pub fn orders(chrome: &Chrome<'_>, q: &Query<'_>, page: &Page<TradeRow>) -> Markup {
    super::page(
        chrome,
        "Orders",
        html! {
            p { a.button #new-order href=(chrome.href("/orders/new")) { "New order…" } }
            (filters(&chrome.href("/orders"), &[
                ("exchange", "exchange", get(q, "exchange"), EXCHANGES),
                ("symbol", "symbol", get(q, "symbol"), &[]),
            ]))
            table #orders {
                thead { tr { th { "created" } th { "venue" } th { "symbol" } th { "side" } th { "action" } th { "quantity" } th { "price" } th { "status" } th { "filled" } th { "avg" } th { "exchange order" } th { "signal" } } }
                tbody {
                    @for o in &page.items {
                        tr {
                            td { (time(o.created_at_ms)) } td { (o.venue) } td { (o.symbol) } td { (o.side) } td { (o.action.as_deref().unwrap_or("—")) }
                            td { (o.quantity) } td { (o.price.as_deref().unwrap_or("market")) } td { (badge(&o.status)) } td { (o.filled_quantity) }
                            td { (o.average_price.as_deref().unwrap_or("—")) } td { (o.exchange_order_id) }
                            td { a href=(chrome.href(&format!("/signals/{}", encode(&o.idempotency_key)))) { "path" } }
                        }
                    }
                }
            }
            @if page.items.is_empty() { p.muted { "No orders match." } }
            (pager(&chrome.href("/orders"), q, page.next_cursor.as_deref()))
        },
    )
}

/// One signal's path.
pub fn trail(chrome: &Chrome<'_>, t: &SignalTrail) -> Markup {
    super::page(
        chrome,
        "Signal",
        html! {
            p { "Key " code { (t.key) } }
            @if t.signal.is_none() {
                p.notice.warn { "The ledger has not recorded this signal's outcome yet (it is still executing, or only its dead letters are known)." }
            }
            ol.trail #trail {
                @for s in t.steps() {
                    li class=(match s.tone { Tone::Good => "good", Tone::Bad => "bad", Tone::Warn => "warn", Tone::Neutral => "neutral" }) data-stage=(s.stage) {
                        (time(s.at_ms)) " " strong { (s.stage) } " " (s.text)
                    }
                }
            }
            @for d in &t.dead_letters {
                p { a href=(chrome.href(&format!("/dead-letters/{}", d.summary.id))) { "Dead letter #" (d.summary.id) " (" (d.summary.status) ")" } }
            }
        },
    )
}
