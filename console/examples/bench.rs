//! Keystroke-to-frame time of the console: `cargo run --release -p pigeonair-console --example
//! bench`. With 200 nodes in the table and 10,000 lines in the journal pane it times, per key,
//! what the terminal loop does — `action_for` + `update` + drawing the frame (ratatui's diff
//! included) on a TestBackend — at 80×24 and at 240×67, and what a refresh costs (a snapshot of
//! 200 nodes becoming rows, then a frame). Prints p50, p99 and the worst; the goal is p99 under
//! 16 ms (one frame at 60 Hz).

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use pigeonair_appliance::balancer_status::Row as BalancerRow;
use pigeonair_console::App;
use pigeonair_console::app::Action;
use pigeonair_console::model::Snapshot;
use pigeonair_ctl::directory::NodeInfo;
use pigeonair_join::{DiskUse, DrainProgress, NodeStatus};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const NODES: usize = 200;
const JOURNAL: usize = 10_000;
const KEYS: usize = 2_000;

fn snapshot(at: u64) -> Snapshot {
    let balancer: Vec<BalancerRow> = (0..NODES)
        .flat_map(|i| {
            [25u16, 143, 993, 110, 995].map(|port| BalancerRow {
                service: format!("TCP 203.0.113.240:{port}"),
                node: format!("node{i}"),
                address: format!("10.42.{}.{}:{port}", i / 250, i % 250 + 1),
                health: if i % 17 == 0 { "down" } else { "up" }.into(),
                health_for_s: 30,
                state: "active".into(),
                ..BalancerRow::default()
            })
        })
        .collect();
    let nodes = (0..NODES)
        .map(|i| NodeInfo {
            hostname: format!("node{i}.example.com"),
            state: if i % 50 == 7 { "draining" } else { "active" }.into(),
            roles: if i == 0 {
                vec!["provider".into(), "ca".into()]
            } else {
                vec![]
            },
            public: Some(
                format!("203.0.{}.{}", i / 250, i % 250 + 1)
                    .parse()
                    .unwrap(),
            ),
            private: Some(
                format!("10.42.{}.{}", i / 250, i % 250 + 1)
                    .parse()
                    .unwrap(),
            ),
            mailboxes: 1000 + i,
            replication: "in sync".into(),
            pigeonaird: "reachable".into(),
            progress: (i % 50 == 7).then(|| DrainProgress {
                started: at - 100,
                mailboxes_total: 1000,
                mailboxes_done: 300,
                bytes_total: 10_000_000_000,
                bytes_done: 3_000_000_000,
                failed: vec![],
                finished: None,
            }),
            status: (i % 40 != 39).then(|| NodeStatus {
                hostname: format!("node{i}.example.com"),
                context_csn: vec![],
                queued_hosted: Some(0),
                queued: Some(i as u64 % 7),
                disk: Some(DiskUse {
                    used: 1_000_000_000 * i as u64,
                    size: 400_000_000_000,
                }),
                balancer: if i == 0 { balancer.clone() } else { vec![] },
            }),
        })
        .collect();
    Snapshot {
        nodes,
        error: None,
        at,
    }
}

fn percentiles(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort();
    let at = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)];
    (at(0.50), at(0.99), *v.last().expect("timed something"))
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn run(width: u16, height: u16) {
    let at = 1_796_140_800;
    let mut app = App::new();
    app.update(Action::Snapshot(snapshot(at)));
    app.update(Action::Tick(at));
    // Select a node in the middle, then fill its journal pane.
    for _ in 0..100 {
        app.update(Action::Down);
    }
    let host = app.selected().expect("a node").to_owned();
    app.update(Action::Journal {
        host,
        lines: Ok((0..JOURNAL)
            .map(|i| {
                format!(
                    "2026-12-01T17:{:02}:{:02}+0000 node100 pigeonaird[811]: line {i}: drain of node100.example.com: user{i}@example.com to move to node3.example.com",
                    i / 60 % 60,
                    i % 60
                )
            })
            .collect()),
    });
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a test terminal");
    terminal
        .draw(|f| pigeonair_console::view::draw(&app, f))
        .expect("draws");

    // Keys: down and up over the table, then Tab and scrolling the journal.
    let mut times = Vec::with_capacity(KEYS);
    for i in 0..KEYS {
        let code = match (i / 500, i % 2) {
            (0 | 2, 0) => KeyCode::Down,
            (0 | 2, _) => KeyCode::Up,
            (1, _) if i == 500 => KeyCode::Tab,
            (1, 0) => KeyCode::PageUp,
            (1, _) => KeyCode::Up,
            (_, _) if i == 1500 => KeyCode::Tab,
            _ => KeyCode::Down,
        };
        let started = Instant::now();
        if let Some(a) = app.action_for(KeyEvent::new(code, KeyModifiers::NONE)) {
            app.update(a);
        }
        terminal
            .draw(|f| pigeonair_console::view::draw(&app, f))
            .expect("draws");
        times.push(started.elapsed());
    }
    let (p50, p99, max) = percentiles(times);
    println!(
        "{width}x{height}, {NODES} nodes, {JOURNAL} journal lines: keystroke to frame p50 {}, p99 {}, max {} ({KEYS} keys)",
        ms(p50),
        ms(p99),
        ms(max)
    );

    // A refresh: the snapshot becomes rows, then a frame.
    let mut times = Vec::new();
    for i in 0..200 {
        let s = snapshot(at + i);
        let started = Instant::now();
        app.update(Action::Snapshot(s));
        terminal
            .draw(|f| pigeonair_console::view::draw(&app, f))
            .expect("draws");
        times.push(started.elapsed());
    }
    let (p50, p99, max) = percentiles(times);
    println!(
        "{width}x{height}, {NODES} nodes: refresh to frame p50 {}, p99 {}, max {} (200 refreshes)",
        ms(p50),
        ms(p99),
        ms(max)
    );
}

fn main() {
    run(80, 24);
    run(240, 67);
}
