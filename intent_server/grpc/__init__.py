"""The gRPC transport: server, servicers, converters to protobuf, interceptors (request ids,
metrics, tokens, admission), TLS, status codes, and `--workers` processes."""
