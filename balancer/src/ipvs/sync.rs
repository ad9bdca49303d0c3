//! The kernel's IPVS connection synchronisation daemons (`ip_vs_sync.c`), typed: the requests
//! that start, stop and list them, and the changes that bring the running ones to what a
//! balancer pair needs. Pure.
//!
//! A *master* daemon sends this box's connection entries (created, changed state) as UDP
//! multicast on an interface; a *backup* daemon receives the other box's and adds them to this
//! box's connection table, bound to the same real servers. Both boxes of a pair run both, all
//! the time: whichever holds the VIP has the traffic and so sends, and the other keeps a copy,
//! so an established session finds its entry on the box that takes over. Running both does
//! not depend on knowing the VRRP state, so no state change can leave a box without one.
//!
//! The kernel sends an entry after its third packet and again every 50th (`sync_threshold`,
//! `3 50`), batched for at most about two seconds: a session younger than that, or an idle one
//! that has not passed packets since the other box came up, is not there to take over.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use super::table::TableError;
use super::{DaemonAttr, IpvsAttr, IpvsCmd, IpvsMessage};

/// The kernel's default group (`IP_VS_SYNC_GROUP`, 224.0.0.81), link-local: never routed.
pub const SYNC_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 81);
/// The kernel's default port (`IP_VS_SYNC_PORT`).
pub const SYNC_PORT: u16 = 8848;
/// One hop: the peer is on the same link.
pub const SYNC_TTL: u8 = 1;

/// Which half of the synchronisation a daemon does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SyncState {
    /// `IP_VS_STATE_MASTER` (1): sends this box's connections.
    Master,
    /// `IP_VS_STATE_BACKUP` (2): receives the peer's.
    Backup,
}

impl SyncState {
    /// The `IPVS_DAEMON_ATTR_STATE` value.
    pub fn code(self) -> u32 {
        match self {
            SyncState::Master => 1,
            SyncState::Backup => 2,
        }
    }

    fn from_code(code: u32) -> Result<SyncState, TableError> {
        match code {
            1 => Ok(SyncState::Master),
            2 => Ok(SyncState::Backup),
            other => Err(TableError(format!(
                "sync daemon state {other} (expected 1 master or 2 backup)"
            ))),
        }
    }
}

impl fmt::Display for SyncState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SyncState::Master => "master",
            SyncState::Backup => "backup",
        })
    }
}

/// A sync daemon as the balancer wants it, or as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncDaemon {
    /// Master (send) or backup (receive).
    pub state: SyncState,
    /// The interface it sends or listens on.
    pub interface: String,
    /// The pair's id: a backup ignores messages with another (0..=255).
    pub sync_id: u8,
    /// Multicast group.
    pub group: IpAddr,
    /// UDP port.
    pub port: u16,
    /// Multicast TTL.
    pub ttl: u8,
}

impl SyncDaemon {
    /// The two daemons each box of a pair runs: a master and a backup on `interface`, with the
    /// kernel's default group and port, so `ipvsadm --start-daemon` users see what they know.
    pub fn pair(interface: &str, sync_id: u8) -> [SyncDaemon; 2] {
        [SyncState::Master, SyncState::Backup].map(|state| SyncDaemon {
            state,
            interface: interface.to_string(),
            sync_id,
            group: IpAddr::V4(SYNC_GROUP),
            port: SYNC_PORT,
            ttl: SYNC_TTL,
        })
    }

    /// Its attributes, as `IPVS_CMD_NEW_DAEMON` takes them. `SYNC_MAXLEN` is left out: the
    /// kernel then sizes messages to the interface's MTU.
    pub fn attrs(&self) -> Vec<DaemonAttr> {
        vec![
            DaemonAttr::State(self.state.code()),
            DaemonAttr::McastIfn(self.interface.clone()),
            DaemonAttr::SyncId(u32::from(self.sync_id)),
            match self.group {
                IpAddr::V4(g) => DaemonAttr::McastGroup(g),
                IpAddr::V6(g) => DaemonAttr::McastGroup6(g.octets()),
            },
            DaemonAttr::McastPort(self.port),
            DaemonAttr::McastTtl(self.ttl),
        ]
    }

    /// `IPVS_CMD_NEW_DAEMON`: start it.
    pub fn new_request(&self) -> IpvsMessage {
        IpvsMessage {
            cmd: IpvsCmd::NewDaemon,
            attrs: vec![IpvsAttr::Daemon(self.attrs())],
        }
    }

