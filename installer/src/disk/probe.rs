//! The disks of this machine, as `lsblk -J -b` describes them, turned into the
//! [`BlockDevice`]s the `[disk]` check takes. [`parse_lsblk`] is pure; [`discover`] runs lsblk.

use std::path::Path;
use std::process::Command;

use pigeonair_appliance::disk::{BlockDevice, BlockPartition};
use serde_json::Value;

/// Where live-boot mounts the install medium: the disk holding this mount is the medium.
pub const LIVE_MEDIUM: &str = "/run/live/medium";

/// lsblk's columns [`parse_lsblk`] reads.
pub const LSBLK_ARGS: [&str; 4] = [
    "-J",
    "-b",
    "-o",
    "NAME,PATH,SIZE,MODEL,TYPE,FSTYPE,LABEL,PARTLABEL,MOUNTPOINTS",
];

/// Whether this installer runs from the install medium (live-boot has mounted it): then an
/// install goes to a disk, and the interactive installer asks which.
pub fn on_install_medium() -> bool {
    Path::new(LIVE_MEDIUM).is_dir()
}

/// The whole disks (and CD drives) in lsblk's JSON output, with their partitions and their GPT
/// names (a PigeonAir installation has `pigeonair-root`), where they or their partitions are
/// mounted, and whether they hold the install medium. Loop devices
/// (the live system's squashfs files) and empty devices (an unused zram, a drive without a
/// disc) are left out.
pub fn parse_lsblk(json: &str) -> Result<Vec<BlockDevice>, String> {
    let doc: Value = serde_json::from_str(json).map_err(|e| format!("lsblk's output: {e}"))?;
    let devices = doc
        .get("blockdevices")
        .and_then(Value::as_array)
        .ok_or("lsblk's output has no \"blockdevices\" list")?;
    let mut disks = Vec::new();
    for d in devices {
        let kind = d.get("type").and_then(Value::as_str).unwrap_or_default();
        if kind != "disk" && kind != "rom" {
            continue;
        }
        let path = d
            .get("path")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| {
                d.get("name")
                    .and_then(Value::as_str)
                    .map(|n| format!("/dev/{n}"))
            })
            .ok_or("lsblk listed a disk without a name")?;
        let size_bytes = size(d.get("size"));
        if size_bytes == 0 {
            continue;
        }
        let children: Vec<&Value> = d
            .get("children")
            .and_then(Value::as_array)
            .map(|c| c.iter().collect())
            .unwrap_or_default();
        let partitions = children
            .iter()
            .filter_map(|c| {
                let path = c.get("path").and_then(Value::as_str)?.to_owned();
                Some(BlockPartition {
                    path,
                    size_bytes: size(c.get("size")),
                    fstype: text(c.get("fstype")),
                    label: text(c.get("label")),
                })
            })
            .collect();
        let partition_names = children
            .iter()
            .filter_map(|c| c.get("partlabel").and_then(Value::as_str))
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect();
        let mut mounted = mountpoints(d);
        for c in &children {
            mounted.extend(mountpoints(c));
        }
        let install_medium = mounted.iter().any(|m| m.starts_with(LIVE_MEDIUM));
        let model = text(d.get("model"));
        disks.push(BlockDevice {
            path,
            size_bytes,
            model,
            partitions,
            partition_names,
            mounted,
            install_medium,
        });
    }
    Ok(disks)
}

/// A string column, trimmed; `null` and blanks are `None`.
fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
}

