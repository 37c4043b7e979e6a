//! A sort for kernel stacks.  core's `sort_unstable` keeps scratch buffers
//! on the stack at every level of its recursion: fine in userspace, more
//! than a 16 KiB kernel stack holds for a large directory.  This is a
//! bottom-up merge sort: no recursion, one heap buffer (fallible), stable.

use crate::Result;
use alloc::vec::Vec;
use core::cmp::Ordering;

/// Sort `v` by `cmp`, stably, using a heap buffer of `v.len()` elements.
pub fn merge_sort_by<T: Copy, F: FnMut(&T, &T) -> Ordering>(v: &mut [T], mut cmp: F) -> Result<()> {
    let n = v.len();
    if n < 2 {
        return Ok(());
    }
    let mut buf: Vec<T> = Vec::new();
    buf.try_reserve_exact(n)?;
    buf.extend_from_slice(v);
    let mut width = 1usize;
    // Alternate between `v` and `buf` as source; `in_v` tells where the
    // current runs are.
    let mut in_v = true;
    while width < n {
        {
            let (src, dst): (&[T], &mut [T]) = if in_v { (&*v, &mut buf[..]) } else { (&buf[..], &mut *v) };
            let mut start = 0;
            while start < n {
                let mid = start.saturating_add(width).min(n);
                let end = start.saturating_add(width.saturating_mul(2)).min(n);
                merge(src, dst, start, mid, end, &mut cmp);
                start = end;
            }
        }
        in_v = !in_v;
        width = width.saturating_mul(2);
    }
    if !in_v {
        v.copy_from_slice(&buf);
    }
    Ok(())
}

/// Merge src[start..mid] and src[mid..end] into dst[start..end].
fn merge<T: Copy, F: FnMut(&T, &T) -> Ordering>(src: &[T], dst: &mut [T], start: usize, mid: usize, end: usize, cmp: &mut F) {
    let (mut i, mut j) = (start, mid);
    for k in start..end {
        let take_left = match (src.get(i), src.get(j)) {
            (Some(a), Some(b)) if i < mid && j < end => cmp(b, a) != Ordering::Less,
            _ => i < mid,
        };
        let from = if take_left { i } else { j };
        if let (Some(d), Some(s)) = (dst.get_mut(k), src.get(from)) {
            *d = *s;
        }
        if take_left {
            i += 1;
        } else {
            j += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_like_std_and_is_stable() {
        let mut seed = 12345u64;
        for n in [0usize, 1, 2, 3, 7, 64, 1000, 4097] {
            let mut v: Vec<(u32, u32)> = (0..n)
                .map(|i| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    ((seed % 50) as u32, i as u32)
                })
                .collect();
            let mut want = v.clone();
            want.sort_by(|a, b| a.0.cmp(&b.0)); // std's sort is stable
            merge_sort_by(&mut v, |a, b| a.0.cmp(&b.0)).unwrap();
            assert_eq!(v, want, "n={n}");
        }
    }
}
