//! Queries built with hickory-proto, answered, and the replies parsed back.

use std::collections::BTreeSet;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use proptest::prelude::*;

use super::*;
use crate::config::Node;
use crate::dns::tests::{nodes, pair_settings, settings};

fn view() -> DnsView {
    DnsView::new(&settings(), &nodes(), |_, _| true)
}

fn query_msg(id: u16, name: &str, t: RecordType) -> Message {
    let mut m = Message::new();
    m.set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(Name::from_ascii(name).unwrap(), t));
    m
}

fn ask_msg(view: &DnsView, m: &Message) -> Message {
    let reply = answer(view, &m.to_vec().unwrap()).expect("a reply");
    Message::from_vec(&reply).expect("a parseable reply")
}

fn ask(view: &DnsView, name: &str, t: RecordType) -> Message {
    ask_msg(view, &query_msg(4242, name, t))
}

/// The answer section as "TYPE DATA" strings, sorted.
fn records(rs: &[Record]) -> Vec<String> {
    let mut v: Vec<String> = rs
        .iter()
        .map(|r| format!("{} {} {}", r.name(), r.record_type(), r.data()))
        .collect();
    v.sort();
    v
}

#[test]
fn a_and_aaaa_by_family_with_ttl_aa_id_and_question() {
    let r = ask(&view(), "mx.cluster.example.net.", RecordType::A);
    assert_eq!(r.id(), 4242);
    assert_eq!(r.message_type(), MessageType::Response);
    assert_eq!(r.response_code(), ResponseCode::NoError);
    assert!(r.authoritative());
    assert!(r.recursion_desired());
    assert!(!r.recursion_available());
    assert_eq!(r.queries()[0].name().to_ascii(), "mx.cluster.example.net.");
    assert_eq!(r.queries()[0].query_type(), RecordType::A);
    assert_eq!(
        records(r.answers()),
        [
            "mx.cluster.example.net. A 10.42.0.11",
            "mx.cluster.example.net. A 10.42.0.12"
        ]
    );
    assert!(r.answers().iter().all(|a| a.ttl() == 5));
    assert!(r.additionals().is_empty() && r.name_servers().is_empty());
    assert!(r.extensions().is_none(), "no OPT without OPT in the query");

    let r = ask(&view(), "mx.cluster.example.net.", RecordType::AAAA);
    assert_eq!(
        records(r.answers()),
        ["mx.cluster.example.net. AAAA 2001:db8::13"]
    );
}

#[test]
fn unhealthy_and_drained_nodes_are_not_answered() {
    let view = DnsView::new(&settings(), &nodes(), |n, _| n.name != "node2");
    let r = ask(&view, "mx.cluster.example.net.", RecordType::A);
    assert_eq!(
        records(r.answers()),
        ["mx.cluster.example.net. A 10.42.0.11"]
    );
}

#[test]
fn names_match_without_case_and_the_question_keeps_its_case() {
    let r = ask(&view(), "Mx.CLUSTER.example.Net.", RecordType::A);
    assert_eq!(r.response_code(), ResponseCode::NoError);
    assert_eq!(r.answers().len(), 2);
    assert!(
        r.queries()[0]
            .name()
            .eq_case(&Name::from_ascii("Mx.CLUSTER.example.Net.").unwrap())
    );
}

#[test]
fn addresses_rotate_with_the_query_id() {
    let first = |id| {
        let r = ask_msg(
            &view(),
            &query_msg(id, "mx.cluster.example.net.", RecordType::A),
        );
        r.answers()[0].data().to_string()
    };
    assert_ne!(first(0), first(1));
    assert_eq!(first(0), first(2));
}

#[test]
fn apex_soa_and_ns_with_glue() {
    let v = view();
    let r = ask(&v, "cluster.example.net.", RecordType::SOA);
    let [soa] = r.answers() else { panic!("{r}") };
    let RData::SOA(soa) = soa.data() else {
        panic!("{soa}")
    };
    assert_eq!(soa.serial(), v.serial());
    assert_eq!(soa.mname().to_ascii(), "ns.cluster.example.net.");
    assert_eq!(soa.rname().to_ascii(), "hostmaster.cluster.example.net.");
    assert_eq!(soa.minimum(), 5);

    let r = ask(&v, "cluster.example.net.", RecordType::NS);
    assert_eq!(
        records(r.answers()),
        ["cluster.example.net. NS ns.cluster.example.net."]
    );
    assert_eq!(
        records(r.additionals()),
        [
            "ns.cluster.example.net. A 203.0.113.53",
            "ns.cluster.example.net. AAAA 2001:db8::53"
        ]
    );
}

