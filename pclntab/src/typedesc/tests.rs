//! Descriptors built by hand, laid out as the compiler and linker of each release do, in a small
//! ELF file of each pointer size and byte order.

use super::layout::Release;
use super::*;

const BASE: u64 = 0x40_0000;
/// File offset (and `BASE` + it: address) of `moduledata.types`.
const TYPES_AT: u64 = 0x1000;
/// Where names go, after the descriptors (Go 1.27 walks the descriptors up to `typedesclen`).
const NAMES_AT: u64 = 0x1800;
const TYPES_LEN: u64 = 0x2000;
const TEXT: u64 = 0x50_0000;

/// How one release lays things out, for the builder.
#[derive(Clone, Copy)]
struct Rel {
    minor: u32,
    p: u64,
    big: bool,
}

impl Rel {
    fn module(self) -> ModuleLayout {
        match self.minor {
            ..=15 => ModuleLayout::Go18,
            16 | 17 => ModuleLayout::Go116,
            18 | 19 => ModuleLayout::Go118,
            20..=25 => ModuleLayout::Go120,
            26 => ModuleLayout::Go126,
            _ => ModuleLayout::Go127,
        }
    }
}

/// The kind-specific part of a descriptor.
enum Body {
    None,
    /// Pointer or slice element.
    Elem(u64),
    Array(u64, u64),
    Chan(u64, u64),
    /// Key, elem, bucket or group, and the words/bytes after the hasher.
    Map(u64, u64, u64, Vec<u8>),
    Func(Vec<u64>, Vec<u64>, bool),
    /// Package path name, methods (name nameOff, type typeOff).
    Iface(u64, Vec<(u64, u64)>),
    /// Package path name, fields (name, type, raw offset).
    Struct(u64, Vec<(u64, u64, u64)>),
}

/// A method of an uncommon type: name nameOff, mtyp typeOff, ifn and tfn textOffs.
type MethodSpec = (u64, u64, u64, u64);

struct Builder {
    rel: Rel,
    /// The bytes of `[types, types + TYPES_LEN)`.
    buf: Vec<u8>,
    next_desc: u64,
    next_name: u64,
}

impl Builder {
    fn new(rel: Rel) -> Builder {
        Builder {
            rel,
            buf: vec![0; TYPES_LEN as usize],
            next_desc: rel.p,
            next_name: NAMES_AT - TYPES_AT,
        }
    }

    fn types(&self) -> u64 {
        BASE + TYPES_AT
    }

    fn put(&mut self, at: u64, b: &[u8]) {
        let at = at as usize;
        self.buf[at..at + b.len()].copy_from_slice(b);
    }

    fn int(&mut self, at: u64, v: u64, width: u64) {
        let bytes = if self.rel.big {
            v.to_be_bytes()[8 - width as usize..].to_vec()
        } else {
            v.to_le_bytes()[..width as usize].to_vec()
        };
        self.put(at, &bytes);
    }

    fn word(&mut self, at: u64, v: u64) {
        self.int(at, v, self.rel.p)
    }

    /// A name; its offset from `types`.
    fn name(&mut self, flags: u8, s: &str, tag: Option<&str>) -> u64 {
        let at = self.next_name;
        let mut b = vec![flags | if tag.is_some() { 2 } else { 0 }];
        let len = |b: &mut Vec<u8>, n: usize| {
            if self.rel.minor <= 16 {
                b.extend_from_slice(&(n as u16).to_be_bytes());
            } else {
                let mut n = n;
                while n >= 0x80 {
                    b.push(n as u8 | 0x80);
                    n >>= 7;
                }
                b.push(n as u8);
            }
        };
        len(&mut b, s.len());
        b.extend_from_slice(s.as_bytes());
        if let Some(t) = tag {
            len(&mut b, t.len());
            b.extend_from_slice(t.as_bytes());
        }
        self.put(at, &b);
        self.next_name += b.len() as u64;
        at
    }

