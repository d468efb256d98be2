#!/usr/bin/env python3
"""The quality set against OpenAI-compatible servers, side by side.

    quality_compare.py NAME=BASE_URL [NAME=BASE_URL ...] [--cases FILE] [--seed-names]
                       [--max-tokens N] [--timeout S] [--json-out FILE]

BASE_URL ends in /v1. Every case goes to every server as the same chat-completions request:
temperature 0, the server's own model id (GET BASE/models, data[0].id), the quality test's
system and user messages, and response_format json_schema (strict) with the case's schema.

For each reply it records the text, finish_reason, whether it parses as JSON and satisfies the
schema, whether max_tokens cut it (finish_reason "length") and the field accuracy, scored as
`matching_fields` in crates/instructor-engine/tests/embedded.rs scores it. As in that test, a
reply that is not schema-valid scores no fields.

--seed-names adds a second set: 32 "<Name> is <age>" texts. It prints one table and the cases
where the servers' replies disagree, and exits 0 whatever the scores (2 on bad arguments or a
server that cannot list its models). Python 3.11 standard library only; `jsonschema` validates
when it can be imported, else the small validator below.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

DEFAULT_CASES = "crates/instructor-engine/tests/data/quality.jsonl"
SYSTEM = "You are a world class extractor"

SEED_NAMES = [
    ("Jason", 20), ("Maria", 34), ("Ahmed", 51), ("Chloe", 9), ("Dmitri", 67), ("Fatima", 28),
    ("George", 45), ("Hana", 16), ("Igor", 73), ("Julia", 39), ("Kwame", 24), ("Lena", 58),
    ("Mateo", 12), ("Nadia", 31), ("Oscar", 88), ("Priya", 42), ("Quentin", 19), ("Rosa", 64),
    ("Sven", 37), ("Tamara", 5), ("Umar", 26), ("Valentina", 71), ("William", 48), ("Ximena", 14),
    ("Yusuf", 53), ("Zoe", 22), ("Aiko", 80), ("Bruno", 33), ("Carmen", 61), ("Diego", 7),
    ("Elif", 29), ("Felix", 95),
]
SEED_SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


# ---------------------------------------------------------------------------------------------
# Scoring: a port of `matching_fields` from crates/instructor-engine/tests/embedded.rs.


def _kind(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    raise TypeError(type(v))


def json_equal(a, b) -> bool:
    """serde_json's Value equality (booleans are not numbers; 1 and 1.0 differ)."""
    ka, kb = _kind(a), _kind(b)
    if ka != kb:
        return False
    if ka == "number":
        return isinstance(a, float) == isinstance(b, float) and a == b
    if ka == "array":
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    if ka == "object":
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return a == b


def _float_text(f: float) -> str:
    """An f64 as serde_json (ryu) writes it: shortest digits, "1.0", "1e30", "1.5e-7"."""
    if f == 0:
        return "-0.0" if math.copysign(1, f) < 0 else "0.0"
    sign = "-" if f < 0 else ""
    mantissa, _, exp = repr(abs(f)).partition("e")
    whole, _, frac = mantissa.partition(".")
    frac = "" if frac == "0" else frac
    digits = (whole + frac).lstrip("0")
    k = (int(exp) if exp else 0) - len(frac)  # value = digits * 10^k
    stripped = digits.rstrip("0")
    k += len(digits) - len(stripped)
    digits = stripped
    n = len(digits)
    kk = n + k
    if 0 <= k and kk <= 16:
        out = digits + "0" * k + ".0"
    elif 0 < kk <= 16:
        out = digits[:kk] + "." + digits[kk:]
    elif -5 < kk <= 0:
        out = "0." + "0" * -kk + digits
    elif n == 1:
        out = f"{digits}e{kk - 1}"
    else:
        out = f"{digits[0]}.{digits[1:]}e{kk - 1}"
    return sign + out


def json_text(v) -> str:
    """Compact JSON as serde_json's `Value::to_string` writes it (key order kept)."""
    kind = _kind(v)
    if kind == "null":
        return "null"
    if kind == "boolean":
        return "true" if v else "false"
    if kind == "number":
        return _float_text(v) if isinstance(v, float) else str(v)
    if kind == "string":
        return json.dumps(v, ensure_ascii=False)
    if kind == "array":
        return "[" + ",".join(json_text(x) for x in v) + "]"
    return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + json_text(x) for k, x in v.items()) + "}"


