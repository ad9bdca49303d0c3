//! Peers coming back: mail for a peer's mailboxes that this node accepted while the peer was
//! down (power cut, crash, network) waits in this node's queue with a temporary failure, and
//! Postfix alone would retry it only after its backoff (up to `maximal_backoff_time`, 4000 s).
//! Every [`ROUND`] this node tries each peer's LMTP port on the private network (what its
//! queued mail needs); when one that did not answer answers again, the queue is retried at
//! once ([`crate::moves::flush_queue`]). A node starting up retries its own queue too: its
//! first round finds every peer "back".

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use log::{info, warn};

/// How often the peers are tried.
pub const ROUND: Duration = Duration::from_secs(2);
/// How long a peer's LMTP port may take to accept a connection.
const CONNECT_LIMIT: Duration = Duration::from_secs(1);
/// LMTP on the private network (Postfix's lmtp-peer transport).
const LMTP_PORT: u16 = 24;

/// What a round of observations changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    /// Peers that answer now and did not before (or were not known yet).
    pub back: Vec<String>,
    /// Peers that answered before and do not now.
    pub gone: Vec<String>,
}

/// The peers as last seen: answering or not. Pure: the caller tries the ports.
#[derive(Debug, Default, Clone)]
pub struct PeerWatch {
    answering: BTreeMap<String, bool>,
}

impl PeerWatch {
    /// No peer seen yet.
    pub fn new() -> Self {
        PeerWatch::default()
    }

    /// Records one round: every current peer and whether it answered. Peers no longer in the
    /// cluster are forgotten.
    pub fn round(&mut self, seen: &[(String, bool)]) -> Changes {
        let mut changes = Changes::default();
        let mut next = BTreeMap::new();
        for (peer, up) in seen {
            match (self.answering.get(peer), up) {
                (Some(true), false) => changes.gone.push(peer.clone()),
                (Some(false) | None, true) => changes.back.push(peer.clone()),
                _ => {}
            }
            next.insert(peer.clone(), *up);
        }
        self.answering = next;
        changes
    }
}

/// Whether `addr` accepts a TCP connection within [`CONNECT_LIMIT`].
fn answers(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, CONNECT_LIMIT).is_ok()
}

/// Tries every peer's LMTP port at once; `(host name, answered)`.
fn try_peers(me: &str) -> Result<Vec<(String, bool)>, String> {
    let view = crate::reconcile::cluster_view()?;
    let peers: Vec<(String, SocketAddr)> = view
        .peers(me)
        .filter(|n| n.state != "joining")
        .filter_map(|n| {
            n.private
                .map(|ip| (n.hostname.clone(), SocketAddr::new(ip.into(), LMTP_PORT)))
        })
        .collect();
    Ok(std::thread::scope(|s| {
        let tries: Vec<_> = peers
            .iter()
            .map(|(host, addr)| (host, s.spawn(move || answers(*addr))))
            .collect();
        tries
            .into_iter()
            .map(|(host, t)| (host.clone(), t.join().unwrap_or(false)))
            .collect()
    }))
}

/// Rounds after a peer came back during which the queue is retried again while it holds
/// mail: a peer's LMTP port may answer before its directory does (its slapd still starting),
/// and mail the first retry met with a temporary failure would wait for Postfix's backoff.
const AGAIN_ROUNDS: u32 = 15;

/// When to retry the queue again after a peer came back: every second round for
/// [`AGAIN_ROUNDS`] rounds. Pure: the caller says whether a peer came back this round and
/// retries when told.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Again {
    left: u32,
}

impl Again {
    /// After a round: `back`, a peer came back in it (the queue was retried then). Whether to
    /// retry the queue now, if it holds mail.
    pub fn after_round(&mut self, back: bool) -> bool {
        if back {
            self.left = AGAIN_ROUNDS;
            return false;
        }
        if self.left == 0 {
            return false;
        }
        self.left -= 1;
        self.left % 2 == 0
    }
}

