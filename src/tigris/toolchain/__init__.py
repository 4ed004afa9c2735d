"""The Tigris-1 toolchain: the ISA, the compiler that lowers model graphs to it, the
bit-exact executor that runs its programs, and the front ends that build those graphs from
built-in models, Hugging Face configs and safetensors checkpoints.

Layering inside: isa <- compiler <- frontends <- executor. Nothing outside `toolchain`
and `cli` imports it except `engines.systolic`'s timing, which it reuses.
"""
