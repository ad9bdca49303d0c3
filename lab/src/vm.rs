//! A throwaway VM with the appliance image's Debian kernel, for what this machine's kernel
//! lacks (IPVS, NFS). qemu runs under TCG (KVM hangs on this host), the kernel mounts the host's
//! root read-only over virtio-fs as its own root, and a tiny init script runs one host command
//! as PID 1's child — so test programs built on the host run unchanged inside, with the host's
//! tools (ipvsadm, ip) and the image's kernel modules. The command's exit code comes back on the
//! serial console as a marker line. Boot to command: about 3 s.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use pigeonair_image::build::{Debs, ensure_image};
use pigeonair_image::mirror::Mirror;
use pigeonair_image::spec::ImageSpec;
use pigeonair_image::store::ImageStore;

/// The C virtiofsd that Debian 12's qemu ships.
const VIRTIOFSD: &str = "/usr/lib/qemu/virtiofsd";
/// The marker the init script prints with the command's exit code.
const EXIT_MARKER: &str = "PIGEONAIR-VM-EXIT ";
/// Where each VM keeps its init script and sockets (not under /tmp or /run, which the guest
/// covers with tmpfs... and CI clones under /tmp must stay visible, so /tmp is left alone).
const WORK_ROOT: &str = "/var/lib/pigeonair/vm";

