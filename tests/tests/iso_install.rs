//! Installs from the medium, end to end under qemu (TCG). A cluster is made as an operator
//! makes one: node1 (BIOS) from the interactive installer on the serial console, driven by
//! keystrokes (the target disk, a separate `/var/vmail`, the erase warning, root's SSH key),
//! node2 (UEFI) unattended from an answers drive labelled PIGEONAIR with a token made on node1
//! over SSH; each disk then boots alone (no ISO, no answers drive) and serves mail through
//! qemu's port forwarding, node2 as a member of node1's cluster. Answers embedded in the medium
//! install too, and the medium booted again with the disk it installed refuses to erase it.
//! Bad `[disk]` answers are refused before any write: the blank disks' first MiB stays zero.
//! Every VM is killed and every file removed
//! however a test ends; names start with `dk-`.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use pigeonair_image::ImageStore;
use pigeonair_lab::medium::{Firmware, Forward, MediumVm, RunningMedium};

const GIB: u64 = 1024 * 1024 * 1024;
/// What these tests use on the host beside the medium's tools (name, Debian package): mtools
/// for the answers drive, swaks and python3 for the installed nodes' mail, ssh for a token
/// made on node1, sfdisk for a disk laid out as an install leaves it.
const HOST_TOOLS: &[(&str, &str)] = &[
    ("mcopy", "mtools"),
    ("swaks", "swaks"),
    ("python3", "python3"),
    ("ssh", "openssh-client"),
    ("ssh-keygen", "openssh-client"),
    ("sfdisk", "fdisk"),
];
/// The administrator's (and postmaster@'s) password in the answers.
const PASSWORD: &str = "dk-install-secret-1";
/// Power-on to "installed" under TCG on a busy two-core host.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(1800);
/// The installed disk's boot, first-boot apply and mail served.
const FIRST_BOOT_TIMEOUT: Duration = Duration::from_secs(1200);
/// What every boot here prints once the guest runs userspace and before it writes to a disk:
/// the medium's unattended service, and an installed disk's first-boot unit
/// ([`MediumVm::start_past`] powers a VM on again whose kernel panicked before it).
const EARLY: &str = "pigeonair-install";
/// Power-on to the refusal on the console.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(600);

/// The medium, built once per test binary from `target/debian`.
fn medium() -> &'static Path {
    static ISO: OnceLock<PathBuf> = OnceLock::new();
    ISO.get_or_init(|| {
        let output = ImageStore::from_env().root().join("iso/dk-install.iso");
        let started = Instant::now();
        let log = pigeonair_tests::support::build_medium(&output);
        println!("{log}ISO ready in {:.1} s", started.elapsed().as_secs_f64());
        output
    })
}

/// One VM at a time: each emulates two CPUs on this two-core machine.
static ONE_VM: Mutex<()> = Mutex::new(());

