//! The push-time check: a template whose *constant* arguments already exceed the limits
//! (`indent(10**13)`, `range(10**13)`, `'x' * 10**10`) is refused when it is published, rather
//! than on its first render. Best effort by design: anything computed at render time is caught
//! by the render bounds, which are the guarantee.

use super::limits::RenderLimits;

/// Calls whose arguments are counts: `(name, positional index checked, keyword checked)`.
const SIZE_CALLS: [(&str, Option<&str>); 4] = [
    ("indent", Some("width")),
    ("slice", None),
    ("batch", None),
    ("range", None),
];

#[derive(Debug, Clone, PartialEq)]
enum Tok<'a> {
    Str(usize),
    Int(i128),
    Ident(&'a str),
    Op(&'a str),
}

/// A constant argument over a limit: the limit's name and what asked for it, with the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    pub(crate) limit: &'static str,
    pub(crate) message: String,
}

/// Refuses constant size arguments over the limits.
pub(crate) fn check(source: &str, limits: &RenderLimits) -> Result<(), Refused> {
    let mut rest = 0;
    while let Some(open) = source[rest..].find('{').map(|i| rest + i) {
        let after = &source[open..];
        let close = if after.starts_with("{{") {
            "}}"
        } else if after.starts_with("{%") {
            "%}"
        } else if after.starts_with("{#") {
            rest = source[open..]
                .find("#}")
                .map_or(source.len(), |i| open + i + 2);
            continue;
        } else {
            rest = open + 1;
            continue;
        };
        let (toks, end) = tokens(source, open + 2, close);
        if matches!(toks.first(), Some(Tok::Ident("raw"))) {
            rest = source[end..]
                .find("endraw")
                .map_or(source.len(), |i| end + i + 6);
            continue;
        }
        let line = source[..open].matches('\n').count() + 1;
        check_tokens(&toks, limits).map_err(|(limit, m)| Refused {
            limit,
            message: format!("{m} (limit {limit}) (line {line})"),
        })?;
        rest = end;
    }
    Ok(())
}

/// The tokens of one tag, and the offset after its closing delimiter.
fn tokens<'a>(source: &'a str, start: usize, close: &str) -> (Vec<Tok<'a>>, usize) {
    let bytes = source.as_bytes();
    let mut toks = Vec::new();
    let mut i = start;
    while i < bytes.len() {
        if source[i..].starts_with(close) {
            return (toks, i + close.len());
        }
        let c = bytes[i];
        if c == b'\'' || c == b'"' {
            let mut j = i + 1;
            while j < bytes.len() && bytes[j] != c {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            toks.push(Tok::Str(j.saturating_sub(i + 1)));
            i = j + 1;
        } else if c.is_ascii_digit() {
            let j = i + source[i..].bytes().take_while(u8::is_ascii_digit).count();
            toks.push(Tok::Int(source[i..j].parse().unwrap_or(i128::MAX)));
            i = j;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let j = i + source[i..]
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                .count();
            toks.push(Tok::Ident(&source[i..j]));
            i = j;
        } else if c.is_ascii_whitespace() || c == b'-' && source[i + 1..].starts_with(close) {
            i += 1;
        } else {
            let len = if source[i..].starts_with("**") { 2 } else { 1 };
            toks.push(Tok::Op(&source[i..i + len]));
            i += len;
        }
    }
    (toks, bytes.len())
}

/// A constant `N`, `N ** M` or `N * M ...` at `toks[i..]`: its value and the tokens it took.
fn constant(toks: &[Tok<'_>], i: usize) -> Option<(i128, usize)> {
    let Some(Tok::Int(mut value)) = toks.get(i) else {
        return None;
    };
    let mut j = i + 1;
    loop {
        match (toks.get(j), toks.get(j + 1)) {
            (Some(Tok::Op("**")), Some(Tok::Int(e))) => {
                let e = u32::try_from(*e).unwrap_or(u32::MAX);
                value = value.checked_pow(e).unwrap_or(i128::MAX);
            }
            (Some(Tok::Op("*")), Some(Tok::Int(m))) => {
                value = value.checked_mul(*m).unwrap_or(i128::MAX);
            }
            _ => return Some((value, j - i)),
        }
        j += 2;
    }
}

fn check_tokens(toks: &[Tok<'_>], limits: &RenderLimits) -> Result<(), (&'static str, String)> {
    let max_arg = limits.max_size_argument as i128;
    for (i, tok) in toks.iter().enumerate() {
        match tok {
            Tok::Ident(name) if toks.get(i + 1) == Some(&Tok::Op("(")) => {
                let Some((_, keyword)) = SIZE_CALLS.iter().find(|(n, _)| n == name) else {
                    continue;
                };
                let mut j = i + 2;
                if let (Some(kw), Some(Tok::Ident(k)), Some(Tok::Op("="))) =
                    (keyword, toks.get(j), toks.get(j + 1))
                {
                    if k == kw {
                        j += 2;
                    }
                }
                while let Some((n, used)) = constant(toks, j) {
                    if n > max_arg {
                        return Err((
                            "max_size_argument",
                            format!("{name} asks for {n}, more than {max_arg}"),
                        ));
                    }
                    if toks.get(j + used) != Some(&Tok::Op(",")) || *name != "range" {
                        break;
                    }
                    j += used + 1;
                }
            }
            Tok::Op("*") => {
                let repeated = match (i.checked_sub(1).and_then(|p| toks.get(p)), toks.get(i + 1)) {
                    (Some(Tok::Str(len)), _) => constant(toks, i + 1).map(|(n, _)| (*len, n)),
                    (_, Some(Tok::Str(len))) => {
                        // `N * 'x'`: find where the constant before the `*` starts.
                        (0..i).find_map(|s| {
                            constant(toks, s)
                                .filter(|(_, used)| s + used == i)
                                .map(|(n, _)| (*len, n))
                        })
                    }
                    _ => None,
                };
                // `[..] * N`, `(..) * N`: a list repeated lazily, N times its length.
                if let (Some(Tok::Op("]" | ")")), Some((n, _))) = (
                    i.checked_sub(1).and_then(|p| toks.get(p)),
                    constant(toks, i + 1),
                ) {
                    if n > max_arg {
                        return Err((
                            "max_size_argument",
                            format!("a list repeated {n} times is more than {max_arg} items"),
                        ));
                    }
                }
                if let Some((len, n)) = repeated {
                    let bytes = (len as i128).saturating_mul(n);
                    if bytes > limits.max_output_bytes as i128 {
                        return Err((
                            "max_output_bytes",
                            format!(
                                "a string repeated {n} times would be {bytes} bytes, more than {}",
                                limits.max_output_bytes
                            ),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}
