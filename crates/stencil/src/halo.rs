//! Halo exchange between MPI ranks: fills the ghost ring of every rank's
//! block of a [`Decomposition`] with its neighbours' cells and the physical
//! [`Boundary`] at the domain's edges.
//!
//! Two paths, same ghost values bit for bit (ghosts are copies):
//!
//! - [`MessageHalo`]: persistent requests
//!   ([`quicklb_transport::InPlaceSet`]) built once over rsmpi's Cartesian
//!   communicator and started every step; one message per neighbour pair per
//!   direction and field (on MPICH, for row slabs, one per contiguous row:
//!   see `splits_into_runs`), diagonal neighbours included when the stencil
//!   reads corners, sent straight from the field's cells and received
//!   straight into its ghosts (no packing).
//! - [`SharedHalo`]: when all ranks share a node, every rank's padded block
//!   lives in its segment of a [`quicklb_transport::SharedArray`] and ghosts
//!   are read straight from the neighbours' segments, with no messages (one
//!   `sync` and one release per exchange).
//!
//! Every ghost is resolved once, at construction, to the cell it copies: a
//! neighbour's interior cell (periodic wrap and reflection included) or the
//! fixed boundary value. The resolution is exactly [`fill_halo`]'s, so a
//! distributed run equals the serial one bitwise.
//!
//! [`fill_halo`]: crate::fill_halo

use std::collections::HashSet;

use mpi::collective::SystemOperation;
use mpi::topology::{CartesianCommunicator, Communicator};
use mpi::traits::CommunicatorCollectives;
use ndarray::ArrayViewMut2;
use quicklb_partition::even_block_owner;
use quicklb_transport::InPlaceSet;

/// Re-exported: the shared-memory array the [`SharedHalo`] path keeps fields in.
pub use quicklb_transport::SharedArray;

use crate::decomp::Decomposition;
use crate::error::{Error, Result};
use crate::kernel::Boundary;

/// Where one ghost cell's value comes from.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Source {
    /// Cell `index` (flat, in the padded block) of rank `rank`.
    Cell { rank: usize, index: usize },
    /// The fixed boundary value.
    Value,
}

/// Maps a global coordinate `g` in `-1..=n` to the interior cell a ghost
/// copies, or `None` for a fixed value.
fn resolve(g: isize, n: usize, boundary: Boundary) -> Option<usize> {
    let n = n as isize;
    if (0..n).contains(&g) {
        return Some(g as usize);
    }
    match boundary {
        Boundary::Periodic => Some(g.rem_euclid(n) as usize),
        Boundary::Reflecting => Some(g.clamp(0, n - 1) as usize),
        Boundary::Fixed(_) => None,
    }
}

/// Every ghost of `d`'s block (corners only if `corners`) and its source, in
/// a fixed order (top row, bottom row, left column, right column).
fn ghost_sources(d: &Decomposition, boundary: Boundary, corners: bool) -> Vec<(usize, Source)> {
    let [lr, lc] = d.local_shape();
    let [ny, nx] = d.global();
    let dims = d.dims();
    let w = lc + 2;
    let mut cells = Vec::with_capacity(2 * (lr + lc) + 4);
    for li in [0, lr + 1] {
        for lj in 0..lc + 2 {
            let corner = lj == 0 || lj == lc + 1;
            if corner && !corners {
                continue;
            }
            cells.push((li, lj));
        }
    }
    for lj in [0, lc + 1] {
        for li in 1..=lr {
            cells.push((li, lj));
        }
    }
    cells
        .into_iter()
        .map(|(li, lj)| {
            let gi = d.rows().start as isize + li as isize - 1;
            let gj = d.cols().start as isize + lj as isize - 1;
            let source = match (resolve(gi, ny, boundary), resolve(gj, nx, boundary)) {
                (Some(gi), Some(gj)) => {
                    let coords = [
                        even_block_owner(ny, dims[0], gi),
                        even_block_owner(nx, dims[1], gj),
                    ];
                    let rank = d.rank_at(coords);
                    let src = d.for_rank(rank).expect("a rank of the same decomposition");
                    let sw = src.local_shape()[1] + 2;
                    let index = (gi - src.rows().start + 1) * sw + (gj - src.cols().start + 1);
                    Source::Cell { rank, index }
                }
                _ => Source::Value,
            };
            (li * w + lj, source)
        })
        .collect()
}

/// Ranks within one step of `d` on the process grid (wrapping), without
/// duplicates, this rank excluded.
fn near_ranks(d: &Decomposition) -> Vec<usize> {
    let dims = d.dims();
    let c = d.coords();
    let mut ranks = Vec::new();
    for di in -1isize..=1 {
        for dj in -1isize..=1 {
            let i = (c[0] as isize + di).rem_euclid(dims[0] as isize) as usize;
            let j = (c[1] as isize + dj).rem_euclid(dims[1] as isize) as usize;
            let r = d.rank_at([i, j]);
            if r != d.rank() && !ranks.contains(&r) {
                ranks.push(r);
            }
        }
    }
    ranks.sort_unstable();
    ranks
}

/// `len` copies `dst[dst + k·dst_stride] = src[src + k·src_stride]`,
/// `k = 0..len`: a contiguous ghost row when both strides are 1, a column
/// (stride = padded row length) otherwise. Built once from the resolved
/// ghost sources, so an exchange copies whole runs instead of looking up
/// every cell.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Run {
    src: usize,
    src_stride: usize,
    dst: usize,
    dst_stride: usize,
    len: usize,
}

impl Run {
    fn single(src: usize, dst: usize) -> Self {
        Run {
            src,
            src_stride: 1,
            dst,
            dst_stride: 1,
            len: 1,
        }
    }

    fn contiguous(&self) -> bool {
        self.src_stride == 1 && self.dst_stride == 1
    }

    /// Last source and destination index (the run is never empty).
    fn last(&self) -> (usize, usize) {
        let k = self.len - 1;
        (
            self.src + k * self.src_stride,
            self.dst + k * self.dst_stride,
        )
    }
}

/// Compresses copies `(src, dst)`, in order, into runs of constant positive
/// strides; expanding the runs gives back exactly the same copies in the
/// same order.
fn runs(pairs: impl IntoIterator<Item = (usize, usize)>) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::new();
    for (s, d) in pairs {
        if let Some(r) = out.last_mut() {
            if r.len == 1 && s > r.src && d > r.dst {
                r.src_stride = s - r.src;
                r.dst_stride = d - r.dst;
                r.len = 2;
                continue;
            }
            let (ls, ld) = r.last();
            if r.len > 1 && s == ls + r.src_stride && d == ld + r.dst_stride {
                r.len += 1;
                continue;
            }
        }
        out.push(Run::single(s, d));
    }
    out
}

