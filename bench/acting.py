"""Benchmark: the acting pass alone (greedy Q-values for a batch of Pong frames), fp32
network against its bf16 copy under autocast, in one process.

    .venv/bin/python bench/acting.py              # ~20 s on 2 cores

The training loop's ε-greedy acting runs one forward pass over the observations of all
``num_envs`` environments. With MasterAdam (the default for long bf16 CPU runs) DQN acts
through ``speed.Nets.act`` (MasterAdam's bf16 copy), the copy whose conv and linear weights are q_net's rounded to bf16;
evaluation and ``predict`` keep the fp32 network. Blocks of passes alternate between the
two; the table gives the median time per pass and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8, 16], help="observations per pass")
    p.add_argument("--rounds", type=int, default=9, help="blocks of 30 passes per variant")
    args = p.parse_args()

    import torch

    from deepq import networks

    torch.manual_seed(0)
    net = networks.NatureCNN(4, 6).eval()
    low = networks.autocast_copy(net, torch.bfloat16).eval()
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("\n| batch | fp32 ms/pass | bf16 copy ms/pass | fp32 / bf16 copy (median of rounds) |")
    print("|---|---|---|---|")
    for batch in args.batches:
        obs = torch.randint(0, 256, (batch, 4, 84, 84), dtype=torch.uint8)

        def fp32():
            return net(obs)

        def copy():
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return low(obs).float()

        times: dict[str, list[float]] = {"fp32": [], "copy": []}
        with torch.no_grad():
            for f in (fp32, copy):
                for _ in range(5):
                    f()
            for r in range(args.rounds):
                for name, f in ((("fp32", fp32), ("copy", copy)) if r % 2 == 0 else
                                (("copy", copy), ("fp32", fp32))):
                    t = time.perf_counter()
                    for _ in range(30):
                        f()
                    times[name].append((time.perf_counter() - t) / 30 * 1000)
        ratio = statistics.median(a / b for a, b in zip(times["fp32"], times["copy"]))
        print(f"| {batch} | {statistics.median(times['fp32']):.3f} | {statistics.median(times['copy']):.3f} "
              f"| {ratio:.2f}× |")


if __name__ == "__main__":
    main()
