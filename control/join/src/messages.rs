//! The join messages (JSON bodies of `POST /v1/join`) and their checks.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// A secret in a message: serialised as its text, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// What a joining node sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// The token's id.
    pub token_id: String,
    /// The token's secret (base64url, as in the token).
    pub secret: Secret,
    /// The joining node's host name (FQDN): its `ou=nodes` entry and `mailHost` value.
    pub hostname: String,
    /// Its address on the private cluster network, with prefix length (`10.42.0.12/24`).
    pub private_address: String,
    /// Its public address, with prefix length.
    pub public_address: String,
    /// A PEM certificate request for its key, with the host name as CN.
    pub csr_pem: String,
    /// `auto` (the node becomes a directory provider while the cluster has fewer than two)
    /// or `replica` (its answers' `cluster.directory`); absent from older nodes: `auto`.
    #[serde(default = "auto", skip_serializing_if = "is_auto")]
    pub directory: String,
}

fn auto() -> String {
    "auto".into()
}

fn is_auto(s: &String) -> bool {
    s == "auto"
}

/// A cluster member, as the joining node learns of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// Host name.
    pub hostname: String,
    /// Private address, with prefix length.
    pub private_address: String,
    /// Public address, with prefix length.
    pub public_address: String,
    /// `joining`, `active`, `draining`.
    pub state: String,
}

/// What a node needs from the cluster to become a replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSettings {
    /// The cluster's name (`[cluster] name`).
    pub name: String,
    /// `[cluster] balancer`: `none`, `dns` or `ipvs`.
    pub balancer: String,
    /// With `ipvs`: the `[balancer]` table's `vip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balancer_vip: Option<String>,
    /// With `ipvs`: the `[balancer]` table's `forwarding`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balancer_forwarding: Option<String>,
    /// The cluster's mail domain (the first node's `[mail] domain`).
    pub domain: String,
    /// The directory's base DN.
    pub ldap_base: String,
    /// The provider the replica's syncrepl consumes from, exactly as the provider's slapd
    /// listens (`ldap://PRIVATE-ADDRESS/`).
    pub provider_uri: String,
    /// The private network (CIDR), as the first node's answers give it.
    pub private_network: String,
    /// Bind password of `cn=postfix,ou=services`.
    pub postfix_ldap_password: Secret,
    /// Bind password of `cn=dovecot,ou=services`.
    pub dovecot_ldap_password: Secret,
    /// The secret a proxying node presents to a mailbox's home node.
    pub proxy_secret: Secret,
    /// Dovecot's `doveadm_password` (mailbox moves between nodes).
    pub doveadm_password: Secret,
    /// The members, the joining node not among them.
    pub members: Vec<Member>,
}

/// The answer to an accepted join.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinResponse {
    /// The joining node's certificate (PEM), signed by the cluster CA.
    pub certificate_pem: String,
    /// The cluster CA's certificate (PEM).
    pub ca_pem: String,
    /// The cluster CA's revocation list (PEM) as the member has it: the joining node's slapd
    /// checks peers against it from its first configuration on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crl_pem: Option<String>,
    /// What it needs to become a replica.
    pub cluster: ClusterSettings,
    /// When the node is to become a directory provider: its server ID and the cluster CA's
    /// key (every provider holds it, so joins, renewals and revocations go on with one
    /// down). Sent only in this answer, over the TLS connection whose CA the token pinned, to
    /// the node that proved it holds the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderGrant>,
}

/// What a node becoming a directory provider gets: in its join answer, or from a node holding
/// the role `ca` (`POST /v1/ca-key`) after `pigeonctl node role NODE provider` chose it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderGrant {
    /// Its slapd server ID (reserved on its `ou=nodes` entry).
    pub server_id: u16,
    /// The cluster CA's private key (PEM).
    pub ca_key_pem: Secret,
}

/// A node asking a holder of the cluster CA's key for a new certificate (`POST /v1/renew`,
/// mutual TLS with its current one): the request for its new key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenewRequest {
    /// A PEM certificate request, CN = the node's host name, for a new EC P-256 key.
    pub csr_pem: String,
}

