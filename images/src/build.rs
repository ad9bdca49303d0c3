//! Builds the image's layers, or reuses them from the store. This is the shell around
//! debootstrap and systemd-nspawn; what to build comes from [`ImageSpec`].

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::mirror::Mirror;
use crate::spec::{CUSTOMISE_SCRIPT, ImageSpec, hex, short_key};
use crate::store::{Image, ImageStore, Manifest};
use pigeonair_host::{self as host, HostError};

/// Host tools the build needs, with the Debian package of each.
pub const BUILD_TOOLS: &[(&str, &str)] = &[
    ("debootstrap", "debootstrap"),
    ("systemd-nspawn", "systemd-container"),
];

/// Where the build steps see their inputs inside the image.
const BUILD_MOUNT: &str = "/run/pigeonair-build";
const DEBS_MOUNT: &str = "/run/pigeonair-debs";

/// The image could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A host tool is missing or failed.
    #[error(transparent)]
    Host(#[from] HostError),
    /// The ISO needs PigeonAir's packages (the installer) and found none.
    #[error(
        "no PigeonAir .deb files in {}: the install medium needs the installer; \
         build them with scripts/build (or pass --debs DIR)", .dir.display()
    )]
    NoPackages {
        /// Where packages were looked for.
        dir: PathBuf,
    },
    /// A file in the store could not be read or written.
    #[error("image store {path}: {source}")]
    Store {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

pub(crate) fn store_err(path: &Path) -> impl FnOnce(io::Error) -> BuildError + '_ {
    move |source| BuildError::Store {
        path: path.to_owned(),
        source,
    }
}

/// PigeonAir's own Debian packages, to be installed on top of the base.
#[derive(Debug, Clone, Default)]
pub struct Debs {
    /// The directory holding them.
    pub dir: PathBuf,
    /// `(file name, SHA-256)` of each `.deb`, sorted by name.
    pub files: Vec<(String, String)>,
}

