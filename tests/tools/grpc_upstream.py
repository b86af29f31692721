"""A gRPC server for the gRPC end-to-end test (tests/tests/all/envoy_grpc.rs), on 127.0.0.1.

Service `meshlens.test.Echo`, registered with a generic handler and identity (de)serializers, so
no generated code is needed (messages are raw bytes):
- `Ok` (unary): answers the request bytes; status OK, in trailers after the message.
- `FailAfterMessage` (server streaming): sends the request bytes back as one message, then fails
  with INTERNAL: the status travels in real HTTP/2 trailers after a DATA frame.
- `FailNow` (unary): fails with INTERNAL before any message.
- `NotFound` (unary): fails with NOT_FOUND (the caller's error, not the server's).
Any other method of any service is UNIMPLEMENTED (grpcio's own answer).

Usage: grpc_upstream.py PORT. Prints `listening on PORT` once it serves.
"""

import sys
from concurrent import futures

import grpc


def ok(request, context):
    return request


def fail_after_message(request, context):
    yield request
    context.abort(grpc.StatusCode.INTERNAL, "boom after one message")


def fail_now(request, context):
    context.abort(grpc.StatusCode.INTERNAL, "boom before any message")


def not_found(request, context):
    context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")


def main():
    port = int(sys.argv[1])
    handlers = {
        "Ok": grpc.unary_unary_rpc_method_handler(ok),
        "FailAfterMessage": grpc.unary_stream_rpc_method_handler(fail_after_message),
        "FailNow": grpc.unary_unary_rpc_method_handler(fail_now),
        "NotFound": grpc.unary_unary_rpc_method_handler(not_found),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("meshlens.test.Echo", handlers),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print(f"listening on {port}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
