"""The trainer's commands: `intent-train` (`train`, `validate`) and `intent-export`."""
