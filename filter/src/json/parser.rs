//! The JSON parser (RFC 8259) behind [`Json::parse`]: a recursive descent over the bytes, nesting
//! bounded at [`MAX_DEPTH`] as `serde_json` bounds it, errors naming what was expected and the
//! line and column where it was not found (worded as `serde_json` words its common errors). It replaced `serde_json`
//! in the module: a generic deserializer and its visitor were some 15 KB of every sidecar's
//! filter for two small documents read at configuration time (docs/performance.md). The tests
//! hold it to `serde_json`'s answers on generated documents.
//!
//! Numbers follow `serde_json` too: an integer is kept exactly when it fits (`u64`, or `i64`
//! when negative; `-0` is the float), anything else is a float ([`decimal_f64`]): exact when its
//! digits fit in 53 bits and its decimal exponent in ±22 (the rates and durations of a
//! configuration), else within a few units in the last place (the standard library's exact
//! parser would add 18 KB to the module), except that a number within a few units of `f64::MAX`
//! may be refused as out of range where `serde_json` reads it.

use std::fmt;

use super::{Json, Number};

/// The deepest nesting of arrays and objects accepted: one more is refused, as `serde_json`'s
/// recursion limit refuses it.
pub const MAX_DEPTH: usize = 127;

/// Why a document is not JSON, and where (1-based line and byte column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntaxError {
    reason: &'static str,
    line: usize,
    column: usize,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at line {} column {}", self.reason, self.line, self.column)
    }
}

/// Parses one whole document.
pub fn parse(bytes: &[u8]) -> Result<Json, SyntaxError> {
    let mut parser = Parser { bytes, at: 0, depth: 0 };
    let value = parser.value()?;
    parser.skip_whitespace();
    if parser.at < bytes.len() {
        return Err(parser.error("trailing characters"));
    }
    Ok(value)
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
    depth: usize,
}

/// Powers of ten a double holds exactly.
const EXACT_POWERS: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

