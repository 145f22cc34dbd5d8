"""The head over the frozen features: options, split, the training loop and its optimiser,
thresholds, the report, and the model folder it all lands in (`pipeline.train`)."""
