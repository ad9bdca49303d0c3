//! The wizard's screens, in order for each goal. Adding a screen is adding a module here and
//! a line in [`for_goal`].

mod admin;
mod choice;
mod disk_layout;
mod erase;
mod identity;
mod join;
mod joined;
mod network;
mod summary;
mod target_disk;
mod welcome;

use ratatui::text::Line;

use super::App;
use super::form::{Field, Goal};

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
    /// Fields of earlier screens whose problems also keep this one from going on (a
    /// `/var/vmail` too big for the disk is the validator's `disk.device` problem).
    fn also_checks(&self) -> &'static [Field] {
        &[]
    }
    /// Lines shown above the fields.
    fn info(&self, _app: &App) -> Vec<Line<'static>> {
        Vec::new()
    }
    /// Whether it is the choice between a new cluster and joining one (Up and Down choose).
    fn choice(&self) -> bool {
        false
    }
    /// Its keys line, when not the usual one.
    fn keys(&self) -> Option<&'static str> {
        None
    }
    /// Whether it is the list of disks (Up and Down choose the target disk).
    fn disk_list(&self) -> bool {
        false
    }
}

/// The screens for `goal` in order; `choose`: with the choice of goal after the welcome (a
/// reviewed answers file has its goal already); `medium`: the installer runs from the install
/// medium, so a new cluster's first node is installed to a disk: the target disk and its
/// layout before the summary, the erase warning after it.
pub fn for_goal(goal: Goal, choose: bool, medium: bool) -> &'static [&'static dyn Screen] {
    match (goal, choose, medium) {
        (Goal::Create, true, true) => &[
            &welcome::Welcome,
            &choice::Choice,
            &network::Network,
            &identity::Identity,
            &admin::Admin,
            &target_disk::TargetDisk,
            &disk_layout::DiskLayout,
            &summary::DiskSummary,
            &erase::Erase,
        ],
        (Goal::Create, false, true) => &[
            &welcome::Welcome,
            &network::Network,
            &identity::Identity,
            &admin::Admin,
            &target_disk::TargetDisk,
            &disk_layout::DiskLayout,
            &summary::DiskSummary,
            &erase::Erase,
        ],
        _ => for_box(goal, choose),
    }
}

/// The screens of an install onto the running system.
fn for_box(goal: Goal, choose: bool) -> &'static [&'static dyn Screen] {
    match (goal, choose) {
        (Goal::Create, true) => &[
            &welcome::Welcome,
            &choice::Choice,
            &network::Network,
            &identity::Identity,
            &admin::Admin,
            &summary::Summary,
        ],
        (Goal::Create, false) => &[
            &welcome::Welcome,
            &network::Network,
            &identity::Identity,
            &admin::Admin,
            &summary::Summary,
        ],
        (Goal::Join, true) => &[
            &welcome::Welcome,
            &choice::Choice,
            &network::Network,
            &join::Join,
        ],
        (Goal::Join, false) => &[&welcome::Welcome, &network::Network, &join::Join],
        (Goal::Joined, _) => &[
            &welcome::Welcome,
            &network::Network,
            &joined::Joined,
            &summary::Summary,
        ],
    }
}
