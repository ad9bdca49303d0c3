//! The PigeonAir appliance image: a Debian 13 (trixie) root filesystem built from the host's
//! configured Debian mirror, kept as cached layers.
//!
//! The image is two layers, lowest first:
//! 1. **base** — debootstrap plus the Debian packages of [`ImageSpec`], keyed by a hash of
//!    everything that shapes it (suite, mirror, package set, preseeds, the customisation script),
//!    so a rebuild with the same package set reuses it;
//! 2. **packages** — PigeonAir's own `.deb` files installed on top of the base, kept as an overlay
//!    upper directory, keyed by the base and the packages' hashes. Refreshing our packages never
//!    rebuilds the Debian base.
//!
//! The install medium ([`iso`]) is built from the same two layers, each squashed on its own,
//! with a small live layer and a live-boot initramfs of its own ([`live`]), cached per base.
//!
//! Pure parts ([`spec`], [`mirror`], [`live`], [`dpkg`], [`answers`]) are apart from the shells that run
//! debootstrap and systemd-nspawn ([`build`]), mksquashfs and grub-mkrescue ([`iso`]) and lay
//! out the cache ([`store`]).
#![forbid(unsafe_code)]

pub mod answers;
pub mod build;
pub mod dpkg;
pub mod iso;
pub mod live;
pub mod mirror;
pub mod spec;
pub mod store;

pub use answers::EmbeddedAnswers;
pub use build::{BuildError, Debs, ensure_image};
pub use iso::{Iso, IsoManifest, IsoOptions, build_iso};
pub use live::LiveSpec;
pub use mirror::Mirror;
pub use spec::ImageSpec;
pub use store::{Image, ImageStore};
