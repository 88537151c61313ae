//! The exchanges' own truth, read into the ledger: every exchange's open positions per network
//! (`positions`, reconciled with what hoox's fills imply, see `ops::reconcile`) and one equity
//! snapshot per exchange, network and UTC day (`equity_snapshots`).
//!
//! It runs on the trade-worker's one-minute cron (`consumers/wrangler.jsonc` `triggers`), and
//! after a fan-out batch that carried fills, for the exchanges and networks they were on.
//! Which pairs are read: each real exchange whose credentials are set, on every network the
//! ledger has orders on (mainnet when it has none yet, so positions opened by hand show up
//! before hoox trades); paper has no exchange to read (the read API derives its rows from its
//! fills), only its daily equity is written here. Every step is a read
//! or a D1 write: nothing here can place, change or cancel an order, and a failure only leaves
//! the previous snapshot (whose `updated_at_ms` says how old it is) in place.

use crate::exchange::LiveExchanges;
use contracts::config::RuntimeConfig;
use contracts::event::network_name;
use contracts::signal::Exchange;
use engine::circuit::{Network, DEFAULT_BAN_SECONDS};
use engine::ports::{Exchanges as _, Failure, FailureClass};
use ops::account::{AccountRead, AccountSnapshot};
use ops::pnl::{self, Books, LedgerFill, Side};
use ops::reconcile::{self, EquityRow, Holding, PositionRow, Taken};
use runtime::d1;
use std::collections::BTreeSet;
use worker::Env;

const DB_BINDING: &str = "DB";
/// A refresh after fills skips a pair this isolate read less than this long ago (a burst of
/// fan-out batches reads each exchange once, not once per batch).
const AFTER_FILLS_MIN_INTERVAL_MS: i64 = 5_000;

thread_local! {
    /// When this isolate last read each (exchange, testnet) pair.
    static LAST_READ: std::cell::RefCell<std::collections::HashMap<(Exchange, bool), i64>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// The pairs not read in the last [`AFTER_FILLS_MIN_INTERVAL_MS`] (all of them for the cron),
/// marked as read now.
fn due(pairs: Vec<(Exchange, bool)>, scope: &Scope, now: i64) -> Vec<(Exchange, bool)> {
    LAST_READ.with(|l| {
        let mut l = l.borrow_mut();
        pairs
            .into_iter()
            .filter(|p| {
                let fresh = !matches!(scope, Scope::Pairs(_))
                    || l.get(p)
                        .is_none_or(|at| now.saturating_sub(*at) >= AFTER_FILLS_MIN_INTERVAL_MS);
                if fresh {
                    l.insert(*p, now);
                }
                fresh
            })
            .collect()
    })
}
/// How long one refresh may take before its exchange calls are abandoned.
const REFRESH_DEADLINE_MS: i64 = 20_000;

/// Which exchanges and networks to refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every exchange with credentials (the cron), and today's equity snapshots if missing.
    All,
    /// These pairs (after fills), positions only.
    Pairs(Vec<(Exchange, bool)>),
    /// What [`All`](Self::All) reads, plus every pair's balance (the agent-worker's read).
    Read,
}

/// The real exchanges and networks to read, from the ledger's orders and the scope.
fn pairs_to_read(fills: &[LedgerFill], scope: &Scope) -> Vec<(Exchange, bool)> {
    let mut seen: BTreeSet<(Exchange, bool)> = BTreeSet::new();
    for f in fills {
        let (Some(e), Some(n)) = (f.exchange.as_deref(), f.network.as_deref()) else {
            continue;
        };
        if let Ok(e) = e.parse::<Exchange>() {
            seen.insert((e, n == "testnet"));
        }
    }
    let mut out: BTreeSet<(Exchange, bool)> = BTreeSet::new();
    match scope {
        Scope::All | Scope::Read => {
            for e in [Exchange::Bybit, Exchange::Binance, Exchange::Mexc] {
                let mut nets: Vec<bool> = seen
                    .iter()
                    .filter(|(x, t)| *x == e && !(e == Exchange::Mexc && *t))
                    .map(|(_, t)| *t)
                    .collect();
                if nets.is_empty() {
                    nets.push(false);
                }
                out.extend(nets.into_iter().map(|t| (e, t)));
            }
        }
        Scope::Pairs(pairs) => out.extend(pairs.iter().copied()),
    }
    // MEXC has no testnet.
    out.into_iter()
        .filter(|&(e, t)| e != Exchange::Paper && !(e == Exchange::Mexc && t))
        .collect()
}

