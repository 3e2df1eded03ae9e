//! `loadgen` — promptreg's own closed-loop HTTP/1.1 load generator.
//!
//! Opens `--connections` keep-alive connections (plain `http://` only) with hyper's
//! low-level HTTP/1 client, and runs one tokio task per connection that sends a request,
//! reads the whole response, records the latency in an HDR histogram (microsecond
//! resolution) and immediately sends the next one (closed loop: one request in flight per
//! connection). Requests completed during `--warmup` are discarded; the report covers the
//! following `--duration` seconds only.
//!
//! The runtime uses `--threads` workers (default 1, a current-thread runtime) so that the
//! generator takes as little CPU as possible from the server under test on a small
//! machine.
//!
//! `{c}` in `--url` or `--body-template` expands to the connection index; `{n}` in
//! `--body-template` expands to a counter that is unique per request across all
//! connections (starting at `--counter-start`), so each POST carries distinct content.
//!
//! Examples:
//!
//! ```text
//! loadgen --url http://127.0.0.1:8799/ --connections 32 --duration 10
//! loadgen --url http://127.0.0.1:8080/v1/prompts/bench%2Fp/versions --method POST \
//!     -H 'Content-Type: application/json' -H 'Authorization: Bearer t' \
//!     --body-template '{"type":"text","template":"body {n}"}' --expect-status 201 --json
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use bytes::Bytes;
use clap::Parser;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderName, HeaderValue, HOST};
use hyper::{HeaderMap, Method, Request, Uri};
use hyper_util::rt::TokioIo;
use promptreg_bench::{parse_header, Latency, Summary, Template};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Highest latency the histogram tracks exactly (60 s, in µs); larger values saturate.
const MAX_LATENCY_US: u64 = 60_000_000;

/// Pause before retrying a failed connect, so a dead server does not spin the CPU.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(10);

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(
    name = "loadgen",
    version,
    about = "Closed-loop HTTP/1.1 load generator"
)]
struct Args {
    /// Target URL (`http://host:port/path?query`); `{c}` expands to the connection index.
    #[arg(long)]
    url: String,
    /// Number of concurrent keep-alive connections (one request in flight on each).
    #[arg(long, short = 'c', default_value_t = 1)]
    connections: usize,
    /// Measured interval, seconds.
    #[arg(long, short = 'd', default_value_t = 10.0)]
    duration: f64,
    /// Warm-up interval before measuring, seconds (its requests are discarded).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Extra request header, `"Name: value"`; repeatable.
    #[arg(long = "header", short = 'H', value_name = "K: V")]
    headers: Vec<String>,
    /// HTTP method (GET, POST, ...).
    #[arg(long, short = 'm', default_value = "GET")]
    method: String,
    /// Request body read from this file, sent unchanged with every request.
    #[arg(long, value_name = "PATH", conflicts_with = "body_template")]
    body_file: Option<PathBuf>,
    /// Request body template: `{n}` becomes a unique per-request counter, `{c}` the
    /// connection index.
    #[arg(long, value_name = "STR", conflicts_with = "body_template_file")]
    body_template: Option<String>,
    /// A `--body-template` read from a file (a batch of events is larger than the
    /// 128 KiB a single command-line argument may be).
    #[arg(long, value_name = "PATH", conflicts_with = "body_file")]
    body_template_file: Option<PathBuf>,
    /// First value of the `{n}` counter.
    #[arg(long, default_value_t = 0)]
    counter_start: u64,
    /// Count every other status as an error (default: any status >= 400 is an error).
    #[arg(long, value_name = "CODE")]
    expect_status: Option<u16>,
    /// Tokio worker threads for the generator (1 = single-threaded runtime).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Print the result as a single JSON line instead of text.
    #[arg(long)]
    json: bool,
    /// Stop after this many requests in all (0: run for the whole duration). For filling a
    /// server with an exact number of writes; use with `--warmup 0`.
    #[arg(long, default_value_t = 0)]
    requests: u64,
}

