//! The e-mail ingress's two config keys, typed here so `hoox config set` and the admin API
//! validate them like every other key (`crate::config::validate_write`); read by the
//! email-worker alone, so they are not part of `RuntimeConfig`.
//!
//! - `email:authorized_senders`: JSON array of addresses (`alerts@example.com`, matched whole,
//!   case-insensitively) or domains (`example.com` or `@example.com`: any address at exactly
//!   that domain). Empty (the default) refuses every mail: fail-closed.
//! - `email:trusted_authserv_ids`: JSON array of the authserv-ids whose `Authentication-Results`
//!   header the worker believes (RFC 8601 §2.2: the id names the host that checked). The default
//!   is Cloudflare Email Routing's `mx.cloudflare.net`, the id its inbound MX stamps on routed
//!   mail (seen in real routed messages: `Authentication-Results: mx.cloudflare.net; dkim=pass
//!   header.d=gmail.com …; dmarc=pass header.from=gmail.com`).

use serde_json::Value;

pub const AUTHORIZED_SENDERS: &str = "email:authorized_senders";
pub const TRUSTED_AUTHSERV_IDS: &str = "email:trusted_authserv_ids";
pub const DEFAULT_TRUSTED_AUTHSERV_IDS: &str = r#"["mx.cloudflare.net"]"#;

/// The prefix of every e-mail signal's idempotency key, and so the ledger's `source` of a mail
/// (`hoox signals --source email`). Reserved to the email-worker: the gateway refuses a webhook
/// naming a key under it ([`is_mail_key`]), so the source names real mail only.
pub const KEY_PREFIX: &str = "email:";

/// Whether `key` is under [`KEY_PREFIX`] (any case: the ledger's filter is SQLite `LIKE`,
/// which ignores ASCII case).
pub fn is_mail_key(key: &str) -> bool {
    key.len() >= KEY_PREFIX.len()
        && key.is_char_boundary(KEY_PREFIX.len())
        && key[..KEY_PREFIX.len()].eq_ignore_ascii_case(KEY_PREFIX)
}

/// One entry of `email:authorized_senders`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SenderRule {
    /// A whole address, lower case.
    Address(String),
    /// Any address at exactly this domain, lower case.
    Domain(String),
}

/// The parsed `email:authorized_senders`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthorizedSenders(pub Vec<SenderRule>);

/// A domain as the lists hold it: labels of letters, digits and hyphens, at least two.
pub fn is_domain(d: &str) -> bool {
    let labels: Vec<&str> = d.split('.').collect();
    labels.len() >= 2
        && d.len() <= 253
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn strings(v: &str) -> Result<Vec<String>, String> {
    match serde_json::from_str::<Value>(v.trim()) {
        Ok(Value::Array(items)) => items
            .into_iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.trim().to_ascii_lowercase()),
                other => Err(format!("expected strings, got {other}")),
            })
            .collect(),
        _ => Err("expected a JSON array of strings".into()),
    }
}

impl AuthorizedSenders {
    pub fn parse(v: &str) -> Result<Self, String> {
        strings(v)?
            .into_iter()
            .map(|s| match s.rsplit_once('@') {
                Some(("", domain)) if is_domain(domain) => Ok(SenderRule::Domain(domain.into())),
                Some((local, domain))
                    if is_domain(domain)
                        && !local.is_empty()
                        && local.bytes().all(|b| b.is_ascii_graphic() && b != b'@') =>
                {
                    Ok(SenderRule::Address(s.clone()))
                }
                None if is_domain(&s) => Ok(SenderRule::Domain(s)),
                _ => Err(format!("{s:?} is neither an address nor a domain")),
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Whether `address` (any case) is listed, itself or by its domain.
    pub fn allows(&self, address: &str) -> bool {
        let address = address.trim().to_ascii_lowercase();
        let domain = address.rsplit_once('@').map(|(_, d)| d);
        self.0.iter().any(|r| match r {
            SenderRule::Address(a) => *a == address,
            SenderRule::Domain(d) => domain == Some(d.as_str()),
        })
    }
}

/// Parses `email:trusted_authserv_ids`: a JSON array of host names (lower case).
pub fn parse_trusted_authserv_ids(v: &str) -> Result<Vec<String>, String> {
    let ids = strings(v)?;
    match ids.iter().find(|i| !is_domain(i)) {
        Some(bad) => Err(format!("{bad:?} is not a host name")),
        None => Ok(ids),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senders_are_addresses_or_domains_and_empty_allows_none() {
        let s =
            AuthorizedSenders::parse(r#"["Alerts@Example.com", "@tv.example", "corp.example"]"#)
                .unwrap();
        assert!(s.allows("alerts@example.com") && s.allows("ALERTS@EXAMPLE.COM"));
        assert!(!s.allows("other@example.com"));
        assert!(s.allows("x@tv.example") && s.allows("y@corp.example"));
        assert!(!s.allows("x@sub.tv.example") && !s.allows("x@evil-tv.example"));
        assert!(!AuthorizedSenders::parse("[]").unwrap().allows("a@b.c"));
        for bad in ["{}", r#"["com"]"#, r#"[1]"#, r#"["a@"]"#, r#"["a b@c.d"]"#] {
            assert!(AuthorizedSenders::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mail_keys_are_recognised_in_any_case() {
        assert!(is_mail_key("email:abc") && is_mail_key("EMAIL:abc") && is_mail_key("Email:"));
        assert!(!is_mail_key("email") && !is_mail_key("mail:x") && !is_mail_key("\u{e9}mail:x"));
        assert!(!is_mail_key("risk:sl:x") && !is_mail_key(""));
    }

    #[test]
    fn authserv_ids_are_host_names() {
        assert_eq!(
            parse_trusted_authserv_ids(DEFAULT_TRUSTED_AUTHSERV_IDS).unwrap(),
            vec!["mx.cloudflare.net"]
        );
        assert!(parse_trusted_authserv_ids(r#"["mx cloudflare"]"#).is_err());
    }
}
