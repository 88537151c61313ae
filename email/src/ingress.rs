//! What the three ingresses hand the parser, and what they tell the operator, kept pure so it
//! is tested natively:
//!
//! - A Mailgun route post ([`mailgun_message`]). Mailgun's docs ("Receiving Messages via HTTP
//!   through a forward() action") define two forms: *fully parsed* (form fields `from`,
//!   `subject`, `message-headers` — every MIME header as a JSON list of `[name, value]` pairs,
//!   in order — and `body-plain`, always present, the text body or a text rendering of an
//!   HTML-only one, UTF-8), or *raw MIME* when the route's URL ends in `mime` (field
//!   `body-mime`). Both become one RFC 5322 message for [`crate::accept`]: the raw one as it
//!   is, the parsed one rebuilt from its headers in their order (so the topmost
//!   `Authentication-Results` stays topmost) over its `body-plain`.
//! - `POST /email-signal` with a signal object ([`accept_object`]): the internal key
//!   authenticates the caller, so no sender check; the object names its mail's `messageId`,
//!   whose key it gets, like a mail.
//! - The Telegram alert of every accepted and refused mail ([`accepted_alert`],
//!   [`refused_alert`]): the ingress, sender, subject and the signal or the reason.

use crate::{idempotency_key, Accepted, EmailError, Refused};
use contracts::signal::{self, SignalError};
use serde_json::{Map, Value};

/// The mail's headers the rebuilt message drops: `body-plain` is decoded UTF-8 text, whatever
/// the original's type and encoding were.
const REBUILT_WITHOUT: [&str; 3] = ["content-type", "content-transfer-encoding", "mime-version"];

/// One RFC 5322 message from a Mailgun post's fields (`field(name)`): `body-mime` as it is,
/// else `message-headers` over `body-plain`.
pub fn mailgun_message(field: impl Fn(&str) -> Option<String>) -> Result<Vec<u8>, EmailError> {
    if let Some(raw) = field("body-mime").filter(|r| !r.trim().is_empty()) {
        return Ok(raw.into_bytes());
    }
    let headers = field("message-headers").ok_or(EmailError::Unparseable)?;
    let pairs: Vec<(String, String)> =
        serde_json::from_str(&headers).map_err(|_| EmailError::Unparseable)?;
    let mut out = String::with_capacity(headers.len() + 256);
    for (name, value) in &pairs {
        let name = name.trim();
        // A header name is printable ASCII without a colon (RFC 5322 §2.2); anything else in
        // the list is not a header and would break the message.
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
            return Err(EmailError::Unparseable);
        }
        if REBUILT_WITHOUT.iter().any(|h| name.eq_ignore_ascii_case(h)) {
            continue;
        }
        // Values arrive unfolded; a line break inside one would start a header of its own.
        let value: String = value
            .chars()
            .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
            .collect();
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value.trim());
        out.push_str("\r\n");
    }
    out.push_str("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n");
    out.push_str(&field("body-plain").unwrap_or_default());
    Ok(out.into_bytes())
}

/// Fields of a `POST /email-signal` object that describe the mail rather than the signal.
const MAIL_FIELDS: [&str; 3] = ["messageId", "from", "subject"];

/// A signal object posted to `POST /email-signal`: the gateway's shape, plus `messageId`
/// (required: the key), and `from` and `subject` for the alert. `apiKey` and `idempotencyKey`
/// are refused as in a mail.
pub fn accept_object(mut obj: Map<String, Value>) -> Result<Accepted, Refused> {
    let text = |obj: &Map<String, Value>, f: &str| {
        obj.get(f)
            .and_then(Value::as_str)
            .map(|s| s.trim().to_owned())
    };
    let sender = text(&obj, "from").unwrap_or_else(|| "POST /email-signal".into());
    let subject = text(&obj, "subject").unwrap_or_default();
    let refused = |error| Refused {
        sender: Some(sender.clone()),
        subject: Some(subject.clone()),
        error,
    };
    let id = text(&obj, "messageId")
        .filter(|m| !crate::mime::normalise_message_id(m).is_empty())
        .ok_or_else(|| refused(EmailError::NoMessageId))?;
    for f in MAIL_FIELDS {
        obj.remove(f);
    }
    for f in ["apiKey", "idempotencyKey", "idempotency_key"] {
        if obj.contains_key(f) {
            return Err(refused(EmailError::Forbidden(f)));
        }
    }
    let parsed = signal::validate(&obj).map_err(|e: SignalError| refused(e.into()))?;
    let key = idempotency_key(&id);
    obj.insert("idempotencyKey".into(), Value::String(key.clone()));
    Ok(Accepted {
        sender,
        subject,
        idempotency_key: key,
        signal: parsed.signal,
        body: obj,
    })
}

