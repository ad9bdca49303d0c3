//! The install to disk, run from the install medium: partitions and formats the disk of a
//! checked [`DiskPlan`], copies the appliance system onto it (the medium's base and packages
//! layers, not its live layer), writes fstab, installs GRUB for BIOS and UEFI (its grub.cfg from
//! the installed system's own `update-grub`, run in a chroot) and leaves the answers for the
//! first boot. A thin shell over sfdisk, mkfs, mount, cp, grub-install and update-grub; what
//! each step writes comes from [`super::layout`].

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pigeonair_appliance::disk::{DiskPlan, gib};
use pigeonair_apply::{Event, StepOutcome};

use super::layout::{self, Partition};

/// Where the new root file system is mounted during the install.
pub const TARGET: &str = "/run/pigeonair/target";
/// The medium's squashfs layers that make the appliance system, lowest first (the live layer,
/// which only the medium has, is left out).
pub const SYSTEM_LAYERS: [&str; 2] = ["10-base.squashfs", "20-packages.squashfs"];
const LAYERS_DIR: &str = "/run/pigeonair/layers";
const APPLIANCE: &str = "/run/pigeonair/appliance";

/// A step of the install that failed, and why.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {reason}")]
pub struct InstallError {
    /// What was being done.
    pub step: String,
    /// Why it failed (the command and the end of its output).
    pub reason: String,
}

fn failed(step: &str) -> impl Fn(String) -> InstallError + '_ {
    move |reason| InstallError {
        step: step.to_owned(),
        reason,
    }
}

/// Runs `argv`; its error text names the command and ends with its output.
fn run(argv: &[String]) -> Result<String, String> {
    let (program, args) = argv.split_first().ok_or("empty command")?;
    pigeonair_host::run(Command::new(program).args(args)).map_err(|e| e.to_string())
}

