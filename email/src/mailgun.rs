//! Mailgun's webhook signature, as its docs define it ("Securing Webhooks": concatenate the
//! `timestamp` and `token` values, HMAC-SHA256 them with the HTTP webhook signing key, compare
//! the hex digest with `signature`; all three are form fields of the post, not headers). The
//! timestamp must be within ±15 minutes of now, and the worker keeps each token for that window
//! so a replayed post is refused ("cache the token … do not allow subsequent requests with the
//! same token").

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a post's timestamp may be from now, either way.
pub const WINDOW_SECONDS: i64 = 15 * 60;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailgunError {
    #[error("missing form field `{0}`")]
    Missing(&'static str),
    #[error("timestamp is not whole seconds")]
    BadTimestamp,
    #[error("timestamp is {skew} s from now, outside the ±{WINDOW_SECONDS} s window")]
    Expired { skew: i64 },
    #[error("signature does not match")]
    BadSignature,
    #[error("token was already used")]
    Replayed,
}

/// Checks one post's `timestamp`, `token` and `signature` at `now_s` (epoch seconds).
pub fn verify(
    signing_key: &str,
    timestamp: &str,
    token: &str,
    signature: &str,
    now_s: i64,
) -> Result<(), MailgunError> {
    for (name, v) in [
        ("timestamp", timestamp),
        ("token", token),
        ("signature", signature),
    ] {
        if v.trim().is_empty() {
            return Err(MailgunError::Missing(name));
        }
    }
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| MailgunError::BadTimestamp)?;
    let skew = now_s.saturating_sub(ts);
    if skew.abs() > WINDOW_SECONDS {
        return Err(MailgunError::Expired { skew });
    }
    let given = hex::decode(signature.trim()).map_err(|_| MailgunError::BadSignature)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(signing_key.as_bytes())
        .map_err(|_| MailgunError::BadSignature)?;
    mac.update(timestamp.as_bytes());
    mac.update(token.as_bytes());
    // `verify_slice` compares in constant time.
    mac.verify_slice(&given)
        .map_err(|_| MailgunError::BadSignature)
}

/// The signature Mailgun sends for `timestamp` and `token` (tests and the local curl).
pub fn sign(signing_key: &str, timestamp: &str, token: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(signing_key.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.as_bytes());
    mac.update(token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_post_verifies_and_anything_else_is_refused() {
        let key = "key-0123456789abcdef";
        let sig = sign(key, "1700000000", "tok");
        assert_eq!(
            verify(key, "1700000000", "tok", &sig, 1_700_000_100),
            Ok(())
        );
        assert_eq!(
            verify("other", "1700000000", "tok", &sig, 1_700_000_100),
            Err(MailgunError::BadSignature)
        );
        assert_eq!(
            verify(key, "1700000000", "tok2", &sig, 1_700_000_100),
            Err(MailgunError::BadSignature)
        );
        assert_eq!(
            verify(key, "1700000000", "tok", &sig, 1_700_000_901),
            Err(MailgunError::Expired { skew: 901 })
        );
        assert_eq!(
            verify(key, "1700000000", "tok", "zz", 1_700_000_000),
            Err(MailgunError::BadSignature)
        );
        assert_eq!(
            verify(key, "", "tok", &sig, 0),
            Err(MailgunError::Missing("timestamp"))
        );
    }
}
