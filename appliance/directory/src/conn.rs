//! The blocking connection: connect, bind, and the reads and writes every caller shares.

use std::fmt;
use std::time::{Duration, Instant};

use ldap3::{LdapConn, LdapConnSettings, Mod, Scope, SearchEntry};
use pigeonair_appliance::directory::{BASE_DN, Entry};

use crate::Result;
use crate::entry::{Attrs, attrs, value_set};
use crate::error::{DirectoryError, done, entries, swapped};

/// How to authenticate.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// Root on a node over ldapi (SASL EXTERNAL: slapd knows the peer's uid from the socket).
    LocalRoot,
    /// A DN and its password (simple bind): an administrator, or a service account.
    Password {
        /// e.g. `cn=admin,ou=admins,o=pigeonair`.
        dn: String,
        /// The password.
        password: String,
    },
}

impl fmt::Debug for Credentials {
    /// Never prints the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::LocalRoot => f.write_str("LocalRoot"),
            Credentials::Password { dn, .. } => f
                .debug_struct("Password")
                .field("dn", dn)
                .field("password", &"(hidden)")
                .finish(),
        }
    }
}

impl Credentials {
    /// What a bind with these credentials is called in an error.
    pub(crate) fn binding(&self) -> String {
        match self {
            Credentials::LocalRoot => "bind as root over ldapi (are you root on a node?)".into(),
            Credentials::Password { dn, .. } => format!("bind as {dn}"),
        }
    }
}

/// The settings to connect with: no timeout but the system's unless `timeout` is given.
pub(crate) fn settings(timeout: Option<Duration>) -> LdapConnSettings {
    let settings = LdapConnSettings::new();
    match timeout {
        Some(t) => settings.set_conn_timeout(t),
        None => settings,
    }
}

/// What connecting to `uri` is called in an error.
pub(crate) fn connecting(uri: &str) -> String {
    format!("connect to {uri}")
}

/// How long a write waits to show in the directory it was made on (see [`Connection`]).
const SETTLE_LIMIT: Duration = Duration::from_secs(10);

/// How long an operation on a provider reached directly may take before it is given up.
const PROVIDER_OP_LIMIT: Duration = Duration::from_secs(10);

/// A node's cluster certificate and key and the cluster CA: how a node reaches a provider
/// directly (StartTLS, the provider's certificate checked against the CA and its address; a
/// SASL EXTERNAL bind makes the connection the node its certificate names).
#[derive(Clone)]
pub struct ClusterTls {
    ca_pem: Vec<u8>,
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
}

impl ClusterTls {
    /// Reads the CA certificate, the node's certificate and its key (PKCS #8), PEM files.
    pub fn read(ca: &str, cert: &str, key: &str) -> std::io::Result<Self> {
        let read = |path: &str| {
            std::fs::read(path).map_err(|e| std::io::Error::new(e.kind(), format!("{path}: {e}")))
        };
        Ok(ClusterTls {
            ca_pem: read(ca)?,
            cert_pem: read(cert)?,
            key_pem: read(key)?,
        })
    }

    fn connector(&self) -> std::result::Result<native_tls::TlsConnector, native_tls::Error> {
        native_tls::TlsConnector::builder()
            .add_root_certificate(native_tls::Certificate::from_pem(&self.ca_pem)?)
            .disable_built_in_roots(true)
            .identity(native_tls::Identity::from_pkcs8(
                &self.cert_pem,
                &self.key_pem,
            )?)
            .min_protocol_version(Some(native_tls::Protocol::Tlsv12))
            .build()
    }
}

/// Whether a directory whose suffix has the `contextCSN` values `here` holds every change of
/// one whose suffix has `there`: for each server ID in `there`, a stamp of the same server
/// here at least as late (CSNs of one format order as text).
pub fn stamps_cover(here: &[String], there: &[String]) -> bool {
    fn sid(csn: &str) -> Option<&str> {
        csn.split('#').nth(2)
    }
    there.iter().all(|t| {
        here.iter()
            .any(|h| sid(h).is_some() && sid(h) == sid(t) && h.as_str() >= t.as_str())
    })
}

