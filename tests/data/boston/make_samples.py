#!/usr/bin/env python3
"""Regenerates the committed Boston 311 samples and their oracle outputs.

Each sample keeps the export's original header and about 200 of its rows, in file order:
every Nth row, plus the rows named below because they exercise a rule (blank due or close
time, blank department, a close before the open, an unlabelled row, a DST-ambiguous local
time, fractional seconds of every length). Rows are rewritten with Python's csv module
(minimal quoting, LF line ends); values are unchanged.

  tests/data/boston/make_samples.py [BOSTON_DATA_DIR]   (default: ../shared/data/raw/boston)
"""

import csv
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))

SAMPLES = [
    # name (= mapping), source file, step, ids always included
    ("boston-legacy", "BU-Spark__ds-boston-311-animal-reports/filtered_2016.csv", 38,
     # close before open (3 rows of this file)
     {"101001705895", "101001707317", "101001713424"}),
    ("boston-new-crm", "soham-bhagwat__boston_311_requests/boston_311_requests.csv", 28,
     # blank department (closed without due, open with due, closed with due OVERDUE), status
     # Error, Needs Reallocation, Submit, Create; 5-digit fractional close
     {"BCS-00070283", "BCS-00105506", "BCS-00115130", "BCS-00149727", "BCS-00139900",
      "BCS-00130824", "BCS-00139488"}),
    ("boston-sample", "yashchavan11__boston-311-resolution-time-prediction/raw_sample.csv", 25,
     # blank OnTime_Status; close at 01:56 on the night the clocks go back (ambiguous)
     {"101001856894", "101005154529"}),
]


def main(argv):
    data = argv[1] if len(argv) > 1 else os.path.join(ROOT, "..", "shared", "data", "raw",
                                                      "boston")
    for name, source, step, ids in SAMPLES:
        with open(os.path.join(data, source), newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        header, body = rows[0], rows[1:]
        id_col = 1 if header[0] == "_id" else 0
        kept = [r for i, r in enumerate(body) if i % step == 0 or r[id_col] in ids]
        missing = ids - {r[id_col] for r in kept}
        if missing:
            raise SystemExit(f"{source}: ids not found: {sorted(missing)}")
        out_csv = os.path.join(HERE, name + ".csv")
        with open(out_csv, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(header)
            w.writerows(kept)
        oracle = subprocess.run(
            [sys.executable, os.path.join(ROOT, "tools", "boston_oracle.py"), name, out_csv],
            check=True, capture_output=True, text=True).stdout
        result = json.loads(oracle)
        with open(os.path.join(HERE, name + ".expected.json"), "w", encoding="utf-8") as f:
            f.write(oracle)
        c = result["totals"]["closed_with_due"]
        print(f"{name}: {len(kept)} rows, closed with due {c['total']} (overdue {c['overdue']}),"
              f" open {result['totals']['open_with_due'] + result['totals']['open_without_due']},"
              f" closed without due {result['totals']['closed_without_due']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
