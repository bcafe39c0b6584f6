//! A minimal `.npy` (NumPy format 1.0) writer for little-endian `f64` arrays.
//!
//! Used by rank 0 until the collective MPI-IO writer of quicklb-transport is
//! available to the demos.

use std::io::Write;
use std::path::Path;

/// The `.npy` header (magic, version 1.0, dict padded to a multiple of 64 bytes).
pub fn header_f64(shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_txt = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut dict = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape_txt}, }}");
    let unpadded = 10 + dict.len() + 1;
    let pad = (64 - unpadded % 64) % 64;
    dict.push_str(&" ".repeat(pad));
    dict.push('\n');
    let mut out = Vec::with_capacity(10 + dict.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

/// Writes a C-order `f64` array of the given shape.
pub fn write_f64(path: &Path, shape: &[usize], data: &[f64]) -> std::io::Result<()> {
    let count: usize = shape.iter().product();
    if count != data.len() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("shape {shape:?} needs {count} values, got {}", data.len()),
        ));
    }
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    f.write_all(&header_f64(shape))?;
    for v in data {
        f.write_all(&v.to_le_bytes())?;
    }
    f.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_aligned_and_well_formed() {
        let h = header_f64(&[256, 4]);
        assert_eq!(h.len() % 64, 0);
        assert_eq!(&h[..8], b"\x93NUMPY\x01\x00");
        let text = std::str::from_utf8(&h[10..]).unwrap();
        assert!(text.contains("'shape': (256, 4)"));
        assert!(text.ends_with('\n'));
        assert!(std::str::from_utf8(&header_f64(&[3])[10..])
            .unwrap()
            .contains("(3,)"));
    }
}
