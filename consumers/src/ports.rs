//! The engine's store, clock and events ports on the Workers bindings: the `IdempotencyStore`
//! over JS RPC (`runtime::idempotency::Store`), the Workers clock and `Math.random`, and the
//! `trade-events` producer. Each call that waits is abandoned at the attempt's deadline, so one
//! attempt never outlives its claim's lease however slow a binding is; an abandoned call is an
//! error (nothing is known), which the engine treats as "retry".

use engine::ports::{Clock, Events, KeyStore, PortError};
use runtime::idempotency::Store;
use runtime::{bytes, now_ms};
use std::future::Future;
use worker::Env;

use contracts::idempotency::{
    AttemptFailedRequest, ClaimResponse, CompleteRequest, Fenced, KeyUpdate, SubmitGrant,
    SubmitRequest,
};

/// Producer binding of `trade-events`.
pub const EVENTS_BINDING: &str = "TRADE_EVENTS";
/// Producer binding of `trade-execution`, for the orders' follow-ups.
pub const EXECUTION_BINDING: &str = "TRADE_QUEUE";

/// `call`, unless `deadline_ms` comes first.
async fn within<T, E: std::fmt::Display>(
    op: &'static str,
    deadline_ms: i64,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, PortError> {
    let left = deadline_ms.saturating_sub(now_ms());
    if left <= 0 {
        return Err(PortError {
            op,
            message: "the attempt's deadline has passed: not called".into(),
        });
    }
    match runtime::fetch::within(left.unsigned_abs(), call).await {
        Ok(answer) => answer.map_err(|e| PortError {
            op,
            message: e.to_string(),
        }),
        Err(_) => Err(PortError {
            op,
            message: format!("no answer within the attempt's deadline ({left} ms)"),
        }),
    }
}

/// The `IdempotencyStore`, fenced ops and all.
pub struct WorkerStore<'e> {
    store: Store<'e>,
}

impl<'e> WorkerStore<'e> {
    pub fn new(env: &'e Env) -> Self {
        Self {
            store: Store::new(env),
        }
    }
}

impl KeyStore for WorkerStore<'_> {
    async fn claim(
        &self,
        key: &str,
        received_at_ms: i64,
        deadline_ms: i64,
    ) -> Result<ClaimResponse, PortError> {
        within("claim", deadline_ms, self.store.claim(key, received_at_ms)).await
    }

    async fn begin_submit(
        &self,
        req: &SubmitRequest,
        deadline_ms: i64,
    ) -> Result<SubmitGrant, PortError> {
        within("begin_submit", deadline_ms, self.store.begin_submit(req)).await
    }

    async fn complete(&self, req: &CompleteRequest, deadline_ms: i64) -> Result<Fenced, PortError> {
        within("complete", deadline_ms, self.store.complete(req)).await
    }

    async fn attempt_failed(
        &self,
        req: &AttemptFailedRequest,
        deadline_ms: i64,
    ) -> Result<Fenced, PortError> {
        within(
            "attempt_failed",
            deadline_ms,
            self.store.attempt_failed(req),
        )
        .await
    }

    async fn event_published(
        &self,
        key: &str,
        received_at_ms: i64,
        deadline_ms: i64,
    ) -> Result<(), PortError> {
        let update = KeyUpdate::EventPublished {
            key: key.into(),
            received_at_ms: Some(received_at_ms),
        };
        within("event_published", deadline_ms, self.store.update(&update))
            .await
            .map(|_| ())
    }
}

/// The Workers clock (it advances across I/O only) and `Math.random` for jitter.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkerClock;

impl Clock for WorkerClock {
    fn now_ms(&self) -> i64 {
        now_ms()
    }
    fn random(&self) -> f64 {
        js_sys::Math::random()
    }
}

/// The `trade-events` producer, and `trade-execution`'s for the follow-ups.
pub struct QueueEvents<'e> {
    env: &'e Env,
}

impl<'e> QueueEvents<'e> {
    pub fn new(env: &'e Env) -> Self {
        Self { env }
    }
}

impl Events for QueueEvents<'_> {
    async fn publish(&self, event: &[u8], deadline_ms: i64) -> Result<(), PortError> {
        let send = async {
            runtime::meter::count(runtime::meter::Op::QueueWrite, 1, crate::EVENTS_QUEUE);
            self.env
                .queue(EVENTS_BINDING)?
                .send_raw(bytes::message(event))
                .await
        };
        within("publish", deadline_ms, send).await
    }

    async fn follow(
        &self,
        body: &[u8],
        delay_seconds: u32,
        deadline_ms: i64,
    ) -> Result<(), PortError> {
        let send = async {
            runtime::meter::count(runtime::meter::Op::QueueWrite, 1, crate::EXECUTION_QUEUE);
            self.env
                .queue(EXECUTION_BINDING)?
                .send_raw(bytes::message_after(body, delay_seconds))
                .await
        };
        within("follow", deadline_ms, send).await
    }
}
