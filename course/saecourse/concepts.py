"""Concepts as labelled texts, and the residual stream of a model reading them (Parts 5 and 7).

A concept is a small TOML file: a name, a description, how its activations are read (``reading``),
its positive and negative texts as lists of files, and optionally ``markers``: strings whose count
in a generated text shows the concept directly (a behavioural check next to a probe's score). A text file is a TSV with a header and the
columns ``text``, ``work``, ``line`` and ``split``: the text, where it comes from (a work of the
corpus and the line of that work's text where it starts) and which split it belongs to.

The course's two concepts (``assets/concepts``) share one pool of sentences taken from the corpus
by ``extract_sentences``: every sentence of a Shakespeare speech or a Bible verse that ends in a
full stop or a question mark and has 6-25 words, with the final punctuation stripped. Four files
cross the two labels, so that neither concept is confounded with the other:

- ``bible``: Bible sentences against Shakespeare sentences, read at every token (easy: the source
  is a whole-document label).
- ``question``: questions against statements, from both sources, read at the last token, where
  the model is about to choose between "?" and "." (not a document label, and harder).

Splits are by document, never by sentence: ``test`` texts come from the corpus's validation
documents (which the reference SAE never saw), ``validation`` texts from a fifth of the training
documents (chosen by hash, as ``corpus.split_documents`` does) and ``train`` texts from the rest.
``python -m saecourse.concepts`` rewrites the sentence files from the corpus; a test checks that
the shipped files equal a fresh extraction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import bisect
import csv
import hashlib
import itertools
import json
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from tqdm.auto import tqdm

from . import corpus, models
from .utils import cache_dir, save_tensors_atomic

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

CONCEPTS_DIR = Path(__file__).parent / "assets" / "concepts"
SPLITS = ("train", "validation", "test")
READINGS = ("tokens", "last")
SKIP_FIRST = 1  # position 0 of every text is the attention sink (residual norm about 20000 in SmolLM2)
COLUMNS = ("text", "work", "line", "split")


@dataclass(frozen=True)
class LabelledText:
    text: str
    work: str  # the corpus document it comes from (its title)
    line: int  # the line of that document's text where it starts (1-based)
    split: str  # one of SPLITS


@dataclass
class Concept:
    """A concept's texts. ``labels`` is 1 for each positive text, 0 for each negative one."""

    name: str
    description: str
    reading: str  # "tokens": every token from position SKIP_FIRST; "last": each text's last token
    positive: list[LabelledText]
    negative: list[LabelledText]
    markers: list[str] = field(default_factory=list)
    source: Path | None = None

    @property
    def texts(self) -> list[LabelledText]:
        return self.positive + self.negative

    @property
    def labels(self) -> torch.Tensor:
        return torch.cat([torch.ones(len(self.positive)), torch.zeros(len(self.negative))])

    def every(self, m: int) -> Concept:
        """Every ``m``-th text of each side (a smaller concept with the same mix of files and splits)."""
        return Concept(self.name, self.description, self.reading, self.positive[::m], self.negative[::m], self.markers,
                       self.source)

    def marker_count(self, text: str) -> int:
        """How many times the concept's markers occur in ``text`` (as whole words where they are words)."""
        return sum(len(re.findall(rf"(?<!\w){re.escape(m)}(?!\w)" if m[:1].isalnum() else re.escape(m), text))
                   for m in self.markers)


# --------------------------------------------------------------------------------------------------
# Reading concept files


class ConceptError(ValueError):
    """A concept file that is missing a field or has one of the wrong kind; the message names it."""


