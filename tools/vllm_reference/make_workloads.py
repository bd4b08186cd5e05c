#!/usr/bin/env python3
"""Generate TinyServe/vLLM reference workloads (format: README.md).

Subcommands:
  azure      the Azure LLM inference conversation trace (CSV)
  mooncake   the Mooncake conversation trace (JSONL with hash_ids)
  synthetic  burst / staggered / shared system prompt / parallel sampling
  goldens    write workload.jsonl + config.json of every committed golden
  check      check that the recorded goldens exercise every mechanism

Every generator is deterministic (no Python `random`; draws come from
splitmix64 of a seed), so a re-run writes byte-identical files.
Needs no vLLM (plain python3 >= 3.9).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))

import ts_common as ts  # noqa: E402

AZURE_CONV = REPO / "assets/traces/AzureLLMInferenceTrace_conv.csv"
MOONCAKE_CONV = REPO / "assets/traces/mooncake_conversation_trace.jsonl"
MOONCAKE_BLOCK_TOKENS = 512


# ---- helpers ---------------------------------------------------------------


class Draws:
    """Deterministic integer draws: the i-th draw of stream `tag` is
    splitmix64(hash_combine(seed, tag) + i)."""

    def __init__(self, seed: int, tag: int):
        self.base = ts.hash_combine(seed & ts.MASK64, tag & ts.MASK64)
        self.i = 0

    def below(self, bound: int) -> int:
        self.i += 1
        return ts.splitmix64((self.base + self.i) & ts.MASK64) % bound

    def uniform(self, lo: int, hi: int) -> int:
        """Integer in [lo, hi]."""
        return lo + self.below(hi - lo + 1)


def clamp_lengths(prompt: list[tuple[int, int]], output_len: int, max_model_len: int):
    """TinyServe's clamp (core/workload/trace.cpp clamp_lengths): the prompt
    is cut to max_model_len - 1 tokens (dropping or shortening trailing
    segments), the output to max_model_len - prompt_len. Returns
    (prompt, output_len, clamped)."""
    clamped = False
    plen = sum(n for _, n in prompt)
    if max_model_len > 0 and plen > max_model_len - 1:
        kept, out = 0, []
        for c, n in prompt:
            if kept >= max_model_len - 1:
                break
            n = min(n, max_model_len - 1 - kept)
            out.append((c, n))
            kept += n
        prompt, plen, clamped = out, kept, True
    if max_model_len > 0 and output_len > max_model_len - plen:
        output_len, clamped = max_model_len - plen, True
    return prompt, output_len, clamped


def azure_ticks(stamp: str) -> int:
    """'YYYY-MM-DD HH:MM:SS.fffffff' -> integer 100 ns ticks (exact)."""
    stamp = stamp.strip()
    whole, _, frac = stamp.partition(".")
    t = dt.datetime.strptime(whole, "%Y-%m-%d %H:%M:%S")
    days = t.toordinal()
    secs = t.hour * 3600 + t.minute * 60 + t.second
    frac = (frac + "0000000")[:7]
    return (days * 86400 + secs) * 10_000_000 + int(frac)


def arrivals_for(kind: str, times_num: list[int], denom: int, steps_per_second: int,
                 stagger: int) -> list[int]:
    """Arrival step of each request.
    trace:     floor((t_i - t_0) * steps_per_second), t in units of 1/denom s
    burst:     0 for all
    staggered: i * stagger (request i in file order)"""
    if kind == "trace":
        t0 = times_num[0]
        return [((t - t0) * steps_per_second) // denom for t in times_num]
    if kind == "burst":
        return [0] * len(times_num)
    if kind == "staggered":
        return [i * stagger for i in range(len(times_num))]
    raise ValueError(kind)


# ---- trace workloads -------------------------------------------------------


def azure_workload(count: int, arrival: str = "trace", steps_per_second: int = 20,
                   stagger: int = 1, max_model_len: int = 0, max_output: int = 0,
                   trace: Path = AZURE_CONV) -> tuple[list[ts.WorkloadRequest], dict]:
    """Request i = the i-th data row (0-based) of the CSV: one prompt segment
    of ContextTokens tokens with content hash_combine(AZURE_CONTENT, i) (as
    TinyServe's trace reader), output GeneratedTokens (optionally capped at
    max_output), TinyServe's clamp to max_model_len."""
    rows = []
    with open(trace, newline="") as f:
        reader = csv.DictReader(f)
        for row in reader:
            rows.append(row)
            if count and len(rows) >= count:
                break
    ticks = [azure_ticks(r["TIMESTAMP"]) for r in rows]
    arr = arrivals_for(arrival, ticks, 10_000_000, steps_per_second, stagger)
    reqs, clamped = [], 0
    for i, r in enumerate(rows):
        prompt = [(ts.hash_combine(ts.AZURE_CONTENT, i), int(r["ContextTokens"]))]
        out = int(r["GeneratedTokens"])
        if max_output:
            out = min(out, max_output)
        prompt, out, c = clamp_lengths(prompt, out, max_model_len)
        clamped += c
        reqs.append(ts.WorkloadRequest(id=i, arrival=arr[i], prompt=prompt, output_len=out))
    return reqs, {"clamped": clamped}


