//! The interactive installer, driven by keystrokes and drawn on ratatui's TestBackend at
//! 80×24. Snapshots are in `tests/snapshots/NAME.txt`; `UPDATE_GOLDEN=1 cargo test` rewrites
//! them (review the diff).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use pigeonair_appliance::parse_answers;
use pigeonair_installer::apply::{Event, StepOutcome};
use pigeonair_installer::tui::form::{Field, Form, Goal};
use pigeonair_installer::tui::interfaces::Interface;
use pigeonair_installer::tui::{App, Introduction, Outcome, Report};
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

/// On the choice after the welcome: a new cluster (the first choice) and on.
fn new_cluster(app: &mut App) {
    assert_eq!(app.screen_title(), "New or existing cluster");
    key(app, KeyCode::Enter);
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
    new_cluster(&mut a);
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
    new_cluster(&mut a);
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
    assert_eq!(a.form.get(Field::PublicAddress), "203.0.113.11/24");
    snapshot("network-back", &a);
    let mut a = app();
    key(&mut a, KeyCode::Enter);
    new_cluster(&mut a);
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

/// `a` (at the welcome) through a new cluster's screens with the example answers, `admin`
/// typed on the Administrator screen, and Enter there.
fn filled_through_admin(mut a: App, admin: &[&str]) -> App {
    key(&mut a, KeyCode::Enter);
    new_cluster(&mut a);
    fill(&mut a, &NETWORK);
    key(&mut a, KeyCode::Enter);
    fill(&mut a, &IDENTITY);
    key(&mut a, KeyCode::Enter);
    fill(&mut a, admin);
    key(&mut a, KeyCode::Enter);
    a
}

/// An app whose screens were filled with the example answers, at the summary.
fn at_summary() -> App {
    filled_through_admin(app(), &[PASSWORD, PASSWORD, ""])
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
fn root_s_ssh_key_is_checked_by_the_validator_and_goes_into_the_plan() {
    let mut a = filled_through_admin(app(), &[PASSWORD, PASSWORD, "ssh-ed25519 AAAAC3NzaC1l"]);
    // The validator's words, on the field: the key is cut short.
    assert_eq!(a.screen_title(), "Administrator");
    snapshot("admin-ssh-key-error", &a);
    for _ in 0.."AAAAC3NzaC1l".len() {
        key(&mut a, KeyCode::Backspace);
    }
    typed(
        &mut a,
        "AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f ops@isp",
    );
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.screen_title(), "Summary");
    key(&mut a, KeyCode::Enter);
    let expected = parse_answers(&format!(
        "{}\n[ssh]\nauthorized_keys = [\"ssh-ed25519 \
         AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f ops@isp\"]\n",
        include_str!("../../appliance/core/examples/single-box.toml")
    ))
    .unwrap();
    assert_eq!(expected.ssh_keys.len(), 1);
    assert_eq!(a.outcome(), Some(&Outcome::Install(Box::new(expected))));
}

#[test]
fn review_keeps_root_s_ssh_keys() {
    review_installs_the_same_plan(include_str!(
        "../../appliance/core/tests/resources/parse_answer/ssh.toml"
    ));
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
    let mut a = app().reviewing(Form::from_plan(&plan));
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
    use pigeonair_installer::tui::Report::{Finished, Progress};
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
    a.report(Progress(Event::Note(
        "answers saved to /root/pigeonair-answers.toml".into(),
    )));
    a.report(step(
        1,
        "secrets",
        StepOutcome::Changed(vec![
            "made service passwords in /etc/pigeonair/secrets.toml".into(),
        ]),
    ));
    a.report(step(
        2,
        "TLS",
        StepOutcome::Changed(vec![
            "made a key and certificate for mx1.example.com".into(),
        ]),
    ));
    snapshot("installing", &a);
    a.report(step(3, "files", StepOutcome::Failed));
    a.report(Finished(Err(
        "the new postfix configuration failed its check and was not installed:\n`postfix check` failed (exit status: 1)".into(),
    )));
    snapshot("install-failed", &a);
    // Esc goes back to the screens with everything still filled in.
    key(&mut a, KeyCode::Esc);
    assert_eq!(a.screen_title(), "Network");
    assert_eq!(a.form.get(Field::Hostname), "mx1.example.com");

    let mut a = installing();
    for i in 1..=5 {
        a.report(Progress(Event::Step {
            index: i,
            total: 5,
            name: format!("step {i}"),
            outcome: StepOutcome::Changed(vec!["done".into()]),
            secs: 0.1,
        }));
    }
    a.report(Finished(Ok(26)));
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

// Joining an existing cluster.

const JOIN_ANSWERS: &str = include_str!("resources/join.toml");
const JOINED_ANSWERS: &str =
    include_str!("../../appliance/core/tests/resources/parse_answer/joined.toml");
/// The token in `resources/join.toml`: the member at 10.42.0.11:7443, the CA of
/// `control/join/tests/resources/ca-openssl.pem`.
const TOKEN: &str = "PA1.AQIDBAUG.ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1-f4CBgoM.0KBzOrJsn3zvI-Ku_lH3aWTCfZZ6IFXkA0wRPF4qQnw@10.42.0.11:7443";
const NETWORK_MX2: [&str; 6] = [
    "eth0",
    "203.0.113.12/24",
    "203.0.113.1",
    "",
    "eth1",
    "10.42.0.12/24",
];

fn join_answers() -> pigeonair_appliance::answers::JoinAnswers {
    match pigeonair_installer::join::parse(JOIN_ANSWERS).unwrap() {
        pigeonair_appliance::answers::Answers::Join(j) => j,
        other => panic!("not a joining node's answers: {other:?}"),
    }
}

/// Welcome, then the choice moved to joining.
fn choosing_to_join() -> App {
    let mut a = app();
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.screen_title(), "New or existing cluster");
    key(&mut a, KeyCode::Down);
    a
}

/// At the join form, the network filled in.
fn at_join_form() -> App {
    let mut a = choosing_to_join();
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.screen_title(), "Network");
    fill(&mut a, &NETWORK_MX2);
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.screen_title(), "Join");
    a
}