/// The holder's answer to a [`RenewRequest`]: the new certificate, whose serial is recorded
/// on the node's entry before it is sent (so removing the node revokes it too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenewResponse {
    /// The node's new certificate (PEM), signed by the cluster CA.
    pub certificate_pem: String,
}

/// What `GET /v1/hello` answers anyone, no client certificate needed: who the member is, for a
/// joining node to show its operator before anything secret is sent. It proves nothing by
/// itself: the joining node trusts it only on a connection whose chain held the CA its token
/// pins (`pigeonair_control::client::hello`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hello {
    /// The cluster's name (`[cluster] name`).
    pub cluster: String,
    /// The member's host name.
    pub hostname: String,
}

/// What `GET /v1/status` answers a peer: the node and how far its directory has got, its mail
/// queue, its mail storage's disk use, and, on a node that runs the balancer, each node's health
/// as the balancer sees it. Fields added later are `#[serde(default)]` and unknown fields are
/// ignored, so nodes of different versions understand each other during an upgrade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The node's host name.
    pub hostname: String,
    /// Its directory's `contextCSN` values (one per provider): equal to the provider's when the
    /// replica has every change.
    pub context_csn: Vec<String>,
    /// Messages in its mail queue for hosted domains (`None` from a node that could not tell).
    #[serde(default)]
    pub queued_hosted: Option<u64>,
    /// Messages in its mail queue in all (`None` from a node that could not tell).
    #[serde(default)]
    pub queued: Option<u64>,
    /// The file system holding its mailboxes (`/var/vmail`), `None` if it could not tell.
    #[serde(default)]
    pub disk: Option<DiskUse>,
    /// The rows of the balancer running on this node (`/run/pigeonair-balancer/status.json`):
    /// one per service and node; empty where no balancer runs.
    #[serde(default)]
    pub balancer: Vec<pigeonair_appliance::balancer_status::Row>,
}

/// How full a file system is, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskUse {
    /// Bytes in use.
    pub used: u64,
    /// Bytes in all.
    pub size: u64,
}

impl DiskUse {
    /// Percent in use, rounded up (a disk with a byte in use is not 0% full).
    pub fn percent(&self) -> u64 {
        if self.size == 0 {
            return 0;
        }
        (self.used.saturating_mul(100)).div_ceil(self.size).min(100)
    }
}

/// What `GET /v1/journal?lines=N` answers a peer: the last lines of PigeonAir's units in the
/// node's journal (`journalctl -o short-iso`), oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalLines {
    /// The lines, without line ends.
    pub lines: Vec<String>,
}

/// The time in a CSN (`20261201124959.123456Z#000000#000#000000`), in microseconds since
/// 1970, for telling how far one directory is behind another.
pub fn csn_micros(csn: &str) -> Option<u64> {
    let (stamp, _) = csn.split_once('Z')?;
    let (whole, frac) = stamp.split_once('.').unwrap_or((stamp, "0"));
    let secs = crate::time::from_generalized(&format!("{whole}Z"))?;
    let micros: u64 = format!("{frac:0<6}").get(..6)?.parse().ok()?;
    Some(secs * 1_000_000 + micros)
}

/// What a mailbox's old home node tells each peer once a move has flipped `mailHost`
/// (`POST /v1/moved`): once your directory has this change, drop what you cached of the user
/// and retry the mail you hold, which now goes to the new home node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MovedNotice {
    /// The moved user's address.
    pub user: String,
    /// The old home node's `contextCSN` right after the flip.
    pub context_csn: Vec<String>,
}

/// What a mailbox's home node asks of the node it is copying the mailbox to when that node's
/// partial copy cannot be brought in line (`POST /v1/discard`): delete it, so the copy starts
/// again from nothing. The asked node refuses unless the directory says the mailbox is being
/// moved to it from the asking node and is not homed on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscardCopy {
    /// The moving user's address.
    pub user: String,
}

