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

/// A VM booting an install medium.
#[derive(Debug, Clone)]
pub struct MediumVm {
    /// The ISO.
    pub iso: PathBuf,
    /// BIOS or UEFI.
    pub firmware: Firmware,
    /// Guest memory in MiB: the live system's writable layer is in RAM.
    pub memory_mib: u32,
    /// Guest CPUs.
    pub cpus: u32,
}

impl MediumVm {
    /// The ISO with 2 GiB and 2 CPUs.
    pub fn new(iso: impl Into<PathBuf>, firmware: Firmware) -> Self {
        MediumVm {
            iso: iso.into(),
            firmware,
            memory_mib: 2048,
            cpus: 2,
        }
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
        args.extend([
            "-drive".into(),
            format!(
                "file={},media=cdrom,readonly=on",
                self.iso.display().to_string().replace(',', ",,")
            ),
            "-boot".into(),
            "d".into(),
        ]);
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
        if !self.iso.is_file() {
            return Err(VmError::Missing(format!(
                "{}: no such ISO (pigeonair-image iso builds it)",
                self.iso.display()
            )));
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
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
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
}
