//! The `hoox` operator CLI as a library: the binary (`main.rs`) only parses arguments and calls
//! [`run::run`]. Operators use it against a local `cargo xtask dev` (default
//! `http://127.0.0.1:8787`) or a deployed gateway (`--url`); every call goes through the gateway,
//! which forwards dead-letter and ledger routes to their workers.
//!
//! Keys never come from flags (they would land in shell history and process lists): they come
//! from `HOOX_INTERNAL_KEY` / `HOOX_WEBHOOK_KEY`, or, for local use, from `.dev.vars` in the
//! current directory ([`keys`]).

pub mod args;
pub mod client;
pub mod keys;
pub mod render;
pub mod run;
pub mod when;

/// Everything that can stop a command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("missing key: {0}")]
    MissingKey(String),
    #[error("refusing to send the internal key to {0}: use an https:// URL (plain http only to a loopback address such as 127.0.0.1 or localhost)")]
    InsecureUrl(String),
    #[error("cannot reach {url}: {message}")]
    Transport { url: String, message: String },
    #[error("{status} {code}: {message}{}{}", field.as_deref().map(|f| format!(" (field `{f}`)")).unwrap_or_default(), request_id.as_deref().map(|r| format!(" [request {r}]")).unwrap_or_default())]
    Api {
        status: u16,
        code: String,
        message: String,
        field: Option<String>,
        request_id: Option<String>,
    },
    #[error("unexpected answer: {0}")]
    Decode(String),
    #[error("{0} replay(s) failed")]
    ReplayFailed(u32),
}

impl CliError {
    /// The process exit code: 2 for usage and key problems, 1 for everything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Usage(_) | Self::MissingKey(_) | Self::InsecureUrl(_) => 2,
            _ => 1,
        }
    }
}
