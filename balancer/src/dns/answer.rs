//! Query bytes → reply bytes for one [`DnsView`]: pure, no IO.
//!
//! Behaviour an ISP's resolver can rely on:
//! - every reply echoes the id, the opcode, RD and CD, and the question as asked (letter case
//!   kept, for resolvers that randomise it); AA is set for names in a zone we serve;
//! - names are matched without regard to case; the longest served apex wins;
//! - a name outside every served zone gets REFUSED (we are not a resolver), as does a class
//!   other than IN and a zone transfer (AXFR/IXFR: use [`super::zone_text`] instead);
//! - an unknown name in a zone gets NXDOMAIN, a known name without the asked type NODATA
//!   (NOERROR, no answer); both carry the zone's SOA in the authority section (RFC 2308);
//! - ANY is answered with every RRset at the name (RFC 8482 allows any subset). Our RRsets are
//!   a handful of records, so the amplification RFC 8482 guards against does not arise, and
//!   qmail still sends ANY queries for recipient domains;
//! - MX and NS answers carry the targets' A/AAAA in the additional section (the name servers'
//!   glue: every server of a pair names both, so a resolver that reached one knows the other);
//! - the addresses of an RRset are rotated by the query id, so successive queries (whose ids are
//!   random) start with different nodes: round-robin without state;
//! - EDNS (RFC 6891): a query with OPT gets OPT back, offering [`EDNS_UDP_PAYLOAD`]; an EDNS
//!   version other than 0 gets BADVERS;
//! - a UDP reply larger than the client's payload size (512 bytes without EDNS) first loses its
//!   additional section (optional data, RFC 2181 §9), then all records, with TC set so the
//!   resolver retries over TCP;
//! - bytes that cannot hold a query header, and responses, are dropped (`None`): replying to
//!   them would let anyone bounce packets between DNS servers. A header with an unreadable rest
//!   gets FORMERR; so does a query with other than one question.

use std::net::IpAddr;

