//! A replica becoming a directory provider (`pigeonctl node role NODE provider`), both sides.
//!
//! pigeonctl reserves the node's server ID on its entry and gives it the role
//! [`BECOMING_PROVIDER`]. The node's own pigeonaird then ([`step`], from the reconcile that
//! follows every directory change):
//! 1. asks a node holding the role `ca` for the cluster CA's key (`POST /v1/ca-key`, mutual TLS
//!    with its cluster certificate: [`may_have_key`] decides on the holder's side), checks it
//!    is the key of the CA's certificate and stores it, root only;
//! 2. takes the roles `provider` and `ca` in place of [`BECOMING_PROVIDER`] (one modify of its
//!    entry, chained to a provider): every node's pigeonaird rebuilds slapd for the new
//!    providers;
//! 3. once its own slapd is that provider, writes its uid counter (`cn=server-N,cn=counters`,
//!    [`needs_counter`]): its first change, with its own server ID in the CSN, which the other
//!    provider's `contextCSN` shows once it replicates from this one. `pigeonctl` waits for that.
//!
//! The key never goes into the directory: it travels only on that TLS connection, to the node
//! whose certificate names an entry the holder's own directory shows becoming a provider, from
//! that entry's private address.

use std::net::IpAddr;
use std::time::Duration;

use openssl::pkey::PKey;
use openssl::x509::X509;
use pigeonair_appliance::cluster::ClusterView;
use pigeonair_appliance::directory::node_dn;
use pigeonair_appliance::plan::Plan;
use pigeonair_appliance::providers::{BECOMING_PROVIDER, counter_dn, server_ids_in, uid_block};
use pigeonair_appliance::render::{CLUSTER_CA_CERT, CLUSTER_CA_KEY};
use pigeonair_directory::{Mod, ResultCode, dn_escape, value_set};
use pigeonair_join::messages::Secret;
use pigeonair_join::{CONTROL_PORT, ProviderGrant};

/// Whether this node (`me`, holding the CA's key) may hand the key to `peer` (the host name
/// its verified cluster certificate names), connecting from `from`, as `view` (this node's
/// directory) has the cluster: `me` holds the role `ca`, and `peer`'s entry is active, has
/// the role [`BECOMING_PROVIDER`], a server ID, and `from` as its private address. The server
/// ID to grant, or why not (for the answer and the journal).
pub fn may_have_key(view: &ClusterView, me: &str, peer: &str, from: IpAddr) -> Result<u16, String> {
    let n = holder_and_peer(view, me, peer)?;
    if !n.has_role(BECOMING_PROVIDER) || n.state != "active" {
        return Err(format!(
            "{peer} is not becoming a provider in this node's directory (state {}, roles {}): \
             `pigeonctl node role {peer} provider` chooses it",
            n.state,
            n.roles.join(",")
        ));
    }
    let Some(id) = n.server_id else {
        return Err(format!("{peer} has no server ID reserved"));
    };
    from_its_private_address(n, from)?;
    Ok(id)
}

/// For a request a peer makes of a node holding the CA's key: `peer`'s entry in `view`, once
/// `me` holds the role `ca`; or why not.
pub(crate) fn holder_and_peer<'a>(
    view: &'a ClusterView,
    me: &str,
    peer: &str,
) -> Result<&'a pigeonair_appliance::cluster::NodeView, String> {
    let find = |host: &str| {
        view.nodes
            .values()
            .find(|n| n.hostname.eq_ignore_ascii_case(host))
    };
    if !find(me).is_some_and(|m| m.has_role("ca")) {
        return Err(format!(
            "{me} does not hold the role ca: ask a node that does (`pigeonctl node list`)"
        ));
    }
    find(peer).ok_or_else(|| format!("{peer} has no entry in ou=nodes here"))
}

