//! The wizard's screens, in order. Adding a screen is adding a module here and a line in
//! [`all`].

mod admin;
mod identity;
mod network;
mod summary;
mod welcome;

use ratatui::text::Line;

use super::App;
use super::form::Field;

/// One screen of the wizard.
pub trait Screen {
    /// Its title.
    fn title(&self) -> &'static str;
    /// What it is for, in one line.
    fn purpose(&self) -> &'static str;
    /// What F1 explains.
    fn help(&self) -> &'static str;
    /// The fields it edits, in focus order.
    fn fields(&self) -> &'static [Field] {
        &[]
    }
    /// Lines shown above the fields.
    fn info(&self, _app: &App) -> Vec<Line<'static>> {
        Vec::new()
    }
}

/// The screens in order.
pub fn all() -> Vec<Box<dyn Screen>> {
    vec![
        Box::new(welcome::Welcome),
        Box::new(network::Network),
        Box::new(identity::Identity),
        Box::new(admin::Admin),
        Box::new(summary::Summary),
    ]
}
