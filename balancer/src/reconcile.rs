//! Desired IPVS table against the kernel's → the fewest requests that make them equal. Pure.
//!
//! Only services the balancer owns are touched: those it wants now and those it wanted before
//! (so a VIP or port taken out of the config is removed). Everything else in the kernel — a
//! service an operator added by hand for another purpose — is left alone. Within an owned
//! service every destination is the balancer's: one added by hand is removed, one deleted by
//! hand comes back, an edited weight is put back. The table is never flushed.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::ipvs::IpvsMessage;
use crate::ipvs::table::{Destination, Service, ServiceKey};

/// Services with their destinations.
pub type Table = BTreeMap<ServiceKey, (Service, Vec<Destination>)>;

/// One change to the kernel's table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Change {
    /// Create a service (its destinations follow as `AddDest`).
    AddService(Service),
    /// Scheduler, persistence or flags differ.
    EditService(Service),
    /// An owned service no longer wanted.
    RemoveService(ServiceKey),
    /// A missing destination.
    AddDest(ServiceKey, Destination),
    /// Weight, method or thresholds differ.
    EditDest(ServiceKey, Destination),
    /// A destination no longer wanted (or added by hand to an owned service).
    RemoveDest(ServiceKey, Destination),
}

impl Change {
    /// The netlink request that makes this change.
    pub fn request(&self) -> IpvsMessage {
        match self {
            Change::AddService(s) => s.new_request(),
            Change::EditService(s) => s.set_request(),
            Change::RemoveService(k) => k.del_request(),
            Change::AddDest(k, d) => d.new_request(k),
            Change::EditDest(k, d) => d.set_request(k),
            Change::RemoveDest(k, d) => d.del_request(k),
        }
    }
}

fn same_dest(a: &Destination, b: &Destination) -> bool {
    a.addr == b.addr && a.port == b.port
}

/// The changes that turn `kernel` into `desired` for the services in `desired` and `owned`.
/// Removals come first, so an address:port moving between services never collides.
pub fn reconcile(desired: &Table, kernel: &Table, owned: &BTreeSet<ServiceKey>) -> Vec<Change> {
    let mut removals = Vec::new();
    let mut changes = Vec::new();
    for key in owned {
        if !desired.contains_key(key) && kernel.contains_key(key) {
            removals.push(Change::RemoveService(*key));
        }
    }
    for (key, (service, dests)) in desired {
        let Some((have, have_dests)) = kernel.get(key) else {
            changes.push(Change::AddService(service.clone()));
            changes.extend(dests.iter().map(|d| Change::AddDest(*key, *d)));
            continue;
        };
        if have != service {
            changes.push(Change::EditService(service.clone()));
        }
        for h in have_dests {
            if !dests.iter().any(|d| same_dest(d, h)) {
                removals.push(Change::RemoveDest(*key, *h));
            }
        }
        for d in dests {
            match have_dests.iter().find(|h| same_dest(d, h)) {
                None => changes.push(Change::AddDest(*key, *d)),
                Some(h) if h != d => changes.push(Change::EditDest(*key, *d)),
                Some(_) => {}
            }
        }
    }
    removals.extend(changes);
    removals
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::table::FwdMethod;
    use std::net::SocketAddr;

    fn key(s: &str) -> ServiceKey {
        ServiceKey::tcp(s.parse::<SocketAddr>().unwrap())
    }

    fn dest(a: &str, weight: u32) -> Destination {
        let a: SocketAddr = a.parse().unwrap();
        Destination {
            addr: a.ip(),
            port: a.port(),
            forwarding: FwdMethod::Route,
            weight,
            upper_threshold: 0,
            lower_threshold: 0,
        }
    }

    fn table(entries: &[(&str, &[Destination])]) -> Table {
        entries
            .iter()
            .map(|(k, d)| (key(k), (Service::new(key(k), "wlc", None), d.to_vec())))
            .collect()
    }

    #[test]
    fn empty_kernel_gets_everything_once() {
        let want = table(&[(
            "10.0.0.1:25",
            &[dest("10.42.0.11:25", 100), dest("10.42.0.12:25", 100)],
        )]);
        let owned = want.keys().copied().collect();
        let c = reconcile(&want, &Table::new(), &owned);
        assert_eq!(c.len(), 3);
        assert!(matches!(c[0], Change::AddService(_)));
        // Applying the changes gives a table with nothing left to do.
        assert!(reconcile(&want, &want, &owned).is_empty());
    }

    #[test]
    fn only_differences_are_sent() {
        let want = table(&[(
            "10.0.0.1:25",
            &[dest("10.42.0.11:25", 0), dest("10.42.0.12:25", 100)],
        )]);
        let have = table(&[(
            "10.0.0.1:25",
            &[dest("10.42.0.11:25", 100), dest("10.42.0.13:25", 5)],
        )]);
        let owned = want.keys().copied().collect();
        let c = reconcile(&want, &have, &owned);
        assert_eq!(
            c,
            vec![
                Change::RemoveDest(key("10.0.0.1:25"), dest("10.42.0.13:25", 5)),
                Change::EditDest(key("10.0.0.1:25"), dest("10.42.0.11:25", 0)),
                Change::AddDest(key("10.0.0.1:25"), dest("10.42.0.12:25", 100)),
            ]
        );
    }

    #[test]
    fn foreign_services_are_left_alone_and_old_owned_ones_removed() {
        let want = table(&[("10.0.0.2:25", &[dest("10.42.0.11:25", 100)])]);
        let have = table(&[
            ("10.0.0.1:25", &[dest("10.42.0.11:25", 100)]), // ours before the VIP moved
            ("192.0.2.9:80", &[dest("10.42.0.50:80", 1)]),  // someone else's
        ]);
        let owned: BTreeSet<_> = [key("10.0.0.1:25"), key("10.0.0.2:25")].into();
        let c = reconcile(&want, &have, &owned);
        assert_eq!(c[0], Change::RemoveService(key("10.0.0.1:25")));
        assert!(c.iter().all(|c| !format!("{c:?}").contains("192.0.2.9")));
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn scheduler_change_is_an_edit_not_a_recreate() {
        let want = table(&[("10.0.0.1:25", &[dest("10.42.0.11:25", 100)])]);
        let mut have = want.clone();
        have.get_mut(&key("10.0.0.1:25")).unwrap().0.scheduler = "rr".into();
        let owned = want.keys().copied().collect();
        let c = reconcile(&want, &have, &owned);
        assert_eq!(c.len(), 1);
        assert!(matches!(c[0], Change::EditService(_)));
    }
}