fn holding_of(p: &exchanges::account::ExchangePosition) -> Holding {
    Holding {
        symbol: p.symbol.canonical(),
        side: match p.side {
            exchanges::account::PositionSide::Long => Side::Long,
            exchanges::account::PositionSide::Short => Side::Short,
        },
        size: p.size,
        entry_price: p.entry_price,
        mark_price: p.mark_price,
        unrealised_pnl: p.unrealised_pnl,
        leverage: p.leverage,
        margin_mode: p.margin_mode.map(|m| m.as_str().to_owned()),
        hedge_leg: p.hedge_leg,
    }
}

/// What one pair's read gave.
struct Read {
    exchange: Exchange,
    testnet: bool,
    rows: Result<Vec<PositionRow>, String>,
    /// The balance, when read (today's first read or [`Scope::Read`]).
    balance: Option<Result<EquityRow, Failure>>,
    /// Whether `balance` is today's first reading, to be stored as the day's snapshot.
    snapshot: bool,
}

/// Why a refresh read nothing.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("D1 binding missing: {0}")]
    Binding(String),
    #[error("the ledger is unreadable: {0}")]
    Ledger(String),
    #[error("hoox's books cannot be folded: {0}")]
    Books(String),
}

/// Refreshes `scope`: reads the exchanges, reconciles, writes D1, and answers what it read.
/// What it cannot read is logged and answered as such (its rows keep their previous snapshot);
/// it fails only when it could read nothing at all.
pub async fn refresh(
    env: &Env,
    cfg: &RuntimeConfig,
    scope: Scope,
) -> Result<AccountSnapshot, RefreshError> {
    let db = env
        .d1(DB_BINDING)
        .map_err(|e| RefreshError::Binding(e.to_string()))?;
    // Taken before the ledger read: a snapshot is as new as the books it is reconciled with.
    let read_at = runtime::now_ms();
    let fills: Vec<LedgerFill> = d1::all(&db, &pnl::fills_query())
        .await
        .map_err(|e| RefreshError::Ledger(e.to_string()))?;
    let books = pnl::fold(&fills).map_err(|e| RefreshError::Books(e.to_string()))?;
    let now = runtime::now_ms();
    let day = reconcile::day_of(now);
    let pairs = due(pairs_to_read(&fills, &scope), &scope, now);
    let with_equity = !matches!(scope, Scope::Pairs(_));
    let always_balance = scope == Scope::Read;
    let mut answer = AccountSnapshot {
        read_at_ms: read_at,
        reads: Vec::new(),
        open: books.open.clone(),
    };
    if pairs.is_empty() && !with_equity {
        return Ok(answer);
    }
    let taken: BTreeSet<(String, String)> = if with_equity {
        match d1::all::<Taken>(&db, &reconcile::equity_taken_query(&day)).await {
            Ok(rows) => rows.into_iter().map(|t| (t.exchange, t.network)).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "equity snapshots unreadable: none taken this run");
                // Read as "all taken": no snapshot is written without knowing it is the first.
                pairs
                    .iter()
                    .map(|(e, t)| (e.as_str().to_owned(), network_name(*t).to_owned()))
                    .collect()
            }
        }
    } else {
        BTreeSet::new()
    };
    let routes: Vec<(Exchange, Network)> =
        pairs.iter().map(|&(e, t)| (e, Network::of(t))).collect();
    let exchanges = LiveExchanges::open(env, cfg, &[], &routes).await;
    let deadline = now.saturating_add(REFRESH_DEADLINE_MS);
    let reads = pairs.iter().filter_map(|&(exchange, testnet)| {
        if !exchanges.has_credentials(exchange, testnet) {
            return None;
        }
        // An IP ban is waited out, not lengthened by a read every minute.
        if let Some(wait) = exchanges
            .circuit()
            .and_then(|c| c.borrow().open_for(exchange, Network::of(testnet), now))
        {
            tracing::info!(exchange = %exchange, testnet, wait_seconds = wait, "circuit open: positions not read");
            return None;
        }
        let port = exchanges.live(exchange)?;
        let books = &books;
        let exchanges = &exchanges;
        let network = network_name(testnet);
        let snapshot = with_equity && !taken.contains(&(exchange.as_str().to_owned(), network.to_owned()));
        Some(async move {
            let positions = port.positions(testnet, deadline).await;
            let rows = match positions {
                Ok(p) => {
                    if !p.unrecognised.is_empty() {
                        tracing::warn!(exchange = %exchange, network, symbols = ?p.unrecognised, "positions hoox cannot name: not reconciled");
                    }
                    let mut holdings: Vec<Holding> = p.positions.iter().map(holding_of).collect();
                    // The agent judges marks: where the venue's position list carries none
                    // (MEXC's), its own reference price (MEXC's fair price) stands in.
                    if always_balance {
                        for (h, x) in holdings.iter_mut().zip(&p.positions) {
                            if h.mark_price.is_none() {
                                match port.reference_now(&x.symbol, testnet, deadline).await {
                                    Ok(r) => h.mark_price = Some(r.price),
                                    Err(f) => tracing::warn!(exchange = %exchange, symbol = %x.symbol, error = %f.message, "no mark price for a position"),
                                }
                            }
                        }
                    }
                    reconcile::reconcile(
                        exchange.as_str(),
                        network,
                        &holdings,
                        books,
                        port.nets_sides(),
                        p.complete,
                        runtime::now_ms(),
                    )
                    .map_err(|e| e.to_string())
                }
                Err(f) => {
                    if let FailureClass::Banned {
                        retry_after_seconds,
                    } = f.class
                    {
                        if let Some(c) = exchanges.circuit() {
                            c.borrow_mut().open(
                                exchange,
                                Network::of(testnet),
                                runtime::now_ms(),
                                retry_after_seconds.unwrap_or(DEFAULT_BAN_SECONDS),
                            );
                        }
                    }
                    Err(f.message)
                }
            };
            let balance = if snapshot || always_balance {
                Some(port.balance(testnet, deadline).await.map(|b| EquityRow {
                    exchange: exchange.as_str().to_owned(),
                    network: network.to_owned(),
                    day: reconcile::day_of(runtime::now_ms()),
                    asset: b.asset,
                    wallet_balance: b.wallet_balance.normalize().to_string(),
                    unrealised_pnl: b.unrealised_pnl.map(|u| u.normalize().to_string()),
                    equity: b.equity.normalize().to_string(),
                    source: "exchange".into(),
                    at_ms: runtime::now_ms(),
                }))
            } else {
                None
            };
            Read {
                exchange,
                testnet,
                rows,
                balance,
                snapshot,
            }
        })
    });
    let reads: Vec<Read> = futures::future::join_all(reads).await;
    tracing::info!(
        scope = ?scope,
        pairs = ?pairs,
        read = reads.len(),
        "positions read"
    );
    let mut writes = Vec::new();
    let mut refreshed = 0usize;
    let mut flagged = 0usize;
    for r in &reads {
        let network = network_name(r.testnet);
        answer.reads.push(AccountRead {
            exchange: r.exchange.as_str().to_owned(),
            network: network.to_owned(),
            positions: r.rows.as_ref().ok().cloned(),
            positions_error: r.rows.as_ref().err().cloned(),
            equity: r
                .balance
                .as_ref()
                .and_then(|b| b.as_ref().ok())
                .map(|b| b.equity.clone()),
            equity_error: r
                .balance
                .as_ref()
                .and_then(|b| b.as_ref().err())
                .map(|f| f.message.clone()),
        });
        match &r.rows {
            Ok(rows) => {
                refreshed += 1;
                flagged += rows.iter().filter(|p| p.flagged()).count();
                writes.extend(reconcile::replace_rows(
                    r.exchange.as_str(),
                    &[network],
                    rows,
                    read_at,
                ));
            }
            Err(e) => {
                tracing::warn!(exchange = %r.exchange, network, error = %e, "positions not read; the previous snapshot stands")
            }
        }
        match &r.balance {
            Some(Ok(row)) if r.snapshot => writes.push(reconcile::equity_insert(row)),
            Some(Ok(_)) => {}
            Some(Err(f)) => {
                tracing::warn!(exchange = %r.exchange, network, error = %f.message, "balance not read; no equity snapshot yet today")
            }
            None => {}
        }
    }
    writes.extend(paper_writes(&books, &fills, &taken, with_equity, &day, now));
    if !writes.is_empty() {
        if let Err(e) = d1::batch(&db, &writes).await {
            tracing::error!(error = %e, "positions not written to D1");
        } else {
            tracing::info!(pairs = refreshed, flagged, "positions refreshed");
        }
    }
    exchanges.close(|_| None).await;
    Ok(answer)
}

