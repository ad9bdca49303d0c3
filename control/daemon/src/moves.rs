//! Mailbox moves between nodes, carried out by the mailbox's home node.
//!
//! `pigeonctl user move ADDRESS --to NODE` only writes `pigeonairMoveTo` on the user's entry.
//! The home node's pigeonaird finds it and moves the mailbox with dsync over the private
//! network (`doveadm backup`/`sync` to the new node's doveadm service: TLS with the cluster CA,
//! the cluster's doveadm secret):
//!
//! 1. **copying**: `doveadm backup` passes while the mailbox is in use, until one is quick;
//! 2. **locked**: deliveries to the user are answered 451 on every node (Dovecot's LMTP userdb
//!    refuses a mailbox in that state), this node's auth cache forgets the user, and a last
//!    `doveadm backup` makes the new copy exact (UIDs, UIDVALIDITY, flags, folders,
//!    subscriptions);
//! 3. **finishing**: one modify sets `mailHost` to the new node, removes the request and names
//!    this node in `pigeonairMoveFrom`, which also ends the lock. Every peer is told
//!    (`POST /v1/moved`): it waits until its directory has the change, flushes its auth cache,
//!    reloads Postfix (its queue manager caches recipient lookups) and retries its queue, so the
//!    deferred mail goes to the new node at once; they are told again at the end. The user's
//!    sessions here are kicked (they log in again and are proxied to the new node), a two-way
//!    `doveadm sync` brings over anything done here between the last copy and the kick, and
//!    the old copy is renamed out of the way and deleted;
//! 4. the move's attributes are removed: done.
//!
//! Each step's state is in the directory before the step runs, so a move interrupted anywhere
//! (pigeonaird killed, the node restarted) resumes where it was: [`phase`] reads it. A move that
//! cannot go on is marked `failed`, with the reason in `pigeonairMoveDetail`, and its lock
//! released; `pigeonctl user move` again retries it.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use log::{info, warn};
use pigeonair_appliance::cluster::ClusterView;
use pigeonair_appliance::directory::BASE_DN;
use pigeonair_appliance::render::dovecot::DOVEADM_PORT;
use pigeonair_directory::{Connection, Mod, Scope, SearchEntry, first, ldap_escape, value_set};
use pigeonair_join::{CONTROL_PORT, MovedNotice, csn_covers};

/// The user attributes a move reads.
const MOVE_ATTRS: [&str; 6] = [
    "mail",
    "mailHost",
    "pigeonairMoveTo",
    "pigeonairMoveFrom",
    "pigeonairMoveState",
    "pigeonairMailboxId",
];
/// Copy passes before the lock, at most; the lock is taken earlier once a pass is quick.
const MAX_PASSES: u32 = 6;
/// A copy pass this quick means the difference left is small: lock now.
const QUICK_PASS: Duration = Duration::from_secs(2);
/// How many times one dsync is run again when it says so (exit code 2) or fails.
const DSYNC_ATTEMPTS: u32 = 5;
/// How long after the lock the last two-way sync waits, so a delivery that had looked the user
/// up before the lock has finished.
const SETTLE: Duration = Duration::from_secs(2);
/// How long after the kick the last two-way sync waits at least, so the kicked sessions have
/// ended and written what they had.
const KICK_SETTLE: Duration = Duration::from_millis(300);

/// How much longer the last two-way sync waits: until [`SETTLE`] after the lock (all of it
/// when the time since the lock is unknown: a finish resumed after a crash) and
/// [`KICK_SETTLE`] after the kick.
pub fn settle(since_lock: Option<Duration>, since_kick: Duration) -> Duration {
    let lock = SETTLE.saturating_sub(since_lock.unwrap_or_default());
    lock.max(KICK_SETTLE.saturating_sub(since_kick))
}
/// Where mailboxes live.
const VMAIL: &str = "/var/vmail";

