//! Draining a node, carried out by the node itself.
//!
//! `pigeonctl node drain NODE` only sets the node's state to `draining` (the balancer then gives
//! it no new connections, and no new mailbox is placed on it). The node's pigeonaird then, every
//! second: asks for moves of its mailboxes to the other active nodes, a few at a time, the
//! largest first, each to the node with the fewest mailboxes (counting the moves already asked
//! for), which [`crate::moves`] carries out; writes the drain's progress to its entry
//! (`pigeonairProgress`, [`DrainProgress`]); and once no mailbox is left, every old copy here
//! is removed and its queue holds no mail for a hosted domain, sets itself `drained`.
//! Everything is read from the directory each time, so a drain interrupted anywhere goes on
//! when pigeonaird runs again, and `node undrain` (state `active`) stops it: moves not started
//! yet are withdrawn, those under way finish.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use log::{info, warn};
use pigeonair_appliance::directory::{BASE_DN, NODES_DN, node_dn};
use pigeonair_directory::{Connection, Mod, Scope, SearchEntry, first, ldap_escape, value_set};
use pigeonair_join::{DRAIN_MARK, DrainProgress};

const VMAIL: &str = "/var/vmail";

/// One of this node's mailboxes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    /// The user's address.
    pub user: String,
    /// Its size on disk.
    pub bytes: u64,
    /// A move is asked for (or under way).
    pub moving: bool,
    /// Its last move failed.
    pub failed: bool,
}

/// Which of `mine` to move now, and where: at most `parallel` moves under way, the largest
/// mailboxes first, each to the node with the fewest mailboxes in `loads` (counting the ones
/// chosen here). Pure.
pub fn choose(
    mine: &[Mailbox],
    loads: &BTreeMap<String, u64>,
    parallel: usize,
) -> Vec<(String, String)> {
    let under_way = mine.iter().filter(|m| m.moving && !m.failed).count();
    let mut free = parallel.saturating_sub(under_way);
    let mut loads = loads.clone();
    let mut waiting: Vec<&Mailbox> = mine.iter().filter(|m| !m.moving && !m.failed).collect();
    waiting.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.user.cmp(&b.user)));
    let mut out = Vec::new();
    for m in waiting {
        if free == 0 {
            break;
        }
        let Some((target, _)) = loads
            .iter()
            .min_by(|a, b| a.1.cmp(b.1).then(a.0.cmp(b.0)))
            .map(|(n, l)| (n.clone(), *l))
        else {
            break;
        };
        *loads.get_mut(&target).expect("chosen from it") += 1;
        out.push((m.user.clone(), target));
        free -= 1;
    }
    out
}

/// The progress after a tick: `previous` (if this drain wrote one) brought up to what is left.
pub fn progress(previous: Option<DrainProgress>, mine: &[Mailbox], now: u64) -> DrainProgress {
    let left_bytes: u64 = mine.iter().map(|m| m.bytes).sum();
    let mut p = match previous {
        Some(p) if p.finished.is_none() => p,
        _ => DrainProgress {
            started: now,
            mailboxes_total: mine.len() as u64,
            bytes_total: left_bytes,
            ..Default::default()
        },
    };
    p.mailboxes_done = p.mailboxes_total.saturating_sub(mine.len() as u64);
    p.bytes_done = p.bytes_total.saturating_sub(left_bytes);
    p.failed = mine
        .iter()
        .filter(|m| m.failed)
        .map(|m| m.user.clone())
        .collect();
    p
}

fn connect() -> Result<Connection, String> {
    crate::reconcile::local_directory()
}

