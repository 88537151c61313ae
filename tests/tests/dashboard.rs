//! The dashboard (issue 16) in a real browser: Debian's Chromium driven through chromedriver
//! (WebDriver, `fantoccini`) against every worker on the local runtime, on data made by sending
//! real signals through the webhook (paper trading). Logging in and out, the lock-out, session
//! expiry, every view with the pipeline's data, the kill switch reaching CONFIG_KV and the audit
//! log, a dead letter replayed from the browser and its outcome in an open page's live feed, a
//! position closed, forged cross-site posts refused, no internal key in any page. A screenshot of
//! each view is kept in `target/test-artifacts/dashboard-*.png`.

use fantoccini::{Client, ClientBuilder, Locator};
use integration::mock_telegram::MockTelegram;
use integration::{dev_var, root, run_suite, unique, Hoox, Scenario};
use reqwest::Method;
use serde_json::{json, Value};
use std::future::Future;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

type Fut<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

static DRIVER_URL: OnceLock<String> = OnceLock::new();
static TELEGRAM: OnceLock<MockTelegram> = OnceLock::new();
const USER: &str = "operator";
const WAIT: Duration = Duration::from_secs(30);
/// The idle timeout the suite runs with (the floor the dashboard accepts).
const IDLE_S: u64 = 30;
const WIDTH: u32 = 1366;
const HEIGHT: u32 = 900;

/// chromedriver on a free port, stopped when the suite ends.
struct Driver {
    child: std::sync::Mutex<Child>,
    url: String,
}

impl Driver {
    fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "chromedriver (Debian package chromium-driver; `cargo xtask test` installs it)",
            );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Driver {
            child: std::sync::Mutex::new(child),
            url,
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Ok(mut c) = self.child.lock() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A fresh browser (its own profile: no cookie of another).
async fn browser() -> Client {
    let driver_url = DRIVER_URL.get().expect("chromedriver started in main");
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     format!("--window-size={WIDTH},{HEIGHT}")],
        }),
    );
    caps.insert("unhandledPromptBehavior".into(), json!("ignore"));
    let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(driver_url)
        .await
        .expect("a chromium session");
    c.set_window_size(WIDTH, HEIGHT).await.expect("window size");
    c
}

fn dash(h: &Hoox, path: &str) -> String {
    h.url(&format!("/dashboard{path}"))
}

fn password() -> String {
    dev_var("DASHBOARD_PASSWORD")
}

/// Logs `c` in through the form; the overview is open after.
async fn login(h: &Hoox, c: &Client) {
    c.goto(&dash(h, "/")).await.expect("goto");
    let url = c.current_url().await.expect("url");
    assert!(
        url.path().ends_with("/dashboard/login"),
        "redirected to the login: {url}"
    );
    fill(c, "input[name=user]", USER).await;
    fill(c, "input[name=password]", &password()).await;
    click(c, "section.login button[type=submit]").await;
    wait_text(c, "h1", "Overview").await;
}

async fn fill(c: &Client, css: &str, text: &str) {
    let e = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    e.clear().await.expect("clear");
    e.send_keys(text).await.expect("type");
}

