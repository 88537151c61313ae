//! The gateway's ingress contract on the local Workers runtime: every authentication mode, every
//! refusal, the outbox, concurrent duplicates, the store's refusal of bad calls, and no secret in
//! logs or stored records.

use base64::Engine as _;
use contracts::auth::sign_standard_webhook;
use integration::{run_suite, unique, Hoox, Scenario};
use serde_json::{json, Value};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
type Fut<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn signal(key: &str) -> Value {
    json!({
        "exchange": "paper",
        "action": "LONG",
        "symbol": "BTCUSDT",
        "quantity": "0.001",
        "price": 65000,
        "idempotencyKey": key,
    })
}

fn with_key(h: &Hoox, key: &str) -> Value {
    let mut s = signal(key);
    s["apiKey"] = h.api_key.clone().into();
    s
}

async fn post_raw(h: &Hoox, body: String, headers: &[(&str, String)]) -> reqwest::Response {
    let mut req = h
        .http
        .post(h.url("/webhook"))
        .header("content-type", "application/json")
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    req.send().await.expect("webhook request")
}

async fn code_of(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_owned(),
    )
}

/// Standard Webhooks: a valid, a rotated, a wrong and an expired signature.
fn standard_webhook_signatures(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        let body = signal(&unique("sw")).to_string();
        let id = "msg_test_1";
        let ts = now_s();
        let good = sign_standard_webhook(&h.api_key, id, ts, body.as_bytes());
        let headers = |sig: String, ts: i64| {
            vec![
                ("webhook-id", id.to_owned()),
                ("webhook-timestamp", ts.to_string()),
                ("webhook-signature", sig),
            ]
        };
        let r = post_raw(h, body.clone(), &headers(good.clone(), ts)).await;
        assert_eq!(r.status(), 202, "valid signature, no apiKey in the body");

        let rotated_body = signal(&unique("sw-rot")).to_string();
        let old = sign_standard_webhook("whsec_b2xkLXNlY3JldA==", id, ts, rotated_body.as_bytes());
        let new = sign_standard_webhook(&h.api_key, id, ts, rotated_body.as_bytes());
        let r = post_raw(h, rotated_body, &headers(format!("{old} {new}"), ts)).await;
        assert_eq!(
            r.status(),
            202,
            "one of several signatures matches (key rotation)"
        );

        let wrong = sign_standard_webhook("not-the-secret", id, ts, body.as_bytes());
        assert_eq!(
            code_of(post_raw(h, body.clone(), &headers(wrong, ts)).await).await,
            (401, "unauthorized".into())
        );

        let tampered = signal(&unique("sw-tamper")).to_string();
        assert_eq!(
            code_of(post_raw(h, tampered, &headers(good, ts)).await)
                .await
                .0,
            401,
            "signature covers the body"
        );

        let old_ts = ts - 600;
        let expired = sign_standard_webhook(&h.api_key, id, old_ts, body.as_bytes());
        let r = post_raw(h, body.clone(), &headers(expired, old_ts)).await;
        assert_eq!(r.status(), 401);
        let text = r.text().await.unwrap();
        assert!(
            text.contains("tolerance"),
            "expired signatures say why: {text}"
        );
    })
}

/// A signed request without an explicit key is keyed by its verified `webhook-id`: the
/// sender's retry of a lost answer (same id, seconds or minutes later) is replayed, not
/// executed again, and the same id with another payload is refused.
fn webhook_id_is_the_key(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        let mut body = signal("unused");
        body.as_object_mut().unwrap().remove("idempotencyKey");
        body["quantity"] = json!("0.004");
        let body = body.to_string();
        let id = unique("msg");
        let send = |body: String| {
            let ts = now_s();
            let sig = sign_standard_webhook(&h.api_key, &id, ts, body.as_bytes());
            let headers = vec![
                ("webhook-id", id.clone()),
                ("webhook-timestamp", ts.to_string()),
                ("webhook-signature", sig),
            ];
            async move { post_raw(h, body, &headers).await }
        };
        let first = send(body.clone()).await;
        assert_eq!(first.status(), 202);
        let first: Value = first.json().await.unwrap();
        assert_eq!(first["idempotency_key"], json!(id), "keyed by webhook-id");
        tokio::time::sleep(Duration::from_millis(2_000)).await;
        let retry = send(body.clone()).await;
        assert_eq!(retry.status(), 202);
        assert_eq!(
            retry
                .headers()
                .get("Idempotent-Replayed")
                .and_then(|v| v.to_str().ok()),
            Some("true"),
            "the sender's retry is a replay"
        );
        let other = body.replace("0.004", "0.005");
        assert_eq!(
            code_of(send(other).await).await,
            (422, "idempotency_key_reused".into())
        );
    })
}

