//! The e-mail ingress on arbitrary bytes (a raw message, as Email Routing and Mailgun hand it
//! over): MIME decoding, authentication and the grammar never panic, and whatever is accepted
//! is a valid signal keyed `email:` + a SHA-256.
#![no_main]

use email::{accept, grammar, AuthorizedSenders, Policy};
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
    }
});
