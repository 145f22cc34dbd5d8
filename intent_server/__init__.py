"""Intent recognition server: ONNX encoder + MLP head behind gRPC. Never imports torch."""

__version__ = "0.1.0"
