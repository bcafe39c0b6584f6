//! The cells the balancer sees: the interior of the halo-padded fields.

use quicklb::CellStore;

/// Values a cell carries besides its state `[T, Y_0, …, Y_{K-1}]`: the step
/// size its integrator starts the next step with, and its cost.
pub const CARRIED: usize = 2;

/// The values a cell of a mechanism with `species` species travels with:
/// `T`, the mass fractions and the [`CARRIED`] values.
pub const fn cell_values(species: usize) -> usize {
    species + 1 + CARRIED
}

/// Where a cell of `n` values carries its integrator's next step size.
pub const fn step_size_slot(n: usize) -> usize {
    n - 2
}

/// Where a cell of `n` values carries its cost (integrator steps).
pub const fn cost_slot(n: usize) -> usize {
    n - 1
}

/// A [`CellStore`] over `fields` halo-padded fields of `rows × cols` cells
/// stored one after the other (`[T | Y_0 | … | Y_{K-1}]`, each
/// `(rows + 2) × (cols + 2)`): cell `i` is interior cell `(i / cols, i % cols)`,
/// read and written in place.
///
/// A cell travels as `[f64; N]`: `[T, Y_0, …, Y_{K-1}, 0…, step size, cost]`.
/// The step size is the cell's own (in `step_sizes[i]`): the compute starts
/// the cell's integrator from it and leaves the next one there, so a lent
/// cell integrates exactly as it would at home. The compute writes the
/// cell's integrator step count into the last element, and storing the
/// cell files it in `costs[i]`, so the owner learns the work of its lent
/// cells too.
#[derive(Debug)]
pub struct PaddedCells<'a, const N: usize> {
    fields: &'a mut [f64],
    step_sizes: &'a mut [f64],
    costs: &'a mut [f64],
    count: usize,
    rows: usize,
    cols: usize,
}

impl<'a, const N: usize> PaddedCells<'a, N> {
    /// The cells of `fields` (its length a multiple of the padded block,
    /// `count` fields, `count + CARRIED <= N`), with one step size and one
    /// cost per cell.
    ///
    /// # Panics
    /// If the lengths do not match.
    pub fn new(
        fields: &'a mut [f64],
        step_sizes: &'a mut [f64],
        costs: &'a mut [f64],
        rows: usize,
        cols: usize,
    ) -> Self {
        let padded = (rows + 2) * (cols + 2);
        assert!(
            padded > 0 && fields.len().is_multiple_of(padded),
            "padded fields"
        );
        let count = fields.len() / padded;
        assert!(
            count + CARRIED <= N,
            "{count} fields do not fit a cell of {N} with its step size and cost"
        );
        assert_eq!(step_sizes.len(), rows * cols, "one step size per cell");
        assert_eq!(costs.len(), rows * cols, "one cost per cell");
        PaddedCells {
            fields,
            step_sizes,
            costs,
            count,
            rows,
            cols,
        }
    }

    /// The per-cell costs (integrator steps) filed by [`CellStore::store`].
    pub fn costs(&self) -> &[f64] {
        self.costs
    }

    #[inline]
    fn index(&self, i: usize) -> usize {
        (i / self.cols + 1) * (self.cols + 2) + i % self.cols + 1
    }

    #[inline]
    fn padded(&self) -> usize {
        (self.rows + 2) * (self.cols + 2)
    }
}

impl<const N: usize> CellStore for PaddedCells<'_, N>
where
    [f64; N]: bytemuck::Pod,
{
    type Cell = [f64; N];
    #[inline]
    fn len(&self) -> usize {
        self.rows * self.cols
    }
    #[inline]
    fn load(&self, i: usize) -> [f64; N] {
        let (k, pl) = (self.index(i), self.padded());
        let mut cell = [0.0; N];
        for (f, c) in cell[..self.count].iter_mut().enumerate() {
            *c = self.fields[f * pl + k];
        }
        cell[step_size_slot(N)] = self.step_sizes[i];
        cell
    }
    #[inline]
    fn store(&mut self, i: usize, cell: [f64; N]) {
        let (k, pl) = (self.index(i), self.padded());
        for (f, &c) in cell[..self.count].iter().enumerate() {
            self.fields[f * pl + k] = c;
        }
        self.step_sizes[i] = cell[step_size_slot(N)];
        self.costs[i] = cell[cost_slot(N)];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_index_the_interior_of_every_field() {
        let (rows, cols) = (2, 3);
        let pl = (rows + 2) * (cols + 2);
        let mut fields: Vec<f64> = (0..3 * pl).map(|v| v as f64).collect();
        let mut step_sizes: Vec<f64> = (0..rows * cols).map(|v| 0.5 * v as f64).collect();
        let mut costs = vec![0.0; rows * cols];
        let mut cells =
            PaddedCells::<16>::new(&mut fields, &mut step_sizes, &mut costs, rows, cols);
        assert_eq!(cells.len(), 6);
        let c = cells.load(0);
        assert_eq!(&c[..4], &[6.0, 6.0 + pl as f64, 6.0 + 2.0 * pl as f64, 0.0]);
        assert_eq!(cells.load(5)[0], 13.0);
        assert_eq!(cells.load(5)[step_size_slot(16)], 2.5);
        let mut w = [0.0; 16];
        w[..3].copy_from_slice(&[-1.0, -2.0, -3.0]);
        w[step_size_slot(16)] = 2.5e-6;
        w[cost_slot(16)] = 7.0;
        cells.store(4, w);
        assert_eq!(cells.costs()[4], 7.0);
        assert_eq!(
            (fields[12], fields[pl + 12], fields[2 * pl + 12]),
            (-1.0, -2.0, -3.0)
        );
        assert_eq!(step_sizes[4], 2.5e-6);
    }
}
