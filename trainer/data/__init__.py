"""Training data: YAML files (native or Rasa NLU) -> validated `TrainingData`.

`folders` finds the files of a folder (through its symlinks), `parse` reads one file into
intent blocks (with `reader`, `yaml_nodes`, `text`, `markup` for each example's entities and
`lexicon` for synonyms, regexes and lookups), `checks` merges files and finds cross-file
mistakes, `loading` is the entry point, `summary` describes loaded data, `yaml_writer`
writes the native format.
"""

from trainer.data.folders import find_data_files
from trainer.data.loading import data_from_pairs, load_training_data, validate_path
from trainer.data.model import ERROR, WARNING, Example, Problem, TrainingData, ValidationResult
from trainer.data.yaml_writer import write_native_yaml

__all__ = [
    "ERROR",
    "WARNING",
    "Example",
    "Problem",
    "TrainingData",
    "ValidationResult",
    "data_from_pairs",
    "find_data_files",
    "load_training_data",
    "validate_path",
    "write_native_yaml",
]
