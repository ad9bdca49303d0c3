//! What an install to disk erases and writes, in words, from a probed disk and its checked
//! [`DiskPlan`]: the erase warning the interactive installer shows before anything is written.
//! Pure.

use pigeonair_appliance::disk::{BlockDevice, DiskPlan, size_text};

use super::layout;

/// The word staff type to confirm the erase.
pub const CONFIRM_WORD: &str = "Erase";

/// The disk in one line: its path, model and size (`/dev/vda  QEMU HARDDISK  32.0 GiB`).
pub fn disk_line(disk: &BlockDevice) -> String {
    let mut facts = vec![disk.path.clone()];
    facts.extend(disk.model.clone());
    facts.push(size_text(disk.size_bytes));
    facts.join("  ")
}

/// Each existing partition of `disk` in one line: path, size, file system, label.
pub fn partition_lines(disk: &BlockDevice) -> Vec<String> {
    disk.partitions
        .iter()
        .map(|p| {
            let mut line = format!(
                "{:<10} {:>10}  {}",
                p.path,
                size_text(p.size_bytes),
                p.fstype.as_deref().unwrap_or("no file system")
            );
            if let Some(label) = &p.label {
                line.push_str(&format!(", label {label:?}"));
            }
            line
        })
        .collect()
}

/// What the new GPT holds, in one line (`BIOS boot 1 MiB, EFI system 512 MiB, / 25.4 GiB,
/// /var/vmail 6.0 GiB`).
pub fn layout_line(plan: &DiskPlan) -> String {
    let parts: Vec<String> = layout::partitions(plan)
        .iter()
        .map(|p| {
            let what = match (p.number, p.mount) {
                (1, _) => "BIOS boot".to_owned(),
                (2, _) => "EFI system".to_owned(),
                (_, Some(m)) => m.to_owned(),
                (_, None) => p.name.to_owned(),
            };
            let size = match (p.size_mib, p.mount) {
                (Some(m), _) => size_text(m * 1024 * 1024),
                // The rest of the disk: at least the size asked.
                (None, Some("/var/vmail")) => size_text(plan.vmail_bytes.unwrap_or(0)),
                (None, _) => size_text(plan.root_bytes),
            };
            format!("{what} {size}")
        })
        .collect();
    parts.join(", ")
}

/// The erase warning: exactly what is erased (the disk, its model and size, each existing
/// partition) and what it becomes.
pub fn warning(disk: &BlockDevice, plan: &DiskPlan) -> Vec<String> {
    let mut lines = vec![
        "Everything on this disk is erased:".to_owned(),
        String::new(),
        format!("  {}", disk_line(disk)),
    ];
    let parts = partition_lines(disk);
    if parts.is_empty() {
        lines.push("    no partitions (as far as lsblk sees: data may still be on it)".into());
    } else {
        lines.extend(parts.into_iter().map(|p| format!("    {p}")));
    }
    lines.extend([
        String::new(),
        "It gets a new partition table (GPT):".to_owned(),
        format!("  {}", layout_line(plan)),
    ]);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use pigeonair_appliance::disk::{BlockPartition, RawDisk, validate_disk};

    const GIB: u64 = 1024 * 1024 * 1024;

    fn disk() -> BlockDevice {
        BlockDevice {
            path: "/dev/sda".into(),
            size_bytes: 32 * GIB,
            model: Some("Samsung SSD 870".into()),
            partitions: vec![
                BlockPartition {
                    path: "/dev/sda1".into(),
                    size_bytes: 512 * 1024 * 1024,
                    fstype: Some("vfat".into()),
                    label: Some("EFI".into()),
                },
                BlockPartition {
                    path: "/dev/sda2".into(),
                    size_bytes: 31 * GIB,
                    fstype: None,
                    label: None,
                },
            ],
            partition_names: vec![],
            mounted: vec![],
            install_medium: false,
        }
    }

    #[test]
    fn names_the_disk_and_each_partition_it_erases() {
        let raw = RawDisk {
            device: Some("/dev/sda".into()),
            vmail_size: Some("8G".into()),
            reinstall: None,
        };
        let plan = validate_disk(Some(&raw), &[disk()]).unwrap();
        assert_eq!(
            warning(&disk(), &plan),
            [
                "Everything on this disk is erased:",
                "",
                "  /dev/sda  Samsung SSD 870  32.0 GiB",
                "    /dev/sda1     512 MiB  vfat, label \"EFI\"",
                "    /dev/sda2    31.0 GiB  no file system",
                "",
                "It gets a new partition table (GPT):",
                "  BIOS boot 1 MiB, EFI system 512 MiB, / 23.5 GiB, /var/vmail 8.0 GiB",
            ]
        );
    }

    #[test]
    fn a_blank_disk_says_so() {
        let blank = BlockDevice {
            partitions: vec![],
            model: None,
            ..disk()
        };
        let raw = RawDisk {
            device: Some("/dev/sda".into()),
            vmail_size: None,
            reinstall: None,
        };
        let plan = validate_disk(Some(&raw), std::slice::from_ref(&blank)).unwrap();
        let lines = warning(&blank, &plan);
        assert_eq!(lines[2], "  /dev/sda  32.0 GiB");
        assert!(lines[3].starts_with("    no partitions"), "{lines:?}");
        assert_eq!(
            lines[6],
            "  BIOS boot 1 MiB, EFI system 512 MiB, / 31.5 GiB"
        );
    }
}
