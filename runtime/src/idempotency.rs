//! Client of the `IdempotencyStore` Durable Object (class in the `hoox` gateway, bound as
//! `IDEMPOTENCY_STORE` in every worker that needs it). Each key lives in the shard named by
//! [`contracts::idempotency::shard_name`].

use contracts::idempotency::{
    shard_name, ClaimRequest, ClaimResponse, CompleteRequest, IntakeRequest, IntakeResponse,
    KeyStatus, KeyUpdate,
};
use serde::{de::DeserializeOwned, Serialize};
use worker::{Env, Headers, Method, Request, RequestInit};

pub const BINDING: &str = "IDEMPOTENCY_STORE";

/// The store could not be reached or answered something unexpected. Callers treat this as
/// "nothing is known": the gateway answers 503, the consumer retries the message.
#[derive(Debug, thiserror::Error)]
#[error("idempotency store {op}: {message}")]
pub struct StoreError {
    pub op: &'static str,
    pub message: String,
}

pub struct Store<'a> {
    env: &'a Env,
}

impl<'a> Store<'a> {
    pub fn new(env: &'a Env) -> Self {
        Self { env }
    }

    async fn call<B: Serialize, R: DeserializeOwned>(
        &self,
        op: &'static str,
        key: &str,
        body: &B,
    ) -> Result<R, StoreError> {
        let err = |message: String| StoreError { op, message };
        let ns = self
            .env
            .durable_object(BINDING)
            .map_err(|e| err(e.to_string()))?;
        let stub = ns
            .get_by_name(&shard_name(key))
            .map_err(|e| err(e.to_string()))?;
        let headers = Headers::new();
        headers
            .set("content-type", "application/json")
            .map_err(|e| err(e.to_string()))?;
        let payload = serde_json::to_string(body).map_err(|e| err(e.to_string()))?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(payload.into()));
        let req = Request::new_with_init(&format!("https://idempotency-store/{op}"), &init)
            .map_err(|e| err(e.to_string()))?;
        let mut resp = stub
            .fetch_with_request(req)
            .await
            .map_err(|e| err(e.to_string()))?;
        if resp.status_code() != 200 {
            let text = resp.text().await.unwrap_or_default();
            return Err(err(format!("status {}: {text}", resp.status_code())));
        }
        resp.json().await.map_err(|e| err(e.to_string()))
    }

    pub async fn intake(&self, req: &IntakeRequest) -> Result<IntakeResponse, StoreError> {
        self.call("intake", &req.key, req).await
    }

    pub async fn claim(&self, key: &str) -> Result<ClaimResponse, StoreError> {
        self.call("claim", key, &ClaimRequest { key: key.into() })
            .await
    }

    pub async fn complete(&self, req: &CompleteRequest) -> Result<(), StoreError> {
        self.call::<_, serde_json::Value>("complete", &req.key, req)
            .await
            .map(drop)
    }

    pub async fn update(&self, update: &KeyUpdate) -> Result<Option<KeyStatus>, StoreError> {
        let key = match update {
            KeyUpdate::EventPublished { key }
            | KeyUpdate::AttemptFailed { key, .. }
            | KeyUpdate::MarkDead { key, .. }
            | KeyUpdate::Reopen { key } => key.clone(),
        };
        self.call("update", &key, update).await
    }
}
