//! Where the cells live: [`CellStore`] and the [`Fields`] adapter.

use bytemuck::Pod;

/// Storage of a rank's cells, indexed `0..len()`.
///
/// [`LoadBalancer::iterate`](crate::LoadBalancer::iterate) reads and writes cells
/// only through this trait, so cells may live anywhere: a slice of cell structs
/// (implemented for `[T]` and `Vec<T>`), or a user layout such as separate fields
/// (see [`Fields`], or implement the trait yourself). Only the *lent* cells are
/// copied into message buffers ([`load`](Self::load) before sending,
/// [`store`](Self::store) of the result); local cells are updated in place
/// through [`update`](Self::update), never copied as a whole domain.
///
/// ```
/// use quicklb::CellStore;
///
/// /// Two fields indexed by one cell id; the balancer sees cells `[u, v]`.
/// struct Uv<'a> {
///     u: &'a mut [f32],
///     v: &'a mut [f32],
/// }
///
/// impl CellStore for Uv<'_> {
///     type Cell = [f32; 2];
///     fn len(&self) -> usize {
///         self.u.len()
///     }
///     fn load(&self, i: usize) -> [f32; 2] {
///         [self.u[i], self.v[i]]
///     }
///     fn store(&mut self, i: usize, c: [f32; 2]) {
///         [self.u[i], self.v[i]] = c;
///     }
/// }
///
/// let (mut u, mut v) = (vec![1.0f32; 3], vec![2.0f32; 3]);
/// let mut cells = Uv { u: &mut u, v: &mut v };
/// cells.update(1, |c| c[0] += c[1]);
/// assert_eq!(u, [1.0, 3.0, 1.0]);
/// ```
pub trait CellStore {
    /// The plain-bytes state of one cell, as it travels between ranks.
    type Cell: Pod;

    /// Number of cells.
    fn len(&self) -> usize;

    /// True if there is no cell.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of cell `i`.
    fn load(&self, i: usize) -> Self::Cell;

    /// Overwrites cell `i`.
    fn store(&mut self, i: usize, cell: Self::Cell);

    /// Runs `f` on cell `i` (load, `f`, store by default; slices do it in place).
    #[inline]
    fn update<F: FnOnce(&mut Self::Cell)>(&mut self, i: usize, f: F) {
        let mut c = self.load(i);
        f(&mut c);
        self.store(i, c);
    }

    /// Copies the bytes of cell `i` into `out` (`size_of::<Cell>()` bytes), as
    /// the balancer packs a lent cell. The default goes through
    /// [`load`](Self::load), a copy of the cell on the stack; slices and
    /// [`Fields`] copy straight from memory, so cells of any size work.
    #[inline]
    fn read_bytes(&self, i: usize, out: &mut [u8]) {
        out.copy_from_slice(bytemuck::bytes_of(&self.load(i)));
    }

    /// Overwrites cell `i` with `bytes` (`size_of::<Cell>()` bytes, possibly
    /// unaligned), as the balancer stores a lent cell's result. The default
    /// goes through [`store`](Self::store) (a copy on the stack).
    #[inline]
    fn write_bytes(&mut self, i: usize, bytes: &[u8]) {
        self.store(i, bytemuck::pod_read_unaligned(bytes));
    }
}

impl<T: Pod> CellStore for [T] {
    type Cell = T;
    #[inline]
    fn len(&self) -> usize {
        <[T]>::len(self)
    }
    #[inline]
    fn load(&self, i: usize) -> T {
        self[i]
    }
    #[inline]
    fn store(&mut self, i: usize, cell: T) {
        self[i] = cell;
    }
    #[inline]
    fn update<F: FnOnce(&mut T)>(&mut self, i: usize, f: F) {
        f(&mut self[i]);
    }
    #[inline]
    fn read_bytes(&self, i: usize, out: &mut [u8]) {
        out.copy_from_slice(bytemuck::bytes_of(&self[i]));
    }
    #[inline]
    fn write_bytes(&mut self, i: usize, bytes: &[u8]) {
        bytemuck::bytes_of_mut(&mut self[i]).copy_from_slice(bytes);
    }
}

/// A `Vec` is stored as its slice.
impl<T: Pod> CellStore for Vec<T> {
    type Cell = T;
    #[inline]
    fn len(&self) -> usize {
        CellStore::len(self.as_slice())
    }
    #[inline]
    fn load(&self, i: usize) -> T {
        self.as_slice().load(i)
    }
    #[inline]
    fn store(&mut self, i: usize, cell: T) {
        self.as_mut_slice().store(i, cell);
    }
    #[inline]
    fn update<F: FnOnce(&mut T)>(&mut self, i: usize, f: F) {
        self.as_mut_slice().update(i, f);
    }
    #[inline]
    fn read_bytes(&self, i: usize, out: &mut [u8]) {
        self.as_slice().read_bytes(i, out);
    }
    #[inline]
    fn write_bytes(&mut self, i: usize, bytes: &[u8]) {
        self.as_mut_slice().write_bytes(i, bytes);
    }
}