/// What went wrong starting or running a VM.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    /// A tool or file is missing.
    #[error("{0}")]
    Missing(String),
    /// IO on the host.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The image could not be built.
    #[error("appliance image: {0}")]
    Image(String),
    /// No exit marker within the timeout.
    #[error("the VM did not finish within {secs} s; console tail:\n{tail}")]
    Timeout {
        /// The timeout.
        secs: u64,
        /// The end of the console output.
        tail: String,
    },
    /// qemu ended before what was waited for appeared on the console.
    #[error("qemu ended early: {tail}")]
    Ended {
        /// What happened and the end of the console output.
        tail: String,
    },
    /// qemu ended without the marker (kernel panic, init failure).
    #[error("the VM stopped without reporting an exit code; console tail:\n{tail}")]
    NoExit {
        /// The end of the console output.
        tail: String,
    },
    /// The guest's kernel panicked before what was waited for appeared.
    #[error("the guest kernel panicked: {tail}")]
    Panicked {
        /// The end of the console output.
        tail: String,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> VmError {
    let what = what.into();
    move |source| VmError::Io { what, source }
}

/// The kernel and its modules.
#[derive(Debug, Clone)]
pub struct Vm {
    /// `vmlinuz-*` of the image.
    pub kernel: PathBuf,
    /// The root whose `lib/modules/<release>` holds the kernel's modules.
    pub modules_root: PathBuf,
    /// Guest memory in MiB.
    pub memory_mib: u32,
    /// Guest CPUs.
    pub cpus: u32,
}

/// What a command in the VM did.
#[derive(Debug, Clone)]
pub struct VmOutput {
    /// The command's exit code.
    pub code: i32,
    /// Everything on the serial console (kernel messages and the command's output), CRs removed.
    pub console: String,
    /// From qemu's start to the marker.
    pub elapsed: Duration,
}

impl VmOutput {
    /// The console text between boot and the marker: the command's own output.
    pub fn output(&self) -> &str {
        let start = self
            .console
            .find("PIGEONAIR-VM-START\n")
            .map(|i| i + 19)
            .unwrap_or(0);
        let end = self.console.find(EXIT_MARKER).unwrap_or(self.console.len());
        &self.console[start..end.max(start)]
    }
}

/// Host tools the VM needs, with the Debian package that has each.
pub const VM_TOOLS: [(&str, &str); 3] = [
    ("qemu-system-x86_64", "qemu-system-x86"),
    (VIRTIOFSD, "qemu-system-common"),
    ("modprobe", "kmod"),
];

impl Vm {
    /// The kernel of the appliance image (built if the store lacks it).
    pub fn from_image() -> Result<Vm, VmError> {
        let mirror = Mirror::from_host().map_err(|e| VmError::Image(e.to_string()))?;
        let debs = Debs::default();
        let mut sink = Vec::new();
        let image = ensure_image(
            &ImageStore::from_env(),
            &ImageSpec::appliance(),
            &mirror,
            &debs,
            &mut sink,
        )
        .map_err(|e| VmError::Image(e.to_string()))?;
        let base = image.base().to_path_buf();
        let boot = base.join("boot");
        let kernel = fs::read_dir(&boot)
            .map_err(io(format!("reading {}", boot.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
            })
            .ok_or_else(|| {
                VmError::Missing(format!(
                    "no vmlinuz-* in {}: the image spec must include linux-image-amd64",
                    boot.display()
                ))
            })?;
        Ok(Vm {
            kernel,
            modules_root: base,
            memory_mib: 1024,
            cpus: 2,
        })
    }

    /// Runs `argv` (with `env`) as root inside a fresh VM and waits at most `timeout`.
    pub fn run(
        &self,
        argv: &[String],
        env: &[(String, String)],
        timeout: Duration,
    ) -> Result<VmOutput, VmError> {
        for (tool, package) in VM_TOOLS {
            let found = if tool.starts_with('/') {
                Path::new(tool).exists()
            } else {
                pigeonair_host::find_tool(tool).is_some()
            };
            if !found {
                return Err(VmError::Missing(format!(
                    "{tool} is missing: install the Debian package {package} (scripts/host-setup does)"
                )));
            }
        }
        let work = WorkDir::new()?;
        let init = work.path.join("init");
        let bin = work.path.join("bin");
        fs::create_dir_all(&bin).map_err(io(format!("creating {}", bin.display())))?;
        let modprobe = bin.join("modprobe");
        write_exec(
            &modprobe,
            &format!(
                "#!/bin/sh\n# The kernel's module loader in the guest: the image's modules, the host's kmod.\nexec /usr/sbin/modprobe -d {} \"$@\"\n",
                sh_quote(&self.modules_root.to_string_lossy())
            ),
        )?;
        let mut script = String::from(
            "#!/bin/sh\n\
             export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TMPDIR=/run/tmp\n\
             mount -t proc proc /proc\n\
             mount -t sysfs sys /sys\n\
             mount -t devtmpfs dev /dev\n\
             mkdir -p /dev/pts /dev/shm 2>/dev/null; mount -t devpts devpts /dev/pts 2>/dev/null\n\
             mount -t tmpfs run /run\n\
             mount -t tmpfs shm /dev/shm\n\
             mkdir -p /run/tmp /run/netns\n\
             mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null\n",
        );
        // The kernel's own requests (schedulers, protocol modules) and `modprobe` typed by a
        // command both go through the wrapper.
        script.push_str(&format!(
            "echo {} > /proc/sys/kernel/modprobe\nexport PATH={}:$PATH\n",
            sh_quote(&modprobe.to_string_lossy()),
            sh_quote(&bin.to_string_lossy())
        ));
        script.push_str("hostname pigeonair-vm\nip link set lo up\ncd /run/tmp\n");
        for (k, v) in env {
            script.push_str(&format!("export {k}={}\n", sh_quote(v)));
        }
        script.push_str("echo PIGEONAIR-VM-START\n");
        let cmd: Vec<String> = argv.iter().map(|a| sh_quote(a)).collect();
        script.push_str(&format!("{} </dev/null 2>&1\n", cmd.join(" ")));
        script.push_str(&format!(
            "echo \"{EXIT_MARKER}$?\"\necho 1 > /proc/sys/kernel/sysrq\necho o > /proc/sysrq-trigger\nsleep 10\n"
        ));
        write_exec(&init, &script)?;

        let socket = work.path.join("fs.sock");
        let virtiofsd = Command::new(VIRTIOFSD)
            .arg(format!("--socket-path={}", socket.display()))
            .args([
                "-o",
                "source=/",
                "-o",
                "cache=always",
                "-o",
                "sandbox=chroot",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(io("starting virtiofsd"))?;
        let _fsd = KillOnDrop(virtiofsd);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !socket.exists() {
            if Instant::now() > deadline {
                return Err(VmError::Missing(
                    "virtiofsd did not create its socket within 5 s".into(),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let started = Instant::now();
        let mem = format!("{}M", self.memory_mib);
        let mut qemu = Command::new("qemu-system-x86_64")
            .args(["-accel", "tcg", "-cpu", "qemu64", "-nodefaults", "-no-user-config", "-display", "none"])
            .args(["-serial", "stdio", "-no-reboot"])
            .args(["-smp", &self.cpus.to_string(), "-m", &mem])
            .args(["-object", &format!("memory-backend-memfd,id=mem,size={mem},share=on")])
            .args(["-numa", "node,memdev=mem"])
            .args(["-chardev", &format!("socket,id=c0,path={}", socket.display())])
            .args(["-device", "vhost-user-fs-pci,chardev=c0,tag=hostfs"])
            .arg("-kernel")
            .arg(&self.kernel)
            .args([
                "-append",
                &format!(
                    "console=ttyS0 root=hostfs rootfstype=virtiofs ro init={} quiet loglevel=3 panic=-1 mitigations=off",
                    init.display()
                ),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(io("starting qemu-system-x86_64"))?;
        let mut stdout = qemu.stdout.take().expect("piped");
        let reader = std::thread::spawn(move || {
            let mut all = Vec::new();
            let _ = stdout.read_to_end(&mut all);
            all
        });
        let mut qemu = KillOnDrop(qemu);
        let timed_out = loop {
            match qemu.0.try_wait() {
                Ok(Some(_)) => break false,
                Ok(None) if started.elapsed() > timeout => {
                    let _ = qemu.0.kill();
                    let _ = qemu.0.wait();
                    break true;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                Err(e) => return Err(io("waiting for qemu")(e)),
            }
        };
        let elapsed = started.elapsed();
        let mut stderr = String::new();
        if let Some(mut e) = qemu.0.stderr.take() {
            let _ = e.read_to_string(&mut stderr);
        }
        let console = String::from_utf8_lossy(&reader.join().unwrap_or_default()).replace('\r', "");
        let tail = || {
            let lines: Vec<&str> = console.lines().collect();
            let mut t = lines[lines.len().saturating_sub(40)..].join("\n");
            if !stderr.trim().is_empty() {
                t.push_str("\nqemu: ");
                t.push_str(stderr.trim());
            }
            t
        };
        if timed_out {
            return Err(VmError::Timeout {
                secs: timeout.as_secs(),
                tail: tail(),
            });
        }
        let code = console
            .lines()
            .find_map(|l| l.strip_prefix(EXIT_MARKER))
            .and_then(|c| c.trim().parse::<i32>().ok());
        match code {
            Some(code) => Ok(VmOutput {
                code,
                console,
                elapsed,
            }),
            None => Err(VmError::NoExit { tail: tail() }),
        }
    }
}

/// Quotes a word for sh.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn write_exec(path: &Path, text: &str) -> Result<(), VmError> {
    let mut f = fs::File::create(path).map_err(io(format!("writing {}", path.display())))?;
    f.write_all(text.as_bytes())
        .map_err(io(format!("writing {}", path.display())))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .map_err(io(format!("chmod {}", path.display())))
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A per-VM directory, removed on drop.
struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    fn new() -> Result<WorkDir, VmError> {
        static N: AtomicU32 = AtomicU32::new(0);
        let path = Path::new(WORK_ROOT).join(format!(
            "{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).map_err(io(format!("creating {}", path.display())))?;
        Ok(WorkDir { path })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}