/// Whether Postfix's queue holds any message (`postqueue -j` prints one line per message).
fn queue_holds_mail() -> bool {
    std::process::Command::new("postqueue")
        .arg("-j")
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty())
}

/// Watches the peers for good: logs a peer that stops answering, and retries the queue when
/// one answers again (and a few times after, while mail waits). Never returns.
pub fn run_forever(me: String) {
    let mut watch = PeerWatch::new();
    let mut again = Again::default();
    let mut first = true;
    loop {
        match try_peers(&me) {
            Ok(seen) => {
                let changes = watch.round(&seen);
                for peer in &changes.gone {
                    warn!(
                        "peer {peer} does not answer on its private LMTP port: mail for its \
                         mailboxes stays queued here (temporary failure) until it is back"
                    );
                }
                if !changes.back.is_empty() {
                    let why = if first {
                        "this node started".to_owned()
                    } else {
                        format!("{} answers again", changes.back.join(", "))
                    };
                    match crate::moves::flush_queue() {
                        Ok(()) => info!("{why}: the mail queue is retried now"),
                        Err(e) => warn!("{why}: retrying the mail queue: {e}"),
                    }
                }
                if again.after_round(!changes.back.is_empty()) && queue_holds_mail() {
                    let _ = std::process::Command::new("postqueue").arg("-f").output();
                }
                first = false;
            }
            Err(e) => crate::moves::warn_once(&format!("peers: {e}")),
        }
        std::thread::sleep(ROUND);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_is_retried_again_every_other_round_for_a_while_after_a_return() {
        let mut again = Again::default();
        assert!(!again.after_round(false), "nothing came back yet");
        assert!(
            !again.after_round(true),
            "the return's own retry is the caller's"
        );
        let next: Vec<bool> = (0..AGAIN_ROUNDS + 3)
            .map(|_| again.after_round(false))
            .collect();
        assert_eq!(
            next.iter().filter(|r| **r).count(),
            (AGAIN_ROUNDS / 2 + 1) as usize
        );
        assert!(next[0] && !next[1], "{next:?}");
        assert!(next[AGAIN_ROUNDS as usize..].iter().all(|r| !r), "{next:?}");
        // Another return starts it over.
        assert!(!again.after_round(true));
        assert!(again.after_round(false) || again.after_round(false));
    }

    fn seen(v: &[(&str, bool)]) -> Vec<(String, bool)> {
        v.iter().map(|(h, u)| (h.to_string(), *u)).collect()
    }

    #[test]
    fn a_peer_that_answers_again_is_back_once() {
        let mut w = PeerWatch::new();
        // The first round: every answering peer is "back" (the node itself just started).
        let c = w.round(&seen(&[("mx2", true), ("mx3", false)]));
        assert_eq!(c.back, vec!["mx2"]);
        assert!(c.gone.is_empty());
        let c = w.round(&seen(&[("mx2", false), ("mx3", false)]));
        assert_eq!(c.gone, vec!["mx2"]);
        assert!(c.back.is_empty());
        // Still down: nothing new.
        assert_eq!(
            w.round(&seen(&[("mx2", false), ("mx3", false)])),
            Changes::default()
        );
        let c = w.round(&seen(&[("mx2", true), ("mx3", true)]));
        assert_eq!(c.back, vec!["mx2", "mx3"]);
        assert_eq!(
            w.round(&seen(&[("mx2", true), ("mx3", true)])),
            Changes::default()
        );
    }

    #[test]
    fn a_peer_that_left_is_forgotten_and_new_again_if_it_returns() {
        let mut w = PeerWatch::new();
        w.round(&seen(&[("mx2", true)]));
        assert_eq!(w.round(&seen(&[])), Changes::default());
        assert_eq!(w.round(&seen(&[("mx2", true)])).back, vec!["mx2"]);
    }
}
