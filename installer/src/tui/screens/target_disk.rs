//! Target disk (on the install medium): the disks found, with their partitions; Up and Down
//! choose the one to erase. The install medium is listed too: choosing it is refused by the
//! `[disk]` validator, in its words.

use pigeonair_appliance::disk::size_text;
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;

use super::Screen;
use crate::disk::erase;
use crate::tui::App;
use crate::tui::form::Field;

/// The disk to install to.
pub struct TargetDisk;

impl Screen for TargetDisk {
    fn title(&self) -> &'static str {
        "Target disk"
    }
    fn purpose(&self) -> &'static str {
        "Choose the disk to install to. It is erased (you confirm that at the end)."
    }
    fn help(&self) -> &'static str {
        "The appliance is installed on one whole disk, which is erased: a GPT with a BIOS boot \
         partition, an EFI system partition and the root (so it boots with either firmware), \
         and optionally /var/vmail (next screen). The disk needs at least 6.5 GiB. The install \
         medium and disks in use are refused. Nothing is written before the erase warning \
         is confirmed."
    }
    fn fields(&self) -> &'static [Field] {
        &[Field::DiskDevice]
    }
    fn disk_list(&self) -> bool {
        true
    }
    fn info(&self, app: &App) -> Vec<Line<'static>> {
        let mut lines = vec![Line::styled(
            format!("    {:<12} {:>10}  {}", "Disk", "Size", "Model"),
            Style::default().add_modifier(Modifier::BOLD),
        )];
        let disks = app.form.disks().unwrap_or_default();
        if disks.is_empty() {
            lines.push(Line::from("(no disks found)"));
        }
        let chosen = app.form.get(Field::DiskDevice);
        for d in disks {
            let selected = d.path == chosen;
            let mut text = format!(
                "{} {:<12} {:>10}  {}",
                if selected { "(*)" } else { "( )" },
                d.path,
                size_text(d.size_bytes),
                d.model.as_deref().unwrap_or("-")
            );
            if d.install_medium {
                text.push_str("  [install medium]");
            } else if !d.mounted.is_empty() {
                text.push_str("  [in use]");
            }
            lines.push(if selected {
                Line::styled(text, Style::default().add_modifier(Modifier::REVERSED))
            } else {
                Line::from(text)
            });
            for p in erase::partition_lines(d) {
                lines.push(Line::from(format!("      {p}")));
            }
        }
        lines
    }
}
