//! The whole pipeline on the local Workers runtime: gateway → trade-execution → trade-worker →
//! trade-events → D1, and dead letters → dlq → D1.

use integration::{run_suite, unique, Hoox, Scenario};
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn signal(h: &Hoox, key: &str) -> Value {
    json!({
        "apiKey": h.api_key,
        "exchange": "paper",
        "action": "LONG",
        "symbol": "BTC/USDT",
        "quantity": "0.001",
        "price": 65000,
        "idempotencyKey": key,
    })
}

async fn orders_for(h: &Hoox, key: &str) -> Vec<Value> {
    h.sql(
        "SELECT * FROM orders WHERE idempotency_key = ?",
        &[json!(key)],
    )
    .await
}

/// A signal is accepted with 202 and ends as one paper order in D1.
fn signal_becomes_paper_order(
    h: &Hoox,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>> {
    Box::pin(async move {
        let key = unique("order");
        let r = h.webhook(&signal(h, &key), &[]).await;
        assert_eq!(r.status(), 202);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["status"], "accepted");
        assert_eq!(body["idempotency_key"], key.as_str());
        assert!(body["request_id"].as_str().is_some_and(|id| !id.is_empty()));
        let rows = h.wait_orders(&key, WAIT).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["exchange"], "paper");
        assert_eq!(rows[0]["symbol"], "BTCUSDT");
        assert_eq!(rows[0]["side"], "Buy");
        assert_eq!(rows[0]["status"], "Filled");
        assert_eq!(rows[0]["filled_quantity"], "0.001");
        assert_eq!(rows[0]["average_price"], "65000");
        let signals = h
            .sql(
                "SELECT outcome FROM signals WHERE idempotency_key = ?",
                &[json!(key)],
            )
            .await;
        assert_eq!(signals[0]["outcome"], "filled");
    })
}

