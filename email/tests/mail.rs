//! The e-mail ingress on real-shaped messages (the fixtures the integration suite mails too):
//! every grammar, every refusal with its field, the keys, and property tests of the grammar.

use contracts::signal::{Action, Exchange};
use email::{accept, grammar, idempotency_key, AuthorizedSenders, EmailError, Policy};
use proptest::prelude::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../tests/fixtures/email/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn policy() -> Policy {
    Policy {
        senders: AuthorizedSenders::parse(r#"["noreply@tradingview.com", "desk.example"]"#)
            .unwrap(),
        trusted_authserv_ids: vec!["mx.cloudflare.net".into()],
    }
}

fn err(raw: &[u8]) -> EmailError {
    accept(raw, &policy()).expect_err("refused").error
}

fn mail(from: &str, ar: &str, subject: &str, id: &str, body: &str) -> Vec<u8> {
    format!(
        "Authentication-Results: {ar}\r\nFrom: {from}\r\nTo: s@hoox.example\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\r\n{body}"
    )
    .into_bytes()
}

const AR: &str =
    "mx.cloudflare.net; dkim=pass header.d=desk.example; dmarc=pass header.from=desk.example";

fn desk(subject: &str, body: &str) -> Vec<u8> {
    mail("t@desk.example", AR, subject, "m1@desk.example", body)
}

#[test]
fn a_tradingview_alert_mail_is_one_paper_long() {
    let a = accept(&fixture("tradingview.eml"), &policy()).unwrap();
    assert_eq!(a.sender, "noreply@tradingview.com");
    assert_eq!(a.signal.exchange, Exchange::Paper);
    assert_eq!(a.signal.action, Action::Long);
    assert_eq!(a.signal.symbol.to_string(), "BTCUSDT");
    assert_eq!(a.signal.quantity.to_string(), "0.01");
    assert_eq!(
        a.idempotency_key,
        idempotency_key("0100018c2a6f.tv-alert-1@email.tradingview.com")
    );
    assert_eq!(a.body["idempotencyKey"], a.idempotency_key.as_str());
    assert!(a.idempotency_key.starts_with("email:") && a.idempotency_key.len() == 70);
}

#[test]
fn html_only_base64_and_quoted_printable_bodies_are_decoded() {
    let h = accept(&fixture("html-only.eml"), &policy()).unwrap();
    assert_eq!(
        (h.signal.action, h.signal.symbol.to_string()),
        (Action::Short, "ETHUSDT".into())
    );
    let b = accept(&fixture("base64.eml"), &policy()).unwrap();
    assert_eq!(
        (b.signal.action, b.signal.quantity.to_string()),
        (Action::Long, "2".into())
    );
    let q = accept(&fixture("quoted-printable.eml"), &policy()).unwrap();
    // "method" and "eth" in the prose are never read as a symbol.
    assert_eq!(q.signal.symbol.to_string(), "BTCUSDT");
    assert_eq!(q.signal.quantity.to_string(), "0.02");
}

#[test]
fn a_forwarded_mail_is_read_from_its_quoted_command() {
    let f = accept(&fixture("forwarded.eml"), &policy()).unwrap();
    assert_eq!(f.sender, "trader@desk.example");
    assert_eq!(f.signal.action, Action::CloseLong);
    assert_eq!(f.signal.exchange, Exchange::Paper);
}

#[test]
fn a_spoofed_from_fails_authentication_whatever_the_sender_wrote_below() {
    let e = err(&fixture("spoofed.eml"));
    assert!(matches!(e, EmailError::Unauthenticated { .. }), "{e}");
    assert!(e.to_string().contains("dmarc=fail"), "{e}");
    // An authserv-id not trusted, no header, a pass for another domain: all refused.
    for ar in [
        "evil.example; dmarc=pass header.from=desk.example",
        "mx.cloudflare.net; dkim=pass header.d=evil.example; dmarc=none",
    ] {
        let e = err(&mail(
            "t@desk.example",
            ar,
            "LONG PAPER:BTCUSDT 1",
            "x@y",
            "",
        ));
        assert_eq!(e.code(), "unauthenticated", "{ar}: {e}");
    }
    let raw = b"From: t@desk.example\r\nSubject: LONG PAPER:BTCUSDT 1\r\nMessage-ID: <a@b>\r\n\r\n";
    assert_eq!(err(raw).code(), "unauthenticated");
    // A DKIM pass of the From domain alone suffices.
    let ok = mail(
        "t@desk.example",
        "mx.cloudflare.net; dkim=pass (good) header.d=desk.example",
        "LONG PAPER:BTCUSDT 1",
        "k@d",
        "",
    );
    assert!(accept(&ok, &policy()).is_ok());
}

#[test]
fn unlisted_senders_and_an_empty_list_are_refused() {
    let raw = mail(
        "x@other.example",
        "mx.cloudflare.net; dmarc=pass header.from=other.example",
        "LONG PAPER:BTCUSDT 1",
        "a@b",
        "",
    );
    assert_eq!(
        err(&raw),
        EmailError::UnlistedSender("x@other.example".into())
    );
    let none = Policy {
        senders: AuthorizedSenders::default(),
        ..policy()
    };
    assert_eq!(
        accept(&fixture("tradingview.eml"), &none)
            .unwrap_err()
            .error,
        EmailError::NoAuthorizedSenders
    );
}

#[test]
fn the_key_is_the_message_id_and_a_mail_without_one_is_refused() {
    let a = accept(&desk("LONG PAPER:BTCUSDT 1", ""), &policy()).unwrap();
    let b = accept(
        &mail(
            "t@desk.example",
            AR,
            "LONG PAPER:BTCUSDT 1",
            "m2@desk.example",
            "",
        ),
        &policy(),
    )
    .unwrap();
    assert_eq!(a.signal, b.signal);
    assert_ne!(
        a.idempotency_key, b.idempotency_key,
        "two mails are two signals"
    );
    assert_eq!(idempotency_key(" <m1@desk.example> "), a.idempotency_key);
    let raw = format!("Authentication-Results: {AR}\r\nFrom: t@desk.example\r\nSubject: LONG PAPER:BTCUSDT 1\r\n\r\n");
    assert_eq!(err(raw.as_bytes()), EmailError::NoMessageId);
}

#[test]
fn an_oversized_mail_is_refused_before_it_is_read() {
    let big = desk("LONG PAPER:BTCUSDT 1", &"x".repeat(email::MAX_MAIL_BYTES));
    assert!(matches!(err(&big), EmailError::TooLarge { .. }));
}

#[test]
fn refusals_name_the_field() {
    let cases: [(&str, &str, Option<&str>); 10] = [
        ("LONG PAPER:BTCUSDT", "", Some("quantity")),
        ("HODL PAPER:BTCUSDT 1", "", Some("action")),
        ("signal", "action: hodl\nsymbol: BTCUSDT", Some("action")),
        ("LONG BTCUSDT 1", "", Some("exchange")),
        ("signal", "exchange: paper\naction: LONG\nsymbol: BTCUSDT", Some("quantity")),
        ("signal", "symbol: BTCUSDT\nsymbol: ETHUSDT", Some("symbol")),
        ("LONG PAPER:BTCUSDT 1", "SHORT PAPER:BTCUSDT 1", Some("action")),
        ("signal", "exchange: bybit\nsymbol: BINANCE:BTCUSDT", Some("exchange")),
        ("signal", "{\"exchange\":\"paper\",\"action\":\"LONG\",\"symbol\":\"BTCUSDT\",\"quantity\":1,\"apiKey\":\"k\"}", Some("apiKey")),
        ("signal", "exchange: paper\naction: LONG\nsymbol: BTCUSDT\nquantity: 1\nidempotencyKey: mine", Some("idempotencyKey")),
    ];
    for (subject, body, field) in cases {
        let e = err(&desk(subject, body));
        assert_eq!(e.field(), field, "{subject:?} / {body:?}: {e}");
    }
    assert_eq!(
        err(&desk("hello", "just prose, method and eth")),
        EmailError::NoSignal
    );
}

#[test]
fn the_three_grammars_and_the_venue_prefix() {
    let (s, _) = grammar::parse_signal("Alert: LONG BINANCE:BTCUSDT 0.5 60000", "").unwrap();
    assert_eq!(
        (s.exchange, s.price.map(|p| p.to_string())),
        (Exchange::Binance, Some("60000".into()))
    );
    let (s, _) =
        grammar::parse_signal("x", "symbol: BINANCE:BTCUSDT\naction: sell\nquantity: 1").unwrap();
    assert_eq!((s.exchange, s.action), (Exchange::Binance, Action::Short));
    // An explicit field wins: the chart venue need not be a hoox exchange then.
    let (s, _) = grammar::parse_signal(
        "x",
        "exchange: paper\nsymbol: COINBASE:BTCUSD\naction: LONG\nquantity: 1",
    )
    .unwrap();
    assert_eq!(s.exchange, Exchange::Paper);
    let (s, _) = grammar::parse_signal(
        "LONG BYBIT:ETHUSDT 9",
        "{\"exchange\":\"paper\",\"action\":\"CLOSE_SHORT\",\"symbol\":\"BTCUSDT\",\"quantity\":\"0.1\",\"leverage\":3}\n-- \nsent from my phone",
    )
    .unwrap();
    assert_eq!((s.action, s.leverage), (Action::CloseShort, Some(3)));
    let (s, _) = grammar::parse_signal("x", "Exchange = PAPER\nACTION: long\nSymbol: BTC/USDT\nQuantity: 1\nOrderType: limit\nPrice: 100\ntakeProfit: 120\nstop_loss: 90\ntest: true").unwrap();
    assert!(s.test && s.take_profit.is_some() && s.stop_loss.is_some());
}

const ACTIONS: [&str; 6] = ["LONG", "SHORT", "CLOSE_LONG", "CLOSE_SHORT", "buy", "sell"];
const SYMBOLS: [&str; 4] = ["BTCUSDT", "ETHUSDT", "BTCUSDT.P", "SOL/USDT"];

proptest! {
    /// Whatever prose surrounds them, `key: value` lines read back exactly the fields written.
    #[test]
    fn key_value_lines_read_back_their_fields(
        a in 0usize..6, s in 0usize..4, q in 1u32..100_000, prose in "[a-z ,.]{0,60}",
        venue in proptest::bool::ANY,
    ) {
        let symbol = if venue { format!("PAPER:{}", SYMBOLS[s]) } else { SYMBOLS[s].to_owned() };
        let exchange = if venue { String::new() } else { "exchange: paper\n".into() };
        let body = format!("{prose}\n{exchange}action: {}\nsymbol: {symbol}\n{prose}\nquantity: {q}\n", ACTIONS[a]);
        let (sig, _) = grammar::parse_signal("subject", &body).unwrap();
        prop_assert_eq!(sig.exchange, Exchange::Paper);
        prop_assert_eq!(sig.action, ACTIONS[a].parse::<Action>().unwrap());
        prop_assert_eq!(sig.quantity, q.into());
    }

    /// The command grammar and the key-value grammar agree.
    #[test]
    fn a_command_and_its_fields_are_the_same_signal(a in 0usize..6, s in 0usize..4, q in 1u32..1000) {
        let (c, _) = grammar::parse_signal(&format!("{} PAPER:{} {q}", ACTIONS[a], SYMBOLS[s]), "").unwrap();
        let (k, _) = grammar::parse_signal("x", &format!("exchange: paper\naction: {}\nsymbol: {}\nquantity: {q}", ACTIONS[a], SYMBOLS[s])).unwrap();
        prop_assert_eq!(c, k);
    }

    /// No input panics, and whatever is accepted is a valid signal with a mail's key.
    #[test]
    fn any_mail_is_refused_or_a_valid_signal(raw in proptest::collection::vec(any::<u8>(), 0..2048)) {
        if let Ok(a) = accept(&raw, &policy()) {
            prop_assert!(a.idempotency_key.starts_with("email:"));
        }
    }

    #[test]
    fn any_subject_and_body_parse_or_refuse(subject in ".{0,80}", body in ".{0,400}") {
        let _ = grammar::parse_signal(&subject, &body);
    }
}

/// Inputs the fuzz target found (mail-parser 0.11.1 panicked on the first: a multipart boundary
/// cut short); each is refused or accepted, never a panic.
#[test]
fn fuzz_finds_stay_fixed() {
    let dir = format!("{}/tests/regressions", env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let raw = std::fs::read(entry.path()).unwrap();
        let _ = accept(&raw, &policy());
    }
}