/// A blocking connection to the directory (ldap3's, on its own single-threaded runtime).
///
/// Writes read their own result: on a replica a write is chained to the provider and comes
/// back by replication a moment later, so each write waits until the suffix's `contextCSN`
/// (the directory's change stamp) has moved before it returns. On the provider it has moved
/// by the time the write is answered; the wait costs one search then. A connection made
/// straight to a provider ([`Connection::to_provider`]) with a `follower` (this node's own
/// directory) also waits until the follower has every change the provider shows, so what
/// was written is in this node's directory when the write returns.
pub struct Connection {
    ldap: LdapConn,
    uri: String,
    /// Each operation's limit (a provider reached over the network).
    op_limit: Option<Duration>,
    /// The local directory that follows the provider this connection writes to.
    follower: Option<Box<Connection>>,
    /// The other providers, which each write waits for too.
    witnesses: Vec<Connection>,
}

impl Connection {
    /// Connects to `uri` (e.g. `pigeonair_appliance::directory::LDAPI_URL`), waiting at most
    /// `timeout` for the connection when given; not yet bound.
    pub fn open(uri: &str, timeout: Option<Duration>) -> Result<Self> {
        let ldap = LdapConn::with_settings(settings(timeout), uri)
            .map_err(|e| DirectoryError::new(connecting(uri), e))?;
        Ok(Connection {
            ldap,
            uri: uri.to_owned(),
            op_limit: None,
            follower: None,
            witnesses: Vec::new(),
        })
    }

    /// Connects to the provider at `uri` (`ldap://ADDRESS/`) as this node: StartTLS with its
    /// cluster certificate, then SASL EXTERNAL. Gives up after `timeout` when the provider
    /// does not answer (a dead node), so the caller can go on to the other provider.
    pub fn to_provider(uri: &str, tls: &ClusterTls, timeout: Duration) -> Result<Self> {
        let connector = tls.connector().map_err(|source| {
            DirectoryError::new(
                format!("TLS for {uri} (the cluster certificate in /etc/pigeonair/cluster)"),
                ldap3::LdapError::NativeTLS { source },
            )
        })?;
        let settings = settings(Some(timeout))
            .set_starttls(true)
            .set_connector(connector);
        let ldap = LdapConn::with_settings(settings, uri)
            .map_err(|e| DirectoryError::new(connecting(uri), e))?;
        let mut conn = Connection {
            ldap,
            uri: uri.to_owned(),
            op_limit: Some(timeout),
            follower: None,
            witnesses: Vec::new(),
        };
        let res = conn.op().sasl_external_bind();
        done(
            || format!("bind to {uri} with this node's cluster certificate"),
            res,
        )?;
        conn.op_limit = Some(PROVIDER_OP_LIMIT);
        Ok(conn)
    }

    /// Makes every write on this connection also wait until `local` shows it.
    pub fn followed_by(mut self, local: Connection) -> Self {
        self.follower = Some(Box::new(local));
        self
    }

    /// Makes every write on this connection also wait until each of `others` (the other
    /// providers) shows it, so whichever provider is read next has it; one that stops
    /// answering is no longer waited for.
    pub fn witnessed_by(mut self, others: Vec<Connection>) -> Self {
        self.witnesses = others;
        self
    }

    /// The local directory following this connection's provider, if any.
    pub fn follower(&mut self) -> Option<&mut Connection> {
        self.follower.as_deref_mut()
    }

    /// The connection, with the next operation's limit set.
    fn op(&mut self) -> &mut LdapConn {
        if let Some(limit) = self.op_limit {
            self.ldap.with_timeout(limit);
        }
        &mut self.ldap
    }

    /// Connects to `uri` and binds with `creds`.
    pub fn connect(uri: &str, creds: &Credentials) -> Result<Self> {
        let mut conn = Connection::open(uri, None)?;
        conn.bind(creds)?;
        Ok(conn)
    }

    /// Authenticates the connection: SASL EXTERNAL for [`Credentials::LocalRoot`], a simple
    /// bind otherwise.
    pub fn bind(&mut self, creds: &Credentials) -> Result<()> {
        let res = match creds {
            Credentials::LocalRoot => self.ldap.sasl_external_bind(),
            Credentials::Password { dn, password } => self.ldap.simple_bind(dn, password),
        };
        done(|| creds.binding(), res)
    }

