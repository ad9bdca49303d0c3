//! The install medium in a VM: qemu (TCG: KVM hangs on this host) boots the ISO from a virtual
//! CD drive with BIOS or UEFI firmware (OVMF) and only a serial console, which comes back to us
//! as a byte stream: tests wait for text on it (the installer's welcome screen) and can type on
//! it. Dropping the VM kills qemu, so a failing test leaves nothing running.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::vm::VmError;

/// UEFI firmware for qemu, from Debian's `ovmf` package.
pub const OVMF: &str = "/usr/share/ovmf/OVMF.fd";

/// Host tools booting the medium needs, with the Debian package that has each.
pub const MEDIUM_TOOLS: [(&str, &str); 2] =
    [("qemu-system-x86_64", "qemu-system-x86"), (OVMF, "ovmf")];

/// Which firmware boots the medium.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firmware {
    /// SeaBIOS on qemu's `pc` machine (the CD on IDE).
    Bios,
    /// OVMF on the `q35` machine (the CD on AHCI, as on most servers).
    Uefi,
}

/// A TCP port of the guest forwarded from the host's loopback (qemu's user networking).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward {
    /// The port on the host's 127.0.0.1.
    pub host_port: u16,
    /// The guest's port.
    pub guest_port: u16,
}

/// The guest's public address on qemu's user network (the address the install's answers give
/// the public interface; host forwards reach it). The gateway is `10.0.2.2`, DNS `10.0.2.3`.
pub const GUEST_PUBLIC: &str = "10.0.2.15";
/// The PCI slots of the public and the private NIC (`pc` machine: `ens5`, `ens6`).
pub const NIC_SLOTS: [u8; 2] = [5, 6];

/// A VM booting an install medium, or a disk an install wrote.
#[derive(Debug, Clone)]
pub struct MediumVm {
    /// The ISO (on a CD drive, booted first); `None`: boot from the first disk.
    pub iso: Option<PathBuf>,
    /// Raw disk images on virtio (`/dev/vda`, `/dev/vdb`, …), writable unless in `read_only`.
    pub disks: Vec<PathBuf>,
    /// Disks attached read-only (an answers drive).
    pub read_only: Vec<PathBuf>,
    /// With `Some`: two NICs on qemu's user networking, public (`10.0.2.0/24`, these ports
    /// forwarded to [`GUEST_PUBLIC`]) and private (`10.42.0.0/24`, isolated).
    pub network: Option<Vec<Forward>>,
    /// Where the serial console is also written as it arrives (raw bytes), to follow a long
    /// boot from another terminal (`tail -f`).
    pub console_log: Option<PathBuf>,
    /// BIOS or UEFI.
    pub firmware: Firmware,
    /// Guest memory in MiB: the live system's writable layer is in RAM.
    pub memory_mib: u32,
    /// Guest CPUs.
    pub cpus: u32,
    /// The third octet of the public user network, `10.0.N.0/24` (2, qemu's default: the
    /// guest is [`GUEST_PUBLIC`]); two VMs of one cluster need different public addresses.
    pub public_net: u8,
    /// The private NIC joined to another VM's over UDP on the host's loopback instead of an
    /// isolated user network: this VM's port and the peer's. Datagrams, so either VM may
    /// stop and start (a reboot ends qemu) and the link carries on.
    pub private_link: Option<(u16, u16)>,
}

/// The guest's public address on the user network `10.0.N.0/24` (qemu gives the guest `.15`,
/// the gateway `.2` and DNS `.3`).
pub fn guest_public(net: u8) -> String {
    format!("10.0.{net}.15")
}

impl MediumVm {
    /// The ISO with 2 GiB and 2 CPUs.
    pub fn new(iso: impl Into<PathBuf>, firmware: Firmware) -> Self {
        MediumVm {
            iso: Some(iso.into()),
            disks: Vec::new(),
            read_only: Vec::new(),
            network: None,
            console_log: None,
            firmware,
            memory_mib: 2048,
            cpus: 2,
            public_net: 2,
            private_link: None,
        }
    }

    /// The disk `disk` alone (an installed system), 2 GiB and 2 CPUs.
    pub fn from_disk(disk: impl Into<PathBuf>, firmware: Firmware) -> Self {
        MediumVm {
            iso: None,
            disks: vec![disk.into()],
            ..MediumVm::new("", firmware)
        }
    }

    /// Adds a writable virtio disk.
    pub fn with_disk(mut self, disk: impl Into<PathBuf>) -> Self {
        self.disks.push(disk.into());
        self
    }

