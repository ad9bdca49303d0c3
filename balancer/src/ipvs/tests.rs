//! Captured kernel bytes (Debian's 6.12 kernel, replies to `GET_SERVICE` and `GET_DEST` dumps
//! after `ipvsadm -A -t 203.0.113.240:25 -s wlc; ipvsadm -a … -r 10.42.0.11:25 -m -w 100`,
//! printed by `examples/ipvs-capture.rs` in the VM), one attribute per line, then parse-equals
//! and emit-equals; property tests that emit∘parse is the identity; and arbitrary bytes never
//! panic the parser.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use netlink_packet_core::{DefaultNla, Emitable, NLM_F_MULTIPART, NetlinkMessage, NetlinkPayload};
use netlink_packet_generic::GenlMessage;
use proptest::prelude::*;

use super::sync::{SyncDaemon, SyncState, del_daemon_request};
use super::table::{DestStats, Destination, FwdMethod, Protocol, Service, ServiceKey};
use super::{DaemonAttr, DestAttr, IpvsAttr, IpvsCmd, IpvsMessage, SvcAttr};

/// Hex with whitespace and `#` comments allowed.
fn bytes(annotated: &str) -> Vec<u8> {
    let hex: String = annotated
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
        .collect();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

/// `IPVS_STATS_ATTR_*` 1..=10 as the kernel sends them for a fresh entry: u32 counters except
/// INBYTES/OUTBYTES (4, 5), which are u64.
const STATS: &str = "
    5c00 0a00                  # IPVS_*_ATTR_STATS (10), 92 bytes, nested (no NLA_F_NESTED)
      0800 0100 00000000       #   CONNS = 0
      0800 0200 00000000       #   INPKTS = 0
      0800 0300 00000000       #   OUTPKTS = 0
      0c00 0400 0000000000000000 # INBYTES = 0 (u64)
      0c00 0500 0000000000000000 # OUTBYTES = 0 (u64)
      0800 0600 00000000       #   CPS = 0
      0800 0700 00000000       #   INPPS = 0
      0800 0800 00000000       #   OUTPPS = 0
      0800 0900 00000000       #   INBPS = 0
      0800 0a00 00000000       #   OUTBPS = 0
    7c00 0c00                  # IPVS_*_ATTR_STATS64 (12), 124 bytes: the same ten, all u64
      0c00 0100 0000000000000000
      0c00 0200 0000000000000000
      0c00 0300 0000000000000000
      0c00 0400 0000000000000000
      0c00 0500 0000000000000000
      0c00 0600 0000000000000000
      0c00 0700 0000000000000000
      0c00 0800 0000000000000000
      0c00 0900 0000000000000000
      0c00 0a00 0000000000000000
";

fn service_reply() -> Vec<u8> {
    bytes(&format!(
        "
    40010000                   # nlmsg_len = 320
    2300                       # nlmsg_type = 35: the IPVS family id on this boot
    0200                       # nlmsg_flags = NLM_F_MULTI (part of a dump)
    03000000                   # nlmsg_seq = 3
    a0000000                   # nlmsg_pid = 160
    01                         # genl cmd = IPVS_CMD_NEW_SERVICE (dump replies reuse it)
    01                         # genl version = IPVS_GENL_VERSION
    0000                       # reserved
    2c01 0100                  # IPVS_CMD_ATTR_SERVICE (1), 300 bytes, nested
      0600 0100 0200 0000      #   AF = 2 (AF_INET), u16 + 2 padding
      0600 0200 0600 0000      #   PROTOCOL = 6 (TCP)
      1400 0300                #   ADDR, 16 bytes (union nf_inet_addr)
        cb0071f0               #     203.0.113.240
        000000000000000000000000 #   rest of the union
      0600 0400 0019 0000      #   PORT = 25, network byte order
      0800 0600 776c6300       #   SCHED_NAME = \"wlc\\0\"
      0c00 0700                #   FLAGS: struct ip_vs_flags
        02000000               #     flags = IP_VS_SVC_F_HASHED
        ffffffff               #     mask
      0800 0800 00000000       #   TIMEOUT = 0 s (not persistent)
      0800 0900 ffffffff       #   NETMASK = 255.255.255.255
    {STATS}"
    ))
}

fn dest_reply() -> Vec<u8> {
    bytes(&format!(
        "
    64010000                   # nlmsg_len = 356
    2300 0200                  # type 35 (IPVS), NLM_F_MULTI
    05000000 a0000000          # seq 5, pid 160
    05 01 0000                 # genl cmd = IPVS_CMD_NEW_DEST, version 1
    5001 0200                  # IPVS_CMD_ATTR_DEST (2), 336 bytes, nested
      1400 0100                #   ADDR
        0a2a000b               #     10.42.0.11
        000000000000000000000000
      0600 0200 0019 0000      #   PORT = 25, network byte order
      0800 0300 00000000       #   FWD_METHOD = 0 (IP_VS_CONN_F_MASQ: NAT)
      0800 0400 64000000       #   WEIGHT = 100
      0500 0d00 00 000000      #   TUN_TYPE = 0 (u8 + 3 padding)
      0600 0e00 0000 0000      #   TUN_PORT = 0
      0600 0f00 0000 0000      #   TUN_FLAGS = 0
      0800 0500 00000000       #   U_THRESH = 0
      0800 0600 00000000       #   L_THRESH = 0
      0800 0700 00000000       #   ACTIVE_CONNS = 0
      0800 0800 00000000       #   INACT_CONNS = 0
      0800 0900 00000000       #   PERSIST_CONNS = 0
      0600 0b00 0200 0000      #   ADDR_FAMILY = 2 (AF_INET)
    {STATS}"
    ))
}

fn parse(raw: &[u8]) -> NetlinkMessage<GenlMessage<IpvsMessage>> {
    NetlinkMessage::<GenlMessage<IpvsMessage>>::deserialize(raw).expect("parses")
}

fn inner(m: &NetlinkMessage<GenlMessage<IpvsMessage>>) -> &IpvsMessage {
    match &m.payload {
        NetlinkPayload::InnerMessage(g) => &g.payload,
        other => panic!("not an IPVS message: {other:?}"),
    }
}

fn emit(m: &NetlinkMessage<GenlMessage<IpvsMessage>>) -> Vec<u8> {
    let mut out = vec![0; m.buffer_len()];
    m.serialize(&mut out);
    out
}

#[test]
fn kernel_service_reply_parses_and_emits_the_same_bytes() {
    let raw = service_reply();
    assert_eq!(raw.len(), 320);
    let m = parse(&raw);
    assert_eq!(m.header.flags, NLM_F_MULTIPART);
    let ipvs = inner(&m);
    assert_eq!(ipvs.cmd, IpvsCmd::NewService);
    let attrs = ipvs.service().expect("service attribute");
    assert_eq!(attrs[0], SvcAttr::Af(2));
    assert_eq!(attrs[3], SvcAttr::Port(25));
    assert_eq!(attrs[4], SvcAttr::SchedName("wlc".into()));
    assert!(
        matches!(attrs[8], SvcAttr::Other(_)),
        "statistics are kept as they came"
    );
    let service = Service::from_attrs(attrs).unwrap();
    assert_eq!(
        service,
        Service::new(
            ServiceKey::tcp("203.0.113.240:25".parse().unwrap()),
            "wlc",
            None
        ),
        "HASHED is kernel bookkeeping, not part of the service"
    );
    assert_eq!(emit(&m), raw);
}

#[test]
fn kernel_dest_reply_parses_and_emits_the_same_bytes() {
    let raw = dest_reply();
    assert_eq!(raw.len(), 356);
    let m = parse(&raw);
    let ipvs = inner(&m);
    assert_eq!(ipvs.cmd, IpvsCmd::NewDest);
    let (dest, stats) = Destination::from_attrs(ipvs.dest().unwrap(), false).unwrap();
    assert_eq!(
        dest,
        Destination {
            addr: "10.42.0.11".parse().unwrap(),
            port: 25,
            forwarding: FwdMethod::Masq,
            weight: 100,
            upper_threshold: 0,
            lower_threshold: 0,
        }
    );
    assert_eq!(stats, DestStats::default());
    assert_eq!(emit(&m), raw);
}

#[test]
fn kernel_ipv6_persistent_service_reply() {
    // `ipvsadm -A -t [2001:db8::240]:993 -s rr -p 300`, captured as above.
    let raw = bytes(&format!(
        "
    40010000 2300 0200 04000000 a0000000 # 320 bytes, IPVS, NLM_F_MULTI, seq 4, pid 160
    01 01 0000                 # IPVS_CMD_NEW_SERVICE, version 1
    2c01 0100                  # IPVS_CMD_ATTR_SERVICE, 300 bytes
      0600 0100 0a00 0000      #   AF = 10 (AF_INET6)
      0600 0200 0600 0000      #   PROTOCOL = TCP
      1400 0300                #   ADDR: the whole union
        20010db8000000000000000000000240 # 2001:db8::240
      0600 0400 03e1 0000      #   PORT = 993, network byte order
      0700 0600 727200 00      #   SCHED_NAME = \"rr\\0\" (7 bytes + 1 padding)
      0c00 0700 03000000 ffffffff # FLAGS: PERSISTENT | HASHED, mask
      0800 0800 2c010000       #   TIMEOUT = 300 s
      0800 0900 80000000       #   NETMASK = 128 (a prefix length for IPv6)
    {STATS}"
    ));
    let m = parse(&raw);
    let service = Service::from_attrs(inner(&m).service().unwrap()).unwrap();
    assert_eq!(
        service,
        Service::new(
            ServiceKey::tcp("[2001:db8::240]:993".parse().unwrap()),
            "rr",
            Some(300)
        )
    );
    assert_eq!(emit(&m), raw);
}

#[test]
fn new_service_request_bytes() {
    // What we send for `ipvsadm -A -t 203.0.113.240:25 -s wlc`: every attribute the kernel
    // needs for a full entry, with the flags mask set so the kernel takes our flags as given.
    let key = ServiceKey::tcp("203.0.113.240:25".parse().unwrap());
    let req = Service::new(key, "wlc", None).new_request();
    let mut out = vec![0; req.buffer_len()];
    req.emit(&mut out);
    assert_eq!(
        out,
        bytes(
            "
        5400 0100                  # IPVS_CMD_ATTR_SERVICE, 84 bytes
          0600 0100 0200 0000      #   AF_INET
          0600 0200 0600 0000      #   TCP
          1400 0300 cb0071f0 000000000000000000000000 # 203.0.113.240
          0600 0400 0019 0000      #   port 25
          0800 0600 776c6300       #   \"wlc\\0\"
          0c00 0700 00000000 ffffffff # flags 0, mask all
          0800 0800 00000000       #   timeout 0
          0800 0900 ffffffff       #   netmask /32
        "
        )
    );
}

#[test]
fn new_daemon_request_bytes() {
    // What we send for `ipvsadm --start-daemon master --mcast-interface eth0 --syncid 51`,
    // with the group, port and TTL given so a dump can be compared with what we asked for.
    let [master, _] = SyncDaemon::pair("eth0", 51);
    let req = master.new_request();
    assert_eq!(req.cmd, IpvsCmd::NewDaemon);
    let mut out = vec![0; req.buffer_len()];
    req.emit(&mut out);
    assert_eq!(
        out,
        bytes(
            "
        3800 0300                  # IPVS_CMD_ATTR_DAEMON (3), 56 bytes, nested
          0800 0100 01000000       #   STATE = 1 (IP_VS_STATE_MASTER)
          0900 0200 65746830 00 000000 # MCAST_IFN = \"eth0\\0\" + 3 padding
          0800 0300 33000000       #   SYNC_ID = 51
          0800 0500 e0000051       #   MCAST_GROUP = 224.0.0.81, network byte order
          0600 0700 9022 0000      #   MCAST_PORT = 8848, host byte order (nla_get_u16)
          0500 0800 01 000000      #   MCAST_TTL = 1 (u8 + 3 padding)
        "
        )
    );
    let mut out = vec![0; del_daemon_request(SyncState::Backup).buffer_len()];
    del_daemon_request(SyncState::Backup).emit(&mut out);
    assert_eq!(
        out,
        bytes(
            "
        0c00 0300                  # IPVS_CMD_ATTR_DAEMON, 12 bytes
          0800 0100 02000000       #   STATE = 2 (IP_VS_STATE_BACKUP): all DEL_DAEMON reads
        "
        )
    );
}

/// The kernel's reply to the `GET_DAEMON` dump after `ipvsadm --start-daemon master
/// --mcast-interface eth0 --syncid 51` (eth0 a dummy link, MTU 1500), captured in the VM with
/// `examples/ipvs-capture.rs`.
fn daemon_reply() -> Vec<u8> {
    bytes(
        "
    54000000                   # nlmsg_len = 84
    2300 0200                  # type 35 (IPVS), NLM_F_MULTI
    05000000 9d000000          # seq 5, pid 157
    09 01 0000                 # genl cmd = IPVS_CMD_NEW_DAEMON (dump replies reuse it), v1
    4000 0300                  # IPVS_CMD_ATTR_DAEMON (3), 64 bytes, nested (no NLA_F_NESTED)
      0800 0100 01000000       #   STATE = 1 (master)
      0900 0200 65746830 00 000000 # MCAST_IFN = \"eth0\\0\"
      0800 0300 33000000       #   SYNC_ID = 51
      0600 0400 c005 0000      #   SYNC_MAXLEN = 1472: the MTU less IP and UDP headers
      0600 0700 9022 0000      #   MCAST_PORT = 8848
      0500 0800 01 000000      #   MCAST_TTL = 1
      0800 0500 e0000051       #   MCAST_GROUP = 224.0.0.81
    ",
    )
}

#[test]
fn kernel_daemon_reply_parses_and_emits_the_same_bytes() {
    let raw = daemon_reply();
    assert_eq!(raw.len(), 84);
    let m = parse(&raw);
    let ipvs = inner(&m);
    assert_eq!(ipvs.cmd, IpvsCmd::NewDaemon);
    let attrs = ipvs.daemon().expect("daemon attribute");
    assert_eq!(attrs[3], DaemonAttr::SyncMaxlen(1472));
    let d = SyncDaemon::from_attrs(attrs).unwrap();
    assert_eq!(d, SyncDaemon::pair("eth0", 51)[0]);
    assert_eq!(emit(&m), raw);
}

#[test]
fn unknown_attributes_and_commands_are_kept_not_fatal() {
    // A newer kernel: an unknown top-level attribute (99), an unknown service attribute (42),
    // and an unknown command (200).
    let raw = bytes(
        "
        30000000 2300 0000 01000000 00000000
        c8 01 0000                 # cmd 200
        0800 6300 01020304         # attribute 99
        1400 0100                  # SERVICE
          0600 0100 0200 0000      #   AF_INET
          0800 2a00 05060708       #   attribute 42
        ",
    );
    let m = parse(&raw);
    let ipvs = inner(&m);
    assert_eq!(ipvs.cmd, IpvsCmd::Other(200));
    assert_eq!(
        ipvs.attrs[0],
        IpvsAttr::Other(DefaultNla::new(99, vec![1, 2, 3, 4]))
    );
    assert_eq!(
        ipvs.service().unwrap()[1],
        SvcAttr::Other(DefaultNla::new(42, vec![5, 6, 7, 8]))
    );
    assert_eq!(emit(&m), raw);
    // A service with no protocol, address or port is an error, not a panic.
    assert!(Service::from_attrs(ipvs.service().unwrap()).is_err());
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|v| IpAddr::V4(Ipv4Addr::from(v))),
        any::<u128>().prop_map(|v| IpAddr::V6(Ipv6Addr::from(v))),
    ]
}

