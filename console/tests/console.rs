//! The console, driven by keystrokes and replies and drawn on ratatui's TestBackend at 80×24.
//! Snapshots are in `tests/snapshots/NAME.txt`; `UPDATE_GOLDEN=1 cargo test` rewrites them
//! (review the diff).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use pigeonair_appliance::balancer_status::Row as BalancerRow;
use pigeonair_console::App;
use pigeonair_console::app::{Action, Failure, Mode, Reply, Request};
use pigeonair_console::model::Snapshot;
use pigeonair_ctl::directory::{DrainPreview, NewToken, NodeInfo};
use pigeonair_ctl::rebalance::{Mailbox, MoveState};
use pigeonair_join::{DiskUse, DrainProgress, NodeStatus};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const NOW: u64 = 1_796_140_800;

fn node(n: u8, state: &str, mailboxes: usize) -> NodeInfo {
    NodeInfo {
        hostname: format!("node{n}.example.com"),
        state: state.into(),
        roles: if n == 1 {
            vec!["provider".into(), "ca".into()]
        } else {
            vec![]
        },
        public: Some(format!("203.0.113.1{n}").parse().unwrap()),
        private: Some(format!("10.42.0.1{n}").parse().unwrap()),
        mailboxes,
        replication: if n == 3 {
            "behind by 1250 ms".into()
        } else {
            "in sync".into()
        },
        pigeonaird: "reachable".into(),
        progress: None,
        status: Some(NodeStatus {
            hostname: format!("node{n}.example.com"),
            context_csn: vec![],
            queued_hosted: Some(0),
            queued: Some(n as u64 - 1),
            disk: Some(DiskUse {
                used: 4_000_000_000 * n as u64,
                size: 40_000_000_000,
            }),
            // node1 runs the DNS balancer: it reports every node.
            balancer: if n == 1 {
                (1..=3)
                    .map(|m| BalancerRow {
                        service: "mx.example.com".into(),
                        node: format!("node{m}"),
                        address: format!("10.42.0.1{m}"),
                        health: if m == 3 { "down".into() } else { "up".into() },
                        health_for_s: 42,
                        state: if m == 3 {
                            "left out".into()
                        } else {
                            "answered".into()
                        },
                        last_error: (m == 3).then(|| "IMAP 143: connect: refused".into()),
                        ..BalancerRow::default()
                    })
                    .collect()
            } else {
                vec![]
            },
        }),
    }
}

fn three() -> Vec<NodeInfo> {
    vec![
        node(1, "active", 120),
        node(2, "active", 118),
        node(3, "active", 121),
    ]
}

fn app_with(nodes: Vec<NodeInfo>) -> App {
    let mut a = App::new();
    a.update(Action::Snapshot(Snapshot {
        nodes,
        error: None,
        at: NOW - 1,
    }));
    a.update(Action::Tick(NOW));
    a
}

fn key(app: &mut App, code: KeyCode) {
    if let Some(a) = app.action_for(KeyEvent::new(code, KeyModifiers::NONE)) {
        app.update(a);
    }
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, KeyCode::Char(c));
    }
}

fn ctrl_c(app: &mut App) {
    if let Some(a) = app.action_for(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)) {
        app.update(a);
    }
}

fn screen(app: &App) -> String {
    screen_sized(app, 80, 24)
}

