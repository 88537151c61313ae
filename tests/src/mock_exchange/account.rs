//! The mock exchanges' accounts: the positions, balances and fill records each exchange serves,
//! derived from the orders the mock filled, and a switch for orders that fill later.
//!
//! Served, with each exchange's own authentication (key, signature over the exact bytes,
//! timestamp window) and its refusals of what it refuses (a missing `category`, `settleCoin` or
//! `symbol`, `accountType`; Binance's mandatory `symbol`):
//!
//! - Bybit: `GET /v5/account/wallet-balance` (`accountType` required), `GET
//!   /v5/execution/list` (`category` required; by `orderLinkId` or `orderId`). Its `GET
//!   /v5/position/list` is the exchange's own route (one row per position index of the account's
//!   mode), with the entry and unrealised PnL from here ([`entry_and_upnl`]).
//! - Binance: `GET /fapi/v3/positionRisk` (`BOTH`, or `LONG`/`SHORT` legs in hedge mode), `GET
//!   /fapi/v3/account`, `GET /fapi/v1/userTrades` (`symbol` mandatory; `orderId`).
//! - MEXC: `GET /api/v1/private/account/assets`. Its `GET
//!   /api/v1/private/position/open_positions` is the exchange's own route (positions with their
//!   ids), with the entry from here.
//!
//! Each network is its own account (Bybit's and Binance's testnets): signed with that network's
//! pair, with its own fills, positions, realised PnL, fees and wallet.
//!
//! Every fill (at acceptance, in part under the `partial_fill` switch, or later under
//! [`FillLater`]) is a [`FillRecord`] with a taker fee at the exchange's default rate (Bybit
//! 0.055 %, Binance 0.05 %; MEXC's mock order answers report no fee, so its rate is 0), and
//! moves the position's average entry and the USDT wallet (100 000 to start, plus realised PnL,
//! minus fees); unrealised PnL is at the exchange's mark.
//!
//! **Fill later** (`POST /__mock/fill_later` `{"exchange":"bybit","after_lookups":2,
//! "partial_first":"0.5","after_ms":3000,"count":1}`, or [`MockExchanges::fill_later`]): the
//! next `count` orders of that exchange rest when accepted, whatever their type (a market order's
//! acknowledgement then shows no fill, as Bybit's and MEXC's never do, and Binance's `RESULT`
//! answer says `NEW`), and fill wholly at their limit price (market orders: the mark) when looked
//! up the `after_lookups`-th time by client order id, or `after_ms` after acceptance, whichever
//! comes first; with `partial_first`, that fraction fills one lookup earlier.

use super::*;

/// Wallet balance every mocked account starts with, USDT.
pub const START_BALANCE: &str = "100000";

/// Orders that rest when accepted and fill later (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FillLater {
    pub exchange: Exchange,
    /// Fill wholly at this lookup by client order id (the lookup that sees it filled).
    pub after_lookups: Option<u32>,
    /// Or this long after acceptance.
    pub after_ms: Option<u64>,
    /// Fill this fraction (0..1) one lookup before the rest.
    pub partial_first: Option<Decimal>,
    /// Orders the switch applies to.
    pub count: u32,
}

impl FillLater {
    pub fn after_lookups(exchange: Exchange, lookups: u32) -> Self {
        Self {
            exchange,
            after_lookups: Some(lookups),
            after_ms: None,
            partial_first: None,
            count: 1,
        }
    }

    pub fn from_json(v: &Value) -> Result<Self, MockError> {
        let bad = |m: &str| MockError::BadFault(m.to_owned());
        let exchange = v
            .get("exchange")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<Exchange>().ok())
            .filter(|e| *e != Exchange::Paper)
            .ok_or_else(|| bad("exchange must be bybit, binance or mexc"))?;
        let u32_of = |k: &str| {
            v.get(k)
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
        };
        let f = Self {
            exchange,
            after_lookups: u32_of("after_lookups").filter(|n| *n > 0),
            after_ms: v.get("after_ms").and_then(Value::as_u64),
            partial_first: match v.get("partial_first") {
                None | Some(Value::Null) => None,
                Some(x) => Some(
                    json_dec(x)
                        .filter(|f| *f > Decimal::ZERO && *f < Decimal::ONE)
                        .ok_or_else(|| bad("partial_first must be a decimal in (0, 1)"))?,
                ),
            },
            count: u32_of("count").unwrap_or(1),
        };
        if f.after_lookups.is_none() && f.after_ms.is_none() {
            return Err(bad("after_lookups (>= 1) or after_ms is required"));
        }
        Ok(f)
    }
}

/// One open position leg of a mocked account ([`MockExchanges::held_positions`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldPosition {
    pub exchange: Exchange,
    pub testnet: bool,
    /// hoox's symbol (`BTCUSDT`), whatever the exchange calls it.
    pub symbol: String,
    /// `long` or `short`.
    pub side: &'static str,
    /// Base units (MEXC's contracts times their size).
    pub size: Decimal,
}

/// One fill the mock made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FillRecord {
    pub exchange: Exchange,
    pub client_order_id: String,
    pub exchange_order_id: String,
    pub symbol: String,
    pub buy: bool,
    /// In the exchange's order unit (contracts on MEXC).
    pub quantity: Decimal,
    pub price: Decimal,
    /// USDT.
    pub fee: Decimal,
    pub at_ms: i64,
    pub id: u64,
    /// Made on the exchange's testnet.
    pub testnet: bool,
}