/// The same key again replays the original answer and still yields one order; a different payload
/// under the same key is refused with 422.
fn duplicate_is_replayed_not_executed(
    h: &Hoox,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>> {
    Box::pin(async move {
        let key = unique("dup");
        let first = h.webhook(&signal(h, &key), &[]).await;
        assert_eq!(first.status(), 202);
        assert!(first.headers().get("Idempotent-Replayed").is_none());
        let first_body = first.text().await.unwrap();
        h.wait_orders(&key, WAIT).await;
        let again = h.webhook(&signal(h, &key), &[]).await;
        assert_eq!(again.status(), 202);
        assert_eq!(
            again
                .headers()
                .get("Idempotent-Replayed")
                .map(|v| v.to_str().unwrap()),
            Some("true")
        );
        assert_eq!(
            again.text().await.unwrap(),
            first_body,
            "the original answer is replayed"
        );
        let mut changed = signal(h, &key);
        changed["quantity"] = json!("0.002");
        let conflict = h.webhook(&changed, &[]).await;
        assert_eq!(conflict.status(), 422);
        let body: Value = conflict.json().await.unwrap();
        assert_eq!(body["error"]["code"], "idempotency_key_reused");
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(
            orders_for(h, &key).await.len(),
            1,
            "still exactly one order"
        );
    })
}

/// Wrong or missing keys get 401 and nothing is recorded or enqueued: the same idempotency key
/// with another payload is later accepted (not 422), and no order appears for the refused one.
fn unauthorized_records_nothing(
    h: &Hoox,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>> {
    Box::pin(async move {
        let key = unique("unauth");
        let mut wrong = signal(h, &key);
        wrong["apiKey"] = json!("not-the-key");
        let r = h.webhook(&wrong, &[]).await;
        assert_eq!(r.status(), 401);
        let text = r.text().await.unwrap();
        assert!(text.contains("\"unauthorized\""), "{text}");
        assert!(
            !text.contains("not-the-key"),
            "a presented secret is never echoed"
        );
        let mut missing = signal(h, &key);
        missing.as_object_mut().unwrap().remove("apiKey");
        assert_eq!(h.webhook(&missing, &[]).await.status(), 401);
        assert_eq!(
            h.webhook(&missing, &[("authorization", "Bearer nope")])
                .await
                .status(),
            401
        );
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(orders_for(h, &key).await.is_empty());
        let mut other = signal(h, &key);
        other["quantity"] = json!("0.003");
        assert_eq!(
            h.webhook(&other, &[]).await.status(),
            202,
            "the key was never recorded"
        );
        // Bearer authentication works as well.
        let bearer_key = unique("bearer");
        let mut bearer = signal(h, &bearer_key);
        bearer.as_object_mut().unwrap().remove("apiKey");
        let auth = format!("Bearer {}", h.api_key);
        assert_eq!(
            h.webhook(&bearer, &[("authorization", &auth)])
                .await
                .status(),
            202
        );
    })
}

/// Malformed JSON and invalid fields get 400 with a field-level error.
fn bad_input_gets_field_errors(
    h: &Hoox,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>> {
    Box::pin(async move {
        let r = h
            .http
            .post(h.url("/webhook"))
            .header("content-type", "application/json")
            .body("{\"exchange\": ")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "malformed_json");
        assert!(body["request_id"].is_string());

        let mut no_symbol = signal(h, &unique("bad"));
        no_symbol.as_object_mut().unwrap().remove("symbol");
        let body: Value = h.webhook(&no_symbol, &[]).await.json().await.unwrap();
        assert_eq!(body["error"]["code"], "missing_field");
        assert_eq!(body["error"]["field"], "symbol");

        let mut bad_qty = signal(h, &unique("bad"));
        bad_qty["quantity"] = json!("-1");
        let r = h.webhook(&bad_qty, &[]).await;
        assert_eq!(r.status(), 400);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_field");
        assert_eq!(body["error"]["field"], "quantity");

        let r = h
            .http
            .post(h.url("/webhook"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("a=b")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 415);
        let r = h.http.get(h.url("/webhook")).send().await.unwrap();
        assert_eq!(r.status(), 405);
        // TradingView posts JSON as text/plain.
        let r = h
            .http
            .post(h.url("/webhook"))
            .header("content-type", "text/plain; charset=utf-8")
            .body(signal(h, &unique("text")).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    })
}

/// With the kill switch on, a signal becomes a kill_switch dead letter and no order.
fn kill_switch_blocks_into_dead_letter(
    h: &Hoox,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>> {
    Box::pin(async move {
        h.set_config("trade:kill_switch", "true").await;
        h.config_visible().await;
        let key = unique("killed");
        assert_eq!(h.webhook(&signal(h, &key), &[]).await.status(), 202);
        let rows = h
            .wait_rows(
                "SELECT * FROM dead_letters WHERE idempotency_key = ?",
                &[json!(key)],
                1,
                WAIT,
            )
            .await;
        h.set_config("trade:kill_switch", "false").await;
        assert_eq!(rows[0]["reason"], "kill_switch");
        assert_eq!(rows[0]["queue"], "trade-execution-dlq");
        assert_eq!(rows[0]["symbol"], "BTCUSDT");
        assert!(rows[0]["job"].is_string(), "the job is kept for replay");
        assert!(orders_for(h, &key).await.is_empty());
    })
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The kill switch is strongly consistent: once `PUT /admin/config/trade:kill_switch` has
/// answered, no submit starts later than 1 s after (the switch is set in every store shard
/// before the answer; `claim` and the pre-submit grant refuse while it is on; CONFIG_KV is
/// only the mirror). Signals stream in before, during and after the switch; every one sent
/// after the answer ends as a `kill_switch` dead letter, and no order is written past 1 s.
fn kill_switch_stops_submits_within_a_second(
    h: &Hoox,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>> {
    Box::pin(async move {
        let run = unique("ks");
        let keys: Vec<String> = (0..40).map(|i| format!("{run}-{i}")).collect();
        let sender = async {
            let mut sent = Vec::new();
            for key in &keys {
                let r = h.webhook(&signal(h, key), &[]).await;
                assert_eq!(r.status(), 202);
                sent.push((key.clone(), wall_ms()));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            sent
        };
        let switch = async {
            tokio::time::sleep(Duration::from_millis(1_000)).await;
            h.set_config("trade:kill_switch", "true").await;
            wall_ms()
        };
        let (sent, answered_at) = tokio::join!(sender, switch);
        let ended_sql = "SELECT idempotency_key FROM orders WHERE idempotency_key LIKE ?1
             UNION SELECT idempotency_key FROM dead_letters WHERE idempotency_key LIKE ?1";
        h.wait_rows(ended_sql, &[json!(format!("{run}-%"))], keys.len(), WAIT)
            .await;
        h.set_config("trade:kill_switch", "false").await;
        let orders = h
            .sql(
                "SELECT idempotency_key, created_at_ms FROM orders WHERE idempotency_key LIKE ?",
                &[json!(format!("{run}-%"))],
            )
            .await;
        let latest = orders
            .iter()
            .filter_map(|o| o["created_at_ms"].as_i64())
            .max()
            .unwrap_or(0);
        eprintln!(
            "kill switch: {} of {} signals filled; the last order was written {} ms after the switch answered",
            orders.len(),
            keys.len(),
            latest - answered_at
        );
        assert!(
            latest <= answered_at + 1_000,
            "an order was written {} ms after the kill switch answered",
            latest - answered_at
        );
        for (key, at) in sent.iter().filter(|(_, at)| *at > answered_at) {
            let dead = h
                .sql(
                    "SELECT reason FROM dead_letters WHERE idempotency_key = ?",
                    &[json!(key)],
                )
                .await;
            assert_eq!(
                dead.first().map(|d| d["reason"].clone()),
                Some(json!("kill_switch")),
                "{key}, sent {} ms after the switch answered, must be blocked",
                at - answered_at
            );
        }
        assert!(
            sent.iter().any(|(_, at)| *at > answered_at),
            "the stream outlasted the switch"
        );
    })
}

/// A body that is not a TradeJob becomes an `undecodable` dead letter, and the consumer goes on
/// serving the next messages.
fn undecodable_message_is_dead_lettered(
    h: &Hoox,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>> {
    Box::pin(async move {
        let before = h.sql("SELECT COUNT(*) AS n FROM dead_letters WHERE reason IN ('undecodable','unknown_version')", &[]).await[0]["n"].as_i64().unwrap();
        for (body, as_) in [
            (&b"\x01\xff\xff garbage"[..], "bytes"),
            (&b"\x07unknown version"[..], "bytes"),
            (&b"{\"not\":\"a job\"}"[..], "text"),
        ] {
            let r = h
                .http
                .post(h.url(&format!("/__fixture/queue/raw?as={as_}")))
                .body(body.to_vec())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
        let rows = h
            .wait_rows(
                "SELECT * FROM dead_letters WHERE reason IN ('undecodable','unknown_version') ORDER BY id",
                &[],
                before as usize + 3,
                WAIT,
            )
            .await;
        let last: Vec<&Value> = rows.iter().rev().take(3).collect();
        assert!(
            last.iter().all(|r| r["raw"].is_string()),
            "the raw body is kept"
        );
        assert!(last.iter().any(|r| r["reason"] == "unknown_version"));
        let key = unique("after-garbage");
        assert_eq!(h.webhook(&signal(h, &key), &[]).await.status(), 202);
        h.wait_orders(&key, WAIT).await;
    })
}

/// A kill-switched signal replayed by an operator after it would have gone stale still executes:
/// the replay is a fresh decision, so its age counts from the replay, and it fills exactly once.
fn replay_counts_freshness_from_the_replay(
    h: &Hoox,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>> {
    Box::pin(async move {
        h.set_config("trade:max_signal_age_seconds", "3").await;
        h.set_config("trade:kill_switch", "true").await;
        h.config_visible().await;
        let key = unique("replay-old");
        assert_eq!(h.webhook(&signal(h, &key), &[]).await.status(), 202);
        let sent = tokio::time::Instant::now();
        let rows = h
            .wait_rows(
                "SELECT id FROM dead_letters WHERE idempotency_key = ?",
                &[json!(key)],
                1,
                WAIT,
            )
            .await;
        h.set_config("trade:kill_switch", "false").await;
        // Older than the 3 s limit by the time it is replayed (its age is the subject), and
        // the kill switch off in every worker.
        tokio::time::sleep_until(sent + Duration::from_millis(4_000)).await;
        h.config_visible().await;
        let id = rows[0]["id"].as_i64().unwrap();
        let r = h
            .http
            .post(h.url(&format!("/admin/dlq/{id}/replay")))
            .header("X-Internal-Auth-Key", &h.internal_key)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        assert_eq!(status, 200, "{body}");
        let orders = h.wait_orders(&key, WAIT).await;
        h.set_config("trade:max_signal_age_seconds", "300").await;
        assert_eq!(orders.len(), 1);
        let stale = h
            .sql("SELECT COUNT(*) AS n FROM dead_letters WHERE idempotency_key = ? AND reason = 'stale'", &[json!(key)])
            .await;
        assert_eq!(stale[0]["n"], 0, "not dead-lettered as stale");
    })
}

fn main() {
    let args = integration::suite_args();
    let hoox = Hoox::start;
    let scenarios: Vec<(&str, Scenario)> = vec![
        ("signal_becomes_paper_order", signal_becomes_paper_order),
        (
            "duplicate_is_replayed_not_executed",
            duplicate_is_replayed_not_executed,
        ),
        ("unauthorized_records_nothing", unauthorized_records_nothing),
        ("bad_input_gets_field_errors", bad_input_gets_field_errors),
        (
            "kill_switch_blocks_into_dead_letter",
            kill_switch_blocks_into_dead_letter,
        ),
        (
            "kill_switch_stops_submits_within_a_second",
            kill_switch_stops_submits_within_a_second,
        ),
        (
            "undecodable_message_is_dead_lettered",
            undecodable_message_is_dead_lettered,
        ),
        (
            "replay_counts_freshness_from_the_replay",
            replay_counts_freshness_from_the_replay,
        ),
    ];
    let conclusion = run_suite(&args, hoox, &scenarios, 80);
    integration::suite::exit(&[conclusion]);
}
