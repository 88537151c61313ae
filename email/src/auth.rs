//! Who sent a mail: the `From` address must be listed in `email:authorized_senders`, and the
//! mail must carry a DMARC pass for the From domain, or a DKIM pass whose signing domain
//! (`header.d`) is the From domain, in the `Authentication-Results` header (RFC 8601) of a
//! trusted authserv-id (`email:trusted_authserv_ids`).
//!
//! Only the topmost `Authentication-Results` is read: the receiving MTA prepends its own above
//! every header the sender wrote (RFC 8601 §5: headers claiming a local authserv-id that arrive
//! from outside may be forged), so a forged `dmarc=pass` line a sender puts in its mail sits
//! below it and is never believed. Fail-closed: an empty list, no header, or a header of an
//! unknown authserv-id refuses the mail.

use crate::mime::Mail;
use crate::EmailError;
use contracts::email::AuthorizedSenders;

/// One `method=result` of an `Authentication-Results` header, with its properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthResult {
    pub method: String,
    pub result: String,
    /// `(ptype.property, value)` pairs, lower case.
    pub props: Vec<(String, String)>,
}

/// A parsed `Authentication-Results` value: the authserv-id and its results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthResults {
    pub authserv_id: String,
    pub results: Vec<AuthResult>,
}

/// Drops RFC 5322 comments (`(…)`, nested) and folds whitespace.
fn uncomment(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut depth = 0u32;
    let mut escaped = false;
    let mut quoted = false;
    for c in v.chars() {
        if escaped {
            escaped = false;
            if depth == 0 {
                out.push(c);
            }
            continue;
        }
        match c {
            '\\' => escaped = true,
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => depth = depth.saturating_add(1),
            ')' if !quoted && depth > 0 => depth -= 1,
            c if depth == 0 => out.push(if c.is_whitespace() { ' ' } else { c }),
            _ => {}
        }
    }
    out
}

/// Parses one header value; `None` when it has no authserv-id.
pub fn parse_auth_results(value: &str) -> Option<AuthResults> {
    let clean = uncomment(value);
    let mut parts = clean.split(';');
    let authserv_id = parts
        .next()?
        .split_whitespace()
        .next()?
        .to_ascii_lowercase();
    let results = parts
        .filter_map(|p| {
            let mut tokens = p.split_whitespace();
            let (method, result) = tokens.next()?.split_once('=')?;
            let props = tokens
                .filter_map(|t| t.split_once('='))
                .map(|(k, v)| {
                    (
                        k.to_ascii_lowercase(),
                        v.trim_matches('"').to_ascii_lowercase(),
                    )
                })
                .collect();
            Some(AuthResult {
                method: method
                    .split('/')
                    .next()
                    .unwrap_or(method)
                    .to_ascii_lowercase(),
                result: result.to_ascii_lowercase(),
                props,
            })
        })
        .collect();
    Some(AuthResults {
        authserv_id,
        results,
    })
}

impl AuthResult {
    fn prop(&self, name: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Refuses `mail` unless its sender is listed and authenticated (module docs).
pub fn authenticate(
    mail: &Mail,
    senders: &AuthorizedSenders,
    trusted: &[String],
) -> Result<(), EmailError> {
    if senders.0.is_empty() {
        return Err(EmailError::NoAuthorizedSenders);
    }
    if !senders.allows(&mail.from) {
        return Err(EmailError::UnlistedSender(mail.from.clone()));
    }
    let refuse = |reason: String| EmailError::Unauthenticated {
        sender: mail.from.clone(),
        reason,
    };
    let top = mail
        .auth_results
        .first()
        .ok_or_else(|| refuse("the mail has no Authentication-Results header".into()))?;
    let ar = parse_auth_results(top)
        .ok_or_else(|| refuse("its Authentication-Results header has no authserv-id".into()))?;
    if !trusted.contains(&ar.authserv_id) {
        return Err(refuse(format!(
            "its topmost Authentication-Results is from {:?}, not a trusted authserv-id (email:trusted_authserv_ids)",
            ar.authserv_id
        )));
    }
    let domain = mail.from.rsplit_once('@').map_or("", |(_, d)| d);
    let aligned = ar.results.iter().any(|r| {
        r.result == "pass"
            && match r.method.as_str() {
                "dmarc" => r.prop("header.from") == Some(domain),
                "dkim" => r.prop("header.d") == Some(domain),
                _ => false,
            }
    });
    if aligned {
        return Ok(());
    }
    let seen: Vec<String> = ar
        .results
        .iter()
        .filter(|r| matches!(r.method.as_str(), "dmarc" | "dkim"))
        .map(|r| {
            let d = r.prop("header.from").or(r.prop("header.d")).unwrap_or("?");
            format!("{}={} for {d}", r.method, r.result)
        })
        .collect();
    Err(refuse(format!(
        "no DMARC pass or aligned DKIM pass for {domain} ({})",
        if seen.is_empty() {
            "no DKIM or DMARC result".to_owned()
        } else {
            seen.join(", ")
        }
    )))
}
