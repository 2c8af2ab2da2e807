"""``make bench-speed``: the course's speed and memory claims, each against a baseline measured in the same run.

1. Activation collection against the original exercise's loop, on the same 16k tokens (128 contexts
   of 128) and model, each way in a fresh process: tokens/s and the peak resident memory it added.
   The exercise's loop runs one text at a time through a full forward with every hidden state and
   appends one tensor per token to a list (it is given token ids, so its tokenizer calls are not
   counted); a batched full forward separates what batching buys from what stopping buys;
   ``collect_activations`` runs batches of 16 through a forward that stops after the chosen block
   and writes into an output allocated once. Targets: >= 1.5x the tokens/s, <= 1/1.5 the memory.
2. Toy models: 24 instances trained as one batched model against the same 24 one after another,
   at one thread (Part 1's ``set_threads(1)``); and the batched model at one thread against two, on
   an idle machine and with another process spinning on one core (as beside ``make check`` or a
   grader). Targets: batching >= 3x; with a core busy, two threads take >= 1.5x as long as one.
3. Grading: the reference submission of every part graded once, one part at a time, after each
   part's answer key is built (timed): seconds per part and for all parts; the answer keys against
   the reference work each submission repeated before they existed (target on Parts 1-2 >= 1.2x);
   the same grading with bubblewrap against ``--unsafe-no-sandbox`` on Parts 1-2, best of two
   alternating runs each (target: at most 1.05x as long); and ``grade-all`` on
   ``--grade-all N`` copies of the reference (default 20; Parts 1-2, or every part with
   ``--all-parts``) with 1 and 2 workers, against the 18 s per submission that grading 100
   submissions in 30 minutes needs.

Prints the table, writes the ``speed`` section of ``bench/README.md`` and exits non-zero if a target
is missed.

    python bench/run.py [--grade-all N] [--all-parts] [--skip-grading]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import report  # noqa: E402

from grader.framework import REPO, parts, reference  # noqa: E402
from saecourse import corpus, models  # noqa: E402

EARLY_PARTS = ["part1_toy_superposition", "part2_training_saes"]
COLLECT_CONTEXTS, COLLECT_BATCH = 128, 16  # 16k tokens of 128
WAYS = ("exercise", "batched_full", "course")  # the exercise's loop, a batched full forward, collect_activations


@dataclass
class Row:
    """One comparison: the baseline and ours in words, ``ratio`` (higher is better for ours) and its target."""

    name: str
    baseline: str
    ours: str
    ratio: float
    target: float | None  # None: measured and shown, no claim made

    @property
    def ok(self) -> bool:
        return self.target is None or self.ratio >= self.target


# --------------------------------------------------------------------------------------------------
# 1. Activation collection


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


@torch.no_grad()
def exercise_loop(model, tokens: torch.Tensor, layer: int) -> torch.Tensor:
    """The original exercise's collection: tokens [n_ctx, ctx_len] -> [n_ctx * ctx_len, d_model]."""
    rows = []
    for ctx in tokens:
        hidden = model(input_ids=ctx[None], output_hidden_states=True).hidden_states[layer + 1]
        rows.extend(hidden[0, pos, :].cpu() for pos in range(hidden.shape[1]))
    return torch.stack(rows)


@torch.no_grad()
def batched_full_forward(model, tokens: torch.Tensor, layer: int) -> torch.Tensor:
    """Batches through the whole model, keeping one hidden state: [n_ctx * ctx_len, d_model]."""
    out = [model(input_ids=batch, output_hidden_states=True).hidden_states[layer + 1].flatten(0, 1)
           for batch in tokens.split(COLLECT_BATCH)]
    return torch.cat(out)


def collect_in_this_process(way: str) -> dict[str, float]:
    """Collect the benchmark's tokens ``way``: {"tokens_per_s", "mib"} (peak memory added)."""
    from saecourse.activations import collect_activations

    torch.set_num_threads(2)
    model, tokenizer = models.load_model()
    layer = models.n_layers(model) // 2
    contexts = corpus.make_contexts(corpus.get_split("train"), tokenizer, ctx_len=128)[:COLLECT_CONTEXTS]
    models.residual_stream(model, contexts.tokens[:COLLECT_BATCH], layer)  # warm-up: kernels, allocator
    start = time.perf_counter()
    with peak_growth() as growth:
        if way == "exercise":
            acts = exercise_loop(model, contexts.tokens, layer)
        elif way == "batched_full":
            acts = batched_full_forward(model, contexts.tokens, layer)
        else:
            acts = collect_activations(model, tokenizer, contexts, layer, batch_size=COLLECT_BATCH, progress=False).acts
    seconds = time.perf_counter() - start
    assert acts.shape[0] == contexts.tokens.numel()
    return {"tokens_per_s": acts.shape[0] / seconds, "mib": growth["mib"]}