/// A test's directory of disk images, removed however the test ends.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = Path::new("/var/lib/pigeonair/dk-install").join(name);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("scratch directory");
        Scratch(dir)
    }

    /// A blank (sparse, all zero) raw disk of `bytes`.
    fn blank_disk(&self, name: &str, bytes: u64) -> PathBuf {
        let path = self.0.join(name);
        fs::File::create(&path)
            .and_then(|f| f.set_len(bytes))
            .expect("blank disk image");
        path
    }

    /// A 16 MiB FAT drive labelled PIGEONAIR with `answers` as `answers.toml` (mtools: this
    /// host's kernel has no vfat to mount it).
    fn answers_drive(&self, answers: &str) -> PathBuf {
        self.answers_drive_as("dk-answers.img", answers)
    }

    /// [`Scratch::answers_drive`] in the image file `name` (two VMs, two drives).
    fn answers_drive_as(&self, name: &str, answers: &str) -> PathBuf {
        let image = self.0.join(name);
        let toml = self.0.join("answers.toml");
        fs::write(&toml, answers).expect("answers file");
        fs::File::create(&image)
            .and_then(|f| f.set_len(16 << 20))
            .expect("answers image");
        for args in [
            vec!["mformat", "-i", &image.to_string_lossy(), "-v", "PIGEONAIR"]
                .into_iter()
                .map(str::to_owned)
                .chain(["-T", "32768", "-h", "64", "-s", "32", "::"].map(str::to_owned))
                .collect::<Vec<String>>(),
            vec![
                "mcopy".into(),
                "-i".into(),
                image.to_string_lossy().into_owned(),
                toml.to_string_lossy().into_owned(),
                "::answers.toml".into(),
            ],
        ] {
            let out = Command::new(&args[0])
                .args(&args[1..])
                .env("MTOOLS_SKIP_CHECK", "1")
                .output()
                .expect("mtools runs");
            assert!(
                out.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        image
    }
}

impl Drop for Scratch {
    /// Removes the images; a failed test with `PIGEONAIR_KEEP_FAILED` set keeps them (the
    /// installed disk's journal: `debugfs 'dk-disk.raw?offset=538968064'`) and says where.
    fn drop(&mut self) {
        if std::thread::panicking() && std::env::var_os("PIGEONAIR_KEEP_FAILED").is_some() {
            eprintln!(
                "kept for inspection (PIGEONAIR_KEEP_FAILED): {}",
                self.0.display()
            );
            return;
        }
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The single-box answers for the VM: the public interface on qemu's user network
/// (10.0.2.15, which the host forwards reach), the private one isolated, and `[disk]`. The NICs
/// sit in PCI slots 5 and 6: `ens5`, `ens6` on the `pc` machine (BIOS), whose ACPI tables give
/// slot numbers; `enp0s5`, `enp0s6` on `q35` (UEFI), whose root bus has none.
fn answers(firmware: Firmware, disk: &str) -> String {
    let (pub_if, priv_if) = match firmware {
        Firmware::Bios => ("ens5", "ens6"),
        Firmware::Uefi => ("enp0s5", "enp0s6"),
    };
    format!(
        "[cluster]\nname = \"pigeon\"\n\n[mail]\ndomain = \"example.com\"\n\n\
         [node]\nhostname = \"mx1.example.com\"\n\n[network]\ndns = [\"10.0.2.3\"]\n\n\
         [network.public]\ninterface = \"{pub_if}\"\naddress = \"10.0.2.15/24\"\ngateway = \"10.0.2.2\"\n\n\
         [network.private]\ninterface = \"{priv_if}\"\naddress = \"10.42.0.11/24\"\n\n\
         [admin]\npassword = \"{PASSWORD}\"\n\n{disk}",
    )
}

/// A free TCP port on the host's loopback.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The first `n` bytes of `path`.
fn head(path: &Path, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("reading the disk image");
    buf
}

/// A GPT partition: its name and size in bytes.
#[derive(Debug)]
struct GptEntry {
    name: String,
    bytes: u64,
}

/// The partitions of the GPT on a raw disk image (512-byte sectors).
fn gpt(path: &Path) -> Vec<GptEntry> {
    let bytes = head(path, 1 << 20);
    let header = &bytes[512..1024];
    assert_eq!(&header[..8], b"EFI PART", "no GPT on {}", path.display());
    let u64_at = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
    let u32_at = |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    let entries_lba = u64_at(header, 72) as usize;
    let count = u32_at(header, 80) as usize;
    let size = u32_at(header, 84) as usize;
    let mut out = Vec::new();
    for i in 0..count {
        let e = &bytes[entries_lba * 512 + i * size..][..size];
        if e[..16].iter().all(|b| *b == 0) {
            continue;
        }
        let first = u64_at(e, 32);
        let last = u64_at(e, 40);
        let name: Vec<u16> = e[56..128]
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|c| *c != 0)
            .collect();
        out.push(GptEntry {
            name: String::from_utf16_lossy(&name),
            bytes: (last - first + 1) * 512,
        });
    }
    out
}

/// Waits for an SMTP banner on the host's `port`; returns it.
fn smtp_banner(port: u16, timeout: Duration) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    while Instant::now() < deadline {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(mut s) => {
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let mut buf = [0u8; 512];
                match s.read(&mut buf) {
                    Ok(n) if n > 0 => {
                        let banner = String::from_utf8_lossy(&buf[..n]).into_owned();
                        if banner.starts_with("220 ") {
                            let _ = s.write_all(b"QUIT\r\n");
                            return Ok(banner.trim().to_owned());
                        }
                        last = banner;
                    }
                    Ok(_) => last = "connection closed without a banner".into(),
                    Err(e) => last = e.to_string(),
                }
            }
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    Err(last)
}

fn mailclient(args: &[&str]) -> std::process::Output {
    let py = format!("{}/clients/mailclient.py", env!("CARGO_MANIFEST_DIR"));
    Command::new("python3")
        .arg(py)
        .args(args)
        .output()
        .expect("python3 runs")
}

/// Boots the medium with `disk` and an answers drive holding `answers`, waits for the
/// unattended install and the reboot that ends qemu; returns power-on to installed.
fn install_from_medium(
    scratch: &Scratch,
    node: &str,
    firmware: Firmware,
    answers: &str,
    disk: &Path,
) -> Duration {
    let drive = scratch.answers_drive_as(&format!("dk-answers-{node}.img"), answers);
    let mut vm = MediumVm::new(medium(), firmware)
        .with_disk(disk)
        .with_read_only_disk(&drive)
        .with_network(Vec::new())
        .with_console_log(scratch.0.join(format!("{node}-install-console.log")))
        .start_past(EARLY, INSTALL_TIMEOUT)
        .map(|(vm, _)| vm)
        .expect("qemu starts");
    let installed = vm
        .wait_for("pigeonair-install: installed to /dev/vda", INSTALL_TIMEOUT)
        .unwrap_or_else(|e| panic!("{node} ({firmware:?}): the unattended install: {e}"));
    let status = vm
        .wait_exit(installed + Duration::from_secs(300))
        .unwrap_or_else(|e| panic!("{node} ({firmware:?}): the reboot after the install: {e}"));
    let console = vm.console_text();
    drop(vm);
    println!("{console}");
    println!(
        "{node} ({firmware:?}): power-on to installed in {:.0} s (qemu ended with {status} at \
         the reboot)",
        installed.as_secs_f64()
    );
    installed
}

/// Sends a message to `to` through the host's `smtp` forward and reads it back as `to` (with
/// `password`) through the `imaps` forward. A temporary failure (4xx) is retried for up to two
/// minutes: right after a first boot pigeonaird may rebuild slapd's configuration once (a
/// second without the directory under TCG), and an smtpd process answers the same sender and
/// recipient from its last resolution, so each try comes from a sender of its own, as distinct
/// mail would.
fn send_and_read(smtp: u16, imaps: u16, to: &str, password: &str) {
    let subject = format!("dk-install {} to {to}", std::process::id());
    let sent_from = Instant::now();
    let mut temporary = 0;
    loop {
        let out = Command::new("swaks")
            .args(["--server", "127.0.0.1", "--port", &smtp.to_string()])
            .args([
                "--from",
                &format!("someone-{temporary}@example.net"),
                "--to",
                to,
            ])
            .args([
                "--header",
                &format!("Subject: {subject}"),
                "--timeout",
                "60",
            ])
            .output()
            .expect("swaks runs");
        let dialogue = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            break;
        }
        let transient = dialogue.lines().any(|l| l.starts_with("<** 4"));
        assert!(
            transient && sent_from.elapsed() < Duration::from_secs(120),
            "SMTP to {to} refused ({temporary} temporary failures before):\n{dialogue}"
        );
        temporary += 1;
        std::thread::sleep(Duration::from_secs(3));
    }
    println!(
        "SMTP to {to} accepted after {temporary} temporary failures ({:.0} s)",
        sent_from.elapsed().as_secs_f64()
    );
    let port = imaps.to_string();
    let mut fetched = String::new();
    for _ in 0..60 {
        let out = mailclient(&["imap", "127.0.0.1", &port, "tls", to, password]);
        fetched = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() && fetched.contains(&subject) {
            break;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    assert!(
        fetched.contains(&subject),
        "{to}'s newest message over IMAPS is not the one sent:\n{fetched}"
    );
}

/// The first boot of an installed disk (`vm`, started from it) with `/var/vmail` on a
/// partition of its own: the apply done with `/var/vmail` on `/dev/vda4` and the root on
/// `/dev/vda3`, an SMTP banner naming `host` through the `smtp` forward, and a message to
/// postmaster@ read back over IMAPS. Returns when the apply was done and the banner answered
/// (since power-on), and the banner.
fn first_boot_serves_mail(
    vm: &mut RunningMedium,
    host: &str,
    smtp: u16,
    imaps: u16,
) -> (Duration, Duration, String) {
    let applied = vm
        .wait_for("/var/vmail /dev/vda4 ext4", FIRST_BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{host}: the first boot's apply: {e}"));
    let banner = smtp_banner(smtp, Duration::from_secs(300))
        .unwrap_or_else(|e| panic!("no SMTP banner from {host}: {e}\n{}", vm.console_text()));
    let serving = vm.elapsed();
    assert!(banner.contains(host), "{banner}");
    let console = vm.console_text();
    assert!(
        pigeonair_lab::medium::contains_text(&console, "/ /dev/vda3 ext4"),
        "{host}'s root is not on /dev/vda3:\n{console}"
    );
    send_and_read(smtp, imaps, "postmaster@example.com", PASSWORD);
    (applied, serving, banner)
}

/// A free UDP port on the host's loopback (the VMs' private link).
fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free UDP port")
}

/// `CMD` as root on a VM through the host's `port` forward to its SSH, by `key` only, with
/// `input` on its standard input: what it printed (a failure fails the test).
fn ssh(port: u16, key: &Path, cmd: &str, input: &str) -> String {
    let mut child = Command::new("ssh")
        .args(["-p", &port.to_string(), "-i"])
        .arg(key)
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=30",
            "root@127.0.0.1",
            cmd,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("ssh runs");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(input.as_bytes())
        .expect("ssh's input");
    let out = child.wait_with_output().expect("ssh ends");
    assert!(
        out.status.success(),
        "ssh {cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether `pigeonctl node list`'s text shows `host` active.
fn listed_active(list: &str, host: &str) -> bool {
    list.lines()
        .any(|l| l.contains(host) && l.contains("active"))
}

/// The GPT an install with `vmail_size = "1G"` writes on `disk`: the two boot partitions, the
/// root and `/var/vmail`'s partition of the size asked.
fn assert_vmail_partition(disk: &Path) {
    let parts = gpt(disk);
    let names: Vec<&str> = parts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["bios-boot", "esp", "pigeonair-root", "pigeonair-vmail"],
        "{parts:?}"
    );
    assert!(
        parts[3].bytes >= GIB && parts[3].bytes < GIB + (4 << 20),
        "/var/vmail's partition is not the 1G asked for: {parts:?}"
    );
}

/// UEFI (OVMF, `q35`), unattended from an answers drive: the install runs with no keystroke
/// and reboots; the disk boots alone through its EFI system partition, with `/var/vmail` on
/// the partition asked for, and serves postmaster@'s mail through qemu's port forwarding (the
/// cluster test below has BIOS unattended and UEFI interactive).
#[test]
fn installs_unattended_with_uefi_and_boots_from_the_disk() {
    let test = "install_uefi";
    if !pigeonair_tests::support::medium_host_ready(test, HOST_TOOLS) {
        return;
    }
    let _iso = medium();
    let _one = ONE_VM.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = Scratch::new("dk-uefi");
    let disk = scratch.blank_disk("dk-disk.raw", 9 * GIB);
    let answers = answers(
        Firmware::Uefi,
        "[disk]\ndevice = \"/dev/vda\"\nvmail_size = \"1G\"\n",
    );
    let installed = install_from_medium(&scratch, "uefi", Firmware::Uefi, &answers, &disk);
    assert_vmail_partition(&disk);
    let (smtp, imaps) = (free_port(), free_port());
    let mut vm = MediumVm::from_disk(&disk, Firmware::Uefi)
        .with_network(vec![
            Forward {
                host_port: smtp,
                guest_port: 25,
            },
            Forward {
                host_port: imaps,
                guest_port: 993,
            },
        ])
        .with_console_log(scratch.0.join("first-boot-console.log"))
        .start_past(EARLY, INSTALL_TIMEOUT)
        .map(|(vm, _)| vm)
        .expect("qemu starts from the disk");
    let (applied, serving, banner) =
        first_boot_serves_mail(&mut vm, "mx1.example.com", smtp, imaps);
    drop(vm);
    println!(
        "Uefi, unattended: installed {:.0} s after power-on; the disk booted alone applied the \
         answers {:.0} s and answered SMTP {:.0} s after power-on ({banner}); power-on of the \
         medium to serving mail {:.0} s",
        installed.as_secs_f64(),
        applied.as_secs_f64(),
        serving.as_secs_f64(),
        installed.as_secs_f64() + serving.as_secs_f64()
    );
}

/// Two nodes from the medium, as an operator makes a cluster. node1 (UEFI: `q35`, OVMF, its
/// disk booting through the EFI system partition) is installed from the interactive installer
/// on the serial console, driven by keystrokes (the target disk, a separate 1 GiB
/// `/var/vmail`, the erase warning, root's SSH key), and boots from its disk alone; a token is
/// made on it over SSH. node2 (BIOS: `pc`, the BIOS boot partition) installs unattended from
/// an answers drive labelled PIGEONAIR with that token and a separate `/var/vmail`, and joins
/// at its first boot over a private link between the two VMs. Both serve mail: postmaster@
/// through each node's SMTP and IMAPS (node2 routes and proxies to node1, postmaster@'s home),
/// and a user homed on node2 gets mail sent to node1.
#[test]
fn two_nodes_install_from_the_medium_with_uefi_and_bios_and_the_second_joins_the_first() {
    let test = "install_cluster";
    if !pigeonair_tests::support::medium_host_ready(test, HOST_TOOLS) {
        return;
    }
    let _iso = medium();
    let _one = ONE_VM.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = Scratch::new("dk-cluster");
    let key = scratch.0.join("dk-key");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "dk-test", "-f"])
        .arg(&key)
        .output()
        .expect("ssh-keygen runs");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let public_key = fs::read_to_string(key.with_extension("pub")).unwrap();

    // node1: UEFI, from the interactive installer.
    let disk1 = scratch.blank_disk("dk-disk1.raw", 9 * GIB);
    let installed1 = install_interactively(&scratch, &disk1, Firmware::Uefi, public_key.trim());
    assert_vmail_partition(&disk1);

    // node1 boots from its disk alone (no ISO), linked to node2's private NIC.
    let (link1, link2) = (free_udp_port(), free_udp_port());
    let (smtp1, imaps1, ssh1) = (free_port(), free_port(), free_port());
    let forward = |host_port, guest_port| Forward {
        host_port,
        guest_port,
    };
    let mut vm1 = MediumVm::from_disk(&disk1, Firmware::Uefi)
        .with_network(vec![
            forward(smtp1, 25),
            forward(imaps1, 993),
            forward(ssh1, 22),
        ])
        .with_private_link(link1, link2)
        .with_console_log(scratch.0.join("node1-console.log"))
        .start_past(EARLY, INSTALL_TIMEOUT)
        .map(|(vm, _)| vm)
        .expect("qemu starts from node1's disk");
    let (applied1, serving1, banner1) =
        first_boot_serves_mail(&mut vm1, "mx1.example.com", smtp1, imaps1);
    println!(
        "node1 (interactive, Uefi): installed disk booted alone: answers applied {:.0} s and \
         SMTP banner {:.0} s after power-on ({banner1}); IMAPS login as postmaster@ read the \
         message sent; power-on of the medium to serving mail {:.0} s (the typing included)",
        applied1.as_secs_f64(),
        serving1.as_secs_f64(),
        installed1.as_secs_f64() + serving1.as_secs_f64()
    );

    // A token, made on node1 by root over SSH (by key: the installer's screen gave it).
    let token = ssh(ssh1, &key, "pigeonctl node token --ttl 2h", "");
    let token = token.trim();
    assert!(token.starts_with("PA1."), "{token}");

    // node2: BIOS, unattended from an answers drive, joining with the token; its public side
    // is a user network of its own.
    let disk2 = scratch.blank_disk("dk-disk2.raw", 9 * GIB);
    let answers2 = format!(
        "[cluster]\njoin = \"{token}\"\n\n[node]\nhostname = \"mx2.example.com\"\n\n\
         [network]\ndns = [\"10.0.3.3\"]\n\n\
         [network.public]\ninterface = \"ens5\"\naddress = \"10.0.3.15/24\"\ngateway = \"10.0.3.2\"\n\n\
         [network.private]\ninterface = \"ens6\"\naddress = \"10.42.0.12/24\"\n\n\
         [disk]\ndevice = \"/dev/vda\"\nvmail_size = \"1G\"\n"
    );
    let installed2 = install_from_medium(&scratch, "node2", Firmware::Bios, &answers2, &disk2);
    assert_vmail_partition(&disk2);
    let (smtp2, imaps2) = (free_port(), free_port());
    let mut vm2 = MediumVm::from_disk(&disk2, Firmware::Bios)
        .with_public_net(3)
        .with_network(vec![forward(smtp2, 25), forward(imaps2, 993)])
        .with_private_link(link2, link1)
        .with_console_log(scratch.0.join("node2-console.log"))
        .start_past(EARLY, INSTALL_TIMEOUT)
        .map(|(vm, _)| vm)
        .expect("qemu starts from node2's disk");
    let (applied2, serving2, banner2) =
        first_boot_serves_mail(&mut vm2, "mx2.example.com", smtp2, imaps2);

    // node1 sees it active; a user homed on node2, added on node1, gets mail sent to node1
    // (delivered over the private link) and reads it on node2.
    let mut list = String::new();
    for _ in 0..60 {
        list = ssh(ssh1, &key, "pigeonctl node list", "");
        if listed_active(&list, "mx2.example.com") {
            break;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    assert!(
        listed_active(&list, "mx2.example.com"),
        "node2 is not active in node1's list:\n{list}"
    );
    let user_password = "dk-join-user-secret-1";
    ssh(
        ssh1,
        &key,
        "pigeonctl user add u2@example.com --node mx2.example.com --password-stdin",
        &format!("{user_password}\n"),
    );
    send_and_read(smtp1, imaps2, "u2@example.com", user_password);
    drop(vm2);
    drop(vm1);
    println!(
        "node2 (unattended, Bios): installed {:.0} s after power-on; its disk joined the \
         cluster and applied {:.0} s after power-on, SMTP banner at {:.0} s ({banner2}); \
         power-on of the medium to a member serving mail {:.0} s; postmaster@ (homed on \
         node1) reached through node2's SMTP and IMAPS; node1 lists it active and a user homed \
         on it got mail sent to node1",
        installed2.as_secs_f64(),
        applied2.as_secs_f64(),
        serving2.as_secs_f64(),
        installed2.as_secs_f64() + serving2.as_secs_f64()
    );
}

/// The interactive installer on the medium's serial console (no answers drive), driven by
/// keystrokes: node1's answers typed (with root's SSH key `public_key`), the target disk
/// chosen (the CD listed as the install medium), a separate 1 GiB /var/vmail, the erase
/// warning confirmed; it installs and the done screen's Enter reboots (qemu ends). Returns
/// power-on to installed.
fn install_interactively(
    scratch: &Scratch,
    disk: &Path,
    firmware: Firmware,
    public_key: &str,
) -> Duration {
    // qemu's `pc` machine names the NICs by their slots, `q35` by their place on its root bus.
    let (public, private) = match firmware {
        Firmware::Bios => ("ens5", "ens6"),
        Firmware::Uefi => ("enp0s5", "enp0s6"),
    };
    let network = format!("{public}\t10.0.2.15/24\t10.0.2.2\t10.0.2.3\t{private}\t10.42.0.11/24\r");
    let mut vm = MediumVm::new(medium(), firmware)
        .with_disk(disk)
        .with_network(Vec::new())
        .with_console_log(scratch.0.join("node1-install-console.log"))
        .start_past(EARLY, INSTALL_TIMEOUT)
        .map(|(vm, _)| vm)
        .expect("qemu starts");
    // What each screen shows first (its purpose line), then what is typed on it: Tab between
    // fields, Enter (CR on a serial line) on the last goes on.
    let admin = format!("{PASSWORD}\t{PASSWORD}\t{public_key}\r");
    let screens: [(&str, &str); 9] = [
        ("Welcome to PigeonAir", "\r"),
        ("Make a new cluster of this box", "\r"),
        ("Pick the public interface", &network),
        ("Host name (FQDN)", "mx1.example.com\texample.com\tpigeon\r"),
        ("Root's SSH key", &admin),
        ("Choose the disk to install to", "\r"),
        ("Keep mail on the root file system", "1G\r"),
        ("Enter goes on to the erase warning", "\r"),
        ("Everything on this disk is erased", "Erase\r"),
    ];
    let mut at = Duration::ZERO;
    for (shown, keys) in screens {
        at = vm
            .wait_for(shown, INSTALL_TIMEOUT)
            .unwrap_or_else(|e| panic!("the screen showing {shown:?}: {e}"));
        // The screen is drawn whole before the keys for it are typed.
        std::thread::sleep(Duration::from_secs(2));
        for chunk in keys.as_bytes().chunks(8) {
            vm.send(chunk).expect("typing on the serial console");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let confirmed = at;
    let console = vm.console_text();
    assert!(
        pigeonair_lab::medium::contains_text(&console, "[install medium]"),
        "the install medium is not listed:\n{console}"
    );
    let installed = vm
        .wait_for("Installed to /dev/vda.", INSTALL_TIMEOUT)
        .unwrap_or_else(|e| panic!("the interactive install: {e}"));
    std::thread::sleep(Duration::from_secs(2));
    vm.send(b"\r").expect("Enter on the done screen");
    let status = vm
        .wait_exit(installed + Duration::from_secs(300))
        .unwrap_or_else(|e| panic!("the reboot from the done screen: {e}"));
    drop(vm);
    println!(
        "node1 (interactive, {firmware:?}): erase confirmed {:.0} s and installed {:.0} s after \
         power-on (qemu ended with {status} at the reboot)",
        confirmed.as_secs_f64(),
        installed.as_secs_f64()
    );
    installed
}

/// A disk holding what an install leaves: the same GPT (`sfdisk`, the partition names and
/// sizes the install writes: `bios-boot`, `esp`, `pigeonair-root`), all it takes for the
/// reinstall guard, which reads the partitions' names.
fn installed_looking_disk(scratch: &Scratch, name: &str) -> PathBuf {
    let disk = scratch.blank_disk(name, 9 * GIB);
    let mut sfdisk = Command::new("sfdisk")
        .args(["--quiet", "--label", "gpt"])
        .arg(&disk)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("sfdisk runs (Debian package fdisk)");
    sfdisk
        .stdin
        .take()
        .expect("piped")
        .write_all(
            b"size=1MiB, type=21686148-6449-6E6F-744E-656564454649, name=bios-boot\n\
              size=512MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=esp\n\
              type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=pigeonair-root\n",
        )
        .expect("sfdisk's input");
    let out = sfdisk.wait_with_output().expect("sfdisk ends");
    assert!(
        out.status.success(),
        "sfdisk: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    disk
}

/// Answers embedded in the medium (`pigeonair-image iso --answers`), no answers drive, and a
/// disk that holds a PigeonAir installation: the console says the embedded answers are used,
/// and the reinstall guard stops the install before any write, as when a medium boots again
/// with its answers after installing (the install itself, from the same code whatever the
/// answers' source, is the cluster test's).
#[test]
fn embedded_answers_are_used_and_an_installed_disk_is_kept() {
    let test = "install_embedded";
    if !pigeonair_tests::support::medium_host_ready(test, HOST_TOOLS) {
        return;
    }
    let _one = ONE_VM.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = Scratch::new("dk-embedded");
    let iso = scratch.0.join("dk-embedded.iso");
    let started = Instant::now();
    let log = pigeonair_tests::support::build_medium_with_answers(
        &iso,
        Some(&answers(Firmware::Bios, "[disk]\ndevice = \"/dev/vda\"\n")),
    );
    println!(
        "{log}ISO with embedded answers ready in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let disk = installed_looking_disk(&scratch, "dk-disk.raw");
    let before = head(&disk, 1 << 20);

    let mut vm = MediumVm::new(&iso, Firmware::Bios)
        .with_disk(&disk)
        .with_network(Vec::new())
        .with_console_log(scratch.0.join("console.log"))
        .start_past(EARLY, INSTALL_TIMEOUT)
        .map(|(vm, _)| vm)
        .expect("qemu starts");
    let refused = vm
        .wait_for("Nothing was written to any disk", REFUSAL_TIMEOUT)
        .unwrap_or_else(|e| panic!("the boot with the embedded answers: {e}"));
    let console = vm.console_text();
    drop(vm);
    for expected in [
        "unattended install with the answers embedded in the install medium \
         (/run/live/medium/pigeonair/answers.toml)",
        "disk.device: already installed on /dev/vda (9.0 GiB, partitions bios-boot, esp, \
         pigeonair-root): remove the medium to boot it, or set disk.reinstall = true to install \
         again",
    ] {
        assert!(
            pigeonair_lab::medium::contains_text(&console, expected),
            "{expected:?} not on the console:\n{console}"
        );
    }
    assert!(
        head(&disk, 1 << 20) == before,
        "the installed disk's first MiB was written to"
    );
    println!(
        "embedded answers, a PigeonAir disk attached: refused {:.0} s after power-on, the disk \
         unchanged",
        refused.as_secs_f64()
    );
}

/// Bad `[disk]` answers: refused on the console before any write, the blank disks unchanged.
#[test]
fn bad_disk_answers_are_refused_before_any_write() {
    let test = "install_refusals";
    if !pigeonair_tests::support::medium_host_ready(test, HOST_TOOLS) {
        return;
    }
    let iso = medium();
    let _one = ONE_VM.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = Scratch::new("dk-refusals");
    let disk = scratch.blank_disk("dk-disk.raw", 9 * GIB);
    let small = scratch.blank_disk("dk-small.raw", 4 * GIB);
    let zeros = vec![0u8; 1 << 20];
    for (disk_table, expected) in [
        (
            "[disk]\ndevice = \"/dev/vdz\"\n",
            "disk.device: \"/dev/vdz\": no such disk",
        ),
        (
            "[disk]\ndevice = \"/dev/vdb\"\n",
            "disk.device: \"/dev/vdb\" (4.0 GiB) is too small",
        ),
        (
            "[disk]\ndevice = \"/dev/sr0\"\n",
            "disk.device: \"/dev/sr0\" is the install medium this installer runs from",
        ),
    ] {
        let drive = scratch.answers_drive(&answers(Firmware::Bios, disk_table));
        let mut vm = MediumVm::new(iso, Firmware::Bios)
            .with_disk(&disk)
            .with_disk(&small)
            .with_read_only_disk(&drive)
            .with_network(Vec::new())
            .start_past(EARLY, INSTALL_TIMEOUT)
            .map(|(vm, _)| vm)
            .expect("qemu starts");
        let at = vm
            .wait_for("Nothing was written to any disk", REFUSAL_TIMEOUT)
            .unwrap_or_else(|e| panic!("{disk_table}: {e}"));
        let console = vm.console_text();
        drop(vm);
        assert!(
            pigeonair_lab::medium::contains_text(&console, expected),
            "{disk_table}: {expected:?} not on the console:\n{console}"
        );
        for d in [&disk, &small] {
            assert!(
                head(d, 1 << 20) == zeros,
                "{disk_table}: {} was written to",
                d.display()
            );
        }
        println!(
            "{disk_table}→ refused {:.0} s after power-on: {expected}",
            at.as_secs_f64()
        );
    }
}
