//! The risk manager (issue 15), end to end on the local Workers runtime against the mock
//! exchanges and the mock Telegram: a position is opened through the webhook, the test moves the
//! mock's mark price, the agent-worker's scheduled handler runs (wrangler's local trigger) or an
//! operator asks for a run, and the close order at the mock exchange, the ledger, the alert and
//! the audit entry are asserted — for each rule and protection, for pauses, flatten, and the
//! state that follows a position.

use contracts::signal::Exchange;
use integration::mock_exchange::{MockCredentials, MockExchanges};
use integration::mock_telegram::MockTelegram;
use integration::{dev_var, run_suite, unique, Hoox, Scenario};
use reqwest::Method;
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
const CHAT: i64 = 616_161;
const WAIT: Duration = Duration::from_secs(45);
const AGENT: &str = "agent-worker";

fn mock() -> &'static MockExchanges {
    MOCK.get().expect("mock exchanges started in main")
}

fn tg() -> &'static MockTelegram {
    TELEGRAM.get().expect("mock telegram started in main")
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_else(|_| panic!("{s}"))
}

/// Live trading against the mocks; the previous scenario's rules, pauses and positions gone.
async fn fresh(h: &Hoox) {
    mock().reset();
    tg().clear();
    h.delete_kv_prefix("risk:").await;
    h.put_kv("trade:entries_paused", "[]").await;
    h.set_config("trade:mode", "live").await;
    h.set_config("trade:max_signal_age_seconds", "0").await;
    h.set_config("trade:max_order_notional", "20000").await;
    h.set_config("telegram:allowed_chat_ids", &format!("[{CHAT}]"))
        .await;
    h.config_visible().await;
    // The agent forgets positions it no longer sees (the mock was reset).
    run(h).await;
}

/// Opens a position through the webhook and waits for its fill.
async fn open(h: &Hoox, exchange: Exchange, action: &str, symbol: &str, qty: &str, test: bool) {
    let key = unique("open");
    let price = mock().price(exchange, symbol).expect("listed");
    let r = h
        .webhook(
            &json!({
                "apiKey": h.api_key,
                "exchange": exchange.as_str(),
                "action": action,
                "symbol": symbol,
                "quantity": qty,
                "price": price.to_string(),
                "orderType": "market",
                "test": test,
                "idempotencyKey": key,
            }),
            &[],
        )
        .await;
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    wait_filled(h, &key).await;
}