/// Identical keyless signals are one signal within a sliding window, not a wall-clock minute:
/// every repeat within the window replays the first answer (with the first key), whatever
/// minute it lands in.
fn keyless_repeats_within_the_window_are_one_signal(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        let mut body = with_key(h, "unused");
        body.as_object_mut().unwrap().remove("idempotencyKey");
        // A payload no other scenario sends.
        body["quantity"] = json!(format!("0.00{}", 1 + now_s() % 9));
        body["price"] = json!(60_000 + now_s() % 1000);
        let first = h.webhook(&body, &[]).await;
        assert_eq!(first.status(), 202);
        let first: Value = first.json().await.unwrap();
        let key = first["idempotency_key"].as_str().unwrap().to_owned();
        assert!(key.starts_with("fp_"), "{key}");
        // Spread over more than a wall-clock minute boundary's worth of seconds is too slow
        // for a suite; 3 s apart is enough to cross a second boundary several times, and the
        // unit test shows keys across a minute boundary share one fingerprint and shard.
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(1_000)).await;
            let again = h.webhook(&body, &[]).await;
            assert_eq!(again.status(), 202);
            assert!(again.headers().get("Idempotent-Replayed").is_some());
            let again: Value = again.json().await.unwrap();
            assert_eq!(again["idempotency_key"], json!(key));
        }
        let orders = h.wait_orders(&key, WAIT).await;
        assert_eq!(orders.len(), 1);
        // The window is the operator's: past it, the same payload is a new signal.
        h.set_config("idempotency:fingerprint_window_seconds", "2")
            .await;
        // In force once the gateway's config cache has let it in; by then the 2 s window
        // since the first record has long passed.
        h.config_visible().await;
        let later = h.webhook(&body, &[]).await;
        assert_eq!(later.status(), 202);
        assert!(later.headers().get("Idempotent-Replayed").is_none());
        let later: Value = later.json().await.unwrap();
        assert_ne!(
            later["idempotency_key"],
            json!(key),
            "a new signal past the window"
        );
        h.set_config("idempotency:fingerprint_window_seconds", "60")
            .await;
    })
}

/// Every refusal answers its code with a request id and never echoes the presented key.
fn refusals(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        // 413: declared, and streamed without a length.
        let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(70 * 1024));
        assert_eq!(
            code_of(post_raw(h, big.clone(), &[]).await).await,
            (413, "payload_too_large".into())
        );
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> = big
            .into_bytes()
            .chunks(8192)
            .map(|c| Ok(c.to_vec()))
            .collect();
        let r = h
            .http
            .post(h.url("/webhook"))
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
            .send()
            .await
            .unwrap();
        assert_eq!(code_of(r).await, (413, "payload_too_large".into()));
        // 400 variants.
        let mut s = with_key(h, &unique("r"));
        s["leverage"] = json!(500);
        let r = h.webhook(&s, &[]).await;
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            (
                body["error"]["code"].as_str(),
                body["error"]["field"].as_str()
            ),
            (Some("invalid_field"), Some("leverage"))
        );
        let r = h
            .webhook(&with_key(h, &unique("r")), &[("Idempotency-Key", "")])
            .await;
        assert_eq!(r.status(), 202, "the body key wins over an empty header");
        // 404 for unknown routes, 401 for admin without the internal key.
        assert_eq!(
            h.http.get(h.url("/nope")).send().await.unwrap().status(),
            404
        );
        assert_eq!(
            h.http
                .get(h.url("/admin/config"))
                .send()
                .await
                .unwrap()
                .status(),
            401
        );
        let r = h
            .http
            .get(h.url("/admin/config"))
            .header("X-Internal-Auth-Key", &h.internal_key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let cfg: Value = r.json().await.unwrap();
        // The 16-key manifest and the typed keys beside it.
        assert_eq!(
            cfg["keys"].as_array().map(Vec::len),
            Some(contracts::config::MANIFEST.len() + contracts::config::EXTRA_KEYS.len())
        );
        assert_eq!(contracts::config::MANIFEST.len(), 16);
        // 503: the store is down (injected): nothing recorded, retry later.
        let r = h.webhook(&with_key(h, &unique("fault-store")), &[]).await;
        assert_eq!(
            r.headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned()),
            Some("1".into())
        );
        assert_eq!(code_of(r).await, (503, "unavailable".into()));
    })
}

