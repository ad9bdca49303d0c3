//! Disk layout (on the install medium): whether `/var/vmail` gets a partition of its own, and
//! the partitions the chosen disk gets.

use ratatui::text::Line;

use super::Screen;
use crate::disk::erase;
use crate::tui::App;
use crate::tui::form::Field;

/// `/var/vmail` and the partitions.
pub struct DiskLayout;

impl Screen for DiskLayout {
    fn title(&self) -> &'static str {
        "Disk layout"
    }
    fn purpose(&self) -> &'static str {
        "Keep mail on the root file system, or give /var/vmail a partition of its own."
    }
    fn help(&self) -> &'static str {
        "Leave the size empty and mail lives on the root file system, which takes the whole \
         disk but the boot partitions. A size (20G, 512M, at least 1 GiB) makes a separate \
         /var/vmail partition of at least that size at the end of the disk; the root keeps at \
         least 6 GiB. A full mail partition then cannot fill the root."
    }
    fn fields(&self) -> &'static [Field] {
        &[Field::VmailSize]
    }
    fn also_checks(&self) -> &'static [Field] {
        &[Field::DiskDevice]
    }
    fn info(&self, app: &App) -> Vec<Line<'static>> {
        let mut lines = vec![
            Line::from(format!(
                "Disk: {}",
                app.form
                    .chosen_disk()
                    .map(erase::disk_line)
                    .unwrap_or_else(|| app.form.get(Field::DiskDevice).to_owned())
            )),
            Line::from("Separate /var/vmail: empty for no (mail on the root file system),"),
            Line::from("or its size, e.g. 20G or 512M (at least 1 GiB)."),
            Line::from(""),
        ];
        match app.form.disk_plan() {
            Some(plan) => {
                lines.push(Line::from("Partitions (GPT):"));
                lines.push(Line::from(format!("  {}", erase::layout_line(&plan))));
            }
            None => lines.push(Line::from("Partitions (GPT): once the size is valid")),
        }
        lines
    }
}
