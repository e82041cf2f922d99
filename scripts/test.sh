#!/usr/bin/env bash
# The one command that tests Clinbridge, for developers and CI alike:
#   1. formatting        cargo fmt --check
#   2. lints             cargo clippy, warnings are errors
#   3. ODM schema        the CDISC ODM 1.3.2 XSD from python odmlib (tests/odm), for step 4 to
#                        validate the interop crate's ODM exports with xmllint
#   4. Rust test suites  on SQLite always, and on PostgreSQL when a server answers
#   5. browser test      the demo server driven by headless Chromium (tests/browser)
#   6. API conformance   schemathesis against the OpenAPI document of a demo server (tests/api)
#   7. calendar feeds    a demo server's iCalendar feeds validated with python icalendar (tests/calendar)
#
# Locally, a missing PostgreSQL, xmllint, Node.js or Chromium skips that part with a message.
# With CI=true nothing may be skipped: a missing piece fails the run. `bash .ci/run`
# installs and starts what is missing, then runs this script.
#
# Environment:
#   CLINBRIDGE_TEST_PG_URL  PostgreSQL server for the second half of the Rust suites
#                           (default: postgres://postgres@127.0.0.1:5432 when it answers)
#   CLINBRIDGE_ODM_XSD      ODM1-3-2.xsd for the ODM schema test (default: found by tests/odm/schema.sh)
#   CHROMIUM_PATH           browser for the browser test (default: /usr/bin/chromium)
#   CLINBRIDGE_BIN          binary the browser test starts (default: the one built here)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$(pwd)"

CI="${CI:-false}"
DEFAULT_PG_URL="postgres://postgres@127.0.0.1:5432"
CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"
export CHROMIUM_PATH

summary=()
current="setup"

step() {
    current="$1"
    printf '\n==> %s\n' "$1"
}

done_step() {
    summary+=("ok       $1")
}

# A missing prerequisite: fatal in CI, a loud skip elsewhere.
missing() {
    local what="$1" why="$2"
    if [ "$CI" = "true" ]; then
        echo "error: $why; CI=true, so $what cannot be skipped" >&2
        current="$what ($why)"
        exit 1
    fi
    echo "SKIPPED $what: $why" >&2
    summary+=("SKIPPED  $what: $why")
}

print_summary() {
    local rc=$?
    printf '\n==> Summary\n'
    local line
    for line in "${summary[@]}"; do
        echo "  $line"
    done
    if [ "$rc" -eq 0 ]; then
        echo "  all checks passed"
    else
        echo "  FAILED   $current (exit code $rc)"
    fi
    exit "$rc"
}
trap print_summary EXIT

# True when a PostgreSQL server accepts a connection at the given server URL (no database part);
# psql proves the login works too, pg_isready only that the server is up.
pg_answers() {
    local url="$1/postgres"
    if command -v psql >/dev/null 2>&1; then
        PGCONNECT_TIMEOUT=5 psql "$url" -XtAc 'SELECT 1' >/dev/null 2>&1
    elif command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -d "$url" -t 5
    else
        return 1
    fi
}

# --- 1. formatting -----------------------------------------------------------------------------
step "cargo fmt --all --check"
cargo fmt --all --check
done_step "formatting"

# --- 2. lints ----------------------------------------------------------------------------------
step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
done_step "clippy"

# --- 3. ODM schema -----------------------------------------------------------------------------
step "ODM 1.3.2 schema for the interop crate's XSD test (tests/odm)"
if [ -n "${CLINBRIDGE_ODM_XSD:-}" ]; then
    echo "using CLINBRIDGE_ODM_XSD=$CLINBRIDGE_ODM_XSD as given"
    done_step "ODM schema (as given)"
elif ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    missing "the ODM schema validation" "Python 3 with venv and ensurepip is not installed"
elif ! command -v xmllint >/dev/null 2>&1; then
    missing "the ODM schema validation" "xmllint is not installed (apt-get install libxml2-utils, or run: bash .ci/run)"
else
    CLINBRIDGE_ODM_XSD="$(tests/odm/schema.sh)"
    export CLINBRIDGE_ODM_XSD
    echo "CLINBRIDGE_ODM_XSD=$CLINBRIDGE_ODM_XSD"
    done_step "ODM schema (odmlib's ODM1-3-2.xsd; xmllint validates in the Rust suites)"
fi