async fn click(c: &Client, css: &str) {
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

/// Accepts the page's `confirm()` (forms marked data-confirm ask first).
async fn accept(c: &Client) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if c.accept_alert().await.is_ok() {
            return;
        }
        assert!(Instant::now() < deadline, "no confirmation was asked");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn text_of(c: &Client, css: &str) -> String {
    match c.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Waits until `css`'s text contains `needle`.
async fn wait_text(c: &Client, css: &str, needle: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let t = text_of(c, css).await;
        if t.contains(needle) {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "{css} never showed {needle:?}; it shows {t:?}; page: {}",
            c.source()
                .await
                .unwrap_or_default()
                .chars()
                .take(3000)
                .collect::<String>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Keeps a screenshot of what `c` shows as a test artifact.
async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    let dir = root().join("target/test-artifacts");
    std::fs::create_dir_all(&dir).expect("artifact dir");
    std::fs::write(dir.join(format!("dashboard-{name}.png")), png).expect("screenshot file");
}

/// A paper signal through the webhook; its key.
async fn signal(h: &Hoox, action: &str, symbol: &str, qty: &str) -> String {
    let key = unique("dash");
    let r = h
        .webhook(
            &json!({"apiKey": h.api_key, "exchange": "paper", "action": action, "symbol": symbol,
                    "quantity": qty, "price": "50000", "idempotencyKey": key}),
            &[],
        )
        .await;
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    key
}

async fn wait_sql(h: &Hoox, sql: &str, params: &[Value]) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let rows = h.sql(sql, params).await;
        if !rows.is_empty() {
            return rows;
        }
        assert!(Instant::now() < deadline, "no rows for {sql} {params:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn config_value(h: &Hoox, key: &str) -> Option<String> {
    let (status, v) = h.admin(Method::GET, "/admin/config", None).await;
    assert_eq!(status, 200, "{v}");
    v["keys"]
        .as_array()
        .and_then(|ks| ks.iter().find(|k| k["key"] == key))
        .and_then(|k| k["value"].as_str().map(str::to_owned))
}

/// Confirms the confirmation page `c` shows (its button, then the browser's prompt) and waits
/// for `accepted`; then submits the same form again, as a double click or a resent request
/// would, which must be accepted as the same signal. The form's one-time key.
async fn confirm_twice(h: &Hoox, c: &Client, path: &str, names: &[&str], accepted: &str) -> String {
    let mut form = String::from("confirm=yes");
    let mut once = String::new();
    for name in names {
        let v = c
            .find(Locator::Css(&format!(
                "form[data-confirm] input[name={name}]"
            )))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .attr("value")
            .await
            .unwrap()
            .unwrap_or_default();
        if *name == "once" {
            once = v.clone();
        }
        form.push_str(&format!("&{name}={v}"));
    }
    let session = cookie(c).await;
    click(c, "button[name=confirm]").await;
    accept(c).await;
    wait_text(c, "main", accepted).await;
    let (status, body) = raw(
        h,
        Method::POST,
        path,
        &session,
        &[("origin", &h.base)],
        Some(&form),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(accepted), "{body}");
    once
}

/// The session cookie `c` holds.
async fn cookie(c: &Client) -> String {
    let k = c
        .get_named_cookie("__Host-hoox_session")
        .await
        .expect("session cookie");
    format!("__Host-hoox_session={}", k.value())
}

/// A request with a session cookie and headers, as a script on some page could send it.
async fn raw(
    h: &Hoox,
    method: Method,
    path: &str,
    cookie: &str,
    headers: &[(&str, &str)],
    form: Option<&str>,
) -> (u16, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut req = client
        .request(method, dash(h, path))
        .header("cookie", cookie);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(f) = form {
        req = req
            .header("content-type", "application/x-www-form-urlencoded")
            .body(f.to_owned());
    }
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .map(str::to_owned);
    let body = r.text().await.unwrap_or_default();
    (
        status,
        location.map_or(body.clone(), |l| format!("location: {l}\n{body}")),
    )
}

/// The pipeline's data: fills, an open paper position, a dead letter, an equity snapshot.
async fn seed(h: &Hoox) -> (String, String) {
    h.set_config("trade:max_order_notional", "100000").await;
    h.config_visible().await;
    let opened = signal(h, "LONG", "BTCUSDT", "0.02").await;
    let eth = signal(h, "LONG", "ETHUSDT", "0.5").await;
    wait_sql(
        h,
        "SELECT * FROM signals WHERE idempotency_key = ? AND outcome = 'filled'",
        &[json!(opened)],
    )
    .await;
    wait_sql(
        h,
        "SELECT * FROM signals WHERE idempotency_key = ? AND outcome = 'filled'",
        &[json!(eth)],
    )
    .await;
    // The account read writes the day's equity snapshot (paper's from its fills). A signal's
    // outcome and its fills are separate ledger writes, so a run may come before the fills: the
    // cron runs again until the snapshot is there.
    let deadline = Instant::now() + WAIT;
    loop {
        h.trigger_cron("trade-worker").await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        if !h
            .sql("SELECT * FROM equity_snapshots", &[])
            .await
            .is_empty()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no equity snapshot after the account reads; orders {:?}\n{}",
            h.sql("SELECT * FROM orders", &[]).await,
            h.log_tail(60)
        );
    }
    (opened, eth)
}

fn every_view_shows_the_pipelines_data(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        let (opened, _) = seed(h).await;
        let c = browser().await;
        login(h, &c).await;
        let paper = c
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css("article.card[data-network=paper]"))
            .await
            .expect("a paper card");
        let figures = paper.text().await.unwrap_or_default();
        assert!(figures.contains("Open positions\n2"), "{figures}");
        wait_text(&c, "#today", "filled").await;
        let drawn = c
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css("#equity-chart[data-drawn]"))
            .await
            .expect("the equity chart is drawn");
        assert!(
            drawn.find(Locator::Css("canvas")).await.is_ok(),
            "uPlot drew a canvas"
        );
        shot(&c, "overview").await;

        c.goto(&dash(h, "/positions")).await.unwrap();
        let pos = wait_text(&c, "#positions", "BTCUSDT").await;
        assert!(pos.contains("paper") && pos.contains("0.02"), "{pos}");
        shot(&c, "positions").await;

        c.goto(&dash(h, "/signals?symbol=BTCUSDT")).await.unwrap();
        let list = wait_text(&c, "#signals", &opened).await;
        assert!(!list.contains("ETHUSDT"), "the symbol filter holds: {list}");
        shot(&c, "signals").await;
        // The path ends with the alert, recorded after the fan-out sent it (this suite allows
        // no chat, so it says why none went out).
        wait_sql(
            h,
            "SELECT 1 FROM signals WHERE idempotency_key = ? AND alerted_at_ms IS NOT NULL",
            &[json!(opened)],
        )
        .await;
        click(&c, &format!("#signals a[href$='{opened}']")).await;
        let trail = wait_text(&c, "#trail", "Outcome: filled").await;
        for stage in ["received", "recorded", "executed", "exchange", "alert"] {
            assert!(trail.contains(stage), "the path shows {stage}: {trail}");
        }
        assert!(
            trail.contains("Telegram alert not sent: no chat in telegram:allowed_chat_ids"),
            "{trail}"
        );
        shot(&c, "signal-path").await;

        c.goto(&dash(h, "/orders?exchange=paper")).await.unwrap();
        wait_text(&c, "#orders", "BTCUSDT").await;
        shot(&c, "orders").await;

        c.goto(&dash(h, "/config")).await.unwrap();
        let rows = c.find_all(Locator::Css("#config tbody tr")).await.unwrap();
        assert!(
            rows.len() >= console_keys(),
            "every key has a row ({})",
            rows.len()
        );
        let cfg = text_of(&c, "#config").await;
        assert!(
            cfg.contains("risk:stop_loss_pct") && cfg.contains("trade:max_order_notional"),
            "{cfg}"
        );
        shot(&c, "config").await;

        c.goto(&dash(h, "/workers")).await.unwrap();
        let w = wait_text(&c, "#workers", "d1-worker").await;
        assert_eq!(
            w.matches("healthy").count(),
            7,
            "every bound worker answers: {w}"
        );
        shot(&c, "workers").await;

        c.goto(&dash(h, "/agent")).await.unwrap();
        wait_text(&c, "main", "rules").await;
        shot(&c, "agent").await;

        c.goto(&dash(h, "/reports")).await.unwrap();
        wait_text(&c, "main", "Make the report").await;
        shot(&c, "reports").await;
        c.close().await.ok();
    })
}