def mooncake_workload(count: int, arrival: str = "trace", steps_per_second: int = 20,
                      stagger: int = 1, max_model_len: int = 0, max_output: int = 0,
                      max_input: int = 0,
                      trace: Path = MOONCAKE_CONV) -> tuple[list[ts.WorkloadRequest], dict]:
    """The first `count` lines (all: 0) whose input_length <= max_input (0: no
    filter), in file order; request id = the line's 0-based index in the file
    (ids are then not contiguous). Hash id h covers 512 tokens: one segment
    of content hash_combine(MOONCAKE_BLOCK_CONTENT, h) and length
    min(512, input_length - tokens placed so far); tokens beyond the hash ids
    (input_length > 512 * len(hash_ids)) form a last segment of content
    hash_combine(MOONCAKE_TAIL_CONTENT, i). As TinyServe's trace reader.
    Timestamps are in ms."""
    rows, line_ids = [], []
    with open(trace) as f:
        for index, line in enumerate(f):
            if not line.strip():
                continue
            r = json.loads(line)
            if max_input and int(r["input_length"]) > max_input:
                continue
            rows.append(r)
            line_ids.append(index)
            if count and len(rows) >= count:
                break
    arr = arrivals_for(arrival, [int(r["timestamp"]) for r in rows], 1000, steps_per_second,
                       stagger)
    reqs, clamped, mismatch = [], 0, 0
    for j, r in enumerate(rows):
        i = line_ids[j]
        n_in = int(r["input_length"])
        covered = MOONCAKE_BLOCK_TOKENS * len(r["hash_ids"])
        if n_in > covered or n_in <= covered - MOONCAKE_BLOCK_TOKENS:
            mismatch += 1
        prompt, placed = [], 0
        for h in r["hash_ids"]:
            if placed >= n_in:
                break
            n = min(MOONCAKE_BLOCK_TOKENS, n_in - placed)
            prompt.append((ts.hash_combine(ts.MOONCAKE_BLOCK_CONTENT, int(h)), n))
            placed += n
        if placed < n_in:
            prompt.append((ts.hash_combine(ts.MOONCAKE_TAIL_CONTENT, i), n_in - placed))
        out = int(r["output_length"])
        if max_output:
            out = min(out, max_output)
        out = max(out, 1)
        prompt, out, c = clamp_lengths(prompt, out, max_model_len)
        clamped += c
        reqs.append(ts.WorkloadRequest(id=i, arrival=arr[j], prompt=prompt, output_len=out))
    return reqs, {"clamped": clamped, "hash_mismatch": mismatch}


# ---- synthetic workloads ---------------------------------------------------


