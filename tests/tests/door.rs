//! The trade-worker's internal door on the local Workers runtime, against the mock exchanges:
//! `POST /signals` (the gateway's contract and intake: one order per key, the answer replayed, a
//! reused key refused), `POST /quote` (sizes at the mark price the test sets on the mock, rounded
//! down to the instrument's lot, refused below its minimums), `trade:entries_paused` (an opening
//! signal becomes an `entries_paused` dead letter while a close on the same pair executes, and
//! the dead letter replays once the pause is lifted), and the `risk:*` bounds at the config API.
//!
//! The routes are reached as a worker holding `TRADE_SERVICE` reaches them, through the test
//! fixture's `/__fixture/trade/*` binding.

use contracts::idempotency::Lifecycle;
use contracts::signal::Exchange;
use integration::mock_exchange::{MockCredentials, MockExchanges};
use integration::{run_suite, unique, Hoox, Scenario};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

type Fut<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

static MOCK: OnceLock<MockExchanges> = OnceLock::new();

fn mock() -> &'static MockExchanges {
    MOCK.get().expect("mock exchanges started in main")
}

fn d(s: &str) -> Decimal {
    s.parse().expect("decimal")
}

/// A call to the trade-worker's `path`, with the internal key unless `key` says otherwise.
async fn door(
    h: &Hoox,
    path: &str,
    body: &Value,
    key: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, Option<String>, Value) {
    let mut req = h
        .http
        .post(h.url(&format!("/__fixture/trade{path}")))
        .json(body);
    if let Some(k) = key {
        req = req.header("X-Internal-Auth-Key", k);
    }
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let r = req.send().await.expect("trade-worker request");
    let status = r.status().as_u16();
    let replayed = r
        .headers()
        .get("Idempotent-Replayed")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = r.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, replayed, body)
}

async fn signals(h: &Hoox, body: &Value) -> (u16, Option<String>, Value) {
    door(h, "/signals", body, Some(&h.internal_key), &[]).await
}

async fn quote(h: &Hoox, body: &Value) -> (u16, Value) {
    let (s, _, b) = door(h, "/quote", body, Some(&h.internal_key), &[]).await;
    (s, b)
}

fn market(key: &str, exchange: Exchange, symbol: &str, action: &str, quantity: &str) -> Value {
    json!({
        "exchange": exchange.as_str(),
        "action": action,
        "symbol": symbol,
        "quantity": quantity,
        "orderType": "market",
        "idempotencyKey": key,
    })
}

/// Orders the mock accepted under `key`'s client order id.
async fn orders_for(h: &Hoox, key: &str) -> usize {
    let Some(id) = h.client_order_id(key).await else {
        return 0;
    };
    mock()
        .orders()
        .iter()
        .filter(|o| o.client_order_id == id)
        .count()
}

/// Waits until the mock holds an order for `key`; returns how many.
async fn wait_order_at_mock(h: &Hoox, key: &str) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = orders_for(h, key).await;
        if n > 0 {
            return n;
        }
        assert!(
            Instant::now() < deadline,
            "no order at the mock for {key}:\n{}",
            h.log_tail(60)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Waits for `key`'s dead letter row.
async fn wait_dead_letter(h: &Hoox, key: &str) -> Value {
    let rows = h
        .wait_rows(
            "SELECT id, reason, detail, status FROM dead_letters WHERE idempotency_key = ?1",
            &[json!(key)],
            1,
            Duration::from_secs(60),
        )
        .await;
    rows[0].clone()
}

/// Live trading against the mocks, no staleness check, room for the quotes' notionals.
async fn go_live(h: &Hoox) {
    h.set_config("trade:mode", "live").await;
    h.set_config(
        "retry:policy",
        r#"{"initial_seconds":1,"multiplier":1.5,"max_delay_seconds":4,"jitter":0.2}"#,
    )
    .await;
    h.set_config("trade:max_signal_age_seconds", "0").await;
    h.set_config("trade:max_order_notional", "100000").await;
    h.config_visible().await;
}

/// Every route of the door needs the internal key; `/health` does not.
fn the_door_needs_the_internal_key(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        let body = market(
            &unique("nokey"),
            Exchange::Bybit,
            "BTCUSDT",
            "CLOSE_LONG",
            "0.01",
        );
        for path in ["/signals", "/quote"] {
            let (s, _, b) = door(h, path, &body, None, &[]).await;
            assert_eq!(s, 401, "{path} without the key: {b}");
            let (s, _, _) = door(
                h,
                path,
                &body,
                Some("not-the-key-but-long-enough-000000"),
                &[],
            )
            .await;
            assert_eq!(s, 401, "{path} with a wrong key");
        }
        let r = h
            .http
            .get(h.url("/__fixture/trade/health"))
            .send()
            .await
            .expect("health");
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.expect("health json");
        assert_eq!(v["worker"], "trade-worker");
    })
}

