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
}
