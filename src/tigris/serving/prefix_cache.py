"""A block-hash prefix cache (vLLM's automatic prefix caching, SGLang's radix cache at
block granularity) with an optional host-memory tier for the KV blocks it evicts.

Model:
- A prompt's full KV blocks of block_size tokens have keys that name the whole prefix up
  to them. From a trace's hash ids (Mooncake: one id per 512 prompt tokens, prefix-
  chained): engine block j's key is (the id of the trace block holding its last token,
  j). Without hash ids, the stated sharing model `prefix_share` F: the first floor(F x
  prompt) tokens of every prompt are the start of one system prompt common to all
  requests; its full blocks are keyed j, the rest of the prompt is private (no key).
- Admission looks the keys up in order and stops at the first miss; the hits are the
  cached prefix. Its tokens skip prefill compute (at least one prompt token is always
  computed, as vLLM recomputes the last one); blocks held by running sequences are
  shared (they cost no free block); cached blocks no sequence holds are counted as free
  KV blocks (the LRU list), and a request that hits one takes it back.
- Eviction: when the free blocks fall below the cached-but-unheld ones, the least
  recently released go first (checked at each lookup and release: the pool is trimmed
  lazily, not at every decode step). With a host tier (`host_blocks` > 0) an evicted
  block is copied to host memory (LRU there too); a hit in host memory is reloaded over
  the chip's host link: block bytes / host bandwidth per block, added to the step that
  admits the request (not overlapped with compute).
- A request's keyed blocks are released when it finishes or is preempted; a preempted
  request finds its own blocks again when re-admitted.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from tigris.errors import SpecError

# PCIe per-lane rate by generation, GT/s (PCI-SIG base specifications 3.0-6.0); Gen3-5
# encode 128b/130b, Gen6 FLIT mode 242/256 (payload of a 256-byte FLIT)
PCIE_GT_S = {3: 8.0, 4: 16.0, 5: 32.0, 6: 64.0}
PCIE_EFFICIENCY = {3: 128 / 130, 4: 128 / 130, 5: 128 / 130, 6: 242 / 256}
PCIE_DEFAULT_LANES = 16


def host_link_bytes_per_s(host_interface: str | None, chip_id: str) -> float:
    """One direction of the chip's host link from its preset's `host_interface`
    ('PCIe Gen5 x16': 32 GT/s x 16 lanes x 128/130 / 8 = 63 GB/s; 'NVLink-C2C ... (900
    GB/s both ways)': 450 GB/s)."""
    text = host_interface or ""
    both_ways = re.search(r"\(([\d.]+)\s*GB/s both ways\)", text)
    if both_ways:
        return float(both_ways.group(1)) * 1e9 / 2
    pcie = re.search(r"PCIe Gen(\d)(?:\s*x(\d+))?", text)
    if pcie and int(pcie.group(1)) in PCIE_GT_S:
        gen = int(pcie.group(1))
        lanes = int(pcie.group(2) or PCIE_DEFAULT_LANES)
        return PCIE_GT_S[gen] * 1e9 * lanes * PCIE_EFFICIENCY[gen] / 8
    raise SpecError(
        f"the host link of {chip_id} is not known ({text[:60] or 'no host_interface'})",
        key_path="--kv-offload-gb",
        hint="the chip preset's host_interface must name PCIe GenN xW or a GB/s figure",
    )


@dataclass
class PrefixCacheStats:
    """Prompt tokens looked up and found (on the chip, in host memory), over every
    admission (a preempted request's re-admission counts again)."""

    lookup_tokens: int = 0
    hit_tokens: int = 0
    host_hit_tokens: int = 0
    evicted_blocks: int = 0
    reload_s: float = 0.0