impl Debs {
    /// The `.deb` files in `dir`; a directory that does not exist holds none.
    pub fn scan(dir: &Path) -> io::Result<Debs> {
        let mut files = Vec::new();
        match std::fs::read_dir(dir) {
            Ok(entries) => {
                for entry in entries {
                    let path = entry?.path();
                    if path.extension().is_some_and(|e| e == "deb") && path.is_file() {
                        let bytes = std::fs::read(&path)?;
                        let name = path.file_name().unwrap_or_default().to_string_lossy();
                        files.push((name.into_owned(), hex(&Sha256::digest(&bytes))));
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        files.sort();
        Ok(Debs {
            dir: dir.to_owned(),
            files,
        })
    }

    fn canonical(&self, base_key: &str) -> String {
        let mut text = format!("base {base_key}\n");
        for (name, sha) in &self.files {
            text.push_str(&format!("deb {name} {sha}\n"));
        }
        text
    }
}

/// Prints one line per step with how long it took.
pub(crate) struct Steps<'a> {
    pub(crate) out: &'a mut dyn Write,
}

impl Steps<'_> {
    pub(crate) fn say(&mut self, line: &str) {
        // Progress lines are best effort: a closed terminal must not fail the build.
        let _ = writeln!(self.out, "image: {line}");
    }

    /// Runs one step: says what it does and about how long it takes (`expect`), then how long
    /// it took.
    pub(crate) fn run<T>(
        &mut self,
        what: &str,
        expect: &str,
        f: impl FnOnce() -> Result<T, BuildError>,
    ) -> Result<T, BuildError> {
        let started = Instant::now();
        let _ = writeln!(self.out, "image: {what} ({expect}) …");
        let result = f();
        let secs = started.elapsed().as_secs_f64();
        match &result {
            Ok(_) => self.say(&format!("{what}: done in {secs:.1} s")),
            Err(_) => self.say(&format!("{what}: FAILED after {secs:.1} s")),
        }
        result
    }
}

pub(crate) fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The systemd-nspawn invocation that runs a command in `root` (not booted) with the host's
/// network, for package installation. `--keep-unit --register=no` because the host may have no
/// systemd as PID 1.
pub(crate) fn nspawn_run(root: &Path) -> Command {
    let mut cmd = Command::new("systemd-nspawn");
    cmd.args(["--quiet", "--register=no", "--keep-unit"])
        .arg(format!("--directory={}", root.display()))
        .args(["--resolv-conf=copy-host", "--timezone=off"])
        .env("SYSTEMD_NSPAWN_UNIFIED_HIERARCHY", "1");
    cmd
}

/// Returns the image for `spec` and `debs`, building whatever layer the store lacks.
/// Progress goes to `out`, one line per step with its duration.
pub fn ensure_image(
    store: &ImageStore,
    spec: &ImageSpec,
    mirror: &Mirror,
    debs: &Debs,
    out: &mut dyn Write,
) -> Result<Image, BuildError> {
    let mut steps = Steps { out };
    let _lock = store.lock().map_err(store_err(store.root()))?;
    let base_key = spec.base_key(mirror);
    let base_dir = store.base_dir(&base_key);
    let base_root = base_dir.join("rootfs");
    match store.manifest(&base_dir) {
        Some(m) => steps.say(&format!(
            "base {base_key} (Debian {}) cached: reused (its build took {:.1} s)",
            spec.suite, m.build_seconds
        )),
        None => {
            host::require_root("building the appliance image")?;
            host::require_tools(BUILD_TOOLS)?;
            let started = Instant::now();
            build_base(&mut steps, spec, mirror, &base_dir, &base_root)?;
            let manifest = Manifest {
                kind: "base".into(),
                key: base_key.clone(),
                inputs: spec.canonical(mirror),
                built_at: now_unix(),
                build_seconds: started.elapsed().as_secs_f64(),
            };
            store
                .write_manifest(&base_dir, &manifest)
                .map_err(store_err(&base_dir))?;
            steps.say(&format!(
                "base {base_key} built in {:.1} s",
                manifest.build_seconds
            ));
        }
    }
    let mut image = Image {
        id: base_key.clone(),
        layers: vec![base_root.clone()],
    };
    if debs.files.is_empty() {
        steps.say(&format!(
            "packages: no PigeonAir .deb files in {} (the image is the base alone)",
            debs.dir.display()
        ));
    } else {
        let inputs = debs.canonical(&base_key);
        let key = short_key(inputs.as_bytes());
        let dir = store.packages_dir(&key);
        let layer = dir.join("layer");
        match store.manifest(&dir) {
            Some(_) => steps.say(&format!(
                "packages {key} ({} .deb) cached: reused",
                debs.files.len()
            )),
            None => {
                host::require_root("building the appliance image")?;
                let started = Instant::now();
                build_packages(&mut steps, &base_root, debs, &dir, &layer)?;
                let manifest = Manifest {
                    kind: "packages".into(),
                    key: key.clone(),
                    inputs,
                    built_at: now_unix(),
                    build_seconds: started.elapsed().as_secs_f64(),
                };
                store
                    .write_manifest(&dir, &manifest)
                    .map_err(store_err(&dir))?;
            }
        }
        image.id = format!("{base_key}+{key}");
        image.layers.push(layer);
    }
    store.set_current(&image).map_err(store_err(store.root()))?;
    steps.say(&format!("ready: {}", image.id));
    Ok(image)
}

pub(crate) fn fresh_dir(dir: &Path) -> Result<(), BuildError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(store_err(dir))?;
    }
    std::fs::create_dir_all(dir).map_err(store_err(dir))
}