    fn kind_size(&self, kind: u8) -> u64 {
        let p = self.rel.p;
        let t = 4 * p + 16;
        let round = |n: u64| n.div_ceil(p) * p;
        match kind {
            17 => t + 3 * p,
            18 => t + 2 * p,
            19 => round(t + 4),
            20 | 25 => t + 4 * p,
            21 => match self.rel.minor {
                ..=23 => t + 4 * p + 8,
                24..=26 => round(t + 7 * p + 4),
                _ => round(t + 10 * p + 4),
            },
            22 | 23 => t + p,
            _ => t,
        }
    }

    /// A descriptor: its address. `methods`: (name nameOff, mtyp, ifn, tfn) for an uncommon type
    /// with package path `pkg` (a nameOff).
    #[allow(clippy::too_many_arguments)]
    fn desc(
        &mut self,
        kind: u8,
        size: u64,
        tflag: u8,
        name: u64,
        body: Body,
        uncommon: Option<(u64, Vec<MethodSpec>)>,
    ) -> u64 {
        let p = self.rel.p;
        let at = self.next_desc.div_ceil(p) * p;
        let addr = self.types() + at;
        let tflag = tflag | if uncommon.is_some() { 1 } else { 0 };
        self.word(at, size);
        self.word(at + p, 0);
        self.int(at + 2 * p, 0xdead_beef, 4);
        self.put(at + 2 * p + 4, &[tflag, 8, 8, kind]);
        self.int(at + 4 * p + 8, name, 4);
        let t = at + 4 * p + 16;
        let b = at + self.kind_size(kind);
        let c = b + if uncommon.is_some() { 16 } else { 0 };
        let mut d = c;
        match body {
            Body::None => {}
            Body::Elem(e) => self.word(t, e),
            Body::Array(e, n) => {
                self.word(t, e);
                self.word(t + 2 * p, n);
            }
            Body::Chan(e, dir) => {
                self.word(t, e);
                self.word(t + p, dir);
            }
            Body::Map(k, e, g, rest) => {
                self.word(t, k);
                self.word(t + p, e);
                self.word(t + 2 * p, g);
                self.put(t + 4 * p, &rest);
            }
            Body::Func(ins, outs, variadic) => {
                self.int(t, ins.len() as u64, 2);
                self.int(
                    t + 2,
                    outs.len() as u64 | if variadic { 0x8000 } else { 0 },
                    2,
                );
                for (i, x) in ins.iter().chain(&outs).enumerate() {
                    self.word(c + i as u64 * p, *x);
                }
                d = c + (ins.len() + outs.len()) as u64 * p;
            }
            Body::Iface(pkg, methods) => {
                self.word(t, if pkg == 0 { 0 } else { self.types() + pkg });
                self.word(t + p, self.types() + c);
                self.word(t + 2 * p, methods.len() as u64);
                self.word(t + 3 * p, methods.len() as u64);
                for (i, (n, ty)) in methods.iter().enumerate() {
                    self.int(c + 8 * i as u64, *n, 4);
                    self.int(c + 8 * i as u64 + 4, *ty, 4);
                }
                d = c + 8 * methods.len() as u64;
            }
            Body::Struct(pkg, fields) => {
                self.word(t, if pkg == 0 { 0 } else { self.types() + pkg });
                self.word(t + p, self.types() + c);
                self.word(t + 2 * p, fields.len() as u64);
                self.word(t + 3 * p, fields.len() as u64);
                for (i, (n, ty, off)) in fields.iter().enumerate() {
                    let f = c + 3 * p * i as u64;
                    self.word(f, self.types() + n);
                    self.word(f + p, *ty);
                    self.word(f + 2 * p, *off);
                }
                d = c + 3 * p * fields.len() as u64;
            }
        }
        if let Some((pkg, methods)) = uncommon {
            self.int(b, pkg, 4);
            self.int(b + 4, methods.len() as u64, 2);
            self.int(b + 6, methods.len() as u64, 2);
            self.int(b + 8, d - b, 4);
            for (i, (n, mtyp, ifn, tfn)) in methods.iter().enumerate() {
                let m = d + 16 * i as u64;
                self.int(m, *n, 4);
                self.int(m + 4, *mtyp, 4);
                self.int(m + 8, *ifn, 4);
                self.int(m + 12, *tfn, 4);
            }
            d += 16 * methods.len() as u64;
        }
        self.next_desc = d;
        addr
    }

