//! The attributes of the kernel's "IPVS" generic netlink family
//! (`include/uapi/linux/ip_vs.h`): top-level command attributes, service attributes,
//! destination attributes and sync daemon attributes. Integers are in host byte order unless the kernel says otherwise:
//! ports are network byte order (`__be16`), as is the IPv4 persistence netmask.
//!
//! Every enum keeps unknown attributes in `Other(DefaultNla)`, so a newer kernel's reply parses.

use std::net::Ipv4Addr;

use netlink_packet_core::{
    DecodeError, DefaultNla, Emitable, Nla, NlaBuffer, NlasIterator, Parseable, emit_u16,
    emit_u16_be, emit_u32, parse_string, parse_u8, parse_u16, parse_u16_be, parse_u32,
};

// IPVS_CMD_ATTR_*
const IPVS_CMD_ATTR_SERVICE: u16 = 1;
const IPVS_CMD_ATTR_DEST: u16 = 2;
const IPVS_CMD_ATTR_DAEMON: u16 = 3;

// IPVS_SVC_ATTR_*
const IPVS_SVC_ATTR_AF: u16 = 1;
const IPVS_SVC_ATTR_PROTOCOL: u16 = 2;
const IPVS_SVC_ATTR_ADDR: u16 = 3;
const IPVS_SVC_ATTR_PORT: u16 = 4;
const IPVS_SVC_ATTR_FWMARK: u16 = 5;
const IPVS_SVC_ATTR_SCHED_NAME: u16 = 6;
const IPVS_SVC_ATTR_FLAGS: u16 = 7;
const IPVS_SVC_ATTR_TIMEOUT: u16 = 8;
const IPVS_SVC_ATTR_NETMASK: u16 = 9;
const IPVS_SVC_ATTR_PE_NAME: u16 = 11;

// IPVS_DEST_ATTR_*
const IPVS_DEST_ATTR_ADDR: u16 = 1;
const IPVS_DEST_ATTR_PORT: u16 = 2;
const IPVS_DEST_ATTR_FWD_METHOD: u16 = 3;
const IPVS_DEST_ATTR_WEIGHT: u16 = 4;
const IPVS_DEST_ATTR_U_THRESH: u16 = 5;
const IPVS_DEST_ATTR_L_THRESH: u16 = 6;
const IPVS_DEST_ATTR_ACTIVE_CONNS: u16 = 7;
const IPVS_DEST_ATTR_INACT_CONNS: u16 = 8;
const IPVS_DEST_ATTR_PERSIST_CONNS: u16 = 9;
const IPVS_DEST_ATTR_ADDR_FAMILY: u16 = 11;
const IPVS_DEST_ATTR_TUN_TYPE: u16 = 13;
const IPVS_DEST_ATTR_TUN_PORT: u16 = 14;
const IPVS_DEST_ATTR_TUN_FLAGS: u16 = 15;

// IPVS_DAEMON_ATTR_*
const IPVS_DAEMON_ATTR_STATE: u16 = 1;
const IPVS_DAEMON_ATTR_MCAST_IFN: u16 = 2;
const IPVS_DAEMON_ATTR_SYNC_ID: u16 = 3;
const IPVS_DAEMON_ATTR_SYNC_MAXLEN: u16 = 4;
const IPVS_DAEMON_ATTR_MCAST_GROUP: u16 = 5;
const IPVS_DAEMON_ATTR_MCAST_GROUP6: u16 = 6;
const IPVS_DAEMON_ATTR_MCAST_PORT: u16 = 7;
const IPVS_DAEMON_ATTR_MCAST_TTL: u16 = 8;

/// `union nf_inet_addr`: 16 bytes on the wire; an IPv4 address fills the first 4.
pub type InetAddr = [u8; 16];

fn inet_addr(value: &[u8]) -> Result<InetAddr, DecodeError> {
    if value.len() > 16 {
        return Err(DecodeError::from(format!(
            "address attribute of {} bytes (at most 16)",
            value.len()
        )));
    }
    let mut a = [0u8; 16];
    a[..value.len()].copy_from_slice(value);
    Ok(a)
}

