//! Values that are valid by construction: each is built by `try_new`/`FromStr` with an error
//! that says which value is wrong and why. The error texts do not name the field: the caller
//! (the answers file, the TUI) prefixes it.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::Serialize;

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                $name::try_new(s)
            }
        }
    };
}

text_type!(
    /// A DNS name of at least two labels, lower case (`mx1.example.com`).
    Fqdn
);
text_type!(
    /// A mail domain: a DNS name of at least two labels, lower case (`example.com`).
    MailDomain
);
text_type!(
    /// The cluster's name: 1–32 of `a-z`, `0-9`, `-`, starting with a letter.
    ClusterName
);
text_type!(
    /// A network interface name as the kernel allows it (1–15 bytes, no `/`, `:` or space).
    InterfaceName
);

fn dns_name(s: &str, what: &str, example: &str) -> Result<String, String> {
    let lower = s.to_ascii_lowercase();
    if lower.is_empty() || lower.len() > 253 {
        return Err(format!("{s:?}: a {what} has 1 to 253 characters"));
    }
    let labels: Vec<&str> = lower.split('.').collect();
    if labels.len() < 2 {
        return Err(format!(
            "{s:?}: must be a fully qualified {what} with at least two labels, e.g. {example}"
        ));
    }
    for label in &labels {
        let ok = (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!(
                "{s:?}: label {label:?} must be 1 to 63 of a-z, 0-9 and '-' (not first or last)"
            ));
        }
    }
    if labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!("{s:?}: the last label cannot be all digits"));
    }
    Ok(lower)
}

impl Fqdn {
    /// Checks `s` (see the type's doc).
    pub fn try_new(s: &str) -> Result<Self, String> {
        dns_name(s, "host name", "mx1.example.com").map(Fqdn)
    }

    /// The first label (`mx1`).
    pub fn short(&self) -> &str {
        self.0.split('.').next().unwrap_or(&self.0)
    }
}

impl MailDomain {
    /// Checks `s` (see the type's doc).
    pub fn try_new(s: &str) -> Result<Self, String> {
        dns_name(s, "domain", "example.com").map(MailDomain)
    }
}

impl ClusterName {
    /// Checks `s` (see the type's doc).
    pub fn try_new(s: &str) -> Result<Self, String> {
        let ok = (1..=32).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(ClusterName(s.to_owned()))
        } else {
            Err(format!(
                "{s:?}: use 1 to 32 of a-z, 0-9 and '-', starting with a letter"
            ))
        }
    }
}

impl InterfaceName {
    /// Checks `s` (see the type's doc).
    pub fn try_new(s: &str) -> Result<Self, String> {
        let ok = (1..=15).contains(&s.len())
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_graphic() && b != b'/' && b != b':');
        if ok {
            Ok(InterfaceName(s.to_owned()))
        } else {
            Err(format!(
                "{s:?}: an interface name has 1 to 15 characters, without '/', ':' or spaces"
            ))
        }
    }
}

/// An IPv4 address with its prefix length (`203.0.113.11/24`): a host's place in a network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    addr: Ipv4Addr,
    prefix: u8,
}

impl Ipv4Cidr {
    /// Checks `s` (`ADDRESS/PREFIX`).
    pub fn try_new(s: &str) -> Result<Self, String> {
        let Some((addr, prefix)) = s.split_once('/') else {
            return Err(format!(
                "{s:?}: expected ADDRESS/PREFIX, e.g. 203.0.113.11/24"
            ));
        };
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("{s:?}: {addr:?} is not an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("{s:?}: prefix length must be 0..=32"))?;
        let cidr = Ipv4Cidr { addr, prefix };
        if prefix < 31 && (addr == cidr.network() || addr == cidr.broadcast()) {
            return Err(format!(
                "{s:?}: {addr} is the network's {} address, not a host's",
                if addr == cidr.network() {
                    "own"
                } else {
                    "broadcast"
                }
            ));
        }
        if addr.is_unspecified() || addr.is_loopback() || addr.is_multicast() {
            return Err(format!("{s:?}: {addr} cannot be a host's address"));
        }
        Ok(cidr)
    }

    /// The address.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        }
    }

    /// The network's own address.
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    /// The network's broadcast address.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }

    /// The network as `NETWORK/PREFIX` (`203.0.113.0/24`).
    pub fn network_cidr(&self) -> String {
        format!("{}/{}", self.network(), self.prefix)
    }