/// Formats senders use: numeric strings, enum case, aliases, symbol spellings, timestamp units.
fn sender_formats(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        let now_ms = now_s() * 1000;
        let variants = [
            json!({"exchange": "PAPER", "action": "buy", "symbol": "BINANCE:ETHUSDT.P", "quantity": 0.1, "price": "3000.5", "takeProfit": 3300, "stopLoss": "2900", "timestamp": now_ms}),
            json!({"exchange": "paper", "action": "sell", "symbol": "eth-usdt", "quantity": "0.1", "price": 3000, "timestamp": now_ms / 1000}),
            json!({"exchange": "Paper", "action": "close_long", "symbol": "ETH/USDT", "quantity": "1e-1", "price": 3000, "orderType": "LIMIT", "leverage": "3", "test": "false"}),
        ];
        let mut keys = vec![];
        for mut v in variants {
            let key = unique("fmt");
            v["apiKey"] = h.api_key.clone().into();
            v["idempotencyKey"] = key.clone().into();
            let r = h.webhook(&v, &[]).await;
            assert_eq!(r.status(), 202, "{v}");
            keys.push(key);
        }
        // RFC 3339 timestamp, 10 minutes old: accepted at the door, then dead-lettered as stale.
        let stale_key = unique("stale");
        let mut stale = with_key(h, &stale_key);
        let ten_min_ago = now_s() - 600;
        stale["timestamp"] = json!(format_rfc3339(ten_min_ago));
        assert_eq!(h.webhook(&stale, &[]).await.status(), 202);
        for key in &keys {
            let rows = h
                .wait_rows(
                    "SELECT symbol FROM orders WHERE idempotency_key = ?",
                    &[json!(key)],
                    1,
                    WAIT,
                )
                .await;
            assert_eq!(rows[0]["symbol"], "ETHUSDT");
        }
        // Over trade:max_order_notional (1000): rejected with the reason, no order.
        let big_key = unique("notional");
        let mut big = with_key(h, &big_key);
        big["quantity"] = json!("0.5");
        assert_eq!(h.webhook(&big, &[]).await.status(), 202);
        let rows = h
            .wait_rows(
                "SELECT outcome, detail FROM signals WHERE idempotency_key = ?",
                &[json!(big_key)],
                1,
                WAIT,
            )
            .await;
        assert_eq!(rows[0]["outcome"], "rejected");
        let detail = rows[0]["detail"].as_str().unwrap_or("");
        assert!(detail.contains("max_order_notional"), "{detail}");
        let dead = h
            .wait_rows(
                "SELECT reason FROM dead_letters WHERE idempotency_key = ?",
                &[json!(stale_key)],
                1,
                WAIT,
            )
            .await;
        assert_eq!(dead[0]["reason"], "stale");
    })
}

