//! The member's side of a join: check the request and the token against the directory, claim
//! the token, register the node as `joining`, sign its certificate, answer with what it needs.
//!
//! Every refusal is decided before anything is written. The token is claimed with one LDAP
//! modify that removes its value `unused`, so two nodes racing with one token cannot both win.
//! A join re-run by the node that claimed the token (an install killed half-way and run again)
//! is answered again: same node entry, a fresh certificate for its new request.
//!
//! In a DNS-balanced cluster the first nodes to join get role `dns` (they run the cluster's
//! DNS servers, two in all: `ClusterView::dns_role_on_join`) in the same add that registers
//! them.

use std::net::IpAddr;
use std::time::Duration;

use openssl::pkey::PKey;
use openssl::x509::X509;
use pigeonair_appliance::cluster::{ClusterView, DNS_ROLE, NodeView};
use pigeonair_appliance::directory::{BASE_DN, LDAPI_URL, NODES_DN, node_dn, token_dn};
use pigeonair_appliance::providers::{DirectoryChoice, provider_for_join, server_ids_in};
use pigeonair_appliance::render::{CLUSTER_CA_CERT, CLUSTER_CA_KEY, Secrets};
use pigeonair_directory::{
    Connection, Credentials, DirectoryError, Mod, ResultCode, Scope, SearchEntry, dn_escape,
    value_set,
};
use pigeonair_join::messages::{Member, Secret, parse_cidr};
use pigeonair_join::time::from_generalized;
use pigeonair_join::token::{decode_secret, secret_hash};
use pigeonair_join::{
    ClusterSettings, JoinRequest, JoinResponse, ProviderGrant, Refusal, RefusalKind, csr,
};

/// Where the installer keeps the cluster's secrets and the answers it installed.
pub const SECRETS_FILE: &str = "/etc/pigeonair/secrets.toml";
/// The answers this node was installed with.
pub const SAVED_ANSWERS: &str = "/etc/pigeonair/answers.toml";

fn internal(what: impl std::fmt::Display) -> Refusal {
    log::error!("join: {what}");
    Refusal::new(
        RefusalKind::Internal,
        format!("the member could not complete the join: {what}"),
    )
}

fn ldap(what: &str) -> impl FnOnce(DirectoryError) -> Refusal + '_ {
    move |e| internal(format!("directory: {what}: {e}"))
}

fn first(e: &SearchEntry, attr: &str) -> String {
    pigeonair_directory::first(e, attr)
        .unwrap_or_default()
        .to_owned()
}

/// Constant-time comparison of two hex digests (no early exit on the first difference).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// This node's view of the cluster it serves joins for.
pub struct LocalCluster {
    name: String,
    balancer: (String, Option<pigeonair_appliance::answers::RawBalancer>),
    domain: String,
    private_network: String,
    provider_uri: String,
    secrets: Secrets,
}

impl LocalCluster {
    /// Reads the installed answers and the cluster's secrets.
    pub fn load() -> Result<Self, String> {
        let answers =
            std::fs::read_to_string(SAVED_ANSWERS).map_err(|e| format!("{SAVED_ANSWERS}: {e}"))?;
        let plan = pigeonair_appliance::parse_answers(&answers)
            .map_err(|e| format!("{SAVED_ANSWERS}: {e}"))?;
        let secrets =
            std::fs::read_to_string(SECRETS_FILE).map_err(|e| format!("{SECRETS_FILE}: {e}"))?;
        let secrets: Secrets =
            toml::from_str(&secrets).map_err(|e| format!("{SECRETS_FILE}: {e}"))?;
        Ok(LocalCluster {
            name: plan.cluster.to_string(),
            balancer: pigeonair_appliance::answers::raw_balancer(&plan.balancer),
            domain: plan.domain.to_string(),
            private_network: plan.private.address.network_cidr(),
            provider_uri: format!("ldap://{}/", plan.private.address.addr()),
            secrets,
        })
    }

