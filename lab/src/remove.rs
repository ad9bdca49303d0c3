//! `remove`: takes a node out of the lab's cluster the way an operator does, with node1's
//! `pigeonctl`: `node drain` (its mailboxes move to the others) and `node remove` (its
//! certificates are revoked). The node then makes itself a fresh box and stays booted, to be
//! joined again by hand or from the installer's screens.

use super::*;

impl Lab {
    /// Drains and removes `node` (node2 … nodeN) through node1, and waits until the node has
    /// left (its installed answers gone).
    pub fn remove(&self, node: &str, out: &mut dyn Write) -> Result<(), LabError> {
        host::require_root("pigeonair-lab remove")?;
        let _lock = self.lock()?;
        let state = self
            .state()?
            .ok_or_else(|| LabError::NotUp(self.name.clone()))?;
        let plan = LabPlan::new(self.name.clone(), state.node_count)?;
        let name = plan.node(node)?.name.to_string();
        let node1 = plan.nodes[0].name.to_string();
        if name == node1 {
            return Err(LabError::Install {
                status: "refused".into(),
                output: format!(
                    "{node1} holds the cluster's writable directory and CA: it cannot be removed"
                ),
            });
        }
        let leader = self.running_leader(&state, &name)?;
        let mut cat = node::nsenter(leader);
        cat.args(["cat", "/etc/pigeonair/answers.toml"]);
        let answers = host::run(&mut cat).map_err(|_| LabError::Install {
            status: "not installed".into(),
            output: format!("{name} is not a member of the cluster (it is a fresh box)"),
        })?;
        let hostname = pigeonair_appliance::answers::parse_any(&answers)
            .ok()
            .map(|a| match a {
                pigeonair_appliance::answers::Answers::Install(p) => p.hostname.to_string(),
                pigeonair_appliance::answers::Answers::Join(j) => j.hostname.to_string(),
            })
            .ok_or_else(|| LabError::Install {
                status: "unreadable answers".into(),
                output: format!("{name}'s /etc/pigeonair/answers.toml does not parse"),
            })?;
        let t = Instant::now();
        let first = self.running_leader(&state, &node1)?;
        for step in ["drain", "remove"] {
            let mut cmd = node::nsenter(first);
            cmd.args(["pigeonctl", "node", step, &hostname]);
            let said = host::run(&mut cmd)?;
            let _ = write!(out, "{said}");
        }
        // The node leaves by itself once it reads that it was removed.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut test = node::nsenter(leader);
            test.args(["test", "-e", "/etc/pigeonair/answers.toml"]);
            if host::run(&mut test).is_err() {
                break;
            }
            if Instant::now() > deadline {
                return Err(LabError::Install {
                    status: "still installed".into(),
                    output: format!(
                        "{hostname} was removed from the cluster but has not left within 60 s: \
                         see `journalctl -u pigeonaird` in {name}"
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = writeln!(
            out,
            "lab {}: {name} ({hostname}) removed from the cluster in {:.1} s; it is a fresh box now",
            self.name,
            t.elapsed().as_secs_f64()
        );
        Ok(())
    }
}
