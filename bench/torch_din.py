"""The reference DIN configuration of AdPilot's CTR benchmark, written in PyTorch.

It mirrors ReferenceBenchmark in Sources/AdPilot/Bench: 16 categorical fields (8 user, 5 ad,
3 context) embedded in 16 dimensions, behaviour sequences of 50 items embedded as category +
brand (32 dimensions) sharing the ad's category and brand tables, an activation unit
128-80-40-1 over [k, q, k - q, k * q] without softmax, and an MLP 288-200-80-1, trained with
Adam and binary cross-entropy on random batches of 1024 rows. It measures throughput only.
"""

import argparse
import time

import torch
from torch import nn

USER_FIELDS, AD_FIELDS, CONTEXT_FIELDS = 8, 5, 3
BUCKETS = [10_000] * USER_FIELDS + [1_000, 10_000, 10_000, 10_000, 10_000] + [100] * CONTEXT_FIELDS
CATEGORY_FIELD, BRAND_FIELD = USER_FIELDS, USER_FIELDS + 1
DIM, SEQUENCE = 16, 50


class DIN(nn.Module):
    def __init__(self):
        super().__init__()
        self.tables = nn.ModuleList(nn.Embedding(b, DIM) for b in BUCKETS)
        self.unit = nn.Sequential(
            nn.Linear(4 * 2 * DIM, 80), nn.ReLU(), nn.Linear(80, 40), nn.ReLU(), nn.Linear(40, 1))
        fields = len(BUCKETS) * DIM + 2 * DIM
        self.mlp = nn.Sequential(
            nn.Linear(fields, 200), nn.ReLU(), nn.Linear(200, 80), nn.ReLU(), nn.Linear(80, 1))

    def forward(self, fields, history, mask):
        # fields [B, 16] ids; history [B, L, 2] (category, brand) ids; mask [B, L] 0/1.
        embedded = [table(fields[:, i]) for i, table in enumerate(self.tables)]
        query = torch.cat([embedded[CATEGORY_FIELD], embedded[BRAND_FIELD]], dim=1)  # [B, 32]
        keys = torch.cat(
            [self.tables[CATEGORY_FIELD](history[:, :, 0]),
             self.tables[BRAND_FIELD](history[:, :, 1])], dim=2)  # [B, L, 32]
        q = query.unsqueeze(1).expand_as(keys)
        weights = self.unit(torch.cat([keys, q, keys - q, keys * q], dim=2)).squeeze(2)
        weights = weights * mask  # masked positions get no weight (DIN uses no softmax)
        interest = (weights.unsqueeze(2) * keys).sum(dim=1)  # [B, 32]
        return self.mlp(torch.cat(embedded + [interest], dim=1)).squeeze(1)


def random_batch(generator, batch):
    fields = torch.stack(
        [torch.randint(0, b, (batch,), generator=generator) for b in BUCKETS], dim=1)
    history = torch.stack(
        [torch.randint(0, 1_000, (batch, SEQUENCE), generator=generator),
         torch.randint(0, 10_000, (batch, SEQUENCE), generator=generator)], dim=2)
    mask = torch.ones(batch, SEQUENCE)
    labels = (torch.rand(batch, generator=generator) < 0.04).float()
    return fields, history, mask, labels


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["train", "score"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=1024)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    generator = torch.Generator().manual_seed(2)
    model = DIN()
    batches = [random_batch(generator, args.batch_size) for _ in range(min(args.steps, 8))]
    loss_function = nn.BCEWithLogitsLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)

    def step(batch):
        fields, history, mask, labels = batch
        optimizer.zero_grad()
        loss = loss_function(model(fields, history, mask), labels)
        loss.backward()
        optimizer.step()

    def score(batch):
        fields, history, mask, _ = batch
        with torch.no_grad():
            return torch.sigmoid(model(fields, history, mask))

    run = step if args.mode == "train" else score
    run(batches[0])  # warm-up
    started = time.perf_counter()
    for index in range(args.steps):
        run(batches[index % len(batches)])
    seconds = time.perf_counter() - started
    print(f"torch={torch.__version__} threads={torch.get_num_threads()}")
    print(f"samples_per_s={int(args.steps * args.batch_size / seconds)}")


if __name__ == "__main__":
    main()
