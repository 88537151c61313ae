//! Sender and service authentication primitives.
//!
//! Every comparison of a presented secret with a configured one goes through [`secret_eq`], which is
//! constant-time and fail-closed: an unset or empty configured secret never matches anything.
//!
//! Standard Webhooks verification is written here rather than taken from a crate: it is a few
//! lines over `hmac`/`sha2`/`subtle`, it must run in the gateway's wasm isolate without a
//! clock of its own (the time is passed in), it checks the timestamp tolerance and every
//! rotated `v1,` signature in constant time, and it is pinned by the spec's published vector.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// The shortest hoox secret a worker starts with: 32 characters (the local run generates 48
/// hex characters). Exchange keys are not held to it: the venues choose their formats.
pub const MIN_SECRET_LEN: usize = 32;

/// The secrets hoox itself issues, held to [`MIN_SECRET_LEN`] wherever they are set.
pub const HOOX_SECRETS: [&str; 4] = [
    "WEBHOOK_API_KEY",
    "INTERNAL_KEY_BINDING",
    "TELEGRAM_SECRET_TOKEN",
    "WEBHOOK_SIGNING_SECRET",
];

/// A configured secret too short to resist guessing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name} is {len} characters; hoox secrets need at least {MIN_SECRET_LEN} (generate one with `openssl rand -hex 24`)")]
pub struct WeakSecret {
    pub name: &'static str,
    pub len: usize,
}

/// Checks a configured secret's length. `None` (unset) passes: an unset secret fails closed
/// where it is used. A Standard Webhooks `whsec_` secret is measured without its prefix.
pub fn check_secret(name: &'static str, value: Option<&str>) -> Result<(), WeakSecret> {
    let Some(value) = value else {
        return Ok(());
    };
    let len = value
        .strip_prefix("whsec_")
        .unwrap_or(value)
        .chars()
        .count();
    if len < MIN_SECRET_LEN {
        return Err(WeakSecret { name, len });
    }
    Ok(())
}

/// Constant-time equality of a presented secret with the configured one.
///
/// Both sides are hashed first so neither the comparison time nor an early length check reveals
/// how long the configured secret is. `None` or an empty configured secret fails closed.
pub fn secret_eq(presented: &str, configured: Option<&str>) -> bool {
    let Some(configured) = configured.filter(|c| !c.is_empty()) else {
        return false;
    };
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(configured.as_bytes());
    a.ct_eq(&b).into()
}

/// Hex HMAC-SHA256, the signature form of Bybit, Binance and MEXC.
pub fn hmac_sha256_hex(secret: &[u8], message: &[u8]) -> String {
    hex::encode(hmac_sha256(secret, message))
}

pub fn hmac_sha256(secret: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC-SHA256 takes keys of any length"),
    };
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Why a Standard Webhooks signature was refused. Messages never contain the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no webhook signing secret is configured")]
    NotConfigured,
    #[error("webhook-timestamp is not a number of seconds")]
    BadTimestamp,
    #[error("webhook-timestamp is outside the ±{tolerance_seconds} s tolerance")]
    Expired { tolerance_seconds: i64 },
    #[error("no v1 signature in webhook-signature matches")]
    NoMatch,
}

/// The HMAC key of a Standard Webhooks secret: `whsec_<base64>` decodes to bytes; any other
/// secret (such as a plain `WEBHOOK_API_KEY`) is used as its UTF-8 bytes.
fn signing_key(secret: &str) -> Vec<u8> {
    match secret.strip_prefix("whsec_") {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap_or_else(|_| b64.as_bytes().to_vec()),
        None => secret.as_bytes().to_vec(),
    }
}

/// Tolerance of Standard Webhooks timestamps, both directions.
pub const WEBHOOK_TOLERANCE_SECONDS: i64 = 300;

