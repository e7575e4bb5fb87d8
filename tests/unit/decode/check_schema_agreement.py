#!/usr/bin/env python3
"""Checks that schemas/dossier-event.v1.json agrees with the decoder on every golden case.

Usage: check_schema_agreement.py SCHEMA CASES_NDJSON

For each case of tests/data/decode/cases.ndjson (format: decode_cases_test.cc):
  - accepted by the decoder                      -> the schema must accept it;
  - rejected, "decoder_only": true               -> the schema must accept it (the decoder is
                                                    stricter: byte lengths, duplicates, calendar);
  - rejected for any other reason                -> the schema must reject it;
  - malformed_json, empty, too_large, key_mismatch: not a question for a JSON Schema (no JSON
    document, or a property of the Kafka record), skipped.
"""
import json
import sys

import jsonschema

NOT_SCHEMA_QUESTIONS = {"malformed_json", "empty", "too_large", "key_mismatch"}


def payload_text(case):
    if "payload" in case:
        text = json.dumps(case["payload"], ensure_ascii=False, separators=(",", ":"))
    elif "payload_text" in case:
        text = case["payload_text"]
    else:
        text = case["payload_latin1"]
    if "pad_to_bytes" in case:
        overhead = len(',"padding":""')
        fill = case["pad_to_bytes"] - len(text.encode("utf-8")) - overhead
        text = text[:-1] + ',"padding":"' + "x" * fill + '"}'
    return text


def main():
    schema_path, cases_path = sys.argv[1], sys.argv[2]
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    # No format checker: in draft 2020-12 "format" is an annotation unless a validator opts in,
    # so the patterns alone must do the work. (Validators that assert "date-time" also reject
    # impossible dates like the decoder; some of them wrongly reject leap seconds.)
    validator = jsonschema.Draft202012Validator(schema)
    failures = checked = 0
    with open(cases_path, encoding="utf-8") as f:
        for line_number, line in enumerate(f, 1):
            if not line.strip():
                continue
            case = json.loads(line)
            if case.get("error") in NOT_SCHEMA_QUESTIONS:
                continue
            document = json.loads(payload_text(case))
            errors = list(validator.iter_errors(document))
            should_accept = "expect" in case or case.get("decoder_only", False)
            checked += 1
            if should_accept and errors:
                failures += 1
                print(f"line {line_number} {case['name']}: schema rejects, decoder "
                      f"{'accepts' if 'expect' in case else 'is the stricter one'}: "
                      f"{errors[0].message}")
            elif not should_accept and not errors:
                failures += 1
                print(f"line {line_number} {case['name']}: schema accepts, decoder rejects "
                      f"({case['error']})")
    print(f"{checked} cases checked, {failures} disagreements")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