/// That a peer connected from the private address its entry `n` has.
pub(crate) fn from_its_private_address(
    n: &pigeonair_appliance::cluster::NodeView,
    from: IpAddr,
) -> Result<(), String> {
    if n.private.map(IpAddr::from) != Some(from) {
        return Err(format!(
            "{} connected from {from}, not from its private address {}",
            n.hostname,
            n.private
                .map(|a| a.to_string())
                .unwrap_or_else(|| "(none)".into())
        ));
    }
    Ok(())
}

/// The holder's side of `POST /v1/ca-key`: the grant for `peer` connecting from `from`, or
/// why not.
pub fn grant(me: &str, peer: &str, from: IpAddr) -> Result<ProviderGrant, String> {
    let view = crate::reconcile::cluster_view()?;
    let server_id = may_have_key(&view, me, peer, from)?;
    let key = std::fs::read_to_string(CLUSTER_CA_KEY)
        .map_err(|e| format!("{CLUSTER_CA_KEY} on {me}: {e}"))?;
    log::info!(
        "gave the cluster CA's key to {peer} ({from}), which becomes directory provider \
         {server_id}"
    );
    Ok(ProviderGrant {
        server_id,
        ca_key_pem: Secret(key),
    })
}

/// Whether a provider with server ID `id` still has to write its uid counter: its ID is in no
/// `contextCSN` value (it has never written anything, so no counter of its can exist; a
/// counter is only ever added through its own provider, whose access rules refuse the others).
pub fn needs_counter(id: u16, context_csns: &[String]) -> bool {
    id > 1 && !server_ids_in(context_csns).contains(&id)
}

/// The providers among `peers` (what this node's slapd is to replicate from) that have not
/// written yet as far as this node's directory knows (no `contextCSN` value of their server
/// ID; provider 1, which may date from before server IDs, aside): a node that has just become
/// a provider. A node about to rebuild slapd for it first waits, for a while, until that
/// provider has written as one ([`step`]'s counter), so the providers a cluster already had
/// restart only once the new one takes writes: there is always one that answers.
pub fn not_written_yet<'a>(
    peers: &'a [pigeonair_appliance::providers::Provider],
    context_csns: &[String],
) -> Vec<&'a pigeonair_appliance::providers::Provider> {
    let written = server_ids_in(context_csns);
    peers
        .iter()
        .filter(|p| p.server_id > 1 && !written.contains(&p.server_id))
        .collect()
}

/// Checks `key_pem` is the private key of the CA whose certificate is `ca_pem`.
fn key_matches(ca_pem: &[u8], key_pem: &[u8]) -> Result<(), String> {
    let ca = X509::from_pem(ca_pem).map_err(|e| format!("{CLUSTER_CA_CERT}: {e}"))?;
    let key = PKey::private_key_from_pem(key_pem).map_err(|e| format!("the key sent: {e}"))?;
    let public = ca.public_key().map_err(|e| e.to_string())?;
    if !public.public_eq(&key) {
        return Err(format!(
            "the key sent is not the one of the CA in {CLUSTER_CA_CERT}"
        ));
    }
    Ok(())
}

fn write_key(pem: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = format!("{CLUSTER_CA_KEY}.pigeonaird-new");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| format!("{tmp}: {e}"))?;
    f.write_all(pem.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("{tmp}: {e}"))?;
    std::fs::rename(&tmp, CLUSTER_CA_KEY).map_err(|e| format!("{CLUSTER_CA_KEY}: {e}"))
}

/// Asks the nodes holding the role `ca` other than `me`, in turn, until one gives what `ask`
/// (a call to the holder's control plane, on a runtime of its own) wants: that holder's name
/// and the answer, or each holder's reason. A holder that does not accept a connection within
/// 0.7 s (powered off) costs that, not the call's whole time limit.
pub(crate) fn from_a_holder<T>(
    view: &ClusterView,
    me: &str,
    ask: impl Fn(&tokio::runtime::Runtime, std::net::SocketAddr) -> Result<T, String>,
) -> Result<(String, T), String> {
    let holders: Vec<_> = view
        .nodes
        .values()
        .filter(|n| n.has_role("ca") && !n.hostname.eq_ignore_ascii_case(me))
        .filter_map(|n| Some((n.hostname.clone(), n.private?)))
        .collect();
    if holders.is_empty() {
        return Err("no other node holds the role ca".into());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("no runtime: {e}"))?;
    let mut why = Vec::new();
    for (host, ip) in holders {
        let addr = std::net::SocketAddr::new(ip.into(), CONTROL_PORT);
        if let Err(e) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(700)) {
            why.push(format!("{host} does not answer ({e})"));
            continue;
        }
        match ask(&runtime, addr) {
            Ok(answer) => return Ok((host, answer)),
            Err(e) => why.push(format!("{host}: {e}")),
        }
    }
    Err(why.join("; "))
}

