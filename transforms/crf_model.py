"""A trained crfsuite model (``crf1d``, the format ``pycrfsuite.Trainer`` writes) scored with numpy.

Flow: ``CrfModel.load(path)`` reads the model file itself (weights, label and attribute names) ->
``attributes`` maps every attribute name to an integer id -> ``CrfModel.tag`` takes the items of
all sentences of a document as a matrix of those ids (``transforms.entities_features.IdFeatures``
builds it) and returns each sentence's labels.

The labels are crfsuite's own, not an approximation: a token's score for each label is the sum of
the weights of its attributes added in item order starting from 0 (crfsuite's order, so the same
doubles), and Viterbi keeps, on equal scores, the lowest label id as crfsuite does (``argmax``
returns the first maximum, crfsuite replaces only on a strictly greater score). Id 0 is padding
with zero weights: items are padded to one width, and the sentences of a document are decoded
side by side, one numpy step per token position instead of one crfsuite call per sentence.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np

_HEADER = struct.Struct("<4sI4sIIIIIIIII")  # magic, size, type, version, features, labels, attrs, 5 offsets
_FEATURE = struct.Struct("<IIId")  # type (0 state, 1 transition), source, destination, weight
_STATE, _TRANSITION = 0, 1


def _dictionary(data: bytes, offset: int) -> list[str]:
    """The strings of one CQDB chunk of the model, by id (its backward array: id -> record)."""
    chunk, _, _, _, count, backward = struct.unpack_from("<4sIIIII", data, offset)
    if chunk != b"CQDB":
        raise ValueError(f"no CQDB dictionary at offset {offset}")
    names = []
    for record in struct.unpack_from(f"<{count}I", data, offset + backward):
        _, size = struct.unpack_from("<II", data, offset + record)
        names.append(data[offset + record + 8 : offset + record + 7 + size].decode())  # size counts the NUL
    return names


class CrfModel:
    """State weights (one row per attribute id, row 0 the zero padding), transitions and labels."""

    def __init__(self, labels: list[str], attributes: list[str], weights: np.ndarray, transitions: np.ndarray) -> None:
        self.labels = labels
        self.attributes = {name: i for i, name in enumerate(attributes, 1)}
        self.weights = weights
        self.transitions = transitions
        self._incoming = np.ascontiguousarray(transitions.T)  # [label at t, label at t - 1], for Viterbi

    @classmethod
    def load(cls, path: Path) -> CrfModel:
        data = Path(path).read_bytes()
        magic, _, kind, *counts_and_offsets = _HEADER.unpack_from(data)
        _, _, n_labels, n_attributes, features_at, labels_at, attributes_at, _, _ = counts_and_offsets
        if magic != b"lCRF" or kind != b"FOMC":
            raise ValueError(f"{path} is not a crfsuite crf1d model")
        chunk, _, count = struct.unpack_from("<4sII", data, features_at)
        if chunk != b"FEAT":
            raise ValueError(f"{path}: no feature chunk at offset {features_at}")
        weights = np.zeros((n_attributes + 1, n_labels))
        transitions = np.zeros((n_labels, n_labels))
        for kind_, source, target, weight in _FEATURE.iter_unpack(
            data[features_at + 12 : features_at + 12 + _FEATURE.size * count]
        ):
            if kind_ == _STATE:
                weights[source + 1, target] += weight  # crfsuite keeps one feature per (attribute, label)
            elif kind_ == _TRANSITION:
                transitions[source, target] += weight
        labels = _dictionary(data, labels_at)
        attributes = _dictionary(data, attributes_at)
        if len(labels) != n_labels or len(attributes) != n_attributes:
            raise ValueError(f"{path}: {len(labels)} labels, {len(attributes)} attributes, header says otherwise")
        return cls(labels, attributes, weights, transitions)

    def tag(self, first: np.ndarray, ids: np.ndarray, lengths: Sequence[int]) -> list[list[str]]:
        """Labels of consecutive sentences of ``lengths`` tokens each (> 0); see ``scores``."""
        names = self.labels
        return [[names[y] for y in path] for path in self.viterbi(self.scores(first, ids), lengths)]

    def scores(self, first: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """(tokens, labels) state scores: ``first`` (tokens, labels), then the weights of ``ids``
        (tokens, width; 0 pads) added one column at a time.

        ``first`` is the sum of the weights of the token's first attributes in their order (zeros
        if none), so the result is crfsuite's: its attribute weights added in item order from 0.
        """
        columns = np.empty((ids.shape[1] + 1, *first.shape))  # (attribute position, token, label)
        columns[0] = first
        self.weights.take(ids.T, axis=0, out=columns[1:])
        # Reducing the outer axis adds one position at a time (numpy sums pairwise only along the
        # fast axis): crfsuite's order of additions, and a padding id adds 0.0.
        return np.add.reduce(columns, axis=0)

    def viterbi(self, scores: np.ndarray, lengths: Sequence[int]) -> list[list[int]]:
        """Best label ids of each sentence (rows of ``scores``, ``lengths`` each), crfsuite's ties kept."""
        count, longest, n_labels = len(lengths), max(lengths), len(self.labels)
        ends = np.cumsum(lengths)
        starts = ends - lengths
        # (position, sentence, label); positions past a sentence's end repeat its last row, unused.
        state = scores[np.minimum(starts + np.arange(longest)[:, None], ends - 1)].reshape(longest, -1)
        best = np.empty_like(state)  # best[t, s * n_labels + j]: best score of sentence s at t with label j
        back = np.empty((longest, count, n_labels), dtype=np.intp)  # its label at t - 1
        candidates = np.empty((count, n_labels, n_labels))  # [s, label at t, label at t - 1]
        flat_candidates = candidates.reshape(-1)
        rows = np.arange(count * n_labels) * n_labels  # where each (s, label at t) row starts, flat
        chosen = np.empty(count * n_labels, dtype=np.intp)
        best[0] = state[0]
        before = best.reshape(longest, count, 1, n_labels)[:-1]
        steps = zip(before, back[1:], back.reshape(longest, -1)[1:], best[1:], state[1:], strict=True)
        for previous, links, flat_links, current, own in steps:  # views of positions t - 1 and t
            np.add(previous, self._incoming, out=candidates)
            candidates.argmax(axis=2, out=links)  # the first of equal scores, as crfsuite keeps it
            np.add(rows, flat_links, out=chosen)
            flat_candidates.take(chosen, out=current)
            current += own
        last = best.reshape(longest, count, n_labels)[ends - starts - 1, np.arange(count)].argmax(axis=1).tolist()
        paths = []
        for s, (n, y) in enumerate(zip(lengths, last, strict=True)):
            path = [y] * n
            links_of = back[1:n, s].tolist()
            for t in range(n - 1, 0, -1):
                y = links_of[t - 1][y]
                path[t - 1] = y
            paths.append(path)
        return paths