def bench_collection() -> dict[str, dict[str, float]]:
    """Each way in its own process, one after another."""
    found = {}
    for way in WAYS:
        run = subprocess.run([sys.executable, __file__, "--collect", way], capture_output=True, text=True, check=True)
        found[way] = json.loads(run.stdout.strip().splitlines()[-1])
    return found


# --------------------------------------------------------------------------------------------------
# 2. Toy models


def time_toy(batched: bool, threads: int, steps: int = 500) -> float:
    """Seconds to train Part 1's 24 regime instances batched or one by one at ``threads``."""
    ref = reference("part1_toy_superposition")
    p, importance = ref.regime_settings(8)
    torch.set_num_threads(threads)
    start = time.perf_counter()
    if batched:
        ref.train_toy_model(ref.ToyModel(len(p), 5, 2), p, importance, steps=steps, progress=False)
    else:
        for i in range(len(p)):
            ref.train_toy_model(ref.ToyModel(1, 5, 2), p[i: i + 1], importance[i: i + 1], steps=steps, progress=False)
    return time.perf_counter() - start


@contextmanager
def one_core_busy():
    """Another process spinning on one core, as in ``make check`` or a grader beside the notebook."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        spinner.kill()
        spinner.wait()


# --------------------------------------------------------------------------------------------------
# 3. Grading


KEY_TIMES = """
import json, sys, time
from grader.answers import build
seconds = {}
for part in sys.argv[1:]:
    start = time.perf_counter()
    build(part)
    seconds[part] = time.perf_counter() - start
print(json.dumps(seconds))
"""


def build_answer_keys() -> dict[str, float]:
    """Seconds to build each part's answer key (the reference work a submission repeated before
    the key existed), in a fresh process so nothing is cached in memory."""
    from grader.answers import key_path

    for part in parts():
        key_path(part).unlink(missing_ok=True)
    run = subprocess.run([sys.executable, "-c", KEY_TIMES, *parts()], cwd=REPO, check=True, capture_output=True, text=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


def grade_reference(only: list[str], confined: bool = True, part_jobs: int = 1) -> dict[str, float]:
    """Seconds per part (and "total") to grade the reference submission; it must earn every point."""
    from grader.run import Limits, grade_submission

    start = time.perf_counter()
    results = grade_submission(REPO / "solutions", only, Limits(confined=confined, part_jobs=part_jobs))
    lost = [r.part for r in results if r.score != r.max_score]
    assert not lost, f"the reference lost points in {lost}"
    return {**{r.part: r.seconds for r in results}, "total": time.perf_counter() - start}


def grade_all_seconds(n: int, jobs: int, graded: list[str]) -> float:
    """Wall seconds of ``python -m grader.gradebook`` on ``n`` copies of the reference's ``graded`` parts."""
    from grader.gradebook import main as gradebook

    with tempfile.TemporaryDirectory() as tmp:
        for i in range(n):
            folder = Path(tmp, "submissions", f"s{i:03d}")
            folder.mkdir(parents=True)
            for part in graded:
                shutil.copy(REPO / "solutions" / f"{part}.ipynb", folder)
        start = time.perf_counter()
        assert gradebook([f"{tmp}/submissions", "--out", f"{tmp}/grades", "--jobs", str(jobs)]) == 0
        return time.perf_counter() - start


# --------------------------------------------------------------------------------------------------


def collection_rows(found: dict[str, dict[str, float]]) -> list[Row]:
    ex, full, ours = found["exercise"], found["batched_full"], found["course"]
    tokens = COLLECT_CONTEXTS * 128 // 1000
    return [
        Row(f"collection, {tokens}k tokens (tokens/s)", f"exercise's loop {ex['tokens_per_s']:.0f}",
            f"collect_activations {ours['tokens_per_s']:.0f} (batched full forward {full['tokens_per_s']:.0f})",
            ours["tokens_per_s"] / ex["tokens_per_s"], 1.5),
        Row(f"collection, {tokens}k tokens (peak MiB added)", f"exercise's loop {ex['mib']:.0f}",
            f"collect_activations {ours['mib']:.0f} (batched full forward {full['mib']:.0f})", ex["mib"] / ours["mib"], 1.5),
    ]


