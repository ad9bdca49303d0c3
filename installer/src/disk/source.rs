//! Where the unattended install's answers come from, in this order: a drive labelled
//! `PIGEONAIR`, the file embedded in the install medium (`pigeonair-image iso --answers`), a URL
//! on the kernel command line (`pigeonair.answers=http://…` or `https://…`). Pure: the kernel
//! command line and the URL are parsed here; finding the drive and fetching are the shell's
//! ([`super::unattended`], [`super::fetch`]).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// The kernel command line parameter naming the answers' URL.
pub const CMDLINE_KEY: &str = "pigeonair.answers";

/// One place the answers are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswersSource {
    /// `answers.toml` on the drive labelled `PIGEONAIR` (its device).
    Drive(String),
    /// The answers file embedded in the install medium (its path in the live system).
    Embedded(PathBuf),
    /// The URL on the kernel command line.
    Url(AnswersUrl),
}

impl fmt::Display for AnswersSource {
    /// How the console names it: "the answers on /dev/vdb (labelled PIGEONAIR)".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnswersSource::Drive(dev) => write!(
                f,
                "the answers on {dev} (labelled {})",
                super::unattended::ANSWERS_LABEL
            ),
            AnswersSource::Embedded(path) => write!(
                f,
                "the answers embedded in the install medium ({})",
                path.display()
            ),
            AnswersSource::Url(url) => write!(f, "the answers at {url} ({CMDLINE_KEY}=)"),
        }
    }
}

impl AnswersSource {
    /// What to fix when these answers are refused.
    pub fn where_to_fix(&self) -> String {
        match self {
            AnswersSource::Drive(_) => format!(
                "{} on the drive labelled {}",
                super::unattended::ANSWERS_FILE,
                super::unattended::ANSWERS_LABEL
            ),
            AnswersSource::Embedded(_) => {
                "the answers embedded in the medium: build it again with pigeonair-image iso \
                 --answers FILE, or attach a drive labelled PIGEONAIR, which comes first"
                    .into()
            }
            AnswersSource::Url(url) => format!("the file at {url}, or the network"),
        }
    }
}

/// The first source there is, in the order drive, embedded file, URL.
pub fn choose(
    drive: Option<String>,
    embedded: Option<PathBuf>,
    url: Option<AnswersUrl>,
) -> Option<AnswersSource> {
    drive
        .map(AnswersSource::Drive)
        .or(embedded.map(AnswersSource::Embedded))
        .or(url.map(AnswersSource::Url))
}

/// The kernel command line's words, as the kernel splits them: on spaces, except inside
/// double quotes (`key="a b"`, the quotes dropped); words after `--` are init's, not the
/// kernel's, and left out.
pub fn cmdline_words(cmdline: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in cmdline.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    if word == "--" {
                        return words;
                    }
                    words.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            c => {
                word.push(c);
                any = true;
            }
        }
    }
    if any && word != "--" {
        words.push(word);
    }
    words
}

/// `pigeonair.answers=URL` on the kernel command line (`/proc/cmdline`'s text), the last one
/// if it is there more than once (as the kernel's own parameters): `None` without it, else the
/// URL or why it is not one.
pub fn cmdline_answers_url(cmdline: &str) -> Option<Result<AnswersUrl, String>> {
    let prefix = format!("{CMDLINE_KEY}=");
    let value = cmdline_words(cmdline)
        .into_iter()
        .filter_map(|w| w.strip_prefix(&prefix).map(str::to_owned))
        .next_back()?;
    Some(
        value
            .parse()
            .map_err(|e: String| format!("{CMDLINE_KEY}={value}: {e}")),
    )
}

/// A URL scheme the answers can be fetched with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP (port 80 by default).
    Http,
    /// HTTPS, the server checked against the system's CA store (port 443 by default).
    Https,
}

/// An `http://` or `https://` URL, split into what a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswersUrl {
    /// Its scheme.
    pub scheme: Scheme,
    /// The host: a name, an IPv4 address or an IPv6 address without its brackets.
    pub host: String,
    /// The TCP port.
    pub port: u16,
    /// The path and query, from its `/` (`/` when the URL has none).
    pub path: String,
    text: String,
}

