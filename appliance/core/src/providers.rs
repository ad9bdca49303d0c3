//! The directory's providers: the nodes holding a writable copy of the directory (OpenLDAP
//! multi-provider replication), their server IDs, which providers a node replicates from, and
//! each provider's block of mailbox uids. Pure: the slapd renderer, the join, pigeonctl and
//! pigeonaird all decide from this and the cluster view (`ou=nodes`).
//!
//! A node is a provider when its entry has the role `provider`. Its server ID
//! (`pigeonairServerId`, slapd's `olcServerID`) is unique in the cluster and never reused: the
//! first node is 1 (also when its entry has no ID, as in clusters made before there were two
//! providers); a node that becomes a provider gets one more than the highest ever given, on any
//! node's entry or in the data: the suffix's `contextCSN` keeps a value for every server ID
//! that ever wrote, also after its node was removed and its entry deleted, and a new provider
//! whose ID such a value names could have its first changes taken for old ones. The ID is
//! written on a node's entry when it is chosen to become a provider (by the member serving its
//! join, or `pigeonctl node role NODE provider` with the role [`BECOMING_PROVIDER`]), before
//! the node has the role: that is how a second node joining at the same time sees the place
//! taken.

use std::net::Ipv4Addr;
use std::ops::Range;

use serde::Serialize;

use crate::cluster::{ClusterView, NodeView};
use crate::directory::{COUNTERS_DN, FIRST_MAIL_UID};
use crate::plan::{Plan, Role};

/// How many providers a cluster gets by itself: the second node to join becomes one.
pub const WANTED_PROVIDERS: usize = 2;

/// The largest server ID slapd accepts.
pub const MAX_SERVER_ID: u16 = 4095;

/// The role of an active node that `pigeonctl node role NODE provider` chose to become a
/// provider: its server ID is reserved on its entry, and a node holding the CA's key hands the
/// key to it (`POST /v1/ca-key`, mutual TLS) only while its entry has this role. Its own
/// pigeonaird then takes the roles `provider` and `ca` in place of this one.
pub const BECOMING_PROVIDER: &str = "becoming-provider";

/// The uids each provider hands out: provider N allocates from `[N × BLOCK, (N+1) × BLOCK)`,
/// except provider 1, whose block starts at the first mailbox uid (a cluster's existing users).
pub const UID_BLOCK: u32 = 10_000_000;

/// A provider as the others see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Provider {
    /// Its host name.
    pub hostname: String,
    /// Its server ID.
    pub server_id: u16,
    /// Its private address, where its slapd listens.
    pub address: Ipv4Addr,
}

impl Provider {
    /// Its slapd's URL, exactly as its `/etc/default/slapd` lists it (`ldap://ADDRESS/`):
    /// replication and chained writes connect there.
    pub fn uri(&self) -> String {
        format!("ldap://{}/", self.address)
    }
}

/// How this node's directory takes part in replication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Replication {
    /// This node's server ID when it is a provider; `None` on a replica.
    pub server_id: Option<u16>,
    /// The providers it replicates from (every provider but itself), by server ID.
    pub peers: Vec<Provider>,
}

impl Replication {
    /// Whether this node's directory is writable.
    pub fn is_provider(&self) -> bool {
        self.server_id.is_some()
    }
}

fn node_server_id(n: &NodeView) -> u16 {
    n.server_id.unwrap_or(1)
}

/// The providers in `view` (removed nodes and nodes without a private address left out), by
/// server ID.
pub fn providers(view: &ClusterView) -> Vec<Provider> {
    let mut out: Vec<Provider> = view
        .nodes
        .values()
        .filter(|n| n.has_role("provider") && n.state != "removed")
        .filter_map(|n| {
            Some(Provider {
                hostname: n.hostname.clone(),
                server_id: node_server_id(n),
                address: n.private?,
            })
        })
        .collect();
    out.sort_by_key(|p| p.server_id);
    out
}

