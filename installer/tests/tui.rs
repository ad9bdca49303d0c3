//! The interactive installer, driven by keystrokes and drawn on ratatui's TestBackend at
//! 80×24. Snapshots are in `tests/snapshots/NAME.txt`; `UPDATE_GOLDEN=1 cargo test` rewrites
//! them (review the diff).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use pigeonair_appliance::parse_answers;
use pigeonair_installer::tui::interfaces::Interface;
use pigeonair_installer::tui::{App, Outcome};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn app() -> App {
    App::new(
        vec![
            Interface {
                name: "eth0".into(),
                mac: "52:54:00:12:34:56".into(),
                up: true,
                addresses: vec!["203.0.113.11/24".into()],
            },
            Interface {
                name: "eth1".into(),
                mac: "52:54:00:65:43:21".into(),
                up: true,
                addresses: vec![],
            },
        ],
        "/root/pigeonair-answers.toml".into(),
    )
}

fn key(app: &mut App, code: KeyCode) {
    app.handle(KeyEvent::new(code, KeyModifiers::NONE));
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, KeyCode::Char(c));
    }
}

/// Types `values` into the current screen's fields, one per field, Tab between them.
fn fill(app: &mut App, values: &[&str]) {
    for (i, v) in values.iter().enumerate() {
        typed(app, v);
        if i + 1 < values.len() {
            key(app, KeyCode::Tab);
        }
    }
}

fn screen(app: &App) -> String {
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal.draw(|f| app.draw(f)).unwrap();
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

const NETWORK: [&str; 6] = [
    "eth0",
    "203.0.113.11/24",
    "203.0.113.1",
    "",
    "eth1",
    "10.42.0.11/24",
];
const IDENTITY: [&str; 3] = ["mx1.example.com", "example.com", "pigeon"];
const PASSWORD: &str = "change-me-now-please";

#[test]
fn every_screen_and_error_state() {
    let mut a = app();
    snapshot("welcome", &a);
    key(&mut a, KeyCode::Enter);
    snapshot("network", &a);
    // Next with bad values is refused with the validator's reasons.
    fill(
        &mut a,
        &["eth0", "10.0.0.5/33", "198.51.100.1", "", "eth0", ""],
    );
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.screen_title(), "Network", "Next was not refused");
    snapshot("network-errors", &a);
    let mut a = app();
    key(&mut a, KeyCode::Enter);
    fill(&mut a, &NETWORK);
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.screen_title(), "Identity");
    snapshot("identity", &a);
    fill(&mut a, &["mx1", "exa_mple.com", "Pigeon"]);
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.screen_title(), "Identity");
    snapshot("identity-errors", &a);
    // Esc goes back and nothing typed is lost.
    key(&mut a, KeyCode::Esc);
    assert_eq!(a.screen_title(), "Network");
    assert_eq!(
        a.form
            .get(pigeonair_installer::tui::form::Field::PublicAddress),
        "203.0.113.11/24"
    );
    snapshot("network-back", &a);
    let mut a = app();
    key(&mut a, KeyCode::Enter);
    fill(&mut a, &NETWORK);
    key(&mut a, KeyCode::Enter);
    fill(&mut a, &IDENTITY);
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.screen_title(), "Administrator");
    snapshot("admin", &a);
    fill(&mut a, &["short", "other"]);
    key(&mut a, KeyCode::Enter);
    snapshot("admin-errors", &a);
    key(&mut a, KeyCode::F(1));
    snapshot("admin-help", &a);
    key(&mut a, KeyCode::Char('x'));
    a.handle(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    snapshot("quit-confirm", &a);
    key(&mut a, KeyCode::Char('n'));
    assert!(a.outcome().is_none(), "quit without confirming");
    a.handle(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    key(&mut a, KeyCode::Char('y'));
    assert_eq!(a.outcome(), Some(&Outcome::Quit));
}

/// An app whose screens were filled with the example answers, at the summary.
fn at_summary() -> App {
    let mut a = app();
    key(&mut a, KeyCode::Enter);
    fill(&mut a, &NETWORK);
    key(&mut a, KeyCode::Enter);
    fill(&mut a, &IDENTITY);
    key(&mut a, KeyCode::Enter);
    fill(&mut a, &[PASSWORD, PASSWORD]);
    key(&mut a, KeyCode::Enter);
    a
}

#[test]
fn keystrokes_produce_the_plan_of_the_answers_file() {
    let a = at_summary();
    assert_eq!(a.screen_title(), "Summary");
    snapshot("summary", &a);
    let mut a = a;
    key(&mut a, KeyCode::Enter);
    let expected = parse_answers(include_str!(
        "../../appliance/core/examples/single-box.toml"
    ))
    .unwrap();
    assert_eq!(a.outcome(), Some(&Outcome::Install(Box::new(expected))));
}

#[test]
fn review_prefills_every_screen() {
    review_installs_the_same_plan(include_str!(
        "../../appliance/core/examples/single-box.toml"
    ));
}

#[test]
fn review_keeps_the_balancer() {
    // No screen edits the balancer: the reviewed plan's is carried through.
    review_installs_the_same_plan(include_str!(
        "../../appliance/core/tests/resources/parse_answer/ipvs-dr.toml"
    ));
}

fn review_installs_the_same_plan(answers: &str) {
    let plan = parse_answers(answers).unwrap();
    let mut a = app();
    a.form = pigeonair_installer::tui::form::Form::from_plan(&plan);
    for _ in 0..4 {
        key(&mut a, KeyCode::Enter);
        while a.outcome().is_none() && !matches!(a.screen_title(), "Summary") {
            // Enter walks the fields of a filled screen, then goes on.
            let before = a.screen_title();
            key(&mut a, KeyCode::Enter);
            if a.screen_title() != before {
                break;
            }
        }
    }
    assert_eq!(a.screen_title(), "Summary");
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.outcome(), Some(&Outcome::Install(Box::new(plan))));
}

