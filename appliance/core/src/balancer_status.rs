//! The balancer's status file, `/run/pigeonair-balancer/status.json`: `pigeonair-balancer`
//! writes a [`Status`] after every change; `pigeonair-balancer status` renders it and pigeonaird
//! passes its rows on to peers in `GET /v1/status` (so the console shows each node's health as
//! the balancer sees it). Kept here, beside the balancer.toml contract, so the type exists once.

use serde::{Deserialize, Serialize};

/// Where the daemon writes its status by default.
pub const DEFAULT_STATUS_PATH: &str = "/run/pigeonair-balancer/status.json";

/// The daemon's state, as JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The daemon's PID.
    pub pid: u32,
    /// The config file.
    pub config_path: String,
    /// `ipvs`, `dns`, or `none` before a good config was read.
    pub mode: String,
    /// How many good configs have been loaded.
    pub generation: u64,
    /// Why the last config change was refused (the previous one stays in force).
    pub config_error: Option<String>,
    /// IPVS: VIP, forwarding, scheduler. DNS: zone and listen addresses.
    pub summary: String,
    /// One row per (service, node).
    pub rows: Vec<Row>,
    /// Errors of the last reconcile pass (kernel refusals), empty when it converged.
    pub errors: Vec<String>,
}

/// One real server of one service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// `TCP 203.0.113.240:25` or the DNS name.
    pub service: String,
    /// Node name.
    pub node: String,
    /// Node address and port.
    pub address: String,
    /// `up`, `down`, `unchecked`.
    pub health: String,
    /// For how long, seconds.
    pub health_for_s: u64,
    /// `active`, `quiesced`, `drained`, `absent` (IPVS) or `answered`/`left out` (DNS).
    pub state: String,
    /// Weight in the table.
    pub weight: Option<u32>,
    /// Established connections (IPVS, from the kernel).
    pub active_conns: Option<u32>,
    /// Other connection entries.
    pub inactive_conns: Option<u32>,
    /// The last failed check's reason.
    pub last_error: Option<String>,
}