/// Where a move is, read from the user's entry by the node that runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Not this node's to do (no move, another node's mailbox, or a failed one).
    None,
    /// Copy (or copy again) to `to`, then lock.
    Copy {
        /// The new home node.
        to: String,
    },
    /// Locked: the last copy to `to`, then the flip.
    Locked {
        /// The new home node.
        to: String,
    },
    /// Flipped to `to`: tell the peers, kick, merge, remove the old copy here.
    Finish {
        /// The new home node.
        to: String,
    },
}

/// What `me` has to do for a user, from its entry's `mailHost`, `pigeonairMoveTo`,
/// `pigeonairMoveFrom` and `pigeonairMoveState`.
pub fn phase(
    me: &str,
    home: Option<&str>,
    to: Option<&str>,
    from: Option<&str>,
    state: Option<&str>,
) -> Phase {
    if state == Some("failed") {
        return Phase::None;
    }
    match (home, to, from) {
        (Some(h), _, Some(f)) if f == me && h != me => Phase::Finish { to: h.to_owned() },
        (Some(h), Some(t), _) if h == me && t != me => match state {
            Some("locked") => Phase::Locked { to: t.to_owned() },
            _ => Phase::Copy { to: t.to_owned() },
        },
        _ => Phase::None,
    }
}

fn connect() -> Result<Connection, String> {
    crate::reconcile::local_directory()
}

fn one(e: &SearchEntry, attr: &str) -> Option<String> {
    first(e, attr).map(str::to_owned)
}

/// The users with a move this node has to carry out.
fn pending(me: &str) -> Result<Vec<SearchEntry>, String> {
    let mut c = connect()?;
    let me = ldap_escape(me);
    let found = c
        .search(
            &format!("ou=domains,{BASE_DN}"),
            Scope::Subtree,
            &format!(
                "(&(objectClass=pigeonairMailUser)(!(pigeonairMoveState=failed))\
                 (|(&(mailHost={me})(pigeonairMoveTo=*))(pigeonairMoveFrom={me})))"
            ),
            &MOVE_ATTRS,
        )
        .map_err(|e| e.to_string())?;
    let _ = c.unbind();
    Ok(found)
}

