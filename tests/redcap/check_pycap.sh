#!/usr/bin/env bash
# The REDCap-compatible API read and written by an independent client: a freshly built demo
# server, REDCap tokens made with the command line for the demo data manager (CARDIO-HF3, in
# production and longitudinal; SANDBOX, in development and classic) and the monitor, and
# PyCap 2.7.0, unchanged, calling every method check_pycap.py lists.
#
# Usage: tests/redcap/check_pycap.sh BINARY     (called by scripts/test.sh)
set -euo pipefail

bin="$1"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source=../lib/demo_server.sh
. "$here/../lib/demo_server.sh"

venv="${CLINBRIDGE_REDCAP_VENV:-$repo/target/venv-redcap}"
python_venv "$venv" "$here/requirements.txt"
start_demo "$bin"
hf3="$(redcap_token "$bin" data.manager@demo.clinbridge.org CARDIO-HF3)"
sandbox="$(redcap_token "$bin" data.manager@demo.clinbridge.org SANDBOX)"
monitor="$(redcap_token "$bin" monitor@demo.clinbridge.org CARDIO-HF3)"
"$venv/bin/python" "$here/check_pycap.py" --url "http://127.0.0.1:$port/redcap/api/" \
    --hf3 "$hf3" --sandbox "$sandbox" --monitor "$monitor"
