//! Builds the install medium: a hybrid BIOS/UEFI ISO (also written to a USB stick with `dd`)
//! whose live system is the appliance image. This is the shell around systemd-nspawn,
//! mksquashfs and grub-mkrescue; what goes on the medium comes from [`crate::live`].
//!
//! Cached: the `live-KEY` part (the live initramfs and the squashed base, about 2 minutes) per
//! base, and each packages layer's squashfs. A rebuild after only our packages changed squashes
//! that small layer and assembles the ISO: seconds.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::answers::EmbeddedAnswers;
use crate::build::{
    BuildError, Debs, PolicyRcD, Steps, ensure_image, fresh_dir, now_unix, nspawn_run, store_err,
};
use crate::dpkg::installed_versions;
use crate::live::{
    INITRD_SCRIPT, LAYER_FILES, LiveSpec, SQUASHFS_EXCLUDES, filesystem_module, grub_cfg,
    live_layer,
};
use crate::mirror::Mirror;
use crate::spec::{ImageSpec, hex};
use crate::store::{ImageStore, Manifest, write_atomic};
use pigeonair_appliance::disk::EMBEDDED_ANSWERS;
use pigeonair_host::{self as host};

/// Host tools the ISO build needs, with the Debian package of each.
pub const ISO_TOOLS: &[(&str, &str)] = &[
    ("systemd-nspawn", "systemd-container"),
    ("mksquashfs", "squashfs-tools"),
    ("grub-mkrescue", "grub-common"),
    ("xorriso", "xorriso"),
    ("mformat", "mtools"),
    ("dpkg-deb", "dpkg"),
];

/// GRUB's platform directories grub-mkrescue needs for a hybrid medium, with their packages.
pub const GRUB_PLATFORMS: &[(&str, &str)] = &[
    ("/usr/lib/grub/i386-pc", "grub-pc-bin"),
    ("/usr/lib/grub/x86_64-efi", "grub-efi-amd64-bin"),
];

/// The Debian packages whose versions the manifest names: the daemons and the kernel.
pub const DAEMON_PACKAGES: &[&str] = &[
    "linux-image-amd64",
    "systemd",
    "slapd",
    "postfix",
    "dovecot-core",
    "nftables",
    "ipvsadm",
    "keepalived",
    "openssl",
];

/// Where the initramfs build writes its output inside the throwaway overlay.
const LIVE_MOUNT: &str = "/run/pigeonair-live";

/// How an ISO build runs.
#[derive(Debug, Clone)]
pub struct IsoOptions {
    /// Where the ISO goes; its manifest goes beside it (`FILE.manifest.json`).
    pub output: PathBuf,
    /// mksquashfs threads (`None`: all CPUs).
    pub processors: Option<u32>,
    /// An answers file to embed (as `pigeonair/answers.toml`): the live system installs
    /// unattended with it when no drive labelled `PIGEONAIR` is there.
    pub answers: Option<EmbeddedAnswers>,
}

/// One file on the medium and its checksum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSum {
    /// Its name (on the ISO, or the ISO's own file name).
    pub file: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// Lower-case hex SHA-256 of its contents.
    pub sha256: String,
}

/// What an install medium holds. On the ISO as `pigeonair/manifest.json`; beside it with the
/// ISO's own checksum added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsoManifest {
    /// The appliance image it carries (`BASE+PACKAGES`, as `pigeonair-image show` prints it).
    pub image: String,
    /// The key of its `live-KEY` part.
    pub live: String,
    /// Debian's suite and point release (`/etc/debian_version`).
    pub debian: String,
    /// The kernel release the medium boots (and installs).
    pub kernel: String,
    /// PigeonAir's own packages and their versions.
    pub pigeonair: BTreeMap<String, String>,
    /// The daemons' and the kernel's Debian packages ([`DAEMON_PACKAGES`]) and their versions.
    pub daemons: BTreeMap<String, String>,
    /// The squashfs layers, lowest first, the kernel and the initramfs.
    pub files: Vec<FileSum>,
    /// The embedded answers file, if the medium has one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub answers: Option<FileSum>,
    /// The ISO itself: only in the manifest beside it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub iso: Option<FileSum>,
    /// When the ISO was built, seconds since the Unix epoch.
    pub built_at: u64,
}

/// A built install medium.
#[derive(Debug, Clone)]
pub struct Iso {
    /// The ISO file.
    pub path: PathBuf,
    /// Its manifest file.
    pub manifest_path: PathBuf,
    /// What it holds.
    pub manifest: IsoManifest,
}

