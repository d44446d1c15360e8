//! The JSON shapes of `list`, `info` and `lookup`, and the text form of `info`.
//! README.md documents every field; change both together.

use pclntab::{Frame, Function, GoBinary, Location};
use serde::Serialize;
use std::io::{self, Write};
use std::path::Path;

/// One line of `gosyms list --json`.
#[derive(Serialize)]
pub struct ListEntry<'a> {
    name: &'a str,
    entry: u64,
    end: u64,
    size: u64,
    package: &'a str,
    kind: &'static str,
    file: Option<&'a str>,
    line: Option<i32>,
    args_bytes: Option<u32>,
    frame_bytes: i32,
}

impl<'a> ListEntry<'a> {
    pub fn new(f: &'a Function<'_>) -> Self {
        ListEntry {
            name: &f.name,
            entry: f.entry.0,
            end: f.end.0,
            size: f.size(),
            package: &f.package,
            kind: f.kind.name(),
            file: f.file.as_deref(),
            line: f.line,
            args_bytes: f.args_size,
            frame_bytes: f.frame_size,
        }
    }
}

#[derive(Serialize)]
struct FrameEntry<'a> {
    function: &'a str,
    file: Option<&'a str>,
    line: Option<i32>,
    inlined: bool,
}

/// One line of `gosyms lookup --json`.
#[derive(Serialize)]
pub struct LookupEntry<'a> {
    addr: u64,
    function: Option<&'a str>,
    entry: Option<u64>,
    offset: Option<u64>,
    file: Option<&'a str>,
    line: Option<i32>,
    frames: Vec<FrameEntry<'a>>,
}

impl<'a> LookupEntry<'a> {
    pub fn new(addr: u64, loc: Option<&'a Location<'_>>) -> Self {
        let frame = |f: &'a Frame<'_>| FrameEntry {
            function: &f.function,
            file: f.file.as_deref(),
            line: f.line,
            inlined: f.inlined,
        };
        let here = loc.and_then(|l| l.frames.first());
        LookupEntry {
            addr,
            function: loc.map(|l| l.function.name.as_ref()),
            entry: loc.map(|l| l.function.entry.0),
            offset: loc.map(|l| l.offset),
            file: here.and_then(|h| h.file.as_deref()),
            line: here.and_then(|h| h.line),
            frames: loc
                .map(|l| l.frames.iter().map(frame).collect())
                .unwrap_or_default(),
        }
    }
}

#[derive(Serialize)]
struct PclntabInfo {
    version: &'static str,
    vaddr: u64,
    offset: u64,
    size: Option<u64>,
    found_by: &'static str,
}

#[derive(Serialize)]
struct ModuleDataInfo {
    vaddr: u64,
    layout: &'static str,
    text_sections: usize,
}

#[derive(Serialize)]
struct ModuleInfo {
    path: String,
    version: String,
    sum: String,
    replace: Option<Box<ModuleInfo>>,
}

impl From<&pclntab::Module> for ModuleInfo {
    fn from(m: &pclntab::Module) -> Self {
        ModuleInfo {
            path: m.path.clone(),
            version: m.version.clone(),
            sum: m.sum.clone(),
            replace: m.replace.as_deref().map(|r| Box::new(ModuleInfo::from(r))),
        }
    }
}

#[derive(Serialize)]
struct BuildInfoOut {
    path: Option<String>,
    main: Option<ModuleInfo>,
    deps: Vec<ModuleInfo>,
    settings: serde_json::Map<String, serde_json::Value>,
}

/// `gosyms info`.
#[derive(Serialize)]
pub struct Info {
    path: String,
    format: &'static str,
    os: Option<String>,
    arch: &'static str,
    byte_order: &'static str,
    ptr_size: u8,
    go_version: Option<String>,
    go_version_source: Option<&'static str>,
    pclntab: PclntabInfo,
    moduledata: Option<ModuleDataInfo>,
    text_start: u64,
    functions: usize,
    files: u64,
    stripped: bool,
    pie: bool,
    cgo: bool,
    dwarf: bool,
    other_arches: Vec<&'static str>,
    build_info: Option<BuildInfoOut>,
    build_info_error: Option<String>,
}

