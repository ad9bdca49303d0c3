//! Summary: the whole plan; Enter saves it as an answers file and installs (on the install
//! medium: Enter goes on to the erase warning).

use pigeonair_appliance::plan::{Balancer, Forwarding, Role};
use ratatui::text::Line;

use super::Screen;
use crate::disk::erase;
use crate::tui::App;

/// The plan and the disk it is installed to (on the install medium).
pub struct DiskSummary;

impl Screen for DiskSummary {
    fn title(&self) -> &'static str {
        "Summary"
    }
    fn purpose(&self) -> &'static str {
        "Check the plan. Enter goes on to the erase warning; Esc goes back."
    }
    fn help(&self) -> &'static str {
        "Nothing is written yet. After the erase warning the answers file is saved (the \
         password only as a hash, with [disk]) and left on the installed disk for its first \
         boot, which applies it: the same as an unattended install from a PIGEONAIR drive."
    }
    fn info(&self, app: &App) -> Vec<Line<'static>> {
        let mut lines = Summary.info(app);
        if app.plan().is_none() {
            return lines;
        }
        if let (Some(disk), Some(plan)) = (app.form.chosen_disk(), app.form.disk_plan()) {
            let at = lines.len().saturating_sub(2);
            lines.splice(
                at..at,
                [
                    Line::from(format!(
                        "Disk             {} (erased)",
                        erase::disk_line(disk)
                    )),
                    Line::from(format!("Partitions       {}", erase::layout_line(&plan))),
                ],
            );
        }
        lines
    }
}

/// The plan.
pub struct Summary;

impl Screen for Summary {
    fn title(&self) -> &'static str {
        "Summary"
    }
    fn purpose(&self) -> &'static str {
        "Check the plan. Enter saves it as an answers file and installs; Esc goes back."
    }
    fn help(&self) -> &'static str {
        "The answers file is saved first (the password only as a hash), so this install can \
         be repeated unattended: pigeonair-install --answers FILE."
    }
    fn info(&self, app: &App) -> Vec<Line<'static>> {
        let Some(plan) = app.plan() else {
            let mut lines = vec![Line::from(
                "The plan is not complete: go back (Esc) and fix it.",
            )];
            // No screen edits a reviewed plan's balancer: its problems (a VIP outside a
            // changed public network) are shown here.
            for p in app.form.problems(app.password_hash.as_deref()) {
                if p.field.starts_with("balancer") || p.field == "cluster.balancer" {
                    lines.push(Line::from(p.to_string()));
                }
            }
            return lines;
        };
        let gw = plan
            .public
            .gateway
            .map(|g| format!(", gateway {g}"))
            .unwrap_or_default();
        let dns = if plan.dns.is_empty() {
            "none".to_owned()
        } else {
            plan.dns
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let (mail, cluster, admin) = match plan.role {
            Role::First { .. } => (
                format!("{} (postmaster@, abuse@)", plan.domain),
                format!(
                    "{} (distributed storage, {})",
                    plan.cluster,
                    balancer(&plan.balancer)
                ),
                "cn=admin,ou=admins,o=pigeonair (password set)",
            ),
            Role::Joined { provider } => (
                format!("{} (the cluster's)", plan.domain),
                format!(
                    "{} (joined, replicating {provider}; {})",
                    plan.cluster,
                    balancer(&plan.balancer)
                ),
                "the cluster's (in the directory)",
            ),
        };
        [
            format!("Host name        {}", plan.hostname),
            format!("Mail domain      {mail}"),
            format!("Cluster          {cluster}"),
            format!(
                "Public           {} {}{gw}",
                plan.public.interface, plan.public.address
            ),
            format!(
                "Cluster network  {} {}",
                plan.private.interface, plan.private.address
            ),
            format!("DNS              {dns}"),
            format!("Administrator    {admin}"),
            String::new(),
            format!("Answers file     {}", app.answers_path.display()),
        ]
        .into_iter()
        .map(Line::from)
        .collect()
    }
}

/// The plan's balancer in a few words.
fn balancer(b: &Balancer) -> String {
    match b {
        Balancer::None => "no balancer".into(),
        Balancer::Dns => "DNS balancing".into(),
        Balancer::Ipvs { vip, forwarding } => format!(
            "IPVS on {vip}, {}",
            match forwarding {
                Forwarding::Dr => "direct routing",
                Forwarding::Nat => "NAT",
                Forwarding::Tunnel => "IP-in-IP tunnelling",
            }
        ),
    }
}