def matching_fields(expected, actual) -> tuple[int, int]:
    """(fields that match, fields) of `expected` in `actual`."""
    if isinstance(expected, dict):
        hit = total = 0
        for key, ev in expected.items():
            av = actual.get(key) if isinstance(actual, dict) else None
            h, t = matching_fields(ev, av)
            hit, total = hit + h, total + t
        return hit, total
    ke, ka = _kind(expected), _kind(actual)
    if ke == "string" and ka == "string":
        e, a = expected.strip().lower(), actual.strip().lower()
        # Rust's `len` is in bytes.
        return int(e == a or (len(e.encode()) > 8 and (e in a or a in e))), 1
    if ke == "number" and ka == "number":
        return int(float(expected) == float(actual)), 1
    if ke == "array" and ka == "array":
        norm = lambda v: sorted(json_text(x).lower() for x in v)  # noqa: E731
        return int(norm(expected) == norm(actual)), 1
    return int(json_equal(expected, actual)), 1


# ---------------------------------------------------------------------------------------------
# Validation: jsonschema when importable, else the keywords the quality set uses.

try:
    import jsonschema as _jsonschema  # type: ignore
except Exception:  # noqa: BLE001
    _jsonschema = None


def _type_ok(v, t: str) -> bool:
    k = _kind(v)
    if t == "integer":
        return k == "number" and (isinstance(v, int) or float(v).is_integer())
    return k == t


def schema_errors(value, schema, path="$") -> list[str]:
    """Why `value` does not satisfy `schema` (empty: it does)."""
    if schema is True or schema == {}:
        return []
    if schema is False:
        return [f"{path}: no value is allowed"]
    errs: list[str] = []
    t = schema.get("type")
    if t is not None:
        types = t if isinstance(t, list) else [t]
        if not any(_type_ok(value, x) for x in types):
            return [f"{path}: {json_text(value)} is not of type {t}"]
    if "enum" in schema and not any(json_equal(value, x) or (_kind(value) == _kind(x) == "number" and value == x)
                                    for x in schema["enum"]):
        errs.append(f"{path}: {json_text(value)} is not one of {schema['enum']}")
    if "const" in schema and not json_equal(value, schema["const"]):
        errs.append(f"{path}: {json_text(value)} is not {json_text(schema['const'])}")
    kind = _kind(value)
    if kind == "object":
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                errs.append(f"{path}: {key!r} is required")
        for key, v in value.items():
            if key in props:
                errs += schema_errors(v, props[key], f"{path}.{key}")
            else:
                extra = schema.get("additionalProperties", True)
                if extra is False:
                    errs.append(f"{path}: {key!r} is not allowed")
                elif isinstance(extra, dict):
                    errs += schema_errors(v, extra, f"{path}.{key}")
    elif kind == "array":
        items = schema.get("items")
        if isinstance(items, dict) or isinstance(items, bool):
            for i, v in enumerate(value):
                errs += schema_errors(v, items, f"{path}[{i}]")
        if len(value) < schema.get("minItems", 0):
            errs.append(f"{path}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errs.append(f"{path}: more than {schema['maxItems']} items")
    elif kind == "string":
        if "pattern" in schema and not re.search(schema["pattern"], value, re.ASCII):
            errs.append(f"{path}: {value!r} does not match {schema['pattern']!r}")
        if len(value) < schema.get("minLength", 0):
            errs.append(f"{path}: shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errs.append(f"{path}: longer than {schema['maxLength']}")
    elif kind == "number":
        if "minimum" in schema and value < schema["minimum"]:
            errs.append(f"{path}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errs.append(f"{path}: {value} > {schema['maximum']}")
    return errs


def validate(value, schema) -> str | None:
    """None when `value` satisfies `schema`, else the reason."""
    if _jsonschema is not None:
        try:
            _jsonschema.validate(value, schema)
            return None
        except _jsonschema.ValidationError as e:
            return e.message
        except _jsonschema.SchemaError as e:
            return f"bad schema: {e.message}"
    errs = schema_errors(value, schema)
    return "; ".join(errs) if errs else None


# ---------------------------------------------------------------------------------------------
# HTTP.


def http_json(url: str, body=None, timeout: float = 300.0):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read().decode())


def model_id(base: str, timeout: float) -> str:
    return http_json(f"{base}/models", timeout=timeout)["data"][0]["id"]


def request_body(model: str, case: dict, max_tokens: int) -> dict:
    return {
        "model": model,
        "temperature": 0,
        "max_tokens": max_tokens,
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"Extract the following entities: {json.dumps(case['text'], ensure_ascii=False)}"},
        ],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "Extraction", "schema": case["schema"], "strict": True},
        },
    }


