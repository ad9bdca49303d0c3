//! `pigeonctl import`: domains, users and aliases from a CSV or LDIF file, for migrations.
//! The file is parsed and checked whole first — against itself and the directory — and with
//! any problem nothing is written; every problem is reported with its line.
//!
//! CSV, one record a line (`#` lines are comments):
//! ```text
//! domain,example.org
//! user,alice@example.org,PASSWORD,Alice Smith,2G     # name and quota may be empty
//! alias,team@example.org,alice@example.org bob@example.org
//! ```
//! PASSWORD is clear text (hashed on import) or a hash Dovecot and slapd verify:
//! `{CRYPT}$6$…`, `$6$…`, `{SSHA}…`, `{SSHA512}…`.
//!
//! LDIF: entries with `mail` and `userPassword` are users (`cn` their name,
//! `pigeonairQuotaBytes` their quota), entries of class `pigeonairAlias` are aliases, entries of
//! class `pigeonairDomain` are domains (`cn`). Other entries are refused.

use std::collections::{BTreeSet, HashMap};

use base64::Engine;
use pigeonair_appliance::address::{MailAddress, Quota};
use pigeonair_appliance::types::MailDomain;

/// A password as imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Password {
    /// Clear text: hashed on import.
    Clear(String),
    /// Already hashed, stored as it is (`{SCHEME}…`).
    Hashed(String),
}

/// One thing to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A domain.
    Domain(MailDomain),
    /// A user.
    User {
        /// Address.
        address: MailAddress,
        /// Password.
        password: Password,
        /// Display name.
        name: Option<String>,
        /// Quota.
        quota: Quota,
    },
    /// An alias.
    Alias {
        /// Address.
        address: MailAddress,
        /// Targets.
        targets: Vec<MailAddress>,
    },
}

impl Record {
    /// The address a user or alias is for.
    pub fn address(&self) -> Option<&MailAddress> {
        match self {
            Record::Domain(_) => None,
            Record::User { address, .. } | Record::Alias { address, .. } => Some(address),
        }
    }
}

fn password(s: &str) -> Result<Password, String> {
    if s.starts_with("$6$") {
        return Ok(Password::Hashed(format!("{{CRYPT}}{s}")));
    }
    for scheme in ["{CRYPT}$6$", "{SSHA}", "{SSHA512}"] {
        if s.starts_with(scheme) {
            return Ok(Password::Hashed(s.to_owned()));
        }
    }
    if s.starts_with('{') {
        return Err(format!(
            "password scheme of {:?} is not one slapd and Dovecot both verify: use {{CRYPT}}$6$, {{SSHA}} or {{SSHA512}}, or clear text",
            s.split('}').next().unwrap_or(s)
        ));
    }
    if s.chars().count() < 8 || s.chars().any(char::is_control) {
        return Err(
            "a clear-text password needs 8 or more characters and no control characters".into(),
        );
    }
    Ok(Password::Clear(s.to_owned()))
}

fn name(s: &str) -> Result<Option<String>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.chars().count() > 128 || s.chars().any(char::is_control) {
        return Err(format!(
            "name {s:?}: use at most 128 characters without control characters"
        ));
    }
    Ok(Some(s.to_owned()))
}

/// The records, or every problem when there is any.
fn finish(records: Vec<Record>, problems: Vec<String>) -> Result<Vec<Record>, Vec<String>> {
    if problems.is_empty() {
        Ok(records)
    } else {
        Err(problems)
    }
}

