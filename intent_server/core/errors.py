"""Errors about files on disk: the message names the file and what is wrong with it."""

from __future__ import annotations


class ArtifactError(Exception):
    """A model folder or export folder cannot be used as it is."""


class ExportError(ArtifactError):
    """An export folder cannot be served; the message says which file and what is wrong."""


class ModelCardError(ArtifactError):
    """A trained model's `model.json` is missing, damaged or from another format version."""
