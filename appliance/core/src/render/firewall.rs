//! The node's own firewall table: the cluster's internal services (LMTP on 24, LDAP on 389,
//! doveadm for mailbox moves on 2727, the control plane on 7443)
//! answer only on the private cluster interface and loopback. Linux accepts a packet for any
//! of its addresses on any interface (the weak host model), so listening on the private
//! address alone does not keep a public-side host with a route to it out. Only PigeonAir's own
//! table is touched; other rules an ISP adds are left alone.

use super::{RenderedFile, Unit};
use crate::plan::Plan;

/// pigeonaird's port (`pigeonair_join::CONTROL_PORT`; core does not depend on the join crate).
pub const CONTROL_PORT: u16 = 7443;

/// The rules, loaded with `nft -f`.
pub const RULES: &str = "/etc/pigeonair/firewall.nft";
/// The unit that loads them at boot.
pub const UNIT: &str = "/etc/systemd/system/pigeonair-firewall.service";

/// The table and the unit that loads it.
pub fn render(plan: &Plan) -> Vec<RenderedFile> {
    let rules = format!(
        "#!/usr/sbin/nft -f
# Written by pigeonair-install: the cluster's internal services answer only on the private
# cluster interface ({private}) and loopback.
table inet pigeonair
delete table inet pigeonair
table inet pigeonair {{
    chain input {{
        type filter hook input priority filter; policy accept;
        tcp dport {{ 24, 389, {doveadm}, {control} }} iifname != {{ \"lo\", \"{private}\" }} drop
    }}
}}
",
        private = plan.private.interface,
        control = CONTROL_PORT,
        doveadm = super::dovecot::DOVEADM_PORT,
    );
    let unit = format!(
        "# Written by pigeonair-install.
[Unit]
Description=PigeonAir firewall table (internal services on the private network only)
Before=network-pre.target slapd.service dovecot.service postfix.service
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/nft -f {RULES}
ExecStop=/usr/sbin/nft delete table inet pigeonair

[Install]
WantedBy=multi-user.target
"
    );
    vec![
        RenderedFile::public(RULES, rules, Unit::Firewall),
        RenderedFile::public(UNIT, unit, Unit::Firewall),
    ]
}
