//! Where built layers live: `/var/lib/pigeonair/images` (or `$PIGEONAIR_IMAGE_STORE`).
//!
//! ```text
//! base-KEY/rootfs           the Debian base (a whole root filesystem)
//! base-KEY/manifest.json    written last: a layer without it is incomplete and rebuilt
//! packages-KEY/layer        overlay upper directory with PigeonAir's packages installed
//! packages-KEY/manifest.json
//! packages-KEY/layer.squashfs  the layer squashed for the ISO (made the first time one needs it)
//! live-KEY/                 the ISO's boot part for one base: vmlinuz, initrd.img (live-boot),
//!                           base.squashfs, manifest.json (written last)
//! iso/pigeonair.iso         the install medium last built, and pigeonair.iso.manifest.json
//! current.json              the image last built: its layers, lowest first
//! .lock                     held while building, so concurrent builds wait for each other
//! ```

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

/// The default place of the image store.
pub const DEFAULT_STORE: &str = "/var/lib/pigeonair/images";

/// A built appliance image: the directories that, stacked with overlayfs in order (lowest
/// first), make its root filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// Identifies the content: the base key, plus the packages key when there is a packages layer.
    pub id: String,
    /// Layer directories, lowest first. The first is a complete root filesystem.
    pub layers: Vec<PathBuf>,
}

impl Image {
    /// The base root filesystem (the lowest layer).
    pub fn base(&self) -> &Path {
        &self.layers[0]
    }
}

/// What was built into a layer, and how long it took. Its presence marks the layer complete.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// `base` or `packages`.
    pub kind: String,
    /// The cache key.
    pub key: String,
    /// What the key was computed from.
    pub inputs: String,
    /// When the build finished, seconds since the Unix epoch.
    pub built_at: u64,
    /// How long the build took, seconds.
    pub build_seconds: f64,
}

/// The image store on disk.
#[derive(Debug, Clone)]
pub struct ImageStore {
    root: PathBuf,
}

impl ImageStore {
    /// A store at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ImageStore { root: root.into() }
    }

    /// The store at `$PIGEONAIR_IMAGE_STORE`, else [`DEFAULT_STORE`].
    pub fn from_env() -> Self {
        ImageStore::new(
            std::env::var_os("PIGEONAIR_IMAGE_STORE")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_STORE)),
        )
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of the base layer with `key`.
    pub fn base_dir(&self, key: &str) -> PathBuf {
        self.root.join(format!("base-{key}"))
    }

    /// The directory of the packages layer with `key`.
    pub fn packages_dir(&self, key: &str) -> PathBuf {
        self.root.join(format!("packages-{key}"))
    }

    /// The directory of the ISO's boot part with `key` (see [`crate::live::LiveSpec::key`]).
    pub fn live_dir(&self, key: &str) -> PathBuf {
        self.root.join(format!("live-{key}"))
    }

    /// Where `pigeonair-image iso` writes the install medium unless told otherwise.
    pub fn default_iso(&self) -> PathBuf {
        self.root.join("iso/pigeonair.iso")
    }

    /// The manifest of the layer in `dir`, if the layer is complete.
    pub fn manifest(&self, dir: &Path) -> Option<Manifest> {
        let text = std::fs::read_to_string(dir.join("manifest.json")).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Marks the layer in `dir` complete.
    pub fn write_manifest(&self, dir: &Path, manifest: &Manifest) -> io::Result<()> {
        let text = serde_json::to_string_pretty(manifest).map_err(io::Error::other)?;
        write_atomic(&dir.join("manifest.json"), text.as_bytes())
    }

    /// The image last built, if any.
    pub fn current(&self) -> Option<Image> {
        let text = std::fs::read_to_string(self.root.join("current.json")).ok()?;
        let image: Image = serde_json::from_str(&text).ok()?;
        image.layers.iter().all(|l| l.is_dir()).then_some(image)
    }

    /// Records `image` as the one last built.
    pub fn set_current(&self, image: &Image) -> io::Result<()> {
        let text = serde_json::to_string_pretty(image).map_err(io::Error::other)?;
        write_atomic(&self.root.join("current.json"), text.as_bytes())
    }

    /// Takes the store's build lock, waiting for another build to finish.
    pub fn lock(&self) -> io::Result<Flock<File>> {
        std::fs::create_dir_all(&self.root)?;
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.root.join(".lock"))?;
        Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| io::Error::from(errno))
    }
}

/// Writes `path` through a temporary file and a rename, so a reader never sees half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
