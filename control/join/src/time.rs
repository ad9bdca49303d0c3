//! Times as the directory stores them (GeneralizedTime, UTC: `20261201121500Z`) and token
//! lifetimes as operators write them (`90s`, `30m`, `1h`, `7d`).

/// The longest a token may live: a week.
pub const MAX_TTL_SECS: u64 = 7 * 24 * 3600;

/// `unix` seconds as GeneralizedTime in UTC.
pub fn to_generalized(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// GeneralizedTime `YYYYMMDDHHMMSSZ` (as [`to_generalized`] writes it) as unix seconds.
pub fn from_generalized(s: &str) -> Option<u64> {
    let digits = s.strip_suffix('Z')?;
    if digits.len() != 14 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| digits[r].parse::<i64>().ok();
    let (y, mo, d, h, mi, se) = (
        n(0..4)?,
        n(4..6)?,
        n(6..8)?,
        n(8..10)?,
        n(10..12)?,
        n(12..14)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    u64::try_from(days * 86_400 + h * 3600 + mi * 60 + se).ok()
}

/// A token lifetime: a number and a unit (`s`, `m`, `h`, `d`), at most [`MAX_TTL_SECS`].
pub fn parse_ttl(s: &str) -> Result<u64, String> {
    let bad = || {
        format!("--ttl {s:?}: give a number and a unit, s m h or d (90s, 30m, 1h, 7d), at most 7d")
    };
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n.checked_mul(60).ok_or_else(bad)?,
        "h" => n.checked_mul(3600).ok_or_else(bad)?,
        "d" => n.checked_mul(86_400).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    if secs == 0 || secs > MAX_TTL_SECS {
        return Err(bad());
    }
    Ok(secs)
}

// Howard Hinnant's civil-date algorithms (proleptic Gregorian, days since 1970-01-01).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(to_generalized(0), "19700101000000Z");
        // date -u -d @1796125500 +%Y%m%d%H%M%SZ
        assert_eq!(to_generalized(1_796_125_500), "20261201114500Z");
        assert_eq!(to_generalized(951_782_400), "20000229000000Z");
    }

    #[test]
    fn round_trips() {
        for t in [0, 59, 86_399, 951_782_400, 1_796_125_500, 4_102_444_800] {
            assert_eq!(from_generalized(&to_generalized(t)), Some(t), "{t}");
        }
        for bad in [
            "2026120112050Z",
            "20261301120500Z",
            "20261201120500",
            "2026120112050xZ",
        ] {
            assert_eq!(from_generalized(bad), None, "{bad}");
        }
    }

    #[test]
    fn ttls() {
        assert_eq!(parse_ttl("90s"), Ok(90));
        assert_eq!(parse_ttl("30m"), Ok(1800));
        assert_eq!(parse_ttl("1h"), Ok(3600));
        assert_eq!(parse_ttl("7d"), Ok(MAX_TTL_SECS));
        for bad in [
            "",
            "h",
            "1",
            "0h",
            "8d",
            "1w",
            "-1h",
            "1.5h",
            "99999999999999999999d",
        ] {
            let e = parse_ttl(bad).unwrap_err();
            assert!(e.starts_with("--ttl"), "{bad}: {e}");
        }
    }
}
