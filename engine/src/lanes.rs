//! A batch of deliveries, as lanes: jobs for different (exchange, symbol) pairs run
//! concurrently, jobs for the same pair one after another in the order the gateway received them,
//! so a `LONG` then `CLOSE_LONG` sent a second apart are never swapped. Once a job of a lane is
//! retried, the rest of its lane is held back with the same delay, so they keep their order on
//! the next delivery too.
//!
//! Order within a batch is this module's; across batches it rests on the consumer running one
//! batch at a time (`max_concurrency: 1` in the trade-worker's config), so two jobs of a lane
//! never run side by side, and on Queues delivering in about the order jobs were sent, which
//! Queues does not promise: a job delivered after a later one of its lane ran still runs.

use crate::attempt::{execute_admitted, Disposition, Ports};
use crate::ports::{Clock, Events, Exchanges, KeyStore};
use contracts::config::RuntimeConfig;
use contracts::job::TradeJob;
use contracts::signal::Exchange;
use std::collections::BTreeMap;
use tracing::Instrument as _;

/// One delivery of a batch.
#[derive(Debug, Clone, Copy)]
pub struct Queued<'a> {
    pub job: &'a TradeJob,
    /// The queue's delivery count of this message, from 1.
    pub delivery_attempts: u32,
}

/// Runs `batch` in lanes and returns one disposition per delivery, in the batch's order.
///
/// `admit` is asked right before a job's claim with the exchange it is routed to (the worker's
/// per-exchange order quota); `Some` is the job's disposition, with nothing claimed.
pub async fn run_lanes<S, X, C, E, A>(
    batch: &[Queued<'_>],
    cfg: &RuntimeConfig,
    ports: &Ports<'_, S, X, C, E>,
    admit: A,
) -> Vec<Disposition>
where
    S: KeyStore,
    X: Exchanges,
    C: Clock,
    E: Events,
    A: Fn(&TradeJob, Exchange) -> Option<Disposition>,
{
    let mut lanes: BTreeMap<(Exchange, String), Vec<usize>> = BTreeMap::new();
    for (i, q) in batch.iter().enumerate() {
        let signal = &q.job.signal;
        lanes
            .entry((signal.exchange, signal.symbol.canonical()))
            .or_default()
            .push(i);
    }
    let admit = &admit;
    let runs = lanes.into_values().map(|mut lane| async move {
        // Stable: jobs received in the same millisecond keep the batch's order.
        lane.sort_by_key(|&i| batch[i].job.received_at_ms);
        let mut out = Vec::with_capacity(lane.len());
        let mut held: Option<(u32, &str)> = None;
        for i in lane {
            let Queued {
                job,
                delivery_attempts,
            } = batch[i];
            let span = tracing::info_span!("job", request_id = %job.request_id, idempotency_key = %job.idempotency_key, attempt = delivery_attempts);
            let disposition = match held {
                Some((delay_seconds, first)) => Disposition::Retry {
                    delay_seconds,
                    error: format!("held behind {first}, earlier in its lane, which is retried"),
                },
                None => {
                    execute_admitted(job, delivery_attempts, cfg, ports, admit)
                        .instrument(span.clone())
                        .await
                }
            };
            if let Disposition::Retry {
                delay_seconds,
                error,
            } = &disposition
            {
                span.in_scope(|| tracing::warn!(delay_seconds, error = %error, "retrying"));
                held.get_or_insert((*delay_seconds, &job.idempotency_key));
            }
            out.push((i, disposition));
        }
        out
    });
    // Every index is in exactly one lane: back in the batch's order.
    let mut all: Vec<(usize, Disposition)> = futures::future::join_all(runs)
        .await
        .into_iter()
        .flatten()
        .collect();
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, d)| d).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::tests::{keyed_job, World, T0};
    use crate::memory::{reached, Gate, StepClock, Submit};
    use crate::ports::{Failure, FailureClass};
    use contracts::config::Mode;
    use contracts::event::Outcome;
    use futures::executor::block_on;

    fn live() -> RuntimeConfig {
        RuntimeConfig {
            mode: Mode::Live,
            ..RuntimeConfig::defaults()
        }
    }

    fn long(symbol: &str) -> String {
        format!(
            r#"{{"exchange":"bybit","action":"LONG","symbol":"{symbol}","quantity":"0.01","price":"1000"}}"#
        )
    }

    fn client_id(job: &TradeJob) -> String {
        contracts::idempotency::client_order_id(&job.idempotency_key, job.received_at_ms)
    }

    fn queued(jobs: &[TradeJob]) -> Vec<Queued<'_>> {
        jobs.iter()
            .map(|job| Queued {
                job,
                delivery_attempts: 1,
            })
            .collect()
    }

    /// Jobs of one pair run in the order they were received, whatever the batch's order; a
    /// retried job holds the later ones of its lane with its delay; other lanes are unaffected.
    #[test]
    fn a_lane_runs_in_receipt_order_and_a_retry_holds_the_rest_of_it() {
        let clock = StepClock::new(T0 + 10);
        let w = World::new(&clock);
        let jobs = vec![
            keyed_job("third", T0 + 3, &long("BTCUSDT")),
            keyed_job("first", T0 + 1, &long("BTCUSDT")),
            keyed_job("eth", T0 + 5, &long("ETHUSDT")),
            keyed_job("second", T0 + 2, &long("BTCUSDT")),
        ];
        for j in &jobs {
            w.store.accept(j);
        }
        let x = w.x(Exchange::Bybit);
        // BTCUSDT's lane runs first (lanes are ordered by pair): its 2nd job is refused with a
        // Retry-After of 7 s.
        x.script_submit(Submit::Fill);
        x.script_submit(Submit::Refuse(Failure {
            class: FailureClass::Retryable {
                retry_after_seconds: Some(7),
            },
            message: "429".into(),
        }));
        let batch = queued(&jobs);
        let d = block_on(run_lanes(&batch, &live(), &w.ports(), |_, _| None));
        let submits: Vec<String> = x
            .calls()
            .into_iter()
            .filter(|c| c.op == "submit")
            .map(|c| c.client_order_id)
            .collect();
        assert_eq!(
            submits,
            [
                client_id(&jobs[1]),
                client_id(&jobs[3]),
                client_id(&jobs[2])
            ]
        );
        assert_eq!(d[1], Disposition::Ack);
        assert!(matches!(
            d[3],
            Disposition::Retry {
                delay_seconds: 7,
                ..
            }
        ));
        match &d[0] {
            Disposition::Retry {
                delay_seconds,
                error,
            } => {
                assert_eq!(*delay_seconds, 7);
                assert!(error.contains("second"), "{error}");
            }
            other => panic!("{other:?}"),
        }
        // Held back without being claimed.
        assert_eq!(w.store.record("third").unwrap().attempt, 0);
        assert_eq!(d[2], Disposition::Ack);
    }

    #[test]
    fn lanes_run_concurrently() {
        let clock = StepClock::new(T0);
        let w = World::new(&clock);
        let jobs = vec![
            keyed_job("btc", T0, &long("BTCUSDT")),
            keyed_job("eth", T0, &long("ETHUSDT")),
        ];
        for j in &jobs {
            w.store.accept(j);
        }
        let gate = Gate::new();
        w.x(Exchange::Bybit).hold_next_submit(gate.clone());
        let batch = queued(&jobs);
        let cfg = live();
        let ports = w.ports();
        let run = run_lanes(&batch, &cfg, &ports, |_, _| None);
        let meanwhile = async {
            reached(&gate).await;
            // While BTCUSDT's submit waits, ETHUSDT's lane runs to its end.
            let ended: Vec<_> = w
                .events
                .published()
                .into_iter()
                .map(|e| e.idempotency_key)
                .collect();
            gate.open();
            ended
        };
        let (d, ended_meanwhile) = block_on(futures::future::join(run, meanwhile));
        assert_eq!(ended_meanwhile, ["eth"]);
        assert_eq!(d, [Disposition::Ack, Disposition::Ack]);
        assert!(w
            .events
            .published()
            .iter()
            .all(|e| e.outcome == Outcome::Filled));
    }

    #[test]
    fn a_job_over_its_quota_is_retried_unclaimed_and_holds_its_lane() {
        let clock = StepClock::new(T0);
        let w = World::new(&clock);
        let jobs = vec![
            keyed_job("a", T0, &long("BTCUSDT")),
            keyed_job("b", T0 + 1, &long("BTCUSDT")),
        ];
        for j in &jobs {
            w.store.accept(j);
        }
        let batch = queued(&jobs);
        let admit = |job: &TradeJob, venue: Exchange| {
            assert_eq!(venue, Exchange::Bybit);
            (job.idempotency_key == "a").then(|| Disposition::Retry {
                delay_seconds: 3,
                error: "ratelimit".into(),
            })
        };
        let d = block_on(run_lanes(&batch, &live(), &w.ports(), admit));
        assert!(matches!(
            d[0],
            Disposition::Retry {
                delay_seconds: 3,
                ..
            }
        ));
        assert!(matches!(
            d[1],
            Disposition::Retry {
                delay_seconds: 3,
                ..
            }
        ));
        assert!(w.store.calls().is_empty());
    }
}
