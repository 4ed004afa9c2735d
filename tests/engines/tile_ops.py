"""Ops that exercise every path of the tile engine's fast timings (shared by the tests that
hold times_s and times_s_many to TileEngine.time)."""

from tigris.workload.ops import Attention, Gemm, Stream

OPS = [
    Gemm("qkv", m=8192, n=1280, k=8192),
    Gemm("wgrad", m=1024, n=8192, k=8192, out_dtype="fp32"),
    Gemm("head", m=8192, n=16032, k=8192),
    Gemm("decode", m=3, n=4096, k=4096, batch=2),
    Gemm("small", m=3, n=4096, k=100, batch=2),
    Gemm("tiny", m=1, n=1, k=1),
    Gemm("int4", m=64, n=4096, k=4096, dtype="bf16", weight_dtype="int4"),
    Stream("norm", 8388608, 16779264.0, 16777216.0, 4.0),
    Stream("loss", 131334144, 262668288.0, 4096.0, 5.0),
    Stream("no-read", 1024, 0.0, 2048.0, 1.0),
    Stream("small", 10, 20.0, 20.0, 0.0),
    Attention("attn", batch=2, num_heads=8, num_kv_heads=2, head_dim=128, q_len=2048,
              kv_len=2048, causal=True),
    Attention("attn.bwd", batch=2, num_heads=8, num_kv_heads=2, head_dim=128, q_len=2048,
              kv_len=2048, causal=True, phase="bwd"),
    Attention("attn.long", batch=1, num_heads=8, num_kv_heads=1, head_dim=128, q_len=4096,
              kv_len=4096, causal=True),
    Attention("decode", batch=4, num_heads=8, num_kv_heads=8, head_dim=64, q_len=1,
              kv_len=1000, causal=True),
    Attention("decode.bwd", batch=4, num_heads=8, num_kv_heads=8, head_dim=64, q_len=1,
              kv_len=1000, causal=True, phase="bwd"),
    Attention("window.bwd", batch=1, num_heads=4, num_kv_heads=4, head_dim=128, q_len=3000,
              kv_len=3000, causal=True, window=1024, phase="bwd"),
    Attention("full", batch=1, num_heads=4, num_kv_heads=4, head_dim=80, q_len=777,
              kv_len=777, causal=False),
    Attention("unfused.bwd", batch=1, num_heads=4, num_kv_heads=4, head_dim=128, q_len=512,
              kv_len=512, causal=True, phase="bwd", implementation="fused_softmax"),
]  # fmt: skip