/// Whether `a` and `b` are strided runs of the same shape, copied in
/// lockstep (the left and right ghost columns: one pass over the rows
/// touches each row's cache lines once, not twice).
fn lockstep(a: &Run, b: &Run) -> bool {
    !a.contiguous() && (a.len, a.src_stride, a.dst_stride) == (b.len, b.src_stride, b.dst_stride)
}

/// Applies `runs` from `src` into `dst`.
fn copy_runs(runs: &[Run], src: &[f64], dst: &mut [f64]) {
    for group in runs.chunk_by(lockstep) {
        match group {
            [r] if r.contiguous() => {
                dst[r.dst..r.dst + r.len].copy_from_slice(&src[r.src..r.src + r.len]);
            }
            _ => {
                for pair in group.chunks(2) {
                    if !copy_columns(pair, src, dst) {
                        copy_strided(pair, |s, d| dst[d] = src[s]);
                    }
                }
            }
        }
    }
}

/// Applies `runs` within one slice (sources and destinations never overlap:
/// sources are interior cells, destinations ghosts).
fn copy_runs_within(runs: &[Run], u: &mut [f64]) {
    for group in runs.chunk_by(lockstep) {
        match group {
            [r] if r.contiguous() => u.copy_within(r.src..r.src + r.len, r.dst),
            _ => {
                for pair in group.chunks(2) {
                    if !copy_columns_within(pair, u) {
                        copy_strided(pair, |s, d| u[d] = u[s]);
                    }
                }
            }
        }
    }
}

/// Copies one or two lockstep runs whose sources and destinations all step
/// by one row (`src_stride == dst_stride`, each run within its rows) as a
/// walk over those rows, with no index arithmetic per cell. Returns `false`,
/// copying nothing, for runs of any other shape.
fn copy_columns_within(pair: &[Run], u: &mut [f64]) -> bool {
    let r = pair[0];
    let w = r.src_stride;
    if w != r.dst_stride {
        return false;
    }
    let base = pair.iter().map(|p| p.src.min(p.dst)).min().unwrap_or(0);
    let in_row = |p: &Run| p.src - base < w && p.dst - base < w;
    let Some(rows) = u.get_mut(base..base + r.len * w) else {
        return false;
    };
    match pair {
        [a] if in_row(a) => {
            let (s, d) = (a.src - base, a.dst - base);
            for row in rows.chunks_exact_mut(w) {
                row[d] = row[s];
            }
        }
        [a, b] if in_row(a) && in_row(b) => {
            let (s0, d0, s1, d1) = (a.src - base, a.dst - base, b.src - base, b.dst - base);
            for row in rows.chunks_exact_mut(w) {
                row[d0] = row[s0];
                row[d1] = row[s1];
            }
        }
        _ => return false,
    }
    true
}

/// Copies one or two lockstep runs between columns (one side steps by a
/// row, the other by one: ghost columns to or from a contiguous buffer) as
/// a walk over the rows. Returns `false`, copying nothing, for runs of any
/// other shape.
fn copy_columns(pair: &[Run], src: &[f64], dst: &mut [f64]) -> bool {
    // A single run is copied as a pair of itself (copying a cell twice is
    // harmless), so there is one loop.
    let (a, b) = match pair {
        [a] => (*a, *a),
        [a, b] => (*a, *b),
        _ => return false,
    };
    let len = a.len;
    if a.dst_stride == 1 {
        let w = a.src_stride;
        let base = a.src.min(b.src);
        let (o0, o1) = (a.src - base, b.src - base);
        let rows = src.get(base..base + len * w);
        match rows {
            Some(rows) if o0 < w && o1 < w && a.dst.max(b.dst) + len <= dst.len() => {
                // The two destination blocks, first the lower one.
                let ((lo, olo), (hi, ohi)) = if a.dst <= b.dst {
                    ((a.dst, o0), (b.dst, o1))
                } else {
                    ((b.dst, o1), (a.dst, o0))
                };
                if lo + len <= hi {
                    let (first, second) = dst.split_at_mut(hi);
                    let blocks = first[lo..lo + len].iter_mut().zip(&mut second[..len]);
                    for ((x, y), row) in blocks.zip(rows.chunks_exact(w)) {
                        *x = row[olo];
                        *y = row[ohi];
                    }
                } else {
                    for (k, row) in rows.chunks_exact(w).enumerate() {
                        dst[a.dst + k] = row[o0];
                        dst[b.dst + k] = row[o1];
                    }
                }
                true
            }
            _ => false,
        }
    } else if a.src_stride == 1 {
        let w = a.dst_stride;
        let base = a.dst.min(b.dst);
        let (o0, o1) = (a.dst - base, b.dst - base);
        let rows = dst.get_mut(base..base + len * w);
        match rows {
            Some(rows) if o0 < w && o1 < w && a.src.max(b.src) + len <= src.len() => {
                let values = src[a.src..a.src + len].iter().zip(&src[b.src..b.src + len]);
                for (row, (x, y)) in rows.chunks_exact_mut(w).zip(values) {
                    row[o0] = *x;
                    row[o1] = *y;
                }
                true
            }
            _ => false,
        }
    } else {
        false
    }
}

/// Calls `copy(src, dst)` for every copy of one run, or of two runs of the
/// same shape interleaved (`k`-th copy of the first, then of the second).
fn copy_strided(pair: &[Run], mut copy: impl FnMut(usize, usize)) {
    let r = pair[0];
    let (ss, ds) = (r.src_stride, r.dst_stride);
    match pair {
        [_, b] => {
            let (mut s0, mut d0, mut s1, mut d1) = (r.src, r.dst, b.src, b.dst);
            for _ in 0..r.len {
                copy(s0, d0);
                copy(s1, d1);
                (s0, d0, s1, d1) = (s0 + ss, d0 + ds, s1 + ss, d1 + ds);
            }
        }
        _ => {
            let (mut s, mut d) = (r.src, r.dst);
            for _ in 0..r.len {
                copy(s, d);
                (s, d) = (s + ss, d + ds);
            }
        }
    }
}

