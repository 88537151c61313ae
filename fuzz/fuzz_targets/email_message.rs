//! The e-mail ingress on arbitrary bytes (a raw message, as Email Routing and Mailgun hand it
//! over): MIME decoding, authentication and the grammar never panic, and whatever is accepted
//! is a valid signal keyed `email:` + a SHA-256. The same bytes as a Mailgun parsed post
//! (`message-headers`, then a NUL, then `body-plain`: rebuilt into a message whose header
//! block has exactly one line per listed header) and as a `POST /email-signal` object.
#![no_main]

use email::{accept, grammar, ingress, AuthorizedSenders, Policy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let policy = Policy {
        senders: AuthorizedSenders::parse(r#"["example.com"]"#).unwrap_or_default(),
        trusted_authserv_ids: vec!["mx.cloudflare.net".into()],
    };
    if let Ok(a) = accept(data, &policy) {
        assert!(a.signal.quantity > contracts::Decimal::ZERO);
        assert!(a.idempotency_key.starts_with("email:") && a.idempotency_key.len() == 70);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let (subject, body) = text.split_once('\n').unwrap_or((text, ""));
        let _ = grammar::parse_signal(subject, body);
        let (headers, plain) = text.split_once('\0').unwrap_or((text, ""));
        let field = |name: &str| match name {
            "message-headers" => Some(headers.to_owned()),
            "body-plain" => Some(plain.to_owned()),
            _ => None,
        };
        if let Ok(raw) = ingress::mailgun_message(field) {
            let listed = serde_json::from_str::<Vec<(String, String)>>(headers)
                .map(|v| v.len())
                .unwrap_or(0);
            let block = raw
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map_or(&raw[..], |end| &raw[..end]);
            // At most the listed headers (some are dropped) and the three the rebuild adds.
            let lines = block.split(|b| *b == b'\n').count();
            assert!(lines <= listed + 3, "{lines} header lines from {listed} listed");
            let _ = accept(&raw, &policy);
        }
        if let Ok(serde_json::Value::Object(obj)) = serde_json::from_str(text) {
            if let Ok(a) = ingress::accept_object(obj) {
                assert!(a.idempotency_key.starts_with("email:") && a.idempotency_key.len() == 70);
            }
        }
    }
});