/// An app at the confirmed summary, its install started.
fn installing() -> App {
    let mut a = at_summary();
    key(&mut a, KeyCode::Enter);
    assert!(a.take_request().is_some(), "no install requested");
    a
}

#[test]
fn install_progress_failure_and_done() {
    use pigeonair_installer::apply::{Event, StepOutcome};
    use pigeonair_installer::tui::InstallEvent::{Finished, Progress};
    let step = |index: usize, name: &str, outcome: StepOutcome| {
        Progress(Event::Step {
            index,
            total: 5,
            name: name.into(),
            outcome,
            secs: if index == 3 { 0.1 } else { 0.0 },
        })
    };
    let mut a = installing();
    a.install_event(Progress(Event::Note(
        "answers saved to /root/pigeonair-answers.toml".into(),
    )));
    a.install_event(step(
        1,
        "secrets",
        StepOutcome::Changed(vec![
            "made service passwords in /etc/pigeonair/secrets.toml".into(),
        ]),
    ));
    a.install_event(step(
        2,
        "TLS",
        StepOutcome::Changed(vec![
            "made a key and certificate for mx1.example.com".into(),
        ]),
    ));
    snapshot("installing", &a);
    a.install_event(step(3, "files", StepOutcome::Failed));
    a.install_event(Finished(Err(
        "the new postfix configuration failed its check and was not installed:\n`postfix check` failed (exit status: 1)".into(),
    )));
    snapshot("install-failed", &a);
    // Esc goes back to the screens with everything still filled in.
    key(&mut a, KeyCode::Esc);
    assert_eq!(a.screen_title(), "Network");
    assert_eq!(
        a.form.get(pigeonair_installer::tui::form::Field::Hostname),
        "mx1.example.com"
    );

    let mut a = installing();
    for i in 1..=5 {
        a.install_event(Progress(Event::Step {
            index: i,
            total: 5,
            name: format!("step {i}"),
            outcome: StepOutcome::Changed(vec!["done".into()]),
            secs: 0.1,
        }));
    }
    a.install_event(Finished(Ok(26)));
    snapshot("done", &a);
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.outcome(), Some(&Outcome::Done));
}

#[test]
fn ascii_borders_for_serial_terminals() {
    let a = app().with_ascii_borders(true);
    let text = screen(&a);
    assert!(text.contains("+----"), "{text}");
    assert!(!text.contains('┌'), "{text}");
    snapshot("welcome-ascii", &a);
}
