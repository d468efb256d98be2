#!/usr/bin/env python3
"""Regenerate the JSONSchemaBench test sample checked in next to this script.

Usage:
    python3 sample.py /path/to/jsonschemabench-checkout [output-dir]

The checkout is https://github.com/guidance-ai/jsonschemabench (schemas live in
data/<dataset>/<id>.json). The output dir defaults to the directory holding this
script. Writes sample.jsonl and generation.txt and prints per-dataset counts.

Selection rule, per dataset (each dataset gets a fresh random.Random(SEED)):
  1. list the dataset's *.json file names and sort them (plain str sort);
  2. shuffle with random.Random(SEED).sample(names, len(names));
  3. walk that order and keep the first PER_DATASET schemas that
     - parse as strict JSON (UTF-8, no NaN/Infinity), and
     - are at most MAX_BYTES long once re-serialised compactly.
  Schemas that fail either test are skipped and counted.
The id of a schema is its file name without the trailing ".json".
generation.txt lists the first GEN_PER_DATASET kept ids of each dataset.
"""

import json
import os
import random
import subprocess
import sys

SEED = 0
PER_DATASET = 30
GEN_PER_DATASET = 4
MAX_BYTES = 100_000

DATASETS = [
    "Github_easy",
    "Github_hard",
    "Github_medium",
    "Github_trivial",
    "Github_ultra",
    "Glaiveai2K",
    "JsonSchemaStore",
    "Kubernetes",
    "Snowplow",
    "WashingtonPost",
]


def _reject_constant(name):
    raise ValueError(f"non-standard JSON constant {name}")


def load_strict(path):
    with open(path, "rb") as f:
        raw = f.read()
    return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)


def compact(obj):
    # Key order is preserved on purpose: the benchmark reorders keys deliberately.
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    repo = sys.argv[1]
    out_dir = sys.argv[2] if len(sys.argv) == 3 else os.path.dirname(os.path.abspath(__file__))
    data_dir = os.path.join(repo, "data")

    try:
        commit = subprocess.run(
            ["git", "-C", repo, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except Exception:
        commit = "unknown"
    print(f"source commit: {commit}")

    lines = []
    gen = []
    print(f"{'dataset':16} {'files':>6} {'kept':>5} {'bad_json':>8} {'too_big':>7} {'missing':>7}")
    for ds in DATASETS:
        names = sorted(n for n in os.listdir(os.path.join(data_dir, ds)) if n.endswith(".json"))
        order = random.Random(SEED).sample(names, len(names))
        kept, bad_json, too_big, missing = [], [], [], []
        for name in order:
            if len(kept) == PER_DATASET:
                break
            path = os.path.join(data_dir, ds, name)
            try:
                schema = load_strict(path)
            except FileNotFoundError:
                missing.append(name)
                continue
            except (ValueError, UnicodeDecodeError):
                bad_json.append(name)
                continue
            text = compact(schema)
            if len(text.encode("utf-8")) > MAX_BYTES:
                too_big.append(name)
                continue
            sid = name[: -len(".json")]
            kept.append(sid)
            lines.append(
                '{"dataset":' + json.dumps(ds) + ',"id":' + json.dumps(sid, ensure_ascii=False)
                + ',"schema":' + text + "}"
            )
        gen.extend(f"{ds}/{sid}" for sid in kept[:GEN_PER_DATASET])
        print(f"{ds:16} {len(names):6} {len(kept):5} {len(bad_json):8} {len(too_big):7} {len(missing):7}")
        for kind, lst in (("bad_json", bad_json), ("too_big", too_big), ("missing", missing)):
            if lst:
                print(f"    {kind}: {', '.join(lst)}")

    with open(os.path.join(out_dir, "sample.jsonl"), "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(out_dir, "generation.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(gen) + "\n")
    print(f"total: {len(lines)} schemas, generation slice: {len(gen)} ids")


if __name__ == "__main__":
    main()