    /// Adds a read-only virtio disk (after the writable ones).
    pub fn with_read_only_disk(mut self, disk: impl Into<PathBuf>) -> Self {
        self.read_only.push(disk.into());
        self
    }

    /// Puts the public NIC on `10.0.N.0/24` (see [`MediumVm::public_net`]).
    pub fn with_public_net(mut self, net: u8) -> Self {
        self.public_net = net;
        self
    }

    /// Links the private NIC to a peer VM's: datagrams from host port `local` to `peer`.
    pub fn with_private_link(mut self, local: u16, peer: u16) -> Self {
        self.private_link = Some((local, peer));
        self
    }

    /// Also writes the console to `path` as it arrives.
    pub fn with_console_log(mut self, path: impl Into<PathBuf>) -> Self {
        self.console_log = Some(path.into());
        self
    }

    /// Gives the VM its public and private NICs, `forwards` reaching the public address.
    pub fn with_network(mut self, forwards: Vec<Forward>) -> Self {
        self.network = Some(forwards);
        self
    }

    /// qemu's arguments: no display, no network, the first serial port on standard input and
    /// output, the ISO as a read-only CD, no reboot (a reboot ends qemu).
    pub fn qemu_args(&self) -> Vec<String> {
        let mut args: Vec<String> = [
            "-accel",
            "tcg",
            "-cpu",
            "qemu64",
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-serial",
            "stdio",
            "-no-reboot",
        ]
        .map(str::to_owned)
        .to_vec();
        args.extend(["-smp".into(), self.cpus.to_string()]);
        args.extend(["-m".into(), self.memory_mib.to_string()]);
        if self.firmware == Firmware::Uefi {
            args.extend(["-M".into(), "q35".into(), "-bios".into(), OVMF.into()]);
        }
        let file = |p: &Path| p.display().to_string().replace(',', ",,");
        for disk in &self.disks {
            args.extend([
                "-drive".into(),
                format!("file={},format=raw,if=virtio", file(disk)),
            ]);
        }
        for disk in &self.read_only {
            args.extend([
                "-drive".into(),
                format!("file={},format=raw,if=virtio,readonly=on", file(disk)),
            ]);
        }
        if let Some(forwards) = &self.network {
            let net = self.public_net;
            let mut public = format!("user,id=public,net=10.0.{net}.0/24");
            for f in forwards {
                public.push_str(&format!(
                    ",hostfwd=tcp:127.0.0.1:{}-{}:{}",
                    f.host_port,
                    guest_public(net),
                    f.guest_port
                ));
            }
            let private = match self.private_link {
                Some((local, peer)) => {
                    format!("socket,id=private,udp=127.0.0.1:{peer},localaddr=127.0.0.1:{local}")
                }
                None => "user,id=private,net=10.42.0.0/24,restrict=on".into(),
            };
            args.extend([
                "-netdev".into(),
                public,
                "-device".into(),
                format!("virtio-net-pci,netdev=public,addr={:#x}", NIC_SLOTS[0]),
                "-netdev".into(),
                private,
                "-device".into(),
                format!("virtio-net-pci,netdev=private,addr={:#x}", NIC_SLOTS[1]),
            ]);
        }
        if let Some(iso) = &self.iso {
            args.extend([
                "-drive".into(),
                format!("file={},media=cdrom,readonly=on", file(iso)),
                "-boot".into(),
                "d".into(),
            ]);
        }
        args
    }

    /// Starts qemu; the console is read in the background.
    pub fn start(&self) -> Result<RunningMedium, VmError> {
        for (tool, package) in MEDIUM_TOOLS {
            let found = if tool.starts_with('/') {
                Path::new(tool).exists()
            } else {
                pigeonair_host::find_tool(tool).is_some()
            };
            if !found && (tool != OVMF || self.firmware == Firmware::Uefi) {
                return Err(VmError::Missing(format!(
                    "{tool} is missing: install the Debian package {package} (scripts/host-setup does)"
                )));
            }
        }
        if let Some(iso) = self.iso.as_ref().filter(|i| !i.is_file()) {
            return Err(VmError::Missing(format!(
                "{}: no such ISO (pigeonair-image iso builds it)",
                iso.display()
            )));
        }
        for disk in self.disks.iter().chain(&self.read_only) {
            if !disk.is_file() {
                return Err(VmError::Missing(format!(
                    "{}: no such disk image",
                    disk.display()
                )));
            }
        }
        let mut child = Command::new("qemu-system-x86_64")
            .args(self.qemu_args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| VmError::Io {
                what: "starting qemu-system-x86_64".into(),
                source,
            })?;
        let started = Instant::now();
        let console = Arc::new(Mutex::new(Vec::new()));
        let mut stdout = child.stdout.take().expect("piped");
        let sink = Arc::clone(&console);
        let mut log = match &self.console_log {
            Some(path) => Some(std::fs::File::create(path).map_err(|source| VmError::Io {
                what: format!("creating {}", path.display()),
                source,
            })?),
            None => None,
        };
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Some(log) = log.as_mut() {
                    let _ = log.write_all(&buf[..n]);
                }
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(&buf[..n]);
            }
        });
        let stdin = child.stdin.take();
        Ok(RunningMedium {
            child,
            stdin,
            console,
            started,
        })
    }
}

