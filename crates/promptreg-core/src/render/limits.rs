//! The bounds of one render: [`RenderLimits`] (configured), the per-render [`Budget`] that the
//! bounded filters, the formatter and the output writer charge, and the size estimate that lets
//! a filter refuse a value before it copies it.
//!
//! Fuel alone is not enough: it counts steps, and one step (`indent(10**13)`, `"x" * 10**8`,
//! joining a list of large strings) can ask for gigabytes. Every place where template code hands
//! us a value therefore checks its size first, and says which limit it hit.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use minijinja::value::ObjectRepr;
use minijinja::{Error, ErrorKind, Value};

/// How much one render may do. Every field is a hard bound; exceeding one is an error that
/// names it (`max_output_bytes`, `max_fuel`, `max_size_argument`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderLimits {
    /// Longest rendered text, summed over the messages of a chat prompt; also the largest
    /// string a filter may build or be given. The text written by `{{ … }}` anywhere, captured
    /// blocks and macro output included, may total at most four times this.
    pub max_output_bytes: usize,
    /// Template execution steps (minijinja fuel); stops runaway loops.
    pub max_fuel: u64,
    /// The largest count a template may ask for: `range` length, `indent` and format widths,
    /// `slice`/`batch` counts, and the number of items a filter walks.
    pub max_size_argument: usize,
}

impl Default for RenderLimits {
    fn default() -> Self {
        RenderLimits {
            max_output_bytes: 1024 * 1024,
            max_fuel: 200_000,
            max_size_argument: 100_000,
        }
    }
}

/// Captured blocks and macro output are written once when built and again when printed, so
/// the text written through `{{ … }}` may exceed the final output by this factor.
const PRODUCED_FACTOR: usize = 4;

/// The size checks walk values; over a render they may visit at most `max_fuel` × this many
/// values, so that checking a large list in a loop cannot itself become the runaway work.
const WALK_PER_FUEL: u64 = 50;

/// The shared state of one render: what has been written and which limit stopped it.
#[derive(Debug)]
pub(crate) struct Budget {
    pub(crate) limits: RenderLimits,
    /// Bytes written by `{{ … }}` so far, captured or not.
    produced: AtomicUsize,
    /// Bytes of final output so far, over all messages.
    output: AtomicUsize,
    /// Values visited by size checks so far.
    walked: AtomicUsize,
    /// The first limit hit; minijinja wraps our errors, this keeps the name.
    tripped: Mutex<Option<&'static str>>,
}

impl Budget {
    pub(crate) fn new(limits: RenderLimits) -> Self {
        Budget {
            limits,
            produced: AtomicUsize::new(0),
            output: AtomicUsize::new(0),
            walked: AtomicUsize::new(0),
            tripped: Mutex::new(None),
        }
    }

    /// The limit that stopped the render, if one did.
    pub(crate) fn tripped(&self) -> Option<&'static str> {
        self.tripped
            .lock()
            .map(|t| *t)
            .unwrap_or(Some("max_output_bytes"))
    }

    /// Records `limit` as hit and builds the template error that reports it.
    pub(crate) fn exceeded(&self, limit: &'static str, what: impl std::fmt::Display) -> Error {
        if let Ok(mut t) = self.tripped.lock() {
            t.get_or_insert(limit);
        }
        Error::new(
            ErrorKind::InvalidOperation,
            format!("{what} (limit {limit})"),
        )
    }

    /// Charges `n` bytes of `{{ … }}` output.
    pub(crate) fn charge_produced(&self, n: usize) -> Result<(), Error> {
        let total = self
            .produced
            .fetch_add(n, Ordering::Relaxed)
            .saturating_add(n);
        let max = self.limits.max_output_bytes.saturating_mul(PRODUCED_FACTOR);
        if total > max {
            return Err(self.exceeded(
                "max_output_bytes",
                format!("the template wrote more than {max} bytes (captured blocks and macros included)"),
            ));
        }
        Ok(())
    }

    /// Checks that `v` would print in at most `max_output_bytes` and holds at most
    /// `max_size_argument` items, without printing it.
    pub(crate) fn check_value(&self, v: &Value) -> Result<usize, Error> {
        self.walk(v, self.limits.max_output_bytes)
    }

    /// Checks that `v` holds at most `max_size_argument` items (for filters that do not print
    /// their input).
    pub(crate) fn check_items(&self, v: &Value) -> Result<(), Error> {
        self.walk(v, usize::MAX).map(|_| ())
    }

    fn walk(&self, v: &Value, max_bytes: usize) -> Result<usize, Error> {
        let mut nodes = 0;
        let size = printed_size(v, max_bytes, self.limits.max_size_argument, &mut nodes);
        let walked = self
            .walked
            .fetch_add(nodes, Ordering::Relaxed)
            .saturating_add(nodes);
        let max_walk = self.limits.max_fuel.saturating_mul(WALK_PER_FUEL);
        if u64::try_from(walked).unwrap_or(u64::MAX) > max_walk {
            return Err(self.exceeded(
                "max_fuel",
                format!("the template's filters walked more than {max_walk} values"),
            ));
        }
        size.map_err(|e| match e {
            Exceeded::Bytes => self.exceeded(
                "max_output_bytes",
                format!(
                    "a value is larger than {} bytes",
                    self.limits.max_output_bytes
                ),
            ),
            Exceeded::Items => self.exceeded(
                "max_size_argument",
                format!(
                    "a value has more than {} items",
                    self.limits.max_size_argument
                ),
            ),
        })
    }

    /// Checks a size argument (a width, a count, a range length).
    pub(crate) fn check_size_argument(&self, what: &str, n: i128) -> Result<(), Error> {
        if n > self.limits.max_size_argument as i128 {
            return Err(self.exceeded(
                "max_size_argument",
                format!(
                    "{what} {n} is larger than {}",
                    self.limits.max_size_argument
                ),
            ));
        }
        Ok(())
    }

    /// Checks that a result of `n` bytes fits.
    pub(crate) fn check_bytes(&self, what: &str, n: usize) -> Result<(), Error> {
        if n > self.limits.max_output_bytes {
            return Err(self.exceeded(
                "max_output_bytes",
                format!(
                    "{what} would be {n} bytes, more than {}",
                    self.limits.max_output_bytes
                ),
            ));
        }
        Ok(())
    }
}

