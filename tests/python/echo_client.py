#!/usr/bin/env python3
"""Calls the demo Echo service through a Yardmaster gateway with Python grpcio.

An independent gRPC implementation checks the gateway's transparency: all four call shapes,
metadata (repeated keys, dots, empty and large values, `-bin` bytes) echoed as headers and
trailers, upstream statuses with percent-encoded messages, and a call the gateway denies.

The gateway must forward `yardmaster.demo.v1.Echo` round robin to the upstreams named by
`--upstreams` and deny calls carrying `x-internal` metadata with PERMISSION_DENIED and
`--deny-message`. The defaults match `yardmaster demo`, so by hand:

    python tests/python/echo_client.py --target 127.0.0.1:8080

Needs grpcio and grpcio-tools; stubs are generated from proto/ into a temporary directory.
Prints one line per check and a summary line; exits 1 if any check fails.
"""

import argparse
import importlib
import pathlib
import queue
import subprocess
import sys
import tempfile

import grpc

PROTO_ROOT = pathlib.Path(__file__).resolve().parents[2] / "proto"
PROTO_FILE = "yardmaster/demo/v1/echo.proto"
# Guards every call against a hang (e.g. a proxy that buffers a ping-pong stream).
CALL_TIMEOUT_S = 10

# Sent on successful calls; the upstream echoes `x-echo-*` keys back, in this order. Values
# of a repeated key are adjacent because HTTP header maps group them.
ECHO_METADATA = (
    ("x-echo-plain", "hello"),
    ("x-echo-repeat", "first"),
    ("x-echo-repeat", "second"),
    ("x-echo-dotted.key_1", "dots and underscores"),
    ("x-echo-empty", ""),
    ("x-echo-large", "v" * 3000),
    ("x-echo-blob-bin", bytes([0, 1, 2, 0x7F, 0x80, 0xFE, 0xFF]) + b"\r\n"),
)
# Sent too, but not an `x-echo-*` key: must not come back.
OTHER_METADATA = (("x-other", "not echoed"),)
# Sent on scripted failures; the upstream copies `x-trailer-*` keys into the trailers.
TRAILER_METADATA = (
    ("x-trailer-reason", "scripted"),
    ("x-trailer-detail-bin", bytes(range(256))),
)
FAIL_MESSAGE = "scripted: 100% — ünïcode, spaces and %41"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="gateway address, host:port")
    parser.add_argument("--upstreams", default="echo-a,echo-b",
                        help="comma-separated names the upstreams report as served_by")
    parser.add_argument("--deny-message", default="internal callers only",
                        help="grpc-message of calls the gateway denies")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="yardmaster-stubs-") as stubs:
        pb, pb_grpc = generate_stubs(stubs)
        # No HTTP proxy from the environment: the calls must reach the gateway itself.
        options = [("grpc.enable_http_proxy", 0)]
        with grpc.insecure_channel(args.target, options=options) as channel:
            checks = Checks(pb, pb_grpc.EchoStub(channel), args)
            failed = checks.run_all()
    total = len(Checks.ALL)
    if failed:
        print(f"echo_client.py: {failed} of {total} checks FAILED (grpcio {grpc.__version__})")
        sys.exit(1)
    print(f"echo_client.py: all {total} checks passed (grpcio {grpc.__version__})")


def generate_stubs(out_dir):
    """Runs grpc_tools.protoc on the demo proto; returns the (echo_pb2, echo_pb2_grpc) modules."""
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_ROOT}",
         f"--python_out={out_dir}", f"--grpc_python_out={out_dir}", PROTO_FILE],
        check=True,
    )
    sys.path.insert(0, out_dir)
    return (importlib.import_module("yardmaster.demo.v1.echo_pb2"),
            importlib.import_module("yardmaster.demo.v1.echo_pb2_grpc"))


def expect(actual, expected, what):
    if actual != expected:
        raise AssertionError(f"{what}: expected {expected!r}, got {actual!r}")


def echoed(metadata):
    """The `x-echo-*` entries of response metadata, as (key, value) tuples in order."""
    return tuple((m.key, m.value) for m in metadata or () if m.key.startswith("x-echo-"))


def expect_echoed(call, what):
    expect(echoed(call.initial_metadata()), ECHO_METADATA, f"{what}: echoed metadata")
    headers = {m.key for m in call.initial_metadata()}
    expect("x-other" in headers, False, f"{what}: x-other echoed")


def expect_status(error, code, message, what):
    expect(error.code(), code, f"{what}: status code")
    expect(error.details(), message, f"{what}: status message")


