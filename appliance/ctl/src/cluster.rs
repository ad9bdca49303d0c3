//! The cluster as its nodes' control planes report it: each node's pigeonaird is asked for its
//! status (`GET /v1/status`, mutual TLS with this node's cluster certificate, so root on a
//! node), and the answers fill in [`NodeInfo`]'s reachability, replication and queue. Used by
//! `pigeonctl node list` and `node remove` and by `pigeonair-console`. [`apply_answers`] and
//! [`replication`] are pure; [`ask_nodes`] is the network shell.

use std::net::SocketAddr;
use std::time::Duration;

use pigeonair_join::{CONTROL_PORT, NodeStatus, csn_micros};

use crate::directory::NodeInfo;

/// What a node's pigeonaird answered, or why it did not.
pub type Answer = Result<NodeStatus, String>;

/// How long `pigeonctl` waits for a node's answer.
pub const CTL_LIMIT: Duration = Duration::from_secs(5);

/// The control plane's address of a node: its private address, port [`CONTROL_PORT`].
pub fn control_address(n: &NodeInfo) -> Option<SocketAddr> {
    n.private.map(|ip| SocketAddr::new(ip.into(), CONTROL_PORT))
}

/// Asks every address at once, each given up on after `limit`; the answers in their order.
pub async fn ask_all(addrs: &[Option<SocketAddr>], limit: Duration) -> Vec<Answer> {
    let asks = addrs.iter().map(|a| async move {
        match a {
            Some(a) => pigeonair_control::client::status_within(*a, limit).await,
            None => Err("no private address".to_owned()),
        }
    });
    futures_util::future::join_all(asks).await
}

/// Asks every node's pigeonaird (all at once, each for at most `limit`) and fills in
/// reachability, status and replication.
pub fn ask_nodes(nodes: &mut [NodeInfo], limit: Duration) {
    let addrs: Vec<Option<SocketAddr>> = nodes.iter().map(control_address).collect();
    let answers = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(ask_all(&addrs, limit)),
        Err(e) => vec![Err(format!("no runtime: {e}")); nodes.len()],
    };
    apply_answers(nodes, answers);
}

/// Fills in each node's `pigeonaird` (`reachable`, or `unreachable: why`), `status` and
/// `replication` from its answer (in the nodes' order). Pure.
pub fn apply_answers(nodes: &mut [NodeInfo], answers: Vec<Answer>) {
    for (n, a) in nodes.iter_mut().zip(answers) {
        match a {
            Ok(status) => {
                n.pigeonaird = "reachable".into();
                n.status = Some(status);
            }
            Err(e) => {
                n.pigeonaird = format!("unreachable: {e}");
                n.status = None;
            }
        }
    }
    // The provider's stamp is the reference; each replica is in sync or behind it.
    let provider = nodes
        .iter()
        .find(|n| n.roles.iter().any(|r| r == "provider"))
        .and_then(|n| n.status.as_ref())
        .map(|s| s.context_csn.clone());
    for n in nodes.iter_mut() {
        n.replication = replication(
            provider.as_deref(),
            n.status.as_ref().map(|s| s.context_csn.as_slice()),
        );
    }
}

/// A replica's replication against the provider's `contextCSN`: `in sync`, `behind by N ms`
/// (the provider's newest change less the replica's), or why it is not known. Pure.
pub fn replication(provider: Option<&[String]>, mine: Option<&[String]>) -> String {
    let newest = |csns: &[String]| csns.iter().filter_map(|c| csn_micros(c)).max();
    match (provider, mine) {
        (None, _) => "provider not reachable".into(),
        (_, None) => "not known".into(),
        (Some(p), Some(m)) if p == m => "in sync".into(),
        (Some(p), Some(m)) => match (newest(p), newest(m)) {
            (Some(a), Some(b)) if a > b => format!("behind by {} ms", (a - b) / 1000),
            _ => "in sync".into(),
        },
    }
}