/// `N` separate fields of the same element type, indexed by one cell id, seen
/// as cells `[E; N]` (structure-of-arrays to array-of-structures, one cell at a
/// time, nothing copied up front).
///
/// The Gray-Scott case: fields `a` and `b` (`f64`), cells `[a, b]`.
///
/// ```
/// use quicklb::{CellStore, Fields};
/// let (mut a, mut b) = (vec![1.0, 2.0], vec![10.0, 20.0]);
/// let mut cells = Fields::new([&mut a[..], &mut b[..]]);
/// assert_eq!(cells.len(), 2);
/// assert_eq!(cells.load(1), [2.0, 20.0]);
/// cells.store(0, [5.0, 50.0]);
/// assert_eq!((a[0], b[0]), (5.0, 50.0));
/// ```
#[derive(Debug)]
pub struct Fields<'a, E, const N: usize> {
    fields: [&'a mut [E]; N],
    len: usize,
}

impl<'a, E: Pod, const N: usize> Fields<'a, E, N> {
    /// Wraps `N` fields of equal length.
    ///
    /// # Panics
    /// If the fields have different lengths.
    pub fn new(fields: [&'a mut [E]; N]) -> Self {
        let len = fields.first().map_or(0, |f| f.len());
        assert!(
            fields.iter().all(|f| f.len() == len),
            "Fields::new: all fields must have the same length"
        );
        Fields { fields, len }
    }

    /// The fields back.
    pub fn into_inner(self) -> [&'a mut [E]; N] {
        self.fields
    }
}

impl<E: Pod, const N: usize> CellStore for Fields<'_, E, N>
where
    [E; N]: Pod,
{
    type Cell = [E; N];
    #[inline]
    fn len(&self) -> usize {
        self.len
    }
    #[inline]
    fn load(&self, i: usize) -> [E; N] {
        std::array::from_fn(|k| self.fields[k][i])
    }
    #[inline]
    fn store(&mut self, i: usize, cell: [E; N]) {
        for (f, v) in self.fields.iter_mut().zip(cell) {
            f[i] = v;
        }
    }
    #[inline]
    fn read_bytes(&self, i: usize, out: &mut [u8]) {
        let e = std::mem::size_of::<E>();
        for (k, f) in self.fields.iter().enumerate() {
            out[k * e..(k + 1) * e].copy_from_slice(bytemuck::bytes_of(&f[i]));
        }
    }
    #[inline]
    fn write_bytes(&mut self, i: usize, bytes: &[u8]) {
        let e = std::mem::size_of::<E>();
        for (k, f) in self.fields.iter_mut().enumerate() {
            bytemuck::bytes_of_mut(&mut f[i]).copy_from_slice(&bytes[k * e..(k + 1) * e]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_and_vec_update_in_place() {
        let mut v = vec![1u32, 2, 3];
        CellStore::update(&mut v, 2, |c| *c *= 10);
        CellStore::update(&mut v[..], 0, |c| *c += 1);
        assert_eq!(v, [2, 2, 30]);
        assert_eq!(CellStore::len(&v), 3);
        assert!(!CellStore::is_empty(&v[..]));
    }

    #[test]
    fn fields_roundtrip() {
        let (mut a, mut b, mut c) = (vec![0.0f64; 4], vec![1.0; 4], vec![2.0; 4]);
        let mut f = Fields::new([&mut a[..], &mut b[..], &mut c[..]]);
        f.update(3, |x| x.iter_mut().for_each(|y| *y += 0.5));
        assert_eq!(f.load(3), [0.5, 1.5, 2.5]);
        assert_eq!(f.load(0), [0.0, 1.0, 2.0]);
        let [a2, _, _] = f.into_inner();
        assert_eq!(a2[3], 0.5);
    }

    #[test]
    fn bytes_roundtrip_without_load() {
        let (mut a, mut b) = (vec![1.0f64, 2.0], vec![10.0, 20.0]);
        let mut f = Fields::new([&mut a[..], &mut b[..]]);
        let mut out = [0u8; 16];
        f.read_bytes(1, &mut out);
        assert_eq!(bytemuck::pod_read_unaligned::<[f64; 2]>(&out), [2.0, 20.0]);
        f.write_bytes(0, &out);
        assert_eq!(f.load(0), [2.0, 20.0]);
        let mut v = vec![[1u8; 3], [2u8; 3]];
        CellStore::write_bytes(&mut v, 1, &[7, 8, 9]);
        CellStore::read_bytes(&v, 1, &mut out[..3]);
        assert_eq!((v[1], &out[..3]), ([7, 8, 9], &[7u8, 8, 9][..]));
    }

    #[test]
    #[should_panic(expected = "same length")]
    fn fields_length_mismatch_panics() {
        let (mut a, mut b) = (vec![0.0f64; 2], vec![0.0f64; 3]);
        let _ = Fields::new([&mut a[..], &mut b[..]]);
    }
}
