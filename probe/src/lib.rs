//! The user-space half of `gosyms trace`: it loads the eBPF program (`probe-ebpf`, committed
//! compiled as `gosyms-probe.bpf.o`), writes one [`ProbeSpec`] per entry and per return of each
//! function from the resolver's [`resolver::Plan`]s ([`spec`], [`reads`]) and one
//! [`probe_common::TypeRecipe`] per type of the binary ([`dynamic`]), attaches uprobes by file
//! offset with the spec's index as cookie, and turns ring-buffer events into typed Go values
//! ([`decode`], [`value`]): arguments at calls, results and durations at returns, paired per
//! goroutine.
//!
//! It only reads the traced process (registers, stack, memory through pointers); it never
//! writes to it, and it uses no uretprobes (they corrupt Go stacks), only probes on the
//! function's instructions: just past the stack check at entry, and on every `RET`.

mod arch;
mod attach;
mod btf;
pub mod condition;
pub mod decode;
pub mod dynamic;
mod events;
pub mod json;
mod multi;
pub mod reads;
mod session;
pub mod spec;
pub mod stack;
pub mod stats;
mod sys;
mod typenames;
pub mod value;

pub use arch::Arch;
pub use condition::Condition;
pub use dynamic::DynTypes;
pub use events::{DecodedFunction, Decoder, Event, Pairing, TraceEvent};
pub use probe_common::ProbeSpec;
pub use reads::Limits;
pub use session::{Attached, Notes, Options, Session};
pub use spec::{FunctionCapture, GoroutineAccess};
pub use stack::StackFrame;
pub use stats::FunctionStats;
pub use typenames::TypeNames;
pub use value::{Value, Values};

use aya::maps::HashMap as BpfHashMap;
use aya::maps::{Array, MapData, PerCpuArray, RingBuf};
use aya::programs::UProbe;
use aya::{Ebpf, EbpfLoader};
use probe_common::{
    CallKey, CallMark, FnStats, SpecFilter, TraceConfig, TypeRecipe, CFG_STATS, CFG_TRACK,
    COUNT_AGGREGATED, COUNT_FILTERED_CALLS, COUNT_FILTERED_RETURNS, COUNT_REPLACED, COUNT_UNKEPT,
    COUNT_UNTIMED, FLAG_G_IN_REG, MARK_KEPT, MAX_DYN, MAX_REGS, MAX_SPEC_DEREFS, MAX_STACK_BYTES,
    WORD_REG,
};
use std::num::NonZeroU32;
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;
use std::time::Duration;

/// Why tracing could not start.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// Missing privileges.
    #[error(
        "tracing needs root, or the capabilities CAP_BPF and CAP_PERFMON (this process has {0})"
    )]
    Privileges(String),
    /// The binary is not one gosyms can trace.
    #[error("{0}")]
    Unsupported(String),
    /// A spec that the program would not accept.
    #[error("probe spec for {function}: {detail}")]
    BadSpec {
        /// The function.
        function: String,
        /// What is wrong.
        detail: String,
    },
    /// A `--where` condition that does not fit.
    #[error(transparent)]
    Condition(#[from] condition::ConditionError),
    /// Loading or attaching failed.
    #[error("{what}: {cause}")]
    Bpf {
        /// What was being done.
        what: String,
        /// The error.
        cause: Box<dyn std::error::Error + Send + Sync>,
    },
}

fn bpf<E: std::error::Error + Send + Sync + 'static>(
    what: impl Into<String>,
) -> impl FnOnce(E) -> TraceError {
    let what = what.into();
    move |e| TraceError::Bpf {
        what,
        cause: Box::new(e),
    }
}

/// Checks up front that this process may load BPF programs and open uprobes.
pub fn check_privileges() -> Result<(), TraceError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return Ok(());
    }
    const CAP_PERFMON: u32 = 38;
    const CAP_BPF: u32 = 39;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    let has = |c: u32| eff & (1 << c) != 0;
    if has(CAP_BPF) && has(CAP_PERFMON) {
        return Ok(());
    }
    let mut have = Vec::new();
    if has(CAP_BPF) {
        have.push("CAP_BPF");
    }
    if has(CAP_PERFMON) {
        have.push("CAP_PERFMON");
    }
    Err(TraceError::Privileges(if have.is_empty() {
        "neither".into()
    } else {
        format!("only {}", have.join(" and "))
    }))
}