/// `FILE.manifest.json` beside the ISO `FILE`.
pub fn manifest_path(iso: &Path) -> PathBuf {
    let mut name = iso.file_name().unwrap_or_default().to_os_string();
    name.push(".manifest.json");
    iso.with_file_name(name)
}

/// Checks the ISO build's host tools and GRUB platforms.
pub fn require_iso_tools() -> Result<(), BuildError> {
    host::require_tools(ISO_TOOLS)?;
    for (dir, package) in GRUB_PLATFORMS {
        if !Path::new(dir).is_dir() {
            return Err(BuildError::Host(host::HostError::MissingTool {
                tool: (*dir).to_owned(),
                package: (*package).to_owned(),
            }));
        }
    }
    Ok(())
}

/// Builds the install medium for `spec` and `debs` into `options.output`, reusing every cached
/// part whose inputs did not change. Progress goes to `out`, one line per step.
pub fn build_iso(
    store: &ImageStore,
    spec: &ImageSpec,
    live: &LiveSpec,
    mirror: &Mirror,
    debs: &Debs,
    options: &IsoOptions,
    out: &mut dyn Write,
) -> Result<Iso, BuildError> {
    if debs.files.is_empty() {
        return Err(BuildError::NoPackages {
            dir: debs.dir.clone(),
        });
    }
    host::require_root("building the install medium")?;
    require_iso_tools()?;
    let started = Instant::now();
    let image = ensure_image(store, spec, mirror, debs, out)?;
    let mut steps = Steps { out };
    let _lock = store.lock().map_err(store_err(store.root()))?;
    let base_root = image.base().to_path_buf();
    let base_key = image.id.split('+').next().unwrap_or(&image.id).to_owned();
    let packages_layer = image.layers[1].clone();

    let live_key = live.key(&base_key);
    let live_dir = store.live_dir(&live_key);
    ensure_live(
        &mut steps, store, live, options, &base_key, &base_root, &live_dir,
    )?;
    let kernel = read_trimmed(&live_dir.join("kernel-release"))?;

    let packages_squashfs = packages_layer.with_file_name("layer.squashfs");
    if packages_squashfs.is_file() {
        steps.say(&format!(
            "packages layer squashfs cached: reused ({})",
            packages_squashfs.display()
        ));
    } else {
        steps.run(
            "squash the packages layer",
            "whenever our packages change: a few seconds",
            || squash(&packages_layer, &packages_squashfs, live, options),
        )?;
    }

    let output = &options.output;
    let out_dir = output.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(out_dir).map_err(store_err(out_dir))?;
    let work = WorkDir(out_dir.join(".iso-work"));
    fresh_dir(&work.0)?;
    let layer_root = work.0.join("live-layer");
    write_live_layer(&layer_root)?;
    let tree = work.0.join("tree");
    let live_files = tree.join("live");
    std::fs::create_dir_all(&live_files).map_err(store_err(&live_files))?;
    let live_squashfs = live_files.join(LAYER_FILES[2]);
    steps.run("squash the live layer", "under a second", || {
        squash(&layer_root, &live_squashfs, live, options)
    })?;
    link_or_copy(
        &live_dir.join("base.squashfs"),
        &live_files.join(LAYER_FILES[0]),
    )?;
    link_or_copy(&packages_squashfs, &live_files.join(LAYER_FILES[1]))?;
    link_or_copy(&live_dir.join("vmlinuz"), &live_files.join("vmlinuz"))?;
    link_or_copy(&live_dir.join("initrd.img"), &live_files.join("initrd.img"))?;
    write_file(&live_files.join("filesystem.module"), &filesystem_module())?;
    let grub = tree.join("boot/grub");
    std::fs::create_dir_all(&grub).map_err(store_err(&grub))?;
    write_file(&grub.join("grub.cfg"), &grub_cfg("PigeonAir installer", 5))?;

    let mut files = Vec::new();
    for name in LAYER_FILES.iter().chain(&["vmlinuz", "initrd.img"]) {
        files.push(file_sum(&live_files.join(name), name)?);
    }
    let mut manifest = IsoManifest {
        image: image.id.clone(),
        live: live_key,
        debian: format!(
            "{} {}",
            spec.suite,
            read_trimmed(&base_root.join("etc/debian_version"))?
        ),
        kernel,
        pigeonair: our_versions(debs, &packages_layer)?,
        daemons: daemon_versions(&packages_layer)?,
        files,
        answers: None,
        iso: None,
        built_at: now_unix(),
    };
    let pigeonair_dir = tree.join("pigeonair");
    std::fs::create_dir_all(&pigeonair_dir).map_err(store_err(&pigeonair_dir))?;
    if let Some(answers) = &options.answers {
        let path = tree.join(EMBEDDED_ANSWERS);
        write_file(&path, answers.text())?;
        manifest.answers = Some(file_sum(&path, EMBEDDED_ANSWERS)?);
        steps.say(&format!(
            "answers embedded as {EMBEDDED_ANSWERS} (checked; the machine's disks and \
             interfaces are checked when it installs)"
        ));
    }
    write_file(&pigeonair_dir.join("manifest.json"), &to_json(&manifest)?)?;

    let tmp = output.with_extension("iso.tmp");
    steps.run(
        &format!("write the hybrid BIOS/UEFI ISO {}", output.display()),
        "a few seconds",
        || {
            host::run_logged(
                Command::new("grub-mkrescue")
                    .arg("-o")
                    .arg(&tmp)
                    .arg(&tree)
                    .args(["--", "-volid", &live.volume_id]),
                &work.0.join("grub-mkrescue.log"),
            )?;
            Ok(())
        },
    )?;
    std::fs::rename(&tmp, output).map_err(store_err(output))?;
    let iso_name = output
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    manifest.iso = Some(file_sum(output, &iso_name)?);
    let manifest_path = manifest_path(output);
    write_atomic(&manifest_path, to_json(&manifest)?.as_bytes())
        .map_err(store_err(&manifest_path))?;
    let size = manifest.iso.as_ref().map(|s| s.bytes).unwrap_or(0);
    steps.say(&format!(
        "ISO ready in {:.1} s: {} ({} MiB), manifest {}",
        started.elapsed().as_secs_f64(),
        output.display(),
        size / (1024 * 1024),
        manifest_path.display()
    ));
    Ok(Iso {
        path: output.clone(),
        manifest_path,
        manifest,
    })
}

