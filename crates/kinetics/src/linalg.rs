//! Dense LU with partial pivoting, in place, row-major, no allocation.

/// Factors the `n × n` row-major `a` into `P A = L U` (unit `L` below the
/// diagonal, `U` on and above it); `piv[i]` is the row swapped into row `i`.
/// Returns `false` if a pivot is zero or not finite.
pub(crate) fn lu_factor(a: &mut [f64], n: usize, piv: &mut [usize]) -> bool {
    for col in 0..n {
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
            return false;
        }
        piv[col] = p;
        if p != col {
            for j in 0..n {
                a.swap(col * n + j, p * n + j);
            }
        }
        let inv = 1.0 / a[col * n + col];
        let (top, bottom) = a.split_at_mut((col + 1) * n);
        let pivot_row = &top[col * n..col * n + n];
        let pivot_tail = &pivot_row[col + 1..];
        for row in bottom.chunks_exact_mut(n) {
            let factor = row[col] * inv;
            row[col] = factor;
            if factor != 0.0 {
                for (r, &p) in row[col + 1..].iter_mut().zip(pivot_tail) {
                    *r -= factor * p;
                }
            }
        }
    }
    true
}

/// Solves `A x = b` in place with the factors of [`lu_factor`].
pub(crate) fn lu_solve(a: &[f64], n: usize, piv: &[usize], b: &mut [f64]) {
    for i in 0..n {
        b.swap(i, piv[i]);
    }
    // Row-oriented substitutions: contiguous, bounds-check-free inner loops
    // (iterator zips) in a fixed order.
    for i in 1..n {
        let row = &a[i * n..i * n + i];
        let (done, rest) = b.split_at_mut(i);
        let mut s = rest[0];
        for (&l, &x) in row.iter().zip(done.iter()) {
            s -= l * x;
        }
        rest[0] = s;
    }
    for i in (0..n).rev() {
        let row = &a[i * n..(i + 1) * n];
        let (head, tail) = b.split_at_mut(i + 1);
        let mut s = head[i];
        for (&u, &x) in row[i + 1..].iter().zip(tail.iter()) {
            s -= u * x;
        }
        head[i] = s / row[i];
    }
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
}