/// The 34 keys `console::keys` explains (the manifest, the typed keys beside it, the rules).
fn console_keys() -> usize {
    34
}

fn the_kill_switch_toggles_through_config_kv_and_the_audit_log(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        let c = browser().await;
        login(h, &c).await;
        fill(
            &c,
            "form.kill input[name=reason]",
            "dashboard test: maintenance",
        )
        .await;
        click(&c, "form.kill button").await;
        accept(&c).await;
        wait_text(&c, "main", "trade:kill_switch = true").await;
        assert_eq!(
            config_value(h, "trade:kill_switch").await.as_deref(),
            Some("true")
        );
        let audit = wait_sql(
            h,
            "SELECT * FROM audit_log WHERE action = 'config_set' AND actor = 'dashboard:operator' AND detail LIKE '%maintenance%'",
            &[],
        )
        .await;
        assert!(
            audit[0]["detail"]
                .as_str()
                .unwrap_or("")
                .contains("\"value\":\"true\""),
            "{audit:?}"
        );
        h.config_written();
        c.goto(&dash(h, "/")).await.unwrap();
        wait_text(&c, "#kill-badge", "KILL SWITCH ON").await;
        shot(&c, "kill-switch-on").await;
        // A signal while it is on becomes a dead letter (replayed in the next scenario).
        h.config_visible().await;
        let blocked = signal(h, "LONG", "SOLUSDT", "1").await;
        wait_sql(
            h,
            "SELECT * FROM dead_letters WHERE idempotency_key = ?",
            &[json!(blocked)],
        )
        .await;
        c.goto(&dash(h, "/audit?actor=dashboard:operator"))
            .await
            .unwrap();
        wait_text(&c, "#audit", "trade:kill_switch").await;
        shot(&c, "audit").await;
        c.goto(&dash(h, "/")).await.unwrap();
        fill(&c, "form.kill input[name=reason]", "dashboard test: done").await;
        click(&c, "form.kill button").await;
        accept(&c).await;
        wait_text(&c, "main", "trade:kill_switch = false").await;
        assert_eq!(
            config_value(h, "trade:kill_switch").await.as_deref(),
            Some("false")
        );
        h.config_written();
        // A manifest key gone from CONFIG_KV is written back with its default from the config
        // page (`hoox config apply-manifest`), audited; the stored ones are left alone.
        let age = "trade:max_signal_age_seconds";
        h.delete_kv_prefix(age).await;
        c.goto(&dash(h, "/config")).await.unwrap();
        wait_text(&c, "#apply-manifest", "not stored").await;
        click(&c, "#apply-manifest button").await;
        let done = wait_text(&c, "main", "Written with their defaults").await;
        assert!(
            done.contains(age) && !done.contains("trade:kill_switch"),
            "{done}"
        );
        assert_eq!(config_value(h, age).await.as_deref(), Some("300"));
        wait_sql(
            h,
            "SELECT 1 FROM audit_log WHERE action = 'config_set' AND actor = 'dashboard:operator' AND target = ?",
            &[json!(format!("config:{age}"))],
        )
        .await;
        h.config_written();
        c.close().await.ok();
    })
}

