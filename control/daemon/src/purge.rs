//! Removed users' mailboxes, deleted by their home node once their grace period is over.
//!
//! `pigeonctl user remove` moves the user's entry to `ou=removed` with `pigeonairPurgeAfter`
//! (now with `--purge`); `user restore` moves it back. Every second this node deletes the
//! mailboxes of the removed users it is home to whose time has come, then their entries. The
//! mailbox is renamed out of the way before it is deleted, so an interrupted purge never leaves
//! a half mailbox under its name.

use std::path::Path;

use log::info;
use pigeonair_appliance::directory::{REMOVED_DN, VMAIL_DIR};
use pigeonair_directory::{ResultCode, Scope, first, ldap_escape};

/// One round: deletes what is due; returns how many mailboxes it deleted.
pub fn tick(me: &str) -> Result<usize, String> {
    let mut c = crate::reconcile::local_directory()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let due = match c.search(
        REMOVED_DN,
        Scope::OneLevel,
        &format!(
            "(&(objectClass=pigeonairMailUser)(mailHost={})(pigeonairPurgeAfter<={}))",
            ldap_escape(me),
            pigeonair_join::time::to_generalized(now)
        ),
        &["mail", "pigeonairMailboxId"],
    ) {
        Ok(found) => found,
        Err(e) if e.is(ResultCode::NoSuchObject) => return Ok(0),
        Err(e) => return Err(e.to_string()),
    };
    let mut purged = 0;
    for e in due {
        let (Some(id), Some(mail)) = (first(&e, "pigeonairMailboxId"), first(&e, "mail")) else {
            continue;
        };
        // A mailbox id names a directory: never a path.
        if id.is_empty() || id.contains('/') || id.starts_with('.') {
            continue;
        }
        let home = Path::new(VMAIL_DIR).join(id);
        let gone = Path::new(VMAIL_DIR).join(format!(".purged-{id}"));
        if home.exists() {
            let _ = std::fs::remove_dir_all(&gone);
            std::fs::rename(&home, &gone).map_err(|e| format!("{}: {e}", home.display()))?;
        }
        if gone.exists() {
            std::fs::remove_dir_all(&gone).map_err(|e| format!("{}: {e}", gone.display()))?;
        }
        c.delete(&e.dn).map_err(|e| e.to_string())?;
        info!("removed user {mail}: mailbox {id} deleted (its grace period is over)");
        purged += 1;
    }
    Ok(purged)
}