/// Longest subject quoted in an alert.
const SUBJECT_SHOWN: usize = 120;

fn quoted(subject: &str) -> String {
    let s: String = subject.chars().take(SUBJECT_SHOWN).collect();
    if s.len() < subject.len() {
        format!("\"{s}…\"")
    } else {
        format!("\"{s}\"")
    }
}

/// The alert of an accepted mail (`replayed`: its Message-ID was recorded before, so no second
/// order).
pub fn accepted_alert(ingress: &str, a: &Accepted, replayed: bool) -> String {
    let s = &a.signal;
    let price = s.price.map(|p| format!(" @ {p}")).unwrap_or_default();
    format!(
        "📧 Mail signal {} ({ingress}): {} {} {} {}{price}{} from {}, subject {}; key {}",
        if replayed {
            "already recorded, not placed again"
        } else {
            "accepted"
        },
        s.action.as_str(),
        s.exchange.as_str(),
        s.symbol.canonical(),
        s.quantity,
        if s.test { " (testnet)" } else { "" },
        a.sender,
        quoted(&a.subject),
        a.idempotency_key,
    )
}

/// The alert of a refused mail, with the reason (and the field to fix, when there is one).
pub fn refused_alert(ingress: &str, r: &Refused) -> String {
    format!(
        "📧 Mail refused ({ingress}) from {}, subject {}: {}{}",
        r.sender.as_deref().unwrap_or("an unknown sender"),
        r.subject
            .as_deref()
            .map(quoted)
            .unwrap_or_else(|| "unknown".into()),
        r.error,
        r.error
            .field()
            .map(|f| format!(" (field {f})"))
            .unwrap_or_default(),
    )
}

/// The alert of a mail the trade-worker's door refused (`reason`: its answer).
pub fn door_refused_alert(ingress: &str, a: &Accepted, reason: &str) -> String {
    format!(
        "📧 Mail refused ({ingress}) from {}, subject {}: the trade-worker refused its signal: {reason}; key {}",
        a.sender,
        quoted(&a.subject),
        a.idempotency_key,
    )
}

