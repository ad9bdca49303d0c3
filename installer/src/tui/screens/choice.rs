//! The choice: make a new cluster of this box, or join it to one.

use ratatui::style::{Modifier, Style};
use ratatui::text::Line;

use super::Screen;
use crate::tui::App;
use crate::tui::form::Goal;

/// Create or join.
pub struct Choice;

impl Screen for Choice {
    fn title(&self) -> &'static str {
        "New or existing cluster"
    }
    fn purpose(&self) -> &'static str {
        "Make a new cluster of this box, or join it to an existing one."
    }
    fn help(&self) -> &'static str {
        "A new cluster: this box becomes its first node and makes the directory, the cluster \
         CA and the cluster's secrets; you choose the mail domain and the administrator's \
         password. Joining: this box becomes one more node of a running cluster, with a \
         one-time token that `pigeonctl node token` prints on a member; the cluster gives it \
         everything else."
    }
    fn choice(&self) -> bool {
        true
    }
    fn info(&self, app: &App) -> Vec<Line<'static>> {
        let joining = app.form.goal() == Goal::Join;
        let option = |chosen: bool, name: &str| {
            let text = format!("{} {name}", if chosen { "(*)" } else { "( )" });
            if chosen {
                Line::styled(text, Style::default().add_modifier(Modifier::REVERSED))
            } else {
                Line::from(text)
            }
        };
        vec![
            Line::from("What should this box be?"),
            Line::from(""),
            option(!joining, "Create a new cluster"),
            Line::from("      This box is the first node: it holds the directory and the"),
            Line::from("      cluster CA. You choose the mail domain and the admin password."),
            Line::from(""),
            option(joining, "Join an existing cluster"),
            Line::from("      This box becomes one more node of a running cluster. You need a"),
            Line::from("      join token: `pigeonctl node token` on a member prints one."),
        ]
    }
}
