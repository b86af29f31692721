"""A gRPC client for the gRPC end-to-end test (tests/tests/all/envoy_grpc.rs).

Usage: grpc_client.py HOST:PORT KIND:/package.Service/Method ... where KIND is `unary` or
`stream` (server streaming). Calls each method once over h2c (no TLS) with the body `hi` and a
5 s deadline, and prints one JSON object per call: the path, the status code's name, the
details and the number of response messages received.
"""

import json
import sys

import grpc


def call(channel, kind, path):
    identity = {"request_serializer": None, "response_deserializer": None}
    messages = 0
    try:
        if kind == "unary":
            channel.unary_unary(path, **identity)(b"hi", timeout=5)
            messages = 1
        else:
            for _ in channel.unary_stream(path, **identity)(b"hi", timeout=5):
                messages += 1
        return {"path": path, "code": "OK", "details": "", "messages": messages}
    except grpc.RpcError as e:
        return {"path": path, "code": e.code().name, "details": e.details() or "", "messages": messages}


def main():
    target = sys.argv[1]
    with grpc.insecure_channel(target) as channel:
        for arg in sys.argv[2:]:
            kind, path = arg.split(":", 1)
            print(json.dumps(call(channel, kind, path)), flush=True)


if __name__ == "__main__":
    main()
