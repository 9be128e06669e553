//! Smooth weighted round-robin, precomputed.
//!
//! Internal: nginx's algorithm keeps a `current` weight per backend and updates all of
//! them under a lock on every pick. Its output is periodic (one period is the sum of
//! the weights), so the period is computed once here and the request path only indexes
//! it with an atomic counter: same sequence, no lock.

/// Longest sequence kept; larger weight sums are scaled down to fit (each weight stays
/// at least 1), which keeps the ratios to within a fraction of a percent.
const MAX_LEN: u64 = 4096;

/// One period of nginx's smooth weighted round-robin over `weights`, as indices into
/// `weights`. Weights are reduced by their gcd first (10/10 → 1/1); zero weights never
/// appear. Empty if every weight is 0.
pub(super) fn sequence(weights: &[u32]) -> Vec<u32> {
    let divisor = weights.iter().fold(0, |g, &w| gcd(g, u64::from(w)));
    if divisor == 0 {
        return Vec::new();
    }
    let mut weights: Vec<u64> = weights.iter().map(|&w| u64::from(w) / divisor).collect();
    let mut total: u64 = weights.iter().sum();
    if total > MAX_LEN {
        for w in weights.iter_mut().filter(|w| **w > 0) {
            *w = (*w * MAX_LEN / total).max(1);
        }
        total = weights.iter().sum();
    }
    let mut current = vec![0i64; weights.len()];
    let mut sequence = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    // Weights are at most MAX_LEN here, so they fit i64 with room to spare.
    let signed = |w: u64| i64::try_from(w).unwrap_or(i64::MAX);
    for _ in 0..total {
        let mut best = 0;
        for (i, &w) in weights.iter().enumerate() {
            current[i] += signed(w);
            // Strict `>`: on a tie the earlier backend wins, as in nginx.
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= signed(total);
        // Indices of a backend list, which is far shorter than u32::MAX.
        sequence.push(u32::try_from(best).unwrap_or(u32::MAX));
    }
    sequence
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}
