#!/usr/bin/env python3
"""Reads a Perfetto trace with Perfetto's own definitions and prints its slices as JSON.

The definitions are those of the PyPI package `perfetto` (perfetto_trace_pb2, compiled from
Perfetto's protos/perfetto/trace/perfetto_trace.proto), decoded by the `protobuf` package: no
gosyms code is involved. While reading it checks what Perfetto's trace processor relies on,
and exits with status 1 naming the first packet that breaks a rule:

- every packet is on a trusted sequence (trusted_packet_sequence_id set, non-zero);
- the first packet clears the sequence's incremental state and is a ClockSnapshot whose
  primary trace clock is one of its clocks; every packet with a timestamp names that clock;
- a packet that uses interned names says so (SEQ_NEEDS_INCREMENTAL_STATE), and every name_iid
  was defined (InternedData) in this or an earlier packet, once;
- every track event's track was described before (TrackDescriptor), process tracks carry a
  ProcessDescriptor, and goroutine tracks name an already described parent;
- on each track, timestamps never go back, and every TYPE_SLICE_END closes an open slice.

Output: {"packets": N, "tracks": {uuid: {"name", "parent", "pid"}}, "slices": [{"name",
"track", "parent" (index of the enclosing slice on the track, or null), "ts", "dur", "args",
"ret", "tid", "incomplete"}]} with annotations decoded to plain JSON values.

Usage: perfetto_slices.py TRACE
"""
import json
import sys

from perfetto.protos.perfetto.trace import perfetto_trace_pb2 as pb


def fail(i, why):
    sys.exit(f"perfetto_slices.py: packet {i}: {why}")


def value(a, names, i):
    """A DebugAnnotation's value as JSON."""
    kind = a.WhichOneof("value")
    if a.dict_entries:
        return {name(e, names, i): value(e, names, i) for e in a.dict_entries}
    if a.array_values:
        return [value(e, names, i) for e in a.array_values]
    if kind is None:
        return {}
    if kind == "legacy_json_value":
        return json.loads(a.legacy_json_value)
    return getattr(a, kind)


def name(a, names, i):
    kind = a.WhichOneof("name_field")
    if kind == "name_iid":
        if a.name_iid not in names:
            fail(i, f"debug annotation name_iid {a.name_iid} was never defined")
        return names[a.name_iid]
    if kind == "name":
        return a.name
    fail(i, "debug annotation without a name")


def main():
    data = open(sys.argv[1], "rb").read()
    trace = pb.Trace()
    trace.ParseFromString(data)
    if not trace.packet:
        sys.exit("perfetto_slices.py: no packets")
    event_names, annotation_names = {}, {}
    tracks, open_slices, last_ts = {}, {}, {}
    slices = []
    primary = None
    for i, p in enumerate(trace.packet):
        if not p.HasField("trusted_packet_sequence_id") or p.trusted_packet_sequence_id == 0:
            fail(i, "no trusted_packet_sequence_id")
        if i == 0:
            if not p.sequence_flags & pb.TracePacket.SEQ_INCREMENTAL_STATE_CLEARED:
                fail(i, "the first packet does not clear the incremental state")
            if not p.HasField("clock_snapshot"):
                fail(i, "the first packet is not a ClockSnapshot")
            primary = p.clock_snapshot.primary_trace_clock
            ids = [c.clock_id for c in p.clock_snapshot.clocks]
            if primary not in ids or len(set(ids)) < 2:
                fail(i, f"primary clock {primary} not among the snapshot's clocks {ids}")
            continue
        if p.HasField("timestamp") and p.timestamp_clock_id != primary:
            fail(i, f"timestamp on clock {p.timestamp_clock_id}, the trace's clock is {primary}")
        if p.HasField("interned_data"):
            if not p.sequence_flags & pb.TracePacket.SEQ_NEEDS_INCREMENTAL_STATE:
                fail(i, "interned data without SEQ_NEEDS_INCREMENTAL_STATE")
            for e in p.interned_data.event_names:
                if e.iid in event_names:
                    fail(i, f"event name iid {e.iid} defined twice")
                event_names[e.iid] = e.name
            for e in p.interned_data.debug_annotation_names:
                if e.iid in annotation_names:
                    fail(i, f"annotation name iid {e.iid} defined twice")
                annotation_names[e.iid] = e.name
        if p.HasField("track_descriptor"):
            d = p.track_descriptor
            if d.HasField("process"):
                tracks[d.uuid] = {"name": None, "parent": None, "pid": d.process.pid}
            else:
                if d.parent_uuid not in tracks or tracks[d.parent_uuid]["pid"] is None:
                    fail(i, f"track {d.uuid}'s parent {d.parent_uuid} is not a described process track")
                tracks[d.uuid] = {"name": d.name, "parent": d.parent_uuid, "pid": None}
        if p.HasField("track_event"):
            e = p.track_event
            uses_iids = e.HasField("name_iid") or any(
                a.HasField("name_iid") for a in e.debug_annotations)
            if uses_iids and not p.sequence_flags & pb.TracePacket.SEQ_NEEDS_INCREMENTAL_STATE:
                fail(i, "interned names used without SEQ_NEEDS_INCREMENTAL_STATE")
            if e.track_uuid not in tracks:
                fail(i, f"event on undescribed track {e.track_uuid}")
            if p.timestamp < last_ts.get(e.track_uuid, 0):
                fail(i, f"time goes back on track {e.track_uuid}")
            last_ts[e.track_uuid] = p.timestamp
            annotations = {name(a, annotation_names, i): value(a, annotation_names, i)
                           for a in e.debug_annotations}
            stack = open_slices.setdefault(e.track_uuid, [])
            if e.type == pb.TrackEvent.TYPE_SLICE_BEGIN:
                if e.name_iid not in event_names:
                    fail(i, f"event name_iid {e.name_iid} was never defined")
                slices.append({
                    "name": event_names[e.name_iid],
                    "track": e.track_uuid,
                    "parent": stack[-1] if stack else None,
                    "ts": p.timestamp,
                    "dur": None,
                    "args": annotations.get("args"),
                    "tid": annotations.get("tid"),
                    "ret": None,
                    "incomplete": None,
                })
                stack.append(len(slices) - 1)
            elif e.type == pb.TrackEvent.TYPE_SLICE_END:
                if not stack:
                    fail(i, f"slice end with no open slice on track {e.track_uuid}")
                s = slices[stack.pop()]
                s["dur"] = p.timestamp - s["ts"]
                s["ret"] = annotations.get("ret")
                s["incomplete"] = annotations.get("incomplete")
            else:
                fail(i, f"unexpected track event type {e.type}")
    still_open = sum(len(s) for s in open_slices.values())
    if still_open:
        sys.exit(f"perfetto_slices.py: {still_open} slices never ended")
    json.dump({"packets": len(trace.packet), "tracks": {str(k): v for k, v in tracks.items()},
               "slices": slices}, sys.stdout)


if __name__ == "__main__":
    main()
