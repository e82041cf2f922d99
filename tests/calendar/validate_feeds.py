"""Clinbridge's calendar feeds read by an independent iCalendar implementation.

Usage:
    validate_feeds.py --server URL --token TOKEN   fetch the token owner's feeds and check them
    validate_feeds.py --server URL --token TOKEN --expect-field
                                                   the owner (a clinical specialist) must
                                                   have a field feed; only it is checked
    validate_feeds.py FILE.ics ...                 check feeds saved to files

Each feed must parse with icalendar's Calendar.from_ical, pass Calendar.validate(), leave no
component with parse errors or missing required properties, define every TZID it uses, and
have events whose VTIMEZONE (read without the tz database) gives the same UTC offsets as the
tz database does. Summaries of visit feeds carry a subject id and a visit code only; a field
feed (a clinical specialist's week plan) has events titled "what — account" at a LOCATION.
"""

import argparse
import json
import re
import sys
import urllib.request
import zoneinfo

from icalendar import Calendar

SUMMARY = re.compile(r"^[A-Z0-9][A-Z0-9-]* [A-Z0-9]+$")


def check(name: str, data: bytes, kind: str = "") -> list[str]:
    problems = []
    cal = Calendar.from_ical(data)
    cal.validate()
    for comp in cal.walk():
        if comp.errors:
            problems.append(f"{name}: {comp.name} has errors {comp.errors}")
        for prop in getattr(comp, "required", ()):
            if prop not in comp:
                problems.append(f"{name}: {comp.name} lacks {prop}")
    missing = cal.get_missing_tzids()
    if missing:
        problems.append(f"{name}: TZIDs used but not defined: {sorted(missing)}")
    zones = {tz.tz_name: tz.to_tz(lookup_tzid=False) for tz in cal.timezones}
    events = cal.walk("VEVENT")
    if not events:
        problems.append(f"{name}: no events")
    for ev in events:
        for prop in ("UID", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY"):
            if prop not in ev:
                problems.append(f"{name}: an event lacks {prop}")
        summary = str(ev.get("SUMMARY", ""))
        if kind == "field":
            if " — " not in summary or not str(ev.get("LOCATION", "")):
                problems.append(f"{name}: field event {summary!r} lacks its account")
        elif not SUMMARY.match(summary):
            problems.append(f"{name}: summary {summary!r} is not a subject id and a visit code")
        for prop in ("DTSTART", "DTEND"):
            tzid = ev[prop].params.get("TZID")
            if not tzid:
                problems.append(f"{name}: {prop} of {summary} has no TZID")
                continue
            local = ev.decoded(prop).replace(tzinfo=None)
            ours = local.replace(tzinfo=zones[tzid]).utcoffset()
            theirs = local.replace(tzinfo=zoneinfo.ZoneInfo(tzid)).utcoffset()
            if ours != theirs:
                problems.append(f"{name}: {prop} {local} in {tzid}: VTIMEZONE says {ours}, tz database {theirs}")
    print(f"{name}: {len(events)} events, zones {sorted(zones)}")
    return problems


def fetch(url: str, token: str, method: str = "GET") -> bytes:
    req = urllib.request.Request(url, method=method, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(req, timeout=30) as res:
        return res.read()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--server")
    ap.add_argument("--token")
    ap.add_argument("--expect-field", action="store_true")
    ap.add_argument("files", nargs="*")
    args = ap.parse_args()
    feeds: list[tuple[str, bytes, str]] = []
    if args.server:
        base = args.server.rstrip("/")
        listed = json.loads(fetch(f"{base}/api/v1/me/feeds", args.token))
        if not listed:
            print("no feeds listed", file=sys.stderr)
            return 1
        for f in listed:
            # The listed address itself, fetched without the token: the secret is the credential.
            if not f.get("url"):
                print(f"feed {f['name']!r} is listed without an address", file=sys.stderr)
                return 1
            feeds.append((f["name"], fetch(f["url"], ""), f.get("kind", "")))
        if args.expect_field and not any(f.get("kind") == "field" for f in listed):
            print("no field feed listed for a clinical specialist", file=sys.stderr)
            return 1
        if args.expect_field:
            # The specialist's other feeds (booked trial visits) are empty; the coordinator's run checks them.
            feeds = [f for f in feeds if f[2] == "field"]
    for path in args.files:
        with open(path, "rb") as fh:
            feeds.append((path, fh.read(), ""))
    if not feeds:
        print("nothing to check", file=sys.stderr)
        return 1
    problems = [p for name, data, kind in feeds for p in check(name, data, kind)]
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
