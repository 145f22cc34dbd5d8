"""The encoder's ONNX sessions, shared by the models that use the same encoder file."""
