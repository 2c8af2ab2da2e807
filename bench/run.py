"""``make bench``: speed targets as ratios against a baseline measured in the same run.

1. Activation collection: the forward pass that stops after the chosen block (saecourse) against
   a full forward with ``output_hidden_states`` (the original exercise's way), same model, same
   batches. Target: >= 1.5x at the middle block (the later half of the blocks never runs).
2. Activation memory: peak resident memory added while collecting the same tokens, with the
   original exercise's loop (full forward per context, one tensor per position, ``torch.stack``)
   against ``collect_activations`` (stopped forward, batches, output allocated once). Each is
   measured in a fresh subprocess. Target: the exercise's loop needs >= 1.5x as much.
3. Toy models: 24 instances trained as one batched model against the same 24 trained one after
   another. Target: >= 3x (measured about 4x on two cores).
4. Grading one submission (the reference, Parts 1-2), answer key cached: against the same plus the
   reference work every submission repeated before the answer key existed. Target: >= 1.2x.
5. Confinement: the same grading with bubblewrap against ``--unsafe-no-sandbox`` (after one
   unmeasured warm-up run). Target: the confined run takes at most 1.05x as long (the bound is
   1 s more per part).

``--grade-all N`` also times ``grade-all`` on N copies of the reference with 1 and 2 workers, and
compares the seconds per submission with the 18 s that grading 100 submissions in 30 minutes needs.

Prints a table and exits non-zero if a target is missed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import torch

from grader.framework import reference
from saecourse import corpus, models

GRADED_PARTS = ["part1_toy_superposition", "part2_training_saes"]  # what the grading targets are stated for


def tokens_per_second(fn, tokens: torch.Tensor, repeats: int = 3) -> float:
    fn(tokens[:2])  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn(tokens)
    return repeats * tokens.numel() / (time.perf_counter() - start)


def bench_collection() -> tuple[float, float]:
    model, tokenizer = models.load_model()
    layer = models.n_layers(model) // 2
    tokens = corpus.make_contexts(corpus.get_split("train"), tokenizer, ctx_len=128).tokens[:16]
    with torch.no_grad():
        full = tokens_per_second(lambda t: model(input_ids=t, output_hidden_states=True).hidden_states[layer + 1], tokens)
    stopped = tokens_per_second(lambda t: models.residual_stream(model, t, layer), tokens)
    return full, stopped


MEMORY_CONTEXTS = 256  # 32k tokens of 128


def resident_mib() -> float:
    """This process's resident memory now (Linux /proc), in MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@contextmanager
