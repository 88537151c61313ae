//! The ledger knows the truth (issue 13), on the local Workers runtime against the mock
//! exchanges and the mock Telegram: orders followed to their final state, the exchanges'
//! positions and balances read into D1 and reconciled with hoox's own fills, realised PnL per
//! closed position, and what `/admin/ledger/positions`, Telegram's `/positions` and the alerts
//! say of them.
//!
//! On the code before issue 13 the first scenario fails at its first wait: a Bybit
//! acknowledgement carries ids only, nothing looked the order up again, so its `orders` row
//! stayed `Created` with nothing filled, and `/admin/ledger/positions` (derived from filled
//! orders) showed no Bybit exposure at all.

use contracts::signal::Exchange;
use integration::mock_exchange::{
    Fault, FaultKind, FillLater, MockCredentials, MockExchanges, OrderState, Switches,
};
use integration::mock_telegram::MockTelegram;
use integration::{dev_var, run_suite, unique, Hoox, Scenario};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

type Fut<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

static MOCK: OnceLock<MockExchanges> = OnceLock::new();
static TELEGRAM: OnceLock<MockTelegram> = OnceLock::new();
/// An allow-listed chat.
const CHAT: i64 = 515_151;
/// Follow-ups look up at 2 s, 5 s, 15 s, 60 s after the outcome: the third comes ~22 s in.
const FOLLOW_WAIT: Duration = Duration::from_secs(90);
const WAIT: Duration = Duration::from_secs(45);

fn mock() -> &'static MockExchanges {
    MOCK.get().expect("mock exchanges started in main")
}

fn tg() -> &'static MockTelegram {
    TELEGRAM.get().expect("mock telegram started in main")
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_else(|_| panic!("{s}"))
}

/// Live trading against the mocks, no staleness or quota in the way.
async fn go_live(h: &Hoox) {
    h.set_config("trade:mode", "live").await;
    h.set_config("trade:max_signal_age_seconds", "0").await;
    h.set_config(
        "retry:policy",
        r#"{"initial_seconds":1,"multiplier":1.5,"max_delay_seconds":4,"jitter":0.2}"#,
    )
    .await;
    h.set_config("telegram:allowed_chat_ids", &format!("[{CHAT}]"))
        .await;
    h.config_visible().await;
}

fn signal(h: &Hoox, key: &str, exchange: Exchange, action: &str, extra: Value) -> Value {
    let mut body = json!({
        "apiKey": h.api_key,
        "exchange": exchange.as_str(),
        "action": action,
        "symbol": "BTCUSDT",
        "quantity": "0.01",
        "price": "65000",
        "orderType": "market",
        "idempotencyKey": key,
    });
    if let (Some(b), Some(x)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in x {
            b.insert(k.clone(), v.clone());
        }
    }
    body
}

/// The ledger's order row of `key`, once one exists.
async fn order_row(h: &Hoox, key: &str) -> Value {
    h.wait_orders(key, WAIT).await.remove(0)
}