fn run_str(argv: &[&str]) -> Result<String, String> {
    run(&argv.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
}

/// Runs `argv` with `input` on its standard input.
fn run_with_input(argv: &[&str], input: &str) -> Result<(), String> {
    let line = argv.join(" ");
    let mut child = Command::new(argv[0])
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{line}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| format!("{line}: writing its input: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{line}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{line} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

/// Mount points made by the install, unmounted in reverse order however it ends.
#[derive(Default)]
struct Mounts(Vec<PathBuf>);

impl Mounts {
    fn mount(&mut self, args: &[&str], at: &Path) -> Result<(), String> {
        fs::create_dir_all(at).map_err(|e| format!("creating {}: {e}", at.display()))?;
        let mut argv: Vec<String> = std::iter::once("mount".to_owned())
            .chain(args.iter().map(|s| (*s).to_owned()))
            .collect();
        argv.push(at.display().to_string());
        run(&argv)?;
        self.0.push(at.to_owned());
        Ok(())
    }

    /// Unmounts everything, newest first, reporting the first failure.
    fn unmount_all(&mut self) -> Result<(), String> {
        let mut first = None;
        while let Some(at) = self.0.pop() {
            if let Err(e) = run_str(&["umount", &at.display().to_string()]) {
                let _ = run_str(&["umount", "--lazy", &at.display().to_string()]);
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

impl Drop for Mounts {
    fn drop(&mut self) {
        let _ = self.unmount_all();
    }
}

/// The progress of an install as typed events (the apply's own): a [`Event::Note`] when a
/// step starts and for its details, an [`Event::Step`] when it ended or failed.
pub struct Steps<'a> {
    progress: &'a mut dyn FnMut(&Event),
    n: usize,
    total: usize,
}

impl Steps<'_> {
    fn run<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut dyn FnMut(&str)) -> Result<T, InstallError>,
    ) -> Result<T, InstallError> {
        self.n += 1;
        let (n, total) = (self.n, self.total);
        (self.progress)(&Event::Note(format!("[{n}/{total}] {what} …")));
        let started = Instant::now();
        let progress = &mut *self.progress;
        let out = f(&mut |line: &str| progress(&Event::Note(line.to_owned())));
        let outcome = match &out {
            Ok(_) => StepOutcome::Changed(vec!["done".into()]),
            Err(_) => StepOutcome::Failed,
        };
        (self.progress)(&Event::Step {
            index: n,
            total,
            name: what.to_owned(),
            outcome,
            secs: started.elapsed().as_secs_f64(),
        });
        out
    }
}

/// The steps [`install`] runs.
pub const STEPS: usize = 7;

/// Installs the appliance onto `plan`'s disk from the medium at `medium` (live-boot's
/// `/run/live/medium`), leaving `answers` (the answers file's text) for the first boot.
/// Progress goes to `progress`. Nothing is rebooted here ([`reboot`]). The unattended install
/// and the interactive installer's install to disk both run this.
pub fn install(
    plan: &DiskPlan,
    answers: &str,
    medium: &Path,
    progress: &mut dyn FnMut(&Event),
) -> Result<(), InstallError> {
    let parts = layout::partitions(plan);
    let device = plan.device.as_str();
    let target = Path::new(TARGET);
    let mut mounts = Mounts::default();
    let layers: Vec<PathBuf> = SYSTEM_LAYERS
        .iter()
        .map(|l| medium.join("live").join(l))
        .collect();
    for l in &layers {
        if !l.is_file() {
            return Err(InstallError {
                step: "finding the appliance system on the medium".into(),
                reason: format!(
                    "{} is missing: is this a PigeonAir install medium?",
                    l.display()
                ),
            });
        }
    }
    let mut steps = Steps {
        progress,
        n: 0,
        total: STEPS,
    };

    let what = format!("erase {device} and write its partition table (GPT)");
    steps.run(&what, |_| {
        let f = failed("writing the partition table");
        run_str(&["wipefs", "--all", "--force", device]).map_err(&f)?;
        run_with_input(
            &["sfdisk", "--quiet", "--wipe", "always", device],
            &layout::sfdisk_script(&parts),
        )
        .map_err(&f)?;
        let _ = run_str(&["udevadm", "settle", "--timeout=30"]);
        wait_for_partitions(device, &parts).map_err(&f)
    })?;

    steps.run("make the file systems", |say| {
        for p in &parts {
            let path = layout::partition_path(device, p.number);
            if let Some(argv) = layout::mkfs_command(p, &path) {
                say(&format!("      {}", argv.join(" ")));
                run(&argv).map_err(failed("making the file systems"))?;
            }
        }
        Ok(())
    })?;

    steps.run(&format!("mount them at {TARGET}"), |_| {
        for p in layout::mount_order(&parts) {
            let at = target.join(p.mount.unwrap_or("/").trim_start_matches('/'));
            let path = layout::partition_path(device, p.number);
            mounts
                .mount(&[&path], &at)
                .map_err(failed("mounting the new file systems"))?;
        }
        Ok(())
    })?;

    steps.run(
        "copy the appliance system onto the disk (a few minutes)",
        |_| {
            let f = failed("copying the appliance system");
            let mut lower = Vec::new();
            for l in &layers {
                let name = l.file_name().unwrap_or_default().to_string_lossy();
                let at = Path::new(LAYERS_DIR).join(name.trim_end_matches(".squashfs"));
                let source = l.display().to_string();
                mounts
                    .mount(&["-t", "squashfs", "-o", "loop,ro", &source], &at)
                    .map_err(&f)?;
                lower.push(at.display().to_string());
            }
            // overlayfs lists the upper-most lower layer first.
            lower.reverse();
            let options = format!("ro,lowerdir={}", lower.join(":"));
            mounts
                .mount(
                    &["-t", "overlay", "-o", &options, "pigeonair-system"],
                    Path::new(APPLIANCE),
                )
                .map_err(&f)?;
            run_str(&["cp", "-a", &format!("{APPLIANCE}/."), &format!("{TARGET}/")]).map_err(&f)?;
            Ok(())
        },
    )?;

    steps.run("write /etc/fstab (file systems by UUID)", |_| {
        let f = failed("writing /etc/fstab");
        let mut uuids = Vec::new();
        for p in parts.iter().filter(|p| p.fs != layout::Fs::Raw) {
            let path = layout::partition_path(device, p.number);
            let uuid = run_str(&["blkid", "--match-tag", "UUID", "--output", "value", &path])
                .map_err(&f)?;
            uuids.push((p.number, uuid.trim().to_owned()));
        }
        let text = layout::fstab(&parts, &uuids).map_err(&f)?;
        write(&target.join("etc/fstab"), &text, 0o644).map_err(&f)
    })?;

    steps.run("install GRUB for BIOS and UEFI", |say| {
        let f = failed("installing GRUB");
        let root = layout::partition_path(device, 3);
        let root_uuid =
            run_str(&["blkid", "--match-tag", "UUID", "--output", "value", &root]).map_err(&f)?;
        let boot = target.join("boot");
        let names: Vec<String> = fs::read_dir(&boot)
            .map_err(|e| f(format!("reading {}: {e}", boot.display())))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        let kernel = layout::kernel_release(names.iter().map(String::as_str))
            .ok_or_else(|| f(format!("no vmlinuz-* in {}", boot.display())))?;
        for argv in layout::grub_install_commands(device, TARGET) {
            say(&format!("      {}", argv.join(" ")));
            run(&argv).map_err(&f)?;
        }
        // grub.cfg comes from the installed system's own update-grub, which a kernel upgrade
        // runs again (zz-update-grub) with the same settings.
        write(
            &target.join(layout::GRUB_DEFAULTS.trim_start_matches('/')),
            &layout::grub_defaults(),
            0o644,
        )
        .map_err(&f)?;
        let _ = run_str(&["udevadm", "settle", "--timeout=30"]);
        let mut binds = Mounts::default();
        for dir in layout::CHROOT_BINDS {
            binds
                .mount(&["--bind", dir], &target.join(dir.trim_start_matches('/')))
                .map_err(&f)?;
        }
        say(&format!("      chroot {TARGET} update-grub"));
        run_str(&["chroot", TARGET, "update-grub"]).map_err(&f)?;
        binds.unmount_all().map_err(&f)?;
        let cfg_path = boot.join("grub/grub.cfg");
        let cfg = fs::read_to_string(&cfg_path)
            .map_err(|e| f(format!("reading {}: {e}", cfg_path.display())))?;
        layout::check_grub_cfg(&cfg, root_uuid.trim(), &kernel).map_err(&f)
    })?;

    steps.run("leave the answers for the first boot", |_| {
        let f = failed("writing the first boot's answers");
        let answers_path = target.join(layout::FIRSTBOOT_ANSWERS.trim_start_matches('/'));
        write(&answers_path, answers, 0o600).map_err(&f)?;
        if let Some(dir) = answers_path.parent() {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| f(format!("{}: {e}", dir.display())))?;
        }
        let unit = target.join(layout::FIRSTBOOT_UNIT.trim_start_matches('/'));
        write(&unit, &layout::firstboot_unit(), 0o644).map_err(&f)?;
        let wants = target.join(layout::FIRSTBOOT_WANTS.trim_start_matches('/'));
        if let Some(dir) = wants.parent() {
            fs::create_dir_all(dir).map_err(|e| f(format!("{}: {e}", dir.display())))?;
        }
        let _ = fs::remove_file(&wants);
        std::os::unix::fs::symlink(layout::FIRSTBOOT_UNIT, &wants)
            .map_err(|e| f(format!("{}: {e}", wants.display())))?;
        let _ = run_str(&["sync"]);
        mounts
            .unmount_all()
            .map_err(failed("unmounting the installed system"))
    })?;
    Ok(())
}

/// Reboots into the installed system (`systemctl reboot`), once an install ended.
pub fn reboot() -> Result<(), String> {
    pigeonair_host::run(Command::new("systemctl").arg("reboot"))
        .map(drop)
        .map_err(|e| format!("rebooting: {e}"))
}

/// The disk, its size and layout in one line, for the console.
pub fn describe(plan: &DiskPlan) -> String {
    let parts: Vec<String> = layout::partitions(plan)
        .iter()
        .map(|p: &Partition| {
            let size = p
                .size_mib
                .map(|m| format!("{m} MiB"))
                .unwrap_or_else(|| "the rest".into());
            format!("{} {} ({size})", p.number, p.mount.unwrap_or(p.name))
        })
        .collect();
    format!(
        "{} ({}): GPT, partitions {}",
        plan.device,
        gib(plan.size_bytes),
        parts.join(", ")
    )
}

/// Waits up to 10 s for the kernel (and udev) to show the new partitions.
fn wait_for_partitions(device: &str, parts: &[Partition]) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let missing: Vec<String> = parts
            .iter()
            .map(|p| layout::partition_path(device, p.number))
            .filter(|p| !Path::new(p).exists())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{} did not appear after the partition table was written",
                missing.join(", ")
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn write(path: &Path, text: &str, mode: u32) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {}: {e}", path.display()))
}
