//! Prints the kernel's raw replies to an IPVS service, destination and sync daemon dump as hex, one
//! netlink message per line, for the byte-annotated tests in `src/ipvs/tests.rs`. Run it in the
//! VM after `ipvsadm` has made a table (`pigeonair-vm run -- sh -c 'ipvsadm … && ipvs-capture'`).

use pigeonair_balancer::ipvs::socket::IpvsSocket;
use pigeonair_balancer::ipvs::sync::get_daemons_request;
use pigeonair_balancer::ipvs::table::get_services_request;

fn main() -> anyhow::Result<()> {
    let mut s = IpvsSocket::open()?;
    for raw in s.dump_raw(&get_services_request())? {
        println!("service {}", hex(&raw));
    }
    for svc in s.services()? {
        for raw in s.dump_raw(&svc.key.get_dests_request())? {
            println!("dest {}", hex(&raw));
        }
    }
    for raw in s.dump_raw(&get_daemons_request())? {
        println!("daemon {}", hex(&raw));
    }
    Ok(())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
