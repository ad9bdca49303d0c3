//! Mail addresses and quotas as administrators type them, validated so that nothing that
//! reaches an LDAP filter or DN can change its meaning (`*`, `(`, `)`, `,`, `=`, `\`, NUL and
//! the like are refused outright; values are also escaped where they are used).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::types::MailDomain;

/// A mail address `local@domain`, lower case. The local part is 1–64 of `a-z`, `0-9`, `.`,
/// `_`, `-`, `+` (no leading, trailing or doubled dot).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct MailAddress(String);

impl MailAddress {
    /// Checks `s` (see the type's doc).
    pub fn try_new(s: &str) -> Result<Self, String> {
        let lower = s.to_ascii_lowercase();
        let Some((local, domain)) = lower.rsplit_once('@') else {
            return Err(format!("{s:?}: a mail address is LOCAL@DOMAIN"));
        };
        let ok_local = (1..=64).contains(&local.len())
            && local
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-+".contains(&b))
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        if !ok_local {
            return Err(format!(
                "{s:?}: the part before @ must be 1 to 64 of a-z, 0-9, '.', '_', '-', '+' \
                 (no leading, trailing or doubled '.')"
            ));
        }
        MailDomain::try_new(domain).map_err(|e| format!("{s:?}: domain {e}"))?;
        Ok(MailAddress(lower))
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before `@`.
    pub fn local(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(l, _)| l)
    }

    /// The domain.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, d)| d)
    }
}

impl fmt::Display for MailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for MailAddress {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        MailAddress::try_new(s)
    }
}

/// A storage quota in bytes; 0 means no limit. Parsed from `0`, `unlimited`, `500M`, `2G`,
/// `1T`, `123456` (bytes); units are powers of 1024.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Quota(u64);

impl Quota {
    /// Checks `s` (see the type's doc).
    pub fn try_new(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("unlimited") || t == "0" {
            return Ok(Quota(0));
        }
        let (digits, mult) = match t.char_indices().last() {
            Some((i, c)) if c.is_ascii_alphabetic() => {
                let mult: u64 = match c.to_ascii_uppercase() {
                    'K' => 1 << 10,
                    'M' => 1 << 20,
                    'G' => 1 << 30,
                    'T' => 1 << 40,
                    _ => {
                        return Err(format!(
                            "{s:?}: unknown unit {c:?}: use K, M, G or T (powers of 1024), or bytes"
                        ));
                    }
                };
                (&t[..i], mult)
            }
            _ => (t, 1),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "{s:?}: a quota is a whole number with an optional unit (500M, 2G) or \"unlimited\""
            ));
        }
        let n: u64 = digits.parse().map_err(|_| format!("{s:?}: too large"))?;
        n.checked_mul(mult)
            .map(Quota)
            .ok_or_else(|| format!("{s:?}: too large"))
    }

    /// Bytes; 0 = no limit.
    pub fn bytes(self) -> u64 {
        self.0
    }

    /// As people read it: `unlimited`, `2G`, `1536M`, `1000 bytes`.
    pub fn human(self) -> String {
        let b = self.0;
        if b == 0 {
            return "unlimited".into();
        }
        for (unit, size) in [
            ("T", 1u64 << 40),
            ("G", 1 << 30),
            ("M", 1 << 20),
            ("K", 1 << 10),
        ] {
            if b % size == 0 {
                return format!("{}{unit}", b / size);
            }
        }
        format!("{b} bytes")
    }
}

impl FromStr for Quota {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Quota::try_new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let a = MailAddress::try_new("John.Doe+x@Example.com").unwrap();
        assert_eq!(a.as_str(), "john.doe+x@example.com");
        assert_eq!(a.local(), "john.doe+x");
        assert_eq!(a.domain(), "example.com");
        for bad in [
            "*@example.com",
            ")(uid=*@example.com",
            "a,cn=admin@example.com",
            "a\0b@example.com",
            "a@b@example.com",
            "@example.com",
            "a@",
            "a@example",
            ".a@example.com",
            "a..b@example.com",
            "a b@example.com",
            &format!("{}@example.com", "x".repeat(65)),
        ] {
            assert!(MailAddress::try_new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn quotas() {
        assert_eq!(Quota::try_new("2G").unwrap().bytes(), 2 << 30);
        assert_eq!(Quota::try_new("500m").unwrap().bytes(), 500 << 20);
        assert_eq!(Quota::try_new("unlimited").unwrap().bytes(), 0);
        assert_eq!(Quota::try_new("1024").unwrap().bytes(), 1024);
        assert_eq!(Quota::try_new("1536M").unwrap().human(), "1536M");
        assert_eq!(Quota::try_new("2G").unwrap().human(), "2G");
        assert_eq!(
            Quota::try_new("-1").unwrap_err(),
            "\"-1\": a quota is a whole number with an optional unit (500M, 2G) or \"unlimited\""
        );
        assert_eq!(
            Quota::try_new("2Q").unwrap_err(),
            "\"2Q\": unknown unit 'Q': use K, M, G or T (powers of 1024), or bytes"
        );
        assert!(Quota::try_new("99999999999T").is_err());
        assert!(Quota::try_new("").is_err());
    }
}
