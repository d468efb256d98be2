"""The llama-server side of scripts/bench-engine.sh: llama.cpp's own server on the same GGUF, the
same templated prompts and thread count, timed by the server itself (`timings` of `/completion`).
Prints one JSON object with the fields it can measure, named as on the Rust side.

usage: bench_engine_llama_server.py BASE_URL PROMPTS_JSON THREADS
"""
import json
import statistics
import sys
import urllib.request

base, prompts_file, threads = sys.argv[1].rstrip("/"), sys.argv[2], int(sys.argv[3])
prompts = json.load(open(prompts_file))
RUNS = 5


def completion(prompt, n_predict):
    """A greedy completion with nothing reused from earlier requests; the server's timings."""
    body = {"prompt": prompt, "n_predict": n_predict, "temperature": 0.0, "cache_prompt": False,
            "ignore_eos": True}
    request = urllib.request.Request(f"{base}/completion", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.load(response)["timings"]


completion(prompts["short"], 8)
prefill, decode, prompt_tokens = [], [], 0
for _ in range(RUNS):
    t = completion(prompts["short"], 1)
    prefill.append(t["prompt_ms"])
    prompt_tokens = t["prompt_n"]
    decode.append(completion(prompts["story"], 128)["predicted_per_second"])
print(json.dumps({
    "side": "llama-server", "threads": threads, "prompt_tokens": prompt_tokens,
    "prefill_ms": statistics.median(prefill), "decode_tps": statistics.median(decode),
}))
