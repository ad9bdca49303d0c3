//! slapd's configuration as a complete cn=config LDIF. Apply builds `/etc/ldap/slapd.d` from it
//! with `slapadd -n0`, checks it with `slaptest`, and swaps it in only if it passes.

use super::{CLUSTER_CA_AND_CRL, CLUSTER_CA_CERT, CLUSTER_CERT, CLUSTER_KEY, RenderedFile, Unit};
use crate::cluster::ClusterView;
use crate::directory::{
    ADMINS_DN, BASE_DN, COUNTERS_DN, DOMAINS_DN, DOVECOT_DN, LOCAL_ROOT_DN, NODES_DN, POSTFIX_DN,
};
use crate::plan::Plan;
use crate::providers::{Replication, counter_dn, replication};

/// Where the rendered cn=config LDIF is kept (the source apply builds slapd.d from).
pub const SLAPD_LDIF: &str = "/etc/pigeonair/slapd.ldif";
/// slapd's configuration directory.
pub const SLAPD_D: &str = "/etc/ldap/slapd.d";
/// The directory's database.
pub const SLAPD_DB: &str = "/var/lib/ldap";

/// PigeonAir's schema (cn=config form).
pub const SCHEMA_LDIF: &str = include_str!("../../schema/pigeonair.ldif");

/// Attributes Postfix reads: routing only, never passwords.
const POSTFIX_READS: &str = "entry,objectClass,cn,ou,aliasedObjectName,mail,mailLocalAddress,mailHost,pigeonairMailboxId,\
pigeonairAccountStatus,pigeonairEnabledService,pigeonairAliasTarget,pigeonairAliasDomainOf,\
pigeonairForwardTo,pigeonairKeepCopy";

/// slapd's files for `plan` in the cluster `view` (which nodes are providers): the cn=config
/// LDIF and `/etc/default/slapd` (what to listen on).
pub fn render(plan: &Plan, view: &ClusterView) -> Vec<RenderedFile> {
    let defaults = format!(
        "# Written by pigeonair-install.\nSLAPD_CONF=/etc/ldap/slapd.d\nSLAPD_USER=\"openldap\"\n\
         SLAPD_GROUP=\"openldap\"\nSLAPD_PIDFILE=\nSLAPD_SENTINEL_FILE=/etc/ldap/noslapd\n\
         SLAPD_OPTIONS=\"\"\n\
         # Local clients over ldapi and loopback; peers (replication) on the private network.\n\
         SLAPD_SERVICES=\"ldapi:/// ldap://127.0.0.1/ ldap://{}/\"\n",
        plan.private.address.addr()
    );
    vec![
        config_ldif(&replication(plan, view)),
        RenderedFile::public("/etc/default/slapd", defaults, Unit::Slapd),
    ]
}

/// The configuration of a node that has the cluster's revocation list on disk: slapd checks
/// peers' certificates against it (the CA file then holds the CA and the list). pigeonaird
/// sets the same two values live when the list first arrives; rendered with them, a rebuild
/// keeps them, so no change of cn=config follows the restart. (Such a change pauses slapd
/// until its running operations end, and a syncrepl connection being opened to a provider
/// that restarted at the same time holds it up to its timeout (4 s): every lookup waits.)
pub fn with_revocation_check(mut ldif: RenderedFile) -> RenderedFile {
    let plain = format!("olcTLSCACertificateFile: {CLUSTER_CA_CERT}\n");
    let checked = format!("olcTLSCACertificateFile: {CLUSTER_CA_AND_CRL}\nolcTLSCRLCheck: peer\n");
    ldif.contents = ldif.contents.replacen(&plain, &checked, 1);
    ldif
}

