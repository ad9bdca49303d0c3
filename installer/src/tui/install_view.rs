//! Drawing what runs after the screens: the check of the member a join token names (and the
//! confirmation of its cluster), the install's progress, its failure and the done screen.
//! Nothing here changes the [`App`].

use pigeonair_appliance::plan::{Plan, Role};
use pigeonair_appliance::render::CLUSTER_CA_CERT;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Gauge, Paragraph, Wrap};

use super::view::{footer_keys, header};
use super::{App, Check, InstallState};

fn red(text: impl Into<String>) -> Line<'static> {
    Line::styled(text.into(), Style::default().fg(Color::Red))
}

fn bold_red(text: impl Into<String>) -> Line<'static> {
    Line::styled(
        text.into(),
        Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
    )
}

impl App {
    fn block(&self) -> Block<'static> {
        Block::default()
            .borders(Borders::ALL)
            .border_set(self.borders())
    }

    /// The check of the member in the join token: under way, failed, or met (confirm).
    pub(super) fn draw_check(&self, frame: &mut Frame, check: &Check) {
        let [top, body, footer] = Layout::vertical([
            Constraint::Length(2),
            Constraint::Min(3),
            Constraint::Length(1),
        ])
        .areas(frame.area());
        let hostname = self.form.get(super::form::Field::Hostname).to_owned();
        let (title, purpose, keys, lines): (_, _, _, Vec<Line>) = match check {
            Check::Running(via) => (
                "Checking the cluster",
                "Connecting to the member in the token; nothing secret is sent.",
                "Esc back  Ctrl-C quit",
                vec![
                    Line::from(format!("Connecting to {via} and checking that it presents")),
                    Line::from("the cluster CA whose fingerprint is in the token ..."),
                ],
            ),
            Check::Failed { via, reason } => (
                "Cannot join",
                "The member in the token could not be checked. Nothing was sent or written.",
                "Esc back to the token  Ctrl-C quit",
                vec![
                    Line::from(format!("Member       {via} (from the token)")),
                    Line::from(""),
                    bold_red("Why:"),
                    red(reason.clone()),
                    Line::from(""),
                    Line::from("Esc goes back to the token: check it, or the member's address"),
                    Line::from("and private network, or ask a member for a new token."),
                ],
            ),
            Check::Met(met) => {
                // 16 of the 32 bytes a line ("D0:" each), as the screen is 80 wide.
                let hex = met.ca.colon_hex();
                let (first, second) = hex.split_at(16 * 3);
                (
                    "Confirm the cluster",
                    "The member holds the cluster CA the token names. Join this cluster?",
                    "Enter join  Esc back to the token  Ctrl-C quit",
                    vec![
                        Line::from(format!("Cluster      {}", met.cluster)),
                        Line::from(format!("Member       {} at {}", met.member, met.via)),
                        Line::from(format!(
                            "This node    {hostname}, to join as a replica of its directory"
                        )),
                        Line::from(""),
                        Line::from("The cluster CA's fingerprint, as this prints it on a member:"),
                        Line::from(format!(
                            "  openssl x509 -noout -fingerprint -sha256 -in {CLUSTER_CA_CERT}"
                        )),
                        Line::from(format!("  sha256 Fingerprint={first}")),
                        Line::from(format!("                     {second}")),
                        Line::from(""),
                        Line::from("Enter sends the token and joins; then this box is installed."),
                        Line::from("Esc goes back to the token; nothing is sent."),
                    ],
                )
            }
        };
        header(frame, top, title, purpose);
        frame.render_widget(
            Paragraph::new(lines)
                .block(self.block())
                .wrap(Wrap { trim: false }),
            body,
        );
        footer_keys(frame, footer, keys);
    }

    /// The install (after the join, for a joining node): progress, failure, done.
    pub(super) fn draw_install(&self, frame: &mut Frame, state: &InstallState) {
        let [top, gauge, log, footer] = Layout::vertical([
            Constraint::Length(2),
            Constraint::Length(3),
            Constraint::Min(3),
            Constraint::Length(1),
        ])
        .areas(frame.area());
        let plan = state.joined.as_deref().cloned().or_else(|| self.plan());
        let cluster = plan.as_ref().map(|p| p.cluster.to_string());
        let purpose_done;
        let (title, purpose, keys) = match &state.result {
            None if state.joining && state.joined.is_none() => (
                "Joining",
                "Sending the token to the member; then each step of the install.",
                "Ctrl-C quit",
            ),
            None if state.to_disk.is_some() => (
                "Installing to disk",
                "Each step of the install to disk, as it runs (the copy takes minutes).",
                "Ctrl-C quit",
            ),
            None => (
                "Installing",
                "Each step of the install, as it runs.",
                "Ctrl-C quit",
            ),
            Some(Ok(_)) if state.to_disk.is_some() => (
                "Done",
                "Installed to disk. Enter reboots into the installed system.",
                "Enter reboot",
            ),
            Some(Ok(_)) => {
                purpose_done = match (&plan, &cluster) {
                    (Some(p), Some(c)) if matches!(p.role, Role::Joined { .. }) => {
                        format!("This box is a PigeonAir mail node of cluster {c}.")
                    }
                    _ => "This box is a PigeonAir mail node.".to_owned(),
                };
                ("Done", purpose_done.as_str(), "Enter finish")
            }
            Some(Err(_)) if state.join_failed => (
                "Join failed",
                "Nothing was written here or in the cluster. Esc goes back to the token.",
                "Esc back to the token  Ctrl-C quit",
            ),
            Some(Err(_)) if state.to_disk.is_some() => (
                "Install failed",
                "Nothing after the failed step ran. Esc goes back to the target disk.",
                "Esc back  Ctrl-C quit",
            ),
            Some(Err(_)) => (
                "Install failed",
                "Nothing after the failed step ran. Esc goes back to fix the answers.",
                "Esc back to fix  Ctrl-C quit",
            ),
        };
        header(frame, top, title, purpose);
        let ratio =
            (state.done.min(state.total) as f64 / state.total.max(1) as f64).clamp(0.0, 1.0);
        frame.render_widget(
            Gauge::default()
                .block(self.block())
                .ratio(ratio)
                .label(format!(
                    "{}/{} steps",
                    state.done.min(state.total),
                    state.total
                )),
            gauge,
        );
        let mut lines: Vec<Line> = Vec::new();
        match (&state.result, &plan) {
            (Some(Ok(_)), Some(plan)) if state.to_disk.is_some() => {
                lines = self.disk_done_lines(state.to_disk.as_ref(), plan)
            }
            (Some(Ok(changed)), Some(plan)) => lines = self.done_lines(*changed, plan),
            (Some(Err(reason)), _) if state.join_failed => {
                lines.push(bold_red("The join did not happen:"));
                lines.extend(reason.lines().map(red));
                lines.push(Line::from(""));
                lines.push(Line::from(
                    "A token is used once and expires: a used, expired or revoked one needs a",
                ));
                lines.push(Line::from(
                    "new one (`pigeonctl node token` on a member). Esc goes back to the token.",
                ));
            }
            (Some(Err(reason)), _) => {
                let step = state
                    .log
                    .iter()
                    .rev()
                    .find(|l| l.contains("FAILED"))
                    .cloned()
                    .unwrap_or_default();
                lines.push(bold_red(format!("Failed step: {step}")));
                lines.extend(reason.lines().map(red));
            }
            _ => {}
        }
        if lines.is_empty() {
            // The log's last lines that fit.
            let room = log.height.saturating_sub(2) as usize;
            let start = state.log.len().saturating_sub(room);
            lines = state.log[start..]
                .iter()
                .map(|l| Line::from(l.clone()))
                .collect();
        }
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(self.block()),
            log,
        );
        footer_keys(frame, footer, keys);
    }

    /// The install to disk finished: what reboots into what, and how to reach the node once
    /// its first boot applied the plan.
    fn disk_done_lines(
        &self,
        disk: Option<&pigeonair_appliance::disk::DiskPlan>,
        plan: &Plan,
    ) -> Vec<Line<'static>> {
        let ip = plan.public.address.addr();
        let device = disk.map(|d| d.device.as_str()).unwrap_or("the disk");
        let lines = vec![
            format!("Installed to {device}."),
            String::new(),
            "Enter reboots into the installed system: remove the install medium, or".into(),
            format!("boot from {device}. Its first boot applies the plan (a few minutes), then:"),
            String::new(),
            format!("Node          {} ({ip})", plan.hostname),
            format!("SMTP          {ip}:25, submission {ip}:587 (STARTTLS, AUTH)"),
            format!("IMAP / POP3   {ip}:993 and 143, {ip}:995 and 110 (TLS)"),
            format!(
                "Mailbox       postmaster@{} (administrator password)",
                plan.domain
            ),
            "Administer    pigeonctl (as root on the node)".into(),
            format!(
                "Answers file  {} here; {} on the node",
                self.answers_path.display(),
                crate::apply::SAVED_ANSWERS
            ),
        ];
        lines.into_iter().map(Line::from).collect()
    }

    /// How to reach the installed node: a first node's administrator, or a joined node's
    /// cluster and role.
    fn done_lines(&self, changed: usize, plan: &Plan) -> Vec<Line<'static>> {
        let ip = plan.public.address.addr();
        let mut lines = match plan.role {
            Role::First { .. } => vec![
                format!("Installed: {changed} changes."),
                String::new(),
                format!("Node          {} ({ip})", plan.hostname),
            ],
            Role::Joined { provider } => vec![
                format!(
                    "Joined cluster {}; installed: {changed} changes.",
                    plan.cluster
                ),
                String::new(),
                format!(
                    "Cluster       {} (mail domain {})",
                    plan.cluster, plan.domain
                ),
                format!("Node          {} ({ip})", plan.hostname),
                format!("Role          joined node: its directory is a replica of {provider}'s"),
            ],
        };
        lines.extend([
            format!("SMTP          {ip}:25, submission {ip}:587 (STARTTLS, AUTH)"),
            format!("IMAP / POP3   {ip}:993 and 143, {ip}:995 and 110 (TLS)"),
        ]);
        match plan.role {
            Role::First { .. } => lines.extend([
                format!(
                    "Mailbox       postmaster@{} (administrator password)",
                    plan.domain
                ),
                "Directory     cn=admin,ou=admins,o=pigeonair (administrator password)".into(),
                "Administer    pigeonctl (as root on this node)".into(),
            ]),
            Role::Joined { .. } => lines.push(
                "Administer    pigeonctl (as root on any node); the cluster's administrator".into(),
            ),
        }
        lines.push(format!("Answers file  {}", self.answers_path.display()));
        lines.into_iter().map(Line::from).collect()
    }
}
