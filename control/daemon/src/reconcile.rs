//! Files this node derives from the cluster view (`ou=nodes`), kept in step by pigeonaird
//! whenever the directory changes: /etc/hosts (peers by their private addresses, which is how
//! `mailHost` names resolve) and, on the node running a DNS balancer, its balancer.toml (the
//! active nodes). The content comes from the same renderer the installer uses,
//! so an install run afterwards finds nothing to change. And the cluster CA's revocation list,
//! with slapd checking it ([`crate::revocation::apply_crl`]).

use std::time::Duration;

use pigeonair_appliance::cluster::{ClusterView, NODE_ATTRS, NodeView};
use pigeonair_appliance::directory::{LDAPI_URL, NODES_DN};
use pigeonair_appliance::render::RenderedFile;
use pigeonair_appliance::render::network::hosts;
use pigeonair_directory::{Connection, Credentials, Scope};

use crate::join::SAVED_ANSWERS;

/// This node's directory over ldapi, bound as root (SASL EXTERNAL).
pub fn local_directory() -> Result<Connection, String> {
    let mut conn =
        Connection::open(LDAPI_URL, Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    conn.bind(&Credentials::LocalRoot)
        .map_err(|e| e.to_string())?;
    Ok(conn)
}

/// This node's own entry in `ou=nodes` with `attrs`, if it has one.
pub fn own_entry(
    conn: &mut Connection,
    me: &str,
    attrs: &[&str],
) -> Result<Option<pigeonair_directory::SearchEntry>, String> {
    Ok(conn
        .search(
            &pigeonair_appliance::directory::node_dn(me),
            Scope::Base,
            "(objectClass=pigeonairNode)",
            attrs,
        )
        .map_err(|e| e.to_string())?
        .pop())
}

/// Reads the cluster view from the node's directory.
pub fn cluster_view() -> Result<ClusterView, String> {
    let mut conn = local_directory()?;
    let entries = conn
        .search(
            NODES_DN,
            Scope::OneLevel,
            "(objectClass=pigeonairNode)",
            &NODE_ATTRS,
        )
        .map_err(|e| e.to_string())?;
    let _ = conn.unbind();
    Ok(ClusterView::new(
        entries
            .iter()
            .filter_map(|e| NodeView::from_attrs(&e.attrs)),
    ))
}

/// The node's directory's `contextCSN` values, sorted.
pub fn context_csn() -> Result<Vec<String>, String> {
    let mut conn = local_directory()?;
    let mut v = conn
        .search(
            pigeonair_appliance::directory::BASE_DN,
            Scope::Base,
            "(objectClass=*)",
            &["contextCSN"],
        )
        .map_err(|e| e.to_string())?
        .pop()
        .and_then(|mut e| e.attrs.remove("contextCSN"))
        .unwrap_or_default();
    let _ = conn.unbind();
    v.sort();
    Ok(v)
}

/// Writes `file` if its contents differ; returns whether it wrote.
fn put(file: &RenderedFile) -> Result<bool, String> {
    if std::fs::read_to_string(&file.path).ok().as_deref() == Some(file.contents.as_str()) {
        return Ok(false);
    }
    let tmp = format!("{}.pigeonaird-new", file.path);
    std::fs::write(&tmp, &file.contents).map_err(|e| format!("{tmp}: {e}"))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(file.mode))
        .map_err(|e| format!("{tmp}: {e}"))?;
    std::fs::rename(&tmp, &file.path).map_err(|e| format!("{}: {e}", file.path))?;
    Ok(true)
}

/// Brings the files derived from the cluster view in step; returns what it wrote.
pub fn reconcile() -> Result<Vec<String>, String> {
    let text =
        std::fs::read_to_string(SAVED_ANSWERS).map_err(|e| format!("{SAVED_ANSWERS}: {e}"))?;
    let plan =
        pigeonair_appliance::parse_answers(&text).map_err(|e| format!("{SAVED_ANSWERS}: {e}"))?;
    let view = cluster_view()?;
    let mut wrote = Vec::new();
    let balancer = pigeonair_appliance::render::balancer::render(&plan, &view);
    for file in std::iter::once(hosts(&plan, &view)).chain(balancer) {
        if put(&file)? {
            wrote.push(file.path.clone());
        }
    }
    wrote.extend(crate::revocation::apply_crl(|| {
        reconcile_slapd(&plan, &view)
    })?);
    if let Some(line) = crate::promotion::step(&plan, &view)? {
        wrote.push(line);
    }
    // A provider that stepped down (`pigeonctl node role NODE replica`) keeps no copy of the
    // CA's key, once another node holds the role `ca`. Not a node still joining: one that
    // becomes the second provider got the key in its join and takes the role at the end of
    // its install (this daemon is running by then). Nor one becoming a provider
    // (`pigeonctl node role NODE provider`): it has just been given the key
    // (crate::promotion).
    let me = view.nodes.get(plan.hostname.as_str());
    let key = pigeonair_appliance::render::CLUSTER_CA_KEY;
    if me.is_some_and(|m| {
        !m.has_role("ca")
            && !m.has_role(pigeonair_appliance::providers::BECOMING_PROVIDER)
            && m.state != "joining"
    }) && view.nodes.values().any(|n| n.has_role("ca"))
        && std::path::Path::new(key).exists()
    {
        std::fs::remove_file(key).map_err(|e| format!("{key}: {e}"))?;
        log::info!("this node no longer holds the role ca: removed its copy of the CA's key {key}");
        wrote.push(format!("{key} (removed)"));
    }
    Ok(wrote)
}

