//! The network interfaces of this box, as the network screen lists them.

use std::path::Path;

/// One interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Its name.
    pub name: String,
    /// Its MAC address.
    pub mac: String,
    /// Whether the link is up.
    pub up: bool,
    /// Its IPv4 addresses with prefix.
    pub addresses: Vec<String>,
}

/// The interfaces of this box except loopback, from /sys/class/net and `ip -o -4 addr`.
pub fn discover() -> Vec<Interface> {
    let root = Path::new("/sys/class/net");
    let mut names: Vec<String> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| n != "lo")
        .collect();
    names.sort();
    let addrs = std::process::Command::new("ip")
        .args(["-o", "-4", "addr", "show"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    names
        .into_iter()
        .map(|name| {
            let read = |f: &str| {
                std::fs::read_to_string(root.join(&name).join(f))
                    .map(|s| s.trim().to_owned())
                    .unwrap_or_default()
            };
            // `ip -o` lines: "2: eth0    inet 203.0.113.11/24 brd … scope global eth0".
            let addresses = addrs
                .lines()
                .filter(|l| l.split_whitespace().nth(1) == Some(name.as_str()))
                .filter_map(|l| {
                    let mut w = l.split_whitespace();
                    w.position(|x| x == "inet")?;
                    w.next().map(str::to_owned)
                })
                .collect();
            Interface {
                mac: read("address"),
                up: read("operstate") == "up",
                addresses,
                name,
            }
        })
        .collect()
}
