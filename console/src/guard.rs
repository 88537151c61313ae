//! What stands before a state-changing request and a login: the `Origin` header compared for
//! equality with the dashboard's own origin, the response headers every page carries (a strict
//! Content-Security-Policy with no `unsafe-inline` or `unsafe-eval`, framing refused), and the
//! per-client login limiter (a fixed window of failures, time passed in).

use serde::{Deserialize, Serialize};

/// Why a state-changing request is refused before its form is read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Forgery {
    #[error("the request carries no Origin header")]
    NoOrigin,
    #[error("the request comes from {0}, not from this dashboard")]
    CrossOrigin(String),
    #[error("the form's CSRF token is missing or not this session's")]
    Token,
}

/// `Origin` must be present and equal to `expected` (`scheme://host[:port]`, no path).
pub fn same_origin(origin: Option<&str>, expected: &str) -> Result<(), Forgery> {
    match origin.map(str::trim) {
        None | Some("") | Some("null") => Err(Forgery::NoOrigin),
        Some(o) if o.eq_ignore_ascii_case(expected.trim_end_matches('/')) => Ok(()),
        Some(o) => Err(Forgery::CrossOrigin(o.chars().take(100).collect())),
    }
}

/// The Content-Security-Policy of every page: scripts, styles, images and fetches from this
/// origin only; no inline script or style, no eval, no framing, forms post only here.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Headers every dashboard response carries.
pub const SECURITY_HEADERS: [(&str, &str); 6] = [
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Cache-Control", "no-store"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
];

/// Failed logins allowed per client in one window.
pub const LOGIN_FAILURES: u32 = 5;
/// The window, and how long a client that used it up waits.
pub const LOGIN_WINDOW_MS: i64 = 15 * 60_000;

/// A client's failed logins in the current window (SESSIONS_KV `login:<client>`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failures {
    pub count: u32,
    pub window_start_ms: i64,
}

impl Failures {
    /// Seconds to wait before another attempt, if the client used its window up.
    pub fn locked(&self, now_ms: i64) -> Option<i64> {
        let ends = self.window_start_ms + LOGIN_WINDOW_MS;
        (self.count >= LOGIN_FAILURES && now_ms < ends).then(|| ((ends - now_ms) / 1000).max(1))
    }

    /// The record after one more failure at `now_ms`.
    pub fn after_failure(self, now_ms: i64) -> Failures {
        if now_ms >= self.window_start_ms + LOGIN_WINDOW_MS {
            Failures {
                count: 1,
                window_start_ms: now_ms,
            }
        } else {
            Failures {
                count: self.count.saturating_add(1),
                ..self
            }
        }
    }
}

/// The limiter's key for a client address: an IPv6 address by its /64 (one host owns one), an
/// IPv4 address as it is (`contracts::ratelimit`'s buckets, shared with the gateway).
pub fn client_key(ip: Option<&str>) -> String {
    format!("login:{}", contracts::ratelimit::sender_key(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_origin_may_post() {
        let me = "https://hoox.example.workers.dev";
        assert_eq!(same_origin(Some(me), me), Ok(()));
        assert_eq!(
            same_origin(Some("HTTPS://HOOX.example.workers.dev"), me),
            Ok(())
        );
        assert_eq!(same_origin(None, me), Err(Forgery::NoOrigin));
        assert_eq!(same_origin(Some("null"), me), Err(Forgery::NoOrigin));
        for other in [
            "https://evil.example",
            "https://hoox.example.workers.dev.evil.example",
            "http://hoox.example.workers.dev",
            "https://hoox.example.workers.dev:8443",
        ] {
            assert!(
                matches!(same_origin(Some(other), me), Err(Forgery::CrossOrigin(_))),
                "{other}"
            );
        }
    }

    #[test]
    fn the_policy_allows_nothing_inline() {
        assert!(!CSP.contains("unsafe"));
        assert!(CSP.contains("script-src 'self'") && CSP.contains("frame-ancestors 'none'"));
    }

    #[test]
    fn five_failures_lock_a_client_out_for_the_window() {
        let mut f = Failures::default();
        let t0 = 10 * LOGIN_WINDOW_MS;
        for i in 0..LOGIN_FAILURES {
            assert_eq!(f.locked(t0 + i as i64), None);
            f = f.after_failure(t0 + i as i64);
        }
        assert_eq!(f.count, LOGIN_FAILURES);
        assert_eq!(f.locked(t0 + 1_000), Some(LOGIN_WINDOW_MS / 1000 - 1));
        assert_eq!(f.locked(t0 + LOGIN_WINDOW_MS), None);
        let next = f.after_failure(t0 + LOGIN_WINDOW_MS);
        assert_eq!(next.count, 1);
    }

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        assert_eq!(
            client_key(Some("2001:db8:1:2:aaaa::1")),
            client_key(Some("2001:db8:1:2:bbbb::9"))
        );
        assert_ne!(client_key(Some("192.0.2.1")), client_key(Some("192.0.2.2")));
    }
}
