//! The dashboard's password, stored as a PBKDF2-HMAC-SHA256 hash in the PHC string format
//! (`$pbkdf2-sha256$i=100000$<salt>$<hash>`, unpadded standard base64) in the secret
//! `DASHBOARD_PASSWORD_HASH`.
//!
//! PBKDF2 rather than argon2 because the worker derives the bits with WebCrypto, which runs
//! natively inside the runtime (a wasm argon2 or PBKDF2 would cost many times the CPU of the
//! same work). The Workers runtime refuses PBKDF2 above 100 000 iterations
//! (cloudflare/workerd#1346, `checkPbkdfLimits`), so that is the count; a hash asking for more
//! is refused before any work, so a crafted secret cannot make a login burn CPU. The generated
//! local password and `hoox dashboard hash-password`'s minimum length make up for the capped
//! count with entropy. The PHC string is parsed by hand: four `$`-separated fields, and the
//! `password-hash` crate would add a dependency tree for that.

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;
use subtle::ConstantTimeEq as _;

/// The iteration count hashes are made with: the runtime's maximum.
pub const ITERATIONS: u32 = 100_000;
/// The most a stored hash may ask for (the runtime's limit).
pub const MAX_ITERATIONS: u32 = 100_000;
/// The fewest a stored hash may ask for.
pub const MIN_ITERATIONS: u32 = 10_000;
/// Bytes of salt a new hash gets.
pub const SALT_BYTES: usize = 16;
/// Bytes of derived key stored (256 bits, SHA-256's output).
pub const HASH_BYTES: usize = 32;
/// The shortest password `hash-password` accepts.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The longest password a login tries (longer is refused before any work).
pub const MAX_PASSWORD_BYTES: usize = 1024;

const PREFIX: &str = "pbkdf2-sha256";

/// Why a stored hash (the secret) is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    #[error("DASHBOARD_PASSWORD_HASH is not a `$pbkdf2-sha256$i=<n>$<salt>$<hash>` string")]
    Format,
    #[error("DASHBOARD_PASSWORD_HASH asks for {0} iterations; {MIN_ITERATIONS}–{MAX_ITERATIONS} are accepted")]
    Iterations(u64),
    #[error("DASHBOARD_PASSWORD_HASH has a {0}-byte salt; at least 8 bytes are needed")]
    Salt(usize),
    #[error("DASHBOARD_PASSWORD_HASH holds a {0}-byte hash; {HASH_BYTES} bytes are expected")]
    Hash(usize),
}

/// A password that `hash-password` refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("the password needs at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("the password is longer than {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
}

/// A parsed stored hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordHash {
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub hash: Vec<u8>,
}

impl PasswordHash {
    /// Reads a PHC string; bounds checked before anything is derived from it.
    pub fn parse(s: &str) -> Result<Self, HashError> {
        let mut parts = s.trim().split('$');
        let (Some(""), Some(PREFIX), Some(params), Some(salt), Some(hash), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(HashError::Format);
        };
        let iterations: u64 = params
            .strip_prefix("i=")
            .and_then(|n| n.parse().ok())
            .ok_or(HashError::Format)?;
        if !(u64::from(MIN_ITERATIONS)..=u64::from(MAX_ITERATIONS)).contains(&iterations) {
            return Err(HashError::Iterations(iterations));
        }
        let salt = STANDARD_NO_PAD
            .decode(salt)
            .map_err(|_| HashError::Format)?;
        if salt.len() < 8 {
            return Err(HashError::Salt(salt.len()));
        }
        let hash = STANDARD_NO_PAD
            .decode(hash)
            .map_err(|_| HashError::Format)?;
        if hash.len() != HASH_BYTES {
            return Err(HashError::Hash(hash.len()));
        }
        Ok(Self {
            iterations: iterations as u32,
            salt,
            hash,
        })
    }

    /// The PHC string.
    pub fn to_phc(&self) -> String {
        format!(
            "${PREFIX}$i={}${}${}",
            self.iterations,
            STANDARD_NO_PAD.encode(&self.salt),
            STANDARD_NO_PAD.encode(&self.hash)
        )
    }

    /// Whether `derived` (PBKDF2 of the attempt with this salt and count) is the stored hash,
    /// in constant time.
    pub fn matches(&self, derived: &[u8]) -> bool {
        derived.len() == self.hash.len() && bool::from(derived.ct_eq(&self.hash))
    }

    /// Checks `password` here (natively; the worker uses WebCrypto for the same bits).
    pub fn verify(&self, password: &str) -> bool {
        self.matches(&derive(password.as_bytes(), &self.salt, self.iterations))
    }
}

/// PBKDF2-HMAC-SHA256 of `password` with `salt`, 32 bytes.
pub fn derive(password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
    let mut out = vec![0u8; HASH_BYTES];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, iterations, &mut out);
    out
}

/// A new stored hash of `password` with `salt` (16 random bytes from the caller).
pub fn hash(password: &str, salt: [u8; SALT_BYTES]) -> Result<PasswordHash, PasswordError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    Ok(PasswordHash {
        iterations: ITERATIONS,
        salt: salt.to_vec(),
        hash: derive(password.as_bytes(), &salt, ITERATIONS),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_the_published_pbkdf2_hmac_sha256_vectors() {
        // RFC 7914 §11 (PBKDF2-HMAC-SHA256, "passwd"/"salt", 1 iteration, first 32 bytes).
        assert_eq!(
            hex::encode(derive(b"passwd", b"salt", 1)),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        );
        // RFC 7914 §11, "Password"/"NaCl", 80000 iterations.
        assert_eq!(
            hex::encode(derive(b"Password", b"NaCl", 80_000)),
            "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
        );
    }

    #[test]
    fn a_hash_round_trips_and_checks_only_its_password() {
        let h = hash("correct horse battery", [7; SALT_BYTES]).unwrap();
        let phc = h.to_phc();
        assert!(phc.starts_with("$pbkdf2-sha256$i=100000$"), "{phc}");
        let back = PasswordHash::parse(&phc).unwrap();
        assert_eq!(back, h);
        assert!(back.verify("correct horse battery"));
        assert!(!back.verify("correct horse batter"));
        assert!(!back.matches(&back.hash[..31]));
    }

    #[test]
    fn a_crafted_hash_is_refused_before_any_work() {
        let good = hash("correct horse battery", [1; SALT_BYTES])
            .unwrap()
            .to_phc();
        let more = good.replace("i=100000", "i=100000000");
        assert_eq!(
            PasswordHash::parse(&more),
            Err(HashError::Iterations(100_000_000))
        );
        assert_eq!(
            PasswordHash::parse(&good.replace("i=100000", "i=10")),
            Err(HashError::Iterations(10))
        );
        for bad in [
            "",
            "hunter2",
            "$argon2id$v=19$m=1,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
            "$pbkdf2-sha256$100000$c2FsdHNhbHQ$aGFzaA",
            &format!("{good}$extra"),
        ] {
            assert_eq!(PasswordHash::parse(bad), Err(HashError::Format), "{bad}");
        }
        let short_salt = format!("$pbkdf2-sha256$i=100000$c2FsdA${}", "A".repeat(43));
        assert_eq!(PasswordHash::parse(&short_salt), Err(HashError::Salt(4)));
    }

    #[test]
    fn weak_passwords_are_not_hashed() {
        assert_eq!(hash("short", [0; 16]), Err(PasswordError::TooShort));
        assert_eq!(
            hash(&"x".repeat(MAX_PASSWORD_BYTES + 1), [0; 16]),
            Err(PasswordError::TooLong)
        );
    }
}
