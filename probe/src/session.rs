//! One tracing session, from the resolver's plans to decoded events: what the CLI asks of
//! probe in one place.
//!
//! [`Session::new`] turns each function's [`resolver::Plan`] into its probe specs (spec `2i` is
//! function `i`'s entry, `2i + 1` its returns) and attach points (the cookie names the spec and
//! the site's offset in the function), checks them against the program's limits, finds how to
//! reach the goroutine, builds the dynamic types' recipes, compiles `--where` into filters, and
//! sets `--tid`, `--goid`, `--min-duration`, `--stack` and `--stats`. Then [`Session::load`],
//! [`Session::attach`], [`Session::poll`] with the [`Decoder`] (pairing, typed values, stacks),
//! [`Session::detach`], and what was counted instead of sent ([`Session::counts`],
//! [`Session::stats`]).

use crate::condition::{error_filter, Compiled, Condition, ConditionError, FunctionValues};
use crate::dynamic::{map_layout, DynTypes};
use crate::events::{DecodedFunction, Decoder};
use crate::reads::Limits;
use crate::spec::{FunctionCapture, GoroutineAccess};
use crate::stats::FunctionStats;
use crate::{
    uprobe_refusal, validate, AttachPoint, Counts, Program, Scope, SiteKind, TraceError, Tracer,
};
use pclntab::GoBinary;
use probe_common::{
    ProbeSpec, SpecFilter, TraceConfig, CFG_GOID, CFG_MIN_DURATION, CFG_STATS, CFG_TID, CFG_TRACK,
    MAX_DEREF_BYTES, MAX_FRAMES,
};
use resolver::described::DescribedTypes;
use std::path::Path;
use std::time::Duration;

/// What to trace, beyond the functions.
#[derive(Debug, Clone)]
pub struct Options {
    /// What each event captures.
    pub limits: Limits,
    /// Entry probes only.
    pub no_returns: bool,
    /// `--where`.
    pub condition: Option<Condition>,
    /// `--min-duration`.
    pub min_duration: Option<Duration>,
    /// `--tid`.
    pub tid: Option<u32>,
    /// `--goid`.
    pub goid: Option<u64>,
    /// `--stack`: frames per call.
    pub stack_frames: Option<u32>,
    /// `--stats`.
    pub stats: bool,
    /// Ring buffer bytes.
    pub ring_bytes: u32,
}

/// Notes grouped by text, each naming the functions it applies to, in the order first seen.
#[derive(Debug, Default, Clone)]
pub struct Notes(Vec<(String, Vec<String>)>);

impl Notes {
    /// Adds `note` for `function`.
    pub fn add(&mut self, note: String, function: &str) {
        match self.0.iter_mut().find(|(n, _)| *n == note) {
            Some((_, fs)) if fs.last().is_some_and(|f| f == function) => {}
            Some((_, fs)) => fs.push(function.to_string()),
            None => self.0.push((note, vec![function.to_string()])),
        }
    }

