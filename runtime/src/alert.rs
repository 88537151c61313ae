//! The Telegram alert client: `POST /alert` on the telegram-worker through `TELEGRAM_SERVICE`,
//! the one way any worker raises an alert.

use crate::service::{call, ServiceError};
use alerts::format::{AlertRequest, AlertResponse};
use worker::{Env, Method};

pub const TELEGRAM_SERVICE: &str = "TELEGRAM_SERVICE";

/// Sends the alerts; `Err` carries the telegram-worker's `Retry-After` when it sent one.
pub async fn send(
    env: &Env,
    request: &AlertRequest,
    request_id: &str,
) -> Result<AlertResponse, ServiceError> {
    call(
        env,
        TELEGRAM_SERVICE,
        Method::Post,
        "/alert",
        Some(request),
        request_id,
        None,
    )
    .await
}
