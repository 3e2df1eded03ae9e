//! The minijinja environment a render runs in: semi-strict about undefined values, fuelled,
//! and with every builtin that can allocate in proportion to an argument or an input replaced
//! by a version that checks the size first and charges the render's [`Budget`].
//!
//! The builtins themselves still do the work (so behaviour matches minijinja's documentation);
//! the wrappers only refuse what would not fit. What each one checks:
//!
//! - every wrapped filter, test and function: each argument holds at most `max_size_argument`
//!   items (no lazy `[big] * 100000` is walked or copied), an argument of a filter that prints
//!   it also prints in at most `max_output_bytes`, and a string result fits that bound; the
//!   walks themselves are budgeted (`max_fuel` × 50 values per render);
//! - `indent`: the width, and lines × width; `slice`, `batch`: the count; `range`: the length;
//!   `format`: every width and precision in the format string (and `*` arguments);
//!   `replace`: occurrences × replacement; `join`: items × separator; `split`, `lines`: parts;
//! - `{{ … }}`: the formatter refuses undefined values (naming them happens in `undefined.rs`)
//!   and charges what it prints, captured or not; the final text goes through a bounded writer.

use std::sync::Arc;

use minijinja::value::{Rest, Value};
use minijinja::{
    filters, functions, tests, Environment, Error, ErrorKind, State, UndefinedBehavior,
};

use super::limits::{BoundedString, Budget};

/// Filters wrapped with the generic argument and result checks, with their builtin.
fn checked_filters() -> Vec<(&'static str, Value)> {
    vec![
        ("escape", Value::from_function(filters::escape)),
        ("e", Value::from_function(filters::escape)),
        ("lower", Value::from_function(filters::lower)),
        ("upper", Value::from_function(filters::upper)),
        ("title", Value::from_function(filters::title)),
        ("capitalize", Value::from_function(filters::capitalize)),
        ("replace", Value::from_function(filters::replace)),
        ("dictsort", Value::from_function(filters::dictsort)),
        ("items", Value::from_function(filters::items)),
        ("reverse", Value::from_function(filters::reverse)),
        ("trim", Value::from_function(filters::trim)),
        ("join", Value::from_function(filters::join)),
        ("split", Value::from_function(filters::split)),
        ("lines", Value::from_function(filters::lines)),
        ("last", Value::from_function(filters::last)),
        ("min", Value::from_function(filters::min)),
        ("max", Value::from_function(filters::max)),
        ("sort", Value::from_function(filters::sort)),
        ("list", Value::from_function(filters::list)),
        ("string", Value::from_function(filters::string)),
        ("batch", Value::from_function(filters::batch)),
        ("slice", Value::from_function(filters::slice)),
        ("sum", Value::from_function(filters::sum)),
        ("indent", Value::from_function(filters::indent)),
        ("select", Value::from_function(filters::select)),
        ("reject", Value::from_function(filters::reject)),
        ("selectattr", Value::from_function(filters::selectattr)),
        ("rejectattr", Value::from_function(filters::rejectattr)),
        ("map", Value::from_function(filters::map)),
        ("groupby", Value::from_function(filters::groupby)),
        ("unique", Value::from_function(filters::unique)),
        ("chain", Value::from_function(filters::chain)),
        ("zip", Value::from_function(filters::zip)),
        ("format", Value::from_function(filters::format)),
    ]
}

/// Tests that compare or search whole values (a lazily repeated list could take forever).
fn checked_tests() -> Vec<(&'static str, Value)> {
    let eq = Value::from_function(tests::is_eq);
    let ne = Value::from_function(tests::is_ne);
    vec![
        ("eq", eq.clone()),
        ("equalto", eq.clone()),
        ("==", eq),
        ("ne", ne.clone()),
        ("!=", ne),
        ("in", Value::from_function(tests::is_in)),
        ("sameas", Value::from_function(tests::is_sameas)),
    ]
}