/// Verifies a Standard Webhooks signature (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`).
///
/// `secret` is `whsec_<base64>` or a plain secret (see [`signing_key`]). `header` may hold several space-separated signatures, so senders can rotate keys.
pub fn verify_standard_webhook(
    secret: Option<&str>,
    msg_id: &str,
    timestamp: &str,
    body: &[u8],
    header: &str,
    now_seconds: i64,
) -> Result<(), SignatureError> {
    let secret = secret
        .filter(|s| !s.is_empty())
        .ok_or(SignatureError::NotConfigured)?;
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    // `abs_diff`: a timestamp at either end of i64 must not overflow the subtraction.
    if now_seconds.abs_diff(ts) > WEBHOOK_TOLERANCE_SECONDS.unsigned_abs() {
        return Err(SignatureError::Expired {
            tolerance_seconds: WEBHOOK_TOLERANCE_SECONDS,
        });
    }
    let key = signing_key(secret);
    let mut signed = Vec::with_capacity(msg_id.len() + timestamp.len() + body.len() + 2);
    signed.extend_from_slice(msg_id.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(timestamp.trim().as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(body);
    let expected = hmac_sha256(&key, &signed);
    let mut matched = false;
    for candidate in header.split_whitespace() {
        let Some(sig) = candidate.strip_prefix("v1,") else {
            continue;
        };
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(sig) {
            // Check every candidate so timing does not reveal which one matched.
            matched |= bool::from(bytes.as_slice().ct_eq(&expected[..]));
        }
    }
    if matched {
        Ok(())
    } else {
        Err(SignatureError::NoMatch)
    }
}

/// Produces a `v1,<base64>` Standard Webhooks signature (used by senders, tests and the CLI).
pub fn sign_standard_webhook(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = signing_key(secret);
    let mut signed = format!("{msg_id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(hmac_sha256(&key, &signed))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_secrets_are_refused_by_name_and_length_never_value() {
        assert_eq!(check_secret("WEBHOOK_API_KEY", None), Ok(()));
        assert_eq!(
            check_secret("WEBHOOK_API_KEY", Some(&"a".repeat(32))),
            Ok(())
        );
        let e = check_secret("INTERNAL_KEY_BINDING", Some("hunter2-hunter2")).unwrap_err();
        assert_eq!(
            e,
            WeakSecret {
                name: "INTERNAL_KEY_BINDING",
                len: 15
            }
        );
        let shown = e.to_string();
        assert!(
            shown.contains("INTERNAL_KEY_BINDING") && shown.contains("32"),
            "{shown}"
        );
        assert!(!shown.contains("hunter2"), "the value is never shown");
        // `whsec_` is a prefix, not key material.
        assert!(check_secret(
            "WEBHOOK_SIGNING_SECRET",
            Some(&format!("whsec_{}", "b".repeat(31)))
        )
        .is_err());
        assert!(check_secret(
            "WEBHOOK_SIGNING_SECRET",
            Some(&format!("whsec_{}", "b".repeat(32)))
        )
        .is_ok());
        assert_eq!(
            check_secret("X", Some(&"é".repeat(32))),
            Ok(()),
            "characters, not bytes"
        );
    }

    #[test]
    fn secret_eq_fails_closed() {
        assert!(!secret_eq("", None));
        assert!(!secret_eq("", Some("")));
        assert!(!secret_eq("x", Some("")));
        assert!(!secret_eq("abc", Some("abd")));
        assert!(!secret_eq("abc", Some("abcd")));
        assert!(secret_eq("abc", Some("abc")));
    }

    // Standard Webhooks reference vector (`standard_webhooks` in exchanges/tests/vectors/signing.json).
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn standard_webhooks_vector_signs_and_verifies() {
        assert_eq!(sign_standard_webhook(SECRET, ID, TS, BODY), SIG);
        let ts = TS.to_string();
        assert_eq!(
            verify_standard_webhook(Some(SECRET), ID, &ts, BODY, SIG, TS),
            Ok(())
        );
        let rotated = format!("v1,AAAA {SIG}");
        assert_eq!(
            verify_standard_webhook(Some(SECRET), ID, &ts, BODY, &rotated, TS + 10),
            Ok(())
        );
    }

    #[test]
    fn standard_webhooks_rejects_wrong_expired_and_unconfigured() {
        let ts = TS.to_string();
        assert_eq!(
            verify_standard_webhook(Some(SECRET), ID, &ts, b"{}", SIG, TS),
            Err(SignatureError::NoMatch)
        );
        assert!(matches!(
            verify_standard_webhook(Some(SECRET), ID, &ts, BODY, SIG, TS + 301),
            Err(SignatureError::Expired { .. })
        ));
        assert_eq!(
            verify_standard_webhook(None, ID, &ts, BODY, SIG, TS),
            Err(SignatureError::NotConfigured)
        );
        assert_eq!(
            verify_standard_webhook(Some(SECRET), ID, "soon", BODY, SIG, TS),
            Err(SignatureError::BadTimestamp)
        );
        // A sender's timestamp at the ends of i64 is far outside the tolerance, not an
        // overflow of `now - ts`.
        for ts in [i64::MIN.to_string(), i64::MAX.to_string()] {
            assert!(matches!(
                verify_standard_webhook(Some(SECRET), ID, &ts, BODY, SIG, TS),
                Err(SignatureError::Expired { .. })
            ));
        }
        assert!(matches!(
            verify_standard_webhook(Some(SECRET), ID, &ts, BODY, SIG, i64::MIN),
            Err(SignatureError::Expired { .. })
        ));
    }
}
