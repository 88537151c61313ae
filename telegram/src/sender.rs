//! Sending HTML messages and documents (the reports' PDFs) to chats through the Bot API,
//! within Telegram's limits.
//!
//! The per-isolate [`RateLimiter`] decides when each message may go; short waits (and `429`
//! answers with a short `retry_after`) are served here, longer ones are handed back to the caller
//! as "retry after N seconds" so its queue retries later instead of holding a request open. The
//! bot token is part of the Bot API URL, so URLs are never logged.

use alerts::api::{classify, send_document_body, SendMessage, SendOutcome};
use alerts::format::{self, AlertRequest, AlertResponse};
use alerts::html::{split, MAX_MESSAGE_LEN};
use alerts::ratelimit::{Permit, RateLimiter};
use runtime::http::{json, secret, HttpError};
use runtime::now_ms;
use std::cell::RefCell;
use std::time::Duration;
use worker::{Delay, Env, Headers, Method, Request, RequestInit, Response, Result};

pub const TOKEN_SECRET: &str = "TG_BOT_TOKEN_BINDING";
pub const API_BASE_VAR: &str = "TELEGRAM_API_BASE";
const DEFAULT_API_BASE: &str = "https://api.telegram.org";
/// Longest wait served inside one request; longer ones go back to the caller.
const MAX_INLINE_WAIT_MS: i64 = 3_000;
/// How long one Bot API call may take before it counts as Telegram being unavailable.
const SEND_TIMEOUT_MS: u64 = 10_000;
/// A document upload carries the file: more time than a message.
const DOCUMENT_TIMEOUT_MS: u64 = 30_000;
/// Tries per message part (a `429` with a short `retry_after` is retried here).
const MAX_TRIES: u32 = 3;

thread_local! {
    static LIMITER: RefCell<RateLimiter> = RefCell::new(RateLimiter::default());
}

/// Why a delivery stopped.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("Telegram rate limit: retry after {0} s")]
    RetryAfter(u32),
    #[error("Telegram unavailable: {0}")]
    Unavailable(String),
    #[error("no bot token configured ({TOKEN_SECRET})")]
    NoToken,
}

/// The Bot API endpoint and token.
pub struct Sender {
    base: String,
    token: String,
}

