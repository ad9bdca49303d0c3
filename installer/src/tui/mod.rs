//! The interactive installer: key events become changes of the [`App`], which draws itself;
//! terminal setup and teardown live in [`terminal`]. Everything here but [`terminal`] is pure
//! and tested with ratatui's TestBackend.

pub mod form;
pub mod interfaces;
pub mod screens;
pub mod terminal;

use std::collections::BTreeSet;
use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use pigeonair_appliance::plan::Plan;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::border;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use form::{Field, Form};
use interfaces::Interface;
use screens::Screen;

/// How the wizard ended, or what it asks its runner to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Staff quit.
    Quit,
    /// Staff confirmed the summary: install this plan (the runner starts it and reports
    /// back with [`App::install_event`]).
    Install(Box<Plan>),
    /// The install finished and staff left the done screen.
    Done,
}

/// What the running install reports.
#[derive(Debug, Clone, PartialEq)]
pub enum InstallEvent {
    /// A step ended, or a line of detail.
    Progress(crate::apply::Event),
    /// It finished: the number of changes, or why it failed.
    Finished(Result<usize, String>),
}

/// The install as the install and done screens show it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstallState {
    /// Every line so far.
    pub log: Vec<String>,
    /// Steps done.
    pub done: usize,
    /// Steps in all.
    pub total: usize,
    /// `Some` once finished.
    pub result: Option<Result<usize, String>>,
}

/// The wizard's state.
pub struct App {
    /// What was typed.
    pub form: Form,
    /// A password hash from a reviewed answers file (kept unless a new password is typed).
    pub password_hash: Option<String>,
    /// Network interfaces found on this box.
    pub interfaces: Vec<Interface>,
    /// Where the summary saves the answers file.
    pub answers_path: PathBuf,
    screens: Vec<Box<dyn Screen>>,
    screen: usize,
    focus: usize,
    touched: BTreeSet<Field>,
    refused: Vec<String>,
    help: bool,
    confirm_quit: bool,
    outcome: Option<Outcome>,
    install: Option<InstallState>,
    ascii: bool,
}

impl App {
    /// A wizard over `interfaces`, saving to `answers_path`.
    pub fn new(interfaces: Vec<Interface>, answers_path: PathBuf) -> Self {
        App {
            form: Form::default(),
            password_hash: None,
            interfaces,
            answers_path,
            screens: screens::all(),
            screen: 0,
            focus: 0,
            touched: BTreeSet::new(),
            refused: Vec::new(),
            help: false,
            confirm_quit: false,
            outcome: None,
            install: None,
            ascii: false,
        }
    }

    /// Draw borders with ASCII (`+-|`), for serial terminals without line-drawing glyphs.
    pub fn with_ascii_borders(mut self, ascii: bool) -> Self {
        self.ascii = ascii;
        self
    }

    /// Takes what the runner must do now (start the install), leaving the wizard running.
    pub fn take_request(&mut self) -> Option<Plan> {
        match self.outcome.take() {
            Some(Outcome::Install(plan)) => {
                self.install = Some(InstallState {
                    total: 5,
                    ..InstallState::default()
                });
                Some(*plan)
            }
            other => {
                self.outcome = other;
                None
            }
        }
    }

    /// Feeds a report of the running install.
    pub fn install_event(&mut self, event: InstallEvent) {
        let Some(state) = self.install.as_mut() else {
            return;
        };
        match event {
            InstallEvent::Progress(event) => {
                if event.is_step() {
                    state.done += 1;
                }
                state.log.push(event.to_string());
            }
            InstallEvent::Finished(result) => state.result = Some(result),
        }
    }

    /// How the wizard ended, once it has.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    /// The current screen's title.
    pub fn screen_title(&self) -> &'static str {
        self.screens[self.screen].title()
    }

    /// The plan, when the whole form is valid.
    pub fn plan(&self) -> Option<Plan> {
        self.form.plan(self.password_hash.as_deref())
    }

    fn fields(&self) -> &'static [Field] {
        self.screens[self.screen].fields()
    }

    fn focused(&self) -> Option<Field> {
        self.fields().get(self.focus).copied()
    }

    /// Problems of the current screen's fields.
    fn screen_problems(&self) -> Vec<String> {
        let hash = self.password_hash.as_deref();
        self.fields()
            .iter()
            .flat_map(|f| {
                self.form
                    .problems_of(*f, hash)
                    .into_iter()
                    .map(move |m| format!("{}: {m}", f.label()))
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    fn next_screen(&mut self) {
        let problems = self.screen_problems();
        if !problems.is_empty() {
            self.touched.extend(self.fields().iter().copied());
            self.refused = problems;
            return;
        }
        self.refused.clear();
        if self.screen + 1 == self.screens.len() {
            if let Some(plan) = self.plan() {
                self.outcome = Some(Outcome::Install(Box::new(plan)));
            }
            return;
        }
        self.screen += 1;
        self.focus = 0;
    }

    fn move_focus(&mut self, forward: bool) {
        if let Some(f) = self.focused() {
            self.touched.insert(f);
        }
        let n = self.fields().len();
        if n > 0 {
            self.focus = if forward {
                (self.focus + 1) % n
            } else {
                (self.focus + n - 1) % n
            };
        }
    }

    /// Handles one key.
    pub fn handle(&mut self, key: KeyEvent) {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if self.confirm_quit {
            match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => self.outcome = Some(Outcome::Quit),
                _ => self.confirm_quit = false,
            }
            return;
        }
        if self.help {
            self.help = false;
            return;
        }
        if let Some(state) = &self.install {
            match (&state.result, key.code) {
                // Running: only quitting is possible (it asks first).
                (None, KeyCode::Char('c')) if ctrl => self.confirm_quit = true,
                (Some(Ok(_)), KeyCode::Enter) => self.outcome = Some(Outcome::Done),
                // Failed: back to the screens to fix, then install again.
                (Some(Err(_)), KeyCode::Esc) => {
                    self.install = None;
                    self.screen = 1;
                    self.focus = 0;
                }
                (Some(_), KeyCode::Char('c')) if ctrl => self.confirm_quit = true,
                _ => {}
            }
            return;
        }
        match key.code {
            KeyCode::Char('c') if ctrl => self.confirm_quit = true,
            KeyCode::F(1) => self.help = true,
            KeyCode::Esc => {
                self.refused.clear();
                if self.screen > 0 {
                    self.screen -= 1;
                    self.focus = 0;
                }
            }
            KeyCode::Enter => {
                let last = self.focus + 1 >= self.fields().len();
                if last {
                    self.next_screen();
                } else {
                    self.move_focus(true);
                }
            }
            KeyCode::Tab | KeyCode::Down => self.move_focus(true),
            KeyCode::BackTab | KeyCode::Up => self.move_focus(false),
            KeyCode::Backspace => {
                if let Some(f) = self.focused() {
                    let mut v = self.form.get(f).to_owned();
                    v.pop();
                    self.form.set(f, v);
                }
            }
            KeyCode::Char(c) if !ctrl => {
                if let Some(f) = self.focused() {
                    let mut v = self.form.get(f).to_owned();
                    if v.chars().count() < 253 {
                        v.push(c);
                    }
                    self.form.set(f, v);
                }
            }
            _ => {}
        }
    }

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
