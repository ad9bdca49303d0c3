//! `refresh`: freshly built packages into running nodes.

use super::*;

impl Lab {
    /// Installs the PigeonAir packages in `debs` into every running node (`dpkg -i`), and
    /// refreshes the image's packages layer for nodes booted later. The Debian base is reused.
    pub fn refresh(&self, debs_dir: &Path, out: &mut dyn Write) -> Result<(), LabError> {
        host::require_root("pigeonair-lab refresh")?;
        let _lock = self.lock()?;
        let state = self
            .state()?
            .ok_or_else(|| LabError::NotUp(self.name.clone()))?;
        let debs = Debs::scan(debs_dir).map_err(io_err(debs_dir))?;
        if debs.files.is_empty() {
            return Err(LabError::NoInstaller(debs_dir.to_owned()));
        }
        ensure_image(
            &ImageStore::from_env(),
            &ImageSpec::appliance(),
            &Mirror::from_host()?,
            &debs,
            out,
        )?;
        for node in &state.nodes {
            let leader = self
                .leader_in(&state, &node.name)
                .ok_or_else(|| LabError::NodeDown {
                    lab: self.name.clone(),
                    node: node.name.clone(),
                })?;
            let mut names = Vec::new();
            for (name, _) in &debs.files {
                let path = debs_dir.join(name);
                let file = File::open(&path).map_err(io_err(&path))?;
                let target = format!("/var/cache/pigeonair-lab/{name}");
                host::run(
                    node::nsenter(leader)
                        .args([
                            "sh",
                            "-c",
                            "mkdir -p /var/cache/pigeonair-lab && cat > \"$0\"",
                        ])
                        .arg(&target)
                        .stdin(file),
                )?;
                names.push(target);
            }
            host::run(node::nsenter(leader).args(["dpkg", "-i"]).args(&names))?;
            host::run(node::nsenter(leader).args(["rm", "-rf", "/var/cache/pigeonair-lab"]))?;
            let _ = writeln!(out, "{}: installed {}", node.name, names.len());
        }
        Ok(())
    }
}
