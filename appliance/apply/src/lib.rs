//! Apply: brings this node to what the plan wants and says what it changed, as typed
//! [`Event`]s. `pigeonair-install` (unattended and from the TUI) runs it; it has no terminal
//! or TUI code of its own, so the control plane can use it too.
//!
//! 1. secrets — the cluster's secrets, made once on the first node;
//! 2. TLS — the node's key and certificate, made once with openssl; on the first node the
//!    cluster CA and the node's cluster certificate;
//! 3. files — rendered files compared with the node; a daemon's changed files are first
//!    checked in a staging copy of its configuration (`postfix check`, `doveconf -n`), then
//!    written atomically; a marker in `/var/lib/pigeonair/pending/` records that the daemon
//!    must be reloaded, so an apply killed after writing still reloads it when run again;
//! 4. directory — slapd's cn=config rebuilt when its LDIF changed (checked with slaptest before
//!    it replaces the working one), then the seed entries added where missing;
//! 5. services — changed sysctl.d files loaded; units with pending changes reloaded or
//!    restarted, stopped ones started;
//! 6. cluster — a node that joined marks itself active once its services answer.
//!
//! Re-applying the same plan changes nothing and says "0 changed".

#![forbid(unsafe_code)]

pub mod cluster_ca;
pub mod files;
pub mod leave;
pub mod network;
pub mod progress;
pub mod replica;
pub mod secrets;
pub mod seed;
pub mod slapd;
pub mod ssh;
pub mod tls;
pub mod units;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use pigeonair_appliance::Plan;
use pigeonair_appliance::answers::to_toml;
use pigeonair_appliance::directory::{MAIL_GID, SeedSecrets, VMAIL_DIR, node_dn, seed_entries};
use pigeonair_appliance::plan::{AdminPassword, Role};
use pigeonair_appliance::render::{RenderedFile, Unit, render_all};
use pigeonair_host::{self as host, HostError};

use files::{FileChange, FileError, Root};
use pigeonair_appliance::crypt::{random_uuid, sha512_crypt, verify};
pub use progress::{Event, StepOutcome};

/// Where the installer keeps the answers it installed (with the password hashed).
pub const SAVED_ANSWERS: &str = "/etc/pigeonair/answers.toml";
/// Markers of daemons whose configuration was written but not yet reloaded.
const PENDING_DIR: &str = "/var/lib/pigeonair/pending";
/// Where a daemon's changed configuration is checked before it is written.
const STAGE_DIR: &str = "/var/lib/pigeonair/stage";
/// Loads the sysctl.d files it is given (systemd's own, so no procps is needed).
const SYSTEMD_SYSCTL: &str = "/usr/lib/systemd/systemd-sysctl";

/// Apply failed; the message says which step and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// A file could not be read or written.
    #[error(transparent)]
    File(#[from] FileError),
    /// A command failed.
    #[error(transparent)]
    Host(#[from] HostError),
    /// The cluster's certificates could not be made.
    #[error(transparent)]
    Ca(#[from] cluster_ca::CaError),
    /// The replica or the node's state in the directory.
    #[error(transparent)]
    Replica(#[from] replica::ReplicaError),
    /// The directory could not be seeded.
    #[error(transparent)]
    Seed(#[from] seed::SeedError),
    /// The node's private address did not come up (slapd and LMTP listen on it).
    #[error("{0}")]
    Network(String),
    /// A daemon's new configuration did not pass its own check; nothing of it was written.
    #[error("the new {unit} configuration failed its check and was not installed:\n{reason}")]
    Invalid {
        /// The daemon.
        unit: String,
        /// What the checker said.
        reason: String,
    },
}

/// How to apply.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Print what would change; change nothing.
    pub dry_run: bool,
}

/// What apply did (or, with `--dry-run`, would do): one line per change.
#[derive(Debug, Default)]
pub struct Report {
    /// The changes.
    pub changes: Vec<String>,
}

/// Progress: one [`Event`] per step, with its duration.
pub struct Progress<'a> {
    out: &'a mut dyn FnMut(&Event),
    step: usize,
    total: usize,
}

impl<'a> Progress<'a> {
    /// Reports through `out`.
    pub fn new(out: &'a mut dyn FnMut(&Event), total: usize) -> Self {
        Progress {
            out,
            step: 0,
            total,
        }
    }

    fn run<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut Vec<String>) -> Result<T, ApplyError>,
        report: &mut Report,
    ) -> Result<T, ApplyError> {
        self.step += 1;
        let started = Instant::now();
        let mut changes = Vec::new();
        let result = f(&mut changes);
        let secs = started.elapsed().as_secs_f64();
        let outcome = match &result {
            Ok(_) if changes.is_empty() => StepOutcome::Unchanged,
            Ok(_) => StepOutcome::Changed(changes.clone()),
            Err(_) => StepOutcome::Failed,
        };
        let event = Event::Step {
            index: self.step,
            total: self.total,
            name: what.to_owned(),
            outcome,
            secs,
        };
        log::info!("{event}");
        (self.out)(&event);
        report.changes.extend(changes);
        result
    }
}

