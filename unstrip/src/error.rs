//! The one error type of this crate.

use thiserror::Error;

/// Why a binary could not be unstripped.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// Only ELF files are rewritten.
    #[error("unstrip writes ELF files only; this is a {format} file")]
    NotElf {
        /// "PE" or "Mach-O".
        format: &'static str,
    },
    /// The binary already has what unstrip would add.
    #[error("already has {section}: nothing to unstrip")]
    AlreadyHas {
        /// The section found (`.symtab`, `.debug_info`, ...).
        section: String,
    },
    /// The ELF headers could not be read (the message is the `object` crate's; not a `source`,
    /// so that the line is not printed twice).
    #[error("malformed ELF: {0}")]
    Elf(object::Error),
    /// The ELF writer refused the data (the message is the `object` crate's).
    #[error("ELF writer: {0}")]
    ElfWrite(object::write::Error),
    /// The ELF header is laid out in a way that the rewritten file could not keep byte for byte
    /// (program headers not right after the file header, say).
    #[error("cannot keep the ELF headers as they are: {what}")]
    Layout {
        /// What is unusual.
        what: &'static str,
    },
    /// The rewritten file would differ from the original at this offset (other than in
    /// `e_shoff`, `e_shnum` and `e_shstrndx`): refused rather than writing a binary that might
    /// run differently.
    #[error("the copy would differ from the original at file offset {offset:#x}")]
    NotPreserved {
        /// The first differing byte.
        offset: u64,
    },
    /// Reading the Go tables failed.
    #[error(transparent)]
    Pclntab(#[from] pclntab::Error),
    /// The DWARF writer refused the data.
    #[error("DWARF writer: {0}")]
    Dwarf(gimli::write::Error),
    /// Writing the output failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl From<object::Error> for Error {
    fn from(e: object::Error) -> Self {
        Error::Elf(e)
    }
}

impl From<object::write::Error> for Error {
    fn from(e: object::write::Error) -> Self {
        Error::ElfWrite(e)
    }
}

impl From<gimli::write::Error> for Error {
    fn from(e: gimli::write::Error) -> Self {
        Error::Dwarf(e)
    }
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
