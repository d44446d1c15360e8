//! Just enough of the kernel's BTF (`/sys/kernel/btf/vmlinux`) to find one offset:
//! `task_struct.thread.fsbase`, where a thread's FS base (and so Go's TLS `g`) is, on x86-64.
//!
//! Format: Documentation/bpf/btf.rst. A header, then type records (each a 12-byte `btf_type`
//! followed by kind-specific data), then a string section.

const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;

/// A struct or union member: name, type id, bit offset.
struct Member {
    name: u32,
    ty: u32,
    bit_offset: u32,
}

/// The parsed type records that matter here.
struct Types<'a> {
    strings: &'a [u8],
    /// By type id: (kind, name offset, size-or-type, members).
    records: Vec<(u32, u32, u32, Vec<Member>)>,
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

fn parse(data: &[u8]) -> Option<Types<'_>> {
    if data.get(..2)? != [0x9f, 0xeb] {
        return None; // little-endian magic 0xeb9f
    }
    let hdr_len = u32_at(data, 4)? as usize;
    let type_off = u32_at(data, 8)? as usize;
    let type_len = u32_at(data, 12)? as usize;
    let str_off = u32_at(data, 16)? as usize;
    let str_len = u32_at(data, 20)? as usize;
    let types = data.get(hdr_len + type_off..hdr_len + type_off + type_len)?;
    let strings = data.get(hdr_len + str_off..hdr_len + str_off + str_len)?;
    let mut records = vec![(0, 0, 0, Vec::new())]; // id 0 is void
    let mut at = 0;
    while at + 12 <= types.len() {
        let name = u32_at(types, at)?;
        let info = u32_at(types, at + 4)?;
        let size_or_type = u32_at(types, at + 8)?;
        at += 12;
        let vlen = (info & 0xffff) as usize;
        let kind = (info >> 24) & 0x1f;
        let kind_flag = info >> 31 != 0;
        let mut members = Vec::new();
        let extra = match kind {
            1 | 14 | 17 => 4, // int, var, decl_tag
            3 => 12,          // array
            KIND_STRUCT | KIND_UNION => {
                for m in 0..vlen {
                    let base = at + m * 12;
                    let offset = u32_at(types, base + 8)?;
                    members.push(Member {
                        name: u32_at(types, base)?,
                        ty: u32_at(types, base + 4)?,
                        bit_offset: if kind_flag {
                            offset & 0xff_ffff
                        } else {
                            offset
                        },
                    });
                }
                vlen * 12
            }
            6 | 13 => vlen * 8,   // enum, func_proto
            15 | 19 => vlen * 12, // datasec, enum64
            _ => 0,
        };
        at += extra;
        records.push((kind, name, size_or_type, members));
    }
    Some(Types { strings, records })
}

impl Types<'_> {
    fn name(&self, off: u32) -> &[u8] {
        let rest = self.strings.get(off as usize..).unwrap_or_default();
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        rest.get(..end).unwrap_or_default()
    }

    /// Byte offset of `path` (member names, descending through nested structs) in struct `root`.
    fn offset(&self, root: &str, path: &[&str]) -> Option<u64> {
        let mut id = self
            .records
            .iter()
            .position(|r| r.0 == KIND_STRUCT && self.name(r.1) == root.as_bytes())?;
        let mut bits = 0u64;
        for field in path {
            let (_, _, _, members) = self.records.get(id)?;
            let m = members
                .iter()
                .find(|m| self.name(m.name) == field.as_bytes())?;
            bits += u64::from(m.bit_offset);
            id = m.ty as usize;
            // Look through typedef, volatile, const, restrict and type_tag.
            while let Some((8..=11 | 18, _, referent, _)) = self.records.get(id) {
                id = *referent as usize;
            }
        }
        Some(bits / 8)
    }
}

/// Offset of `thread.fsbase` in `struct task_struct`, from the running kernel's BTF.
pub fn fsbase_offset() -> Result<u64, String> {
    let path = "/sys/kernel/btf/vmlinux";
    let data = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let types = parse(&data).ok_or_else(|| format!("{path}: not BTF this reader understands"))?;
    types
        .offset("task_struct", &["thread", "fsbase"])
        .ok_or_else(|| format!("{path}: no task_struct.thread.fsbase"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_fsbase_in_the_running_kernel() {
        // thread is deep in task_struct; fsbase is thread_struct's third word or so.
        let off = super::fsbase_offset().unwrap();
        assert!(off > 1000 && off < 64 * 1024, "{off}");
        assert_eq!(off % 8, 0);
    }
}
