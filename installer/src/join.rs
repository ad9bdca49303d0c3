//! Joining a cluster: from a joining node's answers (`[cluster] join = TOKEN`, `[node]`,
//! `[network]`) to the plan the install applies.
//!
//! On a node that joined already (its saved answers are a joined node's, for the same host
//! name and networks), the saved plan is used and nothing is asked of the cluster: re-running
//! the join answers changes nothing. Otherwise the node makes its key and a certificate request,
//! sends them with the token to the member the token names (`pigeonair_control::client`, which
//! pins the cluster CA before it sends anything), and keeps what it gets back: its certificate,
//! the CA's, and the cluster's secrets. A join that dies after the member answered is simply
//! run again: the member recognises the node that claimed the token and answers again.

use std::path::Path;
use std::process::Command;

use pigeonair_appliance::answers::{
    Answers, AnswersError, JoinAnswers, RawAnswers, RawBalancer, RawCluster, RawInterface, RawMail,
    RawNetwork, RawNode, RawSsh, parse_raw, validate, validate_join,
};
use pigeonair_appliance::plan::{Plan, Role};
use pigeonair_appliance::render::{
    CLUSTER_CA_CERT, CLUSTER_CA_KEY, CLUSTER_CERT, CLUSTER_KEY, Secrets,
};
use pigeonair_join::{ClusterSettings, JoinRequest, Token, csr, messages::Secret};

use crate::apply::SAVED_ANSWERS;
use crate::apply::files::{self, Root};
use crate::apply::secrets;

/// Why a join did not give a plan.
#[derive(Debug, thiserror::Error)]
pub enum JoinFailure {
    /// The answers cannot be used (exit 2): nothing was sent or written.
    #[error("{0}")]
    Answers(String),
    /// The member refused, or could not be reached or trusted (exit 1): nothing was written
    /// here.
    #[error(transparent)]
    Join(#[from] pigeonair_control::client::JoinError),
    /// The member answered but its answer could not be kept (exit 1).
    #[error("keeping what the member sent: {0}")]
    Keep(String),
}

/// Checks a joining node's answers as a whole: `[node]` and `[network]` by the answers
/// file's validator, and `cluster.join` parsed as a token. Every problem is reported at once,
/// each naming its field (`cluster.join: the join token does not start with "PA1."…`). The
/// unattended install ([`parse`]) and the TUI's join form both check with this.
pub fn check(raw: &RawAnswers) -> Result<(JoinAnswers, Token), AnswersError> {
    let answers = validate_join(raw, &|t| {
        t.parse::<Token>().map(drop).map_err(|e| e.to_string())
    })?;
    let token = answers.token.parse().expect("checked by validate_join");
    Ok((answers, token))
}

/// Parses an answers file of either kind, a joining node's checked with [`check`].
pub fn parse(text: &str) -> Result<Answers, AnswersError> {
    let raw = parse_raw(text)?;
    if raw.cluster.join.is_none() {
        return validate(&raw).map(Answers::Install);
    }
    check(&raw).map(|(answers, _)| Answers::Join(answers))
}

/// The saved plan, if this node joined already with these names and networks.
fn joined_already(j: &JoinAnswers) -> Option<Plan> {
    let text = std::fs::read_to_string(SAVED_ANSWERS).ok()?;
    let plan = pigeonair_appliance::parse_answers(&text).ok()?;
    let same = matches!(plan.role, Role::Joined { .. })
        && plan.hostname == j.hostname
        && plan.public == j.public
        && plan.private == j.private
        && plan.dns == j.dns
        && Path::new(CLUSTER_CERT).exists()
        && Path::new(CLUSTER_KEY).exists();
    same.then_some(plan)
}

/// The plan of a node that joined with answers `j` and got `cluster` from the member.
pub fn plan_from(j: &JoinAnswers, cluster: &ClusterSettings) -> Result<Plan, String> {
    let provider = cluster
        .provider_uri
        .trim_start_matches("ldap://")
        .trim_end_matches('/')
        .to_owned();
    let raw = RawAnswers {
        cluster: RawCluster {
            name: Some(cluster.name.clone()),
            storage: None,
            balancer: Some(cluster.balancer.clone()),
            join: None,
            provider: Some(provider),
            directory: None,
        },
        balancer: (cluster.balancer == "ipvs").then(|| RawBalancer {
            vip: cluster.balancer_vip.clone(),
            forwarding: cluster.balancer_forwarding.clone(),
        }),
        mail: RawMail {
            domain: Some(cluster.domain.clone()),
        },
        node: RawNode {
            hostname: Some(j.hostname.to_string()),
        },
        network: RawNetwork {
            dns: Some(j.dns.iter().map(|d| d.to_string()).collect()),
            public: RawInterface {
                interface: Some(j.public.interface.to_string()),
                address: Some(j.public.address.to_string()),
                gateway: j.public.gateway.map(|g| g.to_string()),
            },
            private: RawInterface {
                interface: Some(j.private.interface.to_string()),
                address: Some(j.private.address.to_string()),
                gateway: None,
            },
        },
        ssh: (!j.ssh_keys.is_empty()).then(|| RawSsh {
            authorized_keys: Some(j.ssh_keys.iter().map(|k| k.to_string()).collect()),
        }),
        ..Default::default()
    };
    validate(&raw).map_err(|e| e.to_string())
}

/// Writes `contents` to `path` through a temporary file with `mode` and `group`.
fn put(path: &str, contents: &[u8], mode: &str, group: &str) -> Result<(), String> {
    let dir = Path::new(path).parent().expect("has a parent");
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let tmp = format!("{path}.new");
    std::fs::write(&tmp, contents).map_err(|e| format!("{path}: {e}"))?;
    for (cmd, arg) in [("chgrp", group), ("chmod", mode)] {
        pigeonair_host::run(Command::new(cmd).args([arg, &tmp])).map_err(|e| e.to_string())?;
    }
    std::fs::rename(&tmp, path).map_err(|e| format!("{path}: {e}"))
}

fn runtime() -> Result<tokio::runtime::Runtime, JoinFailure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| JoinFailure::Keep(format!("a runtime: {e}")))
}

