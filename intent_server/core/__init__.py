"""The torch-free core that trainer and server share.

What a trained model and an export are on disk (`model_card`, `manifest`, `layout`), how
they are written and checked (`files`, `exports`), the out-of-scope rule (`decision`), the
ONNX runtime model and its output (`intent_model`, `prediction`), the CPUs it may use
(`cpus`), and how every program declares its command-line options (`options`). Nothing here
imports torch, grpc or the trainer.
"""