impl Parser<'_> {
    fn error(&self, reason: &'static str) -> SyntaxError {
        let before = &self.bytes[..self.at.min(self.bytes.len())];
        let line_start = before.iter().rposition(|b| *b == b'\n').map_or(0, |newline| newline + 1);
        let line = 1 + before.iter().filter(|b| **b == b'\n').count();
        SyntaxError { reason, line, column: before.len() - line_start + 1 }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn value(&mut self) -> Result<Json, SyntaxError> {
        self.skip_whitespace();
        match self.peek() {
            None => Err(self.error("EOF while parsing a value")),
            Some(b'{') => self.nested(Self::object),
            Some(b'[') => self.nested(Self::array),
            Some(b'"') => self.string().map(Json::String),
            Some(b't') => self.literal(b"true", Json::Bool(true)),
            Some(b'f') => self.literal(b"false", Json::Bool(false)),
            Some(b'n') => self.literal(b"null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number().map(Json::Number),
            Some(_) => Err(self.error("expected value")),
        }
    }

    fn nested(&mut self, parse: fn(&mut Self) -> Result<Json, SyntaxError>) -> Result<Json, SyntaxError> {
        if self.depth == MAX_DEPTH {
            return Err(self.error("recursion limit exceeded"));
        }
        self.depth += 1;
        self.at += 1;
        let value = parse(self);
        self.depth -= 1;
        value
    }

    fn literal(&mut self, word: &[u8], value: Json) -> Result<Json, SyntaxError> {
        for expected in word {
            match self.peek() {
                Some(byte) if byte == *expected => self.at += 1,
                Some(_) => return Err(self.error("expected ident")),
                None => return Err(self.error("EOF while parsing a value")),
            }
        }
        Ok(value)
    }

    /// After `[`.
    fn array(&mut self) -> Result<Json, SyntaxError> {
        let mut items = Vec::new();
        if self.closes_at_once(b']') {
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value()?);
            if !self.another_item(b']', "expected `,` or `]`", "EOF while parsing a list")? {
                return Ok(Json::Array(items));
            }
        }
    }

    /// After `{`.
    fn object(&mut self) -> Result<Json, SyntaxError> {
        let mut members = Vec::new();
        if self.closes_at_once(b'}') {
            return Ok(Json::Object(members));
        }
        loop {
            self.skip_whitespace();
            match self.peek() {
                Some(b'"') => {}
                Some(_) => return Err(self.error("key must be a string")),
                None => return Err(self.error("EOF while parsing an object")),
            }
            let key = self.string()?;
            self.skip_whitespace();
            match self.peek() {
                Some(b':') => self.at += 1,
                Some(_) => return Err(self.error("expected `:`")),
                None => return Err(self.error("EOF while parsing an object")),
            }
            members.push((key, self.value()?));
            if !self.another_item(b'}', "expected `,` or `}`", "EOF while parsing an object")? {
                return Ok(Json::Object(members));
            }
        }
    }

    /// Whether an array or object is empty: its `close` byte comes first (and is taken).
    fn closes_at_once(&mut self, close: u8) -> bool {
        self.skip_whitespace();
        let empty = self.peek() == Some(close);
        self.at += usize::from(empty);
        empty
    }

    /// After an item of an array or object: `true` on `,` (another follows), `false` on its
    /// `close` byte (taken), else the error.
    fn another_item(&mut self, close: u8, expected: &'static str, eof: &'static str) -> Result<bool, SyntaxError> {
        self.skip_whitespace();
        let Some(byte) = self.peek() else {
            return Err(self.error(eof));
        };
        if byte != b',' && byte != close {
            return Err(self.error(expected));
        }
        self.at += 1;
        if byte == b',' {
            self.skip_whitespace();
            if self.peek() == Some(close) {
                return Err(self.error("trailing comma"));
            }
        }
        Ok(byte == b',')
    }

    /// At `"`: the string's text, escapes resolved.
    fn string(&mut self) -> Result<String, SyntaxError> {
        self.at += 1;
        let mut text = Vec::new();
        loop {
            let run_start = self.at;
            while matches!(self.peek(), Some(byte) if byte != b'"' && byte != b'\\' && byte >= 0x20) {
                self.at += 1;
            }
            text.extend_from_slice(&self.bytes[run_start..self.at]);
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    return String::from_utf8(text).map_err(|_| self.error("invalid unicode code point"));
                }
                Some(b'\\') => {
                    self.at += 1;
                    self.escape(&mut text)?;
                }
                Some(_) => return Err(self.error("control character (\\u0000-\\u001F) found while parsing a string")),
                None => return Err(self.error("EOF while parsing a string")),
            }
        }
    }

    /// After `\`: one escape, appended to `text` as UTF-8.
    fn escape(&mut self, text: &mut Vec<u8>) -> Result<(), SyntaxError> {
        let Some(kind) = self.peek() else {
            return Err(self.error("EOF while parsing a string"));
        };
        self.at += 1;
        let byte = match kind {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let mut buf = [0u8; 4];
                text.extend_from_slice(self.unicode_escape()?.encode_utf8(&mut buf).as_bytes());
                return Ok(());
            }
            _ => return Err(self.error("invalid escape")),
        };
        text.push(byte);
        Ok(())
    }

    /// After `\u`: a character, from one escape or a surrogate pair of two.
    fn unicode_escape(&mut self) -> Result<char, SyntaxError> {
        let first = self.hex4()?;
        let code = match first {
            0xd800..=0xdbff => {
                if self.bytes.get(self.at..self.at + 2) != Some(b"\\u") {
                    return Err(self.error("lone leading surrogate in hex escape"));
                }
                self.at += 2;
                let second = self.hex4()?;
                if !(0xdc00..=0xdfff).contains(&second) {
                    return Err(self.error("lone leading surrogate in hex escape"));
                }
                0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00)
            }
            0xdc00..=0xdfff => return Err(self.error("lone trailing surrogate in hex escape")),
            code => code,
        };
        char::from_u32(code).ok_or_else(|| self.error("invalid unicode code point"))
    }

    fn hex4(&mut self) -> Result<u32, SyntaxError> {
        let mut code = 0;
        for _ in 0..4 {
            let digit = match self.peek() {
                Some(byte) => char::from(byte).to_digit(16).ok_or_else(|| self.error("invalid escape"))?,
                None => return Err(self.error("EOF while parsing a string")),
            };
            code = code * 16 + digit;
            self.at += 1;
        }
        Ok(code)
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        self.at - start
    }

    /// At `-` or a digit.
    fn number(&mut self) -> Result<Number, SyntaxError> {
        let negative = self.peek() == Some(b'-');
        self.at += usize::from(negative);
        let int_start = self.at;
        match self.digits() {
            0 => return Err(self.error("invalid number")),
            len if len > 1 && self.bytes[int_start] == b'0' => return Err(self.error("invalid number")),
            _ => {}
        }
        let int_end = self.at;
        let (mut frac_start, mut frac_end) = (self.at, self.at);
        if self.peek() == Some(b'.') {
            self.at += 1;
            frac_start = self.at;
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
            frac_end = self.at;
        }
        let mut exponent: i64 = 0;
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            let exponent_negative = self.peek() == Some(b'-');
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            let start = self.at;
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
            for digit in &self.bytes[start..self.at] {
                exponent = (exponent * 10 + i64::from(digit - b'0')).min(1 << 40);
            }
            if exponent_negative {
                exponent = -exponent;
            }
        }
        let integer = &self.bytes[int_start..int_end];
        let fraction = &self.bytes[frac_start..frac_end];
        if fraction.is_empty() && exponent == 0 && self.at == int_end {
            if let Some(magnitude) = decimal_u64(integer) {
                return Ok(match (negative, magnitude) {
                    (false, magnitude) => Number::Unsigned(magnitude),
                    (true, 0) => Number::Float(-0.0),
                    (true, magnitude) => match 0i64.checked_sub_unsigned(magnitude) {
                        Some(value) => Number::Negative(value),
                        None => Number::Float(-(magnitude as f64)),
                    },
                });
            }
        }
        let value = decimal_f64(integer, fraction, exponent);
        if value.is_infinite() {
            return Err(self.error("number out of range"));
        }
        Ok(Number::Float(if negative { -value } else { value }))
    }
}