/// The start of `pigeonairMoveDetail` on a move a drain asked for (followed by the node's
/// name), so `node undrain` withdraws those not started and leaves an operator's own moves.
pub const DRAIN_MARK: &str = "asked for by the drain of";

/// A node's drain as its entry shows it (`pigeonairProgress`, JSON), written by the draining
/// node's pigeonaird after each mailbox it has moved away.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainProgress {
    /// When the drain started (unix seconds).
    pub started: u64,
    /// Mailboxes on the node when it started.
    pub mailboxes_total: u64,
    /// Mailboxes moved away since.
    pub mailboxes_done: u64,
    /// Their bytes when it started.
    pub bytes_total: u64,
    /// Bytes moved away since.
    pub bytes_done: u64,
    /// Moves that failed and wait for `node drain` to be run again.
    pub failed: Vec<String>,
    /// When it ended (unix seconds): every mailbox moved and the queue flushed.
    pub finished: Option<u64>,
}

impl DrainProgress {
    /// One line for people at `now`: `mailboxes 3/10, 1.2 of 4.0 MB, 0.8 MB/s, about 4 s
    /// left`.
    pub fn line(&self, now: u64) -> String {
        let mb = |b: u64| b as f64 / 1_000_000.0;
        let elapsed = now.saturating_sub(self.started).max(1);
        let rate = self.bytes_done as f64 / elapsed as f64;
        let mut line = format!(
            "mailboxes {}/{}, {:.1} of {:.1} MB, {:.1} MB/s",
            self.mailboxes_done,
            self.mailboxes_total,
            mb(self.bytes_done),
            mb(self.bytes_total),
            rate / 1_000_000.0
        );
        if self.finished.is_some() {
            line.push_str(", done");
        } else if self.mailboxes_done > 0 && self.mailboxes_done < self.mailboxes_total {
            // By mailboxes, which bounds the time better than bytes when mailboxes are small.
            let per = elapsed as f64 / self.mailboxes_done as f64;
            let left = per * (self.mailboxes_total - self.mailboxes_done) as f64;
            line.push_str(&format!(", about {left:.0} s left"));
        }
        if !self.failed.is_empty() {
            line.push_str(&format!(
                "; {} failed: {} (run `pigeonctl node drain` again to retry)",
                self.failed.len(),
                self.failed.join(", ")
            ));
        }
        line
    }
}

/// Whether a directory whose `contextCSN` values are `have` has every change up to `want`:
/// for each provider (server id, the CSN's third field) in `want`, `have` holds a CSN of that
/// provider at least as late. CSNs of one format compare as text.
pub fn csn_covers(have: &[String], want: &[String]) -> bool {
    let sid = |csn: &str| csn.split('#').nth(2).map(str::to_owned);
    want.iter().all(|w| {
        have.iter()
            .any(|h| sid(h).is_some() && sid(h) == sid(w) && h.as_str() >= w.as_str())
    })
}

/// Why a join was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefusalKind {
    /// No token with that id (never made, or removed).
    TokenUnknown,
    /// The secret does not match the token.
    TokenSecret,
    /// The token was used by another node.
    TokenUsed,
    /// The token expired.
    TokenExpired,
    /// The token was revoked.
    TokenRevoked,
    /// The request is malformed (the message names the field).
    BadRequest,
    /// A member has this host name already.
    HostnameTaken,
    /// A member has this private or public address already.
    AddressTaken,
    /// The member could not complete the join (its log has the details).
    Internal,
}

impl RefusalKind {
    /// The HTTP status the control plane answers with.
    pub fn status(self) -> u16 {
        match self {
            RefusalKind::BadRequest => 400,
            RefusalKind::TokenUnknown
            | RefusalKind::TokenSecret
            | RefusalKind::TokenExpired
            | RefusalKind::TokenRevoked => 403,
            RefusalKind::TokenUsed | RefusalKind::HostnameTaken | RefusalKind::AddressTaken => 409,
            RefusalKind::Internal => 500,
        }
    }
}

