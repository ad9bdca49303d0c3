//! Running system tools (debootstrap, systemd-nspawn, ip, nsenter, slapadd, postfix, systemctl)
//! with errors an operator can act on: which command, its exit status, and the end of what it printed.
//! Also the one logging set-up of PigeonAir's daemons ([`init_daemon_logging`]).
#![forbid(unsafe_code)]

mod logging;
pub use logging::init_daemon_logging;

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The script that installs every host package PigeonAir's tools need.
pub const HOST_SETUP: &str = "scripts/host-setup";

/// A host tool could not be found or run, or it failed.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A tool is not installed.
    #[error(
        "missing host tool `{tool}`: install it with `apt-get install {package}` (or run {HOST_SETUP})"
    )]
    MissingTool {
        /// The program looked for on PATH.
        tool: String,
        /// The Debian package that ships it.
        package: String,
    },
    /// The caller is not root.
    #[error("{what} needs root: run it as root (sudo)")]
    NotRoot {
        /// What needs root.
        what: String,
    },
    /// The program could not be started at all.
    #[error("could not start `{cmd}`: {source}")]
    Spawn {
        /// The command line.
        cmd: String,
        /// Why.
        source: io::Error,
    },
    /// The program ran and failed.
    #[error("`{cmd}` failed ({status}){}", tail_suffix(.output))]
    Failed {
        /// The command line.
        cmd: String,
        /// How it ended.
        status: ExitStatus,
        /// The last lines it printed (stdout and stderr).
        output: String,
    },
    /// The program did not finish in time and was killed.
    #[error("`{cmd}` did not finish within {seconds} s and was stopped")]
    TimedOut {
        /// The command line.
        cmd: String,
        /// The time it was given.
        seconds: u64,
    },
    /// Reading or writing a file around a command failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

fn tail_suffix(output: &str) -> String {
    if output.trim().is_empty() {
        String::new()
    } else {
        format!(":\n{}", output.trim_end())
    }
}

/// Returns the full path of `tool` if it is on PATH (or in the sbin directories, which a
/// non-login root shell may lack).
pub fn find_tool(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
}

/// Fails with [`HostError::MissingTool`] for the first `(tool, debian package)` not installed.
pub fn require_tools(tools: &[(&str, &str)]) -> Result<(), HostError> {
    for (tool, package) in tools {
        if find_tool(tool).is_none() {
            return Err(HostError::MissingTool {
                tool: (*tool).to_owned(),
                package: (*package).to_owned(),
            });
        }
    }
    Ok(())
}

/// Fails with [`HostError::NotRoot`] unless the effective user is root.
pub fn require_root(what: &str) -> Result<(), HostError> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(HostError::NotRoot {
            what: what.to_owned(),
        })
    }
}

/// The command line of `cmd` as a person would type it (for messages only).
pub fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `cmd` to completion and returns its standard output; on failure the error carries the
/// end of its standard error and output. Standard input is empty unless `cmd` sets one.
pub fn run(cmd: &mut Command) -> Result<String, HostError> {
    let line = describe(cmd);
    let out = cmd.output().map_err(|source| HostError::Spawn {
        cmd: line.clone(),
        source,
    })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        Err(HostError::Failed {
            cmd: line,
            status: out.status,
            output: last_lines(&text, 20),
        })
    }
}

/// Runs `cmd` with its output appended to `log`; on failure the error carries the log's last
/// lines, so a long step (debootstrap, apt-get) stays quiet unless it fails.
pub fn run_logged(cmd: &mut Command, log: &Path) -> Result<(), HostError> {
    let io_err = |source| HostError::Io {
        path: log.to_owned(),
        source,
    };
    let mut file = File::options()
        .create(true)
        .append(true)
        .read(true)
        .open(log)
        .map_err(io_err)?;
    let start = file.seek(SeekFrom::End(0)).map_err(io_err)?;
    let line = describe(cmd);
    let status = cmd
        .stdin(Stdio::null())
        .stdout(file.try_clone().map_err(io_err)?)
        .stderr(file.try_clone().map_err(io_err)?)
        .status()
        .map_err(|source| HostError::Spawn {
            cmd: line.clone(),
            source,
        })?;
    if status.success() {
        return Ok(());
    }
    let mut text = String::new();
    file.seek(SeekFrom::Start(start)).map_err(io_err)?;
    // The log may hold non-UTF-8 bytes from package scripts: read lossily.
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io_err)?;
    text.push_str(&String::from_utf8_lossy(&bytes));
    Err(HostError::Failed {
        cmd: line,
        status,
        output: format!(
            "{}\n(whole output in {})",
            last_lines(&text, 20),
            log.display()
        ),
    })
}

/// Runs `cmd` and returns how it ended and what it printed, whatever its exit status; kills it
/// if it is still running after `timeout`.
pub fn output_within(cmd: &mut Command, timeout: Duration) -> Result<Output, HostError> {
    let line = describe(cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| HostError::Spawn {
            cmd: line.clone(),
            source,
        })?;
    // Readers on their own threads, so a chatty command never blocks on a full pipe.
    let read = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = read(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = read(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(HostError::TimedOut {
                    cmd: line,
                    seconds: timeout.as_secs(),
                });
            }
            Err(source) => return Err(HostError::Spawn { cmd: line, source }),
        }
    };
    Ok(Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

/// The last `n` lines of `text`.
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_lines_keeps_the_end() {
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(last_lines("a", 5), "a");
        assert_eq!(last_lines("", 5), "");
    }

    #[test]
    fn failed_command_reports_its_output() {
        let err = run(Command::new("sh").args(["-c", "echo oops >&2; exit 3"])).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("`sh -c echo oops >&2; exit 3` failed"),
            "{text}"
        );
        assert!(text.contains("oops"), "{text}");
    }

    #[test]
    fn output_within_kills_a_slow_command() {
        let err =
            output_within(Command::new("sleep").arg("5"), Duration::from_millis(100)).unwrap_err();
        assert!(matches!(err, HostError::TimedOut { .. }), "{err}");
        let out = output_within(
            Command::new("sh").args(["-c", "echo hi; exit 2"]),
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert_eq!(out.stdout, b"hi\n");
    }

    #[test]
    fn missing_tool_names_the_package() {
        let err = require_tools(&[("sh", "dash"), ("no-such-tool-xyz", "xyz-pkg")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing host tool `no-such-tool-xyz`: install it with `apt-get install xyz-pkg` (or run scripts/host-setup)"
        );
    }
}
