//! `--stats`: one function's totals as the program added them up, and what can be said from
//! its latency histogram.
//!
//! The histogram has four buckets per power of two ([`probe_common::hist_range`]), so a
//! percentile is known to within its bucket: [`FunctionStats::percentile`] gives the bucket's
//! end, an upper bound at most 25% above the true value (and never above the exact maximum).

use probe_common::{hist_range, FnStats, HIST_BUCKETS};

/// One function's totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionStats {
    /// The function's index.
    pub function: usize,
    /// Calls that passed the filters.
    pub calls: u64,
    /// Their returns (calls whose latency was measured).
    pub returns: u64,
    /// Returns with a non-nil error; `None` when the function's last result is not an `error`.
    pub errors: Option<u64>,
    /// Sum of the latencies, in nanoseconds.
    pub total_ns: u64,
    /// The longest latency, in nanoseconds (0 when no call returned).
    pub max_ns: u64,
    /// Returns per bucket.
    pub hist: Vec<u64>,
}

impl FunctionStats {
    /// From the program's totals, each CPU's longest latency, and whether the function returns
    /// an error.
    pub fn new(function: usize, s: &FnStats, max_per_cpu: &[u64], has_error: bool) -> Self {
        FunctionStats {
            function,
            calls: s.calls,
            returns: s.returns,
            errors: has_error.then_some(s.errors),
            total_ns: s.total_ns,
            max_ns: max_per_cpu.iter().copied().max().unwrap_or(0),
            hist: s.hist.to_vec(),
        }
    }

    /// The mean latency in nanoseconds, when a call returned.
    pub fn mean_ns(&self) -> Option<u64> {
        self.total_ns.checked_div(self.returns)
    }

    /// An upper bound of the latency below which `p` (0 to 1) of the returns fall: the end of
    /// the bucket that holds the `ceil(p * n)`-th shortest, or the maximum when that is less.
    pub fn percentile(&self, p: f64) -> Option<u64> {
        let n: u64 = self.hist.iter().sum();
        if n == 0 {
            return None;
        }
        let rank = ((p * n as f64).ceil() as u64).clamp(1, n);
        let mut seen = 0;
        for (b, c) in self.hist.iter().enumerate() {
            seen += c;
            if seen >= rank {
                // The bucket's values are below its end; integers, so at most end - 1.
                let end = hist_range(b).1.saturating_sub(1);
                return Some(end.min(self.max_ns.max(hist_range(b).0)));
            }
        }
        Some(self.max_ns)
    }

    /// The non-empty buckets: `[low, high)` nanoseconds and the count.
    pub fn buckets(&self) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
        self.hist
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(b, c)| {
                let (lo, hi) = hist_range(b);
                (lo, hi, *c)
            })
    }

    /// The histogram by powers of two, as bpftrace's `hist()` shows it: `[2^k, 2^(k+1))` (and
    /// `[0, 1)`), from the first non-empty one to the last, empty ones between included.
    pub fn log2(&self) -> Vec<(u64, u64, u64)> {
        let mut octaves: Vec<(u64, u64, u64)> = Vec::new();
        for (b, c) in self.hist.iter().enumerate().take(HIST_BUCKETS) {
            let (lo, _) = hist_range(b);
            let (olo, ohi) = if lo == 0 {
                (0, 1)
            } else {
                let k = 63 - lo.leading_zeros();
                (1u64 << k, (1u64 << k).saturating_mul(2))
            };
            match octaves.last_mut() {
                Some(last) if last.0 == olo => last.2 += c,
                _ => octaves.push((olo, ohi, *c)),
            }
        }
        let first = octaves.iter().position(|o| o.2 > 0);
        let last = octaves.iter().rposition(|o| o.2 > 0);
        match (first, last) {
            (Some(a), Some(b)) => octaves.get(a..=b).unwrap_or_default().to_vec(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use probe_common::hist_bucket;

    fn stats(latencies: &[u64]) -> FunctionStats {
        let mut s = FnStats::ZERO;
        for &l in latencies {
            s.hist[hist_bucket(l)] += 1;
            s.returns += 1;
            s.calls += 1;
            s.total_ns += l;
        }
        let max = latencies.iter().copied().max().unwrap_or(0);
        FunctionStats::new(0, &s, &[max / 2, max], true)
    }

    #[test]
    fn percentiles_bound_the_true_ones_within_a_bucket() {
        let mut lat: Vec<u64> = (1..=1000).map(|i| i * 1000 + i * i).collect();
        let s = stats(&lat);
        lat.sort_unstable();
        for p in [0.5, 0.9, 0.99, 1.0] {
            let rank = ((p * 1000f64).ceil() as usize).clamp(1, 1000);
            let truth = lat[rank - 1];
            let got = s.percentile(p).unwrap();
            assert!(got >= truth, "p{p}: {got} < {truth}");
            assert!(
                got as f64 <= truth as f64 * 1.25 + 1.0,
                "p{p}: {got} vs {truth}"
            );
        }
        assert_eq!(s.percentile(1.0), Some(s.max_ns));
        assert_eq!(s.mean_ns(), Some(s.total_ns / 1000));
        assert_eq!(s.buckets().map(|b| b.2).sum::<u64>(), 1000);
        let log2 = s.log2();
        assert_eq!(log2.iter().map(|b| b.2).sum::<u64>(), 1000);
        assert!(log2.iter().all(|b| b.1 == 2 * b.0));
        assert_eq!(log2.first().unwrap().0, 512);
        assert_eq!(stats(&[]).percentile(0.5), None);
        assert_eq!(
            stats(&[0, 5]).log2(),
            [(0, 1, 1), (1, 2, 0), (2, 4, 0), (4, 8, 1)]
        );
    }
}
