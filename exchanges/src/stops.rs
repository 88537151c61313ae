//! Server-side stops: "make the exchange-side protection of this open position be" a stop-loss
//! at a trigger price, a trailing stop, both, or none, placed and moved on the exchange itself so
//! protection does not wait for the agent's next minute (issue 15; the agent's cron loop is the
//! backstop that reconciles them).
//!
//! Pure like the rest of the crate: a venue ([`ServerStops`]) reads what the position holds now
//! ([`ServerStops::stops_read_request`], absent where one call sets everything), plans the writes
//! that bring it to the [`StopTarget`] ([`ServerStops::stops_plan`]: new placements before the
//! cancels of what they replace, so the position is never left bare in between), and reads each
//! answer ([`ServerStops::parse_stop_write`]). The worker sends them; [`settle`] assembles what
//! is in force from what was kept and what the writes said, naming the exchange's ids so a later
//! call can move or cancel them.
//!
//! What each exchange documents, per venue (each submodule cites its pages):
//!
//! | venue | stop-loss | trailing stop |
//! |---|---|---|
//! | Bybit (`POST /v5/position/trading-stop`, <https://bybit-exchange.github.io/docs/v5/position/trading-stop>) | placed, moved and cancelled (`stopLoss`, `"0"` cancels), mark-price triggered (`slTriggerBy`) | placed and cancelled (`trailingStop` a price distance, `activePrice`) |
//! | Binance (Algo Service `POST/DELETE /fapi/v1/algoOrder`, `GET /fapi/v1/openAlgoOrders`) | `STOP_MARKET` `closePosition=true`, `workingType=MARK_PRICE`; moved by placing the new one, then cancelling the old | `TRAILING_STOP_MARKET`, `callbackRate` in [0.1, 10] %, `activatePrice`, the position's quantity |
//! | MEXC (`stoporder/list/orders`, `stoporder/change_plan_price`, `stoporder/cancel`) | moved and cancelled on the stop-limit order the position's entry carried (its `stopLossPrice`); MEXC documents no call that places one on an open position | none documented: left to the cron backstop |

use crate::account::PositionSide;
use crate::venue::{Context, Credentials, ExchangeError, HttpRequest, HttpResponse, PositionMode};
use contracts::signal::Exchange;
use contracts::symbol::Symbol;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// What the exchange-side protection of a position should be. Both `None`: cancel what hoox
/// placed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StopTarget {
    /// A stop-loss at this trigger price (quote units), mark-price triggered where the venue
    /// allows.
    pub stop_price: Option<Decimal>,
    pub trailing: Option<Trailing>,
}

/// A trailing stop: the stop follows the best price since activation at `distance_pct` % of
/// it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trailing {
    /// Strictly positive percentage (`1.5` = 1.5 %).
    pub distance_pct: Decimal,
    /// Trail only once the price has reached this (a long's above the mark, a short's below);
    /// `None`: trail from now.
    pub activation_price: Option<Decimal>,
}

/// The open position the stops protect, as the exchange reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopPosition {
    pub symbol: Symbol,
    /// The exchange's own symbol (`BTCUSDT`, `BTC_USDT`).
    pub exchange_symbol: String,
    pub side: PositionSide,
    /// The account's position mode on the symbol (which leg the stop names).
    pub mode: PositionMode,
    /// Strictly positive, in the exchange's order unit (Binance's trailing stop closes this
    /// quantity: `closePosition` is for `STOP_MARKET` and `TAKE_PROFIT_MARKET` only).
    pub size: Decimal,
    /// The exchange's reference price now (Bybit's trailing distance is a price: the
    /// percentage is taken of the activation price, else of this).
    pub mark: Decimal,
    /// Price tick and quantity step of the instrument.
    pub tick_size: Decimal,
    pub qty_step: Decimal,
}

/// What a venue can keep on its own side, as documented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Support {
    pub stop: bool,
    pub trailing: bool,
}

/// Which protection an order or setting is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopKind {
    Stop,
    Trailing,
}

