#!/usr/bin/python3
"""PyTorch peer of `npm run bench -- --only train-gpt-char` (scripts/bench/gpt_char.ts).

The same model as the tfjs side: token + learned position embedding (65 characters, 128
positions, width 128), 4 pre-LN causal blocks (nn.TransformerEncoderLayer with norm_first=True,
4 heads, feed-forward 512, exact gelu, dropout 0, batch_first), a final nn.LayerNorm, a
nn.Linear(128, 65); cross-entropy of the next character at every position; Adam 1e-3 (PyTorch's
default betas and epsilon, as the tfjs side sets them); batch 16 windows of 128.

The batches come from the file the tfjs side wrote (int32, steps x 16 x 129: inputs are the first
128 of each window, targets the last 128), reused in order by every repeat.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 scripts/peers/torch_gpt_char.py \
        --batches /tmp/gpt-char-batches.bin --steps 10 --repeats 5
    -> {"name":"train-gpt-char","peer":"torch","msPerStep":..,"tokensPerSecond":..,"repeatsMs":[..],
        "threads":{"torch":1,"blas":2},"threadConfigs":[..],"blas":..,"openblasCore":..,..}

--threads: the thread configurations to try (peer_threads.py), default all four of PyTorch's 1 or 2
intra-op threads by OpenBLAS's 1 or 2; the figures are the fastest one's.
"""

import argparse
import json
import os
import statistics
import time

VOCAB, LENGTH, WIDTH, HEADS, LAYERS, FF, BATCH = 65, 128, 128, 4, 4, 512, 16


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batches", required=True, help="int32 file of steps x 16 x 129 character ids")
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", default="all", help="'all', N, or TxB[,TxB...]: PyTorch x BLAS threads to try")
    return p.parse_args()


ARGS = parse_args()

import numpy as np  # noqa: E402
import torch  # noqa: E402
from batch_file import read_int32_steps  # noqa: E402
from peer_threads import fastest, parse_configs, record  # noqa: E402
from torch import nn  # noqa: E402


class GptChar(nn.Module):
    def __init__(self):
        super().__init__()
        self.tokens = nn.Embedding(VOCAB, WIDTH)
        self.positions = nn.Embedding(LENGTH, WIDTH)
        layer = nn.TransformerEncoderLayer(WIDTH, HEADS, FF, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(WIDTH)
        self.logits = nn.Linear(WIDTH, VOCAB)
        self.register_buffer("causal", torch.triu(torch.full((LENGTH, LENGTH), float("-inf")), diagonal=1))

    def forward(self, ids):
        x = self.tokens(ids) * WIDTH ** 0.5 + self.positions.weight[: ids.shape[1]]
        x = self.blocks(x, mask=self.causal)
        return self.logits(self.norm(x))


def main():
    configs = parse_configs(ARGS.threads)
    torch.manual_seed(1)
    steps = read_int32_steps(ARGS.batches, ARGS.steps, [(BATCH, LENGTH + 1)])
    windows = torch.from_numpy(np.stack([windows for (windows,) in steps]))
    model = GptChar()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def step(i):
        batch = windows[i % ARGS.steps]
        optimizer.zero_grad(set_to_none=True)
        logits = model(batch[:, :LENGTH])
        loss = loss_fn(logits.reshape(-1, VOCAB), batch[:, 1:].reshape(-1))
        loss.backward()
        optimizer.step()
        return loss.item()

    def repeat():
        start = time.perf_counter()
        for i in range(ARGS.steps):
            step(i)
        return (time.perf_counter() - start) * 1000 / ARGS.steps

    for i in range(ARGS.warmup):
        step(i)
    best, times = fastest(configs, ARGS.repeats, repeat, lambda: step(0))
    repeats_ms = times[best]
    median = statistics.median(repeats_ms)
    print(json.dumps({
        "name": "train-gpt-char", "peer": "torch", "torch": torch.__version__, **record(best, times, "msPerStep"),
        # The machine's 1-minute load average when the figure was taken, as torch_reverse.py records it.
        "loadAvg1m": round(os.getloadavg()[0], 2),
        "msPerStep": round(median, 3), "tokensPerSecond": round(BATCH * LENGTH * 1000 / median, 1),
        "repeatsMs": [round(r, 3) for r in repeats_ms],
        "spread": round((max(repeats_ms) - min(repeats_ms)) / median, 4), "batch": BATCH, "T": LENGTH,
    }))


if __name__ == "__main__":
    main()
