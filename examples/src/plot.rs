//! Small line plots drawn straight into an [`RgbImage`]: enough for the demos'
//! PNGs without a plotting library.
//!
//! A plot is a white canvas with a frame, a light grid (quarters of both axes)
//! and the zero line, and anti-aliased curves of a few pixels' width, each in
//! its own colour from [`PALETTE`]. Tick labels are drawn with a tiny built-in
//! digit font.

use image::{Rgb, RgbImage};

/// Distinct colours for curves (the "tab10" colours).
pub const PALETTE: [[u8; 3]; 6] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
];

const MARGIN_LEFT: u32 = 68;
const MARGIN_RIGHT: u32 = 28;
const MARGIN_TOP: u32 = 16;
const MARGIN_BOTTOM: u32 = 32;

/// A line plot of curves `y_i(x)` sampled on a uniform grid of `x` in `[x0, x1]`.
#[derive(Clone, Debug)]
pub struct LinePlot<'a> {
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// The x range of the samples (first sample at `x0`, last at `x1`).
    pub x_range: (f64, f64),
    /// The y range shown; `None` fits the data with a 5 % border.
    pub y_range: Option<(f64, f64)>,
    /// The curves and their colours.
    pub curves: Vec<(&'a [f64], [u8; 3])>,
    /// Legend entries, one per curve (digits, `.`, `-`, `=`, space and the
    /// letters `a b d e i m o s t x` only); empty for no legend.
    pub legend: Vec<String>,
}

impl<'a> LinePlot<'a> {
    /// An empty plot of the given size, x from 0 to `x1`.
    pub fn new(width: u32, height: u32, x_range: (f64, f64)) -> Self {
        LinePlot {
            width,
            height,
            x_range,
            y_range: None,
            curves: Vec::new(),
            legend: Vec::new(),
        }
    }

    /// Adds a curve in colour `PALETTE[i % len]`, where `i` is its index.
    pub fn curve(mut self, y: &'a [f64]) -> Self {
        let color = PALETTE[self.curves.len() % PALETTE.len()];
        self.curves.push((y, color));
        self
    }

    /// Adds a curve with a legend entry.
    pub fn labelled_curve(mut self, y: &'a [f64], label: impl Into<String>) -> Self {
        self.legend.resize(self.curves.len(), String::new());
        self.legend.push(label.into());
        self.curve(y)
    }

    /// Draws the plot.
    pub fn render(&self) -> RgbImage {
        let (w, h) = (
            self.width.max(MARGIN_LEFT + MARGIN_RIGHT + 8),
            self.height.max(MARGIN_TOP + MARGIN_BOTTOM + 8),
        );
        let mut img = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
        let (px0, px1) = (MARGIN_LEFT as f64, (w - MARGIN_RIGHT) as f64);
        let (py0, py1) = (MARGIN_TOP as f64, (h - MARGIN_BOTTOM) as f64);

        let (ymin, ymax) = self.y_range.unwrap_or_else(|| {
            let mut lo = f64::INFINITY;
            let mut hi = f64::NEG_INFINITY;
            for (y, _) in &self.curves {
                for &v in y.iter().filter(|v| v.is_finite()) {
                    lo = lo.min(v);
                    hi = hi.max(v);
                }
            }
            if !(lo.is_finite() && hi.is_finite()) {
                (-1.0, 1.0)
            } else if hi - lo < 1e-300 {
                (lo - 1.0, hi + 1.0)
            } else {
                let pad = 0.05 * (hi - lo);
                (lo - pad, hi + pad)
            }
        });
        let sx = |i: usize, n: usize| px0 + (px1 - px0) * i as f64 / (n.max(2) - 1) as f64;
        let sy = |v: f64| py1 - (py1 - py0) * (v - ymin) / (ymax - ymin);

        // Grid, zero line, frame.
        let grid = [225, 225, 225];
        for q in 1..4 {
            let x = px0 + (px1 - px0) * q as f64 / 4.0;
            segment(&mut img, (x, py0), (x, py1), 0.5, grid);
            let y = py0 + (py1 - py0) * q as f64 / 4.0;
            segment(&mut img, (px0, y), (px1, y), 0.5, grid);
        }
        if ymin < 0.0 && ymax > 0.0 {
            segment(
                &mut img,
                (px0, sy(0.0)),
                (px1, sy(0.0)),
                0.6,
                [150, 150, 150],
            );
        }
        let frame = [60, 60, 60];
        segment(&mut img, (px0, py0), (px1, py0), 0.6, frame);
        segment(&mut img, (px0, py1), (px1, py1), 0.6, frame);
        segment(&mut img, (px0, py0), (px0, py1), 0.6, frame);
        segment(&mut img, (px1, py0), (px1, py1), 0.6, frame);

        // Tick labels: y at bottom, middle, top; x at both ends.
        let mid = 0.5 * (ymin + ymax);
        let mid = if mid.abs() < 1e-9 * (ymax - ymin) {
            0.0
        } else {
            mid
        };
        for (v, y) in [(ymin, py1), (mid, 0.5 * (py0 + py1)), (ymax, py0)] {
            let label = format_tick(v);
            let tw = text_width(&label);
            draw_text(
                &mut img,
                &label,
                (px0 as i64 - 6 - tw as i64, y as i64 - 5),
                frame,
            );
        }
        for (v, x) in [(self.x_range.0, px0), (self.x_range.1, px1)] {
            let label = format_tick(v);
            let tw = text_width(&label) as i64;
            draw_text(&mut img, &label, (x as i64 - tw / 2, py1 as i64 + 8), frame);
        }

        for (y, color) in &self.curves {
            let n = y.len();
            for i in 1..n {
                if y[i - 1].is_finite() && y[i].is_finite() {
                    let (a, b) = ((sx(i - 1, n), sy(y[i - 1])), (sx(i, n), sy(y[i])));
                    if let Some((a, b)) = clip(a, b, (px0, py0, px1, py1)) {
                        segment(&mut img, a, b, 1.3, *color);
                    }
                }
            }
        }
        self.draw_legend(&mut img, (px1, py0));
        img
    }

