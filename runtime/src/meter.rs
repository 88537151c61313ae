//! The platform operations hoox is billed for, counted where they happen: each binding call
//! site calls [`count`] (or one of its helpers), which logs one structured line, message
//! `meter`, with the operation, how many and what it was on (a worker, queue, binding or store
//! operation). `cargo xtask bench cost` sums these lines per signal and prices them.
//!
//! Off unless the worker's var [`METER_VAR`] is `on` (only the benchmark sets it): a deployed
//! worker logs nothing more, and Workers Logs bills per line. [`init`] reads the var once per
//! isolate; every worker calls it through `runtime::edge::start`, and a Durable Object, whose
//! isolate may serve no worker event first, calls it in its constructor.

use std::cell::Cell;

/// The var that switches metering on (`on`).
pub const METER_VAR: &str = "HOOX_METER";

/// The message of every meter line.
pub const MESSAGE: &str = "meter";

/// A billed (or, for [`Op::ServiceCall`], deliberately unbilled) platform operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// A worker invoked: a fetch (`on`: the worker) or a queue batch (`on`: the queue).
    Invocation,
    /// A call to a Durable Object (one RPC method call is one billed request; `on`: the op).
    DoRequest,
    /// A Durable Object's alarm ran (billed as a request).
    DoAlarm,
    /// Rows a Durable Object's SQLite read (`cursor.rowsRead`).
    DoRowsRead,
    /// Rows a Durable Object's SQLite wrote (`cursor.rowsWritten`; a `setAlarm` is one).
    DoRowsWritten,
    /// A message written to a queue (under 64 KB: one operation; `on`: the queue).
    QueueWrite,
    /// Messages delivered to a consumer (one read each; `on`: the queue).
    QueueRead,
    /// Of those, deliveries after the first (retries), so the first ones, each of which a write
    /// preceded, are the difference.
    QueueRedelivery,
    /// A message acknowledged (deleted from the queue).
    QueueDelete,
    /// Rows D1 read (the result's `meta.rows_read`).
    D1RowsRead,
    /// Rows D1 wrote (`meta.rows_written`).
    D1RowsWritten,
    /// An R2 write (Class A: put, delete, list).
    R2ClassA,
    /// An R2 read (Class B: get, head).
    R2ClassB,
    /// A Workers KV key read.
    KvRead,
    /// A Workers KV key written.
    KvWrite,
    /// A Workers KV key deleted.
    KvDelete,
    /// A call to another worker through a service binding (not a billed request: the callee's
    /// CPU is; `on`: the binding).
    ServiceCall,
}

impl Op {
    pub const ALL: [Op; 17] = [
        Op::Invocation,
        Op::DoRequest,
        Op::DoAlarm,
        Op::DoRowsRead,
        Op::DoRowsWritten,
        Op::QueueWrite,
        Op::QueueRead,
        Op::QueueRedelivery,
        Op::QueueDelete,
        Op::D1RowsRead,
        Op::D1RowsWritten,
        Op::R2ClassA,
        Op::R2ClassB,
        Op::KvRead,
        Op::KvWrite,
        Op::KvDelete,
        Op::ServiceCall,
    ];

    /// The name in the meter line.
    pub const fn as_str(self) -> &'static str {
        match self {
            Op::Invocation => "invocation",
            Op::DoRequest => "do_request",
            Op::DoAlarm => "do_alarm",
            Op::DoRowsRead => "do_rows_read",
            Op::DoRowsWritten => "do_rows_written",
            Op::QueueWrite => "queue_write",
            Op::QueueRead => "queue_read",
            Op::QueueRedelivery => "queue_redelivery",
            Op::QueueDelete => "queue_delete",
            Op::D1RowsRead => "d1_rows_read",
            Op::D1RowsWritten => "d1_rows_written",
            Op::R2ClassA => "r2_class_a",
            Op::R2ClassB => "r2_class_b",
            Op::KvRead => "kv_read",
            Op::KvWrite => "kv_write",
            Op::KvDelete => "kv_delete",
            Op::ServiceCall => "service_call",
        }
    }

    /// The operation a meter line names, if it is one.
    pub fn parse(name: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.as_str() == name)
    }
}

thread_local! {
    static ON: Cell<Option<bool>> = const { Cell::new(None) };
}

/// Whether a value of [`METER_VAR`] switches metering on.
pub fn switched_on(value: Option<&str>) -> bool {
    value.is_some_and(|v| v.trim().eq_ignore_ascii_case("on"))
}

/// Reads [`METER_VAR`] once per isolate (vars are fixed for its life).
pub fn init(env: &worker::Env) {
    if ON.with(Cell::get).is_none() {
        let value = env.var(METER_VAR).ok().map(|v| v.to_string());
        ON.with(|on| on.set(Some(switched_on(value.as_deref()))));
    }
}

fn on() -> bool {
    ON.with(Cell::get).unwrap_or(false)
}

/// Counts `n` of `op` on `on` (nothing when metering is off, or for `n` = 0).
pub fn count(op: Op, n: usize, on: &str) {
    if n > 0 && self::on() {
        tracing::info!(op = op.as_str(), n, on, "meter");
    }
}

/// The rows a D1 statement read and wrote, from its result's `meta`.
pub fn d1(result: &worker::D1Result) {
    if !on() {
        return;
    }
    if let Ok(Some(meta)) = result.meta() {
        count(Op::D1RowsRead, meta.rows_read.unwrap_or(0), "DB");
        count(Op::D1RowsWritten, meta.rows_written.unwrap_or(0), "DB");
    }
}

/// [`d1`] for each statement of a batch.
pub fn d1_batch(results: &[worker::D1Result]) {
    results.iter().for_each(d1);
}

/// The rows a Durable Object's SQL statement read and wrote. Call it once the rows were read
/// (`to_array`), since `rowsRead` counts as the cursor advances.
pub fn sql(cursor: &worker::SqlCursor) {
    if !on() {
        return;
    }
    count(Op::DoRowsRead, cursor.rows_read(), "sql");
    count(Op::DoRowsWritten, cursor.rows_written(), "sql");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_has_a_name_that_reads_back() {
        let mut names: Vec<&str> = Op::ALL.iter().map(|op| op.as_str()).collect();
        for op in Op::ALL {
            assert_eq!(Op::parse(op.as_str()), Some(op));
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Op::ALL.len(), "two ops share a name");
        assert_eq!(Op::parse("meter"), None);
    }

    #[test]
    fn only_on_switches_metering_on() {
        assert!(switched_on(Some("on")));
        assert!(switched_on(Some(" ON ")));
        for off in [None, Some(""), Some("off"), Some("1"), Some("true")] {
            assert!(!switched_on(off), "{off:?}");
        }
    }

    #[test]
    fn nothing_is_counted_before_init() {
        // No isolate read the var: metering stays off (count logs nothing and cannot fail).
        assert!(!on());
        count(Op::KvRead, 3, "CONFIG_KV");
    }
}
