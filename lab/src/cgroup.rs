//! Each node's own cgroup. With no systemd as the host's PID 1, `systemd-nspawn --keep-unit`
//! uses the cgroup it was started in; nodes started from one cgroup would then share it and see
//! each other's services. The launcher moves itself into `pigeonair-lab/LAB/NODE` in every
//! hierarchy systemd uses before it execs nspawn.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The hierarchies systemd uses on this host: the named `systemd` v1 hierarchy and the unified
/// (v2) one on a hybrid host, or the single v2 root.
pub fn hierarchies() -> Vec<PathBuf> {
    let hybrid: Vec<PathBuf> = ["/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"]
        .iter()
        .map(PathBuf::from)
        .filter(|p| p.join("cgroup.procs").exists())
        .collect();
    if !hybrid.is_empty() {
        return hybrid;
    }
    let v2 = PathBuf::from("/sys/fs/cgroup");
    if v2.join("cgroup.controllers").exists() {
        vec![v2]
    } else {
        Vec::new()
    }
}

/// The lab's cgroup path relative to a hierarchy's root.
pub fn lab_relative(lab: &str) -> PathBuf {
    Path::new("pigeonair-lab").join(lab)
}

/// Moves the calling process into `relative` in every hierarchy, creating it.
pub fn enter(relative: &Path) -> io::Result<()> {
    let me = std::process::id().to_string();
    for root in hierarchies() {
        let dir = root.join(relative);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("cgroup.procs"), &me)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    }
    Ok(())
}

/// Every process in `relative` and its descendants, in any hierarchy.
pub fn processes(relative: &Path) -> Vec<u32> {
    let mut pids = Vec::new();
    for root in hierarchies() {
        collect(&root.join(relative), &mut pids);
    }
    pids.sort_unstable();
    pids.dedup();
    pids
}

fn collect(dir: &Path, pids: &mut Vec<u32>) {
    if let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) {
        pids.extend(text.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
    }
    for sub in subdirs(dir) {
        collect(&sub, pids);
    }
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect()
}

/// Removes `relative` and everything under it in every hierarchy, deepest first. A cgroup
/// whose last process has just exited can stay busy for a moment: retried for up to `patience`.
pub fn remove(relative: &Path, patience: Duration) -> io::Result<()> {
    for root in hierarchies() {
        let dir = root.join(relative);
        let deadline = Instant::now() + patience;
        loop {
            match remove_tree(&dir) {
                Ok(()) => break,
                Err(e) if Instant::now() < deadline && e.raw_os_error() == Some(16) => {
                    // EBUSY: processes are still leaving.
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => {
                    return Err(io::Error::new(e.kind(), format!("{}: {e}", dir.display())));
                }
            }
        }
        // Drop the shared parent too once no lab uses it.
        let _ = std::fs::remove_dir(root.join("pigeonair-lab"));
    }
    Ok(())
}

fn remove_tree(dir: &Path) -> io::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    for sub in subdirs(dir) {
        remove_tree(&sub)?;
    }
    // cgroupfs directories are removed with rmdir even though they hold control files.
    match std::fs::remove_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}
