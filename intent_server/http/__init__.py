"""The HTTP/JSON transport: `/v1/...` in the proto's JSON mapping, Rasa's `/model/parse`,
health, an OpenAPI document and a try-it page, on aiohttp in the gRPC server's process.

It shares the model registry, runners, limits, admission, tokens, TLS files and metrics with
gRPC: both call `api.service.IntentService`.
"""
