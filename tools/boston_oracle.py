#!/usr/bin/env python3
"""Test oracle for the City of Boston 311 exports (Python 3 standard library only).

Computes, directly from the CSV files and independently of iocstream's C++ code, what a
correct conversion of each export must give, per department:

  rows                 data rows of that department
  received             rows that convert (a `received` event each)
  closed_with_due      closed rows that have a due time, split by the city's label
                       (ontime / overdue / unlabelled) and by the instants (late: close > due)
  closed_without_due   closed rows without a due time
  open_with_due        open rows with a due time
  open_without_due     open rows without a due time

and checks the label rule on every closed row with a due time: OVERDUE if and only if the
close time is after the due time. It compares UTC instants (local times converted with
America/New_York, an ambiguous or skipped local time taking the offset in force before the
DST change, as Python's fold=0 does) and, for exports in local time, also wall-clock times.

The per-export schemas below restate config/mappings/boston-*.yaml and the conversion rules of
include/iocstream/ingest/csv_source.h (which rows are errors, blank department → Unassigned);
they are written out here on purpose, so that a mistake in either side shows up as a
difference.

Usage:
  tools/boston_oracle.py boston-legacy filtered_2013.csv filtered_2014.csv ...
  tools/boston_oracle.py --table boston-new-crm boston_311_requests.csv
Output: JSON on stdout (files named by their base name, so the output is reproducible);
--table prints a readable table instead.
"""

import argparse
import collections
import csv
import datetime as dt
import json
import os
import re
import sys
import zoneinfo

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
UTC = dt.timezone.utc
MAX_ID_BYTES = 128 - len("/completed")  # event ids are "<dossier_id>/completed"
MAX_CODE_BYTES = 64
ID_PREFIX = "boston:"
DEFAULT_DEPARTMENT = "Unassigned"

SCHEMAS = {
    "boston-legacy": dict(
        id="case_enquiry_id", open="open_dt", due="sla_target_dt", close="closed_dt",
        department="department", commune="neighborhood", procedure="type",
        label="on_time", times="local"),
    "boston-sample": dict(
        id="CASE_ENQUIRY_ID", open="OPEN_DT", due="TARGET_DT", close="CLOSED_DT",
        department="Department", commune="neighborhood", procedure="TYPE",
        label="OnTime_Status", times="local"),
    "boston-new-crm": dict(
        id="case_id", open="open_date", due="target_close_date", close="close_date",
        department="assigned_department", commune="neighborhood", procedure="service_name",
        label="on_time", times="offset"),
}

LOCAL_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$")
OFFSET_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?([+-])(\d{2})(\d{2})?$")


class Stamp:
    """A parsed timestamp: its wall-clock reading and its UTC instant."""

    def __init__(self, wall, utc):
        self.wall = wall  # naive datetime as written (local exports) or aware (offset exports)
        self.utc = utc    # aware datetime in UTC


def _civil(m):
    micro = int((m.group(7) or "0").ljust(6, "0"))
    return dt.datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4)),
                       int(m.group(5)), int(m.group(6)), micro)


def parse_time(text, times):
    """Stamp, or None if unparseable. Blank values are handled by the caller."""
    try:
        if times == "local":
            m = LOCAL_RE.match(text)
            if not m:
                return None
            wall = _civil(m)
            return Stamp(wall, wall.replace(tzinfo=NEW_YORK, fold=0).astimezone(UTC))
        m = OFFSET_RE.match(text)
        if not m:
            return None
        sign = 1 if m.group(8) == "+" else -1
        offset = dt.timedelta(hours=int(m.group(9)), minutes=int(m.group(10) or "0"))
        wall = _civil(m).replace(tzinfo=dt.timezone(sign * offset))
        return Stamp(wall, wall.astimezone(UTC))
    except ValueError:  # e.g. 2025-02-30
        return None


def has_control(s):
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in s)


def new_department():
    return {
        "rows": 0,
        "received": 0,
        "closed_with_due": {"total": 0, "ontime": 0, "overdue": 0, "unlabelled": 0, "late": 0},
        "closed_without_due": 0,
        "open_with_due": 0,
        "open_without_due": 0,
    }


def add_department(total, d):
    for k, v in d.items():
        if isinstance(v, dict):
            for kk, vv in v.items():
                total[k][kk] += vv
        else:
            total[k] += v


def row_error(value_of, schema):
    """Why the row cannot be converted (category: detail), or None, and its stamps."""
    rid = value_of(schema["id"])
    if not rid:
        return "missing dossier id", None
    if has_control(rid):
        return "invalid dossier id: control character", None
    if len((ID_PREFIX + rid).encode()) > MAX_ID_BYTES:
        return "dossier id too long", None
    stamps = {}
    for key, what in (("open", "open time"), ("due", "due time"), ("close", "close time")):
        text = value_of(schema[key])
        if not text:
            if key == "open":
                return "missing open time", None
            stamps[key] = None
            continue
        stamps[key] = parse_time(text, schema["times"])
        if stamps[key] is None:
            return "unparseable " + what, None
    department = value_of(schema["department"]) or DEFAULT_DEPARTMENT
    for what, value in (("agency", department), ("commune", value_of(schema["commune"])),
                        ("procedure", value_of(schema["procedure"]))):
        if len(value.encode()) > MAX_CODE_BYTES:
            return what + " too long", None
        if has_control(value):
            return "invalid " + what + ": control character", None
    return None, stamps


