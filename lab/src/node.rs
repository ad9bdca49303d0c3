//! One lab node: the systemd-nspawn command that boots it, finding its systemd, and asking
//! systemd how the boot went.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pigeonair_host::{self as host, HostError};
use pigeonair_image::Image;
use serde::Serialize;

use super::plan::{LabPlan, NodePlan};
use super::procs;

/// The hidden `pigeonair-lab` subcommand that joins a node's cgroup and execs nspawn.
pub const LAUNCH_SUBCOMMAND: &str = "__launch";

/// Escapes `:` and `\` in a path for nspawn's colon-separated `--overlay=`.
fn overlay_path(path: &Path) -> String {
    path.display()
        .to_string()
        .replace('\\', "\\\\")
        .replace(':', "\\:")
}

/// The systemd-nspawn arguments that boot `node` from `image` with `upper` as its writable
/// layer. `--register=no --keep-unit` because the host may have no systemd as PID 1;
/// `--read-only` on the base lets every node share it, the overlay gives each its own writes.
pub fn nspawn_args(plan: &LabPlan, node: &NodePlan, image: &Image, upper: &Path) -> Vec<String> {
    let machine = plan.node_netns(node.name);
    let mut layers: Vec<String> = image.layers.iter().map(|l| overlay_path(l)).collect();
    layers.push(overlay_path(upper));
    layers.push("/".into());
    vec![
        "--quiet".into(),
        "--register=no".into(),
        "--keep-unit".into(),
        "--boot".into(),
        format!("--machine={machine}"),
        format!("--hostname={}", node.name),
        format!("--directory={}", image.base().display()),
        "--read-only".into(),
        format!("--overlay={}", layers.join(":")),
        format!("--network-namespace-path=/run/netns/{machine}"),
        // Nodes configure their own interfaces, nftables and IPVS.
        "--capability=CAP_NET_ADMIN".into(),
        // The node's resolver, time zone and journal are its own, not the host's.
        "--resolv-conf=off".into(),
        "--timezone=off".into(),
        "--link-journal=no".into(),
    ]
}

/// The `--machine=` value that marks a lab's nspawn processes, parsed back: `(lab, node)`.
pub fn machine_of(arg: &str) -> Option<(&str, &str)> {
    let name = arg.strip_prefix("--machine=pal-")?;
    let dash = name.rfind('-')?;
    Some((&name[..dash], &name[dash + 1..]))
}

/// Starts the node: `pigeonair-lab __launch CGROUP -- systemd-nspawn …`, detached from the
/// terminal's process group (Ctrl-C on `up` must not kill nodes half-way), console to `log`.
pub fn launch(cgroup: &Path, args: &[String], log: &Path) -> Result<Child, HostError> {
    let io_err = |source| HostError::Io {
        path: log.to_owned(),
        source,
    };
    let console = File::create(log).map_err(io_err)?;
    let exe = std::env::current_exe().map_err(|source| HostError::Io {
        path: PathBuf::from("/proc/self/exe"),
        source,
    })?;
    let nspawn = host::find_tool("systemd-nspawn").unwrap_or_else(|| "systemd-nspawn".into());
    let mut cmd = Command::new(exe);
    cmd.arg(LAUNCH_SUBCOMMAND)
        .arg(cgroup)
        .arg("--")
        .arg(nspawn)
        .args(args)
        .env("SYSTEMD_NSPAWN_UNIFIED_HIERARCHY", "1")
        // /proc/sys/net writable, as on a real machine: nodes set their own network sysctls
        // (IPVS direct routing's ARP settings). It is the node's own network namespace.
        .env("SYSTEMD_NSPAWN_API_VFS_WRITABLE", "network")
        .stdin(Stdio::null())
        .stdout(console.try_clone().map_err(io_err)?)
        .stderr(console);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.spawn().map_err(|source| HostError::Spawn {
        cmd: host::describe(&cmd),
        source,
    })
}

/// The node's systemd (PID 1 inside): the child of its nspawn process once it has exec'd.
pub fn leader(nspawn_pid: u32) -> Option<u32> {
    procs::children(nspawn_pid)
        .into_iter()
        .find(|pid| procs::comm(*pid).as_deref() == Some("systemd"))
}

/// `nsenter` into every namespace of `leader` and its root, with a clean environment.
pub fn nsenter(leader: u32) -> Command {
    let mut cmd = Command::new(host::find_tool("nsenter").unwrap_or_else(|| "nsenter".into()));
    cmd.arg("--target")
        .arg(leader.to_string())
        .args(["--all", "--root", "--wd", "--"])
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("HOME", "/root")
        .env("LANG", "C.UTF-8")
        .env(
            "TERM",
            std::env::var("TERM").unwrap_or_else(|_| "dumb".into()),
        );
    cmd
}

