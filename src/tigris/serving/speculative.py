"""Speculative decoding and multi-token prediction (`--speculative`).

Each decode iteration of a sequence (Leviathan et al. 2023, "Fast Inference from
Transformers via Speculative Decoding", arXiv:2211.17192; Chen et al. 2023, arXiv:2302.01318):
1. the draft proposes K tokens, one decode step each: a smaller model of the same
   vocabulary on the same chips (`draft=MODEL`), or the target's own multi-token-prediction
   modules (`mtp`: DeepSeek-V3's MTP, one transformer layer like the last plus a 2h -> h
   projection, sharing the embedding and LM head; a model with fewer modules than K reuses
   them, as vLLM and SGLang run DeepSeek's one module for K > 1);
2. the target verifies the K drafts in one pass over K + 1 tokens per sequence (the
   chunked-prefill step: q_len = K + 1 new tokens against the sequence's KV, logits at
   every position);
3. with a per-token acceptance rate A, independent per token, the tokens the iteration
   emits (accepted drafts + the target's own next token) follow a geometric law truncated
   at K + 1, of mean (1 - A^(K+1)) / (1 - A) (Leviathan et al., eq. 1).
A is an input, never a default: published figures are DeepSeek-V3's MTP, second-token
acceptance 85-90 % (DeepSeek-V3 technical report, arXiv:2412.19437, sec. 5.4.3: "1.8 times
TPS"); EAGLE-2 average acceptance lengths of about 4-5.5 tokens per iteration on MT-bench,
HumanEval and GSM8K (Li et al. 2024, arXiv:2406.16858), Medusa's heads (Cai et al. 2024,
arXiv:2401.10774). A draft model's acceptance depends on the pair and the text: measure it.

Costs modelled: the draft's K decode steps (its token-wise work, LM head and attention
over its own KV, tigris.serving.step_time), the draft's prefill of every prompt chunk,
the verification pass, the draft's weights and KV cache on each chip. Approximations:
the draft runs at the target's tp (vLLM's default draft tensor-parallel size), or the
largest power-of-two divisor of it that its heads allow, on one tp group of the replica
with all its sequences (each ep rank, whose attention is data parallel, runs its own); one
token per sequence per draft step (the catch-up of the draft's KV over the accepted
tokens is not timed); rejected tokens' KV slots are freed at once (only accepted tokens
hold KV blocks); MTP's two extra norms are left out (under 0.1 % of a layer).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from functools import cached_property
from math import ceil, floor

import numpy as np

from tigris.errors import InfeasibleError, SpecError, shorten
from tigris.hardware.quantities import dtype_bytes
from tigris.serving.deployment import Deployment
from tigris.serving.memory import (
    MemoryPlan,
    kv_bytes_per_token_per_chip,
    weights_bytes_per_chip,
)
from tigris.serving.requests import Workload
from tigris.serving.step_time import (
    EXACT_KV,
    KV_GRID_PER_OCTAVE,
    StepTimer,
    interpolate,
    shared_timer,
)
from tigris.workload.ops import Gemm
from tigris.workload.spec import TransformerSpec

OPTION = "--speculative"
FORMAT_HINT = "draft=MODEL,tokens=K,acceptance=A or mtp,tokens=K,acceptance=A (e.g. mtp,tokens=1,acceptance=0.85)"
MAX_TOKENS = 64  # drafts per iteration: EAGLE/Medusa trees stay well under this


@dataclass(frozen=True)
class SpeculativeSpec:
    """`--speculative` as written: the draft model's id (None: the target's MTP modules),
    K drafted tokens per iteration and the per-token acceptance rate A in [0, 1)."""

    draft: str | None
    tokens: int
    acceptance: float

    @property
    def mean_tokens_per_step(self) -> float:
        return expected_tokens(self.tokens, self.acceptance)


def expected_tokens(tokens: int, acceptance: float) -> float:
    """Tokens one iteration emits on average: sum of A^j for j = 0..K (Leviathan eq. 1)."""
    return float(sum(acceptance**j for j in range(tokens + 1)))


def sample_emitted(
    rng: np.random.Generator, tokens: int, acceptance: float, size: int
) -> np.ndarray:
    """Tokens `size` iterations emit: the drafts accepted before the first rejection (each
    accepted with probability A, independently) plus the target's own token, so
    min(Geometric(1 - A), K + 1), of mean expected_tokens(K, A)."""
    return np.minimum(rng.geometric(1.0 - acceptance, size=size), tokens + 1)


def _error(message: str) -> SpecError:
    return SpecError(message, key_path=OPTION, hint=FORMAT_HINT)


def parse_speculative(text: str) -> SpeculativeSpec:
    """`draft=MODEL,tokens=K,acceptance=A` or `mtp,tokens=K,acceptance=A`; tokens and
    acceptance are required (no hidden acceptance rate)."""
    settings: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        key, sep, value = (part.strip() for part in item.partition("="))
        known = (key == "mtp" and not sep) or (key in ("draft", "tokens", "acceptance") and sep)
        if not known or key in settings:
            raise _error(
                f"unknown or repeated setting {shorten(repr(item))} in {shorten(repr(text))}"
            )
        settings[key] = value
    if ("mtp" in settings) == ("draft" in settings) or settings.get("draft") == "":
        raise _error(f"name one draft, draft=MODEL or mtp, in {shorten(repr(text))}")
    for key in ("tokens", "acceptance"):
        if key not in settings:
            raise _error(f"{key}= is required (no default), got {shorten(repr(text))}")
    return SpeculativeSpec(
        settings.get("draft"), _tokens(settings["tokens"]), _acceptance(settings["acceptance"])
    )


def _tokens(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_TOKENS:
        raise _error(f"tokens must be an integer in 1..{MAX_TOKENS}, got {shorten(repr(text))}")
    return value


def _acceptance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value < 1.0:  # NaN fails too
        raise _error(f"acceptance must be in [0, 1), got {shorten(repr(text))}")
    return value


# ---- the draft on the target's chips ----------------------------------------------------


def mtp_module_spec(spec: TransformerSpec) -> TransformerSpec:
    """One MTP module as a one-layer model of the target's last layer kind (its embedding
    and LM head are the target's, shared)."""
    last = spec.layer_sequence()[-1]
    data = spec.model_dump() | {
        "name": f"{spec.name}-mtp",
        "num_layers": 1,
        "num_mtp_layers": 0,
        "attention_pattern": None if spec.attention_pattern is None else (last.attention,),
        "mlp_pattern": None if spec.mlp_pattern is None else (last.mlp,),
    }
    return TransformerSpec(**data)


