//! `pigeonair-install`: the shell that applies a [`Plan`](pigeonair_appliance::Plan) to this
//! node — files, TLS material, slapd's cn=config, the directory's seed entries, systemd units.
//! What to write comes from the pure renderers of `pigeonair-appliance`; this crate only
//! compares, writes, validates and restarts.
#![forbid(unsafe_code)]

pub mod apply;
pub mod join;
pub mod tui;