/// Follows the directory for this node's drain ([`crate::drain`]) and the moves to carry out,
/// a few at a time. Never returns.
pub fn run_forever(me: String, parallel: usize) {
    let running: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let mut last_error: Option<String> = None;
    let mut drain_error: Option<String> = None;
    let mut ca_error: Option<String> = None;
    let mut serial_recorded = false;
    let mut renewal = crate::renewal::Renewal::default();
    loop {
        if !serial_recorded {
            serial_recorded = crate::revocation::record_own_serial(&me).is_ok();
        }
        match crate::revocation::leave_if_removed(&me) {
            // Nothing of the cluster is left here: stop (the unit's condition, the installed
            // answers, keeps it stopped).
            Ok(true) => std::process::exit(0),
            Ok(false) => {}
            Err(e) => warn!("leaving the cluster: {e}"),
        }
        if let Err(e) = crate::renewal::tick(&me, &mut renewal) {
            warn_once(&e);
        }
        if let Err(e) = crate::purge::tick(&me) {
            warn_once(&format!("removed users' mailboxes: {e}"));
        }
        match crate::revocation::ca_tick() {
            Ok(()) => ca_error = None,
            Err(e) => {
                if ca_error.as_deref() != Some(e.as_str()) {
                    warn!("revocations: {e}; retrying every second");
                    ca_error = Some(e);
                }
            }
        }
        match crate::drain::tick(&me, parallel) {
            Ok(()) => drain_error = None,
            Err(e) => {
                if drain_error.as_deref() != Some(e.as_str()) {
                    warn!("drain of {me}: {e}; retrying every second");
                    drain_error = Some(e);
                }
            }
        }
        match pending(&me) {
            Ok(entries) => {
                last_error = None;
                for e in entries {
                    let user = one(&e, "mail").unwrap_or_default();
                    {
                        let mut r = running.lock().expect("not poisoned");
                        if r.len() >= parallel || !r.insert(user.clone()) {
                            continue;
                        }
                    }
                    let running = running.clone();
                    let me = me.clone();
                    std::thread::spawn(move || {
                        if let Err(e) = carry_out(&me, &user) {
                            warn!("move of {user}: {e}");
                        }
                        running.lock().expect("not poisoned").remove(&user);
                    });
                }
            }
            Err(e) => {
                if last_error.as_deref() != Some(e.as_str()) {
                    warn!("moves: cannot read the directory ({e}); retrying every second");
                    last_error = Some(e);
                }
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// The user's entry, read again (the request may have changed or been cancelled).
fn read(user: &str) -> Result<SearchEntry, String> {
    let mut c = connect()?;
    let f = ldap_escape(user);
    c.search(
        &format!("ou=domains,{BASE_DN}"),
        Scope::Subtree,
        &format!("(&(objectClass=pigeonairMailUser)(mail={f}))"),
        &MOVE_ATTRS,
    )
    .map_err(|e| e.to_string())?
    .pop()
    .ok_or_else(|| format!("{user} is no longer in the directory"))
}

fn modify(dn: &str, mods: Vec<Mod<String>>) -> Result<(), String> {
    let mut c = connect()?;
    c.modify(dn, mods).map_err(|e| e.to_string())
}

fn replace(attr: &str, value: &str) -> Mod<String> {
    Mod::Replace(attr.to_owned(), value_set(&[value]))
}

fn remove(attr: &str) -> Mod<String> {
    Mod::Replace(attr.to_owned(), Default::default())
}

/// Records the move as failed with `why` (which also releases a lock), and returns `why`.
fn fail(dn: &str, why: String) -> String {
    if let Err(e) = modify(
        dn,
        vec![
            replace("pigeonairMoveState", "failed"),
            replace("pigeonairMoveDetail", &why),
        ],
    ) {
        warn!("could not record the failed move of {dn}: {e}");
    }
    why
}

/// Runs the move of `user`'s mailbox from wherever its entry says it is.
fn carry_out(me: &str, user: &str) -> Result<(), String> {
    let e = read(user)?;
    let dn = e.dn.clone();
    let p = phase(
        me,
        first(&e, "mailHost"),
        first(&e, "pigeonairMoveTo"),
        first(&e, "pigeonairMoveFrom"),
        first(&e, "pigeonairMoveState"),
    );
    let started = Instant::now();
    match p {
        Phase::None => Ok(()),
        Phase::Copy { to } => {
            check_target(&to).map_err(|why| fail(&dn, why))?;
            info!("move of {user} to {to}: copying");
            modify(
                &dn,
                vec![
                    replace("pigeonairMoveState", "copying"),
                    replace("pigeonairMoveDetail", &format!("copying to {to}")),
                ],
            )?;
            let id = one(&e, "pigeonairMailboxId").unwrap_or_default();
            for pass in 1..=MAX_PASSES {
                let t = Instant::now();
                dsync(user, &to, "backup", dsync_limit(&id)).map_err(|why| fail(&dn, why))?;
                let took = t.elapsed();
                info!(
                    "move of {user} to {to}: copy pass {pass} took {} ms",
                    took.as_millis()
                );
                // Cancelled, or sent elsewhere, while copying: stop here.
                let now = read(user)?;
                if first(&now, "pigeonairMoveTo") != Some(to.as_str()) {
                    info!("move of {user} to {to}: the request changed; stopped");
                    return Ok(());
                }
                if took < QUICK_PASS {
                    break;
                }
            }
            lock_and_flip(me, user, &e, &to, started)
        }
        Phase::Locked { to } => lock_and_flip(me, user, &e, &to, started),
        Phase::Finish { to } => finish(me, user, &e, &to, None),
    }
}

/// The new home node must be an active node of the cluster.
fn check_target(to: &str) -> Result<(), String> {
    let view = crate::reconcile::cluster_view()?;
    match view.nodes.get(to) {
        Some(n) if n.state == "active" => Ok(()),
        Some(n) => Err(format!("node {to} is {}: it takes no mailboxes", n.state)),
        None => Err(format!("no node {to} in the cluster")),
    }
}

fn lock_and_flip(
    me: &str,
    user: &str,
    e: &SearchEntry,
    to: &str,
    started: Instant,
) -> Result<(), String> {
    let dn = e.dn.as_str();
    let id = one(e, "pigeonairMailboxId").unwrap_or_default();
    let locked_at = Instant::now();
    modify(
        dn,
        vec![
            replace("pigeonairMoveState", "locked"),
            replace("pigeonairMoveDetail", &format!("last copy to {to}")),
        ],
    )?;
    // This node's LMTP answers from its auth cache: it must see the lock now.
    flush_auth_cache(Some(user)).map_err(|why| fail(dn, why))?;
    dsync(user, to, "backup", locked_limit(&id)).map_err(|why| fail(dn, why))?;
    modify(
        dn,
        vec![
            replace("mailHost", to),
            remove("pigeonairMoveTo"),
            replace("pigeonairMoveFrom", me),
            replace("pigeonairMoveState", "finishing"),
            replace(
                "pigeonairMoveDetail",
                &format!("on {to}; removing the old copy on {me}"),
            ),
        ],
    )?;
    info!(
        "move of {user} to {to}: mailHost flipped; deliveries held for {} ms, move so far {} ms",
        locked_at.elapsed().as_millis(),
        started.elapsed().as_millis()
    );
    let e = read(user)?;
    finish(me, user, &e, to, Some(locked_at))
}

/// After the flip: peers told, sessions kicked, changes merged, the old copy removed.
/// `locked_at`: when this run took the lock (none when a finish is resumed), which the
/// settle counts from.
fn finish(
    me: &str,
    user: &str,
    e: &SearchEntry,
    to: &str,
    locked_at: Option<Instant>,
) -> Result<(), String> {
    let csn = crate::reconcile::context_csn()?;
    tell_peers(me, user, &csn);
    // Mail for the user in this node's own queue goes to the new home now.
    if let Err(e) = flush_queue() {
        warn!("move of {user}: {e}");
    }
    kick(user);
    let kicked = Instant::now();
    std::thread::sleep(settle(locked_at.map(|t| t.elapsed()), kicked.elapsed()));
    let id = one(e, "pigeonairMailboxId").ok_or("no pigeonairMailboxId")?;
    let home = format!("{VMAIL}/{id}");
    // The old copy is renamed out of the way before it is deleted, so a run interrupted while
    // deleting never syncs a half-deleted mailbox: it finds no home here and deletes the rest.
    let gone = format!("{VMAIL}/.moved-{id}");
    if Path::new(&home).exists() {
        // Flags changed, messages expunged or saved here between the last copy and the kick:
        // a two-way sync (both copies have the same UIDs) merges them into the new copy.
        dsync(user, to, "sync", dsync_limit(&id))?;
        let _ = std::fs::remove_dir_all(&gone);
        std::fs::rename(&home, &gone).map_err(|e| format!("rename {home}: {e}"))?;
    }
    if Path::new(&gone).exists() {
        std::fs::remove_dir_all(&gone).map_err(|e| format!("remove {gone}: {e}"))?;
    }
    // A delivery routed by a lookup made before the reloads above may have been deferred after
    // them: retry once more, here and on the peers, now that every such attempt is over.
    tell_peers(me, user, &csn);
    if let Err(e) = flush_queue() {
        warn!("move of {user}: {e}");
    }
    modify(
        &e.dn,
        vec![
            remove("pigeonairMoveFrom"),
            remove("pigeonairMoveState"),
            remove("pigeonairMoveDetail"),
        ],
    )?;
    info!("move of {user} to {to}: done; the old copy here is removed");
    Ok(())
}

/// How long one dsync run may take before it is taken for hung (dsync between two Dovecot 2.4.1
/// nodes has been seen to stall for good, both ends idle): half a minute, and a second more per
/// megabyte of the mailbox here (a copy slower than 1 MB/s is not a copy).
fn dsync_limit(id: &str) -> Duration {
    let bytes = crate::drain::bytes_of(&Path::new(VMAIL).join(id));
    Duration::from_secs(30 + bytes / 1_000_000)
}

/// The same for the last copy, under the lock: deliveries wait for it, and it only carries
/// what changed since a quick pass, so a hang is cut short (15 s, a second more per 100 MB).
fn locked_limit(id: &str) -> Duration {
    let bytes = crate::drain::bytes_of(&Path::new(VMAIL).join(id));
    Duration::from_secs(15 + bytes / 100_000_000)
}

/// `doveadm VERB -u USER tcps:TO:PORT` (`backup`: make the copy there exactly this one;
/// `sync`: merge both ways), run again while dsync asks for it (exit code 2), fails for a
/// moment, or hangs past `limit` (then it is killed).
fn dsync(user: &str, to: &str, verb: &str, limit: Duration) -> Result<(), String> {
    let dest = format!("tcps:{to}:{DOVEADM_PORT}");
    let mut last = String::new();
    for attempt in 1..=DSYNC_ATTEMPTS {
        let mut child = Command::new("doveadm")
            .args([verb, "-l", "30", "-u", user, &dest])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("doveadm: {e}"))?;
        let stderr = child.stderr.take();
        let said = std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut s) = stderr {
                use std::io::Read;
                let _ = s.read_to_string(&mut text);
            }
            text
        });
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if started.elapsed() < limit => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                Err(e) => return Err(format!("doveadm: {e}")),
            }
        };
        let said = said.join().unwrap_or_default();
        let code = match status {
            Some(s) if s.success() => return Ok(()),
            Some(s) => s.code(),
            None => {
                last = format!(
                    "doveadm {verb} -u {user} {dest}: no end after {} s: killed",
                    limit.as_secs()
                );
                warn!("{last} (attempt {attempt} of {DSYNC_ATTEMPTS})");
                // A copy that hung once (seen after the old node lost power mid-copy) has hung
                // again from the same partial copy: it starts again from nothing.
                if verb == "backup" {
                    match ask_discard(user, to) {
                        Ok(what) => info!("{to}: {what}"),
                        Err(e) => warn!("{to} did not discard its copy of {user}: {e}"),
                    }
                }
                continue;
            }
        };
        last = format!(
            "doveadm {verb} -u {user} {dest}: exit {}: {}",
            code.map_or("by a signal".into(), |c| c.to_string()),
            said.trim()
        );
        // A backup interrupted on the new node can leave it an INBOX of its own making (another
        // mailbox GUID) that dsync then wants to delete, which Dovecot never does to an INBOX: the
        // partial copy there is deleted (it is no one's mailbox yet) and the copy starts again.
        if verb == "backup" && said.contains("INBOX can't be deleted") {
            warn!("{last}: the copy on {to} is not this mailbox's; asking {to} to discard it");
            match ask_discard(user, to) {
                Ok(what) => info!("{to}: {what}"),
                Err(e) => warn!("{to} did not discard its copy of {user}: {e}"),
            }
            continue;
        }
        if code != Some(2) {
            warn!("{last} (attempt {attempt} of {DSYNC_ATTEMPTS})");
            std::thread::sleep(Duration::from_millis(500 * u64::from(attempt)));
        }
    }
    Err(last)
}

