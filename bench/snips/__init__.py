"""SNIPS with its slots (Coucke et al. 2018; the joint intent + slot split of Goo et al. 2018):
BIO tags over space-split tokens read into examples with character spans (`bio`,
`dataset`), written as the native YAML with `[text](entity)` markup, and drawn K per intent.
"""

from bench.snips.bio import bio_to_spans, spans_to_bio, token_aligned
from bench.snips.dataset import SPLITS, draw_per_intent, load_snips, write_snips_yaml

__all__ = [
    "SPLITS",
    "bio_to_spans",
    "draw_per_intent",
    "load_snips",
    "spans_to_bio",
    "token_aligned",
    "write_snips_yaml",
]
