//! Golden tests of `[disk]` against one machine's disks (`disk/machine.json`: the install
//! medium /dev/sr0, a 32 GiB /dev/vda, a 4 GiB /dev/vdb, a mounted /dev/vdc, a 9 GiB /dev/vdd
//! holding a PigeonAir installation):
//! `disk/NAME.toml` becomes the layout in `NAME.json`; `disk_fail/NAME.toml` fails with exactly
//! the message in `NAME.txt`. `UPDATE_GOLDEN=1 cargo test` rewrites the expected files.

use std::path::{Path, PathBuf};

use pigeonair_appliance::AnswersError;
use pigeonair_appliance::answers::parse_raw;
use pigeonair_appliance::disk::{BlockDevice, validate_disk};

fn resources() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/resources")
}

fn machine() -> Vec<BlockDevice> {
    let text = std::fs::read_to_string(resources().join("disk/machine.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn cases(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(resources().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no cases in {dir}");
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
fn disks_that_fit() {
    for case in cases("disk") {
        let raw = parse_raw(&std::fs::read_to_string(&case).unwrap()).unwrap();
        let plan = validate_disk(raw.disk.as_ref(), &machine())
            .unwrap_or_else(|e| panic!("{}: {}", case.display(), AnswersError::Invalid(e)));
        check(
            &case.with_extension("json"),
            &(serde_json::to_string_pretty(&plan).unwrap() + "\n"),
        );
    }
}

#[test]
fn disks_refused_by_name() {
    for case in cases("disk_fail") {
        let raw = parse_raw(&std::fs::read_to_string(&case).unwrap()).unwrap();
        let problems = validate_disk(raw.disk.as_ref(), &machine())
            .err()
            .unwrap_or_else(|| panic!("{} accepted", case.display()));
        check(
            &case.with_extension("txt"),
            &format!("{}\n", AnswersError::Invalid(problems)),
        );
    }
}
