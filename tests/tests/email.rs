//! Trading signals by e-mail (issue 18), end to end on the local Workers runtime: raw RFC 822
//! fixtures delivered to the email-worker's `email()` handler through wrangler's local email
//! endpoint (wrangler 4.164 serves it at `POST /cdn-cgi/local/email?from=&to=`, the older
//! releases' `/cdn-cgi/handler/email`; it delivers to the primary worker, the fixture, whose
//! `email()` hands the message as it came to the email-worker's), Mailgun route posts through the
//! gateway's `/email/mailgun`, and `POST /email-signal` with the internal key. Each case
//! asserts the paper orders in the ledger (paper mode, as the pipeline suite counts orders),
//! the signal under its `email:` key (`/admin/ledger/signals?source=email`, what
//! `hoox signals --source email` reads) and the Telegram alert at the mock.

use integration::mock_telegram::MockTelegram;
use integration::{dev_var, run_suite, unique, Hoox, Scenario};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use reqwest::Method;
use serde_json::{json, Value};
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::time::Duration;

type Fut<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

static TELEGRAM: OnceLock<MockTelegram> = OnceLock::new();
const CHAT: i64 = 181_818;
const WAIT: Duration = Duration::from_secs(30);
/// How long a refused mail is watched for an order that must not come.
const QUIET: Duration = Duration::from_secs(3);
const TO: &str = "signals@hoox.example";
const AR: &str =
    "mx.cloudflare.net; dkim=pass header.d=desk.example header.s=k1; dmarc=pass header.from=desk.example";
/// The authserv-id the Mailgun cases' mail carries (trusted in [`setup`]).
const MAILGUN_AUTHSERV: &str = "mxa.mailgun.example";

fn tg() -> &'static MockTelegram {
    TELEGRAM.get().expect("mock telegram started in main")
}