fn screen_sized(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|f| pigeonair_console::view::draw(app, f))
        .unwrap();
    let buffer = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..buffer.area.height {
        let mut line = String::new();
        for x in 0..buffer.area.width {
            line.push_str(buffer[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn snapshot(name: &str, app: &App) {
    let path = format!("{}/tests/snapshots/{name}.txt", env!("CARGO_MANIFEST_DIR"));
    let actual = screen(app);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{path} missing (UPDATE_GOLDEN=1 writes it)"));
    assert_eq!(expected, actual, "snapshot {name} differs:\n{actual}");
}

fn journal(host: &str, n: usize) -> Action {
    Action::Journal {
        host: host.into(),
        lines: Ok((1..=n)
            .map(|i| {
                format!(
                    "2026-12-01T17:{:02}:{:02}+0000 node2 pigeonaird[811]: line {i}: directory changed; auth cache flushed",
                    i / 60 % 60,
                    i % 60
                )
            })
            .collect()),
    }
}

#[test]
fn the_table_with_three_nodes_and_the_selected_nodes_journal() {
    let mut a = app_with(three());
    assert_eq!(a.selected(), Some("node1.example.com"));
    snapshot("table", &a);
    key(&mut a, KeyCode::Down);
    assert_eq!(a.selected(), Some("node2.example.com"));
    assert_eq!(a.journal_host(), Some("node2.example.com"));
    a.update(journal("node2.example.com", 40));
    // Lines of another node than the selected one are not shown.
    a.update(Action::Journal {
        host: "node1.example.com".into(),
        lines: Ok(vec!["not this one".into()]),
    });
    let text = screen(&a);
    assert!(
        text.contains("line 40:") && !text.contains("not this one"),
        "{text}"
    );
    snapshot("detail-journal", &a);
    // Tab gives the arrows to the journal: Up scrolls it back.
    key(&mut a, KeyCode::Tab);
    key(&mut a, KeyCode::PageUp);
    let text = screen(&a);
    assert!(
        text.contains("line 30:") && !text.contains("line 40:"),
        "{text}"
    );
    assert_eq!(
        a.selected(),
        Some("node2.example.com"),
        "the selection stays"
    );
}

#[test]
fn an_unreachable_node() {
    let mut nodes = three();
    nodes[2].status = None;
    nodes[2].pigeonaird = "unreachable: no answer within 2 s".into();
    nodes[2].replication = "not known".into();
    let mut a = app_with(nodes);
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Down);
    let text = screen(&a);
    assert!(text.contains("1 unreachable"), "{text}");
    snapshot("unreachable", &a);
}

#[test]
fn add_node_makes_a_token_and_shows_the_new_node_coming() {
    let mut a = app_with(three());
    key(&mut a, KeyCode::Char('a'));
    key(&mut a, KeyCode::Backspace);
    key(&mut a, KeyCode::Backspace);
    typed(&mut a, "30m");
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.take_requests(), [Request::Token { ttl: "30m".into() }]);
    // A token as long as real ones (116 characters).
    let token = format!(
        "PA1.q7RkM2xW.{}.{}@10.42.0.11:7443",
        "s".repeat(43),
        "c".repeat(43)
    );
    a.update(Action::Reply(Reply::Token(Ok(NewToken {
        id: "q7RkM2xW".into(),
        token: token.clone(),
        expires: "20261201180000Z".into(),
        via: "node1.example.com".into(),
    }))));
    let mut nodes = three();
    nodes.push(node(4, "joining", 0));
    a.update(Action::Snapshot(Snapshot {
        nodes,
        error: None,
        at: NOW,
    }));
    // On a wide screen the answers file's line is one line.
    let wide = screen_sized(&a, 140, 30);
    let line = format!("join = \"{token}\"");
    assert!(wide.lines().any(|l| l.contains(&line)), "{wide}");
    assert!(!wide.contains("in pieces"), "{wide}");
    // At 80 columns it is cut, and the pieces join up to the token.
    let text = screen(&a);
    let joined: String = text
        .lines()
        .skip_while(|l| !l.contains("in pieces, to join:"))
        .skip(1)
        .map(|l| l.trim_matches(|c| c == '│' || c == ' '))
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(joined, token, "{text}");
    snapshot("add-node-token", &a);
    // A refused TTL is shown as the library words it, and can be typed again.
    let mut a = app_with(three());
    key(&mut a, KeyCode::Char('a'));
    typed(&mut a, "x");
    key(&mut a, KeyCode::Enter);
    a.update(Action::Reply(Reply::Token(Err(Failure {
        refused: true,
        message:
            "--ttl \"1hx\": give a number and a unit, s m h or d (90s, 30m, 1h, 7d), at most 7d"
                .into(),
    }))));
    let text = screen(&a);
    assert!(text.contains("most 7d"), "{text}");
    key(&mut a, KeyCode::Backspace);
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.take_requests().len(), 2, "asked again");
}

#[test]
fn drain_asks_first_then_follows_the_progress() {
    let mut a = app_with(three());
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Char('d'));
    assert_eq!(
        a.take_requests(),
        [Request::DrainPreview {
            host: "node2.example.com".into()
        }]
    );
    // Nothing is asked for before the preview is there.
    key(&mut a, KeyCode::Enter);
    assert!(a.take_requests().is_empty());
    a.update(Action::Reply(Reply::DrainPreview(Ok(DrainPreview {
        hostname: "node2.example.com".into(),
        mailboxes: 118,
        targets: [
            ("node1.example.com".to_string(), 60),
            ("node3.example.com".to_string(), 58),
        ]
        .into(),
    }))));
    snapshot("drain-confirm", &a);
    key(&mut a, KeyCode::Char('y'));
    assert_eq!(
        a.take_requests(),
        [Request::Drain {
            host: "node2.example.com".into()
        }]
    );
    a.update(Action::Reply(Reply::Drain(Ok(()))));
    let mut nodes = three();
    nodes[1].state = "draining".into();
    nodes[1].mailboxes = 71;
    nodes[1].progress = Some(DrainProgress {
        started: NOW - 60,
        mailboxes_total: 118,
        mailboxes_done: 47,
        bytes_total: 9_400_000_000,
        bytes_done: 3_100_000_000,
        failed: vec![],
        finished: None,
    });
    a.update(Action::Snapshot(Snapshot {
        nodes: nodes.clone(),
        error: None,
        at: NOW,
    }));
    assert_eq!(a.mode(), &Mode::Progress("node2.example.com".into()));
    snapshot("drain-progress", &a);
    // Leaving and coming back shows the same drain: it is in the directory.
    key(&mut a, KeyCode::Esc);
    assert_eq!(a.mode(), &Mode::Table);
    assert!(screen(&a).contains("draining"));
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.mode(), &Mode::Progress("node2.example.com".into()));
    let mut fresh = app_with(nodes);
    key(&mut fresh, KeyCode::Down);
    key(&mut fresh, KeyCode::Char('p'));
    assert_eq!(screen(&fresh), screen(&a), "a new console shows the same");
}

