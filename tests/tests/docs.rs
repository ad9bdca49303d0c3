//! The package carries a man page (section 8) for every program and each of its subcommands,
//! and a bash completion where bash-completion looks for it; the pages render with groff
//! without a warning and the completions load in bash. Checked on the real .deb that
//! `scripts/build` makes (the one the image installs).

use std::path::{Path, PathBuf};
use std::process::Command;

const PROGRAMS: [&str; 5] = [
    "pigeonair-install",
    "pigeonctl",
    "pigeonair-balancer",
    "pigeonaird",
    "pigeonair-console",
];

fn deb() -> PathBuf {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/debian"));
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}: run scripts/build first", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("pigeonair_") && n.ends_with(".deb"))
        })
        .unwrap_or_else(|| panic!("no pigeonair_*.deb in {}: run scripts/build", dir.display()))
}

/// A file of the package, by its path inside it (`./usr/...`).
fn member(deb: &Path, path: &str) -> Vec<u8> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "dpkg-deb --fsys-tarfile '{}' | tar -xO '{path}'",
            deb.display()
        ))
        .output()
        .expect("dpkg-deb");
    assert!(
        out.status.success(),
        "{path} not in the package: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs `program` with `args`, `input` on its standard input; returns its output.
fn pipe(program: &str, args: &[&str], input: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e} (scripts/host-setup installs it)"));
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(input)
        .expect("write");
    child.wait_with_output().expect("wait")
}

fn gunzip(bytes: &[u8]) -> String {
    let out = pipe("gzip", &["-dc"], bytes);
    assert!(out.status.success());
    String::from_utf8(out.stdout).expect("UTF-8 page")
}

/// groff's warnings for a man page (empty when it renders cleanly), rendered as `man` renders it
/// (`-k`: preconv first, as man-db does for UTF-8 pages).
fn groff_warnings(page: &str) -> String {
    let out = pipe(
        "groff",
        &["-k", "-man", "-Tutf8", "-ww", "-z"],
        page.as_bytes(),
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn every_program_has_man_pages_and_a_bash_completion_in_the_package() {
    let deb = deb();
    let list = Command::new("dpkg-deb")
        .arg("-c")
        .arg(&deb)
        .output()
        .expect("dpkg-deb");
    let list = String::from_utf8_lossy(&list.stdout).into_owned();
    let pages: Vec<&str> = list
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .filter(|p| p.starts_with("./usr/share/man/man8/") && p.ends_with(".8.gz"))
        .collect();
    for program in PROGRAMS {
        let page = format!("./usr/share/man/man8/{program}.8.gz");
        assert!(pages.contains(&page.as_str()), "{page} missing:\n{list}");
        let text = gunzip(&member(&deb, &page));
        assert!(text.contains(&format!(".TH {program} 8")), "{text}");
        let completion = format!("./usr/share/bash-completion/completions/{program}");
        let script = String::from_utf8(member(&deb, &completion)).expect("UTF-8");
        // Loaded as bash-completion loads it (sourced), it registers the program.
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!("{script}\ncomplete -p {program}"))
            .output()
            .expect("bash");
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains(program),
            "{completion}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Subcommands have their own pages.
    for sub in [
        "pigeonctl-user-add",
        "pigeonctl-domain-remove",
        "pigeonair-balancer-status",
    ] {
        assert!(
            pages.contains(&format!("./usr/share/man/man8/{sub}.8.gz").as_str()),
            "{sub}.8 missing"
        );
    }
    // Every page renders without a warning, and the check can fail: a page with an unknown
    // macro is warned about.
    for page in &pages {
        let text = gunzip(&member(&deb, page));
        let warnings = groff_warnings(&text);
        assert!(warnings.is_empty(), "{page}: {warnings}");
    }
    let broken = gunzip(&member(&deb, pages[0])).replace(".SH NAME", ".SH NAME\n.XQ bogus");
    assert!(
        !groff_warnings(&broken).is_empty(),
        "groff warns about nothing, so the check above proves nothing"
    );
    println!("{} man pages, {} completions", pages.len(), PROGRAMS.len());
}
