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
        let size = match bin.found_by {
            pclntab::FoundBy::Section => c
                .section(&[".gopclntab", "__gopclntab", ".data.rel.ro.gopclntab"])
                .map(|s| s.size),
            _ => None,
        };
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
        writeln!(out, "go version:  {}", opt(&self.go_version))?;
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
                "moduledata:  {:#x} (Go {} layout, {} text section(s))",
                m.vaddr, m.layout, m.text_sections
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
