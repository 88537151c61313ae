//! Queue bodies from anywhere (jobs, dead letters, events): decoding never panics, and what
//! decodes re-encodes to the same bytes.
#![no_main]

use contracts::event::TradeEvent;
use contracts::job::{DlqBody, TradeJob};
use contracts::symbol::Symbol;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(job) = TradeJob::decode(data) {
        assert_eq!(TradeJob::decode(&job.encode()), Ok(job));
    }
    if let Ok(event) = TradeEvent::decode(data) {
        assert_eq!(TradeEvent::decode(&event.encode()), Ok(event));
    }
    let _ = DlqBody::decode(data);
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(sym) = Symbol::parse(s) {
            assert_eq!(Symbol::parse(&sym.canonical()).map(|s| s.canonical()), Ok(sym.canonical()));
        }
    }
});