/// Polls the order row of `key` until `pred` holds; returns every distinct state seen.
async fn wait_order_until(
    h: &Hoox,
    key: &str,
    timeout: Duration,
    pred: impl Fn(&Value) -> bool,
) -> (Value, Vec<(String, String)>) {
    let deadline = Instant::now() + timeout;
    let mut seen: Vec<(String, String)> = Vec::new();
    loop {
        let rows = h
            .sql(
                "SELECT * FROM orders WHERE idempotency_key = ?",
                &[json!(key)],
            )
            .await;
        if let Some(row) = rows.into_iter().next() {
            let state = (
                row["status"].as_str().unwrap_or("").to_owned(),
                row["filled_quantity"].as_str().unwrap_or("").to_owned(),
            );
            if seen.last() != Some(&state) {
                seen.push(state);
            }
            if pred(&row) {
                return (row, seen);
            }
        }
        assert!(
            Instant::now() < deadline,
            "{key}: the order never got there; states seen {seen:?}\n{}",
            h.log_tail(60)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn wait_message(h: &Hoox, needles: &[&str], timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(m) = tg()
            .messages_to(CHAT)
            .into_iter()
            .find(|m| needles.iter().all(|n| m.text.contains(n)))
        {
            return m.text;
        }
        assert!(
            Instant::now() < deadline,
            "no message with {needles:?}; got {:#?}\n{}",
            tg().messages_to(CHAT)
                .iter()
                .map(|m| &m.text)
                .collect::<Vec<_>>(),
            h.log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `GET /admin/ledger/positions` (with a query) through the gateway.
async fn positions(h: &Hoox, query: &str) -> Value {
    let r = h
        .http
        .get(h.url(&format!("/admin/ledger/positions{query}")))
        .header("X-Internal-Auth-Key", &h.internal_key)
        .send()
        .await
        .expect("positions request");
    assert_eq!(r.status(), 200);
    r.json().await.expect("positions answer")
}

fn row<'a>(view: &'a Value, exchange: &str, network: &str, symbol: &str) -> Option<&'a Value> {
    view["positions"]
        .as_array()?
        .iter()
        .find(|p| p["exchange"] == exchange && p["network"] == network && p["symbol"] == symbol)
}

/// Runs the trade-worker's cron until `pred` holds of the positions view.
async fn refresh_until(h: &Hoox, query: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        h.trigger_cron("trade-worker").await;
        let view = positions(h, query).await;
        if pred(&view) {
            return view;
        }
        assert!(
            Instant::now() < deadline,
            "positions never showed {what}: {view:#}\n{}",
            h.log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A Bybit limit order that rests, fills half at its second lookup and the rest at its third:
/// the ledger follows it to `Filled` with its fee, the alerts say accepted, partly filled and
/// filled, and the positions read from Bybit show it, reconciled with hoox's fills.
fn a_limit_order_that_fills_later_is_followed(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        go_live(h).await;
        mock().fill_later(FillLater {
            partial_first: Some(d("0.5")),
            ..FillLater::after_lookups(Exchange::Bybit, 3)
        });
        let key = unique("follow-limit");
        let body = signal(
            h,
            &key,
            Exchange::Bybit,
            "LONG",
            json!({"orderType": "limit", "price": "64000"}),
        );
        assert_eq!(h.webhook(&body, &[]).await.status(), 202);
        // The outcome: accepted, nothing known of its fill, followed.
        let first = order_row(h, &key).await;
        assert_eq!(first["filled_quantity"], "0", "{first}");
        assert_eq!(first["venue_exchange"], "bybit");
        assert_eq!(first["network"], "mainnet");
        wait_message(h, &["<b>Accepted</b>", &key], WAIT).await;
        // Followed to its end: filled, with the fee Bybit's executions report.
        let (done, seen) = wait_order_until(h, &key, FOLLOW_WAIT, |r| {
            r["follow_state"] == "final" && r["fee"].is_string()
        })
        .await;
        println!("    order states seen: {seen:?}");
        assert_eq!(done["status"], "Filled");
        assert_eq!(done["filled_quantity"], "0.01");
        assert_eq!(done["average_price"], "64000");
        // 0.01 × 64000 × 0.055 %.
        assert_eq!(done["fee"], "0.352");
        assert_eq!(done["fee_asset"], "USDT");
        let part = wait_message(h, &["<b>Partly filled</b>", &key], WAIT).await;
        assert!(
            part.contains("LONG 0.005 of 0.01 BTCUSDT @ 64000 on bybit"),
            "{part}"
        );
        let filled = wait_message(h, &["<b>Order filled</b>", &key], WAIT).await;
        assert!(filled.contains("fee 0.352 USDT"), "{filled}");
        // The fills moved nothing backwards: the row never showed less filled than before.
        let fills: Vec<Decimal> = seen.iter().map(|(_, q)| d(q)).collect();
        assert!(fills.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
        // Positions from Bybit itself, reconciled with hoox's fills.
        let view = refresh_until(h, "", "Bybit's BTCUSDT long", |v| {
            row(v, "bybit", "mainnet", "BTCUSDT").is_some_and(|p| p["size"] == "0.01")
        })
        .await;
        let p = row(&view, "bybit", "mainnet", "BTCUSDT").unwrap_or(&Value::Null);
        assert_eq!(p["side"], "long");
        assert_eq!(p["entry_price"], "64000");
        assert_eq!(p["mark_price"], "65000");
        assert_eq!(p["unrealised_pnl"], "10");
        assert_eq!(p["source"], "exchange");
        assert_eq!(p["implied_size"], "0.01");
        assert_eq!(p["reconcile"], "ok", "{p}");
        // Today's equity snapshot: the wallet less the fee, plus the unrealised PnL.
        let eq = view["equity"]
            .as_array()
            .and_then(|e| e.iter().find(|q| q["exchange"] == "bybit").cloned())
            .expect("a Bybit equity snapshot");
        assert_eq!(eq["wallet_balance"], "99999.648");
        assert_eq!(eq["equity"], "100009.648");
    })
}

/// Closing the position realises its PnL less both fees, and the position is gone at Bybit and
/// in the ledger.
fn closing_realises_pnl_less_fees(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        go_live(h).await;
        let key = unique("follow-close");
        let body = signal(h, &key, Exchange::Bybit, "CLOSE_LONG", json!({}));
        assert_eq!(h.webhook(&body, &[]).await.status(), 202);
        wait_order_until(h, &key, FOLLOW_WAIT, |r| {
            r["follow_state"] == "final" && r["fee"].is_string()
        })
        .await;
        let view = refresh_until(
            h,
            "?exchange=bybit&network=mainnet",
            "no Bybit position",
            |v| row(v, "bybit", "mainnet", "BTCUSDT").is_none(),
        )
        .await;
        let closed = view["closed"]
            .as_array()
            .and_then(|c| c.first().cloned())
            .expect("a closed position");
        assert_eq!(closed["symbol"], "BTCUSDT");
        assert_eq!(closed["side"], "long");
        assert_eq!(closed["entry_price"], "64000");
        assert_eq!(closed["exit_price"], "65000");
        assert_eq!(closed["gross_pnl"], "10");
        // 0.352 opening, 0.01 × 65000 × 0.055 % = 0.3575 closing.
        assert_eq!(closed["fees"], "0.7095");
        assert_eq!(closed["net_pnl"], "9.2905");
        assert_eq!(closed["fees_complete"], true);
        let total = &view["realised"][0];
        assert_eq!(
            (total["exchange"].as_str(), total["net_pnl"].as_str()),
            (Some("bybit"), Some("9.2905"))
        );
        // The mock's wallet agrees: 100000 + 10 − 0.7095.
        assert_eq!(mock().wallet_balance(Exchange::Bybit), d("100009.2905"));
    })
}

/// A position opened by hand in the exchange's app shows up from the exchange, flagged as one
/// hoox's fills do not imply, in the operator API and in Telegram's `/positions`; testnet apart.
fn a_position_opened_elsewhere_is_flagged(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        go_live(h).await;
        // hoox trades on Binance's testnet; someone buys ETH there by hand.
        let key = unique("testnet-long");
        let body = signal(h, &key, Exchange::Binance, "LONG", json!({"test": true}));
        assert_eq!(h.webhook(&body, &[]).await.status(), 202);
        let first = order_row(h, &key).await;
        assert_eq!(first["network"], "testnet");
        mock()
            .trade_by_hand(Exchange::Binance, true, "ETHUSDT", true, d("0.5"))
            .expect("a trade by hand");
        let view = refresh_until(h, "?network=testnet", "the hand-made ETH position", |v| {
            row(v, "binance", "testnet", "ETHUSDT").is_some()
                && row(v, "binance", "testnet", "BTCUSDT").is_some()
        })
        .await;
        let hand = row(&view, "binance", "testnet", "ETHUSDT").unwrap_or(&Value::Null);
        assert_eq!(hand["reconcile"], "untracked", "{hand}");
        assert_eq!(hand["size"], "0.5");
        assert_eq!(hand["implied_size"], "0");
        let ours = row(&view, "binance", "testnet", "BTCUSDT").unwrap_or(&Value::Null);
        assert_eq!(ours["reconcile"], "ok", "{ours}");
        assert!(view["flagged"].as_u64().unwrap_or(0) >= 1);
        assert!(
            view["positions"]
                .as_array()
                .is_some_and(|p| p.iter().all(|r| r["network"] == "testnet")),
            "the filter keeps testnet apart"
        );
        let flagged = positions(h, "?flagged=true").await;
        assert!(row(&flagged, "binance", "testnet", "ETHUSDT").is_some());
        assert!(row(&flagged, "binance", "testnet", "BTCUSDT").is_none());
        // Telegram's /positions says it too, under Testnet.
        let before = tg().messages_to(CHAT).len();
        let update = json!({
            "update_id": 1,
            "message": {"message_id": 7, "date": 0, "text": "/positions",
                        "chat": {"id": CHAT, "type": "private"},
                        "from": {"id": 55, "is_bot": false, "first_name": "Op"}}
        });
        let r = h
            .http
            .post(h.url("/telegram/webhook"))
            .header(
                "X-Telegram-Bot-Api-Secret-Token",
                dev_var("TELEGRAM_SECRET_TOKEN"),
            )
            .json(&update)
            .send()
            .await
            .expect("bot webhook");
        assert_eq!(r.status(), 200);
        let deadline = Instant::now() + WAIT;
        let reply = loop {
            if let Some(m) = tg().messages_to(CHAT)[before..]
                .iter()
                .find(|m| m.text.starts_with("<b>Positions</b>"))
            {
                break m.text.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no /positions reply\n{}",
                h.log_tail(30)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert!(reply.contains("<b>Testnet</b>"), "{reply}");
        assert!(reply.contains("⚠️ LONG 0.5 ETHUSDT"), "{reply}");
        assert!(reply.contains("untracked"), "{reply}");
    })
}

/// A market order whose acknowledgement carries no fill (and whose fill shows only at its
/// second lookup) is followed too, on MEXC, where sizes are contracts.
fn an_ack_whose_fill_shows_later_is_followed(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        go_live(h).await;
        mock().fill_later(FillLater::after_lookups(Exchange::Mexc, 2));
        let key = unique("mexc-later");
        let body = signal(h, &key, Exchange::Mexc, "SHORT", json!({}));
        assert_eq!(h.webhook(&body, &[]).await.status(), 202);
        let (done, seen) =
            wait_order_until(h, &key, FOLLOW_WAIT, |r| r["follow_state"] == "final").await;
        println!("    order states seen: {seen:?}");
        assert_eq!(done["filled_quantity"], "0.01", "base units, not contracts");
        assert_eq!(seen.first().map(|(_, q)| q.as_str()), Some("0"));
        let view = refresh_until(h, "?exchange=mexc", "MEXC's short", |v| {
            row(v, "mexc", "mainnet", "BTCUSDT").is_some()
        })
        .await;
        let p = row(&view, "mexc", "mainnet", "BTCUSDT").unwrap_or(&Value::Null);
        assert_eq!(
            (p["side"].as_str(), p["size"].as_str()),
            (Some("short"), Some("0.01"))
        );
        assert_eq!(p["reconcile"], "ok", "{p}");
    })
}