    fn set_ptr_to_this(&mut self, addr: u64, ptr: u64) {
        let at = addr - self.types() + 4 * self.rel.p + 12;
        self.int(at, ptr - self.types(), 4);
    }

    /// The map fields after the hasher, for this release.
    fn map_rest(&self, group_size: u64, slot: u64, elem_off: u64, key_size: u64) -> Vec<u8> {
        let mut b = Builder {
            rel: self.rel,
            buf: vec![0; 64 + 11 * 8],
            next_desc: 0,
            next_name: 0,
        };
        let p = self.rel.p;
        match self.rel.minor {
            ..=23 => {
                b.put(0, &[key_size as u8, (slot - key_size) as u8]);
                b.int(2, group_size, 2);
                b.int(4, 0, 4);
                b.buf.truncate(8);
            }
            24..=26 => {
                b.word(0, group_size);
                b.word(p, slot);
                b.word(2 * p, elem_off);
                b.int(3 * p, 0, 4);
                b.buf.truncate(3 * p as usize + 4);
            }
            _ => {
                for (i, v) in [group_size, 8, slot, 8 + elem_off, slot, elem_off]
                    .into_iter()
                    .enumerate()
                {
                    b.word(i as u64 * p, v);
                }
                b.int(6 * p, 8, 4); // MapIndirectElem
                b.buf.truncate(6 * p as usize + 4);
            }
        }
        b.buf
    }
}

/// The ELF file: one PT_LOAD from offset 0 at `BASE`, the types at `TYPES_AT`, then `extra`
/// (typelinks, itablinks, itabs) at `TYPES_AT + TYPES_LEN`.
fn elf(rel: Rel, types: &[u8], extra: &[u8]) -> Vec<u8> {
    assert_eq!(TYPES_AT, super::fuzzing::BODY_AT);
    super::fuzzing::elf(rel.p as u8, rel.big, BASE, &[types, extra].concat())
}

/// A binary's worth of types: `T` is `main.T struct { A int; Base }` with a method `M() int`
/// on `*T`, and around it every kind.
struct Fixture {
    file: Vec<u8>,
    md: ModuleData,
    rel: Rel,
    addrs: HashMap<&'static str, u64>,
}

