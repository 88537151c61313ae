//! Each rule and protection of `risk::evaluate`, one behaviour per test: when it fires, when it
//! does not, what it closes and what state it leaves.

use contracts::signal::Exchange;
use contracts::symbol::Symbol;
use risk::evaluate::*;
use risk::RuleSet;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::str::FromStr;

const T0: u64 = 1_700_000_000_000;
const MIN: u64 = 60_000;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn rules(entries: &[(&str, &str)]) -> RuleSet {
    let (set, errors) = RuleSet::load(entries.iter().copied());
    assert!(errors.is_empty(), "{errors:?}");
    set
}

fn pos(side: Side, entry: &str, mark: &str) -> Position {
    Position {
        id: PositionId {
            exchange: Exchange::Bybit,
            network: Network::Testnet,
            symbol: Symbol::parse("BTCUSDT").unwrap(),
            side,
            opened_at_ms: T0,
        },
        size: d("1"),
        entry_price: d(entry),
        mark_price: Some(d(mark)),
        lot_step: None,
    }
}

struct World {
    rules: RuleSet,
    positions: Vec<Position>,
    states: BTreeMap<PositionId, PositionState>,
    accounts: Vec<Account>,
    exits: Vec<Exit>,
    paused: Vec<EntriesPaused>,
    now_ms: u64,
}

impl World {
    fn new(rules_: &[(&str, &str)], positions: Vec<Position>) -> Self {
        Self {
            rules: rules(rules_),
            positions,
            states: BTreeMap::new(),
            accounts: Vec::new(),
            exits: Vec::new(),
            paused: Vec::new(),
            now_ms: T0 + MIN,
        }
    }

    fn run(&self) -> Evaluation {
        evaluate(Input {
            rules: &self.rules,
            positions: &self.positions,
            states: &self.states,
            accounts: &self.accounts,
            exits: &self.exits,
            paused: &self.paused,
            now_ms: self.now_ms,
        })
    }

    /// Runs, keeps the new state, returns the evaluation.
    fn step(&mut self) -> Evaluation {
        let e = self.run();
        self.states = e.states.clone();
        e
    }

    fn mark(&mut self, mark: &str) {
        self.positions[0].mark_price = Some(d(mark));
    }
}

fn closes(e: &Evaluation) -> Vec<&Close> {
    e.closes().collect()
}

#[test]
fn stop_loss_fires_at_the_threshold_and_not_before() {
    let mut w = World::new(
        &[("risk:stop_loss_pct", "5")],
        vec![pos(Side::Long, "100", "95.01")],
    );
    assert!(w.run().actions.is_empty());
    w.mark("95");
    let e = w.run();
    let c = closes(&e);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].quantity, Quantity::All);
    assert!(matches!(c[0].reason, CloseReason::StopLoss { .. }));
    assert_eq!(c[0].key, format!("risk:sl:bybit:testnet:BTCUSDT:long:{T0}"));
    w.mark("80");
    assert_eq!(closes(&w.run()).len(), 1);
    // A short loses when the price rises.
    let mut s = World::new(
        &[("risk:stop_loss_pct", "5")],
        vec![pos(Side::Short, "100", "80")],
    );
    assert!(
        s.run().actions.is_empty(),
        "a short in profit is not stopped"
    );
    s.mark("105");
    assert_eq!(closes(&s.run()).len(), 1);
}

