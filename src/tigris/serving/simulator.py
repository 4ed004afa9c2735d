"""The discrete-event serving simulator: a vLLM-style scheduler over engine steps.

Each replica runs its own engine loop (requests are dealt to replicas round-robin, as a
load balancer without state would). One loop iteration is one engine step:
- New arrivals join the waiting queue (first come, first served).
- Chunked prefill off (vLLM's default scheduler of 2023-24): if waiting requests can be
  admitted, the step prefills as many as fit the token budget, the sequence limit and the
  free KV blocks (keeping a 1% watermark free); otherwise every running sequence decodes
  one token.
- Chunked prefill on (Sarathi-Serve, Agrawal et al. 2024): every running sequence decodes
  one token and the rest of the token budget goes to prefill chunks, continuing partial
  prefills first, then admitting waiting requests.
- Paged KV cache (Kwon et al. 2023): a sequence holds ceil(tokens / block_size) blocks;
  admission reserves the prompt's blocks; decoding takes a new block every block_size
  tokens. When a step needs more blocks than are free, the most recently admitted
  running sequences are preempted: their blocks are freed and they go back to the head
  of the queue, to be recomputed (prefill of prompt + tokens generated so far) when
  re-admitted; their output so far is kept.
- A prefill that completes emits the request's next token at the end of its step (the
  first token: TTFT). Step times come from StepTimer.
The running batch lives in one numpy array (a row per column: request, KV tokens, KV
blocks, admission order, tokens left) so that one step costs a few vector operations,
whatever the batch size; per-request scalars the loop reads one at a time (arrivals,
lengths, tokens generated) are Python lists, cheaper to index than numpy arrays.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tigris.errors import InfeasibleError
from tigris.serving.deployment import Deployment
from tigris.serving.fast_forward import decode_attention_s, decode_memo, fast_forward
from tigris.serving.memory import MemoryPlan, plan_memory
from tigris.serving.prefix_cache import PrefixCache, PrefixSharing, cache_summary, make_cache
from tigris.serving.requests import Workload
from tigris.serving.speculative import Speculation, speculation_of
from tigris.serving.step_time import StepTimer, shared_timer

WATERMARK_FRACTION = 0.01  # KV blocks kept free at admission (vLLM)
PROGRESS_EVERY = 200  # finished requests between progress callbacks


@dataclass(frozen=True)
class SimulationResult:
    """Per-request times (seconds, indexed like the workload) and engine traces."""

    workload: Workload
    first_token_s: np.ndarray
    finish_s: np.ndarray
    num_preemptions: int
    num_steps: int
    kv_time_s: np.ndarray  # step end times of replica 0
    kv_occupancy: np.ndarray  # used / total KV blocks after each step of replica 0
    kv_mean_occupancy: float  # time-weighted, averaged over replicas
    kv_max_occupancy: float
    busy_s: float = 0.0  # engine time over all replicas (steps run back to back)
    prefix_cache: dict[str, object] | None = None  # hit rate etc. (prefix_cache.cache_summary)


@dataclass
class _ReplicaOutcome:
    first_token_s: np.ndarray
    finish_s: np.ndarray
    preemptions: int
    steps: int
    times: np.ndarray
    occupancy: np.ndarray
    mean_occupancy: float
    busy_s: float


def _check_longest_fits(workload: Workload, plan: MemoryPlan) -> None:
    longest = int(np.max(workload.input_len + workload.output_len))
    if -(-longest // plan.block_size) > plan.num_blocks:
        raise InfeasibleError(
            f"a request of {longest} tokens needs more KV cache than a chip holds "
            f"({plan.kv_capacity_tokens} tokens)"
        )


class _Replica:
    """One replica's engine loop over its requests."""

    def __init__(
        self,
        workload: Workload,
        timer: StepTimer,
        plan: MemoryPlan,
        *,
        chunked_prefill: bool,
        record_kv: bool,
        progress: Callable[[int], None] | None,
        kv_transferred: bool = False,
        prefix_cache: PrefixCache | None = None,
        prefill_first: bool = False,
        replica: int = 0,
    ) -> None:
        d = timer.deployment
        # speculative decoding: each decode step emits 1..K+1 tokens a sequence, drawn
        self.spec = speculation_of(timer)
        self.rng = self.spec.rng(replica) if self.spec is not None else None
        self.emitted: int | np.ndarray = 1  # tokens each decoding sequence emits this step
        self.cache = prefix_cache
        self.prefill_first = prefill_first  # chunked prefill without mixed steps (SGLang)
        self.reload_s = 0.0  # KV reloads from host memory owed by the next step
        # a decode pool's requests arrive with their prompt's KV (disaggregated serving):
        # admitting one allocates its blocks and costs no compute
        self.kv_transferred = kv_transferred
        self.busy_s = 0.0
        self.w = workload
        self.timer = timer
        self.block_size = plan.block_size
        # With ep, each of ep ranks holds its own sequences in its own blocks.
        self.total_blocks = plan.num_blocks * d.ep
        self.free = self.total_blocks
        self.watermark = int(WATERMARK_FRACTION * self.total_blocks)
        self.budget = d.token_budget
        self.max_seqs = d.max_num_seqs * d.ep
        self.chunked = chunked_prefill
        self.record_kv = record_kv
        self.progress = progress
        n = workload.num_requests
        self.input_len = workload.input_len.tolist()
        self.output_len = workload.output_len.tolist()
        # tokens generated by a request not running (a running one's are in r_left)
        self.generated = [0] * n
        self.first = np.full(n, np.nan)
        self.finish = np.full(n, np.nan)
        # never more running than requests: --max-num-seqs 1e18 must not size the arrays
        cap = max(1, min(self.max_seqs, n))
        self.running = np.zeros((5, cap), dtype=np.int64)  # one fancy index moves all five
        self.r_id, self.r_kv, self.r_blocks, self.r_order, self.r_left = self.running
        self.step_fixed: dict[tuple[int, int], float] = {}  # (tokens, heads) -> seconds
        self.decode_memo = decode_memo(timer)  # decode attention by value, across runs
        self.n_run = self.order = self.preemptions = self.steps = self.done = 0
        _check_longest_fits(workload, plan)

    # ---- KV blocks -------------------------------------------------------------------

    def _blocks(self, tokens: int) -> int:
        return -(-tokens // self.block_size)

    def _add_running(self, rid: int, kv: int, blocks: int) -> None:
        j = self.n_run
        # five scalar stores: cheaper than converting a tuple into a column
        self.r_id[j] = rid
        self.r_kv[j] = kv
        self.r_blocks[j] = blocks
        self.r_order[j] = self.order
        self.r_left[j] = self.output_len[rid] - self.generated[rid]
        self.order += 1
        self.n_run = j + 1

    def _remove(self, keep: np.ndarray) -> None:
        n = self.n_run
        kept = int(keep.sum())
        self.running[:, :kept] = self.running[:, :n][:, keep]
        self.n_run = kept

    def _drop(self, row: int) -> None:
        """Remove one running sequence, keeping the others' order (one slice copy: the
        usual case, one sequence finishing or preempted, without a mask)."""
        n = self.n_run - 1
        if row < n:
            self.running[:, row:n] = self.running[:, row + 1 : n + 1]
        self.n_run = n

    def _preempt_for(self, needed: int, waiting: deque) -> int:
        """Preempt the latest admitted sequences until `needed` new blocks are free."""
        n = self.n_run
        while needed > self.free and n > 0:
            last = int(np.argmax(self.r_order[:n]))
            rid = int(self.r_id[last])
            self.generated[rid] = self.output_len[rid] - int(self.r_left[last])
            self.free += int(self.r_blocks[last]) + self._release(rid)
            needed -= self._blocks(int(self.r_kv[last]) + 1) - int(self.r_blocks[last])
            waiting.appendleft(rid)
            self.preemptions += 1
            self._drop(last)
            n = self.n_run
        return needed

    # ---- one request's prefill completing ----------------------------------------------

    def _emit_after_prefill(self, rid: int, kv: int, blocks: int, now: float) -> None:
        self.generated[rid] += 1
        if math.isnan(self.first[rid]):
            self.first[rid] = now
        if self.generated[rid] >= self.output_len[rid]:
            self.finish[rid] = now
            self.free += blocks + self._release(rid)
            self._finished_one()
        else:
            self._add_running(rid, kv, blocks)

    def _finished_one(self) -> None:
        self.done += 1
        if self.progress is not None and self.done % PROGRESS_EVERY == 0:
            self.progress(self.done)

    # ---- the loop ----------------------------------------------------------------------

    def run(self) -> _ReplicaOutcome:
        # The hot loop: one iteration per engine step (millions for big workloads), so the
        # loop state stays in locals and each step calls a few helpers, not one per line.
        n_req = self.w.num_requests
        arrival = self.w.arrival_s.tolist()
        waiting: deque[int] = deque()
        prefilling: list[list[int]] = []  # [rid, tokens prefilled, tokens to prefill, blocks]
        next_arrival = 0
        now = 0.0
        # array, not list: 8 bytes a step rather than a Python object (a step per request
        # or so, for millions of requests)
        times = array("d")
        used = array("q")
        occupancy_area = 0.0
        start = arrival[0]
        while self.done < n_req:
            while next_arrival < n_req and arrival[next_arrival] <= now:
                waiting.append(next_arrival)
                next_arrival += 1
            if not waiting and not prefilling and self.n_run == 0:
                now = max(now, arrival[next_arrival])
                continue
            if not prefilling and self.n_run and self.spec is None and not self._can_admit(waiting):
                next_time = arrival[next_arrival] if next_arrival < n_req else math.inf
                skipped_s = self._fast_forward(now, next_time)
                if skipped_s:
                    occupancy_area += (self.total_blocks - self.free) * skipped_s
                    now += skipped_s
                    self.busy_s += skipped_s
                    if self.record_kv:
                        times.append(now)
                        used.append(self.total_blocks - self.free)
                    continue
            chunks, completing, decode = self._schedule_prefill(waiting, prefilling)
            n_dec, mean_kv = self._grow_decoding(waiting) if decode and self.n_run else (0, 0.0)
            if n_dec == 0 and not chunks:
                # Nothing could run (the queue waits for blocks that only arrivals free).
                if next_arrival < n_req:
                    now = max(now, arrival[next_arrival])
                    continue
                raise InfeasibleError("the scheduler is stuck: no request fits the KV cache")
            step_s = self._step_time(chunks, n_dec, mean_kv, len(completing))
            previous = now
            now += step_s
            self.busy_s += step_s
            self.steps += 1
            if n_dec:
                self._retire_decoded(n_dec, now)
            for rid, kv, blocks in completing:
                self._emit_after_prefill(rid, kv, blocks, now)
            in_use = self.total_blocks - self.free
            occupancy_area += in_use * (now - previous)
            if self.record_kv:
                times.append(now)
                used.append(in_use)
        return self._outcome(now - start, occupancy_area, times, used)

    def _schedule_prefill(
        self, waiting: deque, prefilling: list[list[int]]
    ) -> tuple[list[tuple[int, int]], list[tuple[int, int, int]], bool]:
        """This step's prefill work: the (q_len, kv_len) chunks, the (rid, kv, blocks) of
        the prefills that complete, and whether running sequences also decode."""
        chunks: list[tuple[int, int]] = []
        completing: list[tuple[int, int, int]] = []
        decode = True
        if self.chunked:
            # decodes take one token each first; partial prefills continue before admission
            # (prefill-first: a step with prefill work to do prefills only)
            decode = not (self.prefill_first and (prefilling or self._can_admit(waiting)))
            budget = self.budget - (self.n_run if decode else 0)
            for item in prefilling:
                if budget <= 0:
                    break
                q = min(item[2] - item[1], budget)
                item[1] += q
                budget -= q
                chunks.append((q, item[1]))
            budget = self._admit(waiting, prefilling, budget, chunks)
            still = []
            for item in prefilling:
                if item[1] >= item[2]:
                    completing.append((item[0], item[2], item[3]))
                else:
                    still.append(item)
            prefilling[:] = still
        else:
            # without chunking a step either prefills whole prompts or decodes, never both
            admitted = self._admit_whole(waiting)
            if admitted:
                decode = False
                for rid, tokens, blocks, cached in admitted:
                    chunks.append((tokens - cached, tokens))
                    completing.append((rid, tokens, blocks))
        return chunks, completing, decode

    def _grow_decoding(self, waiting: deque) -> tuple[int, float]:
        """Give every running sequence the KV room for one more token, preempting the
        latest admitted when blocks run out. Returns (sequences decoding, their mean KV
        length after the step)."""
        n = self.n_run
        new_kv, blocks, need = self._growth(n)
        if need > self.free:
            self._preempt_for(need, waiting)
            n = self.n_run
            new_kv, blocks, need = self._growth(n)
        mean_kv = 0.0
        if n:
            mean_kv = float(new_kv.sum()) / n  # as exact as .mean(), without its overhead
            self.free -= need
            self.r_kv[:n] = new_kv
            self.r_blocks[:n] = blocks
        return n, mean_kv

    def _growth(self, n: int) -> tuple[np.ndarray, np.ndarray, int]:
        """The first n running sequences' KV after this step's tokens, its blocks, and the
        new blocks they need."""
        new_kv = self.r_kv[:n] + (self.emitted if self.spec is None else self._emitting(n))
        blocks = (new_kv + (self.block_size - 1)) // self.block_size
        return new_kv, blocks, int((blocks - self.r_blocks[:n]).sum())

    def _emitting(self, n: int) -> int | np.ndarray:
        """Tokens each of the first n running sequences emits this step: 1, or with
        speculative decoding its accepted drafts + 1, at most the tokens it has left."""
        if self.spec is not None:
            self.emitted = self.spec.emitted(self.rng, self.r_left[:n])  # type: ignore[arg-type]
        return self.emitted

    def _retire_decoded(self, n_dec: int, now: float) -> None:
        """Count the token each decoding sequence emitted at `now`; free the finished."""
        left = self.r_left[:n_dec]
        left -= self.emitted
        if left.min() > 0:
            return
        done = np.flatnonzero(left <= 0)
        if len(done) == 1:  # the usual case: one sequence finishes
            row = int(done[0])
            rid = int(self.r_id[row])
            self.finish[rid] = now
            self.free += int(self.r_blocks[row]) + self._release(rid)
            self._finished_one()
            self._drop(row)
        else:
            finished = left <= 0
            done_ids = self.r_id[:n_dec][finished]
            self.finish[done_ids] = now
            self.free += int(self.r_blocks[:n_dec][finished].sum())
            self.free += sum(self._release(int(rid)) for rid in done_ids) if self.cache else 0
            for _ in range(len(done_ids)):
                self._finished_one()
            self._remove(~finished)

    def _outcome(
        self, span_s: float, occupancy_area: float, times: array, used: array
    ) -> _ReplicaOutcome:
        span = max(span_s, 1e-30)
        total = max(self.total_blocks, 1)
        return _ReplicaOutcome(
            self.first,
            self.finish,
            self.preemptions,
            self.steps,
            np.array(times),
            np.array(used, dtype=float) / total,
            occupancy_area / span / total,
            self.busy_s,
        )

    def _can_admit(self, waiting: deque) -> bool:
        """Whether the head of the queue could start its prefill now."""
        if not waiting or self.n_run >= self.max_seqs:
            return False
        prompt = self._prompt(waiting[0])
        blocks = self._blocks(prompt) - self._cached(waiting[0], prompt)[1]
        return blocks <= self.free - self.watermark

    def _fast_forward(self, now: float, next_arrival_s: float) -> float:
        """The decode-only steps before anything changes, in one go (fast_forward.py)."""
        return fast_forward(self, now, next_arrival_s)

    def _step_time(
        self, chunks: list[tuple[int, int]], n_dec: int, mean_kv: float, n_emit_prefill: int
    ) -> float:
        timer = self.timer
        if self.kv_transferred:
            chunks, n_emit_prefill = [], 0
        if self.spec is not None:
            # the sequences' first draft token sees their KV before this step's tokens + 1
            first_kv = mean_kv - float(np.mean(self.emitted)) + 1.0 if n_dec else 0.0
            time_s = self.spec.step_s(timer, chunks, n_dec, first_kv, n_emit_prefill)[0]
            time_s, self.reload_s = time_s + self.reload_s, 0.0
            return time_s
        prefill_tokens = chunks[0][0] if len(chunks) == 1 else sum(q for q, _ in chunks)
        key = (n_dec + prefill_tokens, n_dec + n_emit_prefill)
        time_s = self.step_fixed.get(key)
        if time_s is None:  # token-wise work and LM head depend on these counts alone
            time_s = self.step_fixed[key] = timer.tokenwise_s(key[0]) + timer.head_s(key[1])
        time_s += decode_attention_s(timer, self.decode_memo, n_dec, mean_kv) + self.reload_s
        self.reload_s = 0.0
        if len(chunks) <= 1:  # most steps at low load: no Counter to build
            return time_s + timer.prefill_attention_s(*chunks[0], 1) if chunks else time_s
        for (q, kv), count in Counter(chunks).items():
            time_s += timer.prefill_attention_s(q, kv, count)
        return time_s

    def _prompt(self, rid: int) -> int:
        return self.input_len[rid] + self.generated[rid]

    def _cached(self, rid: int, prompt: int) -> tuple[int, int]:
        """(prompt tokens in the prefix cache, blocks of them running sequences hold)."""
        return (0, 0) if self.cache is None else self.cache.lookup(rid, prompt, self.free)

    def _take(self, rid: int, prompt: int, blocks: int, shared: int) -> None:
        """Admit rid: its blocks leave the free pool (shared ones are held already)."""
        if self.cache is not None:
            self.reload_s += self.cache.acquire(rid, prompt)
        self.free -= blocks - shared

    def _release(self, rid: int) -> int:
        """Correction to the blocks rid frees: its shared blocks others still hold."""
        return 0 if self.cache is None else self.cache.release(rid)

    def _admit_whole(self, waiting: deque) -> list[tuple[int, int, int, int]]:
        """Requests whose whole (re)prefill fits this step: FCFS within every limit.
        (rid, prompt, blocks, cached prompt tokens) each."""
        admitted: list[tuple[int, int, int, int]] = []
        tokens = 0
        while waiting and self.n_run + len(admitted) < self.max_seqs:
            rid = waiting[0]
            prompt = self._prompt(rid)
            cached, shared = self._cached(rid, prompt)
            blocks = self._blocks(prompt)
            if admitted and tokens + prompt - cached > self.budget:
                break
            if blocks - shared > self.free - (self.watermark if self.n_run or admitted else 0):
                break
            waiting.popleft()
            self._take(rid, prompt, blocks, shared)
            tokens += prompt - cached
            admitted.append((rid, prompt, blocks, cached))
        return admitted

    def _admit(self, waiting: deque, prefilling: list[list[int]], budget: int, chunks: list) -> int:
        """Chunked mode: admit waiting requests into the rest of the budget."""
        while waiting and budget > 0 and self.n_run + len(prefilling) < self.max_seqs:
            rid = waiting[0]
            prompt = self._prompt(rid)
            cached, shared = self._cached(rid, prompt)
            blocks = self._blocks(prompt)
            busy = self.n_run or prefilling
            if blocks - shared > self.free - (self.watermark if busy else 0):
                break
            waiting.popleft()
            self._take(rid, prompt, blocks, shared)
            q = min(prompt - cached, budget)
            budget -= q
            prefilling.append([rid, cached + q, prompt, blocks])
            chunks.append((q, cached + q))
        return budget


def simulate(
    deployment: Deployment,
    workload: Workload,
    *,
    chunked_prefill: bool = False,
    timer: StepTimer | None = None,
    progress: Callable[[int, int], None] | None = None,
    kv_transferred: bool = False,
    prefix: PrefixSharing | None = None,
    prefill_first: bool = False,
) -> SimulationResult:
    """Serve `workload` on every replica of `deployment`; requests dealt round-robin.
    `progress(done, total)` hears of requests finished. `kv_transferred`: the requests
    arrive with their prompt's KV cache (a disaggregated decode pool): admission costs
    no compute and emits the first token at once. `prefix`: prefix caching (the trace's
    hash ids or a sharing model, and a host tier); `prefill_first`: chunked steps that
    prefill only while prompts wait (SGLang without mixed chunks)."""
    # the process's timer of an equal deployment (step times memoised by value: a replay
    # run again, without the prefix cache or at another rate, times no step twice)
    timer = timer or shared_timer(deployment)
    plan = _fitting_memory_plan(deployment, workload, chunked_prefill, speculation_of(timer))
    n = workload.num_requests
    replicas = deployment.num_replicas
    outcomes: list[_ReplicaOutcome] = []
    finished_before = 0
    caches: list[PrefixCache] = []
    for replica in range(min(replicas, n)):
        # a slice: each replica reads a view of the workload, no per-request copy
        share = workload.subset(slice(replica, None, replicas))
        cache = make_cache(prefix, share, plan, deployment)
        caches += [cache] if cache is not None else []
        outcome = _Replica(
            share,
            timer,
            plan,
            chunked_prefill=chunked_prefill,
            record_kv=replica == 0,
            progress=_replica_progress(progress, finished_before, n),
            kv_transferred=kv_transferred,
            prefix_cache=cache,
            prefill_first=prefill_first,
            replica=replica,
        ).run()
        finished_before += len(outcome.finish_s)
        outcomes.append(outcome)
    if progress is not None:
        progress(n, n)
    return _combine(workload, replicas, outcomes, caches)


def _combine(
    workload: Workload, replicas: int, outcomes: list[_ReplicaOutcome], caches: list[PrefixCache]
) -> SimulationResult:
    """The replicas' outcomes as one result: request times back in workload order, counts
    and busy time summed, KV occupancy traced on replica 0 and averaged over all."""
    n = workload.num_requests
    first = np.full(n, np.nan)
    finish = np.full(n, np.nan)
    busy_s = 0.0
    max_occ = 0.0
    for replica, outcome in enumerate(outcomes):
        index = slice(replica, None, replicas)
        first[index] = outcome.first_token_s
        finish[index] = outcome.finish_s
        busy_s += outcome.busy_s
        if len(outcome.occupancy):
            max_occ = max(max_occ, float(outcome.occupancy.max()))
    times = outcomes[0].times if outcomes else np.zeros(0)
    occupancy = outcomes[0].occupancy if outcomes else np.zeros(0)
    return SimulationResult(
        workload=workload,
        first_token_s=first,
        finish_s=finish,
        num_preemptions=sum(o.preemptions for o in outcomes),
        num_steps=sum(o.steps for o in outcomes),
        kv_time_s=times,
        kv_occupancy=occupancy,
        kv_mean_occupancy=float(np.mean([o.mean_occupancy for o in outcomes])),
        kv_max_occupancy=max_occ,
        busy_s=busy_s,
        prefix_cache=cache_summary(caches),
    )


def _fitting_memory_plan(
    deployment: Deployment,
    workload: Workload,
    chunked_prefill: bool,
    speculation: Speculation | None = None,
) -> MemoryPlan:
    """The memory plan for the largest step the scheduler may run (with the draft's
    weights and KV when speculating); InfeasibleError naming what fills the chip when it
    does not fit."""
    longest_prompt = int(np.max(workload.input_len + workload.output_len))
    step_tokens = (
        deployment.token_budget if chunked_prefill else max(deployment.token_budget, longest_prompt)
    )
    plan = plan_memory(deployment, step_tokens)
    if speculation is not None:
        plan = speculation.memory_plan(plan)
    if not plan.fits and plan.weights_bytes + plan.activations_bytes < plan.usable_bytes:
        raise InfeasibleError(
            f"no room for one KV block of {plan.block_size} tokens: "
            f"{plan.kv_cache_bytes / 1e9:.1f} GB left for the KV cache per chip, a block "
            f"needs {plan.kv_bytes_per_token * plan.block_size / 1e9:.1f} GB"
        )
    if not plan.fits:
        # name what fills the chip: the weights, or the activations of a step as long as the
        # longest prompt (a long request, not the model, is then what does not fit)
        raise InfeasibleError(
            f"{deployment.model.name} does not fit: {plan.weights_bytes / 1e9:.1f} GB of weights "
            f"and {plan.activations_bytes / 1e9:.1f} GB of activations for a {step_tokens}-token "
            f"step per chip, {plan.usable_bytes / 1e9:.1f} GB usable"
        )
    return plan


def _replica_progress(
    progress: Callable[[int, int], None] | None, finished_before: int, total: int
) -> Callable[[int], None] | None:
    """A replica counts its own finished requests; the caller hears the running total
    over all replicas (those before this one are done)."""
    if progress is None:
        return None

    def report(done: int) -> None:
        progress(finished_before + done, total)

    return report
