//! Filling `{{NAME}}` fields of the configuration templates in `templates/` (files that
//! were verified against the real daemons, kept as they are read).

/// `template` with each `{{NAME}}` replaced by its value. Panics if a field has no
/// value: templates are compiled in, and a golden test renders every one.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("{{{{{name}}}}}"), value);
    }
    if let Some(start) = out.find("{{") {
        let end = out[start..].find("}}").map_or(out.len(), |e| start + e + 2);
        panic!("template field {} has no value", &out[start..end]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_every_field() {
        assert_eq!(
            fill("a={{A}} b={{B}} a={{A}}", &[("A", "1"), ("B", "2")]),
            "a=1 b=2 a=1"
        );
    }

    #[test]
    #[should_panic(expected = "{{C}}")]
    fn a_missing_value_is_a_bug() {
        fill("{{C}}", &[("A", "1")]);
    }
}