/// Sets the destinations of `runs` (their sources are unused) to `value`.
fn fill_runs(runs: &[Run], u: &mut [f64], value: f64) {
    for r in runs {
        if r.dst_stride == 1 {
            u[r.dst..r.dst + r.len].fill(value);
        } else {
            let (_, ld) = r.last();
            for d in u[r.dst..=ld].iter_mut().step_by(r.dst_stride) {
                *d = value;
            }
        }
    }
}

/// Whether every rank of `comm` shares one node, so [`SharedHalo`] can be
/// used. **Collective** over `comm` the first time; the answer is cached on
/// `comm` ([`quicklb_transport::shares_one_node`]), so building many halos
/// over one communicator splits it once.
pub fn all_on_one_node<C: Communicator>(comm: &C) -> Result<bool> {
    Ok(quicklb_transport::shares_one_node(comm)?)
}

/// What every rank of one collective halo construction must agree on.
#[derive(Clone, Copy, Debug)]
struct Setup<'a> {
    decomp: &'a Decomposition,
    boundary: Boundary,
    /// Whether corner ghosts are filled (the stencil reads diagonals).
    corners: bool,
    fields: usize,
}

impl Setup<'_> {
    /// The values compared across ranks, each with what it describes.
    fn digest(&self) -> [(u64, &'static str); 8] {
        let d = self.decomp;
        let [rows, cols] = d.global();
        let [dr, dc] = d.dims();
        let (kind, value) = match self.boundary {
            Boundary::Periodic => (0, 0),
            Boundary::Reflecting => (1, 0),
            Boundary::Fixed(v) => (2, v.to_bits()),
        };
        [
            (rows as u64, "the number of rows of the global grid"),
            (cols as u64, "the number of columns of the global grid"),
            (dr as u64, "the process grid (ranks along rows)"),
            (dc as u64, "the process grid (ranks along columns)"),
            (kind, "the boundary"),
            (value, "the fixed boundary value"),
            (
                u64::from(self.corners),
                "the corner ghosts (whether the stencil reads diagonals)",
            ),
            (self.fields as u64, "the number of fields"),
        ]
    }
}

/// Checks `setup` against `comm` on every rank and agrees on the outcome
/// (**collective**, one all-reduce): if any rank fails its own checks, every
/// rank returns an error (its own, or [`Error::OtherRank`]); if the ranks were
/// given different grids, process grids, boundaries, corner flags or field
/// counts, every rank returns the same [`Error::Disagreement`]. So none is
/// left waiting in a later collective and no message is built for a block
/// its neighbour does not have.
fn agree<C: Communicator>(comm: &C, setup: &Setup<'_>) -> Result<()> {
    let d = setup.decomp;
    let (rank, size) = (comm.rank() as usize, comm.size() as usize);
    let mine = if let Err(e) = setup.boundary.validate() {
        Err(e)
    } else if size != d.ranks() {
        Err(Error::RankCount {
            expected: d.ranks(),
            got: size,
        })
    } else if rank != d.rank() {
        Err(Error::WrongRank {
            comm: rank,
            decomposition: d.rank(),
        })
    } else {
        Ok(())
    };
    // One max-reduction gives the failing rank, and each value's maximum
    // and (through its complement) minimum.
    let digest = setup.digest();
    let mut local = Vec::with_capacity(1 + 2 * digest.len());
    local.push(if mine.is_err() { rank as u64 + 1 } else { 0 });
    local.extend(digest.iter().map(|&(v, _)| v));
    local.extend(digest.iter().map(|&(v, _)| !v));
    let mut global = vec![0u64; local.len()];
    comm.all_reduce_into(&local[..], &mut global[..], SystemOperation::max());
    mine?;
    if global[0] > 0 {
        return Err(Error::OtherRank {
            rank: global[0] as usize - 1,
        });
    }
    let n = digest.len();
    for (k, &(_, what)) in digest.iter().enumerate() {
        let (max, min) = (global[1 + k], !global[1 + n + k]);
        if max != min {
            return Err(Error::Disagreement { what });
        }
    }
    Ok(())
}