fn fixture(rel: Rel) -> Fixture {
    let mut b = Builder::new(rel);
    let p = rel.p;
    let mut a = HashMap::new();
    let n_int = b.name(0, "int", None);
    let n_string = b.name(0, "string", None);
    let n_main = b.name(0, "main", None);
    let int = b.desc(2, p, 4, n_int, Body::None, Some((0, vec![])));
    let string = b.desc(24, 2 * p, 4, n_string, Body::None, Some((0, vec![])));
    let n_slice = b.name(0, "[]string", None);
    let slice = b.desc(23, 3 * p, 0, n_slice, Body::Elem(string), None);
    let n_arr = b.name(0, "[4]int", None);
    let arr = b.desc(17, 4 * p, 0, n_arr, Body::Array(int, 4), None);
    let n_chan = b.name(0, "<-chan int", None);
    let chan = b.desc(18, p, 0, n_chan, Body::Chan(int, 1), None);
    let n_func = b.name(0, "func(int, ...string) bool", None);
    let boolean = {
        let n = b.name(0, "bool", None);
        b.desc(1, 1, 4, n, Body::None, Some((0, vec![])))
    };
    let func = b.desc(
        19,
        p,
        0,
        n_func,
        Body::Func(vec![int, slice], vec![boolean], true),
        None,
    );
    let n_mfunc = b.name(0, "func() int", None);
    let mfunc = b.desc(
        19,
        p,
        0,
        n_mfunc,
        Body::Func(vec![], vec![int], false),
        None,
    );
    let n_m = b.name(1, "M", None);
    let n_iface = b.name(0, "interface { M() int }", None);
    let iface = b.desc(
        20,
        2 * p,
        0,
        n_iface,
        Body::Iface(0, vec![(n_m, mfunc - b.types())]),
        None,
    );
    // The bucket (or group) of map[string]int: a struct of the size the map says.
    let (group_size, slot) = (8 + 8 * (2 * p + p), 3 * p);
    let n_group = b.name(0, "map.group[string]int", None);
    let group = b.desc(25, group_size, 0, n_group, Body::Struct(0, vec![]), None);
    let n_map = b.name(0, "map[string]int", None);
    let rest = b.map_rest(group_size, slot, 2 * p, 2 * p);
    let map = b.desc(21, p, 0, n_map, Body::Map(string, int, group, rest), None);
    // main.Base struct {} and main.T struct { A int; Base }.
    let n_base = b.name(0, "main.Base", None);
    let base = b.desc(
        25,
        0,
        4,
        n_base,
        Body::Struct(0, vec![]),
        Some((n_main, vec![])),
    );
    let n_a = b.name(1, "A", Some("json:\"a\""));
    let n_base_field = b.name(if rel.minor >= 19 { 1 | 8 } else { 1 }, "Base", None);
    let (off_a, off_base) = if rel.minor >= 19 {
        (0, p)
    } else {
        (0, p << 1 | 1)
    };
    let n_t = b.name(0, "*main.T", None);
    let t = b.desc(
        25,
        p,
        4 | 2,
        n_t,
        Body::Struct(
            n_main,
            vec![(n_a, int, off_a), (n_base_field, base, off_base)],
        ),
        Some((n_main, vec![])),
    );
    let pt = b.desc(
        22,
        p,
        0,
        n_t,
        Body::Elem(t),
        Some((n_main, vec![(n_m, mfunc - b.types(), 0x10, 0xffff_ffff)])),
    );
    b.set_ptr_to_this(t, pt);
    let desc_end = b.next_desc;
    for (k, v) in [
        ("int", int),
        ("string", string),
        ("[]string", slice),
        ("[4]int", arr),
        ("<-chan int", chan),
        ("func", func),
        ("func() int", mfunc),
        ("iface", iface),
        ("group", group),
        ("map", map),
        ("main.Base", base),
        ("main.T", t),
        ("*main.T", pt),
        ("bool", boolean),
    ] {
        a.insert(k, v);
    }
    // The itab of *main.T for the interface: Inter, Type, Hash, Fun[0].
    let fun_off = if rel.minor <= 22 { 2 * p + 8 } else { 3 * p };
    let mut itab = Builder {
        rel,
        buf: vec![0; (fun_off + p) as usize],
        next_desc: 0,
        next_name: 0,
    };
    itab.word(0, iface);
    itab.word(p, pt);
    itab.word(fun_off, TEXT + 0x10);
    let extra_at = BASE + TYPES_AT + TYPES_LEN;
    let mut md = ModuleData {
        vaddr: VirtAddr(BASE),
        layout: rel.module(),
        pclntab: 0,
        ftab: (0, 0),
        minpc: TEXT,
        maxpc: TEXT + 0x100,
        text: TEXT,
        etext: TEXT + 0x1000,
        types: (b.types(), b.types() + TYPES_LEN),
        gofunc: None,
        textsectmap: Vec::new(),
        typelinks: None,
        itablinks: None,
        typedesclen: None,
        itabs: None,
    };
    let mut extra = Builder {
        rel,
        buf: vec![0; 256],
        next_desc: 0,
        next_name: 0,
    };
    let mut types = b.buf;
    if rel.minor >= 27 {
        // The itab after the descriptors (and the names), inside [types, etypes).
        md.typedesclen = Some(desc_end);
        let itab_at = 0x1f00;
        types[itab_at..itab_at + itab.buf.len()].copy_from_slice(&itab.buf);
        md.itabs = Some((itab_at as u64, itab.buf.len() as u64));
    } else {
        // typelinks: the func and *main.T; itablinks: the itab, which follows.
        for (i, x) in [func, pt].iter().enumerate() {
            extra.int(4 * i as u64, x - md.types.0, 4);
        }
        md.typelinks = Some((extra_at, 2));
        extra.word(8, extra_at + 32);
        md.itablinks = Some((extra_at + 8, 1));
        extra.put(32, &itab.buf);
    }
    Fixture {
        file: elf(rel, &types, &extra.buf),
        md,
        rel,
        addrs: a,
    }
}