    /// From a dump reply's attributes. Before Linux 4.3 the kernel reported only state,
    /// interface and id; the rest then take the defaults that kernel used.
    pub fn from_attrs(attrs: &[DaemonAttr]) -> Result<SyncDaemon, TableError> {
        let mut state = None;
        let mut interface = None;
        let mut sync_id = None;
        let mut group = IpAddr::V4(SYNC_GROUP);
        let mut port = SYNC_PORT;
        let mut ttl = SYNC_TTL;
        for a in attrs {
            match a {
                DaemonAttr::State(s) => state = Some(SyncState::from_code(*s)?),
                DaemonAttr::McastIfn(i) => interface = Some(i.clone()),
                // The kernel keeps the id in a u8 field but reports it as u32.
                DaemonAttr::SyncId(id) => sync_id = Some(*id as u8),
                DaemonAttr::McastGroup(g) => group = IpAddr::V4(*g),
                DaemonAttr::McastGroup6(g) => group = IpAddr::V6((*g).into()),
                DaemonAttr::McastPort(p) => port = *p,
                DaemonAttr::McastTtl(t) => ttl = *t,
                DaemonAttr::SyncMaxlen(_) | DaemonAttr::Other(_) => {}
            }
        }
        Ok(SyncDaemon {
            state: state.ok_or_else(|| TableError("sync daemon without a state".into()))?,
            interface: interface
                .ok_or_else(|| TableError("sync daemon without an interface".into()))?,
            sync_id: sync_id.ok_or_else(|| TableError("sync daemon without a sync id".into()))?,
            group,
            port,
            ttl,
        })
    }
}

impl fmt::Display for SyncDaemon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} sync daemon on {} (sync id {}, group {} port {})",
            self.state, self.interface, self.sync_id, self.group, self.port
        )
    }
}

/// `IPVS_CMD_DEL_DAEMON`: stop the daemon of `state`.
pub fn del_daemon_request(state: SyncState) -> IpvsMessage {
    IpvsMessage {
        cmd: IpvsCmd::DelDaemon,
        attrs: vec![IpvsAttr::Daemon(vec![DaemonAttr::State(state.code())])],
    }
}

/// `IPVS_CMD_GET_DAEMON`, sent as a dump: one reply per running daemon.
pub fn get_daemons_request() -> IpvsMessage {
    IpvsMessage {
        cmd: IpvsCmd::GetDaemon,
        attrs: vec![],
    }
}

/// What brings the running daemons to `desired`: nothing for one already running as wanted;
/// stop and start for one running with other settings (the kernel cannot change a running
/// daemon); start for one missing. A state not in `desired` is left alone: without a pair the
/// balancer does not own the sync daemons, and an operator's stay.
pub fn sync_changes(desired: &[SyncDaemon], running: &[SyncDaemon]) -> Vec<IpvsMessage> {
    let mut out = Vec::new();
    for want in desired {
        match running.iter().find(|r| r.state == want.state) {
            Some(r) if r == want => {}
            Some(_) => {
                out.push(del_daemon_request(want.state));
                out.push(want.new_request());
            }
            None => out.push(want.new_request()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_runs_a_master_and_a_backup_with_the_kernel_defaults() {
        let [m, b] = SyncDaemon::pair("eth0", 51);
        assert_eq!((m.state, b.state), (SyncState::Master, SyncState::Backup));
        assert_eq!(m.group, IpAddr::V4(Ipv4Addr::new(224, 0, 0, 81)));
        assert_eq!((m.port, m.ttl, m.sync_id), (8848, 1, 51));
    }

    #[test]
    fn changes_start_missing_restart_different_and_leave_equal() {
        let want = SyncDaemon::pair("eth0", 51);
        let all = sync_changes(&want, &[]);
        assert_eq!(
            all.iter().map(|m| m.cmd).collect::<Vec<_>>(),
            [IpvsCmd::NewDaemon, IpvsCmd::NewDaemon]
        );
        assert!(sync_changes(&want, &want).is_empty());
        let mut other = want.clone();
        other[1].sync_id = 7;
        let fix = sync_changes(&want, &other);
        assert_eq!(
            fix,
            vec![del_daemon_request(SyncState::Backup), want[1].new_request()]
        );
        // Without a pair nothing is wanted, and an operator's daemon is left alone.
        assert!(sync_changes(&[], &want).is_empty());
    }

    #[test]
    fn a_reply_without_a_state_is_an_error_not_a_panic() {
        let e = SyncDaemon::from_attrs(&[DaemonAttr::McastIfn("eth0".into())]).unwrap_err();
        assert!(e.0.contains("without a state"), "{e}");
        let e = SyncDaemon::from_attrs(&[DaemonAttr::State(4)]).unwrap_err();
        assert!(e.0.contains("state 4"), "{e}");
    }
}