/// The join form filled in and Enter pressed: the check of the member requested and started.
fn checking() -> App {
    let mut a = at_join_form();
    fill(&mut a, &["mx2.example.com", TOKEN]);
    key(&mut a, KeyCode::Enter);
    let token: pigeonair_join::Token = TOKEN.parse().unwrap();
    assert_eq!(a.outcome(), Some(&Outcome::Check(Box::new(token.clone()))));
    assert_eq!(a.take_request(), Some(Outcome::Check(Box::new(token))));
    a
}

fn met() -> Introduction {
    let token: pigeonair_join::Token = TOKEN.parse().unwrap();
    Introduction {
        via: token.via,
        cluster: "pigeon".into(),
        member: "mx1.example.com".into(),
        ca: token.ca,
    }
}

/// The cluster confirmed: the join requested and started.
fn joining() -> App {
    let mut a = checking();
    a.report(Report::Checked(Ok(met())));
    key(&mut a, KeyCode::Enter);
    let want = Outcome::Join(Box::new(join_answers()));
    assert_eq!(a.outcome(), Some(&want));
    assert_eq!(a.take_request(), Some(want));
    a
}

#[test]
fn the_first_choice_is_a_new_cluster_or_joining_one() {
    let mut a = app();
    key(&mut a, KeyCode::Enter);
    snapshot("choice", &a);
    key(&mut a, KeyCode::Down);
    snapshot("choice-join", &a);
    key(&mut a, KeyCode::Up);
    assert_eq!(a.form.goal(), Goal::Create);
    key(&mut a, KeyCode::Down);
    assert_eq!(a.form.goal(), Goal::Join);
    // Esc from the network screen goes back to the choice as it was.
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.screen_title(), "Network");
    key(&mut a, KeyCode::Esc);
    assert_eq!(a.screen_title(), "New or existing cluster");
    assert_eq!(a.form.goal(), Goal::Join);
}

#[test]
fn the_join_form_is_checked_by_the_answers_files_validator() {
    let mut a = choosing_to_join();
    key(&mut a, KeyCode::Enter);
    // The same network screen, the same validator.
    fill(
        &mut a,
        &["eth0", "203.0.113.12/33", "", "", "eth1", "10.42.0.12/24"],
    );
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.screen_title(), "Network", "Next was not refused");
    snapshot("join-network-errors", &a);

    let mut a = at_join_form();
    snapshot("join", &a);
    fill(&mut a, &["mx2", "K10abc::server:xyz"]);
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.screen_title(), "Join", "Next was not refused");
    assert_eq!(a.outcome(), None);
    snapshot("join-errors", &a);

    // A token whose address is not one: named as the answers file's check names it.
    let mut a = at_join_form();
    let bad = TOKEN.replace("@10.42.0.11:7443", "@mx1.example.com:7443");
    fill(&mut a, &["mx2.example.com", &bad]);
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.outcome(), None);
    snapshot("join-errors-address", &a);
    let e = pigeonair_installer::join::parse(&JOIN_ANSWERS.replace(TOKEN, &bad))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cluster.join: the join token's address \"mx1.example.com:7443\""),
        "{e}"
    );
}

