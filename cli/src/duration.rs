//! Durations in Go's syntax (`time.ParseDuration`): a sequence of decimal numbers, each with
//! an optional fraction and a unit (`ns`, `us` or `µs`, `ms`, `s`, `m`, `h`), as in `300ms`,
//! `1.5s` or `1h30m`. The limit is Go's: 2^63-1 nanoseconds.

use std::time::Duration;

/// Nanoseconds per unit.
fn unit_ns(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// Parses a Go duration. Negative durations are refused (a time limit cannot be negative);
/// zero is given back as zero, for the caller to judge.
pub fn parse(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration (Go syntax: 300ms, 1.5s, 1h30m)");
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    if rest.starts_with('-') {
        return Err(format!("{text:?}: a duration cannot be negative"));
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (int, after) = rest.split_at(int_len);
        let (frac, after) = match after.strip_prefix('.') {
            Some(a) => {
                let n = a.find(|c: char| !c.is_ascii_digit()).unwrap_or(a.len());
                a.split_at(n)
            }
            None => ("", after),
        };
        if int.is_empty() && frac.is_empty() {
            return Err(bad());
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        if unit.is_empty() {
            return Err(format!("{text:?}: missing unit (ns, us, ms, s, m, h)"));
        }
        let per = unit_ns(unit).ok_or_else(|| {
            format!("{text:?}: unknown unit {unit:?} (use ns, us, ms, s, m or h)")
        })?;
        let too_long = || format!("{text:?}: too long (at most 2562047h47m16.854775807s)");
        let whole: u128 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| too_long())?
        };
        // Digits past nanosecond precision cannot matter: keep at most 18 (the unit is at
        // most 3.6e12 ns, so 18 digits of fraction times the unit fit in u128).
        let frac = frac.get(..frac.len().min(18)).unwrap_or(frac);
        let frac_ns = if frac.is_empty() {
            0
        } else {
            let digits: u128 = frac.parse().map_err(|_| bad())?;
            digits * per / 10u128.pow(frac.len() as u32)
        };
        total = whole
            .checked_mul(per)
            .and_then(|v| v.checked_add(frac_ns))
            .and_then(|v| v.checked_add(total))
            .filter(|v| *v <= i64::MAX as u128)
            .ok_or_else(too_long)?;
        rest = after;
    }
    Ok(Duration::from_nanos(total as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_syntax() {
        let ok = |s: &str| parse(s).unwrap();
        assert_eq!(ok("1h30m"), Duration::from_secs(5400));
        assert_eq!(ok("1.5s"), Duration::from_millis(1500));
        assert_eq!(ok("300ms"), Duration::from_millis(300));
        assert_eq!(ok("10us"), Duration::from_micros(10));
        assert_eq!(ok("10µs"), Duration::from_micros(10));
        assert_eq!(ok("10μs"), Duration::from_micros(10));
        assert_eq!(ok("7ns"), Duration::from_nanos(7));
        assert_eq!(ok(".5m"), Duration::from_secs(30));
        assert_eq!(ok("2.m"), Duration::from_secs(120));
        assert_eq!(ok("1h2m3s4ms5us6ns"), Duration::new(3723, 4_005_006));
        assert_eq!(ok("+2s"), Duration::from_secs(2));
        assert_eq!(ok("0"), Duration::ZERO);
        assert_eq!(ok("0s"), Duration::ZERO);
        // Go truncates below a nanosecond.
        assert_eq!(ok("1.0000000019s"), Duration::new(1, 1));
        assert_eq!(ok("2562047h47m16.854775807s").as_nanos(), i64::MAX as u128);
        for bad in [
            "",
            "s",
            "10",
            "1.5",
            "5x",
            "1h30",
            "-1s",
            ".s",
            "1..5s",
            "2562047h47m16.854775808s",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse("10").unwrap_err().contains("missing unit"));
        assert!(parse("5d").unwrap_err().contains("unknown unit"));
    }
}
