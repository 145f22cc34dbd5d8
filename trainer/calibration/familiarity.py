"""The familiarity bank: unit feature vectors of the bot's own examples.

A text's familiarity is its best cosine to a bank vector. Messages unrelated to every intent
score far below paraphrases of the bot's examples (measured on CLINC150 single-domain bots:
out-of-domain AUROC 0.99 against 0.95 for the head's softmax), and the signal needs no
out-of-scope examples. The server computes it inside `head.onnx` in the same run as the
probabilities, so the bank's size is its cost: at most MAX_BANK vectors.

Two refinements, both measured on 60 simulated CLINC150 bots (docs/research/out-of-scope.md):
- a bank vector whose own neighbours are far (an intent phrased in many ways) lends its
  cosines a bonus, one whose neighbours are close a malus: `offsets`, half the difference
  between its mean cosine to its 3 nearest fellow members and the bank's average of that,
  subtracted before the max (a local-density correction, like LOF);
- without out_of_scope examples the score adds `confidence_weight` x log(best probability):
  a message the head is unsure of counts as a little less familiar.
- without out_of_scope examples the cosine is not the best over the whole bank but the mean
  of the INTENT_NEIGHBOURS best among the vectors of the intent the head predicts: a message
  must resemble two examples of the intent it would be answered with, not one example of
  any intent (a single broad example such as "make a reminder to work out at the gym" let
  many unrelated fitness questions through).
All are built into `head.onnx`, so the server reads the score the trainer calibrated on.

Calibration scores are what a text would get at serving time without having been learnt:
each cross-validation fold's examples against a bank of the other folds (`cross_fitted`),
or a held-out text against the bank. (Leave-one-out was too kind: its floors turned away
4 % of real requests on those bots where 2 % was meant.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from intent_server.core.decision import OUT_OF_SCOPE
from intent_server.core.model_card import FamiliarityBank

# The head reads the whole bank for every text (memory-bound). Measured on a 2-core AMD EPYC,
# one text: head run alone, no bank 0.11 ms, 446 vectors 0.16 ms, 1,024 0.31 ms, 2,048 0.64 ms;
# in a full int8 `predict` (the encoder evicts the bank from cache) 3.27 / 3.58 ms (446) /
# 3.79 ms (1,024). On CLINC150 (150 intents, 18,000 examples) 1,024 vectors gave the
# same decision quality as 2,048 (test in-scope 95.80 vs 95.76 %, OOS recall 73.9 vs 74.8 %).
MAX_BANK = 1024
OFFSET_SCALE = 0.5
OFFSET_NEIGHBOURS = 3
# Weight of the standardised log-probability against the standardised familiarity, chosen
# on CLINC150's validation queries (0.2: +2.0 points of unrelated questions caught at the
# same share of real requests turned away; 0.35 and 0.5 no better).
CONFIDENCE_WEIGHT = 0.2
# Best cosines averaged within the predicted intent (0: best over the whole bank). Chosen on
# CLINC150's validation queries over 60 small bots: 2 caught 0.4 points more unrelated
# questions at the same share of real requests turned away; 3 did no better.
INTENT_NEIGHBOURS = 2
MASKED_COSINE = -1.0e4  # a cosine no vector of the predicted intent can reach


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32), as the exported head does before the cosine."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.asarray(x / np.maximum(norms, 1e-12), dtype=np.float32)


def density_offsets(vectors: np.ndarray) -> np.ndarray:
    """Per bank row: OFFSET_SCALE x (its mean cosine to its OFFSET_NEIGHBOURS nearest fellow
    members - the bank's mean of that). Zeros for a bank too small to have neighbours."""
    count = len(vectors)
    if count <= OFFSET_NEIGHBOURS:
        return np.zeros(count, dtype=np.float32)
    near = np.empty(count, dtype=np.float32)
    for start in range(0, count, 1024):  # bounded memory for large banks
        block = vectors[start : start + 1024] @ vectors.T
        np.fill_diagonal(block[:, start : start + 1024], -np.inf)
        top = np.partition(block, count - OFFSET_NEIGHBOURS, axis=1)[:, -OFFSET_NEIGHBOURS:]
        near[start : start + len(block)] = top.mean(axis=1)
    return np.asarray(OFFSET_SCALE * (near - near.mean()), dtype=np.float32)


def neighbours_for(labels: tuple[str, ...]) -> int:
    """INTENT_NEIGHBOURS for a bot without out_of_scope examples, else 0 (with them the
    thresholds are chosen on out-of-scope answers, and the whole-bank score is kept)."""
    return 0 if OUT_OF_SCOPE in labels else INTENT_NEIGHBOURS


def familiarity(
    x: np.ndarray, bank: Bank, predicted: np.ndarray | None = None, neighbours: int = 0
) -> np.ndarray:
    """Each row of `x` [N, d] against `bank`, its cosines to the bank's vectors each less that
    vector's offset: the best of them, or (`neighbours` > 0) the mean of the `neighbours`
    best among the vectors of intent `predicted[row]` (fewer where it has fewer; none: the
    best of all). What `head.onnx` outputs before the confidence term."""
    if len(x) == 0:
        return np.zeros(0, dtype=np.float32)
    if len(bank.vectors) == 0:
        return np.zeros(len(x), dtype=np.float32)
    scores = unit_rows(x) @ bank.vectors.T - bank.offsets[None, :]
    best = scores.max(axis=1)
    if neighbours <= 0 or predicted is None:
        return np.asarray(best, dtype=np.float32)
    same = bank.intents[None, :] == np.asarray(predicted)[:, None]
    masked = np.where(same, scores, MASKED_COSINE)
    k = min(neighbours, masked.shape[1])
    top = -np.sort(-masked, axis=1)[:, :k]
    valid = top > MASKED_COSINE / 2
    count = valid.sum(axis=1)
    mean = np.where(valid, top, 0.0).sum(axis=1) / np.maximum(count, 1)
    return np.asarray(np.where(count > 0, mean, best), dtype=np.float32)


def with_confidence(scores: np.ndarray, probs: np.ndarray, weight: float) -> np.ndarray:
    """`scores` + weight x log(best probability): the familiarity the server compares with the
    floor (weight 0: the scores unchanged)."""
    if weight == 0.0 or len(scores) == 0:
        return np.asarray(scores, dtype=np.float32)
    best = np.maximum(probs.max(axis=1), 1e-12)
    return np.asarray(scores + weight * np.log(best), dtype=np.float32)


def confidence_weight(scores: np.ndarray, probs: np.ndarray) -> float:
    """CONFIDENCE_WEIGHT, in familiarity units: the weight of log(best probability) that gives
    it CONFIDENCE_WEIGHT times the familiarity's spread, measured on calibration answers."""
    if len(scores) < 2:
        return 0.0
    log_best = np.log(np.maximum(probs.max(axis=1), 1e-12))
    spread = float(np.std(log_best))
    if spread < 1e-6:
        return 0.0
    return round(CONFIDENCE_WEIGHT * float(np.std(scores)) / spread, 6)


def _farthest_points(vectors: np.ndarray, count: int) -> list[int]:
    """`count` rows that cover `vectors`: start at the row nearest the mean, then add the row
    least similar to every row chosen so far. Deterministic."""
    first = int(np.argmax(vectors @ vectors.mean(axis=0)))
    chosen = [first]
    closest = vectors @ vectors[first]
    while len(chosen) < count:
        nxt = int(np.argmin(closest))
        chosen.append(nxt)
        closest = np.maximum(closest, vectors @ vectors[nxt])
    return sorted(chosen)


@dataclass(frozen=True)
class Bank:
    vectors: np.ndarray  # [M, d] unit rows
    rows: np.ndarray  # which input rows they are
    info: FamiliarityBank
    offsets: np.ndarray  # [M] subtracted from each vector's cosine (`density_offsets`)
    intents: np.ndarray  # [M] each vector's label index


def build_bank(x: np.ndarray, y: np.ndarray, in_scope: np.ndarray, limit: int = MAX_BANK) -> Bank:
    """The bank of the in-scope rows of `x` (`in_scope[y]` is True for in-scope labels): every
    one when they fit in `limit`, else up to limit / intents per intent, spread over each
    intent by farthest-point selection."""
    keep = np.flatnonzero(in_scope[y])
    units = unit_rows(x)
    if len(keep) <= limit:
        vectors = units[keep]
        info = FamiliarityBank(len(keep), len(keep), 0, OFFSET_SCALE)
        return Bank(vectors, keep, info, density_offsets(vectors), y[keep])
    intents = sorted(set(y[keep].tolist()))
    per_intent = max(1, math.floor(limit / len(intents)))
    rows: list[int] = []
    for intent in intents:
        members = keep[y[keep] == intent]
        if len(members) <= per_intent:
            rows.extend(members.tolist())
        else:
            rows.extend(members[_farthest_points(units[members], per_intent)].tolist())
    chosen = np.array(sorted(rows), dtype=np.int64)
    info = FamiliarityBank(len(chosen), len(keep), per_intent, OFFSET_SCALE)
    return Bank(units[chosen], chosen, info, density_offsets(units[chosen]), y[chosen])


def cross_fitted(
    x: np.ndarray,
    y: np.ndarray,
    folds: np.ndarray,
    in_scope: np.ndarray,
    predicted: np.ndarray | None = None,
    neighbours: int = 0,
) -> np.ndarray:
    """Each row's familiarity against the bank of the other folds' rows (`predicted`: the
    intents its out-of-fold head answered): what it would score at serving time had it not
    been learnt."""
    scores = np.zeros(len(y), dtype=np.float32)
    for fold in np.unique(folds):
        held = folds == fold
        bank = build_bank(x[~held], y[~held], in_scope)
        answered = None if predicted is None else predicted[held]
        scores[held] = familiarity(x[held], bank, answered, neighbours)
    return scores
