//! The report-worker on the local Workers runtime: a hand-computed ledger (seeded through the
//! fixture on yesterday's date) reported on demand and by the cron, the PDF printed by a
//! stand-in of Browser Rendering that runs headless Chromium (so the PDF is real: `pdftotext`
//! reads the figures back, `pdftoppm` renders page 1 to `target/test-artifacts/`), the files and
//! metadata in R2, the document at the mock Bot API, the gateway's `/admin/reports/*`, the CLI,
//! the bot's `/daily` and `/profit`, a rerun replacing rather than duplicating; then a second run
//! without `CF_API_TOKEN`: HTML and JSON stored, no PDF, never a fake one.

use integration::mock_browser::{artifacts_dir, MockBrowser};
use integration::mock_telegram::MockTelegram;
use integration::{dev_var, root, run_suite, Hoox, Scenario};
use serde_json::{json, Value};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

const CHAT: i64 = 515_151;
const ACCOUNT: &str = "acct-reports";
const TOKEN: &str = "br-token-for-tests";
const H: i64 = 3_600_000;
const DAY: i64 = 86_400_000;

static TELEGRAM: OnceLock<MockTelegram> = OnceLock::new();
static BROWSER: OnceLock<MockBrowser> = OnceLock::new();
static HOOX_BIN: OnceLock<PathBuf> = OnceLock::new();

type Fut<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

fn tg() -> &'static MockTelegram {
    TELEGRAM.get().expect("mock telegram")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Yesterday's UTC midnight, and its `YYYY-MM-DD`.
fn yesterday() -> (i64, String) {
    let start = (now_ms() / DAY - 1) * DAY;
    (start, day_text(start))
}

fn day_text(ms: i64) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{}", ms / 1000), "+%F"])
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The ledger of `report::metrics`'s hand-computed day, on yesterday: mainnet realised
/// 93.95 − 53.025 + 16.89 = 57.815 USDT net, fees 12.185, 3 trades, 2 wins (66.67 %), profit
/// factor 110.84 / 53.025 = 2.09, start equity 15000 (return 0.39 %), max drawdown 53.025;
/// testnet −1000 on its own.
async fn seed(h: &Hoox) {
    let (d0, day) = yesterday();
    let today = day_text(d0 + DAY);
    let f = |key: &str,
             ex: &str,
             net: &str,
             sym: &str,
             act: &str,
             qty: &str,
             price: &str,
             fee: &str,
             at: i64| {
        json!({"key": key, "exchange": ex, "network": net, "symbol": sym, "action": act,
               "qty": qty, "price": price, "fee": fee, "at": at})
    };
    let fills = vec![
        f(
            "r1", "bybit", "mainnet", "BTCUSDT", "LONG", "0.1", "60000", "3", d0,
        ),
        f(
            "r2",
            "bybit",
            "mainnet",
            "BTCUSDT",
            "CLOSE_LONG",
            "0.1",
            "61000",
            "3.05",
            d0 + 2 * H,
        ),
        f(
            "r3",
            "binance",
            "mainnet",
            "ETHUSDT",
            "SHORT",
            "1",
            "3000",
            "1.5",
            d0 + H,
        ),
        f(
            "r4",
            "binance",
            "mainnet",
            "ETHUSDT",
            "CLOSE_SHORT",
            "1",
            "3050",
            "1.525",
            d0 + 5 * H,
        ),
        f(
            "r5",
            "bybit",
            "mainnet",
            "BTCUSDT",
            "LONG",
            "0.05",
            "62000",
            "1.55",
            d0 + 6 * H,
        ),
        f(
            "r6",
            "bybit",
            "mainnet",
            "BTCUSDT",
            "CLOSE_LONG",
            "0.05",
            "62400",
            "1.56",
            d0 + 9 * H,
        ),
        f(
            "r7",
            "bybit",
            "testnet",
            "BTCUSDT",
            "LONG",
            "1",
            "60000",
            "0",
            d0 + H,
        ),
        f(
            "r8",
            "bybit",
            "testnet",
            "BTCUSDT",
            "CLOSE_LONG",
            "1",
            "59000",
            "0",
            d0 + 3 * H,
        ),
    ];
    let e = |ex: &str, day: &str, eq: &str, upnl: &str| json!({"exchange": ex, "network": "mainnet", "day": day, "equity": eq, "unrealised_pnl": upnl});
    let equity = vec![
        e("bybit", &day, "10000", "0"),
        e("binance", &day, "5000", "0"),
        e("bybit", &today, "10110.84", "12.5"),
        e("binance", &today, "4946.975", "0"),
    ];
    let r = h
        .http
        .post(h.url("/__fixture/ledger/seed-report"))
        .json(&json!({"fills": fills, "equity": equity}))
        .send()
        .await
        .expect("seed");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
}

