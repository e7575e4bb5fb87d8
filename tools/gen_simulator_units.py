#!/usr/bin/env python3
"""Generates the calibration files of `iocstream simulate` (docs/simulator.md).

Outputs (committed, rerun this script to refresh them):
  config/simulator/phu-tho-units.csv       one row per processing unit of Phú Thọ province
  config/simulator/procedure-pools.csv     which catalog procedures a province-level or a
                                           commune-level unit handles

Inputs (shared/data/SOURCES.md, "Vietnam"):
  vn/ChippedTopaz__qd766/phu_tho_dvc_progress_by_department.csv   (§8)
      The national portal's "Tiến độ giải quyết" report (Decision 766 indicator 2.1) for
      Phú Thọ: dossiers received, on time and overdue per unit. The `year` rows are used
      (2026 year to date, captured 2026-09-26; 163 units, 597,918 dossiers). Unit rows only;
      the province total is their sum.
  vn/chatbot-tthc__chatbot_tthc/tthc_processing_time.csv           (§6)
      The national procedure database: level (cap_thuc_hien), ministry (bo_nganh_slug) and
      field (linh_vuc) of each procedure.
  config/procedures/catalog.yaml
      Only procedures with a legal duration in the catalog can be simulated.

phu-tho-units.csv columns:
  unit_code            the portal's unit code (H44.xx), used in dossier ids
  agency_code          ASCII slug of the unit name without " - Tỉnh Phú Thọ" (≤ 64 bytes),
                       e.g. "so-nong-nghiep-va-moi-truong", "ubnd-xa-trung-son"
  commune_code         commune-level units: the slug without "ubnd-" ("xa-trung-son");
                       empty for province-level units
  level                province | commune (the report's PROVINCE / COMMUNE)
  ministry             the ministry whose provincial procedures the department handles
                       (bo_nganh_slug), for the four departments that match a ministry of the
                       procedure database by name; empty: any province-level procedure
  received, on_time, overdue, avg_processing_days
                       the report's figures (received = on_time + overdue on every row)
  name                 the unit's name as the portal gives it

procedure-pools.csv columns: code, level (province | commune), ministry. A procedure is in
the province pool if its level list names "Cấp tỉnh" and in the commune pool if it names
"Cấp xã" (a procedure may be in both). Left out: procedures without a catalog duration, and
those handled by vertically managed agencies rather than the province's departments and
commune people's committees: the police (bo-cong-an), the State Bank (ngan-hang-nha-nuoc),
courts (toa-an-nhan-dan), and the customs, tax, treasury and social-insurance fields.

Deterministic: rows sorted, stable formatting. Python 3 stdlib only.
Usage: tools/gen_simulator_units.py [--raw-dir DIR] [--catalog FILE] [--out-dir DIR]
"""

import argparse
import collections
import csv
import os
import re
import sys
import unicodedata

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_RAW = os.path.join(os.path.dirname(REPO), "shared", "data", "raw", "vn")
DEFAULT_CATALOG = os.path.join(REPO, "config", "procedures", "catalog.yaml")
DEFAULT_OUT = os.path.join(REPO, "config", "simulator")

UNITS_CSV = "ChippedTopaz__qd766/phu_tho_dvc_progress_by_department.csv"
PROCEDURES_CSV = "chatbot-tthc__chatbot_tthc/tthc_processing_time.csv"
# The portal appends " - Tỉnh Phú Thọ" (sometimes "tỉnh") to names that other provinces share.
PROVINCE_SUFFIX_RE = re.compile(r"\s*-\s*[Tt]ỉnh Phú Thọ$")
MAX_CODE_BYTES = 64

# Department name (normalised slug) → ministry of the procedure database. Only departments
# whose whole remit is one ministry present in the database are mapped.
DEPARTMENT_MINISTRY = [
    ("so-nong-nghiep-va-moi-truong", "bo-nong-nghiep-mt"),
    ("so-tai-chinh", "bo-tai-chinh"),
    ("so-xay-dung", "bo-xay-dung"),
    ("so-tu-phap", "bo-tu-phap"),
]
EXCLUDED_MINISTRIES = {"bo-cong-an", "ngan-hang-nha-nuoc", "toa-an-nhan-dan"}
EXCLUDED_FIELDS = {"Hải quan", "Thuế", "Kho bạc Nhà nước", "Thực hiện chính sách BHXH"}
CATALOG_CODE_RE = re.compile(r'code: "(\d\.\d{6})"')