impl AnswersUrl {
    /// `host:port` as a `Host` header and a connect address take it (IPv6 in brackets).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for AnswersUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for AnswersUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<AnswersUrl, String> {
        let (scheme, rest) = if let Some(r) = s.strip_prefix("http://") {
            (Scheme::Http, r)
        } else if let Some(r) = s.strip_prefix("https://") {
            (Scheme::Https, r)
        } else {
            return Err("expected an http:// or https:// URL".into());
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_owned()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_owned()),
        };
        let path = path.split('#').next().unwrap_or("/").to_owned();
        if authority.contains('@') {
            return Err("user names and passwords in the URL are not supported".into());
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or("an IPv6 address without its ]")?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err("no host".into());
        }
        if host.contains(|c: char| c.is_whitespace() || c.is_control()) {
            return Err(format!("{host:?} is not a host name"));
        }
        let port = match port {
            None => match scheme {
                Scheme::Http => 80,
                Scheme::Https => 443,
            },
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("{p:?} is not a port"))?,
        };
        Ok(AnswersUrl {
            scheme,
            host: host.to_owned(),
            port,
            path,
            text: s.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `/proc/cmdline` of the live system booted by the medium's GRUB, with the answers' URL
    /// added at the menu.
    const LIVE: &str = "BOOT_IMAGE=/live/vmlinuz boot=live quiet loglevel=3 console=tty0 \
                        console=ttyS0,115200n8 pigeonair.answers=http://10.0.2.2:8080/mx1.toml\n";

    #[test]
    fn the_url_on_the_live_cmdline() {
        let url = cmdline_answers_url(LIVE).unwrap().unwrap();
        assert_eq!(url.scheme, Scheme::Http);
        assert_eq!(url.host, "10.0.2.2");
        assert_eq!(url.port, 8080);
        assert_eq!(url.path, "/mx1.toml");
        assert_eq!(url.to_string(), "http://10.0.2.2:8080/mx1.toml");
        assert_eq!(url.authority(), "10.0.2.2:8080");
    }

    #[test]
    fn without_the_parameter_there_is_no_url() {
        assert_eq!(cmdline_answers_url("boot=live quiet\n"), None);
        assert_eq!(cmdline_answers_url(""), None);
        assert_eq!(cmdline_answers_url("pigeonair.answersx=http://a/"), None);
    }

    #[test]
    fn quotes_the_last_one_and_init_args() {
        assert_eq!(
            cmdline_words("a \"b c\" d=\"e f\"  -- pigeonair.answers=http://x/"),
            ["a", "b c", "d=e f"]
        );
        let url = cmdline_answers_url(
            "pigeonair.answers=http://old/ pigeonair.answers=\"https://new.example/a?b=c\"",
        )
        .unwrap()
        .unwrap();
        assert_eq!(url.scheme, Scheme::Https);
        assert_eq!((url.host.as_str(), url.port), ("new.example", 443));
        assert_eq!(url.path, "/a?b=c");
        assert_eq!(
            cmdline_answers_url("quiet -- pigeonair.answers=http://x/"),
            None
        );
    }

    #[test]
    fn urls_and_their_refusals() {
        let u: AnswersUrl = "http://[fd00::1]:81?x".parse().unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("fd00::1", 81, "/?x")
        );
        assert_eq!(u.authority(), "[fd00::1]:81");
        let u: AnswersUrl = "https://answers.example.net#frag".parse().unwrap();
        assert_eq!((u.port, u.path.as_str()), (443, "/"));
        assert_eq!(
            cmdline_answers_url("pigeonair.answers=ftp://x/a"),
            Some(Err(
                "pigeonair.answers=ftp://x/a: expected an http:// or https:// URL".into()
            ))
        );
        for (bad, why) in [
            ("http://:80/", "no host"),
            ("http://h:99999/", "\"99999\" is not a port"),
            (
                "http://u:p@h/",
                "user names and passwords in the URL are not supported",
            ),
            ("http://[::1/", "an IPv6 address without its ]"),
        ] {
            assert_eq!(bad.parse::<AnswersUrl>(), Err(why.to_owned()), "{bad}");
        }
    }

    #[test]
    fn the_drive_then_the_medium_then_the_url() {
        let url: AnswersUrl = "http://h/a".parse().unwrap();
        let embedded = PathBuf::from("/run/live/medium/pigeonair/answers.toml");
        assert_eq!(
            choose(
                Some("/dev/vdb".into()),
                Some(embedded.clone()),
                Some(url.clone())
            ),
            Some(AnswersSource::Drive("/dev/vdb".into()))
        );
        assert_eq!(
            choose(None, Some(embedded.clone()), Some(url.clone())),
            Some(AnswersSource::Embedded(embedded.clone()))
        );
        assert_eq!(
            choose(None, None, Some(url.clone())),
            Some(AnswersSource::Url(url.clone()))
        );
        assert_eq!(choose(None, None, None), None);
        assert_eq!(
            AnswersSource::Drive("/dev/vdb".into()).to_string(),
            "the answers on /dev/vdb (labelled PIGEONAIR)"
        );
        assert_eq!(
            AnswersSource::Embedded(embedded).to_string(),
            "the answers embedded in the install medium (/run/live/medium/pigeonair/answers.toml)"
        );
        assert_eq!(
            AnswersSource::Url(url).to_string(),
            "the answers at http://h/a (pigeonair.answers=)"
        );
    }
}
