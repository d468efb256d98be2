#!/usr/bin/env python3
"""The JSONSchemaBench sample against OpenAI-compatible servers, side by side.

    schemabench_compare.py NAME=BASE_URL [NAME=BASE_URL ...] [--sample FILE] [--only FILE]
                           [--limit-per-dataset N] [--max-tokens N] [--timeout S] [--json-out FILE]
                           [--state FILE --restart-file FILE]

BASE_URL ends in /v1. Every schema of the sample (crates/instructor-engine/tests/data/
jsonschemabench/sample.jsonl; `--only generation.txt` keeps the "dataset/id" lines of that file,
looked up next to the sample when the path does not exist as given; `--limit-per-dataset N` keeps
the first N of each dataset) goes to every server as the same chat-completions request:
temperature 0, max_tokens 384, the server's own model id (GET BASE/models, data[0].id), a fixed
system and user message, and response_format json_schema (strict) with the schema.

Each (schema, server) is one of:

  valid         finish_reason is not "length", and the reply parses as JSON and satisfies the
                schema (jsonschema's validator for the schema's $schema draft, 2020-12 when there
                is none, as jsonschema and the Rust jsonschema crate default; formats not checked)
  truncated     finish_reason "length" (max_tokens cut the reply)
  invalid       a finished reply that is not JSON or breaks the schema (the error is printed)
  refused       HTTP 4xx (status and error message recorded)
  server_error  HTTP 5xx
  crash         the connection was refused, reset or closed without an answer: the server died
  timeout       no answer within --timeout seconds
  unchecked     a finished JSON reply the validator could not check (the validator raised)

The `Warning` response header (our server names there the parts of a schema its grammar cannot
enforce) is recorded for every answer.

Servers are run one after the other, schema by schema. With --state and --restart-file (as
scripts/schemabench-vs-llama-server.sh runs it) a crash or a timeout saves the results so far to
the state file, writes the server's name and the reason to the restart file and exits 3: the
caller restarts that server and runs the script again with the same state file and the new
address, and the run goes on where it stopped. Without them, a server that crashed is not asked
again (its remaining schemas are `not_run`), and a timeout is recorded and the run goes on.

Exit status: 0 when the run is complete (whatever the results), 2 on bad arguments or a server
that cannot list its models, 3 when a server must be restarted (above).
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import sys
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path

try:
    import jsonschema  # type: ignore
    from jsonschema import validators as _validators  # type: ignore
except Exception:  # noqa: BLE001
    jsonschema = None

DEFAULT_SAMPLE = "crates/instructor-engine/tests/data/jsonschemabench/sample.jsonl"
SYSTEM = "You are a helpful assistant. Answer with JSON."
USER = "Give an example of a value of this kind."
CLASSES = ["valid", "truncated", "invalid", "refused", "server_error", "crash", "timeout", "unchecked"]
RESTART_EXIT = 3


# ---------------------------------------------------------------------------------------------
# Validation.

DRAFTS = {
    "4": "Draft4Validator", "6": "Draft6Validator", "7": "Draft7Validator",
    "2019-09": "Draft201909Validator", "2020-12": "Draft202012Validator",
}


def validator_class(schema, default_draft: str):
    default = getattr(jsonschema, DRAFTS[default_draft])
    if not isinstance(schema, dict):
        return default
    return _validators.validator_for(schema, default=default)


def check(value, schema, default_draft: str) -> tuple[str, str | None, str]:
    """("valid" | "invalid" | "unchecked", the reason, the validator's name)."""
    cls = validator_class(schema, default_draft)
    try:
        validator = cls(schema)  # no format_checker: formats are annotations here
        errors = list(validator.iter_errors(value))
    except Exception as e:  # noqa: BLE001 - a pattern Python cannot compile, a $ref it cannot resolve...
        return "unchecked", f"{type(e).__name__}: {e}"[:500], cls.__name__
    if not errors:
        return "valid", None, cls.__name__
    best = jsonschema.exceptions.best_match(errors)
    where = best.json_path if hasattr(best, "json_path") else "/".join(map(str, best.absolute_path))
    via = "/".join(map(str, best.absolute_schema_path))
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return "invalid", f"{best.message[:400]} at {where} (schema {via}){more}", cls.__name__


# ---------------------------------------------------------------------------------------------
# HTTP.

CONNECTION_ERRORS = (ConnectionError, http.client.RemoteDisconnected, http.client.IncompleteRead,
                     http.client.BadStatusLine)


def is_timeout(e: BaseException) -> bool:
    if isinstance(e, (TimeoutError, socket.timeout)):
        return True
    return isinstance(e, urllib.error.URLError) and isinstance(e.reason, (TimeoutError, socket.timeout))


def is_connection_error(e: BaseException) -> bool:
    if isinstance(e, CONNECTION_ERRORS):
        return True
    if isinstance(e, urllib.error.URLError) and not isinstance(e, urllib.error.HTTPError):
        return isinstance(e.reason, (ConnectionError, OSError)) and not is_timeout(e)
    return False


def http_json(url: str, body=None, timeout: float = 60.0):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.status, resp.headers, resp.read()


def model_id(base: str) -> str:
    _, _, raw = http_json(f"{base}/models", timeout=60)
    return json.loads(raw)["data"][0]["id"]


def alive(base: str) -> bool:
    """False when the server does not take connections (it died); anything else counts as up."""
    try:
        http_json(f"{base}/models", timeout=10)
    except Exception as e:  # noqa: BLE001
        return not is_connection_error(e)
    return True


def request_body(model: str, schema, max_tokens: int) -> dict:
    return {
        "model": model,
        "temperature": 0,
        "max_tokens": max_tokens,
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "value", "schema": schema, "strict": True},
        },
    }