impl Fixture {
    /// The fixture as an input of the `types` fuzz target (`super::fuzzing`).
    fn fuzz_input(&self) -> Vec<u8> {
        let mut h = vec![
            (self.rel.minor - 15) as u8
                | if self.rel.p == 4 { 0x10 } else { 0 }
                | if self.rel.big { 0x20 } else { 0 },
            self.rel.module() as u8,
        ];
        let (links, n) = self.md.typelinks.unwrap_or((0, 0));
        let (_, m) = self.md.itablinks.unwrap_or((0, 0));
        assert!(n == 0 || links == self.md.types.1);
        h.extend((n as u16).to_le_bytes());
        h.extend((m as u16).to_le_bytes());
        h.extend((self.md.typedesclen.unwrap_or(0) as u32).to_le_bytes());
        let (io, is) = self.md.itabs.unwrap_or((0, 0));
        h.extend((io as u32).to_le_bytes());
        h.extend((is as u32).to_le_bytes());
        h.extend((TYPES_LEN as u32).to_le_bytes());
        h.extend(self.md.types.0.to_le_bytes());
        h.extend(self.md.text.to_le_bytes());
        h.extend(self.md.etext.to_le_bytes());
        assert_eq!(h.len(), super::fuzzing::HEADER);
        h.extend_from_slice(&self.file[TYPES_AT as usize..]);
        h
    }
}

fn container(f: &Fixture) -> Container<'_> {
    Container::parse(&f.file, None).unwrap()
}

fn release(f: &Fixture, minor: Option<u32>) -> Release<'static> {
    Release {
        minor,
        module: f.rel.module(),
        ptr_size: f.rel.p as u8,
        experiment: None,
    }
}

const GO119: Rel = Rel {
    minor: 19,
    p: 8,
    big: false,
};

#[test]
fn every_kind_decodes() {
    let f = fixture(GO119);
    let c = container(&f);
    let d = TypeDescs::new(&c, &f.md, &release(&f, Some(19))).unwrap();
    let at = |k: &str| VirtAddr(f.addrs[k]);
    let t = d.get(at("main.T")).unwrap();
    assert_eq!(t.name, "main.T", "the extra star is dropped");
    assert!(t.named && t.kind == TypeKind::Struct);
    assert_eq!(t.pkg_path.as_deref(), Some("main"));
    assert_eq!(t.ptr_to_this, Some(at("*main.T")));
    let TypeDetail::Struct { fields } = &t.detail else {
        panic!("{:?}", t.detail)
    };
    assert_eq!(fields.len(), 2);
    assert_eq!(
        (&*fields[0].name, fields[0].offset, fields[0].embedded),
        ("A", 0, false)
    );
    assert_eq!(fields[0].tag.as_deref(), Some("json:\"a\""));
    assert_eq!(
        (&*fields[1].name, fields[1].offset, fields[1].embedded),
        ("Base", 8, true)
    );
    assert_eq!(
        d.go_syntax(&t).unwrap(),
        r#"struct { A int "json:\"a\""; main.Base }"#
    );
    let pt = d.get(at("*main.T")).unwrap();
    assert_eq!((&*pt.name, pt.named), ("*main.T", false));
    assert_eq!(pt.detail, TypeDetail::Pointer { elem: at("main.T") });
    assert_eq!(
        pt.methods,
        vec![Method {
            name: "M".into(),
            exported: true,
            mtyp: Some(at("func() int")),
            ifn: Some(VirtAddr(TEXT + 0x10)),
            tfn: None,
        }]
    );
    let func = d.get(at("func")).unwrap();
    assert_eq!(
        func.detail,
        TypeDetail::Func {
            params: vec![at("int"), at("[]string")],
            results: vec![at("bool")],
            variadic: true
        }
    );
    assert_eq!(d.go_syntax(&func).unwrap(), "func(int, ...string) bool");
    assert_eq!(
        d.get(at("[4]int")).unwrap().detail,
        TypeDetail::Array {
            elem: at("int"),
            slice: None,
            len: 4
        }
    );
    let chan = d.get(at("<-chan int")).unwrap();
    assert_eq!(d.go_syntax(&chan).unwrap(), "<-chan int");
    let iface = d.get(at("iface")).unwrap();
    assert_eq!(d.go_syntax(&iface).unwrap(), "interface { M() int }");
    let map = d.get(at("map")).unwrap();
    assert_eq!(
        map.detail,
        TypeDetail::Map {
            key: at("string"),
            elem: at("int"),
            layout: MapLayout::Buckets {
                bucket: at("group"),
                key_size: 16,
                elem_size: 8,
                bucket_size: 8 + 8 * 24,
                indirect_key: false,
                indirect_elem: false,
            }
        }
    );
    let int = d.get(at("int")).unwrap();
    assert_eq!(
        (int.kind, int.size, d.go_syntax(&int).unwrap().as_str()),
        (TypeKind::Int, 8, "int")
    );
}

