//! Administrator: the password, twice.

use ratatui::text::Line;

use super::Screen;
use crate::tui::App;
use crate::tui::form::Field;

/// The administrator's password.
pub struct Admin;

impl Screen for Admin {
    fn title(&self) -> &'static str {
        "Administrator"
    }
    fn purpose(&self) -> &'static str {
        "Choose the administrator's password (postmaster@ gets it too)."
    }
    fn help(&self) -> &'static str {
        "At least 10 characters. It is stored only as a SHA512-CRYPT hash: the answers file \
         saved from the summary holds the hash, never the password."
    }
    fn fields(&self) -> &'static [Field] {
        &[Field::Password, Field::PasswordAgain]
    }
    fn info(&self, app: &App) -> Vec<Line<'static>> {
        let mut lines = Vec::new();
        if app.password_hash.is_some() && app.form.get(Field::Password).is_empty() {
            lines.push(Line::from(
                "The reviewed answers file has a password hash: leave empty to keep it.",
            ));
        }
        let strength = app.form.strength();
        if !strength.is_empty() {
            lines.push(Line::from(format!("Strength: {strength}")));
        }
        lines
    }
}
