//! Email Routing's `email()` handler (workers-rs `#[event(email)]`, `ForwardableEmailMessage`).
//! Cloudflare's docs (Email Workers runtime API): `setReject(reason)` refuses the message with
//! a permanent SMTP error carrying the reason, so the sender learns why; returning without it
//! accepts the message. Every refusal here — an oversized mail (judged from `rawSize`
//! before the stream is read), an unreadable one, an unlisted or unauthenticated sender, a
//! grammar error, the door refusing the signal or being unavailable — is a `setReject` with
//! its reason, never a silent drop, and the handler never fails instead (an exception would
//! leave the sender without the reason).

use crate::config;
use crate::deliver::{settle, Verdict};
use email::{EmailError, Refused, MAX_MAIL_BYTES};
use worker::{Env, ForwardableEmailMessage};

const INGRESS: &str = "Email Routing";
/// SMTP replies are short lines: the reason is cut to this many characters.
const REASON_CHARS: usize = 400;

fn reject(message: &ForwardableEmailMessage, reason: &str) {
    // One line of printable text: a reply line cannot hold a line break.
    let line: String = reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(REASON_CHARS)
        .collect();
    message.set_reject(&line);
}

fn header(message: &ForwardableEmailMessage, name: &str) -> Option<String> {
    message.headers().get(name).ok().flatten()
}

pub async fn handle(message: &ForwardableEmailMessage, env: &Env, request_id: &str) {
    let size = message.raw_size();
    let judged = if size > MAX_MAIL_BYTES as f64 {
        // Not read: the sender and subject come from the headers the platform parsed.
        Err(Refused {
            sender: header(message, "from"),
            subject: header(message, "subject"),
            error: EmailError::TooLarge {
                size: size as usize,
                cap: MAX_MAIL_BYTES,
            },
        })
    } else {
        let raw = match message.raw_bytes().await {
            Ok(raw) => raw,
            Err(e) => {
                tracing::error!(request_id, error = %e, "mail not readable");
                reject(message, "hoox could not read this mail; nothing was placed");
                return;
            }
        };
        match config::policy(env).await {
            Ok(policy) => email::accept(&raw, &policy),
            Err(e) => {
                tracing::error!(request_id, error = %e, "mail not judged");
                reject(
                    message,
                    "hoox could not read its configuration; nothing was placed, send it again later",
                );
                return;
            }
        }
    };
    match settle(env, INGRESS, judged, request_id).await {
        Verdict::Accepted { .. } => {}
        Verdict::Refused { reason, .. } => reject(message, &format!("refused: {reason}")),
        Verdict::Failed { .. } => reject(
            message,
            "hoox could not record this signal; nothing was placed, send it again later",
        ),
    }
}
