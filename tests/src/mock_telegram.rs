//! A local stand-in for the Telegram Bot API, for the integration suite: the telegram-worker's
//! `TELEGRAM_API_BASE` points here instead of `api.telegram.org`.
//!
//! It serves `POST /bot<token>/sendMessage` like Telegram does where hoox depends on it: the token
//! must match (else `401`), the text must be at most 4096 characters and, with `parse_mode=HTML`,
//! well-formed Telegram HTML (else `400 can't parse entities`). Accepted messages are recorded for
//! the test to read. On demand it answers `429` with `retry_after` (flood control) or `502`
//! (an outage), so tests can show what hoox does when Telegram pushes back.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One message Telegram accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct SentMessage {
    pub chat_id: i64,
    pub text: String,
    pub parse_mode: Option<String>,
    /// When it arrived, for checking the sender's pacing.
    pub at: Instant,
}

/// One call to the mock, accepted or not.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub path: String,
    pub status: u16,
    pub at: Instant,
}

/// One document Telegram accepted (`sendDocument`).
#[derive(Debug, Clone, PartialEq)]
pub struct SentDocument {
    pub chat_id: i64,
    pub caption: Option<String>,
    pub parse_mode: Option<String>,
    pub filename: String,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// Telegram's caption limit (https://core.telegram.org/bots/api#senddocument: "0-1024
/// characters after entities parsing"; counted here before, which is stricter).
pub const MAX_CAPTION: usize = 1024;

/// A `sendDocument` call read as the Bot API reads one that uploads a file: multipart form
/// data with `chat_id`, the file as `document` (a part with a filename), and an optional
/// `caption` (≤ 1024 characters, well-formed HTML under `parse_mode=HTML`).
fn document(content_type: &str, body: &[u8]) -> Result<SentDocument, &'static str> {
    let boundary = content_type
        .strip_prefix("multipart/form-data")
        .and_then(|rest| rest.split("boundary=").nth(1))
        .map(|b| b.trim_matches('"').to_owned())
        .ok_or("there is no document in the request")?;
    let delimiter = format!("--{boundary}");
    let d = delimiter.as_bytes();
    let find = |hay: &[u8], from: usize| {
        hay[from.min(hay.len())..]
            .windows(d.len())
            .position(|w| w == d)
            .map(|i| i + from)
    };
    // (name, filename, content type, value) of each part.
    type Part = (String, Option<String>, Option<String>, Vec<u8>);
    let mut fields: Vec<Part> = Vec::new();
    let mut at = find(body, 0).ok_or("there is no document in the request")?;
    loop {
        let start = at + d.len();
        if body[start..].starts_with(b"--") {
            break;
        }
        let part_start = start + 2;
        let next = find(body, part_start).ok_or("can't parse the multipart body")?;
        let part = &body[part_start..next.saturating_sub(2)];
        let split = part
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or("can't parse the multipart body")?;
        let head = String::from_utf8_lossy(&part[..split]).into_owned();
        let value = part[split + 4..].to_vec();
        let attr = |name: &str| {
            head.split(';')
                .map(str::trim)
                .find_map(|a| a.strip_prefix(&format!("{name}=\"")))
                .and_then(|v| v.split('"').next())
                .map(str::to_owned)
        };
        let part_type = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Type: "))
            .map(str::to_owned);
        let name = attr("name").ok_or("can't parse the multipart body")?;
        fields.push((name, attr("filename"), part_type, value));
        at = next;
    }
    let text = |n: &str| {
        fields
            .iter()
            .find(|f| f.0 == n)
            .map(|f| String::from_utf8_lossy(&f.3).into_owned())
    };
    let chat_id = text("chat_id")
        .and_then(|c| c.trim().parse::<i64>().ok())
        .ok_or("chat_id is empty")?;
    let file = fields
        .iter()
        .find(|f| f.0 == "document")
        .ok_or("there is no document in the request")?;
    let filename = file
        .1
        .clone()
        .ok_or("wrong remote file identifier specified")?;
    if file.3.is_empty() {
        return Err("file must be non-empty");
    }
    let caption = text("caption");
    let parse_mode = text("parse_mode");
    if let Some(c) = &caption {
        if c.chars().count() > MAX_CAPTION {
            return Err("message caption is too long");
        }
        if parse_mode.as_deref() == Some("HTML") && !telegram_html_ok(c) {
            return Err("can't parse entities");
        }
    }
    Ok(SentDocument {
        chat_id,
        caption,
        parse_mode,
        filename,
        content_type: file.2.clone(),
        bytes: file.3.clone(),
    })
}

