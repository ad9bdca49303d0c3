//! The IO shell: a generic netlink socket that resolves the "IPVS" family, dumps the kernel's
//! table and sends requests. Requests are pipelined — many per `send`, their acks matched by
//! sequence number — so programming a large table costs a few round trips, not one per entry
//! as `ipvsadm -R` does.

use std::collections::BTreeMap;
use std::io;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkDeserializable, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_generic::GenlMessage;
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_GENERIC};

use super::sync::{SyncDaemon, get_daemons_request};
use super::table::{DestStats, Destination, Service, ServiceKey, TableError, get_services_request};
use super::{FAMILY_NAME, IpvsCmd, IpvsMessage};

/// Requests put in one `send` before their acks are read (each is well under 200 bytes, so a
/// batch stays far below the socket buffers).
const BATCH: usize = 256;

/// What can go wrong talking to the kernel.
#[derive(Debug, thiserror::Error)]
pub enum IpvsError {
    /// The family is not registered: the kernel has no IPVS or the module is not loaded.
    #[error(
        "the kernel has no IPVS (generic netlink family \"IPVS\" not found): load it with `modprobe ip_vs`"
    )]
    NoIpvs,
    /// A socket error.
    #[error("netlink socket: {0}")]
    Io(#[from] io::Error),
    /// The kernel refused a request.
    #[error("{what}: {reason} (errno {errno})")]
    Kernel {
        /// The request, e.g. `add destination 10.42.0.11:25 to TCP 203.0.113.240:25`.
        what: String,
        /// ipvsadm's wording for the errno.
        reason: String,
        /// The positive errno.
        errno: i32,
    },
    /// A reply that does not parse.
    #[error("unreadable netlink reply: {0}")]
    Decode(String),
    /// A reply that parses but does not describe a service or destination.
    #[error(transparent)]
    Table(#[from] TableError),
}

/// The kernel's whole IPVS table: each service with its destinations and their counters.
pub type KernelTable = BTreeMap<ServiceKey, (Service, Vec<(Destination, DestStats)>)>;

/// An open IPVS generic netlink socket.
pub struct IpvsSocket {
    socket: Socket,
    family: u16,
    seq: u32,
    buf: Vec<u8>,
}

/// Describes a request for error messages.
pub fn describe(m: &IpvsMessage) -> String {
    let service = m
        .service()
        .and_then(|s| ServiceKey::from_attrs(s).ok())
        .map(|k| k.to_string())
        .unwrap_or_else(|| "?".into());
    let dest = m.dest().and_then(|d| {
        Destination::from_attrs(d, false)
            .ok()
            .map(|(d, _)| std::net::SocketAddr::new(d.addr, d.port).to_string())
    });
    let dest = dest.unwrap_or_else(|| "?".into());
    match m.cmd {
        IpvsCmd::NewService => format!("add service {service}"),
        IpvsCmd::SetService => format!("edit service {service}"),
        IpvsCmd::DelService => format!("delete service {service}"),
        IpvsCmd::NewDest => format!("add destination {dest} to {service}"),
        IpvsCmd::SetDest => format!("edit destination {dest} of {service}"),
        IpvsCmd::DelDest => format!("delete destination {dest} of {service}"),
        IpvsCmd::GetService => "list services".into(),
        IpvsCmd::GetDest => format!("list destinations of {service}"),
        IpvsCmd::NewDaemon => match m.daemon().map(SyncDaemon::from_attrs) {
            Some(Ok(d)) => format!("start the {d}"),
            _ => "start a sync daemon".into(),
        },
        IpvsCmd::DelDaemon => match m.daemon() {
            Some([super::DaemonAttr::State(1)]) => "stop the master sync daemon".into(),
            Some([super::DaemonAttr::State(2)]) => "stop the backup sync daemon".into(),
            _ => "stop a sync daemon".into(),
        },
        IpvsCmd::GetDaemon => "list sync daemons".into(),
        c => format!("IPVS command {}", u8::from(c)),
    }
}

/// ipvsadm's wording (libipvs `ipvs_strerror`) for an errno of a command.
pub fn reason(cmd: IpvsCmd, errno: i32) -> String {
    const EPERM: i32 = 1;
    const ENOENT: i32 = 2;
    const ESRCH: i32 = 3;
    const EEXIST: i32 = 17;
    const ENODEV: i32 = 19;
    const EINVAL: i32 = 22;
    let s = match (cmd, errno) {
        (_, EPERM) => "permission denied (the balancer must run as root)",
        (IpvsCmd::NewService | IpvsCmd::SetService, ENOENT) => {
            "scheduler or persistence engine not found"
        }
        (IpvsCmd::NewService, EEXIST) => "service already exists",
        (IpvsCmd::SetService | IpvsCmd::DelService, ESRCH) => "no such service",
        (IpvsCmd::NewDest | IpvsCmd::SetDest | IpvsCmd::DelDest, ESRCH) => "service not defined",
        (IpvsCmd::NewDest, EEXIST) => "destination already exists",
        (IpvsCmd::SetDest | IpvsCmd::DelDest, ENOENT) => "no such destination",
        (IpvsCmd::NewDaemon, EEXIST) => "a sync daemon of this state is already running",
        (IpvsCmd::NewDaemon, ENODEV) => {
            "no such interface (check ipvs.interface; the sync daemon sends and listens there)"
        }
        (IpvsCmd::DelDaemon, ESRCH) => "no sync daemon of this state is running",
        (IpvsCmd::NewDaemon, EINVAL) => {
            "invalid sync daemon settings (the kernel refuses them while a service mixes address families)"
        }
        (_, EINVAL) => {
            "invalid operation (for a destination: is its address routable from the balancer?)"
        }
        _ => return io::Error::from_raw_os_error(errno).to_string(),
    };
    s.to_string()
}

impl IpvsSocket {
    /// Opens a socket and resolves the family id.
    pub fn open() -> Result<IpvsSocket, IpvsError> {
        let mut socket = Socket::new(NETLINK_GENERIC)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        // Acks of a whole batch arrive before we read them; give them room.
        let _ = socket.set_rx_buf_sz(4 << 20);
        let mut s = IpvsSocket {
            socket,
            family: 0,
            seq: 1,
            buf: vec![0; 1 << 16],
        };
        s.family = s.resolve_family()?;
        Ok(s)
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1).max(1);
        self.seq
    }

    fn resolve_family(&mut self) -> Result<u16, IpvsError> {
        let mut genl = GenlMessage::from_payload(GenlCtrl {
            cmd: GenlCtrlCmd::GetFamily,
            nlas: vec![GenlCtrlAttrs::FamilyName(FAMILY_NAME.into())],
        });
        genl.finalize();
        let seq = self.next_seq();
        let mut msg = NetlinkMessage::new(
            header(NLM_F_REQUEST | NLM_F_ACK, seq),
            NetlinkPayload::from(genl),
        );
        msg.finalize();
        let mut out = vec![0; msg.buffer_len()];
        msg.serialize(&mut out);
        self.socket.send(&out, 0)?;
        let mut family = None;
        let mut refused = false;
        self.receive::<GenlMessage<GenlCtrl>>(|reply| {
            Ok(match reply.payload {
                NetlinkPayload::InnerMessage(m) => {
                    for nla in &m.payload.nlas {
                        if let GenlCtrlAttrs::FamilyId(id) = nla {
                            family = Some(*id);
                        }
                    }
                    false
                }
                NetlinkPayload::Error(e) => {
                    refused = e.code.is_some();
                    true
                }
                _ => false,
            })
        })?;
        match family {
            Some(id) if !refused => Ok(id),
            _ => Err(IpvsError::NoIpvs),
        }
    }

    /// Receives replies, each decoded as `M`, and hands them to `handle` until it returns true.
    fn receive<M: NetlinkDeserializable>(
        &mut self,
        mut handle: impl FnMut(NetlinkMessage<M>) -> Result<bool, IpvsError>,
    ) -> Result<(), IpvsError> {
        loop {
            let n = self.socket.recv(&mut &mut self.buf[..], 0)?;
            let mut offset = 0;
            while offset < n {
                let reply = NetlinkMessage::<M>::deserialize(&self.buf[offset..n])
                    .map_err(|e| IpvsError::Decode(e.to_string()))?;
                let len = reply.header.length as usize;
                if len == 0 {
                    return Err(IpvsError::Decode("zero-length netlink message".into()));
                }
                offset += len;
                if handle(reply)? {
                    return Ok(());
                }
            }
        }
    }

    fn encode(&self, request: &IpvsMessage, flags: u16, seq: u32, out: &mut Vec<u8>) {
        let mut genl = GenlMessage::from_payload(request.clone());
        genl.set_resolved_family_id(self.family);
        genl.finalize();
        let mut msg = NetlinkMessage::new(header(flags, seq), NetlinkPayload::from(genl));
        msg.finalize();
        let start = out.len();
        out.resize(start + msg.buffer_len(), 0);
        msg.serialize(&mut out[start..]);
    }

    /// Sends `requests` in order, pipelined, and returns each one's outcome. A refused request
    /// does not stop the others: the caller reports it and the rest of the table converges.
    pub fn execute(
        &mut self,
        requests: &[IpvsMessage],
    ) -> Result<Vec<Result<(), IpvsError>>, IpvsError> {
        let mut outcomes = Vec::with_capacity(requests.len());
        for batch in requests.chunks(BATCH) {
            let mut out = Vec::with_capacity(batch.len() * 128);
            let mut seqs = Vec::with_capacity(batch.len());
            for r in batch {
                let seq = self.next_seq();
                seqs.push(seq);
                self.encode(r, NLM_F_REQUEST | NLM_F_ACK, seq, &mut out);
            }
            self.socket.send(&out, 0)?;
            let mut results: Vec<Option<Result<(), IpvsError>>> =
                (0..batch.len()).map(|_| None).collect();
            let mut pending = batch.len();
            self.receive::<GenlMessage<IpvsMessage>>(|reply| {
                let NetlinkPayload::Error(e) = reply.payload else {
                    return Ok(false);
                };
                let Some(i) = seqs.iter().position(|&s| s == reply.header.sequence_number) else {
                    return Ok(false);
                };
                if results[i].is_none() {
                    pending -= 1;
                }
                results[i] = Some(match e.code {
                    None => Ok(()),
                    Some(code) => {
                        let errno = -code.get();
                        Err(IpvsError::Kernel {
                            what: describe(&batch[i]),
                            reason: reason(batch[i].cmd, errno),
                            errno,
                        })
                    }
                });
                Ok(pending == 0)
            })?;
            outcomes.extend(results.into_iter().map(|r| r.expect("every ack counted")));
        }
        Ok(outcomes)
    }

    /// Sends one dump request and collects the replies.
    fn dump(&mut self, request: &IpvsMessage) -> Result<Vec<IpvsMessage>, IpvsError> {
        let seq = self.next_seq();
        let mut out = Vec::new();
        self.encode(request, NLM_F_REQUEST | NLM_F_DUMP, seq, &mut out);
        self.socket.send(&out, 0)?;
        let mut replies = Vec::new();
        self.receive::<GenlMessage<IpvsMessage>>(|reply| {
            if reply.header.sequence_number != seq {
                return Ok(false);
            }
            match reply.payload {
                NetlinkPayload::InnerMessage(m) => {
                    replies.push(m.payload);
                    Ok(false)
                }
                NetlinkPayload::Done(_) => Ok(true),
                NetlinkPayload::Error(e) => match e.code {
                    None => Ok(true),
                    Some(code) => Err(IpvsError::Kernel {
                        what: describe(request),
                        reason: reason(request.cmd, -code.get()),
                        errno: -code.get(),
                    }),
                },
                _ => Ok(false),
            }
        })?;
        Ok(replies)
    }

    /// Every service in the kernel.
    pub fn services(&mut self) -> Result<Vec<Service>, IpvsError> {
        self.dump(&get_services_request())?
            .iter()
            .filter_map(|m| m.service())
            .map(|s| Service::from_attrs(s).map_err(IpvsError::from))
            .collect()
    }

    /// The destinations of one service, with their counters.
    pub fn destinations(
        &mut self,
        key: &ServiceKey,
    ) -> Result<Vec<(Destination, DestStats)>, IpvsError> {
        self.dump(&key.get_dests_request())?
            .iter()
            .filter_map(|m| m.dest())
            .map(|d| Destination::from_attrs(d, key.is_ipv6()).map_err(IpvsError::from))
            .collect()
    }

    /// The running connection synchronisation daemons (none, master, backup or both).
    pub fn daemons(&mut self) -> Result<Vec<SyncDaemon>, IpvsError> {
        self.dump(&get_daemons_request())?
            .iter()
            .filter_map(|m| m.daemon())
            .map(|d| SyncDaemon::from_attrs(d).map_err(IpvsError::from))
            .collect()
    }

    /// The whole table.
    pub fn table(&mut self) -> Result<KernelTable, IpvsError> {
        let mut table = KernelTable::new();
        for s in self.services()? {
            let dests = self.destinations(&s.key)?;
            table.insert(s.key, (s, dests));
        }
        Ok(table)
    }

    /// Raw reply bytes of a dump, for capturing kernel messages into tests.
    pub fn dump_raw(&mut self, request: &IpvsMessage) -> Result<Vec<Vec<u8>>, IpvsError> {
        let seq = self.next_seq();
        let mut out = Vec::new();
        self.encode(request, NLM_F_REQUEST | NLM_F_DUMP, seq, &mut out);
        self.socket.send(&out, 0)?;
        let mut raw = Vec::new();
        loop {
            let n = self.socket.recv(&mut &mut self.buf[..], 0)?;
            let mut offset = 0;
            while offset + 16 <= n {
                let len =
                    u32::from_ne_bytes(self.buf[offset..offset + 4].try_into().expect("4 bytes"))
                        as usize;
                let kind = u16::from_ne_bytes(
                    self.buf[offset + 4..offset + 6]
                        .try_into()
                        .expect("2 bytes"),
                );
                if len < 16 || offset + len > n {
                    return Err(IpvsError::Decode(format!("bad netlink length {len}")));
                }
                if kind == netlink_packet_core::NLMSG_DONE
                    || kind == netlink_packet_core::NLMSG_ERROR
                {
                    return Ok(raw);
                }
                raw.push(self.buf[offset..offset + len].to_vec());
                offset += (len + 3) & !3;
            }
        }
    }
}

fn header(flags: u16, seq: u32) -> NetlinkHeader {
    let mut h = NetlinkHeader::default();
    h.flags = flags;
    h.sequence_number = seq;
    h
}
