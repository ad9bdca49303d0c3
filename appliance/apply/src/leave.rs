//! Leaving the cluster: what a node removed from it does to itself, so it is a fresh box again
//! that can be joined (with a new token) or installed anew.
//!
//! The mail daemons and slapd are stopped and disabled; their configuration (which holds the
//! cluster's secrets), the directory's database, the mailboxes (a removed node has none left:
//! `node remove` refuses one that does), the cluster's certificates and keys, the secrets and
//! the installed answers are deleted. What keeps the box reachable stays: its network
//! configuration, host name and `/etc/hosts`. Mail still queued for other domains stays in
//! Postfix's queue and goes out when the box serves mail again.

use std::path::Path;
use std::process::Command;

use pigeonair_appliance::render::slapd::SLAPD_DB;
use pigeonair_appliance::render::{RenderedFile, Unit};

use crate::SAVED_ANSWERS;

/// Directories whose contents go, and which stay themselves (with their owners and modes).
const EMPTIED: [&str; 4] = [
    "/etc/ldap/slapd.d",
    SLAPD_DB,
    pigeonair_appliance::directory::VMAIL_DIR,
    "/var/lib/pigeonair",
];
/// Removed whole: the node's TLS and cluster keys, certificates and CRL.
const REMOVED_DIRS: [&str; 2] = ["/etc/pigeonair/tls", "/etc/pigeonair/cluster"];
/// Services stopped and disabled (an installed node runs them; a fresh box does not).
const SERVICES: [&str; 4] = [
    "pigeonair-balancer.service",
    "postfix.service",
    "dovecot.service",
    "slapd.service",
];

/// Whether a rendered file goes when the node leaves: the daemons' configuration and
/// PigeonAir's own files; not the network's, the host's identity, or the firewall that keeps
/// the internal ports closed.
pub fn goes(file: &RenderedFile) -> bool {
    matches!(file.unit, Unit::Slapd | Unit::Postfix | Unit::Dovecot)
        || (file.path.starts_with("/etc/pigeonair/") && file.unit != Unit::Firewall)
}

fn empty(dir: &Path, done: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let r = if p.is_dir() && !p.is_symlink() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        match r {
            Ok(()) => done.push(format!("removed {}", p.display())),
            Err(e) => done.push(format!("could not remove {}: {e}", p.display())),
        }
    }
}

/// Turns this node into a fresh box; `rendered` are the files its install wrote. Returns what
/// it did, a line each. Run by pigeonaird, which stops itself afterwards.
pub fn leave(rendered: &[RenderedFile]) -> Vec<String> {
    let mut done = Vec::new();
    for s in SERVICES {
        let out = Command::new("systemctl")
            .args(["disable", "--now", s])
            .output();
        match out {
            Ok(o) if o.status.success() => done.push(format!("stopped and disabled {s}")),
            Ok(o) => done.push(format!(
                "{s}: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Err(e) => done.push(format!("{s}: {e}")),
        }
    }
    for f in rendered.iter().filter(|f| goes(f)) {
        if std::fs::remove_file(&f.path).is_ok() {
            done.push(format!("removed {}", f.path));
        }
    }
    for d in REMOVED_DIRS {
        if std::fs::remove_dir_all(d).is_ok() {
            done.push(format!("removed {d}"));
        }
    }
    for d in EMPTIED {
        empty(Path::new(d), &mut done);
    }
    for f in [crate::secrets::SECRETS_FILE, SAVED_ANSWERS] {
        if std::fs::remove_file(f).is_ok() {
            done.push(format!("removed {f}"));
        }
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daemons_files_go_and_the_network_stays() {
        let file = |path: &str, unit| RenderedFile::public(path, String::new(), unit);
        assert!(goes(&file("/etc/dovecot/dovecot.conf", Unit::Dovecot)));
        assert!(goes(&file("/etc/postfix/main.cf", Unit::Postfix)));
        assert!(goes(&file("/etc/pigeonair/balancer.toml", Unit::None)));
        assert!(!goes(&file("/etc/pigeonair/firewall.nft", Unit::Firewall)));
        assert!(!goes(&file("/etc/hosts", Unit::None)));
        assert!(!goes(&file(
            "/etc/systemd/network/10-public.network",
            Unit::Networkd
        )));
    }
}
