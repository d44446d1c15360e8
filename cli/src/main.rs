//! `gosyms`: recover function symbols from (stripped) Go binaries.
//!
//! This crate is the command line only: flags, output format and exit codes. Reading binaries
//! is the `pclntab` crate's job.

/// `eprintln!` that never panics: when stderr is a closed pipe (`gosyms trace ... 2>&1 |
/// head`), the line is lost and gosyms goes on to its clean exit, as with a closed stdout.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod duration;
mod output;
mod spawn;
mod trace;
mod types;
mod unstrip;

use anyhow::{anyhow, Context, Result};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use pclntab::{GoBinary, Kind, VirtAddr};
use rayon::prelude::*;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Recover function names, addresses, files and lines from Go binaries, stripped or not.
#[derive(Parser)]
#[command(name = "gosyms", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List every function: entry address, size and name.
    List(ListArgs),
    /// Describe the binary: format, arch, Go version, tables, build info.
    Info(InfoArgs),
    /// Map addresses to function, offset, file:line and inlined calls.
    Lookup(LookupArgs),
    /// Plan uprobes: entry and return sites (file offsets), calling convention, argument layout.
    Resolve(ResolveArgs),
    /// Trace calls with eBPF uprobes: arguments, results and durations as JSON lines.
    Trace(Box<trace::TraceArgs>),
    /// List the runtime type descriptors: every type reachable through interfaces or reflection.
    Types(types::TypesArgs),
    /// Print a shell completion script (e.g. `gosyms completions bash > /etc/bash_completion.d/gosyms`).
    Completions(CompletionsArgs),
    /// Print the manual page in roff (e.g. `gosyms man | man -l -`, or `gosyms man > gosyms.1`).
    Man(ManArgs),
    /// Write a copy of an ELF binary with a symbol table and DWARF for gdb, perf, bpftrace.
    Unstrip(unstrip::UnstripArgs),
}

#[derive(Args)]
struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

#[derive(Args)]
struct ManArgs {
    /// A command's own page (gosyms-trace(1)...) instead of gosyms(1).
    command: Option<String>,
}

#[derive(Args)]
pub(crate) struct Target {
    /// The Go binary (ELF, PE or Mach-O).
    pub(crate) binary: PathBuf,
    /// For a fat Mach-O file: which slice to read (GOARCH name: amd64, arm64).
    #[arg(long)]
    pub(crate) arch: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum SortBy {
    /// By entry address.
    Addr,
    /// By name.
    Name,
}

#[derive(Args)]
struct ListArgs {
    #[command(flatten)]
    target: Target,
    /// One JSON object per line (JSON Lines); fields are documented in README.md.
    #[arg(long)]
    json: bool,
    /// Add the file and line of each function's entry (always present in --json).
    #[arg(long)]
    lines: bool,
    /// Only functions whose name matches this regular expression.
    #[arg(long, value_name = "REGEX")]
    filter: Option<String>,
    /// Only functions of package main, of the main module's packages, and of any other package
    /// neither in the standard library, nor a dependency in the build info, nor under /vendor/
    /// (without build info: every non-standard package); their wrappers, closures and generic
    /// instantiations included, code outside any package excluded.
    #[arg(long, conflicts_with = "std")]
    user: bool,
    /// Only functions of the standard library (packages whose path's first element has no dot,
    /// and vendor/...), the runtime included.
    #[arg(long)]
    std: bool,
    /// Order of the output.
    #[arg(long, value_enum, default_value = "addr")]
    sort: SortBy,
}

#[derive(Args)]
struct InfoArgs {
    #[command(flatten)]
    target: Target,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct LookupArgs {
    #[command(flatten)]
    target: Target,
    /// Addresses: hex with 0x, or decimal. Without any, addresses are read from stdin, one
    /// answer per address, each written as soon as it is known (as addr2line does).
    #[arg(value_name = "ADDR")]
    addrs: Vec<String>,
    /// One JSON object per address.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ResolveArgs {
    #[command(flatten)]
    target: Target,
    /// Functions: a name (main.(*T).M), a glob (main.*), a regex (re:^main\.), or a signature
    /// ('main.Greet(name string, n int) (string, error)') giving types for a stripped binary.
    #[arg(required = true, value_name = "PATTERN")]
    patterns: Vec<String>,
    /// An unstripped build of the same program, to take types from its DWARF.
    #[arg(long, value_name = "PATH")]
    debug_file: Option<PathBuf>,
    /// One JSON object per function (JSON Lines); fields are documented in README.md.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let result = run(&cli, &mut out).and_then(|code| {
        out.flush()?;
        Ok(code)
    });
    match result {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            note!("gosyms: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// A command-line error in one line (`gosyms: ...`, exit 2); help and version as clap prints
/// them.
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
    }
    // clap's message: "error: WHAT" and indented details, then a blank line, a tip or the
    // usage. The part before the blank line, joined, is the one line.
    let text = e.render().to_string();
    let first: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let line = first.join(" ");
    note!(
        "gosyms: {} (see --help)",
        line.strip_prefix("error: ").unwrap_or(&line)
    );
    ExitCode::from(2)
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            || e.downcast_ref::<serde_json::Error>()
                .is_some_and(|e| e.io_error_kind() == Some(io::ErrorKind::BrokenPipe))
    })
}

