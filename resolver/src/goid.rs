//! Where the goroutine id lives, for binaries without DWARF.
//!
//! A probe reads the goroutine id as `*(g + goid_offset)`, where `g` is the running goroutine's
//! `runtime.g`. With DWARF, take the offset from it
//! ([`Dwarf::field_offset`](crate::dwarf::Dwarf::field_offset)`("runtime.g", "goid")`);
//! without, [`goid_offset`] has it per Go release and architecture, and [`g_register`] says
//! which register holds `g` at a function's entry.

/// The offset of field `goid` in `runtime.g` (`runtime/runtime2.go`), for Go 1.`go_minor` on
/// GOARCH `arch`, or `None` where it was not verified.
///
/// The fields before `goid` are `stack` (2 words), `stackguard0`, `stackguard1`, `_panic`,
/// `_defer`, `m`, `sched` (a `gobuf`), `syscallsp`, `syscallpc`, `stktopsp`, `param`, and the
/// two `uint32`s `atomicstatus` and `stackLock`. Two changes move `goid`:
///
/// | Go        | change                                    | 64-bit | 32-bit |
/// |-----------|-------------------------------------------|--------|--------|
/// | 1.15–1.22 | `gobuf` of 7 words                        | 152    | 80     |
/// | 1.23–1.24 | `g.syscallbp` added after `syscallpc`     | 160    | 84     |
/// | 1.25–1.27 | `gobuf.ret` removed (`gobuf` of 6 words)  | 152    | 80     |
///
/// Every value for 1.15, 1.19, 1.21–1.27 was read from the DWARF of the test matrix
/// (`testdata/build-matrix.sh`), for each GOARCH listed below that the matrix builds in that
/// release (`tests/dwarf_matrix.rs` checks the table against all of them). 1.17, 1.18 and 1.20
/// are filled in because both verified neighbours agree and copies of those releases'
/// `runtime2.go` declare the same fields before `goid`; 1.16 is left out (no source of it was
/// at hand), as are releases before 1.15 and after 1.27.
///
/// 64-bit: amd64, arm64, ppc64, ppc64le, s390x, riscv64, mips64le, loong64 (from 1.19, its
/// first release). 32-bit: 386, arm. Others (mips, mipsle, mips64, wasm...) were not built, so
/// they are `None` even though the layout only depends on the word size.
pub fn goid_offset(go_minor: u32, arch: &str) -> Option<u64> {
    let word = match arch {
        "amd64" | "arm64" | "ppc64" | "ppc64le" | "s390x" | "riscv64" | "mips64le" => 8,
        "loong64" if go_minor >= 19 => 8,
        "386" | "arm" => 4,
        _ => return None,
    };
    // Words of `runtime.g` before `atomicstatus`, per release.
    let words_before: u64 = match go_minor {
        15 | 17..=22 => 18,
        23 | 24 => 19,
        25..=27 => 18,
        _ => return None,
    };
    // atomicstatus and stackLock (uint32 each), then goid (aligned to 4 on 32-bit targets, to
    // 8 on 64-bit ones, and already aligned in both cases).
    Some(words_before * word + 8)
}

/// The register that holds the running goroutine's `g` at a Go function's entry, in the
/// spelling of Go's own assembler (`cmd/internal/obj/<arch>`, `REGG`), or `None` where `g`
/// is in thread-local storage (`386`, and `amd64` before the register ABI) or was not checked.
///
/// * amd64: `r14`, only with the register ABI (Go 1.17+; `regabi` in the DWARF producer), and
///   only at the entry and return of ABIInternal functions (it is scratch in between:
///   `cmd/compile/abi-internal.md`).
/// * arm64: `r28` (any ABI). arm: `r10` (`REGG = REGEXT`, R10). ppc64, ppc64le: `r30`.
///   s390x: `r13`. mips64le: `r30`. loong64: `r22`.
/// * riscv64: `x27` (S11) with the register ABI (Go 1.19+); Go 1.15 kept g in X4 (TP), and
///   where 1.16–1.18 keep it was not checked, so without the register ABI the answer is `None`.
///
/// Checked in `cmd/internal/obj/{x86,arm,arm64,ppc64,s390x,mips,riscv,loong64}` of every
/// toolchain of the test matrix (1.15, 1.19, 1.21–1.27): each has the same `REGG`, except
/// riscv64 as said and amd64, which names R14 from 1.19 on (1.15's x86 has no `REGG`).
pub fn g_register(arch: &str, regabi: bool) -> Option<&'static str> {
    match arch {
        "amd64" if regabi => Some("r14"),
        "arm64" => Some("r28"),
        "arm" => Some("r10"),
        "ppc64" | "ppc64le" | "mips64le" => Some("r30"),
        "s390x" => Some("r13"),
        "loong64" => Some("r22"),
        "riscv64" if regabi => Some("x27"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets() {
        assert_eq!(goid_offset(15, "amd64"), Some(152));
        assert_eq!(goid_offset(22, "arm64"), Some(152));
        assert_eq!(goid_offset(23, "amd64"), Some(160));
        assert_eq!(goid_offset(24, "386"), Some(84));
        assert_eq!(goid_offset(25, "arm"), Some(80));
        assert_eq!(goid_offset(27, "s390x"), Some(152));
        assert_eq!(goid_offset(16, "amd64"), None);
        assert_eq!(goid_offset(14, "amd64"), None);
        assert_eq!(goid_offset(28, "amd64"), None);
        assert_eq!(goid_offset(18, "loong64"), None);
        assert_eq!(goid_offset(21, "loong64"), Some(152));
        assert_eq!(goid_offset(21, "wasm"), None);
    }

    #[test]
    fn registers() {
        assert_eq!(g_register("amd64", true), Some("r14"));
        assert_eq!(g_register("amd64", false), None);
        assert_eq!(g_register("arm64", false), Some("r28"));
        assert_eq!(g_register("386", false), None);
        assert_eq!(g_register("riscv64", false), None);
        assert_eq!(g_register("riscv64", true), Some("x27"));
    }
}
