//! The install to disk from the install medium: the layout as data ([`layout`]), the machine's
//! disks ([`probe`]), the shell that writes them ([`install`]), the erase warning in words
//! ([`erase`]), where the answers come from ([`source`]; a URL's fetched by [`fetch`] over the
//! network [`network`] brings up) and the unattended entry point ([`unattended`]); the
//! interactive installer's disk screens and its runner use the same pieces. Which disk and
//! layout comes from `[disk]`, checked by `pigeonair_appliance::disk::validate_disk` before
//! anything is written.

pub mod erase;
pub mod fetch;
pub mod install;
pub mod layout;
pub mod network;
pub mod probe;
pub mod source;
pub mod unattended;