/// The environment for one render, charging `budget`.
pub(crate) fn environment(budget: &Arc<Budget>) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    env.set_fuel(Some(budget.limits.max_fuel));
    for (name, builtin) in checked_filters() {
        let budget = Arc::clone(budget);
        env.add_filter(name, move |state: &State, args: Rest<Value>| {
            checked_call(&budget, name, &builtin, state, &args)
        });
    }
    for (name, builtin) in checked_tests() {
        let budget = Arc::clone(budget);
        env.add_test(name, move |state: &State, args: Rest<Value>| {
            for a in args.iter() {
                budget.check_items(a)?;
            }
            Ok::<bool, Error>(builtin.call(state, &args)?.is_true())
        });
    }
    let b = Arc::clone(budget);
    let range = Value::from_function(functions::range);
    env.add_function("range", move |state: &State, args: Rest<Value>| {
        check_range(&b, &args)?;
        range.call(state, &args)
    });
    for (name, builtin) in [
        ("dict", Value::from_function(functions::dict)),
        ("namespace", Value::from_function(functions::namespace)),
    ] {
        let b = Arc::clone(budget);
        env.add_function(name, move |state: &State, args: Rest<Value>| {
            for a in args.iter() {
                b.check_value(a)?;
            }
            builtin.call(state, &args)
        });
    }
    let b = Arc::clone(budget);
    env.add_function("debug", move |state: &State, args: Rest<Value>| {
        let mut out = BoundedString {
            s: String::new(),
            left: b.limits.max_output_bytes,
        };
        let written = match args.len() {
            0 => std::fmt::write(&mut out, format_args!("{state:#?}")),
            1 => std::fmt::write(&mut out, format_args!("{:#?}", args[0])),
            _ => std::fmt::write(&mut out, format_args!("{:#?}", &args[..])),
        };
        match written {
            Ok(()) => Ok(Value::from(out.s)),
            Err(_) => Err(b.exceeded("max_output_bytes", "debug() output is too large")),
        }
    });
    let pprint_budget = Arc::clone(budget);
    env.add_filter("pprint", move |value: Value| {
        let b = &pprint_budget;
        b.check_value(&value)?;
        let mut out = BoundedString {
            s: String::new(),
            left: b.limits.max_output_bytes,
        };
        std::fmt::write(&mut out, format_args!("{value:#?}"))
            .map_err(|_| b.exceeded("max_output_bytes", "pprint output is too large"))?;
        Ok::<Value, Error>(Value::from(out.s))
    });
    let b = Arc::clone(budget);
    env.set_formatter(move |out, state, value| {
        if value.is_undefined() {
            return Err(Error::from(ErrorKind::UndefinedError));
        }
        let size = b.check_value(value)?;
        b.charge_produced(size)?;
        minijinja::escape_formatter(out, state, value)
    });
    env
}

/// Filters that turn their input into text: their inputs must also print within the bound.
const PRINTING: [&str; 14] = [
    "escape",
    "e",
    "lower",
    "upper",
    "title",
    "capitalize",
    "replace",
    "trim",
    "join",
    "string",
    "format",
    "indent",
    "split",
    "lines",
];

/// The generic checks around a builtin filter, plus the filter's own size arguments.
fn checked_call(
    budget: &Budget,
    name: &str,
    builtin: &Value,
    state: &State,
    args: &[Value],
) -> Result<Value, Error> {
    for a in args {
        if PRINTING.contains(&name) {
            budget.check_value(a)?;
        } else {
            budget.check_items(a)?;
        }
    }
    match name {
        "indent" => check_indent(budget, args)?,
        "slice" | "batch" => {
            if let Some(n) = args.get(1).and_then(as_int) {
                budget.check_size_argument(&format!("{name} count"), n)?;
            }
        }
        "format" => check_format(budget, args)?,
        "replace" => check_replace(budget, args)?,
        "join" => check_join(budget, args)?,
        "split" | "lines" => check_parts(budget, name, args)?,
        _ => {}
    }
    let out = builtin.call(state, args)?;
    if let Some(s) = out.as_str() {
        budget.check_bytes(&format!("the result of {name}"), s.len())?;
    }
    Ok(out)
}

fn as_int(v: &Value) -> Option<i128> {
    i128::try_from(v.clone()).ok()
}