#[test]
fn remove_refused_shows_the_librarys_reason() {
    let mut a = app_with(three());
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Char('r'));
    assert_eq!(
        a.take_requests(),
        [Request::RemoveCheck {
            host: "node2.example.com".into()
        }]
    );
    a.update(Action::Reply(Reply::RemoveCheck(Err(Failure {
        refused: true,
        message: "node2.example.com is the home node of 118 mailboxes: `pigeonctl node drain \
                  node2.example.com` first"
            .into(),
    }))));
    snapshot("remove-refused", &a);
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.mode(), &Mode::Table);
    assert!(a.take_requests().is_empty(), "nothing was asked for");
    // Allowed: asks, then removes and says so once the entry is gone.
    let mut nodes = three();
    nodes[1].state = "drained".into();
    nodes[1].mailboxes = 0;
    let mut a = app_with(nodes);
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Char('r'));
    a.take_requests();
    a.update(Action::Reply(Reply::RemoveCheck(Ok(()))));
    assert!(screen(&a).contains("cannot be undone"));
    key(&mut a, KeyCode::Enter);
    assert_eq!(
        a.take_requests(),
        [Request::Remove {
            host: "node2.example.com".into()
        }]
    );
    a.update(Action::Reply(Reply::Remove(Ok(()))));
    assert!(screen(&a).contains("node2.example.com is removed from the cluster"));
}

