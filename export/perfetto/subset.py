#!/usr/bin/env python3
"""Cuts the part of Perfetto's trace format that gosyms writes out of Perfetto's own definitions.

The source is `protos/perfetto/trace/perfetto_trace.proto` (every trace message in one file) as
compiled into the PyPI package `perfetto` (pinned below; its license is ./LICENSE). The messages
and fields listed in KEEP are copied with their numbers, types, labels and oneofs unchanged;
everything else is left out, which protobuf allows: a reader with the full definitions decodes
the subset's bytes, and the subset's reader skips the fields it does not know.

  subset.py --proto          prints the subset as a .proto file (committed as
                             perfetto_trace_subset.proto, for reading)
  subset.py --fds FILE       writes it as a serialized FileDescriptorSet, which prost-build turns
                             into export/src/perfetto/protos.rs (tests/tests/perfetto.rs checks
                             that both committed files are what this script and prost-build make)

Needs the `perfetto` and `protobuf` Python packages (test.sh installs them into a venv).
"""
import sys

from google.protobuf import descriptor_pb2
import perfetto
from perfetto.protos.perfetto.trace import perfetto_trace_pb2

PERFETTO_VERSION = "0.59.1"

# Message (or nested enum) name -> the fields kept. An enum listed here is kept whole.
KEEP = {
    "Trace": ["packet"],
    "TracePacket": [
        "timestamp",
        "timestamp_clock_id",
        "clock_snapshot",
        "track_event",
        "track_descriptor",
        "interned_data",
        "sequence_flags",
        "trusted_packet_sequence_id",
    ],
    "TracePacket.SequenceFlags": None,
    "TrackEvent": ["type", "track_uuid", "name_iid", "name", "debug_annotations"],
    "TrackEvent.Type": None,
    "DebugAnnotation": [
        "name_iid",
        "name",
        "bool_value",
        "uint_value",
        "int_value",
        "double_value",
        "string_value",
        "legacy_json_value",
        "dict_entries",
        "array_values",
    ],
    "TrackDescriptor": [
        "uuid",
        "parent_uuid",
        "name",
        "description",
        "process",
        "child_ordering",
        "sibling_order_rank",
    ],
    "TrackDescriptor.ChildTracksOrdering": None,
    "ProcessDescriptor": ["pid", "cmdline", "process_name"],
    "ClockSnapshot": ["clocks", "primary_trace_clock"],
    "ClockSnapshot.Clock": ["clock_id", "timestamp"],
    "BuiltinClock": None,
    "InternedData": ["event_names", "debug_annotation_names"],
    "EventName": ["iid", "name"],
    "DebugAnnotationName": ["iid", "name"],
}


def source():
    fdp = descriptor_pb2.FileDescriptorProto()
    perfetto_trace_pb2.DESCRIPTOR.CopyToProto(fdp)
    return fdp


def cut_message(msg, prefix):
    name = prefix + msg.name
    keep = KEEP[name]
    out = descriptor_pb2.DescriptorProto()
    out.name = msg.name
    missing = set(keep) - {f.name for f in msg.field}
    if missing:
        sys.exit(f"subset.py: {name} has no field {sorted(missing)} in perfetto {PERFETTO_VERSION}")
    used_oneofs = sorted({f.oneof_index for f in msg.field if f.name in keep and f.HasField("oneof_index")})
    for i in used_oneofs:
        out.oneof_decl.add().CopyFrom(msg.oneof_decl[i])
    for f in msg.field:
        if f.name in keep:
            g = out.field.add()
            g.CopyFrom(f)
            g.ClearField("json_name")
            if f.HasField("oneof_index"):
                g.oneof_index = used_oneofs.index(f.oneof_index)
    for n in msg.nested_type:
        if name + "." + n.name in KEEP:
            out.nested_type.add().CopyFrom(cut_message(n, name + "."))
    for e in msg.enum_type:
        if name + "." + e.name in KEEP:
            out.enum_type.add().CopyFrom(e)
    return out