/// Checks a spec against the limits of the program built for `arch` before it goes into the
/// kernel: the program bounds every read itself, but a spec it would silently cut, or a
/// register it would read as 0, is a bug worth reporting.
pub fn validate(arch: Arch, function: &str, spec: &ProbeSpec) -> Result<(), TraceError> {
    let bad = |detail: String| TraceError::BadSpec {
        function: function.to_string(),
        detail,
    };
    if usize::from(spec.nregs) > MAX_REGS {
        return Err(bad(format!("{} registers, at most {MAX_REGS}", spec.nregs)));
    }
    if usize::from(spec.nderefs) > MAX_SPEC_DEREFS {
        return Err(bad(format!(
            "{} memory reads, at most {MAX_SPEC_DEREFS}",
            spec.nderefs
        )));
    }
    if usize::from(spec.ndyn) > MAX_DYN {
        return Err(bad(format!(
            "{} interface values, at most {MAX_DYN}",
            spec.ndyn
        )));
    }
    if spec.stack_len > MAX_STACK_BYTES {
        return Err(bad(format!(
            "{} bytes of stack, at most {MAX_STACK_BYTES}",
            spec.stack_len
        )));
    }
    for (i, d) in spec.derefs.iter().take(spec.nderefs.into()).enumerate() {
        if d.max_bytes > probe_common::MAX_DEREF_BYTES {
            return Err(bad(format!(
                "read {i} of {} bytes, at most {}",
                d.max_bytes,
                probe_common::MAX_DEREF_BYTES
            )));
        }
        for w in [d.addr, d.len] {
            if w.kind == probe_common::WORD_DEREF && usize::from(w.index) >= i {
                return Err(bad(format!("read {i} depends on a later read")));
            }
        }
    }
    check_registers(arch, spec).map_err(bad)
}

/// Checks that every register `spec` names is in `arch`'s register file: the program reads a
/// register beyond it as 0, which would be a wrong value.
fn check_registers(arch: Arch, spec: &ProbeSpec) -> Result<(), String> {
    let words = arch.pt_regs().len();
    let regs = spec.regs.iter().take(spec.nregs.into());
    let g = (spec.flags & FLAG_G_IN_REG != 0).then_some(&spec.g_reg);
    let words_read = spec
        .derefs
        .iter()
        .take(spec.nderefs.into())
        .flat_map(|d| [d.addr, d.len])
        .chain(
            spec.dyn_slots
                .iter()
                .take(spec.ndyn.into())
                .flat_map(|d| [d.type_word, d.data_word]),
        )
        .filter(|w| w.kind == WORD_REG)
        .map(|w| w.index);
    match regs
        .chain(g)
        .copied()
        .chain(words_read)
        .find(|r| usize::from(*r) >= words)
    {
        Some(r) => Err(format!(
            "register {r} is not one of the {words} of linux/{}",
            arch.goarch()
        )),
        None => Ok(()),
    }
}

/// Probe hits the program did not send, by reason (all summed over CPUs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Events lost because the ring buffer was full.
    pub drops: u64,
    /// Calls a filter left out.
    pub filtered_calls: u64,
    /// Returns left out (of calls left out or not seen, or by a filter).
    pub filtered_returns: u64,
    /// Calls that passed but could not be followed until their return (maps full).
    pub unkept: u64,
    /// Kept calls that never returned, replaced by a later call at their depth.
    pub replaced: u64,
    /// Probe hits added up in the statistics (`--stats`).
    pub aggregated: u64,
    /// `--stats`: calls whose latency could not be measured (maps full).
    pub untimed: u64,
    /// Kept calls that had not returned when tracing stopped.
    pub kept_pending: u64,
}

/// Which instruction of a function a probe is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteKind {
    /// The entry probe (just past the stack check).
    Entry,
    /// A `RET` instruction.
    Return,
}

/// One uprobe to attach.
#[derive(Debug, Clone, Copy)]
pub struct AttachPoint {
    /// File offset of the instruction.
    pub file_offset: u64,
    /// Index of its spec.
    pub spec: u32,
    /// The instruction's offset from its function's entry (with the spec's entry address, the
    /// program finds a PIE's load bias).
    pub site_offset: u32,
    /// Entry or return.
    pub kind: SiteKind,
}