fn pending_marker(unit: Unit) -> PathBuf {
    PathBuf::from(PENDING_DIR).join(format!("{unit:?}").to_lowercase())
}

fn is_pending(unit: Unit) -> bool {
    pending_marker(unit).exists()
}

fn set_pending(unit: Unit) -> Result<(), ApplyError> {
    let path = pending_marker(unit);
    std::fs::create_dir_all(PENDING_DIR).map_err(|source| FileError::Io {
        path: PENDING_DIR.into(),
        source,
    })?;
    std::fs::write(&path, b"").map_err(|source| FileError::Io { path, source })?;
    Ok(())
}

fn clear_pending(unit: Unit) -> Result<(), ApplyError> {
    match std::fs::remove_file(pending_marker(unit)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(FileError::Io {
            path: pending_marker(unit),
            source: e,
        }
        .into()),
        _ => Ok(()),
    }
}

/// Whether a change to slapd's configuration was written but slapd not yet rebuilt from it.
pub fn pending_slapd() -> bool {
    is_pending(Unit::Slapd)
}

/// Brings slapd's configuration to `ldif` (slapd's rendered cn=config, from the plan and the
/// cluster view) when it differs, or when a rebuild was left pending: written, rebuilt and
/// checked, swapped in, slapd restarted (about a second without the local directory).
/// pigeonaird calls it when the directory's providers change. Returns whether it rebuilt.
pub fn apply_slapd_config(ldif: &RenderedFile) -> Result<bool, ApplyError> {
    let root = Root(PathBuf::from("/"));
    let change = files::diff_file(&root, ldif)?;
    if change.is_none() && !is_pending(Unit::Slapd) {
        return Ok(false);
    }
    set_pending(Unit::Slapd)?;
    if change.is_some() {
        files::write_file(&root, ldif)?;
    }
    slapd::rebuild()?;
    clear_pending(Unit::Slapd)?;
    Ok(true)
}

/// The administrator's hash (on the node that made the cluster): from the plan, or the saved
/// answers' hash when it still matches the clear password (a re-apply must not re-hash with a
/// new salt), or a new one.
fn admin_hash(plan: &Plan, root: &Root) -> Option<String> {
    Some(match plan.admin_password()? {
        AdminPassword::Hash(h) => h.clone(),
        AdminPassword::Clear(password) => {
            let saved = std::fs::read_to_string(root.path(SAVED_ANSWERS))
                .ok()
                .and_then(|t| pigeonair_appliance::parse_answers(&t).ok())
                .and_then(|p| match p.admin_password() {
                    Some(AdminPassword::Hash(h)) if verify(password, h) => Some(h.clone()),
                    _ => None,
                });
            saved.unwrap_or_else(|| sha512_crypt(password))
        }
    })
}

