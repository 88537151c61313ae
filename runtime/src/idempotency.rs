//! Client of the `IdempotencyStore` Durable Object (class in the `hoox` gateway, bound as
//! `IDEMPOTENCY_STORE` in every worker that needs it). Each key lives in the shard named by
//! [`contracts::idempotency::shard_name`].

use contracts::idempotency::{
    shard_name, AttemptFailedRequest, ClaimRequest, ClaimResponse, CompleteRequest, ControlRequest,
    ControlStatus, Fenced, IntakeRequest, IntakeResponse, KeyStatus, KeyUpdate, SubmitGrant,
    SubmitRequest, SweepRequest, SweepResponse,
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

    /// Calls `op` on the shard that owns `key`.
    async fn call<B: Serialize, R: DeserializeOwned>(
        &self,
        op: &'static str,
        key: &str,
        body: &B,
    ) -> Result<R, StoreError> {
        self.call_shard(op, &shard_name(key), body).await
    }

    /// Calls `op` on the shard named `shard`.
    async fn call_shard<B: Serialize, R: DeserializeOwned>(
        &self,
        op: &'static str,
        shard: &str,
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
            .get_by_name(shard)
            .map_err(|e| err(e.to_string()))?
            .into_rpc();
        let payload = serde_json::to_string(body).map_err(|e| err(e.to_string()))?;
        crate::meter::count(crate::meter::Op::DoRequest, 1, op);
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

    /// Claims `key` for the job received at `received_at_ms` (the signal's identity with the key).
    pub async fn claim(&self, key: &str, received_at_ms: i64) -> Result<ClaimResponse, StoreError> {
        let req = ClaimRequest {
            key: key.into(),
            received_at_ms: Some(received_at_ms),
        };
        self.call("claim", key, &req).await
    }

    /// The renewal immediately before a submit (fenced; re-checks the kill switch).
    pub async fn begin_submit(&self, req: &SubmitRequest) -> Result<SubmitGrant, StoreError> {
        self.call("begin_submit", &req.key, req).await
    }

    pub async fn complete(&self, req: &CompleteRequest) -> Result<Fenced, StoreError> {
        self.call("complete", &req.key, req).await
    }

    pub async fn attempt_failed(&self, req: &AttemptFailedRequest) -> Result<Fenced, StoreError> {
        self.call("attempt_failed", &req.key, req).await
    }

    pub async fn update(&self, update: &KeyUpdate) -> Result<Option<KeyStatus>, StoreError> {
        self.call("update", update.key(), update).await
    }

    /// Reads or sets one shard's control flags (the kill switch).
    pub async fn control(
        &self,
        shard: &str,
        req: &ControlRequest,
    ) -> Result<ControlStatus, StoreError> {
        self.call_shard("control", shard, req).await
    }

    /// One shard's stuck keys (see [`SweepRequest`]).
    pub async fn sweep(
        &self,
        shard: &str,
        req: &SweepRequest,
    ) -> Result<SweepResponse, StoreError> {
        self.call_shard("sweep", shard, req).await
    }

    /// Sets the kill switch in every shard, concurrently: the authoritative copy, which `claim`
    /// and the pre-submit grant read. CONFIG_KV's `trade:kill_switch` is the mirror the caller
    /// writes after this, for readers that tolerate lag. `Err` names how many shards did not
    /// take it (those keep their previous value; the caller must report the failure).
    pub async fn set_kill_switch(&self, on: bool) -> Result<(), StoreError> {
        let req = ControlRequest {
            kill_switch: Some(on),
        };
        let shards: Vec<String> = contracts::idempotency::all_shards().collect();
        let answers =
            futures::future::join_all(shards.iter().map(|shard| self.control(shard, &req))).await;
        let failed: Vec<&StoreError> = answers.iter().filter_map(|a| a.as_ref().err()).collect();
        match failed.first() {
            None => Ok(()),
            Some(first) => Err(StoreError {
                op: "control",
                message: format!(
                    "{} of {} shards did not take the kill switch (first: {})",
                    failed.len(),
                    shards.len(),
                    first.message
                ),
            }),
        }
    }
}
