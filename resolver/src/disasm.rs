//! Return sites and prologue ends, by decoding the machine code of a function.
