//! The audit append for workers without a D1 binding of their own: `POST /audit` on the
//! d1-worker through `D1_SERVICE`. Workers that write the ledger themselves append in the
//! same D1 batch as the change instead (`ops::audit::NewAudit::insert_if_changed`).

use crate::service::{call, ServiceError};
use ops::audit::NewAudit;
use worker::{Env, Method};

pub const D1_SERVICE: &str = "D1_SERVICE";

/// Appends one entry.
pub async fn append(env: &Env, entry: &NewAudit, request_id: &str) -> Result<(), ServiceError> {
    call::<_, serde_json::Value>(
        env,
        D1_SERVICE,
        Method::Post,
        "/audit",
        Some(entry),
        request_id,
        Some(&entry.actor),
    )
    .await
    .map(|_| ())
}
