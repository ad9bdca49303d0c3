//! `cluster rebalance` against the directory: read the active nodes and every mailbox's home
//! and move, write the planned moves, and read how far they are. The plan itself is
//! [`crate::rebalance`] (pure).

use pigeonair_appliance::directory::{DOMAINS_DN, NODES_DN};
use pigeonair_directory::{Mod, ResultCode, Scope, SearchEntry, ldap_escape, value_set};
use serde::Serialize;

use super::{Directory, first};
use crate::error::CtlError;
use crate::rebalance::{Mailbox, Move, MoveState, Progress, REBALANCE_MARK};

/// The user attributes a rebalance reads.
const ATTRS: [&str; 5] = [
    "mail",
    "mailHost",
    "pigeonairMoveTo",
    "pigeonairMoveFrom",
    "pigeonairMoveState",
];

/// How many users one progress search asks for (an OR of their addresses).
const CHUNK: usize = 50;

/// What asking for a plan's moves did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Asked {
    /// Moves written.
    pub asked: Vec<Move>,
    /// Moves not written because the user's entry changed since it was read (moved, or a move
    /// asked for meanwhile), with why.
    pub skipped: Vec<(Move, String)>,
}

/// Where one move of a rebalance stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// The user.
    pub user: String,
    /// `asked for`, `copying`, `locked`, `finishing`, `done`, `failed`, `cancelled`.
    pub state: String,
    /// Progress or the reason it failed, as the home node wrote it.
    pub detail: Option<String>,
}

fn mailbox(e: &SearchEntry) -> Mailbox {
    let some = |a: &str| Some(first(e, a)).filter(|v| !v.is_empty());
    let moving = match (
        some("pigeonairMoveState"),
        some("pigeonairMoveTo"),
        some("pigeonairMoveFrom"),
    ) {
        (Some("failed"), _, _) => MoveState::Failed,
        (None, None, None) => MoveState::None,
        (_, to, _) => MoveState::UnderWay {
            to: to.map(str::to_owned),
        },
    };
    Mailbox {
        user: first(e, "mail").to_owned(),
        home: first(e, "mailHost").to_owned(),
        moving,
    }
}

impl Directory {
    /// The rebalance plan for the directory as it is now (`cluster rebalance` shows it, the
    /// console too). Refused when no node is active.
    pub fn rebalance_plan(&mut self) -> Result<crate::rebalance::Plan, CtlError> {
        let (active, mailboxes) = self.rebalance_input()?;
        if active.is_empty() {
            return Err(CtlError::NotFound(
                "no active node to rebalance over (`pigeonctl node list` shows the nodes' \
                 states)"
                    .into(),
            ));
        }
        Ok(crate::rebalance::plan(&active, &mailboxes))
    }

    /// The active nodes (by host name) and every user's mailbox: the planner's input.
    pub fn rebalance_input(&mut self) -> Result<(Vec<String>, Vec<Mailbox>), CtlError> {
        let mut active: Vec<String> = self
            .conn
            .search(
                NODES_DN,
                Scope::OneLevel,
                "(&(objectClass=pigeonairNode)(pigeonairNodeState=active))",
                &["cn"],
            )?
            .iter()
            .map(|e| first(e, "cn").to_owned())
            .filter(|h| !h.is_empty())
            .collect();
        active.sort();
        let mailboxes = self
            .conn
            .search(
                DOMAINS_DN,
                Scope::Subtree,
                "(&(objectClass=pigeonairMailUser)(mailHost=*))",
                &ATTRS,
            )?
            .iter()
            .map(mailbox)
            .collect();
        Ok((active, mailboxes))
    }

