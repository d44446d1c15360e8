//! The user-space half of `gosyms trace`: it loads the eBPF program (`probe-ebpf`, committed
//! compiled as `gosyms-probe.bpf.o`), writes one [`ProbeSpec`] per entry and per return of each
//! function from the resolver's [`resolver::Plan`]s, attaches uprobes by file offset with the
//! spec's index as cookie, and turns ring-buffer events into JSON: arguments at calls, results
//! and durations at returns, paired per goroutine.
//!
//! It only reads the traced process (registers, stack, memory through pointers); it never
//! writes to it, and it uses no uretprobes (they corrupt Go stacks), only probes on the
//! function's instructions: just past the stack check at entry, and on every `RET`.

mod arch;
mod attach;
mod btf;
pub mod capture;
mod events;
mod multi;
mod sys;
mod typenames;

pub use arch::Arch;
pub use capture::{FunctionCapture, GoroutineAccess, Limits};
pub use events::{DecodedFunction, Decoder, Event, Pairing, TraceEvent};
pub use typenames::TypeNames;

use aya::maps::{Array, MapData, PerCpuArray, RingBuf};
use aya::programs::UProbe;
use aya::{Ebpf, EbpfLoader};
use probe_common::{
    ProbeSpec, FLAG_G_IN_REG, MAX_DEREFS, MAX_REGS, MAX_STACK_BYTES, PT_REGS_WORDS,
    PT_REGS_WORDS_ARM64, WORD_REG,
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
    /// Loading or attaching failed.
    #[error("{what}: {source}")]
    Bpf {
        /// What was being done.
        what: String,
        /// The error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

fn bpf<E: std::error::Error + Send + Sync + 'static>(
    what: impl Into<String>,
) -> impl FnOnce(E) -> TraceError {
    let what = what.into();
    move |e| TraceError::Bpf {
        what,
        source: Box::new(e),
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

/// Checks a spec against the program's limits before it goes into the kernel: the program
/// bounds every read itself, but a spec it would silently cut is a bug worth reporting.
pub fn validate(function: &str, spec: &ProbeSpec) -> Result<(), TraceError> {
    let bad = |detail: String| TraceError::BadSpec {
        function: function.to_string(),
        detail,
    };
    if usize::from(spec.nregs) > MAX_REGS {
        return Err(bad(format!("{} registers, at most {MAX_REGS}", spec.nregs)));
    }
    if usize::from(spec.nderefs) > MAX_DEREFS {
        return Err(bad(format!(
            "{} memory reads, at most {MAX_DEREFS}",
            spec.nderefs
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
            // Against the larger register file; Tracer::load checks the one it loads for.
            if w.kind == WORD_REG && usize::from(w.index) >= PT_REGS_WORDS.max(PT_REGS_WORDS_ARM64)
            {
                return Err(bad(format!("read {i} names no register")));
            }
        }
    }
    Ok(())
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

/// One uprobe to attach.
#[derive(Debug, Clone, Copy)]
pub struct AttachPoint {
    /// File offset of the instruction.
    pub file_offset: u64,
    /// Index of its spec.
    pub spec: u32,
}

/// Which processes fire the probes.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    /// Every process running the binary.
    All,
    /// One process.
    Pid(NonZeroU32),
}

/// The loaded program with its maps.
pub struct Tracer {
    ebpf: Ebpf,
    ring: RingBuf<MapData>,
    /// The program loaded for `uprobe_multi` links, when the kernel has them.
    multi_prog: Option<std::os::fd::OwnedFd>,
    /// `uprobe_multi` links.
    links: Vec<(std::os::fd::OwnedFd, usize)>,
    /// Per-probe perf-event links (kernels without `uprobe_multi`).
    attached: Vec<attach::Attached>,
}

impl Drop for Tracer {
    fn drop(&mut self) {
        self.detach();
    }
}

impl Tracer {
    /// Loads the program built for the running kernel's architecture (the traced binary's:
    /// [`Arch::of_binary`] refuses any other) with room for `specs` and a ring buffer of
    /// `ring_bytes` (a power of two, at least a page), and stores the specs.
    pub fn load(specs: &[ProbeSpec], ring_bytes: u32) -> Result<Tracer, TraceError> {
        let arch = Arch::kernel().map_err(|machine| {
            TraceError::Unsupported(format!("no eBPF program for this {machine} kernel"))
        })?;
        for (i, s) in specs.iter().enumerate() {
            check_registers(arch, s).map_err(|detail| TraceError::BadSpec {
                function: format!("spec {i}"),
                detail,
            })?;
        }
        let program = arch.program();
        let n = u32::try_from(specs.len().max(1))
            .map_err(|_| TraceError::Unsupported("too many probes".into()))?;
        let mut ebpf = EbpfLoader::new()
            .map_max_entries("SPECS", n)
            .map_max_entries("EVENTS", ring_bytes)
            .load(program)
            .map_err(bpf("loading the eBPF program"))?;
        {
            let map = ebpf
                .map_mut("SPECS")
                .ok_or_else(|| TraceError::Unsupported("map SPECS missing".into()))?;
            let mut array: Array<_, ProbeSpec> = Array::try_from(map).map_err(bpf("map SPECS"))?;
            for (i, s) in specs.iter().enumerate() {
                array
                    .set(i as u32, *s, 0)
                    .map_err(bpf("writing a probe spec"))?;
            }
        }
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
            links: Vec::new(),
            attached: Vec::new(),
        })
    }

    /// Attaches one uprobe per point to `binary` (an absolute path, or `/proc/PID/exe`).
    pub fn attach(
        &mut self,
        binary: &Path,
        points: &[AttachPoint],
        scope: Scope,
    ) -> Result<(), TraceError> {
        let pairs: Vec<(u64, u64)> = points
            .iter()
            .map(|p| (p.file_offset, u64::from(p.spec)))
            .collect();
        let pid = match scope {
            Scope::All => None,
            Scope::Pid(p) => Some(p.get()),
        };
        if let Some(prog) = &self.multi_prog {
            let link = multi::attach(prog, binary, &pairs, pid).map_err(bpf(format!(
                "attaching {} uprobes to {}",
                pairs.len(),
                binary.display()
            )))?;
            self.links.push((link, pairs.len()));
            return Ok(());
        }
        let prog: &UProbe = self
            .ebpf
            .program("gosyms_probe")
            .ok_or_else(|| TraceError::Unsupported("program gosyms_probe missing".into()))?
            .try_into()
            .map_err(bpf("gosyms_probe"))?;
        let fd = prog.fd().map_err(bpf("gosyms_probe"))?;
        let attached =
            attach::attach_all(fd.as_fd(), binary, &pairs, pid).map_err(|(offset, e)| {
                bpf(format!(
                    "attaching a uprobe at file offset {offset:#x} of {}",
                    binary.display()
                ))(e)
            })?;
        self.attached.extend(attached);
        Ok(())
    }

    /// Detaches every probe (also done on drop).
    pub fn detach(&mut self) {
        self.links.clear();
        attach::detach_all(std::mem::take(&mut self.attached));
    }

    /// How many uprobes are attached.
    pub fn attached(&self) -> usize {
        self.attached.len() + self.links.iter().map(|(_, n)| n).sum::<usize>()
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

    fn drain(&mut self, f: &mut impl FnMut(&[u8])) -> usize {
        let mut n = 0;
        while let Some(item) = self.ring.next() {
            f(&item);
            n += 1;
        }
        n
    }

    /// Events the program could not send because the ring buffer was full.
    pub fn drops(&self) -> u64 {
        self.ebpf
            .map("DROPS")
            .and_then(|m| PerCpuArray::<_, u64>::try_from(m).ok())
            .and_then(|a| a.get(&0, 0).ok())
            .map_or(0, |v| v.iter().sum())
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
    fn malformed_specs_are_refused() {
        let ok = ProbeSpec::empty();
        assert!(validate("f", &ok).is_ok());
        let mut s = ok;
        s.nregs = (MAX_REGS + 1) as u8; // too many arguments in registers
        assert!(validate("f", &s).is_err());
        let mut s = ok;
        s.stack_len = MAX_STACK_BYTES + 1; // too much stack
        assert!(validate("f", &s).is_err());
        let mut s = ok;
        s.nderefs = 1;
        s.derefs[0].max_bytes = MAX_DEREF_BYTES + 1; // a string too long
        assert!(validate("f", &s).is_err());
        let mut s = ok;
        s.nderefs = 1;
        s.derefs[0].addr = Word {
            kind: WORD_DEREF,
            index: 0, // itself: reads may only name earlier reads
            pad: [0; 2],
            value: 0,
        };
        assert!(validate("f", &s).is_err());
        let mut s = ok;
        s.nderefs = 1;
        s.derefs[0].len = Word {
            kind: WORD_REG,
            index: 200,
            pad: [0; 2],
            value: 0,
        };
        let e = validate("main.F", &s).unwrap_err().to_string();
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
