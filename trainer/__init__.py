"""Training and export: YAML examples -> MLP head over frozen MiniLM -> ONNX."""
