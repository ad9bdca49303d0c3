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

/// How the wizard ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Staff quit; nothing was changed.
    Quit,
    /// Staff confirmed the summary: install this plan.
    Install(Plan),
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
                self.outcome = Some(Outcome::Install(plan));
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

    /// Draws the whole screen.
    pub fn draw(&self, frame: &mut Frame) {
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
            .border_set(border::PLAIN);
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
            popup(frame, area, screen.title(), screen.help());
        }
        if self.confirm_quit {
            popup(
                frame,
                area,
                "Quit?",
                "Quit the installer? Nothing has been changed on this box. y quits, any other key goes back.",
            );
        }
    }
}

fn popup(frame: &mut Frame, area: Rect, title: &str, text: &str) {
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
                .border_set(border::PLAIN)
                .title(format!(" {title} ")),
        ),
        rect,
    );
}
