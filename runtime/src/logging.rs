//! Structured logs: one JSON object per line on the isolate console, carrying the fields of the
//! current span (the request id). Secrets are never passed to a log macro; the gateway strips
//! `apiKey` before anything else sees the body.

use std::io::Write;
use std::sync::Once;
use tracing_subscriber::fmt::MakeWriter;

/// Var naming the most verbose level logged (`error`, `warn`, `info`, `debug`); default `info`.
pub const LOG_LEVEL_VAR: &str = "LOG_LEVEL";

/// Installs the JSON subscriber once per isolate, at the level of the `LOG_LEVEL` var.
pub fn init(env: &worker::Env) {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let level = env
            .var(LOG_LEVEL_VAR)
            .ok()
            .and_then(|v| v.to_string().parse::<tracing::Level>().ok())
            .unwrap_or(tracing::Level::INFO);
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(level)
            .json()
            .with_current_span(true)
            .with_span_list(false)
            // SystemTime panics on wasm32; the runtime stamps console lines itself.
            .without_time()
            .with_ansi(false)
            .with_target(false)
            .with_writer(ConsoleWriter)
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

/// Buffers one formatted event and hands it to `console.log` whole.
#[derive(Default)]
pub struct ConsoleLine(Vec<u8>);

impl Write for ConsoleLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for ConsoleLine {
    fn drop(&mut self) {
        let line = String::from_utf8_lossy(&self.0);
        let line = line.trim_end();
        if !line.is_empty() {
            worker::console_log!("{line}");
        }
    }
}

#[derive(Clone, Copy)]
pub struct ConsoleWriter;

impl<'a> MakeWriter<'a> for ConsoleWriter {
    type Writer = ConsoleLine;
    fn make_writer(&'a self) -> Self::Writer {
        ConsoleLine::default()
    }
}
