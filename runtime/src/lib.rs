//! What every hoox worker shares at the edge: structured logs, the runtime config read through a
//! per-isolate cache, internal service authentication, and byte/JSON plumbing over the Workers
//! bindings. Domain logic stays in `contracts` and `exchanges`; this crate only adapts.

pub mod bytes;
pub mod config;
pub mod d1;
pub mod http;
pub mod idempotency;
pub mod logging;
pub mod queue;
pub mod service;

/// Milliseconds since the epoch from the Workers clock (advances across I/O only).
pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

/// A random 128-bit id, hex. Used for request ids.
pub fn random_id() -> String {
    let mut buf = [0u8; 16];
    // getrandom's `js` backend uses crypto.getRandomValues, present in every isolate.
    if getrandom::getrandom(&mut buf).is_err() {
        let t = now_ms().to_le_bytes();
        buf[..8].copy_from_slice(&t);
    }
    hex::encode(buf)
}
