#!/usr/bin/env python3
"""Generates config/procedures/catalog.yaml, the procedure catalog of legal processing times.

Inputs (shared/data/SOURCES.md, "Vietnam"):
  vn/chatbot-tthc__chatbot_tthc/tthc_processing_time.csv  national portal, 2,642 procedures,
      thoi_han_{truc_tiep,truc_tuyen,buu_chinh}_{so,don_vi,parse}
  vn/nhdandz__ThuTucHanhChinh/tthc_processing_time.csv    Ministry of Defence, 207 procedures,
      thoi_han_{...}_{raw,so,don_vi} (no parse column: the status is derived here the same way)

Channel columns: truc_tiep -> in_person, truc_tuyen -> online, buu_chinh -> postal.
Units: "Ngày làm việc" -> working_days, "Ngày" -> calendar_days, "Giờ" -> working_hours
(domain.md §1.4: durations are stored in working hours, R11), "Tháng" -> months.

Which rows are kept. A channel's parse status is one of
  ok               a number and a unit                        -> used
  absent, no_info  the portal offers no such channel or says
                   "Không có thông tin" / "Không quy định"    -> channel left out (clean)
  nounit, nounit_ambiguous, unparsed, zero
                   a bare number, a description, or 0          -> not clean
A procedure is kept only if every channel is clean and at least one channel is ok: a bare
number could be working or calendar days, so guessing would give wrong deadlines; dropped
procedures get their due date from the events (NgayHenTra) instead. The counts kept and
dropped, by reason, are printed and written into the output's header.

Deterministic: rows sorted by code, stable formatting, no timestamps. Python 3 stdlib only.
Usage: tools/gen_procedure_catalog.py [--raw-dir DIR] [--out FILE]
"""

import argparse
import collections
import csv
import json
import os
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_RAW = os.path.join(os.path.dirname(REPO), "shared", "data", "raw", "vn")
DEFAULT_OUT = os.path.join(REPO, "config", "procedures", "catalog.yaml")

SOURCES = [
    ("chatbot_tthc", "chatbot-tthc__chatbot_tthc/tthc_processing_time.csv"),
    ("thu_tuc_hanh_chinh_bqp", "nhdandz__ThuTucHanhChinh/tthc_processing_time.csv"),
]
CHANNELS = [("truc_tiep", "in_person"), ("truc_tuyen", "online"), ("buu_chinh", "postal")]
UNITS = {
    "Ngày làm việc": "working_days",
    "Ngày": "calendar_days",
    "Giờ": "working_hours",
    "Tháng": "months",
}
CLEAN_ABSENT = {"absent", "no_info"}
CODE_RE = re.compile(r"^\d\.\d{6}$")
NUMBER_RE = re.compile(r"^\d+(\.\d+)?$")


def derive_status(raw, number, unit):
    """Parse status of a source-7 channel, mirroring the source-6 column."""
    raw = raw.strip()
    if not raw:
        return "absent"
    if raw in ("Không quy định", "Không có thông tin"):
        return "no_info"
    if number and NUMBER_RE.match(number):
        return "ok" if unit in UNITS else "nounit"
    return "unparsed"


def channel_value(row, prefix, has_parse_column):
    number = row[f"thoi_han_{prefix}_so"].strip()
    unit = row[f"thoi_han_{prefix}_don_vi"].strip()
    if has_parse_column:
        status = row[f"thoi_han_{prefix}_parse"].strip()
    else:
        status = derive_status(row[f"thoi_han_{prefix}_raw"], number, unit)
    if status != "ok":
        return status, None
    if not NUMBER_RE.match(number) or unit not in UNITS:
        return "unparsed", None
    amount = float(number)
    if amount <= 0:
        return "zero", None
    return "ok", (amount, UNITS[unit])


def clean_name(name):
    return " ".join(name.split())


def format_amount(amount):
    return str(int(amount)) if amount == int(amount) else repr(amount)


def load(raw_dir):
    kept = {}
    stats = collections.Counter()
    for source, rel in SOURCES:
        path = os.path.join(raw_dir, rel)
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            has_parse = "thoi_han_truc_tiep_parse" in reader.fieldnames
            for row in reader:
                stats[f"read {source}"] += 1
                code = row["ma_thu_tuc"].strip()
                if not CODE_RE.match(code):
                    stats["dropped: not a base code"] += 1
                    continue
                durations = {}
                statuses = []
                for prefix, channel in CHANNELS:
                    status, value = channel_value(row, prefix, has_parse)
                    statuses.append(status)
                    if value is not None:
                        durations[channel] = value
                dirty = sorted({s for s in statuses if s != "ok" and s not in CLEAN_ABSENT})
                if dirty:
                    stats["dropped: channel not parsed cleanly (" + ", ".join(dirty) + ")"] += 1
                    continue
                if not durations:
                    stats["dropped: no processing time given"] += 1
                    continue
                if code in kept:
                    stats["dropped: duplicate code"] += 1
                    continue
                kept[code] = (clean_name(row["ten_thu_tuc"]), durations)
                stats[f"kept {source}"] += 1
    return kept, stats


def render(kept, stats):
    lines = [
        "# Procedure catalog: legal processing time per procedure (base code) and channel.",
        "# GENERATED by tools/gen_procedure_catalog.py from shared/data/raw/vn (see",
        "# shared/data/SOURCES.md, Vietnam §6 and §7). Do not edit; rerun the generator.",
        "# Format: src/app/rules_config.h; a duration is \"<amount> <unit>\", unit one of",
        "# working_hours, working_days, calendar_days, months. pause_policy is not in the",
        "# sources: the SLA default applies (pause).",
        "#",
    ]
    for key in sorted(stats):
        lines.append(f"# {key}: {stats[key]}")
    lines += ["version: 1", 'source: "national procedure database (dichvucong.gov.vn)"',
              "procedures:"]
    for code in sorted(kept):
        name, durations = kept[code]
        fields = [f'code: "{code}"', "name: " + json.dumps(name, ensure_ascii=False)]
        for _, channel in CHANNELS:
            if channel in durations:
                amount, unit = durations[channel]
                fields.append(f"{channel}: {format_amount(amount)} {unit}")
        lines.append("  - {" + ", ".join(fields) + "}")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw-dir", default=DEFAULT_RAW, help="shared/data/raw/vn directory")
    parser.add_argument("--out", default=DEFAULT_OUT, help="output YAML file")
    args = parser.parse_args()
    kept, stats = load(args.raw_dir)
    text = render(kept, stats)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    read = sum(v for k, v in stats.items() if k.startswith("read "))
    dropped = sum(v for k, v in stats.items() if k.startswith("dropped"))
    print(f"read {read} procedures, kept {len(kept)}, dropped {dropped}")
    for key in sorted(stats):
        print(f"  {key}: {stats[key]}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
