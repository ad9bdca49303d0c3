//! What goes into the appliance image, and the cache key derived from it. Pure: no IO.

use sha2::{Digest, Sha256};

use crate::mirror::Mirror;

/// The Debian side of the appliance image. Every field feeds the base layer's cache key, so a
/// change to any of them (or to [`CUSTOMISE_SCRIPT`]) builds a new base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    /// Debian suite to bootstrap.
    pub suite: String,
    /// debootstrap variant.
    pub variant: String,
    /// Packages debootstrap installs with the base system (init and networking).
    pub bootstrap: Vec<String>,
    /// Packages installed with apt-get afterwards (`--no-install-recommends`).
    pub packages: Vec<String>,
    /// debconf-set-selections lines applied before `packages` are installed.
    pub debconf: Vec<String>,
    /// Units installed enabled by Debian that stay disabled until `pigeonair-install`
    /// configures them: an unconfigured appliance serves nothing.
    pub disabled_units: Vec<String>,
}

/// Runs inside the image (systemd-nspawn, not booted) after debootstrap. `$PACKAGES` and
/// `$DISABLED` are space-separated lists; `/run/pigeonair-build/debconf` holds the preseeds.
pub const CUSTOMISE_SCRIPT: &str = r#"set -eu
export DEBIAN_FRONTEND=noninteractive
debconf-set-selections /run/pigeonair-build/debconf
apt-get update -q
apt-get install -y -q --no-install-recommends $PACKAGES
# Debian enables its daemons at install; the appliance starts them once it is configured.
systemctl disable $DISABLED
# Values that must differ per node: set at boot (machine-id) or by the installer (hostname,
# SSH host keys).
rm -f /etc/hostname /var/lib/dbus/machine-id /etc/ssh/ssh_host_*
: > /etc/machine-id
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > /etc/hosts
: > /etc/resolv.conf
# The journal is kept on disk so that it survives a node's restart.
mkdir -p /var/log/journal
apt-get clean
"#;

impl ImageSpec {
    /// The PigeonAir appliance: Debian 13 with systemd, its kernel, and the mail daemons.
    pub fn appliance() -> Self {
        let list = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        ImageSpec {
            suite: "trixie".into(),
            variant: "minbase".into(),
            bootstrap: list("systemd systemd-sysv dbus iproute2"),
            // fdisk … grub-efi-amd64-bin: the install to disk runs on the install medium, whose
            // live system is this image (sfdisk, mkfs, grub-install for BIOS and UEFI).
            packages: list(
                "linux-image-amd64 zstd \
                 slapd ldap-utils \
                 postfix postfix-ldap \
                 dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd dovecot-ldap \
                 nftables ipvsadm keepalived \
                 openssl ca-certificates \
                 iputils-ping netcat-openbsd procps less \
                 fdisk e2fsprogs dosfstools grub2-common grub-pc-bin grub-efi-amd64-bin \
                 openssh-server",
            ),
            debconf: vec![
                // Our installer writes slapd's cn=config; Debian's default database would be
                // an unmanaged second directory.
                "slapd slapd/no_configuration boolean true".into(),
                "postfix postfix/main_mailer_type select No configuration".into(),
            ],
            // keepalived runs as pigeonair-balancer's child on a balancer pair, never on its own;
            // sshd runs only on a node whose answers give root a key.
            disabled_units: list(
                "slapd.service postfix.service dovecot.service keepalived.service ssh.service",
            ),
        }
    }

    /// Everything that shapes the base layer, one fact per line, in a fixed order.
    pub fn canonical(&self, mirror: &Mirror) -> String {
        let sorted = |v: &[String]| {
            let mut v = v.to_vec();
            v.sort();
            v.join(" ")
        };
        format!(
            "suite {}\nvariant {}\nmirror {}\nbootstrap {}\npackages {}\ndebconf {}\ndisabled {}\nscript {}\n",
            self.suite,
            self.variant,
            mirror.url(),
            sorted(&self.bootstrap),
            sorted(&self.packages),
            self.debconf.join(" | "),
            sorted(&self.disabled_units),
            hex(&Sha256::digest(CUSTOMISE_SCRIPT.as_bytes()))
        )
    }

    /// The base layer's cache key: the first 16 hex digits of the SHA-256 of [`Self::canonical`].
    pub fn base_key(&self, mirror: &Mirror) -> String {
        short_key(self.canonical(mirror).as_bytes())
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The first 16 hex digits of the SHA-256 of `bytes`: a cache key.
pub fn short_key(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))[..16].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mirror() -> Mirror {
        Mirror::try_new("http://deb.debian.org/debian").unwrap()
    }

    #[test]
    fn key_ignores_package_order() {
        let a = ImageSpec::appliance();
        let mut b = a.clone();
        b.packages.reverse();
        assert_eq!(a.base_key(&mirror()), b.base_key(&mirror()));
    }

    #[test]
    fn key_changes_with_packages_and_mirror() {
        let a = ImageSpec::appliance();
        let mut b = a.clone();
        b.packages.push("swaks".into());
        assert_ne!(a.base_key(&mirror()), b.base_key(&mirror()));
        let other = Mirror::try_new("http://mirror.example/debian").unwrap();
        assert_ne!(a.base_key(&mirror()), a.base_key(&other));
    }

    #[test]
    fn appliance_has_the_daemons_the_brief_names() {
        let spec = ImageSpec::appliance();
        for pkg in [
            "linux-image-amd64",
            "slapd",
            "ldap-utils",
            "postfix-ldap",
            "dovecot-imapd",
            "dovecot-pop3d",
            "dovecot-lmtpd",
            "dovecot-ldap",
            "nftables",
            "ipvsadm",
            "keepalived",
        ] {
            assert!(spec.packages.iter().any(|p| p == pkg), "{pkg} missing");
        }
        assert_eq!(spec.suite, "trixie");
    }
}