fn a_replayed_dead_letter_shows_its_outcome_in_the_live_feed(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        h.config_visible().await;
        let dl = wait_sql(
            h,
            "SELECT * FROM dead_letters WHERE symbol = 'SOLUSDT' AND status = 'pending'",
            &[],
        )
        .await;
        let id = dl[0]["id"].as_i64().expect("dead letter id");
        let key = dl[0]["idempotency_key"].as_str().unwrap_or("").to_owned();
        // One page stays open on the overview, its feed live.
        let watcher = browser().await;
        login(h, &watcher).await;
        watcher
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css("#feed-state[data-live]"))
            .await
            .expect("the feed is live");
        // Another browser replays it, after a dry run.
        let c = browser().await;
        login(h, &c).await;
        c.goto(&dash(h, "/dead-letters?status=pending"))
            .await
            .unwrap();
        wait_text(&c, "#dead-letters", "kill_switch").await;
        shot(&c, "dead-letters").await;
        // The list's filters select a bulk replay; its dry run names what it would send.
        c.goto(&dash(h, "/dead-letters?status=pending&reason=kill_switch"))
            .await
            .unwrap();
        click(&c, "#replay-matching button[value=true]").await;
        let would = wait_text(&c, "#replay-results", "would replay").await;
        assert!(would.contains(&format!("#{id}")), "{would}");
        c.goto(&dash(h, &format!("/dead-letters/{id}")))
            .await
            .unwrap();
        wait_text(&c, "main", "kill_switch").await;
        shot(&c, "dead-letter").await;
        click(&c, "button[name=dry_run][value=true]").await;
        wait_text(&c, "#replay-results", "would replay").await;
        assert_eq!(
            h.sql("SELECT status FROM dead_letters WHERE id = ?", &[json!(id)])
                .await[0]["status"],
            "pending",
            "a dry run changes nothing"
        );
        c.goto(&dash(h, &format!("/dead-letters/{id}")))
            .await
            .unwrap();
        click(&c, "button[name=dry_run][value=false]").await;
        accept(&c).await;
        wait_text(&c, "#replay-results", "replayed").await;
        let replayed_at = Instant::now();
        // The feed's delay is counted from the outcome's arrival in the ledger (the page can show
        // nothing sooner); the replay's own execution comes before that.
        let ((line, shown_at), in_ledger_at) = tokio::join!(
            async {
                let line = wait_text(&watcher, "#feed", "SOLUSDT on paper: filled").await;
                (line, Instant::now())
            },
            async {
                wait_sql(
                    h,
                    "SELECT 1 FROM signals WHERE idempotency_key = ? AND outcome = 'filled'",
                    &[json!(key)],
                )
                .await;
                Instant::now()
            }
        );
        eprintln!(
            "live feed showed the replayed signal {:?} after the replay, {:?} after its outcome reached the ledger: {line:?}",
            shown_at - replayed_at,
            shown_at.saturating_duration_since(in_ledger_at),
        );
        watcher
            .execute("document.getElementById('feed').scrollIntoView()", vec![])
            .await
            .expect("scroll to the feed");
        shot(&watcher, "live-feed").await;
        let audit = h
            .sql(
                "SELECT actor FROM audit_log WHERE action = 'replay' AND target = ?",
                &[json!(format!("dead_letter:{id}"))],
            )
            .await;
        assert_eq!(
            audit.first().map(|a| a["actor"].clone()),
            Some(json!("dashboard:operator"))
        );
        assert_eq!(
            h.sql(
                "SELECT COUNT(*) AS n FROM orders WHERE idempotency_key = ?",
                &[json!(key)]
            )
            .await[0]["n"],
            1,
            "the replay is one order"
        );
        c.close().await.ok();
        watcher.close().await.ok();
    })
}