/// lsblk -b prints sizes as numbers (older versions as strings).
fn size(v: Option<&Value>) -> u64 {
    match v {
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

fn mountpoints(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .get("mountpoints")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if let Some(m) = v.get("mountpoint").and_then(Value::as_str) {
        out.push(m.to_owned());
    }
    out
}

/// The disks of this machine (`lsblk`).
pub fn discover() -> Result<Vec<BlockDevice>, String> {
    let out = pigeonair_host::run(Command::new("lsblk").args(LSBLK_ARGS))
        .map_err(|e| format!("listing the disks: {e}"))?;
    parse_lsblk(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `lsblk -J -b -o NAME,PATH,SIZE,MODEL,TYPE,FSTYPE,LABEL,MOUNTPOINTS` on the live system
    /// in qemu (pc machine): the ISO on the IDE CD drive, a blank virtio disk, the answers
    /// drive, a loop device of a squashfs layer.
    const LIVE: &str = r#"{
   "blockdevices": [
      {"name":"loop0", "path":"/dev/loop0", "size":269484032, "model":null, "type":"loop",
       "mountpoints":["/run/live/rootfs/10-base.squashfs"]},
      {"name":"sr0", "path":"/dev/sr0", "size":351272960, "model":"QEMU DVD-ROM", "type":"rom",
       "fstype":"iso9660", "label":"PIGEONAIR_LIVE", "mountpoints":["/run/live/medium"]},
      {"name":"vda", "path":"/dev/vda", "size":9663676416, "model":null, "type":"disk",
       "mountpoints":[null]},
      {"name":"vdb", "path":"/dev/vdb", "size":16777216, "model":null, "type":"disk",
       "mountpoints":[null],
       "children":[{"name":"vdb1", "path":"/dev/vdb1", "size":15728640, "model":null,
                    "type":"part", "fstype":"vfat", "label":"PIGEONAIR",
                    "mountpoints":["/run/pigeonair/answers-drive"]}]},
      {"name":"zram0", "path":"/dev/zram0", "size":0, "model":null, "type":"disk",
       "mountpoints":[null]}
   ]
}"#;

    #[test]
    fn disks_and_the_install_medium() {
        let disks = parse_lsblk(LIVE).unwrap();
        let names: Vec<&str> = disks.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(names, ["/dev/sr0", "/dev/vda", "/dev/vdb"]);
        assert!(disks[0].install_medium);
        assert_eq!(disks[0].model.as_deref(), Some("QEMU DVD-ROM"));
        assert!(!disks[1].install_medium);
        assert_eq!(disks[1].size_bytes, 9 * 1024 * 1024 * 1024);
        assert!(disks[1].mounted.is_empty());
        assert_eq!(
            disks[2].partitions,
            [BlockPartition {
                path: "/dev/vdb1".into(),
                size_bytes: 15728640,
                fstype: Some("vfat".into()),
                label: Some("PIGEONAIR".into()),
            }]
        );
        assert_eq!(disks[2].mounted, ["/run/pigeonair/answers-drive"]);
    }

    /// The same with PARTLABEL, the medium booted again with the disk it installed attached:
    /// `/dev/vda` holds a PigeonAir installation.
    const INSTALLED: &str = r#"{
   "blockdevices": [
      {"name":"sr0", "path":"/dev/sr0", "size":351272960, "model":"QEMU DVD-ROM", "type":"rom",
       "partlabel":null, "mountpoints":["/run/live/medium"]},
      {"name":"vda", "path":"/dev/vda", "size":9663676416, "model":null, "type":"disk",
       "partlabel":null, "mountpoints":[null],
       "children":[
          {"name":"vda1", "path":"/dev/vda1", "size":1048576, "model":null, "type":"part",
           "partlabel":"bios-boot", "mountpoints":[null]},
          {"name":"vda2", "path":"/dev/vda2", "size":536870912, "model":null, "type":"part",
           "partlabel":"esp", "mountpoints":[null]},
          {"name":"vda3", "path":"/dev/vda3", "size":8047820800, "model":null, "type":"part",
           "partlabel":"pigeonair-root", "mountpoints":[null]},
          {"name":"vda4", "path":"/dev/vda4", "size":1076887552, "model":null, "type":"part",
           "partlabel":"pigeonair-vmail", "mountpoints":[null]}
       ]},
      {"name":"vdb", "path":"/dev/vdb", "size":16777216, "model":null, "type":"disk",
       "partlabel":null, "mountpoints":[null],
       "children":[{"name":"vdb1", "path":"/dev/vdb1", "size":15728640, "model":null,
                    "type":"part", "partlabel":null, "mountpoints":[null]}]}
   ]
}"#;

    #[test]
    fn an_installed_disk_shows_its_partition_names() {
        let disks = parse_lsblk(INSTALLED).unwrap();
        assert_eq!(
            disks[1].partition_names,
            ["bios-boot", "esp", "pigeonair-root", "pigeonair-vmail"]
        );
        assert!(disks[2].partition_names.is_empty());
        assert!(
            disks
                .iter()
                .all(|d| d.mounted.is_empty() || d.install_medium)
        );
        let raw = pigeonair_appliance::disk::RawDisk {
            device: Some("/dev/vda".into()),
            vmail_size: None,
            reinstall: None,
        };
        let refused = pigeonair_appliance::disk::validate_disk(Some(&raw), &disks).unwrap_err();
        assert_eq!(
            refused[0].to_string(),
            "disk.device: already installed on /dev/vda (9.0 GiB, partitions bios-boot, esp, \
             pigeonair-root, pigeonair-vmail): remove the medium to boot it, or set \
             disk.reinstall = true to install again"
        );
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse_lsblk("not json").is_err());
        assert_eq!(
            parse_lsblk("{}"),
            Err("lsblk's output has no \"blockdevices\" list".into())
        );
    }
}
