//! The balancer's file is a contract: what the appliance renders for a DNS-balanced cluster
//! (`pigeonair_appliance::render::balancer`) must parse here, with the active nodes only.

use pigeonair_appliance::cluster::{ClusterView, NodeView};
use pigeonair_appliance::parse_answers;
use pigeonair_appliance::render::balancer::{BALANCER_TOML, render};
use pigeonair_balancer::config::{Config, Mode};

fn view() -> ClusterView {
    let node = |i: u8, state: &str, roles: &[&str]| NodeView {
        hostname: format!("mx{i}.example.com"),
        private: Some(format!("10.42.0.1{i}").parse().unwrap()),
        public: Some(format!("203.0.113.1{i}").parse().unwrap()),
        state: state.into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        server_id: None,
    };
    ClusterView::new([
        node(1, "active", &["provider", "ca", "dns"]),
        node(2, "active", &["dns"]),
        node(3, "joining", &[]),
        node(4, "active", &[]),
    ])
}

#[test]
fn the_appliances_dns_balancer_file_parses_with_the_active_nodes() {
    let plan = parse_answers(include_str!(
        "../../appliance/core/tests/resources/parse_answer/dns.toml"
    ))
    .unwrap();
    let file = render(&plan, &view()).expect("the provider of a DNS cluster runs the balancer");
    assert_eq!(file.path, BALANCER_TOML);
    let config = Config::parse(&file.contents).unwrap_or_else(|e| panic!("{e}\n{}", file.contents));
    let names: Vec<&str> = config.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(
        names,
        ["mx1.example.com", "mx2.example.com", "mx4.example.com"]
    );
    let Mode::Dns(dns) = &config.mode else {
        panic!("not DNS: {:?}", config.mode)
    };
    assert_eq!(dns.zone, "pigeon.example.com");
    assert_eq!(dns.listen, vec!["203.0.113.11:53".parse().unwrap()]);
    assert_eq!(dns.mx_domains, vec!["example.com".to_string()]);
    assert_eq!(
        dns.name_servers,
        [
            "203.0.113.11".parse::<std::net::IpAddr>().unwrap(),
            "203.0.113.12".parse().unwrap()
        ]
    );
}

#[test]
fn both_dns_servers_run_the_balancer_with_the_same_file_but_listen() {
    let first = parse_answers(include_str!(
        "../../appliance/core/tests/resources/parse_answer/dns.toml"
    ))
    .unwrap();
    let mut second = first.clone();
    second.hostname = pigeonair_appliance::types::Fqdn::try_new("mx2.example.com").unwrap();
    second.public.address =
        pigeonair_appliance::types::Ipv4Cidr::try_new("203.0.113.12/24").unwrap();
    let a = render(&first, &view())
        .expect("mx1 is a DNS server")
        .contents;
    let b = render(&second, &view())
        .expect("mx2 is a DNS server")
        .contents;
    assert_eq!(
        a.replace("203.0.113.11:53", "LISTEN"),
        b.replace("203.0.113.12:53", "LISTEN"),
        "{a}\n{b}"
    );
    let (Mode::Dns(da), Mode::Dns(db)) = (
        Config::parse(&a).unwrap().mode,
        Config::parse(&b).unwrap().mode,
    ) else {
        panic!("not DNS")
    };
    assert_eq!(db.listen, vec!["203.0.113.12:53".parse().unwrap()]);
    assert_eq!(da.name_servers, db.name_servers);
}

#[test]
fn only_the_dns_servers_of_a_dns_cluster_run_the_balancer() {
    let dns = parse_answers(include_str!(
        "../../appliance/core/tests/resources/parse_answer/dns.toml"
    ))
    .unwrap();
    let mut replica = dns.clone();
    replica.hostname = pigeonair_appliance::types::Fqdn::try_new("mx4.example.com").unwrap();
    assert!(render(&replica, &view()).is_none());
    let single = parse_answers(include_str!(
        "../../appliance/core/examples/single-box.toml"
    ))
    .unwrap();
    assert!(render(&single, &view()).is_none());
    assert!(render(&dns, &ClusterView::default()).is_none());
}

#[test]
fn a_draining_node_stays_in_the_dns_balancers_file_drained() {
    let plan = parse_answers(include_str!(
        "../../appliance/core/tests/resources/parse_answer/dns.toml"
    ))
    .unwrap();
    let mut view = view();
    view.nodes.get_mut("mx2.example.com").unwrap().state = "draining".into();
    let file = render(&plan, &view).unwrap();
    let config = Config::parse(&file.contents).unwrap_or_else(|e| panic!("{e}\n{}", file.contents));
    let nodes: Vec<(&str, bool)> = config
        .nodes
        .iter()
        .map(|n| (n.name.as_str(), n.drain))
        .collect();
    assert_eq!(
        nodes,
        [
            ("mx1.example.com", false),
            ("mx2.example.com", true),
            ("mx4.example.com", false)
        ],
        "a draining node drained, a joining one not there"
    );
}

#[test]
fn an_ipvs_cluster_has_no_node_rendering_the_balancers_file() {
    let plan = parse_answers(include_str!(
        "../../appliance/core/tests/resources/parse_answer/ipvs-dr.toml"
    ))
    .unwrap();
    assert!(
        render(&plan, &view()).is_none(),
        "the nodes hold the VIP; the balancer is another box"
    );
}

#[test]
fn a_balancer_file_lists_no_node_that_is_still_joining() {
    let plan = parse_answers(include_str!(
        "../../appliance/core/tests/resources/parse_answer/dns.toml"
    ))
    .unwrap();
    let mut view = view();
    for n in view.nodes.values_mut() {
        n.state = "joining".into();
    }
    assert!(render(&plan, &view).is_none(), "nothing in service yet");
    view.nodes.get_mut("mx1.example.com").unwrap().state = "drained".into();
    let file = render(&plan, &view).expect("a drained node is still the balancer's to know");
    let config = Config::parse(&file.contents).unwrap();
    assert_eq!(config.nodes.len(), 1);
    assert!(config.nodes[0].drain);
}
