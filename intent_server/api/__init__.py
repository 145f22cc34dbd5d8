"""The service in the proto's terms, whatever the transport: requests in, responses out.

gRPC (`intent_server.grpc`) and HTTP/JSON (`intent_server.http`) both call `IntentService`
and get the same answers and the same errors (`serving.errors`), mapped to their own codes.
"""