/// Asks `to`, the node `user`'s mailbox is being copied to, to delete its partial copy.
fn ask_discard(user: &str, to: &str) -> Result<String, String> {
    let view = crate::reconcile::cluster_view()?;
    let addr = view
        .nodes
        .values()
        .find(|n| n.hostname == to)
        .and_then(|n| n.private)
        .map(|ip| SocketAddr::new(ip.into(), CONTROL_PORT))
        .ok_or_else(|| format!("{to} has no private address in the directory"))?;
    let request = pigeonair_join::DiscardCopy {
        user: user.to_owned(),
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?
        .block_on(crate::client::discard(addr, &request))
}

/// This node's side of `POST /v1/discard` from `asker`: deletes the partial copy of `user`'s
/// mailbox here, but only while the directory says the mailbox is homed on `asker` and being
/// moved here (a copy that is someone's mailbox is never deleted this way).
pub fn discard_copy(me: &str, asker: &str, user: &str) -> Result<String, String> {
    let e = read(user)?;
    let home = first(&e, "mailHost").unwrap_or_default();
    let to = first(&e, "pigeonairMoveTo").unwrap_or_default();
    if home == me || home != asker || to != me {
        return Err(format!(
            "{asker} asked to discard the copy of {user} here, but the directory says its \
             home node is {home:?} and it moves to {to:?}: nothing deleted"
        ));
    }
    let id = one(&e, "pigeonairMailboxId").ok_or("no pigeonairMailboxId")?;
    // A mailbox id names a directory: never a path.
    if id.is_empty() || id.contains('/') || id.starts_with('.') {
        return Err(format!("{user}: mailbox id {id:?} is not a directory name"));
    }
    let copy = format!("{VMAIL}/{id}");
    let gone = format!("{VMAIL}/.discarded-{id}");
    let _ = std::fs::remove_dir_all(&gone);
    if Path::new(&copy).exists() {
        std::fs::rename(&copy, &gone).map_err(|e| format!("rename {copy}: {e}"))?;
    }
    if Path::new(&gone).exists() {
        std::fs::remove_dir_all(&gone).map_err(|e| format!("remove {gone}: {e}"))?;
    }
    Ok(format!(
        "the partial copy of {user} (mailbox {id}) being moved here from {asker} is discarded; \
         the copy starts again"
    ))
}

/// Tells every other active node that `user` moved (they wait for `csn`); one that does not
/// answer retries its queue by itself later.
fn tell_peers(me: &str, user: &str, csn: &[String]) {
    let view: ClusterView = match crate::reconcile::cluster_view() {
        Ok(v) => v,
        Err(e) => {
            warn!("move of {user}: cannot list the peers to tell: {e}");
            return;
        }
    };
    let notice = MovedNotice {
        user: user.to_owned(),
        context_csn: csn.to_vec(),
    };
    let peers: Vec<SocketAddr> = view
        .nodes
        .values()
        .filter(|n| n.hostname != me && n.state != "joining")
        .filter_map(|n| n.private.map(|ip| SocketAddr::new(ip.into(), CONTROL_PORT)))
        .collect();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            warn!("move of {user}: no runtime to tell the peers: {e}");
            return;
        }
    };
    runtime.block_on(async {
        let mut calls = tokio::task::JoinSet::new();
        for addr in peers {
            let notice = notice.clone();
            calls.spawn(async move { (addr, crate::client::moved(addr, &notice).await) });
        }
        while let Some(done) = calls.join_next().await {
            if let Ok((addr, Err(e))) = done {
                warn!("move of {user}: peer {addr} not told ({e}); its queue retries later");
            }
        }
    });
}