#[test]
fn trailing_arms_only_after_activation_and_trails_from_the_watermark() {
    let mut w = World::new(
        &[(
            "risk:trailing",
            r#"{"distance_pct": 2, "activation_pct": 5}"#,
        )],
        vec![pos(Side::Long, "100", "104")],
    );
    let e = w.step();
    assert!(e.actions.is_empty());
    assert_eq!(e.states.values().next().unwrap().watermark, None);
    // Below the entry before activation: no trailing stop yet.
    w.mark("90");
    assert!(w.step().actions.is_empty());
    w.mark("105");
    let e = w.step();
    assert!(e.notes.iter().any(|n| n.kind == NoteKind::TrailArmed));
    assert_eq!(w.states.values().next().unwrap().watermark, Some(d("105")));
    w.mark("110");
    let e = w.step();
    assert!(e.notes.iter().any(|n| n.kind == NoteKind::TrailMoved));
    assert!(e.actions.is_empty());
    // 2 % under the 110 watermark is 107.8.
    w.mark("107.81");
    assert!(w.step().actions.is_empty());
    assert_eq!(w.states.values().next().unwrap().watermark, Some(d("110")));
    w.mark("107.8");
    let e = w.step();
    let c = closes(&e);
    assert_eq!(c.len(), 1);
    match c[0].reason {
        CloseReason::Trailing {
            watermark,
            stop_price,
            ..
        } => {
            assert_eq!(watermark, d("110"));
            assert_eq!(stop_price, d("107.8"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn trailing_without_activation_trails_from_the_entry_for_a_short() {
    let mut w = World::new(
        &[("risk:trailing", r#"{"distance_pct": 1}"#)],
        vec![pos(Side::Short, "100", "100.5")],
    );
    assert!(w.step().actions.is_empty());
    assert_eq!(w.states.values().next().unwrap().watermark, Some(d("100")));
    w.mark("90");
    w.step();
    assert_eq!(w.states.values().next().unwrap().watermark, Some(d("90")));
    w.mark("90.9");
    assert_eq!(closes(&w.step()).len(), 1);
}

const LADDER: &str = r#"{"targets": [{"profit_pct": 2, "share_pct": 50}, {"profit_pct": 4, "share_pct": 30}, {"profit_pct": 6, "share_pct": 20}], "breakeven_after_first": true}"#;

#[test]
fn each_ladder_step_once_then_the_stop_sits_at_breakeven() {
    let mut w = World::new(
        &[("risk:take_profit_ladder", LADDER)],
        vec![pos(Side::Long, "100", "101.99")],
    );
    w.positions[0].size = d("10");
    w.positions[0].lot_step = Some(d("0.1"));
    assert!(w.step().actions.is_empty());
    w.mark("102");
    let e = w.step();
    let c = closes(&e);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].quantity, Quantity::Exact(d("5")));
    assert_eq!(
        c[0].key,
        format!("risk:tp1:bybit:testnet:BTCUSDT:long:{T0}")
    );
    assert!(e.notes.iter().any(|n| n.kind == NoteKind::BreakevenSet));
    let s = w.states.values().next().unwrap().clone();
    assert_eq!((s.ladder_done, s.breakeven), (1, true));
    // The first step filled: 5 left. The same price again takes nothing more.
    w.positions[0].size = d("5");
    assert!(w.step().actions.is_empty());
    // Step 2 is 30 of the 50 % left: 3 of 5.
    w.mark("104");
    let e = w.step();
    let c = closes(&e);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].quantity, Quantity::Exact(d("3")));
    assert_eq!(
        c[0].key,
        format!("risk:tp2:bybit:testnet:BTCUSDT:long:{T0}")
    );
    w.positions[0].size = d("2");
    // Back to the entry: the breakeven stop closes the rest.
    w.mark("100");
    let e = w.step();
    let c = closes(&e);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].quantity, Quantity::All);
    assert!(matches!(c[0].reason, CloseReason::Breakeven { .. }));
}

#[test]
fn a_jump_past_every_target_takes_each_once_and_never_more_than_open() {
    let mut w = World::new(
        &[("risk:take_profit_ladder", LADDER)],
        vec![pos(Side::Long, "100", "150")],
    );
    let e = w.step();
    let c = closes(&e);
    let keys: Vec<&str> = c.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(keys.len(), 3);
    assert!(keys[2].starts_with("risk:tp3:"));
    assert_eq!(c[0].quantity, Quantity::Share(d("50")));
    assert_eq!(c[1].quantity, Quantity::Share(d("30")));
    assert_eq!(
        c[2].quantity,
        Quantity::All,
        "the last target closes what is left"
    );
    assert_eq!(w.states.values().next().unwrap().ladder_done, 3);
    assert!(w.step().closes().next().is_none());
}

#[test]
fn roi_table_by_age() {
    let table =
        r#"[{"after_minutes": 0, "profit_pct": 10}, {"after_minutes": 30, "profit_pct": 3}]"#;
    let mut w = World::new(
        &[("risk:roi_table", table)],
        vec![pos(Side::Long, "100", "104")],
    );
    w.now_ms = T0 + 29 * MIN;
    assert!(w.run().actions.is_empty(), "4 % is below the first 10 %");
    w.now_ms = T0 + 30 * MIN;
    let e = w.run();
    let c = closes(&e);
    assert_eq!(c.len(), 1);
    assert_eq!(
        c[0].key,
        format!("risk:roi30:bybit:testnet:BTCUSDT:long:{T0}")
    );
    w.mark("102.99");
    assert!(w.run().actions.is_empty());
}

fn account(
    network: Network,
    sod: Option<&str>,
    peak: Option<&str>,
    equity: Option<&str>,
) -> Account {
    Account {
        network,
        start_of_day_equity: sod.map(d),
        equity_peak: peak.map(d),
        equity: equity.map(d),
    }
}

#[test]
fn daily_loss_pauses_entries_until_the_next_day_on_its_network_only() {
    let mut w = World::new(&[("risk:max_daily_loss_pct", "3")], vec![]);
    w.accounts = vec![
        account(Network::Testnet, Some("1000"), None, Some("971")),
        account(Network::Mainnet, Some("1000"), None, Some("500")),
    ];
    // Mainnet is far down; testnet only 2.9 %: only mainnet pauses.
    let e = w.run();
    let p: Vec<&Pause> = e.pauses().collect();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].scope.network, Network::Mainnet);
    let day = 86_400_000;
    assert_eq!(p[0].until_ms, Some((w.now_ms / day + 1) * day));
    w.accounts[0].equity = Some(d("970"));
    assert_eq!(w.run().pauses().count(), 2);
    // Already paused that long: not asked again.
    w.paused = p
        .iter()
        .map(|p| EntriesPaused {
            scope: p.scope.clone(),
            until_ms: p.until_ms,
        })
        .collect();
    let e = w.run();
    assert_eq!(
        e.pauses().map(|p| p.scope.network).collect::<Vec<_>>(),
        [Network::Testnet]
    );
}