/// How long a rebuild waits for a provider that has not written yet.
const NEW_PROVIDER_PATIENCE: Duration = Duration::from_secs(30);

/// Before slapd restarts to replicate from a provider that has just taken the role (`pigeonctl
/// node role NODE provider`, or the second node's join), waits until that provider has written
/// as one (its uid counter, `crate::promotion::step`), asking its pigeonaird (`GET
/// /v1/status`): the node's own slapd, which may be the cluster's other provider, then stops
/// for its restart only while the new one takes writes. Given up after
/// [`NEW_PROVIDER_PATIENCE`] (the rebuild goes on: a provider that never writes must not hold
/// it up for ever).
fn wait_for_new_providers(plan: &pigeonair_appliance::plan::Plan, view: &ClusterView) {
    let repl = pigeonair_appliance::providers::replication(plan, view);
    let Ok(local) = context_csn() else {
        return;
    };
    let waiting = crate::promotion::not_written_yet(&repl.peers, &local);
    if waiting.is_empty() {
        return;
    }
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    let started = std::time::Instant::now();
    for p in waiting {
        let sid = format!("#{:03x}#", p.server_id);
        let addr = std::net::SocketAddr::new(p.address.into(), pigeonair_join::CONTROL_PORT);
        loop {
            let status =
                runtime.block_on(crate::client::status_within(addr, Duration::from_secs(2)));
            if status.is_ok_and(|s| s.context_csn.iter().any(|c| c.contains(&sid))) {
                log::info!(
                    "{} writes as directory provider {} now: this node's slapd follows ({:.1} s \
                     waited)",
                    p.hostname,
                    p.server_id,
                    started.elapsed().as_secs_f64()
                );
                break;
            }
            if started.elapsed() > NEW_PROVIDER_PATIENCE {
                log::warn!(
                    "{} has not written as directory provider {} within {} s: this node's \
                     slapd follows the new providers anyway",
                    p.hostname,
                    p.server_id,
                    NEW_PROVIDER_PATIENCE.as_secs()
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// slapd's configuration follows the directory's providers (`ou=nodes`: a node taking or
/// leaving the role `provider`): rendered from the plan and the view as the installer does,
/// and rebuilt when it differs (slapd restarts: about a second without the local directory).
/// Never from a view without providers (a directory not replicated yet), which would fall
/// back to the plan's.
fn reconcile_slapd(
    plan: &pigeonair_appliance::plan::Plan,
    view: &ClusterView,
) -> Result<Option<String>, String> {
    let providers = pigeonair_appliance::providers::providers(view);
    if providers.is_empty() {
        return Ok(None);
    }
    let Some(ldif) = pigeonair_apply::slapd::rendered_config(plan, view) else {
        return Ok(None);
    };
    let on_disk =
        std::fs::read_to_string(pigeonair_appliance::render::slapd::SLAPD_LDIF).unwrap_or_default();
    // In step but for the revocation check (which apply_crl sets live): no restart for it.
    if pigeonair_apply::slapd::config_in_step(plan, view, &on_disk)
        && !pigeonair_apply::pending_slapd()
    {
        return Ok(None);
    }
    wait_for_new_providers(plan, view);
    let rebuilt = pigeonair_apply::apply_slapd_config(&ldif)
        .map_err(|e| format!("rebuild slapd's configuration for the directory's providers: {e}"))?;
    if !rebuilt {
        return Ok(None);
    }
    let repl = pigeonair_appliance::providers::replication(plan, view);
    let names: Vec<String> = providers
        .iter()
        .map(|p| format!("{} (server ID {})", p.hostname, p.server_id))
        .collect();
    let part = match repl.server_id {
        Some(id) => format!("this node is provider {id}"),
        None => "this node is a replica of every provider".to_owned(),
    };
    log::info!(
        "directory providers are now {}: {part}; rebuilt slapd's configuration",
        names.join(", ")
    );
    Ok(Some(format!(
        "{} (providers {})",
        pigeonair_appliance::render::slapd::SLAPD_LDIF,
        names.join(", ")
    )))
}
