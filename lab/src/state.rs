//! What a lab made, on disk under `/var/lib/pigeonair-lab/LAB/` (or `$PIGEONAIR_LAB_DIR/LAB/`):
//! `state.json`, and per node `NODE/upper` (its writable layer over the image) and
//! `NODE/console.log`. The state is written before each thing it records is made, so a lab
//! interrupted at any point can still be taken down.

use std::io;
use std::path::{Path, PathBuf};

use pigeonair_image::Image;
use serde::{Deserialize, Serialize};

use super::names::{LabName, NodeName};

/// The default directory of all labs.
pub const DEFAULT_LAB_DIR: &str = "/var/lib/pigeonair-lab";

/// Where labs keep their files.
#[derive(Debug, Clone)]
pub struct LabDirs {
    root: PathBuf,
}

impl LabDirs {
    /// Labs under `$PIGEONAIR_LAB_DIR`, else [`DEFAULT_LAB_DIR`].
    pub fn from_env() -> Self {
        LabDirs {
            root: std::env::var_os("PIGEONAIR_LAB_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_LAB_DIR)),
        }
    }

    /// The directory of all labs.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// One lab's directory.
    pub fn lab(&self, lab: &LabName) -> PathBuf {
        self.root.join(lab.as_str())
    }

    /// One lab's state file.
    pub fn state_file(&self, lab: &LabName) -> PathBuf {
        self.lab(lab).join("state.json")
    }

    /// One node's directory.
    pub fn node(&self, lab: &LabName, node: NodeName) -> PathBuf {
        self.lab(lab).join(node.to_string())
    }
}

/// A lab as recorded by `up`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabState {
    /// How many nodes the lab was made with.
    pub node_count: u32,
    /// The image its nodes boot.
    pub image: Image,
    /// The nodes launched so far.
    pub nodes: Vec<NodeState>,
}

/// A launched node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeState {
    /// `nodeI`.
    pub name: String,
    /// The systemd-nspawn process (whose child is the node's systemd).
    pub nspawn_pid: u32,
}

impl LabState {
    /// Reads the state of `lab`, if it has one.
    pub fn load(dirs: &LabDirs, lab: &LabName) -> io::Result<Option<LabState>> {
        let path = dirs.state_file(lab);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes the state of `lab` (atomically).
    pub fn save(&self, dirs: &LabDirs, lab: &LabName) -> io::Result<()> {
        std::fs::create_dir_all(dirs.lab(lab))?;
        let text = serde_json::to_string_pretty(self).map_err(io::Error::other)?;
        pigeonair_image::store::write_atomic(&dirs.state_file(lab), text.as_bytes())
    }
}
