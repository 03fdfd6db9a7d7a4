use proptest::prelude::{any, prop_assert_eq, proptest, ProptestConfig};

use super::*;

#[test]
fn rates_print_as_rust_prints_them() {
    let cases = [
        (0.0, "0"),
        (-0.0, "-0"),
        (1.0, "1"),
        (0.1, "0.1"),
        (0.25, "0.25"),
        (0.001, "0.001"),
        (1e-7, "0.0000001"),
        (1.5e-7, "0.00000015"),
        (5.0, "5"),
        (2.5, "2.5"),
        (100.0, "100"),
        (1e16, "10000000000000000"),
        (1.5e20, "150000000000000000000"),
        (0.30000000000000004, "0.30000000000000004"),
        (-1.5, "-1.5"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "inf"),
    ];
    for (value, text) in cases {
        assert_eq!(Decimal(value).to_string(), text, "{value:e}");
        assert_eq!(format!("{value}"), text, "the standard library agrees");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    /// Any float reads back as itself, in as few digits as Rust prints it. (When two shortest
    /// digit strings both read back, Ryū and the standard library may pick different ones:
    /// `-1085961574415295.2` and `…5.3`; rates have far fewer digits, below.)
    #[test]
    fn any_float_reads_back_as_itself_in_as_few_digits_as_rust_prints(bits in any::<u64>()) {
        let value = f64::from_bits(bits);
        let ours = Decimal(value).to_string();
        let rust = format!("{value}");
        if value.is_finite() {
            prop_assert_eq!(ours.parse::<f64>().map(f64::to_bits), Ok(bits));
            prop_assert_eq!(ours.len(), rust.len());
        } else {
            prop_assert_eq!(ours, rust);
        }
    }

    #[test]
    fn any_rate_an_operator_writes_prints_as_rust_prints_it(digits in 0u64..10_000_000_000, scale in 0i32..12) {
        let value = digits as f64 / 10f64.powi(scale);
        prop_assert_eq!(Decimal(value).to_string(), format!("{value}"));
    }
}