/// How the request body is produced.
#[derive(Debug)]
enum BodySpec {
    /// The same bytes every time (possibly empty).
    Static(Bytes),
    /// Rendered per request from a template.
    Template(Template),
}

/// Everything the connection tasks share, fixed before the run starts.
#[derive(Debug)]
struct Ctx {
    /// Resolved address of the server.
    addr: SocketAddr,
    /// Request method.
    method: Method,
    /// Origin-form request target (path and query) per connection index.
    targets: Vec<Uri>,
    /// Complete request header set (including `Host`), cloned into each request.
    headers: HeaderMap,
    /// Body source.
    body: BodySpec,
    /// Next value of the `{n}` counter.
    counter: AtomicU64,
    /// Expected status, if any.
    expect_status: Option<u16>,
    /// Start of the measured interval.
    measure_start: Instant,
    /// End of the measured interval; the tasks stop here.
    end: Instant,
    /// Requests to send in all (0: no limit), and how many were started.
    limit: u64,
    started: AtomicU64,
}

impl Ctx {
    /// Builds the next request for connection `c` from the pre-built parts.
    fn request(&self, c: usize) -> Request<Full<Bytes>> {
        let body = match &self.body {
            BodySpec::Static(b) => b.clone(),
            BodySpec::Template(t) => {
                let n = if t.uses_counter() {
                    self.counter.fetch_add(1, Ordering::Relaxed)
                } else {
                    0
                };
                Bytes::from(t.render(n, c))
            }
        };
        let mut req = Request::new(Full::new(body));
        self.method.clone_into(req.method_mut());
        *req.uri_mut() = self.targets[c].clone();
        *req.headers_mut() = self.headers.clone();
        req
    }

    /// Whether a response with `status` counts as an error.
    fn is_error(&self, status: u16) -> bool {
        match self.expect_status {
            Some(want) => status != want,
            None => status >= 400,
        }
    }

    /// Whether an exchange between `start` and `done` falls in the measured interval.
    /// Takes one request from the `--requests` budget; false once it is spent.
    fn take(&self) -> bool {
        self.limit == 0 || self.started.fetch_add(1, Ordering::Relaxed) < self.limit
    }

    /// Whether the `--requests` budget is spent.
    fn spent(&self) -> bool {
        self.limit != 0 && self.started.load(Ordering::Relaxed) >= self.limit
    }

    fn in_window(&self, start: Instant, done: Instant) -> bool {
        start >= self.measure_start && done <= self.end
    }
}

/// Per-connection counters, merged at the end.
struct Stats {
    /// Latencies in µs.
    hist: Histogram<u64>,
    /// Responses received.
    requests: u64,
    /// Unexpected statuses plus transport errors.
    errors: u64,
    /// Transport errors only.
    transport_errors: u64,
    /// Response body bytes.
    body_bytes: u64,
    /// Responses per status code (index = code).
    status: Vec<u64>,
    /// TCP connections opened, warm-up included.
    connects: u64,
}

impl Stats {
    /// Empty counters.
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            hist: Histogram::new_with_max(MAX_LATENCY_US, 3).context("creating histogram")?,
            requests: 0,
            errors: 0,
            transport_errors: 0,
            body_bytes: 0,
            status: vec![0; 1000],
            connects: 0,
        })
    }

    /// Records a transport failure that happened at `at`, if inside the window.
    fn transport_error(&mut self, ctx: &Ctx, at: Instant) {
        if at >= ctx.measure_start && at <= ctx.end {
            self.errors += 1;
            self.transport_errors += 1;
        }
    }

    /// Adds another connection's counters into these.
    fn merge(&mut self, other: &Stats) -> anyhow::Result<()> {
        self.hist.add(&other.hist).context("merging histograms")?;
        self.requests += other.requests;
        self.errors += other.errors;
        self.transport_errors += other.transport_errors;
        self.body_bytes += other.body_bytes;
        self.connects += other.connects;
        for (mine, theirs) in self.status.iter_mut().zip(&other.status) {
            *mine += theirs;
        }
        Ok(())
    }
}