#[derive(Debug, Clone)]
struct Pending {
    exchange: Exchange,
    client_order_id: String,
    exchange_order_id: String,
    lookups: u32,
    after_lookups: Option<u32>,
    due_at_ms: Option<i64>,
    partial_first: Option<Decimal>,
    partial_done: bool,
}

#[derive(Debug, Default)]
pub(super) struct State {
    later: BTreeMap<Exchange, FillLater>,
    pending: Vec<Pending>,
    fills: Vec<FillRecord>,
    /// What each order had filled when last seen, to tell the fills of a call.
    seen: BTreeMap<(Exchange, String), Decimal>,
    /// Cost of each open leg (Σ |qty| × price of what is open), by (exchange, testnet, symbol,
    /// leg).
    cost: BTreeMap<(Exchange, bool, String, Leg), Decimal>,
    /// By (exchange, testnet): each network is its own account.
    realised: BTreeMap<(Exchange, bool), Decimal>,
    fees: BTreeMap<(Exchange, bool), Decimal>,
    next_fill: u64,
}

impl State {
    pub(super) fn reset(&mut self) {
        *self = Self::default();
    }
}

impl Shared {
    pub(super) fn account(&self) -> MutexGuard<'_, State> {
        self.account
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl MockExchanges {
    /// Arms [`FillLater`] for the next `f.count` orders of `f.exchange`.
    pub fn fill_later(&self, f: FillLater) {
        self.shared.account().later.insert(f.exchange, f);
    }

    /// Every fill the mock made, oldest first.
    pub fn fills(&self) -> Vec<FillRecord> {
        self.shared.account().fills.clone()
    }

    /// A market order placed outside hoox (by hand in the exchange's app) on `testnet` or
    /// mainnet: filled at the mark at once, under a client order id hoox never uses, opening
    /// (in hedge mode, the leg of its side). `quantity` in the exchange's order unit.
    pub fn trade_by_hand(
        &self,
        exchange: Exchange,
        testnet: bool,
        symbol: &str,
        buy: bool,
        quantity: Decimal,
    ) -> Result<(), MockError> {
        let sp = spec(symbol)
            .ok_or_else(|| MockError::BadPrice(format!("{symbol} is not listed by the mock")))?;
        let now = self.shared.now_ms();
        let mut book = self.shared.book();
        let mut st = self.shared.account();
        let exchange_symbol = if exchange == Exchange::Mexc {
            sp.underscored()
        } else {
            sp.joined()
        };
        let id = book.next_order_id();
        let leg = match (book.switches(exchange).hedge(exchange), buy) {
            (false, _) => Leg::Net,
            (true, true) => Leg::Long,
            (true, false) => Leg::Short,
        };
        book.orders.push(AcceptedOrder {
            exchange,
            client_order_id: format!("app-{id}"),
            exchange_order_id: id,
            symbol: exchange_symbol,
            side: if buy { "Buy" } else { "Sell" }.to_owned(),
            order_type: "Market".into(),
            quantity,
            base_quantity: quantity * contract(exchange, &sp.joined()),
            price: None,
            reduce_only: false,
            state: OrderState::Open,
            filled_quantity: Decimal::ZERO,
            average_price: None,
            accepted_at_ms: now,
            testnet,
            take_profit: None,
            stop_loss: None,
            tpsl_mode: None,
            tp_trigger_by: None,
            sl_trigger_by: None,
            leg,
        });
        let i = book.orders.len() - 1;
        fill_order(&mut book, &mut st, i, quantity, now);
        Ok(())
    }

    /// Every open leg the mock's accounts hold, as the exchanges' position routes report them:
    /// for a test to hold the ledger against the exchanges' own state.
    pub fn held_positions(&self) -> Vec<HeldPosition> {
        held(&self.shared.book())
    }

    /// Every accepted order and every open leg, read together: a fill due later can land
    /// between two separate reads, and a test comparing them would see books that never were.
    pub fn books(&self) -> (Vec<AcceptedOrder>, Vec<HeldPosition>) {
        let book = self.shared.book();
        (book.orders.clone(), held(&book))
    }

    /// The USDT wallet balance of `exchange` on mainnet: start, plus realised PnL, minus fees.
    pub fn wallet_balance(&self, exchange: Exchange) -> Decimal {
        self.wallet_balance_on(exchange, false)
    }

    /// [`Self::wallet_balance`] on `testnet` or mainnet.
    pub fn wallet_balance_on(&self, exchange: Exchange, testnet: bool) -> Decimal {
        wallet(&self.shared.account(), exchange, testnet)
    }
}

/// The open legs of `book`, as the exchanges' position routes report them.
fn held(book: &Book) -> Vec<HeldPosition> {
    book.positions
        .iter()
        .filter(|(_, size)| !size.is_zero())
        .filter_map(|((exchange, testnet, symbol, leg), size)| {
            let sp = spec(symbol)?;
            let long = match leg {
                Leg::Net => size.is_sign_positive(),
                Leg::Long => true,
                Leg::Short => false,
            };
            Some(HeldPosition {
                exchange: *exchange,
                testnet: *testnet,
                symbol: sp.joined(),
                side: if long { "long" } else { "short" },
                size: (size.abs() * contract(*exchange, symbol)).normalize(),
            })
        })
        .collect()
}

fn wallet(st: &State, exchange: Exchange, testnet: bool) -> Decimal {
    let key = (exchange, testnet);
    lit(START_BALANCE) + st.realised.get(&key).copied().unwrap_or_default()
        - st.fees.get(&key).copied().unwrap_or_default()
}

fn fee_rate(exchange: Exchange) -> Decimal {
    match exchange {
        Exchange::Bybit => lit("0.00055"),
        Exchange::Binance => lit("0.0005"),
        _ => Decimal::ZERO,
    }
}

/// The leg an order moves: the one the exchange booked it on when it was placed (one net leg in
/// one-way mode, long or short in hedge mode).
fn leg_of(o: &AcceptedOrder) -> Leg {
    o.leg
}

/// Base units per order unit of `symbol` on `exchange` (MEXC's contract size; 1 elsewhere).
fn contract(exchange: Exchange, symbol: &str) -> Decimal {
    match (exchange, spec(symbol)) {
        (Exchange::Mexc, Some(sp)) => lit(sp.contract_size),
        _ => Decimal::ONE,
    }
}

/// Records a fill of `qty` (order units) of `o` at `price`, with the position of its leg going
/// from `before` to `after` (signed on a net leg).
fn record(
    st: &mut State,
    o: &AcceptedOrder,
    qty: Decimal,
    price: Decimal,
    before: Decimal,
    after: Decimal,
    at_ms: i64,
) {
    if qty <= Decimal::ZERO {
        return;
    }
    let size = contract(o.exchange, &o.symbol);
    let base = qty * size;
    let fee = (base * price * fee_rate(o.exchange)).round_dp(8);
    st.next_fill += 1;
    st.fills.push(FillRecord {
        exchange: o.exchange,
        client_order_id: o.client_order_id.clone(),
        exchange_order_id: o.exchange_order_id.clone(),
        symbol: o.symbol.clone(),
        buy: o.side == "Buy",
        quantity: qty,
        price,
        fee,
        at_ms,
        id: st.next_fill,
        testnet: o.testnet,
    });
    *st.fees.entry((o.exchange, o.testnet)).or_default() += fee;
    // The leg's entry cost and realised PnL, in base units.
    let key = (o.exchange, o.testnet, o.symbol.clone(), leg_of(o));
    let cost = st.cost.get(&key).copied().unwrap_or_default();
    let (b, a) = (before * size, after * size);
    let delta = a - b;
    let new_cost = if b.is_zero() || (b.is_sign_positive() == delta.is_sign_positive()) {
        cost + delta.abs() * price
    } else {
        let avg = cost / b.abs();
        let reduced = delta.abs().min(b.abs());
        let direction = if b.is_sign_positive() {
            Decimal::ONE
        } else {
            Decimal::NEGATIVE_ONE
        };
        // A short leg on MEXC holds a positive size: its PnL runs the other way.
        let direction = if key.3 == Leg::Short {
            -direction
        } else {
            direction
        };
        *st.realised.entry((o.exchange, o.testnet)).or_default() +=
            (price - avg) * reduced * direction;
        let left = cost - avg * reduced;
        if delta.abs() > b.abs() {
            (delta.abs() - b.abs()) * price
        } else {
            left
        }
    };
    if a.is_zero() {
        st.cost.remove(&key);
    } else {
        st.cost.insert(key, new_cost);
    }
}

/// Fills `qty` more of the order at index `i` (order units), moving its leg.
pub(super) fn fill_order(book: &mut Book, st: &mut State, i: usize, qty: Decimal, at_ms: i64) {
    let Some(o) = book
        .orders
        .get(i)
        .cloned()
        .filter(|o| o.state == OrderState::Open)
    else {
        return;
    };
    let qty = qty.min(o.quantity - o.filled_quantity);
    if qty <= Decimal::ZERO {
        return;
    }
    let price = match (o.order_type.as_str(), o.price) {
        ("Limit", Some(p)) => p,
        _ => match spec(&o.symbol) {
            Some(sp) => book.mark(o.exchange, sp),
            None => return,
        },
    };
    let leg = leg_of(&o);
    let before = book.position_at(o.exchange, o.testnet, &o.symbol, leg);
    let buy = o.side == "Buy";
    let delta = match leg {
        Leg::Net => {
            let signed = if buy { qty } else { -qty };
            if o.reduce_only {
                reduce_net(before, signed)
            } else {
                signed
            }
        }
        Leg::Long | Leg::Short => {
            if o.reduce_only {
                -qty.min(before)
            } else {
                qty
            }
        }
    };
    book.add_position_at(o.exchange, o.testnet, &o.symbol, leg, delta);
    let after = book.position_at(o.exchange, o.testnet, &o.symbol, leg);
    // A reduce-only order executes no more than its position (see `accept`): the rest is
    // cancelled, and what it filled is what it moved.
    let trimmed = o.reduce_only && delta.abs() < qty;
    let qty = if o.reduce_only {
        delta.abs().min(qty)
    } else {
        qty
    };
    if o.exchange == Exchange::Mexc {
        // MEXC keeps an open position (its id) while its size is not zero; one opened by a
        // fill made here (later, or by hand) takes isolated margin and the default leverage.
        let key = (o.symbol.clone(), leg);
        if after.is_zero() {
            book.mexc_positions.remove(&key);
        } else if !book.mexc_positions.contains_key(&key) {
            book.next_id += 1;
            let id = book.next_id;
            book.mexc_positions.insert(
                key,
                MexcPosition {
                    id,
                    open_type: 1,
                    leverage: 20,
                },
            );
        }
    }
    let filled = o.filled_quantity + qty;
    let avg = match o.average_price {
        Some(a) if !o.filled_quantity.is_zero() => (a * o.filled_quantity + price * qty) / filled,
        _ => price,
    };
    if let Some(order) = book.orders.get_mut(i) {
        order.filled_quantity = filled;
        order.average_price = Some(avg.round_dp(8).normalize());
        if filled >= order.quantity {
            order.state = OrderState::Filled;
        } else if trimmed {
            order.state = OrderState::Cancelled;
        }
    }
    st.seen
        .insert((o.exchange, o.exchange_order_id.clone()), filled);
    record(st, &o, qty, price, before, after, at_ms);
}

/// The pending fills due now (by time, or at the `lookup` of one client order id).
fn settle_due(shared: &Shared, lookup: Option<(Exchange, &str)>) {
    let now = shared.now_ms();
    let mut book = shared.book();
    let mut st = shared.account();
    let pending = std::mem::take(&mut st.pending);
    let mut keep = Vec::new();
    for mut p in pending {
        let looked = lookup.is_some_and(|(e, id)| e == p.exchange && id == p.client_order_id);
        if looked {
            p.lookups += 1;
        }
        let Some(i) = book
            .orders
            .iter()
            .position(|o| o.exchange == p.exchange && o.exchange_order_id == p.exchange_order_id)
        else {
            continue;
        };
        let whole = p.after_lookups.is_some_and(|n| p.lookups >= n)
            || p.due_at_ms.is_some_and(|t| now >= t);
        let part = !p.partial_done
            && p.partial_first.is_some()
            && p.after_lookups
                .is_some_and(|n| p.lookups + 1 >= n && p.lookups >= 1);
        let quantity = book.orders[i].quantity;
        if whole {
            fill_order(&mut book, &mut st, i, quantity, now);
            continue;
        }
        if part {
            if let Some(f) = p.partial_first {
                let step = if p.exchange == Exchange::Mexc {
                    Decimal::ONE
                } else {
                    spec(&book.orders[i].symbol)
                        .map(|sp| lit(sp.qty_step))
                        .unwrap_or(Decimal::ONE)
                };
                let wanted = quantity * f;
                let qty = wanted - wanted % step;
                fill_order(&mut book, &mut st, i, qty, now);
            }
            p.partial_done = true;
        }
        keep.push(p);
    }
    st.pending.extend(keep);
}

/// What [`before`] saw of a call, for [`after`].
pub(super) struct Seen {
    /// The account route's own answer, when the call was one.
    pub(super) reply: Option<Reply>,
    orders_before: usize,
    positions_before: BTreeMap<(Exchange, bool, String, Leg), Decimal>,
    exchange: Option<Exchange>,
}

/// The client order id a call looks up, if it is an order lookup.
fn looked_up(exchange: Exchange, call: &Call) -> Option<String> {
    if call.method != Method::GET {
        return None;
    }
    let q = query_params(&call.query);
    match exchange {
        Exchange::Bybit
            if call.path == "/v5/order/realtime" || call.path == "/v5/order/history" =>
        {
            param(&q, "orderLinkId").map(str::to_owned)
        }
        Exchange::Binance if call.path == "/fapi/v1/order" => {
            param(&q, "origClientOrderId").map(str::to_owned)
        }
        Exchange::Mexc if call.path.starts_with("/api/v1/private/order/external/") => {
            call.path.rsplit('/').next().map(percent_decode)
        }
        _ => None,
    }
}

/// Runs before the exchange's own routes: settles fills that are due, counts lookups, serves
/// the account routes and the `fill_later` control.
pub(super) fn before(shared: &Shared, prefix: &str, call: &Call) -> Seen {
    let exchange = prefix
        .parse::<Exchange>()
        .ok()
        .filter(|e| *e != Exchange::Paper);
    let lookup = exchange.and_then(|e| looked_up(e, call).map(|id| (e, id)));
    settle_due(shared, lookup.as_ref().map(|(e, id)| (*e, id.as_str())));
    let reply = match (prefix, exchange) {
        ("__mock", _) => control(shared, call),
        (_, Some(Exchange::Bybit)) => bybit(shared, call),
        (_, Some(Exchange::Binance)) => binance(shared, call),
        (_, Some(Exchange::Mexc)) => mexc(shared, call),
        _ => None,
    };
    let book = shared.book();
    Seen {
        reply,
        orders_before: book.orders.len(),
        positions_before: book.positions.clone(),
        exchange,
    }
}

/// Runs after the exchange's routes: records the fills a submit made, and rests the orders the
/// `fill_later` switch holds back (undoing their fills, and saying so in Binance's answer).
pub(super) fn after(shared: &Shared, prefix: &str, seen: Seen, reply: Reply) -> Reply {
    if prefix == "__mock" {
        return reply;
    }
    let Some(exchange) = seen.exchange else {
        return reply;
    };
    let now = shared.now_ms();
    let mut book = shared.book();
    let mut st = shared.account();
    let new: Vec<usize> = (seen.orders_before..book.orders.len()).collect();
    if new.is_empty() {
        return reply;
    }
    let mut rested = false;
    for i in new {
        let o = book.orders[i].clone();
        if o.exchange != exchange {
            continue;
        }
        let hold = st.later.get(&exchange).cloned().filter(|f| f.count > 0);
        if let Some(mut f) = hold {
            // Undo what the acceptance filled: the order rests until its fill is due.
            book.positions = seen.positions_before.clone();
            if let Some(order) = book.orders.get_mut(i) {
                order.state = OrderState::Open;
                order.filled_quantity = Decimal::ZERO;
                order.average_price = None;
            }
            st.pending.push(Pending {
                exchange,
                client_order_id: o.client_order_id.clone(),
                exchange_order_id: o.exchange_order_id.clone(),
                lookups: 0,
                after_lookups: f.after_lookups,
                due_at_ms: f
                    .after_ms
                    .map(|ms| o.accepted_at_ms + i64::try_from(ms).unwrap_or(i64::MAX / 2)),
                partial_first: f.partial_first,
                partial_done: false,
            });
            f.count -= 1;
            st.later.insert(exchange, f);
            rested = true;
            continue;
        }
        if o.filled_quantity > Decimal::ZERO {
            let leg = leg_of(&o);
            let key = (o.exchange, o.testnet, o.symbol.clone(), leg);
            let before = seen.positions_before.get(&key).copied().unwrap_or_default();
            let after = book.position_at(o.exchange, o.testnet, &o.symbol, leg);
            let price = o.average_price.unwrap_or_default();
            st.seen
                .insert((o.exchange, o.exchange_order_id.clone()), o.filled_quantity);
            record(&mut st, &o, o.filled_quantity, price, before, after, now);
        }
    }
    if rested && exchange == Exchange::Binance {
        // Binance's RESULT answer carries the order's state: the resting one.
        if let Reply::Now(mut a) = reply {
            if let Ok(mut v) = serde_json::from_str::<Value>(&a.body) {
                if v.get("orderId").is_some() {
                    v["status"] = json!("NEW");
                    v["executedQty"] = json!("0");
                    v["cumQty"] = json!("0");
                    v["cumQuote"] = json!("0");
                    v["avgPrice"] = json!("0.00000");
                    a.body = v.to_string();
                }
            }
            return Reply::Now(a);
        }
    }
    reply
}

fn control(shared: &Shared, call: &Call) -> Option<Reply> {
    match (&call.method, call.path.as_str()) {
        (&Method::POST, "/fill_later") => {
            let parsed = serde_json::from_str::<Value>(&call.body)
                .map_err(|e| MockError::BadFault(format!("body is not JSON: {e}")))
                .and_then(|v| FillLater::from_json(&v));
            Some(Reply::Now(match parsed {
                Ok(f) => {
                    let answer = json!({"exchange": f.exchange.as_str(), "count": f.count});
                    shared.account().later.insert(f.exchange, f);
                    json_reply(StatusCode::OK, &json!({ "fill_later": answer }))
                }
                Err(e) => json_reply(StatusCode::BAD_REQUEST, &json!({ "error": e.to_string() })),
            }))
        }
        (&Method::GET, "/fills") => {
            let fills: Vec<Value> = shared
                .account()
                .fills
                .iter()
                .map(|f| {
                    json!({"exchange": f.exchange.as_str(), "testnet": f.testnet,
                           "client_order_id": f.client_order_id,
                           "quantity": f.quantity.normalize().to_string(),
                           "price": f.price.normalize().to_string(),
                           "fee": f.fee.normalize().to_string()})
                })
                .collect();
            Some(Reply::Now(json_reply(
                StatusCode::OK,
                &json!({ "fills": fills }),
            )))
        }
        (&Method::POST, "/reset") => {
            // The exchanges' own reset runs too.
            shared.account().reset();
            None
        }
        _ => None,
    }
}

/// One open leg as the account routes report it: size (order units, signed on a net leg), entry,
/// mark, unrealised PnL (USDT).
struct Open {
    symbol: String,
    leg: Leg,
    size: Decimal,
    entry: Decimal,
    mark: Decimal,
    upnl: Decimal,
}

fn open_legs(shared: &Shared, exchange: Exchange, testnet: bool) -> Vec<Open> {
    let book = shared.book();
    let st = shared.account();
    book.positions
        .iter()
        .filter(|((e, t, _, _), size)| *e == exchange && *t == testnet && !size.is_zero())
        .filter_map(|((e, _, symbol, leg), size)| {
            let sp = spec(symbol)?;
            let mark = book.mark(*e, sp);
            let (entry, upnl) = leg_value(&st, *e, testnet, symbol, *leg, *size, mark);
            Some(Open {
                symbol: symbol.clone(),
                leg: *leg,
                size: *size,
                entry,
                mark,
                upnl,
            })
        })
        .collect()
}

/// The entry price and unrealised PnL (USDT, at `mark`) of a leg of `size` (order units).
fn leg_value(
    st: &State,
    exchange: Exchange,
    testnet: bool,
    symbol: &str,
    leg: Leg,
    size: Decimal,
    mark: Decimal,
) -> (Decimal, Decimal) {
    let base = contract(exchange, symbol);
    let cost = st
        .cost
        .get(&(exchange, testnet, symbol.to_owned(), leg))
        .copied()
        .unwrap_or_default();
    let held = size.abs() * base;
    let entry = if held.is_zero() { mark } else { cost / held };
    let direction = match leg {
        Leg::Short => Decimal::NEGATIVE_ONE,
        Leg::Net if size.is_sign_negative() => Decimal::NEGATIVE_ONE,
        _ => Decimal::ONE,
    };
    (
        entry.round_dp(8).normalize(),
        ((mark - entry) * held * direction).round_dp(8).normalize(),
    )
}

/// For the exchanges' own position routes, which hold `book`: the entry and unrealised PnL of
/// a leg (zero for an empty one).
pub(super) fn entry_and_upnl(
    shared: &Shared,
    book: &Book,
    exchange: Exchange,
    testnet: bool,
    symbol: &str,
    leg: Leg,
    size: Decimal,
) -> (Decimal, Decimal) {
    let Some(sp) = spec(symbol) else {
        return (Decimal::ZERO, Decimal::ZERO);
    };
    if size.is_zero() {
        return (Decimal::ZERO, Decimal::ZERO);
    }
    let mark = book.mark(exchange, sp);
    leg_value(
        &shared.account(),
        exchange,
        testnet,
        symbol,
        leg,
        size,
        mark,
    )
}

fn unrealised(legs: &[Open]) -> Decimal {
    legs.iter().map(|l| l.upnl).sum()
}

// ---- Bybit ----

fn bybit_ret(shared: &Shared, code: i64, msg: &str, result: Value) -> Reply {
    Reply::Now(json_reply(
        StatusCode::OK,
        &json!({"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {}, "time": shared.now_ms()}),
    ))
}

/// Bybit's signed GET: key, window, signature over `timestamp + key + recv_window + query`.
fn bybit_auth(shared: &Shared, call: &Call) -> Result<(), Reply> {
    let (Some(key), Some(ts), Some(sign)) = (
        call.header("x-bapi-api-key"),
        call.header("x-bapi-timestamp"),
        call.header("x-bapi-sign"),
    ) else {
        return Err(Reply::Now(text(
            StatusCode::UNAUTHORIZED,
            "401 Unauthorized",
        )));
    };
    let recv = call.header("x-bapi-recv-window").unwrap_or("5000");
    // The network's own pair: a mainnet key is unknown on the testnet, and the other way round.
    let Some(creds) = shared
        .credentials
        .for_network(Exchange::Bybit, call.testnet)
        .filter(|c| c.api_key == key)
    else {
        return Err(bybit_ret(shared, 10003, "API key is invalid.", json!({})));
    };
    let now = shared.now_ms();
    let window: i64 = recv.parse().unwrap_or(5000);
    match ts.parse::<i64>() {
        Ok(t) if now - window <= t && t < now + 1000 => {}
        _ => {
            return Err(bybit_ret(
                shared,
                10002,
                "invalid request, please check your server timestamp or recv_window param",
                json!({}),
            ))
        }
    }
    let origin = format!("{ts}{key}{recv}{}", call.query);
    if hmac_hex(&creds.api_secret, &origin) != sign {
        return Err(bybit_ret(
            shared,
            10004,
            &format!("error sign! origin_string[{origin}]"),
            json!({}),
        ));
    }
    Ok(())
}

fn bybit(shared: &Shared, call: &Call) -> Option<Reply> {
    if call.method != Method::GET {
        return None;
    }
    let path = call.path.as_str();
    if !matches!(path, "/v5/account/wallet-balance" | "/v5/execution/list") {
        return None;
    }
    if let Err(r) = bybit_auth(shared, call) {
        return Some(r);
    }
    let q = query_params(&call.query);
    let params_error =
        |what: &str| bybit_ret(shared, 10001, &format!("params error: {what}"), json!({}));
    Some(match path {
        "/v5/account/wallet-balance" => {
            if param(&q, "accountType").is_none() {
                return Some(params_error("accountType"));
            }
            let legs = open_legs(shared, Exchange::Bybit, call.testnet);
            let upnl = unrealised(&legs);
            let balance = wallet(&shared.account(), Exchange::Bybit, call.testnet);
            let equity = (balance + upnl).normalize().to_string();
            bybit_ret(
                shared,
                0,
                "OK",
                json!({"list": [{
                    "accountType": "UNIFIED", "totalEquity": equity, "totalWalletBalance": balance.normalize().to_string(),
                    "totalPerpUPL": upnl.normalize().to_string(),
                    "coin": [{"coin": "USDT", "walletBalance": balance.normalize().to_string(),
                              "unrealisedPnl": upnl.normalize().to_string(), "equity": equity,
                              "usdValue": equity, "cumRealisedPnl": "0"}],
                }]}),
            )
        }
        _ => {
            if param(&q, "category") != Some("linear") {
                return Some(params_error("category"));
            }
            let link = param(&q, "orderLinkId");
            let id = param(&q, "orderId");
            let list: Vec<Value> = shared
                .account()
                .fills
                .iter()
                .rev()
                .filter(|f| f.exchange == Exchange::Bybit && f.testnet == call.testnet)
                .filter(|f| link.is_none_or(|l| f.client_order_id == l))
                .filter(|f| id.is_none_or(|i| f.exchange_order_id == i))
                .map(|f| {
                    json!({
                        "symbol": f.symbol, "orderId": f.exchange_order_id, "orderLinkId": f.client_order_id,
                        "side": if f.buy { "Buy" } else { "Sell" }, "execId": format!("e{}", f.id),
                        "execPrice": f.price.normalize().to_string(), "execQty": f.quantity.normalize().to_string(),
                        "execValue": (f.price * f.quantity).normalize().to_string(),
                        "execFee": f.fee.normalize().to_string(), "feeRate": "0.00055", "feeCurrency": "",
                        "execType": "Trade", "isMaker": false, "execTime": f.at_ms.to_string(),
                    })
                })
                .collect();
            bybit_ret(
                shared,
                0,
                "OK",
                json!({"category": "linear", "list": list, "nextPageCursor": ""}),
            )
        }
    })
}

// ---- Binance ----

fn binance_err(status: StatusCode, code: i64, msg: &str) -> Reply {
    Reply::Now(json_reply(status, &json!({"code": code, "msg": msg})))
}

/// Binance's signed GET: key, `signature` last over the rest of the query, `timestamp` within
/// the window.
fn binance_auth(shared: &Shared, call: &Call) -> Result<Vec<(String, String)>, Reply> {
    let Some(key) = call.header("x-mbx-apikey").filter(|k| !k.is_empty()) else {
        return Err(binance_err(
            StatusCode::UNAUTHORIZED,
            -2014,
            "API-key format invalid.",
        ));
    };
    let Some(creds) = shared
        .credentials
        .for_network(Exchange::Binance, call.testnet)
        .filter(|c| c.api_key == key)
    else {
        return Err(binance_err(
            StatusCode::UNAUTHORIZED,
            -2015,
            "Invalid API-key, IP, or permissions for action.",
        ));
    };
    let Some(idx) = call.query.rfind("signature=") else {
        return Err(binance_err(
            StatusCode::BAD_REQUEST,
            -1102,
            "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
        ));
    };
    let total = call.query[..idx].trim_end_matches('&');
    let signature = &call.query[idx + "signature=".len()..];
    let params = query_params(total);
    let now = shared.now_ms();
    match param(&params, "timestamp").and_then(|t| t.parse::<i64>().ok()) {
        Some(t) if t < now + 1000 && now - t <= 5000 => {}
        _ => {
            return Err(binance_err(
                StatusCode::BAD_REQUEST,
                -1021,
                "Timestamp for this request is outside of the recvWindow.",
            ))
        }
    }
    if !hmac_hex(&creds.api_secret, total).eq_ignore_ascii_case(signature) {
        return Err(binance_err(
            StatusCode::BAD_REQUEST,
            -1022,
            "Signature for this request is not valid.",
        ));
    }
    Ok(params)
}

fn binance(shared: &Shared, call: &Call) -> Option<Reply> {
    if call.method != Method::GET {
        return None;
    }
    let path = call.path.as_str();
    if !matches!(
        path,
        "/fapi/v3/positionRisk" | "/fapi/v3/account" | "/fapi/v1/userTrades"
    ) {
        return None;
    }
    let params = match binance_auth(shared, call) {
        Ok(p) => p,
        Err(r) => return Some(r),
    };
    let eight = |d: Decimal| format!("{:.8}", d);
    Some(match path {
        "/fapi/v3/positionRisk" => {
            let rows: Vec<Value> = open_legs(shared, Exchange::Binance, call.testnet)
                .into_iter()
                .map(|l| {
                    // Hedge mode reports each side apart, a short's amount negative.
                    let (side, amount) = match l.leg {
                        Leg::Net => ("BOTH", l.size),
                        Leg::Long => ("LONG", l.size),
                        Leg::Short => ("SHORT", -l.size),
                    };
                    json!({
                        "symbol": l.symbol, "positionSide": side,
                        "positionAmt": amount.normalize().to_string(),
                        "entryPrice": l.entry.to_string(), "breakEvenPrice": l.entry.to_string(),
                        "markPrice": eight(l.mark), "unRealizedProfit": eight(l.upnl),
                        "liquidationPrice": "0", "isolatedMargin": "0",
                        "notional": eight(amount * l.mark), "marginAsset": "USDT",
                        "isolatedWallet": "0", "initialMargin": "0", "maintMargin": "0",
                        "positionInitialMargin": "0", "openOrderInitialMargin": "0", "adl": 1,
                        "bidNotional": "0", "askNotional": "0", "updateTime": shared.now_ms(),
                    })
                })
                .collect();
            Reply::Now(json_reply(StatusCode::OK, &Value::Array(rows)))
        }
        "/fapi/v3/account" => {
            let legs = open_legs(shared, Exchange::Binance, call.testnet);
            let upnl = unrealised(&legs);
            let balance = wallet(&shared.account(), Exchange::Binance, call.testnet);
            Reply::Now(json_reply(
                StatusCode::OK,
                &json!({
                    "totalWalletBalance": eight(balance), "totalUnrealizedProfit": eight(upnl),
                    "totalMarginBalance": eight(balance + upnl),
                    "assets": [{"asset": "USDT", "walletBalance": eight(balance),
                                "unrealizedProfit": eight(upnl), "marginBalance": eight(balance + upnl),
                                "availableBalance": eight(balance), "updateTime": shared.now_ms()}],
                    "positions": [],
                }),
            ))
        }
        _ => {
            let Some(symbol) = param(&params, "symbol").map(str::to_owned) else {
                return Some(binance_err(
                    StatusCode::BAD_REQUEST,
                    -1102,
                    "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
                ));
            };
            let order = param(&params, "orderId").map(str::to_owned);
            let rows: Vec<Value> = shared
                .account()
                .fills
                .iter()
                .filter(|f| {
                    f.exchange == Exchange::Binance && f.testnet == call.testnet && f.symbol == symbol
                })
                .filter(|f| order.as_deref().is_none_or(|o| f.exchange_order_id == o))
                .map(|f| {
                    json!({
                        "buyer": f.buy, "commission": eight(f.fee), "commissionAsset": "USDT",
                        "id": f.id, "maker": false,
                        "orderId": f.exchange_order_id.parse::<u64>().unwrap_or(0),
                        "price": f.price.normalize().to_string(), "qty": f.quantity.normalize().to_string(),
                        "quoteQty": (f.price * f.quantity).normalize().to_string(), "realizedPnl": "0",
                        "side": if f.buy { "BUY" } else { "SELL" },
                        "symbol": f.symbol, "time": f.at_ms,
                    })
                })
                .collect();
            Reply::Now(json_reply(StatusCode::OK, &Value::Array(rows)))
        }
    })
}

// ---- MEXC ----

fn mexc_fail(code: i64, message: &str) -> Reply {
    Reply::Now(json_reply(
        StatusCode::OK,
        &json!({"success": false, "code": code, "message": message}),
    ))
}

/// MEXC's signed GET: `ApiKey`, `Request-Time` within the window, `Signature` over
/// `key + time + sorted query`.
fn mexc_auth(shared: &Shared, call: &Call) -> Result<(), Reply> {
    let (Some(key), Some(time), Some(signature)) = (
        call.header("apikey"),
        call.header("request-time"),
        call.header("signature"),
    ) else {
        return Err(mexc_fail(401, "Unauthorized"));
    };
    if key != shared.credentials.mexc.api_key {
        return Err(mexc_fail(401, "Unauthorized"));
    }
    let window = call
        .header("recv-window")
        .and_then(|w| w.parse::<i64>().ok())
        .unwrap_or(10)
        .clamp(1, 60);
    match time.parse::<i64>() {
        Ok(t) if (shared.now_ms() - t).abs() <= window * 1000 => {}
        _ => {
            return Err(mexc_fail(
                513,
                "Invalid request(for open api serves time more or less than 10s)",
            ))
        }
    }
    let params = super::mexc::sorted_params(&call.query);
    if hmac_hex(
        &shared.credentials.mexc.api_secret,
        &format!("{key}{time}{params}"),
    ) != signature
    {
        return Err(mexc_fail(602, "Verify failed"));
    }
    Ok(())
}

fn mexc(shared: &Shared, call: &Call) -> Option<Reply> {
    if call.method != Method::GET {
        return None;
    }
    let path = call.path.as_str();
    if path != "/api/v1/private/account/assets" {
        return None;
    }
    if let Err(r) = mexc_auth(shared, call) {
        return Some(r);
    }
    let legs = open_legs(shared, Exchange::Mexc, false);
    let upnl = unrealised(&legs);
    let balance = wallet(&shared.account(), Exchange::Mexc, false);
    Some(Reply::Now(json_reply(
        StatusCode::OK,
        &json!({"success": true, "code": 0, "data": [{
            "currency": "USDT", "positionMargin": 0, "availableBalance": json_number(balance),
            "cashBalance": json_number(balance), "frozenBalance": 0,
            "equity": json_number(balance + upnl), "unrealized": json_number(upnl), "bonus": 0,
        }]}),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_later_parses_from_the_control_json() {
        let f = FillLater::from_json(
            &json!({"exchange":"bybit","after_lookups":2,"partial_first":"0.5","count":3}),
        );
        assert_eq!(
            f.ok(),
            Some(FillLater {
                exchange: Exchange::Bybit,
                after_lookups: Some(2),
                after_ms: None,
                partial_first: Some(lit("0.5")),
                count: 3,
            })
        );
        for bad in [
            json!({"exchange":"paper","after_lookups":1}),
            json!({"exchange":"bybit"}),
            json!({"exchange":"bybit","after_lookups":1,"partial_first":"1"}),
        ] {
            assert!(FillLater::from_json(&bad).is_err(), "{bad}");
        }
    }

    fn order(exchange: Exchange, side: &str, reduce_only: bool) -> AcceptedOrder {
        AcceptedOrder {
            exchange,
            client_order_id: "hx1".into(),
            exchange_order_id: "1".into(),
            symbol: "BTCUSDT".into(),
            side: side.into(),
            order_type: "Market".into(),
            quantity: Decimal::ONE,
            base_quantity: Decimal::ONE,
            price: None,
            reduce_only,
            state: OrderState::Filled,
            filled_quantity: Decimal::ONE,
            average_price: None,
            accepted_at_ms: 0,
            testnet: false,
            take_profit: None,
            stop_loss: None,
            tpsl_mode: None,
            tp_trigger_by: None,
            sl_trigger_by: None,
            leg: match (exchange, side, reduce_only) {
                (Exchange::Mexc, "Buy", false) | (Exchange::Mexc, "Sell", true) => Leg::Long,
                (Exchange::Mexc, _, _) => Leg::Short,
                _ => Leg::Net,
            },
        }
    }

    #[test]
    fn fills_move_entries_realise_pnl_and_cost_fees() {
        let mut st = State::default();
        let buy = order(Exchange::Bybit, "Buy", false);
        record(
            &mut st,
            &buy,
            Decimal::ONE,
            lit("100"),
            Decimal::ZERO,
            Decimal::ONE,
            1,
        );
        record(
            &mut st,
            &buy,
            Decimal::ONE,
            lit("200"),
            Decimal::ONE,
            lit("2"),
            2,
        );
        let key = (Exchange::Bybit, false, "BTCUSDT".to_owned(), Leg::Net);
        assert_eq!(st.cost.get(&key), Some(&lit("300")));
        let sell = order(Exchange::Bybit, "Sell", true);
        record(
            &mut st,
            &sell,
            lit("2"),
            lit("180"),
            lit("2"),
            Decimal::ZERO,
            3,
        );
        // (180 − 150) × 2.
        assert_eq!(st.realised.get(&(Exchange::Bybit, false)), Some(&lit("60")));
        assert!(!st.cost.contains_key(&key));
        let fees = st
            .fees
            .get(&(Exchange::Bybit, false))
            .copied()
            .unwrap_or_default();
        assert_eq!(fees, lit("0.055") + lit("0.11") + lit("0.198"));
        assert_eq!(wallet(&st, Exchange::Bybit, false), lit("100060") - fees);
        // A MEXC short leg realises the other way round.
        let mut st = State::default();
        let open = order(Exchange::Mexc, "Sell", false);
        record(
            &mut st,
            &open,
            lit("10"),
            lit("100"),
            Decimal::ZERO,
            lit("10"),
            1,
        );
        let close = order(Exchange::Mexc, "Buy", true);
        record(
            &mut st,
            &close,
            lit("10"),
            lit("90"),
            lit("10"),
            Decimal::ZERO,
            2,
        );
        // 10 contracts × 0.0001 BTC × (100 − 90).
        assert_eq!(
            st.realised.get(&(Exchange::Mexc, false)),
            Some(&lit("0.01"))
        );
    }
}
