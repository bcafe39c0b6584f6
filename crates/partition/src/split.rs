//! The block split of the workspace: `n` items over `parts` ranks, as evenly
//! as possible, the remainder to the first ranks (QUICKLB's split, MPI-IO's
//! row slabs, the stencil decomposition and the demos all use this one).

use std::ops::Range;

/// The `index`-th of `parts` near-equal blocks of `0..n`: block `r` has
/// `n / parts` items plus one more if `r < n % parts`.
///
/// Panics if `parts == 0` or `index >= parts`.
///
/// ```
/// use quicklb_partition::even_block;
/// assert_eq!(even_block(10, 3, 0), 0..4);
/// assert_eq!(even_block(10, 3, 1), 4..7);
/// assert_eq!(even_block(10, 3, 2), 7..10);
/// assert_eq!(even_block(2, 3, 2), 2..2); // more parts than items: empty blocks last
/// ```
pub fn even_block(n: usize, parts: usize, index: usize) -> Range<usize> {
    assert!(
        parts > 0 && index < parts,
        "even_block: index {index} of {parts} parts"
    );
    let (base, extra) = (n / parts, n % parts);
    // index * base <= n, so nothing here overflows.
    let start = index * base + index.min(extra);
    start..start + base + usize::from(index < extra)
}

/// The block of [`even_block`] that holds item `item`.
///
/// Panics if `parts == 0` or `item >= n`.
///
/// ```
/// use quicklb_partition::{even_block, even_block_owner};
/// for item in 0..10 {
///     assert!(even_block(10, 3, even_block_owner(10, 3, item)).contains(&item));
/// }
/// ```
pub fn even_block_owner(n: usize, parts: usize, item: usize) -> usize {
    assert!(
        parts > 0 && item < n,
        "even_block_owner: item {item} of {n} in {parts} parts"
    );
    let (base, extra) = (n / parts, n % parts);
    let big = extra * (base + 1);
    if item < big {
        item / (base + 1)
    } else {
        extra + (item - big) / base
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_tile_the_range_and_owners_invert_them() {
        for n in 0..40 {
            for parts in 1..9 {
                let mut next = 0;
                for index in 0..parts {
                    let b = even_block(n, parts, index);
                    assert_eq!(b.start, next);
                    assert!(b.len() == n / parts || b.len() == n / parts + 1);
                    assert_eq!(b.len() > n / parts, index < n % parts);
                    for item in b.clone() {
                        assert_eq!(even_block_owner(n, parts, item), index);
                    }
                    next = b.end;
                }
                assert_eq!(next, n);
            }
        }
        let last = even_block(usize::MAX, 7, 6);
        assert_eq!(last.end, usize::MAX);
    }
}
