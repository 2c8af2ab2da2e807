"""Part 7's project: one config file for a concept in, a validated feature catalog out.

A project is a TOML file (``load_project``): the concept (a name, a description, how its activations
are read, positive and negative texts as TSV files or inline lists, optional marker strings), the
prompts to steer from, and optional settings (model, layer, SAE, how many features the catalog
holds, the significance level). Every field is checked before anything runs or is written; a
missing or malformed one raises ``ProjectError`` naming it.

The pipeline itself (``run``) goes through the steps of Parts 2-6 in order, each cached under a key
of everything it reads, so that a re-run redoes only what changed. Discovery tests texts, not tokens
(``per_text``): the rank test and its Bonferroni correction need independent rows, and the tokens of
one text are not. The two measures a student
writes in Part 7 (the discovery statistic and the completeness measure) are *arguments* of the
pipeline, never defined here: the notebook passes its own, and the command line takes them from a
Part 7 notebook file (``python -m saecourse.project CONFIG --exercises part7_project_template.py``).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import json
import marshal
import re
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from . import activations, cells, concepts, corpus, interpret, interventions, models, probes, saes, training
from .concepts import SPLITS, LabelledText
from .files import atomic_path
from .utils import cache_dir, output_dir, sized

NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
SAE_CHOICES = ("reference", "course")  # or the path of a folder in SAELens's format
INLINE_SPLIT = {"train": 0.6, "validation": 0.2, "test": 0.2}  # inline texts are split by hash in these shares
DEFAULTS = {"model": None, "layer": None, "sae": "reference", "top": 16, "alpha": 0.01}
TOP_RANGE = (1, 64)
UNFILLED = "FILL IN"  # the blank template's placeholder
PROJECTS_DIR = Path(__file__).parent / "assets" / "projects"
DEFAULT_EXERCISES = [Path("part7_project_template.py"), Path("solutions/part7_project_template.py"),
                     Path("student/part7_project_template.py")]  # the release's notebook, then the repository's


class ProjectError(concepts.ConceptError):
    """A project file with a missing or malformed field; the message names the file and the field."""


@dataclass(frozen=True)
class Settings:
    model: str | None = None  # None: the course's default model
    layer: int | None = None  # None: the model's middle block
    sae: str = "reference"  # "reference", "course" (your Part 2 SAE) or a folder in SAELens's format
    top: int = 16  # features in the catalog
    alpha: float = 0.01  # significance level of discovery, before the correction for the number of latents


@dataclass(frozen=True)
class Project:
    concept: concepts.Concept
    prompts: tuple[str, ...]
    settings: Settings = field(default_factory=Settings)
    source: Path | None = None

    @property
    def name(self) -> str:
        return self.concept.name


def inline_split(text: str) -> str:
    """The split of an inline text, from a hash of its text (stable across runs and machines)."""
    u = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 16 ** 8
    edges = [0.0]
    for share in INLINE_SPLIT.values():
        edges.append(edges[-1] + share)
    return next(split for split, upper in zip(SPLITS, edges[1:]) if u < upper)


def load_project(path: str | Path) -> Project:
    """The project described by the TOML file ``path`` (text files are relative to it)."""
    path = Path(path)
    if not path.is_file():
        raise ProjectError(f"no project file {path}")
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ProjectError(f"{path}: not valid TOML ({error})") from None
    unfilled = [key for key, value in config.items() if value == UNFILLED or (isinstance(value, list) and UNFILLED in value)]
    if unfilled:
        raise ProjectError(f"{path}: fill in {unfilled} (the blank template's {UNFILLED!r} is still there)")
    known = {"name", "description", "reading", "positive", "negative", "positive_texts", "negative_texts", "prompts",
             "markers", "settings"}
    if unknown := sorted(set(config) - known):
        raise ProjectError(f"{path}: unknown field(s) {unknown}; the fields are {sorted(known)}")
    name = _string(config, "name", path)
    if not NAME.fullmatch(name):
        raise ProjectError(f"{path}: 'name' names the output folder: lower-case letters, digits, '-' and '_', got {name!r}")
    reading = config.get("reading", "tokens")
    if reading not in concepts.READINGS:
        raise ProjectError(f"{path}: 'reading' must be one of {concepts.READINGS}, got {reading!r}")
    sides = {side: _texts(config, side, path) for side in ("positive", "negative")}
    prompts = _strings(config, "prompts", path, required=True)
    markers = _strings(config, "markers", path, required=False)
    concept = concepts.Concept(name, config.get("description", ""), reading, sides["positive"], sides["negative"],
                               list(markers), path)
    return Project(concept, tuple(prompts), _settings(config.get("settings", {}), path), path)


def _string(config: dict, key: str, path: Path) -> str:
    if key not in config:
        raise ProjectError(f"{path}: the field '{key}' is missing")
    if not isinstance(config[key], str) or not config[key].strip():
        raise ProjectError(f"{path}: '{key}' must be a non-empty string, got {config[key]!r}")
    return config[key]


def _strings(config: dict, key: str, path: Path, required: bool) -> list[str]:
    if key not in config:
        if required:
            raise ProjectError(f"{path}: the field '{key}' is missing")
        return []
    value = config[key]
    if not isinstance(value, list) or not all(isinstance(s, str) and s.strip() for s in value) or (required and not value):
        raise ProjectError(f"{path}: '{key}' must be a {'non-empty ' if required else ''}list of non-empty strings, "
                           f"got {value!r}")
    return value


def _texts(config: dict, side: str, path: Path) -> list[LabelledText]:
    """A side's texts: the rows of its TSV files (``side``) and its inline texts (``side_texts``)."""
    files = _strings(config, side, path, required=False)
    inline = _strings(config, f"{side}_texts", path, required=False)
    if not files and not inline:
        raise ProjectError(f"{path}: '{side}' (TSV files) or '{side}_texts' (a list of texts) is missing")
    texts = []
    for name in files:
        try:
            texts += concepts.read_texts(path.parent / name)
        except concepts.ConceptError as error:
            raise ProjectError(f"{path}: '{side}': {error}") from None
    texts += [LabelledText(text, "inline", i + 1, inline_split(text)) for i, text in enumerate(inline)]
    missing = [s for s in SPLITS if not any(t.split == s for t in texts)]
    if missing:
        raise ProjectError(f"{path}: the {side} texts have none in the split(s) {missing}; every side needs train, "
                           "validation and test texts (inline texts are split by hash: give at least ten)")
    return texts


