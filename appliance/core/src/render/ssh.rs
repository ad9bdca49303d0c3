//! sshd for root by key only: PigeonAir's drop-in (Debian's `sshd_config` reads
//! `sshd_config.d/*.conf` first, and sshd keeps the first value it reads of each setting) and
//! root's `authorized_keys` from the plan. With no key the files are still written (an empty
//! list) and apply keeps ssh.service off.

use super::{RenderedFile, Unit};
use crate::plan::Plan;

/// PigeonAir's sshd settings.
pub const SSHD_CONF: &str = "/etc/ssh/sshd_config.d/pigeonair.conf";
/// Root's keys.
pub const AUTHORIZED_KEYS: &str = "/root/.ssh/authorized_keys";

/// The drop-in and the keys.
pub fn render(plan: &Plan) -> Vec<RenderedFile> {
    let conf = "# Written by pigeonair-install: root logs in with the keys of the answers' [ssh]
# authorized_keys only; no password is ever asked for or accepted.
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthenticationMethods publickey
"
    .to_owned();
    let mut keys =
        String::from("# Written by pigeonair-install from the answers' [ssh] authorized_keys.\n");
    if plan.ssh_keys.is_empty() {
        keys.push_str("# None: SSH is off on this node.\n");
    }
    for k in &plan.ssh_keys {
        keys.push_str(k.as_str());
        keys.push('\n');
    }
    vec![
        RenderedFile::public(SSHD_CONF, conf, Unit::Ssh),
        RenderedFile {
            path: AUTHORIZED_KEYS.into(),
            contents: keys,
            mode: 0o600,
            owner: "root".into(),
            group: "root".into(),
            unit: Unit::Ssh,
        },
    ]
}