#[test]
fn move_form() {
    let mut a = app_with(three());
    key(&mut a, KeyCode::Char('m'));
    // In a form q is a letter (Ctrl-C quits).
    typed(&mut a, "q");
    assert!(!a.quitting() && !a.busy());
    key(&mut a, KeyCode::Backspace);
    typed(&mut a, "bob@example.com");
    key(&mut a, KeyCode::Enter);
    // The target starts as the selected node: replace it.
    for _ in 0.."node1.example.com".len() {
        key(&mut a, KeyCode::Backspace);
    }
    typed(&mut a, "node3.example.com");
    key(&mut a, KeyCode::Enter);
    assert_eq!(
        a.take_requests(),
        [Request::Move {
            address: "bob@example.com".into(),
            to: "node3.example.com".into()
        }]
    );
    a.update(Action::Reply(Reply::Move(Err(Failure {
        refused: true,
        message: "bob@example.com is on node3.example.com already".into(),
    }))));
    snapshot("move-form", &a);
}

#[test]
fn rebalance_shows_the_plan_before_it_runs() {
    let mut a = app_with(three());
    key(&mut a, KeyCode::Char('b'));
    assert_eq!(a.take_requests(), [Request::RebalancePlan]);
    let mb = |u: &str, home: &str| Mailbox {
        user: u.into(),
        home: home.into(),
        moving: MoveState::None,
    };
    let active = ["node1", "node2", "node3"].map(|n| format!("{n}.example.com"));
    let mut mailboxes = Vec::new();
    for i in 0..5 {
        mailboxes.push(mb(&format!("u{i}@example.com"), "node1.example.com"));
    }
    mailboxes.push(mb("v@example.com", "node2.example.com"));
    let plan = pigeonair_ctl::rebalance::plan(&active, &mailboxes);
    assert_eq!(plan.moves.len(), 3);
    a.update(Action::Reply(Reply::RebalancePlan(Ok(plan.clone()))));
    snapshot("rebalance-plan", &a);
    key(&mut a, KeyCode::Enter);
    assert_eq!(
        a.take_requests(),
        [Request::Rebalance { moves: plan.moves }]
    );
}

#[test]
fn help_and_quit() {
    let mut a = app_with(three());
    key(&mut a, KeyCode::F(1));
    snapshot("help", &a);
    key(&mut a, KeyCode::Char('x'));
    // Nothing runs: q quits at once.
    key(&mut a, KeyCode::Char('q'));
    assert!(a.quitting());

    // While something runs, quitting asks first.
    let mut a = app_with(three());
    key(&mut a, KeyCode::Char('b'));
    assert!(a.busy());
    ctrl_c(&mut a);
    assert!(!a.quitting());
    snapshot("quit-confirm", &a);
    key(&mut a, KeyCode::Char('n'));
    assert!(!a.quitting(), "quit without confirming");
    key(&mut a, KeyCode::Char('q'));
    key(&mut a, KeyCode::Char('y'));
    assert!(a.quitting());
}

#[test]
fn ascii_borders_for_serial_terminals() {
    let mut nodes = three();
    nodes[1].state = "drained".into();
    let a = app_with(nodes).with_ascii_borders(true);
    let text = screen(&a);
    assert!(text.contains("+ Nodes ----"), "{text}");
    assert!(!text.contains('┌') && !text.contains('│'), "{text}");
    snapshot("table-ascii", &a);
}

#[test]
fn a_directory_that_stops_answering_keeps_the_last_rows() {
    let mut a = app_with(three());
    a.update(Action::Snapshot(Snapshot {
        nodes: vec![],
        error: Some("directory: ldapi: connection refused".into()),
        at: NOW,
    }));
    let text = screen(&a);
    assert!(text.contains("connection refused"), "{text}");
    assert!(text.contains("node3"), "{text}");
    assert_eq!(a.cluster().rows.len(), 3);
}