fn fixture(name: &str) -> String {
    let path = integration::root().join("tests/fixtures/email").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `raw` with its Message-ID replaced by `id` (each case its own, so a case never replays an
/// earlier one's key).
fn with_id(raw: &str, id: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for line in raw.split_inclusive('\n') {
        if line.to_ascii_lowercase().starts_with("message-id:") {
            out.push_str(&format!("Message-ID: <{id}>\r\n"));
        } else {
            out.push_str(line);
        }
    }
    out
}

/// A plain mail from `from` (authenticated for desk.example by [`AR`]).
fn mail(from: &str, subject: &str, id: &str, body: &str) -> String {
    format!(
        "Authentication-Results: {AR}\r\nFrom: {from}\r\nTo: {TO}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\nDate: Wed, 02 Dec 2026 09:30:01 +0000\r\n\r\n{body}\r\n"
    )
}

fn key_of(id: &str) -> String {
    email::idempotency_key(id)
}

/// What the email endpoint answered: `Ok` accepted, `Err(reason)` rejected (`setReject`).
async fn deliver(h: &Hoox, from: &str, raw: &str) -> Result<(), String> {
    let r = h
        .http
        .post(h.url("/cdn-cgi/local/email"))
        .query(&[("from", from), ("to", TO)])
        .body(raw.to_owned())
        .send()
        .await
        .expect("email endpoint");
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    match status {
        200 => Ok(()),
        400 => Err(text
            .strip_prefix("Worker rejected email with the following reason: ")
            .unwrap_or_else(|| panic!("not a rejection: {text}"))
            .to_owned()),
        _ => panic!(
            "email endpoint answered {status}: {text}\n{}",
            h.log_tail(40)
        ),
    }
}

async fn orders(h: &Hoox, key: &str) -> Vec<Value> {
    h.sql(
        "SELECT * FROM orders WHERE idempotency_key = ?",
        &[json!(key)],
    )
    .await
}

/// The one filled paper order of `key`, once it is there.
async fn one_order(h: &Hoox, key: &str) -> Value {
    let rows = h.wait_orders(key, WAIT).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["status"], "Filled", "{rows:?}");
    rows[0].clone()
}

/// Nothing recorded under `key`: no order, no signal, after a quiet while.
async fn nothing(h: &Hoox, key: &str) {
    tokio::time::sleep(QUIET).await;
    assert!(orders(h, key).await.is_empty(), "an order for {key}");
    let signals = h
        .sql(
            "SELECT idempotency_key FROM signals WHERE idempotency_key = ?",
            &[json!(key)],
        )
        .await;
    assert!(signals.is_empty(), "a signal for {key}: {signals:?}");
}

/// The ledger's mails (`source=email`), by key.
async fn mail_signals(h: &Hoox) -> Vec<Value> {
    let (status, v) = h
        .admin(
            Method::GET,
            "/admin/ledger/signals?source=email&limit=200",
            None,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    v["items"].as_array().cloned().unwrap_or_default()
}

async fn ledger_has(h: &Hoox, key: &str) -> Value {
    let found = integration::wait_until(WAIT, &format!("signal {key} in the ledger"), || async {
        mail_signals(h)
            .await
            .into_iter()
            .find(|s| s["idempotency_key"] == key)
    })
    .await;
    found
}

/// A message's text as Telegram shows it (the alert's HTML escapes undone).
fn shown(html: &str) -> String {
    html.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The alert holding every one of `parts`.
fn alerted(parts: &[&str]) -> String {
    let found = tg().wait_for(WAIT, |m| {
        let text = shown(&m.text);
        m.chat_id == CHAT && parts.iter().all(|p| text.contains(p))
    });
    match found {
        Some(m) => shown(&m[0].text),
        None => panic!(
            "no alert with {parts:?}; sent: {:?}",
            tg().messages().iter().map(|m| &m.text).collect::<Vec<_>>()
        ),
    }
}

fn no_alert_with(part: &str) {
    assert!(
        !tg()
            .messages()
            .iter()
            .any(|m| shown(&m.text).contains(part)),
        "an alert mentions {part}"
    );
}

async fn setup(h: &Hoox) {
    h.set_config("telegram:allowed_chat_ids", &format!("[{CHAT}]"))
        .await;
    h.set_config(
        "email:authorized_senders",
        r#"["noreply@tradingview.com", "desk.example"]"#,
    )
    .await;
    h.set_config(
        "email:trusted_authserv_ids",
        &format!(r#"["mx.cloudflare.net", "{MAILGUN_AUTHSERV}"]"#),
    )
    .await;
    h.config_visible().await;
}

/// The TradingView alert mail as it arrives places exactly one paper trade, alerted, in the
/// ledger as a mail; the same Message-ID again is the same signal (no second order), and a
/// different mail with the same trade is a second one.
fn a_tradingview_alert_mail_places_one_paper_trade(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        setup(h).await;
        tg().clear();
        let id = format!("{}@email.tradingview.com", unique("tv"));
        let raw = with_id(&fixture("tradingview.eml"), &id);
        deliver(h, "bounces@tradingview.com", &raw)
            .await
            .expect("accepted");
        let key = key_of(&id);
        let order = one_order(h, &key).await;
        assert_eq!(
            (&order["symbol"], &order["side"], &order["quantity"]),
            (&json!("BTCUSDT"), &json!("Buy"), &json!("0.01"))
        );
        let s = ledger_has(h, &key).await;
        assert_eq!(
            (&s["action"], &s["exchange"]),
            (&json!("LONG"), &json!("paper"))
        );
        alerted(&[
            "accepted (Email Routing)",
            "LONG paper BTCUSDT 0.01",
            "noreply@tradingview.com",
            "\"Alert: BTC breakout\"",
        ]);

        // Redelivered: accepted, one order still, and said so.
        deliver(h, "bounces@tradingview.com", &raw)
            .await
            .expect("accepted again");
        alerted(&["already recorded, not placed again", &key]);
        tokio::time::sleep(QUIET).await;
        assert_eq!(orders(h, &key).await.len(), 1, "one order per Message-ID");

        // Another mail with the same trade: its own key, its own order.
        let id2 = format!("{}@email.tradingview.com", unique("tv"));
        deliver(
            h,
            "bounces@tradingview.com",
            &with_id(&fixture("tradingview.eml"), &id2),
        )
        .await
        .expect("accepted");
        one_order(h, &key_of(&id2)).await;
        assert_eq!(orders(h, &key).await.len(), 1);
    })
}

/// HTML-only, quoted-printable and base64 bodies, and a forwarded mail, each decoded to its
/// signal and one order.
fn decoded_bodies_and_a_forwarded_mail_each_place_their_trade(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        setup(h).await;
        tg().clear();
        for (file, symbol, side, qty) in [
            ("html-only.eml", "ETHUSDT", "Sell", "0.5"),
            ("quoted-printable.eml", "BTCUSDT", "Buy", "0.02"),
            ("base64.eml", "SOLUSDT", "Buy", "2"),
            ("forwarded.eml", "BTCUSDT", "Sell", "0.01"),
        ] {
            let id = format!("{}@desk.example", unique(file));
            deliver(h, "trader@desk.example", &with_id(&fixture(file), &id))
                .await
                .unwrap_or_else(|r| panic!("{file} rejected: {r}"));
            let o = one_order(h, &key_of(&id)).await;
            assert_eq!(
                (&o["symbol"], &o["side"], &o["quantity"]),
                (&json!(symbol), &json!(side), &json!(qty)),
                "{file}"
            );
            ledger_has(h, &key_of(&id)).await;
            alerted(&["accepted (Email Routing)", &key_of(&id)]);
        }
        // "method" and "eth" in the quoted-printable prose were never read as a symbol: the
        // order above is BTCUSDT.
    })
}