impl Sender {
    pub fn from_env(env: &Env) -> std::result::Result<Self, DeliveryError> {
        let token = secret(env, TOKEN_SECRET).ok_or(DeliveryError::NoToken)?;
        let base = env
            .var(API_BASE_VAR)
            .map(|v| v.to_string())
            .ok()
            .filter(|b| !b.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_API_BASE.into());
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// `sendDocument` to one chat: multipart, the file and its HTML caption.
    async fn post_document(
        &self,
        chat_id: i64,
        doc: &DocumentRequest,
        file: &[u8],
    ) -> std::result::Result<(u16, String), String> {
        let mut n = now_ms();
        let boundary = loop {
            let b = format!("hoox-{n:x}");
            if !file.windows(b.len()).any(|w| w == b.as_bytes()) {
                break b;
            }
            n += 1;
        };
        let (body, content_type) = send_document_body(
            chat_id,
            &doc.caption,
            &doc.filename,
            &doc.content_type,
            file,
            &boundary,
        );
        self.call(
            "sendDocument",
            &content_type,
            runtime::bytes::to_js(&body),
            DOCUMENT_TIMEOUT_MS,
        )
        .await
    }

    /// Sends one document to every chat, paced like messages; `Ok(n)`: accepted by n chats.
    pub async fn deliver_document(
        &self,
        chats: &[i64],
        doc: &DocumentRequest,
        file: &[u8],
    ) -> std::result::Result<u32, DeliveryError> {
        let mut sent = 0;
        for &chat_id in chats {
            let mut tries = 0;
            loop {
                let permit = LIMITER.with(|l| l.borrow_mut().acquire(chat_id, now_ms()));
                if let Permit::Wait(ms) = permit {
                    if ms > MAX_INLINE_WAIT_MS {
                        return Err(DeliveryError::RetryAfter(((ms + 999) / 1000) as u32));
                    }
                    Delay::from(Duration::from_millis(ms as u64)).await;
                    continue;
                }
                tries += 1;
                let outcome = match self.post_document(chat_id, doc, file).await {
                    Ok((status, body)) => classify(status, &body),
                    Err(e) => SendOutcome::Unavailable(e),
                };
                match outcome {
                    SendOutcome::Sent => {
                        sent += 1;
                        break;
                    }
                    SendOutcome::RetryAfter(s) => {
                        LIMITER.with(|l| l.borrow_mut().retry_after(chat_id, s, now_ms()));
                        if tries >= MAX_TRIES || (s as i64) * 1000 > MAX_INLINE_WAIT_MS {
                            return Err(DeliveryError::RetryAfter(s as u32));
                        }
                    }
                    SendOutcome::Unavailable(e) => return Err(DeliveryError::Unavailable(e)),
                    SendOutcome::Refused(e) => {
                        tracing::error!(chat_id, error = %e, "Telegram refused the document");
                        break;
                    }
                }
            }
        }
        Ok(sent)
    }

    async fn post(&self, msg: &SendMessage) -> std::result::Result<(u16, String), String> {
        let body = serde_json::to_string(msg).map_err(|e| e.to_string())?;
        self.call(
            "sendMessage",
            "application/json",
            body.into(),
            SEND_TIMEOUT_MS,
        )
        .await
    }

    /// `POST <base>/bot<token>/<method>` with `body`: the status and text of the answer.
    async fn call(
        &self,
        method: &str,
        content_type: &str,
        body: wasm_bindgen::JsValue,
        timeout_ms: u64,
    ) -> std::result::Result<(u16, String), String> {
        let build = || {
            let headers = Headers::new();
            headers.set("content-type", content_type)?;
            let mut init = RequestInit::new();
            init.with_method(Method::Post)
                .with_headers(headers)
                .with_body(Some(body));
            let url = format!("{}/bot{}/{method}", self.base, self.token);
            Request::new_with_init(&url, &init)
        };
        let sent = match build() {
            Ok(request) => runtime::fetch::text(request, timeout_ms)
                .await
                .map(|a| (a.status, a.body))
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        // The error text of a failed fetch may quote the URL, which holds the token.
        sent.map_err(|e| {
            e.replace(&self.token, "<token>")
                .chars()
                .take(200)
                .collect()
        })
    }

    /// Sends one message part to one chat, waiting for the rate limiter and honouring short
    /// `retry_after`s. `Ok(false)`: Telegram refused it for good (logged, not retried).
    async fn send_part(
        &self,
        chat_id: i64,
        text: &str,
    ) -> std::result::Result<bool, DeliveryError> {
        let msg = SendMessage::html(chat_id, text.to_owned());
        let mut tries = 0;
        loop {
            let permit = LIMITER.with(|l| l.borrow_mut().acquire(chat_id, now_ms()));
            if let Permit::Wait(ms) = permit {
                if ms > MAX_INLINE_WAIT_MS {
                    return Err(DeliveryError::RetryAfter(((ms + 999) / 1000) as u32));
                }
                Delay::from(Duration::from_millis(ms as u64)).await;
                continue;
            }
            tries += 1;
            let outcome = match self.post(&msg).await {
                Ok((status, body)) => classify(status, &body),
                Err(e) => SendOutcome::Unavailable(e),
            };
            match outcome {
                SendOutcome::Sent => return Ok(true),
                SendOutcome::RetryAfter(s) => {
                    tracing::warn!(chat_id, retry_after = s, "Telegram flood control");
                    LIMITER.with(|l| l.borrow_mut().retry_after(chat_id, s, now_ms()));
                    if tries >= MAX_TRIES || (s as i64) * 1000 > MAX_INLINE_WAIT_MS {
                        return Err(DeliveryError::RetryAfter(s as u32));
                    }
                }
                SendOutcome::Unavailable(e) => return Err(DeliveryError::Unavailable(e)),
                SendOutcome::Refused(e) => {
                    tracing::error!(chat_id, error = %e, "Telegram refused the message");
                    return Ok(false);
                }
            }
        }
    }

    /// Sends `html` (split to Telegram's limit) to every chat; returns messages accepted.
    pub async fn deliver(
        &self,
        chats: &[i64],
        html: &str,
    ) -> std::result::Result<u32, DeliveryError> {
        let parts = split(html, MAX_MESSAGE_LEN);
        let mut sent = 0;
        for &chat in chats {
            for part in &parts {
                if self.send_part(chat, part).await? {
                    sent += 1;
                }
            }
        }
        Ok(sent)
    }
}

/// `POST /document`'s body: one file for every allowed chat.
#[derive(Debug, serde::Deserialize)]
pub struct DocumentRequest {
    pub filename: String,
    pub content_type: String,
    /// Telegram HTML, at most [`format::MAX_CAPTION_LEN`] characters.
    pub caption: String,
    /// Base64 of the file.
    pub document: String,
}

/// Largest file taken (Telegram's bots may upload 50 MB; a report is far below).
const MAX_DOCUMENT_BYTES: usize = 20 * 1024 * 1024;

/// `POST /document`: the file, with its caption, to every allowed chat.
pub async fn document(mut req: Request, env: &Env, request_id: &str) -> Result<Response> {
    use base64::Engine as _;
    let bad = |m: String| HttpError::new(400, "invalid_body", m).respond(request_id);
    let doc: DocumentRequest = match req.json().await {
        Ok(d) => d,
        Err(e) => return bad(format!("not a document request: {e}")),
    };
    if doc.caption.chars().count() > format::MAX_CAPTION_LEN {
        return bad(format!(
            "caption over {} characters",
            format::MAX_CAPTION_LEN
        ));
    }
    let file = match base64::engine::general_purpose::STANDARD.decode(doc.document.as_bytes()) {
        Ok(f) if !f.is_empty() && f.len() <= MAX_DOCUMENT_BYTES => f,
        Ok(_) => return bad("document empty or over 20 MiB".into()),
        Err(e) => return bad(format!("document is not base64: {e}")),
    };
    let chats = allowed_chats(env).await;
    let answer = |sent: u32, skipped: Option<String>| {
        json(
            200,
            &AlertResponse {
                chats: chats.len() as u32,
                sent,
                skipped,
            },
        )
    };
    if chats.is_empty() {
        return answer(0, Some("no chat in telegram:allowed_chat_ids".into()));
    }
    let sender = match Sender::from_env(env) {
        Ok(s) => s,
        Err(e) => return answer(0, Some(e.to_string())),
    };
    match sender.deliver_document(&chats, &doc, &file).await {
        Ok(sent) => {
            tracing::info!(file = %doc.filename, bytes = file.len(), chats = chats.len(), sent, "document sent");
            answer(sent, None)
        }
        Err(e) => {
            tracing::warn!(error = %e, "document not delivered");
            let mut refusal = HttpError::unavailable(e.to_string());
            if let DeliveryError::RetryAfter(s) = &e {
                refusal = refusal.retry_after((*s).max(1));
            }
            refusal.respond(request_id)
        }
    }
}

/// Chats allowed to command and to be alerted (`telegram:allowed_chat_ids`). Unreadable config
/// allows no chat.
pub async fn allowed_chats(env: &Env) -> Vec<i64> {
    match runtime::config::load(env).await {
        Ok(cfg) => cfg.telegram_allowed_chat_ids.clone(),
        Err(e) => {
            tracing::error!(error = %e, "CONFIG_KV unreadable: no chat is allowed");
            Vec::new()
        }
    }
}

/// `POST /alert`: one message with every alert of the request, to every allowed chat.
pub async fn alert(mut req: Request, env: &Env, request_id: &str) -> Result<Response> {
    let body: AlertRequest = match req.json().await {
        Ok(b) => b,
        Err(e) => {
            return HttpError::new(400, "invalid_body", format!("not an alert request: {e}"))
                .respond(request_id)
        }
    };
    if body.alerts.is_empty() {
        return json(200, &AlertResponse::default());
    }
    let chats = allowed_chats(env).await;
    let skipped = |why: &str| {
        tracing::info!(alerts = body.alerts.len(), why, "alerts not sent");
        json(
            200,
            &AlertResponse {
                chats: chats.len() as u32,
                sent: 0,
                skipped: Some(why.to_owned()),
            },
        )
    };
    if chats.is_empty() {
        return skipped("no chat in telegram:allowed_chat_ids");
    }
    let sender = match Sender::from_env(env) {
        Ok(s) => s,
        Err(e) => return skipped(&e.to_string()),
    };
    let text = format::alerts(&body.alerts);
    match sender.deliver(&chats, &text).await {
        Ok(sent) => {
            tracing::info!(
                alerts = body.alerts.len(),
                chats = chats.len(),
                sent,
                "alerts sent"
            );
            json(
                200,
                &AlertResponse {
                    chats: chats.len() as u32,
                    sent,
                    skipped: None,
                },
            )
        }
        Err(e) => {
            tracing::warn!(error = %e, "alerts not delivered; caller retries");
            let mut refusal = HttpError::unavailable(e.to_string());
            // Flood control names its wait; an outage leaves the delay to the caller's backoff.
            if let DeliveryError::RetryAfter(s) = &e {
                refusal = refusal.retry_after((*s).max(1));
            }
            refusal.respond(request_id)
        }
    }
}