    /// The legend in a framed white box at the top right of the plot area.
    fn draw_legend(&self, img: &mut RgbImage, (right, top): (f64, f64)) {
        let entries: Vec<(&str, [u8; 3])> = self
            .legend
            .iter()
            .zip(&self.curves)
            .filter(|(l, _)| !l.is_empty())
            .map(|(l, (_, c))| (l.as_str(), *c))
            .collect();
        if entries.is_empty() {
            return;
        }
        let text_w = entries
            .iter()
            .map(|(l, _)| text_width(l))
            .max()
            .unwrap_or(0) as f64;
        let (line_w, pad, row_h) = (22.0, 6.0, 16.0);
        let w = pad + line_w + 6.0 + text_w + pad;
        let h = pad + row_h * entries.len() as f64 + pad - 4.0;
        let (x0, y0) = (right - w - 8.0, top + 8.0);
        for py in y0 as u32..(y0 + h) as u32 {
            for px in x0 as u32..(x0 + w) as u32 {
                if px < img.width() && py < img.height() {
                    img.put_pixel(px, py, Rgb([255, 255, 255]));
                }
            }
        }
        let frame = [170, 170, 170];
        segment(img, (x0, y0), (x0 + w, y0), 0.5, frame);
        segment(img, (x0, y0 + h), (x0 + w, y0 + h), 0.5, frame);
        segment(img, (x0, y0), (x0, y0 + h), 0.5, frame);
        segment(img, (x0 + w, y0), (x0 + w, y0 + h), 0.5, frame);
        for (i, (label, color)) in entries.iter().enumerate() {
            let yc = y0 + pad + row_h * i as f64 + 5.0;
            segment(img, (x0 + pad, yc), (x0 + pad + line_w, yc), 1.3, *color);
            draw_text(
                img,
                label,
                ((x0 + pad + line_w + 6.0) as i64, yc as i64 - 5),
                [40, 40, 40],
            );
        }
    }
}

/// A diverging colour for `v` in `[-1, 1]`: blue through white to red
/// (the end and middle colours of ColorBrewer's RdBu).
pub fn diverging(v: f64) -> [u8; 3] {
    const NEG: [f64; 3] = [33.0, 102.0, 172.0];
    const MID: [f64; 3] = [247.0, 247.0, 247.0];
    const POS: [f64; 3] = [178.0, 24.0, 43.0];
    let v = if v.is_finite() {
        v.clamp(-1.0, 1.0)
    } else {
        0.0
    };
    let (end, f) = if v < 0.0 { (NEG, -v) } else { (POS, v) };
    let mut c = [0u8; 3];
    for i in 0..3 {
        c[i] = (MID[i] + (end[i] - MID[i]) * f).round() as u8;
    }
    c
}

