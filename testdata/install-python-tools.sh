#!/usr/bin/env bash
# Python tools the tests use, pinned, in a venv under ${GOSYMS_CACHE:-~/.cache/gosyms}/venv-perfetto:
#   perfetto   Perfetto's Python package: its perfetto_trace_pb2 (compiled from Perfetto's
#              protos/perfetto/trace/perfetto_trace.proto) reads the traces gosyms writes
#              (tests/perfetto_slices.py), and export/perfetto/subset.py cuts gosyms' subset of
#              the definitions from it.
#   protobuf   the runtime those bindings need.
set -euo pipefail
cache=${GOSYMS_CACHE:-$HOME/.cache/gosyms}
venv=$cache/venv-perfetto
want="perfetto==0.59.1 protobuf==7.36.2"
if [[ -x $venv/bin/python && "$(cat "$venv/stamp" 2>/dev/null)" == "$want" ]]; then
  exit 0
fi
rm -rf "$venv"
# Debian's python3 makes venvs only with python3-venv (ensurepip).
python3 -c 'import ensurepip' 2>/dev/null || { apt-get update -qq && apt-get install -y -qq python3-venv >&2; }
python3 -m venv "$venv"
# shellcheck disable=SC2086
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check $want
echo "$want" > "$venv/stamp"