def _draft_deployment(target: Deployment, draft: TransformerSpec) -> Deployment:
    """The draft model at the largest tp (a divisor of the target's, halving) it allows."""
    tp = target.tp
    while True:
        try:
            return replace(target, model=draft, num_chips=tp, tp=tp, pp=1, ep=1)
        except InfeasibleError:
            if tp == 1 or tp % 2:
                raise
            tp //= 2


def _resolve_draft(name: str, target: TransformerSpec) -> TransformerSpec:
    from tigris.workload.presets import load_model

    try:
        draft = load_model(name)
    except SpecError as error:
        raise SpecError(
            f"draft {shorten(repr(name))}: {error.message}", key_path=OPTION, hint=error.hint
        ) from None
    if draft.vocab_size != target.vocab_size:
        raise _error(
            f"draft {draft.name}'s vocabulary ({draft.vocab_size}) differs from "
            f"{target.name}'s ({target.vocab_size}): the target verifies the draft's tokens"
        )
    return draft


class Speculation:
    """The draft's costs next to one target deployment: time of the draft steps and of
    the verification pass, and the draft's memory per chip."""

    def __init__(self, spec: SpeculativeSpec, target: Deployment) -> None:
        self.spec = spec
        self.target = target
        self.tokens = spec.tokens
        self.acceptance = spec.acceptance
        model = target.model
        if spec.draft is None:
            if not model.num_mtp_layers:
                raise _error(f"mtp: {model.name} has no multi-token-prediction modules "
                             "(num_mtp_layers = 0); give draft=MODEL")  # fmt: skip
            self.draft = replace(target, model=mtp_module_spec(model), num_chips=
                                 target.chips_per_replica // target.pp, pp=1)  # fmt: skip
            self.copies = 1  # the module is split like the target's layers (tp, ep)
        else:
            self.draft = _draft_deployment(target, _resolve_draft(spec.draft, model))
            self.copies = target.ep  # an ep rank's sequences are its own
        self.timer = shared_timer(self.draft)

    @property
    def mean_tokens_per_step(self) -> float:
        return self.spec.mean_tokens_per_step

    # ---- time --------------------------------------------------------------------------

    def _per_copy(self, count: int) -> int:
        return ceil(count / self.copies)

    def _eh_proj_s(self, tokens: int) -> float:
        """MTP's projection of [hidden; embedding] (2h -> h) for `tokens` tokens per ep rank."""
        if self.spec.draft is not None or tokens <= 0:
            return 0.0
        d = self.draft
        h = d.model.hidden_size
        gemm = Gemm("mtp.eh_proj", m=ceil(tokens / d.ep), n=max(1, h // d.tp), k=2 * h,
                    dtype=d.precision.compute_dtype, out_dtype=d.activation_dtype,
                    weight_dtype=d.precision.weights)  # fmt: skip
        return self.timer.op_time_s(gemm)

    def draft_s(self, n_seqs: int, first_kv: float) -> float:
        """K draft decode steps of n_seqs sequences whose first draft token sees first_kv keys."""
        b = self._per_copy(n_seqs)
        t = self.timer
        step = t.tokenwise_s(b) + t.head_s(b) + self._eh_proj_s(b)
        return self.tokens * step + t.sum_decode_attention_s(b, first_kv, self.tokens)

    def draft_prefill_s(self, chunks: list[tuple[int, int]]) -> float:
        """The draft's pass over the prompt chunks of a step (its own KV of the prompts)."""
        if not chunks:
            return 0.0
        t = self.timer
        tokens = sum(q for q, _ in chunks)
        time_s = t.tokenwise_s(self._per_copy(tokens)) + self._eh_proj_s(tokens)
        for (q, kv), count in Counter(chunks).items():
            time_s += t.prefill_attention_s(q, kv, self._per_copy(count))
        return time_s

    def verify_attention_s(self, timer: StepTimer, n_seqs: int, first_kv: float) -> float:
        """The target's attention over K + 1 tokens per sequence, the last seeing
        first_kv + K keys (interpolated in KV length, as decode attention is)."""
        q = self.tokens + 1

        def exact(kv: int) -> float:
            return timer.prefill_attention_s(q, max(kv, q), n_seqs)

        return interpolate(exact, first_kv + self.tokens, EXACT_KV, KV_GRID_PER_OCTAVE)

    def verify_s(self, timer: StepTimer, n_seqs: int, first_kv: float) -> float:
        """The verification pass alone (no prefill in the step)."""
        tokens = n_seqs * (self.tokens + 1)
        return (
            timer.tokenwise_s(tokens)
            + timer.head_s(tokens)
            + self.verify_attention_s(timer, n_seqs, first_kv)
        )

    def step_s(
        self,
        timer: StepTimer,
        chunks: list[tuple[int, int]],
        n_dec: int,
        first_kv: float,
        n_emit_prefill: int,
    ) -> tuple[float, float]:
        """(step seconds, of which draft seconds) of an engine step: prefill chunks and
        n_dec sequences each verifying K + 1 tokens (their first at first_kv keys)."""
        verified = n_dec * (self.tokens + 1)
        time_s = timer.tokenwise_s(verified + sum(q for q, _ in chunks))
        time_s += timer.head_s(verified + n_emit_prefill)
        for (q, kv), count in Counter(chunks).items():
            time_s += timer.prefill_attention_s(q, kv, count)
        draft_s = self.draft_prefill_s(chunks)
        if n_dec:
            time_s += self.verify_attention_s(timer, n_dec, first_kv)
            draft_s += self.draft_s(n_dec, first_kv)
        return time_s + draft_s, draft_s

    def static_decode_s(
        self, timer: StepTimer, batch: int, input_len: int, output_len: int
    ) -> tuple[float, float, float]:
        """(decode seconds, of which draft, iterations) of a static batch's output_len - 1
        tokens after the first: (output_len - 1) / mean_tokens_per_step iterations, the
        KV growing by the mean each (the expected time; the last iteration fractional)."""
        mean = self.mean_tokens_per_step
        iterations = (output_len - 1) / mean
        whole = floor(iterations)
        decode_s = draft_s = 0.0
        for i in range(whole + (iterations > whole)):
            weight = 1.0 if i < whole else iterations - whole
            first_kv = input_len + 1 + i * mean
            drafting = self.draft_s(batch, first_kv)
            decode_s += weight * (drafting + self.verify_s(timer, batch, first_kv))
            draft_s += weight * drafting
        return decode_s, draft_s, iterations

    # ---- sampling ----------------------------------------------------------------------

    def rng(self, replica: int) -> np.random.Generator:
        """Each replica's own stream of acceptances (seeded by its index: reproducible)."""
        return np.random.default_rng(replica)

    def emitted(self, rng: np.random.Generator, left: np.ndarray) -> np.ndarray:
        """Tokens each sequence emits this iteration (sample_emitted), at most `left`."""
        return np.minimum(sample_emitted(rng, self.tokens, self.acceptance, len(left)), left)

    # ---- memory ------------------------------------------------------------------------

    @cached_property
    def weights_bytes_per_chip(self) -> float:
        d = self.draft
        if self.spec.draft is not None:
            return weights_bytes_per_chip(d)
        spec = d.model
        params = spec.param_count()
        act = dtype_bytes(d.activation_dtype)
        shared = params.embedding + params.position_embedding + params.lm_head + params.final_norm
        layer = weights_bytes_per_chip(d) - shared * act / d.tp
        eh_proj = 2 * spec.hidden_size**2 * dtype_bytes(d.precision.weights) / d.tp
        return self.target.model.num_mtp_layers * (layer + eh_proj)

    @cached_property
    def kv_bytes_per_token_per_chip(self) -> float:
        """The draft's KV per token of the target's sequences, on a chip that holds the
        draft (the fullest)."""
        per_chip = kv_bytes_per_token_per_chip(self.draft)
        if self.spec.draft is None:
            return self.target.model.num_mtp_layers * per_chip
        return per_chip

    def memory_plan(self, plan: MemoryPlan) -> MemoryPlan:
        """The target's plan with the draft's weights and KV on each chip: fewer blocks,
        each holding the draft's KV of its tokens too."""
        weights = plan.weights_bytes + self.weights_bytes_per_chip
        per_token = plan.kv_bytes_per_token + self.kv_bytes_per_token_per_chip
        kv_bytes = max(0.0, plan.usable_bytes - weights - plan.activations_bytes)
        return replace(
            plan,
            weights_bytes=weights,
            kv_cache_bytes=kv_bytes,
            kv_bytes_per_token=per_token,
            num_blocks=floor(kv_bytes / (per_token * plan.block_size)),
        )

    def summary(self) -> dict[str, object]:
        """The JSON's `speculative` fields that do not depend on the run."""
        return {
            "draft": self.spec.draft or "mtp",
            "tokens": self.tokens,
            "acceptance": self.acceptance,
            "mean_tokens_per_step": self.mean_tokens_per_step,
            "draft_tp": self.draft.tp,
            "draft_weights_per_chip_bytes": self.weights_bytes_per_chip,
            "draft_kv_bytes_per_token_per_chip": self.kv_bytes_per_token_per_chip,
        }

    def serving_summary(self, workload: Workload) -> dict[str, object]:
        """`speculative` of `tigris serve`: the figures, and the draft's share of one
        decode iteration at a full batch (max-num-seqs, or every request of a replica)
        halfway through the mean request."""
        d = self.target
        batch = max(1, min(d.max_num_seqs * d.ep, ceil(workload.num_requests / d.num_replicas)))
        first_kv = float(workload.input_len.mean() + workload.output_len.mean() / 2)
        timer = shared_timer(d)
        drafting = self.draft_s(batch, first_kv)
        share = drafting / (drafting + self.verify_s(timer, batch, first_kv))
        return self.summary() | {"draft_time_share": share, "draft_time_share_batch": batch}


def build_speculation(text: str | SpeculativeSpec | None, target: Deployment) -> Speculation | None:
    """The Speculation of `--speculative TEXT` on `target` (None when not asked for)."""
    if text is None:
        return None
    spec = parse_speculative(text) if isinstance(text, str) else text
    return Speculation(spec, target)


class SpeculativeTimer(StepTimer):
    """The target's StepTimer carrying the speculation the simulator applies to its
    decode steps (run_offline and run_server pass a timer through to the simulator)."""

    def __init__(self, deployment: Deployment, speculation: Speculation) -> None:
        super().__init__(deployment)
        self.speculation = speculation


def speculation_of(timer: StepTimer | None) -> Speculation | None:
    return timer.speculation if isinstance(timer, SpeculativeTimer) else None