/// Meets the member in `token` before anything secret is sent: its chain must hold the CA the
/// token pins, then it says who it is (`GET /v1/hello`), for the operator to confirm.
pub fn introduce(token: &Token) -> Result<pigeonair_control::client::Met, JoinFailure> {
    Ok(runtime()?.block_on(pigeonair_control::client::hello(token))?)
}

/// The plan for a joining node: the saved one if it joined already, else the one the join
/// gives. `out` gets one line per step; with `dry_run` nothing is sent.
pub fn plan_for(
    j: &JoinAnswers,
    dry_run: bool,
    out: &mut dyn FnMut(&str),
) -> Result<Option<Plan>, JoinFailure> {
    if let Some(plan) = joined_already(j) {
        out(&format!("join: {} joined already", j.hostname));
        return Ok(Some(plan));
    }
    let token: Token = j
        .token
        .parse()
        .map_err(|e| JoinFailure::Answers(format!("cluster.join: {e}")))?;
    if dry_run {
        out(&format!(
            "join: would join the cluster through {} with token {} (nothing sent in a dry run)",
            token.via, token.id
        ));
        return Ok(None);
    }
    let started = std::time::Instant::now();
    let key = csr::new_key().map_err(|e| JoinFailure::Keep(format!("a key: {e}")))?;
    let req = csr::request(&key, j.hostname.as_str())
        .and_then(|r| r.to_pem())
        .map_err(|e| JoinFailure::Keep(format!("a certificate request: {e}")))?;
    let request = JoinRequest {
        token_id: token.id.to_string(),
        secret: Secret(token.secret_text()),
        hostname: j.hostname.to_string(),
        private_address: j.private.address.to_string(),
        public_address: j.public.address.to_string(),
        csr_pem: String::from_utf8_lossy(&req).into_owned(),
        directory: j.directory.as_str().to_owned(),
    };
    let interface = j.private.interface.as_str();
    let address = j.private.address.to_string();
    if pigeonair_apply::network::bring_up_for_join(interface, &address)
        .map_err(|e| JoinFailure::Keep(e.to_string()))?
    {
        out(&format!(
            "join: brought up {address} on {interface} to reach the member"
        ));
    }
    out(&format!(
        "join: sending the token to the member at {} (CA {})",
        token.via,
        token.ca.to_hex()
    ));
    let response = runtime()?.block_on(pigeonair_control::client::join(&token, &request))?;
    let plan = plan_from(j, &response.cluster).map_err(|e| {
        JoinFailure::Keep(format!(
            "the cluster's settings make no plan for this node: {e}"
        ))
    })?;
    // The secrets first, the certificate last: a node with its certificate has everything.
    let c = &response.cluster;
    let s = Secrets {
        postfix_ldap: c.postfix_ldap_password.0.clone(),
        dovecot_ldap: c.dovecot_ldap_password.0.clone(),
        proxy: c.proxy_secret.0.clone(),
        doveadm: c.doveadm_password.0.clone(),
    };
    let root = Root("/".into());
    files::write_file(&root, &secrets::as_file(&s))
        .map_err(|e| JoinFailure::Keep(e.to_string()))?;
    let key_pem = key
        .private_key_to_pem_pkcs8()
        .map_err(|e| JoinFailure::Keep(e.to_string()))?;
    put(CLUSTER_KEY, &key_pem, "0640", "ssl-cert").map_err(JoinFailure::Keep)?;
    put(CLUSTER_CA_CERT, response.ca_pem.as_bytes(), "0644", "root").map_err(JoinFailure::Keep)?;
    if let Some(crl) = &response.crl_pem {
        pigeonair_apply::cluster_ca::write_crl(crl)
            .map_err(|e| JoinFailure::Keep(format!("the cluster's revocation list: {e}")))?;
    }
    // A node becoming a directory provider holds the CA's key too (root only, as on the
    // first node); it takes the provider role once its replica is in sync (apply's cluster
    // step).
    if let Some(grant) = &response.provider {
        put(
            CLUSTER_CA_KEY,
            grant.ca_key_pem.0.as_bytes(),
            "0600",
            "root",
        )
        .map_err(JoinFailure::Keep)?;
        out(&format!(
            "join: this node becomes directory provider {} (it holds the cluster CA's key)",
            grant.server_id
        ));
    }
    put(
        CLUSTER_CERT,
        response.certificate_pem.as_bytes(),
        "0644",
        "root",
    )
    .map_err(JoinFailure::Keep)?;
    out(&format!(
        "join: joined cluster {} through {} ({:.1} s): {} member(s), replicating {}",
        c.name,
        token.via,
        started.elapsed().as_secs_f64(),
        c.members.len(),
        c.provider_uri
    ));
    log::info!("joined cluster {} through {}", c.name, token.via);
    Ok(Some(plan))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWERS: &str = include_str!("../tests/resources/join.toml");

    #[test]
    fn join_answers_parse_with_their_token() {
        let Answers::Join(j) = parse(ANSWERS).unwrap() else {
            panic!("not a joining node's answers");
        };
        assert_eq!(j.hostname.as_str(), "mx2.example.com");
        let (_, token) = check(&parse_raw(ANSWERS).unwrap()).unwrap();
        assert_eq!(token.via, "10.42.0.11:7443".parse().unwrap());
        assert_eq!(token.to_string(), j.token);
    }

    #[test]
    fn a_bad_token_is_reported_with_every_other_problem() {
        let text = ANSWERS
            .replace("PA1.AQIDBAUG", "K10.AQIDBAUG")
            .replace("10.42.0.12/24", "10.42.0.12/33");
        let e = parse(&text).unwrap_err().to_string();
        assert!(
            e.contains("cluster.join: the join token does not start with \"PA1.\""),
            "{e}"
        );
        assert!(
            e.contains("network.private.address: \"10.42.0.12/33\": prefix length"),
            "{e}"
        );
        // The address in the token is checked too.
        let text = ANSWERS.replace("@10.42.0.11:7443", "@mx1.example.com:7443");
        let e = parse(&text).unwrap_err().to_string();
        assert!(
            e.contains("cluster.join: the join token's address \"mx1.example.com:7443\""),
            "{e}"
        );
    }
}
