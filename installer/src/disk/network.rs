//! The live system's network, brought up only to fetch the answers from a URL: DHCP (IPv4) on
//! every Ethernet interface by systemd-networkd, which the image has but the live system does
//! not start on its own, and `/etc/resolv.conf` from the lease's DNS servers when it names
//! none (the image has no resolver daemon). A network that has a default route already is left
//! as it is. Everything is under `/run`: the installed system gets none of it. The file
//! contents and the lease's parsing are pure; [`bring_up`] is the shell.

use std::fs;
use std::process::Command;

/// systemd-networkd's configuration for the live system (runtime: under `/run`).
pub const DHCP_NETWORK_FILE: &str = "/run/systemd/network/90-pigeonair-live-dhcp.network";
/// Where systemd-networkd keeps its DHCP leases, one file per interface index.
const LEASES_DIR: &str = "/run/systemd/netif/leases";
const RESOLV_CONF: &str = "/etc/resolv.conf";
/// How long DHCP may take, seconds.
pub const ONLINE_TIMEOUT_SECS: u32 = 90;

/// The `.network` file: DHCPv4 on every Ethernet interface.
pub fn dhcp_network() -> String {
    "# The install medium: DHCP to fetch the answers (pigeonair.answers= on the kernel command line).\n\
     [Match]\n\
     Type=ether\n\
     \n\
     [Network]\n\
     DHCP=ipv4\n\
     LinkLocalAddressing=no\n\
     IPv6AcceptRA=no\n"
        .into()
}

/// The DNS servers in a systemd-networkd lease file (`DNS=10.0.2.3 10.0.2.4`).
pub fn lease_dns(lease: &str) -> Vec<String> {
    lease
        .lines()
        .filter_map(|l| l.strip_prefix("DNS="))
        .flat_map(|v| v.split_whitespace().map(str::to_owned))
        .collect()
}

/// Whether `resolv.conf`'s text names a server.
pub fn names_a_nameserver(resolv_conf: &str) -> bool {
    resolv_conf
        .lines()
        .any(|l| l.split_whitespace().next() == Some("nameserver"))
}

/// `/etc/resolv.conf` naming `servers`.
pub fn resolv_conf(servers: &[String]) -> String {
    let mut s = String::from("# The install medium: the DHCP lease's DNS servers.\n");
    for server in servers {
        s.push_str(&format!("nameserver {server}\n"));
    }
    s
}

/// Brings the network up for the fetch, saying what it did; an error says what failed.
pub fn bring_up(say: &mut dyn FnMut(&str)) -> Result<(), String> {
    let route = pigeonair_host::run(Command::new("ip").args(["-4", "route", "show", "default"]))
        .unwrap_or_default();
    if route.trim().is_empty() {
        say(&format!(
            "network: DHCP on the Ethernet interfaces (systemd-networkd, {DHCP_NETWORK_FILE}), \
             up to {ONLINE_TIMEOUT_SECS} s"
        ));
        if let Some(dir) = std::path::Path::new(DHCP_NETWORK_FILE).parent() {
            fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        }
        fs::write(DHCP_NETWORK_FILE, dhcp_network())
            .map_err(|e| format!("writing {DHCP_NETWORK_FILE}: {e}"))?;
        pigeonair_host::run(
            Command::new("systemctl").args(["restart", "systemd-networkd.service"]),
        )
        .map_err(|e| format!("starting systemd-networkd: {e}"))?;
        pigeonair_host::run(
            Command::new("/usr/lib/systemd/systemd-networkd-wait-online").args([
                "--any",
                "--ipv4",
                &format!("--timeout={ONLINE_TIMEOUT_SECS}"),
            ]),
        )
        .map_err(|e| {
            let links = pigeonair_host::run(Command::new("networkctl").args(["--no-pager"]))
                .unwrap_or_default();
            format!(
                "no DHCP lease on any Ethernet interface: {e}\n{}",
                links.trim()
            )
        })?;
    }
    let current = fs::read_to_string(RESOLV_CONF).unwrap_or_default();
    if !names_a_nameserver(&current) {
        let mut servers = Vec::new();
        if let Ok(dir) = fs::read_dir(LEASES_DIR) {
            for e in dir.filter_map(|e| e.ok()) {
                servers.extend(lease_dns(&fs::read_to_string(e.path()).unwrap_or_default()));
            }
        }
        servers.dedup();
        if !servers.is_empty() {
            fs::write(RESOLV_CONF, resolv_conf(&servers))
                .map_err(|e| format!("writing {RESOLV_CONF}: {e}"))?;
        }
    }
    let addresses = pigeonair_host::run(Command::new("ip").args(["-4", "-brief", "address"]))
        .unwrap_or_default();
    let up: Vec<&str> = addresses
        .lines()
        .filter(|l| !l.starts_with("lo "))
        .collect();
    say(&format!("network: {}", up.join("; ")));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `/run/systemd/netif/leases/2` on the live system on qemu's user network.
    const LEASE: &str = "# This is private data. Do not parse.\n\
                         ADDRESS=10.0.2.15\nNETMASK=255.255.255.0\nROUTER=10.0.2.2\n\
                         SERVER_ADDRESS=10.0.2.2\nNEXT_SERVER=10.0.2.4\n\
                         DNS=10.0.2.3 10.0.2.9\nLIFETIME=86400\n";

    #[test]
    fn the_leases_dns_servers_become_resolv_conf() {
        let servers = lease_dns(LEASE);
        assert_eq!(servers, ["10.0.2.3", "10.0.2.9"]);
        let text = resolv_conf(&servers);
        assert_eq!(
            text,
            "# The install medium: the DHCP lease's DNS servers.\n\
             nameserver 10.0.2.3\nnameserver 10.0.2.9\n"
        );
        assert!(names_a_nameserver(&text));
        assert!(!names_a_nameserver(""));
        assert!(!names_a_nameserver(
            "# nameserver 1.1.1.1\nsearch example\n"
        ));
        assert!(lease_dns("ADDRESS=10.0.2.15\n").is_empty());
    }

    #[test]
    fn dhcp_on_ethernet_only() {
        let f = dhcp_network();
        assert!(f.contains("[Match]\nType=ether\n"));
        assert!(f.contains("DHCP=ipv4\n"));
    }
}
