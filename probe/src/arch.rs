//! The architectures gosyms traces, and what differs between them: the eBPF object built for
//! each (the register file a uprobe program sees has another layout), and the names of that
//! register file's words, which say what a resolver register name (`rax`, `r28`) is at a probe.

use crate::TraceError;
use pclntab::GoBinary;
use probe_common::{PT_REGS_ARM64, PT_REGS_X86_64};

/// The compiled eBPF program for x86-64 kernels (rebuilt by `probe-ebpf/build.sh`).
static PROGRAM_X86_64: &[u8] = aya::include_bytes_aligned!("../gosyms-probe.bpf.o");
/// The same program compiled for arm64 kernels.
static PROGRAM_ARM64: &[u8] = aya::include_bytes_aligned!("../gosyms-probe-arm64.bpf.o");

/// An architecture gosyms can trace on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// linux/amd64 on an x86-64 kernel.
    Amd64,
    /// linux/arm64 on an arm64 (aarch64) kernel.
    Arm64,
}

impl Arch {
    /// From a GOARCH name.
    pub fn from_goarch(goarch: &str) -> Option<Arch> {
        match goarch {
            "amd64" => Some(Arch::Amd64),
            "arm64" => Some(Arch::Arm64),
            _ => None,
        }
    }

    /// From the kernel's machine name (`uname -m`).
    fn from_machine(machine: &str) -> Option<Arch> {
        match machine {
            "x86_64" => Some(Arch::Amd64),
            "aarch64" | "arm64" => Some(Arch::Arm64),
            _ => None,
        }
    }

    /// The GOARCH name.
    pub fn goarch(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }

    /// The eBPF object built for this architecture.
    pub(crate) fn program(self) -> &'static [u8] {
        match self {
            Arch::Amd64 => PROGRAM_X86_64,
            Arch::Arm64 => PROGRAM_ARM64,
        }
    }

    /// The names of the register file's words, in the order the program copies them.
    pub fn pt_regs(self) -> &'static [&'static str] {
        match self {
            Arch::Amd64 => &PT_REGS_X86_64,
            Arch::Arm64 => &PT_REGS_ARM64,
        }
    }

    /// Index of the register `name` (a resolver name: `rax`, `r14`, `r28`) in the register file.
    pub fn pt_regs_index(self, name: &str) -> Option<u8> {
        self.pt_regs()
            .iter()
            .position(|r| *r == name)
            .and_then(|i| u8::try_from(i).ok())
    }

    /// The running kernel's architecture, or a description of it when gosyms has no program
    /// for it.
    pub fn kernel() -> Result<Arch, String> {
        let machine = kernel_machine();
        Arch::from_machine(&machine).ok_or(machine)
    }

    /// The architecture of `bin`, checked to be traceable here: an ELF Go binary for an
    /// architecture gosyms has a program for, the same as the running kernel's (a uprobe runs
    /// in the traced process, so the binary must run natively).
    pub fn of_binary(bin: &GoBinary<'_>) -> Result<Arch, TraceError> {
        let c = &bin.container;
        let arch = Arch::from_goarch(c.arch).filter(|_| c.format == pclntab::Format::Elf);
        let Some(arch) = arch else {
            return Err(TraceError::Unsupported(format!(
                "gosyms traces linux/amd64 and linux/arm64 ELF binaries; this is {} {}",
                c.format.name(),
                c.arch
            )));
        };
        match Arch::kernel() {
            Ok(k) if k == arch => Ok(arch),
            Ok(k) => Err(TraceError::Unsupported(format!(
                "a linux/{} binary cannot be traced on this linux/{} kernel: it must run natively \
                 (trace it on a linux/{} machine)",
                arch.goarch(),
                k.goarch(),
                arch.goarch()
            ))),
            Err(machine) => Err(TraceError::Unsupported(format!(
                "a linux/{} binary cannot be traced on this {machine} kernel: gosyms traces on \
                 x86_64 and aarch64 kernels",
                arch.goarch()
            ))),
        }
    }
}

/// `uname -m`.
fn kernel_machine() -> String {
    // SAFETY: utsname is plain data; uname fills it.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return "unknown".into();
    }
    // SAFETY: uname NUL-terminates its fields.
    unsafe { std::ffi::CStr::from_ptr(u.machine.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_names_follow_the_resolver() {
        // The resolver's register ABI names, and g, must all be in the register file.
        for (goarch, arch) in [("amd64", Arch::Amd64), ("arm64", Arch::Arm64)] {
            let regs = resolver::abi::registers(goarch).unwrap();
            for r in regs.ints {
                assert!(arch.pt_regs_index(r).is_some(), "{goarch} {r}");
            }
            let g = resolver::goid::g_register(goarch, true).unwrap();
            assert!(arch.pt_regs_index(g).is_some(), "{goarch} g {g}");
            // Float registers are not in it: they stay unreadable.
            for r in regs.floats {
                assert!(arch.pt_regs_index(r).is_none(), "{goarch} {r}");
            }
        }
        assert_eq!(Arch::Arm64.pt_regs_index("r28"), Some(28));
        assert_eq!(Arch::Arm64.pt_regs_index("sp"), Some(31));
        assert_eq!(Arch::Amd64.pt_regs_index("r14"), Some(1));
        // Both programs are there, and differ.
        assert_ne!(Arch::Amd64.program(), Arch::Arm64.program());
        assert_eq!(
            Arch::kernel(),
            Ok(Arch::from_machine(std::env::consts::ARCH).unwrap())
        );
    }
}
