//! `down`: halt the nodes and remove everything the lab made, found by name as well as from its state.

use super::*;

impl Lab {
    /// Things named after this lab that exist now: namespaces, node processes, cgroups, files.
    pub fn leftovers(&self) -> Vec<String> {
        let mut found: Vec<String> = net::lab_namespaces(&self.name)
            .into_iter()
            .map(|n| format!("namespace {n}"))
            .collect();
        for pid in self.nspawn_processes() {
            found.push(format!("process {pid}"));
        }
        let rel = cgroup::lab_relative(self.name.as_str());
        for root in cgroup::hierarchies() {
            if root.join(&rel).exists() {
                found.push(format!("cgroup {}", root.join(&rel).display()));
            }
        }
        for mount in mounts_under(&self.dirs.lab(&self.name)) {
            found.push(format!("mount {mount}"));
        }
        let dir = self.dirs.lab(&self.name);
        if dir.exists() {
            found.push(format!("directory {}", dir.display()));
        }
        found
    }

    /// The lab's systemd-nspawn processes, found by their `--machine=pal-LAB-nodeI` argument.
    pub(super) fn nspawn_processes(&self) -> Vec<u32> {
        procs::find_by_arg(|arg| {
            node::machine_of(arg).is_some_and(|(lab, node)| {
                lab == self.name.as_str() && node.parse::<names::NodeName>().is_ok()
            })
        })
    }

    /// Stops every node and removes everything the lab made. Taking down a lab that is not up
    /// is not an error.
    pub fn down(&self, out: &mut dyn Write) -> Result<(), LabError> {
        host::require_root("pigeonair-lab down")?;
        let _lock = self.lock()?;
        if self.state()?.is_none() && self.leftovers().is_empty() {
            let _ = writeln!(out, "lab {} is not up: nothing to remove", self.name);
            return Ok(());
        }
        self.teardown(out)?;
        let _ = writeln!(out, "lab {} is down", self.name);
        Ok(())
    }

    pub(super) fn teardown(&self, out: &mut dyn Write) -> Result<(), LabError> {
        let started = Instant::now();
        let mut problems = Vec::new();
        let mut nspawns: Vec<u32> = self
            .state()
            .ok()
            .flatten()
            .map(|s| s.nodes.iter().map(|n| n.nspawn_pid).collect())
            .unwrap_or_default();
        // A recorded PID counts only if it is still our nspawn (PIDs are reused).
        let ours = self.nspawn_processes();
        nspawns.retain(|pid| ours.contains(pid));
        nspawns.extend(ours);
        nspawns.sort_unstable();
        nspawns.dedup();
        // SIGTERM to nspawn halts the node cleanly: nspawn passes it on to the node's systemd
        // as SIGRTMIN+3. A systemd that has just started has no handler yet, and PID 1 ignores
        // signals it does not handle, so the request is repeated every second.
        let mut last_term: Option<Instant> = None;
        let rel = cgroup::lab_relative(self.name.as_str());
        let halted = wait_until(Duration::from_secs(15), || {
            let running: Vec<u32> = nspawns
                .iter()
                .copied()
                .filter(|p| procs::alive(*p))
                .collect();
            if last_term.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                for pid in &running {
                    let _ = kill(Pid::from_raw(*pid as i32), Signal::SIGTERM);
                }
                last_term = Some(Instant::now());
            }
            running.is_empty()
        });
        if !halted {
            let _ = writeln!(
                out,
                "lab {}: nodes did not halt in 15 s; killing",
                self.name
            );
        }
        // Whatever is still in the lab's cgroups (a node that ignored SIGTERM) is killed.
        let stragglers = || {
            let mut p = cgroup::processes(&rel);
            p.extend(nspawns.iter().copied().filter(|p| procs::alive(*p)));
            p.retain(|p| procs::alive(*p));
            p
        };
        for pid in stragglers() {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
        if !wait_until(Duration::from_secs(5), || stragglers().is_empty()) {
            problems.push(format!("processes still running: {:?}", stragglers()));
        }
        if !nspawns.is_empty() {
            let _ = writeln!(
                out,
                "lab {}: {} node(s) stopped in {:.1} s",
                self.name,
                nspawns.len(),
                started.elapsed().as_secs_f64()
            );
        }
        if let Err(e) = cgroup::remove(&rel, Duration::from_secs(5)) {
            problems.push(format!("cgroup: {e}"));
        }
        for ns in net::lab_namespaces(&self.name) {
            if let Err(e) = net::delete(&ns) {
                problems.push(e.to_string());
            }
        }
        let dir = self.dirs.lab(&self.name);
        for mount in mounts_under(&dir) {
            if let Err(e) = host::run(Command::new("umount").args(["--lazy", &mount])) {
                problems.push(e.to_string());
            }
        }
        if dir.exists()
            && let Err(e) = std::fs::remove_dir_all(&dir)
        {
            problems.push(format!("{}: {e}", dir.display()));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(LabError::Teardown {
                lab: self.name.clone(),
                problems: problems.join("; "),
            })
        }
    }
}