def error_message(raw: bytes) -> str:
    text = raw.decode(errors="replace")
    try:
        doc = json.loads(text)
        err = doc.get("error", doc) if isinstance(doc, dict) else doc
        if isinstance(err, dict):
            msg = err.get("message") or json.dumps(err)
            extra = ", ".join(f"{k}={err[k]}" for k in ("code", "param", "type") if err.get(k))
            return f"{msg} [{extra}]" if extra else msg
        return str(err)
    except (json.JSONDecodeError, AttributeError):
        return text.strip()


def run_one(base: str, model: str, schema, max_tokens: int, timeout: float, default_draft: str) -> dict:
    out = {"class": None, "status": None, "finish_reason": None, "reply": None, "reason": None,
           "warning": None, "validator": None, "latency_s": None, "completion_tokens": None}
    started = time.perf_counter()
    try:
        status, headers, raw = http_json(f"{base}/chat/completions", request_body(model, schema, max_tokens), timeout)
    except urllib.error.HTTPError as e:
        out["latency_s"] = time.perf_counter() - started
        out["status"] = e.code
        warnings = e.headers.get_all("Warning") if e.headers else None
        out["warning"] = "; ".join(warnings) if warnings else None
        try:
            body = e.read()
        except Exception:  # noqa: BLE001
            body = b""
        out["reason"] = error_message(body)[:2000]
        out["class"] = "refused" if 400 <= e.code < 500 else "server_error" if e.code >= 500 else "refused"
        return out
    except Exception as e:  # noqa: BLE001
        out["latency_s"] = time.perf_counter() - started
        out["reason"] = f"{type(e).__name__}: {getattr(e, 'reason', e)}"
        if is_timeout(e):
            out["class"] = "timeout"
        elif is_connection_error(e):
            out["class"] = "crash"
        else:
            raise
        return out
    out["latency_s"] = time.perf_counter() - started
    out["status"] = status
    warnings = headers.get_all("Warning")
    out["warning"] = "; ".join(warnings) if warnings else None
    try:
        resp = json.loads(raw)
        choice = resp["choices"][0]
        out["finish_reason"] = choice.get("finish_reason")
        out["reply"] = choice["message"].get("content")
        out["completion_tokens"] = (resp.get("usage") or {}).get("completion_tokens")
    except (json.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError):
        out["class"] = "invalid"
        out["reason"] = f"not a chat completion: {raw[:300].decode(errors='replace')}"
        return out
    if out["finish_reason"] == "length":
        out["class"] = "truncated"
        return out
    try:
        value = json.loads(out["reply"] if out["reply"] is not None else "")
    except json.JSONDecodeError as e:
        out["class"] = "invalid"
        out["reason"] = f"not JSON: {e}"
        return out
    out["class"], out["reason"], out["validator"] = check(value, schema, default_draft)
    return out


# ---------------------------------------------------------------------------------------------
# The sample.


def load_sample(path: str, only: str | None, limit: int | None) -> list[dict]:
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    if only:
        only_path = Path(only)
        if not only_path.exists():
            only_path = Path(path).parent / only
        wanted = [line.strip() for line in only_path.read_text().splitlines() if line.strip()]
        by_key = {f"{r['dataset']}/{r['id']}": r for r in rows}
        missing = [k for k in wanted if k not in by_key]
        if missing:
            raise SystemExit(f"schemabench_compare: not in {path}: {', '.join(missing)}")
        rows = [by_key[k] for k in wanted]
    if limit is not None:
        seen: Counter = Counter()
        kept = []
        for r in rows:
            if seen[r["dataset"]] < limit:
                seen[r["dataset"]] += 1
                kept.append(r)
        rows = kept
    for r in rows:
        r["key"] = f"{r['dataset']}/{r['id']}"
    return rows