/// Makes this thread one of rayon's workers, for the commands that work on every core: a
/// parallel step then starts here, without handing the work to another thread and waiting to be
/// woken when it is done. (Once, before any parallel work.)
fn work_on_every_core() {
    let _ = rayon::ThreadPoolBuilder::new()
        .use_current_thread()
        .build_global();
}

fn run(cli: &Cli, out: &mut impl Write) -> Result<ExitCode> {
    if matches!(cli.command, Command::List(_) | Command::Unstrip(_)) {
        work_on_every_core();
    }
    match &cli.command {
        Command::List(a) => with_binary(&a.target.binary, a.target.arch.as_deref(), |bin| {
            list(bin, a, out)
        }),
        Command::Info(a) => with_binary(&a.target.binary, a.target.arch.as_deref(), |bin| {
            let info = output::Info::new(&a.target.binary, bin)?;
            if a.json {
                serde_json::to_writer(&mut *out, &info)?;
                writeln!(out)?;
            } else {
                info.write_text(out)?;
            }
            Ok(ExitCode::SUCCESS)
        }),
        Command::Lookup(a) => with_binary(&a.target.binary, a.target.arch.as_deref(), |bin| {
            lookup(bin, a, out)
        }),
        Command::Resolve(a) => with_binary(&a.target.binary, a.target.arch.as_deref(), |bin| {
            resolve(bin, a, out)
        }),
        Command::Trace(a) => trace::trace(a),
        Command::Types(a) => with_binary(&a.target.binary, a.target.arch.as_deref(), |bin| {
            types::types(bin, a, out)
        }),
        Command::Completions(a) => {
            let mut cmd = Cli::command();
            let mut script = Vec::new();
            clap_complete::generate(a.shell, &mut cmd, "gosyms", &mut script);
            out.write_all(&script)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Man(a) => man(a.command.as_deref(), out),
        Command::Unstrip(a) => unstrip::run(a),
    }
}

/// Opens, maps and parses the binary (`arch`: the slice of a fat Mach-O file); errors name
/// the file.
pub(crate) fn with_binary(
    path: &Path,
    arch: Option<&str>,
    f: impl FnOnce(&GoBinary<'_>) -> Result<ExitCode>,
) -> Result<ExitCode> {
    let meta = std::fs::metadata(path).with_context(|| path.display().to_string())?;
    if meta.is_dir() {
        return Err(anyhow!("{}: is a directory", path.display()));
    }
    let map = pclntab::map_file(path).with_context(|| path.display().to_string())?;
    let opts = pclntab::Options {
        arch: arch.map(str::to_string),
    };
    let bin = GoBinary::parse_with(&map, &opts).with_context(|| path.display().to_string())?;
    f(&bin).map_err(|e| annotate(e, path))
}

/// The plans of the functions `patterns` match, with types from `debug_file` when given; `None`
/// (said on stderr) when nothing matches.
pub(crate) fn plans(
    bin: &GoBinary<'_>,
    patterns: &[String],
    debug_file: Option<&Path>,
    depth: u32,
) -> Result<Option<Vec<resolver::Plan>>> {
    let patterns = patterns
        .iter()
        .map(|p| resolver::Pattern::parse(p))
        .collect::<Result<Vec<_>, _>>()?;
    let debug_map = debug_file
        .map(|p| pclntab::map_file(p).with_context(|| p.display().to_string()))
        .transpose()?;
    let debug = match (&debug_map, debug_file) {
        (Some(m), Some(p)) => Some(GoBinary::parse(m).with_context(|| p.display().to_string())?),
        _ => None,
    };
    let resolver = resolver::Resolver::new(bin, debug.as_ref())?.with_depth(depth);
    match resolver.resolve(&patterns) {
        Ok(p) => Ok(Some(p)),
        Err(e @ resolver::ResolveError::NoMatch { .. }) => {
            note!("gosyms: {e}");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Adds the path to errors from reading the tables (not to output errors).
fn annotate(e: anyhow::Error, path: &Path) -> anyhow::Error {
    if e.downcast_ref::<pclntab::Error>().is_some() {
        e.context(path.display().to_string())
    } else {
        e
    }
}

/// Functions listed per task: enough to make a task worth a thread, small enough to spread.
const LIST_CHUNK: usize = 1024;
/// Chunks listed before their output is written: bounds the memory held for output (about
/// 110 bytes a line, 2 MB in all), while keeping every core busy.
const LIST_WAVE: usize = 16;

/// What one chunk of the table gave: how many functions were kept, and the error that ended it,
/// if any (what came before the error is kept, as a sequential listing would print it).
struct Listed {
    count: usize,
    error: Option<pclntab::Error>,
}

/// Lists the functions of `range` that `keep` accepts, each handed to `add`.
fn list_chunk<'data>(
    bin: &GoBinary<'data>,
    range: std::ops::Range<usize>,
    with_lines: bool,
    keep: &(impl Fn(&pclntab::Function<'_>, Kind) -> bool + Sync),
    mut add: impl FnMut(pclntab::Function<'data>),
) -> Listed {
    let mut funcs = bin.functions_in(range);
    if !with_lines {
        funcs = funcs.without_lines();
    }
    let mut count = 0;
    let error = loop {
        match funcs.next() {
            Ok(Some(f)) => {
                if keep(&f, funcs.origin(&f.package)) {
                    count += 1;
                    add(f);
                }
            }
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    Listed { count, error }
}

/// Appends `v` as `0x` and lowercase hex digits (as `{:#x}` writes it).
fn push_hex(buf: &mut Vec<u8>, v: u64) {
    let digits = (64 - v.leading_zeros()).div_ceil(4).max(1);
    buf.extend_from_slice(b"0x");
    buf.extend(
        (0..digits)
            .rev()
            .map(|i| b"0123456789abcdef"[((v >> (4 * i)) & 15) as usize]),
    );
}

/// Appends `v` in decimal, right-aligned in `width` columns (as `{:>width$}` writes it).
fn push_decimal(buf: &mut Vec<u8>, v: u64, width: usize) {
    let mut digits = [0u8; 20];
    let mut n = 0;
    let mut rest = v;
    loop {
        digits[19 - n] = b'0' + (rest % 10) as u8;
        n += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    buf.extend(std::iter::repeat_n(b' ', width.saturating_sub(n)));
    buf.extend_from_slice(&digits[20 - n..]);
}

/// The `--filter` regular expression, if given.
pub(crate) fn filter_regex(filter: Option<&str>) -> Result<Option<regex::Regex>> {
    filter
        .map(regex::Regex::new)
        .transpose()
        .map_err(|e| anyhow!("--filter: {}", resolver::pattern::regex_error_line(&e)))
}

fn list(bin: &GoBinary<'_>, a: &ListArgs, out: &mut impl Write) -> Result<ExitCode> {
    let filter = filter_regex(a.filter.as_deref())?;
    let with_lines = a.json || a.lines;
    let keep = |f: &pclntab::Function<'_>, origin: Kind| {
        if filter.as_ref().is_some_and(|re| !re.is_match(&f.name)) {
            return false;
        }
        !(a.user && origin != Kind::User || a.std && (origin != Kind::Std || f.package.is_empty()))
    };
    // `ADDR SIZE NAME[\tFILE:LINE]`, or one JSON object; writing to a Vec cannot fail.
    let format = |buf: &mut Vec<u8>, f: &pclntab::Function<'_>| {
        if a.json {
            let _ = serde_json::to_writer(&mut *buf, &output::ListEntry::new(f));
            buf.push(b'\n');
            return;
        }
        push_hex(buf, f.entry.0);
        buf.push(b' ');
        push_decimal(buf, f.size(), 8);
        buf.push(b' ');
        buf.extend_from_slice(f.name.as_bytes());
        if with_lines {
            buf.push(b'\t');
            buf.extend_from_slice(f.file.as_deref().unwrap_or("?").as_bytes());
            let _ = write!(buf, ":{}", f.line.unwrap_or(0));
        }
        buf.push(b'\n');
    };
    // The table in chunks, listed on every core, written in table order: the same output as
    // one pass, a wave of chunks at a time, each chunk into a buffer the next wave reuses.
    let n = bin.table.len();
    let chunks: Vec<std::ops::Range<usize>> = (0..n)
        .step_by(LIST_CHUNK)
        .map(|s| s..(s + LIST_CHUNK).min(n))
        .collect();
    let mut count = 0usize;
    match a.sort {
        SortBy::Addr => {
            let mut bufs: Vec<Vec<u8>> = vec![Vec::new(); LIST_WAVE.min(chunks.len())];
            for wave in chunks.chunks(LIST_WAVE) {
                let parts: Vec<Listed> = wave
                    .par_iter()
                    .zip(bufs.par_iter_mut())
                    .map(|(r, buf)| {
                        buf.clear();
                        list_chunk(bin, r.clone(), with_lines, &keep, |f| format(buf, &f))
                    })
                    .collect();
                for (p, buf) in parts.into_iter().zip(&bufs) {
                    out.write_all(buf)?;
                    count += p.count;
                    if let Some(e) = p.error {
                        return Err(e.into());
                    }
                }
            }
        }
        SortBy::Name => {
            let parts: Vec<(Vec<pclntab::Function<'_>>, Listed)> = chunks
                .par_iter()
                .map(|r| {
                    let mut funcs = Vec::new();
                    let listed = list_chunk(bin, r.clone(), with_lines, &keep, |f| funcs.push(f));
                    (funcs, listed)
                })
                .collect();
            let mut selected = Vec::new();
            for (funcs, p) in parts {
                selected.extend(funcs);
                if let Some(e) = p.error {
                    return Err(e.into());
                }
            }
            count = selected.len();
            selected.par_sort_by(|x, y| x.name.cmp(&y.name).then(x.entry.cmp(&y.entry)));
            for wave in selected.chunks(LIST_CHUNK * LIST_WAVE) {
                let bufs: Vec<Vec<u8>> = wave
                    .par_chunks(LIST_CHUNK)
                    .map(|fs| {
                        let mut buf = Vec::new();
                        for f in fs {
                            format(&mut buf, f);
                        }
                        buf
                    })
                    .collect();
                for b in bufs {
                    out.write_all(&b)?;
                }
            }
        }
    }
    Ok(if count == 0 && (a.filter.is_some() || a.user || a.std) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn parse_addr(s: &str) -> Result<u64> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    r.map_err(|_| anyhow!("bad address {s:?}: expected hex (0x...) or decimal"))
}

fn lookup(bin: &GoBinary<'_>, a: &LookupArgs, out: &mut impl Write) -> Result<ExitCode> {
    let mut missed = false;
    if a.addrs.is_empty() {
        // From stdin, as addr2line: each answer flushed at once, so that it works
        // interactively; a bad address is reported and the next line read.
        let mut bad = false;
        for line in io::stdin().lock().lines() {
            for word in line
                .context("reading addresses from stdin")?
                .split_whitespace()
            {
                match parse_addr(word) {
                    Ok(addr) => missed |= !lookup_one(bin, a.json, addr, out)?,
                    Err(e) => {
                        note!("gosyms: {e}");
                        bad = true;
                    }
                }
                out.flush()?;
            }
        }
        if bad {
            return Ok(ExitCode::from(2));
        }
    } else {
        let addrs = a
            .addrs
            .iter()
            .map(|s| parse_addr(s))
            .collect::<Result<Vec<_>>>()?;
        for addr in addrs {
            missed |= !lookup_one(bin, a.json, addr, out)?;
        }
    }
    Ok(if missed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Writes the answer for one address; whether it is in a function.
fn lookup_one(bin: &GoBinary<'_>, json: bool, addr: u64, out: &mut impl Write) -> Result<bool> {
    let loc = bin.lookup(VirtAddr(addr))?;
    if json {
        serde_json::to_writer(&mut *out, &output::LookupEntry::new(addr, loc.as_ref()))?;
        writeln!(out)?;
        return Ok(loc.is_some());
    }
    let Some(loc) = loc else {
        writeln!(out, "{addr:#x} ?")?;
        return Ok(false);
    };
    let f = &loc.function;
    let here = loc.frames.first();
    writeln!(
        out,
        "{addr:#x} {}+{:#x} {}:{}",
        f.name,
        loc.offset,
        here.and_then(|h| h.file.as_deref()).unwrap_or("?"),
        here.and_then(|h| h.line).unwrap_or(0)
    )?;
    // The inlined frames, innermost first, each with its position in the next one out.
    for (inner, outer) in loc.frames.iter().zip(loc.frames.iter().skip(1)) {
        writeln!(
            out,
            "    {} inlined into {} at {}:{}",
            inner.function,
            outer.function,
            outer.file.as_deref().unwrap_or("?"),
            outer.line.unwrap_or(0)
        )?;
    }
    Ok(true)
}

/// `gosyms man [COMMAND]`: the manual page in roff.
fn man(command: Option<&str>, out: &mut impl Write) -> Result<ExitCode> {
    let top = Cli::command();
    let page = match command {
        None => top,
        Some(name) => {
            let sub = top
                .find_subcommand(name)
                .ok_or_else(|| anyhow!("no command {name:?}: see `gosyms --help`"))?
                .clone();
            sub.display_name(format!("gosyms-{name}"))
        }
    };
    let mut roff = Vec::new();
    clap_mangen::Man::new(page).render(&mut roff)?;
    out.write_all(&roff)?;
    Ok(ExitCode::SUCCESS)
}

fn resolve(bin: &GoBinary<'_>, a: &ResolveArgs, out: &mut impl Write) -> Result<ExitCode> {
    let depth = resolver::described::DEFAULT_DEPTH;
    let Some(plans) = plans(bin, &a.patterns, a.debug_file.as_deref(), depth)? else {
        return Ok(ExitCode::from(1));
    };
    for plan in &plans {
        if a.json {
            serde_json::to_writer(&mut *out, &output::PlanEntry::new(plan))?;
            writeln!(out)?;
        } else {
            output::write_plan(out, plan)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
