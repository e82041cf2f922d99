#!/usr/bin/env bash
# Calendar feeds read by an independent implementation: a freshly built demo server, the Boston
# coordinator's feeds fetched over HTTP with their secret addresses, and each one parsed and
# validated with the python icalendar package (validate_feeds.py says what is checked).
#
# Usage: tests/calendar/check_feeds.sh BINARY     (called by scripts/test.sh)
set -euo pipefail

bin="$1"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${CLINBRIDGE_CALENDAR_VENV:-$repo/target/venv-calendar}"

# Install icalendar into a venv of our own, again whenever requirements.txt changes.
stamp="$venv/.clinbridge-requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
    echo "$want" >"$stamp"
fi

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
db="sqlite://$work/demo.db"
"$bin" demo --bind "127.0.0.1:$port" --database-url "$db" >"$work/server.log" 2>&1 &
server=$!
cleanup() {
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

for _ in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
        break
    fi
    sleep 0.5
done
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null || { cat "$work/server.log"; exit 1; }

token="$("$bin" token create --database-url "$db" --email coordinator@demo.clinbridge.org --name feeds 2>/dev/null)"
"$venv/bin/python" "$here/validate_feeds.py" --server "http://127.0.0.1:$port" --token "$token"