/// A heat map of a row-major `rows × cols` field (row 0 at the top), each value
/// coloured by [`diverging`] of `v / max|v|`, scaled to `width × height` pixels
/// (nearest sample), in a frame, with a colour bar on the right labelled
/// `±max|v|`; columns are named `x` (across) and rows `t` (down).
pub fn heat_map(data: &[f64], rows: usize, cols: usize, width: u32, height: u32) -> RgbImage {
    let (w, h) = (width.max(120), height.max(60));
    let mut img = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
    let vmax = data
        .iter()
        .filter(|v| v.is_finite())
        .fold(0.0f64, |m, v| m.max(v.abs()));
    let scale = if vmax > 0.0 { 1.0 / vmax } else { 0.0 };
    let (x0, y0) = (16u32, 16u32);
    let (x1, y1) = (w - 96, h - 16);
    for py in y0..y1 {
        let r = (((py - y0) as f64 + 0.5) / (y1 - y0) as f64 * rows as f64) as usize;
        for px in x0..x1 {
            let c = (((px - x0) as f64 + 0.5) / (x1 - x0) as f64 * cols as f64) as usize;
            let v = data[r.min(rows - 1) * cols + c.min(cols - 1)];
            img.put_pixel(px, py, Rgb(diverging(v * scale)));
        }
    }
    // Colour bar: +max at the top, -max at the bottom.
    let (bx0, bx1) = (x1 + 12, x1 + 28);
    for py in y0..y1 {
        let v = 1.0 - 2.0 * ((py - y0) as f64 + 0.5) / (y1 - y0) as f64;
        for px in bx0..bx1 {
            img.put_pixel(px, py, Rgb(diverging(v)));
        }
    }
    let frame = [60, 60, 60];
    for (a, b) in [(x0, x1), (bx0, bx1)] {
        let (a, b) = (a as f64, b as f64);
        let (t, u) = (y0 as f64, y1 as f64);
        segment(&mut img, (a, t), (b, t), 0.5, frame);
        segment(&mut img, (a, u), (b, u), 0.5, frame);
        segment(&mut img, (a, t), (a, u), 0.5, frame);
        segment(&mut img, (b, t), (b, u), 0.5, frame);
    }
    // Axis names: x across the bottom, t down the left side.
    draw_text(&mut img, "x", ((x0 + x1) as i64 / 2, y1 as i64 + 3), frame);
    draw_text(
        &mut img,
        "t",
        (x0 as i64 - 11, (y0 + y1) as i64 / 2 - 5),
        frame,
    );
    let lx = (bx1 + 6) as i64;
    draw_text(&mut img, &format_tick(vmax), (lx, y0 as i64), frame);
    draw_text(&mut img, "0", (lx, (y0 + y1) as i64 / 2 - 5), frame);
    draw_text(&mut img, &format_tick(-vmax), (lx, y1 as i64 - 10), frame);
    img
}

/// Clips the segment `a`–`b` to the rectangle `(x0, y0, x1, y1)` (Liang-Barsky).
fn clip(
    a: (f64, f64),
    b: (f64, f64),
    (x0, y0, x1, y1): (f64, f64, f64, f64),
) -> Option<((f64, f64), (f64, f64))> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [
        (-dx, a.0 - x0),
        (dx, x1 - a.0),
        (-dy, a.1 - y0),
        (dy, y1 - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
        }
    }
    (t0 <= t1).then_some({
        (
            (a.0 + t0 * dx, a.1 + t0 * dy),
            (a.0 + t1 * dx, a.1 + t1 * dy),
        )
    })
}

/// An anti-aliased line of half-width `r` pixels from `a` to `b`.
fn segment(img: &mut RgbImage, a: (f64, f64), b: (f64, f64), r: f64, color: [u8; 3]) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let x_lo = ((a.0.min(b.0) - r - 1.0).floor() as i64).max(0);
    let x_hi = ((a.0.max(b.0) + r + 1.0).ceil() as i64).min(w - 1);
    let y_lo = ((a.1.min(b.1) - r - 1.0).floor() as i64).max(0);
    let y_hi = ((a.1.max(b.1) + r + 1.0).ceil() as i64).min(h - 1);
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    for py in y_lo..=y_hi {
        for px in x_lo..=x_hi {
            let (cx, cy) = (px as f64 + 0.5, py as f64 + 0.5);
            let t = if len2 > 0.0 {
                (((cx - a.0) * dx + (cy - a.1) * dy) / len2).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let (ex, ey) = (a.0 + t * dx - cx, a.1 + t * dy - cy);
            let d = (ex * ex + ey * ey).sqrt();
            let cover = (r + 0.5 - d).clamp(0.0, 1.0);
            if cover > 0.0 {
                blend(img, px as u32, py as u32, color, cover);
            }
        }
    }
}