#[test]
fn two_balancers_answer_both_name_servers_with_glue_and_the_same_bytes() {
    let first = DnsView::new(&pair_settings("203.0.113.11:53"), &nodes(), |_, _| true);
    let second = DnsView::new(&pair_settings("203.0.113.12:53"), &nodes(), |_, _| true);
    let r = ask(&first, "cluster.example.net.", RecordType::NS);
    assert!(r.authoritative());
    assert_eq!(
        records(r.answers()),
        [
            "cluster.example.net. NS ns1.cluster.example.net.",
            "cluster.example.net. NS ns2.cluster.example.net."
        ]
    );
    assert_eq!(
        records(r.additionals()),
        [
            "ns1.cluster.example.net. A 203.0.113.11",
            "ns2.cluster.example.net. A 203.0.113.12"
        ]
    );
    let r = ask(&first, "cluster.example.net.", RecordType::SOA);
    let RData::SOA(soa) = r.answers()[0].data() else {
        panic!("{r}")
    };
    assert_eq!(soa.mname().to_ascii(), "ns1.cluster.example.net.");
    let r = ask(&second, "ns2.cluster.example.net.", RecordType::A);
    assert_eq!(
        records(r.answers()),
        ["ns2.cluster.example.net. A 203.0.113.12"]
    );
    // A resolver gets the very same reply from either server, for every kind of question.
    for (name, t) in [
        ("cluster.example.net.", RecordType::SOA),
        ("cluster.example.net.", RecordType::NS),
        ("cluster.example.net.", RecordType::ANY),
        ("mx.cluster.example.net.", RecordType::A),
        ("imap.cluster.example.net.", RecordType::AAAA),
        ("example.com.", RecordType::MX),
        ("nope.cluster.example.net.", RecordType::A),
    ] {
        for id in [1, 2, 3] {
            let q = query_msg(id, name, t).to_vec().unwrap();
            assert_eq!(
                answer(&first, &q),
                answer(&second, &q),
                "{name} {t} id {id}"
            );
        }
    }
}

#[test]
fn serial_changes_when_the_healthy_set_changes() {
    let serial = |v: &DnsView| {
        let r = ask(v, "cluster.example.net.", RecordType::SOA);
        match r.answers()[0].data() {
            RData::SOA(s) => s.serial(),
            other => panic!("{other}"),
        }
    };
    let all = view();
    let fewer = DnsView::new(&settings(), &nodes(), |n, _| n.name != "node1");
    assert_ne!(serial(&all), serial(&fewer));
}

#[test]
fn unknown_name_is_nxdomain_with_soa() {
    let r = ask(&view(), "nope.cluster.example.net.", RecordType::A);
    assert_eq!(r.response_code(), ResponseCode::NXDomain);
    assert!(r.authoritative());
    assert!(r.answers().is_empty());
    let [soa] = r.name_servers() else {
        panic!("{r}")
    };
    assert_eq!(soa.record_type(), RecordType::SOA);
    assert_eq!(soa.name().to_ascii(), "cluster.example.net.");
    assert_eq!(soa.ttl(), 5);
}

#[test]
fn known_name_of_another_type_is_nodata_with_soa() {
    for t in [RecordType::MX, RecordType::TXT, RecordType::Unknown(65_280)] {
        let r = ask(&view(), "imap.cluster.example.net.", t);
        assert_eq!(r.response_code(), ResponseCode::NoError, "{t}");
        assert!(r.answers().is_empty(), "{t}");
        assert_eq!(r.name_servers()[0].record_type(), RecordType::SOA, "{t}");
    }
}

#[test]
fn empty_non_terminal_is_nodata() {
    let mut s = settings();
    s.names.insert("smtp.eu".into(), vec![587]);
    let v = DnsView::new(&s, &nodes(), |_, _| true);
    let r = ask(&v, "eu.cluster.example.net.", RecordType::A);
    assert_eq!(r.response_code(), ResponseCode::NoError);
    assert!(r.answers().is_empty());
    let r = ask(&v, "smtp.eu.cluster.example.net.", RecordType::A);
    assert_eq!(r.answers().len(), 2);
}

#[test]
fn any_answers_every_rrset_at_the_name() {
    let r = ask(&view(), "mx.cluster.example.net.", RecordType::ANY);
    assert_eq!(
        records(r.answers()),
        [
            "mx.cluster.example.net. A 10.42.0.11",
            "mx.cluster.example.net. A 10.42.0.12",
            "mx.cluster.example.net. AAAA 2001:db8::13"
        ]
    );
}