#[derive(Debug, Default)]
struct State {
    sent: Vec<SentMessage>,
    documents: Vec<SentDocument>,
    calls: Vec<Call>,
    /// The next this-many sendMessage calls get 429 with this retry_after.
    rate_limited: Option<(usize, u64)>,
    down: bool,
    next_message_id: i64,
}

/// The running mock. Dropping it stops the server.
pub struct MockTelegram {
    port: u16,
    token: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

/// Whether `text` is HTML Telegram would parse: only its tags, balanced, and every `&` an entity.
pub fn telegram_html_ok(text: &str) -> bool {
    const TAGS: &[&str] = &[
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "code",
        "pre",
        "a",
        "tg-spoiler",
        "blockquote",
        "span",
    ];
    let mut stack: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(['<', '&']) {
        let tail = &rest[i..];
        if tail.starts_with('&') {
            let Some(end) = tail.find(';') else {
                return false;
            };
            let name = &tail[1..end];
            let known = matches!(name, "amp" | "lt" | "gt" | "quot")
                || (name.starts_with('#') && name[1..].chars().all(|c| c.is_ascii_digit()));
            if !known {
                return false;
            }
            rest = &tail[end + 1..];
            continue;
        }
        let Some(end) = tail.find('>') else {
            return false;
        };
        let inner = &tail[1..end];
        if let Some(name) = inner.strip_prefix('/') {
            if stack.pop().as_deref() != Some(name.trim()) {
                return false;
            }
        } else {
            let name = inner.split_whitespace().next().unwrap_or("");
            if !TAGS.contains(&name) {
                return false;
            }
            stack.push(name.to_owned());
        }
        rest = &tail[end + 1..];
    }
    stack.is_empty()
}

fn respond(stream: &mut TcpStream, status: u16, body: &Value) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        _ => "Bad Gateway",
    };
    let body = body.to_string();
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
}

/// One HTTP/1.1 request read off `stream`: method, path, headers (names lower-cased), body.
pub(crate) type RawRequest = (String, String, Vec<(String, String)>, Vec<u8>);

pub(crate) fn read_request(stream: &TcpStream) -> Option<RawRequest> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut length = 0usize;
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_owned());
            if k == "content-length" {
                length = v.parse().unwrap_or(0);
            }
            headers.push((k, v));
        }
    }
    // Bots may upload files up to 50 MB.
    let mut body = vec![0u8; length.min(50 << 20)];
    reader.read_exact(&mut body).ok()?;
    Some((method, path, headers, body))
}

fn handle(mut stream: TcpStream, token: &str, state: &Mutex<State>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Some((method, path, headers, body)) = read_request(&stream) else {
        return;
    };
    let now = Instant::now();
    let (status, answer) = {
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        let method_name = path.rsplit('/').next().unwrap_or_default().to_owned();
        let expected = format!("/bot{token}/{method_name}");
        let (status, answer) = if s.down {
            (
                502,
                json!({"ok": false, "error_code": 502, "description": "Bad Gateway"}),
            )
        } else if !path.starts_with("/bot")
            || !matches!(method_name.as_str(), "sendMessage" | "sendDocument")
        {
            (
                404,
                json!({"ok": false, "error_code": 404, "description": "Not Found"}),
            )
        } else if path != expected {
            (
                401,
                json!({"ok": false, "error_code": 401, "description": "Unauthorized"}),
            )
        } else if method != "POST" {
            (
                400,
                json!({"ok": false, "error_code": 400, "description": "Bad Request: use POST"}),
            )
        } else if let Some((n, retry_after)) = s.rate_limited.filter(|(n, _)| *n > 0) {
            s.rate_limited = Some((n - 1, retry_after));
            (
                429,
                json!({"ok": false, "error_code": 429,
                       "description": format!("Too Many Requests: retry after {retry_after}"),
                       "parameters": {"retry_after": retry_after}}),
            )
        } else if method_name == "sendDocument" {
            let content_type = headers
                .iter()
                .find(|(k, _)| k == "content-type")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            match document(&content_type, &body) {
                Err(refusal) => (
                    400,
                    json!({"ok": false, "error_code": 400, "description": format!("Bad Request: {refusal}")}),
                ),
                Ok(doc) => {
                    s.next_message_id += 1;
                    let id = s.next_message_id;
                    let chat_id = doc.chat_id;
                    s.documents.push(doc);
                    (
                        200,
                        json!({"ok": true, "result": {"message_id": id, "chat": {"id": chat_id}, "document": {"file_id": format!("doc{id}")}}}),
                    )
                }
            }
        } else {
            let msg: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let text = msg["text"].as_str().unwrap_or_default().to_owned();
            let parse_mode = msg["parse_mode"].as_str().map(str::to_owned);
            match msg["chat_id"].as_i64() {
                None => (
                    400,
                    json!({"ok": false, "error_code": 400, "description": "Bad Request: chat_id is empty"}),
                ),
                Some(_) if text.is_empty() => (
                    400,
                    json!({"ok": false, "error_code": 400, "description": "Bad Request: message text is empty"}),
                ),
                Some(_) if text.encode_utf16().count() > 4096 => (
                    400,
                    json!({"ok": false, "error_code": 400, "description": "Bad Request: message is too long"}),
                ),
                Some(_) if parse_mode.as_deref() == Some("HTML") && !telegram_html_ok(&text) => (
                    400,
                    json!({"ok": false, "error_code": 400, "description": "Bad Request: can't parse entities"}),
                ),
                Some(chat_id) => {
                    s.next_message_id += 1;
                    let id = s.next_message_id;
                    s.sent.push(SentMessage {
                        chat_id,
                        text: text.clone(),
                        parse_mode,
                        at: now,
                    });
                    (
                        200,
                        json!({"ok": true, "result": {"message_id": id, "chat": {"id": chat_id}, "text": text}}),
                    )
                }
            }
        };
        // The token is part of the path; the record keeps it masked.
        s.calls.push(Call {
            path: path.replace(token, "<token>"),
            status,
            at: now,
        });
        (status, answer)
    };
    respond(&mut stream, status, &answer);
}

