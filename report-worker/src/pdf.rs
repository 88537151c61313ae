//! The PDF, printed by Cloudflare Browser Rendering's REST API.
//!
//! `POST {CF_API_BASE}/accounts/{CF_ACCOUNT_ID}/browser-rendering/pdf` with
//! `Authorization: Bearer <CF_API_TOKEN>` and `{"html": ..., "options": {"format": "A4",
//! "printBackground": true}}`; the answer to a success is the PDF itself (`application/pdf`),
//! an error the API's JSON envelope `{"success": false, "errors": [{"code", "message"}]}`
//! (https://developers.cloudflare.com/browser-rendering/quick-actions-rest-api/pdf-endpoint/,
//! https://developers.cloudflare.com/api/resources/browser_rendering/subresources/pdf/methods/create/).
//! An answer that does not start with `%PDF-` is refused, so nothing but a real PDF is stored.

use serde::Deserialize;
use worker::{AbortController, Env, Fetch, Headers, Method, Request, RequestInit};

pub const TOKEN_SECRET: &str = "CF_API_TOKEN";
pub const ACCOUNT_VAR: &str = "CF_ACCOUNT_ID";
pub const BASE_VAR: &str = "CF_API_BASE";
const DEFAULT_BASE: &str = "https://api.cloudflare.com/client/v4";
/// A render of a few pages takes seconds; past this the report is stored without its PDF.
const RENDER_TIMEOUT_MS: u64 = 60_000;

/// Why there is no PDF.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PdfError {
    #[error("not rendered: no {TOKEN_SECRET} configured")]
    NoToken,
    #[error("not rendered: no {ACCOUNT_VAR} configured")]
    NoAccount,
    #[error("Browser Rendering answered {status}: {message}")]
    Refused { status: u16, message: String },
    #[error("Browser Rendering answered {0} bytes that are not a PDF")]
    NotPdf(usize),
    #[error("Browser Rendering unreachable: {0}")]
    Unreachable(String),
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    errors: Vec<ApiMessage>,
}

#[derive(Deserialize)]
struct ApiMessage {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
}

/// The request body, as the API documents it.
pub fn body(html: &str) -> serde_json::Value {
    serde_json::json!({"html": html, "options": {"format": "A4", "printBackground": true}})
}

/// The error text of a refused render: the envelope's messages, else the body's start.
pub fn refusal(body: &[u8]) -> String {
    match serde_json::from_slice::<Envelope>(body) {
        Ok(e) if !e.errors.is_empty() => e
            .errors
            .iter()
            .map(|m| format!("{} {}", m.code, m.message))
            .collect::<Vec<_>>()
            .join("; "),
        _ => String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
    }
}

/// Prints `html` to PDF.
pub async fn render(env: &Env, html: &str) -> Result<Vec<u8>, PdfError> {
    let token = runtime::http::secret(env, TOKEN_SECRET).ok_or(PdfError::NoToken)?;
    let account = env
        .var(ACCOUNT_VAR)
        .map(|v| v.to_string())
        .ok()
        .filter(|a| !a.trim().is_empty())
        .ok_or(PdfError::NoAccount)?;
    let base = env
        .var(BASE_VAR)
        .map(|v| v.to_string())
        .ok()
        .filter(|b| !b.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_BASE.into());
    let url = format!(
        "{}/accounts/{}/browser-rendering/pdf",
        base.trim_end_matches('/'),
        account.trim()
    );
    let unreachable = |e: worker::Error| PdfError::Unreachable(e.to_string());
    let headers = Headers::new();
    headers
        .set("authorization", &format!("Bearer {token}"))
        .map_err(unreachable)?;
    headers
        .set("content-type", "application/json")
        .map_err(unreachable)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(body(html).to_string().into()));
    let request = Request::new_with_init(&url, &init).map_err(unreachable)?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let exchange = async {
        let mut resp = Fetch::Request(request)
            .send_with_signal(&signal)
            .await
            .map_err(unreachable)?;
        let status = resp.status_code();
        let bytes = resp.bytes().await.map_err(unreachable)?;
        Ok::<_, PdfError>((status, bytes))
    };
    let (status, bytes) = match runtime::fetch::within(RENDER_TIMEOUT_MS, exchange).await {
        Ok(answer) => answer?,
        Err(e) => {
            controller.abort();
            return Err(PdfError::Unreachable(e.to_string()));
        }
    };
    if !(200..300).contains(&status) {
        return Err(PdfError::Refused {
            status,
            message: refusal(&bytes),
        });
    }
    if !bytes.starts_with(b"%PDF-") {
        return Err(PdfError::NotPdf(bytes.len()));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_and_refusals_are_the_apis() {
        let b = body("<p>x</p>");
        assert_eq!(b["html"], "<p>x</p>");
        assert_eq!(b["options"]["format"], "A4");
        assert_eq!(b["options"]["printBackground"], true);
        let envelope = br#"{"success":false,"errors":[{"code":10000,"message":"Authentication error"}],"messages":[],"result":null}"#;
        assert_eq!(refusal(envelope), "10000 Authentication error");
        assert_eq!(refusal(b"upstream down"), "upstream down");
    }
}
