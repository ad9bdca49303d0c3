//! Dovecot 2.4: one self-contained dovecot.conf (no conf.d): LDAP passdb and userdb, Maildir
//! under /var/vmail owned by each user's uid, quota, IMAP, POP3, LMTP on the private address,
//! doveadm's TCP service for mailbox moves on the private address, and the SASL socket Postfix's
//! submission service uses.

use super::template::fill;
use super::{CLUSTER_CA_CERT, CLUSTER_CERT, CLUSTER_KEY, RenderedFile, Secrets, Unit};
use crate::directory::BASE_DN;
use crate::plan::Plan;

/// doveadm's TCP service, on the private address only: mailbox moves between nodes (dsync).
pub const DOVEADM_PORT: u16 = 2727;
const DOVEADM_PORT_TEXT: &str = "2727";

const DOVECOT_CONF: &str = include_str!("../../templates/dovecot/dovecot.conf");

/// Dovecot's files for `plan`.
pub fn render(plan: &Plan, secrets: &Secrets) -> Vec<RenderedFile> {
    let private_ip = plan.private.address.addr().to_string();
    let private_cidr = plan.private.address.network_cidr();
    // Everything outside the private network, and Unix-socket clients (Postfix's SASL).
    let mut outside = plan.private.address.complement();
    outside.push("local".into());
    let outside = outside.join(", ");
    let values = [
        ("PRIVATE_IP", private_ip.as_str()),
        ("PRIVATE_CIDR", private_cidr.as_str()),
        ("OUTSIDE_PRIVATE", outside.as_str()),
        ("FQDN", plan.hostname.as_str()),
        ("PROXY_SECRET", secrets.proxy.as_str()),
        ("DOVEADM_PASSWORD", secrets.doveadm.as_str()),
        ("DOVEADM_PORT", DOVEADM_PORT_TEXT),
        ("CLUSTER_CA", CLUSTER_CA_CERT),
        ("CLUSTER_CERT", CLUSTER_CERT),
        ("CLUSTER_KEY", CLUSTER_KEY),
        ("LDAP_BASE", BASE_DN),
        ("DOVECOT_LDAP_PASSWORD", secrets.dovecot_ldap.as_str()),
    ];
    // Dovecot reads its configuration as root: the file (with the bind password) is root's only.
    vec![RenderedFile {
        path: "/etc/dovecot/dovecot.conf".into(),
        contents: fill(DOVECOT_CONF, &values),
        mode: 0o600,
        owner: "root".into(),
        group: "root".into(),
        unit: Unit::Dovecot,
    }]
}