# --- 4. Rust test suites -----------------------------------------------------------------------
step "PostgreSQL for the second half of the suites"
if [ -n "${CLINBRIDGE_TEST_PG_URL:-}" ]; then
    echo "using CLINBRIDGE_TEST_PG_URL=$CLINBRIDGE_TEST_PG_URL as given"
    pg_note="SQLite and PostgreSQL"
elif pg_answers "$DEFAULT_PG_URL"; then
    export CLINBRIDGE_TEST_PG_URL="$DEFAULT_PG_URL"
    echo "found a server: CLINBRIDGE_TEST_PG_URL=$CLINBRIDGE_TEST_PG_URL"
    pg_note="SQLite and PostgreSQL"
else
    missing "the PostgreSQL half of the Rust suites" \
        "no PostgreSQL answers at $DEFAULT_PG_URL (set CLINBRIDGE_TEST_PG_URL, or run: bash .ci/run)"
    pg_note="SQLite only"
fi

if cargo nextest --version >/dev/null 2>&1; then
    step "cargo nextest run --workspace ($pg_note)"
    cargo nextest run --workspace
else
    step "cargo test --workspace ($pg_note; install cargo-nextest for a faster run)"
    cargo test --workspace
fi
done_step "Rust test suites ($pg_note)"

# --- 5. browser test ---------------------------------------------------------------------------
step "cargo build -p clinbridge"
cargo build -p clinbridge
if [ -z "${CLINBRIDGE_BIN:-}" ]; then
    target_dir="${CARGO_TARGET_DIR:-target}"
    case "$target_dir" in
        /*) ;;
        *) target_dir="$REPO/$target_dir" ;;
    esac
    export CLINBRIDGE_BIN="$target_dir/debug/clinbridge"
fi

step "browser test (tests/browser)"
node_major=""
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    node_major="$(node -p 'process.versions.node.split(".")[0]')"
fi
if [ -z "$node_major" ]; then
    missing "the browser test" "Node.js and npm are not installed (Node 20 or later is needed)"
elif [ "$node_major" -lt 20 ]; then
    missing "the browser test" "Node.js $(node --version) is too old (Node 20 or later is needed)"
elif [ ! -x "$CHROMIUM_PATH" ]; then
    missing "the browser test" "Chromium is not installed at $CHROMIUM_PATH (apt-get install chromium)"
else
    (
        cd tests/browser
        # Install exactly what the lock file says, again whenever the lock file changes.
        stamp="node_modules/.clinbridge-lock.sha256"
        want="$(sha256sum package-lock.json | cut -d' ' -f1)"
        if [ ! -d node_modules ] || [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
            echo "npm ci (tests/browser)"
            npm ci --no-audit --no-fund
            echo "$want" >"$stamp"
        fi
        node --test --test-reporter=spec demo.test.mjs
    )
    done_step "browser test (screenshot: tests/browser/test-results/work-queue.png)"
fi

# --- 6. API conformance ------------------------------------------------------------------------
step "API conformance: schemathesis against /api/openapi.json (tests/api)"
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    missing "the API conformance test" "Python 3 with venv and ensurepip is not installed"
elif ! command -v curl >/dev/null 2>&1; then
    missing "the API conformance test" "curl is not installed"
else
    tests/api/conformance.sh "$CLINBRIDGE_BIN"
    done_step "API conformance (schemathesis)"
fi

# --- 7. calendar feeds -------------------------------------------------------------------------
step "calendar feeds: python icalendar reads the demo's feeds (tests/calendar)"
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    missing "the calendar feed check" "Python 3 with venv and ensurepip is not installed"
elif ! command -v curl >/dev/null 2>&1; then
    missing "the calendar feed check" "curl is not installed"
else
    tests/calendar/check_feeds.sh "$CLINBRIDGE_BIN"
    done_step "calendar feeds (python icalendar)"
fi

# --- 8. REDCap API -----------------------------------------------------------------------------
step "REDCap API: PyCap 2.7.0 against a demo server (tests/redcap)"
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    missing "the REDCap API check" "Python 3 with venv and ensurepip is not installed"
elif ! command -v curl >/dev/null 2>&1; then
    missing "the REDCap API check" "curl is not installed"
else
    tests/redcap/check_pycap.sh "$CLINBRIDGE_BIN"
    done_step "REDCap API (PyCap 2.7.0)"
fi
