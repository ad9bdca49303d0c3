//! Helpers for tests and benchmarks that drive the real `pigeonair-lab` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pigeonair_host as host;

use crate::lab::LAB_TOOLS;

/// Checks that this machine can run labs (root, host tools). When it cannot: in CI (`CI` set)
/// this panics, so a missing tool fails the run; elsewhere it prints why and returns false, and
/// the caller skips.
pub fn lab_host_ready(test: &str) -> bool {
    let problem = host::require_root("the lab tests")
        .and_then(|()| host::require_tools(LAB_TOOLS))
        .err();
    match problem {
        None => true,
        Some(e) if std::env::var_os("CI").is_some() => {
            panic!("{test}: cannot run in CI: {e}")
        }
        Some(e) => {
            eprintln!("SKIPPED {test}: {e}");
            false
        }
    }
}

/// A lab driven through the `pigeonair-lab` binary. Dropping it takes the lab down, so a
/// failing test leaves nothing running.
pub struct LabCli {
    bin: PathBuf,
    name: String,
}

impl LabCli {
    /// The lab `name`, driven by the binary at `bin`.
    pub fn new(bin: impl Into<PathBuf>, name: &str) -> Self {
        LabCli {
            bin: bin.into(),
            name: name.to_owned(),
        }
    }

    /// The lab's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The binary.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// Runs `pigeonair-lab --name NAME ARGS…` and returns what it did.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(&self.bin)
            .arg("--name")
            .arg(&self.name)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.bin.display()))
    }

    /// Runs `ARGS…` and panics, showing its output, unless it succeeded.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "pigeonair-lab --name {} {} failed ({}):\n{}{}",
            self.name,
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `CMD…` inside `node` and returns its output.
    pub fn exec(&self, node: &str, cmd: &[&str]) -> Output {
        let mut args = vec!["exec", node, "--"];
        args.extend(cmd);
        self.run(&args)
    }

    /// Runs `CMD…` at the client address and returns its output.
    pub fn client(&self, cmd: &[&str]) -> Output {
        let mut args = vec!["client", "--"];
        args.extend(cmd);
        self.run(&args)
    }
}

impl Drop for LabCli {
    fn drop(&mut self) {
        let out = self.run(&["down"]);
        if !out.status.success() {
            eprintln!(
                "taking lab {} down failed: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// Text of a process's standard output.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}
