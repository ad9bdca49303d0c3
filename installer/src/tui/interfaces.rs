//! The network interfaces of this box, as the network screen lists them, read over rtnetlink:
//! a dump of links (name, MAC, operational state) and of IPv4 addresses. Turning the kernel's
//! messages into [`Interface`]s is pure ([`from_messages`]); [`discover`] is the socket.

use std::io;

use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkMessage, State};
use netlink_sys::protocols::NETLINK_ROUTE;
use netlink_sys::{Socket, SocketAddr};

/// One interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Its name.
    pub name: String,
    /// Its MAC address.
    pub mac: String,
    /// Whether the link is up (operational state).
    pub up: bool,
    /// Its IPv4 addresses with prefix.
    pub addresses: Vec<String>,
}

/// Interfaces from a link dump and an address dump, loopback left out, sorted by name.
pub fn from_messages(links: &[LinkMessage], addresses: &[AddressMessage]) -> Vec<Interface> {
    let mut out: Vec<Interface> = links
        .iter()
        .filter_map(|link| {
            let mut name = None;
            let mut mac = String::new();
            let mut up = false;
            for attr in &link.attributes {
                match attr {
                    LinkAttribute::IfName(n) => name = Some(n.clone()),
                    LinkAttribute::Address(bytes) => {
                        mac = bytes
                            .iter()
                            .map(|b| format!("{b:02x}"))
                            .collect::<Vec<_>>()
                            .join(":");
                    }
                    LinkAttribute::OperState(state) => up = *state == State::Up,
                    _ => {}
                }
            }
            let name = name.filter(|n| n != "lo")?;
            let addresses = addresses
                .iter()
                .filter(|a| a.header.index == link.header.index)
                .filter_map(|a| {
                    a.attributes.iter().find_map(|attr| match attr {
                        AddressAttribute::Address(ip) if ip.is_ipv4() => {
                            Some(format!("{ip}/{}", a.header.prefix_len))
                        }
                        _ => None,
                    })
                })
                .collect();
            Some(Interface {
                name,
                mac,
                up,
                addresses,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Sends a dump request and collects the replies until the kernel says it is done.
fn dump(
    socket: &Socket,
    request: RouteNetlinkMessage,
    seq: u32,
) -> io::Result<Vec<RouteNetlinkMessage>> {
    let mut packet = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(request));
    packet.header.flags = NLM_F_DUMP | NLM_F_REQUEST;
    packet.header.sequence_number = seq;
    packet.finalize();
    let mut buf = vec![0; packet.buffer_len()];
    packet.serialize(&mut buf[..]);
    socket.send(&buf, 0)?;
    let mut replies = Vec::new();
    let mut receive = vec![0u8; 65536];
    loop {
        let size = socket.recv(&mut &mut receive[..], 0)?;
        let mut offset = 0;
        while offset < size {
            let msg: NetlinkMessage<RouteNetlinkMessage> =
                NetlinkMessage::deserialize(&receive[offset..size])
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            let len = msg.header.length as usize;
            match msg.payload {
                NetlinkPayload::Done(_) => return Ok(replies),
                NetlinkPayload::Error(e) => {
                    return Err(io::Error::other(format!("netlink error: {e:?}")));
                }
                NetlinkPayload::InnerMessage(m) => replies.push(m),
                _ => {}
            }
            if len == 0 {
                break;
            }
            offset += len;
        }
    }
}

/// The interfaces of this box, read over rtnetlink. On an error the list is empty: the network
/// screen then says none were found, and names can still be typed.
pub fn discover() -> Vec<Interface> {
    let result = (|| -> io::Result<Vec<Interface>> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        let links: Vec<LinkMessage> = dump(
            &socket,
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            1,
        )?
        .into_iter()
        .filter_map(|m| match m {
            RouteNetlinkMessage::NewLink(l) => Some(l),
            _ => None,
        })
        .collect();
        let addresses: Vec<AddressMessage> = dump(
            &socket,
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            2,
        )?
        .into_iter()
        .filter_map(|m| match m {
            RouteNetlinkMessage::NewAddress(a) => Some(a),
            _ => None,
        })
        .collect();
        Ok(from_messages(&links, &addresses))
    })();
    match result {
        Ok(list) => list,
        Err(e) => {
            log::warn!("listing network interfaces over netlink failed: {e}");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    fn link(index: u32, name: &str, mac: &[u8], state: State) -> LinkMessage {
        let mut l = LinkMessage::default();
        l.header.index = index;
        l.attributes.push(LinkAttribute::IfName(name.into()));
        l.attributes.push(LinkAttribute::Address(mac.to_vec()));
        l.attributes.push(LinkAttribute::OperState(state));
        l
    }

    fn addr(index: u32, ip: IpAddr, prefix: u8) -> AddressMessage {
        let mut a = AddressMessage::default();
        a.header.index = index;
        a.header.prefix_len = prefix;
        a.attributes.push(AddressAttribute::Address(ip));
        a
    }

    #[test]
    fn links_and_addresses_become_interfaces() {
        let links = [
            link(1, "lo", &[0; 6], State::Unknown),
            link(3, "eth1", &[0x52, 0x54, 0, 0, 0, 2], State::Down),
            link(2, "eth0", &[0x52, 0x54, 0, 0xab, 0xcd, 0xef], State::Up),
        ];
        let addrs = [
            addr(1, IpAddr::V4(Ipv4Addr::LOCALHOST), 8),
            addr(2, IpAddr::V4(Ipv4Addr::new(203, 0, 113, 11)), 24),
            addr(2, IpAddr::V6(Ipv6Addr::LOCALHOST), 128),
        ];
        assert_eq!(
            from_messages(&links, &addrs),
            [
                Interface {
                    name: "eth0".into(),
                    mac: "52:54:00:ab:cd:ef".into(),
                    up: true,
                    addresses: vec!["203.0.113.11/24".into()],
                },
                Interface {
                    name: "eth1".into(),
                    mac: "52:54:00:00:00:02".into(),
                    up: false,
                    addresses: vec![],
                },
            ]
        );
    }

    #[test]
    fn this_machine_is_listed_over_a_real_socket() {
        // Every machine this runs on has a network interface besides loopback.
        let list = discover();
        assert!(!list.is_empty(), "no interface found over netlink");
        assert!(list.iter().all(|i| i.name != "lo"), "{list:?}");
    }
}