/// How `plan`'s node replicates, from the providers in `view`. With none there (a first
/// install, or a join before the replica has its first entries) it comes from the plan: the
/// first node is provider 1, a node that joined replicates from the provider it joined
/// through.
pub fn replication(plan: &Plan, view: &ClusterView) -> Replication {
    let all = providers(view);
    if all.is_empty() {
        return match &plan.role {
            Role::First { .. } => Replication {
                server_id: Some(1),
                peers: Vec::new(),
            },
            Role::Joined { provider } => Replication {
                server_id: None,
                peers: vec![Provider {
                    hostname: String::new(),
                    server_id: 1,
                    address: *provider,
                }],
            },
        };
    }
    let me = plan.hostname.as_str();
    Replication {
        server_id: all
            .iter()
            .find(|p| p.hostname.eq_ignore_ascii_case(me))
            .map(|p| p.server_id),
        peers: all
            .into_iter()
            .filter(|p| !p.hostname.eq_ignore_ascii_case(me))
            .collect(),
    }
}

/// The server IDs named by `contextCSN` values (`TIME#COUNT#SID#MOD`, the SID three hex
/// digits): every server that ever wrote to the directory. Values that do not parse are left
/// out.
pub fn server_ids_in(context_csns: &[String]) -> Vec<u16> {
    let mut ids: Vec<u16> = context_csns
        .iter()
        .filter_map(|c| u16::from_str_radix(c.split('#').nth(2)?, 16).ok())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The server ID for a node about to become a provider: one more than the highest any node
/// holds (the first node counts as 1) or that `written` names (the server IDs in the suffix's
/// `contextCSN`, [`server_ids_in`]: a provider removed since left its changes in the data), so
/// an ID is never given twice. `None` past 4095.
pub fn next_server_id(view: &ClusterView, written: &[u16]) -> Option<u16> {
    let highest = view
        .nodes
        .values()
        .filter_map(|n| n.server_id.or_else(|| n.has_role("provider").then_some(1)))
        .chain(written.iter().copied())
        .max()
        .unwrap_or(0);
    Some(highest.max(1) + 1).filter(|id| *id <= MAX_SERVER_ID)
}

/// The nodes that are or will be providers: nodes with the role, nodes becoming one
/// ([`BECOMING_PROVIDER`]) and joining nodes with a server ID (a node that stepped down keeps
/// its ID and is not counted). By host name.
pub fn provider_places(view: &ClusterView) -> Vec<&NodeView> {
    view.nodes
        .values()
        .filter(|n| n.state != "removed")
        .filter(|n| {
            n.has_role("provider")
                || n.has_role(BECOMING_PROVIDER)
                || (n.server_id.is_some() && n.state == "joining")
        })
        .collect()
}

/// How many places [`provider_places`] are taken.
pub fn provider_places_taken(view: &ClusterView) -> usize {
    provider_places(view).len()
}

/// What a joining node asks for its directory (`cluster.directory` of its answers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DirectoryChoice {
    /// Become a provider while the cluster has fewer than two (the default).
    #[default]
    Auto,
    /// Stay a replica.
    Replica,
}

impl DirectoryChoice {
    /// The word the answers file and the join request use.
    pub fn as_str(self) -> &'static str {
        match self {
            DirectoryChoice::Auto => "auto",
            DirectoryChoice::Replica => "replica",
        }
    }
}

/// Whether a node joining with `choice` becomes a provider, given the cluster as `view` has
/// it; `Some(server ID)` if it does.
/// it and `written` (the server IDs in the suffix's `contextCSN`); `Some(server ID)` if it
/// does.
pub fn provider_for_join(
    view: &ClusterView,
    choice: DirectoryChoice,
    written: &[u16],
) -> Option<u16> {
    if choice == DirectoryChoice::Replica || provider_places_taken(view) >= WANTED_PROVIDERS {
        return None;
    }
    next_server_id(view, written)
}

/// What `pigeonctl node role NODE provider` is to write: the node's server ID, and whether
/// the node was chosen already (its entry has [`BECOMING_PROVIDER`] and an ID: a run that was
/// interrupted, or is being followed again), in which case nothing is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Promotion {
    /// The server ID the node becomes.
    pub server_id: u16,
    /// The entry has the role and the ID already.
    pub chosen_already: bool,
}

