//! Everything the Telegram side of hoox decides, without the network: how an alert or a reply
//! reads ([`format`]), how text is made safe for `parse_mode=HTML` and cut to Telegram's 4096
//! characters ([`html`]), what a chat message asks for ([`command`]), the Bot API's shapes
//! ([`api`]), and when the next message may go out ([`ratelimit`]).
//!
//! The `telegram-worker` is a thin adapter over this crate; everything here is tested natively.

pub mod api;
pub mod command;
pub mod format;
pub mod html;
pub mod ratelimit;
