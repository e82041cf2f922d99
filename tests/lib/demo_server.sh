# Shared by the checks that drive a real demo server from Python (tests/api, tests/calendar,
# tests/redcap).
# Source it, then:
#   python_venv DIR REQUIREMENTS   a venv at DIR with REQUIREMENTS installed, again whenever
#                                  the requirements file changes
#   start_demo BINARY              a fresh demo database served on a free port; sets $work (a
#                                  temporary directory, removed on exit), $port and $db, and
#                                  returns once /healthz answers
#   demo_token BINARY EMAIL NAME   prints a new API token for that demo account
#   redcap_token BINARY EMAIL CODE prints a new REDCap API token for that account on a study

python_venv() {
    local venv="$1" requirements="$2"
    local stamp="$venv/.clinbridge-requirements.sha256"
    local want
    want="$(sha256sum "$requirements" | cut -d' ' -f1)"
    if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
        echo "$want" >"$stamp"
    fi
}

start_demo() {
    local bin="$1"
    work="$(mktemp -d)"
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
    db="sqlite://$work/demo.db"
    "$bin" demo --bind "127.0.0.1:$port" --database-url "$db" >"$work/server.log" 2>&1 &
    demo_server=$!
    trap stop_demo EXIT
    for _ in $(seq 1 120); do
        if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.5
    done
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null || { cat "$work/server.log"; exit 1; }
}

stop_demo() {
    kill "$demo_server" 2>/dev/null || true
    wait "$demo_server" 2>/dev/null || true
    rm -rf "$work"
}

# A second process writing to the same SQLite file is what the command line does beside a
# running server.
demo_token() {
    "$1" token create --database-url "$db" --email "$2" --name "$3" 2>/dev/null
}

# A REDCap API token (32 hexadecimal characters) for that demo account on one study.
redcap_token() {
    "$1" token create --database-url "$db" --email "$2" --redcap --study "$3" 2>/dev/null
}
