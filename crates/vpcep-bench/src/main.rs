//! `vpcep-bench`: every SPEC figure from one command (root; run from the workspace root, as
//! `scripts/bench.sh` does).
//!
//!     vpcep-bench [--quick] [--only P1,P2,...] [--out DIR] [--docs DIR | --no-docs]
//!
//! (`--only PROXY` runs the PROXY-v2 path's part of P2/P3 alone.)
//!
//! Runs P2/P3 (kernel path, then the PROXY-v2 path), P1, P4, P6 and P5 in labs of their own (each torn down before the next starts),
//! then writes `DIR/result.json` (default `target/bench`), and, in the full mode, the table
//! `docs/benchmarks.md` and the figure `docs/benchmarks.svg` from the same run, and prints the
//! table. `--quick` (tiny sizes, 1-second runs) writes `target/bench/` only and fails unless
//! every area produced its figures and all of them are finite: `scripts/test.sh` runs it so the
//! harness cannot rot.
//!
//! `vpcep-bench --render target/bench/result.json` draws the table and the SVG again from a
//! run's JSON (into the docs when it was a full run) without measuring.
//!
//! `vpcep-bench agent --control-url URL --ns-prefix PREFIX` (token in `VPCEP_BENCH_AGENT_TOKEN`)
//! is the data-plane agent as `vpcep agent` runs it: P4 starts it as a process of its own to
//! read its memory.
//!
//! Profiling the agent's memory: `VPCEP_BENCH_AGENT_WRAP` is a command the agent process is
//! started under. It must `exec` the agent (P4 stops, continues and kills that process), e.g.
//! Debian's heaptrack without its script:
//!
//!     VPCEP_BENCH_AGENT_WRAP="env LD_PRELOAD=/usr/lib/heaptrack/libheaptrack_preload.so \
//!         DUMP_HEAPTRACK_OUTPUT=/tmp/agent.raw" target/profiling/vpcep-bench --only P4 --no-docs
//!     /usr/lib/heaptrack/libexec/heaptrack_interpret < /tmp/agent.raw | zstd > /tmp/agent.zst
//!     heaptrack_print -f /tmp/agent.zst --print-peaks 1
//!
//! (`cargo build --profile profiling -p vpcep-bench`: the release build with symbols). The RSS
//! figure of such a run counts the profiler's own memory and does not count.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use vpcep_bench::figure::{Figure, Machine, Run, load_average};
use vpcep_bench::{dns, p1, p4, p5, path, proxy, report};

struct Args {
    quick: bool,
    only: Option<Vec<String>>,
    out: PathBuf,
    docs: Option<PathBuf>,
    /// Re-draw the table and the SVG from this result.json instead of measuring.
    render: Option<PathBuf>,
}

const USAGE: &str =
    "usage: vpcep-bench [--quick] [--only P1,P2,P3,P4,P5,P6,PROXY] [--out DIR] [--docs DIR | --no-docs]
       vpcep-bench agent --control-url URL --ns-prefix PREFIX   (token in VPCEP_BENCH_AGENT_TOKEN)";

