//! End-to-end tests of the `gosyms` binary live in `tests/`.
