//! Identity: host name, primary mail domain, cluster name.

use super::Screen;
use crate::tui::form::Field;

/// Names.
pub struct Identity;

impl Screen for Identity {
    fn title(&self) -> &'static str {
        "Identity"
    }
    fn purpose(&self) -> &'static str {
        "Name this node, the primary mail domain and the cluster."
    }
    fn help(&self) -> &'static str {
        "The host name is this node's fully qualified name (mx1.example.com). The primary \
         mail domain gets postmaster@ and abuse@. The cluster name labels the cluster that \
         more nodes will join."
    }
    fn fields(&self) -> &'static [Field] {
        &[Field::Hostname, Field::Domain, Field::ClusterName]
    }
}