impl MockTelegram {
    /// Starts the mock on a free local port, accepting `token` as the bot's token.
    pub fn start(token: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("mock telegram: bind");
        let port = listener.local_addr().expect("mock telegram: addr").port();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let (state, stop, token) = (state.clone(), stop.clone(), token.to_owned());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        let (state, token) = (state.clone(), token.clone());
                        std::thread::spawn(move || handle(stream, &token, &state));
                    }
                }
            })
        };
        Self {
            port,
            token: token.to_owned(),
            state,
            stop,
            handle: Some(handle),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The base URL to give the worker as `TELEGRAM_API_BASE`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// Every message accepted so far, in arrival order.
    pub fn messages(&self) -> Vec<SentMessage> {
        self.with(|s| s.sent.clone())
    }

    /// Messages accepted for one chat.
    pub fn messages_to(&self, chat_id: i64) -> Vec<SentMessage> {
        self.with(|s| {
            s.sent
                .iter()
                .filter(|m| m.chat_id == chat_id)
                .cloned()
                .collect()
        })
    }

    /// Every call so far (accepted, refused, rate-limited), token masked.
    pub fn calls(&self) -> Vec<Call> {
        self.with(|s| s.calls.clone())
    }

    /// Every document accepted so far, in arrival order.
    pub fn documents(&self) -> Vec<SentDocument> {
        self.with(|s| s.documents.clone())
    }

    /// Forgets what was sent and called.
    pub fn clear(&self) {
        self.with(|s| {
            s.sent.clear();
            s.documents.clear();
            s.calls.clear();
        });
    }

    /// The next `n` sendMessage calls get `429` with `retry_after` seconds.
    pub fn rate_limit_next(&self, n: usize, retry_after: u64) {
        self.with(|s| s.rate_limited = Some((n, retry_after)));
    }

    /// While down, every call gets `502 Bad Gateway` (an outage).
    pub fn set_down(&self, down: bool) {
        self.with(|s| s.down = down);
    }

    /// Polls until some accepted messages satisfy `pred`, returning those; `None` at the timeout.
    pub fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&SentMessage) -> bool,
    ) -> Option<Vec<SentMessage>> {
        let deadline = Instant::now() + timeout;
        loop {
            let found: Vec<SentMessage> = self.messages().into_iter().filter(|m| pred(m)).collect();
            if !found.is_empty() {
                return Some(found);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for MockTelegram {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(base: &str, path: &str, body: &Value) -> (u16, Value) {
        let mut s = TcpStream::connect(base.trim_start_matches("http://")).unwrap();
        let body = body.to_string();
        write!(
            s,
            "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let status = out.split_whitespace().nth(1).unwrap().parse().unwrap();
        let json = out
            .split_once("\r\n\r\n")
            .map(|(_, b)| serde_json::from_str(b).unwrap())
            .unwrap();
        (status, json)
    }

    #[test]
    fn records_messages_and_refuses_what_telegram_refuses() {
        let m = MockTelegram::start("123:abc");
        let ok = json!({"chat_id": 5, "text": "<b>hi</b> &amp; bye", "parse_mode": "HTML"});
        assert_eq!(post(&m.base(), "/bot123:abc/sendMessage", &ok).0, 200);
        assert_eq!(post(&m.base(), "/botWRONG/sendMessage", &ok).0, 401);
        let bad_html = json!({"chat_id": 5, "text": "a < b", "parse_mode": "HTML"});
        assert_eq!(post(&m.base(), "/bot123:abc/sendMessage", &bad_html).0, 400);
        let long = json!({"chat_id": 5, "text": "x".repeat(4097)});
        assert_eq!(post(&m.base(), "/bot123:abc/sendMessage", &long).0, 400);
        m.rate_limit_next(1, 2);
        let (status, body) = post(&m.base(), "/bot123:abc/sendMessage", &ok);
        assert_eq!(
            (status, body["parameters"]["retry_after"].as_u64()),
            (429, Some(2))
        );
        assert_eq!(post(&m.base(), "/bot123:abc/sendMessage", &ok).0, 200);
        m.set_down(true);
        assert_eq!(post(&m.base(), "/bot123:abc/sendMessage", &ok).0, 502);
        assert_eq!(m.messages_to(5).len(), 2);
        assert!(
            m.calls().iter().all(|c| !c.path.contains("123:abc")),
            "token masked"
        );
    }

    /// (name, filename, value) of a form part.
    type FormPart<'a> = (&'a str, Option<&'a str>, &'a [u8]);

    fn post_multipart(base: &str, path: &str, parts: &[FormPart]) -> (u16, Value) {
        let mut body = Vec::new();
        for (name, filename, value) in parts {
            let disposition = match filename {
                Some(f) => format!(
                    "form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/pdf"
                ),
                None => format!("form-data; name=\"{name}\""),
            };
            body.extend_from_slice(
                format!("--XB\r\nContent-Disposition: {disposition}\r\n\r\n").as_bytes(),
            );
            body.extend_from_slice(value);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"--XB--\r\n");
        let mut s = TcpStream::connect(base.trim_start_matches("http://")).unwrap();
        write!(
            s,
            "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: multipart/form-data; boundary=XB\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .unwrap();
        s.write_all(&body).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let status = out.split_whitespace().nth(1).unwrap().parse().unwrap();
        let json = out
            .split_once("\r\n\r\n")
            .map(|(_, b)| serde_json::from_str(b).unwrap())
            .unwrap();
        (status, json)
    }

    /// sendDocument as the Bot API takes an upload: multipart with chat_id and a file part;
    /// each rule below is one Telegram enforces, and the mock refuses its breach.
    #[test]
    fn documents_are_multipart_uploads_with_a_short_html_caption() {
        let m = MockTelegram::start("123:abc");
        let path = "/bot123:abc/sendDocument";
        let pdf: &[u8] = b"%PDF-1.4 \r\n binary \x00\xff";
        let ok = [
            ("chat_id", None, b"5".as_slice()),
            ("caption", None, b"<b>Daily</b> &amp; more".as_slice()),
            ("parse_mode", None, b"HTML".as_slice()),
            ("document", Some("r.pdf"), pdf),
        ];
        assert_eq!(post_multipart(&m.base(), path, &ok).0, 200);
        let docs = m.documents();
        assert_eq!(docs.len(), 1);
        assert_eq!((docs[0].chat_id, docs[0].filename.as_str()), (5, "r.pdf"));
        assert_eq!(docs[0].bytes, pdf, "the file arrives byte for byte");
        assert_eq!(docs[0].caption.as_deref(), Some("<b>Daily</b> &amp; more"));
        let long = "x".repeat(MAX_CAPTION + 1);
        let refused: [&[FormPart]; 4] = [
            &[("document", Some("r.pdf"), pdf)],
            &[("chat_id", None, b"5"), ("document", None, pdf)],
            &[
                ("chat_id", None, b"5"),
                ("caption", None, long.as_bytes()),
                ("document", Some("r.pdf"), pdf),
            ],
            &[
                ("chat_id", None, b"5"),
                ("caption", None, b"a < b"),
                ("parse_mode", None, b"HTML"),
                ("document", Some("r.pdf"), pdf),
            ],
        ];
        for parts in refused {
            assert_eq!(post_multipart(&m.base(), path, parts).0, 400, "{parts:?}");
        }
        // A JSON body carries no upload.
        let (status, _) = post(&m.base(), path, &json!({"chat_id": 5, "document": "abc"}));
        assert_eq!(status, 400);
        assert_eq!(m.documents().len(), 1);
    }

    #[test]
    fn html_check_matches_telegram() {
        assert!(telegram_html_ok(
            "<b>a</b> <i>b <code>c</code></i> &lt;&#39;"
        ));
        assert!(!telegram_html_ok("<b>a"));
        assert!(!telegram_html_ok("<div>a</div>"));
        assert!(!telegram_html_ok("a & b"));
    }
}