/// One protection in force on the exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacedStop {
    pub kind: StopKind,
    /// The exchange's id of the order (Binance `algoId`, MEXC stop-limit order `id`); `None`
    /// where the protection is a setting of the position (Bybit's trading stop).
    pub exchange_id: Option<String>,
    /// The client id hoox gave it (Binance `clientAlgoId`).
    pub client_id: Option<String>,
    /// A stop's trigger price.
    pub trigger_price: Option<Decimal>,
    /// A trailing stop's distance as sent: a price (Bybit) or a percentage (Binance
    /// `callbackRate`).
    pub distance: Option<Decimal>,
    pub activation_price: Option<Decimal>,
    /// The take-profit price that shares the order (MEXC's stop-limit order carries both).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub take_profit: Option<Decimal>,
}

/// What the position holds before the writes: hoox's protections found on the exchange.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Existing {
    pub stops: Vec<PlacedStop>,
}

impl Existing {
    pub fn of(&self, kind: StopKind) -> Vec<&PlacedStop> {
        self.stops.iter().filter(|s| s.kind == kind).collect()
    }
}

/// What one write does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteKind {
    /// One call sets the position's whole protection (Bybit): `placed` is in force once it is
    /// accepted.
    Set { placed: Vec<PlacedStop> },
    /// A new protection; its answer names its id.
    Place(PlacedStop),
    /// An existing protection moved in place (MEXC), keeping its id.
    Move(PlacedStop),
    /// A protection removed, by its exchange id.
    Cancel { kind: StopKind, exchange_id: String },
}

/// A request and what it is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub kind: WriteKind,
    pub request: HttpRequest,
}

/// The plan: the writes to send in order, what stays as it is, and what the venue cannot do
/// (said, never silently dropped).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub writes: Vec<Write>,
    pub kept: Vec<PlacedStop>,
    pub notes: Vec<String>,
}

/// What is in force after the writes, and the notes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Placed {
    pub stop: Option<PlacedStop>,
    pub trailing: Option<PlacedStop>,
    /// Exchange ids cancelled.
    pub cancelled: Vec<String>,
    pub notes: Vec<String>,
}

/// A venue's server-side stops (see the module doc).
pub trait ServerStops: Sync {
    fn exchange(&self) -> Exchange;
    fn support(&self) -> Support;

    /// The read of what the position holds now; `None` where one call sets everything.
    fn stops_read_request(
        &self,
        ctx: &Context,
        creds: &Credentials,
        position: &StopPosition,
    ) -> Option<HttpRequest>;
    /// hoox's protections of this position among what the read lists.
    fn parse_stops_read(
        &self,
        position: &StopPosition,
        resp: &HttpResponse,
    ) -> Result<Existing, ExchangeError>;

    /// The writes that bring `existing` to `target`. A target the venue refuses before any
    /// round trip (a trailing distance outside its bounds) is a Terminal error.
    fn stops_plan(
        &self,
        ctx: &Context,
        creds: &Credentials,
        position: &StopPosition,
        target: &StopTarget,
        existing: &Existing,
    ) -> Result<Plan, ExchangeError>;

    /// The answer to one write: what it put in force (`Some`), or `None` for a cancel.
    fn parse_stop_write(
        &self,
        write: &Write,
        resp: &HttpResponse,
    ) -> Result<Option<PlacedStop>, ExchangeError>;
}

/// The server-side stops of a real exchange; `None` for paper.
pub fn of(exchange: Exchange) -> Option<&'static dyn ServerStops> {
    match exchange {
        Exchange::Bybit => Some(&crate::bybit::BYBIT),
        Exchange::Binance => Some(&crate::binance::BINANCE),
        Exchange::Mexc => Some(&crate::mexc::MEXC),
        Exchange::Paper => None,
    }
}