/// Paper produces the same records from its simulated fills: its position, no follow-up.
fn paper_positions_come_from_its_fills(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        h.set_config("trade:mode", "paper").await;
        h.config_visible().await;
        let key = unique("paper-long");
        let body = signal(
            h,
            &key,
            Exchange::Bybit,
            "LONG",
            json!({"symbol": "ETHUSDT", "price": "3000", "quantity": "0.2"}),
        );
        assert_eq!(h.webhook(&body, &[]).await.status(), 202);
        let r = order_row(h, &key).await;
        assert_eq!(r["venue_exchange"], "paper");
        assert_eq!(r["follow_state"], "final");
        let view = positions(h, "?exchange=paper").await;
        let p = row(&view, "paper", "mainnet", "ETHUSDT").expect("paper's ETH position");
        assert_eq!(
            (p["source"].as_str(), p["reconcile"].as_str()),
            (Some("paper"), Some("ok"))
        );
        assert_eq!(p["entry_price"], "3000");
    })
}

/// Chaos with the exchanges' untidy truths switched on (market orders filled in part, orders
/// that rest and fill later, orders lookups see only after a delay, submits whose answers are
/// lost): once every signal has ended and its order been followed, the ledger equals the
/// exchanges' state, order by order (filled quantity, final or not) and position by position
/// (every mainnet position hoox's fills imply is the one the exchange holds: reconciled `ok`).
/// A signal that died in doubt is replayed, as an operator would, and then counts like the rest.
fn the_ledger_equals_the_exchanges_after_chaos(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        go_live(h).await;
        let n: usize = std::env::var("LEDGER_CHAOS_SIGNALS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(60);
        let mut rng = 0x1ed9_e5ea_u64;
        let mut below = |k: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % k
        };
        for (ex, fraction) in [
            (Exchange::Bybit, "0.6"),
            (Exchange::Binance, "0.5"),
            (Exchange::Mexc, "0.5"),
        ] {
            mock()
                .set_switches(
                    ex,
                    Switches {
                        partial_fill: Some(d(fraction)),
                        visible_after_ms: Some(2_000),
                        ..Switches::default()
                    },
                )
                .expect("switches");
        }
        let run = unique("ledger-chaos");
        let mut keys: Vec<String> = Vec::new();
        for wave in 0..n.div_ceil(15) {
            // Each wave: a few orders that rest and fill later, a lost answer or two.
            mock().fill_later(FillLater {
                partial_first: Some(d("0.5")),
                count: 2,
                ..FillLater::after_lookups(Exchange::Bybit, 3)
            });
            mock().fill_later(FillLater {
                after_ms: Some(6_000),
                count: 2,
                ..FillLater::after_lookups(Exchange::Binance, 4)
            });
            mock().fill_later(FillLater {
                count: 2,
                ..FillLater::after_lookups(Exchange::Mexc, 2)
            });
            for _ in 0..2 {
                let ex = [Exchange::Bybit, Exchange::Binance, Exchange::Mexc][below(3) as usize];
                let kind = if below(2) == 0 {
                    FaultKind::Http503Unknown
                } else {
                    FaultKind::ResetAfterAccept
                };
                mock().inject(Fault::new(ex, kind));
            }
            let mut posts = Vec::new();
            for i in wave * 15..((wave + 1) * 15).min(n) {
                let ex = [Exchange::Bybit, Exchange::Binance, Exchange::Mexc][i % 3];
                let (symbol, qty, mark) = if below(2) == 0 {
                    ("BTCUSDT", "0.01", 65_000)
                } else {
                    ("ETHUSDT", "0.2", 3_000)
                };
                let action =
                    ["LONG", "SHORT", "LONG", "CLOSE_LONG", "CLOSE_SHORT"][below(5) as usize];
                let buy = matches!(action, "LONG" | "CLOSE_SHORT");
                // A third are limit orders 2 % through the mark's wrong side: they rest.
                let extra = if below(3) == 0 && !action.starts_with("CLOSE") {
                    let price = if buy {
                        mark * 98 / 100
                    } else {
                        mark * 102 / 100
                    };
                    json!({"symbol": symbol, "quantity": qty, "orderType": "limit", "price": price.to_string()})
                } else {
                    json!({"symbol": symbol, "quantity": qty, "price": mark.to_string()})
                };
                let key = format!("{run}-{i}");
                let body = signal(h, &key, ex, action, extra);
                let copies = if below(5) == 0 { 2 } else { 1 };
                for _ in 0..copies {
                    let body = body.clone();
                    posts.push(async move { h.webhook(&body, &[]).await.status().as_u16() });
                }
                keys.push(key);
            }
            for status in futures::future::join_all(posts).await {
                assert_eq!(status, 202);
            }
        }
        // Every signal ends: an outcome, or a dead letter.
        let pattern = json!(format!("{run}-%"));
        let ended_sql = "SELECT (SELECT COUNT(*) FROM signals WHERE idempotency_key LIKE ?1)
                              + (SELECT COUNT(*) FROM dead_letters WHERE idempotency_key LIKE ?1) AS n";
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let ended = h.sql(ended_sql, std::slice::from_ref(&pattern)).await[0]["n"]
                .as_u64()
                .unwrap_or(0) as usize;
            if ended >= keys.len() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{ended} of {} signals ended\n{}",
                keys.len(),
                h.log_tail(40)
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        // What died in doubt is replayed; the replay looks the order up and records it.
        let dead = h
            .sql(
                "SELECT id, idempotency_key AS k, reason FROM dead_letters
                 WHERE idempotency_key LIKE ?1 AND status = 'pending'",
                std::slice::from_ref(&pattern),
            )
            .await;
        for row in &dead {
            let id = row["id"].as_i64().unwrap_or_default();
            let r = h
                .http
                .post(h.url(&format!("/admin/dlq/{id}/replay")))
                .header("X-Internal-Auth-Key", &h.internal_key)
                .send()
                .await
                .expect("replay");
            assert_eq!(r.status(), 200, "replay of {row}");
        }
        // Order by order, the ledger catches up with the exchanges.
        let mut ours: Vec<(String, String)> = Vec::new();
        for key in &keys {
            if let Some(cid) = h.client_order_id(key).await {
                ours.push((key.clone(), cid));
            }
        }
        let deadline = Instant::now() + Duration::from_secs(240);
        let (placed, rested, partial) = loop {
            let orders = mock().orders();
            let mut behind: Vec<String> = Vec::new();
            let (mut placed, mut rested, mut partial) = (0, 0, 0);
            for (key, cid) in &ours {
                let at: Vec<_> = orders
                    .iter()
                    .filter(|o| &o.client_order_id == cid)
                    .collect();
                assert!(at.len() <= 1, "{key}: {} orders at the exchange", at.len());
                let Some(o) = at.first() else { continue };
                placed += 1;
                let base_filled = if o.quantity.is_zero() {
                    Decimal::ZERO
                } else {
                    o.filled_quantity * o.base_quantity / o.quantity
                };
                if o.state == OrderState::Open {
                    rested += 1;
                }
                if o.state == OrderState::Cancelled && !o.filled_quantity.is_zero() {
                    partial += 1;
                }
                let rows = h
                    .sql(
                        "SELECT * FROM orders WHERE client_order_id = ?",
                        &[json!(cid)],
                    )
                    .await;
                let ledger = rows.first();
                let filled = ledger
                    .and_then(|r| r["filled_quantity"].as_str())
                    .map(d)
                    .unwrap_or(Decimal::MIN);
                let state = ledger
                    .and_then(|r| r["follow_state"].as_str())
                    .unwrap_or("");
                let final_here = o.state != OrderState::Open;
                if filled != base_filled.normalize() || (state == "final") != final_here {
                    behind.push(format!(
                        "{key} ({}): exchange {:?} filled {base_filled}, ledger {state} filled {filled}",
                        o.exchange, o.state
                    ));
                }
            }
            if behind.is_empty() {
                break (placed, rested, partial);
            }
            assert!(
                Instant::now() < deadline,
                "the ledger never caught up with the exchanges:\n{}\n{}",
                behind.join("\n"),
                h.log_tail(40)
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        };
        // Position by position, after the exchanges are read again. A refresh that read the
        // ledger just before a fill was recorded flags a difference until the next one: the
        // cron runs until every row is reconciled. The exchanges' books may still move (a
        // resting order whose fill is due later), so each check reads one snapshot of them, and
        // a ledger behind that snapshot is given time to catch up.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (orders, held) = mock().books();
            let mut behind: Vec<String> = Vec::new();
            for ex in [Exchange::Bybit, Exchange::Binance] {
                for symbol in ["BTCUSDT", "ETHUSDT"] {
                    let orders: Vec<_> = orders
                        .iter()
                        .filter(|o| o.exchange == ex && !o.testnet && o.symbol == symbol)
                        .collect();
                    let from_orders: Decimal = orders
                        .iter()
                        .map(|o| {
                            let base = if o.quantity.is_zero() {
                                Decimal::ZERO
                            } else {
                                o.filled_quantity * o.base_quantity / o.quantity
                            };
                            if o.side == "Buy" {
                                base
                            } else {
                                -base
                            }
                        })
                        .sum();
                    let net: Decimal = held
                        .iter()
                        .filter(|p| p.exchange == ex && !p.testnet && p.symbol == symbol)
                        .map(|p| if p.side == "long" { p.size } else { -p.size })
                        .sum();
                    let table: Vec<String> = orders
                        .iter()
                        .map(|o| {
                            format!(
                                "{} {} ro={} {:?} qty {} filled {} at {}",
                                o.client_order_id,
                                o.side,
                                o.reduce_only,
                                o.state,
                                o.quantity,
                                o.filled_quantity,
                                o.accepted_at_ms
                            )
                        })
                        .collect();
                    // The exchanges' own books add up: each one-way account's net position is
                    // the sum of what its orders filled (a mock whose orders and positions
                    // disagree would pass its disagreement on to the reconcile).
                    assert_eq!(
                        from_orders.normalize(),
                        net.normalize(),
                        "{ex} {symbol}: the exchange's orders do not add up to its position:\n{}",
                        table.join("\n")
                    );
                    // And the ledger's orders add up to the same.
                    let rows = h
                        .sql(
                            "SELECT o.client_order_id AS cid, o.side, o.filled_quantity AS f, o.status, \
                             s.action, o.idempotency_key AS k FROM orders o LEFT JOIN signals s \
                             ON s.idempotency_key = o.idempotency_key \
                             WHERE o.venue_exchange = ?1 AND o.network = 'mainnet' AND o.symbol = ?2",
                            &[json!(ex.as_str()), json!(symbol)],
                        )
                        .await;
                    let ledger: Decimal = rows
                        .iter()
                        .map(|r| {
                            let f = r["f"].as_str().map(d).unwrap_or_default();
                            let buy = r["side"]
                                .as_str()
                                .is_some_and(|s| s.eq_ignore_ascii_case("buy"));
                            if buy {
                                f
                            } else {
                                -f
                            }
                        })
                        .sum();
                    if ledger.normalize() != net.normalize() {
                        behind.push(format!(
                            "{ex} {symbol}: the ledger's orders ({ledger}) do not add up to the exchange's position ({net}):\nledger: {rows:#?}\nexchange:\n{}",
                            table.join("\n")
                        ));
                    }
                }
            }
            if behind.is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "{}", behind.join("\n"));
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let view = refresh_until(
            h,
            "?network=mainnet",
            "the exchanges' positions, reconciled",
            |v| {
                let reconciled = v["positions"].as_array().is_some_and(|rows| {
                    rows.iter()
                        .filter(|r| r["source"] == "exchange")
                        .all(|r| r["reconcile"] == "ok")
                });
                reconciled
                    && mock()
                        .held_positions()
                        .iter()
                        .filter(|p| !p.testnet)
                        .all(|p| {
                            v["positions"].as_array().is_some_and(|rows| {
                                rows.iter().any(|r| {
                                    r["exchange"] == p.exchange.as_str()
                                        && r["network"] == "mainnet"
                                        && r["symbol"] == p.symbol
                                        && r["side"] == p.side
                                        && r["size"].as_str().map(d) == Some(p.size)
                                })
                            })
                        })
            },
        )
        .await;
        let rows = view["positions"].as_array().cloned().unwrap_or_default();
        for r in &rows {
            if r["source"] != "exchange" {
                continue;
            }
            if r["reconcile"] != "ok" {
                let ex = r["exchange"].as_str().unwrap_or("");
                let ledger = h
                    .sql(
                        "SELECT idempotency_key, side, status, quantity, filled_quantity, average_price, \
                         follow_state FROM orders WHERE venue_exchange = ?1 AND network = 'mainnet'",
                        &[json!(ex)],
                    )
                    .await;
                let at: Vec<_> = mock()
                    .orders()
                    .into_iter()
                    .filter(|o| o.exchange.as_str() == ex && !o.testnet)
                    .map(|o| {
                        format!(
                            "{} {} {} {:?} ro={} qty {} filled {}",
                            o.client_order_id,
                            o.symbol,
                            o.side,
                            o.state,
                            o.reduce_only,
                            o.quantity,
                            o.filled_quantity
                        )
                    })
                    .collect();
                panic!(
                    "hoox's fills and the exchange disagree: {r}\nledger: {ledger:#?}\nexchange: {at:#?}"
                );
            }
        }
        let exchange_rows = rows.iter().filter(|r| r["source"] == "exchange").count();
        let held_mainnet = mock()
            .held_positions()
            .iter()
            .filter(|p| !p.testnet)
            .count();
        assert_eq!(exchange_rows, held_mainnet, "{view:#}");
        let filled = h
            .sql(
                "SELECT COUNT(*) AS n FROM signals WHERE idempotency_key LIKE ?1 AND outcome = 'filled'",
                std::slice::from_ref(&pattern),
            )
            .await[0]["n"]
            .as_u64()
            .unwrap_or(0);
        println!(
            "    ledger chaos: {} signals, {} orders at the exchanges ({rested} resting, {partial} \
             partly filled then cancelled), {filled} filled outcomes, {} dead letters replayed, \
             {held_mainnet} mainnet positions reconciled",
            keys.len(),
            placed,
            dead.len()
        );
        for ex in [Exchange::Bybit, Exchange::Binance, Exchange::Mexc] {
            mock()
                .set_switches(ex, Switches::default())
                .expect("switches");
            mock().clear_faults(ex);
        }
    })
}