/// The `live-KEY` part: the initramfs built with live-boot in a throwaway overlay over the
/// base, the base's kernel, and the base squashed. `manifest.json` is written last.
fn ensure_live(
    steps: &mut Steps,
    store: &ImageStore,
    live: &LiveSpec,
    options: &IsoOptions,
    base_key: &str,
    base_root: &Path,
    dir: &Path,
) -> Result<(), BuildError> {
    let key = live.key(base_key);
    if let Some(m) = store.manifest(dir) {
        steps.say(&format!(
            "live {key} (initramfs and squashed base) cached: reused (its build took {:.1} s)",
            m.build_seconds
        ));
        return Ok(());
    }
    let started = Instant::now();
    fresh_dir(dir)?;
    let log = dir.join("build.log");
    let scratch = dir.join("scratch");
    let upper = scratch.join("upper");
    let output = scratch.join("out");
    for d in [&upper, &output] {
        std::fs::create_dir_all(d).map_err(store_err(d))?;
    }
    {
        let _no_daemons = PolicyRcD::install(&upper)?;
        steps.run(
            &format!(
                "build the live initramfs ({} in a throwaway overlay over the base)",
                live.initrd_packages.join(", ")
            ),
            "once per base, then cached: about 30 s; log in build.log",
            || {
                host::run_logged(
                    nspawn_run(base_root)
                        .arg("--read-only")
                        .arg(format!(
                            "--overlay={}:{}:/",
                            base_root.display(),
                            upper.display()
                        ))
                        .arg(format!("--bind={}:{LIVE_MOUNT}", output.display()))
                        .arg(format!(
                            "--setenv=PACKAGES={}",
                            live.initrd_packages.join(" ")
                        ))
                        .args(["--", "/bin/sh", "-c", INITRD_SCRIPT]),
                    &log,
                )?;
                Ok(())
            },
        )?;
    }
    let release = read_trimmed(&output.join("kernel-release"))?;
    rename(&output.join("initrd.img"), &dir.join("initrd.img"))?;
    rename(&output.join("kernel-release"), &dir.join("kernel-release"))?;
    std::fs::remove_dir_all(&scratch).map_err(store_err(&scratch))?;
    let vmlinuz = base_root.join(format!("boot/vmlinuz-{release}"));
    std::fs::copy(&vmlinuz, dir.join("vmlinuz")).map_err(store_err(&vmlinuz))?;
    steps.run(
        "squash the Debian base",
        "once per base, then cached: about a minute on one core",
        || squash(base_root, &dir.join("base.squashfs"), live, options),
    )?;
    let manifest = Manifest {
        kind: "live".into(),
        key: key.clone(),
        inputs: live.canonical(base_key),
        built_at: now_unix(),
        build_seconds: started.elapsed().as_secs_f64(),
    };
    store
        .write_manifest(dir, &manifest)
        .map_err(store_err(dir))?;
    steps.say(&format!(
        "live {key} built in {:.1} s",
        manifest.build_seconds
    ));
    Ok(())
}