def synthetic_workload(kind: str, count: int, seed: int = 1, stagger: int = 2,
                       prompt_min: int = 64, prompt_max: int = 1024,
                       output_min: int = 16, output_max: int = 256,
                       system_prompts: int = 4, system_len: int = 1000,
                       n: int = 4) -> tuple[list[ts.WorkloadRequest], dict]:
    """kind:
      burst      count requests at step 0, one unique segment each
      staggered  request i arrives at step i * stagger
      shared     request i: system prompt (i * 7 + draw) % system_prompts of
                 system_len tokens (content hash_combine(SYNTH_SYSTEM_CONTENT, k)),
                 then a unique user segment; arrivals staggered
      parallel   as staggered, every request with n samples
    Unique segments have content hash_combine(SYNTH_USER_CONTENT, seed * 2^20 + i).
    Lengths: uniform integers from Draws(seed, tag) streams."""
    plen = Draws(seed, 1)
    olen = Draws(seed, 2)
    pick = Draws(seed, 3)
    reqs = []
    for i in range(count):
        user = (ts.hash_combine(ts.SYNTH_USER_CONTENT, (seed << 20) + i), plen.uniform(prompt_min, prompt_max))
        out = olen.uniform(output_min, output_max)
        arrival = 0 if kind == "burst" else i * stagger
        prompt = [user]
        nn = 1
        if kind == "shared":
            k = pick.below(system_prompts)
            prompt = [(ts.hash_combine(ts.SYNTH_SYSTEM_CONTENT, (seed << 8) + k), system_len), user]
        elif kind == "parallel":
            nn = n
        elif kind not in ("burst", "staggered"):
            raise ValueError(kind)
        reqs.append(ts.WorkloadRequest(id=i, arrival=arrival, prompt=prompt, output_len=out, n=nn))
    return reqs, {}


# ---- goldens ---------------------------------------------------------------

BASE_CONFIG = {
    "block_size": 16,
    "enable_chunked_prefill": True,
    "async_scheduling": False,
    "long_prefill_token_threshold": 0,
    "scheduler_reserve_full_isl": True,
    "watermark": 0.0,
    "policy": "fcfs",
    "prefix_caching_hash_algo": "sha256",
    "vllm_version": "0.33.0",
}