/// How a node's boot went, as `systemctl is-system-running` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SystemState {
    /// `running`, `degraded`, `starting`, … or `down` when the node is not running.
    pub state: String,
    /// Failed units when degraded.
    pub failed: Vec<String>,
}

impl SystemState {
    /// Whether the node is up: running, or degraded (with its reasons shown).
    pub fn is_up(&self) -> bool {
        self.state == "running" || self.state == "degraded"
    }

    /// The state with the failed units, e.g. `degraded (failed: postfix.service)`.
    pub fn describe(&self) -> String {
        if self.failed.is_empty() {
            self.state.clone()
        } else {
            format!("{} (failed: {})", self.state, self.failed.join(", "))
        }
    }
}

/// Asks the node's systemd for the system state; with `wait`, waits until boot has finished
/// (early in boot, before its bus is up, systemctl cannot connect: that is retried too).
/// `cancelled` ends the wait early.
pub fn system_state(
    leader: u32,
    wait: Option<Duration>,
    cancelled: &dyn Fn() -> bool,
) -> Result<SystemState, HostError> {
    let deadline = Instant::now() + wait.unwrap_or(Duration::ZERO);
    let state = loop {
        let mut cmd = nsenter(leader);
        cmd.args(["systemctl", "is-system-running"]);
        if wait.is_some() {
            cmd.arg("--wait");
        }
        let left = deadline.saturating_duration_since(Instant::now());
        // is-system-running exits non-zero for anything but "running": read what it printed.
        let limit = match wait {
            Some(_) => left.max(Duration::from_millis(100)),
            None => Duration::from_secs(10),
        };
        let out = host::output_within(&mut cmd, limit)?;
        let state = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        // Right after nspawn execs systemd, systemctl finds no manager yet ("offline") or
        // cannot connect (nothing printed): that is boot not having started, not its result.
        let not_yet = state.is_empty() || state == "offline";
        let past_deadline = Instant::now() >= deadline || cancelled();
        if !state.is_empty() && (!not_yet || past_deadline) {
            break state;
        }
        if past_deadline {
            break format!("unknown ({})", String::from_utf8_lossy(&out.stderr).trim());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let failed = if state == "degraded" {
        let out = host::output_within(
            nsenter(leader).args([
                "systemctl",
                "--failed",
                "--plain",
                "--no-legend",
                "--no-pager",
            ]),
            Duration::from_secs(10),
        )?;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .collect()
    } else {
        Vec::new()
    };
    Ok(SystemState { state, failed })
}

/// Waits for the nspawn process `nspawn_pid` to have exec'd the node's systemd.
/// `cancelled` ends the wait early.
pub fn wait_for_leader(
    nspawn_pid: u32,
    deadline: Instant,
    cancelled: &dyn Fn() -> bool,
) -> Option<u32> {
    loop {
        if let Some(pid) = leader(nspawn_pid) {
            return Some(pid);
        }
        if !procs::alive(nspawn_pid) || Instant::now() >= deadline || cancelled() {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `text` without terminal escape sequences (colours, cursor control), for showing a node's
/// console in an error message.
pub fn strip_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        // CSI: parameters and intermediates up to a final byte in '@'..='~'. Anything else
        // (OSC, charset selection) is short: the one following character is dropped.
        if chars.next() == Some('[') {
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_are_stripped() {
        assert_eq!(
            strip_escapes("\u{1b}[0;1;39mWelcome\u{1b}[0m to \u{1b}[!p\u{1b}[?7hx"),
            "Welcome to x"
        );
    }

    use super::*;
    use crate::names::LabName;

    #[test]
    fn nspawn_args_golden() {
        let plan = LabPlan::new(LabName::try_new("t").unwrap(), 2).unwrap();
        let image = Image {
            id: "k".into(),
            layers: vec!["/img/base/rootfs".into(), "/img/pkg:1/layer".into()],
        };
        let args = nspawn_args(
            &plan,
            &plan.nodes[1],
            &image,
            Path::new("/lab/t/node2/upper"),
        );
        assert_eq!(
            args.join(" "),
            "--quiet --register=no --keep-unit --boot --machine=pal-t-node2 --hostname=node2 \
             --directory=/img/base/rootfs --read-only \
             --overlay=/img/base/rootfs:/img/pkg\\:1/layer:/lab/t/node2/upper:/ \
             --network-namespace-path=/run/netns/pal-t-node2 --capability=CAP_NET_ADMIN \
             --resolv-conf=off --timezone=off --link-journal=no"
        );
    }

    #[test]
    fn machine_marker_parses_back() {
        assert_eq!(
            machine_of("--machine=pal-a-b-node3"),
            Some(("a-b", "node3"))
        );
        assert_eq!(machine_of("--machine=other"), None);
        assert_eq!(machine_of("--hostname=x"), None);
    }
}