def slug(text):
    text = text.replace("Đ", "D").replace("đ", "d")
    text = unicodedata.normalize("NFD", text)
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    text = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return text


def load_units(raw_dir):
    units = []
    with open(os.path.join(raw_dir, UNITS_CSV), encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if row["period_type"] != "year" or row["row_kind"] != "unit":
                continue
            name = row["department_name"].strip()
            short = PROVINCE_SUFFIX_RE.sub("", name)
            level = {"PROVINCE": "province", "COMMUNE": "commune"}[row["level"]]
            agency = slug(short)
            commune = agency.removeprefix("ubnd-") if level == "commune" else ""
            received = int(row["total_received"])
            on_time = int(row["total_on_time"])
            overdue = int(row["total_overdue"])
            if received != on_time + overdue:
                sys.exit(f"{row['department_code']}: received != on_time + overdue")
            ministry = next((m for prefix, m in DEPARTMENT_MINISTRY if agency == prefix), "")
            units.append({
                "unit_code": row["department_code"],
                "agency_code": agency[:MAX_CODE_BYTES],
                "commune_code": commune[:MAX_CODE_BYTES],
                "level": level,
                "ministry": ministry,
                "received": received,
                "on_time": on_time,
                "overdue": overdue,
                "avg_processing_days": row["avg_processing_days"],
                "name": short,
            })
    seen = collections.Counter(u["agency_code"] for u in units)
    duplicates = [code for code, n in seen.items() if n > 1]
    if duplicates:
        sys.exit(f"agency codes not unique: {duplicates}")

    def order(u):
        return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", u["unit_code"])]

    return sorted(units, key=order)


def load_pools(raw_dir, catalog_path):
    with open(catalog_path, encoding="utf-8") as f:
        in_catalog = set(CATALOG_CODE_RE.findall(f.read()))
    pools = []
    stats = collections.Counter()
    with open(os.path.join(raw_dir, PROCEDURES_CSV), encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            code = row["ma_thu_tuc"].strip()
            levels = row["cap_thuc_hien"]
            if code not in in_catalog:
                stats["not in catalog"] += 1
                continue
            if row["bo_nganh_slug"] in EXCLUDED_MINISTRIES or row["linh_vuc"] in EXCLUDED_FIELDS:
                stats["vertically managed agency"] += 1
                continue
            for name, level in (("Cấp tỉnh", "province"), ("Cấp xã", "commune")):
                if name in levels:
                    pools.append((code, level, row["bo_nganh_slug"]))
                    stats[level] += 1
    return sorted(set(pools)), stats


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw-dir", default=DEFAULT_RAW, help="shared/data/raw/vn directory")
    parser.add_argument("--catalog", default=DEFAULT_CATALOG, help="procedure catalog YAML")
    parser.add_argument("--out-dir", default=DEFAULT_OUT, help="output directory")
    args = parser.parse_args()
    units = load_units(args.raw_dir)
    pools, stats = load_pools(args.raw_dir, args.catalog)
    os.makedirs(args.out_dir, exist_ok=True)

    units_path = os.path.join(args.out_dir, "phu-tho-units.csv")
    columns = ["unit_code", "agency_code", "commune_code", "level", "ministry", "received",
               "on_time", "overdue", "avg_processing_days", "name"]
    with open(units_path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(units)
    pools_path = os.path.join(args.out_dir, "procedure-pools.csv")
    with open(pools_path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["code", "level", "ministry"])
        writer.writerows(pools)

    total = sum(u["received"] for u in units)
    overdue = sum(u["overdue"] for u in units)
    print(f"{len(units)} units, {total} dossiers received, {overdue} overdue "
          f"({100 * overdue / total:.2f} %) -> {units_path}")
    print(f"{stats['province']} province and {stats['commune']} commune pool entries "
          f"({stats['not in catalog']} not in the catalog, "
          f"{stats['vertically managed agency']} vertically managed) -> {pools_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
