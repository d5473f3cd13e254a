#!/usr/bin/env python3
"""A service that registers itself with a Yardmaster gateway: it serves the demo Echo
service with grpcio, registers its address through the gateway's registry route
(examples/registry.yaml), renews its lease every third of the TTL, and deregisters when
stopped. Any language with a gRPC client does the same in a few lines.

    cargo run -- run --config examples/registry.yaml
    python examples/register_upstream.py --gateway 127.0.0.1:8080

Needs grpcio and grpcio-tools; stubs are generated from proto/ into a temporary directory.
Prints `registered ADDRESS lease LEASE` once registered.
"""

import argparse
import importlib
import pathlib
import signal
import subprocess
import sys
import tempfile
import threading
from concurrent import futures

import grpc

PROTO_ROOT = pathlib.Path(__file__).resolve().parents[1] / "proto"


def generate_stubs(out_dir):
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_ROOT}",
         f"--python_out={out_dir}", f"--grpc_python_out={out_dir}",
         "yardmaster/demo/v1/echo.proto", "yardmaster/registry/v1/registry.proto"],
        check=True,
    )
    sys.path.insert(0, out_dir)
    load = importlib.import_module
    return (load("yardmaster.demo.v1.echo_pb2"), load("yardmaster.demo.v1.echo_pb2_grpc"),
            load("yardmaster.registry.v1.registry_pb2"),
            load("yardmaster.registry.v1.registry_pb2_grpc"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateway", default="127.0.0.1:8080")
    parser.add_argument("--listen", default="127.0.0.1:0")
    parser.add_argument("--service", default="yardmaster.demo.v1.Echo")
    parser.add_argument("--name", default="python")
    parser.add_argument("--ttl", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out_dir:
        echo_pb, echo_grpc, reg_pb, reg_grpc = generate_stubs(out_dir)

        class Echo(echo_grpc.EchoServicer):
            def Unary(self, request, context):
                return echo_pb.EchoReply(message=request.message, payload=request.payload,
                                         served_by=args.name)

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        echo_grpc.add_EchoServicer_to_server(Echo(), server)
        port = server.add_insecure_port(args.listen)
        server.start()
        address = f"{args.listen.rsplit(':', 1)[0]}:{port}"

        registry = reg_grpc.RegistryStub(grpc.insecure_channel(args.gateway))
        lease = registry.Register(reg_pb.RegisterRequest(
            service=args.service, address=address, ttl_seconds=args.ttl,
            metadata={"language": "python"}))
        print(f"registered {address} lease {lease.lease_id}", flush=True)

        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        while not stop.wait(args.ttl / 3):
            registry.KeepAlive(reg_pb.KeepAliveRequest(lease_id=lease.lease_id))
        registry.Deregister(reg_pb.DeregisterRequest(lease_id=lease.lease_id))
        print("deregistered", flush=True)
        server.stop(grace=1)


if __name__ == "__main__":
    main()
