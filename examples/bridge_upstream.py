#!/usr/bin/env python3
"""A Yardmaster TCP bridge upstream in Python with grpcio: echoes every frame.

Implements `yardmaster.bridge.v1.BridgeUpstream/Bridge` (proto/yardmaster/bridge/v1/
bridge.proto, documented in docs/bridge.md): it sends `ready`, then answers each `data`
event with a `send` of the same payload to the same client, acknowledging the frame in
the same message (`ack_seq`), so the gateway never duplicates a reply when it moves a
client after a failure. A frame starting with `/all ` is broadcast to every client of the
bridge instead (without the prefix).

    python examples/bridge_upstream.py --listen 127.0.0.1:50071
    cargo run -- run --config examples/bridge.yaml
    nc 127.0.0.1 7000

Needs grpcio and grpcio-tools; stubs are generated from proto/ into a temporary directory.
Prints `listening on HOST:PORT` once serving (port 0 picks a free port).
"""

import argparse
import importlib
import pathlib
import subprocess
import sys
import tempfile
from concurrent import futures

import grpc

PROTO_ROOT = pathlib.Path(__file__).resolve().parents[1] / "proto"
PROTO_FILE = "yardmaster/bridge/v1/bridge.proto"
BROADCAST_PREFIX = b"/all "


def generate_stubs(out_dir):
    """Runs grpc_tools.protoc on bridge.proto; returns the (bridge_pb2, bridge_pb2_grpc) modules."""
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_ROOT}",
         f"--python_out={out_dir}", f"--grpc_python_out={out_dir}", PROTO_FILE],
        check=True,
    )
    sys.path.insert(0, out_dir)
    pb = importlib.import_module("yardmaster.bridge.v1.bridge_pb2")
    pb_grpc = importlib.import_module("yardmaster.bridge.v1.bridge_pb2_grpc")
    return pb, pb_grpc


def make_servicer(pb, pb_grpc):
    class EchoUpstream(pb_grpc.BridgeUpstreamServicer):
        """One call per gateway; every client of that gateway shares it."""

        def Bridge(self, request_iterator, context):
            yield pb.UpstreamCommand(ready=pb.Ready())
            for event in request_iterator:
                kind = event.WhichOneof("event")
                if kind == "opened":
                    opened = event.opened
                    print(f"opened {opened.client_id} from {opened.peer}"
                          f"{' (resumed)' if opened.resumed else ''}", flush=True)
                elif kind == "closed":
                    print(f"closed {event.closed.client_id}: {event.closed.reason}", flush=True)
                elif kind == "data":
                    data = event.data
                    if data.payload.startswith(BROADCAST_PREFIX):
                        yield pb.UpstreamCommand(ack=pb.Ack(client_id=data.client_id, seq=data.seq))
                        yield pb.UpstreamCommand(broadcast=pb.Broadcast(
                            scope=pb.SCOPE_ALL, payload=data.payload[len(BROADCAST_PREFIX):]))
                    else:
                        yield pb.UpstreamCommand(send=pb.Send(
                            client_id=data.client_id, payload=data.payload, ack_seq=data.seq))

    return EchoUpstream()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:50071", help="host:port to serve on")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="yardmaster-stubs-") as stubs:
        pb, pb_grpc = generate_stubs(stubs)
        # A thread per open stream: one per gateway, plus room for reconnects.
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        pb_grpc.add_BridgeUpstreamServicer_to_server(make_servicer(pb, pb_grpc), server)
        host = args.listen.rsplit(":", 1)[0]
        port = server.add_insecure_port(args.listen)
        server.start()
        print(f"listening on {host}:{port}", flush=True)
        try:
            server.wait_for_termination()
        except KeyboardInterrupt:
            server.stop(grace=1)


if __name__ == "__main__":
    main()