/// Checks that every field is a standard-layout `padded_shape()` array.
fn check_fields(d: &Decomposition, fields: &[ArrayViewMut2<'_, f64>]) -> Result<()> {
    let padded = d.padded_shape();
    for f in fields {
        if f.shape() != padded {
            return Err(Error::Shape {
                what: "field",
                got: [f.nrows(), f.ncols()],
                expected: padded,
            });
        }
        if !f.is_standard_layout() {
            return Err(Error::NotContiguous { what: "field" });
        }
    }
    Ok(())
}

/// Creates rsmpi's Cartesian communicator for `d` (`dims`, periodic axes when
/// `boundary` is periodic, no reordering, so ranks keep their numbers).
/// **Collective** over `comm`.
///
/// ```no_run
/// use mpi::traits::*;
/// use quicklb_stencil::{halo::cartesian_communicator, Boundary, Decomposition};
/// let universe = mpi::initialize().unwrap();
/// let world = universe.world();
/// let d = Decomposition::cartesian(64, 64, [2, 2], world.rank() as usize)?;
/// let cart = cartesian_communicator(&world, &d, Boundary::Periodic)?;
/// let (up, down) = cart.shift(0, 1);
/// assert_eq!(up.map(|r| r as usize), d.neighbour(0, -1, true));
/// # Ok::<(), quicklb_stencil::Error>(())
/// ```
pub fn cartesian_communicator<C: Communicator>(
    comm: &C,
    d: &Decomposition,
    boundary: Boundary,
) -> Result<CartesianCommunicator> {
    let setup = Setup {
        decomp: d,
        boundary,
        corners: false,
        fields: 1,
    };
    agree(comm, &setup)?;
    create_cartesian(comm, d, boundary)
}

/// [`cartesian_communicator`] after the ranks agreed on `d`.
fn create_cartesian<C: Communicator>(
    comm: &C,
    d: &Decomposition,
    boundary: Boundary,
) -> Result<CartesianCommunicator> {
    let dims = d.dims().map(|n| n as i32);
    let periodic = boundary.is_periodic();
    comm.create_cartesian_communicator(&dims, &[periodic, periodic], false)
        .ok_or(Error::RankCount {
            expected: d.ranks(),
            got: comm.size() as usize,
        })
}

/// Halo exchange by persistent point-to-point messages.
///
/// ```no_run
/// use mpi::traits::*;
/// use quicklb_stencil::{halo::MessageHalo, Boundary, Decomposition, Diffusion, Stencil};
/// let universe = mpi::initialize().unwrap();
/// let world = universe.world();
/// let (rank, size) = (world.rank() as usize, world.size() as usize);
/// let d = Decomposition::row_slabs(256, 256, size, rank)?;
/// let mut u = ndarray::Array2::<f64>::zeros(d.padded_shape());
/// let mut halo = MessageHalo::new(&world, &d, Boundary::Periodic, Stencil::FivePoint.uses_corners(), 1)?;
/// let mut diffusion = Diffusion::new(Stencil::FivePoint, 1.0, 0.2)?;
/// for _ in 0..100 {
///     halo.exchange(u.view_mut())?;
///     diffusion.step(u.view_mut())?;
/// }
/// # Ok::<(), quicklb_stencil::Error>(())
/// ```
pub struct MessageHalo {
    decomp: Decomposition,
    fields: usize,
    /// The messages, each the cells one neighbour needs from one field (in
    /// its ghost order) or the ghosts of one field it fills, lent the fields
    /// for each exchange.
    set: InPlaceSet<f64>,
    /// Ghosts copied from this rank's own cells (periodic with one rank along
    /// an axis): local cell → local ghost.
    self_copies: Vec<Run>,
    /// Ghosts set to the fixed boundary value.
    fixed: Vec<Run>,
    value: f64,
    cart: CartesianCommunicator,
}

impl MessageHalo {
    /// Builds the exchange for this rank's block of `d` (`d.rank()` must be
    /// this rank of `comm`, `d.ranks()` its size) and `fields` fields
    /// exchanged together. `corners`: also fill the four corner ghosts (needed
    /// by stencils that read diagonals, see [`crate::Stencil::uses_corners`]).
    /// **Collective** over `comm`: agrees the setup, then creates the
    /// Cartesian communicator and the persistent requests.
    ///
    /// Every rank must pass the same global grid, process grid, boundary,
    /// `corners` and `fields`: if they differ anywhere (say one rank built a
    /// 64×65 grid and the others 64×64), every rank returns the same
    /// [`Error::Disagreement`] before any message is built.
    pub fn new<C: Communicator>(
        comm: &C,
        d: &Decomposition,
        boundary: Boundary,
        corners: bool,
        fields: usize,
    ) -> Result<Self> {
        let setup = Setup {
            decomp: d,
            boundary,
            corners,
            fields,
        };
        agree(comm, &setup)?;
        let cart = create_cartesian(comm, d, boundary)?;
        let me = d.rank();
        let mine = ghost_sources(d, boundary, corners);
        let padded = d.padded_shape();
        let mut builder = InPlaceSet::<f64>::builder(&cart, &vec![padded[0] * padded[1]; fields]);
        let split = splits_into_runs(d);
        let my_copies = copies_from(&mine, me);
        for peer in near_ranks(d) {
            // What `peer` needs from me, in `peer`'s order: (my cell, its ghost).
            let theirs = ghost_sources(&d.for_rank(peer)?, boundary, corners);
            let mut outgoing = pairs_from(&theirs, me);
            // What I need from `peer`: (its cell, my ghost).
            let mut incoming = pairs_from(&mine, peer);
            // Both ends make the same substitutions (each knows the other's
            // self copies).
            extend_runs(&mut outgoing, &my_copies);
            extend_runs(&mut incoming, &copies_from(&theirs, peer));
            // Both ends cut a message into the same parts (they see the same
            // pairs), so part `k` of field `f` carries the same tag on both.
            let sends = message_parts(&outgoing, split);
            let recvs = message_parts(&incoming, split);
            for f in 0..fields {
                for (k, part) in sends.iter().enumerate() {
                    let tag = (f * sends.len() + k) as i32;
                    let cells: Vec<usize> = part.iter().map(|&(src, _)| src).collect();
                    builder = builder.send(peer as i32, tag, f, blocks(&cells));
                }
                for (k, part) in recvs.iter().enumerate() {
                    let tag = (f * recvs.len() + k) as i32;
                    let cells: Vec<usize> = part.iter().map(|&(_, dst)| dst).collect();
                    builder = builder.recv(peer as i32, tag, f, blocks(&cells));
                }
            }
        }
        let set = builder.build()?;
        let self_copies = runs(mine.iter().filter_map(|&(dst, s)| match s {
            Source::Cell { rank, index } if rank == me => Some((index, dst)),
            _ => None,
        }));
        let fixed = runs(
            mine.iter()
                .filter(|(_, s)| *s == Source::Value)
                .map(|&(dst, _)| (dst, dst)),
        );
        let value = match boundary {
            Boundary::Fixed(v) => v,
            _ => 0.0,
        };
        Ok(MessageHalo {
            decomp: d.clone(),
            fields,
            set,
            self_copies,
            fixed,
            value,
            cart,
        })
    }

    /// The decomposition.
    pub fn decomposition(&self) -> &Decomposition {
        &self.decomp
    }

    /// rsmpi's Cartesian communicator of the decomposition (same rank numbers
    /// as the communicator the halo was built on).
    pub fn cartesian(&self) -> &CartesianCommunicator {
        &self.cart
    }

    /// Number of messages sent per exchange: one per neighbour and field, or
    /// where [`MessageHalo`] cuts messages into contiguous runs, one per run
    /// and one for the remaining cells.
    pub fn num_messages(&self) -> usize {
        self.set.num_sends()
    }

    /// Fills the ghosts of one field (the halo must have been built with
    /// `fields == 1`). Collective among neighbours.
    pub fn exchange(&mut self, u: ArrayViewMut2<'_, f64>) -> Result<()> {
        self.exchange_fields(&mut [u])
    }

    /// Fills the ghosts of `fields.len()` fields (as many as the halo was
    /// built for; each `padded_shape()`, standard layout) in one round of
    /// messages.
    ///
    /// A wrong number, shape or layout of fields is an error on this rank;
    /// it still takes part in the round (sending zeros), so its
    /// neighbours do not wait forever.
    pub fn exchange_fields(&mut self, fields: &mut [ArrayViewMut2<'_, f64>]) -> Result<()> {
        let checked = if fields.len() != self.fields {
            Err(Error::Shape {
                what: "number of fields",
                got: [fields.len(), 1],
                expected: [self.fields, 1],
            })
        } else {
            check_fields(&self.decomp, fields)
        };
        if let Err(e) = checked {
            self.stand_in_round()?;
            return Err(e);
        }
        for field in fields.iter_mut() {
            let u = field.as_slice_mut().expect("standard layout checked");
            copy_runs_within(&self.self_copies, u);
            fill_runs(&self.fixed, u, self.value);
        }
        // The ghosts set above are neither sent nor received: the messages
        // read interior cells and write the other ghosts.
        let slices = fields
            .iter_mut()
            .map(|f| f.as_slice_mut().expect("standard layout checked"));
        self.set.run(slices)?;
        Ok(())
    }

    /// The round of an exchange whose fields are unusable, over zeroed fields
    /// of the right shape, so that the neighbours' messages are matched.
    #[cold]
    fn stand_in_round(&mut self) -> Result<()> {
        let [r, c] = self.decomp.padded_shape();
        let mut zeros = vec![vec![0.0; r * c]; self.fields];
        self.set.run(zeros.iter_mut().map(|z| &mut z[..]))?;
        Ok(())
    }
}

/// The (source cell, ghost) pairs of the ghosts in `ghosts` that copy a cell
/// of rank `rank`, in ghost order.
fn pairs_from(ghosts: &[(usize, Source)], rank: usize) -> Vec<(usize, usize)> {
    ghosts
        .iter()
        .filter_map(|&(dst, s)| match s {
            Source::Cell { rank: r, index } if r == rank => Some((index, dst)),
            _ => None,
        })
        .collect()
}

/// The (cell, ghost) pairs of rank `rank`'s ghosts that copy its own cells
/// (`ghosts` are that rank's), which [`MessageHalo::exchange_fields`] fills
/// before the messages start.
fn copies_from(ghosts: &[(usize, Source)], rank: usize) -> HashSet<(usize, usize)> {
    pairs_from(ghosts, rank).into_iter().collect()
}

/// Replaces the sender's cell of a pair that breaks a run (its ghost follows
/// the previous pair's ghost, or precedes the next one's, but its cell does
/// not) by a ghost of the sender that holds a copy of that cell and does
/// continue the run, if there is one (`copies`: the sender's (cell, ghost)
/// self copies). With one rank along the rows, a 9-point message then sends
/// each boundary row with the ghost columns beside it, which copy the corner
/// cells the neighbour needs: one contiguous run of `cols + 2` cells instead
/// of a row and two single cells. The values sent are the same bits.
fn extend_runs(pairs: &mut [(usize, usize)], copies: &HashSet<(usize, usize)>) {
    let follows = |a: (usize, usize), b: (usize, usize)| b.0 == a.0 + 1 && b.1 == a.1 + 1;
    for i in 0..pairs.len() {
        let (src, dst) = pairs[i];
        let prev = i.checked_sub(1).map(|k| pairs[k]);
        let next = pairs.get(i + 1).copied();
        if prev.is_some_and(|p| follows(p, pairs[i])) || next.is_some_and(|n| follows(pairs[i], n))
        {
            continue;
        }
        let after_prev = prev
            .filter(|p| dst == p.1 + 1)
            .map(|p| p.0 + 1)
            .filter(|&ghost| copies.contains(&(src, ghost)));
        let before_next = next
            .filter(|n| n.1 == dst + 1 && n.0 > 0)
            .map(|n| n.0 - 1)
            .filter(|&ghost| copies.contains(&(src, ghost)));
        if let Some(ghost) = after_prev.or(before_next) {
            pairs[i].0 = ghost;
        }
    }
}

/// Shortest run of cells, consecutive on both ends, that
/// [`message_parts`] sends as a message of its own (a 512-cell row is one;
/// a corner cell or a column, whose cells are a row apart, is not).
const OWN_MESSAGE_RUN: usize = 64;

/// Whether the messages of `d` are cut into their contiguous runs: on MPICH,
/// for row slabs. There one indexed message of the two boundary rows takes
/// 1.2–1.7× as long as a contiguous message of the same bytes, and one
/// contiguous message per row 1.1–1.4× (C, 2 ranks, 512-cell rows, MPICH
/// 4.0 ch4:shm), while Open MPI 4.1 (vader) moves the indexed message in one
/// rendezvous and two 4 KiB rows in two, 1.5–2.6× as long (each row is just
/// above its 4 KiB eager limit). Other decompositions keep one message per
/// neighbour: their column cells are no runs, and nothing was measured.
fn splits_into_runs(d: &Decomposition) -> bool {
    let mpich = mpi::environment::library_version().is_ok_and(|v| v.contains("MPICH"));
    mpich && d.dims()[1] == 1
}

/// The parts of one message, given as its (sender's cell, receiver's cell)
/// pairs in message order: the whole message, or if `split`, every run of at
/// least [`OWN_MESSAGE_RUN`] pairs consecutive on both ends as a message of
/// its own, then the remaining pairs (in order) as one more if any. Both
/// ends compute the same parts from the same pairs; no part is empty.
fn message_parts(pairs: &[(usize, usize)], split: bool) -> Vec<Vec<(usize, usize)>> {
    if pairs.is_empty() {
        return Vec::new();
    }
    if !split {
        return vec![pairs.to_vec()];
    }
    let consecutive = |a: &(usize, usize), b: &(usize, usize)| b.0 == a.0 + 1 && b.1 == a.1 + 1;
    let mut parts = Vec::new();
    let mut rest = Vec::new();
    for run in pairs.chunk_by(consecutive) {
        if run.len() >= OWN_MESSAGE_RUN {
            parts.push(run.to_vec());
        } else {
            rest.extend_from_slice(run);
        }
    }
    if !rest.is_empty() {
        parts.push(rest);
    }
    parts
}

/// The cells `cells` (flat indices, in message order) as ranges of
/// consecutive cells.
fn blocks(cells: &[usize]) -> Vec<std::ops::Range<usize>> {
    let mut out: Vec<std::ops::Range<usize>> = Vec::new();
    for &c in cells {
        match out.last_mut() {
            Some(b) if b.end == c => b.end += 1,
            _ => out.push(c..c + 1),
        }
    }
    out
}

impl std::fmt::Debug for MessageHalo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageHalo")
            .field("decomp", &self.decomp)
            .field("fields", &self.fields)
            .field("messages", &self.num_messages())
            .finish()
    }
}

