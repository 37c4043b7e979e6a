//! Test-case minimisation by delta debugging: remove chunks of the failing
//! operation list (halves, quarters, ...), then single operations, keeping a
//! candidate whenever it still fails.  Every candidate costs one re-run from
//! a fresh setup, so the number of re-runs (and optionally the time) is
//! bounded.

use std::time::Instant;

/// Result of a minimisation.
#[derive(Debug, Clone)]
pub struct Shrunk<T> {
    pub items: Vec<T>,
    /// Re-runs (predicate calls) spent.
    pub runs: usize,
    /// Whether the run or time budget ran out before a fixed point.
    pub budget_exhausted: bool,
}

/// Minimises `items` (which must fail) under `still_fails`, calling it at
/// most `max_runs` times and not starting a call after `deadline`.  The
/// result still fails (or is `items` unchanged).
pub fn shrink<T: Clone>(
    items: Vec<T>,
    max_runs: usize,
    deadline: Option<Instant>,
    mut still_fails: impl FnMut(&[T]) -> bool,
) -> Shrunk<T> {
    let mut cur = items;
    let mut runs = 0usize;
    let mut out_of_time = false;
    let mut budget_left = |runs: usize| {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            out_of_time = true;
        }
        runs < max_runs && !out_of_time
    };
    let mut try_candidate = |cand: &[T], runs: &mut usize| -> bool {
        *runs += 1;
        still_fails(cand)
    };

    // Phase 1: ddmin-style chunk removal with growing granularity.
    let mut n = 2usize;
    while cur.len() >= 2 && budget_left(runs) {
        let chunk = cur.len().div_ceil(n);
        let mut reduced = false;
        let mut start = 0;
        while start < cur.len() && budget_left(runs) {
            let end = (start + chunk).min(cur.len());
            let cand: Vec<T> = cur[..start]
                .iter()
                .chain(cur[end..].iter())
                .cloned()
                .collect();
            if try_candidate(&cand, &mut runs) {
                cur = cand;
                reduced = true;
                break;
            }
            start = end;
        }
        if reduced {
            n = (n - 1).max(2);
        } else if chunk <= 1 {
            break;
        } else {
            n = (n * 2).min(cur.len());
        }
    }

    // Phase 2: single-operation removal until a fixed point (from the end,
    // where later operations are more often irrelevant setup leftovers).
    let mut changed = true;
    while changed && budget_left(runs) {
        changed = false;
        let mut i = cur.len();
        while i > 0 && budget_left(runs) {
            i -= 1;
            if i >= cur.len() {
                continue;
            }
            let mut cand = cur.clone();
            cand.remove(i);
            if try_candidate(&cand, &mut runs) {
                cur = cand;
                changed = true;
            }
        }
    }
    let budget_exhausted = !budget_left(runs);
    Shrunk {
        items: cur,
        runs,
        budget_exhausted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_two_culprits() {
        let items: Vec<u32> = (0..100).collect();
        let r = shrink(items, 500, None, |c| c.contains(&17) && c.contains(&63));
        assert_eq!(r.items, vec![17, 63]);
        assert!(!r.budget_exhausted);
    }

    #[test]
    fn order_dependent_failure() {
        // Fails when 5 comes before 9 (e.g. create then unlink).
        let items: Vec<u32> = (0..40).collect();
        let r = shrink(items, 500, None, |c| {
            let a = c.iter().position(|&x| x == 5);
            let b = c.iter().position(|&x| x == 9);
            matches!((a, b), (Some(a), Some(b)) if a < b)
        });
        assert_eq!(r.items, vec![5, 9]);
    }

    #[test]
    fn respects_budget() {
        let items: Vec<u32> = (0..1000).collect();
        let mut calls = 0;
        let r = shrink(items, 10, None, |c| {
            calls += 1;
            c.contains(&999)
        });
        assert!(calls <= 10);
        assert!(r.runs <= 10);
        assert!(r.items.contains(&999));
        assert!(r.budget_exhausted);
    }

    #[test]
    fn respects_deadline() {
        let items: Vec<u32> = (0..1000).collect();
        let r = shrink(items, 1000, Some(Instant::now()), |_| {
            panic!("called after the deadline")
        });
        assert_eq!(r.runs, 0);
        assert_eq!(r.items.len(), 1000);
        assert!(r.budget_exhausted);
    }
}
