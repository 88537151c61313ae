//! Positions: what each exchange holds (live, testnet and paper apart), flagged where it differs
//! from hoox's own fills, each with a close action; what hoox's fills imply; the closed
//! positions with their realised PnL. A close is confirmed on a page of its own (and by the
//! browser when JS runs) whose form carries a one-time key, so submitting it twice is one
//! order.

use super::{badge, time, Chrome};
use maud::{html, Markup};
use ops::reconcile::{PositionRow, PositionsView};

/// The close a position's button asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseRequest {
    pub exchange: String,
    pub network: String,
    pub symbol: String,
    pub side: String,
    pub size: String,
    /// The price the paper exchange fills a close at (it has no market data): the position's
    /// mark, else its entry. Unused for real exchanges, which fill a market close at theirs.
    pub price: Option<String>,
}

impl CloseRequest {
    /// The close of a position as the exchange reported it.
    pub fn of(p: &PositionRow) -> Self {
        Self {
            exchange: p.exchange.clone(),
            network: p.network.clone(),
            symbol: p.symbol.clone(),
            side: p.side.clone(),
            size: p.size.clone(),
            price: p.mark_price.clone().or_else(|| p.entry_price.clone()),
        }
    }
}

/// A close's hidden form fields, the same on the list's button and on the confirmation.
fn fields(c: &CloseRequest) -> Markup {
    html! {
        input type="hidden" name="exchange" value=(c.exchange);
        input type="hidden" name="network" value=(c.network);
        input type="hidden" name="symbol" value=(c.symbol);
        input type="hidden" name="side" value=(c.side);
        input type="hidden" name="size" value=(c.size);
        @if let Some(price) = &c.price { input type="hidden" name="price" value=(price); }
    }
}

fn closable(p: &PositionRow) -> bool {
    p.size
        .parse::<rust_decimal::Decimal>()
        .is_ok_and(|s| s > rust_decimal::Decimal::ZERO)
}

