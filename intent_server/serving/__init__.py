"""Serving, whatever the transport: loaded models by name, the runners that feed them
(micro-batching or direct), hot reload, request limits and the errors a client can fix."""
