//! Waiting on a condition instead of a fixed sleep: a scenario says what it waits for, and goes
//! on as soon as it holds (or fails naming it at the deadline), so a fast run is not held to
//! the slowest run's guess and a slow one is not failed by it.

use std::future::Future;
use std::time::{Duration, Instant};

/// How long after a CONFIG_KV write every worker reads the new value: each isolate caches the
/// config for `CONFIG_CACHE_TTL_MS` (2 s in the workers' configs) and the first request past it
/// reads CONFIG_KV again, plus a margin for a request already in flight.
pub const CONFIG_VISIBLE_AFTER: Duration = Duration::from_millis(2_500);

/// How often a condition is checked again.
pub const POLL: Duration = Duration::from_millis(100);

/// Checks `check` every [`POLL`] until it yields `Some`, and returns that; panics naming `what`
/// once `timeout` has passed without it.
pub async fn wait_until<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "waited {timeout:?} for {what}, in vain"
        );
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn returns_as_soon_as_the_condition_holds() {
        let calls = AtomicU32::new(0);
        let started = Instant::now();
        let v = wait_until(Duration::from_secs(5), "the third call", || async {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            (n == 3).then_some(n)
        })
        .await;
        assert_eq!(v, 3);
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    #[should_panic(expected = "waited 300ms for nothing, in vain")]
    async fn fails_naming_what_it_waited_for() {
        wait_until(Duration::from_millis(300), "nothing", || async {
            None::<()>
        })
        .await;
    }
}