async fn admin(h: &Hoox, method: &str, path: &str, body: Option<Value>) -> (u16, Vec<u8>) {
    let mut req = match method {
        "POST" => h.http.post(h.url(path)),
        _ => h.http.get(h.url(path)),
    }
    .header("X-Internal-Auth-Key", &h.internal_key)
    .timeout(Duration::from_secs(120));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.expect("admin request");
    let status = r.status().as_u16();
    (
        status,
        r.bytes().await.map(|b| b.to_vec()).unwrap_or_default(),
    )
}

async fn generate(h: &Hoox, period: &str, date: &str) -> Value {
    let (status, body) = admin(
        h,
        "POST",
        "/admin/reports/reports",
        Some(json!({"period": period, "date": date})),
    )
    .await;
    let text = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).expect("generate answer")
}

async fn list(h: &Hoox) -> Vec<Value> {
    let (status, body) = admin(h, "GET", "/admin/reports/reports", None).await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_slice(&body).expect("list");
    v["reports"].as_array().cloned().unwrap_or_default()
}

fn pdftotext(pdf: &[u8], name: &str) -> String {
    let path = artifacts_dir().join(name);
    std::fs::write(&path, pdf).expect("write pdf");
    let out = Command::new("pdftotext")
        .args(["-layout"])
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils)");
    assert!(
        out.status.success(),
        "pdftotext: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn page_one_png(pdf_name: &str) -> PathBuf {
    let dir = artifacts_dir();
    let stem = dir.join(pdf_name.trim_end_matches(".pdf"));
    let status = Command::new("pdftoppm")
        .args(["-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile"])
        .arg(dir.join(pdf_name))
        .arg(&stem)
        .status()
        .expect("pdftoppm");
    assert!(status.success());
    stem.with_extension("png")
}

fn on_demand_report_is_a_real_pdf_with_the_figures(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        seed(h).await;
        let (_, day) = yesterday();
        tg().clear();
        let g = generate(h, "daily", &day).await;
        assert_eq!(g["pdf"]["rendered"], true, "{g}");
        let pdf_key = format!("reports/daily/{day}.pdf");
        assert_eq!(
            g["keys"],
            json!([
                pdf_key,
                format!("reports/daily/{day}.html"),
                format!("reports/daily/{day}.json")
            ])
        );
        let calls = BROWSER.get().map(MockBrowser::calls).unwrap_or_default();
        assert_eq!(calls.last().map(|c| c.status), Some(200), "{calls:?}");
        // The PDF through the gateway, read back as text.
        let (status, pdf) = admin(h, "GET", &format!("/admin/reports/{pdf_key}"), None).await;
        assert_eq!(status, 200);
        assert!(pdf.starts_with(b"%PDF-"), "a real PDF");
        let text = pdftotext(&pdf, "daily-report.pdf");
        for figure in [
            "Daily report",
            &day,
            "Live (mainnet)",
            "Testnet",
            "57.82",
            "12.19",
            "66.67%",
            "2.09",
            "0.39%",
            "15,000.00",
            "15,057.82",
            "53.03",
            "BTCUSDT",
            "ETHUSDT",
            "−1,000.00",
        ] {
            assert!(
                text.contains(figure),
                "{figure} missing from the PDF:\n{text}"
            );
        }
        let png = page_one_png("daily-report.pdf");
        assert!(std::fs::metadata(&png)
            .map(|m| m.len() > 1000)
            .unwrap_or(false));
        eprintln!("page 1: {}", png.display());
        // The figures as JSON.
        let (_, json_body) = admin(
            h,
            "GET",
            &format!("/admin/reports/reports/daily/{day}.json"),
            None,
        )
        .await;
        let figures: Value = serde_json::from_slice(&json_body).expect("figures");
        assert_eq!(figures["sections"][0]["realised_pnl"], "57.815");
        assert_eq!(figures["sections"][0]["fees"], "12.185");
        assert_eq!(figures["sections"][1]["section"], "testnet");
        // R2 keys and metadata.
        let files = list(h).await;
        let pdf_meta = files
            .iter()
            .find(|f| f["key"] == pdf_key)
            .expect("pdf listed");
        assert_eq!(pdf_meta["period"], day.as_str());
        assert_eq!(pdf_meta["kind"], "daily");
        assert_eq!(pdf_meta["size"], json!(pdf.len()));
        assert!(pdf_meta["generated_at"]
            .as_str()
            .is_some_and(|g| g.ends_with('Z')));
        // The document at the Bot API: the same PDF, with the headline caption.
        let docs = tg().documents();
        assert_eq!(docs.len(), 1, "one allowed chat, one document");
        assert_eq!(
            (docs[0].chat_id, docs[0].parse_mode.as_deref()),
            (CHAT, Some("HTML"))
        );
        assert_eq!(docs[0].bytes, pdf);
        assert_eq!(docs[0].filename, format!("hoox-daily-{day}.pdf"));
        let caption = docs[0].caption.clone().unwrap_or_default();
        assert!(
            caption.contains("57.82 USDT net") && caption.contains("−1,000.00"),
            "{caption}"
        );
        // A rerun replaces: the same three keys, once each.
        generate(h, "daily", &day).await;
        let again: Vec<String> = list(h)
            .await
            .iter()
            .filter_map(|f| f["key"].as_str().map(str::to_owned))
            .filter(|k| k.contains(&day))
            .collect();
        assert_eq!(again.len(), 3, "{again:?}");
        // Bad input is refused with the field named.
        let (status, body) = admin(
            h,
            "POST",
            "/admin/reports/reports",
            Some(json!({"period": "hourly"})),
        )
        .await;
        assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
        let (status, _) = admin(h, "GET", "/admin/reports/reports/daily/../../x.pdf", None).await;
        assert!(status == 400 || status == 404);
        let (status, _) = h
            .http
            .get(h.url("/admin/reports/reports"))
            .send()
            .await
            .map(|r| (r.status().as_u16(), ()))
            .expect("unauthenticated");
        assert_eq!(status, 401);
    })
}