/// Bad input is a 400 naming the field, and nothing is recorded.
fn bad_signals_are_refused_naming_the_field(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        let key = unique("bad");
        let mut bad = market(&key, Exchange::Bybit, "BTCUSDT", "LONG", "lots");
        let (s, _, b) = signals(h, &bad).await;
        assert_eq!(
            (s, b["error"]["field"].as_str()),
            (400, Some("quantity")),
            "{b}"
        );
        bad["quantity"] = "0.01".into();
        bad["apiKey"] = h.api_key.clone().into();
        let (s, _, b) = signals(h, &bad).await;
        assert_eq!(
            (s, b["error"]["field"].as_str()),
            (400, Some("apiKey")),
            "{b}"
        );
        let mut keyless = market("", Exchange::Bybit, "BTCUSDT", "LONG", "0.01");
        keyless.as_object_mut().unwrap().remove("idempotencyKey");
        let (s, _, b) = signals(h, &keyless).await;
        assert_eq!(
            (s, b["error"]["field"].as_str()),
            (400, Some("idempotencyKey")),
            "{b}"
        );
        // The header names the key too, validated as the gateway validates it.
        let (s, _, b) = door(
            h,
            "/signals",
            &keyless,
            Some(&h.internal_key),
            &[("Idempotency-Key", &"x".repeat(300))],
        )
        .await;
        assert_eq!(
            (s, b["error"]["field"].as_str()),
            (400, Some("Idempotency-Key")),
            "{b}"
        );
        assert!(h.record(&key).await.is_none(), "nothing recorded");
    })
}

/// A close sent twice through the door is one order at the exchange; the second answer is the
/// stored one, replayed; the same key with another payload is refused.
fn a_close_through_the_door_reaches_the_exchange_once(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        go_live(h).await;
        let open = unique("door-open");
        let mut entry = market(&open, Exchange::Bybit, "BTCUSDT", "LONG", "0.01");
        entry["apiKey"] = h.api_key.clone().into();
        assert_eq!(h.webhook(&entry, &[]).await.status(), 202);
        wait_order_at_mock(h, &open).await;

        let close = unique("door-close");
        let body = market(&close, Exchange::Bybit, "BTCUSDT", "CLOSE_LONG", "0.01");
        let (s, replayed, first) = signals(h, &body).await;
        assert_eq!(s, 202, "{first}");
        assert_eq!(replayed, None);
        assert_eq!(first["status"], "accepted");
        assert_eq!(first["idempotency_key"], close.as_str());
        assert!(first["request_id"].is_string());
        let (s, replayed, second) = signals(h, &body).await;
        assert_eq!((s, replayed.as_deref()), (202, Some("true")));
        assert_eq!(second, first, "the stored answer");
        assert_eq!(wait_order_at_mock(h, &close).await, 1);
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(orders_for(h, &close).await, 1, "exactly once");

        let other = market(&close, Exchange::Bybit, "BTCUSDT", "CLOSE_LONG", "0.02");
        let (s, _, b) = signals(h, &other).await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (422, Some("idempotency_key_reused")),
            "{b}"
        );
        // The snake_case body key is the same key.
        let mut snake = body.clone();
        snake.as_object_mut().unwrap().remove("idempotencyKey");
        snake["idempotency_key"] = close.clone().into();
        let (s, replayed, _) = signals(h, &snake).await;
        assert_eq!((s, replayed.as_deref()), (202, Some("true")));
    })
}