def one_line(text: str | None, width: int) -> str:
    if text is None:
        return ""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def table(rows: list[tuple]) -> list[str]:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for j, r in enumerate(rows):
        cells = [str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(cells).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def summarize(results: list[dict]) -> dict:
    counts = Counter(r["class"] for r in results)
    n = len(results)
    return {"schemas": n, **{c: counts.get(c, 0) for c in CLASSES + ["not_run"]},
            "coverage": counts.get("valid", 0) / n if n else None,
            "with_warning": sum(1 for r in results if r.get("warning")),
            "seconds": sum(r["latency_s"] or 0 for r in results)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("servers", nargs="+", metavar="NAME=BASE_URL")
    ap.add_argument("--sample", default=DEFAULT_SAMPLE)
    ap.add_argument("--only", metavar="FILE", help="a list of dataset/id lines (e.g. generation.txt)")
    ap.add_argument("--limit-per-dataset", type=int, metavar="N")
    ap.add_argument("--max-tokens", type=int, default=384)
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per request (default 120)")
    ap.add_argument("--default-draft", choices=sorted(DRAFTS), default="2020-12",
                    help="the draft for schemas without $schema (default 2020-12)")
    ap.add_argument("--json-out", metavar="FILE")
    ap.add_argument("--state", metavar="FILE", help="results so far, kept across restarts")
    ap.add_argument("--restart-file", metavar="FILE",
                    help="on a crash or timeout: write 'NAME REASON' here and exit 3")
    args = ap.parse_args()
    if jsonschema is None:
        print("schemabench_compare: needs the jsonschema package (run it with ~/.cache/instructor/py-venv/bin/python)",
              file=sys.stderr)
        return 2
    if bool(args.state) != bool(args.restart_file):
        print("schemabench_compare: --state and --restart-file go together", file=sys.stderr)
        return 2

    servers = []
    for spec in args.servers:
        name, sep, base = spec.partition("=")
        if not sep or not name or not base:
            print(f"schemabench_compare: expected NAME=BASE_URL, got {spec!r}", file=sys.stderr)
            return 2
        base = base.rstrip("/")
        try:
            model = model_id(base)
        except Exception as e:  # noqa: BLE001
            print(f"schemabench_compare: {name}: cannot list models at {base}/models: {e}", file=sys.stderr)
            return 2
        servers.append({"name": name, "base_url": base, "model": model})
    samples = load_sample(args.sample, args.only, args.limit_per_dataset)
    datasets = list(dict.fromkeys(s["dataset"] for s in samples))

    from importlib.metadata import version
    settings = {"sample": args.sample, "only": args.only, "limit_per_dataset": args.limit_per_dataset,
                "max_tokens": args.max_tokens, "timeout_s": args.timeout, "default_draft": args.default_draft,
                "validator": f"jsonschema {version('jsonschema')}", "system": SYSTEM, "user": USER}
    state = {"settings": settings, "results": {}, "restarts": []}
    if args.state and Path(args.state).exists() and Path(args.state).stat().st_size:
        state = json.loads(Path(args.state).read_text())
        if state["settings"] != settings:
            print("schemabench_compare: the state file is from a run with other settings", file=sys.stderr)
            return 2
    results: dict = state["results"]
    done = sum(len(v) for v in results.values())
    print(f"{len(samples)} schemas x {len(servers)} servers, max_tokens {args.max_tokens}, timeout {args.timeout:g} s, "
          f"{settings['validator']}" + (f"; resuming with {done} results" if done else ""), file=sys.stderr)
    for s in servers:
        print(f"  {s['name']}: {s['base_url']} (model {s['model']})", file=sys.stderr)

    def save_state():
        if args.state:
            tmp = Path(args.state + ".tmp")
            tmp.write_text(json.dumps(state, ensure_ascii=False))
            tmp.replace(args.state)

    def restart(name: str, reason: str, key: str | None) -> int:
        state["restarts"].append({"server": name, "reason": reason, "schema": key, "at": time.time()})
        save_state()
        Path(args.restart_file).write_text(f"{name} {reason}\n")
        print(f"  {name}: {reason}{f' at {key}' if key else ''}: asking for a restart", file=sys.stderr)
        return RESTART_EXIT

    # Server by server, so one server's work never overlaps the other's timing.
    for s in servers:
        rs = results.setdefault(s["name"], {})
        down = False
        for i, sample in enumerate(samples, 1):
            key = sample["key"]
            if key in rs:
                continue
            if down:
                rs[key] = {"class": "not_run", "reason": "the server had crashed", "latency_s": None, "warning": None}
                continue
            # A server that died while idle is not blamed on the next schema.
            if not alive(s["base_url"]):
                if args.restart_file:
                    return restart(s["name"], "died-idle", key)
                print(f"  {s['name']}: down before {key}; its remaining schemas are not run", file=sys.stderr)
                down = True
                rs[key] = {"class": "not_run", "reason": "the server was down", "latency_s": None, "warning": None}
                continue
            r = run_one(s["base_url"], s["model"], sample["schema"], args.max_tokens, args.timeout, args.default_draft)
            rs[key] = r
            print(f"  [{s['name']} {i}/{len(samples)}] {key}: {r['class']} {r['latency_s']:.2f}s"
                  + (f" HTTP {r['status']}" if r["class"] in ("refused", "server_error") else "")
                  + (f" {one_line(r['reason'], 150)}" if r["reason"] and r["class"] != "valid" else "")
                  + (" [Warning]" if r["warning"] else ""), file=sys.stderr)
            if r["class"] in ("crash", "timeout"):
                if args.restart_file:
                    return restart(s["name"], r["class"], key)
                if r["class"] == "crash" and not alive(s["base_url"]):
                    print(f"  {s['name']}: down after {key}; its remaining schemas are not run", file=sys.stderr)
                    down = True
            save_state()
        save_state()

    # ------------------------------------------------------------------------------------------
    # Report.
    header = ("dataset", "schemas", "valid", "truncated", "invalid", "refused", "5xx", "crash", "timeout",
              "coverage")
    extra = [c for c in ("unchecked", "not_run") if any(r["class"] == c for rs in results.values() for r in rs.values())]
    header = header[:-1] + tuple(extra) + header[-1:]
    summaries: dict = {}
    for s in servers:
        rs = results[s["name"]]
        per = {}
        for d in datasets + ["total"]:
            keys = [x["key"] for x in samples if d == "total" or x["dataset"] == d]
            per[d] = summarize([rs[k] for k in keys])
        summaries[s["name"]] = per
        rows = [header]
        for d, sm in per.items():
            rows.append((d, sm["schemas"], sm["valid"], sm["truncated"], sm["invalid"], sm["refused"],
                         sm["server_error"], sm["crash"], sm["timeout"], *[sm[c] for c in extra],
                         f"{100 * sm['coverage']:.0f}%" if sm["coverage"] is not None else "-"))
        tot = per["total"]
        print(f"\n{s['name']} ({s['model']}): {tot['schemas']} schemas, {tot['seconds']:.0f} s of requests "
              f"({tot['seconds'] / max(tot['schemas'], 1):.2f} s per schema), "
              f"{tot['with_warning']} answers with a Warning header")
        print("\n".join(table(rows)))

    if len(servers) > 1:
        rows = [("dataset", *[f"{s['name']} valid" for s in servers])]
        for d in datasets + ["total"]:
            rows.append((d, *[f"{summaries[s['name']][d]['valid']}/{summaries[s['name']][d]['schemas']}"
                              for s in servers]))
        print("\ncoverage side by side")
        print("\n".join(table(rows)))

    def listing(title: str, classes: tuple, width: int = 400):
        print(f"\n{title}")
        any_ = False
        for s in servers:
            for x in samples:
                r = results[s["name"]][x["key"]]
                if r["class"] in classes:
                    any_ = True
                    status = f" HTTP {r['status']}" if r.get("status") and r["class"] != "invalid" else ""
                    print(f"  {s['name']} {x['key']}: {r['class']}{status}: {one_line(r['reason'], width)}")
                    if r["class"] == "invalid" and r.get("reply") is not None:
                        print(f"      reply: {one_line(r['reply'], 300)}")
        if not any_:
            print("  none")

    listing("invalid (finished replies that break their schema):", ("invalid",))
    listing("unchecked, crash, timeout, 5xx:", ("unchecked", "crash", "timeout", "server_error"))
    listing("refused (4xx):", ("refused",), 240)
    print("\nWarning headers:")
    n_warn = 0
    for s in servers:
        for x in samples:
            r = results[s["name"]][x["key"]]
            if r.get("warning"):
                n_warn += 1
                print(f"  {s['name']} {x['key']} ({r['class']}): {one_line(r['warning'], 240)}")
    if not n_warn:
        print("  none")
    if state["restarts"]:
        print("\nrestarts:")
        for e in state["restarts"]:
            print(f"  {e['server']}: {e['reason']} at {e['schema']}")

    if args.json_out:
        doc = {
            "settings": settings,
            "servers": [dict(s, summary=summaries[s["name"]]) for s in servers],
            "restarts": state["restarts"],
            "schemas": [
                {"dataset": x["dataset"], "id": x["id"], "results": {s["name"]: results[s["name"]][x["key"]]
                                                                      for s in servers}}
                for x in samples
            ],
        }
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
        print(f"\nwrote {args.json_out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