    /// Asks for each move (`pigeonairMoveTo`, `pigeonairMoveDetail` = [`REBALANCE_MARK`]); the
    /// mailbox's home node carries it out. Each write is one modify that holds only if the user
    /// is still on `from` with no move asked for (it deletes and re-adds `mailHost: from` and
    /// adds the single-valued `pigeonairMoveTo`), so a move asked for or finished since the plan
    /// was made is skipped, never overwritten.
    pub fn rebalance_ask(&mut self, moves: &[Move]) -> Result<Asked, CtlError> {
        let mut out = Asked::default();
        for m in moves {
            let filter = format!(
                "(&(objectClass=pigeonairMailUser)(mail={}))",
                ldap_escape(&m.user)
            );
            let Some(e) = self
                .conn
                .search(DOMAINS_DN, Scope::Subtree, &filter, &["1.1"])?
                .pop()
            else {
                out.skipped
                    .push((m.clone(), "removed since the plan".into()));
                continue;
            };
            let mods = vec![
                Mod::Delete("mailHost".to_owned(), value_set(&[m.from.as_str()])),
                Mod::Add("mailHost".to_owned(), value_set(&[m.from.as_str()])),
                Mod::Add("pigeonairMoveTo".to_owned(), value_set(&[m.to.as_str()])),
                Mod::Replace(
                    "pigeonairMoveDetail".to_owned(),
                    value_set(&[REBALANCE_MARK]),
                ),
            ];
            match self.conn.modify(&e.dn, mods) {
                Ok(()) => out.asked.push(m.clone()),
                // 16 noSuchAttribute: mailHost is no longer `from`; 19 constraintViolation or
                // 20 attributeOrValueExists: a move was asked for meanwhile.
                Err(err)
                    if matches!(
                        err.code(),
                        Some(ResultCode::NoSuchAttribute | ResultCode::Other(19 | 20))
                    ) =>
                {
                    out.skipped.push((
                        m.clone(),
                        "moved, or a move asked for, since the plan".into(),
                    ));
                }
                Err(err) => {
                    return Err(CtlError::ldap(format!(
                        "ask for the move of {} to {} ({} asked for before it)",
                        m.user,
                        m.to,
                        out.asked.len()
                    ))(err));
                }
            }
        }
        Ok(out)
    }

    /// Where each of `moves` stands, and the progress over them all.
    pub fn rebalance_progress(
        &mut self,
        moves: &[Move],
    ) -> Result<(Progress, Vec<Step>), CtlError> {
        let mut entries = Vec::new();
        for chunk in moves.chunks(CHUNK) {
            let any: String = chunk
                .iter()
                .map(|m| format!("(mail={})", ldap_escape(&m.user)))
                .collect();
            entries.extend(self.conn.search(
                DOMAINS_DN,
                Scope::Subtree,
                &format!("(&(objectClass=pigeonairMailUser)(|{any}))"),
                &[&ATTRS[..], &["pigeonairMoveDetail"]].concat(),
            )?);
        }
        let mut progress = Progress {
            total: moves.len(),
            ..Default::default()
        };
        let mut steps = Vec::new();
        for m in moves {
            let e = entries.iter().find(|e| first(e, "mail") == m.user);
            let some = |a: &str| {
                e.map(|e| first(e, a))
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
            };
            let (home, to, from) = (
                some("mailHost"),
                some("pigeonairMoveTo"),
                some("pigeonairMoveFrom"),
            );
            let state = some("pigeonairMoveState");
            let step = match (e, state.as_deref()) {
                (None, _) => "cancelled".to_owned(),
                (_, Some("failed")) => "failed".to_owned(),
                _ if home.as_deref() == Some(&m.to) && from.is_none() && state.is_none() => {
                    "done".to_owned()
                }
                _ if to.as_deref() == Some(&m.to)
                    || (home.as_deref() == Some(&m.to) && from.is_some()) =>
                {
                    state.unwrap_or_else(|| "asked for".into())
                }
                _ => "cancelled".to_owned(),
            };
            match step.as_str() {
                "done" => progress.done += 1,
                "failed" => progress.failed.push(m.user.clone()),
                "cancelled" => progress.cancelled.push(m.user.clone()),
                _ => {}
            }
            steps.push(Step {
                user: m.user.clone(),
                state: step,
                detail: some("pigeonairMoveDetail"),
            });
        }
        Ok((progress, steps))
    }
}
