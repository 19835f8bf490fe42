//! Floats in messages written as Python writes them, so an error reads the same from either
//! engine: Rust's `{:?}` writes `1e20` and `{:e}` writes `1e9` where Python's `repr` writes
//! `1e+20` and `format(x, "g")` writes `1e+09`.

/// Python's `repr(x)`: the shortest digits that read back as `x`, in fixed point from 1e-4 up to
/// 1e16, else in scientific notation with a signed exponent of at least two digits.
pub fn repr(x: f64) -> String {
    // `{:e}` writes the same shortest round-trip digits, always in scientific notation.
    python_style(x, &format!("{x:e}"), -4, 16, true)
}

/// Python's `format(x, "g")`: six significant digits, in fixed point from 1e-4 up to 1e6, else
/// in scientific notation; trailing zeros dropped.
pub fn g(x: f64) -> String {
    python_style(x, &format!("{x:.5e}"), -4, 6, false)
}

/// `sci` (Rust's scientific text of `x`) laid out as Python does: fixed point when the decimal
/// exponent is in `lo..hi`; `point_zero` keeps a `.0` on whole numbers in fixed point (`repr`).
fn python_style(x: f64, sci: &str, lo: i32, hi: i32, point_zero: bool) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = match digits.trim_end_matches('0') {
        "" => "0",
        d => d,
    };
    if (lo..hi).contains(&exponent) {
        let (whole, fraction) = if exponent >= 0 {
            let point = exponent as usize + 1;
            if digits.len() > point {
                (digits[..point].to_owned(), digits[point..].to_owned())
            } else {
                (format!("{digits:0<point$}"), String::new())
            }
        } else {
            ("0".to_owned(), format!("{}{digits}", "0".repeat((-exponent - 1) as usize)))
        };
        match (fraction.is_empty(), point_zero) {
            (false, _) => format!("{sign}{whole}.{fraction}"),
            (true, true) => format!("{sign}{whole}.0"),
            (true, false) => format!("{sign}{whole}"),
        }
    } else {
        let (head, rest) = digits.split_at(1);
        let point = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!("{sign}{head}{point}e{exp_sign}{:02}", exponent.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What CPython 3.11 prints for `repr(x)` and `format(x, "g")`.
    #[test]
    fn floats_read_as_python_writes_them() {
        let cases: [(f64, &str, &str); 22] = [
            (0.0, "0.0", "0"),
            (-0.0, "-0.0", "-0"),
            (1.0, "1.0", "1"),
            (10.0, "10.0", "10"),
            (0.55, "0.55", "0.55"),
            (-2.5, "-2.5", "-2.5"),
            (60000.0, "60000.0", "60000"),
            (123456.0, "123456.0", "123456"),
            (1234567.0, "1234567.0", "1.23457e+06"),
            (1e6, "1000000.0", "1e+06"),
            (1e9, "1000000000.0", "1e+09"),
            (1e15, "1000000000000000.0", "1e+15"),
            (1e16, "1e+16", "1e+16"),
            (1.5e16, "1.5e+16", "1.5e+16"),
            (1e100, "1e+100", "1e+100"),
            (1e-4, "0.0001", "0.0001"),
            (1.25e-4, "0.000125", "0.000125"),
            (1e-5, "1e-05", "1e-05"),
            (1e-6, "1e-06", "1e-06"),
            (-1.7976931348623157e308, "-1.7976931348623157e+308", "-1.79769e+308"),
            (5e-324, "5e-324", "4.94066e-324"),
            (0.1 + 0.2, "0.30000000000000004", "0.3"),
        ];
        for (x, r, gx) in cases {
            assert_eq!(repr(x), r, "repr({x:e})");
            assert_eq!(g(x), gx, "g({x:e})");
        }
        assert_eq!(repr(f64::NAN), "nan");
        assert_eq!(repr(f64::NEG_INFINITY), "-inf");
        assert_eq!(g(f64::INFINITY), "inf");
        // Rounding to six digits can carry into a new leading digit.
        assert_eq!(g(999999.6), "1e+06");
        assert_eq!(g(9.999996e-5), "0.0001");
    }
}