/// Bytes of the files under `dir`.
pub(crate) fn bytes_of(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => bytes_of(&e.path()),
            Ok(_) => e.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// One tick of this node's drain, if it is draining.
pub fn tick(me: &str, parallel: usize) -> Result<(), String> {
    let mut c = connect()?;
    let Some(node) =
        crate::reconcile::own_entry(&mut c, me, &["pigeonairNodeState", "pigeonairProgress"])?
    else {
        return Ok(());
    };
    if first(&node, "pigeonairNodeState") != Some("draining") {
        return Ok(());
    }
    let users = c
        .search(
            &format!("ou=domains,{BASE_DN}"),
            Scope::Subtree,
            &format!(
                "(&(objectClass=pigeonairMailUser)(mailHost={}))",
                ldap_escape(me)
            ),
            &[
                "mail",
                "pigeonairMailboxId",
                "pigeonairMoveTo",
                "pigeonairMoveState",
            ],
        )
        .map_err(|e| e.to_string())?;
    let mine: Vec<Mailbox> = users
        .iter()
        .map(|e| Mailbox {
            user: first(e, "mail").unwrap_or_default().to_owned(),
            bytes: first(e, "pigeonairMailboxId")
                .map(|id| bytes_of(&Path::new(VMAIL).join(id)))
                .unwrap_or(0),
            moving: first(e, "pigeonairMoveTo").is_some(),
            failed: first(e, "pigeonairMoveState") == Some("failed"),
        })
        .collect();
    let previous: Option<DrainProgress> =
        first(&node, "pigeonairProgress").and_then(|t| serde_json::from_str(t).ok());
    let mut p = progress(previous.clone(), &mine, now());

    let loads = loads(&mut c, me)?;
    if loads.is_empty() && !mine.is_empty() {
        crate::moves::warn_once(&format!(
            "drain of {me}: no other active node to take its {} mailboxes",
            mine.len()
        ));
    }
    for (user, to) in choose(&mine, &loads, parallel) {
        let dn = users
            .iter()
            .find(|e| first(e, "mail") == Some(user.as_str()))
            .map(|e| e.dn.clone())
            .expect("chosen from them");
        c.modify(
            &dn,
            vec![
                Mod::Replace("pigeonairMoveTo".into(), value_set(&[to.as_str()])),
                Mod::Replace(
                    "pigeonairMoveDetail".into(),
                    value_set(&[format!("{DRAIN_MARK} {me}").as_str()]),
                ),
            ],
        )
        .map_err(|e| e.to_string())?;
        info!("drain of {me}: {user} to move to {to}");
    }
    // Moved mailboxes whose old copy here is still being removed.
    let finishing = c
        .search(
            &format!("ou=domains,{BASE_DN}"),
            Scope::Subtree,
            &format!(
                "(&(objectClass=pigeonairMailUser)(pigeonairMoveFrom={}))",
                ldap_escape(me)
            ),
            &["1.1"],
        )
        .map_err(|e| e.to_string())?
        .len();
    if mine.is_empty() && finishing == 0 {
        match hosted_mail_queued(&mut c) {
            Ok(0) => {
                p.finished = Some(now());
                info!("drain of {me}: every mailbox moved and the queue flushed; drained");
            }
            Ok(n) => {
                info!("drain of {me}: {n} queued messages for hosted domains; flushing");
                let _ = Command::new("postqueue").arg("-f").output();
            }
            Err(e) => warn!("drain of {me}: cannot read the mail queue: {e}"),
        }
    }
    let text = serde_json::to_string(&p).expect("serialises");
    let mut mods = Vec::new();
    if previous.as_ref() != Some(&p) {
        mods.push(Mod::Replace(
            "pigeonairProgress".into(),
            value_set(&[text.as_str()]),
        ));
    }
    if p.finished.is_some() {
        mods.push(Mod::Replace(
            "pigeonairNodeState".into(),
            value_set(&["drained"]),
        ));
    }
    if !mods.is_empty() {
        c.modify(&node_dn(me), mods).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Mailboxes per other active node than `me`, counting the moves asked for toward each: what
/// [`choose`] spreads a drain over (the console's drain confirmation shows the same).
pub fn loads(c: &mut Connection, me: &str) -> Result<BTreeMap<String, u64>, String> {
    let nodes = c
        .search(
            NODES_DN,
            Scope::OneLevel,
            "(&(objectClass=pigeonairNode)(pigeonairNodeState=active))",
            &["cn"],
        )
        .map_err(|e| e.to_string())?;
    let mut loads = BTreeMap::new();
    for n in nodes {
        let host = first(&n, "cn").unwrap_or_default().to_owned();
        if host == me || host.is_empty() {
            continue;
        }
        let h = ldap_escape(&host);
        let count = c
            .search(
                &format!("ou=domains,{BASE_DN}"),
                Scope::Subtree,
                &format!(
                    "(&(objectClass=pigeonairMailUser)(|(mailHost={h})(pigeonairMoveTo={h})))"
                ),
                &["1.1"],
            )
            .map_err(|e| e.to_string())?
            .len() as u64;
        loads.insert(host, count);
    }
    Ok(loads)
}

/// Messages in this node's Postfix queue with a recipient in a hosted domain.
pub fn queued_hosted() -> Result<usize, String> {
    hosted_mail_queued(&mut connect()?)
}

/// Messages in this node's Postfix queue: in all, and those with a recipient in a hosted
/// domain.
pub fn queue_counts() -> Result<(usize, usize), String> {
    queue_counts_with(&mut connect()?)
}

fn hosted_mail_queued(c: &mut Connection) -> Result<usize, String> {
    queue_counts_with(c).map(|(_, hosted)| hosted)
}

fn queue_counts_with(c: &mut Connection) -> Result<(usize, usize), String> {
    let domains: Vec<String> = c
        .search(
            &format!("ou=domains,{BASE_DN}"),
            Scope::OneLevel,
            "(objectClass=pigeonairDomain)",
            &["cn"],
        )
        .map_err(|e| e.to_string())?
        .iter()
        .filter_map(|e: &SearchEntry| first(e, "cn").map(str::to_lowercase))
        .collect();
    let out = Command::new("postqueue")
        .arg("-j")
        .output()
        .map_err(|e| format!("postqueue -j: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "postqueue -j: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(count_queue(&String::from_utf8_lossy(&out.stdout), &domains))
}

/// Of `postqueue -j`'s output (a JSON object per line, one per message): the messages, and
/// those with a recipient in one of `domains` (lower case). Pure.
pub fn count_queue(json_lines: &str, domains: &[String]) -> (usize, usize) {
    let messages: Vec<serde_json::Value> = json_lines
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .collect();
    let hosted = messages
        .iter()
        .filter(|m| {
            m["recipients"].as_array().is_some_and(|rs| {
                rs.iter().any(|r| {
                    r["address"]
                        .as_str()
                        .and_then(|a| a.rsplit_once('@'))
                        .is_some_and(|(_, d)| domains.contains(&d.to_lowercase()))
                })
            })
        })
        .count();
    (messages.len(), hosted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mb(user: &str, bytes: u64, moving: bool) -> Mailbox {
        Mailbox {
            user: user.into(),
            bytes,
            moving,
            failed: false,
        }
    }

    #[test]
    fn the_largest_mailboxes_go_first_to_the_least_loaded_nodes_a_few_at_a_time() {
        let mine = [
            mb("a@x", 10, false),
            mb("b@x", 30, false),
            mb("c@x", 20, false),
            mb("d@x", 5, true),
        ];
        let loads = BTreeMap::from([("n2".to_string(), 4), ("n3".to_string(), 3)]);
        // One move under way, three allowed: two more, b then c.
        assert_eq!(
            choose(&mine, &loads, 3),
            [
                ("b@x".to_string(), "n3".to_string()),
                ("c@x".to_string(), "n2".to_string())
            ]
        );
        assert!(choose(&mine, &loads, 1).is_empty(), "the one slot is taken");
        assert!(
            choose(&mine, &BTreeMap::new(), 3).is_empty(),
            "nowhere to go"
        );
    }

    #[test]
    fn a_failed_move_is_not_asked_for_again_until_the_drain_is_run_again() {
        let mut m = mb("a@x", 10, true);
        m.failed = true;
        let loads = BTreeMap::from([("n2".to_string(), 0)]);
        assert!(choose(&[m.clone()], &loads, 2).is_empty());
        let p = progress(None, &[m], 50);
        assert_eq!(p.failed, ["a@x"]);
    }

    #[test]
    fn the_queue_is_counted_in_all_and_for_hosted_domains() {
        let out = concat!(
            r#"{"queue_id":"A1","recipients":[{"address":"bob@Example.com"}]}"#,
            "\n",
            r#"{"queue_id":"A2","recipients":[{"address":"x@elsewhere.net"}]}"#,
            "\nnot json\n"
        );
        assert_eq!(count_queue(out, &["example.com".into()]), (2, 1));
        assert_eq!(count_queue("", &["example.com".into()]), (0, 0));
    }

    #[test]
    fn progress_counts_what_has_left_since_the_drain_started() {
        let start = progress(None, &[mb("a@x", 10, false), mb("b@x", 30, false)], 100);
        assert_eq!(
            (start.mailboxes_total, start.bytes_total, start.started),
            (2, 40, 100)
        );
        let later = progress(Some(start.clone()), &[mb("a@x", 10, true)], 110);
        assert_eq!((later.mailboxes_done, later.bytes_done), (1, 30));
        assert_eq!(later.started, 100);
        let mut done = later.clone();
        done.finished = Some(120);
        let again = progress(Some(done), &[mb("z@x", 7, false)], 200);
        assert_eq!(
            (again.started, again.mailboxes_total),
            (200, 1),
            "a new drain"
        );
    }
}