/// Opens one keep-alive HTTP/1.1 connection.
async fn connect(
    addr: SocketAddr,
) -> anyhow::Result<(
    SendRequest<Full<Bytes>>,
    hyper::client::conn::http1::Connection<TokioIo<TcpStream>, Full<Bytes>>,
)> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let parts = hyper::client::conn::http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await?;
    Ok(parts)
}

/// Sends requests one after another on `sender` until the connection fails.
async fn request_loop(
    ctx: &Ctx,
    c: usize,
    mut sender: SendRequest<Full<Bytes>>,
    stats: &mut Stats,
) {
    loop {
        if sender.ready().await.is_err() {
            // Closed between requests (e.g. `Connection: close`): not a failed request;
            // the caller reconnects, and `connects` in the summary shows it.
            return;
        }
        if !ctx.take() {
            return;
        }
        let req = ctx.request(c);
        let start = Instant::now();
        let resp = match sender.send_request(req).await {
            Ok(resp) => resp,
            Err(_) => {
                stats.transport_error(ctx, Instant::now());
                return;
            }
        };
        let status = resp.status().as_u16();
        let mut body = resp.into_body();
        let mut bytes = 0usize;
        loop {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        bytes += data.len();
                    }
                }
                Some(Err(_)) => {
                    stats.transport_error(ctx, Instant::now());
                    return;
                }
                None => break,
            }
        }
        let done = Instant::now();
        if ctx.in_window(start, done) {
            let us = u64::try_from(done.duration_since(start).as_micros()).unwrap_or(u64::MAX);
            stats.hist.saturating_record(us);
            stats.requests += 1;
            stats.body_bytes += bytes as u64;
            if let Some(slot) = stats.status.get_mut(usize::from(status)) {
                *slot += 1;
            }
            if ctx.is_error(status) {
                stats.errors += 1;
            }
        }
    }
}

/// One connection's task: (re)connects and runs the closed loop until the end instant.
async fn run_connection(ctx: Arc<Ctx>, c: usize) -> anyhow::Result<Stats> {
    let mut stats = Stats::new()?;
    let mut end = pin!(tokio::time::sleep_until(ctx.end));
    while Instant::now() < ctx.end && !ctx.spent() {
        let connected = tokio::select! {
            biased;
            () = &mut end => break,
            r = connect(ctx.addr) => r,
        };
        let (sender, conn) = match connected {
            Ok(parts) => {
                stats.connects += 1;
                parts
            }
            Err(_) => {
                stats.transport_error(&ctx, Instant::now());
                tokio::select! {
                    biased;
                    () = &mut end => break,
                    () = tokio::time::sleep(RECONNECT_BACKOFF) => continue,
                }
            }
        };
        // Drive the connection in this same task; once it finishes (closed or failed),
        // the request loop sees the failure on its next send and returns.
        let drive = async {
            let _ = conn.await;
            std::future::pending::<()>().await;
        };
        tokio::select! {
            biased;
            () = &mut end => break,
            () = request_loop(&ctx, c, sender, &mut stats) => {}
            () = drive => {}
        }
    }
    Ok(stats)
}