fn other() -> impl Strategy<Value = DefaultNla> {
    (100u16..1000, proptest::collection::vec(any::<u8>(), 0..24))
        .prop_map(|(k, v)| DefaultNla::new(k, v))
}

fn svc_attr() -> impl Strategy<Value = SvcAttr> {
    prop_oneof![
        any::<u16>().prop_map(SvcAttr::Af),
        any::<u16>().prop_map(SvcAttr::Protocol),
        any::<[u8; 16]>().prop_map(SvcAttr::Addr),
        any::<u16>().prop_map(SvcAttr::Port),
        any::<u32>().prop_map(SvcAttr::Fwmark),
        "[a-z]{1,15}".prop_map(SvcAttr::SchedName),
        (any::<u32>(), any::<u32>()).prop_map(|(flags, mask)| SvcAttr::Flags { flags, mask }),
        any::<u32>().prop_map(SvcAttr::Timeout),
        any::<u32>().prop_map(SvcAttr::Netmask),
        "[a-z]{1,15}".prop_map(SvcAttr::PeName),
        other().prop_map(SvcAttr::Other),
    ]
}

fn dest_attr() -> impl Strategy<Value = DestAttr> {
    prop_oneof![
        any::<[u8; 16]>().prop_map(DestAttr::Addr),
        any::<u16>().prop_map(DestAttr::Port),
        any::<u32>().prop_map(DestAttr::FwdMethod),
        any::<u32>().prop_map(DestAttr::Weight),
        any::<u32>().prop_map(DestAttr::UpperThreshold),
        any::<u32>().prop_map(DestAttr::LowerThreshold),
        any::<u32>().prop_map(DestAttr::ActiveConns),
        any::<u32>().prop_map(DestAttr::InactConns),
        any::<u32>().prop_map(DestAttr::PersistConns),
        any::<u16>().prop_map(DestAttr::AddrFamily),
        any::<u8>().prop_map(DestAttr::TunType),
        any::<u16>().prop_map(DestAttr::TunPort),
        any::<u16>().prop_map(DestAttr::TunFlags),
        other().prop_map(DestAttr::Other),
    ]
}

