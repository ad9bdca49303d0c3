//! Reading dpkg's status file (`/var/lib/dpkg/status`) for the versions an image holds. Pure.

use std::collections::BTreeMap;

/// Package name → version of every package dpkg's `status` text lists as installed
/// (`Status: install ok installed`); half-installed or removed packages are left out.
pub fn installed_versions(status: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for stanza in status.split("\n\n") {
        let (mut name, mut version, mut installed) = (None, None, false);
        for line in stanza.lines() {
            if let Some(v) = line.strip_prefix("Package: ") {
                name = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("Version: ") {
                version = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("Status: ") {
                installed = v.trim() == "install ok installed";
            }
        }
        if let (Some(name), Some(version), true) = (name, version, installed) {
            out.insert(name.to_owned(), version.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_installed_packages_with_their_versions() {
        let status = "Package: slapd\nStatus: install ok installed\nPriority: optional\n\
                      Version: 2.6.10+dfsg-1\nDescription: OpenLDAP server\n multi-line\n\n\
                      Package: exim4\nStatus: deinstall ok config-files\nVersion: 4.98-1\n\n\
                      Package: pigeonair\nStatus: install ok installed\nVersion: 0.1.0-1\n";
        let versions = installed_versions(status);
        assert_eq!(
            versions.into_iter().collect::<Vec<_>>(),
            [
                ("pigeonair".to_owned(), "0.1.0-1".to_owned()),
                ("slapd".to_owned(), "2.6.10+dfsg-1".to_owned())
            ]
        );
    }
}