/// A refused join: one line for the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
#[serde(deny_unknown_fields)]
pub struct Refusal {
    /// What kind of refusal.
    pub kind: RefusalKind,
    /// The line to show.
    pub message: String,
}

impl Refusal {
    /// A refusal of `kind` saying `message`.
    pub fn new(kind: RefusalKind, message: impl Into<String>) -> Self {
        Refusal {
            kind,
            message: message.into(),
        }
    }
}

/// Whether `name` is a host name PigeonAir accepts for a node: at least two labels of
/// lower-case letters, digits and inner hyphens, at most 253 characters.
pub fn valid_hostname(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').count() >= 2
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// `ADDRESS/PREFIX` as the directory stores node addresses: the address and the prefix length.
pub fn parse_cidr(text: &str) -> Option<(IpAddr, u8)> {
    let (ip, len) = text.split_once('/')?;
    let ip: IpAddr = ip.parse().ok()?;
    let len: u8 = len.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (len <= max && len.to_string() == text.split_once('/')?.1).then_some((ip, len))
}

impl JoinRequest {
    /// The private address without its prefix length (valid once [`JoinRequest::check`] passed).
    pub fn private_ip(&self) -> Option<IpAddr> {
        parse_cidr(&self.private_address).map(|(ip, _)| ip)
    }

    /// Checks the fields that need no directory: each problem names its field.
    pub fn check(&self) -> Result<(), Refusal> {
        let bad = |m: String| Err(Refusal::new(RefusalKind::BadRequest, m));
        if crate::token::TokenId::try_new(&self.token_id).is_err() {
            return bad(format!(
                "token_id {:?} is not a token id: copy the whole token",
                self.token_id
            ));
        }
        if crate::token::decode_secret(&self.secret.0).is_none() {
            return bad("secret is not a token's secret: copy the whole token".into());
        }
        if self.directory != "auto" && self.directory != "replica" {
            return bad(format!(
                "directory {:?} is neither \"auto\" nor \"replica\"",
                self.directory
            ));
        }
        if !valid_hostname(&self.hostname) {
            return bad(format!(
                "hostname {:?} is not a lower-case fully qualified name (mx2.example.net)",
                self.hostname
            ));
        }
        let mut ips = Vec::new();
        for (field, text) in [
            ("private_address", &self.private_address),
            ("public_address", &self.public_address),
        ] {
            let Some((ip, _)) = parse_cidr(text) else {
                return bad(format!(
                    "{field} {text:?} is not ADDRESS/PREFIX (10.42.0.12/24)"
                ));
            };
            if ip.is_unspecified() || ip.is_loopback() || ip.is_multicast() {
                return bad(format!("{field} {ip} is not a node's address"));
            }
            ips.push(ip);
        }
        if ips[0] == ips[1] {
            return bad(format!(
                "private_address and public_address are both {}: the cluster network is a network of its own",
                ips[0]
            ));
        }
        crate::csr::check_request(self.csr_pem.as_bytes(), &self.hostname)
            .map_err(|e| Refusal::new(RefusalKind::BadRequest, format!("csr_pem: {e}")))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drains_progress_reads_as_a_line() {
        let mut p = DrainProgress {
            started: 100,
            mailboxes_total: 10,
            mailboxes_done: 4,
            bytes_total: 8_000_000,
            bytes_done: 2_000_000,
            ..Default::default()
        };
        assert_eq!(
            p.line(104),
            "mailboxes 4/10, 2.0 of 8.0 MB, 0.5 MB/s, about 6 s left"
        );
        p.failed = vec!["a@example.com".into()];
        assert!(
            p.line(104)
                .ends_with("; 1 failed: a@example.com (run `pigeonctl node drain` again to retry)")
        );
        p.failed.clear();
        p.mailboxes_done = 10;
        p.bytes_done = 8_000_000;
        p.finished = Some(108);
        assert_eq!(
            p.line(108),
            "mailboxes 10/10, 8.0 of 8.0 MB, 1.0 MB/s, done"
        );
    }

    #[test]
    fn a_directory_covers_a_change_when_each_provider_has_got_as_far() {
        let csns = |v: &[&str]| v.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        let a1 = "20261201150000.000001Z#000000#001#000000";
        let a2 = "20261201150000.000002Z#000000#001#000000";
        let b1 = "20261201140000.000000Z#000000#002#000000";
        assert!(csn_covers(&csns(&[a2]), &csns(&[a1])));
        assert!(csn_covers(&csns(&[a1]), &csns(&[a1])));
        assert!(!csn_covers(&csns(&[a1]), &csns(&[a2])), "behind");
        assert!(
            !csn_covers(&csns(&[b1]), &csns(&[a1])),
            "another provider's CSN"
        );
        assert!(csn_covers(&csns(&[b1, a2]), &csns(&[a1, b1])));
        assert!(!csn_covers(&[], &csns(&[a1])));
        assert!(csn_covers(&csns(&[a1]), &[]), "nothing asked for");
    }

    #[test]
    fn a_status_of_an_older_or_newer_node_is_understood() {
        // What a node of the first cluster version answers: the new fields are missing.
        let old: NodeStatus = serde_json::from_str(
            r#"{"hostname":"node2.example.com","context_csn":["x"],"queued_hosted":0}"#,
        )
        .unwrap();
        assert_eq!((old.queued, old.disk, old.balancer.len()), (None, None, 0));
        // A later node may add fields: they are ignored, not refused.
        let newer: NodeStatus = serde_json::from_str(
            r#"{"hostname":"n","context_csn":[],"disk":{"used":1,"size":4},"later":true}"#,
        )
        .unwrap();
        assert_eq!(newer.disk, Some(DiskUse { used: 1, size: 4 }));
        assert_eq!(DiskUse { used: 1, size: 4 }.percent(), 25);
        assert_eq!(
            DiskUse {
                used: 1,
                size: 1000
            }
            .percent(),
            1,
            "rounded up"
        );
        assert_eq!(DiskUse::default().percent(), 0);
    }

    #[test]
    fn hostnames() {
        for ok in ["mx2.example.net", "a.b", "node-3.mail.example.com"] {
            assert!(valid_hostname(ok), "{ok}");
        }
        for bad in [
            "mx2",
            "MX2.example.net",
            "-a.b",
            "a-.b",
            "a..b",
            "a_b.c",
            "",
        ] {
            assert!(!valid_hostname(bad), "{bad}");
        }
    }

    #[test]
    fn csn_times() {
        let a = csn_micros("20261201124959.123456Z#000000#000#000000").unwrap();
        let b = csn_micros("20261201125001.000001Z#000000#000#000000").unwrap();
        assert_eq!(b - a, 1_876_545);
        assert_eq!(csn_micros("garbage"), None);
    }

    #[test]
    fn refusal_statuses() {
        assert_eq!(RefusalKind::TokenUsed.status(), 409);
        assert_eq!(RefusalKind::TokenExpired.status(), 403);
        assert_eq!(RefusalKind::BadRequest.status(), 400);
    }

    #[test]
    fn a_hello_is_two_names_and_nothing_else() {
        let text = r#"{"cluster":"pigeon","hostname":"mx1.example.com"}"#;
        let hello: Hello = serde_json::from_str(text).unwrap();
        assert_eq!(
            hello,
            Hello {
                cluster: "pigeon".into(),
                hostname: "mx1.example.com".into()
            }
        );
        assert_eq!(serde_json::to_string(&hello).unwrap(), text);
        // A member answering more (or something else) is not taken for a hello.
        let extra = r#"{"cluster":"pigeon","hostname":"mx1.example.com","secret":"x"}"#;
        assert!(serde_json::from_str::<Hello>(extra).is_err());
        assert!(serde_json::from_str::<Hello>(r#"{"cluster":"pigeon"}"#).is_err());
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let s = Secret("hunter2".into());
        assert_eq!(format!("{s:?}"), "Secret(..)");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"hunter2\"");
    }
}
