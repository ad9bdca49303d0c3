//! The names every lab command takes: the lab's and its nodes'. Validated on construction.

use std::fmt;
use std::str::FromStr;

/// The most nodes a lab can have: public and private addresses `.11` to `.210` of their /24.
pub const MAX_NODES: u16 = 200;

/// A lab's name: 1 to 12 characters of `a-z`, `0-9` and inner `-`. It prefixes every namespace,
/// cgroup and directory the lab makes, so two labs never touch each other's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabName(String);

/// A node's name: `node1` … `nodeN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeName(u16);

/// A name given on the command line is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Bad lab name.
    #[error(
        "lab name {0:?}: use 1 to 12 characters of a-z, 0-9 and '-' (not first or last), e.g. \"lab\" or \"ci-3\""
    )]
    Lab(String),
    /// Bad node name.
    #[error("node name {0:?}: nodes are named node1 … node{MAX_NODES}")]
    Node(String),
}

impl LabName {
    /// Checks `name` (see the type's doc).
    pub fn try_new(name: &str) -> Result<Self, NameError> {
        let ok = (1..=12).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !name.starts_with('-')
            && !name.ends_with('-');
        if ok {
            Ok(LabName(name.to_owned()))
        } else {
            Err(NameError::Lab(name.to_owned()))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for LabName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LabName::try_new(s)
    }
}

impl fmt::Display for LabName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl NodeName {
    /// The node with number `index` (1-based).
    pub fn try_from_index(index: u16) -> Result<Self, NameError> {
        if (1..=MAX_NODES).contains(&index) {
            Ok(NodeName(index))
        } else {
            Err(NameError::Node(format!("node{index}")))
        }
    }

    /// The node's number, 1-based.
    pub fn index(self) -> u16 {
        self.0
    }
}

impl FromStr for NodeName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || NameError::Node(s.to_owned());
        let digits = s.strip_prefix("node").ok_or_else(err)?;
        if digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        let index: u16 = digits.parse().map_err(|_| err())?;
        NodeName::try_from_index(index).map_err(|_| err())
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_names() {
        for good in ["lab", "ci-3", "a", "abcdefghijkl"] {
            assert!(LabName::try_new(good).is_ok(), "{good}");
        }
        for bad in ["", "-a", "a-", "Lab", "a_b", "abcdefghijklm", "a b", "../x"] {
            assert!(LabName::try_new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn node_names() {
        assert_eq!("node3".parse::<NodeName>().unwrap().index(), 3);
        assert_eq!(
            "node200".parse::<NodeName>().unwrap().to_string(),
            "node200"
        );
        for bad in [
            "node0",
            "node01",
            "node201",
            "node",
            "nodex",
            "n1",
            "node-1",
            "node99999",
        ] {
            assert!(bad.parse::<NodeName>().is_err(), "{bad}");
        }
        assert_eq!(
            "node0".parse::<NodeName>().unwrap_err().to_string(),
            "node name \"node0\": nodes are named node1 … node200"
        );
    }
}
