#!/usr/bin/env bash
# Prints the absolute path of the CDISC ODM 1.3.2 schema (ODM1-3-2.xsd), taken from the odmlib
# package in a virtualenv under target/, for the XSD test of crates/interop (odm_xsd.rs) and
# for anyone who wants to run `xmllint --schema` by hand.
#
# Validation must work offline. odmlib ships the schema's whole import graph beside it
# (ODM1-3-2-foundation.xsd, xmldsig-core-schema.xsd, xml.xsd, xlink.xsd), and every
# schemaLocation in those files is a relative file name; this script checks that this is still
# so and fails when a schema there would send a validator to the network.
#
# Usage: CLINBRIDGE_ODM_XSD="$(tests/odm/schema.sh)"      (called by scripts/test.sh)
# Environment: CLINBRIDGE_ODM_VENV  the virtualenv (default: target/odm-venv)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source=../lib/demo_server.sh
. "$here/../lib/demo_server.sh"

venv="${CLINBRIDGE_ODM_VENV:-$repo/target/odm-venv}"
# Only the path goes to standard output: pip and venv talk on standard error.
python_venv "$venv" "$here/requirements.txt" >&2

"$venv/bin/python" - <<'PY'
import importlib.util
import pathlib
import sys
from xml.etree import ElementTree

# find_spec locates the package without importing it (and its dependencies).
spec = importlib.util.find_spec("odmlib")
if spec is None or not spec.submodule_search_locations:
    sys.exit("error: odmlib is not installed in the virtualenv")
package = pathlib.Path(next(iter(spec.submodule_search_locations)))
found = sorted(package.rglob("ODM1-3-2.xsd"))
if not found:
    sys.exit(f"error: odmlib at {package} ships no ODM1-3-2.xsd")
xsd = found[0].resolve()

# Follow the schema's import graph from ODM1-3-2.xsd: every import and include must name a
# file in the same directory.
XS = "{http://www.w3.org/2001/XMLSchema}"
pending, seen = [xsd], set()
while pending:
    schema = pending.pop()
    if schema in seen:
        continue
    seen.add(schema)
    for element in ElementTree.parse(schema).getroot().iter():
        location = element.get("schemaLocation")
        if element.tag not in (XS + "import", XS + "include", XS + "redefine") or location is None:
            continue
        target = (schema.parent / location).resolve()
        if "://" in location or not target.is_file():
            sys.exit(f"error: {schema.name} imports {location}, which is not a file beside it; "
                     "validation would need the network")
        pending.append(target)
print(xsd)
PY
