//! Exchange adapters, pure parts: turning a validated signal into an order, the checks every order
//! passes before any exchange sees it, and the built-in paper exchange.
//!
//! Nothing here performs I/O; the `consumers` worker supplies the transport.

pub mod order;
pub mod paper;
pub mod venue;

pub use order::{OrderRequest, PreTradeError, Side};
