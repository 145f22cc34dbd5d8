"""The trainer's commands: `intent-train` (`train`, `validate`, `evaluate`, `export`) and its
alias `intent-export`; their options are declared in `options.py`."""
