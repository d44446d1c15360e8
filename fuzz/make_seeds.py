#!/usr/bin/env python3
"""Writes the seeds of the fuzz targets (fuzz/seeds/TARGET/) from Go binaries of the test matrix.

A real Go binary is a megabyte or more: too big for a seed. This keeps the structure the parsers
walk and drops the bulk. For the run of `main.*` functions it rebuilds `.gopclntab` with only
their `_func` records, names, pc-value tables, CU and file entries; keeps the inline trees and
ArgInfo they point to (their name offsets rewritten), the build info, and moduledata (its
function-table fields rewritten, so that it still confirms the table); and writes these at their
original addresses into a small ELF file (`gosyms list` and `lookup` on a seed print what they
print on the real binary for those functions). Tables of Go 1.2 (1.15), 1.18 (1.19) and 1.20
(1.21, 1.26, 1.27) layouts, 32 and 64 bit. Variants: sections renamed (the table is then found
by scanning), no section headers (segments only), PE (objcopy), Mach-O and a fat Mach-O. The
disasm seeds are those functions' code, the arginfo seeds their FUNCDATA_ArgInfo and a few
written by hand, the signature seeds testdata/params/signatures.txt and a few more.

Usage: make_seeds.py MATRIX_DIR OUT_DIR    (MATRIX_DIR: ~/.cache/gosyms/matrix, from
testdata/build-matrix.sh)
"""
import os
import struct
import subprocess
import sys


