//! An answers file embedded in the install medium (`pigeonair-image iso --answers FILE`),
//! checked when the medium is built: by the answers file's own validator (a joining node's
//! token parsed as a `pigeonair_join::Token`, as the installer does) and the part of `[disk]`
//! that does not depend on the machine it installs. The rest of `[disk]` (does the disk exist,
//! is it big enough) and the interfaces are checked by the installer on the machine. Pure.

use pigeonair_appliance::AnswersError;
use pigeonair_appliance::answers::{parse_raw, validate, validate_join};
use pigeonair_appliance::disk::check_disk_fields;
use pigeonair_join::Token;

/// An answers file fit to be embedded in the install medium.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedAnswers {
    text: String,
}

impl EmbeddedAnswers {
    /// Checks `text` as a whole; every problem names its field.
    pub fn try_new(text: &str) -> Result<EmbeddedAnswers, AnswersError> {
        let raw = parse_raw(text)?;
        let mut problems = match raw.cluster.join {
            None => validate(&raw).err(),
            Some(_) => validate_join(&raw, &|t| {
                t.parse::<Token>().map(drop).map_err(|e| e.to_string())
            })
            .err(),
        }
        .map(|e| match e {
            AnswersError::Invalid(p) => Ok(p),
            syntax => Err(syntax),
        })
        .transpose()?
        .unwrap_or_default();
        problems.extend(check_disk_fields(raw.disk.as_ref()));
        if !problems.is_empty() {
            return Err(AnswersError::Invalid(problems));
        }
        Ok(EmbeddedAnswers {
            text: text.to_owned(),
        })
    }

    /// The file's text, as written.
    pub fn text(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "[cluster]\nname = \"pigeon\"\n\n[mail]\ndomain = \"example.com\"\n\n\
        [node]\nhostname = \"mx1.example.com\"\n\n[network]\ndns = [\"10.0.2.3\"]\n\n\
        [network.public]\ninterface = \"ens5\"\naddress = \"10.0.2.15/24\"\n\n\
        [network.private]\ninterface = \"ens6\"\naddress = \"10.42.0.11/24\"\n\n\
        [admin]\npassword = \"dk-install-secret-1\"\n\n";

    #[test]
    fn a_complete_file_is_embedded_as_written() {
        let text = format!("{GOOD}[disk]\ndevice = \"/dev/vda\"\n");
        assert_eq!(EmbeddedAnswers::try_new(&text).unwrap().text(), text);
    }

    #[test]
    fn problems_name_their_fields() {
        let text = GOOD.replace("mx1.example.com", "mx1") + "[disk]\nvmail_size = \"1X\"\n";
        let e = EmbeddedAnswers::try_new(&text).unwrap_err().to_string();
        assert!(e.contains("node.hostname: "), "{e}");
        assert!(
            e.contains(
                "disk.vmail_size: \"1X\": expected a size such as \"20G\" or \"512M\"\n\
                 disk.device: missing: the install erases one whole disk"
            ),
            "{e}"
        );
        assert!(
            EmbeddedAnswers::try_new("[cluster\n")
                .unwrap_err()
                .to_string()
                .contains("TOML parse error")
        );
    }

    #[test]
    fn a_join_token_is_parsed() {
        let text = "[cluster]\njoin = \"not-a-token\"\n[node]\nhostname = \"mx2.example.com\"\n\
                    [network.public]\ninterface = \"ens5\"\naddress = \"10.0.2.16/24\"\n\
                    [network.private]\ninterface = \"ens6\"\naddress = \"10.42.0.12/24\"\n\
                    [disk]\ndevice = \"/dev/vda\"\n";
        let e = EmbeddedAnswers::try_new(text).unwrap_err().to_string();
        assert!(e.starts_with("cluster.join: "), "{e}");
    }
}