/// A top-level attribute of an IPVS command. Nested attributes are sent without
/// `NLA_F_NESTED`, as the kernel's own replies (`nla_nest_start_noflag`) and ipvsadm do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpvsAttr {
    /// `IPVS_CMD_ATTR_SERVICE`: a nested service.
    Service(Vec<SvcAttr>),
    /// `IPVS_CMD_ATTR_DEST`: a nested destination (real server).
    Dest(Vec<DestAttr>),
    /// `IPVS_CMD_ATTR_DAEMON`: a nested connection synchronisation daemon.
    Daemon(Vec<DaemonAttr>),
    /// Anything else (timeouts, or newer attributes).
    Other(DefaultNla),
}

/// An attribute nested in `IPVS_CMD_ATTR_SERVICE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SvcAttr {
    /// `IPVS_SVC_ATTR_AF`: address family (AF_INET 2, AF_INET6 10).
    Af(u16),
    /// `IPVS_SVC_ATTR_PROTOCOL`: IPPROTO_TCP 6 or IPPROTO_UDP 17.
    Protocol(u16),
    /// `IPVS_SVC_ATTR_ADDR`: the virtual address.
    Addr(InetAddr),
    /// `IPVS_SVC_ATTR_PORT`: the virtual port (network byte order on the wire).
    Port(u16),
    /// `IPVS_SVC_ATTR_FWMARK`: a firewall-mark service instead of address:port.
    Fwmark(u32),
    /// `IPVS_SVC_ATTR_SCHED_NAME`: NUL-terminated scheduler name.
    SchedName(String),
    /// `IPVS_SVC_ATTR_FLAGS`: `struct ip_vs_flags { u32 flags; u32 mask; }`.
    Flags {
        /// `IP_VS_SVC_F_*` bits.
        flags: u32,
        /// Which bits of `flags` to apply.
        mask: u32,
    },
    /// `IPVS_SVC_ATTR_TIMEOUT`: persistence timeout in seconds.
    Timeout(u32),
    /// `IPVS_SVC_ATTR_NETMASK`: persistence granularity (IPv4: a mask, as the kernel's
    /// `__be32`; IPv6: a prefix length).
    Netmask(u32),
    /// `IPVS_SVC_ATTR_PE_NAME`: persistence engine name.
    PeName(String),
    /// Statistics and anything newer.
    Other(DefaultNla),
}

/// An attribute nested in `IPVS_CMD_ATTR_DEST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestAttr {
    /// `IPVS_DEST_ATTR_ADDR`: the real server's address.
    Addr(InetAddr),
    /// `IPVS_DEST_ATTR_PORT`: its port (network byte order on the wire).
    Port(u16),
    /// `IPVS_DEST_ATTR_FWD_METHOD`: `IP_VS_CONN_F_*` forwarding method.
    FwdMethod(u32),
    /// `IPVS_DEST_ATTR_WEIGHT`.
    Weight(u32),
    /// `IPVS_DEST_ATTR_U_THRESH`: upper connection threshold (0: none).
    UpperThreshold(u32),
    /// `IPVS_DEST_ATTR_L_THRESH`: lower connection threshold.
    LowerThreshold(u32),
    /// `IPVS_DEST_ATTR_ACTIVE_CONNS` (replies only).
    ActiveConns(u32),
    /// `IPVS_DEST_ATTR_INACT_CONNS` (replies only).
    InactConns(u32),
    /// `IPVS_DEST_ATTR_PERSIST_CONNS` (replies only).
    PersistConns(u32),
    /// `IPVS_DEST_ATTR_ADDR_FAMILY`: the real server's family, when it differs from the service's.
    AddrFamily(u16),
    /// `IPVS_DEST_ATTR_TUN_TYPE`: tunnel type (IPIP 0, GUE 1, GRE 2).
    TunType(u8),
    /// `IPVS_DEST_ATTR_TUN_PORT`: tunnel port (network byte order on the wire).
    TunPort(u16),
    /// `IPVS_DEST_ATTR_TUN_FLAGS`.
    TunFlags(u16),
    /// Statistics and anything newer.
    Other(DefaultNla),
}

