//! The gatherer: a thread that, every refresh and whenever asked, reads the nodes from the
//! directory (ldapi, as root) and asks every node's pigeonaird for its status — all at once,
//! each for at most [`NODE_LIMIT`], so with a refresh every second a node that stops answering
//! shows as unreachable within two seconds — and fetches the selected node's journal (this node's from journalctl, a
//! peer's over `GET /v1/journal`). Results go to the screen as [`Action`]s; the screen never
//! waits for any of it.

use std::net::SocketAddr;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pigeonair_appliance::directory::LDAPI_URL;
use pigeonair_ctl::Directory;
use pigeonair_directory::Credentials;

use crate::app::Action;
use crate::model::Snapshot;

/// How long a node's control plane may take to answer: a second (a status on the private
/// network takes milliseconds; a node that needs longer is in trouble and shown so).
pub const NODE_LIMIT: Duration = Duration::from_secs(1);

/// What the screen tells the gatherer.
#[derive(Debug, Clone)]
pub struct Gatherer {
    journal: Arc<Mutex<Option<String>>>,
    wake: Sender<()>,
}

impl Gatherer {
    /// Fetch this node's journal from now on (the selected one).
    pub fn watch(&self, host: Option<&str>) {
        let mut j = self.journal.lock().unwrap_or_else(|e| e.into_inner());
        if j.as_deref() != host {
            *j = host.map(str::to_owned);
            drop(j);
            self.refresh();
        }
    }

    /// Refresh now rather than at the next tick.
    pub fn refresh(&self) {
        let _ = self.wake.send(());
    }
}

/// Seconds since 1970.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Starts the gatherer: a refresh every `every`, the last `journal_lines` lines of the watched
/// node's journal. `local` is this node's host name (its journal is read here).
pub fn spawn(
    to_screen: Sender<Action>,
    every: Duration,
    journal_lines: usize,
    local: Option<String>,
) -> Gatherer {
    let (wake, woken) = std::sync::mpsc::channel();
    let journal = Arc::new(Mutex::new(None));
    let g = Gatherer {
        journal: journal.clone(),
        wake,
    };
    std::thread::spawn(move || run(to_screen, woken, every, journal_lines, local, journal));
    let wake = g.wake.clone();
    std::thread::spawn(move || follow_nodes(&wake));
    g
}

/// Wakes the gatherer the moment a node's entry changes (a state, a drain's progress, a node
/// joining or leaving), so the screen shows it without waiting for the next tick: a persistent
/// search of `ou=nodes` (RFC 4533), started again a second after it ends.
fn follow_nodes(wake: &Sender<()>) {
    loop {
        let followed = (|| -> Result<(), String> {
            let mut conn =
                pigeonair_directory::Connection::connect(LDAPI_URL, &Credentials::LocalRoot)
                    .map_err(|e| e.to_string())?;
            let csns = pigeonair_control::reconcile::context_csn()?;
            let mut changes = conn
                .persistent_search(
                    pigeonair_appliance::directory::NODES_DN,
                    (!csns.is_empty()).then(|| pigeonair_control::watch::cookie(&csns)),
                )
                .map_err(|e| e.to_string())?;
            while let Some(m) = changes.next_message().map_err(|e| e.to_string())? {
                if m == pigeonair_directory::SyncMessage::Entry && wake.send(()).is_err() {
                    return Ok(()); // the gatherer is gone
                }
            }
            Ok(())
        })();
        if followed.is_ok() && wake.send(()).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn run(
    to_screen: Sender<Action>,
    woken: Receiver<()>,
    every: Duration,
    journal_lines: usize,
    local: Option<String>,
    watched: Arc<Mutex<Option<String>>>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            let _ = to_screen.send(Action::Snapshot(Snapshot {
                error: Some(format!("cannot start the gatherer: {e}")),
                at: unix_now(),
                ..Snapshot::default()
            }));
            return;
        }
    };
    let mut dir: Option<Directory> = None;
    loop {
        let snapshot = gather(&mut dir, &runtime);
        let host = watched.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let addr: Option<SocketAddr> = host.as_deref().and_then(|h| {
            snapshot
                .nodes
                .iter()
                .find(|n| n.hostname == h)
                .and_then(pigeonair_ctl::cluster::control_address)
        });
        if to_screen.send(Action::Snapshot(snapshot)).is_err() {
            return; // the screen is gone
        }
        if let Some(host) = host {
            let lines = if local.as_deref() == Some(host.as_str()) {
                pigeonair_control::journal::read(journal_lines)
            } else if let Some(addr) = addr {
                runtime.block_on(pigeonair_control::client::journal(
                    addr,
                    journal_lines,
                    NODE_LIMIT,
                ))
            } else {
                Err(format!("{host} has no private address to ask"))
            };
            if to_screen.send(Action::Journal { host, lines }).is_err() {
                return;
            }
        }
        match woken.recv_timeout(every) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {
                // Several wake-ups while gathering make one refresh.
                while woken.try_recv().is_ok() {}
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// One refresh. The directory connection is kept between refreshes and made again after an
/// error.
fn gather(dir: &mut Option<Directory>, runtime: &tokio::runtime::Runtime) -> Snapshot {
    let at = unix_now();
    let d = match dir {
        Some(d) => d,
        None => match Directory::connect(LDAPI_URL, &Credentials::LocalRoot) {
            Ok(d) => dir.insert(d),
            Err(e) => {
                return Snapshot {
                    error: Some(format!("{e} (run the console as root on a node)")),
                    at,
                    ..Snapshot::default()
                };
            }
        },
    };
    let mut nodes = match d.node_list() {
        Ok(n) => n,
        Err(e) => {
            *dir = None;
            return Snapshot {
                error: Some(e.to_string()),
                at,
                ..Snapshot::default()
            };
        }
    };
    let addrs: Vec<Option<SocketAddr>> = nodes
        .iter()
        .map(pigeonair_ctl::cluster::control_address)
        .collect();
    let answers = runtime.block_on(pigeonair_ctl::cluster::ask_all(&addrs, NODE_LIMIT));
    pigeonair_ctl::cluster::apply_answers(&mut nodes, answers);
    Snapshot {
        nodes,
        error: None,
        at,
    }
}