def _settings(settings: object, path: Path) -> Settings:
    if not isinstance(settings, dict):
        raise ProjectError(f"{path}: 'settings' must be a table ([settings]), got {settings!r}")
    if unknown := sorted(set(settings) - set(DEFAULTS)):
        raise ProjectError(f"{path}: unknown setting(s) {unknown}; the settings are {sorted(DEFAULTS)}")
    values = {**DEFAULTS, **settings}
    kinds = {"model": (str, type(None)), "layer": (int, type(None)), "sae": (str,), "top": (int,), "alpha": (float,)}
    for key, kinds_of in kinds.items():
        if not isinstance(values[key], kinds_of) or isinstance(values[key], bool):
            raise ProjectError(f"{path}: 'settings.{key}' must be {' or '.join(k.__name__ for k in kinds_of)}, got "
                               f"{values[key]!r}")
    if values["sae"] not in SAE_CHOICES and not (path.parent / values["sae"]).is_dir():
        raise ProjectError(f"{path}: 'settings.sae' must be one of {SAE_CHOICES} or a folder in SAELens's format, got "
                           f"{values['sae']!r}")
    if not TOP_RANGE[0] <= values["top"] <= TOP_RANGE[1]:
        raise ProjectError(f"{path}: 'settings.top' must be between {TOP_RANGE[0]} and {TOP_RANGE[1]}, got {values['top']}")
    if not 0 < values["alpha"] < 1:
        raise ProjectError(f"{path}: 'settings.alpha' must be between 0 and 1, got {values['alpha']}")
    if values["layer"] is not None and values["layer"] < 0:
        raise ProjectError(f"{path}: 'settings.layer' must be a block index (>= 0), got {values['layer']}")
    return Settings(**values)


# --------------------------------------------------------------------------------------------------
# The two measures a student writes, from a Part 7 notebook