/// `doveadm kick USER`: the user's IMAP and POP3 sessions here end.
fn kick(user: &str) {
    match Command::new("doveadm").args(["kick", user]).output() {
        Ok(out) if out.status.success() || out.status.code() == Some(68) => {}
        Ok(out) => warn!(
            "doveadm kick {user}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => warn!("doveadm kick {user}: {e}"),
    }
}

/// `doveadm auth cache flush [USER]`; returns what it said ("N cache entries flushed").
pub fn flush_auth_cache(user: Option<&str>) -> Result<String, String> {
    let mut cmd = Command::new("doveadm");
    cmd.args(["auth", "cache", "flush"]);
    cmd.args(user);
    let out = cmd.output().map_err(|e| format!("doveadm: {e}"))?;
    let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() {
        Ok(said)
    } else {
        Err(format!(
            "doveadm auth cache flush: {} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Postfix routes the moved user's mail afresh and retries its deferred mail now:
/// `postfix reload` first, because the queue manager keeps its last recipient lookup for up to
/// 30 s (a burst to one mailbox resolves to the old home node that long), then `postqueue -f`.
pub fn flush_queue() -> Result<(), String> {
    for cmd in [&["postfix", "reload"][..], &["postqueue", "-f"][..]] {
        let out = Command::new(cmd[0])
            .args(&cmd[1..])
            .output()
            .map_err(|e| format!("{}: {e}", cmd[0]))?;
        if !out.status.success() {
            return Err(format!(
                "{}: {}",
                cmd.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    Ok(())
}

/// A peer's side of `POST /v1/moved`: waits (up to 10 s) until this node's directory has the
/// change, then flushes the auth cache and retries the queue.
pub fn after_move(notice: &MovedNotice) -> Result<String, String> {
    let started = Instant::now();
    loop {
        let have = crate::reconcile::context_csn()?;
        if csn_covers(&have, &notice.context_csn) {
            break;
        }
        if started.elapsed() > Duration::from_secs(10) {
            return Err(format!(
                "this node's directory has not got the move of {} after 10 s",
                notice.user
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let flushed = flush_auth_cache(None)?;
    flush_queue()?;
    Ok(flushed)
}

/// Logs `line` unless it was the last line logged this way (a problem that lasts is logged
/// when it starts, not every second).
pub(crate) fn warn_once(line: &str) {
    static LAST: Mutex<String> = Mutex::new(String::new());
    let mut last = LAST.lock().expect("not poisoned");
    if *last != line {
        warn!("{line}");
        *last = line.to_owned();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_sync_waits_two_seconds_from_the_lock_and_a_little_after_the_kick() {
        let ms = Duration::from_millis;
        assert_eq!(settle(None, ms(0)), SETTLE, "a resumed finish waits it all");
        assert_eq!(settle(Some(ms(500)), ms(0)), ms(1500));
        assert_eq!(settle(Some(ms(1900)), ms(0)), KICK_SETTLE);
        assert_eq!(settle(Some(ms(1900)), ms(250)), ms(100));
        assert_eq!(settle(Some(ms(5000)), ms(400)), ms(0));
        assert_eq!(settle(None, ms(400)), SETTLE);
    }

    #[test]
    fn the_home_node_copies_then_locks_then_the_old_home_finishes() {
        let me = "mx1.example.com";
        let to = "mx2.example.com";
        assert_eq!(phase(me, Some(me), None, None, None), Phase::None);
        assert_eq!(
            phase(me, Some(me), Some(to), None, None),
            Phase::Copy { to: to.into() }
        );
        assert_eq!(
            phase(me, Some(me), Some(to), None, Some("copying")),
            Phase::Copy { to: to.into() }
        );
        assert_eq!(
            phase(me, Some(me), Some(to), None, Some("locked")),
            Phase::Locked { to: to.into() }
        );
        assert_eq!(
            phase(me, Some(to), None, Some(me), Some("finishing")),
            Phase::Finish { to: to.into() }
        );
    }

    #[test]
    fn nothing_to_do_for_another_nodes_mailbox_a_failed_move_or_a_move_to_itself() {
        let me = "mx1.example.com";
        let other = "mx2.example.com";
        assert_eq!(
            phase(me, Some(other), Some("mx3.example.com"), None, None),
            Phase::None
        );
        assert_eq!(
            phase(me, Some(me), Some(other), None, Some("failed")),
            Phase::None
        );
        assert_eq!(phase(me, Some(me), Some(me), None, None), Phase::None);
        assert_eq!(phase(other, Some(other), None, Some(me), None), Phase::None);
    }
}