#[test]
fn the_member_is_checked_and_its_cluster_confirmed_before_the_token_is_sent() {
    let mut a = checking();
    snapshot("join-checking", &a);
    // Unreachable: the reason, and Esc goes back to the token with nothing lost.
    let unreachable = pigeonair_control::client::JoinError::Connect {
        addr: "10.42.0.11:7443".into(),
        reason: "Connection refused (os error 111), for 5 s".into(),
    };
    a.report(Report::Checked(Err(unreachable.to_string())));
    snapshot("join-check-unreachable", &a);
    key(&mut a, KeyCode::Esc);
    assert_eq!(a.screen_title(), "Join");
    assert_eq!(a.focused(), Some(Field::Token));
    assert_eq!(a.form.get(Field::Token), TOKEN);
    assert_eq!(a.outcome(), None);

    // Another CA at the token's address: refused with both fingerprints named.
    key(&mut a, KeyCode::Enter);
    assert!(matches!(a.take_request(), Some(Outcome::Check(_))));
    let untrusted = pigeonair_control::client::JoinError::Untrusted {
        addr: "10.42.0.11:7443".into(),
        reason: format!(
            "no certificate in its chain has the token's CA fingerprint {}; it presented {}",
            met().ca.to_hex(),
            pigeonair_join::Fingerprint([0x42; 32]).to_hex()
        ),
    };
    a.report(Report::Checked(Err(untrusted.to_string())));
    snapshot("join-check-untrusted", &a);
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.outcome(), None, "a failed check cannot be confirmed");
    key(&mut a, KeyCode::Esc);
    assert_eq!(a.focused(), Some(Field::Token));

    // The right cluster: its name and the CA's fingerprint, as openssl prints it.
    key(&mut a, KeyCode::Enter);
    assert!(matches!(a.take_request(), Some(Outcome::Check(_))));
    a.report(Report::Checked(Ok(met())));
    snapshot("join-confirm", &a);
    let text = screen(&a);
    assert!(text.contains("sha256 Fingerprint=D0:A0:73:3A:"), "{text}");
    assert!(text.contains("Cluster      pigeon"), "{text}");
    // Esc: back to the token, nothing asked of the runner.
    key(&mut a, KeyCode::Esc);
    assert_eq!(a.focused(), Some(Field::Token));
    assert_eq!(a.take_request(), None);
}

#[test]
fn a_join_the_member_refuses_goes_back_to_the_token() {
    use pigeonair_join::{Refusal, RefusalKind};
    let mut a = joining();
    a.report(Report::Progress(Event::Note(
        "join: sending the token to the member at 10.42.0.11:7443 (CA sha256:d0:a0:73:…)".into(),
    )));
    snapshot("join-progress", &a);
    let refused = pigeonair_control::client::JoinError::Refused(Refusal::new(
        RefusalKind::TokenUsed,
        "token AQIDBAUG was used already (by mx3.example.com): make a new one with `pigeonctl node token`",
    ));
    a.report(Report::JoinFailed(
        pigeonair_installer::join::JoinFailure::from(refused).to_string(),
    ));
    snapshot("join-refused", &a);
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.outcome(), None);
    key(&mut a, KeyCode::Esc);
    assert_eq!(a.screen_title(), "Join");
    assert_eq!(a.focused(), Some(Field::Token));
    assert_eq!(a.form.get(Field::Hostname), "mx2.example.com");
}

#[test]
fn a_joined_node_ends_naming_its_cluster_and_role() {
    let plan = parse_answers(JOINED_ANSWERS).unwrap();
    let mut a = joining();
    a.report(Report::Progress(Event::Note(
        "join: joined cluster pigeon through 10.42.0.11:7443 (0.4 s): 1 member(s), replicating ldap://10.42.0.11/".into(),
    )));
    a.report(Report::Joined(Box::new(plan.clone())));
    for i in 1..=6 {
        a.report(Report::Progress(Event::Step {
            index: i,
            total: 6,
            name: format!("step {i}"),
            outcome: StepOutcome::Changed(vec!["done".into()]),
            secs: 0.1,
        }));
    }
    a.report(Report::Finished(Ok(31)));
    snapshot("join-done", &a);
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.outcome(), Some(&Outcome::Done));
    // What the runner saves of it: the join's plan, no token and no [admin].
    let saved = pigeonair_appliance::answers::to_toml(&plan, "");
    assert!(!saved.contains("join"), "{saved}");
    assert!(!saved.contains("[admin]"), "{saved}");
    assert_eq!(parse_answers(&saved).unwrap(), plan);
}

