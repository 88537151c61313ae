//! Trading signals by e-mail, pure (no worker dependency): a raw message is decoded
//! ([`mime`]), its sender checked against `email:authorized_senders` and its authentication
//! results ([`auth`]), its subject and body read by a strict grammar ([`grammar`]) into a signal
//! validated exactly as the gateway validates a webhook (`contracts::signal::validate`), and
//! keyed by its Message-ID ([`idempotency_key`]) so a redelivered mail is one signal and two
//! mails are two. Mailgun's webhook signature is [`mailgun`]. The email-worker adapts the three
//! ingresses (Email Routing's `email()` handler, the Mailgun route, `POST /email-signal`) to
//! [`accept`] and sends what it returns to the trade-worker's `POST /signals`.

pub mod auth;
mod error;
pub mod grammar;
pub mod ingress;
pub mod mailgun;
pub mod mime;

pub use contracts::email::AuthorizedSenders;
pub use error::EmailError;
pub use mime::{Mail, MAX_MAIL_BYTES};

use contracts::signal::Signal;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

pub use contracts::email::KEY_PREFIX;

/// What the ingress checks a mail against (from CONFIG_KV).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub senders: AuthorizedSenders,
    pub trusted_authserv_ids: Vec<String>,
}

/// An accepted mail: the signal and the object to send to `POST /signals`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub sender: String,
    pub subject: String,
    pub idempotency_key: String,
    pub signal: Signal,
    /// The signal object with its `idempotencyKey`.
    pub body: Map<String, Value>,
}

/// A refused mail, with what the alert names (sender and subject, when known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub sender: Option<String>,
    pub subject: Option<String>,
    pub error: EmailError,
}

/// The key of a mail: `email:` and the SHA-256 of its normalised Message-ID (hex), so the key
/// is bounded and printable whatever the id holds.
pub fn idempotency_key(message_id: &str) -> String {
    let id = mime::normalise_message_id(message_id);
    format!("{KEY_PREFIX}{}", hex::encode(Sha256::digest(id.as_bytes())))
}

/// The key of a Mailgun post without a Message-ID: its token (distinct from any id's hash).
pub fn token_key(token: &str) -> String {
    format!(
        "{KEY_PREFIX}{}",
        hex::encode(Sha256::digest(
            format!("mailgun-token:{}", token.trim()).as_bytes()
        ))
    )
}

/// Checks a decoded mail and reads its signal.
pub fn accept_mail(
    mail: &Mail,
    policy: &Policy,
    fallback_key: Option<&str>,
) -> Result<Accepted, Refused> {
    let refused = |error| Refused {
        sender: Some(mail.from.clone()),
        subject: Some(mail.subject.clone()),
        error,
    };
    auth::authenticate(mail, &policy.senders, &policy.trusted_authserv_ids).map_err(refused)?;
    let key = match (&mail.message_id, fallback_key) {
        (Some(id), _) => idempotency_key(id),
        (None, Some(k)) => k.to_owned(),
        (None, None) => return Err(refused(EmailError::NoMessageId)),
    };
    let (signal, mut body) = grammar::parse_signal(&mail.subject, &mail.text).map_err(refused)?;
    body.insert("idempotencyKey".into(), Value::String(key.clone()));
    Ok(Accepted {
        sender: mail.from.clone(),
        subject: mail.subject.clone(),
        idempotency_key: key,
        signal,
        body,
    })
}

/// Decodes a raw message and [`accept_mail`]s it.
pub fn accept(raw: &[u8], policy: &Policy) -> Result<Accepted, Refused> {
    let mail = mime::parse(raw).map_err(|error| Refused {
        sender: None,
        subject: None,
        error,
    })?;
    accept_mail(&mail, policy, None)
}