#[test]
fn all_follows_links_itabs_and_references() {
    for rel in [
        GO119,
        Rel {
            minor: 16,
            p: 4,
            big: true,
        },
        Rel {
            minor: 24,
            p: 8,
            big: true,
        },
        Rel {
            minor: 27,
            p: 4,
            big: false,
        },
        Rel {
            minor: 27,
            p: 8,
            big: false,
        },
    ] {
        let f = fixture(rel);
        let c = container(&f);
        let d = TypeDescs::new(&c, &f.md, &release(&f, Some(rel.minor))).unwrap();
        let mut want: Vec<VirtAddr> = f
            .addrs
            .iter()
            .filter(|(k, _)| !["<-chan int", "[4]int", "map", "group"].contains(*k))
            .map(|(_, v)| VirtAddr(*v))
            .collect();
        if rel.minor >= 27 {
            // Go 1.27 walks every descriptor up to typedesclen: the channel and array too.
            want = f.addrs.values().map(|v| VirtAddr(*v)).collect();
        }
        want.sort();
        assert_eq!(d.all().unwrap(), want, "go1.{} p={}", rel.minor, rel.p);
        let itabs = d.itabs().unwrap();
        assert_eq!(itabs.len(), 1);
        assert_eq!(
            (itabs[0].interface, itabs[0].typ, itabs[0].fun0),
            (
                VirtAddr(f.addrs["iface"]),
                VirtAddr(f.addrs["*main.T"]),
                Some(VirtAddr(TEXT + 0x10))
            )
        );
        assert_eq!(d.by_name("*main.T"), vec![VirtAddr(f.addrs["*main.T"])]);
        assert_eq!(d.by_name("main.Nope"), vec![]);
        let t = d.get(VirtAddr(f.addrs["main.T"])).unwrap();
        let TypeDetail::Struct { fields } = &t.detail else {
            panic!()
        };
        assert_eq!((fields[1].offset, fields[1].embedded), (rel.p, true));
        let map = d.get(VirtAddr(f.addrs["map"])).unwrap();
        let TypeDetail::Map { layout, .. } = map.detail else {
            panic!()
        };
        let p = rel.p;
        match rel.minor {
            ..=23 => assert!(matches!(layout, MapLayout::Buckets { .. })),
            _ => assert_eq!(
                layout,
                MapLayout::Swiss {
                    group: VirtAddr(f.addrs["group"]),
                    group_size: 8 + 8 * 3 * p,
                    keys_off: 8,
                    key_stride: 3 * p,
                    elems_off: 8 + 2 * p,
                    elem_stride: 3 * p,
                    indirect_key: false,
                    indirect_elem: rel.minor >= 27,
                }
            ),
        }
    }
}

#[test]
fn releases_without_build_info_are_probed() {
    // Go 1.16 (two-byte name lengths) and 1.17 (uvarint), told apart by the names.
    for minor in [16, 17] {
        let f = fixture(Rel {
            minor,
            p: 8,
            big: false,
        });
        let c = container(&f);
        let d = TypeDescs::new(&c, &f.md, &release(&f, None)).unwrap();
        assert_eq!(d.name(VirtAddr(f.addrs["*main.T"])).unwrap(), "*main.T");
    }
    // Go 1.18 (offset << 1 | embedded) and 1.19 (the name's flag): main.T's fields tell.
    for minor in [18, 19] {
        let f = fixture(Rel {
            minor,
            p: 8,
            big: false,
        });
        let c = container(&f);
        let d = TypeDescs::new(&c, &f.md, &release(&f, None)).unwrap();
        let TypeDetail::Struct { fields } = d.get(VirtAddr(f.addrs["main.T"])).unwrap().detail
        else {
            panic!()
        };
        assert_eq!(
            (fields[1].offset, fields[1].embedded),
            (8, true),
            "go1.{minor}"
        );
    }
    // Go 1.20–1.25: each map says whether it is a bucket or a swiss map.
    for minor in [23, 24] {
        let f = fixture(Rel {
            minor,
            p: 8,
            big: false,
        });
        let c = container(&f);
        let d = TypeDescs::new(&c, &f.md, &release(&f, None)).unwrap();
        let TypeDetail::Map { layout, .. } = d.get(VirtAddr(f.addrs["map"])).unwrap().detail else {
            panic!()
        };
        assert_eq!(matches!(layout, MapLayout::Swiss { .. }), minor == 24);
    }
}

