"""The llama-cpp-python side of scripts/bench-engine.sh: same GGUF, same templated prompts,
same thread count. Prints one JSON object with the same fields as the Rust side."""
import json
import statistics
import sys
import time

from llama_cpp import Llama

model, prompts_file, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
prompts = json.load(open(prompts_file))
llm = Llama(model_path=model, n_threads=threads, n_threads_batch=threads, n_ctx=4096, verbose=False)
RUNS = 5


def run(prompt, max_tokens):
    """Time to first token and decode tokens/s for a greedy completion."""
    llm.reset()
    start = time.perf_counter()
    first = None
    n = 0
    for _ in llm.create_completion(prompt, max_tokens=max_tokens, temperature=0.0, stream=True):
        n += 1
        if first is None:
            first = time.perf_counter()
    end = time.perf_counter()
    decode = (n - 1) / (end - first) if n > 1 else 0.0
    return (first - start) * 1e3, decode


def prefill(prompt):
    llm.reset()
    tokens = llm.tokenize(prompt.encode(), add_bos=True, special=True)
    start = time.perf_counter()
    llm.eval(tokens)
    return (time.perf_counter() - start) * 1e3, len(tokens)


def first_token_after(earlier, prompt):
    """First-token time for `prompt` right after `earlier` (llama-cpp-python reuses the KV
    cache of the longest shared prefix when not reset)."""
    llm.reset()
    for _ in llm.create_completion(earlier, max_tokens=1, temperature=0.0):
        pass
    start = time.perf_counter()
    for _ in llm.create_completion(prompt, max_tokens=1, temperature=0.0, stream=True):
        return (time.perf_counter() - start) * 1e3


run(prompts["short"], 8)
pre, first, shared, decode = [], [], [], []
others = prompts["shared"][1:]
for i in range(RUNS):
    ms, n_prompt = prefill(prompts["short"])
    pre.append(ms)
    first.append(run(prompts["short"], 1)[0])
    shared.append(first_token_after(prompts["shared"][0], others[i % len(others)]))
    decode.append(run(prompts["story"], 128)[1])


def peak_rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


print(json.dumps({
    "side": "llama-cpp-python",
    "threads": threads,
    "prompt_tokens": n_prompt,
    "prefill_ms": statistics.median(pre),
    "first_token_ms": statistics.median(first),
    "first_token_shared_prefix_ms": statistics.median(shared),
    "decode_tps": statistics.median(decode),
    "peak_rss_mb": peak_rss_mb(),
}))