def load(path: str | Path) -> Concept:
    """The concept described by the TOML file ``path`` (paths inside it are relative to it)."""
    path = Path(path)
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConceptError(f"{path}: not valid TOML ({error})") from None
    name = _field(config, "name", str, path)
    reading = config.get("reading", "tokens")
    if reading not in READINGS:
        raise ConceptError(f"{path}: 'reading' must be one of {READINGS}, got {reading!r}")
    sides = {}
    for side in ("positive", "negative"):
        files = _field(config, side, list, path)
        if not files or not all(isinstance(f, str) for f in files):
            raise ConceptError(f"{path}: '{side}' must be a non-empty list of text files (TSV), got {files!r}")
        sides[side] = [text for f in files for text in read_texts(path.parent / f)]
    markers = config.get("markers", [])
    if not isinstance(markers, list) or not all(isinstance(m, str) and m for m in markers):
        raise ConceptError(f"{path}: 'markers' must be a list of non-empty strings, got {markers!r}")
    return Concept(name, config.get("description", ""), reading, sides["positive"], sides["negative"], markers, path)


def _field(config: dict, key: str, kind: type, path: Path):
    if key not in config:
        raise ConceptError(f"{path}: the field '{key}' is missing")
    if not isinstance(config[key], kind):
        raise ConceptError(f"{path}: '{key}' must be a {kind.__name__}, got {type(config[key]).__name__}")
    return config[key]


def read_texts(path: Path) -> list[LabelledText]:
    """The texts of a TSV file with the columns ``COLUMNS``."""
    if not path.is_file():
        raise ConceptError(f"no text file {path}")
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    if rows and set(COLUMNS) - set(rows[0]):
        raise ConceptError(f"{path}: the columns must be {COLUMNS}, got {tuple(rows[0])}")
    texts = [LabelledText(row["text"], row["work"], int(row["line"]), row["split"]) for row in rows]
    if bad := sorted({t.split for t in texts} - set(SPLITS)):
        raise ConceptError(f"{path}: splits must be in {SPLITS}, got {bad}")
    return texts