/// Whether `host`'s move to directory provider `id` has settled, from `nodes` as
/// [`ask_nodes`] filled them in: its entry has the role `provider`, its `contextCSN` has a
/// value of its own server ID (its first change, its uid counter, written once its slapd is
/// that provider), and every other provider's `contextCSN` is the same as its own (each
/// replicates the other). The other providers' names when it has, else what is still missing.
/// Pure.
pub fn promotion_settled(nodes: &[NodeInfo], host: &str, id: u16) -> Result<Vec<String>, String> {
    let Some(n) = nodes.iter().find(|n| n.hostname.eq_ignore_ascii_case(host)) else {
        return Err(format!("{host} is not in ou=nodes"));
    };
    if !n.roles.iter().any(|r| r == "provider") {
        return Err(format!(
            "{host} has not taken the role provider yet (roles {})",
            n.roles.join(",")
        ));
    }
    let Some(mine) = n.status.as_ref().map(|s| &s.context_csn) else {
        return Err(format!("{host}'s pigeonaird: {}", n.pigeonaird));
    };
    let sid = format!("#{id:03x}#");
    if !mine.iter().any(|c| c.contains(&sid)) {
        return Err(format!(
            "{host}'s slapd has not written as provider {id} yet (its contextCSN: {})",
            mine.join(" ")
        ));
    }
    let mut others = Vec::new();
    for o in nodes
        .iter()
        .filter(|o| o.hostname != n.hostname && o.roles.iter().any(|r| r == "provider"))
    {
        let Some(theirs) = o.status.as_ref().map(|s| &s.context_csn) else {
            return Err(format!("{}'s pigeonaird: {}", o.hostname, o.pigeonaird));
        };
        let (mut a, mut b) = (mine.clone(), theirs.clone());
        a.sort();
        b.sort();
        if a != b {
            return Err(format!(
                "{} and {host} do not have each other's changes yet ({} against {})",
                o.hostname,
                b.join(" "),
                a.join(" ")
            ));
        }
        others.push(o.hostname.clone());
    }
    Ok(others)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, roles: &[&str]) -> NodeInfo {
        NodeInfo {
            hostname: name.into(),
            state: "active".into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            public: None,
            private: None,
            mailboxes: 0,
            replication: "unknown".into(),
            pigeonaird: "not asked".into(),
            progress: None,
            status: None,
        }
    }

    fn status(name: &str, csn: &str) -> Answer {
        Ok(NodeStatus {
            hostname: name.into(),
            context_csn: vec![csn.into()],
            queued_hosted: Some(0),
            queued: Some(0),
            disk: None,
            balancer: vec![],
        })
    }

    #[test]
    fn replicas_are_compared_with_the_provider() {
        let mut nodes = [
            node("node1", &["provider", "ca"]),
            node("node2", &[]),
            node("node3", &[]),
        ];
        apply_answers(
            &mut nodes,
            vec![
                status("node1", "20261201124959.500000Z#000000#000#000000"),
                status("node2", "20261201124959.250000Z#000000#000#000000"),
                Err("no answer within 2 s".into()),
            ],
        );
        let got: Vec<(&str, &str)> = nodes
            .iter()
            .map(|n| (n.pigeonaird.as_str(), n.replication.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("reachable", "in sync"),
                ("reachable", "behind by 250 ms"),
                ("unreachable: no answer within 2 s", "not known"),
            ]
        );
        // Without the provider's answer nobody's replication is known.
        apply_answers(
            &mut nodes,
            vec![Err("refused".into()), status("node2", "x")],
        );
        assert_eq!(nodes[1].replication, "provider not reachable");
    }

    #[test]
    fn a_promotion_has_settled_once_both_providers_have_its_first_change() {
        let csn1 = "20261201092302.173532Z#000000#001#000000";
        let csn3 = "20261201092310.000000Z#000000#003#000000";
        let with = |name: &str, roles: &[&str], csns: &[&str]| {
            let mut n = node(name, roles);
            n.pigeonaird = "reachable".into();
            n.status = Some(NodeStatus {
                context_csn: csns.iter().map(|c| c.to_string()).collect(),
                ..status(name, csn1).unwrap()
            });
            n
        };
        // Not a provider yet.
        let nodes = [
            with("node1", &["provider", "ca"], &[csn1]),
            with("node3", &["becoming-provider"], &[csn1]),
        ];
        assert!(
            promotion_settled(&nodes, "node3", 3)
                .unwrap_err()
                .contains("has not taken the role provider")
        );
        // A provider, but nothing written with its ID.
        let nodes = [
            with("node1", &["provider", "ca"], &[csn1]),
            with("node3", &["provider", "ca"], &[csn1]),
        ];
        assert!(
            promotion_settled(&nodes, "node3", 3)
                .unwrap_err()
                .contains("has not written as provider 3")
        );
        // Written, not yet at node1.
        let nodes = [
            with("node1", &["provider", "ca"], &[csn1]),
            with("node3", &["provider", "ca"], &[csn3, csn1]),
        ];
        assert!(
            promotion_settled(&nodes, "node3", 3)
                .unwrap_err()
                .starts_with("node1 and node3 do not have each other's changes")
        );
        // Both have it (in any order); a replica does not count.
        let nodes = [
            with("node1", &["provider", "ca"], &[csn3, csn1]),
            with("node2", &[], &[csn1]),
            with("node3", &["provider", "ca"], &[csn1, csn3]),
        ];
        assert_eq!(
            promotion_settled(&nodes, "node3", 3),
            Ok(vec!["node1".into()])
        );
    }
}
