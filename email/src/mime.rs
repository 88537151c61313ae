//! A raw RFC 5322 message decoded (crate `mail-parser`: multipart, quoted-printable, base64,
//! charsets, HTML-only bodies turned to text) into the few things the ingress reads.

use crate::EmailError;
use mail_parser::MessageParser;

/// Largest mail read: a signal is a few lines, an alert mail with HTML a few tens of KiB.
pub const MAX_MAIL_BYTES: usize = 128 * 1024;

/// What the ingress reads of a mail.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mail {
    /// The `From` address, lower case.
    pub from: String,
    pub subject: String,
    /// Without its angle brackets.
    pub message_id: Option<String>,
    /// The first text body (the HTML one as text when there is no text part).
    pub text: String,
    /// Every `Authentication-Results` value, topmost first (as the receiving MTA prepends).
    pub auth_results: Vec<String>,
}

/// Decodes `raw`; refuses it over [`MAX_MAIL_BYTES`] before reading it.
pub fn parse(raw: &[u8]) -> Result<Mail, EmailError> {
    if raw.len() > MAX_MAIL_BYTES {
        return Err(EmailError::TooLarge {
            size: raw.len(),
            cap: MAX_MAIL_BYTES,
        });
    }
    let msg = MessageParser::default()
        .parse(raw)
        .ok_or(EmailError::Unparseable)?;
    if msg.headers().is_empty() {
        return Err(EmailError::Unparseable);
    }
    let from = msg
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .map(|a| a.trim().to_ascii_lowercase())
        .filter(|a| a.contains('@'))
        .ok_or(EmailError::NoFrom)?;
    let message_id = msg
        .message_id()
        .map(normalise_message_id)
        .filter(|m| !m.is_empty());
    let text = match msg.text_part(0) {
        Some(part) if part.is_text_html() => {
            msg.body_html(0).map(|h| html_text(&h)).unwrap_or_default()
        }
        _ => msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
    };
    let auth_results = msg
        .headers_raw()
        .filter(|(name, _)| name.eq_ignore_ascii_case("Authentication-Results"))
        .map(|(_, v)| v.trim().to_owned())
        .collect();
    Ok(Mail {
        from,
        subject: msg.subject().unwrap_or_default().trim().to_owned(),
        message_id,
        text,
        auth_results,
    })
}

/// An HTML-only body as text, one line per block: mail-parser's converter joins `<div>`s
/// (what webmail composes lines with), so the block tags become line breaks first.
fn html_text(html: &str) -> String {
    let mut marked = String::with_capacity(html.len() + 64);
    let lower = html.to_ascii_lowercase();
    let mut last = 0;
    for (i, _) in lower.match_indices('<') {
        let tag = lower[i + 1..].trim_start_matches('/');
        let block = ["div", "p", "br", "tr", "li", "h1", "h2", "h3", "table"]
            .iter()
            .any(|t| {
                tag.starts_with(t)
                    && tag[t.len()..]
                        .chars()
                        .next()
                        .is_none_or(|c| !c.is_ascii_alphanumeric())
            });
        if block {
            marked.push_str(&html[last..i]);
            marked.push_str("<br>");
            last = i;
        }
    }
    marked.push_str(&html[last..]);
    mail_parser::decoders::html::html_to_text(&marked)
}

/// A Message-ID as its identity: trimmed, angle brackets dropped.
pub fn normalise_message_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_owned()
}