#[test]
fn review_of_a_joined_nodes_answers_applies_the_same_plan() {
    let plan = parse_answers(JOINED_ANSWERS).unwrap();
    let mut a = app().reviewing(Form::from_plan(&plan));
    assert_eq!(a.form.goal(), Goal::Joined);
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.screen_title(), "Network");
    for _ in 0..6 {
        key(&mut a, KeyCode::Enter);
    }
    assert_eq!(a.screen_title(), "Node");
    snapshot("review-joined-node", &a);
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.screen_title(), "Summary");
    snapshot("review-joined", &a);
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.outcome(), Some(&Outcome::Install(Box::new(plan))));
}

#[test]
fn review_of_a_joining_nodes_answers_checks_its_member() {
    let j = join_answers();
    let mut a = app().reviewing(Form::from_join(&j));
    assert_eq!(a.form.goal(), Goal::Join);
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.screen_title(), "Network");
    for _ in 0..6 {
        key(&mut a, KeyCode::Enter);
    }
    assert_eq!(a.screen_title(), "Join");
    key(&mut a, KeyCode::Enter);
    key(&mut a, KeyCode::Enter);
    assert_eq!(
        a.outcome(),
        Some(&Outcome::Check(Box::new(TOKEN.parse().unwrap())))
    );
}

// Installing from the install medium to a disk.

use pigeonair_appliance::disk::{BlockDevice, BlockPartition, RawDisk, validate_disk};
use pigeonair_installer::tui::DiskInstall;

const GIB: u64 = 1024 * 1024 * 1024;
const MIB: u64 = 1024 * 1024;

/// The live system in qemu as `lsblk` shows it (`disk::probe`): the ISO on the CD drive, a
/// 32 GiB disk holding an old system, a blank 4 GiB one.
fn disks() -> Vec<BlockDevice> {
    vec![
        BlockDevice {
            path: "/dev/sr0".into(),
            size_bytes: 351_272_960,
            model: Some("QEMU DVD-ROM".into()),
            partitions: vec![],
            partition_names: vec![],
            mounted: vec!["/run/live/medium".into()],
            install_medium: true,
        },
        BlockDevice {
            path: "/dev/vda".into(),
            size_bytes: 32 * GIB,
            model: Some("QEMU HARDDISK".into()),
            partitions: vec![
                BlockPartition {
                    path: "/dev/vda1".into(),
                    size_bytes: 512 * MIB,
                    fstype: Some("vfat".into()),
                    label: Some("EFI".into()),
                },
                BlockPartition {
                    path: "/dev/vda2".into(),
                    size_bytes: 32 * GIB - 513 * MIB,
                    fstype: Some("ext4".into()),
                    label: Some("debian".into()),
                },
            ],
            partition_names: vec![],
            mounted: vec![],
            install_medium: false,
        },
        BlockDevice {
            path: "/dev/vdb".into(),
            size_bytes: 4 * GIB,
            model: None,
            partitions: vec![],
            partition_names: vec![],
            mounted: vec![],
            install_medium: false,
        },
    ]
}

/// On the medium, the screens filled in up to the target disk.
fn at_target_disk() -> App {
    let a = filled_through_admin(app().on_medium(disks()), &[PASSWORD, PASSWORD, ""]);
    assert_eq!(a.screen_title(), "Target disk");
    a
}

/// The validator's own words for `[disk]` on [`disks`].
fn validator_says(device: &str, vmail: Option<&str>) -> Vec<String> {
    let raw = RawDisk {
        device: Some(device.into()),
        vmail_size: vmail.map(str::to_owned),
        reinstall: Some(true),
    };
    validate_disk(Some(&raw), &disks())
        .unwrap_err()
        .into_iter()
        .map(|p| p.message)
        .collect()
}

