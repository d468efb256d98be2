"""Checks request bodies against the official SDKs' types, one JSON line in, one JSON line out.

    python conformance.py < requests.jsonl

Each input line is `{"api": API, "body": {...}}`, API one of
    anthropic                a POST /v1/messages body, as the anthropic SDK's API version takes it
    anthropic-legacy         the same sent as anthropic-version 2023-06-01: may also carry
                             temperature, top_p, top_k and the structured-outputs beta's
                             top-level output_format
    anthropic-batch          a POST /v1/messages/batches body
    anthropic-batch-legacy   a batch whose params are legacy requests
    gemini                   a generateContent body (camelCase, exact enum values)
and each output line is `{"ok": true}` or `{"ok": false, "errors": ["path: message", ...]}`, in
order. Exits 0 whatever the verdicts; 2 (with the reason on stderr) when a line of its own input
is not such an object, after answering the lines before it. Blank lines are skipped.
See anthropic_types.py and gemini_types.py for what is checked.
"""
from __future__ import annotations

import json
import os
import sys
from typing import Any, Callable, Dict, List

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts, in the work tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import anthropic_types  # noqa: E402
import gemini_types  # noqa: E402

CHECKS: Dict[str, Callable[[Any], List[str]]] = {
    "anthropic": lambda body: anthropic_types.validate(body),
    "anthropic-legacy": lambda body: anthropic_types.validate(body, legacy=True),
    "anthropic-batch": lambda body: anthropic_types.validate(body, batch=True),
    "anthropic-batch-legacy": lambda body: anthropic_types.validate(body, legacy=True, batch=True),
    "gemini": lambda body: gemini_types.validate(body),
}


def main() -> int:
    # All input first: the caller writes every line before it reads any answer, so answering
    # while it still writes could fill both pipes and hang.
    lines = sys.stdin.read().splitlines()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as e:
            print(f"conformance.py: input line {n} is not JSON: {e}", file=sys.stderr)
            return 2
        if not isinstance(item, dict) or item.get("api") not in CHECKS or "body" not in item:
            print(f"conformance.py: input line {n} must be {{\"api\": one of {sorted(CHECKS)}, \"body\": ...}}, "
                  f"got {line.strip()[:200]}", file=sys.stderr)
            return 2
        errors = CHECKS[item["api"]](item["body"])
        print(json.dumps({"ok": True} if not errors else {"ok": False, "errors": errors}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