fn daemon_attr() -> impl Strategy<Value = DaemonAttr> {
    prop_oneof![
        any::<u32>().prop_map(DaemonAttr::State),
        "[a-z0-9]{1,15}".prop_map(DaemonAttr::McastIfn),
        any::<u32>().prop_map(DaemonAttr::SyncId),
        any::<u16>().prop_map(DaemonAttr::SyncMaxlen),
        any::<u32>().prop_map(|v| DaemonAttr::McastGroup(Ipv4Addr::from(v))),
        any::<[u8; 16]>().prop_map(DaemonAttr::McastGroup6),
        any::<u16>().prop_map(DaemonAttr::McastPort),
        any::<u8>().prop_map(DaemonAttr::McastTtl),
        other().prop_map(DaemonAttr::Other),
    ]
}

fn message() -> impl Strategy<Value = IpvsMessage> {
    (
        1u8..=17,
        proptest::collection::vec(
            prop_oneof![
                proptest::collection::vec(svc_attr(), 0..8).prop_map(IpvsAttr::Service),
                proptest::collection::vec(dest_attr(), 0..8).prop_map(IpvsAttr::Dest),
                proptest::collection::vec(daemon_attr(), 0..8).prop_map(IpvsAttr::Daemon),
                other().prop_map(IpvsAttr::Other),
            ],
            0..4,
        ),
    )
        .prop_map(|(cmd, attrs)| IpvsMessage {
            cmd: cmd.into(),
            attrs,
        })
}

