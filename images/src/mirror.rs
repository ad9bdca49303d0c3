//! Which Debian mirror to build from: the one the host's apt is configured with, so the image
//! build reaches exactly what `apt-get` on this machine reaches.

use std::fmt;
use std::path::Path;

/// A Debian archive URL such as `http://deb.debian.org/debian`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror(String);

/// No usable mirror was found or given.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MirrorError {
    /// The URL given is not http(s) or file.
    #[error("mirror {0:?}: expected an http://, https:// or file:// URL of a Debian archive")]
    BadUrl(String),
    /// The host's apt configuration names no Debian archive.
    #[error(
        "no Debian mirror found in /etc/apt/sources.list or /etc/apt/sources.list.d/: \
         set PIGEONAIR_MIRROR=http://… to the Debian archive to build from"
    )]
    NotFound,
}

impl Mirror {
    /// Checks that `url` looks like an archive URL; a trailing `/` is dropped.
    pub fn try_new(url: &str) -> Result<Self, MirrorError> {
        let url = url.trim().trim_end_matches('/');
        let ok = ["http://", "https://", "file://"]
            .iter()
            .any(|scheme| url.len() > scheme.len() && url.starts_with(scheme));
        if ok && !url.contains(char::is_whitespace) {
            Ok(Mirror(url.to_owned()))
        } else {
            Err(MirrorError::BadUrl(url.to_owned()))
        }
    }

    /// The mirror from `PIGEONAIR_MIRROR`, else the first Debian archive (not the security
    /// archive) in the host's apt sources.
    pub fn from_host() -> Result<Self, MirrorError> {
        if let Ok(url) = std::env::var("PIGEONAIR_MIRROR") {
            return Mirror::try_new(&url);
        }
        let mut candidates = Vec::new();
        let dir = Path::new("/etc/apt/sources.list.d");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        for file in files {
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            match file.extension().and_then(|e| e.to_str()) {
                Some("sources") => candidates.extend(archives_in_deb822(&text)),
                Some("list") => candidates.extend(archives_in_one_line(&text)),
                _ => {}
            }
        }
        if let Ok(text) = std::fs::read_to_string("/etc/apt/sources.list") {
            candidates.extend(archives_in_one_line(&text));
        }
        candidates
            .into_iter()
            .find_map(|url| Mirror::try_new(&url).ok())
            .ok_or(MirrorError::NotFound)
    }

    /// The URL, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Mirror {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A source is a main Debian archive if it carries binary packages and is neither the security
/// archive nor an updates/backports pocket only.
fn is_main_archive(uri: &str, suites: &[&str]) -> bool {
    !uri.contains("security") && suites.iter().any(|s| !s.contains('-') && !s.contains('/'))
}

/// Archive URIs from deb822 `.sources` text, in order.
pub fn archives_in_deb822(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let mut types = "";
        let mut uris = "";
        let mut suites = "";
        let mut enabled = true;
        for line in stanza.lines() {
            if line.starts_with('#') {
                continue;
            }
            if let Some((key, value)) = line.split_once(':') {
                let value = value.trim();
                match key.trim().to_ascii_lowercase().as_str() {
                    "types" => types = value,
                    "uris" => uris = value,
                    "suites" => suites = value,
                    "enabled" => enabled = value != "no",
                    _ => {}
                }
            }
        }
        let suites: Vec<&str> = suites.split_whitespace().collect();
        if enabled && types.split_whitespace().any(|t| t == "deb") {
            out.extend(
                uris.split_whitespace()
                    .filter(|u| is_main_archive(u, &suites))
                    .map(str::to_owned),
            );
        }
    }
    out
}

/// Archive URIs from one-line-style `sources.list` text, in order.
pub fn archives_in_one_line(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let line = line.split('#').next()?.trim();
            let mut words = line.split_whitespace();
            if words.next()? != "deb" {
                return None;
            }
            let mut uri = words.next()?;
            if uri.starts_with('[') {
                // Options such as `[arch=amd64 signed-by=…]` come before the URI.
                while !uri.ends_with(']') {
                    uri = words.next()?;
                }
                uri = words.next()?;
            }
            let suite = words.next()?;
            is_main_archive(uri, &[suite]).then(|| uri.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb822_skips_security_and_deb_src() {
        let text = "Types: deb\n# http://snapshot.debian.org/archive/debian/20250520T000000Z\n\
                    URIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n\
                    Components: main\n\n\
                    Types: deb\nURIs: http://deb.debian.org/debian-security\n\
                    Suites: bookworm-security\nComponents: main\n\n\
                    Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n";
        assert_eq!(archives_in_deb822(text), ["http://deb.debian.org/debian"]);
    }

    #[test]
    fn deb822_disabled_stanza_is_ignored() {
        let text = "Enabled: no\nTypes: deb\nURIs: http://a/debian\nSuites: trixie\n";
        assert!(archives_in_deb822(text).is_empty());
    }

    #[test]
    fn one_line_with_options() {
        let text = "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://m.example/debian bookworm main\n\
                    deb http://security.debian.org/debian-security bookworm-security main\n";
        assert_eq!(archives_in_one_line(text), ["http://m.example/debian"]);
    }

    #[test]
    fn mirror_url_is_checked() {
        assert_eq!(
            Mirror::try_new("http://deb.debian.org/debian/")
                .unwrap()
                .url(),
            "http://deb.debian.org/debian"
        );
        assert_eq!(
            Mirror::try_new("ftp://x").unwrap_err().to_string(),
            "mirror \"ftp://x\": expected an http://, https:// or file:// URL of a Debian archive"
        );
    }
}