def elf_sections(data):
    assert data[:4] == b"\x7fELF"
    is64 = data[4] == 2
    le = data[5] == 1
    e = "<" if le else ">"
    if is64:
        shoff, = struct.unpack_from(e + "Q", data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from(e + "HHH", data, 0x3A)
    else:
        shoff, = struct.unpack_from(e + "I", data, 0x20)
        shentsize, shnum, shstrndx = struct.unpack_from(e + "HHH", data, 0x2E)
    machine, = struct.unpack_from(e + "H", data, 0x12)
    secs = []
    for i in range(shnum):
        o = shoff + i * shentsize
        if is64:
            name, typ, flags, addr, off, size = struct.unpack_from(e + "IIQQQQ", data, o)
        else:
            name, typ, flags, addr, off, size = struct.unpack_from(e + "IIIIII", data, o)
        secs.append([name, typ, flags, addr, off, size])
    stro = secs[shstrndx][4]
    out = {}
    for name, typ, flags, addr, off, size in secs:
        n = data[stro + name:data.index(b"\0", stro + name)].decode()
        out[n] = dict(type=typ, flags=flags, addr=addr, off=off, size=size,
                      data=data[off:off + size] if typ != 8 else b"")
    return out, is64, e, machine


def uvarint(b, o):
    v = s = 0
    while True:
        c = b[o]
        o += 1
        v |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return v, o


def pcvalue_len(b, o):
    """Length of the pc-value table at o, and its values."""
    start, first, val, vals = o, True, -1, []
    while True:
        uv, o2 = uvarint(b, o)
        if uv == 0 and not first:
            return o2 - start, vals
        first = False
        d = ~(uv >> 1) if uv & 1 else uv >> 1
        val += d
        vals.append(val)
        _, o = uvarint(b, o2)


class Blob:
    def __init__(self):
        self.b = bytearray()
        self.seen = {}

    def add(self, key, data):
        if key not in self.seen:
            self.seen[key] = len(self.b)
            self.b += data
        return self.seen[key]


def find_moduledata(secs, e, p):
    """The moduledata: its own section (Go 1.26+), else the word in .noptrdata that points to
    pclntab (the first ~70 words of it)."""
    if ".go.module" in secs:
        s = secs[".go.module"]
        return ".go.module", s["addr"], s["data"]
    s = secs[".noptrdata"]
    pat = struct.pack(e + ("Q" if p == 8 else "I"), secs[".gopclntab"]["addr"])
    o = 0
    while True:
        o = s["data"].index(pat, o)
        if o % p == 0:
            return ".noptrdata", s["addr"] + o, s["data"][o:o + 70 * p]
        o += 1


def repack(secs, e, first_name_prefix, max_funcs, gofunc_word):
    t = secs[".gopclntab"]["data"]
    magic, = struct.unpack_from(e + "I", t, 0)
    assert magic in (0xFFFFFFF1, 0xFFFFFFF0), hex(magic)
    # Go 1.20+ added _func.startLine.
    F = "IiiIIIIIIiBBBB" if magic == 0xFFFFFFF1 else "IiiIIIIIIBBBB"
    fsize = struct.calcsize(e + F)
    p = t[7]
    W = "Q" if p == 8 else "I"
    hdr = list(struct.unpack_from(e + W * 8, t, 8))
    nfunc, nfiles, text_start, nameo, cuo, fileo, pcto, pclno = hdr
    ftab = [struct.unpack_from(e + "II", t, pclno + 8 * i) for i in range(nfunc + 1)]

    def cstr(o):
        return bytes(t[o:t.index(b"\0", o) + 1])

    def name_of(i):
        _, fo = ftab[i]
        off, = struct.unpack_from(e + "i", t, pclno + fo + 4)
        return cstr(nameo + off)

    idx = [i for i in range(nfunc) if name_of(i).startswith(first_name_prefix)]
    lo = idx[0]
    hi = min(idx[-1] + 1, lo + max_funcs)
    names, pct, cus, files = Blob(), Blob(), bytearray(), Blob()
    names.add(b"", b"\0")  # offset 0 stays the empty name
    pct.add(-1, b"\0")  # offset 0 means "no table"
    files.add(b"", b"\0")
    cu_map = {}
    _, _, md = find_moduledata(secs, e, p)
    gofunc_base = struct.unpack_from(e + W, md, gofunc_word * p)[0]
    img = [(s["addr"], s["data"]) for s in secs.values() if s["data"]]

    def at_addr(a, n):
        for base, d in img:
            if base <= a and a + n <= base + len(d):
                return d[a - base:a - base + n]
        raise KeyError(hex(a))

    fdb = Blob()  # the funcdata that is kept, from gofunc on

    def pctable(o):
        if o == 0:
            return 0, []
        n, vals = pcvalue_len(t, pcto + o)
        return pct.add(o, t[pcto + o:pcto + o + n]), vals

    # Every CU's first index into cutab; a CU's files run to the next CU's.
    all_cus = sorted({struct.unpack_from(e + "I", t, pclno + ftab[i][1] + 32)[0]
                      for i in range(nfunc)})
    recs = []
    arginfos = []
    for i in range(lo, hi):
        entryoff, fo = ftab[i]
        r = pclno + fo
        fields = list(struct.unpack_from(e + F, t, r))
        (eo, nameoff, args, dr, pcsp, pcfile, pcln, npcdata, cuoff), nfd = fields[:9], fields[-1]
        pcdata = list(struct.unpack_from(e + "I" * npcdata, t, r + fsize))
        funcdata = list(struct.unpack_from(e + "I" * nfd, t, r + fsize + 4 * npcdata))
        nameoff = names.add(nameoff, cstr(nameo + nameoff))
        pcsp, _ = pctable(pcsp)
        pcfile, filenos = pctable(pcfile)
        pcln, _ = pctable(pcln)
        inl = []
        for k, o in enumerate(pcdata):
            pcdata[k], vals = pctable(o)
            if k == 2:
                inl = vals
        # The files of this function's CU.
        if cuoff != 0xFFFFFFFF:
            if cuoff not in cu_map:
                cu_map[cuoff] = len(cus) // 4
                ncu = (fileo - cuo) // 4  # entries in cutab
                nf = min(next((c for c in all_cus if c > cuoff), ncu), ncu) - cuoff
                for f in range(nf):
                    fo2, = struct.unpack_from(e + "I", t, cuo + 4 * (cuoff + f))
                    if fo2 == 0xFFFFFFFF:
                        cus += struct.pack(e + "I", fo2)
                    else:
                        cus += struct.pack(e + "I", files.add(fo2, cstr(fileo + fo2)))
            cuoff = cu_map[cuoff]
        # Keep the inline tree (FUNCDATA_InlTree = 3) and
        # ArgInfo (5: a byte stream ending in 0xff); drop the rest (pointer maps, ...).
        for k, o in enumerate(funcdata):
            if o == 0xFFFFFFFF:
                continue
            a = gofunc_base + o
            if k == 3 and inl and max(inl) >= 0:
                # Go 1.20+: 16-byte entries, nameOff at 4; Go 1.18-1.19: 20 bytes, at 12.
                es, no = (16, 4) if magic == 0xFFFFFFF1 else (20, 12)
                tree = bytearray(at_addr(a, es * (max(inl) + 1)))
                for j in range(max(inl) + 1):
                    old, = struct.unpack_from(e + "i", tree, es * j + no)
                    struct.pack_into(e + "i", tree, es * j + no, names.add(old, cstr(nameo + old)))
                while len(fdb.b) % 4:
                    fdb.b += b"\0"
                funcdata[k] = fdb.add(("inl", o), bytes(tree))
            elif k == 5:
                blob = bytearray()
                while True:
                    c = at_addr(a + len(blob), 1)
                    blob += c
                    if c == b"\xff" or len(blob) > 200:
                        break
                funcdata[k] = fdb.add(("arg", o), bytes(blob))
                arginfos.append((cstr(nameo + fields[1])[:-1].decode(), bytes(blob)))
            else:
                funcdata[k] = 0xFFFFFFFF
        rec = struct.pack(e + F, eo, nameoff, args, dr, pcsp, pcfile, pcln, npcdata, cuoff,
                          *fields[9:])
        rec += struct.pack(e + "I" * npcdata, *pcdata) + struct.pack(e + "I" * nfd, *funcdata)
        recs.append((entryoff, rec))
    n = hi - lo
    end_entry = ftab[hi][0]
    hsize = 8 + 8 * p
    new_nameo = hsize
    new_cuo = new_nameo + len(names.b)
    new_fileo = new_cuo + len(cus)
    new_pcto = new_fileo + len(files.b)
    new_pclno = (new_pcto + len(pct.b) + 7) & ~7
    functab = bytearray()
    body = bytearray()
    fo = 8 * (n + 1)
    for entryoff, rec in recs:
        functab += struct.pack(e + "II", entryoff, fo + len(body))
        body += rec
        while len(body) % 4:
            body += b"\0"
    functab += struct.pack(e + "II", end_entry, 0)
    nfiles_new = len(cus) // 4
    out = bytearray(t[:8])
    out += struct.pack(e + W * 8, n, nfiles_new, text_start, new_nameo, new_cuo, new_fileo,
                       new_pcto, new_pclno)
    out += names.b + cus + files.b + pct.b
    out += b"\0" * (new_pclno - len(out))
    out += functab + body
    gofunc = (gofunc_base, bytes(fdb.b) or b"\0")
    first_entry = text_start + recs[0][0]
    last_end = text_start + end_entry
    return bytes(out), gofunc, dict(nfunc=n, pclno=new_pclno, first=first_entry,
                                    end=last_end, p=p, W=W, arginfos=arginfos)


def repack_go12(secs, e, first_name_prefix, max_funcs):
    """The same for a Go 1.2-1.15 table (magic 0xfffffffb, Go 1.12-1.15 _func): offsets count
    from pclntab's start, entries and funcdata are absolute. The file table is kept whole (pcfile
    values index it); inline trees (FUNCDATA 4 with PCDATA 2) move to a blob of their own."""
    t = secs[".gopclntab"]["data"]
    magic, = struct.unpack_from(e + "I", t, 0)
    assert magic == 0xFFFFFFFB, hex(magic)
    p = t[7]
    W = "Q" if p == 8 else "I"
    word = lambda o: struct.unpack_from(e + W, t, o)[0]
    nfunc = word(8)
    ftab = [(word(8 + p + 2 * p * i), word(8 + 2 * p + 2 * p * i)) for i in range(nfunc)]
    end_pc = word(8 + p + 2 * p * nfunc)
    filetab_off, = struct.unpack_from(e + "I", t, 8 + 2 * p + 2 * p * nfunc)
    nfiletab, = struct.unpack_from(e + "I", t, filetab_off)

    def cstr(o):
        return bytes(t[o:t.index(b"\0", o) + 1])

    def rec_of(i):
        return ftab[i][1]

    def name_of(i):
        off, = struct.unpack_from(e + "i", t, rec_of(i) + p)
        return cstr(off)

    idx = [i for i in range(nfunc) if name_of(i).startswith(first_name_prefix)]
    lo = idx[0]
    hi = min(idx[-1] + 1, lo + max_funcs)
    n = hi - lo
    img = [(s["addr"], s["data"]) for s in secs.values() if s["data"]]

    def at_addr(a, k):
        for base, d in img:
            if base <= a and a + k <= base + len(d):
                return d[a - base:a - base + k]
        raise KeyError(hex(a))

    # Pass 1: the records, with offsets into blobs placed after them.
    names, pct, trees = Blob(), Blob(), Blob()
    tree_base = None
    recs = []
    for i in range(lo, hi):
        r = rec_of(i)
        entry = word(r)
        nameoff, args, dr, pcsp, pcfile, pcln, npcdata = struct.unpack_from(e + "iiIiiii", t, r + p)
        fid, nfd = t[r + p + 28], t[r + p + 31]
        pcdata = list(struct.unpack_from(e + "I" * npcdata, t, r + p + 32))
        fd_at = r + p + 32 + 4 * npcdata
        if p == 8 and (secs[".gopclntab"]["addr"] + fd_at) % 8:
            fd_at += 4
        funcdata = [word(fd_at + p * k) for k in range(nfd)]

        def pctable(o):
            if o == 0:
                return ("none", [])
            k, vals = pcvalue_len(t, o)
            return (pct.add(o, t[o:o + k]), vals)

        name = names.add(nameoff, cstr(nameoff))
        pcsp, pcfile, pcln = pctable(pcsp)[0], pctable(pcfile)[0], pctable(pcln)[0]
        inl = []
        for k, o in enumerate(pcdata):
            pcdata[k], vals = pctable(o)
            if k == 2:
                inl = vals
        for k, a in enumerate(funcdata):
            if k == 4 and a and inl and max(inl) >= 0:
                tree = bytearray(at_addr(a, 20 * (max(inl) + 1)))
                if tree_base is None:
                    tree_base = a
                for j in range(max(inl) + 1):
                    old, = struct.unpack_from(e + "i", tree, 20 * j + 12)
                    # The name offset is fixed up once the names' place is known.
                    names.add(old, cstr(old))
                    tree[20 * j + 12:20 * j + 16] = struct.pack(e + "i", -1 - old)
                funcdata[k] = ("tree", trees.add(a, bytes(tree)))
            else:
                funcdata[k] = 0
        recs.append((entry, name, args, dr, pcsp, pcfile, pcln, pcdata, fid, funcdata))
    # Layout: header, nfunc, functab, end, filetab offset, records, names, pc tables, files.
    head = 8 + p + 2 * p * n + p + 4
    off = (head + p - 1) // p * p
    rec_offs = []
    for rec in recs:
        rec_offs.append(off)
        size = p + 32 + 4 * len(rec[7])
        size = (size + p - 1) // p * p + p * len(rec[9])
        off += size
    names_at = off
    pct_at = names_at + len(names.b)
    files_at = (pct_at + len(pct.b) + 3) // 4 * 4
    # The file table, whole: count, offsets, then the names.
    ft = bytearray(struct.pack(e + "I", nfiletab))
    fnames = bytearray()
    strs_at = files_at + 4 * nfiletab
    for k in range(1, nfiletab):
        o, = struct.unpack_from(e + "I", t, filetab_off + 4 * k)
        ft += struct.pack(e + "I", strs_at + len(fnames))
        fnames += cstr(o)
    out = bytearray(t[:8]) + struct.pack(e + W, n)
    for (entry, *_), ro in zip(recs, rec_offs):
        out += struct.pack(e + W * 2, entry, ro)
    out += struct.pack(e + W, ftab[hi][0] if hi < nfunc else end_pc)
    out += struct.pack(e + "I", files_at)
    out += b"\0" * (rec_offs[0] - len(out))
    fix = lambda v: 0 if v == "none" else pct_at + v
    for rec, ro in zip(recs, rec_offs):
        entry, name, args, dr, pcsp, pcfile, pcln, pcdata, fid, funcdata = rec
        assert len(out) == ro
        out += struct.pack(e + W, entry)
        out += struct.pack(e + "iiIiiii", names_at + name, args, dr, fix(pcsp), fix(pcfile),
                           fix(pcln), len(pcdata))
        out += bytes([fid, 0, 0, len(funcdata)])
        out += struct.pack(e + "I" * len(pcdata), *[fix(v) for v in pcdata])
        while len(out) % p:
            out += b"\0"
        for v in funcdata:
            out += struct.pack(e + W, tree_base + v[1] if isinstance(v, tuple) else 0)
    out += names.b + pct.b
    out += b"\0" * (files_at - len(out)) + ft + fnames
    tree_blob = bytearray(trees.b)
    for j in range(0, len(tree_blob), 20):
        v, = struct.unpack_from(e + "i", tree_blob, j + 12)
        struct.pack_into(e + "i", tree_blob, j + 12, names_at + names.seen[-1 - v])
    info = dict(nfunc=n, pcln_len=len(out), files_at=files_at, nfiles=nfiletab, p=p, W=W,
                first=recs[0][0], end=ftab[hi][0] if hi < nfunc else end_pc)
    return bytes(out), (tree_base, bytes(tree_blob)), info


def patch_moduledata_go18(md, e, info, pclntab_addr):
    """Go 1.8-1.15: pclntable, ftab, filetab slices at words 0, 3, 6; textsectmap at 27."""
    md = bytearray(md)
    p, W = info["p"], info["W"]
    put = lambda i, v: struct.pack_into(e + W, md, i * p, v)
    get = lambda i: struct.unpack_from(e + W, md, i * p)[0]
    assert get(0) == pclntab_addr
    put(1, info["pcln_len"])
    put(2, info["pcln_len"])
    put(4, info["nfunc"] + 1)
    put(5, info["nfunc"] + 1)
    put(6, pclntab_addr + info["files_at"])
    put(7, info["nfiles"])
    put(8, info["nfiles"])
    assert get(28) <= 1
    put(28, 0)
    return bytes(md)


def patch_moduledata(md, e, info, pclntab_addr, tsm_word):
    """ftab is at word 16 from Go 1.16 on; textsectmap at tsm_word."""
    md = bytearray(md)
    p, W = info["p"], info["W"]
    put = lambda i, v: struct.pack_into(e + W, md, i * p, v)
    get = lambda i: struct.unpack_from(e + W, md, i * p)[0]
    assert get(0) == pclntab_addr
    put(16, pclntab_addr + info["pclno"])
    put(17, info["nfunc"] + 1)
    put(18, info["nfunc"] + 1)
    assert get(tsm_word + 1) <= 1
    put(tsm_word + 1, 0)  # an empty text section map: one text section
    return bytes(md)


def write_elf(path, machine, is64, e, sections, names=True, phdrs=True):
    """sections: list of (name, addr, data, flags)."""
    ehsize, phentsize, shentsize = (64, 56, 64) if is64 else (52, 32, 40)
    nph = len(sections) if phdrs else 0
    off = ehsize + nph * phentsize
    layout = []
    for name, addr, data, flags in sections:
        while off % 16 != addr % 16:
            off += 1
        layout.append((name, addr, data, flags, off))
        off += len(data)
    shstr = bytearray(b"\0")
    name_off = []
    for name, *_ in layout:
        name_off.append(len(shstr))
        shstr += name.encode() + b"\0"
    name_off.append(len(shstr))
    shstr += b".shstrtab\0"
    shstr_off = off
    off += len(shstr)
    while off % 8:
        off += 1
    shoff = off if names else 0
    nsh = len(layout) + 2 if names else 0
    buf = bytearray()
    ident = b"\x7fELF" + bytes([2 if is64 else 1, 1 if e == "<" else 2, 1, 0]) + b"\0" * 8
    if is64:
        buf += ident + struct.pack(e + "HHIQQQIHHHHHH", 2, machine, 1, layout[0][1],
                                   ehsize if nph else 0, shoff, 0, ehsize, phentsize, nph,
                                   shentsize, nsh, nsh - 1 if names else 0)
    else:
        buf += ident + struct.pack(e + "HHIIIIIHHHHHH", 2, machine, 1, layout[0][1],
                                   ehsize if nph else 0, shoff, 0, ehsize, phentsize, nph,
                                   shentsize, nsh, nsh - 1 if names else 0)
    for name, addr, data, flags, o in layout[:nph]:
        pf = 4 | (2 if flags & 1 else 0) | (1 if flags & 4 else 0)
        if is64:
            buf += struct.pack(e + "IIQQQQQQ", 1, pf, o, addr, addr, len(data), len(data), 16)
        else:
            buf += struct.pack(e + "IIIIIIII", 1, o, addr, addr, len(data), len(data), pf, 16)
    for name, addr, data, flags, o in layout:
        buf += b"\0" * (o - len(buf)) + data
    buf += shstr
    buf += b"\0" * (shoff - len(buf)) if names else b""
    if names:
        def sh(n, typ, flags, addr, o, size):
            if is64:
                return struct.pack(e + "IIQQQQIIQQ", n, typ, flags, addr, o, size, 0, 0, 1, 0)
            return struct.pack(e + "IIIIIIIIII", n, typ, flags, addr, o, size, 0, 0, 1, 0)
        buf += b"\0" * shentsize
        for (name, addr, data, flags, o), no in zip(layout, name_off):
            buf += sh(no, 1, flags, addr, o, len(data))
        buf += sh(name_off[-1], 3, 0, 0, shstr_off, len(shstr))
    with open(path, "wb") as f:
        f.write(buf)
    return len(buf)


MACHO_CPU = {62: 0x01000007, 183: 0x0100000C}  # ELF machine -> Mach-O cputype (64-bit)
MACHO_NAMES = {".text": ("__TEXT", "__text"), ".gopclntab": ("__DATA_CONST", "__gopclntab"),
               ".go.func": ("__DATA_CONST", "__go_func"),
               ".go.buildinfo": ("__DATA", "__go_buildinfo"),
               ".go.module": ("__DATA", "__go_module"), ".noptrdata": ("__DATA", "__noptrdata")}


def macho(cputype, sections):
    """A 64-bit little-endian Mach-O executable: one segment per section, no symbols."""
    n = len(sections)
    cmds_size = n * (72 + 80)
    off = 32 + cmds_size
    cmds = bytearray()
    body = bytearray()
    for name, addr, data, flags in sections:
        seg, sect = MACHO_NAMES.get(name, ("__DATA", name.replace(".", "__")[:16]))
        while (off + len(body)) % 16 != addr % 16:
            body += b"\0"
        at = off + len(body)
        prot = 1 | (2 if flags & 1 else 0) | (4 if flags & 4 else 0)
        cmds += struct.pack("<II16sQQQQIIII", 0x19, 72 + 80, seg.encode(), addr, len(data), at,
                            len(data), prot, prot, 1, 0)
        cmds += struct.pack("<16s16sQQIIIIIIII", sect.encode(), seg.encode(), addr, len(data),
                            at, 4, 0, 0, 0x80000400 if flags & 4 else 0, 0, 0, 0)
        body += data
    head = struct.pack("<IiiIIIII", 0xFEEDFACF, cputype, 3 if cputype == 0x01000007 else 0, 2,
                       n, cmds_size, 0, 0)
    return head + cmds + body


def fat(slices):
    """A universal file holding the thin files `slices` [(cputype, bytes)]."""
    out = bytearray(struct.pack(">II", 0xCAFEBABE, len(slices)))
    off = 8 + 20 * len(slices)
    offs = []
    for cpu, data in slices:
        off = (off + 4095) // 4096 * 4096
        offs.append(off)
        off += len(data)
    for (cpu, data), o in zip(slices, offs):
        out += struct.pack(">iiIII", cpu, 3 if cpu == 0x01000007 else 0, o, len(data), 12)
    for (cpu, data), o in zip(slices, offs):
        out += b"\0" * (o - len(out)) + data
    return bytes(out)


# Moduledata word indices (runtime/symtab.go) of types, etypes, typelinks (itablinks follow, 3
# words on), typedesclen and itaboffset (itabsize follows), by layout: 0 Go 1.8, 1 Go 1.16,
# 2 Go 1.18, 3 Go 1.20, 4 Go 1.26, 5 Go 1.27 (pclntab/src/moduledata.rs).
MD_TYPE_WORDS = {0: (25, 26, 30, None, None), 1: (35, 36, 40, None, None),
                 2: (35, 36, 42, None, None), 3: (37, 38, 44, None, None),
                 4: (37, 38, 45, None, None), 5: (37, 39, None, 38, 40)}


def types_seeds(matrix, out):
    """Seeds of the `types` target (pclntab/src/typedesc/fuzzing.rs): the first 64 KiB of a real
    binary's [types, etypes), the typelinks that land in it, and copies of the itabs whose
    interface and type do, behind the target's 46-byte header."""
    os.makedirs(os.path.join(out, "types"), exist_ok=True)
    made = []
    for rel, tag, minor, layout in [
            ("1.15/linux_386/exe-stripped", "go115-386", 15, 0),
            ("1.19/linux_arm64/exe-stripped", "go119-arm64", 19, 2),
            ("1.21.13/linux_s390x/exe-stripped", "go121-s390x", 21, 3),
            ("1.24.11/linux_amd64/exe-stripped", "go124-amd64", 24, 3),
            ("1.26.6/linux_386/exe-stripped", "go126-386", 26, 4),
            ("1.27.3/linux_amd64/exe-stripped", "go127-amd64", 27, 5),
            ("1.27.3/linux_arm/exe-stripped", "go127-arm", 27, 5)]:
        path = os.path.join(matrix, rel)
        if not os.path.exists(path):
            print("missing", path)
            continue
        data = open(path, "rb").read()
        secs, is64, e, machine = elf_sections(data)
        p = 8 if is64 else 4
        W = "Q" if is64 else "I"
        _, _, md = find_moduledata(secs, e, p)
        word = lambda i: struct.unpack_from(e + W, md, i * p)[0]
        wt, we, wl, wd, wi = MD_TYPE_WORDS[layout]
        types, etypes = word(wt), word(we)
        img = [(s["addr"], s["data"]) for s in secs.values() if s["data"]]

        def at_addr(a, n):
            for base, d in img:
                if base <= a and a + n <= base + len(d):
                    return d[a - base:a - base + n]
            raise KeyError(hex(a))

        cut = min(etypes - types, 60000)
        region = at_addr(types, cut)
        links, itabs = [], []
        typedesclen = itaboffset = itabsize = 0
        if wl is not None:
            tl, ntl = word(wl), word(wl + 1)
            for k in range(ntl):
                off, = struct.unpack_from(e + "i", at_addr(tl + 4 * k, 4), 0)
                if 0 < off < cut - 64 and len(links) < 200:
                    links.append(off)
            il, nil = word(wl + 3), word(wl + 4)
            for k in range(nil):
                a, = struct.unpack_from(e + W, at_addr(il + p * k, p), 0)
                itab = at_addr(a, 2 * p + 8 + p)
                inter, typ = struct.unpack_from(e + W * 2, itab, 0)
                if inter < types + cut - 64 and typ < types + cut - 64 and len(itabs) < 20:
                    itabs.append(itab)
        else:
            typedesclen = min(word(wd), cut)
        tables = b"".join(struct.pack(e + "i", o) for o in links)
        tail_at = types + cut + 4 * len(links) + p * len(itabs)
        slot = 2 * p + 8 + p
        tables += b"".join(struct.pack(e + W, tail_at + slot * k) for k in range(len(itabs)))
        tables += b"".join(itabs)
        flags = (minor - 15) | (0 if is64 else 0x10) | (0x20 if e == ">" else 0)
        text = secs[".text"]
        header = struct.pack("<BBHHIIIIQQQ", flags, layout, len(links), len(itabs), typedesclen,
                             itaboffset, itabsize, cut, types, text["addr"],
                             text["addr"] + text["size"])
        assert len(header) == 46
        blob = header + region + tables
        with open(os.path.join(out, "types", tag), "wb") as f:
            f.write(blob)
        made.append(("types", tag, len(blob)))
    return made


def main():
    matrix, out = sys.argv[1], sys.argv[2]
    for d in ("parse", "list", "lookup", "buildinfo", "disasm", "arginfo"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    made = []
    thins = []
    # (binary, seed name, moduledata word of gofunc, of textsectmap)
    for rel, tag, gofunc_word, tsm_word in [
            ("1.27.3/linux_amd64/exe-stripped", "go127-amd64", 43, 45),
            ("1.27.3/linux_arm/exe-stripped", "go127-arm", 43, 45),
            ("1.27.3/linux_arm64/pie-stripped", "go127-arm64-pie", 43, 45),
            ("1.26.6/linux_386/exe-stripped", "go126-386", 40, 42),
            ("1.21.13/linux_amd64/exe-stripped", "go121-amd64", 40, 41),
            ("1.19/linux_arm64/exe-stripped", "go119-arm64", 38, 39),
            ("1.15/linux_amd64/exe-stripped", "go115-amd64", None, None),
            ("1.15/linux_386/exe-stripped", "go115-386", None, None)]:
        maxf = 40
        path = os.path.join(matrix, rel)
        if not os.path.exists(path):
            print("missing", path)
            continue
        data = open(path, "rb").read()
        secs, is64, e, machine = elf_sections(data)
        pcln_addr = secs[".gopclntab"]["addr"]
        if gofunc_word is None:
            pcln, gofunc, info = repack_go12(secs, e, b"main.", maxf)
            md_name, md_addr, md = find_moduledata(secs, e, info["p"])
            md = patch_moduledata_go18(md, e, info, pcln_addr)
        else:
            pcln, gofunc, info = repack(secs, e, b"main.", maxf, gofunc_word)
            md_name, md_addr, md = find_moduledata(secs, e, info["p"])
            md = patch_moduledata(md, e, info, pcln_addr, tsm_word)
        # arginfo: the FUNCDATA_ArgInfo streams of a few functions.
        for name, blob in info.get("arginfos", [])[:6] if tag in ("go127-amd64", "go121-amd64",
                                                                     "go127-arm") else []:
            fn = f"{tag}-{name.replace('main.', '').replace('.', '-')}"
            fn = "".join(c if c.isalnum() or c in "-_" else "_" for c in fn)
            with open(os.path.join(out, "arginfo", fn), "wb") as f:
                f.write(blob)
            made.append(("arginfo", fn, len(blob)))
        text = secs[".text"]
        code = text["data"][info["first"] - text["addr"]:info["end"] - text["addr"]]
        bi = secs[".go.buildinfo"]
        sections = [(".text", info["first"], code, 2 | 4),
                    (".gopclntab", pcln_addr, pcln, 2),
                    (".go.func", gofunc[0], gofunc[1], 2),
                    (".go.buildinfo", bi["addr"], bi["data"], 3),
                    (md_name, md_addr, md, 3)]
        made.append(("parse", tag, write_elf(os.path.join(out, "parse", tag), machine, is64,
                                             e, sections)))
        # The same without the code (smaller, for list and lookup).
        for t in ("list", "lookup"):
            made.append((t, tag, write_elf(os.path.join(out, t, tag), machine, is64, e,
                                           sections[1:])))
        # The same tables in a PE file (objcopy, when it can write one) and a Mach-O file.
        pe = {62: "pei-x86-64", 3: "pei-i386"}.get(machine)
        if pe and tag in ("go127-amd64", "go115-386"):
            elf = os.path.join(out, "list", tag)
            dst = os.path.join(out, "parse", tag + "-pe")
            if subprocess.run(["objcopy", "-O", pe, elf, dst]).returncode == 0:
                made.append(("parse", tag + "-pe", os.path.getsize(dst)))
        if machine in MACHO_CPU and tag in ("go127-amd64", "go127-arm64-pie"):
            thin = macho(MACHO_CPU[machine], sections)
            with open(os.path.join(out, "parse", tag + "-macho"), "wb") as f:
                f.write(thin)
            made.append(("parse", tag + "-macho", len(thin)))
            thins.append((MACHO_CPU[machine], macho(MACHO_CPU[machine], sections[1:])))
        # lookup reads PCs from the last 64 bytes: offsets from the first function, into the
        # larger functions (main.main has inlined calls).
        pcs = b"".join(struct.pack("<Q", o) for o in
                       (0x2, 0x840, 0xc00, 0x1300, 0x2000, 0x28f0, 0x3b00, 0x3ce0))
        for t in ("lookup",):
            with open(os.path.join(out, t, tag), "ab") as f:
                f.write(pcs)
        # Found by scanning: no section names to go by.
        renamed = [(n.replace(".go", ".xx"), *rest) for n, *rest in sections[1:]]
        made.append(("lookup", tag + "-scan", write_elf(os.path.join(out, "lookup", tag + "-scan"),
                                                        machine, is64, e, renamed)))
        made.append(("parse", tag + "-nosections",
                      write_elf(os.path.join(out, "parse", tag + "-nosections"), machine, is64,
                                e, sections[1:], names=False)))
        made.append(("buildinfo", tag, write_elf(os.path.join(out, "buildinfo", tag), machine,
                                                 is64, e, [sections[3]])))
        made.append(("buildinfo", tag + "-nosections",
                     write_elf(os.path.join(out, "buildinfo", tag + "-nosections"), machine,
                               is64, e, [sections[3]], names=False)))
        # disasm: selector byte, entry, code of a few functions.
        arch = {62: 0, 3: 1, 183: 2, 40: 3}[machine]
        nm = os.path.join(matrix, rel.replace("-stripped", "") + ".nm")
        funcs = []
        for line in open(nm):
            f = line.split()
            if len(f) == 4 and f[2] in "Tt" and f[3].startswith("main."):
                funcs.append((int(f[0], 16), int(f[1]), f[3]))
        for addr, size, name in funcs:
            if name in ("main.fib", "main.safeDiv", "main.worker", "main.describe", "main.mix",
                        "main.safeDiv.func1", "main.fanOut.gowrap1"):
                o = addr - text["addr"]
                if 0 <= o and o + size <= len(text["data"]):
                    # The register ABI: amd64 from Go 1.17, arm64 from 1.18.
                    regabi = 4 if arch in (0, 2) and not tag.startswith("go115") else 0
                    blob = bytes([arch | regabi]) + struct.pack("<Q", addr) + text["data"][o:o + size]
                    fn = f"{tag}-{name.replace('main.', '').replace('.', '-')}"
                    with open(os.path.join(out, "disasm", fn), "wb") as f:
                        f.write(blob)
                    made.append(("disasm", fn, len(blob)))
    if len(thins) == 2:
        universal = fat(thins)
        with open(os.path.join(out, "parse", "go127-fat-macho"), "wb") as f:
            f.write(universal)
        made.append(("parse", "go127-fat-macho", len(universal)))
    # arginfo: streams with aggregates, far leaves and elisions, as the unit tests write them.
    for fn, blob in [
            ("nested", bytes([0x00, 0x08, 0xfe, 0x08, 0x08, 0x10, 0x08, 0xfd, 0xfe, 0x18, 0x04,
                              0xfe, 0x1c, 0x01, 0x1d, 0x01, 0xfd, 0xfd, 0xff])),
            ("far-elided", bytes([0xfb, 0xfc, 0xff])),
            ("ten-args", bytes(sum(([8 * k, 8] for k in range(10)), []) + [0xfc, 0xff])),
            ("deep", bytes([0xfe] * 6 + [0x00, 0x01] + [0xfd] * 6 + [0xff]))]:
        with open(os.path.join(out, "arginfo", fn), "wb") as f:
            f.write(blob)
        made.append(("arginfo", fn, len(blob)))
    # signature: the test program's signatures, one a file.
    here = os.path.dirname(os.path.abspath(__file__))
    sigs = os.path.join(here, "..", "testdata", "params", "signatures.txt")
    os.makedirs(os.path.join(out, "signature"), exist_ok=True)
    for k, line in enumerate(open(sigs)):
        line = line.strip()
        if line and not line.startswith("#"):
            with open(os.path.join(out, "signature", f"params-{k:02}"), "w") as f:
                f.write(line)
            made.append(("signature", f"params-{k:02}", len(line)))
    extra = [
        "main.(*Stack[...]).Pop(s *main.Stack) (int, bool)",
        "net/http.(*conn).serve(c *net/http.conn, ctx interface { Deadline() (uintptr, bool); Done() chan struct {} })",
        "main.F(a [4][2]complex64, m map[[2]string]*[]int, c <-chan error, d chan<- []byte) (r func(int, string) (bool, error))",
        "main.G(x struct { a, b int8; _ [3]byte; f float32 }, y unsafe.Pointer, z uint8) (n int, err error)",
        "main.V(format string, args ...any) int",
    ]
    for k, line in enumerate(extra):
        with open(os.path.join(out, "signature", f"extra-{k}"), "w") as f:
            f.write(line)
        made.append(("signature", f"extra-{k}", len(line)))
    made += types_seeds(matrix, out)
    for m in made:
        print(*m)


if __name__ == "__main__":
    main()