def golden_specs() -> dict[str, dict]:
    """name -> {"gen": (function, kwargs), "config": {...}, "comment": str}."""
    specs: dict[str, dict] = {}

    def add(name, gen, kwargs, comment, **config):
        cfg = dict(BASE_CONFIG)
        cfg.update(config)
        specs[name] = {"gen": gen, "kwargs": kwargs, "config": cfg, "comment": comment}

    az_small = dict(num_gpu_blocks=384, max_num_seqs=32, max_num_batched_tokens=1024,
                    max_model_len=8192)
    az_large = dict(num_gpu_blocks=2048, max_num_seqs=64, max_num_batched_tokens=2048,
                    max_model_len=8192)
    az_burst = dict(count=80, arrival="burst", max_model_len=8192, max_output=120)
    for pc in (True, False):
        tag = "pc" if pc else "nopc"
        add(f"azure_burst_small_{tag}", "azure", az_burst,
            "Azure conv rows 0-79 all at step 0, outputs capped at 120, a pool of 384 "
            "blocks: preemptions", enable_prefix_caching=pc, **az_small)
        add(f"azure_trace_large_{tag}", "azure",
            dict(count=200, arrival="trace", steps_per_second=20, max_model_len=8192,
                 max_output=150),
            "Azure conv rows 0-199, arrival floor((t-t0)*20) steps, outputs capped at 150, "
            "a pool of 2048 blocks", enable_prefix_caching=pc, **az_large)
    add("azure_burst_small_pc_async", "azure", az_burst,
        "as azure_burst_small_pc with async scheduling",
        enable_prefix_caching=True, **{**az_small, "async_scheduling": True})
    add("azure_staggered_small_pc", "azure",
        dict(count=100, arrival="staggered", stagger=3, max_model_len=8192, max_output=120),
        "Azure conv rows 0-99, one every 3 steps, outputs capped at 120, a pool of 384 blocks",
        enable_prefix_caching=True, **az_small)

    mc = dict(num_gpu_blocks=2048, max_num_seqs=32, max_num_batched_tokens=2048,
              max_model_len=8192)
    for pc in (True, False):
        tag = "pc" if pc else "nopc"
        add(f"mooncake_{tag}", "mooncake",
            dict(count=150, arrival="trace", steps_per_second=10, max_model_len=8192,
                 max_output=128, max_input=8192),
            "Mooncake conversation: the first 150 lines with input_length <= 8192 (ids = "
            "line numbers; shared hash-id prefixes), arrival floor((t-t0)/1000*10) steps, "
            "outputs capped at 128, a pool of 2048 blocks", enable_prefix_caching=pc, **mc)

    sp = dict(num_gpu_blocks=640, max_num_seqs=32, max_num_batched_tokens=1024,
              max_model_len=4096)
    shared = dict(kind="shared", count=300, seed=11, stagger=2, prompt_min=32,
                  prompt_max=400, output_min=8, output_max=160, system_prompts=4,
                  system_len=1000)
    add("shared_prompt_pc", "synthetic", shared,
        "4 system prompts of 1000 tokens + a unique 32-400 token user part, one request "
        "every 2 steps, a pool of 640 blocks", enable_prefix_caching=True, **sp)
    add("shared_prompt_pc_async", "synthetic", shared,
        "as shared_prompt_pc with async scheduling",
        enable_prefix_caching=True, **{**sp, "async_scheduling": True})

    par = dict(num_gpu_blocks=512, max_num_seqs=48, max_num_batched_tokens=1024,
               max_model_len=4096)
    for pc in (True, False):
        tag = "pc" if pc else "nopc"
        add(f"parallel_n4_{tag}", "synthetic",
            dict(kind="parallel", count=50, seed=21, stagger=6, prompt_min=100,
                 prompt_max=700, output_min=16, output_max=160, n=4),
            "50 requests with n=4 (200 scheduler requests), one every 6 steps, a pool of "
            "512 blocks", enable_prefix_caching=pc, **par)
    add("staggered_tiny_pool_pc", "synthetic",
        dict(kind="staggered", count=80, seed=31, stagger=1, prompt_min=16,
             prompt_max=300, output_min=16, output_max=300),
        "unique prompts one per step, a pool of 160 blocks: constant preemption",
        enable_prefix_caching=True, num_gpu_blocks=160, max_num_seqs=24,
        max_num_batched_tokens=512, max_model_len=2048)
    return specs


GENERATORS = {
    "azure": azure_workload,
    "mooncake": mooncake_workload,
    "synthetic": synthetic_workload,
}


def write_golden(name: str, spec: dict, root: Path) -> None:
    reqs, stats = GENERATORS[spec["gen"]](**spec["kwargs"])
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    ts.write_workload(folder / "workload.jsonl", reqs)
    cfg = dict(spec["config"])
    cfg["comment"] = spec["comment"]
    cfg["workload"] = {"generator": spec["gen"], **spec["kwargs"], **stats}
    with open(folder / "config.json", "w") as f:
        json.dump(cfg, f, indent=1, sort_keys=True)
        f.write("\n")


