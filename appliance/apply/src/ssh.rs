//! ssh.service as the plan wants it: running (root by key only, the rendered drop-in) when the
//! plan has keys, stopped and disabled when it has none. The image ships without host keys, so
//! no two nodes share them: they are made here, on the node, the first time SSH is turned on.

use std::path::Path;
use std::process::Command;

use pigeonair_host::{self as host, HostError};

use crate::units;

const SERVICE: &str = "ssh.service";
/// One of the host keys `ssh-keygen -A` makes (the others come with it).
const HOST_KEY: &str = "/etc/ssh/ssh_host_ed25519_key";

/// Brings sshd to `keys` (how many root keys the plan has); `changed`: its rendered files
/// changed since it last ran. Returns what it did.
pub fn converge(keys: usize, changed: bool, dry_run: bool) -> Result<Option<String>, HostError> {
    let active = units::is_active(SERVICE);
    if keys == 0 {
        let enabled =
            host::run(Command::new("systemctl").args(["is-enabled", "--quiet", SERVICE])).is_ok();
        if !active && !enabled {
            return Ok(None);
        }
        if !dry_run {
            host::run(Command::new("systemctl").args(["disable", "--now", "--quiet", SERVICE]))?;
        }
        return Ok(Some(format!(
            "{}stopped and disabled {SERVICE} (the answers give no [ssh] key)",
            if dry_run { "would have " } else { "" }
        )));
    }
    if dry_run {
        return Ok((!active || changed).then(|| format!("would start or reload {SERVICE}")));
    }
    let mut made = "";
    if !Path::new(HOST_KEY).exists() {
        host::run(Command::new("ssh-keygen").arg("-A"))?;
        made = ", made its host keys";
    }
    // sshd checks its whole configuration (ours included) before it is started or reloaded.
    host::run(Command::new("sshd").arg("-t"))?;
    units::enable(SERVICE)?;
    Ok(if !active {
        units::start(SERVICE)?;
        Some(format!(
            "started {SERVICE}{made} (root by key only: {keys} key{})",
            if keys == 1 { "" } else { "s" }
        ))
    } else if changed {
        units::reload_or_restart(SERVICE)?;
        Some(format!(
            "reloaded {SERVICE} (root's keys or its settings changed)"
        ))
    } else {
        None
    })
}
