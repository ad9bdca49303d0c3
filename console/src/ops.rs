//! The operations' shell: each [`Request`] runs on a thread of its own with its own directory
//! connection, calling the same library functions as pigeonctl, and its [`Reply`] goes back to
//! the screen as an [`Action`].

use std::sync::mpsc::Sender;
use std::time::Duration;

use pigeonair_appliance::directory::LDAPI_URL;
use pigeonair_ctl::directory::address_arg;
use pigeonair_ctl::{CtlError, Directory};
use pigeonair_directory::Credentials;

use crate::app::{Action, Failure, Reply, Request};
use crate::gather::unix_now;

/// How long `node remove` waits for a CA node to delete the entry, as pigeonctl does.
const REMOVE_WAIT: Duration = Duration::from_secs(60);

impl From<CtlError> for Failure {
    fn from(e: CtlError) -> Self {
        Failure {
            refused: !matches!(e, CtlError::Failed(_) | CtlError::Directory(_)),
            message: e.to_string(),
        }
    }
}

fn connect() -> Result<Directory, Failure> {
    Directory::connect(LDAPI_URL, &Credentials::LocalRoot).map_err(Failure::from)
}

/// Starts `request` (not [`Request::Refresh`], which is the gatherer's).
pub fn start(request: Request, to_screen: Sender<Action>) {
    std::thread::spawn(move || {
        let reply = run(request);
        if let Some(r) = reply {
            let _ = to_screen.send(Action::Reply(r));
        }
    });
}

fn with_dir<T>(f: impl FnOnce(&mut Directory) -> Result<T, CtlError>) -> Result<T, Failure> {
    let mut d = connect()?;
    f(&mut d).map_err(Failure::from)
}

fn run(request: Request) -> Option<Reply> {
    Some(match request {
        Request::Refresh => return None,
        Request::Token { ttl } => Reply::Token(with_dir(|d| d.token_make(&ttl, None, unix_now()))),
        Request::DrainPreview { host } => Reply::DrainPreview(with_dir(|d| d.drain_preview(&host))),
        Request::Drain { host } => Reply::Drain(with_dir(|d| d.node_drain(&host).map(drop))),
        Request::Undrain { host } => Reply::Undrain(with_dir(|d| d.node_undrain(&host).map(drop))),
        Request::RemoveCheck { host } => {
            Reply::RemoveCheck(with_dir(|d| d.node_remove_check(&host).map(drop)))
        }
        Request::Remove { host } => Reply::Remove(with_dir(|d| {
            d.node_remove(&host, pigeonair_ctl::cluster::CTL_LIMIT)?;
            d.wait_removed(&host, REMOVE_WAIT)
        })),
        Request::Move { address, to } => Reply::Move(with_dir(|d| {
            let a = address_arg(&address)?;
            d.user_move(&a, &to)?;
            Ok(format!("the move of {a} to {to} is asked for"))
        })),
        Request::RebalancePlan => Reply::RebalancePlan(with_dir(|d| d.rebalance_plan())),
        Request::Rebalance { moves } => Reply::Rebalance(with_dir(|d| {
            let asked = d.rebalance_ask(&moves)?;
            let mut said = format!(
                "{} moves asked for; the mailbox counts in the table follow them",
                asked.asked.len()
            );
            for (m, why) in &asked.skipped {
                said.push_str(&format!("; {} left alone: {why}", m.user));
            }
            Ok(said)
        })),
    })
}
