//! The node's own network before its daemons: slapd (and LMTP) listen on the private address,
//! so on a box whose network this install has just written (the first boot of a disk installed
//! from the medium) systemd-networkd must have brought that address up first. Where the address
//! is there already (a lab node, a re-run) nothing is done.

use std::process::Command;
use std::time::{Duration, Instant};

use pigeonair_appliance::Plan;
use pigeonair_host as host;

use crate::{ApplyError, units};

/// How long networkd gets to put the private address on its interface.
pub const ADDRESS_WAIT: Duration = Duration::from_secs(30);

/// Whether `ip -o -4 addr show dev IFACE` lists `addr` (`… inet 10.42.0.11/24 …`).
pub fn lists_address(ip_output: &str, addr: &str) -> bool {
    ip_output
        .split_whitespace()
        .any(|w| w.split('/').next() == Some(addr) && w.contains('/'))
}

fn has_address(interface: &str, addr: &str) -> bool {
    host::run(Command::new("ip").args(["-o", "-4", "addr", "show", "dev", interface]))
        .map(|out| lists_address(&out, addr))
        .unwrap_or(false)
}

/// Brings up the plan's private address with systemd-networkd (started, or told to reload the
/// files the install wrote) and waits up to [`ADDRESS_WAIT`] for it. Returns whether it had to.
pub fn bring_up_private_address(plan: &Plan) -> Result<bool, ApplyError> {
    let interface = plan.private.interface.as_str();
    let addr = plan.private.address.addr().to_string();
    if has_address(interface, &addr) {
        return Ok(false);
    }
    let networkd = "systemd-networkd.service";
    units::enable(networkd)?;
    if units::is_active(networkd) {
        host::run(Command::new("networkctl").arg("reload"))?;
    } else {
        units::start(networkd)?;
    }
    let started = Instant::now();
    while !has_address(interface, &addr) {
        if started.elapsed() > ADDRESS_WAIT {
            let now = host::run(Command::new("ip").args(["-o", "addr", "show", "dev", interface]))
                .unwrap_or_else(|e| e.to_string());
            return Err(ApplyError::Network(format!(
                "systemd-networkd did not bring up network.private.address {addr} on {interface} \
                 within {} s (is {interface} the cluster network's interface? `networkctl status \
                 {interface}` says why); {interface} has: {}",
                ADDRESS_WAIT.as_secs(),
                now.trim()
            )));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Ok(true)
}

/// Before a join, on a box whose network nothing has configured yet (the first boot of a
/// disk installed from the medium: the install writes the network files only once the join
/// has given the rest of the plan): puts `address` (`10.42.0.12/24`) on `interface` and brings
/// it up with `ip`, so the member in the token, on the same private network, can be reached.
/// systemd-networkd takes the interface over when the install has written its files (the same
/// address). Returns whether it had to.
pub fn bring_up_for_join(interface: &str, address: &str) -> Result<bool, ApplyError> {
    let addr = address.split('/').next().unwrap_or(address);
    if has_address(interface, addr) {
        return Ok(false);
    }
    let failed = |e: host::HostError| {
        ApplyError::Network(format!(
            "network.private: putting {address} on {interface} for the join: {e} (is \
             {interface} the cluster network's interface? `ip link` lists them)"
        ))
    };
    host::run(Command::new("ip").args(["link", "set", "dev", interface, "up"])).map_err(failed)?;
    host::run(Command::new("ip").args(["addr", "replace", address, "dev", interface]))
        .map_err(failed)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_is_found_in_ip_output() {
        let out = "3: ens6    inet 10.42.0.11/24 brd 10.42.0.255 scope global ens6\\       valid_lft forever preferred_lft forever\n";
        assert!(lists_address(out, "10.42.0.11"));
        assert!(!lists_address(out, "10.42.0.1"));
        assert!(!lists_address(out, "10.42.0.255"));
        assert!(!lists_address("", "10.42.0.11"));
    }
}