fn a_manual_order_is_placed_from_the_browser(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        let c = browser().await;
        login(h, &c).await;
        c.goto(&dash(h, "/orders")).await.unwrap();
        click(&c, "#new-order").await;
        wait_text(&c, "h1", "New order").await;
        // What a webhook would refuse is refused with the field named, and nothing is sent.
        fill(&c, "input[name=symbol]", "SOLUSDT").await;
        fill(&c, "input[name=quantity]", "-1").await;
        fill(&c, "input[name=price]", "150").await;
        click(&c, "form.order button[type=submit]").await;
        wait_text(&c, "p.notice.bad", "quantity").await;
        shot(&c, "order-refused").await;
        fill(&c, "input[name=quantity]", "1").await;
        click(&c, "form.order button[type=submit]").await;
        wait_text(
            &c,
            "main",
            "LONG 1 SOLUSDT on paper mainnet (market at 150)",
        )
        .await;
        shot(&c, "order-confirm").await;
        let once = confirm_twice(
            h,
            &c,
            "/orders/new",
            &[
                "csrf",
                "exchange",
                "network",
                "action",
                "symbol",
                "quantity",
                "order_type",
                "price",
                "leverage",
                "once",
            ],
            "was accepted",
        )
        .await;
        let key = format!("dashboard:order:{once}");
        let filled = wait_sql(
            h,
            "SELECT 1 FROM signals WHERE idempotency_key = ? AND outcome = 'filled'",
            &[json!(key)],
        )
        .await;
        assert_eq!(filled.len(), 1);
        assert_eq!(
            h.sql(
                "SELECT COUNT(*) AS n FROM orders WHERE idempotency_key = ?",
                &[json!(key)]
            )
            .await[0]["n"],
            1,
            "one order for one confirmation"
        );
        let audit = h
            .sql(
                "SELECT actor FROM audit_log WHERE action = 'manual_order' AND target = ?",
                &[json!(format!("signal:{key}"))],
            )
            .await;
        assert_eq!(
            audit.len(),
            2,
            "each accepted submission is audited: {audit:?}"
        );
        assert!(audit.iter().all(|a| a["actor"] == "dashboard:operator"));
        c.goto(&dash(h, &format!("/signals/{}", key.replace(':', "%3A"))))
            .await
            .unwrap();
        let trail = wait_text(&c, "#trail", "Outcome: filled").await;
        assert!(
            trail.contains("manual_order"),
            "the path shows who sent it: {trail}"
        );
        shot(&c, "order-path").await;
    })
}

