//! Parameters and types from DWARF.
