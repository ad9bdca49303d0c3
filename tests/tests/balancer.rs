//! The balancer in IPVS mode against a real kernel: this machine's kernel has no IPVS, so each
//! test boots the appliance image's Debian kernel under qemu (`pigeonair_lab::vm`) and runs
//! `balancer-scenario` inside it. The scenario builds a client and three real servers in
//! namespaces, starts `pigeonair-balancer run`, and checks step by step: the table equals
//! `ipvsadm -Ln`, client connections reach every real server, a held session survives a
//! quiesce, a dead server leaves rotation and comes back, hand edits are put back, bad configs
//! and a kernel refusal keep the last good table, and `status` shows connections.
//! `balancer-scenario-pair` does the same for a balancer pair: two balancer boxes (namespaces in
//! the VM) with keepalived and the kernel's sync daemons; the master's power is cut while a
//! client connects to the VIP, and the other box answers, keeps the held session and spreads
//! new ones; the cut box comes back as backup without a second outage.

use std::path::Path;
use std::time::Duration;

use pigeonair_lab::vm::{VM_TOOLS, Vm};

const SCENARIO: &str = env!("CARGO_BIN_EXE_balancer-scenario");
const PAIR_SCENARIO: &str = env!("CARGO_BIN_EXE_balancer-scenario-pair");

fn vm_host_ready(test: &str) -> bool {
    let missing: Vec<String> = VM_TOOLS
        .iter()
        .filter(|(tool, _)| {
            if tool.starts_with('/') {
                !Path::new(tool).exists()
            } else {
                pigeonair_host::find_tool(tool).is_none()
            }
        })
        .map(|(tool, package)| format!("{tool} (Debian package {package})"))
        .chain(
            ["ipvsadm", "keepalived"]
                .into_iter()
                .filter(|t| pigeonair_host::find_tool(t).is_none())
                .map(|t| format!("{t} (Debian package {t})")),
        )
        .collect();
    let root = nix::unistd::geteuid().is_root();
    if missing.is_empty() && root {
        return true;
    }
    let why = if root {
        format!("missing {}", missing.join(", "))
    } else {
        "needs root".into()
    };
    if std::env::var_os("CI").is_some() {
        panic!("{test}: cannot run in CI: {why}; scripts/host-setup installs these");
    }
    eprintln!("SKIPPED {test}: {why}");
    false
}

/// One VM at a time: each emulates two CPUs on this two-core machine, and the health checks'
/// timeouts should measure the guest, not a contended host.
static ONE_VM: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn run(forwarding: &str) {
    let _one = ONE_VM.lock().unwrap_or_else(|e| e.into_inner());
    let balancer = Path::new(SCENARIO).with_file_name("pigeonair-balancer");
    assert!(
        balancer.exists(),
        "{} is missing: build it first (`cargo build --workspace`, as scripts/test does)",
        balancer.display()
    );
    let vm = Vm::from_image().expect("the appliance image's kernel");
    let out = vm
        .run(
            &[SCENARIO.to_string(), "ipvs".into(), forwarding.into()],
            &[],
            Duration::from_secs(300),
        )
        .expect("the VM runs the scenario");
    let text = out.output();
    println!("{text}");
    assert!(
        out.code == 0 && text.contains("SCENARIO PASSED"),
        "IPVS {forwarding} scenario failed (exit {}):\n{text}",
        out.code
    );
    for step in [
        "the table we program equals ipvsadm -Ln",
        "client connections to the VIP reach every real server",
        "an established session survives a quiesce",
        "a dead real server leaves rotation, then the table, and comes back",
        "a table changed by hand is put back",
        "a bad config is refused and the last good table kept",
        "a netlink error from the kernel is reported",
        "status shows services, servers, health, weights and connections",
    ] {
        assert!(
            text.contains(&format!("ok: {step}")),
            "step missing: {step}\n{text}"
        );
    }
}

#[test]
fn ipvs_nat_against_a_real_kernel() {
    if vm_host_ready("ipvs_nat_against_a_real_kernel") {
        run("nat");
    }
}

#[test]
fn ipvs_direct_routing_against_a_real_kernel() {
    if vm_host_ready("ipvs_direct_routing_against_a_real_kernel") {
        run("dr");
    }
}

#[test]
fn an_ipvs_balancer_pair_fails_over_and_keeps_sessions() {
    if !vm_host_ready("an_ipvs_balancer_pair_fails_over_and_keeps_sessions") {
        return;
    }
    let _one = ONE_VM.lock().unwrap_or_else(|e| e.into_inner());
    let vm = Vm::from_image().expect("the appliance image's kernel");
    let out = vm
        .run(
            &[PAIR_SCENARIO.to_string(), "pair".into()],
            &[],
            Duration::from_secs(400),
        )
        .expect("the VM runs the scenario");
    let text = out.output();
    println!("{text}");
    assert!(
        out.code == 0 && text.contains("SCENARIO PASSED"),
        "balancer pair scenario failed (exit {}):\n{text}",
        out.code
    );
    for step in [
        "both balancers up, b-lb1 master, the same table on both",
        "keepalived runs VRRP only and the sync daemons run on both",
        "the backup has the held session's connection entry",
        "the master's power is cut: the VIP answers from b-lb2",
        "the held session survives the failover (same real server)",
        "new connections reach every real server through b-lb2",
        "b-lb1 comes back as backup: no second outage longer than the first",
        "then b-lb2 loses power: b-lb1 takes the VIP back with the sessions it was sent",
    ] {
        assert!(
            text.contains(&format!("ok: {step}")),
            "step missing: {step}\n{text}"
        );
    }
}