#[test]
fn hosted_domain_mx_with_target_addresses() {
    let r = ask(&view(), "Example.COM.", RecordType::MX);
    assert!(r.authoritative());
    assert_eq!(
        records(r.answers()),
        ["Example.COM. MX 10 mx.cluster.example.net."]
    );
    assert_eq!(
        records(r.additionals()),
        [
            "mx.cluster.example.net. A 10.42.0.11",
            "mx.cluster.example.net. A 10.42.0.12",
            "mx.cluster.example.net. AAAA 2001:db8::13"
        ]
    );
    let r = ask(&view(), "example.com.", RecordType::SOA);
    assert_eq!(r.answers()[0].record_type(), RecordType::SOA);
    let r = ask(&view(), "example.com.", RecordType::NS);
    assert_eq!(
        records(r.answers()),
        ["example.com. NS ns.cluster.example.net."]
    );
    let r = ask(&view(), "www.example.com.", RecordType::A);
    assert_eq!(r.response_code(), ResponseCode::NXDomain);
    assert_eq!(r.name_servers()[0].name().to_ascii(), "example.com.");
    // The cluster zone is not a mail domain unless listed.
    let r = ask(&view(), "cluster.example.net.", RecordType::MX);
    assert!(r.answers().is_empty());
}

#[test]
fn outside_our_zones_is_refused_without_aa() {
    for name in ["example.org.", "example.net.", "net.", "."] {
        let r = ask(&view(), name, RecordType::A);
        assert_eq!(r.response_code(), ResponseCode::Refused, "{name}");
        assert!(!r.authoritative(), "{name}");
        assert_eq!(r.queries().len(), 1, "{name}");
    }
}

#[test]
fn other_classes_and_zone_transfers_are_refused() {
    let mut m = query_msg(7, "mx.cluster.example.net.", RecordType::TXT);
    m.queries_mut()[0].set_query_class(DNSClass::CH);
    assert_eq!(ask_msg(&view(), &m).response_code(), ResponseCode::Refused);
    let r = ask(&view(), "cluster.example.net.", RecordType::AXFR);
    assert_eq!(r.response_code(), ResponseCode::Refused);
}

#[test]
fn other_opcodes_are_not_implemented() {
    let mut m = query_msg(7, "cluster.example.net.", RecordType::SOA);
    m.set_op_code(OpCode::Notify);
    let r = ask_msg(&view(), &m);
    assert_eq!(r.response_code(), ResponseCode::NotImp);
    assert_eq!(r.op_code(), OpCode::Notify);
}

#[test]
fn zero_or_two_questions_are_formerr() {
    let mut m = query_msg(9, "mx.cluster.example.net.", RecordType::A);
    m.take_queries();
    let r = ask_msg(&view(), &m);
    assert_eq!(r.response_code(), ResponseCode::FormErr);
    assert_eq!(r.id(), 9);
    let mut m = query_msg(9, "mx.cluster.example.net.", RecordType::A);
    m.add_query(Query::query(
        Name::from_ascii("imap.cluster.example.net.").unwrap(),
        RecordType::A,
    ));
    assert_eq!(ask_msg(&view(), &m).response_code(), ResponseCode::FormErr);
}