fn format_rfc3339(epoch_s: i64) -> String {
    // Civil-from-days (Howard Hinnant), enough for a test timestamp.
    let days = epoch_s.div_euclid(86_400);
    let secs = epoch_s.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// A queue failure after the record: the 202 stands and the outbox alarm delivers the job.
fn outbox_delivers_after_queue_failure(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        let key = unique("fault-outbox");
        assert_eq!(h.webhook(&with_key(h, &key), &[]).await.status(), 202);
        let rows = h.wait_orders(&key, WAIT).await;
        assert_eq!(rows.len(), 1);
        assert!(
            h.log_tail(2000).contains("outbox re-sent job"),
            "the alarm re-sent it"
        );
    })
}

/// The store refuses what it cannot act on, with the reason, and records nothing: an unknown
/// operation, a body that is not JSON, a body missing a field, and a plain fetch.
fn store_refuses_bad_calls(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        let shard = "idempotency-00";
        let call = |op: &'static str, body: String| async move {
            let r = h
                .http
                .post(h.url("/__fixture/store"))
                .json(&json!({ "shard": shard, "op": op, "body": body }))
                .send()
                .await
                .expect("store call");
            assert_eq!(r.status(), 200, "fixture route");
            r.json::<Value>().await.expect("store answer")
        };
        let key = unique("store-bad");
        let claim = json!({ "key": key }).to_string();
        // A well-formed call first, so a broken channel cannot pass for a refusal.
        let known = call("claim", claim.clone()).await;
        assert_eq!(
            known["answer"]
                .as_str()
                .and_then(|a| serde_json::from_str::<Value>(a).ok()),
            Some(json!({ "result": "unknown" })),
            "{known}"
        );
        let refusals = [
            ("nope", "{}".to_owned(), "no such operation \"nope\""),
            ("intake", "{".to_owned(), "bad intake body"),
            (
                "intake",
                json!({ "key": key, "payload_hash": "x" }).to_string(),
                "missing field",
            ),
            ("claim", "[]".to_owned(), "bad claim body"),
        ];
        for (op, body, reason) in refusals {
            let r = call(op, body.clone()).await;
            let error = r["error"].as_str().unwrap_or_default();
            assert!(error.contains(reason), "{op} {body}: {r}");
        }
        // The half-formed intake recorded nothing.
        assert_eq!(call("claim", claim).await, known);
        let fetched = call("fetch", String::new()).await;
        assert_eq!(fetched["status"], 404, "{fetched}");
        assert!(
            fetched["text"]
                .as_str()
                .unwrap_or_default()
                .contains("operate(op, json)"),
            "{fetched}"
        );
    })
}

/// 200 identical requests at the same instant: one is recorded, 199 replay it, one order.
fn concurrent_duplicates_make_one_job(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        let key = unique("storm");
        let body = with_key(h, &key);
        let requests = (0..200).map(|i| {
            let body = body.clone();
            // Distinct senders, so the per-sender rate limit is not what is tested here.
            let ip = format!("198.18.{}.{}", i / 200, i % 200 + 1);
            async move {
                let r = h.webhook(&body, &[("cf-connecting-ip", ip.as_str())]).await;
                (
                    r.status().as_u16(),
                    r.headers().get("Idempotent-Replayed").is_some(),
                )
            }
        });
        let answers = futures::future::join_all(requests).await;
        assert!(
            answers.iter().all(|(s, _)| *s == 202),
            "all answered 202: {answers:?}"
        );
        let originals = answers.iter().filter(|(_, replayed)| !replayed).count();
        assert_eq!(originals, 1, "exactly one request recorded the key");
        h.wait_orders(&key, WAIT).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let n = h
            .sql(
                "SELECT COUNT(*) AS n FROM orders WHERE idempotency_key = ?",
                &[json!(key)],
            )
            .await;
        assert_eq!(n[0]["n"], 1, "one job, one order");
    })
}

