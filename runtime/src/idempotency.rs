//! Client of the `IdempotencyStore` Durable Object (class in the `hoox` gateway, bound as
//! `IDEMPOTENCY_STORE` in every worker that needs it). Each key lives in the shard named by
//! [`contracts::idempotency::shard_name`].

use contracts::idempotency::{
    shard_name, ClaimRequest, ClaimResponse, CompleteRequest, IntakeRequest, IntakeResponse,
    KeyStatus, KeyUpdate,
};
use serde::{de::DeserializeOwned, Serialize};
use wasm_bindgen::{prelude::wasm_bindgen, JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::Env;

#[wasm_bindgen]
extern "C" {
    /// A stub of the store seen as what it is in JS: an RPC stub whose `operate(op, json)`
    /// resolves to the answer's JSON (see `IdempotencyStore::operate` in the gateway).
    type StoreStub;
    #[wasm_bindgen(method, catch)]
    fn operate(this: &StoreStub, op: &str, body: &str) -> Result<js_sys::Promise, JsValue>;
}

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
        // A rejection carries the object's reason (or the runtime's, if it was unreachable).
        let js_err = |e: JsValue| {
            err(e
                .dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
                .unwrap_or_else(|| format!("{e:?}")))
        };
        let ns = self
            .env
            .durable_object(BINDING)
            .map_err(|e| err(e.to_string()))?;
        let stub: StoreStub = ns
            .get_by_name(&shard_name(key))
            .map_err(|e| err(e.to_string()))?
            .into_rpc();
        let payload = serde_json::to_string(body).map_err(|e| err(e.to_string()))?;
        // RPC, not fetch: no Request, Response, headers or body streams on either side.
        let answer = JsFuture::from(stub.operate(op, &payload).map_err(js_err)?)
            .await
            .map_err(js_err)?
            .as_string()
            .ok_or_else(|| err("the store answered something other than text".into()))?;
        serde_json::from_str(&answer).map_err(|e| err(e.to_string()))
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