#[test]
fn drawdown_from_the_peak_pauses_until_resumed_and_can_flatten() {
    let mut w = World::new(
        &[
            ("risk:max_drawdown_pct", "10"),
            ("risk:flatten_on_breach", "true"),
            ("risk:stop_loss_pct", "50"),
        ],
        vec![pos(Side::Long, "100", "99")],
    );
    w.accounts = vec![account(Network::Testnet, None, Some("2000"), Some("1801"))];
    assert!(w.run().actions.is_empty());
    w.accounts[0].equity = Some(d("1800"));
    let e = w.run();
    assert!(matches!(
        e.actions[0],
        Action::Flatten {
            network: Network::Testnet,
            ..
        }
    ));
    assert_eq!(e.pauses().next().unwrap().until_ms, None);
    let c = closes(&e);
    assert_eq!(c.len(), 1);
    assert_eq!(
        c[0].key,
        format!("risk:flatten:bybit:testnet:BTCUSDT:long:{T0}")
    );
    // A mainnet position is not flattened by a testnet breach.
    let mut main = pos(Side::Long, "100", "99");
    main.id.network = Network::Mainnet;
    w.positions.push(main);
    assert_eq!(w.run().closes().count(), 1);
}

#[test]
fn missing_equity_or_mark_is_a_note_never_a_decision() {
    let mut w = World::new(
        &[
            ("risk:max_daily_loss_pct", "3"),
            ("risk:max_drawdown_pct", "10"),
            ("risk:stop_loss_pct", "5"),
        ],
        vec![pos(Side::Long, "100", "50")],
    );
    w.positions[0].mark_price = None;
    w.accounts = vec![account(Network::Testnet, Some("1000"), None, None)];
    let e = w.run();
    assert!(e.actions.is_empty(), "{:?}", e.actions);
    assert!(e.notes.iter().any(|n| n.kind == NoteKind::MissingMark));
    assert_eq!(
        e.notes
            .iter()
            .filter(|n| n.kind == NoteKind::MissingEquity)
            .count(),
        2
    );
}

fn exit(at_ms: u64, symbol: &str, stop_out: bool) -> Exit {
    Exit {
        at_ms,
        exchange: Exchange::Bybit,
        network: Network::Testnet,
        symbol: Symbol::parse(symbol).unwrap(),
        stop_out,
    }
}