/// Every refusal is a rejection with its reason, nothing recorded, and an alert naming the
/// sender, the subject and the reason.
fn refused_mails_are_rejected_with_their_reason(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        setup(h).await;
        tg().clear();
        let big = format!(
            "LONG PAPER:BTCUSDT 0.01 65000\r\n{}",
            "x".repeat(140 * 1024)
        );
        let cases: Vec<(&str, String, String, &str)> = vec![
            (
                "spoofed",
                "spoof",
                with_id(&fixture("spoofed.eml"), &unique("spoof")),
                "trader@desk.example is not authenticated",
            ),
            (
                "unlisted",
                "unlisted",
                String::new(),
                "x@evil.example is not in email:authorized_senders",
            ),
            ("oversized", "big", String::new(), "over the 131072-byte cap"),
            (
                "missing quantity",
                "noqty",
                String::new(),
                "missing required field `quantity`",
            ),
            ("unknown action", "hodl", String::new(), "unknown action \"HODL\""),
        ]
        .into_iter()
        .map(|(name, tag, raw, reason)| {
            let id = format!("{}@desk.example", unique(tag));
            let raw = match name {
                "spoofed" => with_id(&raw, &id),
                "unlisted" => format!(
                    "Authentication-Results: mx.cloudflare.net; dkim=pass header.d=evil.example; dmarc=pass header.from=evil.example\r\nFrom: x@evil.example\r\nTo: {TO}\r\nSubject: LONG PAPER:BTCUSDT 1 65000\r\nMessage-ID: <{id}>\r\n\r\nLONG PAPER:BTCUSDT 1 65000\r\n"
                ),
                "oversized" => mail("trader@desk.example", "big one", &id, &big),
                "missing quantity" => mail(
                    "trader@desk.example",
                    "no quantity",
                    &id,
                    "exchange: paper\r\naction: LONG\r\nsymbol: BTCUSDT\r\nprice: 65000",
                ),
                _ => mail(
                    "trader@desk.example",
                    "hodl",
                    &id,
                    "exchange: paper\r\naction: HODL\r\nsymbol: BTCUSDT\r\nquantity: 1\r\nprice: 65000",
                ),
            };
            (name, id, raw, reason)
        })
        .collect();
        for (name, id, raw, reason) in &cases {
            let from = if *name == "unlisted" {
                "x@evil.example"
            } else {
                "trader@desk.example"
            };
            let why = deliver(h, from, raw)
                .await
                .err()
                .unwrap_or_else(|| panic!("{name} was accepted"));
            assert!(why.contains(reason), "{name}: {why}");
            alerted(&["Mail refused (Email Routing)", from, reason]);
            nothing(h, &key_of(id)).await;
        }
        let mails = mail_signals(h).await;
        for (_, id, _, _) in &cases {
            assert!(!mails
                .iter()
                .any(|s| s["idempotency_key"] == key_of(id).as_str()));
        }
    })
}

