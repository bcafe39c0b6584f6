//! Dense LU with partial pivoting, in place, row-major, no allocation.

/// Factors the `n × n` row-major `a` into `P A = L U` (unit `L` below the
/// diagonal, `U` above it, and on the diagonal the reciprocals of `U`'s
/// diagonal, so the solves multiply instead of waiting on divisions);
/// `piv[i]` is the row swapped into row `i`.
/// Returns `false` if a pivot is zero or not finite.
///
/// Columns are eliminated two at a time: the trailing rows get both
/// updates in one pass (each entry loaded and stored once for two columns,
/// where the loads and stores, not the arithmetic, bound the time), in the
/// order of one column at a time, so the bits are those of the plain
/// right-looking elimination.
pub(crate) fn lu_factor(a: &mut [f64], n: usize, piv: &mut [usize]) -> bool {
    let mut c = 0;
    while c + 1 < n {
        // Column c: multipliers, and its update of column c + 1 only.
        let Some(inv) = pivot(a, n, c, piv) else {
            return false;
        };
        let u_next = a[c * n + c + 1];
        for r in c + 1..n {
            let f = a[r * n + c] * inv;
            a[r * n + c] = f;
            if f != 0.0 {
                a[r * n + c + 1] -= f * u_next;
            }
        }
        // Column c + 1 (rows swap whole, with their pending column-c updates).
        let Some(inv_next) = pivot(a, n, c + 1, piv) else {
            return false;
        };
        {
            // Row c + 1 of U: its tail still lacks column c's update.
            let (top, rest) = a.split_at_mut((c + 1) * n);
            let row_c = &top[c * n..(c + 1) * n];
            let row = &mut rest[..n];
            let f = row[c];
            if f != 0.0 {
                for (x, &u) in row[c + 2..].iter_mut().zip(&row_c[c + 2..]) {
                    *x -= f * u;
                }
            }
        }
        let (top, bottom) = a.split_at_mut((c + 2) * n);
        let u1 = &top[c * n + c + 2..(c + 1) * n];
        let u2 = &top[(c + 1) * n + c + 2..(c + 2) * n];
        for row in bottom.chunks_exact_mut(n) {
            let f = row[c];
            let g = row[c + 1] * inv_next;
            row[c + 1] = g;
            let tail = &mut row[c + 2..];
            // A zero multiplier leaves its row as it is.
            match (f != 0.0, g != 0.0) {
                (true, true) => {
                    for ((x, &p1), &p2) in tail.iter_mut().zip(u1).zip(u2) {
                        *x = (*x - f * p1) - g * p2;
                    }
                }
                (true, false) => {
                    for (x, &p1) in tail.iter_mut().zip(u1) {
                        *x -= f * p1;
                    }
                }
                (false, true) => {
                    for (x, &p2) in tail.iter_mut().zip(u2) {
                        *x -= g * p2;
                    }
                }
                (false, false) => {}
            }
        }
        c += 2;
    }
    // An odd last column: nothing below it to eliminate.
    c == n || pivot(a, n, c, piv).is_some()
}

/// Partial pivoting in column `col`: swaps the row with the largest entry
/// into row `col` (`piv[col]`), stores the reciprocal pivot on the diagonal
/// and returns it; `None` if the pivot is zero or not finite.
fn pivot(a: &mut [f64], n: usize, col: usize, piv: &mut [usize]) -> Option<f64> {
    let mut p = col;
    let mut best = a[col * n + col].abs();
    for row in col + 1..n {
        let v = a[row * n + col].abs();
        if v > best {
            best = v;
            p = row;
        }
    }
    if !(best > 0.0 && best.is_finite()) {
        return None;
    }
    piv[col] = p;
    if p != col {
        for j in 0..n {
            a.swap(col * n + j, p * n + j);
        }
    }
    let inv = 1.0 / a[col * n + col];
    a[col * n + col] = inv;
    Some(inv)
}

/// Solves `A x = b` in place with the factors of [`lu_factor`].
pub(crate) fn lu_solve(a: &[f64], n: usize, piv: &[usize], b: &mut [f64]) {
    for i in 0..n {
        b.swap(i, piv[i]);
    }
    // Row-oriented substitutions: contiguous, bounds-check-free inner loops,
    // each dot product summed in four interleaved partial sums (a fixed
    // order, so the bits do not depend on the data): one running sum would
    // make every term wait for the previous addition's latency.
    for i in 1..n {
        let (done, rest) = b.split_at_mut(i);
        rest[0] -= dot(&a[i * n..i * n + i], done);
    }
    for i in (0..n).rev() {
        let row = &a[i * n..(i + 1) * n];
        let (head, tail) = b.split_at_mut(i + 1);
        head[i] = (head[i] - dot(&row[i + 1..], tail)) * row[i];
    }
}

/// `Σ a_j x_j` over four interleaved partial sums, added pairwise at the end.
#[inline]
fn dot(a: &[f64], x: &[f64]) -> f64 {
    let mut s = [0.0; 4];
    let (a4, a_rest) = a.split_at(a.len() / 4 * 4);
    let (x4, x_rest) = x[..a.len()].split_at(a4.len());
    for (ac, xc) in a4.chunks_exact(4).zip(x4.chunks_exact(4)) {
        for j in 0..4 {
            s[j] += ac[j] * xc[j];
        }
    }
    let mut tail = 0.0;
    for (&aj, &xj) in a_rest.iter().zip(x_rest) {
        tail += aj * xj;
    }
    ((s[0] + s[1]) + (s[2] + s[3])) + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_a_pivoting_system() {
        // Needs a row swap: a[0][0] = 0.
        let a0 = [0.0, 2.0, 1.0, 1.0, 1.0, 1.0, 4.0, -1.0, 3.0];
        let x = [1.0, -2.0, 0.5];
        let mut b = [0.0; 3];
        for i in 0..3 {
            b[i] = (0..3).map(|j| a0[i * 3 + j] * x[j]).sum();
        }
        let mut a = a0;
        let mut piv = [0; 3];
        assert!(lu_factor(&mut a, 3, &mut piv));
        lu_solve(&a, 3, &piv, &mut b);
        for i in 0..3 {
            assert!((b[i] - x[i]).abs() < 1e-14, "{b:?}");
        }
        let mut singular = [1.0, 2.0, 2.0, 4.0];
        assert!(!lu_factor(&mut singular, 2, &mut [0; 2]));
    }

    /// A system long enough for the four partial sums and their remainder
    /// (n = 11), with pivoting: the solution comes back.
    #[test]
    fn solves_a_larger_system() {
        let n = 11;
        let a0: Vec<f64> = (0..n * n)
            .map(|k| {
                let (i, j) = (k / n, k % n);
                let v = ((i * 7 + j * 3) % 11) as f64 - 5.0;
                // Small diagonal: partial pivoting has to swap rows.
                if i == j {
                    0.1
                } else {
                    v
                }
            })
            .collect();
        let x: Vec<f64> = (0..n).map(|i| 1.0 + i as f64 * 0.25).collect();
        let mut b: Vec<f64> = (0..n)
            .map(|i| (0..n).map(|j| a0[i * n + j] * x[j]).sum())
            .collect();
        let mut a = a0.clone();
        let mut piv = vec![0; n];
        assert!(lu_factor(&mut a, n, &mut piv));
        assert!(piv.iter().enumerate().any(|(i, &p)| p != i), "{piv:?}");
        lu_solve(&a, n, &piv, &mut b);
        for i in 0..n {
            assert!((b[i] - x[i]).abs() < 1e-10, "{b:?}");
        }
    }
}
