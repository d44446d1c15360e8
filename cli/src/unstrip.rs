//! `gosyms unstrip`: write a copy of an ELF binary with a symbol table and DWARF made from its
//! Go tables (or only the debug file), atomically.

use anyhow::{anyhow, Context, Result};
use clap::Args;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Args)]
#[command(
    after_help = "OUT runs exactly as BINARY does: its bytes are BINARY's, with the new \
sections appended and the ELF header pointing to the new section table. gdb, perf, bpftrace, \
addr2line, nm and objdump then name functions, lines and inlined calls. See README.md \
(\"Unstrip\") for how gdb and perf find a --debug-only file."
)]
pub struct UnstripArgs {
    /// The stripped Go binary (ELF; it is only read).
    binary: PathBuf,
    /// Where to write the result (replaced atomically).
    #[arg(short = 'o', long = "output", value_name = "OUT", required = true)]
    output: PathBuf,
    /// Write only a separate debug file (symbols and DWARF, no code), like
    /// `objcopy --only-keep-debug`.
    #[arg(long)]
    debug_only: bool,
}

/// Runs `gosyms unstrip`.
pub fn run(a: &UnstripArgs) -> Result<ExitCode> {
    let start = Instant::now();
    if same_file(&a.binary, &a.output) {
        return Err(anyhow!(
            "{}: refusing to overwrite the input (give another -o)",
            a.output.display()
        ));
    }
    let mode = if a.debug_only {
        unstrip::Mode::DebugOnly
    } else {
        unstrip::Mode::Binary
    };
    let mut summary = None;
    crate::with_binary(&a.binary, None, |bin| {
        summary = Some(write_atomically(&a.output, &a.binary, mode, |out| {
            unstrip::unstrip(bin, mode, out).with_context(|| a.binary.display().to_string())
        })?);
        Ok(ExitCode::SUCCESS)
    })?;
    let summary = summary.ok_or_else(|| anyhow!("nothing written"))?;
    note!(
        "gosyms: wrote {}: {} functions in {} units, {} inlined calls, {:.1} MiB of DWARF{} ({} ms)",
        a.output.display(),
        summary.functions,
        summary.units,
        summary.inlined,
        summary.dwarf_bytes as f64 / (1 << 20) as f64,
        if summary.frames {
            ""
        } else {
            ", no call frame information for this architecture"
        },
        start.elapsed().as_millis()
    );
    Ok(ExitCode::SUCCESS)
}

/// Whether `a` and `b` name the same existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// Writes `out` through `write` into a temporary file next to it, then renames it into place:
/// readers see the old file or the whole new one, never a part. The binary gets the input's
/// permissions (so it stays executable); the debug file does not need execute permission.
fn write_atomically(
    out: &Path,
    input: &Path,
    mode: unstrip::Mode,
    write: impl FnOnce(&mut dyn Write) -> Result<unstrip::Summary>,
) -> Result<unstrip::Summary> {
    use std::os::unix::fs::PermissionsExt;
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = out
        .file_name()
        .ok_or_else(|| anyhow!("{}: not a file name", out.display()))?;
    let tmp = dir.join(format!(
        ".{}.gosyms-{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .with_context(|| out.display().to_string())?;
    let result = (|| {
        let mut w = BufWriter::with_capacity(1 << 20, &file);
        let summary = write(&mut w)?;
        w.flush().with_context(|| tmp.display().to_string())?;
        drop(w);
        let perm = match mode {
            unstrip::Mode::Binary => std::fs::metadata(input)
                .with_context(|| input.display().to_string())?
                .permissions()
                .mode(),
            unstrip::Mode::DebugOnly => 0o644,
        };
        file.set_permissions(std::fs::Permissions::from_mode(perm & 0o7777))
            .with_context(|| tmp.display().to_string())?;
        std::fs::rename(&tmp, out).with_context(|| out.display().to_string())?;
        Ok(summary)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
