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
use worker::{web_sys, Env};

#[wasm_bindgen]
extern "C" {
    /// A Durable Object stub seen as what it is in JS: something with `fetch(Request)`.
    type StubFetch;
    #[wasm_bindgen(method, catch)]
    fn fetch(this: &StubFetch, req: &web_sys::Request) -> Result<js_sys::Promise, JsValue>;
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
        let js_err = |e: JsValue| err(format!("{e:?}"));
        let ns = self
            .env
            .durable_object(BINDING)
            .map_err(|e| err(e.to_string()))?;
        let stub: StubFetch = ns
            .get_by_name(&shard_name(key))
            .map_err(|e| err(e.to_string()))?
            .into_rpc();
        let payload = serde_json::to_string(body).map_err(|e| err(e.to_string()))?;
        // The stub is called with a plain web Request and its answer read with `text()`:
        // `worker::Response::text` would pull the body through a Rust stream adapter, which
        // the benchmark showed as the largest single cost of this call.
        let init = web_sys::RequestInit::new();
        init.set_method("POST");
        init.set_body(&JsValue::from_str(&payload));
        let req = web_sys::Request::new_with_str_and_init(
            &format!("https://idempotency-store/{op}"),
            &init,
        )
        .map_err(js_err)?;
        let resp: web_sys::Response = JsFuture::from(stub.fetch(&req).map_err(js_err)?)
            .await
            .map_err(js_err)?
            .dyn_into()
            .map_err(js_err)?;
        let text = JsFuture::from(resp.text().map_err(js_err)?)
            .await
            .map_err(js_err)?
            .as_string()
            .unwrap_or_default();
        if resp.status() != 200 {
            return Err(err(format!("status {}: {text}", resp.status())));
        }
        serde_json::from_str(&text).map_err(|e| err(e.to_string()))
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