/// An attribute nested in `IPVS_CMD_ATTR_DAEMON`: the kernel's connection synchronisation
/// daemon (`net/netfilter/ipvs/ip_vs_sync.c`), which sends the connection table to the other
/// balancer of a pair over UDP multicast so sessions survive a failover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaemonAttr {
    /// `IPVS_DAEMON_ATTR_STATE`: `IP_VS_STATE_MASTER` (1, sends) or `IP_VS_STATE_BACKUP`
    /// (2, receives).
    State(u32),
    /// `IPVS_DAEMON_ATTR_MCAST_IFN`: NUL-terminated name of the interface it sends or
    /// listens on.
    McastIfn(String),
    /// `IPVS_DAEMON_ATTR_SYNC_ID`: which pair a sync message belongs to (the kernel keeps
    /// the low 8 bits); a backup drops messages of another id.
    SyncId(u32),
    /// `IPVS_DAEMON_ATTR_SYNC_MAXLEN`: UDP payload size in bytes (0: from the interface's MTU).
    SyncMaxlen(u16),
    /// `IPVS_DAEMON_ATTR_MCAST_GROUP`: IPv4 multicast group (network byte order on the wire).
    McastGroup(Ipv4Addr),
    /// `IPVS_DAEMON_ATTR_MCAST_GROUP6`: IPv6 multicast group.
    McastGroup6([u8; 16]),
    /// `IPVS_DAEMON_ATTR_MCAST_PORT`: UDP port, in host byte order (the kernel's
    /// `nla_get_u16`, unlike the service and destination ports).
    McastPort(u16),
    /// `IPVS_DAEMON_ATTR_MCAST_TTL`: multicast TTL.
    McastTtl(u8),
    /// Anything newer.
    Other(DefaultNla),
}

fn string_len(s: &str) -> usize {
    s.len() + 1
}

fn emit_string(s: &str, buffer: &mut [u8]) {
    buffer[..s.len()].copy_from_slice(s.as_bytes());
    buffer[s.len()] = 0;
}