async fn wait_filled(h: &Hoox, key_like: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let rows = h
            .sql(
                "SELECT * FROM orders WHERE idempotency_key LIKE ? ORDER BY created_at_ms",
                &[json!(key_like)],
            )
            .await;
        if let Some(r) = rows.into_iter().find(|r| {
            r["status"]
                .as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case("filled"))
        }) {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "no filled order for {key_like}; orders like it: {:?}; signals: {:?}; dead letters: {:?}",
            orders_like(h, key_like).await,
            h.sql("SELECT idempotency_key, outcome, detail FROM signals WHERE idempotency_key LIKE ?", &[json!(key_like)]).await,
            h.sql("SELECT idempotency_key, reason, detail FROM dead_letters WHERE idempotency_key LIKE ?", &[json!(key_like)]).await,
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn orders_like(h: &Hoox, key_like: &str) -> Vec<Value> {
    h.sql(
        "SELECT * FROM orders WHERE idempotency_key LIKE ?",
        &[json!(key_like)],
    )
    .await
}

/// One evaluation through the operator route; its summary.
async fn run(h: &Hoox) -> Value {
    let (status, v) = h
        .admin(Method::POST, "/admin/agent/run", Some(&json!({})))
        .await;
    assert_eq!(status, 200, "agent run: {v}\n{}", h.log_tail(60));
    v
}

fn closes(summary: &Value) -> Vec<String> {
    summary["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["action"] == "close")
        .map(|a| a["key"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// `exchange symbol` of each pause in a run's summary whose reason mentions `why`.
fn paused_pairs(summary: &Value, why: &str) -> Vec<String> {
    summary["paused"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["reason"].as_str().is_some_and(|r| r.contains(why)))
        .map(|p| {
            format!(
                "{} {}",
                p["exchange"].as_str().unwrap_or(""),
                p["symbol"].as_str().unwrap_or("")
            )
        })
        .collect()
}

fn note_kinds(summary: &Value) -> Vec<String> {
    summary["notes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| n["kind"].as_str().unwrap_or("").to_owned())
        .collect()
}

async fn alert_containing(h: &Hoox, needle: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(m) = tg()
            .messages_to(CHAT)
            .into_iter()
            .find(|m| m.text.contains(needle))
        {
            return m.text;
        }
        assert!(
            Instant::now() < deadline,
            "no alert containing {needle:?}; sent: {:?}\n{}",
            tg().messages_to(CHAT)
                .iter()
                .map(|m| &m.text)
                .collect::<Vec<_>>(),
            h.log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn audit(h: &Hoox, action: &str) -> Vec<Value> {
    h.sql(
        "SELECT * FROM audit_log WHERE action = ? ORDER BY id",
        &[json!(action)],
    )
    .await
}

async fn set_mark(exchange: Exchange, symbol: &str, price: &str) {
    mock()
        .set_price(exchange, symbol, d(price))
        .unwrap_or_else(|e| panic!("{e}"));
}

/// An operator's override that must succeed; its answer.
async fn override_ok(h: &Hoox, body: Value) -> Value {
    let (s, v) = h
        .admin(Method::POST, "/admin/agent/risk-override", Some(&body))
        .await;
    assert_eq!(s, 200, "{body} → {v}");
    v
}

async fn status(h: &Hoox) -> Value {
    let (s, v) = h.admin(Method::GET, "/admin/agent/status", None).await;
    assert_eq!(s, 200, "{v}");
    v
}

fn an_exchange_side_stop_protects_between_evaluations(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        fresh(h).await;
        h.put_kv("risk:stop_loss_pct", "2").await;
        h.config_visible().await;
        open(h, Exchange::Bybit, "LONG", "BTCUSDT", "0.01", false).await;
        // The scheduled handler, as the platform's cron runs it: it places the stop on Bybit.
        h.trigger_cron(AGENT).await;
        let stops = mock().server_stops();
        assert_eq!(stops.len(), 1, "{stops:?}");
        assert_eq!(stops[0].stop_loss, Some(d("63700")), "2 % under the entry");
        alert_containing(h, "Exchange-side protection of bybit:mainnet:BTCUSDT:long").await;
        assert!(
            orders_like(h, "risk:%").await.is_empty(),
            "no close without a breach"
        );
        // The mark crosses it: the exchange closes the position, no evaluation needed.
        set_mark(Exchange::Bybit, "BTCUSDT", "63600").await;
        assert!(
            mock().held_positions().is_empty(),
            "the exchange's stop closed it: {:?}",
            mock().held_positions()
        );
        // The next evaluation clears its state and counts the exit as a stop-out.
        h.trigger_cron(AGENT).await;
        let st = status(h).await;
        assert_eq!(st["positions"].as_array().map(Vec::len), Some(0), "{st}");
        let exits = st["exits"].as_array().cloned().unwrap_or_default();
        assert!(
            exits.iter().any(|e| e["key"]
                .as_str()
                .is_some_and(|k| k.starts_with("gone:bybit:mainnet:BTCUSDT:long:"))
                && e["stop_out"] == 1),
            "{exits:?}"
        );
        assert!(
            orders_like(h, "risk:%").await.is_empty(),
            "the agent sent nothing"
        );
    })
}

fn the_agent_closes_a_stop_loss_once_with_an_alert_and_an_audit_entry(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        // MEXC documents no stop for an open position: the minute's evaluation closes it.
        h.put_kv("risk:stop_loss_pct", "2").await;
        h.config_visible().await;
        open(h, Exchange::Mexc, "LONG", "BTCUSDT", "0.01", false).await;
        h.trigger_cron(AGENT).await;
        assert!(
            orders_like(h, "risk:%").await.is_empty(),
            "no close without a breach"
        );
        set_mark(Exchange::Mexc, "BTCUSDT", "63600").await; // −2.15 %
        h.trigger_cron(AGENT).await;
        // The same minute evaluated again while the close is in flight or done.
        h.trigger_cron(AGENT).await;
        let close = wait_filled(h, "risk:sl:mexc:mainnet:BTCUSDT:long:%").await;
        assert_eq!(
            d(close["filled_quantity"].as_str().unwrap_or("0")),
            d("0.01")
        );
        assert_eq!(orders_like(h, "risk:sl:%").await.len(), 1, "closed once");
        assert!(
            mock().held_positions().is_empty(),
            "the position is closed at the exchange: {:?}",
            mock().held_positions()
        );
        let text = alert_containing(h, "stop-loss").await;
        assert!(text.contains("mexc:mainnet:BTCUSDT:long"), "{text}");
        let entries = audit(h, "risk_close").await;
        assert_eq!(
            entries.len(),
            1,
            "one audit entry for one close: {entries:?}"
        );
        assert_eq!(entries[0]["actor"], AGENT);
        h.trigger_cron(AGENT).await;
        let st = status(h).await;
        assert_eq!(st["positions"].as_array().map(Vec::len), Some(0), "{st}");
        let exits = st["exits"].as_array().cloned().unwrap_or_default();
        assert!(
            exits.iter().any(|e| e["key"]
                .as_str()
                .is_some_and(|k| k.starts_with("risk:sl:mexc:"))
                && e["stop_out"] == 1),
            "{exits:?}"
        );
    })
}

fn stoploss_guard_and_cooldown_pause_entries_after_the_stop_out(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        // Follows the two stop-loss scenarios: their stop-outs (the exchange's, the agent's)
        // are the two this guard counts.
        h.delete_kv_prefix("risk:").await;
        h.put_kv("risk:cooldown_minutes", "15").await;
        h.config_visible().await;
        // Cooldown first: each exited pair, alone.
        let s = run(h).await;
        let cooldowns = paused_pairs(&s, "cooldown");
        assert!(cooldowns.contains(&"bybit BTCUSDT".to_owned()), "{s}");
        assert!(cooldowns.contains(&"mexc BTCUSDT".to_owned()), "{s}");
        assert_eq!(cooldowns.len(), 2, "{s}");
        h.put_kv(
            "risk:stoploss_guard",
            r#"{"stop_outs": 2, "window_minutes": 60, "pause_minutes": 30}"#,
        )
        .await;
        h.config_visible().await;
        let s = run(h).await;
        let paused = s["paused"].as_array().cloned().unwrap_or_default();
        let guard = paused
            .iter()
            .find(|p| {
                p["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("StoplossGuard"))
            })
            .unwrap_or_else(|| panic!("StoplossGuard pause: {s}"));
        assert_eq!(guard["network"], "mainnet");
        assert!(guard.get("exchange").is_none(), "network-wide: {guard}");
        let cooldowns = paused_pairs(&s, "cooldown");
        assert!(cooldowns.contains(&"bybit BTCUSDT".to_owned()), "{s}");
        assert!(cooldowns.contains(&"mexc BTCUSDT".to_owned()), "{s}");
        // The trade-worker refuses an entry the pause covers, as a dead letter of its own (once
        // its config cache has the agent's write).
        h.config_written();
        h.config_visible().await;
        let key = unique("paused-entry");
        let r = h
            .webhook(
                &json!({"apiKey": h.api_key, "exchange": "binance", "action": "LONG",
                    "symbol": "ETHUSDT", "quantity": "0.1", "price": "3000", "orderType": "market",
                    "idempotencyKey": key}),
                &[],
            )
            .await;
        assert_eq!(r.status(), 202);
        let deadline = Instant::now() + WAIT;
        loop {
            let dead = h
                .sql(
                    "SELECT reason, detail FROM dead_letters WHERE idempotency_key = ?",
                    &[json!(key)],
                )
                .await;
            if let Some(d) = dead.first() {
                assert_eq!(d["reason"], "entries_paused", "{d}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no dead letter for the paused entry; signal: {:?}; orders: {:?}; paused: {}\n{}",
                h.sql(
                    "SELECT * FROM signals WHERE idempotency_key = ?",
                    &[json!(key)]
                )
                .await,
                orders_like(h, &key).await,
                status(h).await["paused"],
                h.log_tail(30)
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert!(
            orders_like(h, &key).await.is_empty(),
            "nothing reached the exchange"
        );
        alert_containing(h, "Entries paused").await;
        assert!(!audit(h, "risk_pause").await.is_empty());
        // Evaluated again: already in force, not added twice.
        let again = run(h).await;
        assert_eq!(
            again["paused"].as_array().map(Vec::len),
            Some(paused.len()),
            "{again}"
        );
    })
}

fn a_trailing_stop_arms_at_its_activation_and_closes_on_the_pullback(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        // On MEXC, which documents no trailing stop: the minute's evaluation trails.
        fresh(h).await;
        h.put_kv(
            "risk:trailing",
            r#"{"distance_pct": 1, "activation_pct": 2}"#,
        )
        .await;
        h.config_visible().await;
        open(h, Exchange::Mexc, "LONG", "BTCUSDT", "0.01", false).await;
        set_mark(Exchange::Mexc, "BTCUSDT", "65650").await; // +1 %: not armed
        let s = run(h).await;
        assert!(!note_kinds(&s).contains(&"trail_armed".to_owned()), "{s}");
        // A 1 % fall before activation closes nothing.
        set_mark(Exchange::Mexc, "BTCUSDT", "64990").await;
        assert!(closes(&run(h).await).is_empty());
        set_mark(Exchange::Mexc, "BTCUSDT", "66400").await; // +2.15 %: armed
        let s = run(h).await;
        assert!(note_kinds(&s).contains(&"trail_armed".to_owned()), "{s}");
        set_mark(Exchange::Mexc, "BTCUSDT", "67000").await;
        let s = run(h).await;
        assert!(note_kinds(&s).contains(&"trail_moved".to_owned()), "{s}");
        set_mark(Exchange::Mexc, "BTCUSDT", "66400").await; // −0.9 % from 67000
        assert!(closes(&run(h).await).is_empty());
        set_mark(Exchange::Mexc, "BTCUSDT", "66300").await; // −1.04 %
        let s = run(h).await;
        assert_eq!(closes(&s).len(), 1, "{s}");
        wait_filled(h, "risk:trail:mexc:mainnet:BTCUSDT:long:%").await;
        alert_containing(h, "trailing stop").await;
        alert_containing(h, "trailing stop armed").await;
        assert!(!audit(h, "risk_stop_moved").await.is_empty());
    })
}

fn each_ladder_target_closes_its_share_and_the_stop_moves_to_breakeven(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        fresh(h).await;
        h.put_kv(
            "risk:take_profit_ladder",
            r#"{"targets": [{"profit_pct": 1, "share_pct": 50}, {"profit_pct": 2, "share_pct": 50}], "breakeven_after_first": true}"#,
        )
        .await;
        h.config_visible().await;
        open(h, Exchange::Mexc, "SHORT", "ETHUSDT", "0.2", false).await;
        set_mark(Exchange::Mexc, "ETHUSDT", "2965").await; // short +1.17 %
        let s = run(h).await;
        assert_eq!(closes(&s).len(), 1, "{s}");
        let tp1 = wait_filled(h, "risk:tp1:mexc:mainnet:ETHUSDT:short:%").await;
        assert_eq!(d(tp1["filled_quantity"].as_str().unwrap_or("0")), d("0.1"));
        assert!(note_kinds(&s).contains(&"breakeven_set".to_owned()), "{s}");
        // The same minute again: tp1 is taken, nothing more.
        assert!(closes(&run(h).await).is_empty());
        assert_eq!(orders_like(h, "risk:tp1:%").await.len(), 1);
        set_mark(Exchange::Mexc, "ETHUSDT", "2935").await; // +2.17 %
        let s = run(h).await;
        assert_eq!(closes(&s).len(), 1, "{s}");
        let tp2 = wait_filled(h, "risk:tp2:mexc:mainnet:ETHUSDT:short:%").await;
        assert_eq!(d(tp2["filled_quantity"].as_str().unwrap_or("0")), d("0.1"));
        alert_containing(h, "take-profit 1/2").await;
        alert_containing(h, "take-profit 2/2").await;

        // Breakeven: a new position takes tp1, then the price comes back to the entry.
        run(h).await;
        open(h, Exchange::Mexc, "SHORT", "ETHUSDT", "0.2", false).await;
        let entry = mock().price(Exchange::Mexc, "ETHUSDT").expect("listed");
        set_mark(
            Exchange::Mexc,
            "ETHUSDT",
            &(entry * d("0.988")).round_dp(2).to_string(),
        )
        .await;
        let s = run(h).await;
        assert_eq!(
            closes(&s).len(),
            1,
            "tp1 of the new position (nothing inherited): {s}"
        );
        set_mark(
            Exchange::Mexc,
            "ETHUSDT",
            &(entry * d("1.001")).round_dp(2).to_string(),
        )
        .await;
        let s = run(h).await;
        assert_eq!(closes(&s).len(), 1, "{s}");
        // A reduce-only close of everything: MEXC fills what is open (its remainder cancelled).
        let deadline = Instant::now() + WAIT;
        loop {
            let filled = orders_like(h, "risk:be:mexc:mainnet:ETHUSDT:short:%")
                .await
                .iter()
                .any(|o| {
                    o["filled_quantity"]
                        .as_str()
                        .is_some_and(|q| !d(q).is_zero())
                });
            if filled && mock().held_positions().is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the breakeven close never closed it: {:?}",
                mock().held_positions()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        alert_containing(h, "breakeven stop").await;
    })
}

fn the_roi_table_closes_after_its_minutes(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        fresh(h).await;
        h.put_kv(
            "risk:roi_table",
            r#"[{"after_minutes": 0, "profit_pct": 5}, {"after_minutes": 1, "profit_pct": 0.5}]"#,
        )
        .await;
        h.config_visible().await;
        open(h, Exchange::Mexc, "LONG", "ETHUSDT", "0.1", false).await;
        set_mark(Exchange::Mexc, "ETHUSDT", "3030").await; // +1 %: below 5 % in the first minute
        assert!(closes(&run(h).await).is_empty());
        tokio::time::sleep(Duration::from_secs(61)).await;
        let s = run(h).await;
        assert_eq!(closes(&s).len(), 1, "after a minute 0.5 % is enough: {s}");
        wait_filled(h, "risk:roi1:mexc:mainnet:ETHUSDT:long:%").await;
        alert_containing(h, "ROI table").await;
    })
}

fn a_daily_loss_pauses_the_network_and_flattens_it(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        fresh(h).await;
        open(h, Exchange::Bybit, "LONG", "BTCUSDT", "0.1", true).await;
        // Re-base the protections at the equity of now (the day's snapshot is older).
        let v = override_ok(
            h,
            json!({"action": "resume", "network": "testnet", "reason": "test baseline"}),
        )
        .await;
        assert!(v["rebased_equity"].is_string(), "{v}");
        h.put_kv("risk:max_daily_loss_pct", "0.1").await;
        h.put_kv("risk:flatten_on_breach", "true").await;
        h.config_visible().await;
        assert!(closes(&run(h).await).is_empty());
        set_mark(Exchange::Bybit, "BTCUSDT", "62800").await; // 0.1 × 2200 = 220 USDT down
        let s = run(h).await;
        let paused = s["paused"].as_array().cloned().unwrap_or_default();
        assert!(
            paused.iter().any(|p| p["network"] == "testnet"
                && p["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("max daily loss"))),
            "{s}"
        );
        assert!(
            !paused.iter().any(|p| p["network"] == "mainnet"),
            "mainnet is judged on its own: {s}"
        );
        assert_eq!(closes(&s).len(), 1, "flattened: {s}");
        wait_filled(h, "risk:flatten:bybit:testnet:BTCUSDT:long:%").await;
        alert_containing(h, "Flattening every position on testnet").await;
        alert_containing(h, "max daily loss").await;
        assert!(!audit(h, "risk_flatten").await.is_empty());
        // What a breach says, for whoever reads the run's output.
        for m in tg().messages_to(CHAT) {
            println!("alert:\n{}", m.text);
        }
    })
}

fn a_drawdown_from_the_peak_pauses_until_resumed(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        fresh(h).await;
        open(h, Exchange::Binance, "SHORT", "BTCUSDT", "0.1", false).await;
        override_ok(
            h,
            json!({"action": "resume", "network": "mainnet", "reason": "test baseline"}),
        )
        .await;
        h.put_kv("risk:max_drawdown_pct", "0.05").await;
        h.config_visible().await;
        // Up first: the peak rises with the equity.
        set_mark(Exchange::Binance, "BTCUSDT", "64000").await;
        assert!(run(h).await["paused"].as_array().is_some_and(Vec::is_empty));
        set_mark(Exchange::Binance, "BTCUSDT", "66000").await; // 200 USDT off the peak of 300 000
        let s = run(h).await;
        let p = s["paused"]
            .as_array()
            .and_then(|a| {
                a.iter()
                    .find(|p| p["reason"].as_str().is_some_and(|r| r.contains("drawdown")))
                    .cloned()
            })
            .unwrap_or_else(|| panic!("{s}"));
        assert!(p.get("until_ms").is_none(), "until resumed: {p}");
        assert!(closes(&s).is_empty(), "no flatten unless asked");
        // The operator resumes: the protection is re-based, not tripped again at once.
        let v = override_ok(
            h,
            json!({"action": "resume", "network": "mainnet", "reason": "reviewed"}),
        )
        .await;
        assert!(!v["lifted"].as_array().is_none_or(Vec::is_empty), "{v}");
        let s = run(h).await;
        assert!(s["paused"].as_array().is_some_and(Vec::is_empty), "{s}");
        alert_containing(h, "Entries resumed").await;
        assert!(!audit(h, "risk_resume").await.is_empty());
    })
}