use hickory_proto::op::{Edns, Header, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{MX, NS, SOA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use super::{DnsView, SOA_TIMERS, Zone};

/// The UDP payload size we offer in OPT and honour at most, in bytes: the DNS Flag Day 2020
/// value, which crosses any path in one unfragmented IPv6 packet.
pub const EDNS_UDP_PAYLOAD: u16 = 1232;

/// A UDP reply's limit without EDNS, in bytes (RFC 1035 §4.2.1).
const PLAIN_UDP_PAYLOAD: usize = 512;

/// A TCP reply's limit, in bytes: what the 2-byte length prefix can express.
const TCP_PAYLOAD: usize = 65_535;

/// The smallest question on the wire: root name (1 byte), type and class (2 bytes each).
const MIN_QUESTION_LEN: usize = 5;

/// The smallest resource record on the wire: root name, type, class, TTL, RDLENGTH.
const MIN_RECORD_LEN: usize = 11;

/// Replies to a query that arrived over UDP: `None` means send nothing.
pub fn answer(view: &DnsView, query: &[u8]) -> Option<Vec<u8>> {
    respond(view, query, Transport::Udp)
}

/// Replies to a query that arrived over TCP (without its 2-byte length prefix): the same as
/// [`answer`] except that replies up to 65535 bytes are sent whole.
pub fn answer_tcp(view: &DnsView, query: &[u8]) -> Option<Vec<u8>> {
    respond(view, query, Transport::Tcp)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Udp,
    Tcp,
}

fn respond(view: &DnsView, query: &[u8], transport: Transport) -> Option<Vec<u8>> {
    let header = Header::read(&mut BinDecoder::new(query)).ok()?;
    if header.message_type() == MessageType::Response {
        return None;
    }
    let mut reply = Message::new();
    reply.set_header(Header::response_from_request(&header));

    // Refuse counts the bytes cannot hold before the parser reserves room for them.
    let claimed = usize::from(header.query_count()) * MIN_QUESTION_LEN
        + (usize::from(header.answer_count())
            + usize::from(header.name_server_count())
            + usize::from(header.additional_count()))
            * MIN_RECORD_LEN;
    if claimed > query.len() - Header::len() {
        return encode(reply.set_response_code(ResponseCode::FormErr), TCP_PAYLOAD);
    }
    let Ok(request) = Message::from_vec(query) else {
        return encode(reply.set_response_code(ResponseCode::FormErr), TCP_PAYLOAD);
    };

    let limit = match (transport, request.extensions()) {
        (Transport::Tcp, _) => TCP_PAYLOAD,
        (Transport::Udp, None) => PLAIN_UDP_PAYLOAD,
        (Transport::Udp, Some(e)) => {
            usize::from(e.max_payload().min(EDNS_UDP_PAYLOAD)).max(PLAIN_UDP_PAYLOAD)
        }
    };
    if let Some(e) = request.extensions() {
        let mut ours = Edns::new();
        ours.set_max_payload(EDNS_UDP_PAYLOAD).set_version(0);
        reply.set_edns(ours);
        if e.version() != 0 {
            return encode(reply.set_response_code(ResponseCode::BADVERS), limit);
        }
    }
    if request.op_code() != OpCode::Query {
        reply.add_queries(request.queries().iter().cloned());
        return encode(reply.set_response_code(ResponseCode::NotImp), limit);
    }
    let [question] = request.queries() else {
        return encode(reply.set_response_code(ResponseCode::FormErr), limit);
    };
    reply.add_query(question.clone());
    if question.query_type() == RecordType::OPT {
        return encode(reply.set_response_code(ResponseCode::FormErr), limit);
    }
    if question.query_class() != DNSClass::IN
        || matches!(question.query_type(), RecordType::AXFR | RecordType::IXFR)
    {
        return encode(reply.set_response_code(ResponseCode::Refused), limit);
    }
    let Some((zone, apex)) = view
        .zone
        .as_ref()
        .and_then(|z| Some((z, z.apex_of(question.name())?)))
    else {
        return encode(reply.set_response_code(ResponseCode::Refused), limit);
    };
    reply.set_authoritative(true);
    let name = question.name().to_lowercase();
    let Some(rrsets) = zone.rrsets(view, &apex, &name) else {
        reply.set_response_code(ResponseCode::NXDomain);
        reply.add_name_server(zone.soa_record(view, &apex));
        return encode(&mut reply, limit);
    };
    let wanted = rrsets
        .into_iter()
        .filter(|(t, _)| question.query_type() == RecordType::ANY || *t == question.query_type());
    for (_, rdatas) in wanted {
        let rotate = usize::from(header.id()) % rdatas.len().max(1);
        for rdata in rdatas.iter().cycle().skip(rotate).take(rdatas.len()) {
            reply.add_answer(owned(question.name(), view.ttl, rdata.clone()));
        }
    }
    if reply.answers().is_empty() {
        reply.add_name_server(zone.soa_record(view, &apex));
        return encode(&mut reply, limit);
    }
    for target in glue_targets(reply.answers()) {
        for ip in zone.hosts.get(&target).into_iter().flatten() {
            reply.add_additional(owned(&target, view.ttl, RData::from(*ip)));
        }
    }
    encode(&mut reply, limit)
}

fn owned(name: &Name, ttl: u32, rdata: RData) -> Record {
    Record::from_rdata(name.clone(), ttl, rdata)
}

/// The in-zone names MX and NS answers point at, each once, lowercase.
fn glue_targets(answers: &[Record]) -> Vec<Name> {
    let mut out: Vec<Name> = Vec::new();
    for r in answers {
        let target = match r.data() {
            RData::MX(mx) => mx.exchange(),
            RData::NS(ns) => &ns.0,
            _ => continue,
        };
        let target = target.to_lowercase();
        if !out.contains(&target) {
            out.push(target);
        }
    }
    out
}

impl Zone {
    /// The served apex `name` falls under (the longest one), lowercase; `None` outside them all.
    fn apex_of(&self, name: &Name) -> Option<Name> {
        std::iter::once(&self.apex)
            .chain(&self.mx_domains)
            .filter(|apex| apex.zone_of(name))
            .max_by_key(|apex| apex.num_labels())
            .cloned()
    }

    /// Every RRset at `name` (lowercase, under `apex`) by type; `None` when the name does not
    /// exist. A name with only names below it (an empty non-terminal, e.g. `b.<zone>` when a
    /// service is `a.b`) exists with no RRsets.
    fn rrsets(
        &self,
        view: &DnsView,
        apex: &Name,
        name: &Name,
    ) -> Option<Vec<(RecordType, Vec<RData>)>> {
        let mut sets = Vec::new();
        if name == apex {
            sets.push((RecordType::SOA, vec![self.soa(view)]));
            let ns = self.ns_hosts.iter().map(|h| RData::NS(NS(h.clone())));
            sets.push((RecordType::NS, ns.collect()));
            if let Some(target) = &self.mx_target {
                if self.mx_domains.contains(apex) {
                    sets.push((RecordType::MX, vec![RData::MX(MX::new(10, target.clone()))]));
                }
            }
            return Some(sets);
        }
        if *apex != self.apex {
            // A hosted domain holds nothing below its apex.
            return None;
        }
        match self.hosts.get(name) {
            Some(addresses) => {
                let family = |v4: bool| -> Vec<RData> {
                    addresses
                        .iter()
                        .filter(|a| a.is_ipv4() == v4)
                        .map(|a: &IpAddr| RData::from(*a))
                        .collect()
                };
                for (t, v4) in [(RecordType::A, true), (RecordType::AAAA, false)] {
                    let rdatas = family(v4);
                    if !rdatas.is_empty() {
                        sets.push((t, rdatas));
                    }
                }
                Some(sets)
            }
            None if self.hosts.keys().any(|h| name.zone_of(h)) => Some(sets),
            None => None,
        }
    }

    fn soa(&self, view: &DnsView) -> RData {
        let (refresh, retry, expire) = SOA_TIMERS;
        // The primary (MNAME) is the first name server; `ns_hosts` is never empty, but the
        // apex is a harmless stand-in rather than a panic.
        RData::SOA(SOA::new(
            self.ns_hosts.first().unwrap_or(&self.apex).clone(),
            self.hostmaster.clone(),
            view.serial,
            refresh,
            retry,
            expire,
            view.ttl,
        ))
    }

    fn soa_record(&self, view: &DnsView, apex: &Name) -> Record {
        owned(apex, view.ttl, self.soa(view))
    }
}

/// Encodes `reply` within `limit` bytes: whole if it fits, else without the additional section,
/// else with only the question (and OPT) and TC set. `None` only if hickory cannot encode it.
fn encode(reply: &mut Message, limit: usize) -> Option<Vec<u8>> {
    if let Ok(bytes) = reply.to_vec() {
        // hickory's encoder stops at 65535 bytes and then sets TC itself.
        let cut_by_encoder = bytes.len() >= 4 && bytes[2] & 0b10 != 0;
        if bytes.len() <= limit && !cut_by_encoder {
            return Some(bytes);
        }
    }
    reply.take_additionals();
    if let Ok(bytes) = reply.to_vec() {
        if bytes.len() <= limit && bytes[2] & 0b10 == 0 {
            return Some(bytes);
        }
    }
    reply.take_answers();
    reply.take_name_servers();
    reply.set_truncated(true);
    reply.to_vec().ok()
}

#[cfg(test)]
mod tests;
