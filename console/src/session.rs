//! Sessions: an opaque 256-bit id in an `HttpOnly; Secure; SameSite=Strict` cookie, the record
//! in `SESSIONS_KV` under the SHA-256 of the id (a listing of the namespace yields nothing a
//! browser could present), an absolute lifetime (the KV entry's TTL as well) and an idle
//! timeout, and the CSRF token every state-changing form carries.
//!
//! Time is passed in; randomness too (the worker's `crypto.getRandomValues`), so every rule here
//! is tested natively.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// The cookie's name. `__Host-` makes the browser refuse it unless it is `Secure`, has
/// `Path=/` and no `Domain`: no sibling subdomain can plant or read it.
pub const COOKIE: &str = "__Host-hoox_session";
/// Bytes of randomness in a session id and in a CSRF token.
pub const ID_BYTES: usize = 32;

/// How long sessions live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// From login, whatever the activity.
    pub lifetime_ms: i64,
    /// Without a request.
    pub idle_ms: i64,
    /// How stale `last_seen_at_ms` may get before a request writes it again (KV takes about
    /// one write per second per key; a page's polling must not write on every poll).
    pub touch_every_ms: i64,
}

impl Policy {
    /// Twelve hours at most, thirty minutes idle.
    pub const DEFAULT: Policy = Policy {
        lifetime_ms: 12 * 3_600_000,
        idle_ms: 30 * 60_000,
        touch_every_ms: 60_000,
    };

    /// The policy with the vars' overrides (`DASHBOARD_SESSION_TTL_SECONDS`,
    /// `DASHBOARD_IDLE_TIMEOUT_SECONDS`), each clamped to sane bounds.
    pub fn with(lifetime_s: Option<&str>, idle_s: Option<&str>) -> Policy {
        let read = |v: Option<&str>, lo: i64, hi: i64, default: i64| {
            v.and_then(|v| v.trim().parse::<i64>().ok())
                .map(|s| s.clamp(lo, hi) * 1000)
                .unwrap_or(default)
        };
        let lifetime_ms = read(lifetime_s, 60, 7 * 86_400, Self::DEFAULT.lifetime_ms);
        let idle_ms = read(idle_s, 30, 7 * 86_400, Self::DEFAULT.idle_ms).min(lifetime_ms);
        Policy {
            lifetime_ms,
            idle_ms,
            touch_every_ms: Self::DEFAULT.touch_every_ms.min(idle_ms / 4).max(1000),
        }
    }
}

/// What `SESSIONS_KV` holds for a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub user: String,
    /// The CSRF token of this session's forms.
    pub csrf: String,
    pub created_at_ms: i64,
    pub last_seen_at_ms: i64,
}

/// Why a presented session does not stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Ended {
    #[error("the session expired")]
    Expired,
    #[error("the session timed out after inactivity")]
    Idle,
}

/// A session that stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// Whether to write `last_seen_at_ms` back now.
    pub touch: bool,
    /// Seconds the KV entry has left (its TTL on a write back).
    pub ttl_s: i64,
}

impl Session {
    /// A fresh session for `user` with `csrf` random bytes.
    pub fn new(user: &str, csrf: [u8; ID_BYTES], now_ms: i64) -> Self {
        Self {
            user: user.to_owned(),
            csrf: URL_SAFE_NO_PAD.encode(csrf),
            created_at_ms: now_ms,
            last_seen_at_ms: now_ms,
        }
    }

    /// Whether the session stands at `now_ms`.
    pub fn check(&self, policy: &Policy, now_ms: i64) -> Result<Standing, Ended> {
        let ends = self.created_at_ms.saturating_add(policy.lifetime_ms);
        if now_ms >= ends {
            return Err(Ended::Expired);
        }
        if now_ms.saturating_sub(self.last_seen_at_ms) >= policy.idle_ms {
            return Err(Ended::Idle);
        }
        Ok(Standing {
            touch: now_ms.saturating_sub(self.last_seen_at_ms) >= policy.touch_every_ms,
            ttl_s: ((ends - now_ms) / 1000).max(60),
        })
    }

    /// Whether a form's token is this session's, in constant time.
    pub fn csrf_matches(&self, presented: &str) -> bool {
        !presented.is_empty()
            && presented.len() == self.csrf.len()
            && bool::from(presented.as_bytes().ct_eq(self.csrf.as_bytes()))
    }
}