    /// Whether `ip` is in this network.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network())
    }

    /// Every IPv4 address outside this network, as the fewest networks (`NETWORK/PREFIX`),
    /// largest first: one per bit of the prefix.
    pub fn complement(&self) -> Vec<String> {
        let net = u32::from(self.network());
        (0..self.prefix)
            .map(|i| {
                // The first i bits as in the network, bit i flipped: the half it is not in.
                let bit = 1u32 << (31 - i);
                let keep = if i == 0 { 0 } else { u32::MAX << (32 - i) };
                format!("{}/{}", Ipv4Addr::from((net & keep) | (!net & bit)), i + 1)
            })
            .collect()
    }

    /// Whether the two networks share any address.
    pub fn overlaps(&self, other: &Ipv4Cidr) -> bool {
        let shorter = if self.prefix <= other.prefix {
            self
        } else {
            other
        };
        let longer = if std::ptr::eq(shorter, self) {
            other
        } else {
            self
        };
        shorter.contains(longer.network())
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Serialize for Ipv4Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fqdn() {
        assert_eq!(
            Fqdn::try_new("MX1.Example.com").unwrap().as_str(),
            "mx1.example.com"
        );
        assert_eq!(Fqdn::try_new("mx1.example.com").unwrap().short(), "mx1");
        assert_eq!(
            Fqdn::try_new("mx1").unwrap_err(),
            "\"mx1\": must be a fully qualified host name with at least two labels, e.g. mx1.example.com"
        );
        for bad in ["a..b", "-a.b", "a_b.c", "a.123", "*.b", ")(uid=*.x"] {
            assert!(Fqdn::try_new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cidr() {
        let c = Ipv4Cidr::try_new("203.0.113.11/24").unwrap();
        assert_eq!(c.network_cidr(), "203.0.113.0/24");
        assert!(c.contains("203.0.113.1".parse().unwrap()));
        assert!(!c.contains("203.0.114.1".parse().unwrap()));
        assert_eq!(
            Ipv4Cidr::try_new("10.0.0.5/33").unwrap_err(),
            "\"10.0.0.5/33\": prefix length must be 0..=32"
        );
        assert!(Ipv4Cidr::try_new("10.0.0.0/24").is_err());
        assert!(Ipv4Cidr::try_new("10.0.0.255/24").is_err());
        assert!(Ipv4Cidr::try_new("10.0.0.300/24").is_err());
        assert!(Ipv4Cidr::try_new("10.0.0.5").is_err());
        let p = Ipv4Cidr::try_new("10.0.0.5/8").unwrap();
        assert!(p.overlaps(&Ipv4Cidr::try_new("10.1.2.3/24").unwrap()));
        assert!(!c.overlaps(&p));
    }

    #[test]
    fn a_complement_covers_everything_else_and_nothing_inside() {
        let net = Ipv4Cidr::try_new("10.42.0.11/24").unwrap();
        // (network, prefix) pairs; Ipv4Cidr holds host addresses only.
        let outside: Vec<(u32, u8)> = net
            .complement()
            .iter()
            .map(|c| {
                let (a, p) = c.split_once('/').unwrap();
                (
                    u32::from(a.parse::<Ipv4Addr>().unwrap()),
                    p.parse().unwrap(),
                )
            })
            .collect();
        let contains = |(n, p): &(u32, u8), ip: Ipv4Addr| {
            let mask = if *p == 0 { 0 } else { u32::MAX << (32 - p) };
            u32::from(ip) & mask == *n
        };
        assert_eq!(outside.len(), 24);
        assert_eq!(net.complement()[0], "128.0.0.0/1");
        assert_eq!(net.complement()[4], "0.0.0.0/5");
        for ip in ["10.42.0.1", "10.42.0.255", "10.42.0.11"] {
            let ip = ip.parse().unwrap();
            assert!(!outside.iter().any(|c| contains(c, ip)), "{ip}");
        }
        for ip in [
            "10.42.1.0",
            "10.43.0.1",
            "203.0.113.9",
            "127.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
        ] {
            let ip = ip.parse().unwrap();
            assert_eq!(
                outside.iter().filter(|c| contains(c, ip)).count(),
                1,
                "{ip}"
            );
        }
        assert!(
            Ipv4Cidr::try_new("10.0.0.0/0")
                .unwrap()
                .complement()
                .is_empty()
        );
    }
}
