"""Trained model -> ONNX files -> verification gates -> manifest -> atomic publish
(`pipeline.export_model`)."""
