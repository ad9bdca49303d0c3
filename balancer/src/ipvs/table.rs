//! Typed IPVS services and destinations, the requests that program them and their parsing from
//! the kernel's replies. Pure.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::Serialize;

use super::{DestAttr, InetAddr, IpvsAttr, IpvsCmd, IpvsMessage, SvcAttr};
use crate::config::Forwarding;

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;
const IPPROTO_TCP: u16 = 6;
const IPPROTO_UDP: u16 = 17;

/// `IP_VS_SVC_F_PERSISTENT`
const SVC_F_PERSISTENT: u32 = 0x1;
/// `IP_VS_SVC_F_HASHED`: kernel bookkeeping, shown in dumps, never requested.
const SVC_F_HASHED: u32 = 0x2;

/// `IP_VS_SCHEDNAME_MAXLEN`, NUL included.
pub const SCHED_NAME_MAX: usize = 16;

/// A reply the balancer cannot turn into a service or destination.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("IPVS reply: {0}")]
pub struct TableError(pub String);

/// TCP or UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// IPPROTO_TCP
    Tcp,
    /// IPPROTO_UDP
    Udp,
}

/// What identifies a virtual service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceKey {
    /// protocol + virtual address and port.
    Addr {
        /// TCP or UDP.
        protocol: Protocol,
        /// VIP:port.
        addr: SocketAddr,
    },
    /// A firewall-mark service.
    Fwmark {
        /// IPv6 rather than IPv4.
        ipv6: bool,
        /// The mark.
        mark: u32,
    },
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Addr {
                protocol: Protocol::Tcp,
                addr,
            } => write!(f, "TCP {addr}"),
            ServiceKey::Addr {
                protocol: Protocol::Udp,
                addr,
            } => write!(f, "UDP {addr}"),
            ServiceKey::Fwmark { ipv6: false, mark } => write!(f, "FWM {mark}"),
            ServiceKey::Fwmark { ipv6: true, mark } => write!(f, "FWM {mark} IPv6"),
        }
    }
}

/// A virtual service as the balancer wants it (and as the kernel reports it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Service {
    /// What identifies it.
    pub key: ServiceKey,
    /// Scheduler name, e.g. `wlc`.
    pub scheduler: String,
    /// Persistence timeout in seconds, if persistent.
    pub persistence: Option<u32>,
    /// Persistence granularity: an IPv4 mask as the kernel's big-endian word, or an IPv6
    /// prefix length.
    pub netmask: u32,
    /// Other `IP_VS_SVC_F_*` bits (one-packet, scheduler flags), `HASHED` excluded.
    pub flags: u32,
}

/// IPVS forwarding method (`IP_VS_CONN_F_FWD_MASK` bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FwdMethod {
    /// `IP_VS_CONN_F_MASQ` (0): NAT.
    Masq,
    /// `IP_VS_CONN_F_LOCALNODE` (1).
    Local,
    /// `IP_VS_CONN_F_TUNNEL` (2).
    Tunnel,
    /// `IP_VS_CONN_F_DROUTE` (3): direct routing.
    Route,
    /// `IP_VS_CONN_F_BYPASS` (4).
    Bypass,
    /// Anything newer.
    Other(u32),
}

impl From<Forwarding> for FwdMethod {
    fn from(f: Forwarding) -> FwdMethod {
        match f {
            Forwarding::Nat => FwdMethod::Masq,
            Forwarding::Dr => FwdMethod::Route,
            Forwarding::Tunnel => FwdMethod::Tunnel,
        }
    }
}

impl From<FwdMethod> for u32 {
    fn from(f: FwdMethod) -> u32 {
        match f {
            FwdMethod::Masq => 0,
            FwdMethod::Local => 1,
            FwdMethod::Tunnel => 2,
            FwdMethod::Route => 3,
            FwdMethod::Bypass => 4,
            FwdMethod::Other(n) => n,
        }
    }
}