/// The access rules of the data, after the counters' (on a provider).
fn data_access(root: &str, admins: &str, nodes: &str) -> Vec<String> {
    vec![
        format!(
            "to attrs=userPassword by {root} manage by {admins} write by {nodes} write by dn.exact=\"{DOVECOT_DN}\" read by anonymous auth by * none"
        ),
        format!(
            "to dn.subtree=\"{DOMAINS_DN}\" attrs={POSTFIX_READS} by {root} manage by {admins} write by {nodes} write by dn.exact=\"{POSTFIX_DN}\" read by dn.exact=\"{DOVECOT_DN}\" read by * none"
        ),
        format!(
            "to dn.subtree=\"{DOMAINS_DN}\" by {root} manage by {admins} write by {nodes} write by dn.exact=\"{DOVECOT_DN}\" read by * none"
        ),
        format!(
            "to dn.subtree=\"{NODES_DN}\" by {root} manage by {admins} write by {nodes} write by dn.exact=\"{POSTFIX_DN}\" read by dn.exact=\"{DOVECOT_DN}\" read by * none"
        ),
        format!("to * by {root} manage by {admins} write by {nodes} write by * none"),
    ]
}

/// On provider `server_id`: administrators and nodes may change its own uid counter (and add
/// it, under `cn=counters`), and only read the others'. A compare-and-swap chained here for
/// another provider's counter is refused (insufficient access), which tells the writer to use
/// this provider's; syncrepl applies the other providers' changes as the root DN, which no
/// rule binds.
fn counter_access(server_id: u16, admins: &str, nodes: &str, root: &str) -> Vec<String> {
    let own = counter_dn(server_id);
    vec![
        format!(
            "to dn.exact=\"{own}\" by {root} manage by {admins} write by {nodes} write by * none"
        ),
        format!(
            "to dn.exact=\"{COUNTERS_DN}\" attrs=children by {root} manage by {admins} write by {nodes} write by * none"
        ),
        format!(
            "to dn.subtree=\"{COUNTERS_DN}\" by {root} manage by {admins} read by {nodes} read by * none"
        ),
    ]
}

