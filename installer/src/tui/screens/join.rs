//! Join: this node's host name and the join token.

use ratatui::text::Line;

use super::Screen;
use crate::tui::App;
use crate::tui::form::Field;

/// The token.
pub struct Join;

impl Screen for Join {
    fn title(&self) -> &'static str {
        "Join"
    }
    fn purpose(&self) -> &'static str {
        "Name this node and paste the join token a member printed."
    }
    fn help(&self) -> &'static str {
        "`pigeonctl node token` on a member prints a one-time token, \
         PA1.ID.SECRET.CA@ADDRESS:PORT: the member's private address and the fingerprint of \
         the cluster's CA. Enter connects there and checks the CA before anything secret is \
         sent; you confirm the cluster, then the token is used and this box installed."
    }
    fn fields(&self) -> &'static [Field] {
        &[Field::Hostname, Field::Token]
    }
    fn info(&self, _app: &App) -> Vec<Line<'static>> {
        [
            "The host name is this node's fully qualified name (mx2.example.com); the",
            "cluster gives it its mail domain and everything else.",
            "",
            "Enter checks the member named in the token: nothing secret is sent and",
            "nothing is written before you confirm the cluster it shows.",
        ]
        .into_iter()
        .map(Line::from)
        .collect()
    }
}
