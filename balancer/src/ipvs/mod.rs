//! Linux IPVS over generic netlink. [`IpvsMessage`] is the family's payload (after the
//! `genlmsghdr`); [`attr`] holds its attributes; [`table`] the typed services and
//! destinations, with the requests that create, edit, delete and dump them; [`sync`] the
//! connection synchronisation daemons of a balancer pair. All of it is pure:
//! bytes in, bytes out. [`socket`] is the IO.

pub mod attr;
pub mod socket;
pub mod sync;
pub mod table;

use netlink_packet_core::{
    DecodeError, Emitable, NlaBuffer, NlasIterator, Parseable, ParseableParametrized,
};
use netlink_packet_generic::{GenlFamily, GenlHeader};

pub use attr::{DaemonAttr, DestAttr, InetAddr, IpvsAttr, SvcAttr};

/// The generic netlink family name the kernel registers (`IPVS_GENL_NAME`).
pub const FAMILY_NAME: &str = "IPVS";
/// `IPVS_GENL_VERSION`.
pub const FAMILY_VERSION: u8 = 1;

/// `IPVS_CMD_*`, named after the kernel's constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpvsCmd {
    /// `IPVS_CMD_NEW_SERVICE` (1)
    NewService,
    /// `IPVS_CMD_SET_SERVICE` (2)
    SetService,
    /// `IPVS_CMD_DEL_SERVICE` (3)
    DelService,
    /// `IPVS_CMD_GET_SERVICE` (4)
    GetService,
    /// `IPVS_CMD_NEW_DEST` (5)
    NewDest,
    /// `IPVS_CMD_SET_DEST` (6)
    SetDest,
    /// `IPVS_CMD_DEL_DEST` (7)
    DelDest,
    /// `IPVS_CMD_GET_DEST` (8)
    GetDest,
    /// `IPVS_CMD_NEW_DAEMON` (9): start a sync daemon; also the command of daemon dump replies.
    NewDaemon,
    /// `IPVS_CMD_DEL_DAEMON` (10): stop one.
    DelDaemon,
    /// `IPVS_CMD_GET_DAEMON` (11): dump the running ones.
    GetDaemon,
    /// `IPVS_CMD_FLUSH` (17): never sent by the balancer (it does not own every entry).
    Flush,
    /// Any other command number (config, info, zero).
    Other(u8),
}

impl From<IpvsCmd> for u8 {
    fn from(c: IpvsCmd) -> u8 {
        match c {
            IpvsCmd::NewService => 1,
            IpvsCmd::SetService => 2,
            IpvsCmd::DelService => 3,
            IpvsCmd::GetService => 4,
            IpvsCmd::NewDest => 5,
            IpvsCmd::SetDest => 6,
            IpvsCmd::DelDest => 7,
            IpvsCmd::GetDest => 8,
            IpvsCmd::NewDaemon => 9,
            IpvsCmd::DelDaemon => 10,
            IpvsCmd::GetDaemon => 11,
            IpvsCmd::Flush => 17,
            IpvsCmd::Other(n) => n,
        }
    }
}

impl From<u8> for IpvsCmd {
    fn from(n: u8) -> IpvsCmd {
        match n {
            1 => IpvsCmd::NewService,
            2 => IpvsCmd::SetService,
            3 => IpvsCmd::DelService,
            4 => IpvsCmd::GetService,
            5 => IpvsCmd::NewDest,
            6 => IpvsCmd::SetDest,
            7 => IpvsCmd::DelDest,
            8 => IpvsCmd::GetDest,
            9 => IpvsCmd::NewDaemon,
            10 => IpvsCmd::DelDaemon,
            11 => IpvsCmd::GetDaemon,
            17 => IpvsCmd::Flush,
            n => IpvsCmd::Other(n),
        }
    }
}

/// One IPVS request or reply: a command and its attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpvsMessage {
    /// The command.
    pub cmd: IpvsCmd,
    /// Its top-level attributes.
    pub attrs: Vec<IpvsAttr>,
}

impl GenlFamily for IpvsMessage {
    fn family_name() -> &'static str {
        FAMILY_NAME
    }

    fn command(&self) -> u8 {
        self.cmd.into()
    }

    fn version(&self) -> u8 {
        FAMILY_VERSION
    }
}

impl Emitable for IpvsMessage {
    fn buffer_len(&self) -> usize {
        self.attrs.as_slice().buffer_len()
    }

    fn emit(&self, buffer: &mut [u8]) {
        self.attrs.as_slice().emit(buffer)
    }
}

impl ParseableParametrized<[u8], GenlHeader> for IpvsMessage {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        let attrs = NlasIterator::new(buf)
            .map(|nla| nla.and_then(|nla: NlaBuffer<&[u8]>| IpvsAttr::parse(&nla)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(IpvsMessage {
            cmd: header.cmd.into(),
            attrs,
        })
    }
}

impl IpvsMessage {
    /// The nested service attributes, if the message has them.
    pub fn service(&self) -> Option<&[SvcAttr]> {
        self.attrs.iter().find_map(|a| match a {
            IpvsAttr::Service(s) => Some(s.as_slice()),
            _ => None,
        })
    }

    /// The nested destination attributes, if the message has them.
    pub fn dest(&self) -> Option<&[DestAttr]> {
        self.attrs.iter().find_map(|a| match a {
            IpvsAttr::Dest(d) => Some(d.as_slice()),
            _ => None,
        })
    }

    /// The nested sync daemon attributes, if the message has them.
    pub fn daemon(&self) -> Option<&[DaemonAttr]> {
        self.attrs.iter().find_map(|a| match a {
            IpvsAttr::Daemon(d) => Some(d.as_slice()),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests;
