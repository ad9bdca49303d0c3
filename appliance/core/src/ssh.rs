//! Root's SSH access: off unless the answers name public keys (`[ssh] authorized_keys`), and
//! then by those keys only, never a password.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;

/// The key types OpenSSH's `sshd` accepts today (no DSA: OpenSSH 10 removed it).
const KEY_TYPES: [&str; 8] = [
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "rsa-sha2-512",
];

/// One line of `authorized_keys`: `TYPE BASE64 [COMMENT]`, as `ssh-keygen` writes a `.pub`
/// file. The key's blob is decoded and must name the same type (a pasted key cut short or
/// mixed up fails here, not at the first login).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct SshPublicKey(String);

impl SshPublicKey {
    /// Checks one public key line.
    pub fn try_new(s: &str) -> Result<Self, String> {
        let line = s.trim();
        let mut parts = line.split_whitespace();
        let (Some(kind), Some(blob)) = (parts.next(), parts.next()) else {
            return Err(format!(
                "{s:?}: expected a public key line, `TYPE KEY [COMMENT]` as in a .pub file \
                 (ssh-keygen -t ed25519 writes one)"
            ));
        };
        if !KEY_TYPES.contains(&kind) {
            return Err(format!(
                "{s:?}: {kind:?} is not a key type sshd accepts (key options such as from=... \
                 are not taken either): use one of {}",
                KEY_TYPES.join(", ")
            ));
        }
        let bytes = STANDARD.decode(blob).map_err(|_| {
            format!("{s:?}: the key after {kind} is not base64: paste the whole line")
        })?;
        let named = bytes
            .get(..4)
            .map(|n| u32::from_be_bytes([n[0], n[1], n[2], n[3]]) as usize)
            .and_then(|n| bytes.get(4..4 + n));
        // An RSA key with an rsa-sha2-512 line still holds "ssh-rsa".
        let expected = if kind == "rsa-sha2-512" {
            "ssh-rsa"
        } else {
            kind
        };
        if named != Some(expected.as_bytes()) {
            return Err(format!(
                "{s:?}: the key's data is not a {kind} key (cut short or mixed up?): paste the \
                 whole line of the .pub file"
            ));
        }
        if line.chars().any(char::is_control) {
            return Err(format!("{s:?}: no control characters in a key line"));
        }
        Ok(SshPublicKey(
            line.split_whitespace().collect::<Vec<_>>().join(" "),
        ))
    }

    /// The line as `authorized_keys` holds it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SshPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f ops@isp";

    #[test]
    fn a_pub_file_line_is_taken_as_written() {
        let k = SshPublicKey::try_new(&format!("  {ED25519}\n")).unwrap();
        assert_eq!(k.as_str(), ED25519);
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        for (line, says) in [
            ("", "expected a public key line"),
            ("ssh-ed25519", "expected a public key line"),
            ("ssh-dss AAAAB3NzaC1kc3M=", "not a key type sshd accepts"),
            (
                "from=\"10.0.0.1\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5",
                "not a key type",
            ),
            ("ssh-ed25519 not*base64", "not base64"),
            // An RSA key's data under the ed25519 name.
            (
                "ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQAB",
                "is not a ssh-ed25519 key",
            ),
            // Cut short: the length says more than there is.
            ("ssh-ed25519 AAAAC3NzaC1l", "is not a ssh-ed25519 key"),
        ] {
            let e = SshPublicKey::try_new(line).unwrap_err();
            assert!(e.contains(says), "{line:?}: {e}");
        }
    }
}