fn build_base(
    steps: &mut Steps,
    spec: &ImageSpec,
    mirror: &Mirror,
    dir: &Path,
    root: &Path,
) -> Result<(), BuildError> {
    // A directory without a manifest is what an interrupted build left: start it over.
    fresh_dir(dir)?;
    let log = dir.join("build.log");
    steps.run(
        &format!(
            "debootstrap {} ({}) from {mirror} into {}",
            spec.suite,
            spec.variant,
            root.display()
        ),
        "once, then cached: about 30 s, longer on a slow mirror; log in build.log",
        || {
            host::run_logged(
                Command::new("debootstrap")
                    .arg(format!("--variant={}", spec.variant))
                    .arg(format!("--include={}", spec.bootstrap.join(",")))
                    .arg(&spec.suite)
                    .arg(root)
                    .arg(mirror.url()),
                &log,
            )?;
            Ok(())
        },
    )?;
    let inputs = dir.join("build-inputs");
    std::fs::create_dir_all(&inputs).map_err(store_err(&inputs))?;
    let debconf = inputs.join("debconf");
    std::fs::write(&debconf, spec.debconf.join("\n") + "\n").map_err(store_err(&debconf))?;
    let _no_daemons = PolicyRcD::install(root)?;
    steps.run(
        &format!(
            "install {} Debian packages and set up the appliance",
            spec.packages.len()
        ),
        "once, then cached: about 25 s",
        || {
            host::run_logged(
                nspawn_run(root)
                    .arg(format!("--bind-ro={}:{BUILD_MOUNT}", inputs.display()))
                    .arg(format!("--setenv=PACKAGES={}", spec.packages.join(" ")))
                    .arg(format!(
                        "--setenv=DISABLED={}",
                        spec.disabled_units.join(" ")
                    ))
                    .args(["--", "/bin/sh", "-c", CUSTOMISE_SCRIPT]),
                &log,
            )?;
            Ok(())
        },
    )?;
    std::fs::remove_dir_all(&inputs).map_err(store_err(&inputs))?;
    Ok(())
}

fn build_packages(
    steps: &mut Steps,
    base: &Path,
    debs: &Debs,
    dir: &Path,
    layer: &Path,
) -> Result<(), BuildError> {
    fresh_dir(dir)?;
    std::fs::create_dir_all(layer).map_err(store_err(layer))?;
    let log = dir.join("build.log");
    let _no_daemons = PolicyRcD::install(layer)?;
    let debs_dir = std::fs::canonicalize(&debs.dir).map_err(store_err(&debs.dir))?;
    let names: Vec<String> = debs
        .files
        .iter()
        .map(|(name, _)| format!("{DEBS_MOUNT}/{name}"))
        .collect();
    steps.run(
        &format!("install {} PigeonAir package(s)", names.len()),
        "whenever they change: about a second",
        || {
            host::run_logged(
                nspawn_run(base)
                    .arg("--read-only")
                    .arg(format!(
                        "--overlay={}:{}:/",
                        base.display(),
                        layer.display()
                    ))
                    .arg(format!("--bind-ro={}:{DEBS_MOUNT}", debs_dir.display()))
                    .args([
                        "--setenv=DEBIAN_FRONTEND=noninteractive",
                        "--",
                        "apt-get",
                        "install",
                        "-y",
                        "-q",
                        "--no-install-recommends",
                    ])
                    .args(&names),
                &log,
            )?;
            Ok(())
        },
    )
}

/// Keeps package scripts from starting daemons in the image while it is being built
/// (`/usr/sbin/policy-rc.d` exiting 101); removed again when dropped.
pub(crate) struct PolicyRcD(PathBuf);

impl PolicyRcD {
    pub(crate) fn install(root: &Path) -> Result<PolicyRcD, BuildError> {
        use std::os::unix::fs::PermissionsExt;
        let dir = root.join("usr/sbin");
        std::fs::create_dir_all(&dir).map_err(store_err(&dir))?;
        let path = dir.join("policy-rc.d");
        std::fs::write(&path, "#!/bin/sh\nexit 101\n").map_err(store_err(&path))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .map_err(store_err(&path))?;
        Ok(PolicyRcD(path))
    }
}

impl Drop for PolicyRcD {
    fn drop(&mut self) {
        // Best effort: a leftover policy-rc.d only stops package scripts from starting daemons.
        let _ = std::fs::remove_file(&self.0);
    }
}