#[test]
fn garbage_is_dropped_or_formerr() {
    assert_eq!(answer(&view(), b""), None);
    assert_eq!(answer(&view(), &[0x12, 0x34, 0x01]), None);
    // A header claiming one question, and nothing after it: replyable, so FORMERR.
    let header = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    let r = Message::from_vec(&answer(&view(), &header).unwrap()).unwrap();
    assert_eq!(r.id(), 0x1234);
    assert_eq!(r.response_code(), ResponseCode::FormErr);
    // The same bytes with QR set: a response, never answered.
    let mut response = header;
    response[2] |= 0x80;
    assert_eq!(answer(&view(), &response), None);
    // A valid query cut in the middle of its name.
    let q = query_msg(1, "mx.cluster.example.net.", RecordType::A)
        .to_vec()
        .unwrap();
    let r = Message::from_vec(&answer(&view(), &q[..20]).unwrap()).unwrap();
    assert_eq!(r.response_code(), ResponseCode::FormErr);
    // Counts of 65535 records in 12 bytes.
    let huge = [0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    let r = Message::from_vec(&answer(&view(), &huge).unwrap()).unwrap();
    assert_eq!(r.response_code(), ResponseCode::FormErr);
}

fn with_edns(mut m: Message, payload: u16, version: u8) -> Message {
    let mut e = Edns::new();
    e.set_max_payload(payload).set_version(version);
    m.set_edns(e);
    m
}

#[test]
fn edns_is_answered_with_our_payload_size() {
    let m = with_edns(
        query_msg(3, "mx.cluster.example.net.", RecordType::A),
        4096,
        0,
    );
    let r = ask_msg(&view(), &m);
    assert_eq!(r.response_code(), ResponseCode::NoError);
    assert_eq!(
        r.extensions().as_ref().unwrap().max_payload(),
        EDNS_UDP_PAYLOAD
    );
    let m = with_edns(
        query_msg(3, "mx.cluster.example.net.", RecordType::A),
        4096,
        1,
    );
    let r = ask_msg(&view(), &m);
    // BADVERS is 16 (shared with BADSIG), split between the header and OPT.
    assert_eq!(u16::from(r.response_code()), 16);
    assert!(r.answers().is_empty());
}

/// `count` healthy IPv4 nodes 10.1.x.y.
fn many_nodes(count: u16) -> Vec<Node> {
    (0..count)
        .map(|i| Node {
            name: format!("node{i}"),
            address: IpAddr::from([10, 1, (i >> 8) as u8, i as u8]),
            weight: 100,
            drain: false,
        })
        .collect()
}

#[test]
fn big_answers_set_tc_over_udp_and_fit_over_tcp() {
    // 100 A records of 16 bytes each: more than 1232 bytes.
    let v = DnsView::new(&settings(), &many_nodes(100), |_, _| true);
    for m in [
        query_msg(5, "mx.cluster.example.net.", RecordType::A),
        with_edns(
            query_msg(5, "mx.cluster.example.net.", RecordType::A),
            4096,
            0,
        ),
    ] {
        let bytes = answer(&v, &m.to_vec().unwrap()).unwrap();
        assert!(bytes.len() <= 1232);
        let r = Message::from_vec(&bytes).unwrap();
        assert!(r.truncated());
        assert!(r.answers().is_empty());
        assert_eq!(r.queries().len(), 1);
        assert_eq!(r.extensions().is_some(), m.extensions().is_some());
    }
    let m = query_msg(5, "mx.cluster.example.net.", RecordType::A);
    let r = Message::from_vec(&answer_tcp(&v, &m.to_vec().unwrap()).unwrap()).unwrap();
    assert!(!r.truncated());
    assert_eq!(r.answers().len(), 100);
}

#[test]
fn glue_that_does_not_fit_is_dropped_without_tc() {
    // 40 glue A records (640 bytes) do not fit in 512; the MX alone does.
    let v = DnsView::new(&settings(), &many_nodes(40), |_, _| true);
    let r = ask(&v, "example.com.", RecordType::MX);
    assert!(!r.truncated());
    assert_eq!(r.answers().len(), 1);
    assert!(r.additionals().is_empty());
    // With EDNS's 1232 bytes, it fits.
    let m = with_edns(query_msg(5, "example.com.", RecordType::MX), 1232, 0);
    assert_eq!(ask_msg(&v, &m).additionals().len(), 40);
}

#[test]
fn a_view_with_an_invalid_zone_refuses_everything() {
    let mut s = settings();
    s.zone = "not a zone".into();
    let v = DnsView::new(&s, &nodes(), |_, _| true);
    let r = ask(&v, "mx.cluster.example.net.", RecordType::A);
    assert_eq!(r.response_code(), ResponseCode::Refused);
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Some(reply) = answer(&view(), &bytes) {
            let r = Message::from_vec(&reply).expect("our reply parses");
            prop_assert_eq!(&reply[..2], &bytes[..2]);
            prop_assert_eq!(r.message_type(), MessageType::Response);
        }
    }

    #[test]
    fn mangled_queries_never_panic(
        at in 0usize..80,
        value in any::<u8>(),
        cut in 12usize..80,
    ) {
        let m = with_edns(query_msg(1, "mx.cluster.example.net.", RecordType::A), 1232, 0);
        let mut bytes = m.to_vec().unwrap();
        let len = bytes.len();
        bytes[at % len] = value;
        bytes.truncate(cut.min(len));
        for reply in [answer(&view(), &bytes), answer_tcp(&view(), &bytes)].into_iter().flatten() {
            prop_assert!(Message::from_vec(&reply).is_ok());
        }
    }
}

#[test]
fn every_answered_address_is_a_configured_node() {
    let configured: BTreeSet<String> = nodes().iter().map(|n| n.address.to_string()).collect();
    let r = ask(&view(), "imap.cluster.example.net.", RecordType::ANY);
    for a in r.answers() {
        assert!(configured.contains(&a.data().to_string()), "{a}");
    }
}
