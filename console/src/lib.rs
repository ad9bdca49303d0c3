//! `pigeonair-console`: the cluster live on a node's terminal — every node's state, mailboxes,
//! disk, health as the balancer sees it, replication and queue, the selected node's journal —
//! and the operations of `pigeonctl node` and `cluster rebalance` behind a few keys.
//!
//! The split follows ratatui's component template: [`app`] (state; keys become actions,
//! `update` changes the state), [`view`] (draws only), [`model`] (the rows, pure, built from
//! the directory's and the nodes' answers); the IO shells are [`gather`] (the background
//! refresh), [`ops`] (the operations, through `pigeonair_ctl`, the same library as pigeonctl)
//! and [`tui`] (the terminal).
#![forbid(unsafe_code)]

pub mod app;
pub mod gather;
pub mod model;
pub mod ops;
pub mod tui;
pub mod view;

pub use app::App;