/// Over the per-sender quota (20/s in this run): 429 with Retry-After.
fn rate_limited_with_retry_after(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        let mut limited = None;
        for _ in 0..60 {
            let r = post_raw(h, "{}".into(), &[("cf-connecting-ip", "192.0.2.50".into())]).await;
            if r.status() == 429 {
                limited = Some(r);
                break;
            }
        }
        let r = limited.expect("a burst over the quota is limited");
        let retry_after: u32 = r
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("Retry-After");
        assert!(retry_after >= 1);
        assert_eq!(code_of(r).await, (429, "rate_limited".into()));
        let other = post_raw(h, "{}".into(), &[("cf-connecting-ip", "192.0.2.51".into())]).await;
        assert_eq!(
            other.status(),
            401,
            "other senders are not limited (this one is merely unauthenticated)"
        );
    })
}

/// The source-IP allow-list, driven by CONFIG_KV.
fn ip_allow_list(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        h.set_config("webhook:allowed_ips", r#"["203.0.113.7"]"#)
            .await;
        h.set_config("webhook:ip_check_enabled", "true").await;
        h.config_visible().await;
        let allowed = h
            .webhook(
                &with_key(h, &unique("ip")),
                &[("cf-connecting-ip", "203.0.113.7")],
            )
            .await
            .status();
        let denied = code_of(
            h.webhook(
                &with_key(h, &unique("ip")),
                &[("cf-connecting-ip", "198.51.100.1")],
            )
            .await,
        )
        .await;
        h.set_config("webhook:ip_check_enabled", "false").await;
        assert_eq!(allowed, 202);
        assert_eq!(denied, (403, "forbidden_ip".into()));
    })
}

/// The sender's key and the internal key never reach a log line or a stored record; the request
/// id an answer names is on that request's log line.
fn no_secret_in_logs_or_records(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        let key = unique("secret");
        let accepted = h.webhook(&with_key(h, &key), &[]).await;
        assert_eq!(accepted.status(), 202);
        let accepted: Value = accepted.json().await.expect("202 body");
        let mut wrong = with_key(h, &unique("secret-refused"));
        wrong["apiKey"] = json!("not-the-key");
        let refused = h.webhook(&wrong, &[]).await;
        assert_eq!(refused.status(), 401);
        let refused: Value = refused.json().await.expect("401 body");
        h.wait_rows(
            "SELECT * FROM signals WHERE idempotency_key = ?",
            &[json!(key)],
            1,
            WAIT,
        )
        .await;
        let log = std::fs::read_to_string(&h.log).unwrap_or_default();
        assert!(log.contains(&key), "the log does record the signal");
        // Each answer's request id leads to its log line: the refusal's from the gateway, the
        // accepted signal's from the trade-worker's `executed`.
        for (what, body) in [("refused", &refused), ("executed", &accepted)] {
            let id = body["request_id"].as_str().expect("request_id");
            assert!(
                log.lines()
                    .any(|l| l.contains(id) && l.contains(&format!("\"message\":\"{what}\""))),
                "no {what} line with request id {id}"
            );
        }
        assert!(!log.contains(&h.api_key), "WEBHOOK_API_KEY in a log line");
        assert!(
            !log.contains(&h.internal_key),
            "INTERNAL_KEY_BINDING in a log line"
        );
        for table in ["signals", "orders", "dead_letters"] {
            let rows = h.sql(&format!("SELECT * FROM {table}"), &[]).await;
            let text = serde_json::to_string(&rows).unwrap();
            assert!(!text.contains(&h.api_key), "secret stored in {table}");
            for row in &rows {
                for col in ["job", "raw"] {
                    if let Some(b64) = row[col].as_str() {
                        let bytes = base64::engine::general_purpose::STANDARD
                            .decode(b64)
                            .unwrap_or_default();
                        let text = String::from_utf8_lossy(&bytes);
                        assert!(
                            !text.contains(&h.api_key),
                            "secret inside a stored {table}.{col}"
                        );
                    }
                }
            }
        }
    })
}

