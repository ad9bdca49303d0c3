//! The lab's network namespaces and links, made with iproute2 from [`super::plan`]'s commands.

use std::path::Path;
use std::process::Command;

use pigeonair_host::{self as host, HostError};

use super::names::LabName;
use super::plan::lab_owns_netns;

/// Where `ip netns` keeps its namespaces (bind mounts).
pub const NETNS_DIR: &str = "/run/netns";

/// Runs `ip ARGS…`.
pub fn ip(args: &[String]) -> Result<(), HostError> {
    host::run(Command::new(host::find_tool("ip").unwrap_or_else(|| "ip".into())).args(args))?;
    Ok(())
}

/// The namespaces that exist now and belong to `lab`, sorted.
pub fn lab_namespaces(lab: &LabName) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(NETNS_DIR)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| lab_owns_netns(lab, n))
        .collect();
    names.sort();
    names
}

/// Whether the namespace `name` exists.
pub fn exists(name: &str) -> bool {
    Path::new(NETNS_DIR).join(name).exists()
}

/// Deletes the namespace `name`; its links and their veth peers go with it.
pub fn delete(name: &str) -> Result<(), HostError> {
    ip(&["netns".into(), "del".into(), name.into()])
}