impl Nla for SvcAttr {
    fn value_len(&self) -> usize {
        match self {
            SvcAttr::Af(_) | SvcAttr::Protocol(_) | SvcAttr::Port(_) => 2,
            SvcAttr::Addr(_) => 16,
            SvcAttr::Fwmark(_) | SvcAttr::Timeout(_) | SvcAttr::Netmask(_) => 4,
            SvcAttr::Flags { .. } => 8,
            SvcAttr::SchedName(s) | SvcAttr::PeName(s) => string_len(s),
            SvcAttr::Other(n) => n.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            SvcAttr::Af(_) => IPVS_SVC_ATTR_AF,
            SvcAttr::Protocol(_) => IPVS_SVC_ATTR_PROTOCOL,
            SvcAttr::Addr(_) => IPVS_SVC_ATTR_ADDR,
            SvcAttr::Port(_) => IPVS_SVC_ATTR_PORT,
            SvcAttr::Fwmark(_) => IPVS_SVC_ATTR_FWMARK,
            SvcAttr::SchedName(_) => IPVS_SVC_ATTR_SCHED_NAME,
            SvcAttr::Flags { .. } => IPVS_SVC_ATTR_FLAGS,
            SvcAttr::Timeout(_) => IPVS_SVC_ATTR_TIMEOUT,
            SvcAttr::Netmask(_) => IPVS_SVC_ATTR_NETMASK,
            SvcAttr::PeName(_) => IPVS_SVC_ATTR_PE_NAME,
            SvcAttr::Other(n) => n.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            SvcAttr::Af(v) | SvcAttr::Protocol(v) => emit_u16(buffer, *v).expect("2 bytes"),
            SvcAttr::Port(v) => emit_u16_be(buffer, *v).expect("2 bytes"),
            SvcAttr::Addr(a) => buffer[..16].copy_from_slice(a),
            SvcAttr::Fwmark(v) | SvcAttr::Timeout(v) | SvcAttr::Netmask(v) => {
                emit_u32(buffer, *v).expect("4 bytes")
            }
            SvcAttr::Flags { flags, mask } => {
                emit_u32(&mut buffer[..4], *flags).expect("4 bytes");
                emit_u32(&mut buffer[4..8], *mask).expect("4 bytes");
            }
            SvcAttr::SchedName(s) | SvcAttr::PeName(s) => emit_string(s, buffer),
            SvcAttr::Other(n) => n.emit_value(buffer),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for SvcAttr {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        let v = buf.value();
        Ok(match buf.kind() {
            IPVS_SVC_ATTR_AF => SvcAttr::Af(parse_u16(v)?),
            IPVS_SVC_ATTR_PROTOCOL => SvcAttr::Protocol(parse_u16(v)?),
            IPVS_SVC_ATTR_ADDR => SvcAttr::Addr(inet_addr(v)?),
            IPVS_SVC_ATTR_PORT => SvcAttr::Port(parse_u16_be(v)?),
            IPVS_SVC_ATTR_FWMARK => SvcAttr::Fwmark(parse_u32(v)?),
            IPVS_SVC_ATTR_SCHED_NAME => SvcAttr::SchedName(parse_string(v)?),
            IPVS_SVC_ATTR_FLAGS if v.len() >= 8 => SvcAttr::Flags {
                flags: parse_u32(&v[..4])?,
                mask: parse_u32(&v[4..8])?,
            },
            IPVS_SVC_ATTR_TIMEOUT => SvcAttr::Timeout(parse_u32(v)?),
            IPVS_SVC_ATTR_NETMASK => SvcAttr::Netmask(parse_u32(v)?),
            IPVS_SVC_ATTR_PE_NAME => SvcAttr::PeName(parse_string(v)?),
            _ => SvcAttr::Other(DefaultNla::parse(buf)?),
        })
    }
}

impl Nla for DestAttr {
    fn value_len(&self) -> usize {
        match self {
            DestAttr::Addr(_) => 16,
            DestAttr::Port(_)
            | DestAttr::AddrFamily(_)
            | DestAttr::TunPort(_)
            | DestAttr::TunFlags(_) => 2,
            DestAttr::TunType(_) => 1,
            DestAttr::FwdMethod(_)
            | DestAttr::Weight(_)
            | DestAttr::UpperThreshold(_)
            | DestAttr::LowerThreshold(_)
            | DestAttr::ActiveConns(_)
            | DestAttr::InactConns(_)
            | DestAttr::PersistConns(_) => 4,
            DestAttr::Other(n) => n.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            DestAttr::Addr(_) => IPVS_DEST_ATTR_ADDR,
            DestAttr::Port(_) => IPVS_DEST_ATTR_PORT,
            DestAttr::FwdMethod(_) => IPVS_DEST_ATTR_FWD_METHOD,
            DestAttr::Weight(_) => IPVS_DEST_ATTR_WEIGHT,
            DestAttr::UpperThreshold(_) => IPVS_DEST_ATTR_U_THRESH,
            DestAttr::LowerThreshold(_) => IPVS_DEST_ATTR_L_THRESH,
            DestAttr::ActiveConns(_) => IPVS_DEST_ATTR_ACTIVE_CONNS,
            DestAttr::InactConns(_) => IPVS_DEST_ATTR_INACT_CONNS,
            DestAttr::PersistConns(_) => IPVS_DEST_ATTR_PERSIST_CONNS,
            DestAttr::AddrFamily(_) => IPVS_DEST_ATTR_ADDR_FAMILY,
            DestAttr::TunType(_) => IPVS_DEST_ATTR_TUN_TYPE,
            DestAttr::TunPort(_) => IPVS_DEST_ATTR_TUN_PORT,
            DestAttr::TunFlags(_) => IPVS_DEST_ATTR_TUN_FLAGS,
            DestAttr::Other(n) => n.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            DestAttr::Addr(a) => buffer[..16].copy_from_slice(a),
            DestAttr::Port(v) | DestAttr::TunPort(v) => emit_u16_be(buffer, *v).expect("2 bytes"),
            DestAttr::AddrFamily(v) | DestAttr::TunFlags(v) => {
                emit_u16(buffer, *v).expect("2 bytes")
            }
            DestAttr::TunType(v) => buffer[0] = *v,
            DestAttr::FwdMethod(v)
            | DestAttr::Weight(v)
            | DestAttr::UpperThreshold(v)
            | DestAttr::LowerThreshold(v)
            | DestAttr::ActiveConns(v)
            | DestAttr::InactConns(v)
            | DestAttr::PersistConns(v) => emit_u32(buffer, *v).expect("4 bytes"),
            DestAttr::Other(n) => n.emit_value(buffer),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for DestAttr {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        let v = buf.value();
        Ok(match buf.kind() {
            IPVS_DEST_ATTR_ADDR => DestAttr::Addr(inet_addr(v)?),
            IPVS_DEST_ATTR_PORT => DestAttr::Port(parse_u16_be(v)?),
            IPVS_DEST_ATTR_FWD_METHOD => DestAttr::FwdMethod(parse_u32(v)?),
            IPVS_DEST_ATTR_WEIGHT => DestAttr::Weight(parse_u32(v)?),
            IPVS_DEST_ATTR_U_THRESH => DestAttr::UpperThreshold(parse_u32(v)?),
            IPVS_DEST_ATTR_L_THRESH => DestAttr::LowerThreshold(parse_u32(v)?),
            IPVS_DEST_ATTR_ACTIVE_CONNS => DestAttr::ActiveConns(parse_u32(v)?),
            IPVS_DEST_ATTR_INACT_CONNS => DestAttr::InactConns(parse_u32(v)?),
            IPVS_DEST_ATTR_PERSIST_CONNS => DestAttr::PersistConns(parse_u32(v)?),
            IPVS_DEST_ATTR_ADDR_FAMILY => DestAttr::AddrFamily(parse_u16(v)?),
            IPVS_DEST_ATTR_TUN_TYPE => DestAttr::TunType(parse_u8(v)?),
            IPVS_DEST_ATTR_TUN_PORT => DestAttr::TunPort(parse_u16_be(v)?),
            IPVS_DEST_ATTR_TUN_FLAGS => DestAttr::TunFlags(parse_u16(v)?),
            _ => DestAttr::Other(DefaultNla::parse(buf)?),
        })
    }
}

impl Nla for DaemonAttr {
    fn value_len(&self) -> usize {
        match self {
            DaemonAttr::State(_) | DaemonAttr::SyncId(_) | DaemonAttr::McastGroup(_) => 4,
            DaemonAttr::McastIfn(s) => string_len(s),
            DaemonAttr::SyncMaxlen(_) | DaemonAttr::McastPort(_) => 2,
            DaemonAttr::McastGroup6(_) => 16,
            DaemonAttr::McastTtl(_) => 1,
            DaemonAttr::Other(n) => n.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            DaemonAttr::State(_) => IPVS_DAEMON_ATTR_STATE,
            DaemonAttr::McastIfn(_) => IPVS_DAEMON_ATTR_MCAST_IFN,
            DaemonAttr::SyncId(_) => IPVS_DAEMON_ATTR_SYNC_ID,
            DaemonAttr::SyncMaxlen(_) => IPVS_DAEMON_ATTR_SYNC_MAXLEN,
            DaemonAttr::McastGroup(_) => IPVS_DAEMON_ATTR_MCAST_GROUP,
            DaemonAttr::McastGroup6(_) => IPVS_DAEMON_ATTR_MCAST_GROUP6,
            DaemonAttr::McastPort(_) => IPVS_DAEMON_ATTR_MCAST_PORT,
            DaemonAttr::McastTtl(_) => IPVS_DAEMON_ATTR_MCAST_TTL,
            DaemonAttr::Other(n) => n.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            DaemonAttr::State(v) | DaemonAttr::SyncId(v) => emit_u32(buffer, *v).expect("4 bytes"),
            DaemonAttr::McastIfn(s) => emit_string(s, buffer),
            DaemonAttr::SyncMaxlen(v) | DaemonAttr::McastPort(v) => {
                emit_u16(buffer, *v).expect("2 bytes")
            }
            DaemonAttr::McastGroup(a) => buffer[..4].copy_from_slice(&a.octets()),
            DaemonAttr::McastGroup6(a) => buffer[..16].copy_from_slice(a),
            DaemonAttr::McastTtl(v) => buffer[0] = *v,
            DaemonAttr::Other(n) => n.emit_value(buffer),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for DaemonAttr {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        let v = buf.value();
        Ok(match buf.kind() {
            IPVS_DAEMON_ATTR_STATE => DaemonAttr::State(parse_u32(v)?),
            IPVS_DAEMON_ATTR_MCAST_IFN => DaemonAttr::McastIfn(parse_string(v)?),
            IPVS_DAEMON_ATTR_SYNC_ID => DaemonAttr::SyncId(parse_u32(v)?),
            IPVS_DAEMON_ATTR_SYNC_MAXLEN => DaemonAttr::SyncMaxlen(parse_u16(v)?),
            IPVS_DAEMON_ATTR_MCAST_GROUP if v.len() == 4 => {
                DaemonAttr::McastGroup(Ipv4Addr::new(v[0], v[1], v[2], v[3]))
            }
            IPVS_DAEMON_ATTR_MCAST_GROUP6 if v.len() == 16 => {
                DaemonAttr::McastGroup6(v.try_into().expect("16 bytes"))
            }
            IPVS_DAEMON_ATTR_MCAST_PORT => DaemonAttr::McastPort(parse_u16(v)?),
            IPVS_DAEMON_ATTR_MCAST_TTL => DaemonAttr::McastTtl(parse_u8(v)?),
            _ => DaemonAttr::Other(DefaultNla::parse(buf)?),
        })
    }
}

/// A nested attribute list as it sits inside its parent: emitted back to back.
struct Nested<'a, A>(&'a [A]);

impl<A: Nla> Nested<'_, A> {
    fn len(&self) -> usize {
        self.0.as_ref().buffer_len()
    }
    fn emit(&self, buffer: &mut [u8]) {
        self.0.as_ref().emit(buffer)
    }
}

fn parse_nested<A>(value: &[u8]) -> Result<Vec<A>, DecodeError>
where
    A: for<'a> Parseable<NlaBuffer<&'a [u8]>>,
{
    NlasIterator::new(value)
        .map(|nla| nla.and_then(|nla| A::parse(&nla)))
        .collect()
}

impl Nla for IpvsAttr {
    fn value_len(&self) -> usize {
        match self {
            IpvsAttr::Service(a) => Nested(a).len(),
            IpvsAttr::Dest(a) => Nested(a).len(),
            IpvsAttr::Daemon(a) => Nested(a).len(),
            IpvsAttr::Other(n) => n.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            IpvsAttr::Service(_) => IPVS_CMD_ATTR_SERVICE,
            IpvsAttr::Dest(_) => IPVS_CMD_ATTR_DEST,
            IpvsAttr::Daemon(_) => IPVS_CMD_ATTR_DAEMON,
            IpvsAttr::Other(n) => n.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            IpvsAttr::Service(a) => Nested(a).emit(buffer),
            IpvsAttr::Dest(a) => Nested(a).emit(buffer),
            IpvsAttr::Daemon(a) => Nested(a).emit(buffer),
            IpvsAttr::Other(n) => n.emit_value(buffer),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for IpvsAttr {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        Ok(match buf.kind() {
            IPVS_CMD_ATTR_SERVICE => IpvsAttr::Service(parse_nested(buf.value())?),
            IPVS_CMD_ATTR_DEST => IpvsAttr::Dest(parse_nested(buf.value())?),
            IPVS_CMD_ATTR_DAEMON => IpvsAttr::Daemon(parse_nested(buf.value())?),
            _ => IpvsAttr::Other(DefaultNla::parse(buf)?),
        })
    }
}
