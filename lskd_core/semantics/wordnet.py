"""A minimal reader of the WordNet 3.0 noun database (Debian's ``wordnet-base``).

Only what the semantic class sets need: synsets by offset, their lemmas, and
the hypernym graph (``@`` and instance ``@i`` pointers). NLTK is not used
because its reader wants a ``lexnames`` file that the Debian package lacks.

An ImageNet wnid is ``"n" + offset``: ``n02099601`` is noun synset 02099601
(golden retriever).

File format (wndb(5)): each line of ``data.noun`` is
``offset lex_filenum ss_type w_cnt (word lex_id){w_cnt} p_cnt
(pointer_symbol offset pos source/target){p_cnt} ... | gloss``, with
``w_cnt`` in hexadecimal; lines that start with two spaces are the licence.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from ..data.errors import DataError
from ..paths import LEXICONS

DEFAULT_ROOT = Path("/usr/share/wordnet")
ROOT_OFFSET = "00001740"  # entity.n.01, the one root of the noun hierarchy
_HYPERNYM = ("@", "@i")


@dataclass(frozen=True)
class Synset:
    offset: str
    lemmas: tuple[str, ...]
    hypernyms: tuple[str, ...]
    gloss: str

    @property
    def wnid(self) -> str:
        return "n" + self.offset

    @property
    def name(self) -> str:
        return self.lemmas[0]


def parse_line(line: str) -> Synset:
    body, _, gloss = line.partition(" | ")
    f = body.split()
    offset, w_cnt = f[0], int(f[3], 16)
    lemmas = tuple(f[4 + 2 * i] for i in range(w_cnt))
    i = 4 + 2 * w_cnt
    p_cnt = int(f[i])
    hyper = []
    for j in range(p_cnt):
        sym, target, pos = f[i + 1 + 4 * j: i + 4 + 4 * j]
        if sym in _HYPERNYM and pos == "n":
            hyper.append(target)
    return Synset(offset, lemmas, tuple(hyper), gloss.strip())


class WordNet:
    """The noun hierarchy, loaded once (about 82,000 synsets, a second or two)."""

    def __init__(self, root: str | Path = DEFAULT_ROOT) -> None:
        path = Path(root) / "data.noun"
        if not path.is_file():
            raise DataError(f"WordNet: {path} does not exist; install Debian's wordnet-base "
                            f"(apt-get install wordnet-base) or pass the folder that holds data.noun")
        self.synsets: dict[str, Synset] = {}
        with open(path, encoding="latin-1") as fh:
            for line in fh:
                if line.startswith("  "):
                    continue
                s = parse_line(line)
                self.synsets[s.offset] = s
        self._index = self._read_index(Path(root) / "index.noun")
        self._ancestors: dict[str, Mapping[str, int]] = {}

    @staticmethod
    def _read_index(path: Path) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        if not path.is_file():
            return out
        with open(path, encoding="latin-1") as fh:
            for line in fh:
                if line.startswith("  "):
                    continue
                f = line.split()
                n_senses = int(f[2])
                out[f[0]] = tuple(f[-n_senses:])  # synset offsets, most frequent sense first
        return out

    def __getitem__(self, key: str) -> Synset:
        off = key[1:] if key.startswith("n") and key[1:].isdigit() else key
        if off not in self.synsets:
            raise KeyError(f"no noun synset {key!r} in WordNet")
        return self.synsets[off]

    def lookup(self, lemma: str) -> tuple[str, ...]:
        """Offsets of the noun senses of ``lemma`` (spaces or underscores), most frequent first."""
        return self._index.get(lemma.lower().replace(" ", "_"), ())

    def ancestors(self, offset: str) -> Mapping[str, int]:
        """Every hypernym ancestor (the synset itself included) with its shortest distance.

        Computed once per synset: the set builders ask for the same classes'
        ancestors over and over (for ImageNet, millions of times), so the
        breadth-first walk is kept, read-only.
        """
        known = self._ancestors.get(offset)
        if known is not None:
            return known
        dist = {offset: 0}
        queue = deque([offset])
        while queue:
            s = queue.popleft()
            for h in self.synsets[s].hypernyms:
                if h not in dist:
                    dist[h] = dist[s] + 1
                    queue.append(h)
        self._ancestors[offset] = MappingProxyType(dist)
        return self._ancestors[offset]

    def depth(self, offset: str) -> int:
        """Shortest hypernym distance from ``offset`` to the root (entity)."""
        return self.ancestors(offset)[ROOT_OFFSET]

    def path_distance(self, a: str, b: str) -> int:
        """Fewest hypernym edges between ``a`` and ``b`` through a common ancestor."""
        da, db = self.ancestors(a), self.ancestors(b)
        return min(da[c] + db[c] for c in set(da) & set(db))

    def lowest_common_ancestor(self, a: str, b: str) -> str:
        """The common ancestor on the shortest path (the deepest one on ties)."""
        da, db = self.ancestors(a), self.ancestors(b)
        common = set(da) & set(db)
        return min(common, key=lambda c: (da[c] + db[c], -self.depth(c), c))


MANIFEST = LEXICONS / "wordnet.toml"


def verify(root: str | Path = DEFAULT_ROOT, manifest: Path = MANIFEST) -> None:
    """Check the files against ``data_manifests/lexicons/wordnet.toml`` before any use."""
    import hashlib
    import tomllib

    spec = tomllib.loads(Path(manifest).read_text())
    for f in spec["files"]:
        path = Path(root) / f["path"]
        if not path.is_file():
            raise DataError(f"WordNet: missing file {path}; install Debian's wordnet-base")
        got = hashlib.sha256(path.read_bytes()).hexdigest()
        if got != f["sha256"]:
            raise DataError(f"WordNet: {path} has sha256 {got}, expected {f['sha256']} (WordNet 3.0, "
                            f"wordnet-base 1:3.0-37); another WordNet version would change the class sets")


@lru_cache(maxsize=2)
def load(root: str = str(DEFAULT_ROOT), check: bool = True) -> WordNet:
    """The verified noun hierarchy (once per process)."""
    if check:
        verify(root)
    return WordNet(root)
