"""The HTTP/JSON transport: `/v1/...` in the proto's JSON mapping, Rasa's `/model/parse`,
health, an OpenAPI document and a try-it page, on aiohttp beside gRPC in the server process
(`intent_server.process`).

It shares the model registry, runners, limits, admission, tokens, TLS files and metrics with
gRPC: both call `api.service.IntentService`.
"""
