//! The gateway's body parser on arbitrary bytes: never panics, and whatever it accepts is a
//! signal whose key and hash are well-formed.
#![no_main]

use contracts::idempotency::{client_order_id, payload_hash, resolve_key};
use contracts::signal::parse_webhook;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = parse_webhook(data) {
        assert!(body.signal.quantity > contracts::Decimal::ZERO);
        let key = resolve_key(body.idempotency_key.as_deref(), None, None, &body.signal, 0, 60_000).key;
        assert!(!key.is_empty() && key.len() <= 255);
        assert_eq!(payload_hash(&body.signal).len(), 64);
        assert_eq!(client_order_id(&key, 0).len(), 32);
    }
});
