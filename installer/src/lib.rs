//! `pigeonair-install`: the front ends of an install — the TUI's views and the unattended
//! entry point — and the join (from join answers to the plan). Applying a plan is
//! `pigeonair-apply` (re-exported as [`apply`]); what to write comes from the pure renderers
//! of `pigeonair-appliance`.
#![forbid(unsafe_code)]

pub use pigeonair_apply as apply;
pub mod disk;
pub mod join;
pub mod runner;
pub mod tui;