@dataclass(frozen=True)
class Exercises:
    """discover(codes [n, d_sae], labels [n]) -> {"auroc", "z", "p", "rate_pos", "rate_neg"}: [d_sae] each.
    completeness(codes [n, k], x [n, d_model], labels [n], split [n], ks, l2s) -> {"probe_auroc", "auroc" [len(ks)],
    "recovered" [len(ks)], "unexplained" [n_unexplained] row indices}."""

    discover: Callable[..., dict[str, Tensor]]
    completeness: Callable[..., dict]


def exercises_from(notebook: str | Path) -> Exercises:
    """``discover`` and ``completeness`` as a Part 7 notebook (``.py`` or ``.ipynb``) defines them: its
    definition cells run, by the grader's rule (``saecourse.cells``: no demo, no check)."""
    notebook = Path(notebook)
    namespace: dict = {"__name__": "part7_exercises"}
    for number, source in enumerate(cells.definition_sources(cells.read_cells(notebook)), 1):
        exec(compile(source, f"{notebook} (definition cell {number})", "exec"), namespace)
    missing = [name for name in ("discover", "completeness") if not callable(namespace.get(name))]
    if missing:
        raise ProjectError(f"{notebook} defines no {missing}: pass a Part 7 notebook")
    return Exercises(namespace["discover"], namespace["completeness"])


# --------------------------------------------------------------------------------------------------
# Caching each step


class Steps:
    """Runs named steps in order with a progress bar; a step's result is read from ``folder`` when a step
    with the same key ran before (the key hashes what the step reads), and recomputed otherwise."""

    def __init__(self, folder: Path | None, names: list[str], progress: bool = True):
        self.folder, self.bar, self.redone = folder, tqdm(total=len(names), desc="project", disable=not progress), []

    def run(self, name: str, key_parts: object, compute: Callable[[], dict]) -> dict:
        key = hashlib.sha256(json.dumps([name, key_parts], sort_keys=True, default=str).encode()).hexdigest()[:16]
        self.bar.set_postfix(step=name)
        path = self.folder / f"{name}-{key}.pt" if self.folder else None
        if path is not None and path.is_file():
            result = torch.load(path, weights_only=True)
        else:
            result = compute()
            self.redone.append(name)
            if path is not None:
                with atomic_path(path) as tmp:
                    torch.save(result, tmp)
        self.bar.update()
        return result

    def close(self) -> None:
        self.bar.close()


def code_of(*functions: Callable) -> str:
    """A hash of the functions' compiled code (a notebook's functions have no source file to read): a step
    keyed on it reruns when the student's function changes."""
    return hashlib.sha256(b"".join(marshal.dumps(f.__code__) for f in functions)).hexdigest()[:16]


# --------------------------------------------------------------------------------------------------
# The pipeline

STEPS = ["activations", "discovery", "interpretation", "comparison", "validation", "completeness"]
L2S = [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0]  # the probes' regularisation grid (Part 5's)
KS = [1, 2, 4, 8, 16]  # sparse probes on the top k discovered latents
TRAIN, TEST = SPLITS.index("train"), SPLITS.index("test")
UNIT = {"last": "its code at the text's last token", "tokens": "the max of its codes over the text's tokens"}
STEER_SHARE = 0.35  # steering norm as a share of the concept rows' median residual norm (64 of about 180 in SmolLM2)
N_NEW, N_EXAMPLES, ABLATION_TOKENS = 16, 3, 10


@dataclass
class Catalog:
    """What ``run`` found: one row per catalogued feature (``COLUMNS``), the concept-level numbers, and
    the texts no top feature explains."""

    rows: list[dict]
    summary: dict
    unexplained: list[str]
    examples: dict[int, list[str]]
    folder: Path | None = None
    redone: list[str] = field(default_factory=list)  # the steps this run computed (the rest came from the cache)


COLUMNS = ("latent", "explanation", "score", "frequency", "rate_pos", "rate_neg", "auroc", "p_value", "significant", "mass_share",
           "steer_concept", "steer_markers", "steer_kl", "ablation_firing", "cos_probe", "cos_steering")