/// Checks a daemon's configuration with `changes` applied, in a staging copy of its
/// configuration directory, before anything of it is written.
fn check_staged(unit: Unit, changes: &[&FileChange]) -> Result<(), ApplyError> {
    let (dir, check): (&str, fn(&str) -> Command) = match unit {
        Unit::Postfix => ("/etc/postfix", |stage| {
            let mut c = Command::new("postfix");
            c.args(["-c", stage, "check"]);
            c
        }),
        Unit::Dovecot => ("/etc/dovecot", |stage| {
            let mut c = Command::new("doveconf");
            c.args(["-n", "-c", &format!("{stage}/dovecot.conf")]);
            c
        }),
        Unit::Firewall => {
            // nft checks a rule file without loading it.
            for change in changes {
                if change.file.path.ends_with(".nft") {
                    let tmp = format!("{STAGE_DIR}/firewall.nft");
                    std::fs::create_dir_all(STAGE_DIR).map_err(|source| FileError::Io {
                        path: STAGE_DIR.into(),
                        source,
                    })?;
                    std::fs::write(&tmp, &change.file.contents).map_err(|source| {
                        FileError::Io {
                            path: tmp.clone().into(),
                            source,
                        }
                    })?;
                    let result = host::run(Command::new("nft").args(["-c", "-f", &tmp]));
                    let _ = std::fs::remove_file(&tmp);
                    result.map_err(|e| ApplyError::Invalid {
                        unit: "firewall".into(),
                        reason: e.to_string(),
                    })?;
                }
            }
            return Ok(());
        }
        _ => return Ok(()),
    };
    let stage = format!("{STAGE_DIR}/{}", dir.trim_start_matches("/etc/"));
    let _ = std::fs::remove_dir_all(&stage);
    std::fs::create_dir_all(STAGE_DIR).map_err(|source| FileError::Io {
        path: STAGE_DIR.into(),
        source,
    })?;
    host::run(Command::new("cp").args(["-a", dir, &stage]))?;
    let stage_root = Root(PathBuf::from(&stage));
    for change in changes {
        let rel = change
            .file
            .path
            .strip_prefix(dir)
            .unwrap_or(&change.file.path);
        let mut staged = change.file.clone();
        staged.path = rel.to_owned();
        files::write_file(&stage_root, &staged)?;
    }
    let result = host::run(&mut check(&stage));
    let _ = std::fs::remove_dir_all(&stage);
    result.map(|_| ()).map_err(|e| ApplyError::Invalid {
        unit: format!("{unit:?}").to_lowercase(),
        reason: e.to_string(),
    })
}