#[test]
fn the_target_disk_is_chosen_from_the_disks_found() {
    let mut a = at_target_disk();
    // The first disk that is neither the medium nor in use is chosen; its partitions shown.
    assert_eq!(a.form.get(Field::DiskDevice), "/dev/vda");
    snapshot("disk-partitions", &a);
    // Typing does not change the choice: Up and Down do.
    typed(&mut a, "x");
    assert_eq!(a.form.get(Field::DiskDevice), "/dev/vda");
    key(&mut a, KeyCode::Up);
    assert_eq!(a.form.get(Field::DiskDevice), "/dev/sr0");
    snapshot("disk-list", &a);
    // The install medium is refused by the validator, in its words.
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.screen_title(), "Target disk", "Next was not refused");
    assert_eq!(
        a.form.problems_of(Field::DiskDevice, None),
        validator_says("/dev/sr0", None)
    );
    snapshot("disk-medium-refused", &a);
    // Too small: refused the same way.
    key(&mut a, KeyCode::Up);
    assert_eq!(a.form.get(Field::DiskDevice), "/dev/vdb");
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.screen_title(), "Target disk", "Next was not refused");
    let said = validator_says("/dev/vdb", None);
    assert_eq!(a.form.problems_of(Field::DiskDevice, None), said);
    assert!(said[0].contains("is too small"), "{said:?}");
    snapshot("disk-too-small", &a);
    key(&mut a, KeyCode::F(1));
    snapshot("disk-help", &a);
}

/// At the target disk, /dev/vda chosen and Enter: the layout.
fn at_layout() -> App {
    let mut a = at_target_disk();
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.screen_title(), "Disk layout");
    a
}

#[test]
fn a_separate_vmail_is_checked_by_the_validator() {
    let mut a = at_layout();
    snapshot("disk-layout", &a);
    typed(&mut a, "512M");
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.screen_title(), "Disk layout", "Next was not refused");
    assert_eq!(
        a.form.problems_of(Field::VmailSize, None),
        validator_says("/dev/vda", Some("512M"))
    );
    snapshot("disk-layout-vmail-error", &a);
    // Too big for the disk: the validator names the disk.
    for _ in 0..4 {
        key(&mut a, KeyCode::Backspace);
    }
    typed(&mut a, "30G");
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.screen_title(), "Disk layout", "Next was not refused");
    assert_eq!(
        a.form.problems_of(Field::DiskDevice, None),
        validator_says("/dev/vda", Some("30G"))
    );
    for _ in 0..3 {
        key(&mut a, KeyCode::Backspace);
    }
    typed(&mut a, "8G");
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.screen_title(), "Summary");
}

/// The layout with a separate 8 GiB /var/vmail, at the summary.
fn at_disk_summary() -> App {
    let mut a = at_layout();
    typed(&mut a, "8G");
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.screen_title(), "Summary");
    a
}

fn expected_disk_install() -> DiskInstall {
    let raw = RawDisk {
        device: Some("/dev/vda".into()),
        vmail_size: Some("8G".into()),
        reinstall: Some(true),
    };
    DiskInstall {
        plan: parse_answers(include_str!(
            "../../appliance/core/examples/single-box.toml"
        ))
        .unwrap(),
        disk: validate_disk(Some(&raw), &disks()).unwrap(),
        raw,
    }
}

#[test]
fn the_erase_warning_names_what_is_erased_and_needs_erase_typed() {
    let mut a = at_disk_summary();
    snapshot("disk-summary", &a);
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.screen_title(), "Erase the disk?");
    snapshot("erase-warning", &a);
    // Enter alone, or another word, is refused; nothing is asked of the runner.
    key(&mut a, KeyCode::Enter);
    typed(&mut a, "yes");
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.screen_title(), "Erase the disk?");
    assert_eq!(a.outcome(), None);
    snapshot("erase-refused", &a);
    // Esc goes back, and the confirmation is asked again.
    key(&mut a, KeyCode::Esc);
    assert_eq!(a.screen_title(), "Summary");
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.form.get(Field::EraseConfirm), "");
    typed(&mut a, "Erase");
    key(&mut a, KeyCode::Enter);
    // The same plan as the answers file, the same [disk] and layout as the validator's.
    let want = Outcome::InstallToDisk(Box::new(expected_disk_install()));
    assert_eq!(a.outcome(), Some(&want));
    assert_eq!(a.take_request(), Some(want));
}

#[test]
fn the_erase_warning_on_a_serial_terminal() {
    let mut a = at_disk_summary().with_ascii_borders(true);
    key(&mut a, KeyCode::Enter);
    let text = screen(&a);
    assert!(text.contains("+----"), "{text}");
    assert!(!text.contains('┌'), "{text}");
    assert!(text.contains("/dev/vda2"), "{text}");
}