/// Halo exchange through shared memory: every rank's padded block(s) live in
/// its segment of a [`SharedArray`], and ghosts are read straight from the
/// neighbours' segments. Needs all ranks on one node.
///
/// A segment holds `fields` padded blocks one after the other (`fields ×
/// padded_shape()`, row-major); see [`SharedHalo::allocate`] and
/// [`SharedHalo::field_mut`].
///
/// ```no_run
/// use mpi::traits::*;
/// use quicklb_stencil::{halo::SharedHalo, Boundary, Decomposition, Diffusion, Stencil};
/// let universe = mpi::initialize().unwrap();
/// let world = universe.world();
/// let (rank, size) = (world.rank() as usize, world.size() as usize);
/// let d = Decomposition::row_slabs(256, 256, size, rank)?;
/// let mut halo = SharedHalo::new(&world, &d, Boundary::Periodic, false, 2)?; // U and V
/// let mut fields = halo.allocate(&world)?;
/// let mut diffusion = Diffusion::new(Stencil::FivePoint, 1.0, 0.2)?;
/// for _ in 0..100 {
///     halo.exchange(&mut fields)?;
///     for k in 0..2 {
///         diffusion.step(halo.field_mut(&mut fields, k)?)?;
///     }
/// }
/// # Ok::<(), quicklb_stencil::Error>(())
/// ```
#[derive(Debug)]
pub struct SharedHalo {
    decomp: Decomposition,
    fields: usize,
    padded_len: usize,
    /// Per distinct source rank: the rank, its block length (field `f` of its
    /// segment starts at `f ×` that) and the runs reading its cells into
    /// `staging` (source cell → ghost number).
    reads: Vec<(usize, usize, Vec<Run>)>,
    /// Ghosts read per field: `staging` holds `fields` blocks of this many.
    ghosts: usize,
    /// Runs writing `staging` into this rank's ghosts (ghost number → cell).
    writes: Vec<Run>,
    staging: Vec<f64>,
    /// Ghosts set to the fixed boundary value.
    fixed: Vec<Run>,
    value: f64,
}

