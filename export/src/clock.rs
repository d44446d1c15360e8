//! From the probes' clock to the clocks that traces are read in.
//!
//! Event times come from `bpf_ktime_get_ns`, which is `CLOCK_MONOTONIC`. OTLP wants Unix epoch
//! nanoseconds (`CLOCK_REALTIME`); Perfetto's trace processor lines up clocks from a snapshot of
//! several read at one instant. Both come from [`ClockOffsets::measure`]: it reads MONOTONIC, the
//! other clock, then MONOTONIC again, many times, and keeps the pair whose two MONOTONIC reads
//! are closest together (the least disturbed by preemption), taking the other clock's reading
//! as simultaneous with their midpoint. The offsets are measured once: a clock step during
//! tracing (NTP, `date -s`) is not followed, as OpenTelemetry SDKs do not follow it within a
//! span either.

/// Offsets from `CLOCK_MONOTONIC` to other clocks, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockOffsets {
    /// A `CLOCK_MONOTONIC` reading, the instant the offsets describe.
    pub monotonic_ns: u64,
    /// `CLOCK_REALTIME - CLOCK_MONOTONIC`.
    pub realtime_ns: i128,
    /// `CLOCK_BOOTTIME - CLOCK_MONOTONIC` (time spent suspended).
    pub boottime_ns: i128,
    /// The uncertainty: half the gap between the two MONOTONIC reads around the REALTIME one.
    pub error_ns: u64,
}

/// Reads a clock in nanoseconds.
fn now(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec; the clocks used here always exist on Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// `other - MONOTONIC` from the tightest of `rounds` bracketed reads, with the bracket's
/// midpoint and half-width.
fn offset(other: libc::clockid_t, rounds: usize) -> (i128, u64, u64) {
    let mut best = (0i128, 0u64, u64::MAX);
    for _ in 0..rounds {
        let before = now(libc::CLOCK_MONOTONIC);
        let reading = now(other);
        let after = now(libc::CLOCK_MONOTONIC);
        let gap = after.saturating_sub(before);
        if gap < best.2 {
            let mid = before + gap / 2;
            best = (i128::from(reading) - i128::from(mid), mid, gap);
        }
    }
    (best.0, best.1, best.2.div_ceil(2))
}

impl ClockOffsets {
    /// Measures the offsets now (about 100 clock reads: microseconds).
    pub fn measure() -> Self {
        const ROUNDS: usize = 32;
        let (realtime_ns, monotonic_ns, error_ns) = offset(libc::CLOCK_REALTIME, ROUNDS);
        let (boottime_ns, _, _) = offset(libc::CLOCK_BOOTTIME, ROUNDS);
        ClockOffsets {
            monotonic_ns,
            realtime_ns,
            boottime_ns,
            error_ns,
        }
    }

    /// A `CLOCK_MONOTONIC` time as Unix epoch nanoseconds (0 if it would be before 1970).
    pub fn unix_ns(&self, monotonic_ns: u64) -> u64 {
        u64::try_from(i128::from(monotonic_ns) + self.realtime_ns).unwrap_or(0)
    }

    /// A `CLOCK_MONOTONIC` time on `CLOCK_BOOTTIME`.
    pub fn boottime_ns(&self, monotonic_ns: u64) -> u64 {
        u64::try_from(i128::from(monotonic_ns) + self.boottime_ns).unwrap_or(0)
    }
}

/// `CLOCK_MONOTONIC` now, the clock of the probes' timestamps.
pub fn monotonic_now() -> u64 {
    now(libc::CLOCK_MONOTONIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realtime_agrees_with_the_system_clock() {
        let c = ClockOffsets::measure();
        assert!(c.error_ns < 1_000_000, "bracket of {} ns", c.error_ns);
        let unix = c.unix_ns(monotonic_now());
        let system = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        // Read one after the other: within a millisecond.
        assert!(system.abs_diff(unix) < 1_000_000, "{system} vs {unix}");
        assert!(c.boottime_ns >= 0);
    }
}