impl Info {
    pub fn new(path: &Path, bin: &GoBinary<'_>) -> pclntab::Result<Self> {
        let c = &bin.container;
        let t = &bin.table;
        // Found by its section, the table's bytes are the section's; otherwise its end is not
        // recorded anywhere.
        let size = (bin.found_by == pclntab::FoundBy::Section).then(|| t.reader().len());
        let text_start = match &bin.moduledata {
            Some(md) => md.text,
            None if t.text.start != 0 => t.text.start,
            None => t.entry(0)?.0,
        };
        Ok(Info {
            path: path.display().to_string(),
            format: c.format.name(),
            os: bin.os().map(str::to_string),
            arch: c.arch,
            byte_order: t.header.endian.name(),
            ptr_size: c.ptr_size,
            go_version: bin.go_version().map(str::to_string),
            go_version_source: bin.go_version_source().map(pclntab::VersionSource::name),
            pclntab: PclntabInfo {
                version: t.header.version.name(),
                vaddr: t.vaddr.0,
                offset: t.reader().base(),
                size,
                found_by: bin.found_by.name(),
            },
            moduledata: bin.moduledata.as_ref().map(|m| ModuleDataInfo {
                vaddr: m.vaddr.0,
                layout: m.layout.name(),
                text_sections: m.textsectmap.len(),
            }),
            text_start,
            functions: t.len(),
            files: t.header.nfiles,
            stripped: c.stripped,
            pie: c.pie,
            cgo: bin.cgo()?,
            dwarf: c.has_dwarf,
            other_arches: c.other_arches.clone(),
            build_info: bin.build_info.as_ref().map(|b| BuildInfoOut {
                path: b.path.clone(),
                main: b.main.as_ref().map(ModuleInfo::from),
                deps: b.deps.iter().map(ModuleInfo::from).collect(),
                settings: b
                    .settings
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                    .collect(),
            }),
            build_info_error: bin.build_info_error.as_ref().map(|e| e.to_string()),
        })
    }

    pub fn write_text(&self, out: &mut impl Write) -> io::Result<()> {
        let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "unknown".into());
        writeln!(out, "path:        {}", self.path)?;
        writeln!(
            out,
            "format:      {} {}-endian, {}-bit",
            self.format,
            self.byte_order,
            u32::from(self.ptr_size) * 8
        )?;
        writeln!(out, "os/arch:     {}/{}", opt(&self.os), self.arch)?;
        if !self.other_arches.is_empty() {
            writeln!(
                out,
                "also has:    {} (choose with --arch)",
                self.other_arches.join(", ")
            )?;
        }
        match self.go_version_source {
            Some(source) => writeln!(out, "go version:  {} ({source})", opt(&self.go_version))?,
            None => writeln!(out, "go version:  unknown")?,
        }
        let p = &self.pclntab;
        let size = p.size.map(|s| format!(", {s} bytes")).unwrap_or_default();
        writeln!(
            out,
            "pclntab:     Go {} layout at {:#x} (file offset {:#x}{size}), found by {}",
            p.version, p.vaddr, p.offset, p.found_by
        )?;
        match &self.moduledata {
            Some(m) => writeln!(
                out,
                "moduledata:  {:#x} (Go {} layout, {})",
                m.vaddr,
                m.layout,
                crate::trace::count(m.text_sections, "text section", "text sections")
            )?,
            None => writeln!(out, "moduledata:  not found")?,
        }
        writeln!(out, "text start:  {:#x}", self.text_start)?;
        writeln!(out, "functions:   {}", self.functions)?;
        writeln!(out, "files:       {}", self.files)?;
        let yn = |b: bool| if b { "yes" } else { "no" };
        writeln!(out, "stripped:    {}", yn(self.stripped))?;
        writeln!(out, "pie:         {}", yn(self.pie))?;
        writeln!(out, "cgo:         {}", yn(self.cgo))?;
        writeln!(out, "dwarf:       {}", yn(self.dwarf))?;
        if let Some(e) = &self.build_info_error {
            writeln!(out, "build info:  unreadable: {e}")?;
        }
        if let Some(b) = &self.build_info {
            if let Some(path) = &b.path {
                writeln!(out, "path:        {path}")?;
            }
            if let Some(m) = &b.main {
                writeln!(out, "module:      {} {} {}", m.path, m.version, m.sum)?;
            }
            for d in &b.deps {
                writeln!(out, "dep:         {} {} {}", d.path, d.version, d.sum)?;
                if let Some(r) = &d.replace {
                    writeln!(out, "  =>         {} {} {}", r.path, r.version, r.sum)?;
                }
            }
            for (k, v) in &b.settings {
                writeln!(out, "build:       {k}={}", v.as_str().unwrap_or(""))?;
            }
        }
        Ok(())
    }
}