/// Issue 14: `/telegram/webhook` is checked at the gateway for Telegram's secret token before
/// its body is read, and held to the webhook's 64 KiB whether or not it declares a length
/// (before: any size up to 1 MiB was buffered and forwarded, unauthenticated).
fn telegram_webhook_is_checked_at_the_gateway(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        let token = integration::dev_var("TELEGRAM_SECRET_TOKEN");
        let post = |token: Option<String>, body: reqwest::Body| {
            let mut req = h
                .http
                .post(h.url("/telegram/webhook"))
                .header("content-type", "application/json")
                .body(body);
            if let Some(t) = token {
                req = req.header("X-Telegram-Bot-Api-Secret-Token", t);
            }
            req.send()
        };
        let big = format!("{{\"update_id\":1,\"pad\":\"{}\"}}", "x".repeat(100 * 1024));
        let r = post(None, big.clone().into()).await.expect("bot webhook");
        assert_eq!(
            code_of(r).await,
            (401, "unauthorized".into()),
            "no token: refused before the body"
        );
        let r = post(Some("wrong".into()), big.clone().into())
            .await
            .expect("bot webhook");
        assert_eq!(code_of(r).await, (401, "unauthorized".into()));
        let r = post(Some(token.clone()), big.clone().into())
            .await
            .expect("bot webhook");
        assert_eq!(
            code_of(r).await,
            (413, "payload_too_large".into()),
            "a declared length over 64 KiB"
        );
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> = big
            .as_bytes()
            .chunks(8 * 1024)
            .map(|c| Ok(c.to_vec()))
            .collect();
        let streamed = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
        let r = post(Some(token.clone()), streamed)
            .await
            .expect("bot webhook");
        assert_eq!(
            code_of(r).await,
            (413, "payload_too_large".into()),
            "a streamed body is cut off at 64 KiB"
        );
        let small = json!({"update_id": 2}).to_string();
        let r = post(Some(token), small.into()).await.expect("bot webhook");
        assert_eq!(
            r.status(),
            200,
            "a small update with the token reaches the bot"
        );
    })
}

/// Issue 14: refusals are limited per sender address, authenticated signals per credential, so
/// strangers sharing a trader's address cannot drain the trader's bucket; IPv6 senders are one
/// bucket per /64.
fn refusals_cannot_drain_a_senders_bucket(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        let shared = "192.0.2.60";
        let drain = |ip: &'static str| async move {
            for _ in 0..60 {
                let r = post_raw(h, "{}".into(), &[("cf-connecting-ip", ip.into())]).await;
                if r.status() == 429 {
                    return;
                }
            }
            panic!("refusals from {ip} were never limited");
        };
        drain(shared).await;
        let r = h
            .webhook(
                &with_key(h, &unique("shared-ip")),
                &[("cf-connecting-ip", shared)],
            )
            .await;
        assert_eq!(
            r.status(),
            202,
            "the trader's signal from the drained address is accepted"
        );
        drain("2001:db8:5:6::1").await;
        let neighbour = post_raw(
            h,
            "{}".into(),
            &[("cf-connecting-ip", "2001:db8:5:6:ffff::9".into())],
        )
        .await;
        assert_eq!(neighbour.status(), 429, "the same /64 is one sender");
        let other = post_raw(
            h,
            "{}".into(),
            &[("cf-connecting-ip", "2001:db8:5:7::1".into())],
        )
        .await;
        assert_eq!(other.status(), 401, "another /64 is another sender");
    })
}

/// Issue 14: `webhook:require_signature` refuses signals carrying only `apiKey` or a Bearer
/// token; signed ones still pass.
fn require_signature_refuses_unsigned_signals(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        h.set_config("webhook:require_signature", "true").await;
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        let unsigned = code_of(h.webhook(&with_key(h, &unique("req-sig")), &[]).await).await;
        let body = signal(&unique("req-sig-signed")).to_string();
        let ts = now_s();
        let sig = sign_standard_webhook(&h.api_key, "msg_req_sig", ts, body.as_bytes());
        let signed = post_raw(
            h,
            body,
            &[
                ("webhook-id", "msg_req_sig".into()),
                ("webhook-timestamp", ts.to_string()),
                ("webhook-signature", sig),
            ],
        )
        .await
        .status();
        h.set_config("webhook:require_signature", "false").await;
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        assert_eq!(unsigned, (401, "unauthorized".into()));
        assert_eq!(signed, 202);
        assert_eq!(
            h.webhook(&with_key(h, &unique("req-sig-off")), &[])
                .await
                .status(),
            202,
            "off again: apiKey suffices"
        );
    })
}