    /// The URI it is connected to.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The entries under `base` (by `scope`) that match `filter`, with `attrs` (`["1.1"]`:
    /// none). A base that does not exist has no entries.
    pub fn search(
        &mut self,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: &[&str],
    ) -> Result<Vec<SearchEntry>> {
        let res = self.op().search(base, scope, filter, attrs.to_vec());
        entries(|| format!("search {base}"), res)
    }

    /// Whether `dn` exists.
    pub fn exists(&mut self, dn: &str) -> Result<bool> {
        Ok(!self
            .search(dn, Scope::Base, "(objectClass=*)", &["1.1"])?
            .is_empty())
    }

    /// The suffix's `contextCSN` values, sorted (empty if they cannot be read): the
    /// directory's latest change of each provider.
    pub fn stamp(&mut self) -> Vec<String> {
        let mut v = self
            .search(BASE_DN, Scope::Base, "(objectClass=*)", &["contextCSN"])
            .ok()
            .and_then(|mut e| e.pop())
            .and_then(|mut e| e.attrs.remove("contextCSN"))
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Runs the write `op`, then waits (bounded) until the directory here shows a change.
    fn write<T>(&mut self, op: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        self.write_if(op, |_| true)
    }

    /// [`Connection::write`], waiting only when `changed` says the write took effect.
    fn write_if<T>(
        &mut self,
        op: impl FnOnce(&mut Self) -> Result<T>,
        changed: impl FnOnce(&T) -> bool,
    ) -> Result<T> {
        let before = self.stamp();
        let out = op(self)?;
        if before.is_empty() || !changed(&out) {
            // No stamp to follow (no syncprov, or not readable by this identity).
            return Ok(out);
        }
        let started = Instant::now();
        while self.stamp() == before && started.elapsed() < SETTLE_LIMIT {
            std::thread::sleep(Duration::from_millis(5));
        }
        if self.follower.is_some() || !self.witnesses.is_empty() {
            let there = self.stamp();
            let mut witnesses = std::mem::take(&mut self.witnesses);
            witnesses.retain_mut(|w| {
                loop {
                    let stamp = w.stamp();
                    if stamp.is_empty() {
                        return false;
                    }
                    if stamps_cover(&stamp, &there) || started.elapsed() >= SETTLE_LIMIT {
                        return true;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            });
            self.witnesses = witnesses;
            while let Some(local) = self.follower.as_deref_mut() {
                if stamps_cover(&local.stamp(), &there) || started.elapsed() >= SETTLE_LIMIT {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        Ok(out)
    }

    /// Adds `dn` with `attrs`.
    pub fn add(&mut self, dn: &str, attrs: Attrs) -> Result<()> {
        self.write(|c| {
            let res = c.op().add(dn, attrs);
            done(|| format!("add {dn}"), res)
        })
    }

    /// Adds one of the directory design's entries (the seed's).
    pub fn add_entry(&mut self, entry: &Entry) -> Result<()> {
        self.add(&entry.dn, attrs(entry))
    }

    /// Applies `mods` to `dn`, all or none.
    pub fn modify(&mut self, dn: &str, mods: Vec<Mod<String>>) -> Result<()> {
        self.write(|c| {
            let res = c.op().modify(dn, mods);
            done(|| format!("modify {dn}"), res)
        })
    }

    /// Applies `mods` to `dn` outside the replicated suffix (`cn=config`): nothing to wait for.
    pub fn modify_config(&mut self, dn: &str, mods: Vec<Mod<String>>) -> Result<()> {
        let res = self.op().modify(dn, mods);
        done(|| format!("modify {dn}"), res)
    }

    /// Replaces the value `old` of `attr` of `dn` with `new` in one modify (delete the old
    /// value, add the new one), so two writers never both succeed from the same `old`:
    /// `false` when `old` was no longer there (read again and retry).
    pub fn compare_and_swap(&mut self, dn: &str, attr: &str, old: &str, new: &str) -> Result<bool> {
        let mods = vec![
            Mod::Delete(attr.to_owned(), value_set(&[old])),
            Mod::Add(attr.to_owned(), value_set(&[new])),
        ];
        self.write_if(
            |c| {
                let res = c.op().modify(dn, mods);
                swapped(|| format!("modify {attr} of {dn}"), res)
            },
            |swapped| *swapped,
        )
    }

    /// Deletes `dn` (which must have no children).
    pub fn delete(&mut self, dn: &str) -> Result<()> {
        self.write(|c| {
            let res = c.op().delete(dn);
            done(|| format!("delete {dn}"), res)
        })
    }

    /// Renames `dn` to `new_rdn` (the old RDN's value is removed from the entry), under
    /// `new_superior` if given.
    pub fn rename(&mut self, dn: &str, new_rdn: &str, new_superior: Option<&str>) -> Result<()> {
        self.write(|c| {
            let res = c.op().modifydn(dn, new_rdn, true, new_superior);
            done(|| format!("rename {dn}"), res)
        })
    }

    /// Moves `dn` to `new_rdn` under `new_superior`, keeping the old RDN's value in the entry
    /// (an attribute the entry must have stays).
    pub fn move_keeping_rdn(&mut self, dn: &str, new_rdn: &str, new_superior: &str) -> Result<()> {
        self.write(|c| {
            let res = c.op().modifydn(dn, new_rdn, false, Some(new_superior));
            done(|| format!("move {dn}"), res)
        })
    }

    /// Ends the session.
    pub fn unbind(&mut self) -> Result<()> {
        self.ldap
            .unbind()
            .map_err(|e| DirectoryError::new(format!("unbind from {}", self.uri), e))
    }

    /// The underlying connection, for the persistent search.
    pub(crate) fn ldap(&mut self) -> &mut LdapConn {
        &mut self.ldap
    }
}

/// Whether a simple bind as `dn` with `password` succeeds on `uri`, on a connection of its
/// own (the caller's keeps its identity). Any result but success is `false`; only failing to
/// reach the directory is an error.
pub fn can_bind(uri: &str, dn: &str, password: &str) -> Result<bool> {
    let mut conn = Connection::open(uri, None)?;
    let ok = conn
        .ldap
        .simple_bind(dn, password)
        .map(|r| r.rc == 0)
        .map_err(|e| DirectoryError::new(format!("bind as {dn}"), e))?;
    let _ = conn.unbind();
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_covers_another_when_it_has_each_servers_latest_change() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let a1 = "20261201211914.000001Z#000000#001#000000";
        let a2 = "20261201211915.000001Z#000000#001#000000";
        let b1 = "20261201211914.500000Z#000000#002#000000";
        let b2 = "20261201211916.000000Z#000000#002#000000";
        assert!(stamps_cover(&v(&[a2, b1]), &v(&[a1, b1])));
        assert!(stamps_cover(&v(&[a1, b1]), &v(&[a1, b1])));
        assert!(
            !stamps_cover(&v(&[a1, b1]), &v(&[a2, b1])),
            "server 1's latest missing"
        );
        assert!(
            !stamps_cover(&v(&[a2]), &v(&[a2, b2])),
            "no change of server 2 at all"
        );
        // Server 2's stamp later than server 1's does not stand in for server 1's.
        assert!(!stamps_cover(&v(&[b2]), &v(&[a1])));
        assert!(stamps_cover(&v(&[a1]), &v(&[])));
        assert!(!stamps_cover(&v(&["garbage"]), &v(&[a1])));
    }

    #[test]
    fn binds_are_named_for_the_operator_and_passwords_never_printed() {
        assert_eq!(
            Credentials::LocalRoot.binding(),
            "bind as root over ldapi (are you root on a node?)"
        );
        let admin = Credentials::Password {
            dn: "cn=admin,ou=admins,o=pigeonair".into(),
            password: "hunter2-secret".into(),
        };
        assert_eq!(admin.binding(), "bind as cn=admin,ou=admins,o=pigeonair");
        let shown = format!("{admin:?}");
        assert!(shown.contains("cn=admin,ou=admins,o=pigeonair"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn connecting_names_the_uri() {
        assert_eq!(
            connecting("ldapi://%2Frun%2Fslapd%2Fldapi"),
            "connect to ldapi://%2Frun%2Fslapd%2Fldapi"
        );
    }

    #[test]
    fn a_socket_that_is_not_there_is_an_error_naming_it() {
        let uri = "ldapi://%2Fnonexistent%2Fpigeonair-test%2Fldapi";
        let e = Connection::open(uri, Some(Duration::from_secs(1)))
            .err()
            .expect("no socket");
        assert_eq!(e.what(), format!("connect to {uri}"));
        assert_eq!(e.code(), None);
    }
}
