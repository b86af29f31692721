"""Decode OTLP/HTTP binary protobuf export requests with the official opentelemetry-proto package.

Usage: otlp_proto_to_json.py --signal traces|logs|metrics FILE.pb...

Each FILE.pb is parsed as an ExportTraceServiceRequest, ExportLogsServiceRequest or
ExportMetricsServiceRequest (the classes
generated from opentelemetry-proto, the definitions collectors are built from) and written next
to it as FILE.json in the OTLP JSON encoding (opentelemetry-proto docs/specification.md, "JSON
Protobuf Encoding"): lowerCamelCase keys, enums as integers, 64-bit integers as strings, and trace
and span ids as hex instead of protobuf JSON's base64. A payload that does not parse, or that has
fields the definitions do not know (anywhere in the message tree), fails with a message naming
the file and the message.
"""

import argparse
import base64
import json
import sys

from google.protobuf import json_format
from google.protobuf.unknown_fields import UnknownFieldSet
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

ID_KEYS = {"traceId", "spanId", "parentSpanId"}


def hex_ids(value):
    """Turns the base64 ids of protobuf JSON into OTLP JSON's hex, recursively."""
    if isinstance(value, dict):
        return {
            k: (base64.b64decode(v).hex() if k in ID_KEYS and isinstance(v, str) else hex_ids(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [hex_ids(v) for v in value]
    return value


def unknown_fields(message, path="request"):
    """Paths of messages holding fields the definitions do not know."""
    found = []
    if len(UnknownFieldSet(message)) > 0:
        found.append(path)
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.is_repeated:
            for i, item in enumerate(value):
                found += unknown_fields(item, f"{path}.{field.name}[{i}]")
        else:
            found += unknown_fields(value, f"{path}.{field.name}")
    return found


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--signal", choices=["traces", "logs", "metrics"], required=True)
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    kind = {
        "traces": ExportTraceServiceRequest,
        "logs": ExportLogsServiceRequest,
        "metrics": ExportMetricsServiceRequest,
    }[args.signal]
    failed = False
    for name in args.files:
        with open(name, "rb") as f:
            data = f.read()
        request = kind()
        try:
            request.ParseFromString(data)
        except Exception as e:  # noqa: BLE001 - any parse error fails the payload
            print(f"{name}: not a {kind.__name__}: {e}")
            failed = True
            continue
        unknown = unknown_fields(request)
        if unknown:
            print(f"{name}: fields unknown to opentelemetry-proto in {', '.join(unknown)}")
            failed = True
        as_dict = json_format.MessageToDict(request, use_integers_for_enums=True)
        out = name[: -len(".pb")] + ".json" if name.endswith(".pb") else name + ".json"
        with open(out, "w") as f:
            json.dump(hex_ids(as_dict), f)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