impl AttachPoint {
    /// The attach cookie: the spec in the low half, the site's offset in the high half.
    pub fn cookie(&self) -> u64 {
        u64::from(self.spec) | (u64::from(self.site_offset) << 32)
    }
}

/// A probe the kernel would not place, and why. The other probes are attached.
#[derive(Debug)]
pub struct Refused {
    /// The point.
    pub point: AttachPoint,
    /// The kernel's answer (`ENOTSUPP`, shown as "Unknown error 524", for an instruction
    /// it will not single-step).
    pub error: std::io::Error,
}

/// Why the kernel would refuse a uprobe on the instruction of `arch` starting `code`, if it
/// certainly would. Checked before attaching, so that such a site does not fail a whole
/// `uprobe_multi` link; [`Tracer::attach`] still finds any other refused site by bisection.
pub fn uprobe_refusal(arch: Arch, code: &[u8]) -> Option<&'static str> {
    match arch {
        Arch::Amd64 => x86_64_refusal(code),
        Arch::Arm64 => arm64_refusal(code),
    }
}

/// x86-64 (arch/x86/kernel/uprobes.c): a breakpoint or interrupt (`INT3`, `INT n`, `INT1`,
/// `INTO`), `IRET` or `HLT`, which it neither single-steps nor emulates (Go's `runtime.abort`
/// is `INT $3`, where execution must never arrive), or a legacy prefix it refuses (`ES`, `CS`,
/// `DS`, `SS` segment overrides and `LOCK`, `is_prefix_bad`).
fn x86_64_refusal(code: &[u8]) -> Option<&'static str> {
    for &b in code.iter().take(15) {
        return Some(match b {
            0xcc => "an INT3 instruction",
            0xcd | 0xce | 0xf1 => "an interrupt instruction",
            0xcf => "an IRET instruction",
            0xf4 => "a HLT instruction",
            0x26 | 0x2e | 0x36 | 0x3e => "an instruction with an ES, CS, DS or SS prefix",
            0xf0 => "a LOCK-prefixed instruction",
            // Prefixes the kernel accepts: FS, GS, operand and address size, REP/REPNE, REX.
            0x64 | 0x65 | 0x66 | 0x67 | 0xf2 | 0xf3 | 0x40..=0x4f => continue,
            _ => return None,
        });
    }
    None
}

/// arm64 (arch/arm64/kernel/probes/decode-insn.c, `aarch64_insn_is_steppable`): exception
/// generation (`BRK`, `SVC`, `HLT`...: `aarch64_insn_is_exception`, Go's `runtime.breakpoint`)
/// and exclusive loads and stores (`LDAXR`, `STLXR`...: `aarch64_insn_is_load_ex`/`store_ex`,
/// the first instruction of Go's atomics), which stepping out of line would break.
fn arm64_refusal(code: &[u8]) -> Option<&'static str> {
    let insn = u32::from_le_bytes(code.get(..4)?.try_into().ok()?);
    if insn & 0xff00_0000 == 0xd400_0000 {
        Some("an exception-generating instruction")
    } else if insn & 0x3f00_0000 == 0x0800_0000 {
        Some("an exclusive load or store")
    } else {
        None
    }
}

/// Whether an attach error is the kernel refusing one instruction (rather than a failure of
/// the whole attach): `ENOTSUPP` (524, not in libc: kernel-internal) for an instruction it will
/// not probe, `ENOEXEC` for one it cannot decode.
fn is_refusal(e: &std::io::Error) -> bool {
    const ENOTSUPP: i32 = 524;
    matches!(e.raw_os_error(), Some(ENOTSUPP | libc::ENOEXEC))
}

/// Which processes fire the probes.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    /// Every process running the binary.
    All,
    /// One process.
    Pid(NonZeroU32),
}

/// Attached probes of one kind: `uprobe_multi` links (with how many probes each holds), or
/// per-probe perf events on kernels without them.
#[derive(Default)]
struct Probes {
    links: Vec<(std::os::fd::OwnedFd, usize)>,
    perf: Vec<attach::Attached>,
}

impl Probes {
    fn len(&self) -> usize {
        self.perf.len() + self.links.iter().map(|(_, n)| n).sum::<usize>()
    }

    /// Detaches them. When this returns, no handler of theirs is running any more: closing a
    /// link unregisters its uprobes and waits for the handlers in flight.
    fn detach(&mut self) {
        self.links.clear();
        attach::detach_all(std::mem::take(&mut self.perf));
    }
}