def toy_rows() -> list[Row]:
    one_by_one, batched, batched_two = time_toy(False, 1), time_toy(True, 1), time_toy(True, 2)
    with one_core_busy():
        busy_one, busy_two = time_toy(True, 1), time_toy(True, 2)
    return [
        Row("toy models, 24 instances, 1 thread (s)", f"one by one {one_by_one:.1f}", f"batched {batched:.1f}",
            one_by_one / batched, 3.0),
        Row("toy models, batched, idle machine (s)", f"2 threads {batched_two:.1f}", f"1 thread {batched:.1f}",
            batched_two / batched, None),
        Row("toy models, batched, one core busy (s)", f"2 threads {busy_two:.1f}", f"1 thread (Part 1's choice) {busy_one:.1f}",
            busy_two / busy_one, 1.5),
    ]


def grading_rows(grade_all: int, all_parts: bool) -> tuple[list[Row], dict[str, tuple[float, float | None]]]:
    keys = build_answer_keys()
    per_part = grade_reference(parts())
    together = grade_reference(parts(), part_jobs=2)["total"]
    early, early_keys = sum(per_part[p] for p in EARLY_PARTS), sum(keys[p] for p in EARLY_PARTS)
    # Confined and unconfined alternately, twice, after a warm-up; the faster of each (one run alone
    # varies by 10 s with the machine's file caches).
    grade_reference(EARLY_PARTS)
    pairs = [(grade_reference(EARLY_PARTS)["total"], grade_reference(EARLY_PARTS, confined=False)["total"]) for _ in range(2)]
    confined, unconfined = min(c for c, _ in pairs), min(u for _, u in pairs)
    rows = [
        Row("grading Parts 1-2, one submission (s)", f"re-running the reference {early + early_keys:.1f}",
            f"answer keys built once ({early_keys:.1f} s) {early:.1f}", (early + early_keys) / early, 1.2),
        Row("grading every part, one submission (s)", f"re-running the reference {per_part['total'] + sum(keys.values()):.0f}",
            f"answer keys built once ({sum(keys.values()):.0f} s) {per_part['total']:.0f}",
            (per_part["total"] + sum(keys.values())) / per_part["total"], None),
        Row("confinement, Parts 1-2 (s, best of 2)", f"unconfined {unconfined:.1f}", f"bubblewrap {confined:.1f}",
            1.05 * unconfined / confined, 1.0),
    ]
    graded = parts() if all_parts else EARLY_PARTS
    label = "every part" if all_parts else "Parts 1-2"
    one, two = grade_all_seconds(grade_all, 1, graded) / grade_all, grade_all_seconds(grade_all, 2, graded) / grade_all
    rows.append(Row(f"grade-all, {grade_all} submissions of {label} (s each)", "needed for 100 in 30 min 18",
                    f"1 worker {one:.1f}, 2 workers {two:.1f}", 18 / min(one, two), 1.0))
    table = {part: (per_part[part], keys[part]) for part in parts()}
    table["every part, one at a time"] = (per_part["total"], sum(keys.values()))
    table["every part, two at a time (the default)"] = (together, None)
    return rows, table


def markdown(rows: list[Row], grading: dict[str, tuple[float, float | None]] | None) -> str:
    lines = ["### Speed and memory against baselines measured in the same run (`python bench/run.py`)", "",
             f"Machine: {report.machine()}; each line's baseline and ours measured one after the other.", "",
             "| what | baseline | ours | ratio | target | |", "|---|---|---|---|---|---|"]
    lines += [f"| {r.name} | {r.baseline} | {r.ours} | {r.ratio:.2f} | "
              + (f">= {r.target:g} | {'ok' if r.ok else '**missed**'} |" if r.target is not None else "none | |") for r in rows]
    if grading:
        lines += ["", "Grading the reference submission, confined, one part at a time (seconds), and building each "
                  "part's answer key (once per course version):", "",
                  "| part | grading | answer key |", "|---|---|---|"]
        lines += [f"| {name} | {seconds:.1f} | {'' if key is None else f'{key:.1f}'} |" for name, (seconds, key) in grading.items()]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grade-all", type=int, default=20, help="submissions for the grade-all throughput")
    parser.add_argument("--all-parts", action="store_true", help="grade-all on every part, not Parts 1-2")
    parser.add_argument("--skip-grading", action="store_true", help="collection and toy models only (no README)")
    args = parser.parse_args()
    rows = collection_rows(bench_collection()) + toy_rows()
    grading = None
    if not args.skip_grading:
        grading_found, grading = grading_rows(args.grade_all, args.all_parts)
        rows += grading_found
    text = markdown(rows, grading)
    print(text)
    if not args.skip_grading:
        report.write_section("speed", text)
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--collect"]:
        print(json.dumps(collect_in_this_process(sys.argv[2])))
    else:
        sys.exit(main())
