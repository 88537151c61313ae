//! Queue bodies as bytes. hoox sends postcard bytes as a `Uint8Array` with content type `v8`;
//! anything else arriving (a JSON or text body from a foreign producer) is turned into bytes too,
//! so the decoder can refuse it with a reason instead of the handler failing.

use js_sys::Uint8Array;
use wasm_bindgen::{JsCast, JsValue};
use worker::{QueueContentType, RawMessageBuilder, SendMessage};

pub fn to_js(bytes: &[u8]) -> JsValue {
    Uint8Array::from(bytes).into()
}

/// A queue message carrying `bytes` with content type `v8`.
pub fn message(bytes: &[u8]) -> SendMessage<JsValue> {
    RawMessageBuilder::new(to_js(bytes)).build_with_content_type(QueueContentType::V8)
}

/// [`message`], delivered after `delay_seconds` (at most the Queues limit of 12 hours).
pub fn message_after(bytes: &[u8], delay_seconds: u32) -> SendMessage<JsValue> {
    RawMessageBuilder::new(to_js(bytes))
        .delay_seconds(delay_seconds.min(43_200))
        .build_with_content_type(QueueContentType::V8)
}

/// Bytes of whatever body arrived.
pub fn body_bytes(body: &JsValue) -> Vec<u8> {
    if let Some(arr) = body.dyn_ref::<Uint8Array>() {
        return arr.to_vec();
    }
    if let Some(buf) = body.dyn_ref::<js_sys::ArrayBuffer>() {
        return Uint8Array::new(buf).to_vec();
    }
    if let Some(s) = body.as_string() {
        return s.into_bytes();
    }
    js_sys::JSON::stringify(body)
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_default()
        .into_bytes()
}
