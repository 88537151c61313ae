//! The fan-out's R2 log of trade events: one JSON object per event under a date-partitioned key,
//! `events/YYYY/MM/DD/<key>.json` (UTC date of the event).
//!
//! The object key is derived from the idempotency key, so a redelivered event overwrites its own
//! object instead of adding another. Events hold no secret (the sender's `apiKey` never becomes
//! part of a `Signal`), so the body is the event as it is.

use contracts::event::TradeEvent;
use serde::Serialize;

/// Prefix of the event log in `SYSTEM_LOGS_BUCKET`.
pub const EVENTS_PREFIX: &str = "events";

/// `YYYY/MM/DD` of an epoch-ms time, UTC (`1970/01/01` for times out of range).
pub fn date_path(at_ms: i64) -> String {
    crate::utc::format(at_ms, crate::utc::DAY_PATH)
}

/// An idempotency key as one safe path segment: `[A-Za-z0-9._-]` kept, every other byte
/// percent-encoded (so `a/b` cannot climb directories and distinct keys stay distinct).
pub fn path_segment(key: &str) -> String {
    const KEPT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'_')
        .remove(b'-')
        .remove(b'.');
    let out = percent_encoding::utf8_percent_encode(key, KEPT).to_string();
    // A leading dot is escaped too, so no segment is `.` or `..` or hidden.
    match out.strip_prefix('.') {
        Some(rest) => format!("%2E{rest}"),
        None => out,
    }
}

/// The R2 key of an event's log object. A follow-up's update is its own object beside the
/// outcome's, `<key>+<at_ms>.json` (`+` never appears in a path segment, so no key's object can
/// be taken for another's update); a redelivered update overwrites its own.
pub fn event_key(e: &TradeEvent) -> String {
    let update = e
        .update
        .as_ref()
        .map(|_| format!("+{}", e.at_ms))
        .unwrap_or_default();
    format!(
        "{EVENTS_PREFIX}/{}/{}{update}.json",
        date_path(e.at_ms),
        path_segment(&e.idempotency_key)
    )
}

#[derive(Serialize)]
struct EventLog<'a> {
    /// `trade_event` for an outcome, `order_update` for a follow-up's update.
    kind: &'static str,
    outcome: &'static str,
    event: &'a TradeEvent,
}

/// The JSON body of an event's log object.
pub fn event_body(e: &TradeEvent) -> String {
    serde_json::to_string(&EventLog {
        kind: if e.update.is_some() {
            "order_update"
        } else {
            "trade_event"
        },
        outcome: e.outcome.as_str(),
        event: e,
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use contracts::event::Outcome;
    use proptest::prelude::*;

    fn event(key: &str, at_ms: i64) -> TradeEvent {
        let job = crate::dead_letters::tests::job(key);
        TradeEvent::for_job(&job, Outcome::Filled, 1, at_ms)
    }

    #[test]
    fn keys_are_date_partitioned() {
        // 2026-11-28T12:00:00Z
        let e = event("tv-123", 1_795_867_200_000);
        assert_eq!(event_key(&e), "events/2026/11/28/tv-123.json");
        assert_eq!(date_path(0), "1970/01/01");
    }

    /// A follow-up's update is logged beside the outcome, never over it.
    #[test]
    fn updates_have_their_own_objects() {
        let mut e = event("tv-123", 1_795_867_200_000);
        e.update = Some(contracts::event::OrderUpdate {
            state: contracts::event::FollowState::Final,
            lookups: 2,
            first_seen_ms: 1,
            status_changed: true,
            fill_changed: true,
        });
        assert_eq!(event_key(&e), "events/2026/11/28/tv-123+1795867200000.json");
        let v: serde_json::Value = serde_json::from_str(&event_body(&e)).unwrap();
        assert_eq!(v["kind"], "order_update");
        // No idempotency key's own object can look like another's update.
        assert!(!path_segment("tv-123+1795867200000").contains('+'));
    }

    #[test]
    fn bodies_are_json_without_secrets() {
        let body = event_body(&event("k", 1));
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["outcome"], "filled");
        assert_eq!(v["event"]["idempotency_key"], "k");
        assert!(!body.contains("apiKey"));
    }

    proptest! {
        #[test]
        fn segments_are_safe_and_injective(a in ".{1,40}", b in ".{1,40}") {
            let sa = path_segment(&a);
            prop_assert!(sa.bytes().all(|c| c.is_ascii_alphanumeric() || b"%._-".contains(&c)));
            prop_assert!(!sa.starts_with('.'));
            if a != b {
                prop_assert_ne!(sa, path_segment(&b));
            }
        }
    }
}