/// The key from the first node holding the role `ca` that gives it.
fn fetch_key(view: &ClusterView, me: &str, id: u16) -> Result<(), String> {
    let ca_pem = std::fs::read(CLUSTER_CA_CERT).map_err(|e| format!("{CLUSTER_CA_CERT}: {e}"))?;
    let got = from_a_holder(view, me, |runtime, addr| {
        let g = runtime.block_on(crate::client::ca_key(addr))?;
        if g.server_id != id {
            return Err(format!("answered for server ID {}, not {id}", g.server_id));
        }
        key_matches(&ca_pem, g.ca_key_pem.0.as_bytes())?;
        Ok(g)
    });
    match got {
        Ok((host, g)) => {
            write_key(&g.ca_key_pem.0)?;
            log::info!("received the cluster CA's key from {host}: stored in {CLUSTER_CA_KEY}");
            Ok(())
        }
        Err(why) => Err(format!(
            "to become directory provider {id} this node needs the CA's key, and no holder gave \
             it ({why}); retrying"
        )),
    }
}

/// This node's part in becoming a provider, run by every reconcile: key, roles, counter (see
/// the module's documentation). What it did, for the journal, or nothing.
pub fn step(plan: &Plan, view: &ClusterView) -> Result<Option<String>, String> {
    let me = plan.hostname.as_str();
    let Some(node) = view.nodes.get(me) else {
        return Ok(None);
    };
    let Some(id) = node.server_id else {
        return Ok(None);
    };
    if node.has_role(BECOMING_PROVIDER) {
        if node.state != "active" {
            return Ok(None);
        }
        if !std::path::Path::new(CLUSTER_CA_KEY).exists() {
            fetch_key(view, me, id)?;
        }
        let mut roles: Vec<&str> = node
            .roles
            .iter()
            .map(String::as_str)
            .filter(|r| !r.eq_ignore_ascii_case(BECOMING_PROVIDER))
            .collect();
        for r in ["provider", "ca"] {
            if !node.has_role(r) {
                roles.push(r);
            }
        }
        let mut conn = crate::reconcile::local_directory()?;
        conn.modify(
            &node_dn(&dn_escape(me)),
            vec![Mod::Replace(
                "pigeonairNodeRole".to_owned(),
                value_set(&roles),
            )],
        )
        .map_err(|e| format!("take the roles provider and ca: {e}"))?;
        let _ = conn.unbind();
        log::info!("took the roles provider (server ID {id}) and ca");
        return Ok(Some(format!(
            "roles provider (server ID {id}) and ca taken"
        )));
    }
    if !node.has_role("provider") {
        return Ok(None);
    }
    // Only once this node's slapd is that provider (its configuration rebuilt, nothing
    // pending): a write before would be chained to the other provider, with its ID.
    let repl = pigeonair_appliance::providers::replication(plan, view);
    let on_disk =
        std::fs::read_to_string(pigeonair_appliance::render::slapd::SLAPD_LDIF).unwrap_or_default();
    if repl.server_id != Some(id)
        || !on_disk.contains(&format!("olcServerID: {id}\n"))
        || pigeonair_apply::pending_slapd()
    {
        return Ok(None);
    }
    let csns = crate::reconcile::context_csn()?;
    if !needs_counter(id, &csns) {
        return Ok(None);
    }
    let dn = counter_dn(id);
    let start = uid_block(id).start.to_string();
    let mut conn = crate::reconcile::local_directory()?;
    let added = conn.add(
        &dn,
        vec![
            ("objectClass".to_owned(), value_set(&["pigeonairCounter"])),
            (
                "cn".to_owned(),
                value_set(&[format!("server-{id}").as_str()]),
            ),
            ("pigeonairNextUid".to_owned(), value_set(&[start.as_str()])),
        ],
    );
    let _ = conn.unbind();
    match added {
        Ok(()) => {}
        Err(e) if e.is(ResultCode::AlreadyExists) => return Ok(None),
        Err(e) => return Err(format!("add this provider's uid counter {dn}: {e}")),
    }
    log::info!(
        "directory provider {id}: added its uid counter {dn} (uids from {start}), its first \
         change"
    );
    Ok(Some(format!("{dn} (this provider's uid counter)")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pigeonair_appliance::cluster::NodeView;

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

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_key_goes_only_to_a_node_becoming_a_provider_from_its_own_address() {
        let view = ClusterView::new([
            node(1, &["provider", "ca"], Some(1)),
            node(2, &[], Some(2)),
            node(3, &[BECOMING_PROVIDER], Some(3)),
            node(4, &[], None),
        ]);
        assert_eq!(
            may_have_key(
                &view,
                "mx1.example.com",
                "mx3.example.com",
                ip("10.42.0.13")
            ),
            Ok(3)
        );
        // From another address (a stolen certificate used elsewhere).
        let e = may_have_key(
            &view,
            "mx1.example.com",
            "mx3.example.com",
            ip("10.42.0.14"),
        )
        .unwrap_err();
        assert!(e.contains("not from its private address 10.42.0.13"), "{e}");
        // A replica, a node that stepped down (keeps its ID), an unknown name.
        for peer in ["mx4.example.com", "mx2.example.com", "mx9.example.com"] {
            assert!(
                may_have_key(&view, "mx1.example.com", peer, ip("10.42.0.14")).is_err(),
                "{peer}"
            );
        }
        // Asked of a node that does not hold the role ca.
        let e = may_have_key(
            &view,
            "mx4.example.com",
            "mx3.example.com",
            ip("10.42.0.13"),
        )
        .unwrap_err();
        assert!(
            e.starts_with("mx4.example.com does not hold the role ca"),
            "{e}"
        );
        // Becoming one but draining: no.
        let mut draining = node(3, &[BECOMING_PROVIDER], Some(3));
        draining.state = "draining".into();
        let view = ClusterView::new([node(1, &["provider", "ca"], Some(1)), draining]);
        assert!(
            may_have_key(
                &view,
                "mx1.example.com",
                "mx3.example.com",
                ip("10.42.0.13")
            )
            .is_err()
        );
    }

    #[test]
    fn only_a_provider_that_never_wrote_is_waited_for() {
        let p = |id: u16| pigeonair_appliance::providers::Provider {
            hostname: format!("mx{id}.example.com"),
            server_id: id,
            address: format!("10.42.0.1{id}").parse().unwrap(),
        };
        let peers = [p(1), p(2), p(3)];
        let csns = vec![
            "20261201092302.173532Z#000000#000#000000".to_owned(),
            "20261201092302.173532Z#000000#002#000000".to_owned(),
        ];
        let waited: Vec<u16> = not_written_yet(&peers, &csns)
            .iter()
            .map(|p| p.server_id)
            .collect();
        assert_eq!(waited, [3]);
    }

    #[test]
    fn a_new_provider_writes_its_counter_once() {
        let before = vec!["20261201092302.173532Z#000000#001#000000".to_owned()];
        assert!(needs_counter(3, &before));
        let after = vec![
            "20261201092302.173532Z#000000#001#000000".to_owned(),
            "20261201092310.000000Z#000000#003#000000".to_owned(),
        ];
        assert!(!needs_counter(3, &after));
        // Provider 1's counter is cn=counters, made at install.
        assert!(!needs_counter(1, &before));
    }
}