/// Builds the shared context from the arguments.
async fn build_ctx(args: &Args, measure_start: Instant, end: Instant) -> anyhow::Result<Ctx> {
    let url_template = Template::parse(&args.url);
    if url_template.uses_counter() {
        bail!("{{n}} is not supported in --url (only {{c}})");
    }
    let mut targets = Vec::with_capacity(args.connections);
    let mut authority = None;
    for c in 0..args.connections {
        let url = url_template.render(0, c);
        let uri: Uri = url
            .parse()
            .with_context(|| format!("invalid URL {url:?}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            _ => bail!("only http:// URLs are supported, got {url:?}"),
        }
        let auth = uri.authority().context("URL has no host")?.clone();
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        targets.push(Uri::try_from(path).with_context(|| format!("invalid path {path:?}"))?);
        authority.get_or_insert(auth);
    }
    let authority = authority.context("--connections must be at least 1")?;
    let port = authority.port_u16().unwrap_or(80);
    let addr = tokio::net::lookup_host((authority.host(), port))
        .await
        .with_context(|| format!("resolving {authority}"))?
        .next()
        .with_context(|| format!("no address for {authority}"))?;

    let mut headers = HeaderMap::new();
    for h in &args.headers {
        let (name, value) = parse_header(h)?;
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).with_context(|| format!("header {h:?}"))?,
            HeaderValue::from_str(&value).with_context(|| format!("header {h:?}"))?,
        );
    }
    if !headers.contains_key(HOST) {
        headers.insert(HOST, HeaderValue::from_str(authority.as_str())?);
    }

    let template = match &args.body_template_file {
        Some(path) => Some(
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        ),
        None => args.body_template.clone(),
    };
    let body = match (&args.body_file, &template) {
        (Some(path), _) => BodySpec::Static(Bytes::from(
            std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
        )),
        (None, Some(t)) => {
            let t = Template::parse(t);
            if t.is_constant() {
                BodySpec::Static(Bytes::from(t.render(0, 0)))
            } else {
                BodySpec::Template(t)
            }
        }
        (None, None) => BodySpec::Static(Bytes::new()),
    };

    Ok(Ctx {
        addr,
        method: Method::from_bytes(args.method.to_ascii_uppercase().as_bytes())
            .with_context(|| format!("invalid method {:?}", args.method))?,
        targets,
        headers,
        body,
        counter: AtomicU64::new(args.counter_start),
        expect_status: args.expect_status,
        measure_start,
        end,
        limit: args.requests,
        started: AtomicU64::new(0),
    })
}

/// Runs the whole benchmark and returns its summary.
async fn run(args: &Args) -> anyhow::Result<Summary> {
    if args.connections == 0 {
        bail!("--connections must be at least 1");
    }
    let warmup = Duration::try_from_secs_f64(args.warmup).context("invalid --warmup")?;
    let duration = Duration::try_from_secs_f64(args.duration).context("invalid --duration")?;
    if duration.is_zero() {
        bail!("--duration must be positive");
    }
    let t0 = Instant::now();
    let measure_start = t0 + warmup;
    let end = measure_start + duration;
    let ctx = Arc::new(build_ctx(args, measure_start, end).await?);

    let tasks: Vec<_> = (0..args.connections)
        .map(|c| tokio::spawn(run_connection(Arc::clone(&ctx), c)))
        .collect();
    let mut total = Stats::new()?;
    for task in tasks {
        let stats = task.await.context("connection task panicked")??;
        total.merge(&stats)?;
    }

    let secs = duration.as_secs_f64();
    let h = &total.hist;
    let status_errors = total.errors - total.transport_errors;
    Ok(Summary {
        url: args.url.clone(),
        method: ctx.method.to_string(),
        connections: args.connections,
        threads: args.threads.max(1),
        duration_s: secs,
        warmup_s: warmup.as_secs_f64(),
        requests: total.requests,
        errors: total.errors,
        transport_errors: total.transport_errors,
        rps: total.requests as f64 / secs,
        ok_rps: (total.requests - status_errors) as f64 / secs,
        body_bytes: total.body_bytes,
        connects: total.connects,
        latency_us: Latency {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            min: h.min(),
            mean: h.mean(),
        },
        status: total
            .status
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .filter_map(|(code, n)| u16::try_from(code).ok().map(|code| (code, *n)))
            .collect(),
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()?
    };
    let summary = runtime.block_on(run(&args))?;
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print!("{}", summary.to_text());
    }
    Ok(())
}
