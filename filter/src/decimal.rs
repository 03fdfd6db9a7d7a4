//! Rates as text, exactly as Rust's `{}` prints an `f64` (the shortest digits that read back as
//! the same number, in plain notation: `0.1`, `1`, `0.0000001`), for the rule names the filter
//! puts on every sampled request (`probabilistic(0.1)@auth-service`) and its log lines. Ryū finds
//! the digits (with its small table: the standard library's Grisu/Dragon code would add 18 KB to
//! every sidecar's module, docs/performance.md); this module only lays them out without an
//! exponent.

use std::fmt;

/// An `f64` that displays as Rust's `{}` does.
#[derive(Debug, Clone, Copy)]
pub struct Decimal(pub f64);

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = self.0;
        if !value.is_finite() {
            return f.write_str(if value.is_nan() {
                "NaN"
            } else if value < 0.0 {
                "-inf"
            } else {
                "inf"
            });
        }
        let mut buffer = ryu::Buffer::new();
        let text = buffer.format_finite(value).as_bytes();
        let (sign, text) = match text.split_first() {
            Some((b'-', rest)) => ("-", rest),
            _ => ("", text),
        };
        // Ryū writes `1.0`, `0.001234`, `1.5e-7` or `1e16`: collect the significant digits and
        // where the decimal point goes among them.
        let mut digits = [0u8; 24];
        let (mut count, mut point, mut exponent) = (0usize, 0i32, 0i32);
        let (mut after_point, mut in_exponent, mut negative_exponent) = (false, false, false);
        for &byte in text {
            match byte {
                b'.' => after_point = true,
                b'e' => in_exponent = true,
                b'-' => negative_exponent = true,
                b'0'..=b'9' if in_exponent => exponent = exponent * 10 + i32::from(byte - b'0'),
                b'0' if count == 0 => point -= i32::from(after_point),
                b'0'..=b'9' if count < digits.len() => {
                    digits[count] = byte;
                    count += 1;
                    point += i32::from(!after_point);
                }
                _ => {}
            }
        }
        point += if negative_exponent { -exponent } else { exponent };
        while count > 0 && digits[count - 1] == b'0' {
            count -= 1;
        }
        let digits = std::str::from_utf8(&digits[..count]).unwrap_or_default();
        if digits.is_empty() {
            return write!(f, "{sign}0");
        }
        f.write_str(sign)?;
        let zeros = |f: &mut fmt::Formatter<'_>, n: i32| (0..n).try_for_each(|_| f.write_str("0"));
        match usize::try_from(point) {
            Ok(point) if point >= digits.len() => {
                f.write_str(digits)?;
                zeros(f, point as i32 - digits.len() as i32)
            }
            Ok(point) if point > 0 => write!(f, "{}.{}", &digits[..point], &digits[point..]),
            _ => {
                f.write_str("0.")?;
                zeros(f, -point)?;
                f.write_str(digits)
            }
        }
    }
}

#[cfg(test)]
mod tests;
