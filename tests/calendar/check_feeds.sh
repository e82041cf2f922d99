#!/usr/bin/env bash
# Calendar feeds read by an independent implementation: a freshly built demo server, the Boston
# coordinator's feeds and a clinical specialist's field feed (the week plan) fetched over HTTP
# with their secret addresses, and each one parsed and validated with the python icalendar
# package (validate_feeds.py says what is checked).
#
# Usage: tests/calendar/check_feeds.sh BINARY     (called by scripts/test.sh)
set -euo pipefail

bin="$1"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source=../lib/demo_server.sh
. "$here/../lib/demo_server.sh"

venv="${CLINBRIDGE_CALENDAR_VENV:-$repo/target/venv-calendar}"
python_venv "$venv" "$here/requirements.txt"
start_demo "$bin"
token="$(demo_token "$bin" coordinator@demo.clinbridge.org feeds)"
"$venv/bin/python" "$here/validate_feeds.py" --server "http://127.0.0.1:$port" --token "$token"
# The clinical specialist's feeds, the field week plan among them.
token="$(demo_token "$bin" clinical.specialist@demo.clinbridge.org feeds)"
"$venv/bin/python" "$here/validate_feeds.py" --server "http://127.0.0.1:$port" --token "$token" --expect-field