impl From<u32> for FwdMethod {
    fn from(n: u32) -> FwdMethod {
        // The kernel reports the method within the connection flags; only the low 3 bits are
        // the method (IP_VS_CONN_F_FWD_MASK).
        match n & 0x7 {
            0 => FwdMethod::Masq,
            1 => FwdMethod::Local,
            2 => FwdMethod::Tunnel,
            3 => FwdMethod::Route,
            4 => FwdMethod::Bypass,
            m => FwdMethod::Other(m),
        }
    }
}

/// A real server of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Destination {
    /// Its address.
    pub addr: IpAddr,
    /// Its port.
    pub port: u16,
    /// How packets reach it.
    pub forwarding: FwdMethod,
    /// Share of new connections; 0 is quiesced (established sessions continue).
    pub weight: u32,
    /// Upper connection threshold, 0 for none.
    pub upper_threshold: u32,
    /// Lower connection threshold.
    pub lower_threshold: u32,
}

/// A destination's connection counters, from a dump.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DestStats {
    /// Established connections.
    pub active: u32,
    /// Other connection entries (closing, waiting).
    pub inactive: u32,
    /// Persistence templates.
    pub persistent: u32,
}

fn to_inet(ip: IpAddr) -> InetAddr {
    let mut a = [0u8; 16];
    match ip {
        IpAddr::V4(v4) => a[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => a = v6.octets(),
    }
    a
}

fn from_inet(a: &InetAddr, af: u16) -> Result<IpAddr, TableError> {
    match af {
        AF_INET => Ok(IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))),
        AF_INET6 => Ok(IpAddr::V6(Ipv6Addr::from(*a))),
        other => Err(TableError(format!(
            "address family {other} (expected 2 or 10)"
        ))),
    }
}

fn af_of(ip: IpAddr) -> u16 {
    if ip.is_ipv4() { AF_INET } else { AF_INET6 }
}

impl ServiceKey {
    /// A TCP service.
    pub fn tcp(addr: SocketAddr) -> ServiceKey {
        ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr,
        }
    }

    fn af(&self) -> u16 {
        match self {
            ServiceKey::Addr { addr, .. } => af_of(addr.ip()),
            ServiceKey::Fwmark { ipv6: false, .. } => AF_INET,
            ServiceKey::Fwmark { ipv6: true, .. } => AF_INET6,
        }
    }

    /// The attributes that identify the service in any request.
    pub fn attrs(&self) -> Vec<SvcAttr> {
        match self {
            ServiceKey::Addr { protocol, addr } => vec![
                SvcAttr::Af(self.af()),
                SvcAttr::Protocol(match protocol {
                    Protocol::Tcp => IPPROTO_TCP,
                    Protocol::Udp => IPPROTO_UDP,
                }),
                SvcAttr::Addr(to_inet(addr.ip())),
                SvcAttr::Port(addr.port()),
            ],
            ServiceKey::Fwmark { mark, .. } => vec![SvcAttr::Af(self.af()), SvcAttr::Fwmark(*mark)],
        }
    }

    /// `IPVS_CMD_DEL_SERVICE`: removes the service and its destinations.
    pub fn del_request(&self) -> IpvsMessage {
        IpvsMessage {
            cmd: IpvsCmd::DelService,
            attrs: vec![IpvsAttr::Service(self.attrs())],
        }
    }

    /// `IPVS_CMD_GET_DEST` for this service (sent as a dump).
    pub fn get_dests_request(&self) -> IpvsMessage {
        IpvsMessage {
            cmd: IpvsCmd::GetDest,
            attrs: vec![IpvsAttr::Service(self.attrs())],
        }
    }

    /// Parses the identifying attributes.
    pub fn from_attrs(attrs: &[SvcAttr]) -> Result<ServiceKey, TableError> {
        let mut af = None;
        let mut protocol = None;
        let mut addr = None;
        let mut port = None;
        let mut fwmark = None;
        for a in attrs {
            match a {
                SvcAttr::Af(v) => af = Some(*v),
                SvcAttr::Protocol(v) => protocol = Some(*v),
                SvcAttr::Addr(v) => addr = Some(*v),
                SvcAttr::Port(v) => port = Some(*v),
                SvcAttr::Fwmark(v) => fwmark = Some(*v),
                _ => {}
            }
        }
        let af = af.ok_or_else(|| TableError("service without an address family".into()))?;
        match fwmark {
            Some(mark) if mark != 0 => Ok(ServiceKey::Fwmark {
                ipv6: af == AF_INET6,
                mark,
            }),
            _ => {
                let protocol = match protocol {
                    Some(IPPROTO_TCP) => Protocol::Tcp,
                    Some(IPPROTO_UDP) => Protocol::Udp,
                    Some(p) => {
                        return Err(TableError(format!(
                            "service protocol {p} (expected TCP or UDP)"
                        )));
                    }
                    None => return Err(TableError("service without a protocol".into())),
                };
                let ip = from_inet(
                    &addr.ok_or_else(|| TableError("service without an address".into()))?,
                    af,
                )?;
                let port = port.ok_or_else(|| TableError("service without a port".into()))?;
                Ok(ServiceKey::Addr {
                    protocol,
                    addr: SocketAddr::new(ip, port),
                })
            }
        }
    }
}