fn a_position_is_closed_from_the_browser(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        let c = browser().await;
        login(h, &c).await;
        c.goto(&dash(h, "/positions")).await.unwrap();
        wait_text(&c, "#positions", "ETHUSDT").await;
        click(&c, "#positions tr[data-symbol=ETHUSDT] button").await;
        wait_text(&c, "main", "reduce-only market order").await;
        shot(&c, "close-confirm").await;
        confirm_twice(
            h,
            &c,
            "/positions/close",
            &[
                "csrf", "exchange", "network", "symbol", "side", "size", "price", "once",
            ],
            "The close was accepted",
        )
        .await;
        let orders = wait_sql(
            h,
            "SELECT o.* FROM orders o JOIN signals s ON s.idempotency_key = o.idempotency_key \
             WHERE o.idempotency_key LIKE 'dashboard:close:%ETHUSDT%' AND s.outcome = 'filled'",
            &[],
        )
        .await;
        assert_eq!(orders.len(), 1, "{orders:?}");
        let audit = wait_sql(
            h,
            "SELECT * FROM audit_log WHERE action = 'position_close' AND actor = 'dashboard:operator'",
            &[],
        )
        .await;
        assert!(
            audit[0]["target"]
                .as_str()
                .is_some_and(|t| t.contains("ETHUSDT")),
            "{audit:?}"
        );
        assert!(
            orders[0]["side"]
                .as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case("sell")),
            "a sell closes the long: {orders:?}"
        );
        c.goto(&dash(h, "/positions")).await.unwrap();
        let deadline = Instant::now() + WAIT;
        loop {
            let rows = text_of(&c, "#positions").await;
            if !rows.contains("ETHUSDT") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the position is still open: {rows}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
            c.refresh().await.unwrap();
        }
        c.close().await.ok();
    })
}

fn forged_posts_are_refused_and_no_page_carries_a_secret(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        let c = browser().await;
        login(h, &c).await;
        let session = cookie(&c).await;
        let csrf = c
            .find(Locator::Css("input[name=csrf]"))
            .await
            .unwrap()
            .attr("value")
            .await
            .unwrap()
            .unwrap_or_default();
        let origin = h.base.clone();
        let form = format!("csrf={csrf}&on=true&reason=forged+attempt");
        for (why, headers) in [
            ("another origin", vec![("origin", "https://evil.example")]),
            ("no origin", vec![]),
        ] {
            let (status, body) =
                raw(h, Method::POST, "/kill", &session, &headers, Some(&form)).await;
            assert_eq!(status, 403, "{why}: {body}");
        }
        let (status, body) = raw(
            h,
            Method::POST,
            "/kill",
            &session,
            &[("origin", &origin)],
            Some("csrf=forged&on=true&reason=forged+attempt"),
        )
        .await;
        assert_eq!(status, 403, "a wrong CSRF token: {body}");
        assert!(body.contains("CSRF"), "{body}");
        assert_eq!(
            config_value(h, "trade:kill_switch").await.as_deref(),
            Some("false"),
            "nothing changed"
        );
        // The same request from this origin with the session's token is taken.
        let (status, body) = raw(
            h,
            Method::POST,
            "/kill",
            &session,
            &[("origin", &origin)],
            Some(&form.replace("true", "false")),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        h.config_written();

        let secrets = [
            dev_var("INTERNAL_KEY_BINDING"),
            dev_var("WEBHOOK_API_KEY"),
            dev_var("DASHBOARD_PASSWORD_HASH"),
            dev_var("TELEGRAM_SECRET_TOKEN"),
        ];
        for path in [
            "/",
            "/positions",
            "/signals",
            "/orders",
            "/dead-letters",
            "/config",
            "/audit",
            "/workers",
            "/agent",
            "/reports",
            "/feed.json",
            "/assets/app.js",
        ] {
            let client = reqwest::Client::new();
            let r = client
                .get(dash(h, path))
                .header("cookie", &session)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{path}");
            let csp = r
                .headers()
                .get("content-security-policy")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let body = r.text().await.unwrap();
            for s in &secrets {
                assert!(!body.contains(s.as_str()), "{path} carries a secret");
            }
            assert!(
                csp.contains("script-src 'self'") && !csp.contains("unsafe"),
                "{path}: CSP {csp:?}"
            );
        }
        // The internal key does not open the dashboard, and is not passed on by the gateway.
        let (status, body) = raw(
            h,
            Method::GET,
            "/",
            "",
            &[("X-Internal-Auth-Key", &h.internal_key)],
            None,
        )
        .await;
        assert_eq!(status, 303, "{body}");
        assert!(body.contains("/dashboard/login"), "{body}");
        c.close().await.ok();
    })
}

