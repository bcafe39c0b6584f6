//! A perceptual colormap (viridis) and 2-D fields as PNG images.
//!
//! Viridis is matplotlib's default map: lightness increases monotonically from
//! dark purple to yellow, so equal steps in value read as equal steps in
//! colour, and it stays readable in grey scale and for colour-blind readers.
//! [`viridis`] interpolates linearly between its eleven colours at
//! `0, 0.1, …, 1` (matplotlib's 256-entry table sampled every 25.5 entries).
//!
//! ```
//! use quicklb_examples::colormap::{field_image, viridis};
//! assert_eq!(viridis(0.0), [68, 1, 84]);
//! assert_eq!(viridis(1.0), [253, 231, 37]);
//! let field = ndarray::Array2::from_shape_fn((4, 6), |(i, j)| (i + j) as f64);
//! let img = field_image(field.view(), None, 2);
//! assert_eq!(img.dimensions(), (12, 8));
//! ```

use image::{Rgb, RgbImage};
use ndarray::ArrayView2;

/// Viridis at `t = 0, 0.1, …, 1`.
const VIRIDIS: [[u8; 3]; 11] = [
    [68, 1, 84],
    [72, 36, 117],
    [65, 68, 135],
    [53, 95, 141],
    [42, 120, 142],
    [33, 145, 140],
    [34, 168, 132],
    [68, 191, 112],
    [122, 209, 81],
    [189, 223, 38],
    [253, 231, 37],
];

/// The viridis colour of `t` in `[0, 1]` (clamped; NaN maps to 0).
pub fn viridis(t: f64) -> [u8; 3] {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let x = t * (VIRIDIS.len() - 1) as f64;
    let k = (x.floor() as usize).min(VIRIDIS.len() - 2);
    let f = x - k as f64;
    let (lo, hi) = (VIRIDIS[k], VIRIDIS[k + 1]);
    std::array::from_fn(|c| (lo[c] as f64 + f * (hi[c] as f64 - lo[c] as f64)).round() as u8)
}

/// The smallest and largest finite values of `field` (`(0, 0)` if none).
pub fn finite_range(field: ArrayView2<'_, f64>) -> (f64, f64) {
    let mut range: Option<(f64, f64)> = None;
    for &v in field.iter().filter(|v| v.is_finite()) {
        range = Some(match range {
            None => (v, v),
            Some((lo, hi)) => (lo.min(v), hi.max(v)),
        });
    }
    range.unwrap_or((0.0, 0.0))
}

/// `field` (row 0 at the top) as an image in viridis, each cell a
/// `scale × scale` block of pixels. Values are mapped linearly from `range`
/// (default: the field's finite range) to `[0, 1]`.
pub fn field_image(field: ArrayView2<'_, f64>, range: Option<(f64, f64)>, scale: u32) -> RgbImage {
    let scale = scale.max(1);
    let (lo, hi) = range.unwrap_or_else(|| finite_range(field));
    let span = if hi > lo { hi - lo } else { 1.0 };
    let (rows, cols) = field.dim();
    RgbImage::from_fn(cols as u32 * scale, rows as u32 * scale, |x, y| {
        let v = field[[(y / scale) as usize, (x / scale) as usize]];
        Rgb(viridis((v - lo) / span))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_monotone_lightness() {
        assert_eq!(viridis(-1.0), VIRIDIS[0]);
        assert_eq!(viridis(2.0), VIRIDIS[10]);
        assert_eq!(viridis(0.5), VIRIDIS[5]);
        assert_eq!(viridis(f64::NAN), VIRIDIS[0]);
        // Perceptual: luma increases along the map.
        let luma = |c: [u8; 3]| 0.299 * c[0] as f64 + 0.587 * c[1] as f64 + 0.114 * c[2] as f64;
        let mut last = -1.0;
        for i in 0..=100 {
            let l = luma(viridis(i as f64 / 100.0));
            assert!(l > last - 1e-9, "luma not increasing at {i}");
            last = l;
        }
    }

    #[test]
    fn constant_field_and_range() {
        let f = ndarray::Array2::from_elem((3, 3), 2.0);
        assert_eq!(finite_range(f.view()), (2.0, 2.0));
        let img = field_image(f.view(), None, 1);
        assert_eq!(img.get_pixel(1, 1).0, VIRIDIS[0]);
    }
}
