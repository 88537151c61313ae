//! Why a mail was refused: one typed error naming the field where there is one, so the
//! sender's rejection (`setReject`, Mailgun's 406 body, the alert) says what to fix.

use contracts::signal::SignalError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("the mail is {size} bytes, over the {cap}-byte cap")]
    TooLarge { size: usize, cap: usize },
    #[error("the mail is not a MIME message")]
    Unparseable,
    #[error("the mail has no From address")]
    NoFrom,
    #[error("the mail has no Message-ID: each mail needs one, so that a redelivery is one signal")]
    NoMessageId,
    #[error("no sender is authorized: email:authorized_senders is empty")]
    NoAuthorizedSenders,
    #[error("{0} is not in email:authorized_senders")]
    UnlistedSender(String),
    #[error("{sender} is not authenticated: {reason}")]
    Unauthenticated { sender: String, reason: String },
    #[error("`{field}` is ambiguous: both {first:?} and {second:?}")]
    Ambiguous {
        field: &'static str,
        first: String,
        second: String,
    },
    #[error("`{0}` is refused in a mail: the sender is authenticated by its mail, and the mail's identity is its Message-ID")]
    Forbidden(&'static str),
    #[error("unknown action {0:?}: expected LONG, SHORT, CLOSE_LONG, CLOSE_SHORT, buy or sell")]
    UnknownAction(String),
    #[error("no signal found: send a JSON signal, `key: value` lines, or a subject like `LONG BYBIT:BTCUSDT 0.01`")]
    NoSignal,
    #[error(transparent)]
    Signal(#[from] SignalError),
}

impl EmailError {
    /// The field to fix, if the refusal is about one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::Ambiguous { field, .. } | Self::Forbidden(field) => Some(field),
            Self::UnknownAction(_) => Some("action"),
            Self::NoMessageId => Some("Message-ID"),
            Self::NoFrom | Self::UnlistedSender(_) | Self::Unauthenticated { .. } => Some("From"),
            Self::Signal(e) => e.field(),
            _ => None,
        }
    }

    /// A stable code for logs and answers.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "too_large",
            Self::Unparseable => "unparseable",
            Self::NoFrom | Self::NoMessageId => "missing_header",
            Self::NoAuthorizedSenders | Self::UnlistedSender(_) => "unauthorized_sender",
            Self::Unauthenticated { .. } => "unauthenticated",
            Self::Ambiguous { .. } => "ambiguous",
            Self::Forbidden(_) => "forbidden_field",
            Self::UnknownAction(_) => "invalid_field",
            Self::NoSignal => "no_signal",
            Self::Signal(e) => e.code(),
        }
    }
}
