//! Node: a joined node's host name (reviewing its answers); the rest came from the cluster.

use ratatui::text::Line;

use super::Screen;
use crate::tui::App;
use crate::tui::form::Field;

/// A joined node's name.
pub struct Joined;

impl Screen for Joined {
    fn title(&self) -> &'static str {
        "Node"
    }
    fn purpose(&self) -> &'static str {
        "This node's host name; the cluster's settings came from the cluster."
    }
    fn help(&self) -> &'static str {
        "This box joined a cluster: its cluster name, mail domain, balancer and the provider \
         its directory replicates from came from the cluster when it joined and are kept as \
         they are. Its certificate names this host name and its cluster address."
    }
    fn fields(&self) -> &'static [Field] {
        &[Field::Hostname]
    }
    fn info(&self, app: &App) -> Vec<Line<'static>> {
        vec![
            Line::from(format!(
                "Cluster      {} (joined; mail domain {})",
                app.form.get(Field::ClusterName),
                app.form.get(Field::Domain)
            )),
            Line::from("Kept as the cluster gave them when this node joined."),
        ]
    }
}