/// Parses CSV; every problem is returned, each as `line N: …`.
pub fn parse_csv(text: &str) -> Result<Vec<Record>, Vec<String>> {
    let mut records = Vec::new();
    let mut problems = Vec::new();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    for row in reader.records() {
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!("{e}"));
                continue;
            }
        };
        let line = row.position().map_or(0, |p| p.line());
        let f: Vec<&str> = row.iter().collect();
        let parsed = match f.first().copied() {
            Some("domain") if f.len() == 2 => MailDomain::try_new(f[1]).map(Record::Domain),
            Some("user") if (3..=5).contains(&f.len()) => (|| {
                Ok(Record::User {
                    address: MailAddress::try_new(f[1])?,
                    password: password(f[2])?,
                    name: name(f.get(3).copied().unwrap_or(""))?,
                    quota: match f.get(4).copied().unwrap_or("") {
                        "" => Quota::try_new("0")?,
                        q => Quota::try_new(q).map_err(|e| format!("quota {e}"))?,
                    },
                })
            })(),
            Some("alias") if f.len() == 3 => (|| {
                let targets = f[2]
                    .split_whitespace()
                    .map(MailAddress::try_new)
                    .collect::<Result<Vec<_>, _>>()?;
                if targets.is_empty() {
                    return Err("an alias needs at least one target".to_owned());
                }
                Ok(Record::Alias {
                    address: MailAddress::try_new(f[1])?,
                    targets,
                })
            })(),
            _ => Err(
                "expected `domain,NAME`, `user,ADDRESS,PASSWORD[,NAME[,QUOTA]]` or `alias,ADDRESS,TARGET…`"
                    .into(),
            ),
        };
        match parsed {
            Ok(r) => records.push(r),
            Err(e) => problems.push(format!("line {line}: {e}")),
        }
    }
    finish(records, problems)
}

/// Parses LDIF; every problem is returned, each as `line N: …` (the entry's first line).
pub fn parse_ldif(text: &str) -> Result<Vec<Record>, Vec<String>> {
    let mut records = Vec::new();
    let mut problems = Vec::new();
    // Unfold continuation lines, remembering where each entry starts.
    let mut entries: Vec<(usize, Vec<String>)> = Vec::new();
    let mut current: Option<(usize, Vec<String>)> = None;
    for (i, raw) in text.lines().enumerate() {
        if raw.starts_with('#') {
            continue;
        }
        if raw.trim().is_empty() {
            if let Some(e) = current.take() {
                entries.push(e);
            }
            continue;
        }
        let entry = current.get_or_insert_with(|| (i + 1, Vec::new()));
        match raw.strip_prefix(' ') {
            Some(more) => match entry.1.last_mut() {
                Some(last) => last.push_str(more),
                None => problems.push(format!(
                    "line {}: a continuation line with nothing before it",
                    i + 1
                )),
            },
            None => entry.1.push(raw.to_owned()),
        }
    }
    entries.extend(current);
    for (line, lines) in entries {
        let mut attrs: HashMap<String, Vec<String>> = HashMap::new();
        let mut bad = None;
        for l in &lines {
            let Some((key, rest)) = l.split_once(':') else {
                bad = Some(format!("{l:?} is not `attribute: value`"));
                break;
            };
            let value = if let Some(b64) = rest.strip_prefix(':') {
                match base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                {
                    Some(v) => v,
                    None => {
                        bad = Some(format!("{key}: not valid base64 UTF-8"));
                        break;
                    }
                }
            } else {
                rest.trim().to_owned()
            };
            attrs
                .entry(key.trim().to_ascii_lowercase())
                .or_default()
                .push(value);
        }
        if let Some(b) = bad {
            problems.push(format!("line {line}: {b}"));
            continue;
        }
        let get = |k: &str| attrs.get(k).and_then(|v| v.first()).map(String::as_str);
        let classes: BTreeSet<String> = attrs
            .get("objectclass")
            .into_iter()
            .flatten()
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let parsed = if classes.contains("pigeonairdomain") {
            MailDomain::try_new(get("cn").unwrap_or("")).map(Record::Domain)
        } else if classes.contains("pigeonairalias") {
            (|| {
                Ok(Record::Alias {
                    address: MailAddress::try_new(get("mail").unwrap_or(""))?,
                    targets: attrs
                        .get("pigeonairaliastarget")
                        .into_iter()
                        .flatten()
                        .map(|t| MailAddress::try_new(t))
                        .collect::<Result<Vec<_>, _>>()?,
                })
            })()
        } else if let (Some(mail), Some(pw)) = (get("mail"), get("userpassword")) {
            (|| {
                Ok(Record::User {
                    address: MailAddress::try_new(mail)?,
                    password: password(pw)?,
                    name: name(get("cn").unwrap_or(""))?,
                    quota: Quota::try_new(get("pigeonairquotabytes").unwrap_or("0"))
                        .map_err(|e| format!("quota {e}"))?,
                })
            })()
        } else {
            Err("not a domain (pigeonairDomain), alias (pigeonairAlias) or user (mail and userPassword)".into())
        };
        match parsed {
            Ok(r) => records.push(r),
            Err(e) => problems.push(format!("line {line}: {e}")),
        }
    }
    finish(records, problems)
}