/// One line of `gosyms resolve --json`.
#[derive(Serialize)]
pub struct PlanEntry<'a> {
    function: &'a str,
    entry: SiteEntry,
    end: u64,
    entry_probe: SiteEntry,
    returns: Vec<SiteEntry>,
    returns_unsupported: Option<&'a str>,
    tail_calls: &'a [u64],
    indirect_jumps: &'a [u64],
    abi: &'static str,
    layout_source: Option<&'static str>,
    args: Option<Vec<ValueEntry<'a>>>,
    results: Option<Vec<ValueEntry<'a>>>,
    goid: GoidEntry,
    notes: &'a [String],
}

#[derive(Serialize)]
struct SiteEntry {
    vaddr: u64,
    file_offset: u64,
}

impl From<&resolver::Site> for SiteEntry {
    fn from(s: &resolver::Site) -> Self {
        SiteEntry {
            vaddr: s.vaddr,
            file_offset: s.file_offset,
        }
    }
}

#[derive(Serialize)]
struct ValueEntry<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    ty: String,
    size: u64,
    pieces: Vec<PieceEntry<'a>>,
}

#[derive(Serialize)]
struct PieceEntry<'a> {
    path: &'a str,
    size: u64,
    kind: &'static str,
    /// "reg", "freg" or "stack".
    location: &'static str,
    reg: Option<&'static str>,
    stack_offset: Option<u64>,
    readable: bool,
}

#[derive(Serialize)]
struct GoidEntry {
    g_register: Option<&'static str>,
    offset: Option<u64>,
    offset_source: Option<&'static str>,
}

fn values(v: &[resolver::abi::ValueLayout]) -> Vec<ValueEntry<'_>> {
    use resolver::abi::Location;
    v.iter()
        .map(|v| ValueEntry {
            name: &v.name,
            ty: v.ty.to_string(),
            size: v.size,
            pieces: v
                .pieces
                .iter()
                .map(|p| {
                    let (location, reg, stack_offset) = match &p.location {
                        Location::IntReg(r) => ("reg", Some(*r), None),
                        Location::FloatReg(r) => ("freg", Some(*r), None),
                        Location::Stack(o) => ("stack", None, Some(*o)),
                        Location::Unknown => ("unknown", None, None),
                    };
                    PieceEntry {
                        path: &p.path,
                        size: p.size,
                        kind: p.kind.name(),
                        location,
                        reg,
                        stack_offset,
                        readable: p.location.readable(),
                    }
                })
                .collect(),
        })
        .collect()
}

