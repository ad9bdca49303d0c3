//! The last lines of PigeonAir's units in this node's journal: what `GET /v1/journal?lines=N`
//! answers a peer, and what the console shows for the node it runs on (the same [`read`]).

use std::process::Command;

/// Lines given when the request names none.
pub const DEFAULT_LINES: usize = 100;
/// The most lines one request gets.
pub const MAX_LINES: usize = 10_000;

/// The number of lines a request's query (`lines=N`, the part after `?`) asks for: the
/// default without one, refused when not a number from 1 to [`MAX_LINES`]. Pure.
pub fn lines_asked(query: Option<&str>) -> Result<usize, String> {
    let Some(value) = query
        .unwrap_or_default()
        .split('&')
        .find_map(|kv| kv.strip_prefix("lines="))
    else {
        return Ok(DEFAULT_LINES);
    };
    match value.parse::<usize>() {
        Ok(n) if (1..=MAX_LINES).contains(&n) => Ok(n),
        _ => Err(format!("lines={value:?}: ask for 1 to {MAX_LINES} lines")),
    }
}

/// journalctl's arguments for the last `lines` lines of the `pigeonair*` units. Pure.
pub fn journalctl_args(lines: usize) -> Vec<String> {
    [
        "--no-pager",
        "--quiet",
        "-u",
        "pigeonair*",
        "-o",
        "short-iso",
        "-n",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([lines.min(MAX_LINES).to_string()])
    .collect()
}

/// The last `lines` lines of PigeonAir's units here, oldest first (blocking).
pub fn read(lines: usize) -> Result<Vec<String>, String> {
    let out = Command::new("journalctl")
        .args(journalctl_args(lines))
        .output()
        .map_err(|e| format!("journalctl: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "journalctl: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_number_of_lines_asked_for() {
        assert_eq!(lines_asked(None), Ok(DEFAULT_LINES));
        assert_eq!(lines_asked(Some("")), Ok(DEFAULT_LINES));
        assert_eq!(lines_asked(Some("lines=20")), Ok(20));
        assert_eq!(lines_asked(Some("x=1&lines=10000")), Ok(10_000));
        for bad in ["lines=0", "lines=10001", "lines=-3", "lines=ten"] {
            let e = lines_asked(Some(bad)).unwrap_err();
            assert!(e.contains("1 to 10000"), "{bad}: {e}");
        }
    }

    #[test]
    fn journalctl_is_asked_for_pigeonairs_units_only() {
        let args = journalctl_args(50);
        assert_eq!(
            args.join(" "),
            "--no-pager --quiet -u pigeonair* -o short-iso -n 50"
        );
        assert!(journalctl_args(99_999).ends_with(&["10000".to_string()]));
    }
}