fn parse(args: &[String]) -> Result<Args, String> {
    let mut a = Args {
        quick: false,
        only: None,
        out: PathBuf::from("target/bench"),
        docs: None,
        render: None,
    };
    let mut docs = None;
    let mut no_docs = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{arg} needs a value"))
        };
        match arg.as_str() {
            "--quick" => a.quick = true,
            "--only" => {
                a.only = Some(
                    value()?
                        .split(',')
                        .map(|s| s.trim().to_uppercase())
                        .collect(),
                )
            }
            "--out" => a.out = PathBuf::from(value()?),
            "--docs" => docs = Some(PathBuf::from(value()?)),
            "--no-docs" => no_docs = true,
            "--render" => a.render = Some(PathBuf::from(value()?)),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    // The docs are rewritten by a full run of every area only: a quick or partial run would
    // replace the committed figures with meaningless ones.
    a.docs = if no_docs {
        None
    } else if let Some(d) = docs {
        Some(d)
    } else if !a.quick && a.only.is_none() && a.render.as_ref().is_none_or(full_run) {
        Some(PathBuf::from("docs"))
    } else {
        None
    };
    Ok(a)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Where a figure's time goes: e.g. VPCEP_LOG=vpcep_dataplane=debug,tower_http=debug prints
    // each converge's phases and each agent request's latency (to stderr, with timestamps).
    if let Ok(filter) = std::env::var("VPCEP_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vpcep-bench: no runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.first().is_some_and(|a| a == "agent") {
        return rt.block_on(agent(&args[1..]));
    }
    let a = match parse(&args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if let Some(path) = &a.render {
        return render(&a, path);
    }
    rt.block_on(bench(a))
}

/// Whether `path` holds a full run (only such a run may be rendered into the docs by default).
fn full_run(path: &PathBuf) -> bool {
    read_run(path).is_ok_and(|r| r.mode == "full")
}

fn read_run(path: &PathBuf) -> Result<Run, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// `--render FILE`: the table and the SVG drawn again from a run's result.json (after a change
/// to how they are drawn; the figures stay those of that run).
fn render(a: &Args, path: &PathBuf) -> ExitCode {
    let written = read_run(path).and_then(|run| write(a, &run));
    match written {
        Ok(md) => {
            println!("{md}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vpcep-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The agent as `vpcep agent` runs it (for P4's memory figure).
async fn agent(args: &[String]) -> ExitCode {
    let (mut url, mut prefix) = (None, None);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--control-url" => url = it.next().cloned(),
            "--ns-prefix" => prefix = it.next().cloned(),
            _ => {}
        }
    }
    let (Some(control_url), Some(prefix), Ok(token)) =
        (url, prefix, std::env::var("VPCEP_BENCH_AGENT_TOKEN"))
    else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    vpcep_dataplane::agent::Agent::new(vpcep_dataplane::agent::AgentConfig {
        control_url,
        token,
        names: vpcep_dataplane::plan::naming::Namespaces { prefix },
        name: "bench-memory".into(),
    })
    .run()
    .await;
    ExitCode::SUCCESS
}

fn wanted(a: &Args, id: &str) -> bool {
    a.only.as_ref().is_none_or(|o| o.iter().any(|x| x == id))
}

fn show(figures: &[Figure]) {
    for f in figures {
        eprintln!(
            "  {} {}: {} {}{}{}",
            f.id,
            f.name,
            vpcep_bench::figure::num(f.value),
            f.unit,
            f.ratio
                .map(|r| format!(" ({} % of direct)", vpcep_bench::figure::num(100.0 * r)))
                .unwrap_or_default(),
            match f.pass {
                Some(true) => " — met",
                Some(false) => " — NOT met",
                None => "",
            }
        );
    }
}

async fn bench(a: Args) -> ExitCode {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("vpcep-bench needs root (it builds network namespaces)");
        return ExitCode::FAILURE;
    }
    let started = Instant::now();
    let mut machine = Machine::probe();
    let mode = if a.quick { "quick" } else { "full" };
    eprintln!(
        "vpcep-bench ({mode}): {} cores, load average {}",
        machine.nproc, machine.load_start
    );
    let mut figures: Vec<Figure> = Vec::new();
    let mut round_trips = Vec::new();
    let step = |name: &str| eprintln!("==> {name} ({:.0} s)", started.elapsed().as_secs_f64());

    let kernel_path = wanted(&a, "P2") || wanted(&a, "P3");
    if kernel_path {
        step("P2/P3: throughput, connections, round trips (direct vs endpoint)");
        let cfg = if a.quick {
            path::Config::quick()
        } else {
            path::Config::full()
        };
        let m = path::measure(&cfg).await;
        show(&m.figures);
        figures.extend(m.figures);
        round_trips = m.round_trips;
    }
    // `--only PROXY`: the userspace path's figures alone (they belong to P2 and P3).
    if kernel_path || wanted(&a, "PROXY") {
        step("P2/P3: the PROXY-v2 (userspace) path vs direct");
        let cfg = if a.quick {
            proxy::Config::quick()
        } else {
            proxy::Config::full()
        };
        let f = proxy::measure(&cfg).await;
        show(&f);
        figures.extend(f);
    }
    if wanted(&a, "P1") {
        step("P1: create → first TCP request");
        let cfg = if a.quick {
            p1::Config::quick()
        } else {
            p1::Config::full()
        };
        let m = p1::measure(&cfg).await;
        show(&m.figures);
        figures.extend(m.figures);
    }
    if wanted(&a, "P4") {
        step("P4: scale");
        let mut cfg = if a.quick {
            p4::Config::quick()
        } else {
            p4::Config::full()
        };
        cfg.agent_exe = std::env::current_exe().ok();
        let f = p4::measure(&cfg).await;
        show(&f);
        figures.extend(f);
    }
    if wanted(&a, "P6") {
        step("P6: resolver queries/s");
        let cfg = dns::DnsLoad {
            names: if a.quick { 1_000 } else { 10_000 },
            rounds: if a.quick { 2 } else { 5 },
            secs: if a.quick { 0.5 } else { 3.0 },
            clients: 8,
        };
        let f = dns::resolver(&cfg).await;
        show(std::slice::from_ref(&f));
        figures.push(f);
        step("P6: name propagation");
        let cfg = dns::PropagationConfig {
            present: if a.quick { 20 } else { 10_000 },
            samples: if a.quick { 5 } else { 20 },
        };
        let f = dns::propagation(&cfg).await;
        show(&f);
        figures.extend(f);
    }
    if wanted(&a, "P5") {
        step("P5: API");
        let cfg = if a.quick {
            p5::Config::quick()
        } else {
            p5::Config::full()
        };
        let f = p5::measure(&cfg).await;
        show(&f);
        figures.extend(f);
    }

    machine.load_end = load_average();
    let run = Run {
        mode: mode.into(),
        date: {
            let now = time::OffsetDateTime::now_utc();
            format!("{} {:02}:{:02} UTC", now.date(), now.hour(), now.minute())
        },
        command: std::env::var("VPCEP_BENCH_COMMAND").unwrap_or_else(|_| {
            std::iter::once("vpcep-bench".to_string())
                .chain(std::env::args().skip(1))
                .collect::<Vec<_>>()
                .join(" ")
        }),
        machine,
        seconds: started.elapsed().as_secs_f64(),
        figures,
        round_trips,
    };
    match write(&a, &run) {
        Ok(md) => println!("{md}"),
        Err(e) => {
            eprintln!("vpcep-bench: {e}");
            return ExitCode::FAILURE;
        }
    }
    let problems = check(&a, &run);
    if !problems.is_empty() {
        eprintln!("vpcep-bench: {}", problems.join("; "));
        return ExitCode::FAILURE;
    }
    eprintln!("done in {:.0} s", run.seconds);
    ExitCode::SUCCESS
}

/// The JSON always; the Markdown and the SVG into `--docs` when set (and into `--out`).
fn write(a: &Args, run: &Run) -> Result<String, String> {
    let svg = report::svg(run)?;
    std::fs::create_dir_all(&a.out).map_err(|e| format!("{}: {e}", a.out.display()))?;
    let json = serde_json::to_string_pretty(run).map_err(|e| e.to_string())?;
    let put = |dir: &PathBuf, name: &str, body: &str| {
        let p = dir.join(name);
        std::fs::write(&p, body).map_err(|e| format!("{}: {e}", p.display()))
    };
    put(&a.out, "result.json", &json)?;
    put(&a.out, "benchmarks.svg", &svg)?;
    let md = report::markdown(run, "benchmarks.svg");
    put(&a.out, "benchmarks.md", &md)?;
    if let Some(docs) = &a.docs {
        put(docs, "benchmarks.md", &md)?;
        put(docs, "benchmarks.svg", &svg)?;
    }
    Ok(md)
}

/// What a run must have produced: every asked area's figures, all finite, and both round-trip
/// distributions when P3 ran.
fn check(a: &Args, run: &Run) -> Vec<String> {
    let mut problems = Vec::new();
    for id in ["P1", "P2", "P3", "P4", "P5", "P6"] {
        if wanted(a, id) && !run.figures.iter().any(|f| f.id == id) {
            problems.push(format!("no {id} figure"));
        }
    }
    let bad = run.not_finite();
    if !bad.is_empty() {
        problems.push(format!("not finite: {}", bad.join(", ")));
    }
    if wanted(a, "P3") && run.round_trips.iter().any(|d| d.quantiles_us.is_empty()) {
        problems.push("no round trips".into());
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Args {
        let v: Vec<String> = s.split_whitespace().map(String::from).collect();
        parse(&v).expect("args")
    }

    #[test]
    fn only_a_full_run_of_everything_rewrites_the_docs() {
        assert_eq!(args("").docs, Some(PathBuf::from("docs")));
        assert_eq!(args("--quick").docs, None);
        assert_eq!(args("--only P2").docs, None);
        assert_eq!(args("--no-docs").docs, None);
        assert_eq!(
            args("--quick --docs /tmp/d").docs,
            Some(PathBuf::from("/tmp/d"))
        );
        assert!(parse(&["--bogus".into()]).is_err());
        // Re-drawing a run that is not a full one (here: none at all) leaves the docs alone.
        assert_eq!(args("--render /nonexistent/result.json").docs, None);
    }

    #[test]
    fn a_run_missing_an_area_or_a_number_fails_the_check() {
        let a = args("--quick --only P5");
        let mut run = Run {
            mode: "quick".into(),
            date: String::new(),
            command: String::new(),
            machine: Machine::probe(),
            seconds: 1.0,
            figures: vec![],
            round_trips: vec![],
        };
        assert_eq!(check(&a, &run), vec!["no P5 figure".to_string()]);
        run.figures
            .push(Figure::absolute("P5", "list", f64::NAN, "ms", None));
        assert_eq!(check(&a, &run), vec!["not finite: P5 list".to_string()]);
        run.figures[0].value = 3.0;
        assert!(check(&a, &run).is_empty());
    }
}