#[test]
fn stoploss_guard_counts_stop_outs_inside_its_window() {
    let mut w = World::new(
        &[(
            "risk:stoploss_guard",
            r#"{"stop_outs": 2, "window_minutes": 60, "pause_minutes": 30}"#,
        )],
        vec![],
    );
    w.now_ms = T0 + 100 * MIN;
    // One stop-out too old, one not a stop: no pause.
    w.exits = vec![
        exit(T0 + 39 * MIN, "BTCUSDT", true),
        exit(T0 + 90 * MIN, "ETHUSDT", false),
        exit(T0 + 95 * MIN, "ETHUSDT", true),
    ];
    assert_eq!(w.run().pauses().count(), 0);
    w.exits.push(exit(T0 + 40 * MIN, "SOLUSDT", true));
    let e = w.run();
    let p: Vec<&Pause> = e.pauses().collect();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].scope.pair, None);
    assert_eq!(
        p[0].until_ms,
        Some(T0 + 125 * MIN),
        "30 minutes after the last stop-out"
    );
    // Another network's stop-outs are not counted.
    for x in &mut w.exits {
        x.network = Network::Mainnet;
    }
    assert!(w
        .run()
        .pauses()
        .all(|p| p.scope.network == Network::Mainnet));
}

#[test]
fn cooldown_pauses_the_exited_pair_only_for_its_minutes() {
    let mut w = World::new(
        &[
            ("risk:cooldown_minutes", "10"),
            ("risk:cooldown_minutes:ETHUSDT", "null"),
        ],
        vec![],
    );
    w.now_ms = T0 + 5 * MIN;
    w.exits = vec![exit(T0, "BTCUSDT", false), exit(T0, "ETHUSDT", false)];
    let e = w.run();
    let p: Vec<&Pause> = e.pauses().collect();
    assert_eq!(p.len(), 1);
    let pair = p[0].scope.pair.as_ref().unwrap();
    assert_eq!(pair.symbol.canonical(), "BTCUSDT");
    assert_eq!(p[0].until_ms, Some(T0 + 10 * MIN));
    w.now_ms = T0 + 10 * MIN;
    assert_eq!(w.run().pauses().count(), 0);
}

#[test]
fn paused_entries_never_stop_exits() {
    let mut w = World::new(
        &[("risk:stop_loss_pct", "5")],
        vec![pos(Side::Long, "100", "90")],
    );
    let free = w.run();
    w.paused = vec![EntriesPaused {
        scope: PauseScope {
            network: Network::Testnet,
            pair: None,
        },
        until_ms: None,
    }];
    assert_eq!(w.run(), free);
    assert_eq!(free.closes().count(), 1);
}

#[test]
fn a_new_opening_time_starts_fresh_and_a_closed_position_loses_its_state() {
    let mut w = World::new(
        &[
            (
                "risk:trailing",
                r#"{"distance_pct": 2, "activation_pct": 5}"#,
            ),
            ("risk:take_profit_ladder", LADDER),
        ],
        vec![pos(Side::Long, "100", "120")],
    );
    w.step();
    let old = w.positions[0].id.clone();
    assert_eq!(w.states[&old].watermark, Some(d("120")));
    assert_eq!(w.states[&old].ladder_done, 3);
    // Closed, then reopened a minute later at 100 with the mark at 101: nothing inherited.
    w.positions[0].id.opened_at_ms = T0 + 2 * MIN;
    w.positions[0].mark_price = Some(d("101"));
    w.now_ms = T0 + 3 * MIN;
    let e = w.step();
    assert!(
        e.actions.is_empty(),
        "an inherited 120 watermark would stop this: {:?}",
        e.actions
    );
    assert!(!w.states.contains_key(&old));
    let fresh = &w.states[&w.positions[0].id];
    assert_eq!(*fresh, PositionState::default());
}

#[test]
fn the_same_minute_twice_gives_the_same_keys() {
    let mut w = World::new(
        &[
            ("risk:take_profit_ladder", LADDER),
            ("risk:stop_loss_pct", "5"),
        ],
        vec![
            pos(Side::Long, "100", "104"),
            pos(Side::Short, "100", "106"),
        ],
    );
    w.positions[1].id.symbol = Symbol::parse("ETHUSDT").unwrap();
    let a = w.run();
    let b = w.run();
    assert_eq!(a, b);
    let keys: Vec<&str> = a.closes().map(|c| c.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            format!("risk:tp1:bybit:testnet:BTCUSDT:long:{T0}"),
            format!("risk:tp2:bybit:testnet:BTCUSDT:long:{T0}"),
            format!("risk:sl:bybit:testnet:ETHUSDT:short:{T0}"),
        ]
    );
    // The order positions arrive in does not matter.
    w.positions.reverse();
    assert_eq!(w.run(), a);
}
