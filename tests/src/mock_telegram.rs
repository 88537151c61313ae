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

#[derive(Debug, Default)]
struct State {
    sent: Vec<SentMessage>,
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

fn read_request(stream: &TcpStream) -> Option<(String, String, Vec<u8>)> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; length.min(1 << 20)];
    reader.read_exact(&mut body).ok()?;
    Some((method, path, body))
}

fn handle(mut stream: TcpStream, token: &str, state: &Mutex<State>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Some((method, path, body)) = read_request(&stream) else {
        return;
    };
    let now = Instant::now();
    let (status, answer) = {
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        let expected = format!("/bot{token}/sendMessage");
        let (status, answer) = if s.down {
            (
                502,
                json!({"ok": false, "error_code": 502, "description": "Bad Gateway"}),
            )
        } else if !path.starts_with("/bot") || !path.ends_with("/sendMessage") {
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

    /// Forgets what was sent and called.
    pub fn clear(&self) {
        self.with(|s| {
            s.sent.clear();
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
