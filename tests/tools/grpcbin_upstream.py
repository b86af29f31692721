"""A stand-in for grpcbin on 127.0.0.1, the gRPC upstream of the third-party conformance suite
(tests/tests/all/third_party.rs) and of the gRPC local-reply tests
(tests/tests/all/envoy_grpc_local_reply.rs).

- `grpcbin.GRPCBin/RandomError` (unary), the call the proxy-wasm Rust SDK's `grpc_auth_random`
  example makes: instead of a random status it answers the statuses given on the command line,
  in order, one per call, then again from the first. 0 (OK) answers an empty message, -1 answers
  one 1.5 s late (past the caller's deadline), any other code fails the call with that status and
  the message `scripted status <code>`. The tests script the same answers into the harness, so
  both hosts see the same answers in the same order.
- `meshlens.test.App/Call` (unary): an empty message, OK (the upstream of a route).

Messages are raw bytes (generic handlers, identity (de)serializers, no generated code).

Usage: grpcbin_upstream.py PORT STATUS[,STATUS...]. Prints `listening on PORT` once it serves,
then one line per `RandomError` call.
"""

import itertools
import sys
import threading
import time
from concurrent import futures

import grpc


def main():
    port = int(sys.argv[1])
    statuses = itertools.cycle([int(s) for s in sys.argv[2].split(",")])
    calls = itertools.count()
    lock = threading.Lock()
    codes = {code.value[0]: code for code in grpc.StatusCode}

    def random_error(request, context):
        with lock:
            n, status = next(calls), next(statuses)
        print(f"RandomError {n}: {status}", flush=True)
        if status == -1:
            time.sleep(1.5)
            return b""
        if status == 0:
            return b""
        context.abort(codes[status], f"scripted status {status}")

    def call(request, context):
        return b""

    grpcbin = {
        "RandomError": grpc.unary_unary_rpc_method_handler(random_error),
    }
    app = {"Call": grpc.unary_unary_rpc_method_handler(call)}
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler("grpcbin.GRPCBin", grpcbin),
            grpc.method_handlers_generic_handler("meshlens.test.App", app),
        )
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print(f"listening on {port}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
