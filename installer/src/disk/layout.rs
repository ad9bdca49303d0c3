//! What an install to disk writes, as data: the partitions of a [`DiskPlan`], the sfdisk script
//! that makes them, the commands that format them, the fstab by UUID, GRUB's settings (for the
//! installed system's own `update-grub`), the check of what it wrote and the commands for both
//! firmware types, and the first-boot unit that applies the answers. Pure: the
//! shell ([`super::install`]) runs what this module says.

use pigeonair_appliance::disk::DiskPlan;

const MIB: u64 = 1024 * 1024;

/// GPT partition type GUIDs (UEFI specification; the Discoverable Partitions Specification for
/// the root).
pub mod gpt_type {
    /// GRUB's core image on a GPT disk booted by BIOS.
    pub const BIOS_BOOT: &str = "21686148-6449-6E6F-744E-656564454649";
    /// The EFI system partition.
    pub const ESP: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
    /// The root file system of an x86-64 system.
    pub const ROOT_X86_64: &str = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709";
    /// Linux data (`/var/vmail`): a generic type, so no generator mounts it on its own.
    pub const LINUX_DATA: &str = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
}

/// A file system an install makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fs {
    /// None: the BIOS boot partition holds GRUB's core image raw.
    Raw,
    /// FAT32, the EFI system partition.
    Vfat,
    /// ext4.
    Ext4,
}

/// One partition of the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// Its number on the disk (1-based).
    pub number: u32,
    /// Its GPT name.
    pub name: &'static str,
    /// Its GPT type GUID.
    pub type_guid: &'static str,
    /// Its size in MiB; `None`: the rest of the disk.
    pub size_mib: Option<u64>,
    /// The file system made on it.
    pub fs: Fs,
    /// Its file system's label.
    pub label: &'static str,
    /// Where the installed system mounts it.
    pub mount: Option<&'static str>,
}

/// The GPT name of the root partition (also its file system's label): the `[disk]` check
/// refuses a disk that has it unless `disk.reinstall = true`.
pub const ROOT_NAME: &str = pigeonair_appliance::disk::ROOT_PARTITION_NAME;
/// The GPT name of the `/var/vmail` partition (also its file system's label).
pub const VMAIL_NAME: &str = "pigeonair-vmail";

/// The partitions of `plan`, in disk order: BIOS boot, EFI system partition, root, then
/// `/var/vmail` if it has its own. With `/var/vmail` the root gets an explicit size and
/// `/var/vmail` the rest (at least the size asked: the plan's root already leaves it out, and
/// 1 MiB is kept for the backup GPT).
pub fn partitions(plan: &DiskPlan) -> Vec<Partition> {
    let mut parts = vec![
        Partition {
            number: 1,
            name: "bios-boot",
            type_guid: gpt_type::BIOS_BOOT,
            size_mib: Some(plan.bios_boot_mib),
            fs: Fs::Raw,
            label: "",
            mount: None,
        },
        Partition {
            number: 2,
            name: "esp",
            type_guid: gpt_type::ESP,
            size_mib: Some(plan.esp_mib),
            fs: Fs::Vfat,
            label: "ESP",
            mount: Some("/boot/efi"),
        },
    ];
    let root_mib = plan.vmail_bytes.map(|_| plan.root_bytes / MIB - 1);
    parts.push(Partition {
        number: 3,
        name: ROOT_NAME,
        type_guid: gpt_type::ROOT_X86_64,
        size_mib: root_mib,
        fs: Fs::Ext4,
        label: ROOT_NAME,
        mount: Some("/"),
    });
    if plan.vmail_bytes.is_some() {
        parts.push(Partition {
            number: 4,
            name: VMAIL_NAME,
            type_guid: gpt_type::LINUX_DATA,
            size_mib: None,
            fs: Fs::Ext4,
            label: VMAIL_NAME,
            mount: Some("/var/vmail"),
        });
    }
    parts
}

/// sfdisk's input for `parts`: a GPT, partitions aligned to 1 MiB from 1 MiB on.
pub fn sfdisk_script(parts: &[Partition]) -> String {
    let mut s = String::from("label: gpt\n");
    for p in parts {
        let mut fields = Vec::new();
        if let Some(mib) = p.size_mib {
            fields.push(format!("size={mib}MiB"));
        }
        fields.push(format!("type={}", p.type_guid));
        fields.push(format!("name=\"{}\"", p.name));
        s.push_str(&fields.join(", "));
        s.push('\n');
    }
    s
}

