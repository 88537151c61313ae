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

/// Buffers one formatted event and hands it whole to the console method of its level, so the
/// platform's log view can filter by level (`console.error` for errors, `console.warn` for
/// warnings, and so on).
pub struct ConsoleLine(Vec<u8>, tracing::Level);

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
        if line.is_empty() {
            return;
        }
        match self.1 {
            tracing::Level::ERROR => worker::console_error!("{line}"),
            tracing::Level::WARN => worker::console_warn!("{line}"),
            tracing::Level::INFO => console::info(line),
            _ => worker::console_debug!("{line}"),
        }
    }
}

#[derive(Clone, Copy)]
pub struct ConsoleWriter;

impl<'a> MakeWriter<'a> for ConsoleWriter {
    type Writer = ConsoleLine;
    fn make_writer(&'a self) -> Self::Writer {
        ConsoleLine(Vec::new(), tracing::Level::INFO)
    }
    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        ConsoleLine(Vec::new(), *meta.level())
    }
}

mod console {
    use wasm_bindgen::prelude::wasm_bindgen;

    #[wasm_bindgen]
    extern "C" {
        /// `console.info` (worker-sys binds log, debug, warn and error only).
        #[wasm_bindgen(js_namespace = console)]
        pub fn info(s: &str);
    }
}