impl<'a> PlanEntry<'a> {
    pub fn new(p: &'a resolver::Plan) -> Self {
        PlanEntry {
            function: &p.function,
            entry: (&p.entry).into(),
            end: p.end,
            entry_probe: (&p.entry_probe).into(),
            returns: p.returns.iter().map(SiteEntry::from).collect(),
            returns_unsupported: p.returns_unsupported.as_deref(),
            tail_calls: &p.tail_calls,
            indirect_jumps: &p.indirect_jumps,
            abi: p.abi.name(),
            layout_source: p.layout_source.map(|s| s.name()),
            args: p.layout.as_ref().map(|l| values(&l.args)),
            results: p.layout.as_ref().map(|l| values(&l.results)),
            goid: GoidEntry {
                g_register: p.goid.g_register,
                offset: p.goid.offset,
                offset_source: p.goid.offset_source,
            },
            notes: &p.notes,
        }
    }
}

/// The text form of a plan.
pub fn write_plan(out: &mut impl Write, p: &resolver::Plan) -> io::Result<()> {
    use resolver::abi::Location;
    writeln!(out, "{}", p.function)?;
    writeln!(
        out,
        "  entry      {:#x} (file offset {:#x})",
        p.entry.vaddr, p.entry.file_offset
    )?;
    writeln!(
        out,
        "  probe      {:#x} (file offset {:#x}){}",
        p.entry_probe.vaddr,
        p.entry_probe.file_offset,
        if p.entry_probe == p.entry {
            ""
        } else {
            ", past the stack check"
        }
    )?;
    match &p.returns_unsupported {
        Some(why) => writeln!(out, "  returns    {why}")?,
        None => {
            let sites: Vec<String> = p
                .returns
                .iter()
                .map(|s| format!("{:#x} (file offset {:#x})", s.vaddr, s.file_offset))
                .collect();
            writeln!(
                out,
                "  returns    {}",
                if sites.is_empty() {
                    "none".to_string()
                } else {
                    sites.join(", ")
                }
            )?;
        }
    }
    if !p.tail_calls.is_empty() {
        let t: Vec<String> = p.tail_calls.iter().map(|a| format!("{a:#x}")).collect();
        writeln!(out, "  tail calls {}", t.join(", "))?;
    }
    if !p.indirect_jumps.is_empty() {
        let t: Vec<String> = p.indirect_jumps.iter().map(|a| format!("{a:#x}")).collect();
        writeln!(
            out,
            "  indirect   {} (jump tables or tail calls)",
            t.join(", ")
        )?;
    }
    writeln!(out, "  abi        {}", p.abi.name())?;
    if let Some(l) = &p.layout {
        let src = p.layout_source.map(|s| s.name()).unwrap_or("?");
        for (what, vals) in [("arg", &l.args), ("result", &l.results)] {
            for v in vals.iter() {
                let locs: Vec<String> = v
                    .pieces
                    .iter()
                    .map(|pc| {
                        let loc = match &pc.location {
                            Location::IntReg(r) => r.to_string(),
                            Location::FloatReg(r) => format!("{r} (unreadable)"),
                            Location::Stack(o) => format!("sp+{o:#x}"),
                            Location::Unknown => "unknown register".to_string(),
                        };
                        if pc.path.is_empty() {
                            loc
                        } else {
                            format!("{}={loc}", pc.path)
                        }
                    })
                    .collect();
                writeln!(
                    out,
                    "  {what:<10} {} {} ({} bytes, {src}): {}",
                    v.name,
                    v.ty,
                    v.size,
                    locs.join(" ")
                )?;
            }
        }
    }
    let g = &p.goid;
    let reg = g
        .g_register
        .map(|r| format!("g in {r}"))
        .unwrap_or_else(|| "g in thread-local storage".into());
    let off = match (g.offset, g.offset_source) {
        (Some(o), Some(src)) => format!("goid at g+{o} ({src})"),
        _ => "goid offset unknown".into(),
    };
    writeln!(out, "  goroutine  {reg}, {off}")?;
    for n in &p.notes {
        writeln!(out, "  note       {n}")?;
    }
    Ok(())
}