/// `BINANCE:BTCUSDT` names the exchange; `symbol: BTCUSDT` with "method" and "eth" in the
/// body is BTCUSDT.
fn a_venue_prefix_names_the_exchange_and_prose_is_never_a_symbol(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        setup(h).await;
        tg().clear();
        let id = format!("{}@desk.example", unique("binance"));
        deliver(
            h,
            "trader@desk.example",
            &mail(
                "trader@desk.example",
                "TradingView Alert: LONG BINANCE:BTCUSDT 0.001 65000",
                &id,
                "Your alert fired.",
            ),
        )
        .await
        .expect("accepted");
        // Paper mode: the Binance signal is paper-traded, and recorded as Binance's.
        one_order(h, &key_of(&id)).await;
        let s = ledger_has(h, &key_of(&id)).await;
        assert_eq!(
            (&s["exchange"], &s["symbol"]),
            (&json!("binance"), &json!("BTCUSDT"))
        );
        alerted(&["LONG binance BTCUSDT 0.001", &key_of(&id)]);

        let id = format!("{}@desk.example", unique("method"));
        deliver(
            h,
            "trader@desk.example",
            &mail(
                "trader@desk.example",
                "signal",
                &id,
                "The method: ride eth momentum later.\r\nexchange: paper\r\naction: buy\r\nsymbol: BTCUSDT\r\nquantity: 0.003\r\nprice: 65000",
            ),
        )
        .await
        .expect("accepted");
        let o = one_order(h, &key_of(&id)).await;
        assert_eq!(
            (&o["symbol"], &o["quantity"]),
            (&json!("BTCUSDT"), &json!("0.003"))
        );
    })
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, NON_ALPHANUMERIC),
                utf8_percent_encode(v, NON_ALPHANUMERIC)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A Mailgun parsed post of one mail, signed at `ts` with `key`.
fn mailgun_fields(id: &str, token: &str, ts: i64, key: &str) -> Vec<(String, String)> {
    let headers = json!([
        ["Authentication-Results", format!("{MAILGUN_AUTHSERV}; dkim=pass header.d=desk.example; dmarc=pass header.from=desk.example")],
        ["From", "Desk <trader@desk.example>"],
        ["To", TO],
        ["Subject", "LONG PAPER:ETHUSDT 0.1 3000"],
        ["Message-Id", format!("<{id}>")],
        ["Content-Type", "text/plain; charset=\"us-ascii\""],
    ]);
    let ts = ts.to_string();
    vec![
        ("timestamp".into(), ts.clone()),
        ("token".into(), token.into()),
        ("signature".into(), email::mailgun::sign(key, &ts, token)),
        ("sender".into(), "trader@desk.example".into()),
        ("from".into(), "Desk <trader@desk.example>".into()),
        ("subject".into(), "LONG PAPER:ETHUSDT 0.1 3000".into()),
        ("message-headers".into(), headers.to_string()),
        ("body-plain".into(), "Sent from the desk.\r\n".into()),
    ]
}

