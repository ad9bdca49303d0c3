//! slapd's cn=config: built into a new directory from the rendered LDIF with `slapadd -n0`,
//! checked with `slaptest`, and swapped in only if the check passes; the working
//! configuration is never replaced by a broken one.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use pigeonair_appliance::render::slapd::{SLAPD_D, SLAPD_LDIF};
use pigeonair_host::{self as host, HostError};

use crate::units;

/// Where the new configuration is built.
const NEW: &str = "/etc/ldap/slapd.d.pigeonair-new";
/// Where the old one goes while the new one moves in.
const OLD: &str = "/etc/ldap/slapd.d.pigeonair-old";
/// slapd's local socket.
pub const LDAPI_SOCKET: &str = "/run/slapd/ldapi";
/// Held while a configuration is built and swapped in: the install and pigeonaird may both
/// rebuild (a join re-run while the control plane reconciles), and two builds in one
/// directory break each other. The kernel drops the lock with its holder, even on kill -9.
const REBUILD_LOCK: &str = "/run/pigeonair/slapd-rebuild.lock";

fn io(path: &str) -> impl FnOnce(std::io::Error) -> HostError + '_ {
    move |source| HostError::Io {
        path: path.into(),
        source,
    }
}

fn remove_tree(path: &str) -> Result<(), HostError> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(path)(e)),
        _ => Ok(()),
    }
}

/// slapd's cn=config LDIF for this node now: rendered from the plan and the cluster view, with
/// the revocation check when pigeonaird has written the cluster's list. What pigeonaird
/// rebuilds slapd from and what the install waits to see on disk.
pub fn rendered_config(
    plan: &pigeonair_appliance::plan::Plan,
    view: &pigeonair_appliance::cluster::ClusterView,
) -> Option<pigeonair_appliance::render::RenderedFile> {
    let ldif = pigeonair_appliance::render::slapd::render(plan, view)
        .into_iter()
        .find(|f| f.path == SLAPD_LDIF)?;
    Some(
        if Path::new(pigeonair_appliance::render::CLUSTER_CA_AND_CRL).exists() {
            pigeonair_appliance::render::slapd::with_revocation_check(ldif)
        } else {
            ldif
        },
    )
}

/// Whether slapd's configuration on disk (`on_disk`, the LDIF it was built from) is the one
/// [`rendered_config`] gives, or that one without the revocation check: the check arrives
/// after the install (pigeonaird writes the list and sets the check live), and a
/// configuration differing only by it is not rebuilt for that (a restart right after every
/// install); the next rebuild renders it in.
pub fn config_in_step(
    plan: &pigeonair_appliance::plan::Plan,
    view: &pigeonair_appliance::cluster::ClusterView,
    on_disk: &str,
) -> bool {
    let Some(plain) = pigeonair_appliance::render::slapd::render(plan, view)
        .into_iter()
        .find(|f| f.path == SLAPD_LDIF)
    else {
        return false;
    };
    on_disk == plain.contents
        || on_disk == pigeonair_appliance::render::slapd::with_revocation_check(plain).contents
}

/// Whether slapd has a configuration at all.
pub fn configured() -> bool {
    Path::new(SLAPD_D).join("cn=config.ldif").exists()
}

/// Builds and checks a configuration from the rendered LDIF, then swaps it in and restarts
/// slapd. The database in /var/lib/ldap is untouched.
pub fn rebuild() -> Result<(), HostError> {
    let _held = rebuild_lock()?;
    remove_tree(NEW)?;
    std::fs::create_dir_all(NEW).map_err(io(NEW))?;
    host::run(Command::new("slapadd").args(["-n0", "-F", NEW, "-l", SLAPD_LDIF]))?;
    host::run(Command::new("chown").args(["-R", "openldap:openldap", NEW]))?;
    // slaptest opens the pid file's directory, which slapd's unit makes only when it starts.
    std::fs::create_dir_all("/run/slapd").map_err(io("/run/slapd"))?;
    host::run(Command::new("chown").args(["openldap:openldap", "/run/slapd"]))?;
    host::run(Command::new("slaptest").args(["-u", "-F", NEW]))?;
    // slapd must read the TLS key, which the ssl-cert group may read.
    host::run(Command::new("usermod").args(["-a", "-G", "ssl-cert", "openldap"]))?;
    units::stop("slapd")?;
    remove_tree(OLD)?;
    if Path::new(SLAPD_D).exists() {
        std::fs::rename(SLAPD_D, OLD).map_err(io(SLAPD_D))?;
    }
    std::fs::rename(NEW, SLAPD_D).map_err(io(SLAPD_D))?;
    remove_tree(OLD)?;
    units::enable("slapd")?;
    units::start("slapd")?;
    wait_for_socket(Duration::from_secs(10))
}

/// Takes [`REBUILD_LOCK`], waiting for a rebuild under way elsewhere to end.
fn rebuild_lock() -> Result<nix::fcntl::Flock<std::fs::File>, HostError> {
    let dir = Path::new(REBUILD_LOCK)
        .parent()
        .expect("the lock is in a directory");
    std::fs::create_dir_all(dir).map_err(io("/run/pigeonair"))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(REBUILD_LOCK)
        .map_err(io(REBUILD_LOCK))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, errno)| io(REBUILD_LOCK)(errno.into()))
}

/// Waits until slapd's ldapi socket exists.
pub fn wait_for_socket(limit: Duration) -> Result<(), HostError> {
    let deadline = Instant::now() + limit;
    while !Path::new(LDAPI_SOCKET).exists() {
        if Instant::now() > deadline {
            return Err(HostError::Io {
                path: LDAPI_SOCKET.into(),
                source: std::io::Error::other(
                    "slapd started but its socket did not appear: see `journalctl -u slapd`",
                ),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}
