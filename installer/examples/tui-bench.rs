//! Keystroke-to-frame latency of the interactive installer: a key handled and the whole
//! 80×24 frame drawn (ratatui's TestBackend, so the terminal's own output is not counted),
//! with the install log at 10,000 lines. Prints p50 and p99; asserts nothing.
//!
//! `cargo run --release -p pigeonair-installer --example tui-bench`

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use pigeonair_installer::tui::interfaces::Interface;
use pigeonair_installer::tui::{App, Report};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn key(app: &mut App, code: KeyCode) {
    app.handle(KeyEvent::new(code, KeyModifiers::NONE));
}

fn percentiles(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let at = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)].as_secs_f64() * 1e3;
    (at(0.5), at(0.99))
}

fn main() {
    let iface = |name: &str| Interface {
        name: name.into(),
        mac: "52:54:00:00:00:01".into(),
        up: true,
        addresses: vec![],
    };
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("test backend");
    let mut measure = |app: &mut App, code: KeyCode| {
        let t = Instant::now();
        key(app, code);
        terminal.draw(|f| app.draw(f)).expect("draw");
        t.elapsed()
    };

    // Typing into the network screen.
    let mut app = App::new(vec![iface("eth0"), iface("eth1")], "/root/a.toml".into());
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Enter); // a new cluster
    let mut typing = Vec::new();
    for i in 0..2000 {
        let code = if i % 40 == 39 {
            KeyCode::Backspace
        } else {
            KeyCode::Char('1')
        };
        typing.push(measure(&mut app, code));
    }

    // The install screen with a 10,000-line log (keys are ignored there but still redraw).
    let mut app = App::new(vec![iface("eth0"), iface("eth1")], "/root/a.toml".into());
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Enter); // a new cluster
    for (i, v) in ["eth0", "203.0.113.11/24", "", "", "eth1", "10.42.0.11/24"]
        .iter()
        .enumerate()
    {
        for c in v.chars() {
            key(&mut app, KeyCode::Char(c));
        }
        if i < 5 {
            key(&mut app, KeyCode::Tab);
        }
    }
    key(&mut app, KeyCode::Enter);
    for (i, v) in ["mx1.example.com", "example.com", "pigeon"]
        .iter()
        .enumerate()
    {
        for c in v.chars() {
            key(&mut app, KeyCode::Char(c));
        }
        if i < 2 {
            key(&mut app, KeyCode::Tab);
        }
    }
    key(&mut app, KeyCode::Enter);
    for i in 0..2 {
        for c in "a-long-password-1".chars() {
            key(&mut app, KeyCode::Char(c));
        }
        if i == 0 {
            key(&mut app, KeyCode::Tab);
        }
    }
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Enter);
    assert!(
        app.take_request().is_some(),
        "the wizard did not reach the install"
    );
    for i in 0..10_000 {
        app.report(Report::Progress(pigeonair_installer::apply::Event::Note(
            format!("log line {i}: something the install printed"),
        )));
    }
    let mut log = Vec::new();
    for _ in 0..2000 {
        log.push(measure(&mut app, KeyCode::Char('x')));
    }
    let (p50, p99) = percentiles(typing);
    println!(
        "typing on the network screen        p50 {p50:.3} ms  p99 {p99:.3} ms (goal p99 < 16 ms)"
    );
    let (p50, p99) = percentiles(log);
    println!(
        "install screen, 10,000-line log     p50 {p50:.3} ms  p99 {p99:.3} ms (goal p99 < 16 ms)"
    );
}