/// `POST /account/read` (its route checks the internal key): a fresh read of every exchange's
/// positions and equity ([`Scope::Read`]), for the agent-worker. It refreshes the ledger too.
pub async fn read(
    env: &Env,
    cfg: &RuntimeConfig,
    request_id: &str,
) -> worker::Result<worker::Response> {
    match refresh(env, cfg, Scope::Read).await {
        Ok(snapshot) => runtime::http::json(200, &snapshot),
        Err(e) => {
            tracing::error!(request_id, error = %e, "account read failed");
            runtime::http::HttpError::unavailable(e.to_string()).respond(request_id)
        }
    }
}

/// Paper's equity, once a day: the realised net PnL of its simulated fills. (Its positions are
/// not stored: the read API derives them from its fills on every read, so they are never stale.)
fn paper_writes(
    books: &Books,
    fills: &[LedgerFill],
    taken: &BTreeSet<(String, String)>,
    with_equity: bool,
    day: &str,
    now: i64,
) -> Vec<ops::query::Query> {
    let networks: BTreeSet<String> = fills
        .iter()
        .filter(|f| f.exchange.as_deref() == Some("paper"))
        .filter_map(|f| f.network.clone())
        .collect();
    let mut out = Vec::new();
    if with_equity {
        let realised = books.realised().unwrap_or_default();
        for n in &networks {
            if taken.contains(&("paper".to_owned(), n.clone())) {
                continue;
            }
            let total = realised
                .iter()
                .find(|t| t.exchange == "paper" && &t.network == n)
                .map(|t| t.net_pnl)
                .unwrap_or_default()
                .normalize()
                .to_string();
            out.push(reconcile::equity_insert(&EquityRow {
                exchange: "paper".into(),
                network: n.clone(),
                day: day.to_owned(),
                asset: pnl::QUOTE.into(),
                wallet_balance: total.clone(),
                unrealised_pnl: None,
                equity: total,
                source: "paper".into(),
                at_ms: now,
            }));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(exchange: &str, network: &str) -> LedgerFill {
        LedgerFill {
            client_order_id: "hx".into(),
            exchange: Some(exchange.into()),
            network: Some(network.into()),
            symbol: "BTCUSDT".into(),
            action: Some("LONG".into()),
            filled_quantity: "1".into(),
            average_price: None,
            fee: None,
            fee_asset: None,
            created_at_ms: 1,
        }
    }

    #[test]
    fn the_cron_reads_each_exchange_on_the_networks_it_has_orders_on() {
        let fills = [
            fill("bybit", "testnet"),
            fill("paper", "mainnet"),
            fill("mexc", "testnet"),
        ];
        assert_eq!(
            pairs_to_read(&fills, &Scope::All),
            [
                (Exchange::Bybit, true),
                (Exchange::Binance, false),
                (Exchange::Mexc, false)
            ]
        );
        assert_eq!(
            pairs_to_read(
                &[],
                &Scope::Pairs(vec![
                    (Exchange::Paper, false),
                    (Exchange::Mexc, true),
                    (Exchange::Binance, true)
                ])
            ),
            [(Exchange::Binance, true)]
        );
    }
}
