//! A local stand-in for Cloudflare Browser Rendering's `/pdf` REST endpoint, for the reports
//! suite: the report-worker's `CF_API_BASE` points here.
//!
//! It takes `POST /client/v4/accounts/<account>/browser-rendering/pdf` as the API documents it
//! (https://developers.cloudflare.com/browser-rendering/quick-actions-rest-api/pdf-endpoint/):
//! the account in the path must be the one configured (else `404`), `Authorization: Bearer
//! <token>` must carry the token (else `401`), and the JSON body must hold a non-empty `html`
//! (else `400`); the report-worker's `options` must be `{"format": "A4", "printBackground":
//! true}`, as the seed specifies. Refusals use the API's envelope (`{"success": false,
//! "errors": [{"code", "message"}]}`). An accepted body is printed by Debian's headless
//! Chromium (`chromium --headless --print-to-pdf`), so the PDF the worker stores is a real one.

use crate::mock_telegram::read_request;
use serde_json::{json, Value};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One call, accepted or not.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderCall {
    pub path: String,
    pub status: u16,
    /// The posted HTML, when the body had one.
    pub html: Option<String>,
}

/// The running stand-in. Dropping it stops the server.
pub struct MockBrowser {
    port: u16,
    calls: Arc<Mutex<Vec<RenderCall>>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

/// The Chromium binary (`HOOX_CHROMIUM` overrides; Debian's package installs `chromium`).
pub fn chromium() -> String {
    std::env::var("HOOX_CHROMIUM").unwrap_or_else(|_| "chromium".into())
}

/// Prints `html` to a PDF with headless Chromium.
pub fn print_to_pdf(html: &str) -> Result<Vec<u8>, String> {
    let dir = std::env::temp_dir().join(crate::unique("hoox-render"));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let input = dir.join("report.html");
    let output = dir.join("report.pdf");
    std::fs::write(&input, html).map_err(|e| e.to_string())?;
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-pdf-header-footer",
            "--run-all-compositor-stages-before-draw",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("--print-to-pdf={}", output.display()))
        .arg(format!("file://{}", input.display()))
        .output()
        .map_err(|e| format!("{}: {e}", chromium()))?;
    let pdf = std::fs::read(&output).map_err(|e| {
        format!(
            "chromium wrote no PDF ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
                .chars()
                .take(400)
                .collect::<String>()
        )
    });
    let _ = std::fs::remove_dir_all(&dir);
    pdf
}

fn respond(stream: &mut TcpStream, status: u16, content_type: &str, body: &[u8]) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        _ => "Internal Server Error",
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(body);
    let _ = stream.flush();
}

fn envelope(code: i64, message: &str) -> Vec<u8> {
    json!({"success": false, "errors": [{"code": code, "message": message}], "messages": [], "result": null})
        .to_string()
        .into_bytes()
}

/// What the endpoint answers a request: status, content type, body.
fn answer(
    account: &str,
    token: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, &'static str, Vec<u8>, Option<String>) {
    let json_type = "application/json";
    if method != "POST" || path != format!("/client/v4/accounts/{account}/browser-rendering/pdf") {
        return (
            404,
            json_type,
            envelope(7003, "Could not route to the path"),
            None,
        );
    }
    let bearer = headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| v.as_str());
    if bearer != Some(&format!("Bearer {token}")) {
        return (
            401,
            json_type,
            envelope(10000, "Authentication error"),
            None,
        );
    }
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let html = v["html"]
        .as_str()
        .filter(|h| !h.is_empty())
        .map(str::to_owned);
    let Some(html) = html else {
        return (
            400,
            json_type,
            envelope(2001, "Either html or url must be set"),
            None,
        );
    };
    if v["options"] != json!({"format": "A4", "printBackground": true}) {
        return (
            400,
            json_type,
            envelope(2001, "options must be {format: A4, printBackground: true}"),
            Some(html),
        );
    }
    match print_to_pdf(&html) {
        Ok(pdf) => (200, "application/pdf", pdf, Some(html)),
        Err(e) => (500, json_type, envelope(2000, &e), Some(html)),
    }
}

impl MockBrowser {
    /// Starts the stand-in on a free local port for `account`, accepting `token`.
    pub fn start(account: &str, token: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("mock browser: bind");
        let port = listener.local_addr().expect("mock browser: addr").port();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let (calls, stop) = (calls.clone(), stop.clone());
            let (account, token) = (account.to_owned(), token.to_owned());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(mut stream) = stream else { continue };
                    let (calls, account, token) = (calls.clone(), account.clone(), token.clone());
                    std::thread::spawn(move || {
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                        let Some((method, path, headers, body)) = read_request(&stream) else {
                            return;
                        };
                        let (status, ct, out, html) =
                            answer(&account, &token, &method, &path, &headers, &body);
                        if let Ok(mut c) = calls.lock() {
                            c.push(RenderCall { path, status, html });
                        }
                        respond(&mut stream, status, ct, &out);
                    });
                }
            })
        };
        Self {
            port,
            calls,
            stop,
            handle: Some(handle),
        }
    }

    /// The base URL to give the worker as `CF_API_BASE`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}/client/v4", self.port)
    }

    pub fn calls(&self) -> Vec<RenderCall> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

impl Drop for MockBrowser {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Where kept test artifacts go (`target/test-artifacts/`).
pub fn artifacts_dir() -> PathBuf {
    let dir = crate::root().join("target/test-artifacts");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_the_api_refuses() {
        let h = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
        let good = br#"{"html": "<p>x</p>", "options": {"format": "A4", "printBackground": true}}"#;
        let path = "/client/v4/accounts/acc/browser-rendering/pdf";
        let auth = h("authorization", "Bearer tok");
        let status =
            |p: &str, hd: &[(String, String)], b: &[u8]| answer("acc", "tok", "POST", p, hd, b).0;
        assert_eq!(
            status(
                "/client/v4/accounts/other/browser-rendering/pdf",
                &auth,
                good
            ),
            404
        );
        assert_eq!(status(path, &h("authorization", "Bearer nope"), good), 401);
        assert_eq!(status(path, &[], good), 401);
        assert_eq!(status(path, &auth, br#"{"options": {}}"#), 400);
        assert_eq!(status(path, &auth, br#"{"html": "<p>x</p>", "options": {"format": "Letter", "printBackground": true}}"#), 400);
        let (_, _, body, _) = answer(
            "acc",
            "tok",
            "POST",
            path,
            &h("authorization", "Bearer nope"),
            good,
        );
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            (v["success"].clone(), v["errors"][0]["code"].clone()),
            (json!(false), json!(10000))
        );
    }
}