#[test]
fn the_install_to_disk_shows_its_steps_and_ends_rebooting() {
    use pigeonair_installer::tui::Report::{Finished, Progress};
    let mut a = at_disk_summary();
    key(&mut a, KeyCode::Enter);
    typed(&mut a, "Erase");
    key(&mut a, KeyCode::Enter);
    assert!(a.take_request().is_some(), "no install requested");
    let steps = [
        "erase /dev/vda and write its partition table (GPT)",
        "make the file systems",
        "mount them at /run/pigeonair/target",
        "copy the appliance system onto the disk (a few minutes)",
    ];
    a.report(Progress(Event::Note(
        "answers saved to /root/pigeonair-answers.toml".into(),
    )));
    for (i, name) in steps.iter().enumerate() {
        a.report(Progress(Event::Note(format!("[{}/7] {name} …", i + 1))));
        if i < 3 {
            a.report(Progress(Event::Step {
                index: i + 1,
                total: 7,
                name: (*name).into(),
                outcome: StepOutcome::Changed(vec!["done".into()]),
                secs: 0.4,
            }));
        }
    }
    snapshot("disk-installing", &a);
    // The end is a view of its own: a serial console gets it drawn whole.
    let running = a.view_id();
    for i in 4..=7 {
        a.report(Progress(Event::Step {
            index: i,
            total: 7,
            name: format!("step {i}"),
            outcome: StepOutcome::Changed(vec!["done".into()]),
            secs: 0.4,
        }));
    }
    a.report(Finished(Ok(7)));
    assert_ne!(a.view_id(), running);
    snapshot("disk-done", &a);
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.outcome(), Some(&Outcome::Reboot));
}

#[test]
fn a_failed_install_to_disk_goes_back_to_the_target_disk() {
    let mut a = at_disk_summary();
    key(&mut a, KeyCode::Enter);
    typed(&mut a, "Erase");
    key(&mut a, KeyCode::Enter);
    assert!(a.take_request().is_some());
    a.report(Report::Progress(Event::Step {
        index: 1,
        total: 7,
        name: "erase /dev/vda and write its partition table (GPT)".into(),
        outcome: StepOutcome::Failed,
        secs: 0.1,
    }));
    a.report(Report::Finished(Err(
        "writing the partition table: wipefs --all --force /dev/vda failed".into(),
    )));
    snapshot("disk-install-failed", &a);
    key(&mut a, KeyCode::Esc);
    assert_eq!(a.screen_title(), "Target disk");
    assert_eq!(a.form.get(Field::EraseConfirm), "");
}

#[test]
fn reviewed_answers_keep_their_disk_and_the_saved_answers_hold_it() {
    let want = expected_disk_install();
    let text = pigeonair_installer::runner::disk_answers(&want);
    let raw = pigeonair_appliance::answers::parse_raw(&text).unwrap();
    assert_eq!(raw.disk.as_ref(), Some(&want.raw), "{text}");
    // The same plan, its password as a hash.
    let saved = parse_answers(&text).unwrap();
    assert_eq!(saved.hostname, want.plan.hostname);
    assert!(text.contains("password_hash = \"$6$"), "{text}");
    // Reviewed on the medium: every screen prefilled, [disk] too, the same install.
    let mut a = app().on_medium(disks()).reviewing(Form::from_plan(&saved));
    a.form.set_raw_disk(raw.disk.as_ref().unwrap());
    a.password_hash = match saved.admin_password() {
        Some(pigeonair_appliance::plan::AdminPassword::Hash(h)) => Some(h.clone()),
        other => panic!("{other:?}"),
    };
    key(&mut a, KeyCode::Enter);
    while a.screen_title() != "Erase the disk?" {
        let before = (a.screen_title(), a.focused());
        key(&mut a, KeyCode::Enter);
        assert_ne!((a.screen_title(), a.focused()), before, "stuck");
    }
    typed(&mut a, "Erase");
    key(&mut a, KeyCode::Enter);
    match a.outcome() {
        Some(Outcome::InstallToDisk(got)) => {
            assert_eq!(got.raw, want.raw);
            assert_eq!(got.disk, want.disk);
            assert_eq!(got.plan, saved);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn off_the_medium_there_is_no_disk_screen() {
    let a = at_summary();
    assert_eq!(a.form.raw_disk(), None);
    let text = screen(&a);
    assert!(text.contains("Summary 6/6"), "{text}");
}
