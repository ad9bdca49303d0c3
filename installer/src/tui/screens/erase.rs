//! The erase warning (on the install medium, after the summary): exactly what is erased, and
//! the confirmation typed. Enter then erases the disk and installs.

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;

use super::Screen;
use crate::disk::erase;
use crate::tui::App;
use crate::tui::form::Field;

/// The last screen before the disk is written.
pub struct Erase;

impl Screen for Erase {
    fn title(&self) -> &'static str {
        "Erase the disk?"
    }
    fn purpose(&self) -> &'static str {
        "Type Erase and press Enter to erase this disk and install. Esc goes back."
    }
    fn help(&self) -> &'static str {
        "Everything on the disk named here is lost: its partition table and every partition \
         listed. Nothing has been written yet; Esc goes back and changes nothing. After Enter \
         the disk is partitioned, the appliance copied onto it and GRUB installed; then the \
         box reboots into it and its first boot applies the plan."
    }
    fn fields(&self) -> &'static [Field] {
        &[Field::EraseConfirm]
    }
    fn keys(&self) -> Option<&'static str> {
        Some("Type Erase, then Enter erases and installs  Esc back  F1 help  Ctrl-C quit")
    }
    fn info(&self, app: &App) -> Vec<Line<'static>> {
        let (Some(disk), Some(plan)) = (app.form.chosen_disk(), app.form.disk_plan()) else {
            return vec![Line::from(
                "The disk is not chosen or does not fit: go back (Esc) and fix it.",
            )];
        };
        let mut lines: Vec<Line> = erase::warning(disk, &plan)
            .into_iter()
            .map(Line::from)
            .collect();
        lines[0] = Line::styled(
            lines[0].to_string(),
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        );
        lines
    }
}