#[test]
fn unsupported_releases_are_refused() {
    let f = fixture(GO119);
    let c = container(&f);
    let old = Release {
        minor: Some(14),
        ..release(&f, None)
    };
    assert_eq!(
        TypeDescs::new(&c, &f.md, &old).unwrap_err(),
        Error::UnsupportedTypes {
            release: "go1.14".into()
        }
    );
}

/// Overwrites `bytes` at `addr` in a copy of the file and reads `what` there.
fn damaged(f: &Fixture, addr: u64, bytes: &[u8]) -> Vec<u8> {
    let mut file = f.file.clone();
    let at = (addr - BASE) as usize;
    file[at..at + bytes.len()].copy_from_slice(bytes);
    file
}

#[test]
fn damaged_descriptors_are_typed_errors_with_offsets() {
    let f = fixture(GO119);
    let t = f.addrs["main.T"];
    let file_off = |addr: u64| addr - BASE;
    let rel = release(&f, Some(19));
    let check = |file: Vec<u8>, addr: u64, want: Error| {
        let c = Container::parse(&file, None).unwrap();
        let d = TypeDescs::new(&c, &f.md, &rel).unwrap();
        assert_eq!(d.get(VirtAddr(addr)).unwrap_err(), want);
        // And the walk still ends, with the damaged one listed or an error.
        let _ = d.all();
    };
    // A kind that does not exist.
    check(
        damaged(&f, t + 23, &[31]),
        t,
        Error::BadValue {
            what: "abi.Type.Kind_",
            offset: file_off(t + 23),
            value: 31,
        },
    );
    // An alignment that is not a power of two.
    check(
        damaged(&f, t + 21, &[3]),
        t,
        Error::BadValue {
            what: "abi.Type.Align_",
            offset: file_off(t + 21),
            value: 3,
        },
    );
    // A pointer's elem outside the descriptors.
    let pt = f.addrs["*main.T"];
    check(
        damaged(&f, pt + 48, &0x10u64.to_le_bytes()),
        pt,
        Error::BadValue {
            what: "abi.PtrType.Elem",
            offset: file_off(pt + 48),
            value: 0x10,
        },
    );
    // Fields: a length over the capacity.
    check(
        damaged(&f, t + 48 + 16, &5u64.to_le_bytes()),
        t,
        Error::BadValue {
            what: "abi.StructType.Fields",
            offset: file_off(t + 48 + 16),
            value: 5,
        },
    );
    // A name offset past etypes.
    check(
        damaged(&f, t + 40, &0x7fff_0000i32.to_le_bytes()),
        t,
        Error::BadValue {
            what: "abi.Type.Str",
            offset: file_off(t + 40),
            value: 0x7fff_0000,
        },
    );
    // A map whose bucket size does not match its bucket type.
    let map = f.addrs["map"];
    check(
        damaged(&f, map + 48 + 32 + 2, &[0, 1]),
        map,
        Error::BadValue {
            what: "abi.OldMapType.BucketSize",
            offset: file_off(map + 48 + 32 + 2),
            value: 256,
        },
    );
    // A channel direction that does not exist.
    let chan = f.addrs["<-chan int"];
    check(
        damaged(&f, chan + 56, &[7]),
        chan,
        Error::BadValue {
            what: "abi.ChanType.Dir",
            offset: file_off(chan + 56),
            value: 7,
        },
    );
    // A method's type offset that is negative (and not -1).
    let methods_at = pt + 56 + 16;
    check(
        damaged(&f, methods_at + 4, &(-8i32).to_le_bytes()),
        pt,
        Error::BadValue {
            what: "abi.Method.Mtyp",
            offset: file_off(methods_at + 4),
            value: u64::from(-8i32 as u32),
        },
    );
    // An address outside the descriptors.
    let c = container(&f);
    let d = TypeDescs::new(&c, &f.md, &rel).unwrap();
    assert_eq!(
        d.get(VirtAddr(0x1234)).unwrap_err(),
        Error::NotAType {
            what: "type address",
            vaddr: 0x1234,
            types: f.md.types.0,
            etypes: f.md.types.1
        }
    );
    assert_eq!(d.type_off(0), None);
    assert_eq!(d.type_off(-1), None);
    assert_eq!(d.text_off(u32::MAX), None);
    assert_eq!(d.text_off(0x10), Some(VirtAddr(TEXT + 0x10)));
    assert_eq!(d.text_off(0x10_0000), None, "past etext");
}