impl Service {
    /// A service with the given scheduler and persistence, default netmask and no flags.
    pub fn new(key: ServiceKey, scheduler: &str, persistence: Option<u32>) -> Service {
        Service {
            key,
            scheduler: scheduler.to_string(),
            persistence,
            netmask: if key.af() == AF_INET { u32::MAX } else { 128 },
            flags: 0,
        }
    }

    /// Every attribute: the kernel needs them all to create or edit a service.
    pub fn attrs(&self) -> Vec<SvcAttr> {
        let mut attrs = self.key.attrs();
        let persistent = if self.persistence.is_some() {
            SVC_F_PERSISTENT
        } else {
            0
        };
        attrs.extend([
            SvcAttr::SchedName(self.scheduler.clone()),
            SvcAttr::Flags {
                flags: self.flags | persistent,
                mask: u32::MAX,
            },
            SvcAttr::Timeout(self.persistence.unwrap_or(0)),
            SvcAttr::Netmask(self.netmask),
        ]);
        attrs
    }

    /// `IPVS_CMD_NEW_SERVICE`
    pub fn new_request(&self) -> IpvsMessage {
        IpvsMessage {
            cmd: IpvsCmd::NewService,
            attrs: vec![IpvsAttr::Service(self.attrs())],
        }
    }

    /// `IPVS_CMD_SET_SERVICE`: scheduler, persistence or flags changed.
    pub fn set_request(&self) -> IpvsMessage {
        IpvsMessage {
            cmd: IpvsCmd::SetService,
            attrs: vec![IpvsAttr::Service(self.attrs())],
        }
    }

    /// Parses a service from a `GET_SERVICE` reply's attributes.
    pub fn from_attrs(attrs: &[SvcAttr]) -> Result<Service, TableError> {
        let key = ServiceKey::from_attrs(attrs)?;
        let mut scheduler = None;
        let mut flags = 0;
        let mut timeout = 0;
        let mut netmask = None;
        for a in attrs {
            match a {
                SvcAttr::SchedName(s) => scheduler = Some(s.clone()),
                SvcAttr::Flags { flags: f, mask } => flags = f & mask,
                SvcAttr::Timeout(t) => timeout = *t,
                SvcAttr::Netmask(n) => netmask = Some(*n),
                _ => {}
            }
        }
        let persistent = flags & SVC_F_PERSISTENT != 0;
        Ok(Service {
            key,
            scheduler: scheduler
                .ok_or_else(|| TableError(format!("service {key} without a scheduler")))?,
            persistence: persistent.then_some(timeout),
            netmask: netmask.unwrap_or(if key.af() == AF_INET { u32::MAX } else { 128 }),
            flags: flags & !(SVC_F_PERSISTENT | SVC_F_HASHED),
        })
    }
}

