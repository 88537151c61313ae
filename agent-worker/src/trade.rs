//! The trade-worker, through `TRADE_SERVICE`: the fresh account read the rules judge, and the
//! door every close goes through (`POST /signals`).

use ops::account::AccountSnapshot;
use runtime::service::{call, ServiceError};
use serde::Serialize;
use worker::{Env, Method};

pub const TRADE_SERVICE: &str = "TRADE_SERVICE";
/// Attempts per close before it counts as failed (the next minute tries again, same key).
const CLOSE_ATTEMPTS: u32 = 3;

pub async fn account(env: &Env, request_id: &str) -> Result<AccountSnapshot, ServiceError> {
    call::<(), _>(
        env,
        TRADE_SERVICE,
        Method::Post,
        "/account/read",
        None,
        request_id,
        None,
    )
    .await
}

/// What became of one close signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "detail")]
pub enum Sent {
    /// Recorded (or already recorded under its key: a rerun of the same trigger).
    Accepted,
    /// The key was recorded earlier with another quantity (the position changed since): the
    /// close asked for then stands.
    AlreadyRequested,
    /// Refused for good (the answer's text): alerted; the next evaluation asks again.
    Refused(String),
    /// Not recorded after every attempt: alerted loudly; the next evaluation asks again.
    Failed(String),
}

impl Sent {
    pub fn went_through(&self) -> bool {
        matches!(self, Self::Accepted | Self::AlreadyRequested)
    }
}

/// Sends one close signal, retrying what may succeed on a second try.
pub async fn close(env: &Env, signal: &serde_json::Value, request_id: &str) -> Sent {
    let mut last = String::new();
    for attempt in 0..CLOSE_ATTEMPTS {
        if attempt > 0 {
            worker::Delay::from(std::time::Duration::from_millis(250 * u64::from(attempt))).await;
        }
        match call::<_, serde_json::Value>(
            env,
            TRADE_SERVICE,
            Method::Post,
            "/signals",
            Some(signal),
            request_id,
            Some(crate::WORKER),
        )
        .await
        {
            Ok(_) => return Sent::Accepted,
            Err(ServiceError::Status { status: 422, .. }) => return Sent::AlreadyRequested,
            Err(ServiceError::Status { status, body, .. })
                if (400..500).contains(&status) && status != 429 =>
            {
                return Sent::Refused(format!("{status}: {body}"));
            }
            Err(e) => last = e.to_string(),
        }
    }
    Sent::Failed(last)
}

/// Makes the exchange-side stop of a position be `body` (`POST /stops`); the trade-worker's
/// answer (what it placed and what the venue supports), or why not.
pub async fn stops(
    env: &Env,
    body: &serde_json::Value,
    request_id: &str,
) -> Result<serde_json::Value, ServiceError> {
    call(
        env,
        TRADE_SERVICE,
        Method::Post,
        "/stops",
        Some(body),
        request_id,
        Some(crate::WORKER),
    )
    .await
}
