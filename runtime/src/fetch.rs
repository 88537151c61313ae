//! Outbound calls under a deadline: the call and the read of its answer both end when the
//! deadline does, and the fetch is aborted then, so no request or message waits on a slow
//! peer past what its caller allowed.

use futures::future::Either;
use std::future::Future;
use std::time::Duration;
use worker::{AbortController, Delay, Fetch, Request};

/// The deadline passed before `within`'s future finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no answer within {0} ms")]
pub struct Elapsed(pub u64);

/// `fut`, unless `budget_ms` passes first.
pub async fn within<T>(budget_ms: u64, fut: impl Future<Output = T>) -> Result<T, Elapsed> {
    let timer = Delay::from(Duration::from_millis(budget_ms));
    match futures::future::select(Box::pin(fut), Box::pin(timer)).await {
        Either::Left((answer, _)) => Ok(answer),
        Either::Right(_) => Err(Elapsed(budget_ms)),
    }
}

/// An answer read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// Why a fetch gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The answer (or its body) did not come: the peer may have acted on the request.
    #[error("{0}")]
    NoAnswer(String),
    /// No complete answer within the budget; the fetch was aborted.
    #[error("no complete answer within {0} ms")]
    TimedOut(u64),
}

/// Sends `request` and reads its body as text, all within `budget_ms`.
pub async fn text(request: Request, budget_ms: u64) -> Result<Answer, FetchError> {
    let controller = AbortController::default();
    let signal = controller.signal();
    let exchange = async {
        let no_answer = |e: worker::Error| FetchError::NoAnswer(e.to_string());
        let mut resp = Fetch::Request(request)
            .send_with_signal(&signal)
            .await
            .map_err(no_answer)?;
        let status = resp.status_code();
        let headers = resp.headers().entries().collect();
        let body = resp.text().await.map_err(no_answer)?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    };
    match within(budget_ms, exchange).await {
        Ok(answer) => answer,
        Err(Elapsed(ms)) => {
            controller.abort();
            Err(FetchError::TimedOut(ms))
        }
    }
}