#[test]
fn cycles_and_self_references_end() {
    // A struct whose fields are itself and a pointer to itself: the walk ends.
    let f = fixture(GO119);
    let t = f.addrs["main.T"];
    let pt = f.addrs["*main.T"];
    let mut file = f.file.clone();
    let at = (t - BASE + 48 + 8) as usize;
    let fields = u64::from_le_bytes(file[at..at + 8].try_into().unwrap()) - BASE;
    file[(fields + 8) as usize..(fields + 16) as usize].copy_from_slice(&t.to_le_bytes());
    file[(fields + 32) as usize..(fields + 40) as usize].copy_from_slice(&pt.to_le_bytes());
    let c = Container::parse(&file, None).unwrap();
    let d = TypeDescs::new(&c, &f.md, &release(&f, Some(19))).unwrap();
    let all = d.all().unwrap();
    assert!(all.contains(&VirtAddr(pt)) && all.contains(&VirtAddr(t)));
}

#[test]
fn a_walk_that_runs_past_typedesclen_is_an_error() {
    let f = fixture(Rel {
        minor: 27,
        p: 8,
        big: false,
    });
    let mut md = f.md.clone();
    md.typedesclen = Some(TYPES_LEN + 8);
    let c = container(&f);
    let d = TypeDescs::new(&c, &md, &release(&f, Some(27))).unwrap();
    assert!(matches!(
        d.all(),
        Err(Error::BadValue {
            what: "moduledata.typedesclen",
            ..
        })
    ));
    // A struct claiming a huge field count makes DescriptorSize run past etypes.
    let t = f.addrs["main.T"];
    let file = damaged(&f, t + 48 + 16, &u64::MAX.to_le_bytes());
    let c = Container::parse(&file, None).unwrap();
    let d = TypeDescs::new(&c, &f.md, &release(&f, Some(27))).unwrap();
    assert!(matches!(
        d.all(),
        Err(Error::BadValue {
            what: "abi.Type descriptor size",
            ..
        })
    ));
}

#[test]
fn the_fuzz_harness_reads_the_fixtures() {
    for rel in [
        GO119,
        Rel {
            minor: 16,
            p: 4,
            big: true,
        },
        Rel {
            minor: 27,
            p: 8,
            big: false,
        },
    ] {
        let f = fixture(rel);
        let c = container(&f);
        let want = TypeDescs::new(&c, &f.md, &release(&f, Some(rel.minor)))
            .unwrap()
            .all()
            .unwrap();
        let input = f.fuzz_input();
        let got = super::fuzzing::with_descs(&input, |d| (d.all(), d.itabs().map(|i| i.len())));
        assert_eq!(got, Some((Ok(want), Ok(1))), "go1.{}", rel.minor);
        super::fuzzing::exercise(&input);
    }
}

/// Inputs the `types` fuzz target found crashes with (`fuzz/regressions/types-*`): each must
/// give `Ok` or an error, never a panic (tests run with overflow checks).
#[test]
fn fuzz_regressions_do_not_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions");
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("types-"))
        {
            eprintln!("{}", path.display());
            super::fuzzing::exercise(&std::fs::read(&path).unwrap());
        }
    }
}