fn main() {
    let args = integration::suite_args();
    let mock_rt = tokio::runtime::Runtime::new().expect("runtime");
    let mock = mock_rt
        .block_on(MockExchanges::start(MockCredentials::default()))
        .expect("mock exchanges");
    let telegram = MockTelegram::start(&dev_var("TG_BOT_TOKEN_BINDING"));
    let mut vars: Vec<(String, String)> = vec![
        ("WEBHOOK_RATE_LIMIT".into(), "100000/s".into()),
        ("TELEGRAM_API_BASE".into(), telegram.base()),
    ];
    vars.extend(integration::mock_exchange_vars(&mock));
    let _ = MOCK.set(mock);
    let _ = TELEGRAM.set(telegram);
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let hoox = || Hoox::start_with(&vars);
    // In this order: the close needs the first scenario's position.
    let scenarios: Vec<(&str, Scenario)> = vec![
        (
            "a_limit_order_that_fills_later_is_followed",
            a_limit_order_that_fills_later_is_followed,
        ),
        (
            "closing_realises_pnl_less_fees",
            closing_realises_pnl_less_fees,
        ),
        (
            "a_position_opened_elsewhere_is_flagged",
            a_position_opened_elsewhere_is_flagged,
        ),
        (
            "an_ack_whose_fill_shows_later_is_followed",
            an_ack_whose_fill_shows_later_is_followed,
        ),
        (
            "paper_positions_come_from_its_fills",
            paper_positions_come_from_its_fills,
        ),
        (
            "the_ledger_equals_the_exchanges_after_chaos",
            the_ledger_equals_the_exchanges_after_chaos,
        ),
    ];
    let conclusion = run_suite(&args, hoox, &scenarios, 120);
    drop(mock_rt);
    integration::suite::exit(&[conclusion]);
}
