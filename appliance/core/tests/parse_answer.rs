//! Golden tests of the answers file: `parse_answer/NAME.toml` becomes the plan in `NAME.json`;
//! `parse_answer_fail/NAME.toml` fails with exactly the message in `NAME.txt`.
//! `UPDATE_GOLDEN=1 cargo test` rewrites the expected files (review the diff).

use std::path::Path;

use pigeonair_appliance::parse_answers;

fn cases(dir: &str) -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/resources")
        .join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no cases in {}", dir.display());
    files
}

fn check(expected_path: &Path, actual: &str) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(expected_path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(expected_path).unwrap_or_else(|_| {
        panic!(
            "{} missing (UPDATE_GOLDEN=1 writes it)",
            expected_path.display()
        )
    });
    assert_eq!(expected, actual, "{}", expected_path.display());
}

#[test]
fn answers_that_parse() {
    for case in cases("parse_answer") {
        let text = std::fs::read_to_string(&case).unwrap();
        let plan = parse_answers(&text).unwrap_or_else(|e| panic!("{}: {e}", case.display()));
        let json = serde_json::to_string_pretty(&plan).unwrap() + "\n";
        check(&case.with_extension("json"), &json);
    }
}

#[test]
fn answers_that_fail() {
    for case in cases("parse_answer_fail") {
        let text = std::fs::read_to_string(&case).unwrap();
        let err = parse_answers(&text)
            .err()
            .unwrap_or_else(|| panic!("{} parsed", case.display()));
        check(&case.with_extension("txt"), &format!("{err}\n"));
    }
}

#[test]
fn the_shipped_example_parses() {
    let text = include_str!("../examples/single-box.toml");
    let plan = parse_answers(text).unwrap();
    assert_eq!(plan.hostname.as_str(), "mx1.example.com");
}

/// Joining nodes' answers (`parse_join_fail/NAME.toml`) that the join validator refuses with
/// exactly the message in `NAME.txt`.
#[test]
fn join_answers_that_fail() {
    for case in cases("parse_join_fail") {
        let text = std::fs::read_to_string(&case).unwrap();
        let raw = pigeonair_appliance::answers::parse_raw(&text).unwrap();
        let err = pigeonair_appliance::answers::validate_join(&raw, &|_| Ok(()))
            .err()
            .unwrap_or_else(|| panic!("{} passed", case.display()));
        check(&case.with_extension("txt"), &format!("{err}\n"));
    }
}

#[test]
fn a_joining_node_may_choose_to_stay_a_replica() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/resources/parse_join_fail/bad-directory.toml"),
    )
    .unwrap();
    for (word, choice) in [
        (
            "replica",
            pigeonair_appliance::providers::DirectoryChoice::Replica,
        ),
        (
            "auto",
            pigeonair_appliance::providers::DirectoryChoice::Auto,
        ),
    ] {
        let text = text.replace("\"provider\"", &format!("\"{word}\""));
        let raw = pigeonair_appliance::answers::parse_raw(&text).unwrap();
        let j = pigeonair_appliance::answers::validate_join(&raw, &|_| Ok(())).unwrap();
        assert_eq!(j.directory, choice);
    }
}
