//! What every hoox worker shares at the edge (the scaffold a new worker is built on): the
//! `fetch` entry with logging, the secrets check, the request id and `/health` ([`edge`]); the
//! one HTTP error type and internal-key authentication ([`http`]); the runtime config read
//! through a per-isolate cache and its one writer ([`config`]); outbound calls under a deadline
//! ([`fetch`]), to other workers ([`service`]), the Telegram alert client ([`alert`]) and the
//! audit append ([`audit`]); the one intake of a validated signal into the pipeline, shared by
//! the gateway's webhook and the trade-worker's internal door ([`intake`]); the count of billed
//! platform operations ([`meter`]); and byte/JSON plumbing over the Workers bindings. Domain logic
//! stays in the pure crates; this crate only adapts.

pub mod alert;
pub mod audit;
pub mod bytes;
pub mod config;
pub mod d1;
pub mod edge;
pub mod fetch;
pub mod http;
pub mod idempotency;
pub mod intake;
pub mod logging;
pub mod meter;
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