def peak_growth(interval: float = 0.002):
    """Yield a dict whose ``"mib"`` becomes the peak resident memory above the starting level."""
    start, peak, done = resident_mib(), [0.0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], resident_mib() - start)
            time.sleep(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    result: dict[str, float] = {}
    try:
        yield result
    finally:
        done.set()
        sampler.join()
        result["mib"] = max(peak[0], resident_mib() - start)


def _collect_in_this_process(way: str) -> None:
    """Collect MEMORY_CONTEXTS contexts one ``way``; print the peak resident memory it added (MiB)."""
    from saecourse.activations import collect_activations

    model, tokenizer = models.load_model()
    layer = models.n_layers(model) // 2
    contexts = corpus.make_contexts(corpus.get_split("train"), tokenizer, ctx_len=128)[:MEMORY_CONTEXTS]
    models.residual_stream(model, contexts.tokens[:16], layer)  # warm-up at the batch size used below
    with peak_growth() as growth:
        if way == "exercise":
            rows = []
            with torch.no_grad():
                for ctx in contexts.tokens:
                    hidden = model(input_ids=ctx[None], output_hidden_states=True).hidden_states[layer + 1]
                    rows.extend(hidden[0, pos, :].cpu() for pos in range(hidden.shape[1]))
            acts = torch.stack(rows)
        else:
            acts = collect_activations(model, tokenizer, contexts, layer, progress=False).acts
    assert acts.shape[0] == MEMORY_CONTEXTS * 128
    print(growth["mib"])


def peak_memory_mib(way: str) -> float:
    run = subprocess.run([sys.executable, __file__, "--collect", way], capture_output=True, text=True, check=True)
    return float(run.stdout.strip().splitlines()[-1])


def bench_toy_batching(steps: int = 500) -> tuple[float, float]:
    ref = reference("part1_toy_superposition")
    p, importance = ref.regime_settings(8)
    start = time.perf_counter()
    for i in range(len(p)):
        ref.train_toy_model(ref.ToyModel(1, 5, 2), p[i : i + 1], importance[i : i + 1], steps=steps, progress=False)
    one_by_one = time.perf_counter() - start
    start = time.perf_counter()
    ref.train_toy_model(ref.ToyModel(len(p), 5, 2), p, importance, steps=steps, progress=False)
    batched = time.perf_counter() - start
    return one_by_one, batched


def reference_work_seconds() -> float:
    """What computing every answer-key entry costs: the reference runs each submission paid for
    before the key was cached."""
    from grader import answers
    from grader.framework import tests_module

    torch.set_num_threads(1)
    start = time.perf_counter()
    for part in GRADED_PARTS:
        tests_module(part)
        ref = reference(part)
        for fn in answers._ANSWERS.get(part, {}).values():
            fn(ref)
    return time.perf_counter() - start


def grading_seconds(confined: bool) -> float:
    from grader.framework import REPO
    from grader.run import Limits, grade_submission

    start = time.perf_counter()
    results = grade_submission(REPO / "solutions", GRADED_PARTS, Limits(confined=confined))
    assert all(r.score == r.max_score for r in results), "the reference lost points"
    return time.perf_counter() - start


def grade_all_seconds(n: int, jobs: int) -> float:
    import shutil
    import tempfile

    from grader.framework import REPO
    from grader.gradebook import main as gradebook

    with tempfile.TemporaryDirectory() as tmp:
        for i in range(n):
            folder = Path(tmp, "submissions", f"s{i:03d}")
            folder.mkdir(parents=True)
            for part in GRADED_PARTS:
                shutil.copy(REPO / "solutions" / f"{part}.ipynb", folder)
        start = time.perf_counter()
        assert gradebook([f"{tmp}/submissions", "--out", f"{tmp}/grades", "--jobs", str(jobs)]) == 0
        return time.perf_counter() - start


def main() -> int:
    torch.set_num_threads(2)
    full, stopped = bench_collection()
    exercise_mib, ours_mib = peak_memory_mib("exercise"), peak_memory_mib("ours")
    torch.set_num_threads(1)
    one_by_one, batched = bench_toy_batching()
    reference_work = reference_work_seconds()
    grading_seconds(True)  # warm-up: the first run pays for cold file caches
    confined, unconfined = grading_seconds(True), grading_seconds(False)
    rows = [
        ("activation collection (tokens/s)", f"full forward {full:.0f}", f"stopped at middle block {stopped:.0f}", stopped / full, 1.5),
        (f"activation memory, {MEMORY_CONTEXTS * 128 // 1000}k tokens (MiB)", f"exercise's loop {exercise_mib:.0f}",
         f"collect_activations {ours_mib:.0f}", exercise_mib / ours_mib, 1.5),
        ("toy models, 24 instances (s)", f"one by one {one_by_one:.1f}", f"batched {batched:.1f}", one_by_one / batched, 3.0),
        ("grading Parts 1-2, one submission (s)", f"re-running reference {confined + reference_work:.0f}",
         f"answer key cached {confined:.0f}", (confined + reference_work) / confined, 1.2),
        ("confinement (s)", f"unconfined {unconfined:.1f}", f"bubblewrap {confined:.1f}", 1.05 * unconfined / confined, 1.0),
    ]
    if "--grade-all" in sys.argv:
        n = int(sys.argv[sys.argv.index("--grade-all") + 1])
        one, two = grade_all_seconds(n, 1) / n, grade_all_seconds(n, 2) / n
        rows.append((f"grade-all, {n} submissions (s each)", f"needed for 100 in 30 min {18:.0f}",
                     f"1 worker {one:.0f}, 2 workers {two:.0f}", 18 / min(one, two), 1.0))
    failed = False
    for name, baseline, ours, ratio, target in rows:
        ok = ratio >= target
        failed |= not ok
        print(f"{name:40s} {baseline:24s} {ours:32s} ratio {ratio:5.2f} (target >= {target}) {'ok' if ok else 'MISSED'}")
    return 1 if failed else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--collect"]:
        torch.set_num_threads(2)
        _collect_in_this_process(sys.argv[2])
    else:
        sys.exit(main())