/// Squashes `src` into `dest` (through `dest.tmp`, so a complete file is never half written).
fn squash(
    src: &Path,
    dest: &Path,
    live: &LiveSpec,
    options: &IsoOptions,
) -> Result<(), BuildError> {
    let tmp = dest.with_extension("squashfs.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut cmd = Command::new("mksquashfs");
    cmd.arg(src)
        .arg(&tmp)
        .arg("-noappend")
        .args(&live.squashfs_options);
    if let Some(n) = options.processors {
        cmd.args(["-processors", &n.to_string()]);
    }
    cmd.arg("-e").args(SQUASHFS_EXCLUDES);
    host::run(&mut cmd)?;
    rename(&tmp, dest)
}

/// Writes the live layer's files under `root`.
fn write_live_layer(root: &Path) -> Result<(), BuildError> {
    for file in live_layer() {
        let path = root.join(file.path.trim_start_matches('/'));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(store_err(parent))?;
        }
        write_file(&path, &file.contents)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(file.mode))
            .map_err(store_err(&path))?;
    }
    Ok(())
}

/// PigeonAir's packages on the medium: each `.deb`'s name, with the version dpkg installed.
fn our_versions(debs: &Debs, layer: &Path) -> Result<BTreeMap<String, String>, BuildError> {
    let installed = layer_versions(layer)?;
    let mut out = BTreeMap::new();
    for (file, _) in &debs.files {
        let path = debs.dir.join(file);
        let name = host::run(
            Command::new("dpkg-deb")
                .arg("--field")
                .arg(&path)
                .arg("Package"),
        )?;
        let name = name.trim().to_owned();
        let version = installed
            .get(&name)
            .cloned()
            .unwrap_or_else(|| "not installed".into());
        out.insert(name, version);
    }
    Ok(out)
}

fn daemon_versions(layer: &Path) -> Result<BTreeMap<String, String>, BuildError> {
    let installed = layer_versions(layer)?;
    Ok(DAEMON_PACKAGES
        .iter()
        .filter_map(|p| installed.get(*p).map(|v| ((*p).to_owned(), v.clone())))
        .collect())
}

/// The packages layer holds dpkg's whole status file (overlayfs copied it up when our packages
/// were installed).
fn layer_versions(layer: &Path) -> Result<BTreeMap<String, String>, BuildError> {
    let status = layer.join("var/lib/dpkg/status");
    let text = std::fs::read_to_string(&status).map_err(store_err(&status))?;
    Ok(installed_versions(&text))
}

fn file_sum(path: &Path, name: &str) -> Result<FileSum, BuildError> {
    let mut file = std::fs::File::open(path).map_err(store_err(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(store_err(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok(FileSum {
        file: name.to_owned(),
        bytes,
        sha256: hex(&hasher.finalize()),
    })
}

fn to_json(manifest: &IsoManifest) -> Result<String, BuildError> {
    serde_json::to_string_pretty(manifest)
        .map(|mut s| {
            s.push('\n');
            s
        })
        .map_err(|e| BuildError::Store {
            path: PathBuf::from("manifest.json"),
            source: io::Error::other(e),
        })
}

fn read_trimmed(path: &Path) -> Result<String, BuildError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(store_err(path))
}

fn write_file(path: &Path, text: &str) -> Result<(), BuildError> {
    std::fs::write(path, text).map_err(store_err(path))
}

fn rename(from: &Path, to: &Path) -> Result<(), BuildError> {
    std::fs::rename(from, to).map_err(store_err(to))
}

/// Hard links `from` (same file system: the store), else copies it.
fn link_or_copy(from: &Path, to: &Path) -> Result<(), BuildError> {
    if std::fs::hard_link(from, to).is_ok() {
        return Ok(());
    }
    std::fs::copy(from, to).map(|_| ()).map_err(store_err(from))
}

/// The ISO's staging directory, removed however the build ends.
struct WorkDir(PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
