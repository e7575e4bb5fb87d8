#!/usr/bin/env python3
"""Agreement of iocstream's outcomes with the City of Boston's ONTIME/OVERDUE labels.

Joins `iocstream export dossiers --format csv` with the raw 311 exports by case id and, for
every case that iocstream classed as finished with a due date (early, on_time or late) and
that the city labelled, checks late <=> OVERDUE. Column names per export schema come from
tools/boston_oracle.py. Python 3 standard library only.

Usage:
  tools/boston_agreement.py --export dossiers.csv boston-legacy filtered_2013.csv ...
"""

import argparse
import csv
import importlib.util
import os
import sys


def load_oracle():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "boston_oracle.py")
    spec = importlib.util.spec_from_file_location("boston_oracle", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--export", required=True, help="iocstream export dossiers CSV")
    parser.add_argument("schema", help="boston-legacy, boston-new-crm or boston-sample")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    oracle = load_oracle()
    schema = oracle.SCHEMAS[args.schema]
    csv.field_size_limit(sys.maxsize)
    with open(args.export, newline="", encoding="utf-8") as f:
        outcomes = {row["dossier_id"]: row["outcome"] for row in csv.DictReader(f)}
    checked = agree = missing = 0
    disagreements = []
    for path in args.files:
        with open(path, newline="", encoding="utf-8-sig") as f:
            for row in csv.DictReader(f):
                case = (row.get(schema["id"]) or "").strip()
                label = (row.get(schema["label"]) or "").strip()
                outcome = outcomes.get(oracle.ID_PREFIX + case)
                if outcome is None:
                    missing += 1
                    continue
                if outcome not in ("early", "on_time", "late") or label not in ("ONTIME", "OVERDUE"):
                    continue
                checked += 1
                if (outcome == "late") == (label == "OVERDUE"):
                    agree += 1
                elif len(disagreements) < 5:
                    disagreements.append((case, outcome, label))
    print(f"{args.schema}: {agree}/{checked} labelled closed cases with a due date agree "
          f"({100.0 * agree / checked if checked else 0:.2f}%); {missing} rows not in the export")
    for d in disagreements:
        print("  disagreement: case %s outcome %s label %s" % d)
    return 0 if agree == checked and missing == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