/// The cn=config LDIF. Three choices worth knowing:
/// - `olcLogLevel: none`: per-operation logging (`stats`) costs a journal write for every search,
///   about 18 of them per delivered message; for debugging, set it at run time with
///   `ldapmodify -Y EXTERNAL -H ldapi:///` (it lasts until the next apply changes this file);
/// - syncprov on the database keeps `contextCSN` on the suffix, which pigeonaird polls to see
///   that the directory changed (and which replication needs);
/// - the monitor database (read by local root only) counts operations: `cn=Search,
///   cn=Operations,cn=Monitor` is how tests and benchmarks count searches per message.
///
/// Between nodes, slapd speaks TLS with the node's cluster certificate and asks peers for
/// theirs (`olcTLSVerifyClient: try`); a peer that binds with SASL EXTERNAL is the node its
/// certificate names (`cn=HOST` → `cn=HOST,ou=nodes,…`), which reads and writes everything:
/// that is how a replica follows the provider, and how writes made on a replica reach it.
///
/// A provider (see [`crate::providers`]) has its `olcServerID`; with another provider it is
/// also a syncrepl consumer of it (one stanza per other provider, `rid` its server ID) with
/// `olcMultiProvider`, so writes made on either are taken and sent on. Each provider lets only
/// local root change another provider's uid counter (see [`counter_dn`]).
///
/// On a replica, the database is a syncrepl consumer of every provider (refreshAndPersist over
/// StartTLS, certificates checked both ways; several stanzas on one database are supported
/// because each names a different provider with its own server ID; `olcMultiProvider` stays
/// off, as the database takes no writes of its own). Its root DN is an identity nobody can
/// bind as (so local root's writes are not applied to the replica alone: they are referred to
/// every provider, `olcUpdateRef`), and the chain overlay forwards those writes as this node
/// to the first provider that answers, one chain database per provider. A provider that went
/// silent costs a write at most 2 s (`olcDbTimeout`; a new connection gives up after 1 s,
/// `olcDbNetworkTimeout`), then the chain goes on to the next referral, and the silent one is
/// left alone for 5 s at a time (`olcDbQuarantine`: writes go straight to the other) until it
/// answers again; an idle connection to it is dropped after about 4 s (`olcDbKeepalive`).
/// (back-ldap's `olcDbTcpUserTimeout` is not allowed in a chain database by slapd 2.6.10's
/// schema.) Stanzas find a silent provider by TCP keepalive (10 s idle, then 3 probes 2 s
/// apart) and unacknowledged data after 5 s, and retry every second until it is back. A
/// stanza's calls to its provider wait at most 4 s (`timeout`): slapd's shutdown waits for
/// a stanza's call under way, and at 10 s a node's restart for its new providers (the second
/// provider's join) took 10 s to stop slapd.
/// There is no session log: a consumer that was away (any length of time) catches up with a
/// refresh whose present phase lists every entry, so nothing it missed is beyond reach.
/// A replica does not fsync each write (`olcDbNoSync`): LMDB stays consistent after a crash
/// and whatever the last moments lost comes again from a provider, while the first copy of a
/// large directory goes several times faster.
fn config_ldif(repl: &Replication) -> RenderedFile {
    let admins = format!("dn.children=\"{ADMINS_DN}\"");
    let nodes = format!("dn.children=\"{NODES_DN}\"");
    let root = format!("dn.exact=\"{LOCAL_ROOT_DN}\"");
    // `tls_crlcheck=none` said outright: slapd gives the connections it makes the server's own
    // TLS settings for what they leave unset, and once pigeonaird has the server check client
    // certificates against the revocation list (olcTLSCRLCheck: peer, with the list in the CA
    // file) these connections would check too, against ca.crt, which holds no list: every
    // StartTLS to the provider would fail after slapd's next restart. Removed nodes never hold
    // a provider's certificate; the provider checks this node's.
    let tls = format!(
        "tls_cert={CLUSTER_CERT} tls_key={CLUSTER_KEY} tls_cacert={CLUSTER_CA_CERT} \
         tls_reqcert=demand tls_crlcheck=none"
    );
    let stanzas: String = repl
        .peers
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!(
                "olcSyncrepl: {{{i}}}rid={:03} provider={} bindmethod=sasl saslmech=EXTERNAL \
                 starttls=critical {tls} searchbase=\"{BASE_DN}\" type=refreshAndPersist \
                 retry=\"1 +\" timeout=4 network-timeout=5 keepalive=10:3:2 \
                 tcp-user-timeout=5000\n",
                p.server_id,
                p.uri()
            )
        })
        .collect();
    let (server_id, root_dn, replica, chain, counters) = match repl.server_id {
        Some(id) => (
            format!("olcServerID: {id}\n"),
            LOCAL_ROOT_DN.to_owned(),
            if repl.peers.is_empty() {
                String::new()
            } else {
                format!("{stanzas}olcMultiProvider: TRUE\n")
            },
            String::new(),
            counter_access(id, &admins, &nodes, &root),
        ),
        None => {
            let refs: String = repl
                .peers
                .iter()
                .map(|p| format!("olcUpdateRef: {}\n", p.uri()))
                .collect();
            let databases: String = repl
                .peers
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    format!(
                        r#"
dn: olcDatabase={{{i}}}ldap,olcOverlay={{0}}chain,olcDatabase={{-1}}frontend,cn=config
objectClass: olcLDAPConfig
objectClass: olcChainDatabase
olcDatabase: {{{i}}}ldap
olcDbURI: "{uri}"
olcDbStartTLS: start {tls}
olcDbIDAssertBind: mode=none bindmethod=sasl saslmech=EXTERNAL starttls=critical {tls}
olcDbRebindAsUser: FALSE
olcDbNetworkTimeout: 1
olcDbTimeout: add=2 delete=2 modify=2 modrdn=2
olcDbKeepalive: 2:2:1
olcDbQuarantine: 5,+
"#,
                        uri = p.uri()
                    )
                })
                .collect();
            (
                String::new(),
                format!("cn=replicator,{BASE_DN}"),
                format!("{stanzas}{refs}olcDbNoSync: TRUE\n"),
                format!(
                    r#"
dn: olcOverlay={{0}}chain,olcDatabase={{-1}}frontend,cn=config
objectClass: olcOverlayConfig
objectClass: olcChainConfig
olcOverlay: {{0}}chain
olcChainReturnError: TRUE
{databases}"#
                ),
                Vec::new(),
            )
        }
    };
    let access: String = counters
        .into_iter()
        .chain(data_access(&root, &admins, &nodes))
        .enumerate()
        .map(|(i, rule)| format!("olcAccess: {{{i}}}{rule}\n"))
        .collect();
    let schema = SCHEMA_LDIF
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            if l == "dn: cn=pigeonair,cn=schema,cn=config" {
                "dn: cn={5}pigeonair,cn=schema,cn=config".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let text = format!(
        r#"# Written by pigeonair-install: slapd's cn=config. Edits are replaced on the next apply.
dn: cn=config
objectClass: olcGlobal
cn: config
olcArgsFile: /run/slapd/slapd.args
olcPidFile: /run/slapd/slapd.pid
olcLogLevel: none
olcDisallows: bind_anon
olcRequires: authc
olcTLSCertificateFile: {CLUSTER_CERT}
olcTLSCertificateKeyFile: {CLUSTER_KEY}
olcTLSCACertificateFile: {CLUSTER_CA_CERT}
olcTLSVerifyClient: try
olcTLSProtocolMin: 3.3
olcAuthzRegexp: {{0}}"^cn=([^,=]+)$" "cn=$1,{NODES_DN}"
{server_id}olcPasswordCryptSaltFormat: $6$%.16s

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: {{0}}back_mdb
olcModuleLoad: {{1}}syncprov
olcModuleLoad: {{2}}back_ldap

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif

include: file:///etc/ldap/schema/cosine.ldif

include: file:///etc/ldap/schema/nis.ldif

include: file:///etc/ldap/schema/inetorgperson.ldif

include: file:///etc/ldap/schema/misc.ldif

{schema}

dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend
olcPasswordHash: {{CRYPT}}
olcSizeLimit: 1000
olcAccess: {{0}}to * by {root} manage by * break
olcAccess: {{1}}to dn.exact="" by * read
olcAccess: {{2}}to dn.base="cn=Subschema" by * read
{chain}
dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcRootDN: {LOCAL_ROOT_DN}
olcAccess: {{0}}to * by {root} manage by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: {BASE_DN}
olcRootDN: {root_dn}
olcDbDirectory: {SLAPD_DB}
olcDbMaxSize: 4294967296
olcDbIndex: objectClass eq
olcDbIndex: cn eq
olcDbIndex: mail eq,sub
olcDbIndex: mailLocalAddress eq
olcDbIndex: uidNumber eq
olcDbIndex: pigeonairMailboxId eq
olcDbIndex: pigeonairAliasTarget eq
olcDbIndex: pigeonairAccountStatus eq
olcDbIndex: mailHost eq
olcDbIndex: pigeonairMoveTo eq
olcDbIndex: pigeonairMoveFrom eq
olcDbIndex: entryCSN eq
olcDbIndex: entryUUID eq
{replica}olcLimits: {{0}}{nodes} size=unlimited time=unlimited
{access}
dn: olcOverlay={{0}}syncprov,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcSyncProvConfig
olcOverlay: {{0}}syncprov
olcSpCheckpoint: 100 1

dn: olcDatabase={{2}}monitor,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{2}}monitor
olcAccess: {{0}}to * by {root} read by * none
"#
    );
    RenderedFile {
        path: SLAPD_LDIF.into(),
        contents: text,
        mode: 0o600,
        owner: "root".into(),
        group: "root".into(),
        unit: Unit::Slapd,
    }
}