async fn mailgun(h: &Hoox, path: &str, fields: &[(String, String)]) -> (u16, Value) {
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = h
        .http
        .post(h.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&pairs))
        .send()
        .await
        .expect("mailgun post");
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Mailgun's route posts through the gateway: a valid signature (form fields) is one order and
/// a 200; a wrong, an expired and a replayed one are 406s (which Mailgun does not retry) with
/// nothing recorded; a raw-MIME post as multipart/form-data is judged like a routed mail.
fn mailgun_posts_are_verified_from_their_form_fields(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        setup(h).await;
        tg().clear();
        let key = dev_var("MAILGUN_WEBHOOK_SIGNING_KEY");
        let id = format!("{}@desk.example", unique("mg"));
        let token = unique("tok-valid");
        let valid = mailgun_fields(&id, &token, now_s(), &key);
        let (status, v) = mailgun(h, "/email/mailgun", &valid).await;
        assert_eq!(status, 200, "{v}\n{}", h.log_tail(30));
        assert_eq!(v["idempotency_key"], key_of(&id).as_str());
        let o = one_order(h, &key_of(&id)).await;
        assert_eq!(
            (&o["symbol"], &o["quantity"]),
            (&json!("ETHUSDT"), &json!("0.1"))
        );
        ledger_has(h, &key_of(&id)).await;
        alerted(&["accepted (Mailgun)", "trader@desk.example", &key_of(&id)]);

        // The same post again: its token is spent.
        let (status, v) = mailgun(h, "/email/mailgun", &valid).await;
        assert_eq!((status, &v["code"]), (406, &json!("replayed")), "{v}");

        // A wrong signature and an expired timestamp, each with a fresh mail.
        for (tag, code) in [("wrong", "bad_signature"), ("expired", "expired")] {
            let id = format!("{}@desk.example", unique(tag));
            let fields = if tag == "expired" {
                mailgun_fields(&id, &unique("tok"), now_s() - 16 * 60, &key)
            } else {
                mailgun_fields(&id, &unique("tok"), now_s(), "not-the-signing-key")
            };
            let (status, v) = mailgun(h, "/email/mailgun", &fields).await;
            assert_eq!((status, &v["code"]), (406, &json!(code)), "{tag}: {v}");
            let reason = v["reason"].as_str().unwrap_or_default().to_owned();
            if tag == "expired" {
                assert!(reason.contains("outside the ±900 s window"), "{reason}");
            } else {
                assert_eq!(reason, "signature does not match");
            }
            nothing(h, &key_of(&id)).await;
            // Unsigned posts are logged, not alerted (anyone can post to the URL).
            no_alert_with(&key_of(&id));
        }
        assert_eq!(
            orders(h, &key_of(&id)).await.len(),
            1,
            "the replay placed nothing"
        );

        // Raw MIME (a route URL ending in `mime`), as multipart/form-data.
        let id = format!("{}@desk.example", unique("mime"));
        let token = unique("tok-mime");
        let ts = now_s().to_string();
        let raw = mail(
            "trader@desk.example",
            "SHORT PAPER:SOLUSDT 3 150",
            &id,
            "from the desk",
        );
        let boundary = "hooxboundary7MA4YWxkTrZu0gW";
        let mut body = String::new();
        for (k, v) in [
            ("timestamp", ts.as_str()),
            ("token", token.as_str()),
            ("signature", &email::mailgun::sign(&key, &ts, &token)),
            ("recipient", TO),
            ("body-mime", raw.as_str()),
        ] {
            body.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
            ));
        }
        body.push_str(&format!("--{boundary}--\r\n"));
        let r = h
            .http
            .post(h.url("/email/mailgun/mime"))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .expect("mailgun mime post");
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        assert_eq!(status, 200, "{text}");
        let o = one_order(h, &key_of(&id)).await;
        assert_eq!(
            (&o["symbol"], &o["side"]),
            (&json!("SOLUSDT"), &json!("Sell"))
        );

        // A refused mail in a valid post is a 406 with its reason, alerted.
        let id = format!("{}@desk.example", unique("mg-noqty"));
        let mut fields = mailgun_fields(&id, &unique("tok"), now_s(), &key);
        let headers = fields[6]
            .1
            .replace("LONG PAPER:ETHUSDT 0.1 3000", "LONG PAPER:ETHUSDT");
        fields[6].1 = headers;
        let (status, v) = mailgun(h, "/email/mailgun", &fields).await;
        assert_eq!(status, 406, "{v}");
        assert_eq!(v["field"], "quantity", "{v}");
        alerted(&["Mail refused (Mailgun)", "trader@desk.example", "quantity"]);
        nothing(h, &key_of(&id)).await;
    })
}