/// Quotes at the mark the test sets, on three exchanges: notional and equity share, rounded
/// down to the lot (MEXC in contracts), and refused below the minimums with the numbers.
fn quotes_round_down_at_the_mark_price(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        go_live(h).await;
        mock()
            .set_price(Exchange::Bybit, "BTCUSDT", d("61234.5"))
            .expect("bybit mark");
        mock()
            .set_price(Exchange::Binance, "ETHUSDT", d("2345.67"))
            .expect("binance mark");
        mock()
            .set_price(Exchange::Mexc, "BTCUSDT", d("60000"))
            .expect("mexc mark");
        mock()
            .set_price(Exchange::Binance, "BTCUSDT", d("65000"))
            .expect("binance mark");
        // Older than the isolate's price cache (3 s).
        tokio::time::sleep(Duration::from_millis(3_500)).await;

        // 1000 / 61234.5 = 0.01633…: 0.016 at step 0.001, worth 979.752.
        let (s, q) = quote(
            h,
            &json!({"exchange":"bybit","symbol":"BTCUSDT","notional":"1000"}),
        )
        .await;
        assert_eq!(s, 200, "{q}");
        assert_eq!(q["mark_price"], "61234.5");
        assert_eq!(q["quantity"], "0.016");
        assert_eq!(q["notional"], "979.752");
        assert_eq!(q["lot_step"], "0.001");
        assert_eq!(q["network"], "mainnet");

        // 1 % of the testnet wallet (100 000, nothing traded there) at 2x: 2000 USDT of ETH at
        // 2345.67 = 0.8526…: 0.85 at step 0.01.
        let (s, q) = quote(
            h,
            &json!({"exchange":"binance","symbol":"ETHUSDT","test":true,"equity_pct":"1","leverage":2}),
        )
        .await;
        assert_eq!(s, 200, "{q}");
        assert_eq!(q["equity"], "100000");
        assert_eq!(q["requested_notional"], "2000");
        assert_eq!(q["quantity"], "0.85");
        assert_eq!(q["notional"], "1993.8195");
        assert_eq!(q["margin"], "996.90975");
        assert_eq!(q["network"], "testnet");

        // MEXC counts contracts of 0.0001 BTC: 500 / 60000 = 83.3 contracts, 83.
        let (s, q) = quote(
            h,
            &json!({"exchange":"mexc","symbol":"BTCUSDT","notional":"500"}),
        )
        .await;
        assert_eq!(s, 200, "{q}");
        assert_eq!(q["exchange_quantity"], "83");
        assert_eq!(q["quantity"], "0.0083");
        assert_eq!(q["notional"], "498");

        // Below Bybit's lot, and below Binance's 100 USDT minimum notional.
        let (s, q) = quote(
            h,
            &json!({"exchange":"bybit","symbol":"BTCUSDT","notional":"10"}),
        )
        .await;
        assert_eq!(
            (s, q["error"]["code"].as_str()),
            (422, Some("below_min_quantity")),
            "{q}"
        );
        let (s, q) = quote(
            h,
            &json!({"exchange":"binance","symbol":"BTCUSDT","notional":"99"}),
        )
        .await;
        assert_eq!(
            (s, q["error"]["code"].as_str()),
            (422, Some("below_min_notional")),
            "{q}"
        );
        assert!(
            q["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("100"),
            "{q}"
        );
        let (s, q) = quote(
            h,
            &json!({"exchange":"bybit","symbol":"BTCUSDT","notional":"1","size":1}),
        )
        .await;
        assert_eq!(s, 400, "{q}");
        let (s, q) = quote(
            h,
            &json!({"exchange":"paper","symbol":"BTCUSDT","notional":"100","price":"3"}),
        )
        .await;
        assert_eq!(
            (s, q["quantity"].as_str()),
            (200, Some("33.333333333333")),
            "{q}"
        );
        h.set_config("trade:max_order_notional", "1000").await;
    })
}

