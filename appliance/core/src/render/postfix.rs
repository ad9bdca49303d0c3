//! Postfix: main.cf, master.cf (Debian's plus submission on 587), the LDAP tables (domains,
//! mailboxes, aliases, transport to the home node's LMTP, sender logins) and /etc/aliases.

use super::template::fill;
use super::{RenderedFile, Secrets, Unit};
use crate::directory::BASE_DN;
use crate::plan::Plan;

const MAIN_CF: &str = include_str!("../../templates/postfix/main.cf");
const MASTER_CF: &str = include_str!("../../templates/postfix/master.cf");
/// The LDAP tables: `(file name, template)`.
const TABLES: [(&str, &str); 7] = [
    (
        "alias-domains.cf",
        include_str!("../../templates/postfix/ldap/alias-domains.cf"),
    ),
    (
        "aliases.cf",
        include_str!("../../templates/postfix/ldap/aliases.cf"),
    ),
    (
        "disabled-domains.cf",
        include_str!("../../templates/postfix/ldap/disabled-domains.cf"),
    ),
    (
        "domains.cf",
        include_str!("../../templates/postfix/ldap/domains.cf"),
    ),
    (
        "mailboxes.cf",
        include_str!("../../templates/postfix/ldap/mailboxes.cf"),
    ),
    (
        "senders.cf",
        include_str!("../../templates/postfix/ldap/senders.cf"),
    ),
    (
        "transport.cf",
        include_str!("../../templates/postfix/ldap/transport.cf"),
    ),
];

/// Postfix's files for `plan`.
pub fn render(plan: &Plan, secrets: &Secrets) -> Vec<RenderedFile> {
    let private_ip = plan.private.address.addr().to_string();
    let private_cidr = plan.private.address.network_cidr();
    let values = [
        ("FQDN", plan.hostname.as_str()),
        ("DOMAIN", plan.domain.as_str()),
        ("PRIVATE_IP", private_ip.as_str()),
        ("PRIVATE_CIDR", private_cidr.as_str()),
        ("LDAP_BASE", BASE_DN),
        ("POSTFIX_LDAP_PASSWORD", secrets.postfix_ldap.as_str()),
    ];
    let mut files = vec![
        RenderedFile::public(
            "/etc/postfix/main.cf",
            fill(MAIN_CF, &values),
            Unit::Postfix,
        ),
        RenderedFile::public(
            "/etc/postfix/master.cf",
            fill(MASTER_CF, &values),
            Unit::Postfix,
        ),
        // local(8) mail for the node itself (root, cron) goes to root's mailbox.
        RenderedFile::public(
            "/etc/aliases",
            "# Written by pigeonair-install.\npostmaster: root\n".into(),
            Unit::Postfix,
        ),
    ];
    // The daemons open their tables as root before dropping privileges; the bind password stays
    // out of reach of everyone else: 0640 root:postfix.
    for (name, template) in TABLES {
        files.push(RenderedFile::secret(
            &format!("/etc/postfix/ldap/{name}"),
            fill(template, &values),
            "postfix",
            Unit::Postfix,
        ));
    }
    files
}