/// The loaded program with its maps.
pub struct Tracer {
    ebpf: Ebpf,
    ring: RingBuf<MapData>,
    /// The program loaded for `uprobe_multi` links, when the kernel has them.
    multi_prog: Option<std::os::fd::OwnedFd>,
    /// Probes on returns: attached before, and detached after, the entry probes.
    returns: Probes,
    /// Entry probes.
    entries: Probes,
}

impl Drop for Tracer {
    fn drop(&mut self) {
        self.detach();
    }
}

impl Tracer {
    /// Loads the program built for the running kernel's architecture (the traced binary's:
    /// [`Arch::of_binary`] refuses any other) with its maps sized for `p`, and stores the
    /// specs, filters, type recipes and settings. The specs are ones [`validate`] accepted
    /// for that architecture, as [`Session`] checks them.
    pub fn load(p: &Program<'_>) -> Result<Tracer, TraceError> {
        let specs = p.specs;
        let arch = Arch::kernel().map_err(|machine| {
            TraceError::Unsupported(format!("no eBPF program for this {machine} kernel"))
        })?;
        let program = arch.program();
        let n = u32::try_from(specs.len().max(1))
            .map_err(|_| TraceError::Unsupported("too many probes".into()))?;
        let ntypes = u32::try_from(p.types.types.len().max(1))
            .map_err(|_| TraceError::Unsupported("too many types".into()))?;
        let functions = u32::try_from(p.functions.max(1))
            .map_err(|_| TraceError::Unsupported("too many functions".into()))?;
        let tracks = p.config.flags & (CFG_TRACK | CFG_STATS) != 0;
        let stats = p.config.flags & CFG_STATS != 0;
        let mut ebpf = EbpfLoader::new()
            .map_max_entries("SPECS", n)
            .map_max_entries("FILTERS", n)
            .map_max_entries("TYPES", ntypes)
            .map_max_entries("EVENTS", p.ring_bytes)
            .map_max_entries("CALLS", if tracks { MAX_CALLS } else { 1 })
            .map_max_entries("KEPT", if p.keeps { MAX_KEPT } else { 1 })
            .map_max_entries("STATS", if stats { functions } else { 1 })
            .map_max_entries("STATS_MAX", if stats { functions } else { 1 })
            .load(program)
            .map_err(bpf("loading the eBPF program"))?;
        {
            let map = ebpf
                .map_mut("TYPES")
                .ok_or_else(|| TraceError::Unsupported("map TYPES missing".into()))?;
            let mut hash: BpfHashMap<_, u64, TypeRecipe> =
                BpfHashMap::try_from(map).map_err(bpf("map TYPES"))?;
            for (addr, recipe) in p.types.recipes() {
                hash.insert(addr, *recipe, 0)
                    .map_err(bpf("writing a type recipe"))?;
            }
        }
        set_all(&mut ebpf, "SPECS", specs.iter().copied())?;
        let pass = SpecFilter::pass();
        let filters = (0..specs.len()).map(|i| p.filters.get(i).copied().unwrap_or(pass));
        set_all(&mut ebpf, "FILTERS", filters)?;
        set_all(&mut ebpf, "CONFIG", std::iter::once(p.config))?;
        // One link for every probe when the kernel has uprobe_multi (6.6+); otherwise aya
        // loads the program and each probe gets its own perf event.
        let multi_prog = multi::load(&ebpf, program, "gosyms_probe").ok();
        if multi_prog.is_none() {
            let prog: &mut UProbe = ebpf
                .program_mut("gosyms_probe")
                .ok_or_else(|| TraceError::Unsupported("program gosyms_probe missing".into()))?
                .try_into()
                .map_err(bpf("gosyms_probe"))?;
            prog.load().map_err(bpf("verifying the eBPF program"))?;
        }
        let ring = RingBuf::try_from(
            ebpf.take_map("EVENTS")
                .ok_or_else(|| TraceError::Unsupported("map EVENTS missing".into()))?,
        )
        .map_err(bpf("map EVENTS"))?;
        Ok(Tracer {
            ebpf,
            ring,
            multi_prog,
            returns: Probes::default(),
            entries: Probes::default(),
        })
    }

