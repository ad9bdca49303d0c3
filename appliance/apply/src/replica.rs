//! A joining node's directory and state: wait for the replica to receive the directory, wait
//! for the node's own services to answer, and mark the node active (written on the local
//! replica, which chains the write to the provider).

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use pigeonair_appliance::cluster::{ClusterView, NODE_ATTRS, NodeView};
use pigeonair_appliance::directory::{LDAPI_URL, NODES_DN};
use pigeonair_directory::{Connection, Credentials, DirectoryError, Mod, Scope, value_set};

/// Something about the replica or the node's state failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    /// The local directory could not be read or written.
    #[error("directory: {0}")]
    Ldap(#[from] DirectoryError),
    /// Something did not happen in time.
    #[error("{0}")]
    Timeout(String),
}

fn connect() -> Result<Connection, ReplicaError> {
    Ok(Connection::connect(LDAPI_URL, &Credentials::LocalRoot)?)
}

fn read(
    conn: &mut Connection,
    dn: &str,
    attrs: &[&str],
) -> Result<Option<pigeonair_directory::SearchEntry>, ReplicaError> {
    Ok(conn
        .search(dn, Scope::Base, "(objectClass=*)", attrs)?
        .pop())
}

/// Waits until `dn` is in the local replica. `None` if it was there at once.
pub fn wait_for_entry(dn: &str, limit: Duration) -> Result<Option<Duration>, ReplicaError> {
    let started = Instant::now();
    let mut conn = connect()?;
    let mut first = true;
    loop {
        if read(&mut conn, dn, &["1.1"])?.is_some() {
            return Ok((!first).then(|| started.elapsed()));
        }
        first = false;
        if started.elapsed() > limit {
            return Err(ReplicaError::Timeout(format!(
                "the directory did not reach this node's replica within {} s ({dn} is not here): \
                 check `journalctl -u slapd` here and on the provider (TLS, the private network)",
                limit.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The node's `pigeonairNodeState`, as the local replica has it.
pub fn node_state(dn: &str) -> Result<Option<String>, ReplicaError> {
    let mut conn = connect()?;
    Ok(read(&mut conn, dn, &["pigeonairNodeState"])?.and_then(|e| {
        e.attrs
            .get("pigeonairNodeState")
            .and_then(|v| v.first().cloned())
    }))
}

/// Whether the service on `port` of this node greets with `greeting`.
fn greets(port: u16, greeting: &str) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).is_ok() && line.starts_with(greeting)
}

/// Waits until SMTP (25), IMAP (143) and POP3 (110) greet on this node.
pub fn wait_for_services(
    _private: std::net::Ipv4Addr,
    limit: Duration,
) -> Result<Duration, ReplicaError> {
    let started = Instant::now();
    let services = [(25, "220 "), (143, "* OK"), (110, "+OK")];
    loop {
        let silent: Vec<u16> = services
            .iter()
            .filter(|(port, greeting)| !greets(*port, greeting))
            .map(|(port, _)| *port)
            .collect();
        if silent.is_empty() {
            return Ok(started.elapsed());
        }
        if started.elapsed() > limit {
            return Err(ReplicaError::Timeout(format!(
                "ports {silent:?} of this node did not answer within {} s: the node stays joining (see `systemctl status postfix dovecot`)",
                limit.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Sets the node's state (on a replica the write goes on to the provider), then waits until the
/// replica shows it.
pub fn set_state(dn: &str, state: &str) -> Result<(), ReplicaError> {
    // The write goes on to the provider: while it restarts the write fails, and is tried
    // again for a while rather than leaving the node joining.
    let started = Instant::now();
    loop {
        let attempt = connect().and_then(|mut conn| {
            Ok(conn.modify(
                dn,
                vec![Mod::Replace(
                    "pigeonairNodeState".to_owned(),
                    value_set(&[state]),
                )],
            )?)
        });
        match attempt {
            Ok(()) => break,
            Err(e) if started.elapsed() < Duration::from_secs(60) => {
                log::debug!("set {dn} {state}: {e}; trying again");
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => return Err(e),
        }
    }
    let started = Instant::now();
    while node_state(dn)?.as_deref() != Some(state) {
        if started.elapsed() > Duration::from_secs(30) {
            return Err(ReplicaError::Timeout(format!(
                "{dn} was set {state} on the provider but the replica does not show it after 30 s"
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Waits (at most `limit`) until every other directory provider that answers has every change
/// this node's directory has: the install's own writes (the node's state and roles), made
/// here or chained to one provider, are then seen wherever pigeonctl reads. A provider that
/// does not answer (down) is not waited for; one that answers and stays behind is an error.
/// Returns the providers that were checked.
pub fn wait_for_providers(me: &str, limit: Duration) -> Result<Vec<String>, ReplicaError> {
    use pigeonair_appliance::render::{CLUSTER_CA_CERT, CLUSTER_CERT, CLUSTER_KEY};
    let view = cluster_view()?;
    let mut local = connect()?;
    let here = local.stamp();
    let tls = pigeonair_directory::ClusterTls::read(CLUSTER_CA_CERT, CLUSTER_CERT, CLUSTER_KEY)
        .map_err(|e| ReplicaError::Timeout(format!("the cluster certificate: {e}")))?;
    let started = Instant::now();
    let mut checked = Vec::new();
    for p in pigeonair_appliance::providers::providers(&view) {
        if p.hostname.eq_ignore_ascii_case(me) {
            continue;
        }
        let connect = || Connection::to_provider(&p.uri(), &tls, Duration::from_secs(2));
        let Ok(mut there) = connect() else {
            log::info!("provider {} does not answer: not waited for", p.hostname);
            continue;
        };
        loop {
            let stamp = there.stamp();
            if pigeonair_directory::stamps_cover(&stamp, &here) {
                break;
            }
            // No stamp: the connection broke (its slapd restarting to follow this node, as
            // the other provider's does when a second provider joins); connect again.
            if stamp.is_empty()
                && let Ok(again) = connect()
            {
                there = again;
            }
            if started.elapsed() > limit {
                return Err(ReplicaError::Timeout(format!(
                    "provider {} answers but has not received this node's changes after {} s: \
                     check `journalctl -u slapd` on it and here (replication between providers)",
                    p.hostname,
                    limit.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        checked.push(p.hostname);
    }
    Ok(checked)
}

/// The cluster as this node's directory has it; empty when slapd is not running here yet (a
/// first install, or a join before its replica exists).
pub fn cluster_view() -> Result<ClusterView, ReplicaError> {
    if !std::path::Path::new(crate::slapd::LDAPI_SOCKET).exists() {
        return Ok(ClusterView::default());
    }
    // A socket left behind by a stopped slapd gives an empty view; a slapd that is running
    // but (re)starting is waited for: a view without the peers would drop them from
    // /etc/hosts.
    let started = Instant::now();
    let mut conn = loop {
        match connect() {
            Ok(c) => break c,
            Err(_) if !crate::units::is_active("slapd") => return Ok(ClusterView::default()),
            Err(e) if started.elapsed() > Duration::from_secs(30) => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    let entries = conn.search(
        NODES_DN,
        Scope::OneLevel,
        "(objectClass=pigeonairNode)",
        &NODE_ATTRS,
    )?;
    Ok(ClusterView::new(
        entries
            .iter()
            .filter_map(|e| NodeView::from_attrs(&e.attrs)),
    ))
}

/// On a node chosen to become a directory provider (its entry has a server ID reserved, not
/// yet the role `provider`): once its replica is in sync, it takes the roles `provider` and
/// `ca` (a write chained to a provider). Every node's pigeonaird then renders slapd from the
/// new view (this node a provider with that server ID, the other provider replicating from
/// it, the replicas consuming both) and rebuilds slapd's configuration; this waits until this
/// node's has been (slapd's LDIF on disk the one `plan` and the view render, slapd answering).
/// Its server ID when it took the role now; `None` when the node is not becoming a provider
/// or was one already.
pub fn take_provider_role(
    plan: &pigeonair_appliance::plan::Plan,
    dn: &str,
    limit: Duration,
) -> Result<Option<u16>, ReplicaError> {
    let mut conn = connect()?;
    let Some(entry) = read(&mut conn, dn, &NODE_ATTRS)? else {
        return Ok(None);
    };
    let Some(me) = NodeView::from_attrs(&entry.attrs) else {
        return Ok(None);
    };
    let Some(id) = me.server_id else {
        return Ok(None);
    };
    let took = !me.has_role("provider");
    if took {
        if !std::path::Path::new(pigeonair_appliance::render::CLUSTER_CA_KEY).exists() {
            return Err(ReplicaError::Timeout(format!(
                "{dn} is to become directory provider {id} but this node has no cluster CA key \
                 ({}): run the join again, or `pigeonctl node role {} replica` on a member",
                pigeonair_appliance::render::CLUSTER_CA_KEY,
                me.hostname
            )));
        }
        let mut roles: Vec<String> = me.roles.clone();
        for r in ["provider", "ca"] {
            if !me.has_role(r) {
                roles.push(r.to_owned());
            }
        }
        let roles: Vec<&str> = roles.iter().map(String::as_str).collect();
        let started = Instant::now();
        loop {
            let attempt = connect().and_then(|mut c| {
                Ok(c.modify(
                    dn,
                    vec![Mod::Replace(
                        "pigeonairNodeRole".to_owned(),
                        value_set(&roles),
                    )],
                )?)
            });
            match attempt {
                Ok(()) => break,
                Err(e) if started.elapsed() < limit => {
                    log::debug!("take the provider role: {e}; trying again");
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => return Err(e),
            }
        }
        log::info!("{dn} took the roles provider (server ID {id}) and ca");
    }
    wait_for_slapd_config(plan, Some(id), limit)?;
    Ok(took.then_some(id))
}

/// Waits until slapd's configuration on disk is the one `plan` and the cluster view render
/// (pigeonaird rebuilds it when they differ: on a node that joined, the install renders from
/// the plan's one provider before its replica has the view, and the view then names every
/// provider), nothing is left pending and slapd answers; with `provider`, until this node is
/// that provider.
pub fn wait_for_slapd_config(
    plan: &pigeonair_appliance::plan::Plan,
    provider: Option<u16>,
    limit: Duration,
) -> Result<(), ReplicaError> {
    let started = Instant::now();
    loop {
        let on_disk = std::fs::read_to_string(pigeonair_appliance::render::slapd::SLAPD_LDIF)
            .unwrap_or_default();
        let done = cluster_view().is_ok_and(|view| {
            crate::slapd::config_in_step(plan, &view, &on_disk)
                && provider.is_none_or(|id| on_disk.contains(&format!("olcServerID: {id}\n")))
        }) && !crate::pending_slapd()
            && connect().is_ok();
        if done {
            return Ok(());
        }
        if started.elapsed() > limit {
            return Err(ReplicaError::Timeout(format!(
                "slapd's configuration was not brought in line with the directory's providers \
                 within {} s: see `journalctl -u pigeonaird -u slapd`",
                limit.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
