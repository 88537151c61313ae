//! The slice of the Telegram Bot API hoox uses: incoming updates (bot webhook), `sendMessage`
//! and `sendDocument` with their answers, classified into sent, "retry after N seconds", or
//! failed.

use serde::{Deserialize, Serialize};

/// Header Telegram sets on webhook calls to the secret given in `setWebhook`.
pub const SECRET_TOKEN_HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";

/// One webhook update. Only messages matter; every other kind is acknowledged and ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update {
    pub update_id: i64,
    #[serde(default)]
    pub message: Option<Message>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub message_id: i64,
    pub chat: Chat,
    #[serde(default)]
    pub from: Option<User>,
    #[serde(default)]
    pub text: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chat {
    pub id: i64,
    #[serde(rename = "type", default)]
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    #[serde(default)]
    pub username: Option<String>,
}

impl Message {
    /// Who sent it, for the audit log: `telegram:<chat>` plus the sender's user name or id.
    pub fn actor(&self) -> String {
        match &self.from {
            Some(User {
                username: Some(u), ..
            }) => format!("telegram:{}:{u}", self.chat.id),
            Some(User { id, .. }) => format!("telegram:{}:{id}", self.chat.id),
            None => format!("telegram:{}", self.chat.id),
        }
    }
}

/// The body of `POST /bot<token>/sendMessage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendMessage {
    pub chat_id: i64,
    pub text: String,
    pub parse_mode: String,
    pub disable_web_page_preview: bool,
}

impl SendMessage {
    pub fn html(chat_id: i64, text: String) -> Self {
        Self {
            chat_id,
            text,
            parse_mode: "HTML".into(),
            disable_web_page_preview: true,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
struct ApiAnswer {
    #[serde(default)]
    ok: bool,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<Parameters>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct Parameters {
    #[serde(default)]
    retry_after: Option<u64>,
}

/// What an answer to `sendMessage` means for the sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    Sent,
    /// Flood control: wait this many seconds, then try again.
    RetryAfter(u64),
    /// Telegram is unreachable or failing (5xx): try again later.
    Unavailable(String),
    /// Refused for good (bad token, chat not found, malformed HTML): retrying will not help.
    Refused(String),
}

/// Reads the status and body of a `sendMessage` answer.
pub fn classify(status: u16, body: &str) -> SendOutcome {
    let answer: ApiAnswer = serde_json::from_str(body).unwrap_or_default();
    let description = answer
        .description
        .clone()
        .unwrap_or_else(|| format!("HTTP {status}"));
    match status {
        200..=299 if answer.ok => SendOutcome::Sent,
        429 => SendOutcome::RetryAfter(
            answer
                .parameters
                .and_then(|p| p.retry_after)
                .unwrap_or(1)
                .max(1),
        ),
        500..=599 => SendOutcome::Unavailable(description),
        _ => SendOutcome::Refused(description),
    }
}

/// The `sendDocument` call as `multipart/form-data` (the Bot API takes a new file only that
/// way, https://core.telegram.org/bots/api#sending-files): `chat_id`, `caption` with
/// `parse_mode` `HTML`, and the file as `document`. Returns the body and its content type.
/// `boundary` must not occur in the parts (the caller makes a random one).
pub fn send_document_body(
    chat_id: i64,
    caption: &str,
    filename: &str,
    content_type: &str,
    file: &[u8],
    boundary: &str,
) -> (Vec<u8>, String) {
    let mut body = Vec::with_capacity(file.len() + caption.len() + 512);
    let clean = |s: &str| s.replace(['"', '\r', '\n', '\\'], "_");
    let mut field = |name: &str, value: &str| {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    };
    field("chat_id", &chat_id.to_string());
    field("caption", caption);
    field("parse_mode", "HTML");
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"document\"; filename=\"{}\"\r\nContent-Type: {}\r\n\r\n",
            clean(filename),
            clean(content_type)
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (body, format!("multipart/form-data; boundary={boundary}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_is_multipart_with_every_field() {
        let (body, ct) = send_document_body(
            42,
            "<b>x</b>",
            "r\"1.pdf",
            "application/pdf",
            b"%PDF-1.4",
            "BOUND",
        );
        assert_eq!(ct, "multipart/form-data; boundary=BOUND");
        let text = String::from_utf8(body).unwrap();
        assert!(
            text.starts_with(
                "--BOUND\r\nContent-Disposition: form-data; name=\"chat_id\"\r\n\r\n42\r\n"
            ),
            "{text}"
        );
        assert!(text.contains("name=\"caption\"\r\n\r\n<b>x</b>\r\n"));
        assert!(text.contains("name=\"parse_mode\"\r\n\r\nHTML\r\n"));
        assert!(text.contains("name=\"document\"; filename=\"r_1.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.4\r\n--BOUND--\r\n"), "{text}");
    }

    #[test]
    fn answers_are_classified() {
        assert_eq!(
            classify(200, r#"{"ok":true,"result":{"message_id":1}}"#),
            SendOutcome::Sent
        );
        assert_eq!(
            classify(
                429,
                r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#
            ),
            SendOutcome::RetryAfter(7)
        );
        assert_eq!(classify(429, "junk"), SendOutcome::RetryAfter(1));
        assert!(matches!(
            classify(502, "Bad Gateway"),
            SendOutcome::Unavailable(_)
        ));
        assert_eq!(
            classify(
                400,
                r#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#
            ),
            SendOutcome::Refused("Bad Request: chat not found".into())
        );
    }

    #[test]
    fn updates_parse_and_name_their_actor() {
        let u: Update = serde_json::from_str(
            r#"{"update_id":5,"message":{"message_id":9,"date":0,"chat":{"id":-100,"type":"group"},"from":{"id":3,"is_bot":false,"first_name":"A","username":"ann"},"text":"/status"}}"#,
        )
        .unwrap();
        let m = u.message.unwrap();
        assert_eq!(m.text.as_deref(), Some("/status"));
        assert_eq!(m.actor(), "telegram:-100:ann");
        let other: Update = serde_json::from_str(r#"{"update_id":6,"edited_message":{}}"#).unwrap();
        assert!(other.message.is_none());
    }

    #[test]
    fn send_message_bodies_use_html() {
        let v = serde_json::to_value(SendMessage::html(1, "<b>x</b>".into())).unwrap();
        assert_eq!(v["parse_mode"], "HTML");
        assert_eq!(v["chat_id"], 1);
    }
}