    /// Attaches one uprobe per point to `binary` (an absolute path, or `/proc/PID/exe`).
    ///
    /// Return probes go live before entry probes, so that a call seen is a call whose return
    /// will be seen (a return without its call is then one that started before tracing). This
    /// also orders two probes on one instruction (a function that is a single `RET`): the
    /// kernel runs the handlers of one uprobe newest first, so the entry probe, attached
    /// last, fires before the return probe, and the call comes before its return.
    ///
    /// A site the kernel refuses (an instruction it will not single-step) is left out and
    /// given back with the kernel's error; every other site is attached. Any other failure,
    /// or every site refused, is an error, and nothing stays attached.
    pub fn attach(
        &mut self,
        binary: &Path,
        points: &[AttachPoint],
        scope: Scope,
    ) -> Result<Vec<Refused>, TraceError> {
        let pid = match scope {
            Scope::All => None,
            Scope::Pid(p) => Some(p.get()),
        };
        let mut refused = Vec::new();
        for kind in [SiteKind::Return, SiteKind::Entry] {
            let these: Vec<AttachPoint> =
                points.iter().filter(|p| p.kind == kind).copied().collect();
            match self.attach_kind(binary, &these, pid) {
                Ok((probes, r)) => {
                    let dest = match kind {
                        SiteKind::Return => &mut self.returns,
                        SiteKind::Entry => &mut self.entries,
                    };
                    dest.links.extend(probes.links);
                    dest.perf.extend(probes.perf);
                    refused.extend(r);
                }
                Err(e) => {
                    self.detach();
                    return Err(e);
                }
            }
        }
        if !points.is_empty() && refused.len() == points.len() {
            self.detach();
            let first = refused.swap_remove(0);
            return Err(bpf(format!(
                "the kernel refused every uprobe in {} (first: file offset {:#x})",
                binary.display(),
                first.point.file_offset
            ))(first.error));
        }
        Ok(refused)
    }

    /// Attaches `points` (all of one kind), leaving out the refused ones.
    fn attach_kind(
        &self,
        binary: &Path,
        points: &[AttachPoint],
        pid: Option<u32>,
    ) -> Result<(Probes, Vec<Refused>), TraceError> {
        let pairs: Vec<(u64, u64)> = points.iter().map(|p| (p.file_offset, p.cookie())).collect();
        let mut probes = Probes::default();
        let mut failed = Vec::new();
        if let Some(prog) = &self.multi_prog {
            let mut link = |points: &[(u64, u64)]| multi::attach(prog, binary, points, pid);
            attach_bisecting(&mut link, &pairs, 0, &mut probes.links, &mut failed).map_err(bpf(
                format!("attaching {} uprobes to {}", pairs.len(), binary.display()),
            ))?;
        } else {
            let prog: &UProbe = self
                .ebpf
                .program("gosyms_probe")
                .ok_or_else(|| TraceError::Unsupported("program gosyms_probe missing".into()))?
                .try_into()
                .map_err(bpf("gosyms_probe"))?;
            let fd = prog.fd().map_err(bpf("gosyms_probe"))?;
            let (attached, errors) = attach::attach_all(fd.as_fd(), binary, &pairs, pid)
                .map_err(bpf(format!("attaching uprobes to {}", binary.display())))?;
            probes.perf = attached;
            for (i, e) in errors {
                if !is_refusal(&e) {
                    probes.detach();
                    let offset = pairs.get(i).map_or(0, |p| p.0);
                    return Err(bpf(format!(
                        "attaching a uprobe at file offset {offset:#x} of {}",
                        binary.display()
                    ))(e));
                }
                failed.push((i, e));
            }
        }
        let refused = failed
            .into_iter()
            .filter_map(|(i, error)| points.get(i).map(|&point| Refused { point, error }))
            .collect();
        Ok((probes, refused))
    }

    /// Detaches every probe (also done on drop): the entry probes first, so that no call is
    /// seen whose return probe is already gone. When this returns no handler is running, and
    /// every event the probes sent is in the ring buffer or counted in [`Tracer::drops`].
    pub fn detach(&mut self) {
        self.entries.detach();
        self.returns.detach();
    }

    /// How many uprobes are attached.
    pub fn attached(&self) -> usize {
        self.entries.len() + self.returns.len()
    }

