//! Network: the public and the private cluster interface.

use ratatui::style::{Modifier, Style};
use ratatui::text::Line;

use super::Screen;
use crate::tui::App;
use crate::tui::form::Field;

/// Interfaces and addresses.
pub struct Network;

impl Screen for Network {
    fn title(&self) -> &'static str {
        "Network"
    }
    fn purpose(&self) -> &'static str {
        "Pick the public interface (clients, other MTAs) and the private cluster one."
    }
    fn help(&self) -> &'static str {
        "The public interface carries SMTP, IMAP and POP3 from the Internet. The private \
         cluster interface carries replication, LMTP and proxying between nodes and must be \
         another interface on a network that does not overlap the public one. Addresses are \
         ADDRESS/PREFIX, e.g. 203.0.113.11/24."
    }
    fn fields(&self) -> &'static [Field] {
        &[
            Field::PublicInterface,
            Field::PublicAddress,
            Field::PublicGateway,
            Field::Dns,
            Field::PrivateInterface,
            Field::PrivateAddress,
        ]
    }
    fn info(&self, app: &App) -> Vec<Line<'static>> {
        let mut lines = vec![Line::styled(
            format!(
                "{:<10} {:<17} {:<5} {}",
                "Interface", "MAC", "Link", "Addresses"
            ),
            Style::default().add_modifier(Modifier::BOLD),
        )];
        if app.interfaces.is_empty() {
            lines.push(Line::from("(no network interfaces found)"));
        }
        for i in app.interfaces.iter().take(4) {
            lines.push(Line::from(format!(
                "{:<10} {:<17} {:<5} {}",
                i.name,
                i.mac,
                if i.up { "up" } else { "down" },
                i.addresses.join(" ")
            )));
        }
        lines
    }
}