/// Why a node cannot be made a provider, from the directory alone (whether it is in sync and
/// a key holder answers is asked of the nodes, `pigeonctl`'s part).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromotionRefusal {
    /// No such node in `ou=nodes`.
    #[error("no node {0} in the cluster (`pigeonctl node list` shows them)")]
    UnknownNode(String),
    /// It is a provider already.
    #[error("{0} is a provider already: nothing to do")]
    AlreadyProvider(String),
    /// It is joining, draining, drained or removed.
    #[error(
        "{host} is {state}, not active: only an active node becomes a provider \
         (`pigeonctl node undrain {host}` brings a drained one back)"
    )]
    NotActive {
        /// The node.
        host: String,
        /// Its state.
        state: String,
    },
    /// Two places are taken.
    #[error(
        "the cluster has {WANTED_PROVIDERS} providers already ({}): hand one back first with \
         `pigeonctl node role NODE replica`, then make {host} a provider",
        .current.join(", ")
    )]
    TwoProviders {
        /// The node asked for.
        host: String,
        /// The nodes holding the places, each with what it is (`mx1 (provider)`).
        current: Vec<String>,
    },
    /// Every server ID slapd accepts was given.
    #[error("no server ID is left for {0}: every one up to {MAX_SERVER_ID} was given")]
    NoServerId(String),
}

/// Whether `host` can become a provider, from the cluster as `view` has it and `written` (the
/// server IDs in the suffix's `contextCSN`): at most [`WANTED_PROVIDERS`] providers, counting
/// those becoming one; the node active; a server ID never given before.
pub fn promotion(
    view: &ClusterView,
    host: &str,
    written: &[u16],
) -> Result<Promotion, PromotionRefusal> {
    let Some(node) = view
        .nodes
        .values()
        .find(|n| n.hostname.eq_ignore_ascii_case(host) && n.state != "removed")
    else {
        return Err(PromotionRefusal::UnknownNode(host.to_owned()));
    };
    if node.has_role("provider") {
        return Err(PromotionRefusal::AlreadyProvider(node.hostname.clone()));
    }
    if node.state != "active" {
        return Err(PromotionRefusal::NotActive {
            host: node.hostname.clone(),
            state: node.state.clone(),
        });
    }
    if let (true, Some(server_id)) = (node.has_role(BECOMING_PROVIDER), node.server_id) {
        return Ok(Promotion {
            server_id,
            chosen_already: true,
        });
    }
    let others: Vec<&NodeView> = provider_places(view)
        .into_iter()
        .filter(|n| n.hostname != node.hostname)
        .collect();
    if others.len() >= WANTED_PROVIDERS {
        return Err(PromotionRefusal::TwoProviders {
            host: node.hostname.clone(),
            current: others
                .iter()
                .map(|n| {
                    let what = if n.has_role("provider") {
                        "provider"
                    } else {
                        "becoming one"
                    };
                    format!("{} ({what})", n.hostname)
                })
                .collect(),
        });
    }
    match next_server_id(view, written) {
        Some(server_id) => Ok(Promotion {
            server_id,
            chosen_already: false,
        }),
        None => Err(PromotionRefusal::NoServerId(node.hostname.clone())),
    }
}

/// The uids provider `server_id` allocates.
pub fn uid_block(server_id: u16) -> Range<u32> {
    let id = u32::from(server_id);
    let start = if id <= 1 {
        FIRST_MAIL_UID
    } else {
        id.saturating_mul(UID_BLOCK)
    };
    start..(id + 1).saturating_mul(UID_BLOCK)
}

