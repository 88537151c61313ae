//! HTTP to the gateway: JSON in, JSON out, the hoox error shape turned into [`CliError::Api`].

use crate::CliError;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::Duration;

pub const INTERNAL_HEADER: &str = "X-Internal-Auth-Key";

pub struct Client {
    base: String,
    agent: ureq::Agent,
    internal_key: Option<String>,
    actor: String,
}

/// RFC 3986's unreserved characters stay, everything else is `%XX`.
const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a query value.
pub fn encode(v: &str) -> String {
    percent_encoding::utf8_percent_encode(v, UNRESERVED).to_string()
}

/// `?k=v&...` from pairs (empty when there are none).
pub fn query(pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    format!("?{}", parts.join("&"))
}

/// The error an answer's status and body stand for.
pub fn api_error(status: u16, body: &str) -> CliError {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let e = &v["error"];
    let text = |x: &Value| x.as_str().map(str::to_owned);
    CliError::Api {
        status,
        code: text(&e["code"]).unwrap_or_else(|| "error".into()),
        message: text(&e["message"]).unwrap_or_else(|| body.chars().take(300).collect()),
        field: text(&e["field"]),
        request_id: text(&v["request_id"]),
    }
}

/// Whether `url` may carry the internal key: `https`, or plain `http` to a loopback host (the
/// local run). Anything else would send the key in clear over a network.
pub fn key_may_go_to(url: &str) -> bool {
    let Ok(uri) = url.trim().parse::<ureq::http::Uri>() else {
        return false;
    };
    match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
        Some("https") => uri.host().is_some(),
        Some("http") => uri.host().is_some_and(is_loopback),
        _ => false,
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

pub enum Body<'a> {
    None,
    Json(&'a Value),
    Text(&'a str),
}

impl Client {
    /// A client of the gateway at `base`; refused when it would send `internal_key` in clear.
    pub fn new(base: &str, internal_key: Option<String>, actor: String) -> Result<Self, CliError> {
        if internal_key.is_some() && !key_may_go_to(base) {
            return Err(CliError::InsecureUrl(base.to_owned()));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            agent,
            internal_key,
            actor,
        })
    }

    /// Sends one request; `headers` are added to the internal key and actor.
    pub fn request<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Body<'_>,
        headers: &[(&str, &str)],
    ) -> Result<T, CliError> {
        let url = format!("{}{path}", self.base);
        let transport = |e: ureq::Error| CliError::Transport {
            url: url.clone(),
            message: e.to_string(),
        };
        let mut all: Vec<(&str, &str)> = vec![("X-Hoox-Actor", self.actor.as_str())];
        if let Some(k) = &self.internal_key {
            all.push((INTERNAL_HEADER, k.as_str()));
        }
        all.extend_from_slice(headers);
        let result = match method {
            "GET" => {
                let mut r = self.agent.get(&url);
                for (k, v) in &all {
                    r = r.header(*k, *v);
                }
                r.call()
            }
            _ => {
                let mut r = match method {
                    "PUT" => self.agent.put(&url),
                    _ => self.agent.post(&url),
                };
                for (k, v) in &all {
                    r = r.header(*k, *v);
                }
                match body {
                    Body::Json(v) => r.send_json(v),
                    Body::Text(t) => r.header("content-type", "text/plain").send(t),
                    Body::None => r.send_empty(),
                }
            }
        };
        let mut resp = result.map_err(transport)?;
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().map_err(transport)?;
        if !(200..300).contains(&status) {
            return Err(api_error(status, &text));
        }
        serde_json::from_str(&text).map_err(|e| {
            CliError::Decode(format!(
                "{e}: {}",
                text.chars().take(200).collect::<String>()
            ))
        })
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, CliError> {
        self.request("GET", path, Body::None, &[])
    }

    /// `GET path`, the answer's bytes as they came (a report's PDF).
    pub fn get_bytes(&self, path: &str) -> Result<Vec<u8>, CliError> {
        let url = format!("{}{path}", self.base);
        let transport = |e: ureq::Error| CliError::Transport {
            url: url.clone(),
            message: e.to_string(),
        };
        let mut r = self
            .agent
            .get(&url)
            .header("X-Hoox-Actor", self.actor.as_str());
        if let Some(k) = &self.internal_key {
            r = r.header(INTERNAL_HEADER, k.as_str());
        }
        let mut resp = r.call().map_err(transport)?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            let text = resp.body_mut().read_to_string().map_err(transport)?;
            return Err(api_error(status, &text));
        }
        resp.body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_vec()
            .map_err(transport)
    }

    pub fn post<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T, CliError> {
        self.request("POST", path, Body::Json(body), &[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_internal_key_goes_over_https_or_to_loopback_only() {
        for ok in [
            "https://hoox.example.workers.dev",
            "HTTPS://hoox.example/",
            "http://127.0.0.1:8787",
            "http://127.1.2.3",
            "http://localhost:8787/",
            "http://[::1]:8787",
        ] {
            assert!(key_may_go_to(ok), "{ok}");
        }
        for refused in [
            "http://hoox.example.workers.dev",
            "http://192.168.1.10:8787",
            "http://localhost.evil.example",
            "http://[::2]",
            "ftp://hoox.example",
            "hoox.example",
            "",
        ] {
            assert!(!key_may_go_to(refused), "{refused}");
        }
    }

    #[test]
    fn a_client_with_the_key_refuses_plain_http_before_any_request() {
        let e = Client::new("http://hoox.example", Some("k".repeat(48)), "cli:t".into())
            .err()
            .expect("refused");
        assert!(matches!(e, CliError::InsecureUrl(_)));
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("https://"), "{e}");
        assert!(
            !e.to_string().contains(&"k".repeat(48)),
            "the key is not shown"
        );
        // Without the key (a signal sent with the webhook key) plain http stays allowed.
        assert!(Client::new("http://hoox.example", None, "cli:t".into()).is_ok());
    }

    #[test]
    fn queries_are_encoded() {
        assert_eq!(query(&[]), "");
        assert_eq!(
            query(&[
                ("symbol".into(), "BTC/USDT".into()),
                ("key".into(), "a b&c".into())
            ]),
            "?symbol=BTC%2FUSDT&key=a%20b%26c"
        );
    }

    #[test]
    fn api_errors_keep_code_field_and_request_id() {
        let e = api_error(
            400,
            r#"{"error":{"code":"invalid_field","message":"invalid `symbol`","field":"symbol"},"request_id":"r1"}"#,
        );
        assert_eq!(
            e.to_string(),
            "400 invalid_field: invalid `symbol` (field `symbol`) [request r1]"
        );
        let e = api_error(502, "Bad Gateway");
        assert_eq!(e.to_string(), "502 error: Bad Gateway");
    }
}