def check_goldens(root: Path) -> int:
    """Every mechanism must occur in at least one recorded golden."""
    need = {
        "preemptions": 0, "evicted_blocks": 0, "partial_prefill_chunks": 0,
        "prefix_hits": 0, "prefix_hits_resumed": 0,
    }
    rows = []
    total_bytes = 0
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        s = json.loads((folder / "summary.json").read_text())
        size = sum(f.stat().st_size for f in folder.iterdir())
        total_bytes += size
        for k in need:
            need[k] += s[k]
        rows.append((folder.name, s["steps"], s["preemptions"], s["evicted_blocks"],
                     s["partial_prefill_chunks"], s["prefix_hits"], s["scheduler_requests"],
                     size))
        if size >= 1_000_000:
            print(f"FAIL {folder.name}: {size} bytes >= 1 MB")
            return 1
    print(f"{'golden':30} {'steps':>6} {'preempt':>7} {'evict':>6} {'chunks':>6} "
          f"{'hit_tok':>8} {'reqs':>5} {'bytes':>8}")
    for r in rows:
        print(f"{r[0]:30} {r[1]:6} {r[2]:7} {r[3]:6} {r[4]:6} {r[5]:8} {r[6]:5} {r[7]:8}")
    print(f"total {total_bytes} bytes")
    missing = [k for k, v in need.items() if v == 0]
    if missing:
        print("FAIL: no golden exercises", ", ".join(missing))
        return 1
    if total_bytes > 5_000_000:
        print("FAIL: goldens exceed 5 MB")
        return 1
    print("OK: preemption, eviction, chunked prefill, prefix hits all exercised")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p, arrivals=("trace", "burst", "staggered")):
        p.add_argument("--count", type=int, default=0, help="first N requests (0: all)")
        p.add_argument("--arrival", choices=arrivals, default=arrivals[0])
        p.add_argument("--steps-per-second", type=int, default=20)
        p.add_argument("--stagger", type=int, default=1)
        p.add_argument("--max-model-len", type=int, default=0, help="TinyServe's clamp (0: none)")
        p.add_argument("--max-output", type=int, default=0, help="cap output_len (0: none)")
        p.add_argument("--out", required=True, help="workload .jsonl to write")

    p = sub.add_parser("azure"); common(p)
    p.add_argument("--trace", type=Path, default=AZURE_CONV)
    p = sub.add_parser("mooncake"); common(p)
    p.add_argument("--trace", type=Path, default=MOONCAKE_CONV)
    p.add_argument("--max-input", type=int, default=0,
                   help="keep only lines with input_length <= this (0: all)")
    p = sub.add_parser("synthetic")
    p.add_argument("--kind", choices=["burst", "staggered", "shared", "parallel"], required=True)
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--stagger", type=int, default=2)
    p.add_argument("--prompt-min", type=int, default=64)
    p.add_argument("--prompt-max", type=int, default=1024)
    p.add_argument("--output-min", type=int, default=16)
    p.add_argument("--output-max", type=int, default=256)
    p.add_argument("--system-prompts", type=int, default=4)
    p.add_argument("--system-len", type=int, default=1000)
    p.add_argument("--n", type=int, default=4)
    p.add_argument("--out", required=True)
    p = sub.add_parser("goldens")
    p.add_argument("--root", type=Path, default=REPO / "tests/data/vllm_golden")
    p.add_argument("--only", nargs="*", help="golden names (default: all)")
    p.add_argument("--list", action="store_true", help="print the names and exit")
    p = sub.add_parser("check")
    p.add_argument("--root", type=Path, default=REPO / "tests/data/vllm_golden")
    args = ap.parse_args()

    if args.cmd in ("azure", "mooncake"):
        fn = azure_workload if args.cmd == "azure" else mooncake_workload
        extra = {"max_input": args.max_input} if args.cmd == "mooncake" else {}
        reqs, stats = fn(count=args.count, arrival=args.arrival,
                         steps_per_second=args.steps_per_second, stagger=args.stagger,
                         max_model_len=args.max_model_len, max_output=args.max_output,
                         trace=args.trace, **extra)
        ts.write_workload(args.out, reqs)
        print(json.dumps({"requests": len(reqs), **stats}))
    elif args.cmd == "synthetic":
        reqs, stats = synthetic_workload(
            args.kind, args.count, seed=args.seed, stagger=args.stagger,
            prompt_min=args.prompt_min, prompt_max=args.prompt_max,
            output_min=args.output_min, output_max=args.output_max,
            system_prompts=args.system_prompts, system_len=args.system_len, n=args.n)
        ts.write_workload(args.out, reqs)
        print(json.dumps({"requests": len(reqs), **stats}))
    elif args.cmd == "goldens":
        specs = golden_specs()
        if args.list:
            print("\n".join(specs))
            return 0
        names = args.only or list(specs)
        for name in names:
            write_golden(name, specs[name], args.root)
    elif args.cmd == "check":
        return check_goldens(args.root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
