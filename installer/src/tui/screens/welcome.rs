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
        "Four screens ask for the network, the node's identity and the administrator \
         password; the summary shows the whole plan and saves it as an answers file, so the \
         same install can run unattended with `pigeonair-install --answers FILE`."
    }
    fn info(&self, _app: &App) -> Vec<Line<'static>> {
        [
            "You will be asked for:",
            "  - the public and the private cluster network of this box,",
            "  - its host name, the primary mail domain and the cluster's name,",
            "  - the administrator's password (postmaster@ gets it too).",
            "",
            "Nothing is changed on this box before you confirm the summary.",
            "",
            "Press Enter to begin.",
        ]
        .into_iter()
        .map(Line::from)
        .collect()
    }
}