/// A positional argument, or the keyword argument of that name.
fn arg(args: &[Value], pos: usize, key: &str) -> Option<Value> {
    let kwargs = args.last().filter(|v| v.is_kwargs());
    let positional = args.len() - usize::from(kwargs.is_some());
    if pos < positional {
        return args.get(pos).cloned();
    }
    kwargs
        .and_then(|k| k.get_attr(key).ok())
        .filter(|v| !v.is_undefined())
}

fn text_len(v: &Value) -> usize {
    v.as_str().map_or_else(|| v.to_string().len(), str::len)
}

fn check_indent(budget: &Budget, args: &[Value]) -> Result<(), Error> {
    let Some(width) = arg(args, 1, "width").as_ref().and_then(as_int) else {
        return Ok(());
    };
    budget.check_size_argument("indent width", width)?;
    let (lines, len) = match args.first() {
        Some(v) => match v.as_str() {
            Some(s) => (s.lines().count(), s.len()),
            None => (1, text_len(v)),
        },
        None => (0, 0),
    };
    let width = usize::try_from(width).unwrap_or(0);
    budget.check_bytes(
        "the indented text",
        len.saturating_add(lines.saturating_add(1).saturating_mul(width)),
    )
}

fn check_range(budget: &Budget, args: &[Value]) -> Result<(), Error> {
    let ints: Vec<i128> = args.iter().filter_map(as_int).collect();
    let (lower, upper, step) = match ints[..] {
        [upper] => (0, upper, 1),
        [lower, upper] => (lower, upper, 1),
        [lower, upper, step] => (lower, upper, step),
        _ => return Ok(()),
    };
    if step == 0 {
        return Ok(());
    }
    let len = (upper - lower) / step;
    budget.check_size_argument("range length", len)
}

/// Widths and precisions are read from the format string itself; `*` takes them from the
/// arguments, so then every integer argument counts as one.
fn check_format(budget: &Budget, args: &[Value]) -> Result<(), Error> {
    let Some(fmt) = args.first().and_then(|v| v.as_str()) else {
        return Ok(());
    };
    let mut digits = String::new();
    for c in fmt.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_digit() {
            digits.push(c);
        } else if !digits.is_empty() {
            let n = digits.parse::<i128>().unwrap_or(i128::MAX);
            budget.check_size_argument("format width or precision", n)?;
            digits.clear();
        }
    }
    if fmt.contains('*') {
        for n in args[1..].iter().filter_map(as_int) {
            budget.check_size_argument("format width or precision", n.abs())?;
        }
    }
    Ok(())
}

fn check_replace(budget: &Budget, args: &[Value]) -> Result<(), Error> {
    let (Some(s), Some(from), Some(to)) = (args.first(), args.get(1), args.get(2)) else {
        return Ok(());
    };
    let (s, from, to) = (s.to_string(), from.to_string(), to.to_string());
    let hits = if from.is_empty() {
        s.chars().count() + 1
    } else {
        s.matches(from.as_str()).count()
    };
    let grown = hits.saturating_mul(to.len().saturating_sub(from.len()));
    budget.check_bytes("the replaced text", s.len().saturating_add(grown))
}

fn check_join(budget: &Budget, args: &[Value]) -> Result<(), Error> {
    let (Some(items), Some(sep)) = (args.first(), args.get(1)) else {
        return Ok(());
    };
    let n = items.len().unwrap_or(0);
    let items_size = budget.check_value(items)?;
    budget.check_bytes(
        "the joined text",
        items_size.saturating_add(n.saturating_mul(text_len(sep))),
    )
}

fn check_parts(budget: &Budget, name: &str, args: &[Value]) -> Result<(), Error> {
    let Some(s) = args.first().and_then(|v| v.as_str()) else {
        return Ok(());
    };
    let parts = match (name, args.get(1).and_then(|v| v.as_str())) {
        ("split", Some(sep)) if !sep.is_empty() => s.matches(sep).count() + 1,
        ("split", _) => s.split_whitespace().count(),
        _ => s.lines().count(),
    };
    budget.check_size_argument(&format!("{name} parts"), parts as i128)
}