fn the_cron_makes_each_due_report_once(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        tg().clear();
        h.trigger_cron("report-worker").await;
        // Yesterday's daily exists already; last week's and last month's are made.
        let docs = tg().documents();
        let names: Vec<&str> = docs.iter().map(|d| d.filename.as_str()).collect();
        assert_eq!(docs.len(), 2, "{names:?}");
        assert!(
            names.iter().any(|n| n.starts_with("hoox-weekly-")),
            "{names:?}"
        );
        assert!(
            names.iter().any(|n| n.starts_with("hoox-monthly-")),
            "{names:?}"
        );
        let files = list(h).await;
        for kind in ["weekly", "monthly"] {
            let n = files.iter().filter(|f| f["kind"] == kind).count();
            assert_eq!(n, 3, "{kind}: pdf, html, json");
        }
        h.trigger_cron("report-worker").await;
        assert_eq!(tg().documents().len(), 2, "a second run makes nothing new");
    })
}

fn bot_commands_answer_from_the_same_figures(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        tg().clear();
        let (_, day) = yesterday();
        for (text, expect) in [("/daily 2", day.as_str()), ("/profit", "Profit, all time")] {
            let update = json!({"update_id": 1, "message": {"message_id": 1, "date": 0, "text": text,
                "chat": {"id": CHAT, "type": "private"}, "from": {"id": 55, "is_bot": false, "first_name": "Op"}}});
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
                .expect("webhook");
            assert_eq!(r.status(), 200);
            let got = tg()
                .wait_for(Duration::from_secs(20), |m| {
                    m.chat_id == CHAT && m.text.contains(expect)
                })
                .unwrap_or_else(|| panic!("no reply to {text}: {:?}", tg().messages()));
            let reply = &got[0].text;
            assert!(reply.contains("57.82 USDT net"), "{text}: {reply}");
            assert!(
                reply.contains("<b>Testnet</b>: −1,000.00"),
                "{text}: {reply}"
            );
        }
    })
}

fn the_cli_lists_gets_and_generates(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        let (_, day) = yesterday();
        let dir = std::env::temp_dir().join(integration::unique("hoox-reports-cli"));
        std::fs::create_dir_all(&dir).expect("dir");
        let run = |args: &[&str]| {
            let out = Command::new(HOOX_BIN.get().expect("hoox"))
                .args(["--url", &h.base])
                .args(args)
                .current_dir(&dir)
                .env("HOOX_INTERNAL_KEY", &h.internal_key)
                .output()
                .expect("run hoox");
            (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        let (code, out, err) = run(&["reports", "list"]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains(&format!("reports/daily/{day}.pdf")), "{out}");
        let key = format!("reports/daily/{day}.pdf");
        let (code, _, err) = run(&["reports", "get", &key, "-o", "got.pdf"]);
        assert_eq!(code, 0, "{err}");
        let got = std::fs::read(dir.join("got.pdf")).expect("written");
        let (_, served) = admin(h, "GET", &format!("/admin/reports/{key}"), None).await;
        assert_eq!(got, served);
        let (code, out, err) = run(&["reports", "generate", "daily", "--date", &day]);
        assert_eq!(code, 0, "{err}");
        assert!(
            out.contains("PDF rendered") && out.contains("57.815"),
            "{out}"
        );
        let (code, _, err) = run(&["reports", "get", "reports/daily/nope.pdf"]);
        assert_ne!(code, 0, "{err}");
    })
}

