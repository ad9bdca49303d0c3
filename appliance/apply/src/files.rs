//! Files: what differs between the rendered set and the node, and writing a file atomically
//! (temporary file in the same directory, owner and mode set, fsync, rename).

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::unistd::{Gid, Group, Uid, User, fchown};
use pigeonair_appliance::render::{RenderedFile, Unit};

/// A file operation failed.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The owner or group named does not exist on this node.
    #[error("{path}: owner {name:?} does not exist on this node (is its package installed?)")]
    NoSuchOwner {
        /// The file.
        path: PathBuf,
        /// The user or group.
        name: String,
    },
}

/// How a file differs from what the plan wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// It does not exist.
    Create,
    /// It exists with other contents, mode or owner.
    Update {
        /// The contents differ (the old ones, when readable as text).
        old_contents: Option<String>,
        /// Mode, owner or group differ.
        metadata: bool,
    },
}

/// A file that must be written.
#[derive(Debug, Clone)]
pub struct FileChange {
    /// What the plan wants.
    pub file: RenderedFile,
    /// How the node differs.
    pub change: Change,
}

/// Where files go: `/` on a node; a scratch directory in tests.
#[derive(Debug, Clone)]
pub struct Root(pub PathBuf);

impl Root {
    /// The host path of a node path.
    pub fn path(&self, node_path: &str) -> PathBuf {
        self.0.join(node_path.trim_start_matches('/'))
    }
}

fn ids(file: &RenderedFile, path: &Path) -> Result<(Uid, Gid), FileError> {
    let missing = |name: &str| FileError::NoSuchOwner {
        path: path.to_owned(),
        name: name.to_owned(),
    };
    let user = User::from_name(&file.owner)
        .ok()
        .flatten()
        .ok_or_else(|| missing(&file.owner))?;
    let group = Group::from_name(&file.group)
        .ok()
        .flatten()
        .ok_or_else(|| missing(&file.group))?;
    Ok((user.uid, group.gid))
}

/// What differs for one file, or `None` when the node already has it as wanted.
pub fn diff_file(root: &Root, file: &RenderedFile) -> Result<Option<FileChange>, FileError> {
    let path = root.path(&file.path);
    let io_err = |source| FileError::Io {
        path: path.clone(),
        source,
    };
    let meta = match fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(Some(FileChange {
                file: file.clone(),
                change: Change::Create,
            }));
        }
        Err(e) => return Err(io_err(e)),
    };
    let (uid, gid) = ids(file, &path)?;
    let metadata = meta.mode() & 0o7777 != file.mode
        || meta.uid() != uid.as_raw()
        || meta.gid() != gid.as_raw();
    let bytes = fs::read(&path).map_err(io_err)?;
    let same = bytes == file.contents.as_bytes();
    if same && !metadata {
        return Ok(None);
    }
    Ok(Some(FileChange {
        file: file.clone(),
        change: Change::Update {
            old_contents: (!same).then(|| String::from_utf8_lossy(&bytes).into_owned()),
            metadata,
        },
    }))
}

/// Writes `file` under `root` atomically with its owner and mode; parents are created
/// (mode 0755, root).
pub fn write_file(root: &Root, file: &RenderedFile) -> Result<(), FileError> {
    let path = root.path(&file.path);
    let io_err = |source| FileError::Io {
        path: path.clone(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("/"));
    fs::create_dir_all(dir).map_err(io_err)?;
    let (uid, gid) = ids(file, &path)?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.pigeonair-new"));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        // Mode and owner before contents, so a secret is never readable by others.
        f.set_permissions(fs::Permissions::from_mode(file.mode))?;
        fchown(&f, Some(uid), Some(gid)).map_err(io::Error::from)?;
        f.write_all(file.contents.as_bytes())?;
        if file.unit == Unit::Postfix {
            // Postfix waits until a configuration file is two seconds old before it reads it
            // (it may be mid-edit); ours are written whole, so they are dated in the past.
            f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(10))?;
        }
        f.sync_all()?;
        fs::rename(&tmp, &path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io_err)
}

/// A readable diff of `change` for `--dry-run`. Contents of files that are not world-readable
/// are never shown: they hold secrets.
pub fn describe(change: &FileChange) -> String {
    let f = &change.file;
    let secret = f.mode & 0o004 == 0;
    let header = format!(
        "{} {} ({:o} {}:{})",
        match change.change {
            Change::Create => "create",
            Change::Update { .. } => "update",
        },
        f.path,
        f.mode,
        f.owner,
        f.group
    );
    let body = match (&change.change, secret) {
        (_, true) => "  (contents not shown: the file holds secrets)\n".to_owned(),
        (Change::Create, false) => similar::TextDiff::from_lines("", f.contents.as_str())
            .unified_diff()
            .header("/dev/null", &f.path)
            .to_string(),
        (
            Change::Update {
                old_contents: Some(old),
                ..
            },
            false,
        ) => similar::TextDiff::from_lines(old.as_str(), f.contents.as_str())
            .unified_diff()
            .header(&f.path, &f.path)
            .to_string(),
        (Change::Update { .. }, false) => "  (owner or mode only)\n".to_owned(),
    };
    format!("{header}\n{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch() -> Root {
        let dir = std::env::temp_dir().join(format!(
            "pigeonair-files-{}-{}",
            std::process::id(),
            pigeonair_appliance::crypt::random_secret(6)
        ));
        fs::create_dir_all(&dir).unwrap();
        Root(dir)
    }

    fn owned_by_me(path: &str, contents: &str, mode: u32) -> RenderedFile {
        let me = User::from_uid(Uid::current()).unwrap().unwrap();
        let group = Group::from_gid(Gid::current()).unwrap().unwrap();
        RenderedFile {
            path: path.into(),
            contents: contents.into(),
            mode,
            owner: me.name,
            group: group.name,
            unit: Unit::None,
        }
    }

    #[test]
    fn create_then_nothing_then_update() {
        let root = scratch();
        let f = owned_by_me("/etc/x/a.conf", "one\n", 0o640);
        let c = diff_file(&root, &f).unwrap().unwrap();
        assert_eq!(c.change, Change::Create);
        write_file(&root, &f).unwrap();
        assert!(diff_file(&root, &f).unwrap().is_none());
        let meta = fs::metadata(root.path("/etc/x/a.conf")).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o640);
        let g = owned_by_me("/etc/x/a.conf", "two\n", 0o640);
        let c = diff_file(&root, &g).unwrap().unwrap();
        assert_eq!(
            c.change,
            Change::Update {
                old_contents: Some("one\n".into()),
                metadata: false
            }
        );
        let h = owned_by_me("/etc/x/a.conf", "one\n", 0o644);
        let c = diff_file(&root, &h).unwrap().unwrap();
        assert_eq!(
            c.change,
            Change::Update {
                old_contents: None,
                metadata: true
            }
        );
        fs::remove_dir_all(&root.0).unwrap();
    }

    #[test]
    fn secrets_are_not_shown() {
        let f = owned_by_me("/etc/s", "password=hunter2\n", 0o640);
        let text = describe(&FileChange {
            file: f,
            change: Change::Create,
        });
        assert!(!text.contains("hunter2"), "{text}");
        let f = owned_by_me("/etc/p", "hello\n", 0o644);
        let text = describe(&FileChange {
            file: f,
            change: Change::Create,
        });
        assert!(text.contains("+hello"), "{text}");
    }
}
