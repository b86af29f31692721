"""A stand-in for grpcbin with a slow method and an app upstream, for the gRPC local-reply test
(tests/tests/all/envoy_grpc_local_reply.rs), on 127.0.0.1.

- `grpcbin.GRPCBin/RandomError` (unary): fails (or succeeds) with the statuses given on the
  command line, in order, then the last one again: 0 answers an empty message with OK; any other
  code aborts with it and the message `scripted`.
- `grpcbin.GRPCBin/Slow` (unary): answers after 3 s (for a caller's timeout).
- `meshlens.test.App/Call` (unary): answers an empty message, OK (the upstream of the route).

Messages are raw bytes (generic handlers, no generated code).

Usage: grpcbin_upstream.py PORT STATUS[,STATUS...]. Prints `listening on PORT` once it serves.
"""

import sys
import threading
import time
from concurrent import futures

import grpc


def main():
    port = int(sys.argv[1])
    statuses = [int(s) for s in sys.argv[2].split(",")]
    lock = threading.Lock()
    calls = [0]
    codes = {c.value[0]: c for c in grpc.StatusCode}

    def random_error(request, context):
        with lock:
            n = calls[0]
            calls[0] += 1
        status = statuses[min(n, len(statuses) - 1)]
        print(f"RandomError {n}: {status}", flush=True)
        if status != 0:
            context.abort(codes[status], "scripted")
        return b""

    def call(request, context):
        return b""

    def slow(request, context):
        time.sleep(3)
        return b""

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "grpcbin.GRPCBin", {
                    "RandomError": grpc.unary_unary_rpc_method_handler(random_error),
                    "Slow": grpc.unary_unary_rpc_method_handler(slow),
                }
            ),
            grpc.method_handlers_generic_handler(
                "meshlens.test.App", {"Call": grpc.unary_unary_rpc_method_handler(call)}
            ),
        )
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print(f"listening on {port}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