def write_texts(path: Path, texts: list[LabelledText]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_NONE, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows((t.text, t.work, t.line, t.split) for t in texts)


def course_concepts() -> dict[str, Concept]:
    """The course's concepts, by name: ``bible`` and ``question``."""
    return {c.name: c for c in map(load, sorted(CONCEPTS_DIR.glob("*.toml")))}


# --------------------------------------------------------------------------------------------------
# Extracting the sentence pool from the corpus

PER_SPLIT = {"train": 150, "validation": 50, "test": 100}  # sentences per file and split
SPEAKER = re.compile(r"^[A-Z][A-Z'\- ]*[A-Z]\.(\s|$)")  # "HAMLET." or "FIRST GENTLEMAN. Some twenty years."


def _speeches(text: str) -> Iterator[list[tuple[int, str]]]:
    """The (line number, line) pairs of each run of spoken lines in a Shakespeare work: speaker names,
    stage directions ([...]) and headings end a run."""
    run: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        speaker = SPEAKER.match(line)
        if speaker or not line.strip() or "[" in line or "]" in line or re.match(r"(ACT|SCENE)\b", line, re.I):
            if run:
                yield run
            rest = line[speaker.end():].strip() if speaker and "[" not in line else ""
            run = [(number, rest)] if rest else []
            continue
        run.append((number, line.strip()))
    if run:
        yield run


def _verses(text: str) -> Iterator[list[tuple[int, str]]]:
    """Each verse of a Bible book (lines "chapter:verse text") as a one-line run."""
    for number, line in enumerate(text.splitlines(), 1):
        if verse := re.match(r"\d+:\d+ (.+)", line):
            yield [(number, verse.group(1))]


def _sentences(run: list[tuple[int, str]], source: str) -> Iterator[tuple[int, str]]:
    """(line where it starts, sentence) for the sentences of a run of lines that end in "." or "?",
    have 6-25 words and nothing that is not running text (brackets, quotes, dashes, or in
    Shakespeare a word in capitals: a speaker's name)."""
    passage = " ".join(line for _, line in run)
    starts = list(itertools.accumulate((len(line) + 1 for _, line in run[:-1]), initial=0))  # of each line in passage
    cursor = 0
    for sentence in re.split(r"(?<=[.?!])\s+", passage):
        cursor = passage.index(sentence, cursor)
        line = run[bisect.bisect_right(starts, cursor) - 1][0]
        cursor += len(sentence)
        if sentence[-1:] not in (".", "?") or not sentence[0].isupper() or not 6 <= len(sentence.split()) <= 25:
            continue
        if re.search(r"[\[\]\"()]|--", sentence) or (source == "shakespeare" and re.search(r"\b[A-Z]{2,}\b", sentence)):
            continue
        yield line, sentence


def _split_of_documents() -> dict[int, str]:
    """doc_id -> "test" (the corpus's validation documents), "validation" (a fifth of its training
    documents, by hash) or "train"."""
    train, test = corpus.split_documents(list(corpus._documents()))
    fit, validation = corpus.split_documents(train, val_fraction=0.2)
    return {**{d.doc_id: "train" for d in fit}, **{d.doc_id: "validation" for d in validation},
            **{d.doc_id: "test" for d in test}}


def extract_sentences() -> dict[str, list[LabelledText]]:
    """The four sentence files, by file stem (``bible_questions``, ...): for each source and ending,
    ``PER_SPLIT`` sentences per split, chosen by a stable hash among all candidates (no sentence
    twice), the final punctuation stripped."""
    splits = _split_of_documents()
    candidates: dict[tuple[str, str, str], list[LabelledText]] = {}
    seen = set()
    for doc in corpus._documents():
        if doc.source not in ("bible", "shakespeare"):
            continue
        runs = _speeches(doc.text) if doc.source == "shakespeare" else _verses(doc.text)
        for run in runs:
            for line, sentence in _sentences(run, doc.source):
                if sentence[:-1] in seen:
                    continue
                seen.add(sentence[:-1])
                kind = "questions" if sentence.endswith("?") else "statements"
                text = LabelledText(sentence[:-1], doc.title, line, splits[doc.doc_id])
                candidates.setdefault((doc.source, kind, text.split), []).append(text)
    files = {}
    for source in ("bible", "shakespeare"):
        for kind in ("questions", "statements"):
            chosen = []
            for split, n in PER_SPLIT.items():
                pool = sorted(candidates[source, kind, split],
                              key=lambda t: hashlib.sha256(f"{t.work}/{t.line}/{t.text}".encode()).hexdigest())
                chosen += pool[:n]
            files[f"{source}_{kind}"] = chosen
    return files


def write_sentence_files(folder: Path = CONCEPTS_DIR) -> None:
    for stem, texts in extract_sentences().items():
        write_texts(folder / f"{stem}.tsv", texts)


# --------------------------------------------------------------------------------------------------
# Activations of texts


@dataclass
class TextActivations:
    """The residual stream on every token of some texts from position ``SKIP_FIRST`` on.

    acts:      [n_rows, d_model]
    text_ids:  [n_rows] index of the row's text in the list the activations were collected for
    positions: [n_rows] position of the token in its text
    tokens:    [n_rows] token id
    last:      [n_rows] bool, True at each text's last token
    """

    acts: torch.Tensor
    text_ids: torch.Tensor
    positions: torch.Tensor
    tokens: torch.Tensor
    last: torch.Tensor
    metadata: dict = field(default_factory=dict)

    FIELDS = ("acts", "text_ids", "positions", "tokens", "last")

    def save(self, path: Path) -> None:
        save_tensors_atomic({name: getattr(self, name).contiguous() for name in self.FIELDS}, path,
                            {key: json.dumps(value) for key, value in self.metadata.items()})

    @classmethod
    def load(cls, path: Path) -> TextActivations:
        with safe_open(path, framework="pt") as f:
            tensors = {name: f.get_tensor(name) for name in cls.FIELDS}
            metadata = {key: json.loads(value) for key, value in (f.metadata() or {}).items()}
        return cls(**tensors, metadata=metadata)


def collect_text_activations(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: list[str],
                             layer: int, batch_size: int = 32, progress: bool = True) -> TextActivations:
    """The residual stream after block ``layer`` on each text, run alone (no BOS, as in ``corpus``).

    Texts are run in batches of similar length, padded on the right: a causal model's real
    positions never attend to the padding after them, so no attention mask is needed.
    """
    ids = [corpus.tokenize_document(tokenizer, text) for text in texts]
    if short := [i for i, t in enumerate(ids) if len(t) <= SKIP_FIRST]:
        raise ValueError(f"texts {short[:5]} have at most {SKIP_FIRST} token(s): nothing to read after the first")
    order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
    rows: list[tuple[torch.Tensor, ...]] = []
    for first in tqdm(range(0, len(order), batch_size), desc=f"Layer {layer} activations of {len(texts)} texts",
                      disable=not progress):
        batch = order[first: first + batch_size]
        width = len(ids[batch[-1]])
        padded = torch.zeros(len(batch), width, dtype=torch.long)
        for row, i in enumerate(batch):
            padded[row, : len(ids[i])] = torch.tensor(ids[i])
        resid = models.residual_stream(model, padded, layer)  # [batch, width, d_model]
        for row, i in enumerate(batch):
            n = len(ids[i])
            positions = torch.arange(SKIP_FIRST, n)
            rows.append((resid[row, SKIP_FIRST:n], torch.full((n - SKIP_FIRST,), i), positions,
                         padded[row, SKIP_FIRST:n], positions == n - 1))
    by_text = sorted(rows, key=lambda r: int(r[1][0]))
    acts, text_ids, positions, tokens, last = (torch.cat(column) for column in zip(*by_text))
    metadata = {"model": model.config.name_or_path, "tokenizer": corpus.tokenizer_hash(tokenizer), "layer": layer,
                "n_texts": len(texts)}
    return TextActivations(acts, text_ids, positions, tokens, last, metadata)


def cached_text_activations(texts: list[str], model_name: str | None = None, layer: int | None = None) -> TextActivations:
    """``collect_text_activations`` for the course's model, once; read from the cache afterwards (keyed by
    the model, the layer and the texts)."""
    name = models.resolve_model_name(model_name)
    layer = models.default_layer(name) if layer is None else layer
    digest = hashlib.sha256("\0".join(texts).encode()).hexdigest()[:16]
    path = cache_dir() / "activations" / f"texts_{re.sub(r'[^A-Za-z0-9.-]+', '-', name)}_L{layer}_{digest}.safetensors"
    if path.exists():
        return TextActivations.load(path)
    model, tokenizer = models.load_model(name)
    store = collect_text_activations(model, tokenizer, texts, layer)
    store.metadata.update(model=name)
    store.save(path)
    return store


# --------------------------------------------------------------------------------------------------
# A concept's probing data


@dataclass
class ConceptData:
    """The rows a concept is probed on: x [n, d_model], labels [n] (1 positive), split [n] (index
    into SPLITS), text_ids [n] (into ``concept.texts``), positions [n] (of the token in its text)."""

    x: torch.Tensor
    labels: torch.Tensor
    split: torch.Tensor
    text_ids: torch.Tensor
    positions: torch.Tensor

    def part(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, labels) of one split."""
        mask = self.split == SPLITS.index(name)
        return self.x[mask], self.labels[mask]


def concept_data(concept: Concept, store: TextActivations, texts: list[str]) -> ConceptData:
    """The concept's rows of ``store`` (collected for ``texts``, which must hold the concept's texts):
    every token, or each text's last, as ``concept.reading`` says."""
    index = {text: i for i, text in enumerate(texts)}
    mine = torch.full((len(texts),), -1)
    for j, text in enumerate(concept.texts):
        mine[index[text.text]] = j
    own = mine[store.text_ids]  # [n_rows] index into concept.texts, -1 for other texts
    keep = (own >= 0) & (store.last if concept.reading == "last" else torch.ones_like(store.last))
    text_ids = own[keep]
    split = torch.tensor([SPLITS.index(t.split) for t in concept.texts])[text_ids]
    return ConceptData(store.acts[keep], concept.labels[text_ids], split, text_ids, store.positions[keep])


if __name__ == "__main__":
    write_sentence_files()
    print(f"wrote the sentence files in {CONCEPTS_DIR}")
