//! The `[disk]` answers: which disk an install from the ISO erases and how it is laid out,
//! checked against the disks this machine has ([`BlockDevice`], found by the installer's IO
//! shell). Pure: the same check serves the answers file and the target-disk screen.
//!
//! The layout is fixed apart from `/var/vmail`: GPT with a BIOS boot partition and an EFI system
//! partition (so the disk boots with either firmware), the root file system, and optionally
//! `/var/vmail` on a partition of its own.

use serde::{Deserialize, Serialize};

use crate::answers::Problem;

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

/// The BIOS boot partition (GRUB's core image on a GPT disk), MiB.
pub const BIOS_BOOT_MIB: u64 = 1;
/// The EFI system partition, MiB.
pub const ESP_MIB: u64 = 512;
/// The smallest root file system accepted: the appliance and room for logs, the directory and
/// the queues.
pub const MIN_ROOT_BYTES: u64 = 6 * GIB;
/// The smallest separate `/var/vmail`.
pub const MIN_VMAIL_BYTES: u64 = GIB;
/// The GPT name of the root partition an install writes: a disk with a partition of this name
/// holds a PigeonAir installation.
pub const ROOT_PARTITION_NAME: &str = "pigeonair-root";
/// Where an answers file embedded in the install medium sits, relative to the medium's top
/// (`pigeonair-image iso --answers` puts it there; the live system sees the medium at
/// `/run/live/medium`).
pub const EMBEDDED_ANSWERS: &str = "pigeonair/answers.toml";

/// `[disk]` as written.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDisk {
    /// `device`: the disk to erase, `/dev/NAME`.
    pub device: Option<String>,
    /// `vmail_size`: a separate `/var/vmail` partition of this size (`"20G"`, `"512M"`);
    /// without it mail lives on the root file system.
    pub vmail_size: Option<String>,
    /// `reinstall`: erase a disk that holds a PigeonAir installation already (default false:
    /// such a disk is refused, so a medium booted again with its answers does not erase the
    /// system it installed).
    pub reinstall: Option<bool>,
}

impl RawDisk {
    /// The `[disk]` table as an answers file holds it (empty when nothing is set), for the
    /// answers the interactive installer saves.
    pub fn to_toml(&self) -> String {
        let mut text = String::new();
        if let Some(d) = &self.device {
            text.push_str(&format!("device = {d:?}\n"));
        }
        if let Some(v) = &self.vmail_size {
            text.push_str(&format!("vmail_size = {v:?}\n"));
        }
        if let Some(r) = self.reinstall {
            text.push_str(&format!("reinstall = {r}\n"));
        }
        if text.is_empty() {
            return text;
        }
        format!("[disk]\n{text}")
    }
}

/// A partition of a disk, as the installer found it (what an install would erase).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct BlockPartition {
    /// `/dev/NAME`.
    pub path: String,
    /// Size in bytes.
    #[serde(default)]
    pub size_bytes: u64,
    /// The file system (or other signature) on it, as blkid names it (`ext4`, `vfat`, `swap`).
    #[serde(default)]
    pub fstype: Option<String>,
    /// Its file system's label.
    #[serde(default)]
    pub label: Option<String>,
}

/// A disk of this machine, as the installer found it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct BlockDevice {
    /// `/dev/NAME`.
    pub path: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// The model the disk reports, if any.
    #[serde(default)]
    pub model: Option<String>,
    /// Its partitions (`/dev/vda1`, …).
    #[serde(default)]
    pub partitions: Vec<BlockPartition>,
    /// Its partitions' GPT names (`pigeonair-root`, …), those that have one.
    #[serde(default)]
    pub partition_names: Vec<String>,
    /// Where it or its partitions are mounted.
    #[serde(default)]
    pub mounted: Vec<String>,
    /// It holds the install medium this installer runs from.
    #[serde(default)]
    pub install_medium: bool,
}

/// The disk and layout an install writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiskPlan {
    /// The disk erased.
    pub device: String,
    /// Its size in bytes.
    pub size_bytes: u64,
    /// BIOS boot partition, MiB.
    pub bios_boot_mib: u64,
    /// EFI system partition, MiB.
    pub esp_mib: u64,
    /// The root file system takes the rest: its size in bytes.
    pub root_bytes: u64,
    /// A separate `/var/vmail`, bytes.
    pub vmail_bytes: Option<u64>,
}