/// The alert of an accepted mail the trade-worker did not record (nothing placed).
pub fn failed_alert(ingress: &str, a: &Accepted, why: &str) -> String {
    format!(
        "📧 Mail signal NOT placed ({ingress}) from {}, subject {}: the trade-worker did not record it ({why}); key {}",
        a.sender,
        quoted(&a.subject),
        a.idempotency_key,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{accept, AuthorizedSenders, Policy};
    use serde_json::json;

    fn policy() -> Policy {
        Policy {
            senders: AuthorizedSenders::parse(r#"["desk.example"]"#).unwrap_or_default(),
            trusted_authserv_ids: vec!["mx.mailgun.example".into()],
        }
    }

    fn post<'a>(fields: &'a [(&'a str, String)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            fields
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn a_parsed_mailgun_post_is_rebuilt_with_its_headers_in_order() {
        let headers = json!([
            [
                "Authentication-Results",
                "mx.mailgun.example; dmarc=pass header.from=desk.example"
            ],
            [
                "Authentication-Results",
                "mx.mailgun.example; dmarc=fail header.from=desk.example"
            ],
            ["From", "Desk <t@desk.example>"],
            ["Subject", "LONG PAPER:BTCUSDT 0.01"],
            ["Message-Id", "<mg-1@desk.example>"],
            ["Content-Type", "multipart/alternative; boundary=\"x\""],
            ["Content-Transfer-Encoding", "base64"],
        ])
        .to_string();
        let fields = [
            ("message-headers", headers),
            ("body-plain", "hello\n".to_owned()),
        ];
        let raw = mailgun_message(post(&fields)).unwrap_or_default();
        let a = accept(&raw, &policy()).unwrap_or_else(|r| panic!("{}", r.error));
        assert_eq!(a.idempotency_key, idempotency_key("mg-1@desk.example"));
        assert_eq!(a.signal.quantity.to_string(), "0.01");
        let text = String::from_utf8_lossy(&raw);
        assert!(
            !text.contains("base64") && !text.contains("boundary"),
            "{text}"
        );
    }

    #[test]
    fn a_raw_mime_post_is_the_message_and_a_broken_one_is_refused() {
        let raw = "From: t@desk.example\r\nSubject: x\r\n\r\nbody".to_owned();
        let fields = [("body-mime", raw.clone())];
        assert_eq!(mailgun_message(post(&fields)).ok(), Some(raw.into_bytes()));
        for bad in [
            vec![],
            vec![("message-headers", "{}".to_owned())],
            vec![("message-headers", r#"[["Bad: name", "v"]]"#.to_owned())],
        ] {
            assert_eq!(
                mailgun_message(post(&bad)).err(),
                Some(EmailError::Unparseable)
            );
        }
        // A value holding a line break cannot smuggle a header in.
        let fields = [(
            "message-headers",
            json!([["Subject", "a\r\nAuthentication-Results: forged"]]).to_string(),
        )];
        let text = String::from_utf8(mailgun_message(post(&fields)).unwrap_or_default())
            .unwrap_or_default();
        assert!(
            text.starts_with("Subject: a  Authentication-Results: forged\r\n"),
            "{text}"
        );
    }

    proptest::proptest! {
        /// Whatever the values hold, each listed header is one line of the rebuilt message,
        /// so a value can never add a header (a forged `Authentication-Results`) of its own.
        #[test]
        fn each_listed_header_is_one_line(values in proptest::collection::vec(".{0,60}", 0..8)) {
            let pairs: Vec<(String, String)> =
                values.iter().map(|v| ("X-Note".to_owned(), v.clone())).collect();
            let headers = serde_json::to_string(&pairs).unwrap_or_default();
            let fields = [("message-headers", headers), ("body-plain", String::new())];
            let raw = mailgun_message(post(&fields)).unwrap_or_default();
            let text = String::from_utf8_lossy(&raw).into_owned();
            let block = text.split("\r\n\r\n").next().unwrap_or_default();
            proptest::prop_assert_eq!(block.split("\r\n").count(), values.len() + 2);
            proptest::prop_assert_eq!(block.matches('\n').count(), values.len() + 1);
        }
    }

    #[test]
    fn an_internal_object_is_keyed_by_its_message_id() {
        let obj = |v: Value| v.as_object().cloned().unwrap_or_default();
        let a = accept_object(obj(json!({
            "messageId": "<x-1@desk.example>", "from": "t@desk.example", "subject": "s",
            "exchange": "paper", "action": "LONG", "symbol": "BTCUSDT", "quantity": "0.01",
        })))
        .unwrap_or_else(|r| panic!("{}", r.error));
        assert_eq!(a.idempotency_key, idempotency_key("x-1@desk.example"));
        assert!(!a.body.contains_key("messageId") && !a.body.contains_key("from"));
        assert_eq!(a.body["idempotencyKey"], a.idempotency_key.as_str());
        let err = |v| accept_object(obj(v)).err().map(|r| r.error);
        assert_eq!(
            err(json!({"exchange": "paper", "action": "LONG", "symbol": "BTCUSDT", "quantity": 1})),
            Some(EmailError::NoMessageId)
        );
        assert_eq!(
            err(
                json!({"messageId": "m", "idempotencyKey": "k", "exchange": "paper", "action": "LONG", "symbol": "BTCUSDT", "quantity": 1})
            ),
            Some(EmailError::Forbidden("idempotencyKey"))
        );
        assert_eq!(
            err(json!({"messageId": "m", "exchange": "paper", "action": "LONG", "symbol": "BTCUSDT"}))
                .and_then(|e| e.field()),
            Some("quantity")
        );
    }

    #[test]
    fn alerts_name_the_sender_the_subject_and_the_reason() {
        let raw = b"Authentication-Results: mx.mailgun.example; dmarc=pass header.from=desk.example\r\nFrom: t@desk.example\r\nSubject: LONG PAPER:BTCUSDT 0.01\r\nMessage-ID: <a@b>\r\n\r\n";
        let a = accept(raw, &policy()).unwrap_or_else(|r| panic!("{}", r.error));
        let text = accepted_alert("Email Routing", &a, false);
        assert!(text.contains("accepted (Email Routing): LONG paper BTCUSDT 0.01 from t@desk.example, subject \"LONG PAPER:BTCUSDT 0.01\""), "{text}");
        assert!(accepted_alert("x", &a, true).contains("already recorded"));
        let r = accept(
            b"From: x@evil.example\r\nSubject: hi\r\nMessage-ID: <a@b>\r\n\r\n",
            &policy(),
        )
        .err()
        .unwrap_or_else(|| panic!("refused"));
        let text = refused_alert("Mailgun", &r);
        assert_eq!(
            text,
            "📧 Mail refused (Mailgun) from x@evil.example, subject \"hi\": x@evil.example is not in email:authorized_senders (field From)"
        );
        assert!(failed_alert("Mailgun", &a, "503").contains("NOT placed"));
        assert!(door_refused_alert("Mailgun", &a, "paused").contains("refused its signal: paused"));
        let long = "s".repeat(500);
        assert!(quoted(&long).ends_with("…\"") && quoted(&long).len() < 200);
    }
}
