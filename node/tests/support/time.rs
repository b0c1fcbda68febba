//! Wall-clock helpers for tests: the `server-time` form `YYYY-MM-DDThh:mm:ss.sssZ` both ways and
//! Unix milliseconds now.
//!
//! Written here rather than borrowed from the server's crates, so a shared bug in time handling
//! cannot make a history or replay test agree with itself.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    u64::try_from(since.as_millis()).expect("milliseconds fit in u64")
}

/// `YYYY-MM-DDThh:mm:ss.sssZ` (UTC) for a Unix time in milliseconds.
pub fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let days = i64::try_from(secs / 86_400).expect("days fit in i64");
    let (year, month, day) = date_of_day(days);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        ms % 1000
    )
}

/// Unix milliseconds of a `server-time` value; a value of another shape fails the test.
pub fn parse_server_time(value: &str) -> u64 {
    let field = |range: std::ops::Range<usize>| -> u64 {
        value
            .get(range)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not a server-time value: {value:?}"))
    };
    assert!(
        super::is_server_time(value),
        "not a server-time value: {value:?}"
    );
    let days = day_of_date(
        i64::try_from(field(0..4)).expect("year fits"),
        field(5..7),
        field(8..10),
    );
    let days = u64::try_from(days).unwrap_or_else(|_| panic!("server-time before 1970: {value}"));
    ((days * 24 + field(11..13)) * 60 + field(14..16)) * 60_000
        + field(17..19) * 1000
        + field(20..23)
}

/// Days since 1970-01-01 to a (proleptic Gregorian) date, after Howard Hinnant's `civil_from_days`.
fn date_of_day(days: i64) -> (i64, u64, u64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let as_u64 = |v: i64| u64::try_from(v).expect("positive date field");
    (year, as_u64(month), as_u64(day))
}

/// A date to days since 1970-01-01, the inverse of [`date_of_day`].
fn day_of_date(year: i64, month: u64, day: u64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = i64::try_from((month + 9) % 12).expect("month fits");
    let doy = (153 * mp + 2) / 5 + i64::try_from(day).expect("day fits") - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}
