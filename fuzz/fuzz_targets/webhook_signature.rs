//! The Standard Webhooks verifier on arbitrary headers and bodies: never panics, and never
//! accepts a signature that was not made with the secret.
#![no_main]

use contracts::auth::{sign_standard_webhook, verify_standard_webhook};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(4, '\n');
    let id = parts.next().unwrap_or("");
    let ts = parts.next().unwrap_or("");
    let header = parts.next().unwrap_or("");
    let body = parts.next().unwrap_or("").as_bytes();
    let now = ts.trim().parse::<i64>().unwrap_or(0);
    let verdict = verify_standard_webhook(Some(SECRET), id, ts, body, header, now);
    if verdict.is_ok() {
        // Only possible if the header carries the real signature.
        let expected = sign_standard_webhook(SECRET, id, now, body);
        assert!(header.split_whitespace().any(|s| s == expected) || ts.trim() != now.to_string());
    }
    assert!(verify_standard_webhook(None, id, ts, body, header, now).is_err());
});