@dataclass
class Setup:
    """The model, its tokenizer, the layer, the SAE and general held-out text (for explanations), as the
    project's settings choose them; tests pass small ones."""

    model: nn.Module
    tokenizer: object
    layer: int
    sae: nn.Module
    sae_name: str
    general: activations.ActivationStore
    model_name: str | None = None  # the name the course's caches know it by; None: not cached


def setup(project: Project) -> Setup:
    """The course's model (or ``settings.model``), the layer and the SAE the settings name."""
    settings = project.settings
    name = models.resolve_model_name(settings.model)
    model, tokenizer = models.load_model(name)
    layer = models.default_layer(name) if settings.layer is None else settings.layer
    if settings.sae == "reference":
        sae, which = saes.reference_sae(settings.model, settings.layer), "reference"
    elif settings.sae == "course":
        sae, which = saes.course_or_reference(name, layer)
    else:
        folder = (project.source.parent / settings.sae).resolve()
        sae, which = training.load_sae(folder), str(folder)
    general = activations.cached_activations(name, layer, "val", n_tokens=sized(20_000, 2_000))
    return Setup(model, tokenizer, layer, sae, which, general, name)


def tiny_setup(seed: int = 0, d_sae: int = 128, n_general: int = 2_000) -> Setup:
    """A small set-up for tests, never cached: the graders' tiny GPT-2 (3 blocks, d_model 64, layer 1),
    ``n_general`` tokens of held-out text, and a random SAE scaled to that text (random decoder directions,
    encoder columns along them, pre-activations of order 1, so that about a tenth of its latents fire per token)."""
    model, tokenizer = models.tiny_gpt2(seed=seed, n_layer=3, n_embd=64)
    contexts = corpus.make_contexts(corpus.get_split("val")[:8], tokenizer, ctx_len=64)
    general = activations.collect_activations(model, tokenizer, contexts, 1, max_tokens=n_general, progress=False)
    centre = general.acts.mean(0)
    scale = 3 / (general.acts - centre).norm(dim=-1).median()
    g = torch.Generator().manual_seed(seed)
    W_dec = torch.nn.functional.normalize(torch.randn(d_sae, 64, generator=g), dim=-1)
    sae = training.sae_from_tensors({"W_enc": W_dec.T * scale, "b_enc": torch.full((d_sae,), -0.5), "W_dec": W_dec / scale, "b_dec": centre})
    return Setup(model, tokenizer, 1, sae, "a random SAE", general)


def run(project: Project, exercises: Exercises, out: Path | None = None, given: Setup | None = None,
        progress: bool = True) -> Catalog:
    """Every step for ``project``; writes the catalog to ``out`` (default ``output_dir()/projects/<name>``)."""
    ready = given or setup(project)
    cache = cache_dir() / "projects" / project.name if ready.model_name else None
    steps = Steps(cache, STEPS, progress)
    base = {"sae": _fingerprint(ready.sae), "layer": ready.layer, "model": ready.model_name,
            "reading": project.concept.reading}
    texts = [t.text for t in project.concept.texts]
    data = steps.run("activations", [base, texts], lambda: concept_rows(project, ready))
    codes = ready.sae.encode(data["x"])  # [n, d_sae]
    found = steps.run("discovery", [base, texts, code_of(exercises.discover), project.settings.alpha],
                      lambda: _discovery(exercises, codes, data, project.settings))
    top = found["top"][: project.settings.top]
    if len(top) == 0:
        steps.close()
        raise ProjectError(f"{project.source}: no latent fires more on the positive texts than on the negative ones "
                           "(AUROC > 1/2 on the train rows): check the texts and the reading")
    meanings = steps.run("interpretation", [base, top.tolist()], lambda: _interpretation(ready, top))
    directions = steps.run("comparison", [base, texts], lambda: _comparison(data, ready.sae, top))
    effects = steps.run("validation", [base, texts, top.tolist(), project.prompts, project.concept.markers],
                        lambda: _validation(project, ready, data, directions, top))
    complete = steps.run("completeness", [base, texts, top.tolist(), code_of(exercises.completeness)],
                         lambda: exercises.completeness(codes[:, top], data["x"], data["labels"], data["split"],
                                                        [k for k in KS if k <= len(top)], L2S))
    steps.close()
    catalog = _catalog(project, data, codes[:, top], found, top, meanings, directions, effects, complete, ready)
    catalog.redone = steps.redone
    write(catalog, out or output_dir() / "projects" / project.name)
    return catalog