/// The entry holding provider `server_id`'s next uid (`pigeonairNextUid`): provider 1 keeps
/// the counter every cluster has (`cn=counters`), the others one below it. Each provider's
/// slapd lets nobody but local root change another provider's counter, so a compare-and-swap
/// on a counter only ever succeeds at its own provider and two providers never hand out the
/// same uid.
pub fn counter_dn(server_id: u16) -> String {
    if server_id <= 1 {
        COUNTERS_DN.to_owned()
    } else {
        format!("cn=server-{server_id},{COUNTERS_DN}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(i: u8, roles: &[&str], server_id: Option<u16>) -> NodeView {
        NodeView {
            hostname: format!("mx{i}.example.com"),
            private: Some(format!("10.42.0.1{i}").parse().unwrap()),
            public: None,
            state: "active".into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            server_id,
        }
    }

    fn plan(i: u8) -> Plan {
        let mut p = crate::parse_answers(include_str!("../examples/single-box.toml")).unwrap();
        p.hostname = crate::types::Fqdn::try_new(&format!("mx{i}.example.com")).unwrap();
        p
    }

    #[test]
    fn a_cluster_of_old_has_provider_1_and_the_second_provider_gets_2() {
        let old = ClusterView::new([node(1, &["provider", "ca"], None), node(2, &[], None)]);
        assert_eq!(next_server_id(&old, &[]), Some(2));
        assert_eq!(provider_for_join(&old, DirectoryChoice::Auto, &[]), Some(2));
        assert_eq!(provider_for_join(&old, DirectoryChoice::Replica, &[]), None);
        let r = replication(&plan(2), &old);
        assert_eq!(r.server_id, None);
        assert_eq!(r.peers.len(), 1);
        assert_eq!(r.peers[0].server_id, 1);
        assert_eq!(r.peers[0].uri(), "ldap://10.42.0.11/");
    }

    #[test]
    fn a_place_reserved_counts_and_ids_are_never_reused() {
        // mx2 is becoming a provider (ID reserved, no role yet): the third node stays a replica.
        let mut becoming = node(2, &[], Some(2));
        becoming.state = "joining".into();
        let view = ClusterView::new([
            node(1, &["provider", "ca"], Some(1)),
            becoming,
            node(3, &[], None),
        ]);
        assert_eq!(provider_for_join(&view, DirectoryChoice::Auto, &[]), None);
        // mx1 stepped down (its ID stays on its entry): the next provider is 3, not 1 or 2.
        let view = ClusterView::new([
            node(1, &[], Some(1)),
            node(2, &["provider", "ca"], Some(2)),
            node(3, &[], None),
        ]);
        assert_eq!(next_server_id(&view, &[]), Some(3));
        // One provider left: the next node to join becomes the second.
        assert_eq!(
            provider_for_join(&view, DirectoryChoice::Auto, &[]),
            Some(3)
        );
    }

    #[test]
    fn providers_replicate_from_each_other_and_replicas_from_both() {
        let view = ClusterView::new([
            node(1, &["provider", "ca"], Some(1)),
            node(2, &["provider", "ca"], Some(2)),
            node(3, &[], None),
        ]);
        let one = replication(&plan(1), &view);
        assert_eq!(one.server_id, Some(1));
        assert_eq!(
            one.peers.iter().map(|p| p.server_id).collect::<Vec<_>>(),
            [2]
        );
        let two = replication(&plan(2), &view);
        assert_eq!(two.server_id, Some(2));
        assert_eq!(
            two.peers.iter().map(|p| p.server_id).collect::<Vec<_>>(),
            [1]
        );
        let three = replication(&plan(3), &view);
        assert!(!three.is_provider());
        assert_eq!(
            three.peers.iter().map(|p| p.server_id).collect::<Vec<_>>(),
            [1, 2]
        );
    }

    #[test]
    fn with_no_view_the_plan_decides() {
        let empty = ClusterView::default();
        assert_eq!(replication(&plan(1), &empty).server_id, Some(1));
        let mut joined = plan(2);
        joined.role = Role::Joined {
            provider: "10.42.0.12".parse().unwrap(),
        };
        let r = replication(&joined, &empty);
        assert_eq!(r.server_id, None);
        assert_eq!(r.peers[0].uri(), "ldap://10.42.0.12/");
    }

    #[test]
    fn uid_blocks_are_disjoint_and_provider_1_keeps_the_old_counter() {
        assert_eq!(uid_block(1), 10_000..20_000_000);
        assert_eq!(uid_block(2), 20_000_000..30_000_000);
        assert!(uid_block(1).end <= uid_block(2).start);
        assert_eq!(uid_block(428).end, 4_290_000_000);
        assert_eq!(counter_dn(1), "cn=counters,o=pigeonair");
        assert_eq!(counter_dn(2), "cn=server-2,cn=counters,o=pigeonair");
    }

    #[test]
    fn server_ids_come_from_the_context_csns() {
        let csns = [
            "20261201092302.173532Z#000000#000#000000".to_owned(),
            "20261201092302.173532Z#000000#001#000000".to_owned(),
            "20261201092303.000001Z#000004#00a#000000".to_owned(),
            "not a csn".to_owned(),
        ];
        assert_eq!(server_ids_in(&csns), [0, 1, 10]);
    }

    #[test]
    fn the_id_of_a_removed_provider_still_in_the_data_is_not_given_again() {
        // Provider 3 stepped down and was removed (its entry deleted); its changes carry SID 3
        // in the contextCSN. The next provider gets 4, not 3.
        let view = ClusterView::new([
            node(1, &["provider", "ca"], Some(1)),
            node(2, &[], None),
            node(4, &[], None),
        ]);
        assert_eq!(next_server_id(&view, &[]), Some(2));
        assert_eq!(next_server_id(&view, &[0, 1, 3]), Some(4));
        assert_eq!(
            provider_for_join(&view, DirectoryChoice::Auto, &[1, 3]),
            Some(4)
        );
        assert_eq!(next_server_id(&view, &[MAX_SERVER_ID]), None);
    }

    #[test]
    fn a_replica_becomes_the_second_provider_with_a_fresh_id() {
        // mx2 stepped down (keeps ID 2): mx3 becomes provider 3.
        let view = ClusterView::new([
            node(1, &["provider", "ca"], Some(1)),
            node(2, &[], Some(2)),
            node(3, &[], None),
        ]);
        assert_eq!(
            promotion(&view, "mx3.example.com", &[1, 2]),
            Ok(Promotion {
                server_id: 3,
                chosen_already: false
            })
        );
        // mx2 itself back: a fresh ID too, never its old one.
        assert_eq!(
            promotion(&view, "MX2.example.com", &[1, 2]).map(|p| p.server_id),
            Ok(3)
        );
        // Chosen already (the command run again): the same ID, nothing to write.
        let view = ClusterView::new([
            node(1, &["provider", "ca"], Some(1)),
            node(3, &[BECOMING_PROVIDER], Some(3)),
        ]);
        assert_eq!(
            promotion(&view, "mx3.example.com", &[1]),
            Ok(Promotion {
                server_id: 3,
                chosen_already: true
            })
        );
    }

    #[test]
    fn a_third_provider_is_refused_naming_the_two() {
        let view = ClusterView::new([
            node(1, &["provider", "ca"], Some(1)),
            node(2, &["provider", "ca"], Some(2)),
            node(3, &[], None),
        ]);
        let e = promotion(&view, "mx3.example.com", &[1, 2]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the cluster has 2 providers already (mx1.example.com (provider), mx2.example.com \
             (provider)): hand one back first with `pigeonctl node role NODE replica`, then make \
             mx3.example.com a provider"
        );
        // A node becoming one holds a place too.
        let view = ClusterView::new([
            node(1, &["provider", "ca"], Some(1)),
            node(2, &[BECOMING_PROVIDER], Some(2)),
            node(3, &[], None),
        ]);
        assert!(matches!(
            promotion(&view, "mx3.example.com", &[1]),
            Err(PromotionRefusal::TwoProviders { current, .. })
                if current == ["mx1.example.com (provider)", "mx2.example.com (becoming one)"]
        ));
        assert_eq!(provider_for_join(&view, DirectoryChoice::Auto, &[1]), None);
    }

    #[test]
    fn promotion_refusals_name_the_node() {
        let mut draining = node(3, &[], None);
        draining.state = "draining".into();
        let view = ClusterView::new([node(1, &["provider", "ca"], Some(1)), draining]);
        assert_eq!(
            promotion(&view, "mx1.example.com", &[1]),
            Err(PromotionRefusal::AlreadyProvider("mx1.example.com".into()))
        );
        assert_eq!(
            promotion(&view, "mx9.example.com", &[1]),
            Err(PromotionRefusal::UnknownNode("mx9.example.com".into()))
        );
        let e = promotion(&view, "mx3.example.com", &[1]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("mx3.example.com is draining, not active"),
            "{e}"
        );
    }
}