fn an_operator_flattens_a_network_and_bad_overrides_are_refused(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        fresh(h).await;
        open(h, Exchange::Bybit, "LONG", "ETHUSDT", "0.1", false).await;
        open(h, Exchange::Binance, "SHORT", "ETHUSDT", "0.1", false).await;
        open(h, Exchange::Bybit, "LONG", "ETHUSDT", "0.1", true).await;
        for (body, field) in [
            (
                json!({"action": "flatten", "network": "moon", "reason": "x y z"}),
                "network",
            ),
            (
                json!({"action": "flatten", "network": "mainnet", "reason": ""}),
                "reason",
            ),
            (
                json!({"action": "pause", "network": "mainnet", "symbol": "BTCUSDT", "reason": "abc"}),
                "exchange",
            ),
            (
                json!({"action": "pause", "network": "mainnet", "minutes": 0, "reason": "abc"}),
                "minutes",
            ),
        ] {
            let (s, v) = h
                .admin(Method::POST, "/admin/agent/risk-override", Some(&body))
                .await;
            assert_eq!(s, 400, "{body} → {v}");
            assert_eq!(v["error"]["field"], field, "{v}");
        }
        let (s, v) = h
            .admin(
                Method::POST,
                "/admin/agent/risk-override",
                Some(&json!({"action": "nuke", "network": "mainnet", "reason": "abc"})),
            )
            .await;
        assert_eq!(s, 400, "{v}");
        let (s, v) = h
            .admin(Method::GET, "/admin/agent/risk-override", None)
            .await;
        assert_eq!(s, 405, "{v}");

        let testnet_before = orders_like(h, "risk:flatten:bybit:testnet:%").await;
        let v = override_ok(
            h,
            json!({"action": "flatten", "network": "mainnet", "reason": "end of day"}),
        )
        .await;
        assert_eq!(v["closes"].as_array().map(Vec::len), Some(2), "{v}");
        wait_filled(h, "risk:flatten:bybit:mainnet:ETHUSDT:long:%").await;
        wait_filled(h, "risk:flatten:binance:mainnet:ETHUSDT:short:%").await;
        let testnet_after = orders_like(h, "risk:flatten:bybit:testnet:%").await;
        assert_eq!(
            testnet_after.len(),
            testnet_before.len(),
            "testnet is not mainnet: before {testnet_before:?} after {testnet_after:?}"
        );
        assert_eq!(
            mock().held_positions().iter().filter(|p| p.testnet).count(),
            1,
            "the testnet position is still open: {:?}",
            mock().held_positions()
        );
        alert_containing(h, "Flatten by").await;
    })
}