/// Applies `plan` to this node.
pub fn install(
    plan: &Plan,
    opts: &Options,
    out: &mut dyn FnMut(&Event),
) -> Result<Report, ApplyError> {
    host::require_root("pigeonair-install")?;
    let root = Root(PathBuf::from("/"));
    let mut report = Report::default();
    let mut p = Progress::new(out, 6);

    let secrets = p.run(
        "secrets",
        |changes| {
            let (secrets, new) = secrets::load_or_make(&root)?;
            if new {
                if !opts.dry_run {
                    secrets::save(&root, &secrets)?;
                }
                changes.push(format!(
                    "made service passwords in {}",
                    secrets::SECRETS_FILE
                ));
            }
            Ok(secrets)
        },
        &mut report,
    )?;

    p.run(
        "TLS",
        |changes| {
            if !tls::present() {
                if !opts.dry_run {
                    tls::make(plan.hostname.as_str())?;
                }
                changes.push(format!("made a key and certificate for {}", plan.hostname));
            }
            if let Role::Joined { .. } = plan.role {
                // A joining node's cluster certificate comes from the join, before apply.
                if !cluster_ca::present() {
                    return Err(ApplyError::Invalid {
                        unit: "cluster certificate".into(),
                        reason: "this node joined a cluster but has no cluster certificate: run the join answers again".into(),
                    });
                }
            } else if !cluster_ca::present() {
                if !opts.dry_run {
                    cluster_ca::make(
                        plan.domain.as_str(),
                        plan.hostname.as_str(),
                        plan.private.address.addr().into(),
                    )?;
                }
                changes.push(format!(
                    "made the cluster CA and {}'s cluster certificate",
                    plan.hostname
                ));
            }
            Ok(())
        },
        &mut report,
    )?;

    let admin_hash = admin_hash(plan, &root);
    let view = replica::cluster_view()?;
    let mut desired = render_all(plan, &secrets, &view);
    // As pigeonaird renders it (slapd::rendered_config) when a rebuild is due anyway; a
    // configuration on disk differing only by the revocation check is in step as it is
    // (slapd::config_in_step), so a re-apply changes nothing.
    if root
        .path(pigeonair_appliance::render::CLUSTER_CA_AND_CRL)
        .exists()
    {
        let on_disk =
            std::fs::read_to_string(root.path(pigeonair_appliance::render::slapd::SLAPD_LDIF))
                .unwrap_or_default();
        for file in desired.iter_mut() {
            if file.path == pigeonair_appliance::render::slapd::SLAPD_LDIF
                && on_disk != file.contents
            {
                *file = pigeonair_appliance::render::slapd::with_revocation_check(file.clone());
            }
        }
    }
    desired.push(RenderedFile {
        path: SAVED_ANSWERS.into(),
        contents: to_toml(plan, admin_hash.as_deref().unwrap_or_default()),
        mode: 0o600,
        owner: "root".into(),
        group: "root".into(),
        unit: Unit::None,
    });
    let mut dry_diff = String::new();
    p.run(
        "files",
        |changes| {
            let mut diffs = Vec::new();
            for file in &desired {
                if let Some(c) = files::diff_file(&root, file)? {
                    diffs.push(c);
                }
            }
            if opts.dry_run {
                for c in &diffs {
                    dry_diff.push_str(&files::describe(c));
                    changes.push(format!("would write {}", c.file.path));
                }
                return Ok(());
            }
            let units: BTreeSet<Unit> = diffs.iter().map(|c| c.file.unit).collect();
            for unit in &units {
                let of_unit: Vec<&FileChange> =
                    diffs.iter().filter(|c| c.file.unit == *unit).collect();
                check_staged(*unit, &of_unit)?;
            }
            for unit in &units {
                if *unit != Unit::None {
                    set_pending(*unit)?;
                }
            }
            for c in &diffs {
                files::write_file(&root, &c.file)?;
                changes.push(format!("wrote {}", c.file.path));
            }
            // What some files need once all are in place.
            let written = |path: &str| diffs.iter().any(|c| c.file.path == path);
            if written("/etc/hostname") {
                host::run(Command::new("hostname").arg(plan.hostname.as_str()))?;
            }
            if written("/etc/aliases") {
                host::run(&mut Command::new("newaliases"))?;
            }
            if diffs
                .iter()
                .any(|c| c.file.path.starts_with("/etc/systemd/system/"))
            {
                host::run(Command::new("systemctl").arg("daemon-reload"))?;
            }
            Ok(())
        },
        &mut report,
    )?;
    if opts.dry_run {
        out_lines(p.out, &dry_diff);
    }

    p.run(
        "directory",
        |changes| {
            if opts.dry_run {
                if !slapd::configured() || is_pending(Unit::Slapd) {
                    changes.push("would build slapd's configuration".into());
                }
                return Ok(());
            }
            if network::bring_up_private_address(plan)? {
                changes.push(format!(
                    "brought up {} on {} (systemd-networkd)",
                    plan.private.address,
                    plan.private.interface.as_str()
                ));
            }
            if !slapd::configured() || is_pending(Unit::Slapd) {
                slapd::rebuild()?;
                clear_pending(Unit::Slapd)?;
                changes.push("built and checked slapd's configuration, restarted slapd".into());
            } else if !units::is_active("slapd") {
                units::enable("slapd")?;
                units::start("slapd")?;
                changes.push("started slapd".into());
            }
            slapd::wait_for_socket(std::time::Duration::from_secs(10))?;
            let Some(admin_hash) = &admin_hash else {
                // A replica: its entries come from the provider. Postfix and Dovecot start
                // only once this node's own entry (which the join made) has arrived.
                let waited = replica::wait_for_entry(
                    &node_dn(plan.hostname.as_str()),
                    std::time::Duration::from_secs(REPLICA_WAIT_SECS),
                )?;
                if let Some(waited) = waited {
                    changes.push(format!(
                        "replica in sync with the provider ({:.1} s)",
                        waited.as_secs_f64()
                    ));
                }
                return Ok(());
            };
            let mut ldap = seed::connect_as_root()?;
            // The mailbox id is made once: a new one only when postmaster does not exist yet.
            let seed_secrets = SeedSecrets {
                admin_hash: format!("{{CRYPT}}{admin_hash}"),
                postfix_hash: format!("{{CRYPT}}{}", sha512_crypt(&secrets.postfix_ldap)),
                dovecot_hash: format!("{{CRYPT}}{}", sha512_crypt(&secrets.dovecot_ldap)),
                postmaster_mailbox_id: random_uuid(),
            };
            let added = seed::add_missing(&mut ldap, &seed_entries(plan, &seed_secrets))?;
            if !added.is_empty() {
                changes.push(format!("added {} entries", added.len()));
            }
            let converged = seed::converge_service_passwords(&mut ldap, &secrets)?;
            if !converged.is_empty() {
                changes.push(format!("set the password of {}", converged.join(", ")));
            }
            let _ = ldap.unbind();
            Ok(())
        },
        &mut report,
    )?;

    p.run(
        "services",
        |changes| {
            // Owner and mode are checked, not only whether it exists: a separate /var/vmail
            // partition (an install from the medium) is mounted there as root's 0755.
            let vmail_ready = std::fs::metadata(VMAIL_DIR).is_ok_and(|m| {
                use std::os::unix::fs::MetadataExt;
                m.is_dir() && m.uid() == 0 && m.gid() == MAIL_GID && m.mode() & 0o7777 == 0o1770
            });
            if !vmail_ready {
                if !opts.dry_run {
                    std::fs::create_dir_all(VMAIL_DIR).map_err(|source| FileError::Io {
                        path: VMAIL_DIR.into(),
                        source,
                    })?;
                    host::run(
                        Command::new("chown").args([&format!("root:{MAIL_GID}"), VMAIL_DIR]),
                    )?;
                    // Dovecot makes each home as the user's uid in the shared group; the sticky bit
                    // keeps one user from renaming or removing another's home.
                    host::run(Command::new("chmod").args(["1770", VMAIL_DIR]))?;
                }
                changes.push(format!("made {VMAIL_DIR} (root:{MAIL_GID}, 1770)"));
            }
            // Kernel parameters first: networkd must not bring up an address (direct routing's
            // VIP) before the ARP settings that keep it off the wire are in force.
            if is_pending(Unit::Sysctl) {
                for file in desired.iter().filter(|f| f.unit == Unit::Sysctl) {
                    if opts.dry_run {
                        changes.push(format!("would load {}", file.path));
                        continue;
                    }
                    host::run(Command::new(SYSTEMD_SYSCTL).arg(&file.path))?;
                    changes.push(format!("loaded {}", file.path));
                }
                if !opts.dry_run {
                    clear_pending(Unit::Sysctl)?;
                }
            }
            let used: BTreeSet<Unit> = desired.iter().map(|f| f.unit).collect();
            for unit in [Unit::Networkd, Unit::Firewall, Unit::Postfix, Unit::Dovecot] {
                let Some(service) = unit.service().filter(|_| used.contains(&unit)) else {
                    continue;
                };
                if opts.dry_run {
                    if is_pending(unit) || !units::is_active(service) {
                        changes.push(format!("would start or reload {service}"));
                    }
                    continue;
                }
                units::enable(service)?;
                if !units::is_active(service) {
                    if unit == Unit::Postfix {
                        // Postfix makes its queue directories on first use, one step at a time
                        // (mkdir, then chown): an install killed between the two left a
                        // root-owned public/ that Postfix only warns about and then cannot
                        // bind in. set-permissions puts every owner and mode back first.
                        host::run(Command::new("postfix").arg("set-permissions"))?;
                    }
                    units::start(service)?;
                    changes.push(format!("started {service}"));
                } else if is_pending(unit) {
                    units::reload_or_restart(service)?;
                    changes.push(format!("reloaded {service}"));
                }
                clear_pending(unit)?;
            }
            if let Some(line) =
                ssh::converge(plan.ssh_keys.len(), is_pending(Unit::Ssh), opts.dry_run)?
            {
                changes.push(line);
            }
            if !opts.dry_run {
                clear_pending(Unit::Ssh)?;
            }
            // pigeonaird has no rendered files (yet): it only has to run, once the directory
            // and Dovecot it watches are there.
            if opts.dry_run {
                if !units::is_active(PIGEONAIRD) {
                    changes.push(format!("would start {PIGEONAIRD}"));
                }
            } else {
                units::enable(PIGEONAIRD)?;
                if !units::is_active(PIGEONAIRD) {
                    units::start(PIGEONAIRD)?;
                    changes.push(format!("started {PIGEONAIRD}"));
                }
            }
            Ok(())
        },
        &mut report,
    )?;

    p.run(
        "cluster",
        |changes| {
            // /etc/hosts names every peer, and the files step rendered it from the directory as
            // it was then: on a node that is joining, before its replica had any entry. Now
            // that the replica is in sync it is rendered again, so the install leaves it whole
            // (not waiting for pigeonaird) and a second run finds nothing to change.
            if !opts.dry_run {
                let hosts =
                    pigeonair_appliance::render::network::hosts(plan, &replica::cluster_view()?);
                if files::diff_file(&root, &hosts)?.is_some() {
                    files::write_file(&root, &hosts)?;
                    changes.push(format!("wrote {} (the cluster's nodes)", hosts.path));
                }
            }
            // A node that joined takes traffic and new mailboxes once its own services answer:
            // then it marks itself active (a write its replica chains to the provider).
            if let Role::Joined { .. } = plan.role {
                let dn = node_dn(plan.hostname.as_str());
                // A node chosen at its join to become a directory provider takes the role
                // now that its replica is in sync (see replica::take_provider_role).
                if !opts.dry_run
                    && let Some(id) =
                        replica::take_provider_role(plan, &dn, std::time::Duration::from_secs(120))?
                {
                    changes.push(format!(
                        "replica in sync: took the roles provider (server ID {id}) and ca; \
                         slapd rebuilt as a provider"
                    ));
                }
                if !opts.dry_run {
                    replica::wait_for_slapd_config(
                        plan,
                        None,
                        std::time::Duration::from_secs(120),
                    )?;
                }
                if replica::node_state(&dn)?.as_deref() != Some("active") {
                    if opts.dry_run {
                        changes.push("would mark this node active".into());
                        return Ok(());
                    }
                    let waited = replica::wait_for_services(
                        plan.private.address.addr(),
                        std::time::Duration::from_secs(60),
                    )?;
                    replica::set_state(&dn, "active")?;
                    changes.push(format!(
                        "SMTP, IMAP and POP3 answer ({:.1} s): marked {} active",
                        waited.as_secs_f64(),
                        plan.hostname
                    ));
                }
                // Done means done everywhere: whichever provider pigeonctl reads shows this
                // node as the install left it.
                if !opts.dry_run {
                    replica::wait_for_providers(
                        plan.hostname.as_str(),
                        std::time::Duration::from_secs(30),
                    )?;
                }
            }
            Ok(())
        },
        &mut report,
    )?;
    Ok(report)
}

/// How long a joining node waits for its replica to receive the directory (100,000 users took
/// about 90 s here; the bound is for a large directory on a slow link).
const REPLICA_WAIT_SECS: u64 = 1800;

/// The control plane's unit (package pigeonair).
const PIGEONAIRD: &str = "pigeonaird.service";

fn out_lines(out: &mut dyn FnMut(&Event), text: &str) {
    for line in text.lines() {
        out(&Event::Note(line.to_owned()));
    }
}
