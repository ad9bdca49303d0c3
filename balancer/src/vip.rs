//! The VIP on the balancer's interface, over rtnetlink (netlink-packet-route): the message
//! builders are pure, [`ensure_vip`] and [`has_address`] are the IO. Adding an address that is
//! already there is success, so the daemon can call it on every reconcile pass and repair a
//! hand deletion. A balancer pair's VIP is keepalived's; [`has_address`] tells whether this
//! box holds it now.

use std::io;
use std::net::IpAddr;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

/// `RTM_GETLINK` for one interface by name.
pub fn get_link_request(interface: &str) -> RouteNetlinkMessage {
    let mut link = LinkMessage::default();
    link.attributes
        .push(LinkAttribute::IfName(interface.to_string()));
    RouteNetlinkMessage::GetLink(link)
}

/// `RTM_NEWADDR`: the VIP as a host address (/32 or /128) on interface `index`.
pub fn new_address_request(index: u32, vip: IpAddr) -> RouteNetlinkMessage {
    let mut m = AddressMessage::default();
    m.header.family = if vip.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    m.header.prefix_len = if vip.is_ipv4() { 32 } else { 128 };
    m.header.scope = AddressScope::Universe;
    m.header.index = index;
    m.attributes.push(AddressAttribute::Local(vip));
    m.attributes.push(AddressAttribute::Address(vip));
    RouteNetlinkMessage::NewAddress(m)
}

fn request(
    socket: &Socket,
    msg: RouteNetlinkMessage,
    flags: u16,
) -> io::Result<Vec<RouteNetlinkMessage>> {
    let mut packet = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(msg));
    packet.header.flags = flags;
    packet.header.sequence_number = 1;
    packet.finalize();
    let mut buf = vec![0; packet.buffer_len()];
    packet.serialize(&mut buf);
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
                NetlinkPayload::Error(e) => {
                    return match e.code {
                        None => Ok(replies),
                        Some(code) => Err(io::Error::from_raw_os_error(-code.get())),
                    };
                }
                NetlinkPayload::Done(_) => return Ok(replies),
                NetlinkPayload::InnerMessage(m) => replies.push(m),
                _ => {}
            }
            if len == 0 {
                return Ok(replies);
            }
            offset += len;
        }
    }
}

fn route_socket() -> Result<Socket, String> {
    (|| {
        let mut s = Socket::new(NETLINK_ROUTE)?;
        s.bind_auto()?;
        s.connect(&SocketAddr::new(0, 0))?;
        Ok::<_, io::Error>(s)
    })()
    .map_err(|e| format!("rtnetlink socket: {e}"))
}

fn link_index(socket: &Socket, interface: &str) -> Result<u32, String> {
    let links = request(
        socket,
        get_link_request(interface),
        NLM_F_REQUEST | NLM_F_ACK,
    )
    .map_err(|e| format!("interface {interface:?}: {e} (check ipvs.interface)"))?;
    links
        .iter()
        .find_map(|m| match m {
            RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
            _ => None,
        })
        .ok_or_else(|| format!("interface {interface:?} not found (check ipvs.interface)"))
}

/// `RTM_GETADDR` dump of one family's addresses.
pub fn get_addresses_request(ipv4: bool) -> RouteNetlinkMessage {
    let mut m = AddressMessage::default();
    m.header.family = if ipv4 {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    RouteNetlinkMessage::GetAddress(m)
}

/// Whether `interface` has address `vip` now.
pub fn has_address(interface: &str, vip: IpAddr) -> Result<bool, String> {
    let socket = route_socket()?;
    let index = link_index(&socket, interface)?;
    let addresses = request(
        &socket,
        get_addresses_request(vip.is_ipv4()),
        NLM_F_REQUEST | NLM_F_DUMP,
    )
    .map_err(|e| format!("listing the addresses of {interface}: {e}"))?;
    Ok(addresses.iter().any(|m| match m {
        RouteNetlinkMessage::NewAddress(a) => {
            a.header.index == index
                && a.attributes.iter().any(|at| match at {
                    AddressAttribute::Local(ip) | AddressAttribute::Address(ip) => *ip == vip,
                    _ => false,
                })
        }
        _ => false,
    }))
}

/// Adds `vip` to `interface` unless it is there. Returns whether it was added.
pub fn ensure_vip(interface: &str, vip: IpAddr) -> Result<bool, String> {
    let socket = route_socket()?;
    let index = link_index(&socket, interface)?;
    match request(
        &socket,
        new_address_request(index, vip),
        NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
    ) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(17) => Ok(false),
        Err(e) => Err(format!("adding VIP {vip} to {interface}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::Emitable;

    #[test]
    fn new_address_is_a_host_address_with_local_and_address() {
        let RouteNetlinkMessage::NewAddress(m) =
            new_address_request(3, "203.0.113.240".parse().unwrap())
        else {
            panic!()
        };
        assert_eq!(m.header.prefix_len, 32);
        assert_eq!(m.header.index, 3);
        let mut buf = vec![0; m.buffer_len()];
        m.emit(&mut buf);
        // ifaddrmsg: family AF_INET, /32, flags 0, scope universe, index 3; then IFA_ADDRESS
        // and IFA_LOCAL, each 203.0.113.240.
        assert_eq!(&buf[..8], &[2, 32, 0, 0, 3, 0, 0, 0]);
        assert_eq!(buf.len(), 8 + 8 + 8);
        assert!(buf.windows(4).filter(|w| *w == [203, 0, 113, 240]).count() == 2);
    }
}
