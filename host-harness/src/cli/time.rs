//! `--start-time`: an RFC 3339 timestamp or Unix nanoseconds, read without a date library.

/// Nanoseconds since the Unix epoch for `2026-01-01T00:00:00Z`, `2026-01-01T01:00:00.5+01:00`
/// or `1767225600000000000`.
pub fn parse(text: &str) -> Result<u64, String> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().map_err(|_| format!("{text} is out of range for Unix nanoseconds"));
    }
    rfc3339(text)
        .ok_or_else(|| format!("expected an RFC 3339 time (2026-01-01T00:00:00Z) or Unix nanoseconds, got '{text}'"))
}

fn rfc3339(text: &str) -> Option<u64> {
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = text.get(range)?;
        digits.bytes().all(|b| b.is_ascii_digit()).then(|| digits.parse().ok())?
    };
    let byte = |at: usize| text.as_bytes().get(at).copied();
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let separators = byte(4) == Some(b'-')
        && byte(7) == Some(b'-')
        && matches!(byte(10), Some(b'T' | b't' | b' '))
        && byte(13) == Some(b':')
        && byte(16) == Some(b':');
    if !separators || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut rest = text.get(19..)?;
    let mut nanos = 0i64;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if !(1..=9).contains(&digits) {
            return None;
        }
        let (value, after) = fraction.split_at(digits);
        nanos = value.parse::<i64>().ok()? * 10i64.pow(9 - digits as u32);
        rest = after;
    }
    let offset_seconds = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            let (h, m) = rest.get(1..)?.split_once(':')?;
            if h.len() != 2 || m.len() != 2 {
                return None;
            }
            let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h * 3600 + m * 60)
        }
    };
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    let total = i128::from(seconds) * 1_000_000_000 + i128::from(nanos);
    u64::try_from(total).ok()
}

/// Unix nanoseconds as an RFC 3339 UTC time to the millisecond: `2026-01-01T00:00:01.540Z`.
pub fn format(unix_nanos: u64) -> String {
    let millis = unix_nanos / 1_000_000;
    let (days, ms_of_day) = (millis / 86_400_000, millis % 86_400_000);
    let (year, month, day) = civil_from_days(days as i64);
    let (hour, minute) = (ms_of_day / 3_600_000, ms_of_day / 60_000 % 60);
    let (second, ms) = (ms_of_day / 1000 % 60, ms_of_day % 1000);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{ms:03}Z")
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let m = (month + 9) % 12;
    let day_of_year = (153 * m + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The proleptic Gregorian date of a day since 1970-01-01 (the inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let m = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * m + 2) / 5 + 1;
    let month = if m < 10 { m + 3 } else { m - 9 };
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatted_times_read_back() {
        assert_eq!(format(host_harness::DEFAULT_START_UNIX_NANOS + 1_540_000_000), "2026-01-01T00:00:01.540Z");
        assert_eq!(format(0), "1970-01-01T00:00:00.000Z");
        for text in ["2024-02-29T12:00:00.001Z", "2000-03-01T23:59:59.999Z", "2554-07-21T23:34:33.000Z"] {
            assert_eq!(format(parse(text).unwrap()), text);
        }
    }

    #[test]
    fn rfc3339_and_nanos() {
        assert_eq!(parse("2026-01-01T00:00:00Z"), Ok(host_harness::DEFAULT_START_UNIX_NANOS));
        assert_eq!(parse("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse("2026-01-01T01:00:00.5+01:00"), Ok(host_harness::DEFAULT_START_UNIX_NANOS + 500_000_000));
        assert_eq!(parse("2024-02-29t12:00:00-00:30"), Ok(1_709_209_800_000_000_000));
        assert_eq!(parse("1767225600000000000"), Ok(host_harness::DEFAULT_START_UNIX_NANOS));
        for bad in [
            "",
            "2026-01-01",
            "2026-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2026-01-01T00:00:00",
            "1969-12-31T23:59:59Z",
            "2026-01-01T00:00:00.Z",
            "99999999999999999999",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
