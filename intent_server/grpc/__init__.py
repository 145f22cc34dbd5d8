"""The gRPC transport: the grpc.Server with its services and interceptors (request ids,
metrics, tokens, admission), TLS, status codes. `intent_server.process` runs it."""