def subset():
    src = source()
    out = descriptor_pb2.FileDescriptorProto()
    out.name = "perfetto_trace_subset.proto"
    out.package = src.package
    out.syntax = src.syntax or "proto2"
    found = set()
    for m in src.message_type:
        if m.name in KEEP:
            out.message_type.add().CopyFrom(cut_message(m, ""))
            found.add(m.name)
    for e in src.enum_type:
        if e.name in KEEP:
            out.enum_type.add().CopyFrom(e)
            found.add(e.name)
    top = {k for k in KEEP if "." not in k}
    if top - found:
        sys.exit(f"subset.py: perfetto {PERFETTO_VERSION} has no {sorted(top - found)}")
    return out


LABELS = {1: "optional", 2: "required", 3: "repeated"}
TYPES = {
    1: "double", 2: "float", 3: "int64", 4: "uint64", 5: "int32", 6: "fixed64", 7: "fixed32",
    8: "bool", 9: "string", 12: "bytes", 13: "uint32", 15: "sfixed32", 16: "sfixed64",
    17: "sint32", 18: "sint64",
}


def field_text(f, in_oneof):
    ty = f.type_name if f.type_name else TYPES[f.type]
    opts = []
    if f.options.HasField("packed"):
        opts.append(f"packed = {'true' if f.options.packed else 'false'}")
    if f.HasField("default_value"):
        opts.append(f"default = {f.default_value}")
    tail = f" [{', '.join(opts)}]" if opts else ""
    label = "" if in_oneof else LABELS[f.label] + " "
    return f"{label}{ty} {f.name} = {f.number}{tail};"


def enum_text(e, indent):
    pad = "  " * indent
    lines = [f"{pad}enum {e.name} {{"]
    lines += [f"{pad}  {v.name} = {v.number};" for v in e.value]
    lines.append(f"{pad}}}")
    return lines


def message_text(m, indent):
    pad = "  " * indent
    lines = [f"{pad}message {m.name} {{"]
    for e in m.enum_type:
        lines += enum_text(e, indent + 1)
    for n in m.nested_type:
        lines += message_text(n, indent + 1)
    done = set()
    for f in m.field:
        if f.HasField("oneof_index"):
            i = f.oneof_index
            if i in done:
                continue
            done.add(i)
            lines.append(f"{pad}  oneof {m.oneof_decl[i].name} {{")
            for g in m.field:
                if g.HasField("oneof_index") and g.oneof_index == i:
                    lines.append(f"{pad}    {field_text(g, True)}")
            lines.append(f"{pad}  }}")
        else:
            lines.append(f"{pad}  {field_text(f, False)}")
    lines.append(f"{pad}}}")
    return lines


def proto_text(fdp):
    lines = [
        "// Generated by export/perfetto/subset.py from Perfetto's protos/perfetto/trace/perfetto_trace.proto",
        f"// as shipped in the PyPI package perfetto=={PERFETTO_VERSION}: only the messages and fields gosyms",
        "// writes, with their numbers, types and oneofs unchanged. Do not edit.",
        "//",
        "// Copyright (C) The Android Open Source Project. Licensed under the Apache License, Version 2.0",
        "// (see LICENSE beside this file).",
        "",
        f'syntax = "{fdp.syntax}";',
        "",
        f"package {fdp.package};",
    ]
    for e in fdp.enum_type:
        lines.append("")
        lines += enum_text(e, 0)
    for m in fdp.message_type:
        lines.append("")
        lines += message_text(m, 0)
    return "\n".join(lines) + "\n"


def main():
    if perfetto_version() != PERFETTO_VERSION:
        sys.exit(f"subset.py: needs perfetto=={PERFETTO_VERSION}, found {perfetto_version()}")
    fdp = subset()
    if sys.argv[1:] == ["--proto"]:
        sys.stdout.write(proto_text(fdp))
    elif len(sys.argv) == 3 and sys.argv[1] == "--fds":
        fds = descriptor_pb2.FileDescriptorSet()
        fds.file.add().CopyFrom(fdp)
        with open(sys.argv[2], "wb") as f:
            f.write(fds.SerializeToString(deterministic=True))
    else:
        sys.exit(__doc__)


def perfetto_version():
    from importlib.metadata import version

    return version("perfetto")


if __name__ == "__main__":
    main()