impl SharedHalo {
    /// Builds the exchange plan for this rank's block of `d` and `fields`
    /// fields per segment. **Collective** over `comm` (it checks that all
    /// ranks share one node: [`Error::NotOneNode`] otherwise, on every rank).
    ///
    /// As for [`MessageHalo::new`], every rank must pass the same global
    /// grid, process grid, boundary, `corners` and `fields`; otherwise every
    /// rank returns the same [`Error::Disagreement`].
    pub fn new<C: Communicator>(
        comm: &C,
        d: &Decomposition,
        boundary: Boundary,
        corners: bool,
        fields: usize,
    ) -> Result<Self> {
        let setup = Setup {
            decomp: d,
            boundary,
            corners,
            fields,
        };
        agree(comm, &setup)?;
        if !all_on_one_node(comm)? {
            return Err(Error::NotOneNode);
        }
        let mine = ghost_sources(d, boundary, corners);
        // (source rank, source cell, ghost number) of every read ghost.
        let mut cells = Vec::new();
        let mut dsts = Vec::new();
        let mut fixed = Vec::new();
        for (dst, s) in mine {
            match s {
                Source::Cell { rank, index } => {
                    cells.push((rank, index, dsts.len()));
                    dsts.push(dst);
                }
                Source::Value => fixed.push(dst),
            }
        }
        // Grouped by source rank (ghost order kept within each), so an
        // exchange looks each neighbour's segment up once.
        cells.sort_by_key(|&(rank, _, k)| (rank, k));
        let mut reads: Vec<(usize, usize, Vec<Run>)> = Vec::new();
        for group in cells.chunk_by(|a, b| a.0 == b.0) {
            let rank = group[0].0;
            let [r, c] = d.for_rank(rank)?.padded_shape();
            let run = runs(group.iter().map(|&(_, index, k)| (index, k)));
            reads.push((rank, r * c, run));
        }
        let value = match boundary {
            Boundary::Fixed(v) => v,
            _ => 0.0,
        };
        let [r, c] = d.padded_shape();
        Ok(SharedHalo {
            decomp: d.clone(),
            fields,
            padded_len: r * c,
            staging: vec![0.0; dsts.len() * fields],
            ghosts: dsts.len(),
            writes: runs(dsts.iter().enumerate().map(|(k, &dst)| (k, dst))),
            reads,
            fixed: runs(fixed.iter().map(|&dst| (dst, dst))),
            value,
        })
    }

    /// The decomposition.
    pub fn decomposition(&self) -> &Decomposition {
        &self.decomp
    }

    /// Length of this rank's segment: `fields × (rows + 2) × (cols + 2)`.
    pub fn segment_len(&self) -> usize {
        self.fields * self.padded_len
    }

    /// Allocates the shared array of the fields (all zero). **Collective**.
    pub fn allocate<C: Communicator>(&self, comm: &C) -> Result<SharedArray<f64>> {
        Ok(SharedArray::new(comm, self.segment_len())?)
    }

