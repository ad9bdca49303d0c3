//! Drawing: the [`App`] as it is, onto a frame; nothing here changes it.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::border;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::App;

impl App {
    pub(super) fn borders(&self) -> border::Set {
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
        } else if let Some(check) = &self.check {
            self.draw_check(frame, check);
        } else {
            self.draw_screen(frame);
            if self.help {
                let screen = self.screens()[self.screen];
                popup(
                    frame,
                    frame.area(),
                    screen.title(),
                    screen.help(),
                    self.borders(),
                );
            }
        }
        if self.confirm_quit {
            popup(frame, frame.area(), "Quit?", QUIT_TEXT, self.borders());
        }
    }

    /// One of the wizard's screens: its fields, their problems, why Next was refused.
    fn draw_screen(&self, frame: &mut Frame) {
        let area = frame.area();
        let screen = self.screens()[self.screen];
        let [header, body, footer] = Layout::vertical([
            Constraint::Length(2),
            Constraint::Min(3),
            Constraint::Length(1),
        ])
        .areas(area);
        let step = format!(" {}/{} ", self.screen + 1, self.screens().len());
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
        let keys = if let Some(keys) = screen.keys() {
            keys
        } else if screen.choice() || screen.disk_list() {
            "Up/Down choose  Enter next  Esc back  F1 help  Ctrl-C quit"
        } else if self.fields().is_empty() {
            "Enter next  Esc back  F1 help  Ctrl-C quit"
        } else {
            "Tab/arrows move  Enter next  Esc back  F1 help  Ctrl-C quit"
        };
        footer_keys(frame, footer, keys);
    }
}

const QUIT_TEXT: &str =
    "Quit the installer? What was installed so far stays. y quits, any other key goes back.";

/// The keys line at the bottom.
pub(super) fn footer_keys(frame: &mut Frame, area: Rect, keys: &str) {
    frame.render_widget(
        Paragraph::new(keys).style(Style::default().add_modifier(Modifier::REVERSED)),
        area,
    );
}

/// Title and purpose, the first two lines.
pub(super) fn header(frame: &mut Frame, area: Rect, title: &str, purpose: &str) {
    frame.render_widget(
        Paragraph::new(vec![
            Line::styled(
                format!("PigeonAir installer - {title}"),
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Line::from(purpose.to_owned()),
        ]),
        area,
    );
}

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
