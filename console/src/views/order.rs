//! A manual order: the form an operator fills in (what `hoox signal send` sends from the CLI),
//! checked by the gateway's own signal validation before anything is sent, then confirmed on a
//! page of its own whose form carries a one-time key, so submitting it twice is one order. The
//! dashboard sends it through `TRADE_SERVICE /signals` like every signal, so it is recorded in
//! the idempotency store and executed exactly once.

use super::Chrome;
use maud::{html, Markup};

/// The order form's fields, as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderForm {
    pub exchange: String,
    /// `mainnet` or `testnet`.
    pub network: String,
    pub action: String,
    pub symbol: String,
    pub quantity: String,
    pub order_type: String,
    pub price: String,
    pub leverage: String,
}

pub const EXCHANGES: [&str; 4] = ["paper", "bybit", "binance", "mexc"];
pub const ACTIONS: [&str; 4] = ["LONG", "SHORT", "CLOSE_LONG", "CLOSE_SHORT"];

impl OrderForm {
    /// The form from its fields (`get` answers a field's value, empty when absent).
    pub fn from_fields<'a>(get: impl Fn(&str) -> &'a str) -> Self {
        let t = |k: &str| get(k).trim().to_owned();
        Self {
            exchange: t("exchange"),
            network: t("network"),
            action: t("action"),
            symbol: t("symbol"),
            quantity: t("quantity"),
            order_type: t("order_type"),
            price: t("price"),
            leverage: t("leverage"),
        }
    }

    /// The signal this form sends, keyed by `once`, or the refusal naming the field. The
    /// gateway's validation (`contracts::signal::parse_webhook`) decides, so the dashboard
    /// refuses exactly what a webhook would.
    pub fn signal(&self, once: &str) -> Result<serde_json::Value, String> {
        let test = match self.network.as_str() {
            "mainnet" => false,
            "testnet" => true,
            other => return Err(format!("network must be mainnet or testnet, not {other:?}")),
        };
        if once.len() < 16
            || !once
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(
                "the confirmation's one-time key is missing; fill in the order again".into(),
            );
        }
        let mut signal = serde_json::json!({
            "exchange": self.exchange,
            "action": self.action,
            "symbol": self.symbol,
            "quantity": self.quantity,
            "orderType": if self.order_type.is_empty() { "market" } else { self.order_type.as_str() },
            "test": test,
            "idempotencyKey": format!("dashboard:order:{once}"),
        });
        if !self.price.is_empty() {
            signal["price"] = self.price.clone().into();
        }
        if !self.leverage.is_empty() {
            let lev: u64 = self.leverage.parse().map_err(|_| {
                format!(
                    "invalid `leverage`: {:?} is not a whole number",
                    self.leverage
                )
            })?;
            signal["leverage"] = lev.into();
        }
        contracts::signal::parse_webhook(signal.to_string().as_bytes())
            .map_err(|e| e.to_string())?;
        Ok(signal)
    }

    /// One line saying what the order does.
    pub fn summary(&self) -> String {
        let price = if self.price.is_empty() {
            String::new()
        } else {
            format!(" at {}", self.price)
        };
        format!(
            "{} {} {} on {} {} ({}{price})",
            self.action,
            self.quantity,
            self.symbol,
            self.exchange,
            self.network,
            if self.order_type.is_empty() {
                "market"
            } else {
                &self.order_type
            }
        )
    }
}

fn select(name: &str, options: &[&str], current: &str) -> Markup {
    html! {
        select name=(name) id=(format!("order-{name}")) {
            @for o in options {
                option value=(o) selected[*o == current] { (o) }
            }
        }
    }
}

