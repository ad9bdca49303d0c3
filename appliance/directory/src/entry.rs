//! Reading search entries and building what adds and modifies take.

use std::collections::HashSet;

use ldap3::SearchEntry;
use pigeonair_appliance::directory::Entry;

/// An entry's attributes as an add takes them: `(attribute, values)`.
pub type Attrs = Vec<(String, HashSet<String>)>;

/// The first value of `attr` (an entry's only one, for a single-valued attribute), if it has
/// one. The name is as the search asked for it.
pub fn first<'a>(entry: &'a SearchEntry, attr: &str) -> Option<&'a str> {
    entry
        .attrs
        .get(attr)
        .and_then(|v| v.first())
        .map(String::as_str)
}

/// Every value of `attr`, in the order the server sent them (none if it has none).
pub fn values<'a>(entry: &'a SearchEntry, attr: &str) -> &'a [String] {
    entry.attrs.get(attr).map(Vec::as_slice).unwrap_or_default()
}

/// Every value of `attr`, sorted: LDAP values have no order, and what is printed or compared
/// should not depend on the server's.
pub fn sorted_values(entry: &SearchEntry, attr: &str) -> Vec<String> {
    let mut v = values(entry, attr).to_vec();
    v.sort();
    v
}

/// The set of values an add or a [`Mod`](ldap3::Mod) takes.
pub fn value_set(values: &[&str]) -> HashSet<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

/// The attributes of one of the directory design's entries (the seed's), as an add takes them.
pub fn attrs(entry: &Entry) -> Attrs {
    entry
        .attrs
        .iter()
        .map(|(name, values)| (name.clone(), values.iter().cloned().collect()))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn user() -> SearchEntry {
        SearchEntry {
            dn: "mail=a@example.com,ou=users,cn=example.com,ou=domains,o=pigeonair".into(),
            attrs: HashMap::from([
                ("mail".to_string(), vec!["a@example.com".to_string()]),
                (
                    "pigeonairEnabledService".to_string(),
                    vec!["smtp".to_string(), "imap".to_string(), "pop3".to_string()],
                ),
            ]),
            bin_attrs: HashMap::new(),
        }
    }

    #[test]
    fn first_value_or_none() {
        let e = user();
        assert_eq!(first(&e, "mail"), Some("a@example.com"));
        assert_eq!(first(&e, "pigeonairEnabledService"), Some("smtp"));
        assert_eq!(first(&e, "cn"), None);
    }

    #[test]
    fn values_as_sent_or_sorted() {
        let e = user();
        assert_eq!(
            values(&e, "pigeonairEnabledService"),
            ["smtp", "imap", "pop3"]
        );
        assert!(values(&e, "cn").is_empty());
        assert_eq!(
            sorted_values(&e, "pigeonairEnabledService"),
            ["imap", "pop3", "smtp"]
        );
        assert!(sorted_values(&e, "cn").is_empty());
    }

    #[test]
    fn value_sets_and_design_entries_become_what_adds_take() {
        assert_eq!(
            value_set(&["a", "b", "a"]),
            HashSet::from(["a".to_string(), "b".to_string()])
        );
        let entry = Entry {
            dn: "ou=nodes,o=pigeonair".into(),
            attrs: vec![
                ("objectClass".into(), vec!["organizationalUnit".into()]),
                ("ou".into(), vec!["nodes".into()]),
            ],
        };
        assert_eq!(
            attrs(&entry),
            vec![
                (
                    "objectClass".to_string(),
                    value_set(&["organizationalUnit"])
                ),
                ("ou".to_string(), value_set(&["nodes"])),
            ]
        );
    }
}
