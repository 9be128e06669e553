//! A line's time, in UTC: `10/Oct/2000:13:55:36 +0000` for the combined format, RFC
//! 3339 (`2000-10-10T13:55:36.29335Z`, as the `time` crate writes it) for JSON.
//!
//! Internal: turning seconds into a calendar date costs more than the rest of a line,
//! and a thread writes many lines within the same second, so each thread keeps the
//! text of the last second it wrote; only the fraction of JSON times changes within it.

use std::cell::Cell;
use std::time::Duration;

use time::{OffsetDateTime, PrimitiveDateTime};

/// `10/Oct/2000:13:55:36 +0000` for `unix` seconds since the Unix epoch.
pub(super) fn clf(unix: u64) -> [u8; 26] {
    second(unix).clf
}

/// Appends a time since the Unix epoch in RFC 3339, as the `time` crate writes it: nine
/// digits of fraction with the trailing zeros dropped, none when it is zero.
pub(super) fn push_rfc3339(out: &mut Vec<u8>, since_epoch: Duration) {
    out.extend_from_slice(&second(since_epoch.as_secs()).rfc3339);
    let nanos = since_epoch.subsec_nanos();
    if nanos != 0 {
        let mut fraction = *b".000000000";
        let mut rest = nanos;
        for digit in fraction[1..].iter_mut().rev() {
            // A digit: < 10.
            *digit = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        // Without the trailing zeros (the dot is not one).
        let len = fraction
            .iter()
            .rposition(|&c| c != b'0')
            .map_or(0, |last| last + 1);
        out.extend_from_slice(fraction.get(..len).unwrap_or_default());
    }
    out.push(b'Z');
}

/// One second's text in both formats.
#[derive(Clone, Copy)]
struct Second {
    /// Seconds since the Unix epoch; `u64::MAX` in a thread's first value, whose text
    /// is a placeholder.
    unix: u64,
    /// `10/Oct/2000:13:55:36 +0000`
    clf: [u8; 26],
    /// `2000-10-10T13:55:36`
    rfc3339: [u8; 19],
}

thread_local! {
    // Internal: a `Copy` value in a `Cell`: no destructor to register, no borrow that
    // could fail, so `get` and `set` cannot panic.
    static LAST: Cell<Second> = const {
        Cell::new(Second {
            unix: u64::MAX,
            clf: [0; 26],
            rfc3339: [0; 19],
        })
    };
}

/// The text of second `unix`: the thread's last one, else formatted now.
fn second(unix: u64) -> Second {
    let last = LAST.get();
    if last.unix == unix {
        return last;
    }
    let second = Second::new(unix);
    LAST.set(second);
    second
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

impl Second {
    fn new(unix: u64) -> Second {
        // Past the year 9999, which `time` cannot show, a line shows its last second.
        let time = i64::try_from(unix)
            .ok()
            .and_then(|unix| OffsetDateTime::from_unix_timestamp(unix).ok())
            .unwrap_or(PrimitiveDateTime::MAX.assume_utc());
        let (year, month, day) = time.to_calendar_date();
        let (hour, minute, second) = time.to_hms();
        // From 1970 (`unix` is unsigned) to 9999: four digits.
        let year = digits::<4>(year.unsigned_abs());
        let (day, hour, minute, second) = (
            digits::<2>(day.into()),
            digits::<2>(hour.into()),
            digits::<2>(minute.into()),
            digits::<2>(second.into()),
        );

        let mut clf = *b"dd/Mon/yyyy:hh:mm:ss +0000";
        clf[0..2].copy_from_slice(&day);
        // `Month` is 1 to 12.
        clf[3..6].copy_from_slice(MONTHS[usize::from(u8::from(month)) - 1]);
        clf[7..11].copy_from_slice(&year);
        clf[12..14].copy_from_slice(&hour);
        clf[15..17].copy_from_slice(&minute);
        clf[18..20].copy_from_slice(&second);

        let mut rfc3339 = *b"yyyy-mm-ddThh:mm:ss";
        rfc3339[0..4].copy_from_slice(&year);
        rfc3339[5..7].copy_from_slice(&digits::<2>(u8::from(month).into()));
        rfc3339[8..10].copy_from_slice(&day);
        rfc3339[11..13].copy_from_slice(&hour);
        rfc3339[14..16].copy_from_slice(&minute);
        rfc3339[17..19].copy_from_slice(&second);

        Second { unix, clf, rfc3339 }
    }
}

/// The last `N` decimal digits of `n`, zero-padded.
fn digits<const N: usize>(mut n: u32) -> [u8; N] {
    let mut out = [b'0'; N];
    for digit in out.iter_mut().rev() {
        // A digit: < 10.
        *digit = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    use time::OffsetDateTime;

    use super::*;

    /// Both formats, against the `time` crate's own formatting, on seconds spread over
    /// the years and fractions of every length.
    #[test]
    fn the_text_is_what_time_writes() {
        let clf_format = format_description!(
            "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] [offset_hour sign:mandatory][offset_minute]"
        );
        let fractions = [0, 1, 10, 120, 293_350_000, 999_999_999, 500_000_000];
        let mut unix = 0u64;
        for (i, nanos) in (0..4000).zip(fractions.iter().cycle()) {
            let since_epoch = Duration::new(unix, *nanos);
            let time = OffsetDateTime::from(SystemTime::UNIX_EPOCH + since_epoch);

            let clf = clf(unix);
            let expected = time.format(clf_format).unwrap();
            assert_eq!(std::str::from_utf8(&clf).unwrap(), expected);

            let mut rfc3339 = Vec::new();
            push_rfc3339(&mut rfc3339, since_epoch);
            let expected = time.format(&Rfc3339).unwrap();
            assert_eq!(String::from_utf8(rfc3339).unwrap(), expected);

            // Seconds, days and years of all sizes, leap years included.
            unix += 86_399 * 7 + 3_599 * (i % 13) + 59 * (i % 7);
        }
        assert_eq!(&clf(253_402_300_799), b"31/Dec/9999:23:59:59 +0000");
        assert_eq!(&clf(u64::MAX - 1), b"31/Dec/9999:23:59:59 +0000");
    }
}
