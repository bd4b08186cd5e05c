"""Shared definitions of the TinyServe <-> vLLM reference format.

Everything here is specified in tools/vllm_reference/README.md; the C++ side
implements the same functions (core/base/rng.h, core/workload/request.h).
This file imports nothing from vLLM so the workload generator runs without it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

MASK64 = (1 << 64) - 1
VOCAB_SIZE = 128_000

# Content-id domains (64-bit tags). Trace domains are TinyServe's own
# (core/workload/trace.cpp), so a trace read by either side gives equal tokens.
AZURE_CONTENT = 0x617A7572655F7271  # "azure_rq"
MOONCAKE_BLOCK_CONTENT = 0x6D6F6F6E5F626C6B  # "moon_blk"
MOONCAKE_TAIL_CONTENT = 0x6D6F6F6E5F746C6C  # "moon_tll"
SYNTH_SYSTEM_CONTENT = 0x7379735F70726F6D  # "sys_prom"
SYNTH_USER_CONTENT = 0x757365725F70726D  # "user_prm"
# Generated (sampled) tokens of a scheduler request.
OUTPUT_CONTENT = 0x6F75747075745F74  # "output_t"

# Scheduler-request id of child k of a parallel-sampling request (n > 1).
CHILD_ID_SHIFT = 32


def splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def hash_combine(a: int, b: int) -> int:
    return splitmix64(
        a ^ ((splitmix64(b) + 0x632BE59BD9B4E019 + ((a << 6) & MASK64) + (a >> 2)) & MASK64)
    )


def token(content: int, offset: int) -> int:
    """Token id at `offset` (0-based, within its segment) of segment `content`."""
    return splitmix64(content ^ ((offset * 0xD1B54A32D192ED03) & MASK64)) % VOCAB_SIZE


def segment_tokens(content: int, length: int) -> list[int]:
    mult = 0xD1B54A32D192ED03
    out = []
    for i in range(length):
        x = ((content ^ ((i * mult) & MASK64)) + 0x9E3779B97F4A7C15) & MASK64
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
        out.append((x ^ (x >> 31)) % VOCAB_SIZE)
    return out


def output_content(sched_id: int) -> int:
    """Content id of the generated tokens of scheduler request `sched_id`."""
    return splitmix64(OUTPUT_CONTENT ^ (sched_id & MASK64))


def output_token(sched_id: int, index: int) -> int:
    """The `index`-th (0-based) generated token of scheduler request `sched_id`."""
    return token(output_content(sched_id), index)


def child_id(parent_id: int, k: int) -> int:
    return parent_id + (k << CHILD_ID_SHIFT)


FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3


def scheduled_digest(pairs: dict[int, int]) -> str:
    """FNV-1a 64 over the little-endian bytes of (int64 id, int64 count),
    ascending id; 16 lowercase hex digits."""
    h = FNV_OFFSET
    for rid in sorted(pairs):
        for v in (rid, pairs[rid]):
            for b in (v & MASK64).to_bytes(8, "little"):
                h ^= b
                h = (h * FNV_PRIME) & MASK64
    return f"{h:016x}"


@dataclass
class WorkloadRequest:
    id: int
    arrival: int
    prompt: list[tuple[int, int]]
    output_len: int
    n: int = 1
    extra: dict = field(default_factory=dict)

    @property
    def prompt_len(self) -> int:
        return sum(length for _, length in self.prompt)

    def prompt_token_ids(self) -> list[int]:
        out: list[int] = []
        for content, length in self.prompt:
            out.extend(segment_tokens(content, length))
        return out

    def to_json(self) -> str:
        d = {
            "id": self.id,
            "arrival": self.arrival,
            "prompt": [[c, n] for c, n in self.prompt],
            "output_len": self.output_len,
        }
        if self.n != 1:
            d["n"] = self.n
        return json.dumps(d, separators=(",", ":"))


def read_workload(path: str | Path) -> list[WorkloadRequest]:
    reqs = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            d = json.loads(line)
            known = {"id", "arrival", "prompt", "output_len", "n"}
            unknown = set(d) - known
            if unknown:
                raise ValueError(f"{path}:{lineno}: unknown keys {sorted(unknown)}")
            r = WorkloadRequest(
                id=int(d["id"]),
                arrival=int(d["arrival"]),
                prompt=[(int(c), int(n)) for c, n in d["prompt"]],
                output_len=int(d["output_len"]),
                n=int(d.get("n", 1)),
            )
            if not (0 <= r.id < (1 << CHILD_ID_SHIFT)):
                raise ValueError(f"{path}:{lineno}: id must be in [0, 2^32)")
            if r.arrival < 0 or r.output_len < 1 or r.n < 1 or r.prompt_len < 1:
                raise ValueError(f"{path}:{lineno}: bad arrival/output_len/n/prompt")
            if any(not (0 <= c <= MASK64) or n < 1 for c, n in r.prompt):
                raise ValueError(f"{path}:{lineno}: bad segment")
            reqs.append(r)
    keys = [(r.arrival, r.id) for r in reqs]
    if keys != sorted(keys) or len({r.id for r in reqs}) != len(reqs):
        raise ValueError(f"{path}: requests must be sorted by (arrival, id), ids unique")
    return reqs


def write_workload(path: str | Path, reqs: list[WorkloadRequest]) -> None:
    reqs = sorted(reqs, key=lambda r: (r.arrival, r.id))
    with open(path, "w") as f:
        for r in reqs:
            f.write(r.to_json() + "\n")


# Config keys, their defaults (None: required) and meaning: see README.md.
CONFIG_DEFAULTS = {
    "num_gpu_blocks": None,
    "block_size": 16,
    "max_num_seqs": None,
    "max_num_batched_tokens": None,
    "enable_prefix_caching": None,
    "max_model_len": None,
    "enable_chunked_prefill": True,
    "async_scheduling": False,
    "long_prefill_token_threshold": 0,
    "scheduler_reserve_full_isl": True,
    "watermark": 0.0,
    "policy": "fcfs",
    "prefix_caching_hash_algo": "sha256",
    "vllm_version": "0.33.0",
}


def read_config(path: str | Path) -> dict:
    with open(path) as f:
        raw = json.load(f)
    unknown = set(raw) - set(CONFIG_DEFAULTS) - {"comment", "workload"}
    if unknown:
        raise ValueError(f"{path}: unknown config keys {sorted(unknown)}")
    cfg = {}
    for k, default in CONFIG_DEFAULTS.items():
        if k in raw:
            cfg[k] = raw[k]
        elif default is None:
            raise ValueError(f"{path}: missing required key {k!r}")
        else:
            cfg[k] = default
    for k in ("comment", "workload"):
        if k in raw:
            cfg[k] = raw[k]
    return cfg
