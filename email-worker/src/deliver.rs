//! The tail every ingress shares: an accepted mail's signal goes to the trade-worker's
//! `POST /signals` through `TRADE_SERVICE` (the door the agent and the dashboard use: recorded
//! in the `IdempotencyStore` under the mail's key, sent to `trade-execution` through the
//! outbox), and the outcome is alerted on Telegram, accepted or refused, with the sender, the
//! subject and the reason. The ingress then answers in its own terms ([`Verdict`]).

use alerts::format::{Alert, AlertRequest};
use email::{ingress, Accepted, Refused};
use runtime::service::send;
use worker::{Env, Method};

pub const TRADE_SERVICE: &str = "TRADE_SERVICE";
/// Attempts at the door before a mail counts as not recorded (each is safe to repeat: the
/// key is the mail's).
const ATTEMPTS: u32 = 3;

/// What became of one mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Recorded; `replayed`: recorded before under the same Message-ID (no second order).
    Accepted { key: String, replayed: bool },
    /// Refused for good, with why (and the field to fix, if any).
    Refused {
        reason: String,
        code: String,
        field: Option<String>,
    },
    /// Not recorded: the trade-worker could not be reached or was unavailable. Nothing placed.
    Failed { reason: String },
}

/// The door's answer to one attempt.
enum Door {
    Recorded { replayed: bool },
    Refused { status: u16, reason: String },
    Unavailable(String),
}

async fn attempt(env: &Env, a: &Accepted, request_id: &str) -> Door {
    let mut resp = match send(
        env,
        TRADE_SERVICE,
        Method::Post,
        "/signals",
        Some(&a.body),
        request_id,
        Some(crate::WORKER),
    )
    .await
    {
        Ok(r) => r,
        Err(e) => return Door::Unavailable(e.to_string()),
    };
    let status = resp.status_code();
    let replayed = resp
        .headers()
        .get("Idempotent-Replayed")
        .ok()
        .flatten()
        .is_some_and(|v| v == "true");
    let body = resp.text().await.unwrap_or_default();
    // The door's error shape: `{"error": {"message"}}`.
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.chars().take(300).collect());
    match status {
        200..=299 => Door::Recorded { replayed },
        // Recorded under this key with another signal: a Message-ID reused for a new mail.
        422 => Door::Refused {
            status,
            reason: format!("its Message-ID was already used by a different signal ({message})"),
        },
        429 => Door::Unavailable(format!("429: {message}")),
        400..=499 => Door::Refused {
            status,
            reason: message,
        },
        _ => Door::Unavailable(format!("{status}: {message}")),
    }
}

/// Sends an accepted mail's signal through the door, retrying what may pass on a later try.
async fn record(env: &Env, a: &Accepted, request_id: &str) -> Door {
    let mut last = Door::Unavailable("not attempted".into());
    for n in 0..ATTEMPTS {
        if n > 0 {
            worker::Delay::from(std::time::Duration::from_millis(250 * u64::from(n))).await;
        }
        last = attempt(env, a, request_id).await;
        if !matches!(last, Door::Unavailable(_)) {
            break;
        }
    }
    last
}

async fn alert(env: &Env, text: String, request_id: &str) {
    let request = AlertRequest {
        alerts: vec![Alert::Notice { text }],
    };
    if let Err(e) = runtime::alert::send(env, &request, request_id).await {
        tracing::error!(request_id, error = %e, "mail alert not sent");
    }
}

/// Settles one judged mail from `ingress` (named in the alert): recorded through the door or
/// refused, alerted either way.
pub async fn settle(
    env: &Env,
    ingress: &str,
    judged: Result<Accepted, Refused>,
    request_id: &str,
) -> Verdict {
    let a = match judged {
        Ok(a) => a,
        Err(r) => {
            tracing::info!(request_id, ingress, code = r.error.code(), sender = r.sender.as_deref().unwrap_or(""), reason = %r.error, "mail refused");
            alert(env, ingress::refused_alert(ingress, &r), request_id).await;
            return Verdict::Refused {
                reason: r.error.to_string(),
                code: r.error.code().to_owned(),
                field: r.error.field().map(str::to_owned),
            };
        }
    };
    match record(env, &a, request_id).await {
        Door::Recorded { replayed } => {
            tracing::info!(request_id, ingress, idempotency_key = %a.idempotency_key, replayed, sender = %a.sender, "mail signal recorded");
            alert(
                env,
                ingress::accepted_alert(ingress, &a, replayed),
                request_id,
            )
            .await;
            Verdict::Accepted {
                key: a.idempotency_key,
                replayed,
            }
        }
        Door::Refused { status, reason } => {
            tracing::info!(request_id, ingress, status, idempotency_key = %a.idempotency_key, reason = %reason, "mail signal refused by the door");
            alert(
                env,
                ingress::door_refused_alert(ingress, &a, &reason),
                request_id,
            )
            .await;
            Verdict::Refused {
                reason,
                code: "signal_refused".into(),
                field: None,
            }
        }
        Door::Unavailable(why) => {
            tracing::error!(request_id, ingress, idempotency_key = %a.idempotency_key, error = %why, "mail signal not recorded");
            alert(env, ingress::failed_alert(ingress, &a, &why), request_id).await;
            Verdict::Failed { reason: why }
        }
    }
}