/// Problems of the records among themselves: an address twice, a user or alias whose domain
/// is neither in the file nor in `hosted`, a target loop is left to the directory check.
pub fn check_records(
    records: &[Record],
    hosted: &BTreeSet<String>,
    existing: &BTreeSet<String>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let domains: BTreeSet<String> = records
        .iter()
        .filter_map(|r| match r {
            Record::Domain(d) => Some(d.to_string()),
            _ => None,
        })
        .collect();
    for d in &domains {
        if hosted.contains(d) {
            problems.push(format!("domain {d} is hosted already"));
        }
    }
    let mut seen = BTreeSet::new();
    for r in records {
        let Some(a) = r.address() else { continue };
        if !seen.insert(a.to_string()) {
            problems.push(format!("{a} is in the file twice"));
        }
        if existing.contains(a.as_str()) {
            problems.push(format!("{a} exists already"));
        }
        if !domains.contains(a.domain()) && !hosted.contains(a.domain()) {
            problems.push(format!(
                "{a}: domain {} is not hosted and not in the file",
                a.domain()
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_records_and_every_problem() {
        let ok = "# migration\ndomain,example.org\nuser,alice@example.org,$6$salt$hash,\"Smith, Alice\",2G\nuser,bob@example.org,clear-text-pw\nalias,team@example.org,alice@example.org bob@example.org\n";
        let r = parse_csv(ok).unwrap();
        assert_eq!(r.len(), 4);
        assert!(
            matches!(&r[1], Record::User { password: Password::Hashed(h), name: Some(n), .. } if h == "{CRYPT}$6$salt$hash" && n == "Smith, Alice")
        );
        let bad = "domain,exa_mple.org\nuser,*@example.org,clear-text-pw\nuser,a@example.org,short\nuser,b@example.org,{MD5}abc\nuser,c@example.org,clear-text-pw,,2Q\nfrobnicate,x\n";
        let p = parse_csv(bad).unwrap_err();
        assert_eq!(p.len(), 6, "{p:#?}");
        assert!(p[0].starts_with("line 1: "), "{}", p[0]);
        assert!(p[4].contains("\"2Q\""), "{}", p[4]);
        assert!(p[5].starts_with("line 6: expected"), "{}", p[5]);
    }

    #[test]
    fn ldif_records() {
        let text = "dn: cn=example.org,ou=domains,o=x\nobjectClass: pigeonairDomain\ncn: example.org\n\n\
                    dn: mail=a@example.org,o=x\nmail: a@example.org\nuserPassword:: e0NSWVBUfSQ2JHNhbHQkaGFzaA==\ncn: A\n  B\n\n\
                    dn: mail=t@example.org,o=x\nobjectClass: pigeonairAlias\nmail: t@example.org\npigeonairAliasTarget: a@example.org\n";
        let r = parse_ldif(text).unwrap();
        assert_eq!(r.len(), 3);
        assert!(
            matches!(&r[1], Record::User { password: Password::Hashed(h), name: Some(n), .. } if h == "{CRYPT}$6$salt$hash" && n == "A B")
        );
        let p = parse_ldif("dn: x\nfoo: bar\n").unwrap_err();
        assert!(p[0].starts_with("line 1: not a domain"), "{p:?}");
    }

    #[test]
    fn records_checked_against_the_directory() {
        let r = parse_csv("user,a@new.org,clear-text-pw\nuser,a@new.org,clear-text-pw\nuser,b@old.org,clear-text-pw\n").unwrap();
        let hosted = BTreeSet::from(["old.org".to_owned()]);
        let existing = BTreeSet::from(["b@old.org".to_owned()]);
        let p = check_records(&r, &hosted, &existing);
        assert_eq!(
            p,
            [
                "a@new.org: domain new.org is not hosted and not in the file",
                "a@new.org is in the file twice",
                "a@new.org: domain new.org is not hosted and not in the file",
                "b@old.org exists already",
            ]
        );
    }
}