fn blend(img: &mut RgbImage, x: u32, y: u32, color: [u8; 3], alpha: f64) {
    let p = img.get_pixel_mut(x, y);
    for (dst, &src) in p.0.iter_mut().zip(color.iter()) {
        let v = *dst as f64 * (1.0 - alpha) + src as f64 * alpha;
        *dst = v.round().clamp(0.0, 255.0) as u8;
    }
}

/// A tick label: 3 significant digits, plain notation.
fn format_tick(v: f64) -> String {
    let a = v.abs();
    let s = if a == 0.0 {
        "0".to_string()
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else if a >= 0.01 {
        format!("{v:.3}")
    } else {
        format!("{v:.1e}")
    };
    if s == "-0.000" || s == "-0.00" {
        "0".to_string()
    } else {
        s
    }
}

/// 3×5 glyphs, rows top to bottom, 3 bits each (MSB left); see [`glyph_w`].
fn glyph(c: char) -> Option<[u8; 5]> {
    Some(match c {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 7, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 1, 1],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        '-' => [0, 0, 7, 0, 0],
        '+' => [0, 2, 7, 2, 0],
        '.' => [0, 0, 0, 0, 2],
        'e' => [0, 7, 7, 4, 7],
        ' ' => [0, 0, 0, 0, 0],
        '=' => [0, 7, 0, 7, 0],
        'a' => [0, 6, 1, 7, 7],
        'b' => [4, 4, 7, 5, 7],
        'd' => [1, 1, 7, 5, 7],
        'i' => [2, 0, 2, 2, 2],
        'o' => [0, 0, 7, 5, 7],
        's' => [0, 3, 6, 1, 6],
        't' => [2, 7, 2, 2, 3],
        'x' => [0, 5, 2, 2, 5],
        _ => return None,
    })
}

const SCALE: i64 = 2;

/// A glyph's rows and its width in font pixels: 3, or 5 for the wide letters.
fn glyph_w(c: char) -> Option<([u8; 5], i64)> {
    match c {
        'm' => Some(([0, 0, 0b11010, 0b10101, 0b10101], 5)),
        _ => glyph(c).map(|g| (g, 3)),
    }
}

fn text_width(s: &str) -> u32 {
    let font_px: i64 = s.chars().filter_map(glyph_w).map(|(_, w)| w + 1).sum();
    ((font_px - 1).max(0) * SCALE) as u32
}

/// Draws `s` with its top-left corner at `at`, glyphs scaled by 2.
fn draw_text(img: &mut RgbImage, s: &str, at: (i64, i64), color: [u8; 3]) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let mut x0 = at.0;
    for c in s.chars() {
        let Some((g, gw)) = glyph_w(c) else { continue };
        for (row, bits) in g.iter().enumerate() {
            for col in 0..gw {
                if bits & (1 << (gw - 1 - col)) != 0 {
                    for dy in 0..SCALE {
                        for dx in 0..SCALE {
                            let (x, y) = (x0 + col * SCALE + dx, at.1 + row as i64 * SCALE + dy);
                            if (0..w).contains(&x) && (0..h).contains(&y) {
                                img.put_pixel(x as u32, y as u32, Rgb(color));
                            }
                        }
                    }
                }
            }
        }
        x0 += (gw + 1) * SCALE;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_curves_in_their_colours() {
        let y: Vec<f64> = (0..100).map(|i| (i as f64 / 10.0).sin()).collect();
        let img = LinePlot::new(300, 200, (0.0, 10.0)).curve(&y).render();
        assert_eq!(img.dimensions(), (300, 200));
        let blue = img.pixels().filter(|p| p.0 == PALETTE[0]).count();
        assert!(blue > 100, "{blue} curve pixels");
    }

    #[test]
    fn heat_map_uses_the_diverging_colours() {
        assert_eq!(diverging(0.0), [247, 247, 247]);
        assert_eq!(diverging(1.0), [178, 24, 43]);
        assert_eq!(diverging(-2.0), [33, 102, 172]);
        let data: Vec<f64> = (0..40).map(|i| i as f64 - 20.0).collect();
        let img = heat_map(&data, 4, 10, 300, 100);
        assert_eq!(img.dimensions(), (300, 100));
        assert!(img.pixels().any(|p| p.0 == [33, 102, 172]));
    }

    #[test]
    fn tick_labels() {
        assert_eq!(format_tick(0.0), "0");
        assert_eq!(format_tick(-1.05), "-1.05");
        assert_eq!(format_tick(471.3), "471");
        assert!(text_width("-1.05") > 0);
    }
}