/// The device of partition `number` of disk `device`: `/dev/vda` → `/dev/vda3`, a name ending
/// in a digit gets a `p` (`/dev/nvme0n1` → `/dev/nvme0n1p3`).
pub fn partition_path(device: &str, number: u32) -> String {
    if device.ends_with(|c: char| c.is_ascii_digit()) {
        format!("{device}p{number}")
    } else {
        format!("{device}{number}")
    }
}

/// The command that makes `part`'s file system on `path`, if it gets one.
pub fn mkfs_command(part: &Partition, path: &str) -> Option<Vec<String>> {
    let argv: Vec<&str> = match part.fs {
        Fs::Raw => return None,
        Fs::Vfat => vec!["mkfs.vfat", "-F", "32", "-n", part.label, path],
        Fs::Ext4 => vec!["mkfs.ext4", "-q", "-F", "-L", part.label, path],
    };
    Some(argv.into_iter().map(str::to_owned).collect())
}

/// The partitions with a mount point, in the order they are mounted (a parent before what is
/// mounted inside it: `/` first).
pub fn mount_order(parts: &[Partition]) -> Vec<&Partition> {
    let mut mounted: Vec<&Partition> = parts.iter().filter(|p| p.mount.is_some()).collect();
    mounted.sort_by_key(|p| {
        let m = p.mount.unwrap_or("/");
        (m != "/", m.matches('/').count(), m)
    });
    mounted
}

/// `/etc/fstab` of the installed system: each file system by its UUID (`uuids` pairs a
/// partition number with its file system's UUID).
pub fn fstab(parts: &[Partition], uuids: &[(u32, String)]) -> Result<String, String> {
    let mut s = String::from(
        "# /etc/fstab of a PigeonAir node, written by the install from the medium.\n\
         # <file system>\t<mount point>\t<type>\t<options>\t<dump>\t<pass>\n",
    );
    for p in mount_order(parts) {
        let mount = p.mount.unwrap_or("/");
        let uuid = uuids
            .iter()
            .find(|(n, _)| *n == p.number)
            .map(|(_, u)| u.as_str())
            .filter(|u| !u.is_empty())
            .ok_or_else(|| {
                format!(
                    "partition {} ({}) has no file system UUID",
                    p.number, p.name
                )
            })?;
        let (fstype, options, pass) = match (p.fs, mount) {
            (Fs::Ext4, "/") => ("ext4", "errors=remount-ro", 1),
            (Fs::Ext4, _) => ("ext4", "defaults,nodev,nosuid", 2),
            (Fs::Vfat, _) => ("vfat", "umask=0077", 2),
            (Fs::Raw, _) => continue,
        };
        s.push_str(&format!(
            "UUID={uuid}\t{mount}\t{fstype}\t{options}\t0\t{pass}\n"
        ));
    }
    Ok(s)
}

/// The newest kernel release among `/boot`'s file names (`vmlinuz-6.12.1+deb13-amd64`).
pub fn kernel_release<'a>(boot_files: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut releases: Vec<&str> = boot_files
        .into_iter()
        .filter_map(|n| n.strip_prefix("vmlinuz-"))
        .collect();
    releases.sort_by_key(|r| version_key(r));
    releases.last().map(|r| (*r).to_owned())
}