def analyse(mapping, paths, max_examples):
    schema = SCHEMAS[mapping]
    departments = collections.defaultdict(new_department)
    errors = collections.Counter()
    error_examples = []
    check = {"closed_with_due": 0, "labelled": 0, "agree": 0, "disagree": 0, "unlabelled": 0,
             "examples": []}
    if schema["times"] == "local":
        check["agree_wall_clock"] = 0
    total_rows = 0
    completed = 0

    for path in paths:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            while header == []:  # blank lines before the header
                header = next(reader, None)
            if header is None:
                raise SystemExit(f"{path}: empty file")
            index = {}
            for key in ("id", "open", "due", "close", "department", "commune", "procedure",
                        "label"):
                name = schema[key]
                if header.count(name) != 1:
                    raise SystemExit(f"{path}: column {name!r} appears {header.count(name)} "
                                     "times in the header")
                index[key] = header.index(name)
            previous_end = reader.line_num
            for row in reader:
                start_line = previous_end + 1
                previous_end = reader.line_num
                if not row:  # blank line
                    continue
                total_rows += 1
                if len(row) != len(header):
                    reason = "wrong field count"
                    department = DEFAULT_DEPARTMENT
                    stamps = None
                else:
                    def value_of(column, row=row):
                        return row[header.index(column)].strip(" \t\r\n")
                    reason, stamps = row_error(value_of, schema)
                    department = value_of(schema["department"]) or DEFAULT_DEPARTMENT
                d = departments[department]
                d["rows"] += 1
                if reason:
                    errors[reason] += 1
                    if len(error_examples) < max_examples:
                        error_examples.append(
                            {"file": os.path.basename(path), "line": start_line,
                             "reason": reason})
                    continue
                d["received"] += 1
                due, close = stamps["due"], stamps["close"]
                if close is not None:
                    completed += 1
                if close is None:
                    d["open_with_due" if due else "open_without_due"] += 1
                    continue
                if due is None:
                    d["closed_without_due"] += 1
                    continue
                label = row[index["label"]].strip()
                c = d["closed_with_due"]
                c["total"] += 1
                c[{"ONTIME": "ontime", "OVERDUE": "overdue"}.get(label, "unlabelled")] += 1
                late = close.utc > due.utc
                c["late"] += late
                check["closed_with_due"] += 1
                if label not in ("ONTIME", "OVERDUE"):
                    check["unlabelled"] += 1
                    continue
                check["labelled"] += 1
                if (label == "OVERDUE") == late:
                    check["agree"] += 1
                else:
                    check["disagree"] += 1
                    if len(check["examples"]) < max_examples:
                        check["examples"].append({
                            "file": os.path.basename(path), "line": start_line,
                            "id": row[index["id"]], "due": row[index["due"]],
                            "close": row[index["close"]], "label": label})
                if "agree_wall_clock" in check and (label == "OVERDUE") == (close.wall > due.wall):
                    check["agree_wall_clock"] += 1

    totals = new_department()
    for d in departments.values():
        add_department(totals, d)
    return {
        "mapping": mapping,
        "files": [os.path.basename(p) for p in paths],
        "rows": total_rows,
        "row_errors": {"count": sum(errors.values()), "by_reason": dict(sorted(errors.items())),
                       "examples": error_examples},
        "events": {"received": totals["received"], "completed": completed},
        "totals": totals,
        "departments": dict(sorted(departments.items())),
        "label_check": check,
    }


def print_table(result, out):
    cols = ["rows", "received", "cwd", "ontime", "overdue", "unlab", "late", "c-nodue",
            "open-due", "open-nodue"]
    width = max([len("department")] + [len(k) for k in result["departments"]]) + 2
    out.write(f"{result['mapping']}: {', '.join(result['files'])}\n")
    out.write("department".ljust(width) + "".join(c.rjust(11) for c in cols) + "\n")

    def line(name, d):
        c = d["closed_with_due"]
        vals = [d["rows"], d["received"], c["total"], c["ontime"], c["overdue"], c["unlabelled"],
                c["late"], d["closed_without_due"], d["open_with_due"], d["open_without_due"]]
        out.write(name.ljust(width) + "".join(str(v).rjust(11) for v in vals) + "\n")

    for name, d in result["departments"].items():
        line(name, d)
    line("TOTAL", result["totals"])
    out.write("(cwd = closed with due; late = close > due on UTC instants)\n")
    e = result["row_errors"]
    out.write(f"row errors: {e['count']} {e['by_reason'] if e['count'] else ''}\n")
    k = result["label_check"]
    out.write(f"label check (OVERDUE iff close > due), closed with due: {k['closed_with_due']}, "
              f"labelled {k['labelled']}: agree {k['agree']}, disagree {k['disagree']}")
    if "agree_wall_clock" in k:
        out.write(f" (wall clock: agree {k['agree_wall_clock']})")
    out.write(f"; unlabelled {k['unlabelled']}\n")
    for ex in k["examples"]:
        out.write(f"  disagreement: {ex}\n")


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mapping", choices=sorted(SCHEMAS))
    parser.add_argument("files", nargs="+")
    parser.add_argument("--table", action="store_true", help="print a readable table")
    parser.add_argument("--examples", type=int, default=5,
                        help="row errors and label disagreements listed (default 5)")
    args = parser.parse_args(argv)
    result = analyse(args.mapping, args.files, args.examples)
    if args.table:
        print_table(result, sys.stdout)
    else:
        json.dump(result, sys.stdout, indent=2, sort_keys=False)
        sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