    /// Every field of this rank's segment, shape `(fields, rows + 2, cols + 2)`.
    pub fn fields<'a>(&self, array: &'a SharedArray<f64>) -> Result<ndarray::ArrayView3<'a, f64>> {
        self.check_array(array)?;
        let [r, c] = self.decomp.padded_shape();
        Ok(
            ndarray::ArrayView3::from_shape((self.fields, r, c), array.local())
                .expect("segment length checked"),
        )
    }

    /// Every field of this rank's segment, mutable (write phase), shape
    /// `(fields, rows + 2, cols + 2)`. Split it into disjoint 2-D fields with
    /// `axis_iter_mut(Axis(0))`:
    ///
    /// ```no_run
    /// # fn f(halo: &quicklb_stencil::halo::SharedHalo, array: &mut quicklb_transport::SharedArray<f64>) -> quicklb_stencil::Result<()> {
    /// let mut all = halo.fields_mut(array)?;
    /// let mut it = all.axis_iter_mut(ndarray::Axis(0));
    /// let (mut u, mut v) = (it.next().unwrap(), it.next().unwrap());
    /// u.zip_mut_with(&v, |a, b| *a -= *b);
    /// v.fill(0.0);
    /// # Ok(()) }
    /// ```
    pub fn fields_mut<'a>(
        &self,
        array: &'a mut SharedArray<f64>,
    ) -> Result<ndarray::ArrayViewMut3<'a, f64>> {
        self.check_array(array)?;
        let [r, c] = self.decomp.padded_shape();
        Ok(
            ndarray::ArrayViewMut3::from_shape((self.fields, r, c), array.local_mut())
                .expect("segment length checked"),
        )
    }

    /// Field `k` of this rank's segment as a padded 2-D read-only view (e.g.
    /// the input of [`crate::laplacian`]).
    pub fn field<'a>(
        &self,
        array: &'a SharedArray<f64>,
        k: usize,
    ) -> Result<ndarray::ArrayView2<'a, f64>> {
        self.check_array(array)?;
        if k >= self.fields {
            return Err(Error::Shape {
                what: "field index",
                got: [k, 1],
                expected: [self.fields, 1],
            });
        }
        let [r, c] = self.decomp.padded_shape();
        let local = &array.local()[k * self.padded_len..(k + 1) * self.padded_len];
        Ok(ndarray::ArrayView2::from_shape((r, c), local).expect("segment length checked"))
    }

    /// Field `k` of this rank's segment as a padded 2-D view (write phase).
    pub fn field_mut<'a>(
        &self,
        array: &'a mut SharedArray<f64>,
        k: usize,
    ) -> Result<ArrayViewMut2<'a, f64>> {
        self.check_array(array)?;
        if k >= self.fields {
            return Err(Error::Shape {
                what: "field index",
                got: [k, 1],
                expected: [self.fields, 1],
            });
        }
        let [r, c] = self.decomp.padded_shape();
        let local = &mut array.local_mut()[k * self.padded_len..(k + 1) * self.padded_len];
        Ok(ArrayViewMut2::from_shape((r, c), local).expect("segment length checked"))
    }

    /// Checks this rank's segment and those it reads from.
    fn check_array(&self, array: &SharedArray<f64>) -> Result<usize> {
        let len = array.segment_len(array.rank());
        if len != self.segment_len()
            || array.rank() != self.decomp.rank()
            || array.num_segments() != self.decomp.ranks()
        {
            return Err(Error::Shape {
                what: "shared segment",
                got: [len, 1],
                expected: [self.segment_len(), 1],
            });
        }
        for &(rank, block, _) in &self.reads {
            let got = array.segment_len(rank);
            if got != self.fields * block {
                return Err(Error::Shape {
                    what: "a neighbour's shared segment",
                    got: [got, 1],
                    expected: [self.fields * block, 1],
                });
            }
        }
        Ok(len)
    }

    /// Fills the ghosts of every field in `array`: one `sync` (collective),
    /// copies of the neighbours' boundary cells, one release (collective),
    /// then the writes into this rank's ghost cells. No messages.
    ///
    /// An array that does not match the halo is an error on this rank; it
    /// still takes part in both collective phases, so nobody waits forever.
    pub fn exchange(&mut self, array: &mut SharedArray<f64>) -> Result<()> {
        if let Err(e) = self.check_array(array) {
            // Still take part in the two collective phases, so nobody hangs.
            array.sync()?.release()?;
            return Err(e);
        }
        let n = self.ghosts;
        {
            let view = array.sync()?;
            for (rank, block, run) in &self.reads {
                let segment = view.segment(*rank);
                for (src, out) in segment
                    .chunks_exact(*block)
                    .zip(self.staging.chunks_exact_mut(n))
                {
                    copy_runs(run, src, out);
                }
            }
            view.release()?;
        }
        let local = array.local_mut();
        for (f, u) in local.chunks_exact_mut(self.padded_len).enumerate() {
            copy_runs(&self.writes, &self.staging[f * n..(f + 1) * n], u);
            fill_runs(&self.fixed, u, self.value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::fill_halo;
    use ndarray::Array2;

    /// Expands runs back into their copies, in order.
    fn expand(runs: &[Run]) -> Vec<(usize, usize)> {
        runs.iter()
            .flat_map(|r| {
                (0..r.len).map(move |k| (r.src + k * r.src_stride, r.dst + k * r.dst_stride))
            })
            .collect()
    }

    /// Runs give back exactly the copies they were built from, whatever the
    /// pattern (rows, columns, repeats, backwards steps, singletons).
    #[test]
    fn runs_reproduce_their_copies() {
        let cases: Vec<Vec<(usize, usize)>> = vec![
            vec![],
            vec![(5, 0)],
            (0..10).map(|k| (k + 3, k)).collect(),
            (0..10).map(|k| (7 * k + 1, k)).collect(),
            vec![
                (9, 0),
                (1, 1),
                (2, 2),
                (3, 3),
                (1, 4),
                (0, 5),
                (0, 6),
                (4, 7),
            ],
            vec![(3, 3), (3, 4), (3, 5), (10, 2), (11, 1)],
        ];
        for pairs in cases {
            assert_eq!(expand(&runs(pairs.iter().copied())), pairs);
        }
    }

    /// The copy loops move exactly what the runs describe, also strided and
    /// within one slice.
    #[test]
    fn copy_loops_follow_the_runs() {
        let src: Vec<f64> = (0..100).map(f64::from).collect();
        let pairs: Vec<(usize, usize)> = vec![
            (9, 0),
            (10, 1),
            (11, 2),
            (20, 3),
            (30, 13),
            (40, 23),
            (1, 50),
        ];
        let r = runs(pairs.iter().copied());
        let mut dst = vec![-1.0; 60];
        copy_runs(&r, &src, &mut dst);
        let mut expected = vec![-1.0; 60];
        for &(s, d) in &pairs {
            expected[d] = src[s];
        }
        assert_eq!(dst, expected);

        let mut u = src.clone();
        let within: Vec<(usize, usize)> = (0..5)
            .map(|k| (10 * k + 8, 10 * k))
            .chain([(1, 95), (2, 96)])
            .collect();
        copy_runs_within(&runs(within.iter().copied()), &mut u);
        let mut expected = src.clone();
        for &(s, d) in &within {
            expected[d] = src[s];
        }
        assert_eq!(u, expected);

        // Columns gathered into a buffer and scattered back, one or two at
        // a time.
        for ncols in [1, 2] {
            let gather: Vec<(usize, usize)> = (0..ncols)
                .flat_map(|c| (1..9).map(move |i| (10 * i + 8 - 7 * c, 8 * c + i - 1)))
                .collect();
            let r = runs(gather.iter().copied());
            assert_eq!(r.len(), ncols, "{r:?}");
            let mut buf = vec![-1.0; 16];
            copy_runs(&r, &src, &mut buf);
            let mut expected = vec![-1.0; 16];
            for &(s, d) in &gather {
                expected[d] = src[s];
            }
            assert_eq!(buf, expected);
            let scatter: Vec<(usize, usize)> = gather.iter().map(|&(s, d)| (d, s + 1)).collect();
            let mut u = vec![0.0; 100];
            copy_runs(&runs(scatter.iter().copied()), &buf, &mut u);
            let mut expected = vec![0.0; 100];
            for &(s, d) in &scatter {
                expected[d] = buf[s];
            }
            assert_eq!(u, expected);
        }

        // Left and right ghost columns of a 10-wide block, in lockstep.
        let mut u = src.clone();
        let columns: Vec<(usize, usize)> = (1..9)
            .map(|i| (10 * i + 8, 10 * i))
            .chain((1..9).map(|i| (10 * i + 1, 10 * i + 9)))
            .collect();
        let r = runs(columns.iter().copied());
        assert_eq!(r.len(), 2, "{r:?}");
        copy_runs_within(&r, &mut u);
        let mut expected = src.clone();
        for &(s, d) in &columns {
            expected[d] = src[s];
        }
        assert_eq!(u, expected);

        let mut u = src.clone();
        let cells = [0, 1, 2, 12, 22, 32, 99];
        fill_runs(&runs(cells.iter().map(|&c| (c, c))), &mut u, -7.0);
        for (k, v) in u.iter().enumerate() {
            assert_eq!(*v, if cells.contains(&k) { -7.0 } else { k as f64 });
        }
    }

    /// At 2 ranks with 512² row slabs an exchange is a handful of runs (rows
    /// and columns), not one step per cell.
    #[test]
    fn row_slab_plan_is_a_few_runs() {
        for corners in [false, true] {
            let d = Decomposition::row_slabs(512, 512, 2, 0).unwrap();
            let mine = ghost_sources(&d, Boundary::Periodic, corners);
            let own = runs(mine.iter().filter_map(|&(dst, s)| match s {
                Source::Cell { rank: 0, index } => Some((index, dst)),
                _ => None,
            }));
            let peer = runs(mine.iter().filter_map(|&(dst, s)| match s {
                Source::Cell { rank: 1, index } => Some((index, dst)),
                _ => None,
            }));
            assert_eq!(own.len(), 2, "left and right ghost columns: {own:?}");
            assert!(own.iter().all(|r| r.len == 256));
            // Two rows, plus the four corners as singletons.
            assert_eq!(peer.len(), if corners { 6 } else { 2 }, "{peer:?}");
        }
    }

    /// Cut into runs, the 2-rank 512² row-slab message is one part per row
    /// (and one of the four corners with a 9-point stencil); every pair is in
    /// exactly one part, in its order; uncut, it is one part; a column is
    /// never cut.
    #[test]
    fn message_parts_are_the_rows() {
        for corners in [false, true] {
            let d = Decomposition::row_slabs(512, 512, 2, 0).unwrap();
            let peer = d.for_rank(1).unwrap();
            let mine = ghost_sources(&d, Boundary::Periodic, corners);
            let mut outgoing = pairs_from(&ghost_sources(&peer, Boundary::Periodic, corners), 0);
            assert_eq!(message_parts(&outgoing, false), vec![outgoing.clone()]);
            let rows = message_parts(&outgoing, true);
            let lengths: Vec<usize> = rows.iter().map(Vec::len).collect();
            let expected = if corners {
                vec![512, 512, 4]
            } else {
                vec![512, 512]
            };
            assert_eq!(lengths, expected, "corners {corners}");
            // The corners come from the ghost columns beside the rows.
            let before = outgoing.clone();
            extend_runs(&mut outgoing, &copies_from(&mine, 0));
            let parts = message_parts(&outgoing, true);
            let lengths: Vec<usize> = parts.iter().map(Vec::len).collect();
            let expected = if corners {
                vec![514, 514]
            } else {
                vec![512, 512]
            };
            assert_eq!(lengths, expected, "corners {corners}");
            let w = d.padded_shape()[1];
            for (&(old, dst), &(new, same)) in before.iter().zip(&outgoing) {
                assert_eq!(dst, same);
                if old != new {
                    assert!(new % w == 0 || new % w == w - 1, "a ghost column cell");
                    assert!(mine.contains(&(
                        new,
                        Source::Cell {
                            rank: 0,
                            index: old
                        }
                    )));
                }
            }
            let mut all: Vec<(usize, usize)> = parts.concat();
            for part in &parts {
                let order: Vec<usize> = part
                    .iter()
                    .map(|p| outgoing.iter().position(|q| q == p).unwrap())
                    .collect();
                assert!(order.windows(2).all(|w| w[0] < w[1]), "order kept");
            }
            all.sort_unstable();
            let mut sorted = outgoing.clone();
            sorted.sort_unstable();
            assert_eq!(all, sorted);
        }
        let column: Vec<(usize, usize)> = (1..=100).map(|i| (i * 10 + 1, i)).collect();
        assert_eq!(message_parts(&column, true), vec![column.clone()]);
        assert!(message_parts(&[], true).is_empty());
    }

    /// The resolved ghost sources of every block reproduce `fill_halo` on the
    /// assembled global field.
    #[test]
    fn ghost_sources_match_fill_halo() {
        let (ny, nx) = (7, 10);
        let global = Array2::from_shape_fn((ny, nx), |(i, j)| (i * 100 + j) as f64);
        for boundary in [
            Boundary::Periodic,
            Boundary::Reflecting,
            Boundary::Fixed(-1.0),
        ] {
            let mut padded = Array2::zeros((ny + 2, nx + 2));
            crate::interior_mut(padded.view_mut()).assign(&global);
            fill_halo(padded.view_mut(), boundary).unwrap();
            for dims in [[1, 1], [2, 1], [3, 1], [2, 2], [3, 2], [1, 3], [7, 1]] {
                for rank in 0..dims[0] * dims[1] {
                    let d = Decomposition::cartesian(ny, nx, dims, rank).unwrap();
                    let blocks: Vec<Array2<f64>> = (0..d.ranks())
                        .map(|r| d.for_rank(r).unwrap().scatter(global.view()).unwrap())
                        .collect();
                    let w = d.local_shape()[1] + 2;
                    for (dst, s) in ghost_sources(&d, boundary, true) {
                        let (li, lj) = (dst / w, dst % w);
                        let expected = padded[[d.rows().start + li, d.cols().start + lj]];
                        let got = match s {
                            Source::Cell { rank, index } => blocks[rank].as_slice().unwrap()[index],
                            Source::Value => -1.0,
                        };
                        assert_eq!(
                            got, expected,
                            "{boundary:?} {dims:?} rank {rank} ghost ({li},{lj})"
                        );
                    }
                }
            }
        }
    }
}