fn version_key(release: &str) -> Vec<u64> {
    release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// GRUB's settings on the installed system, read by its own `update-grub` (at the install and
/// whenever a kernel is installed or removed: `/etc/kernel/postinst.d/zz-update-grub`): menus
/// and the kernel's consoles on the screen and the first serial port, as the install medium's.
/// The root is found by UUID (grub-mkconfig's default; [`check_grub_cfg`] makes sure).
pub const GRUB_DEFAULTS: &str = "/etc/default/grub.d/pigeonair.cfg";

/// The contents of [`GRUB_DEFAULTS`].
pub fn grub_defaults() -> String {
    "# PigeonAir node (written by the install from the medium): update-grub reads this.\n\
     GRUB_TIMEOUT=3\n\
     GRUB_DEFAULT=0\n\
     GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\n\
     GRUB_CMDLINE_LINUX=\"console=tty0 console=ttyS0,115200n8\"\n\
     GRUB_TERMINAL=\"console serial\"\n\
     GRUB_SERIAL_COMMAND=\"serial --unit=0 --speed=115200 --word=8 --parity=no --stop=1\"\n\
     GRUB_DISABLE_OS_PROBER=true\n"
        .into()
}

/// Checks the `grub.cfg` `update-grub` wrote: it boots `kernel` with the root by `root_uuid`
/// and the serial console, and GRUB itself speaks on the serial port.
pub fn check_grub_cfg(cfg: &str, root_uuid: &str, kernel: &str) -> Result<(), String> {
    let linux = format!("linux\t/boot/vmlinuz-{kernel} root=UUID={root_uuid} ro ");
    let boots = cfg.lines().any(|l| {
        let l = l.trim_start().replace("linux /", "linux\t/");
        l.starts_with(&linux) && l.contains("console=ttyS0,115200n8")
    });
    if !boots {
        return Err(format!(
            "update-grub's grub.cfg has no entry booting /boot/vmlinuz-{kernel} with \
             root=UUID={root_uuid} and console=ttyS0,115200n8"
        ));
    }
    if !cfg
        .lines()
        .any(|l| l.trim() == "terminal_output console serial")
    {
        return Err("update-grub's grub.cfg does not put GRUB's menu on the serial port".into());
    }
    Ok(())
}

/// The pseudo file systems bound into the target for `update-grub` (grub-probe finds the root's
/// device through `/proc` and `/dev`), in mount order.
pub const CHROOT_BINDS: [&str; 3] = ["/dev", "/proc", "/sys"];

/// The two GRUB installs, run from the install medium with the target mounted at `target`:
/// BIOS (`i386-pc`, its core image in the BIOS boot partition of `device`) and UEFI
/// (`x86_64-efi` to the EFI system partition's fallback path `EFI/BOOT/BOOTX64.EFI`,
/// `--removable`, so firmware finds it without a boot entry in NVRAM).
pub fn grub_install_commands(device: &str, target: &str) -> Vec<Vec<String>> {
    let boot = format!("--boot-directory={target}/boot");
    let efi = format!("--efi-directory={target}/boot/efi");
    [
        vec!["grub-install", "--target=i386-pc", &boot, device],
        vec![
            "grub-install",
            "--target=x86_64-efi",
            &efi,
            &boot,
            "--removable",
            "--no-nvram",
            "--no-uefi-secure-boot",
        ],
    ]
    .into_iter()
    .map(|argv| argv.into_iter().map(str::to_owned).collect())
    .collect()
}

/// Where the installed system finds the answers its first boot applies.
pub const FIRSTBOOT_ANSWERS: &str = "/etc/pigeonair/firstboot/answers.toml";
/// The first-boot unit's path on the installed system.
pub const FIRSTBOOT_UNIT: &str = "/etc/systemd/system/pigeonair-firstboot.service";
/// Its enabling link (the unit is wanted by `multi-user.target`).
pub const FIRSTBOOT_WANTS: &str =
    "/etc/systemd/system/multi-user.target.wants/pigeonair-firstboot.service";

/// The first-boot unit: once the system is up (after `multi-user.target`, as an operator would
/// run it), `pigeonair-install --answers` applies the install's answers, the same install as on
/// any box; the answers file is removed once it succeeded (so a clear-text password does not
/// stay on the disk; the install keeps `/etc/pigeonair/answers.toml` with the hash). A failure
/// leaves it there: the reason is on the console and in the journal, and the next boot tries
/// again. Then the node's mounts are printed.
pub fn firstboot_unit() -> String {
    format!(
        "# Applies the answers of the install from the PigeonAir medium, once.\n\
         [Unit]\n\
         Description=PigeonAir: apply the install's answers (first boot)\n\
         ConditionPathExists={FIRSTBOOT_ANSWERS}\n\
         After=multi-user.target\n\
         \n\
         [Service]\n\
         Type=oneshot\n\
         ExecStart=/usr/sbin/pigeonair-install --answers {FIRSTBOOT_ANSWERS}\n\
         ExecStartPost=/usr/bin/rm -f {FIRSTBOOT_ANSWERS}\n\
         ExecStartPost=/usr/bin/findmnt --real --noheadings --output TARGET,SOURCE,FSTYPE\n\
         StandardOutput=journal+console\n\
         StandardError=journal+console\n\
         TimeoutStartSec=infinity\n\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use pigeonair_appliance::disk::{BlockDevice, RawDisk, validate_disk};

    const GIB: u64 = 1024 * MIB;

    fn plan(size_gib: u64, vmail: Option<&str>) -> DiskPlan {
        let disks = [BlockDevice {
            path: "/dev/vda".into(),
            size_bytes: size_gib * GIB,
            model: None,
            partitions: vec![],
            partition_names: vec![],
            mounted: vec![],
            install_medium: false,
        }];
        let raw = RawDisk {
            device: Some("/dev/vda".into()),
            vmail_size: vmail.map(str::to_owned),
            reinstall: None,
        };
        validate_disk(Some(&raw), &disks).expect("a valid plan")
    }

    #[test]
    fn the_root_takes_the_disk_without_vmail() {
        let parts = partitions(&plan(9, None));
        assert_eq!(
            sfdisk_script(&parts),
            "label: gpt\n\
             size=1MiB, type=21686148-6449-6E6F-744E-656564454649, name=\"bios-boot\"\n\
             size=512MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=\"esp\"\n\
             type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, name=\"pigeonair-root\"\n"
        );
    }

    #[test]
    fn vmail_gets_the_rest_and_at_least_its_size() {
        let p = plan(9, Some("1G"));
        let parts = partitions(&p);
        // 9 GiB = 9216 MiB: 1 MiB GPT + 1 + 512 + root + vmail (rest, less the backup GPT).
        assert_eq!(parts[2].size_mib, Some(9216 - 1 - 1 - 512 - 1024 - 1));
        let after_root = 9216 - 1 - 1 - 512 - parts[2].size_mib.unwrap();
        assert!(
            after_root > 1024,
            "vmail must get at least 1 GiB plus the backup GPT"
        );
        assert_eq!(parts[3].mount, Some("/var/vmail"));
        assert!(
            sfdisk_script(&parts)
                .ends_with("type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=\"pigeonair-vmail\"\n")
        );
    }

    #[test]
    fn partition_names() {
        assert_eq!(partition_path("/dev/vda", 3), "/dev/vda3");
        assert_eq!(partition_path("/dev/sdb", 1), "/dev/sdb1");
        assert_eq!(partition_path("/dev/nvme0n1", 2), "/dev/nvme0n1p2");
        assert_eq!(partition_path("/dev/mmcblk0", 4), "/dev/mmcblk0p4");
    }

    #[test]
    fn fstab_by_uuid_root_first() {
        let parts = partitions(&plan(9, Some("1G")));
        let uuids = vec![
            (2, "AB12-CD34".to_owned()),
            (3, "11111111-2222-3333-4444-555555555555".to_owned()),
            (4, "66666666-7777-8888-9999-000000000000".to_owned()),
        ];
        assert_eq!(
            fstab(&parts, &uuids).unwrap(),
            "# /etc/fstab of a PigeonAir node, written by the install from the medium.\n\
             # <file system>\t<mount point>\t<type>\t<options>\t<dump>\t<pass>\n\
             UUID=11111111-2222-3333-4444-555555555555\t/\text4\terrors=remount-ro\t0\t1\n\
             UUID=AB12-CD34\t/boot/efi\tvfat\tumask=0077\t0\t2\n\
             UUID=66666666-7777-8888-9999-000000000000\t/var/vmail\text4\tdefaults,nodev,nosuid\t0\t2\n"
        );
        assert_eq!(
            fstab(&parts, &uuids[..2]),
            Err("partition 4 (pigeonair-vmail) has no file system UUID".into())
        );
    }

    #[test]
    fn mkfs_per_partition() {
        let parts = partitions(&plan(9, None));
        assert_eq!(mkfs_command(&parts[0], "/dev/vda1"), None);
        assert_eq!(
            mkfs_command(&parts[1], "/dev/vda2").unwrap().join(" "),
            "mkfs.vfat -F 32 -n ESP /dev/vda2"
        );
        assert_eq!(
            mkfs_command(&parts[2], "/dev/vda3").unwrap().join(" "),
            "mkfs.ext4 -q -F -L pigeonair-root /dev/vda3"
        );
    }

    /// A `grub.cfg` in the shape Debian's `00_header` and `10_linux` write it with
    /// [`grub_defaults`] (abridged, written by hand: the install tests boot the real one).
    const GENERATED: &str = "### BEGIN /etc/grub.d/00_header ###\n\
        serial --unit=0 --speed=115200 --word=8 --parity=no --stop=1\n\
        terminal_input console serial\n\
        terminal_output console serial\n\
        ### BEGIN /etc/grub.d/10_linux ###\n\
        menuentry 'Debian GNU/Linux' --class debian --class gnu-linux --class gnu --class os \
        $menuentry_id_option 'gnulinux-simple-u-u-i-d' {\n\
        \tinsmod part_gpt\n\
        \tinsmod ext2\n\
        \tsearch --no-floppy --fs-uuid --set=root u-u-i-d\n\
        \techo\t'Loading Linux 6.12.10+deb13-amd64 ...'\n\
        \tlinux\t/boot/vmlinuz-6.12.10+deb13-amd64 root=UUID=u-u-i-d ro console=tty0 \
        console=ttyS0,115200n8 quiet\n\
        \tinitrd\t/boot/initrd.img-6.12.10+deb13-amd64\n\
        }\n";

    #[test]
    fn update_grubs_config_is_checked() {
        let k = "6.12.10+deb13-amd64";
        assert_eq!(check_grub_cfg(GENERATED, "u-u-i-d", k), Ok(()));
        assert!(
            check_grub_cfg(
                &GENERATED.replace("root=UUID=u-u-i-d", "root=/dev/vda3"),
                "u-u-i-d",
                k
            )
            .unwrap_err()
            .contains("root=UUID=u-u-i-d")
        );
        assert!(check_grub_cfg(GENERATED, "u-u-i-d", "6.12.9+deb13-amd64").is_err());
        assert!(
            check_grub_cfg(
                &GENERATED.replace("console=ttyS0,115200n8", ""),
                "u-u-i-d",
                k
            )
            .is_err()
        );
        assert_eq!(
            check_grub_cfg(
                &GENERATED.replace("terminal_output console serial", "terminal_output gfxterm"),
                "u-u-i-d",
                k
            ),
            Err("update-grub's grub.cfg does not put GRUB's menu on the serial port".into())
        );
        let d = grub_defaults();
        assert!(d.contains("GRUB_CMDLINE_LINUX=\"console=tty0 console=ttyS0,115200n8\"\n"));
        assert!(d.contains("GRUB_TERMINAL=\"console serial\"\n"));
    }

    #[test]
    fn newest_kernel_and_grub() {
        let files = [
            "config-6.12.9+deb13-amd64",
            "vmlinuz-6.12.9+deb13-amd64",
            "vmlinuz-6.12.10+deb13-amd64",
            "initrd.img-6.12.10+deb13-amd64",
        ];
        assert_eq!(
            kernel_release(files).as_deref(),
            Some("6.12.10+deb13-amd64")
        );
        assert_eq!(kernel_release(["System.map"]), None);
    }

    #[test]
    fn grub_for_both_firmware_types() {
        let cmds = grub_install_commands("/dev/vda", "/run/t");
        assert_eq!(
            cmds[0].join(" "),
            "grub-install --target=i386-pc --boot-directory=/run/t/boot /dev/vda"
        );
        assert_eq!(
            cmds[1].join(" "),
            "grub-install --target=x86_64-efi --efi-directory=/run/t/boot/efi \
             --boot-directory=/run/t/boot --removable --no-nvram --no-uefi-secure-boot"
        );
    }

    #[test]
    fn firstboot_applies_the_answers_once() {
        let unit = firstboot_unit();
        assert!(unit.contains(
            "ExecStart=/usr/sbin/pigeonair-install --answers /etc/pigeonair/firstboot/answers.toml\n"
        ));
        assert!(unit.contains("ConditionPathExists=/etc/pigeonair/firstboot/answers.toml\n"));
        assert!(unit.contains("WantedBy=multi-user.target\n"));
    }
}
