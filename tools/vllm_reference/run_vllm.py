#!/usr/bin/env python3
"""Run vLLM 0.33.0's own v1 Scheduler (KVCacheManager, BlockPool, free block
queue) on a TinyServe workload, on the CPU, with no GPU and no model, and
record its decisions step by step.

Usage:
  run_vllm.py --workload W.jsonl --config C.json --out DIR [--verbose FILE]
  (writes DIR/decisions.jsonl and DIR/summary.json)

Formats and the meaning of every field: tools/vllm_reference/README.md.
The scheduler is built as vLLM's EngineCore builds it (vllm/v1/engine/core.py)
and as its unit tests do (tests/v1/core/utils.py, create_scheduler), and the
step loop mirrors EngineCore.step (sync) / EngineCore.step_with_batch_queue
(async scheduling, batch queue of max_concurrent_batches == 2).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import deque
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import ts_common as ts  # noqa: E402

EXPECTED_VLLM = "0.33.0"


def build_scheduler(cfg: dict):
    import torch
    import vllm
    from vllm.config import (
        CacheConfig,
        DeviceConfig,
        ModelConfig,
        SchedulerConfig,
        VllmConfig,
    )
    from vllm.utils.hashing import get_hash_fn_by_name
    from vllm.v1.core.kv_cache_utils import get_request_block_hasher, init_none_hash
    from vllm.v1.kv_cache_interface import (
        FullAttentionSpec,
        KVCacheConfig,
        KVCacheGroupSpec,
    )
    from vllm.v1.structured_output import StructuredOutputManager

    if vllm.__version__ != cfg["vllm_version"]:
        raise SystemExit(
            f"vLLM {vllm.__version__} is installed, the config asks for "
            f"{cfg['vllm_version']} (run tools/vllm_reference/setup.sh)"
        )

    block_size = int(cfg["block_size"])
    model_config = ModelConfig(
        model=str(HERE / "model"),
        tokenizer=None,
        skip_tokenizer_init=True,
        dtype="float16",
        seed=0,
        max_model_len=int(cfg["max_model_len"]),
    )
    scheduler_config = SchedulerConfig(
        max_num_seqs=int(cfg["max_num_seqs"]),
        max_num_batched_tokens=int(cfg["max_num_batched_tokens"]),
        max_model_len=model_config.max_model_len,
        is_encoder_decoder=False,
        enable_chunked_prefill=bool(cfg["enable_chunked_prefill"]),
        long_prefill_token_threshold=int(cfg["long_prefill_token_threshold"]),
        scheduler_reserve_full_isl=bool(cfg["scheduler_reserve_full_isl"]),
        watermark=float(cfg["watermark"]),
        policy=cfg["policy"],
        async_scheduling=bool(cfg["async_scheduling"]),
    )
    cache_config = CacheConfig(
        block_size=block_size,
        enable_prefix_caching=bool(cfg["enable_prefix_caching"]),
        prefix_caching_hash_algo=cfg["prefix_caching_hash_algo"],
    )
    vllm_config = VllmConfig(
        model_config=model_config,
        scheduler_config=scheduler_config,
        cache_config=cache_config,
        device_config=DeviceConfig(device="cpu"),
    )
    # VllmConfig.__post_init__ may adjust settings; refuse silently changed ones.
    checks = {
        "enable_prefix_caching": vllm_config.cache_config.enable_prefix_caching,
        "enable_chunked_prefill": vllm_config.scheduler_config.enable_chunked_prefill,
        "async_scheduling": bool(vllm_config.scheduler_config.async_scheduling),
        "max_num_batched_tokens": vllm_config.scheduler_config.max_num_batched_tokens,
        "max_num_seqs": vllm_config.scheduler_config.max_num_seqs,
        "block_size": vllm_config.cache_config.block_size,
    }
    for k, v in checks.items():
        if v != type(v)(cfg[k]):
            raise SystemExit(f"vLLM changed {k}: asked {cfg[k]}, got {v}")

    # vLLM's block 0 is the null block: it is popped from the free queue at
    # start and never handed out, so usable blocks = num_blocks - 1.
    num_blocks = int(cfg["num_gpu_blocks"]) + 1
    kv_cache_config = KVCacheConfig(
        num_blocks=num_blocks,
        kv_cache_tensors=[],
        kv_cache_groups=[
            KVCacheGroupSpec(
                ["model.layers.0.self_attn.attn"],
                FullAttentionSpec(
                    block_size=block_size,
                    num_kv_heads=1,
                    head_size=1,
                    dtype=torch.float32,
                ),
            )
        ],
    )
    vllm_config.cache_config.num_gpu_blocks = num_blocks
    scheduler_cls = vllm_config.scheduler_config.get_scheduler_cls()
    scheduler = scheduler_cls(
        vllm_config=vllm_config,
        kv_cache_config=kv_cache_config,
        structured_output_manager=StructuredOutputManager(vllm_config),
        block_size=block_size,
        hash_block_size=block_size,
        log_stats=True,
    )
    # As EngineCore.__init__: a block hasher only when prefix caching is on.
    block_hasher = None
    if vllm_config.cache_config.enable_prefix_caching:
        hash_fn = get_hash_fn_by_name(vllm_config.cache_config.prefix_caching_hash_algo)
        init_none_hash(hash_fn)
        block_hasher = get_request_block_hasher(
            block_size, hash_fn, vllm_config.num_hash_lookahead_tokens
        )
    info = {
        "vllm_version": vllm.__version__,
        "torch_version": torch.__version__,
        "scheduler_class": type(scheduler).__name__,
        "coordinator_class": type(scheduler.kv_cache_manager.coordinator).__name__,
        "use_v2_model_runner": bool(vllm_config.use_v2_model_runner),
        "max_concurrent_batches": int(vllm_config.max_concurrent_batches),
        "num_lookahead_tokens": int(vllm_config.num_lookahead_tokens),
        "vllm_num_blocks_incl_null": num_blocks,
    }
    return scheduler, vllm_config, block_hasher, info


class Recorder:
    """Instruments one Scheduler instance (by wrapping bound methods on the
    instance, vLLM's classes are untouched)."""

    def __init__(self, scheduler):
        self.s = scheduler
        self.preempted: list[str] = []
        self.evictions = 0
        pool = scheduler.kv_cache_manager.block_pool
        self.pool = pool

        orig_preempt = scheduler._preempt_request

        def preempt(request, *a, **kw):
            self.preempted.append(request.request_id)
            return orig_preempt(request, *a, **kw)

        scheduler._preempt_request = preempt

        orig_evict = pool._maybe_evict_cached_block

        def evict(block):
            evicted = orig_evict(block)
            if evicted:
                self.evictions += 1
            return evicted

        pool._maybe_evict_cached_block = evict

    def blocks_in_use(self) -> int:
        # Usable blocks (null block excluded) not in the free queue, i.e. with
        # ref_cnt > 0. Cached blocks with ref_cnt 0 sit in the free queue and
        # count as free.
        return (self.pool.num_gpu_blocks - 1) - self.pool.get_num_free_blocks()


def make_request(
    rid: str,
    prompt_ids: list[int],
    output_len: int,
    arrival: int,
    block_hasher,
):
    from vllm.sampling_params import SamplingParams
    from vllm.v1.request import Request

    params = SamplingParams(max_tokens=output_len, ignore_eos=True, n=1)
    return Request(
        request_id=rid,
        prompt_token_ids=list(prompt_ids),
        sampling_params=params,
        pooling_params=None,
        arrival_time=float(arrival),
        block_hasher=block_hasher,
    )


def run(workload: list[ts.WorkloadRequest], cfg: dict, verbose_path: str | None):
    from vllm.v1.outputs import ModelRunnerOutput

    scheduler, vllm_config, block_hasher, info = build_scheduler(cfg)
    rec = Recorder(scheduler)
    max_model_len = vllm_config.model_config.max_model_len
    async_mode = bool(cfg["async_scheduling"])
    batch_queue_size = vllm_config.max_concurrent_batches if async_mode else 1
    if async_mode and batch_queue_size != 2:
        raise SystemExit(f"unexpected max_concurrent_batches {batch_queue_size}")

    # Scheduler request string id <-> harness int64 id.
    sid_to_int: dict[str, int] = {}
    pending = deque(workload)
    n_sched_requests = 0
    for r in workload:
        if r.prompt_len >= max_model_len:
            # vLLM's InputProcessor._validate_prompt_len rejects these before
            # they reach the scheduler.
            raise SystemExit(
                f"request {r.id}: prompt of {r.prompt_len} tokens >= max_model_len "
                f"{max_model_len}; vLLM rejects it (clamp the workload)"
            )
        n_sched_requests += r.n

    vfile = open(verbose_path, "w") if verbose_path else None
    decisions: list[dict] = []
    step = 0
    schedule_calls = 0
    sched_time = 0.0
    update_time = 0.0
    n_updates = 0
    cpu_time = [0.0]  # thread CPU seconds in schedule() + update_from_output()
    totals = {
        "prefill_tokens": 0,
        "decode_tokens": 0,
        "partial_prefill_chunks": 0,
        "prefix_queries": 0,
        "prefix_hits": 0,
        "prefix_queries_new": 0,
        "prefix_hits_new": 0,
        "prefix_queries_resumed": 0,
        "prefix_hits_resumed": 0,
        "max_running": 0,
        "max_blocks_in_use": 0,
    }
    finished_total = 0
    batch_queue: deque = deque()
    empty_streak = 0

    def add_arrivals(now: int) -> None:
        while pending and pending[0].arrival <= now:
            r = pending.popleft()
            prompt = r.prompt_token_ids()
            ids = [r.id] if r.n == 1 else [ts.child_id(r.id, k) for k in range(r.n)]
            for k, iid in enumerate(ids):
                # vLLM's LLMEngine/AsyncLLM fan a request with n > 1 out into n
                # child requests "{k}_{parent}", each with n = 1, added in k order.
                sid = str(r.id) if r.n == 1 else f"{k}_{r.id}"
                sid_to_int[sid] = iid
                scheduler.add_request(
                    make_request(sid, prompt, r.output_len, r.arrival, block_hasher)
                )

    def build_output(sched_out, sampling: list[str]) -> ModelRunnerOutput:
        req_ids = list(sched_out.num_scheduled_tokens.keys())
        sampled = []
        for sid in req_ids:
            req = scheduler.requests.get(sid)
            if sid in sampling and req is not None and not req.is_finished():
                # The index of the token about to be appended = the number of
                # output tokens the request holds now.
                sampled.append([ts.output_token(sid_to_int[sid], req.num_output_tokens)])
            else:
                sampled.append([])
        return ModelRunnerOutput(
            req_ids=req_ids,
            req_id_to_index={sid: i for i, sid in enumerate(req_ids)},
            sampled_token_ids=sampled,
        )

    def do_update(sched_out, sampling) -> list[str]:
        nonlocal update_time, n_updates
        mro = build_output(sched_out, sampling)
        t0, c0 = time.perf_counter(), time.thread_time()
        eco = scheduler.update_from_output(sched_out, mro)
        update_time += time.perf_counter() - t0
        cpu_time[0] += time.thread_time() - c0
        n_updates += 1
        fin = []
        for outs in eco.values():
            for o in outs.outputs:
                if o.finish_reason is not None:
                    fin.append(o.request_id)
        return fin

    def do_schedule(now: int):
        nonlocal schedule_calls, sched_time
        running_before = set(r.request_id for r in scheduler.running)
        rec.preempted.clear()
        ev0 = rec.evictions
        t0, c0 = time.perf_counter(), time.thread_time()
        out = scheduler.schedule()
        sched_time += time.perf_counter() - t0
        cpu_time[0] += time.thread_time() - c0
        schedule_calls += 1
        stats = scheduler.kv_cache_manager.make_prefix_cache_stats()
        nst = out.num_scheduled_tokens
        decode_reqs = 0
        prefill_tokens = 0
        sampling = []
        per_req = []
        for sid, n in nst.items():
            req = scheduler.requests[sid]
            start = req.num_computed_tokens - n  # computed tokens before this step
            samples = not req.is_prefill_chunk  # reaches the end of the known tokens
            is_decode = n == 1 and start >= req.num_prompt_tokens and samples
            if is_decode:
                decode_reqs += 1
            else:
                prefill_tokens += n
            if samples:
                sampling.append(sid)
            else:
                totals["partial_prefill_chunks"] += 1
            if vfile:
                per_req.append(
                    [sid_to_int[sid], start, n, req.num_prompt_tokens, req.num_tokens,
                     "D" if is_decode else "P", 1 if samples else 0]
                )
        admitted = [
            sid_to_int[r.request_id]
            for r in scheduler.running
            if r.request_id not in running_before
        ]
        pairs = {sid_to_int[sid]: n for sid, n in nst.items()}
        q = stats.queries + stats.preempted_queries
        h = stats.hits + stats.preempted_hits
        totals["prefix_queries"] += q
        totals["prefix_hits"] += h
        totals["prefix_queries_new"] += stats.queries
        totals["prefix_hits_new"] += stats.hits
        totals["prefix_queries_resumed"] += stats.preempted_queries
        totals["prefix_hits_resumed"] += stats.preempted_hits
        totals["prefill_tokens"] += prefill_tokens
        totals["decode_tokens"] += decode_reqs
        running = len(scheduler.running)
        waiting = len(scheduler.waiting) + len(scheduler.kv_holding_waiting)
        biu = rec.blocks_in_use()
        totals["max_running"] = max(totals["max_running"], running)
        totals["max_blocks_in_use"] = max(totals["max_blocks_in_use"], biu)
        record = {
            "step": now,
            "decode_reqs": decode_reqs,
            "prefill_tokens": prefill_tokens,
            "running": running,
            "waiting": waiting,
            "scheduled_digest": ts.scheduled_digest(pairs),
            "admitted": admitted,
            "preempted": [sid_to_int[x] for x in rec.preempted],
            "finished": [],
            "blocks_in_use": biu,
            "blocks_in_use_end": None,
            "prefix_queries": q,
            "prefix_hits": h,
            "evicted_blocks": rec.evictions - ev0,
        }
        if vfile:
            per_req.sort()
            vfile.write(json.dumps({"step": now, "sched": per_req}) + "\n")
        return out, sampling, record

    def finish_record(record: dict | None, finished_sids: list[str]) -> None:
        nonlocal finished_total
        finished_total += len(finished_sids)
        if record is None:
            return
        record["finished"] = [sid_to_int[x] for x in finished_sids]
        record["blocks_in_use_end"] = rec.blocks_in_use()
        if record["decode_reqs"] or record["prefill_tokens"] or record["finished"]:
            decisions.append(record)

    while pending or scheduler.has_requests() or batch_queue:
        add_arrivals(step)
        if not async_mode:
            # EngineCore.step: schedule, execute, update_from_output.
            if not scheduler.has_requests():
                step = max(step, pending[0].arrival)
                continue
            out, sampling, record = do_schedule(step)
            fin = do_update(out, sampling)
            if out.total_num_scheduled_tokens == 0:
                empty_streak += 1
            else:
                empty_streak = 0
            finish_record(record, fin)
            step += 1
        else:
            # EngineCore.step_with_batch_queue with batch_queue_size 2: schedule
            # a new batch while fewer than 2 are in flight, else (or when nothing
            # is schedulable) apply the oldest batch's output first.
            record = None
            if scheduler.has_requests():
                out, sampling, record = do_schedule(step)
                executed = out.total_num_scheduled_tokens > 0
                empty_streak = 0 if executed else empty_streak + 1
                batch_queue.appendleft((out, sampling))
                step += 1
                if len(batch_queue) < batch_queue_size and (
                    executed or scheduler.has_requests()
                ):
                    finish_record(record, [])
                    continue
            elif not batch_queue:
                step = max(step, pending[0].arrival)
                continue
            old_out, old_sampling = batch_queue.pop()
            fin = do_update(old_out, old_sampling)
            if record is None:
                # An update with no schedule() call: its finishes go to the
                # last recorded step.
                if decisions:
                    decisions[-1]["finished"] += [sid_to_int[x] for x in fin]
                    decisions[-1]["blocks_in_use_end"] = rec.blocks_in_use()
                finished_total += len(fin)
            else:
                finish_record(record, fin)
        if empty_streak > 1000:
            raise SystemExit(
                f"step {step}: 1000 schedule() calls in a row scheduled nothing; "
                "a request cannot fit in the pool (vLLM would hang)"
            )

    if vfile:
        vfile.close()
    if finished_total != n_sched_requests:
        raise SystemExit(f"finished {finished_total} of {n_sched_requests} requests")
    num_preemptions = sum(len(d["preempted"]) for d in decisions)
    summary = {
        "steps": len(decisions),
        "schedule_calls": schedule_calls,
        "last_step": decisions[-1]["step"] if decisions else 0,
        "requests": len(workload),
        "scheduler_requests": n_sched_requests,
        "finished": finished_total,
        "preemptions": num_preemptions,
        "evicted_blocks": rec.evictions,
        **totals,
        "prefix_hit_rate": (totals["prefix_hits"] / totals["prefix_queries"])
        if totals["prefix_queries"]
        else 0.0,
        "mean_schedule_plus_update_us": 1e6 * (sched_time + update_time) / max(schedule_calls, 1),
        "mean_schedule_plus_update_cpu_us": 1e6 * cpu_time[0] / max(schedule_calls, 1),
        "mean_schedule_us": 1e6 * sched_time / max(schedule_calls, 1),
        "mean_update_us": 1e6 * update_time / max(n_updates, 1),
        "config": {k: cfg[k] for k in ts.CONFIG_DEFAULTS},
        "vllm": info,
    }
    return decisions, summary


def compare_with_tinyserve(args, out: Path, summary: dict) -> None:
    """Replays the record in TinyServe (`tinyserve fidelity`, which needs workload.jsonl and
    config.json beside decisions.jsonl) and prints both loops' time per step."""
    import shutil
    import subprocess

    for src, name in ((args.workload, "workload.jsonl"), (args.config, "config.json")):
        dst = out / name
        if not dst.exists() or not os.path.samefile(src, dst):
            shutil.copyfile(src, dst)
    proc = subprocess.run([args.tinyserve, "fidelity", str(out), "--quiet"],
                          capture_output=True, text=True)
    rows = [line.split() for line in proc.stdout.splitlines()[1:2]]
    if proc.returncode not in (0, 1) or not rows or len(rows[0]) < 7:
        raise SystemExit(f"tinyserve fidelity failed ({proc.returncode}): {proc.stderr.strip()}")
    row = rows[0]
    print(json.dumps({
        "identical_steps": row[1],
        "vllm_us_per_step": round(summary["mean_schedule_plus_update_us"], 1),
        "vllm_cpu_us_per_step": round(summary["mean_schedule_plus_update_cpu_us"], 1),
        "tinyserve_us_per_step": float(row[5]),
        "tinyserve_cpu_us_per_step": float(row[6]),
    }))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workload", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--out", required=True, help="folder for decisions.jsonl and summary.json")
    ap.add_argument("--async-scheduling", choices=["config", "on", "off"], default="config",
                    help="override the config's async_scheduling")
    ap.add_argument("--verbose", metavar="FILE",
                    help="also write per-step per-request [id, start, scheduled, prompt_len, "
                         "num_tokens, D|P, samples] lists to FILE (debugging; not committed)")
    ap.add_argument("--timing", metavar="FILE",
                    help="write the (machine-dependent) timings to FILE as JSON")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--tinyserve", metavar="BIN",
                    help="then replay the record with `BIN fidelity` and print both scheduling "
                         "loops' time per step (and whether every step agrees)")
    args = ap.parse_args()

    cfg = ts.read_config(args.config)
    if args.async_scheduling != "config":
        cfg["async_scheduling"] = args.async_scheduling == "on"
    workload = ts.read_workload(args.workload)
    decisions, summary = run(workload, cfg, args.verbose)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "decisions.jsonl", "w") as f:
        for d in decisions:
            f.write(json.dumps(d, separators=(",", ":")) + "\n")
    timing_keys = {"mean_schedule_plus_update_us", "mean_schedule_plus_update_cpu_us",
                   "mean_schedule_us", "mean_update_us"}
    stable = {k: v for k, v in summary.items() if k not in timing_keys and k != "vllm"}
    stable["vllm"] = {k: v for k, v in summary["vllm"].items() if k != "torch_version"}
    with open(out / "summary.json", "w") as f:
        json.dump(stable, f, indent=1, sort_keys=True)
        f.write("\n")
    if not args.quiet:
        show = {k: summary[k] for k in (
            "steps", "schedule_calls", "last_step", "scheduler_requests", "preemptions",
            "evicted_blocks", "partial_prefill_chunks", "prefix_queries", "prefix_hits",
            "max_running", "max_blocks_in_use")}
        show["mean_schedule_plus_update_us"] = round(summary["mean_schedule_plus_update_us"], 1)
        show["mean_schedule_plus_update_cpu_us"] = round(
            summary["mean_schedule_plus_update_cpu_us"], 1)
        if args.timing:
            with open(args.timing, "w") as f:
                json.dump({k: summary[k] for k in sorted(timing_keys)}, f, indent=1)
                f.write("\n")
        print(json.dumps(show))
    if args.tinyserve:
        compare_with_tinyserve(args, out, summary)


if __name__ == "__main__":
    main()
