//! Administrator: the password, twice, and root's SSH key (optional).

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
        "Choose the administrator's password (postmaster@ gets it too); SSH is optional."
    }
    fn help(&self) -> &'static str {
        "At least 10 characters. It is stored only as a SHA512-CRYPT hash: the answers file \
         saved from the summary holds the hash, never the password. Root's SSH key: a public \
         key line as in a .pub file (ssh-ed25519 AAAA... comment); root then logs in over SSH \
         with that key only, never a password. Left empty, SSH is off."
    }
    fn fields(&self) -> &'static [Field] {
        &[Field::Password, Field::PasswordAgain, Field::SshKey]
    }
    fn info(&self, app: &App) -> Vec<Line<'static>> {
        let mut lines = Vec::new();
        if app.password_hash.is_some() && app.form.get(Field::Password).is_empty() {
            lines.push(Line::from(
                "The reviewed answers file has a password hash: leave empty to keep it.",
            ));
        }
        let reviewed = app.form.reviewed_ssh_keys();
        if reviewed > 0 {
            lines.push(Line::from(format!(
                "The reviewed answers give root {reviewed} SSH key(s): kept; a key typed here is added."
            )));
        }
        let strength = app.form.strength();
        if !strength.is_empty() {
            lines.push(Line::from(format!("Strength: {strength}")));
        }
        lines
    }
}