/// The decimal digits as a `u64`, when they fit.
fn decimal_u64(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |value, digit| value.checked_mul(10)?.checked_add(u64::from(digit - b'0')))
}

/// `integer.fraction × 10^exponent` (digits only): the leading digits as an integer (as many as
/// fit in a `u64`, as `serde_json` takes them), then one multiplication or division by a power of
/// ten. Exact when those digits fit in 53 bits and the decimal exponent in ±22; else the power is
/// `powi`'s (steps of 10^300 keep it finite), within a few units in the last place, so a number
/// within a few of them of `f64::MAX` can come out infinite (refused as out of range). A table
/// of all 309 powers would read those as `serde_json` does, for 2.4 KB of the module.
fn decimal_f64(integer: &[u8], fraction: &[u8], exponent: i64) -> f64 {
    // Digits are taken while the integer fits in a `u64`; later ones only move the point.
    let mut mantissa: u64 = 0;
    let mut scale = exponent;
    for (index, digit) in integer.iter().chain(fraction).enumerate() {
        let in_fraction = index >= integer.len();
        match mantissa.checked_mul(10).and_then(|tens| tens.checked_add(u64::from(digit - b'0'))) {
            Some(more) => {
                mantissa = more;
                scale -= i64::from(in_fraction);
            }
            None => scale += i64::from(!in_fraction),
        }
    }
    if mantissa == 0 {
        return 0.0;
    }
    let mut value = mantissa as f64;
    while scale > 300 && value.is_finite() {
        value *= 1e300;
        scale -= 300;
    }
    while scale < -300 && value != 0.0 {
        value /= 1e300;
        scale += 300;
    }
    let power = i32::try_from(scale.unsigned_abs()).unwrap_or(i32::MAX);
    let exact = usize::try_from(power).ok().and_then(|power| EXACT_POWERS.get(power)).filter(|_| mantissa < 1 << 53);
    let ten_to_the_power = exact.copied().unwrap_or_else(|| 10f64.powi(power));
    if scale < 0 {
        value / ten_to_the_power
    } else {
        value * ten_to_the_power
    }
}
