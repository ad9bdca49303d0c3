//! Dovecot 2.4: one self-contained dovecot.conf (no conf.d): LDAP passdb and userdb, Maildir
//! under /var/vmail owned by each user's uid, quota, IMAP, POP3, LMTP on the private address,
//! and the SASL socket Postfix's submission service uses.

use super::template::fill;
use super::{RenderedFile, Secrets, Unit};
use crate::directory::BASE_DN;
use crate::plan::Plan;

const DOVECOT_CONF: &str = include_str!("../../templates/dovecot/dovecot.conf");

/// Dovecot's files for `plan`.
pub fn render(plan: &Plan, secrets: &Secrets) -> Vec<RenderedFile> {
    let private_ip = plan.private.address.addr().to_string();
    let values = [
        ("PRIVATE_IP", private_ip.as_str()),
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