/// `POST /email-signal` behind the internal key: a signal object with its mail's Message-ID,
/// or a raw message judged like a routed mail.
fn the_internal_endpoint_takes_an_object_or_a_raw_message(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        setup(h).await;
        tg().clear();
        let id = format!("{}@desk.example", unique("obj"));
        let object = json!({
            "messageId": format!("<{id}>"), "from": "ops@desk.example", "subject": "by hand",
            "exchange": "paper", "action": "LONG", "symbol": "BTCUSDT", "quantity": "0.004", "price": 65000,
        });
        let (status, v) = h.admin(Method::POST, "/email-signal", Some(&object)).await;
        assert_eq!(status, 202, "{v}");
        assert_eq!(v["idempotency_key"], key_of(&id).as_str());
        one_order(h, &key_of(&id)).await;
        alerted(&["accepted (POST /email-signal)", "ops@desk.example"]);
        let (status, v) = h.admin(Method::POST, "/email-signal", Some(&object)).await;
        assert_eq!((status, &v["replayed"]), (202, &json!(true)), "{v}");

        let id = format!("{}@desk.example", unique("raw"));
        let raw = mail(
            "trader@desk.example",
            "CLOSE_SHORT PAPER:ETHUSDT 0.2 3000",
            &id,
            "",
        );
        let (status, v) = h
            .admin(Method::POST, "/email-signal", Some(&json!({ "raw": raw })))
            .await;
        assert_eq!(status, 202, "{v}");
        one_order(h, &key_of(&id)).await;

        // The internal key is required, and a raw message's sender is still checked.
        let r = h
            .http
            .post(h.url("/email-signal"))
            .json(&object)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status().as_u16(), 401);
        let id = format!("{}@desk.example", unique("raw-bad"));
        let (status, v) = h
            .admin(
                Method::POST,
                "/email-signal",
                Some(&json!({ "raw": mail("x@other.example", "LONG PAPER:BTCUSDT 1 65000", &id, "") })),
            )
            .await;
        assert_eq!(
            (status, &v["error"]["code"]),
            (400, &json!("unauthorized_sender")),
            "{v}"
        );
        nothing(h, &key_of(&id)).await;
    })
}

/// A webhook cannot pose as a mail: a key under `email:` is refused at the gateway.
fn a_webhook_cannot_name_a_mail_key(h: &Hoox) -> Fut<'_> {
    Box::pin(async move {
        let key = format!("email:{}", unique("forged"));
        let r = h
            .webhook(
                &json!({
                    "apiKey": h.api_key, "exchange": "paper", "action": "LONG", "symbol": "BTCUSDT",
                    "quantity": "0.001", "price": 65000, "idempotencyKey": key,
                }),
                &[],
            )
            .await;
        assert_eq!(r.status().as_u16(), 400);
        let v: Value = r.json().await.unwrap_or_default();
        assert_eq!(v["error"]["field"], "idempotencyKey", "{v}");
        nothing(h, &key).await;
    })
}

fn main() {
    let args = integration::suite_args();
    let telegram = MockTelegram::start(&dev_var("TG_BOT_TOKEN_BINDING"));
    let vars: Vec<(String, String)> = vec![
        ("WEBHOOK_RATE_LIMIT".into(), "100000/s".into()),
        ("TELEGRAM_API_BASE".into(), telegram.base()),
    ];
    let _ = TELEGRAM.set(telegram);
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let hoox = || Hoox::start_with(&vars);
    let scenarios: Vec<(&str, Scenario)> = vec![
        (
            "a_tradingview_alert_mail_places_one_paper_trade",
            a_tradingview_alert_mail_places_one_paper_trade,
        ),
        (
            "decoded_bodies_and_a_forwarded_mail_each_place_their_trade",
            decoded_bodies_and_a_forwarded_mail_each_place_their_trade,
        ),
        (
            "refused_mails_are_rejected_with_their_reason",
            refused_mails_are_rejected_with_their_reason,
        ),
        (
            "a_venue_prefix_names_the_exchange_and_prose_is_never_a_symbol",
            a_venue_prefix_names_the_exchange_and_prose_is_never_a_symbol,
        ),
        (
            "mailgun_posts_are_verified_from_their_form_fields",
            mailgun_posts_are_verified_from_their_form_fields,
        ),
        (
            "the_internal_endpoint_takes_an_object_or_a_raw_message",
            the_internal_endpoint_takes_an_object_or_a_raw_message,
        ),
        (
            "a_webhook_cannot_name_a_mail_key",
            a_webhook_cannot_name_a_mail_key,
        ),
    ];
    let conclusion = run_suite(&args, hoox, &scenarios, 120);
    integration::suite::exit(&[conclusion]);
}