/// What a guest kernel prints when it panics (then it hangs: the medium's kernel line has no
/// `panic=`).
const KERNEL_PANIC: &str = "Kernel panic - not syncing";

/// How often [`MediumVm::start_past`] powers a VM on whose kernel panicked early.
const EARLY_PANIC_TRIES: u32 = 2;

impl MediumVm {
    /// Starts qemu and waits for `early`, something the guest prints once its kernel runs
    /// userspace (before the boot writes to any disk). A guest kernel that panics before it
    /// is powered on once more: under TCG with two vCPUs this machine's qemu now and then
    /// traps the kernel's own code patching at boot (`Oops: int3` in `sched_clock_cpu`), a
    /// fault of the emulator, not of the system booting. Returns the VM and when `early` came.
    pub fn start_past(
        &self,
        early: &str,
        timeout: Duration,
    ) -> Result<(RunningMedium, Duration), VmError> {
        let mut tries = 0;
        loop {
            tries += 1;
            let mut vm = self.start()?;
            match vm.wait_for(early, timeout) {
                Ok(at) => return Ok((vm, at)),
                Err(VmError::Panicked { tail }) if tries < EARLY_PANIC_TRIES => {
                    eprintln!(
                        "the guest kernel panicked before {early:?} (try {tries}); powering on \
                         again:\n{tail}"
                    );
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// A running VM; dropping it kills qemu.
pub struct RunningMedium {
    child: Child,
    stdin: Option<ChildStdin>,
    console: Arc<Mutex<Vec<u8>>>,
    started: Instant,
}

impl RunningMedium {
    /// Everything the serial console printed so far, as text (escape sequences removed).
    pub fn console_text(&self) -> String {
        screen_text(&self.console.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Waits until `text` appears on the console (spacing ignored: a TUI moves the cursor
    /// over blank cells instead of printing spaces); returns the time since qemu started.
    pub fn wait_for(&mut self, text: &str, timeout: Duration) -> Result<Duration, VmError> {
        loop {
            let console = self.console_text();
            if contains_text(&console, text) {
                return Ok(self.started.elapsed());
            }
            if console.contains(KERNEL_PANIC) {
                return Err(VmError::Panicked {
                    tail: format!("waiting for {text:?}:\n{}", tail(&console, 40)),
                });
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut stderr = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = e.read_to_string(&mut stderr);
                }
                return Err(VmError::Ended {
                    tail: format!(
                        "qemu ended ({status}) before {text:?} appeared:\n{}\nqemu: {}",
                        tail(&console, 40),
                        stderr.trim()
                    ),
                });
            }
            if self.started.elapsed() > timeout {
                return Err(VmError::Timeout {
                    secs: timeout.as_secs(),
                    tail: format!("waiting for {text:?}:\n{}", tail(&console, 40)),
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits up to `timeout` (since qemu started) for qemu to end, as it does when the guest
    /// reboots (`-no-reboot`) or powers off.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<std::process::ExitStatus, VmError> {
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) if self.started.elapsed() > timeout => {
                    return Err(VmError::Timeout {
                        secs: timeout.as_secs(),
                        tail: format!(
                            "waiting for qemu to end:\n{}",
                            tail(&self.console_text(), 40)
                        ),
                    });
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(200)),
                Err(source) => {
                    return Err(VmError::Io {
                        what: "waiting for qemu".into(),
                        source,
                    });
                }
            }
        }
    }

    /// The time since qemu started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Types `bytes` on the serial console.
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), VmError> {
        let io = |source| VmError::Io {
            what: "typing on the VM's serial console".into(),
            source,
        };
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| VmError::Missing("no console".into()))?;
        stdin.write_all(bytes).map_err(io)?;
        stdin.flush().map_err(io)
    }
}

impl Drop for RunningMedium {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Terminal output as plain text: escape sequences (CSI `ESC [ … final`, OSC `ESC ] … BEL/ST`,
/// two-byte `ESC x`) and carriage returns removed, invalid UTF-8 replaced.
pub fn screen_text(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            0x1b if bytes.get(i + 1) == Some(&b'[') => {
                i += 2;
                while i < bytes.len() && !(0x40..=0x7e).contains(&bytes[i]) {
                    i += 1;
                }
                i += 1;
            }
            0x1b if bytes.get(i + 1) == Some(&b']') => {
                i += 2;
                while i < bytes.len() && bytes[i] != 0x07 && bytes[i] != 0x1b {
                    i += 1;
                }
                i += if bytes.get(i) == Some(&0x1b) { 2 } else { 1 };
            }
            0x1b => i += 2,
            b'\r' => i += 1,
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `needle` occurs in `haystack` with all whitespace ignored on both sides.
pub fn contains_text(haystack: &str, needle: &str) -> bool {
    let squeeze = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    squeeze(haystack).contains(&squeeze(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_removed_and_spacing_ignored() {
        // What ratatui sent for the welcome screen's title on a serial console.
        let bytes = b"\x1b[?1049h\x1b[1;1H\x1b[38;5;4mPigeonAir installer - \x1b[1mWelcome\x1b[2C\
                      to\x1b[1CPigeonAir\x1b[0m\r\n\x1b]0;title\x07done";
        let text = screen_text(bytes);
        assert_eq!(text, "PigeonAir installer - WelcometoPigeonAir\ndone");
        assert!(contains_text(&text, "Welcome to PigeonAir"));
        assert!(!contains_text(&text, "Welcome to Debian"));
    }

    #[test]
    fn uefi_boots_q35_with_ovmf_and_bios_the_pc_machine() {
        let bios = MediumVm::new("/s/pigeonair.iso", Firmware::Bios).qemu_args();
        assert!(!bios.iter().any(|a| a == "q35" || a == OVMF), "{bios:?}");
        assert!(bios.windows(2).any(|w| w == ["-serial", "stdio"]));
        assert!(
            bios.windows(2)
                .any(|w| w == ["-drive", "file=/s/pigeonair.iso,media=cdrom,readonly=on"])
        );
        let uefi = MediumVm::new("/s/pigeonair.iso", Firmware::Uefi).qemu_args();
        assert!(uefi.windows(2).any(|w| w == ["-M", "q35"]), "{uefi:?}");
        assert!(uefi.windows(2).any(|w| w == ["-bios", OVMF]), "{uefi:?}");
    }

    #[test]
    fn an_installed_disk_boots_alone_with_its_ports_forwarded() {
        let vm = MediumVm::from_disk("/s/disk.raw", Firmware::Bios).with_network(vec![Forward {
            host_port: 2525,
            guest_port: 25,
        }]);
        let args = vm.qemu_args();
        assert!(!args.iter().any(|a| a.contains("cdrom")), "{args:?}");
        assert!(
            args.windows(2)
                .any(|w| w == ["-drive", "file=/s/disk.raw,format=raw,if=virtio"])
        );
        assert!(args.windows(2).any(|w| w
            == [
                "-netdev",
                "user,id=public,net=10.0.2.0/24,hostfwd=tcp:127.0.0.1:2525-10.0.2.15:25"
            ]));
        assert!(
            args.windows(2)
                .any(|w| w == ["-device", "virtio-net-pci,netdev=private,addr=0x6"])
        );
    }

    #[test]
    fn two_vms_of_a_cluster_get_their_own_public_net_and_one_private_link() {
        let vm = MediumVm::from_disk("/s/disk.raw", Firmware::Uefi)
            .with_network(vec![Forward {
                host_port: 2526,
                guest_port: 25,
            }])
            .with_public_net(3)
            .with_private_link(40001, 40000);
        let args = vm.qemu_args();
        assert!(args.windows(2).any(|w| w
            == [
                "-netdev",
                "user,id=public,net=10.0.3.0/24,hostfwd=tcp:127.0.0.1:2526-10.0.3.15:25"
            ]));
        assert!(args.windows(2).any(|w| w
            == [
                "-netdev",
                "socket,id=private,udp=127.0.0.1:40000,localaddr=127.0.0.1:40001"
            ]));
    }
}