/// The order form (prefilled with `f`, and an error from a refused attempt).
pub fn page(chrome: &Chrome<'_>, f: &OrderForm, error: Option<&str>) -> Markup {
    super::page(
        chrome,
        "New order",
        html! {
            p.muted { "A signal like a webhook's, sent through the trade-worker's door: recorded once, executed once, with every rule the pipeline applies (kill switch, limits, pauses). Paper needs a price (it has no market data)." }
            @if let Some(e) = error { p.notice.bad role="alert" { (e) } }
            form.order method="post" action=(chrome.href("/orders/new")) {
                (chrome.csrf_field())
                label { "Exchange " (select("exchange", &EXCHANGES, &f.exchange)) }
                label { "Network " (select("network", &["mainnet", "testnet"], &f.network)) }
                label { "Action " (select("action", &ACTIONS, &f.action)) }
                label { "Symbol " input name="symbol" value=(f.symbol) placeholder="BTCUSDT" required; }
                label { "Quantity " input name="quantity" value=(f.quantity) placeholder="0.01" inputmode="decimal" required; }
                label { "Type " (select("order_type", &["market", "limit"], &f.order_type)) }
                label { "Price " input name="price" value=(f.price) placeholder="limit or paper price" inputmode="decimal"; }
                label { "Leverage " input name="leverage" value=(f.leverage) placeholder="default" inputmode="numeric"; }
                button type="submit" { "Review order…" }
            }
        },
    )
}

/// The confirmation, with the one-time key its form carries.
pub fn confirm(chrome: &Chrome<'_>, f: &OrderForm, once: &str) -> Markup {
    super::page(
        chrome,
        "Confirm the order",
        html! {
            p.notice.warn { "Send " strong { (f.summary()) } "?" }
            form method="post" action=(chrome.href("/orders/new")) data-confirm="Send this order now?" {
                (chrome.csrf_field())
                @for (k, v) in [("exchange", &f.exchange), ("network", &f.network), ("action", &f.action), ("symbol", &f.symbol), ("quantity", &f.quantity), ("order_type", &f.order_type), ("price", &f.price), ("leverage", &f.leverage)] {
                    input type="hidden" name=(k) value=(v);
                }
                input type="hidden" name="once" value=(once);
                button.bad type="submit" name="confirm" value="yes" { "Send order" }
                " " a href=(chrome.href("/orders/new")) { "Cancel" }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> OrderForm {
        OrderForm::from_fields(|k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| *v)
                .unwrap_or("")
        })
    }

    const ONCE: &str = "0123456789abcdef0123";

    #[test]
    fn an_order_becomes_the_webhooks_signal_with_a_one_time_key() {
        let f = form(&[
            ("exchange", "bybit"),
            ("network", "testnet"),
            ("action", "LONG"),
            ("symbol", " BTCUSDT "),
            ("quantity", "0.01"),
            ("order_type", "limit"),
            ("price", "50000"),
            ("leverage", "3"),
        ]);
        let s = f.signal(ONCE).unwrap();
        assert_eq!(s["idempotencyKey"], format!("dashboard:order:{ONCE}"));
        assert_eq!(
            (&s["symbol"], &s["test"], &s["leverage"], &s["price"]),
            (&"BTCUSDT".into(), &true.into(), &3.into(), &"50000".into())
        );
        assert_eq!(
            f.summary(),
            "LONG 0.01 BTCUSDT on bybit testnet (limit at 50000)"
        );
    }

    #[test]
    fn what_a_webhook_would_refuse_is_refused_with_the_field_named() {
        let ok = [
            ("exchange", "paper"),
            ("network", "mainnet"),
            ("action", "LONG"),
            ("symbol", "BTCUSDT"),
            ("quantity", "0.01"),
            ("price", "50000"),
        ];
        assert!(form(&ok).signal(ONCE).is_ok());
        let with = |k: &str, v: &str| {
            let mut p: Vec<(&str, &str)> = ok.iter().copied().filter(|(n, _)| *n != k).collect();
            p.push((k, v));
            form(&p).signal(ONCE).unwrap_err()
        };
        assert!(
            with("action", "BUYIT").contains("action"),
            "{}",
            with("action", "BUYIT")
        );
        assert!(with("quantity", "").contains("quantity"));
        assert!(with("quantity", "-1").contains("quantity"));
        assert!(with("exchange", "kraken").contains("exchange"));
        assert!(with("network", "moon").contains("network"));
        assert!(with("leverage", "two").contains("leverage"));
        assert!(form(&ok)
            .signal("short")
            .unwrap_err()
            .contains("one-time key"));
    }
}
