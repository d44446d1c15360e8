//! `FUNCDATA_ArgInfo` (Go 1.17+): the shape of a function's input arguments, as the runtime
//! prints them in tracebacks. Written by `cmd/compile/internal/ssagen.EmitArgInfo`, read by
//! `runtime/traceback.go printArgs`; constants `abi.TraceArgs*` (`internal/abi/type.go`).
//!
//! A byte stream: a leaf is two bytes, offset and size (from the start of the argument area:
//! the stack slot, or the spill slot of a register argument); `0xfe` opens an aggregate
//! (struct, array, string, slice, interface, complex), `0xfd` closes it, `0xfc` says more were
//! left out, `0xfb` stands for a leaf whose offset does not fit in a byte, `0xff` ends it. It
//! gives word shapes, never types or names, and only for the inputs.

/// The stream is at most this long (`abi.TraceArgsMaxLen`).
pub const MAX_LEN: usize = (5 * 3 + 2) * 10 + 1;

/// Bytes from here up are operators (`abi.TraceArgsSpecial`).
pub const SPECIAL: u8 = 0xf0;
/// A leaf whose offset is `SPECIAL` or more (`abi.TraceArgsOffsetTooLarge`).
pub const OFFSET_TOO_LARGE: u8 = 0xfb;
/// More arguments, fields or elements were left out (`abi.TraceArgsDotdotdot`).
pub const DOTDOTDOT: u8 = 0xfc;
/// The end of an aggregate (`abi.TraceArgsEndAgg`).
pub const END_AGG: u8 = 0xfd;
/// The start of an aggregate (`abi.TraceArgsStartAgg`).
pub const START_AGG: u8 = 0xfe;
/// The end of the stream (`abi.TraceArgsEndSeq`).
pub const END: u8 = 0xff;

/// One element of the shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// A scalar: offset in the argument area, size in bytes.
    Leaf {
        /// Offset from the start of the argument area.
        offset: u8,
        /// Size in bytes.
        size: u8,
    },
    /// An aggregate and its parts.
    Aggregate(Vec<Shape>),
    /// A leaf whose offset is 0xf0 or more (`_` in tracebacks).
    FarLeaf,
    /// More arguments were left out (`...` in tracebacks; the runtime prints ten at most).
    Elided,
}

/// Why a stream is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed FUNCDATA_ArgInfo at byte {pos}: {msg}")]
pub struct ArgInfoError {
    /// What was wrong.
    pub msg: &'static str,
    /// Byte position in the stream.
    pub pos: usize,
}

/// Decodes a stream (which may continue past its end marker; the rest is ignored). Returns
/// the top-level arguments.
pub fn decode(data: &[u8]) -> Result<Vec<Shape>, ArgInfoError> {
    let mut pos = 0usize;
    let mut stack: Vec<Vec<Shape>> = vec![Vec::new()];
    loop {
        if pos > MAX_LEN {
            return Err(ArgInfoError {
                msg: "longer than the runtime allows",
                pos,
            });
        }
        let b = *data.get(pos).ok_or(ArgInfoError {
            msg: "no end marker",
            pos,
        })?;
        pos += 1;
        let top = stack.last_mut().ok_or(ArgInfoError {
            msg: "unbalanced",
            pos,
        })?;
        match b {
            END => break,
            START_AGG => {
                if stack.len() > 6 {
                    return Err(ArgInfoError {
                        msg: "nested too deeply",
                        pos,
                    });
                }
                stack.push(Vec::new());
            }
            END_AGG => {
                let done = stack.pop().ok_or(ArgInfoError {
                    msg: "unbalanced",
                    pos,
                })?;
                stack
                    .last_mut()
                    .ok_or(ArgInfoError {
                        msg: "close without open",
                        pos,
                    })?
                    .push(Shape::Aggregate(done));
            }
            DOTDOTDOT => top.push(Shape::Elided),
            OFFSET_TOO_LARGE => top.push(Shape::FarLeaf),
            SPECIAL..=0xfa => {
                return Err(ArgInfoError {
                    msg: "unknown operator",
                    pos: pos - 1,
                })
            }
            offset => {
                let size = *data.get(pos).ok_or(ArgInfoError {
                    msg: "missing size after offset",
                    pos,
                })?;
                pos += 1;
                if size == 0 {
                    return Err(ArgInfoError {
                        msg: "size 0",
                        pos: pos - 1,
                    });
                }
                top.push(Shape::Leaf { offset, size });
            }
        }
    }
    match (stack.pop(), stack.is_empty()) {
        (Some(top), true) => Ok(top),
        _ => Err(ArgInfoError {
            msg: "end marker inside an aggregate",
            pos,
        }),
    }
}

impl Shape {
    /// The leaves, in order: (offset, size); far leaves and elisions have none.
    pub fn leaves(&self, out: &mut Vec<(u8, u8)>) {
        match self {
            Shape::Leaf { offset, size } => out.push((*offset, *size)),
            Shape::Aggregate(parts) => parts.iter().for_each(|p| p.leaves(out)),
            Shape::FarLeaf | Shape::Elided => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_scalars_and_aggregates() {
        // f(n int, s string, p struct{a int32; b [2]uint8}) on amd64.
        let data = [
            0x00, 0x08, 0xfe, 0x08, 0x08, 0x10, 0x08, 0xfd, 0xfe, 0x18, 0x04, 0xfe, 0x1c, 0x01,
            0x1d, 0x01, 0xfd, 0xfd, 0xff, 0x99,
        ];
        let shapes = decode(&data).unwrap();
        assert_eq!(shapes.len(), 3);
        assert_eq!(shapes[0], Shape::Leaf { offset: 0, size: 8 });
        let mut l = Vec::new();
        shapes[2].leaves(&mut l);
        assert_eq!(l, [(0x18, 4), (0x1c, 1), (0x1d, 1)]);
        assert_eq!(
            decode(&[0xfb, 0xfc, 0xff]).unwrap(),
            [Shape::FarLeaf, Shape::Elided]
        );
    }

    #[test]
    fn rejects_malformed_streams() {
        for bad in [
            &[][..],
            &[0x00],
            &[0x00, 0x00, 0xff],
            &[0xfe, 0xff],
            &[0xfd, 0xff],
            &[0xf5, 0xff],
            &[0x00, 0x08],
        ] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
        let deep = [[0xfe; 8].as_slice(), &[0xfd; 8], &[0xff]].concat();
        assert!(decode(&deep).is_err());
    }
}
