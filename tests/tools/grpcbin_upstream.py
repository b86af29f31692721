"""A stand-in for grpcbin in the third-party conformance suite (tests/tests/all/third_party.rs).

Serves `grpcbin.GRPCBin/RandomError`, the call the proxy-wasm Rust SDK's `grpc_auth_random`
example makes, with a generic handler and identity (de)serializers (messages are raw bytes).
Instead of a random status it answers the statuses given on the command line, in order, one per
call, then again from the first: 0 (OK) answers an empty message, -1 answers one 1.5 s late
(past the caller's deadline), any other code fails the call with that status. The test scripts the same statuses into the harness, so both hosts see the
same answers in the same order.

Usage: grpcbin_upstream.py PORT STATUS[,STATUS...]. Prints `listening on PORT` once it serves.
"""

import itertools
import sys
import threading
import time
from concurrent import futures

import grpc


def main():
    port = int(sys.argv[1])
    statuses = itertools.cycle(int(s) for s in sys.argv[2].split(","))
    lock = threading.Lock()
    codes = {code.value[0]: code for code in grpc.StatusCode}

    def random_error(request, context):
        with lock:
            status = next(statuses)
        if status == -1:
            time.sleep(1.5)
            return b""
        if status == 0:
            return b""
        context.abort(codes[status], f"scripted status {status}")

    handlers = {"RandomError": grpc.unary_unary_rpc_method_handler(random_error)}
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("grpcbin.GRPCBin", handlers),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print(f"listening on {port}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