    /// One line per note (at most `max`), naming up to `names` of its functions.
    pub fn lines(&self, names: usize, max: usize) -> Vec<String> {
        let mut out: Vec<String> = self
            .0
            .iter()
            .take(max)
            .map(|(note, functions)| {
                let shown = functions
                    .iter()
                    .take(names)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ");
                match functions.len() {
                    n if n <= names => format!("{shown}: {note}"),
                    n => format!("{shown} and {} more: {note}", n - names),
                }
            })
            .collect();
        if self.0.len() > max {
            out.push(format!("... and {} more notes", self.0.len() - max));
        }
        out
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What attaching did.
#[derive(Debug)]
pub struct Attached {
    /// Functions traced.
    pub functions: usize,
    /// Uprobes attached.
    pub uprobes: usize,
    /// Sites the kernel refused, one note per function.
    pub refused: Notes,
}

/// One tracing session.
pub struct Session<'a, 'data> {
    specs: Vec<ProbeSpec>,
    filters: Vec<SpecFilter>,
    points: Vec<AttachPoint>,
    config: TraceConfig,
    keeps: bool,
    ring_bytes: u32,
    /// Functions with probes to attach.
    traced: usize,
    /// Per function: whether its last result is an `error` (`--stats` counts them).
    has_error: Vec<bool>,
    notes: Notes,
    decoder: Decoder<'a, 'data>,
    tracer: Option<Tracer>,
}

/// Why a session cannot start.
fn refuse(what: impl Into<String>) -> TraceError {
    TraceError::Unsupported(what.into())
}

impl<'a, 'data> Session<'a, 'data> {
    /// Plans everything for `plans` of `bin`; nothing is loaded yet.
    pub fn new(
        bin: &'a GoBinary<'data>,
        plans: &[resolver::Plan],
        opts: &Options,
    ) -> Result<Self, TraceError> {
        if opts.no_returns {
            for (given, flag) in [
                (opts.min_duration.is_some(), "--min-duration"),
                (opts.stats, "--stats"),
            ] {
                if given {
                    return Err(refuse(format!(
                        "{flag} needs the return probes: leave out --no-returns"
                    )));
                }
            }
        }
        if opts.stats && opts.stack_frames.is_some() {
            return Err(refuse(
                "--stack gives call events their stacks; --stats writes no events",
            ));
        }
        let arch = crate::Arch::of_binary(bin)?;
        let mut notes = Notes::default();
        let needs_tls = plans.iter().any(|p| p.goid.g_register.is_none());
        let fsbase = if needs_tls {
            match crate::fsbase_offset() {
                Ok(o) => Some(o),
                Err(e) => {
                    notes.add(format!("no goroutine ids: {e}"), "stack-ABI functions");
                    None
                }
            }
        } else {
            None
        };
        let limits = opts.limits;
        // The binary's own types: map layouts, and a recipe for each dynamic type.
        let described = bin
            .type_descs()
            .ok()
            .map(|d| DescribedTypes::new(d, u64::from(bin.container.ptr_size), limits.depth));
        let maps =
            |t: &resolver::types::GoType| described.as_ref().and_then(|d| map_layout(d.descs(), t));
        let dyn_types = described
            .as_ref()
            .map(|d| DynTypes::build(d, limits, &maps))
            .unwrap_or_default();
        let code_at = |offset: u64| {
            usize::try_from(offset)
                .ok()
                .and_then(|o| bin.container.file.get(o..))
                .unwrap_or_default()
        };
        let mut specs = Vec::with_capacity(2 * plans.len());
        let mut filters = Vec::with_capacity(2 * plans.len());
        let mut points = Vec::new();
        let mut functions = Vec::with_capacity(plans.len());
        let mut has_error = Vec::with_capacity(plans.len());
        let mut traced = 0;
        let mut first_refusal: Option<ConditionError> = None;
        let mut keeps = false;
        let empty = Vec::new();
        for (i, plan) in plans.iter().enumerate() {
            let mut cap =
                FunctionCapture::new(plan, GoroutineAccess::for_plan(plan, fsbase), limits, &maps);
            let (args, results) = match &plan.layout {
                Some(l) => (&l.args, &l.results),
                None => (&empty, &empty),
            };
            let values = FunctionValues {
                function: &plan.function,
                goarch: plan.arch,
                args,
                results,
                entry_reads: &cap.entry_values.reads,
                ret_reads: &cap.ret_values.reads,
                raw: cap.entry_values.raw,
            };
            let mut entry_filter = SpecFilter::pass();
            let mut ret_filter = SpecFilter::pass();
            let mut excluded = None;
            if let Some(c) = &opts.condition {
                match c.compile(&values) {
                    Ok(Compiled {
                        entry,
                        ret,
                        widen,
                        on_results,
                    }) => {
                        if on_results && opts.no_returns {
                            return Err(refuse("--where compares results: leave out --no-returns"));
                        }
                        keeps |= on_results;
                        entry_filter = entry;
                        ret_filter = ret;
                        for w in widen {
                            let spec = if w.at_return {
                                &mut cap.ret
                            } else {
                                &mut cap.entry
                            };
                            if let Some(d) = spec.derefs.get_mut(w.read) {
                                d.max_bytes = d.max_bytes.max(w.bytes).min(MAX_DEREF_BYTES);
                                if w.pointee {
                                    d.elem_size = d.max_bytes;
                                }
                            }
                        }
                    }
                    Err(e) => {
                        excluded = Some(e.to_string());
                        first_refusal.get_or_insert(e);
                    }
                }
            }
            if opts.stats {
                error_filter(&values, &mut ret_filter);
            }
            has_error.push(values.error_result().is_some());
            validate(arch, &plan.function, &cap.entry)?;
            validate(arch, &plan.function, &cap.ret)?;
            let entry_spec = u32::try_from(2 * i).map_err(|_| refuse("too many functions"))?;
            let site_offset = |vaddr: u64| {
                u32::try_from(vaddr.saturating_sub(plan.entry.vaddr))
                    .map_err(|_| refuse(format!("{}: a site too far in", plan.function)))
            };
            let entry = plan.entry_probe;
            if let Some(why) = excluded {
                notes.add(
                    format!("not traced: {}", why.trim_start_matches("--where: ")),
                    &plan.function,
                );
            } else if let Some(why) = uprobe_refusal(arch, code_at(entry.file_offset)) {
                notes.add(
                    format!("not traced: the kernel cannot probe its entry ({why})"),
                    &plan.function,
                );
            } else {
                traced += 1;
                points.push(AttachPoint {
                    file_offset: entry.file_offset,
                    spec: entry_spec,
                    site_offset: site_offset(entry.vaddr)?,
                    kind: SiteKind::Entry,
                });
                for r in plan.returns.iter().filter(|_| !opts.no_returns) {
                    if let Some(why) = uprobe_refusal(arch, code_at(r.file_offset)) {
                        notes.add(
                            format!("a return at {:#x} is not probed ({why})", r.vaddr),
                            &plan.function,
                        );
                        continue;
                    }
                    points.push(AttachPoint {
                        file_offset: r.file_offset,
                        spec: entry_spec + 1,
                        site_offset: site_offset(r.vaddr)?,
                        kind: SiteKind::Return,
                    });
                }
                // The resolver notes functions without return instructions already.
                if let (Some(why), false) = (&plan.returns_unsupported, opts.no_returns) {
                    notes.add(format!("calls only ({why})"), &plan.function);
                }
                for n in plan.notes.iter().chain(&cap.notes) {
                    notes.add(n.clone(), &plan.function);
                }
            }
            specs.push(cap.entry);
            specs.push(cap.ret);
            filters.push(entry_filter);
            filters.push(ret_filter);
            functions.push(DecodedFunction {
                name: plan.function.clone(),
                entry: cap.entry_values,
                ret: cap.ret_values,
                entry_vaddr: plan.entry.vaddr,
            });
        }
        if traced == 0 {
            return Err(match first_refusal {
                Some(e) => TraceError::Condition(e),
                None => refuse("none of the matching functions can be probed"),
            });
        }
        let mut config = TraceConfig::default();
        if let Some(tid) = opts.tid {
            config.flags |= CFG_TID;
            config.tid = tid;
        }
        if let Some(goid) = opts.goid {
            config.flags |= CFG_GOID;
            config.goid = goid;
        }
        if let Some(d) = opts.min_duration {
            config.flags |= CFG_MIN_DURATION;
            config.min_duration_ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
            keeps = true;
        }
        // A call's entry decides for its return: its return is left out with it.
        if !opts.no_returns
            && (opts.condition.is_some() || opts.tid.is_some() || opts.min_duration.is_some())
        {
            config.flags |= CFG_TRACK;
        }
        if opts.stats {
            config.flags |= CFG_STATS;
            keeps = false;
        }
        if let Some(n) = opts.stack_frames {
            config.stack_frames = n.clamp(1, MAX_FRAMES as u32);
        }
        let mut decoder = Decoder::new(bin, functions, dyn_types);
        if opts.stack_frames.is_some() {
            decoder = decoder.with_stacks(bin);
        }
        Ok(Session {
            specs,
            filters,
            points,
            config,
            keeps,
            ring_bytes: opts.ring_bytes,
            traced,
            has_error,
            notes,
            decoder,
            tracer: None,
        })
    }

    /// What the user should know about the functions: what cannot be captured, what is not
    /// traced and why.
    pub fn notes(&self) -> &Notes {
        &self.notes
    }

    /// The decoder: pairing, function names, typed values.
    pub fn decoder(&self) -> &Decoder<'a, 'data> {
        &self.decoder
    }

    /// How many functions there are (traced or not): the range of `TraceEvent::function`.
    pub fn functions(&self) -> usize {
        self.decoder.functions()
    }

    /// Loads the program with the specs, filters and settings.
    pub fn load(&mut self) -> Result<(), TraceError> {
        let tracer = Tracer::load(&Program {
            specs: &self.specs,
            filters: &self.filters,
            types: self.decoder.types(),
            config: self.config,
            functions: self.decoder.functions(),
            keeps: self.keeps,
            ring_bytes: self.ring_bytes,
        })?;
        self.tracer = Some(tracer);
        Ok(())
    }

    fn tracer(&mut self) -> Result<&mut Tracer, TraceError> {
        self.tracer
            .as_mut()
            .ok_or_else(|| refuse("the program is not loaded"))
    }

    /// Attaches the probes to `binary` (an absolute path, or `/proc/PID/exe`) for `scope`.
    /// Sites the kernel refuses are left out, with a note; the functions whose entry it
    /// refused are not traced.
    pub fn attach(&mut self, binary: &Path, scope: Scope) -> Result<Attached, TraceError> {
        let points = std::mem::take(&mut self.points);
        let result = self.tracer()?.attach(binary, &points, scope);
        self.points = points;
        let refused = result?;
        let mut notes = Notes::default();
        let mut lost_entries = std::collections::BTreeSet::new();
        for r in &refused {
            const ENOTSUPP: i32 = 524;
            let error = match r.error.raw_os_error() {
                Some(ENOTSUPP) => "ENOTSUPP: an instruction it will not single-step".to_string(),
                _ => r.error.to_string(),
            };
            let i = (r.point.spec / 2) as usize;
            let note = match r.point.kind {
                SiteKind::Entry => {
                    lost_entries.insert(i);
                    format!("not traced: the kernel refused its entry probe ({error})")
                }
                SiteKind::Return => {
                    format!("some returns not probed: the kernel refused them ({error})")
                }
            };
            notes.add(note, self.decoder.name(i));
        }
        Ok(Attached {
            functions: self.traced - lost_entries.len(),
            uprobes: self.tracer.as_ref().map_or(0, Tracer::attached),
            refused: notes,
        })
    }

    /// Waits up to `timeout` for events, and hands each one to `f` with the decoder; how many
    /// there were.
    pub fn poll(
        &mut self,
        timeout: Duration,
        mut f: impl FnMut(&mut Decoder<'a, 'data>, &[u8]),
    ) -> Result<usize, TraceError> {
        let decoder = &mut self.decoder;
        match self.tracer.as_mut() {
            Some(t) => t.poll(timeout, |b| f(decoder, b)),
            None => Err(refuse("the program is not loaded")),
        }
    }

    /// Hands each event waiting to `f`, without waiting; how many there were. After
    /// [`Session::detach`], draining until it gives 0 gives the last events.
    pub fn drain(&mut self, mut f: impl FnMut(&mut Decoder<'a, 'data>, &[u8])) -> usize {
        let decoder = &mut self.decoder;
        match self.tracer.as_mut() {
            Some(t) => t.drain(&mut |b| f(decoder, b)),
            None => 0,
        }
    }

    /// Uprobes attached now.
    pub fn uprobes(&self) -> usize {
        self.tracer.as_ref().map_or(0, Tracer::attached)
    }

    /// Detaches every probe: when it returns, no probe fires any more.
    pub fn detach(&mut self) {
        if let Some(t) = self.tracer.as_mut() {
            t.detach();
        }
    }

    /// What the program counted instead of sending; complete after [`Session::detach`].
    pub fn counts(&self) -> Counts {
        self.tracer.as_ref().map(Tracer::counts).unwrap_or_default()
    }

    /// `--stats`: every function's totals so far, in function order.
    pub fn stats(&self) -> Result<Vec<FunctionStats>, TraceError> {
        let Some(t) = &self.tracer else {
            return Ok(Vec::new());
        };
        (0..self.decoder.functions())
            .map(|i| {
                let (s, max) = t.function_stats(i as u32)?;
                let has_error = self.has_error.get(i).copied().unwrap_or(false);
                Ok(FunctionStats::new(i, &s, &max, has_error))
            })
            .collect()
    }

    /// Unloads the program (also done on drop).
    pub fn close(&mut self) {
        self.tracer = None;
    }
}