fn service() -> impl Strategy<Value = Service> {
    let key = prop_oneof![
        (ip(), 1u16.., any::<bool>()).prop_map(|(ip, port, tcp)| ServiceKey::Addr {
            protocol: if tcp { Protocol::Tcp } else { Protocol::Udp },
            addr: SocketAddr::new(ip, port),
        }),
        (any::<bool>(), 1u32..).prop_map(|(ipv6, mark)| ServiceKey::Fwmark { ipv6, mark }),
    ];
    (
        key,
        "[a-z]{1,15}",
        proptest::option::of(any::<u32>()),
        any::<u32>(),
        0u32..0x40,
    )
        .prop_map(|(key, sched, persistence, netmask, flags)| Service {
            key,
            scheduler: sched,
            persistence,
            netmask,
            // PERSISTENT comes from `persistence`; HASHED is never requested.
            flags: flags & !0x3,
        })
}

proptest! {
    #[test]
    fn emit_then_parse_is_identity(msg in message(), seq in any::<u32>()) {
        let mut genl = GenlMessage::from_payload(msg.clone());
        genl.set_resolved_family_id(35);
        genl.finalize();
        let mut nl = NetlinkMessage::new(Default::default(), NetlinkPayload::from(genl));
        nl.header.sequence_number = seq;
        nl.finalize();
        let raw = emit(&nl);
        let back = parse(&raw);
        prop_assert_eq!(inner(&back), &msg);
        prop_assert_eq!(emit(&back), raw);
    }

    #[test]
    fn typed_service_round_trips(s in service()) {
        let IpvsAttr::Service(attrs) = &s.new_request().attrs[0] else { unreachable!() };
        prop_assert_eq!(Service::from_attrs(attrs).unwrap(), s);
    }

    #[test]
    fn typed_destination_round_trips(addr in ip(), port in any::<u16>(), m in 0u32..5, weight in any::<u32>(), u in any::<u32>(), l in any::<u32>()) {
        let d = Destination { addr, port, forwarding: m.into(), weight, upper_threshold: u, lower_threshold: l };
        let key = ServiceKey::tcp("203.0.113.240:25".parse().unwrap());
        let IpvsAttr::Dest(attrs) = &d.new_request(&key).attrs[1] else { unreachable!() };
        prop_assert_eq!(Destination::from_attrs(attrs, false).unwrap().0, d);
    }

    #[test]
    fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = NetlinkMessage::<GenlMessage<IpvsMessage>>::deserialize(&raw);
    }

    #[test]
    fn mutated_kernel_replies_never_panic(i in 0usize..356, b in any::<u8>(), cut in 0usize..357) {
        for mut raw in [service_reply(), dest_reply()] {
            let i = i % raw.len();
            raw[i] = b;
            raw.truncate(cut.max(1));
            if let Ok(m) = NetlinkMessage::<GenlMessage<IpvsMessage>>::deserialize(&raw) {
                if let NetlinkPayload::InnerMessage(g) = &m.payload {
                    if let Some(s) = g.payload.service() { let _ = Service::from_attrs(s); }
                    if let Some(d) = g.payload.dest() { let _ = Destination::from_attrs(d, false); }
                }
            }
        }
    }
}
