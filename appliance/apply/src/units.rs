//! systemd units: enable, start, reload or restart through systemctl, and read their main PIDs.

use std::process::Command;

use pigeonair_host::{self as host, HostError};

fn systemctl(args: &[&str]) -> Result<String, HostError> {
    host::run(Command::new("systemctl").args(args))
}

/// Whether `unit` is active.
pub fn is_active(unit: &str) -> bool {
    systemctl(&["is-active", "--quiet", unit]).is_ok()
}

/// Enables `unit` at boot (no-op when it already is).
pub fn enable(unit: &str) -> Result<(), HostError> {
    if systemctl(&["is-enabled", "--quiet", unit]).is_err() {
        systemctl(&["enable", "--quiet", unit])?;
    }
    Ok(())
}

/// Starts `unit`.
pub fn start(unit: &str) -> Result<(), HostError> {
    systemctl(&["start", unit]).map(|_| ())
}

/// Stops `unit`.
pub fn stop(unit: &str) -> Result<(), HostError> {
    systemctl(&["stop", unit]).map(|_| ())
}

/// Reloads `unit` when it supports that, else restarts it.
pub fn reload_or_restart(unit: &str) -> Result<(), HostError> {
    systemctl(&["reload-or-restart", unit]).map(|_| ())
}