def run_case(base: str, model: str, case: dict, max_tokens: int, timeout: float) -> dict:
    out = {"reply": None, "finish_reason": None, "parsed": False, "valid": False, "invalid_reason": None,
           "truncated": False, "hits": 0, "fields": matching_fields(case["expected"], case["expected"])[1],
           "latency_s": None, "error": None}
    started = time.perf_counter()
    try:
        resp = http_json(f"{base}/chat/completions", request_body(model, case, max_tokens), timeout)
    except urllib.error.HTTPError as e:
        out["error"] = f"HTTP {e.code}: {e.read().decode(errors='replace')[:300]}"
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as e:
        out["error"] = f"{type(e).__name__}: {e}"
    out["latency_s"] = time.perf_counter() - started
    if out["error"]:
        out["invalid_reason"] = out["error"]
        return out
    try:
        choice = resp["choices"][0]
        out["reply"] = choice["message"].get("content")
        out["finish_reason"] = choice.get("finish_reason")
    except (KeyError, IndexError, TypeError, AttributeError):
        out["error"] = f"not a chat completion: {json.dumps(resp)[:300]}"
        out["invalid_reason"] = out["error"]
        return out
    out["truncated"] = out["finish_reason"] == "length"
    try:
        value = json.loads(out["reply"] or "")
        out["parsed"] = True
        out["value"] = value
    except (json.JSONDecodeError, TypeError) as e:
        out["invalid_reason"] = f"not JSON: {e}"
        return out
    out["invalid_reason"] = validate(value, case["schema"])
    out["valid"] = out["invalid_reason"] is None
    if out["valid"]:
        out["hits"] = matching_fields(case["expected"], value)[0]
    return out


# ---------------------------------------------------------------------------------------------


def load_cases(path: str, seed_names: bool) -> list[dict]:
    cases = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if line.strip():
            c = json.loads(line)
            cases.append({"set": Path(path).stem, "text": c["text"], "schema": c["schema"], "expected": c["expected"]})
    if seed_names:
        for name, age in SEED_NAMES:
            cases.append({"set": "seed-names", "text": f"{name} is {age}", "schema": SEED_SCHEMA,
                          "expected": {"name": name, "age": age}})
    return cases


def summarize(results: list[dict]) -> dict:
    n = len(results)
    fields = sum(r["fields"] for r in results)
    hits = sum(r["hits"] for r in results)
    lat = [r["latency_s"] for r in results if r["latency_s"] is not None]
    return {
        "cases": n,
        "valid": sum(r["valid"] for r in results),
        "parsed": sum(r["parsed"] for r in results),
        "truncated": sum(r["truncated"] for r in results),
        "errors": sum(r["error"] is not None for r in results),
        "hits": hits,
        "fields": fields,
        "mean_latency_s": sum(lat) / len(lat) if lat else None,
    }


def pct(a: int, b: int) -> str:
    return f"{100.0 * a / b:.0f}%" if b else "-"