    /// Waits up to `timeout` for events, then hands each waiting event's bytes to `f`.
    /// Returns how many there were.
    pub fn poll(
        &mut self,
        timeout: Duration,
        mut f: impl FnMut(&[u8]),
    ) -> Result<usize, TraceError> {
        let mut n = self.drain(&mut f);
        if n > 0 {
            return Ok(n);
        }
        let mut pfd = libc::pollfd {
            fd: self.ring.as_fd().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd for the duration of the call.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(bpf("polling the ring buffer")(e));
            }
        }
        n += self.drain(&mut f);
        Ok(n)
    }

    /// Hands each event waiting in the ring buffer to `f`, without waiting; returns how many
    /// there were. After [`Tracer::detach`], draining until it returns 0 gives the last events.
    pub fn drain(&mut self, f: &mut impl FnMut(&[u8])) -> usize {
        let mut n = 0;
        while let Some(item) = self.ring.next() {
            f(&item);
            n += 1;
        }
        n
    }

    /// Events the program could not send because the ring buffer was full.
    pub fn drops(&self) -> u64 {
        self.per_cpu_sum("DROPS", 0)
    }

    /// The sum over CPUs of entry `i` of the per-CPU array `name`.
    fn per_cpu_sum(&self, name: &str, i: u32) -> u64 {
        self.ebpf
            .map(name)
            .and_then(|m| PerCpuArray::<_, u64>::try_from(m).ok())
            .and_then(|a| a.get(&i, 0).ok())
            .map_or(0, |v| v.iter().sum())
    }

    /// What the program counted instead of sending (`COUNT_*`), after the probes are
    /// detached; with the calls kept that never returned.
    pub fn counts(&self) -> Counts {
        let c = |i| self.per_cpu_sum("COUNTS", i);
        let kept_pending = self
            .ebpf
            .map("CALLS")
            .and_then(|m| BpfHashMap::<_, CallKey, CallMark>::try_from(m).ok())
            .map_or(0, |calls| {
                calls
                    .iter()
                    .filter_map(Result::ok)
                    .filter(|(_, m)| m.flags & MARK_KEPT != 0)
                    .count() as u64
            });
        Counts {
            drops: self.drops(),
            filtered_calls: c(COUNT_FILTERED_CALLS),
            filtered_returns: c(COUNT_FILTERED_RETURNS),
            unkept: c(COUNT_UNKEPT),
            replaced: c(COUNT_REPLACED),
            aggregated: c(COUNT_AGGREGATED),
            untimed: c(COUNT_UNTIMED),
            kept_pending,
        }
    }

    /// Function `i`'s totals (`--stats`) and each CPU's longest latency.
    pub fn function_stats(&self, i: u32) -> Result<(FnStats, Vec<u64>), TraceError> {
        let map = self
            .ebpf
            .map("STATS")
            .ok_or_else(|| TraceError::Unsupported("map STATS missing".into()))?;
        let stats: Array<_, FnStats> = Array::try_from(map).map_err(bpf("map STATS"))?;
        let s = stats.get(&i, 0).map_err(bpf("reading STATS"))?;
        let max = self
            .ebpf
            .map("STATS_MAX")
            .and_then(|m| PerCpuArray::<_, u64>::try_from(m).ok())
            .and_then(|a| a.get(&i, 0).ok())
            .map(|v| v.iter().copied().collect())
            .unwrap_or_default();
        Ok((s, max))
    }
}

/// Calls followed at once from entry to return (`CALLS`), at most.
pub const MAX_CALLS: u32 = 1 << 16;
/// Calls' events kept until their return (`KEPT`), at most.
pub const MAX_KEPT: u32 = 4096;

/// What to load: the specs, their filters, the type recipes and the settings.
pub struct Program<'p> {
    /// One spec per entry and per function's returns.
    pub specs: &'p [ProbeSpec],
    /// A filter per spec (missing ones pass everything).
    pub filters: &'p [SpecFilter],
    /// The dynamic types' recipes.
    pub types: &'p DynTypes,
    /// What applies to every probe.
    pub config: TraceConfig,
    /// How many functions (for `--stats`).
    pub functions: usize,
    /// Whether calls' events may be kept until their return.
    pub keeps: bool,
    /// Ring buffer bytes (a power of two, at least a page).
    pub ring_bytes: u32,
}