/// With a pause of entries on one pair, an opening signal becomes an `entries_paused` dead
/// letter with nothing sent, while a close on the same pair executes; lifted, the dead letter
/// replays into one order.
fn paused_entries_are_dead_letters_and_closes_still_run(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        go_live(h).await;
        let open = unique("pause-open");
        assert_eq!(
            signals(h, &market(&open, Exchange::Bybit, "ETHUSDT", "LONG", "0.2"))
                .await
                .0,
            202
        );
        wait_order_at_mock(h, &open).await;

        let pause = json!([{
            "network": "mainnet", "exchange": "bybit", "symbol": "ETHUSDT",
            "reason": "door suite pause", "since_ms": 1
        }]);
        h.set_config("trade:entries_paused", &pause.to_string())
            .await;
        h.config_visible().await;

        let entry = unique("pause-entry");
        let (s, _, b) = signals(
            h,
            &market(&entry, Exchange::Bybit, "ETHUSDT", "LONG", "0.1"),
        )
        .await;
        assert_eq!(s, 202, "{b}");
        let close = unique("pause-close");
        let (s, _, b) = signals(
            h,
            &market(&close, Exchange::Bybit, "ETHUSDT", "CLOSE_LONG", "0.1"),
        )
        .await;
        assert_eq!(s, 202, "{b}");
        let row = wait_dead_letter(h, &entry).await;
        assert_eq!(row["reason"], "entries_paused", "{row}");
        assert!(
            row["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("door suite pause"),
            "{row}"
        );
        assert_eq!(wait_order_at_mock(h, &close).await, 1, "the close executed");
        assert_eq!(orders_for(h, &entry).await, 0, "nothing sent for the entry");
        // The operator's view names the reason too.
        let id = row["id"].as_i64().expect("id");
        let r = h
            .http
            .get(h.url(&format!("/admin/dlq/{id}")))
            .header("X-Internal-Auth-Key", &h.internal_key)
            .send()
            .await
            .expect("dlq show");
        let shown: Value = r.json().await.expect("dlq json");
        assert_eq!(shown["reason"], "entries_paused", "{shown}");
        assert_eq!(shown["replayable"], true, "{shown}");

        h.set_config("trade:entries_paused", "[]").await;
        h.config_visible().await;
        // The consumer marks the key dead right after recording the row.
        let deadline = Instant::now() + Duration::from_secs(30);
        while h.record(&entry).await.map(|r| r.state) != Some(Lifecycle::Dead) {
            assert!(Instant::now() < deadline, "key never marked dead");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let r = h
            .http
            .post(h.url(&format!("/admin/dlq/{id}/replay")))
            .header("X-Internal-Auth-Key", &h.internal_key)
            .send()
            .await
            .expect("replay");
        let replay: Value = r.json().await.expect("replay json");
        assert_eq!(replay["items"][0]["result"], "replayed", "{replay}");
        assert_eq!(wait_order_at_mock(h, &entry).await, 1);
    })
}

/// `risk:*` values are judged at the config API by the risk rules' bounds.
fn risk_rules_are_validated_at_every_write(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        let put = |key: &'static str, value: &'static str| async move {
            let r = h
                .http
                .put(h.url(&format!("/admin/config/{key}")))
                .header("X-Internal-Auth-Key", &h.internal_key)
                .body(value)
                .send()
                .await
                .expect("config put");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        };
        let (s, b) = put("risk:stop_loss_pct", "150").await;
        assert_eq!(s, 400, "{b}");
        let m = b["error"]["message"].as_str().unwrap_or_default();
        assert!(m.contains("risk:stop_loss_pct") && m.contains("100"), "{b}");
        let (s, b) = put("risk:stop_loss_pct", "-5").await;
        assert_eq!(s, 400, "{b}");
        let (s, b) = put("risk:stop_loss_pct:BTCUSDT", "5").await;
        assert_eq!(s, 200, "{b}");
        let (s, b) = put("risk:no_such_rule", "5").await;
        assert_eq!(s, 404, "{b}");
        let (s, b) = put(
            "trade:entries_paused",
            r#"[{"network":"moon","reason":"r","since_ms":1}]"#,
        )
        .await;
        assert_eq!(s, 400, "{b}");
        h.config_written();
    })
}

fn main() {
    let args = integration::suite_args();
    let mock_rt = tokio::runtime::Runtime::new().expect("runtime");
    let mock = mock_rt
        .block_on(MockExchanges::start(MockCredentials::default()))
        .expect("mock exchanges");
    let mut vars: Vec<(String, String)> = vec![("WEBHOOK_RATE_LIMIT".into(), "100000/s".into())];
    vars.extend(integration::mock_exchange_vars(&mock));
    let _ = MOCK.set(mock);
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let hoox = || Hoox::start_with(&vars);
    let scenarios: Vec<(&str, Scenario)> = vec![
        (
            "the_door_needs_the_internal_key",
            the_door_needs_the_internal_key,
        ),
        (
            "bad_signals_are_refused_naming_the_field",
            bad_signals_are_refused_naming_the_field,
        ),
        (
            "quotes_round_down_at_the_mark_price",
            quotes_round_down_at_the_mark_price,
        ),
        (
            "a_close_through_the_door_reaches_the_exchange_once",
            a_close_through_the_door_reaches_the_exchange_once,
        ),
        (
            "paused_entries_are_dead_letters_and_closes_still_run",
            paused_entries_are_dead_letters_and_closes_still_run,
        ),
        (
            "risk_rules_are_validated_at_every_write",
            risk_rules_are_validated_at_every_write,
        ),
    ];
    let conclusion = run_suite(&args, hoox, &scenarios, 80);
    drop(mock_rt);
    integration::suite::exit(&[conclusion]);
}