/// `"20G"`, `"512M"`, `"1T"` (powers of 1024) in bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let bad = || format!("{s:?}: expected a size such as \"20G\" or \"512M\"");
    let t = s.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let factor = match unit {
        "M" | "MiB" => MIB,
        "G" | "GiB" => GIB,
        "T" | "TiB" => 1024 * GIB,
        _ => return Err(bad()),
    };
    n.checked_mul(factor).ok_or_else(bad)
}

/// Bytes as MiB below 1 GiB (`512 MiB`), else as GiB with one decimal (`32.0 GiB`).
pub fn size_text(bytes: u64) -> String {
    if bytes < GIB {
        format!("{} MiB", bytes / MIB)
    } else {
        gib(bytes)
    }
}

/// Bytes as GiB with one decimal (`32.0 GiB`).
pub fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / GIB as f64)
}

fn list(disks: &[BlockDevice]) -> String {
    if disks.is_empty() {
        return "this machine has no disks".into();
    }
    let names: Vec<String> = disks
        .iter()
        .map(|d| {
            let mut facts = vec![gib(d.size_bytes)];
            facts.extend(d.model.clone());
            if d.install_medium {
                facts.push("the install medium".into());
            }
            if d.partition_names.iter().any(|n| n == ROOT_PARTITION_NAME) {
                facts.push("PigeonAir installed".into());
            }
            format!("{} ({})", d.path, facts.join(", "))
        })
        .collect();
    format!("disks here: {}", names.join(", "))
}

/// `disk.vmail_size` in bytes, if given and big enough.
fn vmail_size(raw: &RawDisk) -> Result<Option<u64>, String> {
    match raw.vmail_size.as_deref().map(parse_size) {
        None => Ok(None),
        Some(Ok(b)) if b < MIN_VMAIL_BYTES => Err(format!(
            "{:?}: a separate /var/vmail needs at least {}",
            raw.vmail_size.as_deref().unwrap_or_default(),
            gib(MIN_VMAIL_BYTES)
        )),
        Some(r) => r.map(Some),
    }
}

/// Checks what of `[disk]` does not depend on a machine's disks: `disk.device` is there and a
/// `/dev/NAME`, `disk.vmail_size` is a size of at least 1 GiB. For answers checked away from
/// the machine they install (embedded in the medium at build time); every problem names its
/// field.
pub fn check_disk_fields(raw: Option<&RawDisk>) -> Vec<Problem> {
    let mut problems = Vec::new();
    let empty = RawDisk::default();
    let raw = raw.unwrap_or(&empty);
    if let Err(e) = vmail_size(raw) {
        problems.push(Problem {
            field: "disk.vmail_size".into(),
            message: e,
        });
    }
    let message = match raw.device.as_deref() {
        None => Some(
            "missing: the install erases one whole disk, e.g. [disk] device = \"/dev/vda\""
                .to_owned(),
        ),
        Some(d)
            if d.strip_prefix("/dev/")
                .is_none_or(|n| n.is_empty() || n.contains('/')) =>
        {
            Some(format!("{d:?}: expected a whole disk as /dev/NAME"))
        }
        Some(_) => None,
    };
    if let Some(message) = message {
        problems.push(Problem {
            field: "disk.device".into(),
            message,
        });
    }
    problems
}

