//! Welcome: what the installer does and how to move.

use ratatui::text::Line;

use super::Screen;
use crate::tui::App;

/// The first screen.
pub struct Welcome;

impl Screen for Welcome {
    fn title(&self) -> &'static str {
        "Welcome to PigeonAir"
    }
    fn purpose(&self) -> &'static str {
        "This installer turns this box into a PigeonAir mail node."
    }
    fn help(&self) -> &'static str {
        "A new cluster: screens ask for the network, the node's identity and the \
         administrator password; the summary shows the whole plan and saves it as an answers \
         file, so the same install can run unattended with `pigeonair-install --answers \
         FILE`. Joining: the network, the host name and a join token; you confirm the \
         cluster the token leads to before it is used."
    }
    fn info(&self, _app: &App) -> Vec<Line<'static>> {
        [
            "This box becomes the first node of a new cluster, or joins an existing one.",
            "You will be asked for:",
            "  - the public and the private cluster network of this box and its host name,",
            "  - for a new cluster: the primary mail domain, the cluster's name and the",
            "    administrator's password (postmaster@ gets it too),",
            "  - to join: a join token from a member (`pigeonctl node token`).",
            "",
            "Nothing is changed on this box before you confirm.",
            "",
            "Press Enter to begin.",
        ]
        .into_iter()
        .map(Line::from)
        .collect()
    }
}