impl Destination {
    fn id_attrs(&self) -> Vec<DestAttr> {
        vec![
            DestAttr::AddrFamily(af_of(self.addr)),
            DestAttr::Addr(to_inet(self.addr)),
            DestAttr::Port(self.port),
        ]
    }

    /// Every attribute: the kernel needs them all to create or edit a destination.
    pub fn attrs(&self) -> Vec<DestAttr> {
        let mut attrs = self.id_attrs();
        attrs.extend([
            DestAttr::FwdMethod(self.forwarding.into()),
            DestAttr::Weight(self.weight),
            DestAttr::UpperThreshold(self.upper_threshold),
            DestAttr::LowerThreshold(self.lower_threshold),
        ]);
        attrs
    }

    /// `IPVS_CMD_NEW_DEST` under `service`.
    pub fn new_request(&self, service: &ServiceKey) -> IpvsMessage {
        IpvsMessage {
            cmd: IpvsCmd::NewDest,
            attrs: vec![
                IpvsAttr::Service(service.attrs()),
                IpvsAttr::Dest(self.attrs()),
            ],
        }
    }

    /// `IPVS_CMD_SET_DEST`: weight, thresholds or method changed.
    pub fn set_request(&self, service: &ServiceKey) -> IpvsMessage {
        IpvsMessage {
            cmd: IpvsCmd::SetDest,
            attrs: vec![
                IpvsAttr::Service(service.attrs()),
                IpvsAttr::Dest(self.attrs()),
            ],
        }
    }

    /// `IPVS_CMD_DEL_DEST`.
    pub fn del_request(&self, service: &ServiceKey) -> IpvsMessage {
        IpvsMessage {
            cmd: IpvsCmd::DelDest,
            attrs: vec![
                IpvsAttr::Service(service.attrs()),
                IpvsAttr::Dest(self.id_attrs()),
            ],
        }
    }

    /// Parses a destination and its counters from a `GET_DEST` reply; `service_af` is used
    /// when the kernel (before 4.x) does not send the destination's own family.
    pub fn from_attrs(
        attrs: &[DestAttr],
        service_af_v6: bool,
    ) -> Result<(Destination, DestStats), TableError> {
        let mut af = if service_af_v6 { AF_INET6 } else { AF_INET };
        let mut addr = None;
        let mut port = None;
        let mut forwarding = FwdMethod::Masq;
        let mut weight = 0;
        let (mut upper, mut lower) = (0, 0);
        let mut stats = DestStats::default();
        for a in attrs {
            match a {
                DestAttr::AddrFamily(f) => af = *f,
                DestAttr::Addr(v) => addr = Some(*v),
                DestAttr::Port(p) => port = Some(*p),
                DestAttr::FwdMethod(m) => forwarding = (*m).into(),
                DestAttr::Weight(w) => weight = *w,
                DestAttr::UpperThreshold(t) => upper = *t,
                DestAttr::LowerThreshold(t) => lower = *t,
                DestAttr::ActiveConns(n) => stats.active = *n,
                DestAttr::InactConns(n) => stats.inactive = *n,
                DestAttr::PersistConns(n) => stats.persistent = *n,
                _ => {}
            }
        }
        let addr = from_inet(
            &addr.ok_or_else(|| TableError("destination without an address".into()))?,
            af,
        )?;
        let port = port.ok_or_else(|| TableError(format!("destination {addr} without a port")))?;
        Ok((
            Destination {
                addr,
                port,
                forwarding,
                weight,
                upper_threshold: upper,
                lower_threshold: lower,
            },
            stats,
        ))
    }
}

/// `IPVS_CMD_GET_SERVICE` (sent as a dump).
pub fn get_services_request() -> IpvsMessage {
    IpvsMessage {
        cmd: IpvsCmd::GetService,
        attrs: vec![],
    }
}

impl ServiceKey {
    /// Whether the service is IPv6.
    pub fn is_ipv6(&self) -> bool {
        self.af() == AF_INET6
    }
}