    /// The cluster's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// How long a join waits for this node's slapd (restarting, say) before it gives up.
const DIRECTORY_PATIENCE: Duration = Duration::from_secs(30);

fn connect() -> Result<Connection, Refusal> {
    let started = std::time::Instant::now();
    loop {
        let attempt =
            Connection::open(LDAPI_URL, Some(Duration::from_secs(5))).and_then(|mut c| {
                c.bind(&Credentials::LocalRoot)?;
                Ok(c)
            });
        match attempt {
            Ok(conn) => return Ok(conn),
            // A directory that is restarting delays the join rather than failing it.
            Err(e) if started.elapsed() < DIRECTORY_PATIENCE => {
                log::debug!("join: the directory is not answering ({e}); trying again");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => return Err(ldap("connect")(e)),
        }
    }
}

fn search(
    conn: &mut Connection,
    base: &str,
    scope: Scope,
    filter: &str,
    attrs: Vec<&str>,
) -> Result<Vec<SearchEntry>, Refusal> {
    conn.search(base, scope, filter, &attrs)
        .map_err(ldap("search"))
}

/// Handles one join request at `now` (unix seconds).
pub fn handle(member: &LocalCluster, req: &JoinRequest, now: u64) -> Result<JoinResponse, Refusal> {
    req.check()?;
    let private_ip = req.private_ip().expect("checked");
    let public_ip = parse_cidr(&req.public_address).expect("checked").0;
    let mut conn = connect()?;
    let id = &req.token_id;
    let tdn = token_dn(&dn_escape(id));
    let token = search(
        &mut conn,
        &tdn,
        Scope::Base,
        "(objectClass=pigeonairJoinToken)",
        vec![
            "pigeonairTokenHash",
            "pigeonairTokenState",
            "pigeonairTokenExpires",
            "pigeonairTokenUsedBy",
        ],
    )?
    .pop()
    .ok_or_else(|| {
        Refusal::new(
            RefusalKind::TokenUnknown,
            format!(
                "token {id} is not known to this cluster: make one with `pigeonctl node token` on a member"
            ),
        )
    })?;
    let secret = decode_secret(&req.secret.0).expect("checked");
    if !same(&secret_hash(&secret), &first(&token, "pigeonairTokenHash")) {
        return Err(Refusal::new(
            RefusalKind::TokenSecret,
            format!("the secret of token {id} does not match: copy the whole token"),
        ));
    }
    let expires = first(&token, "pigeonairTokenExpires");
    let state = first(&token, "pigeonairTokenState");
    let used_by = first(&token, "pigeonairTokenUsedBy");
    let rerun = state == "used" && used_by.eq_ignore_ascii_case(&req.hostname);
    match state.as_str() {
        "revoked" => {
            return Err(Refusal::new(
                RefusalKind::TokenRevoked,
                format!("token {id} was revoked: make a new one with `pigeonctl node token`"),
            ));
        }
        "used" if !rerun => {
            return Err(Refusal::new(
                RefusalKind::TokenUsed,
                format!(
                    "token {id} was used already (by {used_by}): make a new one with `pigeonctl node token`"
                ),
            ));
        }
        _ => {}
    }
    if from_generalized(&expires).is_none_or(|t| t <= now) {
        return Err(Refusal::new(
            RefusalKind::TokenExpired,
            format!(
                "token {id} expired at {expires} (UTC): make a new one with `pigeonctl node token`"
            ),
        ));
    }
    // The joining node's names must be its own: no member may have them already (except the
    // entry this very join made before, on a re-run).
    let nodes = search(
        &mut conn,
        NODES_DN,
        Scope::OneLevel,
        "(objectClass=pigeonairNode)",
        pigeonair_appliance::cluster::NODE_ATTRS.to_vec(),
    )?;
    // The second node to join becomes a provider (unless its answers say `replica`): its
    // server ID is reserved on its entry now, so a node joining at the same time finds the
    // place taken; it takes the role once its replica is in sync. A re-run keeps the ID the
    // first run reserved.
    let view = ClusterView::new(
        nodes
            .iter()
            .filter(|n| !first(n, "cn").eq_ignore_ascii_case(&req.hostname))
            .filter_map(|e| NodeView::from_attrs(&e.attrs)),
    );
    let reserved: Option<u16> = nodes
        .iter()
        .find(|n| first(n, "cn").eq_ignore_ascii_case(&req.hostname) && rerun)
        .and_then(|n| first(n, "pigeonairServerId").parse().ok());
    let choice = if req.directory == "replica" {
        DirectoryChoice::Replica
    } else {
        DirectoryChoice::Auto
    };
    // Server IDs that wrote to the directory (also of providers removed since) are never
    // given again.
    let written = server_ids_in(
        search(
            &mut conn,
            BASE_DN,
            Scope::Base,
            "(objectClass=*)",
            vec!["contextCSN"],
        )?
        .first()
        .map(|e| pigeonair_directory::values(e, "contextCSN"))
        .unwrap_or_default(),
    );
    let server_id = reserved.or_else(|| provider_for_join(&view, choice, &written));
    let ip_of = |e: &SearchEntry, attr: &str| parse_cidr(&first(e, attr)).map(|(ip, _)| ip);
    let mut mine = false;
    for n in &nodes {
        let name = first(n, "cn");
        let same_name = name.eq_ignore_ascii_case(&req.hostname);
        if same_name && rerun {
            mine = true;
            continue;
        }
        if same_name {
            return Err(Refusal::new(
                RefusalKind::HostnameTaken,
                format!("a member is called {name} already: give the new node another hostname"),
            ));
        }
        let taken: Option<IpAddr> = [
            ip_of(n, "pigeonairPrivateAddress"),
            ip_of(n, "pigeonairPublicAddress"),
        ]
        .into_iter()
        .flatten()
        .find(|ip| *ip == private_ip || *ip == public_ip);
        if let Some(ip) = taken {
            return Err(Refusal::new(
                RefusalKind::AddressTaken,
                format!("member {name} has the address {ip} already: give the new node its own"),
            ));
        }
    }
    // Everything after this point writes; everything before it only read.
    let ca_pem =
        std::fs::read(CLUSTER_CA_CERT).map_err(|e| internal(format!("{CLUSTER_CA_CERT}: {e}")))?;
    let ca_key_pem = std::fs::read(CLUSTER_CA_KEY).map_err(|e| {
        internal(format!(
            "{CLUSTER_CA_KEY}: {e} (join through a node that holds the CA's key)"
        ))
    })?;
    let ca = X509::from_pem(&ca_pem).map_err(|e| internal(format!("{CLUSTER_CA_CERT}: {e}")))?;
    let ca_key = PKey::private_key_from_pem(&ca_key_pem)
        .map_err(|e| internal(format!("{CLUSTER_CA_KEY}: {e}")))?;
    let csr = csr::check_request(req.csr_pem.as_bytes(), &req.hostname)
        .map_err(|e| Refusal::new(RefusalKind::BadRequest, format!("csr_pem: {e}")))?;
    if !rerun {
        // The value `unused` goes in the same modify that writes the node's name: a second
        // join racing with this token finds it gone (noSuchAttribute) and is refused.
        let claim = vec![
            Mod::Delete("pigeonairTokenState".to_owned(), value_set(&["unused"])),
            Mod::Add("pigeonairTokenState".to_owned(), value_set(&["used"])),
            Mod::Replace(
                "pigeonairTokenUsedBy".to_owned(),
                value_set(&[req.hostname.as_str()]),
            ),
        ];
        match conn.modify(&tdn, claim) {
            Ok(()) => {}
            Err(e) if e.is(ResultCode::NoSuchAttribute) => {
                return Err(Refusal::new(
                    RefusalKind::TokenUsed,
                    format!("token {id} was used by another node a moment ago: make a new one"),
                ));
            }
            Err(e) => return Err(ldap("claim the token")(e)),
        }
        log::info!("join: token {id} claimed by {}", req.hostname);
    }
    if !mine {
        let dn = node_dn(&dn_escape(&req.hostname));
        let mut attrs = vec![
            ("objectClass".to_owned(), value_set(&["pigeonairNode"])),
            ("cn".to_owned(), value_set(&[req.hostname.as_str()])),
            (
                "pigeonairPrivateAddress".to_owned(),
                value_set(&[req.private_address.as_str()]),
            ),
            (
                "pigeonairPublicAddress".to_owned(),
                value_set(&[req.public_address.as_str()]),
            ),
            ("pigeonairNodeState".to_owned(), value_set(&["joining"])),
        ];
        if member.balancer.0 == "dns" {
            let view =
                ClusterView::new(nodes.iter().filter_map(|n| NodeView::from_attrs(&n.attrs)));
            let (members, joiner) = view.dns_role_on_join();
            for m in members {
                // A cluster from before the role: its provider keeps running the DNS server.
                let add = vec![Mod::Add(
                    "pigeonairNodeRole".to_owned(),
                    value_set(&[DNS_ROLE]),
                )];
                match conn.modify(&node_dn(&dn_escape(&m.hostname)), add) {
                    Ok(()) => log::info!("join: {} gets role {DNS_ROLE}", m.hostname),
                    Err(e) if e.is(ResultCode::ValueExists) => {}
                    Err(e) => return Err(ldap("give a member role dns")(e)),
                }
            }
            if joiner {
                attrs.push(("pigeonairNodeRole".to_owned(), value_set(&[DNS_ROLE])));
                log::info!(
                    "join: {} gets role {DNS_ROLE}: it runs one of the cluster's DNS servers",
                    req.hostname
                );
            }
        }
        let id = server_id.map(|id| id.to_string());
        let attrs = attrs
            .into_iter()
            .chain(
                id.as_deref()
                    .map(|id| ("pigeonairServerId".to_owned(), value_set(&[id]))),
            )
            .collect();
        match conn.add(&dn, attrs) {
            Ok(()) => {}
            // Made by a run that died before it answered.
            Err(e) if e.is(ResultCode::AlreadyExists) => {}
            Err(e) => return Err(ldap("register the node")(e)),
        }
        match server_id {
            Some(id) => log::info!(
                "join: {} registered as joining, to become directory provider {id}",
                req.hostname
            ),
            None => log::info!("join: {} registered as joining", req.hostname),
        }
    }
    let signed = csr::sign(&ca, &ca_key, &csr, &req.hostname, private_ip)
        .map_err(|e| internal(format!("sign the node certificate: {e}")))?;
    // Every certificate issued is recorded on the node's entry before it is handed out, so
    // removing the node revokes them all.
    let serial = csr::serial_hex(&signed).map_err(|e| internal(format!("serial: {e}")))?;
    // A directory restarting now delays the join rather than failing it: write again on a new
    // connection (connect waits for slapd).
    let record = vec![Mod::Add(
        "pigeonairCertSerial".to_owned(),
        value_set(&[serial.as_str()]),
    )];
    let dn = node_dn(&dn_escape(&req.hostname));
    let started = std::time::Instant::now();
    loop {
        match conn.modify(&dn, record.clone()) {
            Ok(()) => break,
            Err(e) if e.is(ResultCode::ValueExists) => break,
            Err(e) if e.code().is_none() && started.elapsed() < DIRECTORY_PATIENCE => {
                log::debug!("join: recording the serial: {e}; connecting again");
                std::thread::sleep(Duration::from_millis(200));
                conn = connect()?;
            }
            Err(e) => return Err(ldap("record the certificate's serial")(e)),
        }
    }
    let cert = signed
        .to_pem()
        .map_err(|e| internal(format!("sign the node certificate: {e}")))?;
    let members = nodes
        .iter()
        .filter(|n| !first(n, "cn").eq_ignore_ascii_case(&req.hostname))
        .map(|n| Member {
            hostname: first(n, "cn"),
            private_address: first(n, "pigeonairPrivateAddress"),
            public_address: first(n, "pigeonairPublicAddress"),
            state: first(n, "pigeonairNodeState"),
        })
        .collect();
    let _ = conn.unbind();
    let provider = server_id.map(|server_id| ProviderGrant {
        server_id,
        ca_key_pem: Secret(String::from_utf8_lossy(&ca_key_pem).into_owned()),
    });
    Ok(JoinResponse {
        provider,
        certificate_pem: String::from_utf8_lossy(&cert).into_owned(),
        ca_pem: String::from_utf8_lossy(&ca_pem).into_owned(),
        crl_pem: std::fs::read_to_string(pigeonair_appliance::render::CLUSTER_CRL).ok(),
        cluster: ClusterSettings {
            name: member.name.clone(),
            balancer: member.balancer.0.clone(),
            balancer_vip: member.balancer.1.as_ref().and_then(|b| b.vip.clone()),
            balancer_forwarding: member
                .balancer
                .1
                .as_ref()
                .and_then(|b| b.forwarding.clone()),
            domain: member.domain.clone(),
            ldap_base: BASE_DN.into(),
            provider_uri: member.provider_uri.clone(),
            private_network: member.private_network.clone(),
            postfix_ldap_password: Secret(member.secrets.postfix_ldap.clone()),
            dovecot_ldap_password: Secret(member.secrets.dovecot_ldap.clone()),
            proxy_secret: Secret(member.secrets.proxy.clone()),
            doveadm_password: Secret(member.secrets.doveadm.clone()),
            members,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_compare_in_full() {
        assert!(same("abcd", "abcd"));
        assert!(!same("abcd", "abce"));
        assert!(!same("abcd", "abc"));
    }
}