/// Issue 14: the audit actor comes from the credential: the internal key cannot write an entry
/// that passes for a Telegram user, and the ledger cannot be written through the gateway.
fn the_audit_actor_comes_from_the_credential(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        let put = |actor: &'static str, value: &'static str| {
            h.http
                .put(h.url("/admin/config/trade:max_signal_age_seconds"))
                .header("X-Internal-Auth-Key", &h.internal_key)
                .header("X-Hoox-Actor", actor)
                .body(value)
                .send()
        };
        assert_eq!(
            put("telegram:-100777:op", "301")
                .await
                .expect("put")
                .status(),
            200
        );
        assert_eq!(put("cli:auditor", "300").await.expect("put").status(), 200);
        let rows = h
            .wait_rows(
                "SELECT actor FROM audit_log WHERE target = 'config:trade:max_signal_age_seconds' AND detail LIKE '%\"value\":\"30_\"%' ORDER BY id",
                &[],
                2,
                WAIT,
            )
            .await;
        let actors: Vec<&str> = rows.iter().filter_map(|r| r["actor"].as_str()).collect();
        assert!(
            actors.contains(&"internal-key:telegram:-100777:op"),
            "a forged Telegram actor is named for the key: {actors:?}"
        );
        assert!(actors.contains(&"cli:auditor"), "{actors:?}");
        assert!(!actors.contains(&"telegram:-100777:op"), "{actors:?}");
        let forged = h
            .http
            .post(h.url("/admin/ledger/audit"))
            .header("X-Internal-Auth-Key", &h.internal_key)
            .json(&json!({"actor": "telegram:1:x", "action": "config_set", "target": "config:x", "detail": "{}"}))
            .send()
            .await
            .expect("ledger write");
        assert_eq!(code_of(forged).await, (405, "method_not_allowed".into()));
    })
}

fn main() {
    let args = integration::suite_args();
    let hoox = || {
        Hoox::start_with(&[
            ("HOOX_FAULTS", "store_unavailable,outbox_send"),
            ("WEBHOOK_RATE_LIMIT", "20/s"),
        ])
    };
    let scenarios: Vec<(&str, Scenario)> = vec![
        ("standard_webhook_signatures", standard_webhook_signatures),
        ("webhook_id_is_the_key", webhook_id_is_the_key),
        (
            "keyless_repeats_within_the_window_are_one_signal",
            keyless_repeats_within_the_window_are_one_signal,
        ),
        ("refusals", refusals),
        ("sender_formats", sender_formats),
        (
            "outbox_delivers_after_queue_failure",
            outbox_delivers_after_queue_failure,
        ),
        (
            "concurrent_duplicates_make_one_job",
            concurrent_duplicates_make_one_job,
        ),
        (
            "rate_limited_with_retry_after",
            rate_limited_with_retry_after,
        ),
        ("ip_allow_list", ip_allow_list),
        ("store_refuses_bad_calls", store_refuses_bad_calls),
        ("no_secret_in_logs_or_records", no_secret_in_logs_or_records),
        (
            "telegram_webhook_is_checked_at_the_gateway",
            telegram_webhook_is_checked_at_the_gateway,
        ),
        (
            "refusals_cannot_drain_a_senders_bucket",
            refusals_cannot_drain_a_senders_bucket,
        ),
        (
            "require_signature_refuses_unsigned_signals",
            require_signature_refuses_unsigned_signals,
        ),
        (
            "the_audit_actor_comes_from_the_credential",
            the_audit_actor_comes_from_the_credential,
        ),
    ];
    let conclusion = run_suite(&args, hoox, &scenarios, 80);
    integration::suite::exit(&[conclusion]);
}
