//! `kill` and `start`: a node's power cut and its power coming back. `kill` sends SIGKILL to
//! every process of the node at once (its cgroup: nspawn, the node's systemd and everything
//! under it), so nothing is shut down cleanly, and takes its links down, so peers see a dead
//! box (packets unanswered, not refused) rather than a closed port; its disk (the writable
//! layer) and network namespace stay. `start` boots it again from that disk.

use super::*;

/// How long the node's processes may take to be gone after SIGKILL.
const KILL_PATIENCE: Duration = Duration::from_secs(20);

/// The node's links inside its network namespace (see [`plan::LabPlan::node_commands`]).
const LINKS: [&str; 2] = ["eth0", "eth1"];

impl Lab {
    /// Cuts `node`'s power: every process killed at once, its links down, its disk kept.
    pub fn kill(&self, node: &str, out: &mut dyn Write) -> Result<(), LabError> {
        host::require_root("pigeonair-lab kill")?;
        let _lock = self.lock()?;
        let state = self
            .state()?
            .ok_or_else(|| LabError::NotUp(self.name.clone()))?;
        let plan = LabPlan::new(self.name.clone(), state.node_count)?;
        let node = plan.node(node)?;
        let name = node.name.to_string();
        self.running_leader(&state, &name)?;
        let cgroup = cgroup::lab_relative(self.name.as_str()).join(&name);
        let t = Instant::now();
        // The links first: from this moment the node answers nothing, as when its power goes.
        let ns = plan.node_netns(node.name);
        for link in LINKS {
            net::ip(&argv(&["-n", &ns, "link", "set", link, "down"]))?;
        }
        // Processes forked while the first ones die are killed on the next pass.
        loop {
            let pids = cgroup::processes(&cgroup);
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
            }
            if t.elapsed() > KILL_PATIENCE {
                return Err(LabError::Io {
                    path: cgroup.clone(),
                    source: io::Error::other(format!(
                        "{name}'s processes were still there {} s after SIGKILL",
                        KILL_PATIENCE.as_secs()
                    )),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Left to the kernel by nspawn's death: the nftables ruleset stays in the namespace,
        // which a rebooting machine would not have. The node's boot loads its own again.
        let _ =
            host::run(Command::new("ip").args(["netns", "exec", &ns, "nft", "flush", "ruleset"]));
        let _ = writeln!(
            out,
            "lab {}: {name} killed (power cut) in {:.1} s; its disk is kept: `pigeonair-lab start {name}` boots it again",
            self.name,
            t.elapsed().as_secs_f64()
        );
        Ok(())
    }

    /// Powers `node` on again after [`Lab::kill`] (or after it stopped by itself): boots it
    /// from its own disk and waits until its boot has finished.
    pub fn power_on(
        &self,
        node: &str,
        boot_timeout: Duration,
        cancel: &Cancel,
        out: &mut dyn Write,
    ) -> Result<Status, LabError> {
        host::require_root("pigeonair-lab start")?;
        host::require_tools(LAB_TOOLS)?;
        let _lock = self.lock()?;
        let mut state = self
            .state()?
            .ok_or_else(|| LabError::NotUp(self.name.clone()))?;
        let plan = LabPlan::new(self.name.clone(), state.node_count)?;
        let node = plan.node(node)?.clone();
        let name = node.name.to_string();
        if self.leader_in(&state, &name).is_some() {
            return Err(LabError::NodeUp {
                lab: self.name.clone(),
                node: name,
            });
        }
        if !state.nodes.iter().any(|n| n.name == name) {
            return Err(LabError::NodeDown {
                lab: self.name.clone(),
                node: name,
            });
        }
        let t = Instant::now();
        let ns = plan.node_netns(node.name);
        for link in LINKS {
            net::ip(&argv(&["-n", &ns, "link", "set", link, "up"]))?;
        }
        // Its state entry is replaced, its disk kept (see `boot`).
        self.boot(
            &plan,
            std::slice::from_ref(&node),
            &mut state,
            boot_timeout,
            cancel,
            out,
        )?;
        let _ = writeln!(
            out,
            "lab {}: {name} started again from its disk in {:.1} s",
            self.name,
            t.elapsed().as_secs_f64()
        );
        Ok(self.status_of(&state))
    }
}

fn argv(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| (*s).to_owned()).collect()
}