/// What is in force once every write of `plan` was answered (`results` in the same order:
/// what each put in force).
pub fn settle(plan: &Plan, results: &[Option<PlacedStop>]) -> Placed {
    let mut placed = Placed {
        notes: plan.notes.clone(),
        ..Placed::default()
    };
    let mut put = |s: PlacedStop| match s.kind {
        StopKind::Stop => placed.stop = Some(s),
        StopKind::Trailing => placed.trailing = Some(s),
    };
    for s in &plan.kept {
        put(s.clone());
    }
    let mut cancelled = Vec::new();
    for (w, r) in plan.writes.iter().zip(results) {
        match (&w.kind, r) {
            (WriteKind::Set { placed: all }, _) => {
                for s in all {
                    put(s.clone());
                }
            }
            (WriteKind::Place(_) | WriteKind::Move(_), Some(s)) => put(s.clone()),
            (WriteKind::Cancel { exchange_id, .. }, _) => cancelled.push(exchange_id.clone()),
            _ => {}
        }
    }
    placed.cancelled = cancelled;
    placed
}

/// `pct` % of `price`, rounded down to `tick` (a trailing distance in price, never wider than
/// asked).
pub(crate) fn distance_of(pct: Decimal, price: Decimal, tick: Decimal) -> Option<Decimal> {
    let raw = contracts::amount::mul(price, pct).ok()? / Decimal::ONE_HUNDRED;
    let d = crate::precision::round_down_to_step(raw, tick).ok()?;
    (d > Decimal::ZERO).then(|| d.normalize())
}

/// A price rounded to the instrument's tick, refused when it rounds to nothing.
pub(crate) fn on_tick(
    exchange: Exchange,
    what: &str,
    price: Decimal,
    tick: Decimal,
) -> Result<Decimal, ExchangeError> {
    let p = crate::precision::round_to_tick(price, tick).map_err(|e| {
        crate::wire::refused(exchange, format!("{what} {price} out of range ({e})"))
    })?;
    if p <= Decimal::ZERO {
        return Err(crate::wire::refused(
            exchange,
            format!("{what} {price} rounds to nothing at tick {tick}"),
        ));
    }
    Ok(p.normalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::d;

    #[test]
    fn every_real_exchange_says_what_it_keeps() {
        for ex in Exchange::ALL {
            match of(ex) {
                Some(v) => assert_eq!(v.exchange(), ex),
                None => assert_eq!(ex, Exchange::Paper),
            }
        }
        let s = |ex| of(ex).map(|v| v.support());
        assert_eq!(
            s(Exchange::Bybit),
            Some(Support {
                stop: true,
                trailing: true
            })
        );
        assert_eq!(
            s(Exchange::Binance),
            Some(Support {
                stop: true,
                trailing: true
            })
        );
        assert_eq!(
            s(Exchange::Mexc),
            Some(Support {
                stop: true,
                trailing: false
            })
        );
    }

    #[test]
    fn distances_round_down_to_the_tick() {
        assert_eq!(distance_of(d("1.5"), d("65000"), d("0.1")), Some(d("975")));
        assert_eq!(
            distance_of(d("0.333"), d("65000.7"), d("0.1")),
            Some(d("216.4"))
        );
        assert_eq!(distance_of(d("0.0001"), d("1"), d("0.1")), None);
    }

    #[test]
    fn settling_keeps_what_stayed_and_takes_what_the_writes_placed() {
        let stop = |id: &str, p: &str| PlacedStop {
            kind: StopKind::Stop,
            exchange_id: Some(id.into()),
            client_id: None,
            trigger_price: Some(d(p)),
            distance: None,
            activation_price: None,
            take_profit: None,
        };
        let req = HttpRequest::public_get("http://x".into());
        let plan = Plan {
            writes: vec![
                Write {
                    kind: WriteKind::Place(stop("", "61000")),
                    request: req.clone(),
                },
                Write {
                    kind: WriteKind::Cancel {
                        kind: StopKind::Stop,
                        exchange_id: "1".into(),
                    },
                    request: req,
                },
            ],
            kept: vec![],
            notes: vec!["n".into()],
        };
        let placed = settle(&plan, &[Some(stop("2", "61000")), None]);
        assert_eq!(placed.stop, Some(stop("2", "61000")));
        assert_eq!(placed.cancelled, ["1"]);
        assert_eq!(placed.notes, ["n"]);
        assert_eq!(placed.trailing, None);
    }
}