fn without_a_token_the_html_is_stored_and_no_pdf(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        seed(h).await;
        let (_, day) = yesterday();
        tg().clear();
        let g = generate(h, "daily", &day).await;
        assert_eq!(g["pdf"]["rendered"], false, "{g}");
        assert!(
            g["pdf"]["reason"]
                .as_str()
                .is_some_and(|r| r.contains("CF_API_TOKEN")),
            "{g}"
        );
        assert_eq!(
            g["keys"],
            json!([
                format!("reports/daily/{day}.html"),
                format!("reports/daily/{day}.json")
            ])
        );
        let (status, _) = admin(
            h,
            "GET",
            &format!("/admin/reports/reports/daily/{day}.pdf"),
            None,
        )
        .await;
        assert_eq!(status, 404, "no PDF stored, fake or otherwise");
        let (status, html) = admin(
            h,
            "GET",
            &format!("/admin/reports/reports/daily/{day}.html"),
            None,
        )
        .await;
        assert_eq!(status, 200);
        let html = String::from_utf8_lossy(&html);
        assert!(html.starts_with("<!DOCTYPE html>") && html.contains("57.82"));
        let docs = tg().documents();
        assert_eq!(docs.len(), 1);
        assert!(docs[0].filename.ends_with(".html"));
        assert!(docs[0]
            .caption
            .as_deref()
            .unwrap_or_default()
            .contains("PDF not rendered"));
        let listed = list(h).await;
        assert!(listed
            .iter()
            .all(|f| !f["key"].as_str().unwrap_or_default().ends_with(".pdf")));
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
    let exe = std::env::current_exe().expect("test path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    dir.join("hoox")
}

fn start(vars: &[(&str, &str)]) -> Hoox {
    let hoox = Hoox::start_with(vars);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(hoox.set_config("telegram:allowed_chat_ids", &format!("[{CHAT}]")));
    rt.block_on(hoox.config_visible());
    hoox
}

fn main() {
    let args = integration::suite_args();
    let _ = HOOX_BIN.set(build_cli());
    let _ = TELEGRAM.set(MockTelegram::start(&dev_var("TG_BOT_TOKEN_BINDING")));
    let _ = BROWSER.set(MockBrowser::start(ACCOUNT, TOKEN));
    let tg_base = tg().base();
    let br_base = BROWSER.get().map(MockBrowser::base).unwrap_or_default();
    let with_token = [
        ("TELEGRAM_API_BASE", tg_base.as_str()),
        ("CF_API_BASE", br_base.as_str()),
        ("CF_ACCOUNT_ID", ACCOUNT),
        ("CF_API_TOKEN", TOKEN),
    ];
    let rendered: Vec<(&str, Scenario)> = vec![
        (
            "on_demand_report_is_a_real_pdf_with_the_figures",
            on_demand_report_is_a_real_pdf_with_the_figures,
        ),
        (
            "the_cron_makes_each_due_report_once",
            the_cron_makes_each_due_report_once,
        ),
        (
            "bot_commands_answer_from_the_same_figures",
            bot_commands_answer_from_the_same_figures,
        ),
        (
            "the_cli_lists_gets_and_generates",
            the_cli_lists_gets_and_generates,
        ),
    ];
    let first = run_suite(&args, || start(&with_token), &rendered, 80);
    let without_token = [
        ("TELEGRAM_API_BASE", tg_base.as_str()),
        ("CF_API_BASE", br_base.as_str()),
        ("CF_ACCOUNT_ID", ACCOUNT),
    ];
    let plain: Vec<(&str, Scenario)> = vec![(
        "without_a_token_the_html_is_stored_and_no_pdf",
        without_a_token_the_html_is_stored_and_no_pdf,
    )];
    let second = run_suite(&args, || start(&without_token), &plain, 80);
    integration::suite::exit(&[first, second]);
}