@dataclass
class PrefixCache:
    """The cache of one replica. `hashes`/`hash_block_tokens`: the trace's hash ids (per
    request of this replica's workload), or None; `share`: the sharing model's fraction."""

    block_size: int
    input_len: np.ndarray
    hashes: np.ndarray | None = None
    hash_block_tokens: int = 0
    share: float = 0.0
    host_blocks: int = 0
    reload_s_per_block: float = 0.0
    stats: PrefixCacheStats = field(default_factory=PrefixCacheStats)

    def __post_init__(self) -> None:
        self.refs: dict[object, int] = {}  # keys on the chip -> sequences holding them
        self.unheld: OrderedDict[object, None] = OrderedDict()  # on the chip, LRU first
        self.host: OrderedDict[object, None] = OrderedDict()
        self.held: dict[int, list[object]] = {}  # request -> its keyed blocks

    # ---- keys -------------------------------------------------------------------------

    def keys(self, rid: int) -> list[object]:
        bs = self.block_size
        prompt = int(self.input_len[rid])
        if self.hashes is not None:
            ids = self.hashes[rid]
            per = self.hash_block_tokens
            full = min(prompt, len(ids) * per) // bs
            return [(ids[((j + 1) * bs - 1) // per], j) for j in range(full)]
        return list(range(int(self.share * prompt) // bs))

    # ---- admission ----------------------------------------------------------------------

    def lookup(self, rid: int, prompt: int, free: int) -> tuple[int, int]:
        """(prompt tokens cached, blocks of them that running sequences hold) for a
        request about to be admitted with `free` free blocks; changes nothing but the
        eviction the free blocks call for."""
        self.trim(free)
        cached = shared = 0
        for key in self.keys(rid):
            held = self.refs.get(key)
            if held is None and key not in self.host:
                break
            cached += 1
            shared += bool(held)
        return min(cached * self.block_size, prompt - 1), shared

    def acquire(self, rid: int, prompt: int) -> float:
        """Admit the request (right after `lookup`): hold its cached prefix blocks and key
        its new ones (blocks after the first miss already cached elsewhere stay private,
        so that the free count matches lookup's). Returns the seconds to reload its
        blocks from host memory."""
        held: list[object] = []
        hits = reloaded = 0
        prefix = True
        for key in self.keys(rid):
            on_chip = key in self.refs
            if prefix and (on_chip or key in self.host):
                hits += 1
                if not on_chip:
                    del self.host[key]
                    reloaded += 1
                self.unheld.pop(key, None)
            elif on_chip:
                continue
            else:
                prefix = False
            self.refs[key] = self.refs.get(key, 0) + 1
            held.append(key)
        self.held[rid] = held
        self.stats.lookup_tokens += prompt
        self.stats.hit_tokens += min(hits * self.block_size, prompt - 1)
        self.stats.host_hit_tokens += reloaded * self.block_size
        reload_s = reloaded * self.reload_s_per_block
        self.stats.reload_s += reload_s
        return reload_s

    # ---- release and eviction -----------------------------------------------------------

    def release(self, rid: int) -> int:
        """The request frees its blocks: the correction to add to `blocks it held` for
        the free count (shared blocks still held by others do not come back)."""
        keys = self.held.pop(rid, [])
        back = 0
        for key in keys:
            left = self.refs[key] - 1
            self.refs[key] = left
            if left == 0:
                self.unheld[key] = None
                back += 1
        return back - len(keys)

    def trim(self, free: int) -> None:
        """Evict the least recently released unheld blocks beyond the free ones."""
        while len(self.unheld) > max(free, 0):
            key, _ = self.unheld.popitem(last=False)
            del self.refs[key]
            self.stats.evicted_blocks += 1
            if self.host_blocks:
                self.host[key] = None
                if len(self.host) > self.host_blocks:
                    self.host.popitem(last=False)


@dataclass(frozen=True)
class PrefixSharing:
    """How requests share prefixes and where evicted KV goes: `share` (the sharing model,
    used when the trace has no hash ids; 0: none) and `offload_bytes` (host memory per
    chip for evicted KV blocks; 0: no host tier)."""

    share: float = 0.0
    offload_bytes: float = 0.0

    def __post_init__(self) -> None:
        if not (0.0 <= self.share <= 1.0):
            raise SpecError(f"must be from 0 to 1, got {self.share}", key_path="--prefix-share")
        if not (self.offload_bytes >= 0.0 and np.isfinite(self.offload_bytes)):
            raise SpecError(
                f"must be a finite size of at least 0, got {self.offload_bytes / 1e9} GB",
                key_path="--kv-offload-gb",
            )


def make_cache(
    sharing: PrefixSharing | None,
    workload,
    plan,
    deployment,  # noqa: ANN001
) -> PrefixCache | None:
    """The prefix cache of a replica serving `workload` (None: no prefix is shared, so
    the run is exactly the one without a cache)."""
    if sharing is None or (workload.prefix_hashes is None and sharing.share == 0):
        return None
    block_bytes = plan.kv_bytes_per_token * plan.block_size  # each chip its own shard
    host_blocks = reload_s = 0
    if sharing.offload_bytes > 0:
        chip = deployment.chip
        host_blocks = int(sharing.offload_bytes // block_bytes)
        reload_s = block_bytes / host_link_bytes_per_s(chip.host_interface, chip.id)
    return PrefixCache(
        block_size=plan.block_size,
        input_len=workload.input_len,
        hashes=workload.prefix_hashes,
        hash_block_tokens=workload.hash_block_tokens,
        share=0.0 if workload.prefix_hashes is not None else sharing.share,
        host_blocks=host_blocks,
        reload_s_per_block=reload_s,
    )


def cache_summary(caches: list[PrefixCache]) -> dict[str, object] | None:
    """The JSON figures of every replica's cache together (None: no cache ran)."""
    if not caches:
        return None
    stats = [cache.stats for cache in caches]
    lookup = sum(s.lookup_tokens for s in stats)
    hits = sum(s.hit_tokens for s in stats)
    first = caches[0]
    return {
        "sharing": "trace hash_ids" if first.hashes is not None else f"prefix_share {first.share}",
        "block_size": first.block_size,
        "hit_rate": hits / lookup if lookup else 0.0,
        "hit_tokens": hits,
        "lookup_tokens": lookup,
        "host_hit_tokens": sum(s.host_hit_tokens for s in stats),
        "host_blocks": first.host_blocks,
        "evicted_blocks": sum(s.evicted_blocks for s in stats),
        "reload_s": sum(s.reload_s for s in stats),
    }