class Checks:
    """One method per check; each raises AssertionError (or grpc.RpcError) on a mismatch."""

    ALL = ("unary_round_robin", "server_stream", "server_stream_failure", "client_stream",
           "bidi_ping_pong", "unary_failure", "denied")

    def __init__(self, pb, stub, args):
        self.pb = pb
        self.stub = stub
        self.upstreams = sorted(args.upstreams.split(","))
        self.deny_message = args.deny_message

    def run_all(self):
        """Runs every check, printing one line each; returns how many failed."""
        failed = 0
        for name in self.ALL:
            try:
                getattr(self, name)()
                print(f"ok    {name}")
            except (AssertionError, grpc.RpcError) as error:
                failed += 1
                print(f"FAIL  {name}: {describe(error)}")
        return failed

    def unary_round_robin(self):
        served_by = []
        for _ in self.upstreams:
            payload = bytes(range(256)) * 4
            reply, call = self.stub.Unary.with_call(
                self.pb.EchoRequest(message="hello", payload=payload),
                metadata=ECHO_METADATA + OTHER_METADATA, timeout=CALL_TIMEOUT_S)
            expect(reply.message, "hello", "unary: message")
            expect(reply.payload, payload, "unary: payload")
            expect_echoed(call, "unary")
            expect(call.code(), grpc.StatusCode.OK, "unary: status")
            served_by.append(reply.served_by)
        expect(sorted(served_by), self.upstreams, "unary: one call per upstream (round robin)")

    def server_stream(self):
        replies = self.stub.ServerStream(
            self.pb.EchoRequest(message="tick", count=4, delay_ms=20),
            metadata=ECHO_METADATA + OTHER_METADATA, timeout=CALL_TIMEOUT_S)
        got = [(r.message, r.index) for r in replies]
        expect(got, [("tick", i) for i in range(4)], "server stream: replies")
        expect_echoed(replies, "server stream")
        expect(replies.code(), grpc.StatusCode.OK, "server stream: status")

    def server_stream_failure(self):
        replies = self.stub.ServerStream(
            self.pb.EchoRequest(message="tick", count=5, fail_after=2,
                                fail_code=grpc.StatusCode.ABORTED.value[0],
                                fail_message=FAIL_MESSAGE),
            metadata=TRAILER_METADATA, timeout=CALL_TIMEOUT_S)
        got = []
        try:
            for reply in replies:
                got.append(reply.index)
            raise AssertionError("server stream failure: the call ended OK")
        except grpc.RpcError as error:
            expect_status(error, grpc.StatusCode.ABORTED, FAIL_MESSAGE, "server stream failure")
            expect(got, [0, 1], "server stream failure: replies before the status")
            expect(trailers(error), TRAILER_METADATA, "server stream failure: trailers")

    def client_stream(self):
        requests = (self.pb.EchoRequest(message=m, payload=m.encode()) for m in ("a", "b", "c"))
        reply, call = self.stub.ClientStream.with_call(
            requests, metadata=ECHO_METADATA + OTHER_METADATA, timeout=CALL_TIMEOUT_S)
        expect((reply.message, reply.received, reply.payload), ("a,b,c", 3, b"c"),
               "client stream: (message, received, payload)")
        expect(reply.served_by in self.upstreams, True, "client stream: served by an upstream")
        expect_echoed(call, "client stream")

    def bidi_ping_pong(self):
        # Each request is sent only after the previous reply arrived: a gateway that buffers
        # either direction deadlocks here and the call times out.
        outgoing = queue.Queue()
        replies = self.stub.Bidi(iter(outgoing.get, None),
                                 metadata=ECHO_METADATA + OTHER_METADATA, timeout=CALL_TIMEOUT_S)
        try:
            served_by = set()
            for index, word in enumerate(("ping", "pong", "again")):
                outgoing.put(self.pb.EchoRequest(message=word))
                reply = next(replies)
                expect((reply.message, reply.index), (word, index), f"bidi: reply {index}")
                served_by.add(reply.served_by)
            expect_echoed(replies, "bidi")
            outgoing.put(None)
            expect(list(replies), [], "bidi: replies after the last request")
            expect(replies.code(), grpc.StatusCode.OK, "bidi: status")
            expect(len(served_by), 1, "bidi: one upstream serves the whole call")
        finally:
            outgoing.put(None)
            replies.cancel()

    def unary_failure(self):
        try:
            self.stub.Unary(self.pb.EchoRequest(message="x",
                                                fail_code=grpc.StatusCode.NOT_FOUND.value[0],
                                                fail_message=FAIL_MESSAGE),
                            metadata=TRAILER_METADATA, timeout=CALL_TIMEOUT_S)
            raise AssertionError("unary failure: the call succeeded")
        except grpc.RpcError as error:
            expect_status(error, grpc.StatusCode.NOT_FOUND, FAIL_MESSAGE, "unary failure")
            expect(trailers(error), TRAILER_METADATA, "unary failure: trailers")

    def denied(self):
        calls = {
            "unary": lambda md: self.stub.Unary(self.pb.EchoRequest(message="no"), metadata=md,
                                               timeout=CALL_TIMEOUT_S),
            "server stream": lambda md: list(self.stub.ServerStream(
                self.pb.EchoRequest(message="no"), metadata=md, timeout=CALL_TIMEOUT_S)),
        }
        for shape, call in calls.items():
            try:
                call((("x-internal", "yes"),))
                raise AssertionError(f"denied {shape}: the call succeeded")
            except grpc.RpcError as error:
                expect_status(error, grpc.StatusCode.PERMISSION_DENIED, self.deny_message,
                              f"denied {shape}")


def trailers(error):
    return tuple((m.key, m.value) for m in error.trailing_metadata() or ()
                 if m.key.startswith("x-trailer-"))


def describe(error):
    if isinstance(error, grpc.RpcError) and hasattr(error, "code"):
        return f"unexpected RPC error {error.code()}: {error.details()!r}"
    return str(error)


if __name__ == "__main__":
    main()