/// A session id as the cookie carries it (43 characters of URL-safe base64).
pub fn new_id(bytes: [u8; ID_BYTES]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The SESSIONS_KV key of a presented id; `None` for anything that is not an id's shape, so
/// no KV read is spent on junk.
pub fn kv_key(id: &str) -> Option<String> {
    let decoded = URL_SAFE_NO_PAD.decode(id).ok()?;
    (decoded.len() == ID_BYTES)
        .then(|| format!("session:{}", hex::encode(Sha256::digest(id.as_bytes()))))
}

/// The session id in a `Cookie` header, if one is there.
pub fn from_cookie_header(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim())
}

/// `Set-Cookie` for a new session.
pub fn set_cookie(id: &str, policy: &Policy) -> String {
    format!(
        "{COOKIE}={id}; Path=/; Max-Age={}; HttpOnly; Secure; SameSite=Strict",
        policy.lifetime_ms / 1000
    )
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const P: Policy = Policy::DEFAULT;

    #[test]
    fn a_session_ends_at_its_lifetime_or_after_idling() {
        let s = Session::new("operator", [3; 32], 1_000);
        assert_eq!(
            s.check(&P, 2_000),
            Ok(Standing {
                touch: false,
                ttl_s: (P.lifetime_ms - 1_000) / 1000
            })
        );
        assert!(s.check(&P, 1_000 + P.touch_every_ms).unwrap().touch);
        assert_eq!(s.check(&P, 1_000 + P.idle_ms), Err(Ended::Idle));
        let mut busy = s.clone();
        busy.last_seen_at_ms = 1_000 + P.lifetime_ms - 10;
        assert_eq!(busy.check(&P, 1_000 + P.lifetime_ms), Err(Ended::Expired));
    }

    #[test]
    fn vars_shorten_the_policy_within_bounds() {
        let p = Policy::with(Some("120"), Some("40"));
        assert_eq!(
            (p.lifetime_ms, p.idle_ms, p.touch_every_ms),
            (120_000, 40_000, 10_000)
        );
        let p = Policy::with(Some("1"), Some("999999999"));
        assert_eq!((p.lifetime_ms, p.idle_ms), (60_000, 60_000));
        assert_eq!(Policy::with(None, Some("junk")), P);
    }

    #[test]
    fn the_cookie_is_host_only_secure_http_only_and_strict() {
        let c = set_cookie("abc", &P);
        assert!(c.starts_with("__Host-hoox_session=abc; Path=/;"), "{c}");
        for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Max-Age=43200"] {
            assert!(c.contains(attr), "{c} lacks {attr}");
        }
        assert!(!c.contains("Domain"));
        assert!(clear_cookie().contains("Max-Age=0"));
        assert_eq!(
            from_cookie_header("a=1; __Host-hoox_session=xyz ; b=2"),
            Some("xyz")
        );
        assert_eq!(from_cookie_header("hoox_session=xyz"), None);
    }

    #[test]
    fn only_an_id_shaped_value_is_looked_up() {
        let id = new_id([9; 32]);
        assert_eq!(id.len(), 43);
        let key = kv_key(&id).unwrap();
        assert!(key.starts_with("session:") && !key.contains(&id));
        assert_eq!(key.len(), "session:".len() + 64);
        for junk in [
            "",
            "operator",
            "admin",
            &id[..42],
            &format!("{id}A"),
            "../../x",
        ] {
            assert_eq!(kv_key(junk), None, "{junk}");
        }
    }

    #[test]
    fn the_csrf_token_must_be_the_sessions() {
        let s = Session::new("operator", [5; 32], 0);
        assert!(s.csrf_matches(&s.csrf.clone()));
        assert!(!s.csrf_matches(""));
        assert!(!s.csrf_matches(&new_id([6; 32])));
        assert!(!s.csrf_matches(&s.csrf[..10]));
    }

    proptest! {
        #[test]
        fn distinct_ids_have_distinct_keys(a in any::<[u8; 32]>(), b in any::<[u8; 32]>()) {
            prop_assume!(a != b);
            prop_assert_ne!(kv_key(&new_id(a)), kv_key(&new_id(b)));
        }

        #[test]
        fn a_session_never_stands_past_either_limit(created in 0i64..1_000_000_000, seen in 0i64..100_000_000, now in 0i64..2_000_000_000) {
            let s = Session { user: "u".into(), csrf: "c".into(), created_at_ms: created, last_seen_at_ms: created + seen };
            if s.check(&P, now).is_ok() {
                prop_assert!(now < created + P.lifetime_ms);
                prop_assert!(now - (created + seen) < P.idle_ms);
            }
        }
    }
}