pub fn page(chrome: &Chrome<'_>, v: &PositionsView) -> Markup {
    super::page(
        chrome,
        "Positions",
        html! {
            p.muted { (v.positions.len()) " positions, " (v.flagged) " flagged." }
            table #positions {
                thead { tr { th { "exchange" } th { "network" } th { "symbol" } th { "side" } th { "size" } th { "entry" } th { "mark" } th { "unrealised" } th { "leverage" } th { "source" } th { "reconcile" } th { "read" } th {} } }
                tbody {
                    @for p in &v.positions {
                        tr data-symbol=(p.symbol) {
                            td { (p.exchange) } td { (p.network) } td { (p.symbol) } td { (p.side) } td { (p.size) }
                            td { (p.entry_price.as_deref().unwrap_or("—")) } td { (p.mark_price.as_deref().unwrap_or("—")) }
                            td { (p.unrealised_pnl.as_deref().unwrap_or("—")) } td { (p.leverage.as_deref().unwrap_or("—")) }
                            td { (p.source) }
                            td { (badge(&p.reconcile)) @if let Some(d) = &p.reconcile_detail { br; small { (d) } } }
                            td { (time(p.updated_at_ms)) }
                            td {
                                @if closable(p) {
                                    form method="post" action=(chrome.href("/positions/close")) {
                                        (chrome.csrf_field())
                                        (fields(&CloseRequest::of(p)))
                                        button type="submit" { "Close…" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "Realised" }
            table {
                thead { tr { th { "exchange" } th { "network" } th { "closed positions" } th { "net PnL" } th { "fees" } th { "complete" } } }
                tbody { @for r in &v.realised { tr { td { (r.exchange) } td { (r.network) } td { (r.closed_positions) } td { (r.net_pnl) } td { (r.fees) } td { (r.complete) } } } }
            }
            h2 { "Closed positions" }
            table #closed {
                thead { tr { th { "exchange" } th { "network" } th { "symbol" } th { "side" } th { "size" } th { "entry" } th { "exit" } th { "net PnL" } th { "closed" } } }
                tbody { @for c in &v.closed {
                    tr { td { (c.key.exchange) } td { (c.key.network) } td { (c.key.symbol) } td { (format!("{:?}", c.key.side).to_lowercase()) } td { (c.max_quantity) }
                         td { (c.entry_price.map(|p| p.to_string()).unwrap_or_else(|| "—".into())) } td { (c.exit_price.map(|p| p.to_string()).unwrap_or_else(|| "—".into())) }
                         td { (c.net_pnl.map(|p| p.to_string()).unwrap_or_else(|| "—".into())) } td { (time(c.closed_at_ms)) } }
                } }
            }
        },
    )
}

/// The confirmation of a close, with the one-time key its form carries.
pub fn confirm(chrome: &Chrome<'_>, c: &CloseRequest, once: &str) -> Markup {
    super::page(
        chrome,
        "Close a position",
        html! {
            p.notice.warn { "Close " strong { (c.side) " " (c.size) " " (c.symbol) } " on " (c.exchange) " " (c.network) " with a reduce-only market order?" }
            form method="post" action=(chrome.href("/positions/close")) data-confirm="Send the closing order now?" {
                (chrome.csrf_field())
                (fields(c))
                input type="hidden" name="once" value=(once);
                button.bad type="submit" name="confirm" value="yes" { "Close position" }
                " " a href=(chrome.href("/positions")) { "Cancel" }
            }
        },
    )
}

/// The signal a confirmed close sends through `TRADE_SERVICE /signals`, and the reason it
/// cannot when the form is not a position's.
pub fn close_signal(c: &CloseRequest, once: &str) -> Result<serde_json::Value, String> {
    let action = match c.side.as_str() {
        "long" => "CLOSE_LONG",
        "short" => "CLOSE_SHORT",
        other => return Err(format!("side must be long or short, not {other:?}")),
    };
    let test = match c.network.as_str() {
        "mainnet" => false,
        "testnet" => true,
        other => return Err(format!("network must be mainnet or testnet, not {other:?}")),
    };
    let size: rust_decimal::Decimal = c
        .size
        .parse()
        .map_err(|_| format!("size {:?} is not a number", c.size))?;
    if size <= rust_decimal::Decimal::ZERO {
        return Err("size must be above zero".into());
    }
    if once.len() < 16
        || !once
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err("the confirmation's one-time key is missing; open the close again".into());
    }
    let mut signal = serde_json::json!({
        "exchange": c.exchange,
        "action": action,
        "symbol": c.symbol,
        "quantity": size.normalize().to_string(),
        "orderType": "market",
        "test": test,
        "idempotencyKey": format!("dashboard:close:{}:{}:{}:{}:{once}", c.exchange, c.network, c.symbol, c.side),
    });
    if c.exchange == "paper" {
        let price = c.price.as_deref().ok_or(
            "a paper position's close needs its price (the paper exchange has no market data)",
        )?;
        signal["price"] = price.into();
    }
    Ok(signal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(side: &str, network: &str, size: &str) -> CloseRequest {
        CloseRequest {
            exchange: "bybit".into(),
            network: network.into(),
            symbol: "BTCUSDT".into(),
            side: side.into(),
            size: size.into(),
            price: None,
        }
    }

    #[test]
    fn a_confirmed_close_is_a_keyed_reduce_only_signal() {
        let s = close_signal(&req("short", "testnet", "0.0100"), "abcdefghijklmnop").unwrap();
        assert_eq!(s["action"], "CLOSE_SHORT");
        assert_eq!(s["test"], true);
        assert_eq!(s["quantity"], "0.01");
        assert_eq!(
            s["idempotencyKey"],
            "dashboard:close:bybit:testnet:BTCUSDT:short:abcdefghijklmnop"
        );
    }

    #[test]
    fn a_paper_close_carries_the_price_it_fills_at() {
        let mut c = req("long", "mainnet", "0.5");
        c.exchange = "paper".into();
        assert!(close_signal(&c, "abcdefghijklmnop")
            .unwrap_err()
            .contains("price"));
        c.price = Some("3000".into());
        assert_eq!(
            close_signal(&c, "abcdefghijklmnop").unwrap()["price"],
            "3000"
        );
        assert!(
            close_signal(&req("long", "mainnet", "1"), "abcdefghijklmnop").unwrap()["price"]
                .is_null()
        );
    }

    #[test]
    fn a_forged_close_form_is_refused_with_the_field() {
        assert!(close_signal(&req("up", "mainnet", "1"), "abcdefghijklmnop")
            .unwrap_err()
            .contains("side"));
        assert!(
            close_signal(&req("long", "devnet", "1"), "abcdefghijklmnop")
                .unwrap_err()
                .contains("network")
        );
        assert!(
            close_signal(&req("long", "mainnet", "-1"), "abcdefghijklmnop")
                .unwrap_err()
                .contains("size")
        );
        assert!(
            close_signal(&req("long", "mainnet", "x"), "abcdefghijklmnop")
                .unwrap_err()
                .contains("size")
        );
        assert!(close_signal(&req("long", "mainnet", "1"), "")
            .unwrap_err()
            .contains("one-time"));
    }
}