def reply_key(r: dict) -> str:
    """What two replies are compared by: the parsed value when there is one, else the text."""
    if r["parsed"]:
        return "json:" + json_text(r["value"])
    return "text:" + (r["reply"] if r["reply"] is not None else f"<error {r['error']}>")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("servers", nargs="+", metavar="NAME=BASE_URL")
    ap.add_argument("--cases", default=DEFAULT_CASES)
    ap.add_argument("--seed-names", action="store_true")
    ap.add_argument("--max-tokens", type=int, default=200)
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per request")
    ap.add_argument("--json-out")
    args = ap.parse_args()

    servers = []
    for spec in args.servers:
        name, sep, base = spec.partition("=")
        if not sep or not name or not base:
            print(f"quality_compare: expected NAME=BASE_URL, got {spec!r}", file=sys.stderr)
            return 2
        base = base.rstrip("/")
        try:
            model = model_id(base, 60)
        except Exception as e:  # noqa: BLE001
            print(f"quality_compare: {name}: cannot list models at {base}/models: {e}", file=sys.stderr)
            return 2
        servers.append({"name": name, "base_url": base, "model": model})
    cases = load_cases(args.cases, args.seed_names)
    validator = "built-in"
    if _jsonschema is not None:
        try:
            from importlib.metadata import version

            validator = f"jsonschema {version('jsonschema')}"
        except Exception:  # noqa: BLE001
            validator = "jsonschema"
    print(f"{len(cases)} cases, max_tokens {args.max_tokens}, validator {validator}", file=sys.stderr)
    for s in servers:
        print(f"  {s['name']}: {s['base_url']} (model {s['model']})", file=sys.stderr)

    # Server by server, so one server's work never overlaps the other's timing.
    results: dict[str, list[dict]] = {}
    for s in servers:
        started = time.perf_counter()
        rs = results[s["name"]] = []
        for i, case in enumerate(cases, 1):
            r = run_case(s["base_url"], s["model"], case, args.max_tokens, args.timeout)
            rs.append(r)
            mark = "ok" if r["valid"] else ("TRUNCATED" if r["truncated"] else "INVALID")
            print(f"  [{s['name']} {i}/{len(cases)}] {mark} {r['hits']}/{r['fields']} {r['latency_s']:.2f}s "
                  f"{case['text'][:40]!r}", file=sys.stderr)
        print(f"{s['name']}: {len(cases)} cases in {time.perf_counter() - started:.1f} s", file=sys.stderr)

    sets = sorted({c["set"] for c in cases}, key=lambda x: [c["set"] for c in cases].index(x))
    rows = []
    for s in servers:
        rs = results[s["name"]]
        scopes = [("all", list(range(len(cases))))]
        if len(sets) > 1:
            scopes += [(name, [i for i, c in enumerate(cases) if c["set"] == name]) for name in sets]
        for scope, idx in scopes:
            sm = summarize([rs[i] for i in idx])
            rows.append((s["name"], scope, sm))

    header = ("server", "set", "cases", "valid", "truncated", "errors", "fields right", "mean latency")
    table = [header]
    for name, scope, sm in rows:
        table.append((
            name, scope, str(sm["cases"]), f"{sm['valid']} ({pct(sm['valid'], sm['cases'])})",
            str(sm["truncated"]), str(sm["errors"]),
            f"{sm['hits']}/{sm['fields']} ({pct(sm['hits'], sm['fields'])})",
            f"{sm['mean_latency_s']:.2f} s" if sm["mean_latency_s"] is not None else "-",
        ))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    print()
    for j, row in enumerate(table):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if j == 0:
            print("  ".join("-" * w for w in widths))

    disagreements = []
    for i, case in enumerate(cases):
        keys = {reply_key(results[s["name"]][i]) for s in servers}
        if len(keys) > 1:
            disagreements.append(i)
    print(f"\n{len(disagreements)} of {len(cases)} cases where the servers' replies differ:")
    width = max(len(s["name"]) for s in servers)
    for i in disagreements:
        case = cases[i]
        print(f"\n  {case['text']!r}  expected {json_text(case['expected'])}")
        for s in servers:
            r = results[s["name"]][i]
            # On one line: runs of whitespace (pretty-printing) shown as one space.
            reply = re.sub(r"\s+", " ", r["reply"]).strip() if r["reply"] is not None else f"<{r['error']}>"
            note = f"{r['hits']}/{r['fields']}"
            if not r["valid"]:
                note += f", INVALID ({r['invalid_reason']})" if not r["truncated"] else ", TRUNCATED"
            print(f"    {s['name'].ljust(width)}  {reply}  [{note}]")

    if args.json_out:
        doc = {
            "max_tokens": args.max_tokens,
            "validator": validator,
            "servers": [dict(s, summary=summarize(results[s["name"]])) for s in servers],
            "cases": [
                dict(case, results={s["name"]: {k: v for k, v in results[s["name"]][i].items()}
                                    for s in servers})
                for i, case in enumerate(cases)
            ],
        }
        Path(args.json_out).write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
        print(f"\nwrote {args.json_out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