fn sessions_expire_and_logout_revokes(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        let c = browser().await;
        login(h, &c).await;
        let session = cookie(&c).await;
        let cookie_attrs = {
            let k = c.get_named_cookie("__Host-hoox_session").await.unwrap();
            (
                k.http_only(),
                k.secure(),
                k.same_site().map(|s| s.to_string()),
            )
        };
        assert_eq!(
            cookie_attrs,
            (Some(true), Some(true), Some("Strict".into()))
        );
        click(&c, "header form button").await;
        wait_text(&c, "h1", "hoox").await;
        assert!(c.current_url().await.unwrap().path().ends_with("/login"));
        let (status, body) = raw(h, Method::GET, "/", &session, &[], None).await;
        assert_eq!(status, 303, "a revoked session opens nothing: {body}");
        let (status, _) = raw(h, Method::GET, "/feed.json", &session, &[], None).await;
        assert_eq!(status, 401);
        shot(&c, "login").await;

        // An idle session ends: the suite runs with the shortest idle timeout.
        login(h, &c).await;
        let idle = cookie(&c).await;
        c.goto("about:blank").await.unwrap();
        let (status, _) = raw(h, Method::GET, "/audit", &idle, &[], None).await;
        assert_eq!(status, 200);
        tokio::time::sleep(Duration::from_secs(IDLE_S + 2)).await;
        let (status, body) = raw(h, Method::GET, "/audit", &idle, &[], None).await;
        assert_eq!(status, 303, "idle past the timeout: {body}");
        c.close().await.ok();
    })
}

fn a_wrong_password_is_refused_and_repeated_failures_lock_the_client_out(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        let c = browser().await;
        c.goto(&dash(h, "/login")).await.unwrap();
        for i in 1..=5 {
            fill(&c, "input[name=user]", USER).await;
            fill(&c, "input[name=password]", "not-the-password").await;
            click(&c, "section.login button[type=submit]").await;
            let expect = if i < 5 {
                "wrong user or password"
            } else {
                "too many failed logins"
            };
            wait_text(&c, "p.notice", expect).await;
        }
        shot(&c, "login-locked").await;
        // Locked out, even the right password is refused for the window.
        fill(&c, "input[name=user]", USER).await;
        fill(&c, "input[name=password]", &password()).await;
        click(&c, "section.login button[type=submit]").await;
        wait_text(&c, "p.notice", "too many failed logins").await;
        assert!(
            c.get_named_cookie("__Host-hoox_session").await.is_err(),
            "no session was made"
        );
        c.close().await.ok();
    })
}

fn main() {
    let args = integration::suite_args();
    let telegram = MockTelegram::start(&dev_var("TG_BOT_TOKEN_BINDING"));
    let vars = [
        ("TELEGRAM_API_BASE".to_string(), telegram.base()),
        (
            "DASHBOARD_IDLE_TIMEOUT_SECONDS".to_string(),
            IDLE_S.to_string(),
        ),
    ];
    let _ = TELEGRAM.set(telegram);
    let scenarios: Vec<(&str, Scenario)> = vec![
        (
            "every_view_shows_the_pipelines_data",
            every_view_shows_the_pipelines_data,
        ),
        (
            "the_kill_switch_toggles_through_config_kv_and_the_audit_log",
            the_kill_switch_toggles_through_config_kv_and_the_audit_log,
        ),
        (
            "a_replayed_dead_letter_shows_its_outcome_in_the_live_feed",
            a_replayed_dead_letter_shows_its_outcome_in_the_live_feed,
        ),
        (
            "a_position_is_closed_from_the_browser",
            a_position_is_closed_from_the_browser,
        ),
        (
            "a_manual_order_is_placed_from_the_browser",
            a_manual_order_is_placed_from_the_browser,
        ),
        (
            "forged_posts_are_refused_and_no_page_carries_a_secret",
            forged_posts_are_refused_and_no_page_carries_a_secret,
        ),
        (
            "sessions_expire_and_logout_revokes",
            sessions_expire_and_logout_revokes,
        ),
        // Last: it locks this machine's address out of logging in.
        (
            "a_wrong_password_is_refused_and_repeated_failures_lock_the_client_out",
            a_wrong_password_is_refused_and_repeated_failures_lock_the_client_out,
        ),
    ];
    let driver = Driver::start();
    let _ = DRIVER_URL.set(driver.url.clone());
    let vars_ref: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let conclusion = run_suite(&args, || Hoox::start_with(&vars_ref), &scenarios, 120);
    drop(driver);
    integration::suite::exit(&[conclusion]);
}
