//! Drawing: the [`App`] as it is, onto a frame; nothing here changes it.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::border;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::{App, InstallState};

impl App {
    fn borders(&self) -> border::Set {
        if self.ascii {
            border::Set {
                top_left: "+",
                top_right: "+",
                bottom_left: "+",
                bottom_right: "+",
                vertical_left: "|",
                vertical_right: "|",
                horizontal_top: "-",
                horizontal_bottom: "-",
            }
        } else {
            border::PLAIN
        }
    }

    /// Draws the whole screen.
    pub fn draw(&self, frame: &mut Frame) {
        if let Some(state) = &self.install {
            self.draw_install(frame, state);
            if self.confirm_quit {
                popup(frame, frame.area(), "Quit?", QUIT_TEXT, self.borders());
            }
            return;
        }
        let area = frame.area();
        let screen = &self.screens[self.screen];
        let [header, body, footer] = Layout::vertical([
            Constraint::Length(2),
            Constraint::Min(3),
            Constraint::Length(1),
        ])
        .areas(area);
        let step = format!(" {}/{} ", self.screen + 1, self.screens.len());
        frame.render_widget(
            Paragraph::new(vec![
                Line::from(vec![
                    Span::styled(
                        format!("PigeonAir installer - {}", screen.title()),
                        Style::default().add_modifier(Modifier::BOLD),
                    ),
                    Span::raw(step),
                ]),
                Line::from(screen.purpose()),
            ]),
            header,
        );
        let mut lines = screen.info(self);
        if !lines.is_empty() && !self.fields().is_empty() {
            lines.push(Line::from(""));
        }
        let hash = self.password_hash.as_deref();
        for (i, field) in self.fields().iter().enumerate() {
            let value = self.form.get(*field);
            let shown = if field.masked() {
                "*".repeat(value.chars().count())
            } else {
                value.to_owned()
            };
            let focused = i == self.focus;
            let style = if focused {
                Style::default().add_modifier(Modifier::REVERSED)
            } else {
                Style::default()
            };
            lines.push(Line::from(vec![
                Span::raw(format!(
                    "{} {:<24}",
                    if focused { ">" } else { " " },
                    field.label()
                )),
                Span::styled(format!("{shown:<40}"), style),
            ]));
            if self.touched.contains(field) {
                for problem in self.form.problems_of(*field, hash) {
                    lines.push(Line::styled(
                        format!("    ! {problem}"),
                        Style::default().fg(Color::Red),
                    ));
                }
            }
        }
        if !self.refused.is_empty() {
            lines.push(Line::from(""));
            lines.push(Line::styled(
                "Cannot go on:",
                Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
            ));
            for r in &self.refused {
                lines.push(Line::styled(
                    format!("  {r}"),
                    Style::default().fg(Color::Red),
                ));
            }
        }
        let block = Block::default()
            .borders(Borders::ALL)
            .border_set(self.borders());
        frame.render_widget(
            Paragraph::new(lines)
                .block(block)
                .wrap(Wrap { trim: false }),
            body,
        );
        let keys = if self.fields().is_empty() {
            "Enter next  Esc back  F1 help  Ctrl-C quit"
        } else {
            "Tab/arrows move  Enter next  Esc back  F1 help  Ctrl-C quit"
        };
        frame.render_widget(
            Paragraph::new(keys).style(Style::default().add_modifier(Modifier::REVERSED)),
            footer,
        );
        if self.help {
            popup(frame, area, screen.title(), screen.help(), self.borders());
        }
        if self.confirm_quit {
            popup(frame, area, "Quit?", QUIT_TEXT, self.borders());
        }
    }

    fn draw_install(&self, frame: &mut Frame, state: &InstallState) {
        let area = frame.area();
        let [header, gauge, log, footer] = Layout::vertical([
            Constraint::Length(2),
            Constraint::Length(3),
            Constraint::Min(3),
            Constraint::Length(1),
        ])
        .areas(area);
        let (title, purpose, keys) = match &state.result {
            None => (
                "Installing",
                "Each step of the install, as it runs.",
                "Ctrl-C quit",
            ),
            Some(Ok(_)) => ("Done", "This box is a PigeonAir mail node.", "Enter finish"),
            Some(Err(_)) => (
                "Install failed",
                "Nothing after the failed step ran. Esc goes back to fix the answers.",
                "Esc back to fix  Ctrl-C quit",
            ),
        };
        frame.render_widget(
            Paragraph::new(vec![
                Line::styled(
                    format!("PigeonAir installer - {title}"),
                    Style::default().add_modifier(Modifier::BOLD),
                ),
                Line::from(purpose),
            ]),
            header,
        );
        let ratio =
            (state.done.min(state.total) as f64 / state.total.max(1) as f64).clamp(0.0, 1.0);
        frame.render_widget(
            ratatui::widgets::Gauge::default()
                .block(
                    Block::default()
                        .borders(Borders::ALL)
                        .border_set(self.borders()),
                )
                .ratio(ratio)
                .label(format!(
                    "{}/{} steps",
                    state.done.min(state.total),
                    state.total
                )),
            gauge,
        );
        let mut lines: Vec<Line> = Vec::new();
        match (&state.result, self.plan()) {
            (Some(Ok(changed)), Some(plan)) => {
                let ip = plan.public.address.addr();
                for l in [
                    format!("Installed: {changed} changes."),
                    String::new(),
                    format!("Node          {} ({ip})", plan.hostname),
                    format!("SMTP          {ip}:25, submission {ip}:587 (STARTTLS, AUTH)"),
                    format!("IMAP / POP3   {ip}:993 and 143, {ip}:995 and 110 (TLS)"),
                    format!(
                        "Mailbox       postmaster@{} (administrator password)",
                        plan.domain
                    ),
                    "Directory     cn=admin,ou=admins,o=pigeonair (administrator password)".into(),
                    "Administer    pigeonctl (as root on this node)".into(),
                    format!("Answers file  {}", self.answers_path.display()),
                ] {
                    lines.push(Line::from(l));
                }
            }
            (Some(Err(reason)), _) => {
                let step = state
                    .log
                    .iter()
                    .rev()
                    .find(|l| l.contains("FAILED"))
                    .cloned()
                    .unwrap_or_default();
                lines.push(Line::styled(
                    format!("Failed step: {step}"),
                    Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
                ));
                for r in reason.lines() {
                    lines.push(Line::styled(r.to_owned(), Style::default().fg(Color::Red)));
                }
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
            Paragraph::new(lines).wrap(Wrap { trim: false }).block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_set(self.borders()),
            ),
            log,
        );
        frame.render_widget(
            Paragraph::new(keys).style(Style::default().add_modifier(Modifier::REVERSED)),
            footer,
        );
    }
}

const QUIT_TEXT: &str =
    "Quit the installer? What was installed so far stays. y quits, any other key goes back.";

fn popup(frame: &mut Frame, area: Rect, title: &str, text: &str, borders: border::Set) {
    let w = area.width.saturating_sub(10).min(70);
    let h = 8.min(area.height);
    let rect = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: true }).block(
            Block::default()
                .borders(Borders::ALL)
                .border_set(borders)
                .title(format!(" {title} ")),
        ),
        rect,
    );
}
