//! The one error type of this crate.

use thiserror::Error;

/// Why a binary could not be read. Offsets are absolute file offsets, so `xxd -s OFFSET` lands
/// on the byte in question.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A structure runs past the end of the bytes it must fit in.
    #[error("{what} at file offset {offset:#x} needs {need} bytes, only {have} remain")]
    Truncated {
        /// The structure or field being read.
        what: &'static str,
        /// Absolute file offset of the read.
        offset: u64,
        /// Bytes needed.
        need: u64,
        /// Bytes available.
        have: u64,
    },
    /// A field holds a value that cannot be right.
    #[error("bad {what} at file offset {offset:#x}: {value:#x}")]
    BadValue {
        /// The structure and field.
        what: &'static str,
        /// Absolute file offset of the field.
        offset: u64,
        /// The value found.
        value: u64,
    },
    /// The file is empty.
    #[error("empty file")]
    Empty,
    /// Not an ELF, PE or Mach-O file.
    #[error("not an executable (no ELF, PE or Mach-O header)")]
    UnknownFormat,
    /// The container (ELF/PE/Mach-O) is malformed; the message is the container parser's.
    #[error("malformed {format} file: {message}")]
    Container {
        /// "ELF", "PE" or "Mach-O".
        format: &'static str,
        /// What the container parser reported.
        message: String,
    },
    /// The file has no code for the requested architecture (`--arch`).
    #[error("no {wanted} code in this file (it has: {available})")]
    NoSuchArch {
        /// The GOARCH asked for.
        wanted: String,
        /// The GOARCH names of the slices present, comma separated.
        available: String,
    },
    /// The machine type is one Go does not target.
    #[error("unsupported architecture: {0}")]
    UnsupportedArch(String),
    /// The file is packed (its code is compressed and only unpacked at run time).
    #[error("packed with {0}: unpack it first (e.g. `upx -d`)")]
    Packed(&'static str),
    /// A function table of a layout this version of gosyms does not know (a newer Go release?).
    #[error("unsupported pclntab version: magic {magic:#x} at file offset {offset:#x} (a Go release newer than this gosyms?)")]
    UnsupportedVersion {
        /// The magic number found.
        magic: u32,
        /// Where.
        offset: u64,
    },
    /// No Go function table was found.
    #[error("no Go function table found (not a Go binary?)")]
    NotGo,
    /// No Go function table was found, and the file ends before its sections do.
    #[error(
        "file cut short: section {section} runs to file offset {end:#x}, the file ends at {len:#x}"
    )]
    CutShort {
        /// The first section, in file order, that runs past the end.
        section: String,
        /// Where that section ends.
        end: u64,
        /// The length of the file.
        len: u64,
    },
    /// A virtual address that no loaded part of the file covers.
    #[error("{what}: virtual address {vaddr:#x} is not backed by the file")]
    Unmapped {
        /// What was being read.
        what: &'static str,
        /// The address.
        vaddr: u64,
    },
    /// The binary has no moduledata, so its type descriptors cannot be found.
    #[error("no moduledata found, so no type descriptors")]
    NoModuleData,
    /// Type descriptors of this Go release are not read.
    #[error("type descriptors of {release} are not supported (Go 1.15 and later are)")]
    UnsupportedTypes {
        /// The release, as far as it is known.
        release: String,
    },
    /// An address that is not inside the module's type descriptors.
    #[error("{what}: {vaddr:#x} is not inside the type descriptors [{types:#x}, {etypes:#x})")]
    NotAType {
        /// What was being read.
        what: &'static str,
        /// The address.
        vaddr: u64,
        /// `moduledata.types`.
        types: u64,
        /// `moduledata.etypes`.
        etypes: u64,
    },
    /// A layout that differs between two releases the binary could be (it has no build info),
    /// and that its own data did not settle.
    #[error(
        "cannot tell the layout of {what}: the binary has no build info to say its Go release"
    )]
    AmbiguousLayout {
        /// What could not be read.
        what: &'static str,
    },
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