/// Which bound a size estimate crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exceeded {
    Bytes,
    Items,
}

/// Roughly how many bytes `v` prints as (an upper estimate for scalars, exact for strings),
/// visiting at most `max_items` nodes, so that neither a huge string nor a lazily repeated list
/// (`[big] * 100000`, `range(n) * 10**12`) is ever materialised to find out.
/// `nodes` counts the values visited, for the render's walk budget.
pub(crate) fn printed_size(
    v: &Value,
    max_bytes: usize,
    max_items: usize,
    nodes: &mut usize,
) -> Result<usize, Exceeded> {
    let mut total = 0usize;
    let mut stack = vec![v.clone()];
    while let Some(v) = stack.pop() {
        *nodes += 1;
        if *nodes > max_items.saturating_add(1) {
            return Err(Exceeded::Items);
        }
        let own = if let Some(s) = v.as_str() {
            s.len().saturating_add(2)
        } else if let Some(obj) = v.as_object() {
            match obj.repr() {
                ObjectRepr::Seq | ObjectRepr::Iterable => {
                    if v.len().is_some_and(|n| n > max_items) {
                        return Err(Exceeded::Items);
                    }
                    let Ok(iter) = v.try_iter() else { continue };
                    for item in iter.take(max_items.saturating_add(1)) {
                        stack.push(item);
                        if stack.len() > max_items {
                            return Err(Exceeded::Items);
                        }
                    }
                    2
                }
                ObjectRepr::Map => {
                    if v.len().is_some_and(|n| n > max_items) {
                        return Err(Exceeded::Items);
                    }
                    if let Some(pairs) = obj.try_iter_pairs() {
                        for (k, item) in pairs.take(max_items.saturating_add(1)) {
                            stack.push(k);
                            stack.push(item);
                            if stack.len() > max_items.saturating_mul(2) {
                                return Err(Exceeded::Items);
                            }
                        }
                    }
                    2
                }
                // Macros, loop state and the like print as a short description.
                _ => 64,
            }
        } else if v.is_undefined() {
            0
        } else {
            // Numbers, booleans, none: short, printed exactly.
            v.to_string().len()
        };
        total = total.saturating_add(own).saturating_add(2);
        if total > max_bytes.saturating_add(64) {
            return Err(Exceeded::Bytes);
        }
    }
    Ok(total)
}

/// The render's output: refuses to grow past the output budget, so the text is never built.
pub(crate) struct BoundedWriter<'a> {
    pub(crate) buf: Vec<u8>,
    pub(crate) budget: &'a Budget,
}

impl io::Write for BoundedWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let total = self
            .budget
            .output
            .fetch_add(data.len(), Ordering::Relaxed)
            .saturating_add(data.len());
        if total > self.budget.limits.max_output_bytes {
            let _ = self.budget.exceeded("max_output_bytes", "");
            return Err(io::Error::other(format!(
                "the rendered text is larger than {} bytes (limit max_output_bytes)",
                self.budget.limits.max_output_bytes
            )));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A `fmt::Write` that stops (with `fmt::Error`) once `left` bytes are used: for `pprint`,
/// `debug()` and anything else that formats a whole value.
pub(crate) struct BoundedString {
    pub(crate) s: String,
    pub(crate) left: usize,
}

impl std::fmt::Write for BoundedString {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if s.len() > self.left {
            return Err(std::fmt::Error);
        }
        self.left -= s.len();
        self.s.push_str(s);
        Ok(())
    }
}