/// Checks `[disk]` against `disks`; every problem names its field.
pub fn validate_disk(
    raw: Option<&RawDisk>,
    disks: &[BlockDevice],
) -> Result<DiskPlan, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut problem = |field: &str, message: String| {
        problems.push(Problem {
            field: field.to_owned(),
            message,
        })
    };
    let empty = RawDisk::default();
    let raw = raw.unwrap_or(&empty);
    let vmail = vmail_size(raw)
        .map_err(|e| problem("disk.vmail_size", e))
        .ok();
    let Some(device) = raw.device.as_deref() else {
        problem(
            "disk.device",
            format!(
                "missing: the install erases one whole disk, e.g. [disk] device = \"/dev/vda\" ({})",
                list(disks)
            ),
        );
        return Err(problems);
    };
    let Some(disk) = disks.iter().find(|d| d.path == device) else {
        problem(
            "disk.device",
            format!("{device:?}: no such disk ({})", list(disks)),
        );
        return Err(problems);
    };
    if disk.install_medium {
        problem(
            "disk.device",
            format!(
                "{device:?} is the install medium this installer runs from: choose another disk ({})",
                list(disks)
            ),
        );
        return Err(problems);
    }
    if !disk.mounted.is_empty() {
        problem(
            "disk.device",
            format!(
                "{device:?} is in use (mounted on {}): unmount it or choose another disk",
                disk.mounted.join(", ")
            ),
        );
    }
    if disk
        .partition_names
        .iter()
        .any(|n| n == ROOT_PARTITION_NAME)
        && raw.reinstall != Some(true)
    {
        problem(
            "disk.device",
            format!(
                "already installed on {device} ({}, partitions {}): remove the medium to boot \
                 it, or set disk.reinstall = true to install again",
                gib(disk.size_bytes),
                disk.partition_names.join(", ")
            ),
        );
        return Err(problems);
    }
    let fixed = (BIOS_BOOT_MIB + ESP_MIB + 1) * MIB; // + 1 MiB: GPT's headers and alignment
    let vmail_bytes = vmail.flatten();
    let needed = fixed + MIN_ROOT_BYTES + vmail_bytes.unwrap_or(0);
    if disk.size_bytes < needed {
        let what = match vmail_bytes {
            Some(v) => format!(
                "the boot partitions, a {} root and disk.vmail_size {}",
                gib(MIN_ROOT_BYTES),
                gib(v)
            ),
            None => format!("the boot partitions and a {} root", gib(MIN_ROOT_BYTES)),
        };
        problem(
            "disk.device",
            format!(
                "{device:?} ({}) is too small: {what} need {}",
                gib(disk.size_bytes),
                gib(needed)
            ),
        );
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(DiskPlan {
        device: device.to_owned(),
        size_bytes: disk.size_bytes,
        bios_boot_mib: BIOS_BOOT_MIB,
        esp_mib: ESP_MIB,
        root_bytes: disk.size_bytes - fixed - vmail_bytes.unwrap_or(0),
        vmail_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("20G"), Ok(20 * GIB));
        assert_eq!(parse_size("512M"), Ok(512 * MIB));
        assert_eq!(parse_size("1TiB"), Ok(1024 * GIB));
        assert_eq!(
            parse_size("20 GB"),
            Err("\"20 GB\": expected a size such as \"20G\" or \"512M\"".into())
        );
        assert!(parse_size("99999999999999T").is_err());
        assert_eq!(size_text(512 * MIB), "512 MiB");
        assert_eq!(size_text(32 * GIB), "32.0 GiB");
    }

    #[test]
    fn the_table_an_answers_file_holds() {
        let raw = RawDisk {
            device: Some("/dev/vda".into()),
            vmail_size: Some("20G".into()),
            reinstall: Some(true),
        };
        let text = raw.to_toml();
        assert_eq!(
            text,
            "[disk]\ndevice = \"/dev/vda\"\nvmail_size = \"20G\"\nreinstall = true\n"
        );
        let parsed = crate::answers::parse_raw(&text).unwrap();
        assert_eq!(parsed.disk, Some(raw));
        assert_eq!(RawDisk::default().to_toml(), "");
    }

    #[test]
    fn fields_checked_without_a_machine() {
        let raw = |device: Option<&str>, vmail: Option<&str>| RawDisk {
            device: device.map(str::to_owned),
            vmail_size: vmail.map(str::to_owned),
            reinstall: None,
        };
        assert!(check_disk_fields(Some(&raw(Some("/dev/vda"), Some("1G")))).is_empty());
        assert!(check_disk_fields(Some(&raw(Some("/dev/nvme0n1"), None))).is_empty());
        let shown = |p: Vec<Problem>| p.iter().map(Problem::to_string).collect::<Vec<_>>();
        assert_eq!(
            shown(check_disk_fields(None)),
            [
                "disk.device: missing: the install erases one whole disk, e.g. [disk] device = \"/dev/vda\""
            ]
        );
        assert_eq!(
            shown(check_disk_fields(Some(&raw(Some("vda"), Some("512M"))))),
            [
                "disk.vmail_size: \"512M\": a separate /var/vmail needs at least 1.0 GiB",
                "disk.device: \"vda\": expected a whole disk as /dev/NAME",
            ]
        );
        assert_eq!(
            shown(check_disk_fields(Some(&raw(
                Some("/dev/disk/by-id/x"),
                None
            )))),
            ["disk.device: \"/dev/disk/by-id/x\": expected a whole disk as /dev/NAME"]
        );
    }
}