/// Writes `values` to the array map `name` from index 0.
fn set_all<T: aya::Pod>(
    ebpf: &mut Ebpf,
    name: &str,
    values: impl Iterator<Item = T>,
) -> Result<(), TraceError> {
    let map = ebpf
        .map_mut(name)
        .ok_or_else(|| TraceError::Unsupported(format!("map {name} missing")))?;
    let mut array: Array<_, T> = Array::try_from(map).map_err(bpf(format!("map {name}")))?;
    for (i, v) in values.enumerate() {
        let i =
            u32::try_from(i).map_err(|_| TraceError::Unsupported(format!("{name}: too many")))?;
        array
            .set(i, v, 0)
            .map_err(bpf(format!("writing to map {name}")))?;
    }
    Ok(())
}

/// Attaches `points` with links made by `attach` (one `uprobe_multi` link each): one link for
/// all of them when the kernel takes them all; when it refuses one (a link is all or
/// nothing), each half separately, down to the refused points, which go to `refused` with
/// their index (`base` + position). Halves that attach stay attached, in order, so return
/// probes still go live before entry probes. A failure that is not a refusal ends it.
fn attach_bisecting<L>(
    attach: &mut impl FnMut(&[(u64, u64)]) -> std::io::Result<L>,
    points: &[(u64, u64)],
    base: usize,
    links: &mut Vec<(L, usize)>,
    refused: &mut Vec<(usize, std::io::Error)>,
) -> std::io::Result<()> {
    if points.is_empty() {
        return Ok(());
    }
    match attach(points) {
        Ok(link) => {
            links.push((link, points.len()));
            Ok(())
        }
        Err(e) if is_refusal(&e) => {
            if points.len() == 1 {
                refused.push((base, e));
                return Ok(());
            }
            let (left, right) = points.split_at(points.len() / 2);
            attach_bisecting(attach, left, base, links, refused)?;
            attach_bisecting(attach, right, base + left.len(), links, refused)
        }
        Err(e) => Err(e),
    }
}

/// The kernel's offset of `task_struct.thread.fsbase` (for Go's TLS `g` on amd64).
pub fn fsbase_offset() -> Result<u64, TraceError> {
    btf::fsbase_offset().map_err(TraceError::Unsupported)
}

#[cfg(test)]
mod tests {
    use super::*;
    use probe_common::{Word, MAX_DEREF_BYTES, WORD_DEREF};

    #[test]
    fn bisection_finds_the_refused_points_and_attaches_the_rest_in_order() {
        const ENOTSUPP: i32 = 524;
        let points: Vec<(u64, u64)> = (0..1000).map(|i| (i * 4, i)).collect();
        let bad = [3u64, 4, 517, 999];
        let mut attempts = 0;
        let mut attach = |p: &[(u64, u64)]| {
            attempts += 1;
            if p.iter().any(|(_, c)| bad.contains(c)) {
                Err(std::io::Error::from_raw_os_error(ENOTSUPP))
            } else {
                Ok(p.to_vec())
            }
        };
        let (mut links, mut refused) = (Vec::new(), Vec::new());
        attach_bisecting(&mut attach, &points, 0, &mut links, &mut refused).unwrap();
        let refused: Vec<usize> = refused.iter().map(|(i, _)| *i).collect();
        assert_eq!(refused, [3, 4, 517, 999]);
        // Every other point is in exactly one link, in the original order.
        let attached: Vec<u64> = links
            .iter()
            .flat_map(|(l, _)| l.iter().map(|p| p.1))
            .collect();
        let want: Vec<u64> = (0..1000).filter(|i| !bad.contains(i)).collect();
        assert_eq!(attached, want);
        assert!(links.iter().all(|(l, n)| l.len() == *n));
        assert!(attempts < 100, "{attempts} attempts");
        // Another error is no refusal: it stops everything.
        let mut failing = |_: &[(u64, u64)]| -> std::io::Result<()> {
            Err(std::io::Error::from_raw_os_error(libc::EPERM))
        };
        let (mut links, mut refused) = (Vec::new(), Vec::new());
        assert!(attach_bisecting(&mut failing, &points, 0, &mut links, &mut refused).is_err());
        assert!(refused.is_empty());
    }