fn a_close_that_dead_letters_is_alerted_and_sent_again(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        fresh(h).await;
        h.put_kv("risk:stop_loss_pct", "2").await;
        h.config_visible().await;
        open(h, Exchange::Mexc, "SHORT", "ETHUSDT", "0.1", false).await;
        // The kill switch stops every submission, the agent's closes too: its close dead-letters.
        h.set_config("trade:kill_switch", "true").await;
        h.config_visible().await;
        set_mark(Exchange::Mexc, "ETHUSDT", "3070").await; // a short 2.33 % down
        let s = run(h).await;
        assert_eq!(closes(&s).len(), 1, "{s}");
        let key = closes(&s).remove(0);
        let deadline = Instant::now() + WAIT;
        while h
            .sql(
                "SELECT 1 FROM dead_letters WHERE idempotency_key = ?",
                &[json!(key)],
            )
            .await
            .is_empty()
        {
            assert!(
                Instant::now() < deadline,
                "{key} never dead-lettered\n{}",
                h.log_tail(30)
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        h.set_config("trade:kill_switch", "false").await;
        h.config_visible().await;
        // The next evaluation sends it again under its next key, and says so.
        let s = run(h).await;
        assert_eq!(closes(&s), vec![format!("{key}~1")], "{s}");
        wait_filled(h, &format!("{key}~1")).await;
        assert!(
            mock().held_positions().is_empty(),
            "{:?}",
            mock().held_positions()
        );
        alert_containing(h, "sent again: the earlier order dead-lettered").await;
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
    // In this order: the guard and cooldown count the two stop-loss scenarios' stop-outs.
    let scenarios: Vec<(&str, Scenario)> = vec![
        (
            "an_exchange_side_stop_protects_between_evaluations",
            an_exchange_side_stop_protects_between_evaluations,
        ),
        (
            "the_agent_closes_a_stop_loss_once_with_an_alert_and_an_audit_entry",
            the_agent_closes_a_stop_loss_once_with_an_alert_and_an_audit_entry,
        ),
        (
            "stoploss_guard_and_cooldown_pause_entries_after_the_stop_out",
            stoploss_guard_and_cooldown_pause_entries_after_the_stop_out,
        ),
        (
            "a_trailing_stop_arms_at_its_activation_and_closes_on_the_pullback",
            a_trailing_stop_arms_at_its_activation_and_closes_on_the_pullback,
        ),
        (
            "each_ladder_target_closes_its_share_and_the_stop_moves_to_breakeven",
            each_ladder_target_closes_its_share_and_the_stop_moves_to_breakeven,
        ),
        (
            "the_roi_table_closes_after_its_minutes",
            the_roi_table_closes_after_its_minutes,
        ),
        (
            "a_daily_loss_pauses_the_network_and_flattens_it",
            a_daily_loss_pauses_the_network_and_flattens_it,
        ),
        (
            "a_drawdown_from_the_peak_pauses_until_resumed",
            a_drawdown_from_the_peak_pauses_until_resumed,
        ),
        (
            "an_operator_flattens_a_network_and_bad_overrides_are_refused",
            an_operator_flattens_a_network_and_bad_overrides_are_refused,
        ),
        (
            "a_close_that_dead_letters_is_alerted_and_sent_again",
            a_close_that_dead_letters_is_alerted_and_sent_again,
        ),
    ];
    let conclusion = run_suite(&args, hoox, &scenarios, 180);
    drop(mock_rt);
    integration::suite::exit(&[conclusion]);
}