def _fingerprint(sae: nn.Module) -> str:
    digest = hashlib.sha256()
    for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
        digest.update(getattr(sae, name).detach().float().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def concept_rows(project: Project, ready: Setup) -> dict[str, Tensor]:
    """The concept's rows as its reading says (every token, or each text's last): x [n, d_model], labels, split,
    text_ids, positions [n]."""
    texts = [t.text for t in project.concept.texts]
    if ready.model_name:
        store = concepts.cached_text_activations(texts, ready.model_name, ready.layer)
    else:
        store = concepts.collect_text_activations(ready.model, ready.tokenizer, texts, ready.layer, progress=False)
    return dataclasses.asdict(concepts.concept_data(project.concept, store, texts))


def per_text(codes: Tensor, text_ids: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """One row per text: each latent's largest code over the text's rows (its only row when the reading is
    "last"). Tokens of one text are not independent samples; texts are the unit a rank test may count.

    codes: [n_rows, d_sae], text_ids, labels: [n_rows] -> (codes [n_texts, d_sae], labels [n_texts]), texts in
    ascending id order."""
    ids, row_text = torch.unique(text_ids, return_inverse=True)  # ids: [n_texts]; row_text: [n_rows] into ids
    pooled = torch.zeros(len(ids), codes.shape[1], dtype=codes.dtype).scatter_reduce_(
        0, row_text[:, None].expand_as(codes), codes, "amax", include_self=False)
    text_labels = torch.zeros(len(ids), dtype=labels.dtype).index_copy_(0, row_text, labels)  # a text's rows share its label
    return pooled, text_labels


def _discovery(exercises: Exercises, codes: Tensor, data: dict[str, Tensor], settings: Settings) -> dict:
    """The student's statistic on the train texts, one value per text and latent (``per_text``). Latents that
    fire more on positives (AUROC > 1/2) are ranked by z, most significant first; ``significant`` marks
    p < alpha / d_sae (Bonferroni over every latent tested). The catalog takes the first ``settings.top``,
    significant or not, and says which are. codes: [n_rows, d_sae], every row's."""
    train = data["split"] == TRAIN
    text_codes, labels = per_text(codes[train], data["text_ids"][train], data["labels"][train])
    stats = {key: torch.as_tensor(value).float() for key, value in exercises.discover(text_codes, labels).items()}
    stats["significant"] = stats["p"] < settings.alpha / codes.shape[1]
    candidates = torch.nonzero(stats["auroc"] > 0.5).squeeze(1)
    order = torch.sort(stats["z"][candidates], descending=True, stable=True).indices
    return {"stats": stats, "top": candidates[order], "n_significant": int((stats["significant"] & (stats["auroc"] > 0.5)).sum()),
            "texts": {"positive": int((labels == 1).sum()), "negative": int((labels == 0).sum())}}


@torch.no_grad()
def _interpretation(ready: Setup, top: Tensor) -> dict:
    """Each top latent on general held-out text: its Part 3 explanation and held-out score, its firing
    frequency and the activation mass its explanation covers (Part 4)."""
    values = ready.sae.encode(ready.general.acts)[:, top]  # [n_general, n_top]
    protocol = interpret.Protocol.of(ready.general, n_top=sized(20, 5))
    explanations = [protocol.explain(values[:, j]) for j in range(len(top))]
    return {"explanations": explanations,
            "score": torch.tensor([protocol.score(values[:, j], e)["pearson"] for j, e in enumerate(explanations)]),
            "frequency": (values > 0).float().mean(0),
            "mass_share": torch.tensor([interventions.monosemanticity(ready.general.tokens, values[:, j], e)["mass_share"]
                                        for j, e in enumerate(explanations)])}


def _comparison(data: dict[str, Tensor], sae: nn.Module, top: Tensor) -> dict:
    """The concept's probe and steering vector (Part 5), their cosines with the top latents' decoder
    directions, and how much of each the top k decoder directions span."""
    train = data["split"] == TRAIN
    steering = probes.mean_difference(data["x"][train], data["labels"][train])
    probe = probes.train_probe(data["x"], data["labels"], data["split"], L2S)
    w_raw, b_raw = probes.raw_probe(probe)
    ks = [k for k in KS if k <= len(top)]
    return {"steering": steering, "probe_w": w_raw, "probe_b": b_raw, "probe_l2": probe["l2"],
            "probe_accuracy": probe["test_accuracy"], "probe_auroc": probe["test_auroc"],
            "cos_probe": probes.decoder_cosines(w_raw, sae.W_dec)[top],
            "cos_steering": probes.decoder_cosines(steering, sae.W_dec)[top],
            "span_probe": probes.span_fractions(w_raw, sae.W_dec, top, ks),
            "span_steering": probes.span_fractions(steering, sae.W_dec, top, ks), "ks": ks}


@torch.no_grad()
def _validation(project: Project, ready: Setup, data: dict[str, Tensor], directions: dict, top: Tensor) -> dict:
    """Causal effects: every top latent's decoder direction, the probe and the steering vector added at one
    norm while the model continues the prompts (Part 5's comparison: the concept's probe score and markers
    in the continuation, KL on unrelated text); and zero-ablating each latent on the positive test texts
    (Part 4: the loss change where it fires, on each text's first tokens)."""
    model, tokenizer, layer, concept = ready.model, ready.tokenizer, ready.layer, project.concept
    ids = [corpus.tokenize_document(tokenizer, p) for p in project.prompts]
    prompts = torch.tensor([p[: min(map(len, ids))] for p in ids])
    pydoc = [doc for doc in corpus.get_split("val") if doc.source == "pydoc"]
    unrelated = corpus.make_contexts(pydoc, tokenizer, ctx_len=32).tokens[:4]
    norm = STEER_SHARE * data["x"].norm(dim=-1).median().item()
    stacked = torch.cat([ready.sae.W_dec[top], directions["probe_w"][None], directions["steering"][None]])
    steer = lambda d, n: probes.compare_steering(model, layer, d, n, prompts, unrelated, directions["probe_w"],  # noqa: E731
                                                 directions["probe_b"].item(), sized(N_NEW, 4))
    clean, steered = steer(stacked[:1], 0.0), steer(stacked, norm)
    markers = lambda result: torch.tensor([sum(concept.marker_count(tokenizer.decode(c)) for c in rows) / len(rows)  # noqa: E731
                                           for rows in result["continuations"]])
    positives = [t.text for t in concept.positive if t.split == "test"]
    tokens = [corpus.tokenize_document(tokenizer, text) for text in positives]
    cut = min(ABLATION_TOKENS, max(map(len, tokens)))  # one batch: the first `cut` tokens of the texts that long
    batch = torch.tensor([t[:cut] for t in tokens if len(t) >= cut][: sized(32, 4)])  # [n_texts, cut]
    ablation = torch.tensor([interventions.ablation_effect(model, ready.sae, int(f), batch, layer, 0.0, skip_first=1)["firing"]
                             for f in top])
    return {"norm": norm, "concept": steered["concept"] - clean["concept"][0], "markers": markers(steered) - markers(clean)[0],
            "kl": steered["kl"], "clean_concept": clean["concept"][0].item(), "ablation_firing": ablation,
            "continuations": [tokenizer.decode(c[0]) for c in steered["continuations"]]}


def _catalog(project: Project, data: dict, codes: Tensor, found: dict, top: Tensor, meanings: dict, directions: dict,
             effects: dict, complete: dict, ready: Setup) -> Catalog:
    """The catalog from every step's result; codes: [n, n_top], the catalogued latents' codes on the concept's rows."""
    stats, texts = found["stats"], project.concept.texts
    rows, examples = [], {}

    def ids(row: int) -> list[int]:
        """The tokens of the text concept row ``row`` comes from."""
        return corpus.tokenize_document(ready.tokenizer, texts[int(data["text_ids"][row])].text)

    for j, latent in enumerate(top.tolist()):
        rows.append({
            "latent": latent, "explanation": corpus.token_set(ready.tokenizer, meanings["explanations"][j]),
            "score": meanings["score"][j].item(), "frequency": meanings["frequency"][j].item(),
            "rate_pos": stats["rate_pos"][latent].item(), "rate_neg": stats["rate_neg"][latent].item(),
            "auroc": stats["auroc"][latent].item(), "p_value": stats["p"][latent].item(),
            "significant": bool(stats["significant"][latent]),
            "mass_share": meanings["mass_share"][j].item(), "steer_concept": effects["concept"][j].item(),
            "steer_markers": effects["markers"][j].item(), "steer_kl": effects["kl"][j].item(),
            "ablation_firing": effects["ablation_firing"][j].item(), "cos_probe": directions["cos_probe"][j].item(),
            "cos_steering": directions["cos_steering"][j].item()})
        best = codes[:, j].topk(min(N_EXAMPLES, len(codes))).indices
        examples[latent] = [corpus.marked(ready.tokenizer, ids(r), int(data["positions"][r]), before=8)
                            for r in best if codes[r, j] > 0]
    unexplained = _unexplained_texts(data, complete["unexplained"], texts)
    n_top = len(top)
    summary = {
        "concept": project.name, "description": project.concept.description, "reading": project.concept.reading,
        "sae": ready.sae_name, "layer": ready.layer, "d_sae": int(stats["auroc"].numel()),
        "rows": {s: int((data["split"] == i).sum()) for i, s in enumerate(SPLITS)},
        "discovery": {"unit": "text", "value": UNIT[project.concept.reading], "train_texts": found["texts"],
                      "test": "one-sided Mann-Whitney U, normal approximation with the tie correction"},
        "significant": found["n_significant"], "catalogued": n_top, "alpha": project.settings.alpha,
        "probe": {"l2": directions["probe_l2"], "test_accuracy": directions["probe_accuracy"],
                  "test_auroc": directions["probe_auroc"]},
        "steering_vector_norm": directions["steering"].norm().item(),
        "cos_probe_steering": torch.nn.functional.cosine_similarity(directions["probe_w"], directions["steering"], 0).item(),
        "span": {"ks": directions["ks"], "probe": directions["span_probe"].tolist(),
                 "steering": directions["span_steering"].tolist()},
        "completeness": {"ks": directions["ks"], "auroc": torch.as_tensor(complete["auroc"]).tolist(),
                         "recovered": torch.as_tensor(complete["recovered"]).tolist(),
                         "probe_auroc": float(complete["probe_auroc"]), "unexplained_texts": len(unexplained)},
        "steering": {"norm": effects["norm"], "clean_concept": effects["clean_concept"],
                     "probe": {"concept": effects["concept"][n_top].item(), "kl": effects["kl"][n_top].item()},
                     "steering_vector": {"concept": effects["concept"][n_top + 1].item(), "kl": effects["kl"][n_top + 1].item()}},
    }
    return Catalog(rows, summary, unexplained, examples)


def _unexplained_texts(data: dict[str, Tensor], rows: Tensor, texts: list[LabelledText]) -> list[str]:
    """The texts of the unexplained positive test ``rows`` on none of whose rows a catalogued latent fires (with
    the reading "tokens" a text has many rows; it is explained when any of them is)."""
    rows = torch.as_tensor(rows).long()
    positive_test = (data["labels"] == 1) & (data["split"] == TEST)
    silent = torch.zeros(len(data["labels"]), dtype=torch.bool)
    silent[rows] = True
    explained = set(data["text_ids"][positive_test & ~silent].tolist())
    return list(dict.fromkeys(texts[int(i)].text for i in data["text_ids"][rows].tolist() if int(i) not in explained))


def write(catalog: Catalog, folder: Path) -> Path:
    """catalog.csv, catalog.md, summary.json and the plots into ``folder``, all or nothing (written next to it,
    then moved in place)."""
    folder = Path(folder)
    with atomic_path(folder, replace_folder=True) as staging:
        staging.mkdir()
        with open(staging / "catalog.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(catalog.rows)
        (staging / "summary.json").write_text(json.dumps(catalog.summary, indent=2))
        (staging / "catalog.md").write_text(markdown(catalog), encoding="utf-8")
        for name, fig in plots(catalog).items():
            fig.savefig(staging / f"{name}.png", dpi=110, bbox_inches="tight")
            plt.close(fig)
    catalog.folder = folder
    return folder


def markdown(catalog: Catalog) -> str:
    s = catalog.summary
    probe, complete = s["probe"], s["completeness"]
    lines = [f"# Feature catalog: {s['concept']}", "", s["description"], "",
             f"SAE: {s['sae']} ({s['d_sae']} latents) at layer {s['layer']}; rows read at `{s['reading']}`: {s['rows']}.",
             f"Discovery counts texts, not tokens: a latent's value on a text is {s['discovery']['value']}; each latent "
             f"is tested ({s['discovery']['test']}) on {s['discovery']['train_texts']['positive']} positive against "
             f"{s['discovery']['train_texts']['negative']} negative train texts and ranked by z.",
             f"Latents firing more on positives, significant after Bonferroni (α {s['alpha']:g} / {s['d_sae']}): "
             f"{s['significant']}; catalogued (most significant first): {s['catalogued']}.",
             f"Probe (λ {probe['l2']:g}): test accuracy {probe['test_accuracy']:.3f}, AUROC {probe['test_auroc']:.3f}. "
             f"Steering vector norm {s['steering_vector_norm']:.1f}; cosine with the probe {s['cos_probe_steering']:.3f}.", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in catalog.rows:
        cells = [f"{v:.3g}" if isinstance(v, float) else str(v).replace("|", "\\|") for v in row.values()]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Completeness", "",
              "| top k latents | " + " | ".join(map(str, complete["ks"])) + " |", "|---|" + "---|" * len(complete["ks"]),
              "| sparse probe AUROC | " + " | ".join(f"{a:.3f}" for a in complete["auroc"]) + " |",
              "| share of the probe's AUROC above 0.5 | " + " | ".join(f"{r:.2f}" for r in complete["recovered"]) + " |",
              "", f"Positive test texts on which no catalogued feature fires ({len(catalog.unexplained)}):", ""]
    lines += [f"- {text}" for text in catalog.unexplained[:20]]
    lines += ["", "## Top examples in the concept's texts", ""]
    for latent, shown in catalog.examples.items():
        lines.append(f"- **{latent}**: " + " · ".join(f"`{e}`" for e in shown))
    return "\n".join(lines) + "\n"


def plots(catalog: Catalog) -> dict[str, plt.Figure]:
    rows, s = catalog.rows, catalog.summary
    figures = {}
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.scatter([r["steer_kl"] for r in rows], [r["steer_concept"] for r in rows], label="catalogued latents")
    for name, marker in (("probe", "s"), ("steering_vector", "*")):
        ax.scatter([s["steering"][name]["kl"]], [s["steering"][name]["concept"]], marker=marker, s=120, label=name.replace("_", " "))
    ax.set_xlabel("KL on unrelated text (nats)"), ax.set_ylabel("probe score shift of the continuation")
    ax.set_title(f"steering at norm {s['steering']['norm']:.0f}"), ax.legend(fontsize=8)
    figures["steering"] = fig
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(s["completeness"]["ks"], s["completeness"]["auroc"], marker="o", label="sparse probe on the top k")
    ax.axhline(s["completeness"]["probe_auroc"], color="k", linestyle="--", label="probe on the full activation")
    ax.set_xscale("log", base=2), ax.set_xlabel("k"), ax.set_ylabel("test AUROC"), ax.legend(fontsize=8)
    figures["completeness"] = fig
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m saecourse.project", description=__doc__.split("\n\n")[0])
    parser.add_argument("config", type=Path, help="a project file (TOML); see saecourse/assets/projects/")
    parser.add_argument("--exercises", type=Path, help="a Part 7 notebook whose discover and completeness are used")
    parser.add_argument("--out", type=Path, help="the output folder (default build/plots/projects/<name>)")
    args = parser.parse_args(argv)
    try:
        project = load_project(args.config)
        notebook = args.exercises or next((p for p in DEFAULT_EXERCISES if p.is_file()), None)
        if notebook is None:
            raise ProjectError(f"no Part 7 notebook at {[str(p) for p in DEFAULT_EXERCISES]}: pass --exercises FILE")
        catalog = run(project, exercises_from(notebook), args.out)
    except ProjectError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {catalog.folder}: {len(catalog.rows)} features")
    return 0


if __name__ == "__main__":
    sys.exit(main())