    #[test]
    fn arm64_sites_the_kernel_refuses() {
        let refusal = |insn: u32| uprobe_refusal(Arch::Arm64, &insn.to_le_bytes());
        assert!(refusal(0xd420_0000).is_some()); // BRK #0
        assert!(refusal(0xd400_0001).is_some()); // SVC #0
        assert!(refusal(0xc85f_fc01).is_some()); // LDAXR X1, [X0]
        assert!(refusal(0xc803_fc01).is_some()); // STLXR W3, X1, [X0]
        assert_eq!(refusal(0xf940_0b90), None); // MOVD 16(R28), R16: a first byte 0x90
        assert_eq!(refusal(0xf81f_0ffe), None); // MOVD.W R30, -16(RSP)
        assert_eq!(refusal(0xd65f_03c0), None); // RET
        assert_eq!(refusal(0x9400_0000), None); // BL
        assert_eq!(refusal(0xaa00_03f4), None); // MOV X20, X0 (its low byte is x86's HLT)
        assert_eq!(uprobe_refusal(Arch::Arm64, &[0xd4]), None);
    }

    #[test]
    fn sites_the_kernel_refuses() {
        let uprobe_refusal = |code: &[u8]| uprobe_refusal(Arch::Amd64, code);
        assert_eq!(uprobe_refusal(&[0xcc]), Some("an INT3 instruction"));
        // runtime.abort: INT $3.
        assert_eq!(
            uprobe_refusal(&[0xcd, 0x03]),
            Some("an interrupt instruction")
        );
        assert!(uprobe_refusal(&[0xf0, 0x48, 0x0f, 0xb1, 0x0a]).is_some()); // LOCK CMPXCHG
        assert!(uprobe_refusal(&[0x66, 0x2e, 0x0f, 0x1f, 0x84]).is_some()); // NOPW %cs:
        assert_eq!(uprobe_refusal(&[0xc3]), None); // RET
        assert_eq!(uprobe_refusal(&[0x49, 0x3b, 0x66, 0x10]), None); // CMPQ SP, 16(R14)
        assert_eq!(uprobe_refusal(&[0x64, 0x48, 0x8b, 0x0c, 0x25]), None); // MOVQ FS:..., CX
        assert_eq!(uprobe_refusal(&[]), None);
    }

    #[test]
    fn malformed_specs_are_refused() {
        let ok = ProbeSpec::empty();
        assert!(validate(Arch::Amd64, "f", &ok).is_ok());
        let mut s = ok;
        s.nregs = (MAX_REGS + 1) as u8; // too many arguments in registers
        assert!(validate(Arch::Amd64, "f", &s).is_err());
        let mut s = ok;
        s.stack_len = MAX_STACK_BYTES + 1; // too much stack
        assert!(validate(Arch::Amd64, "f", &s).is_err());
        let mut s = ok;
        s.nderefs = 1;
        s.derefs[0].max_bytes = MAX_DEREF_BYTES + 1; // a string too long
        assert!(validate(Arch::Amd64, "f", &s).is_err());
        let mut s = ok;
        s.nderefs = 1;
        s.derefs[0].addr = Word {
            kind: WORD_DEREF,
            index: 0, // itself: reads may only name earlier reads
            pad: [0; 2],
            value: 0,
        };
        assert!(validate(Arch::Amd64, "f", &s).is_err());
        let mut s = ok;
        s.nderefs = 1;
        s.derefs[0].len = Word {
            kind: WORD_REG,
            index: 200,
            pad: [0; 2],
            value: 0,
        };
        let e = validate(Arch::Amd64, "main.F", &s).unwrap_err().to_string();
        assert!(e.contains("main.F") && e.contains("register"), "{e}");
    }

    #[test]
    fn registers_beyond_the_architectures_file_are_refused() {
        // X28 (index 28) is arm64's g; x86-64's pt_regs has only 21 words.
        let mut s = ProbeSpec::empty();
        s.flags = FLAG_G_IN_REG;
        s.g_reg = 28;
        assert!(check_registers(Arch::Arm64, &s).is_ok());
        let e = check_registers(Arch::Amd64, &s).unwrap_err();
        assert!(e.contains("28") && e.contains("amd64"), "{e}");
        let mut s = ProbeSpec::empty();
        s.nregs = 1;
        s.regs[0] = 33; // arm64 pstate
        assert!(check_registers(Arch::Arm64, &s).is_ok());
        s.regs[0] = 34;
        assert!(check_registers(Arch::Arm64, &s).is_err());
        let mut s = ProbeSpec::empty();
        s.nderefs = 1;
        s.derefs[0].addr = Word {
            kind: WORD_REG,
            index: 21,
            pad: [0; 2],
            value: 0,
        };
        assert!(check_registers(Arch::Amd64, &s).is_err());
        assert!(check_registers(Arch::Arm64, &s).is_ok());
    }
}
