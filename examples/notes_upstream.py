#!/usr/bin/env python3
"""A gRPC upstream in Python for transcoding with server reflection: the annotated
`notes.v1.Notes` service of examples/notes.proto, with grpcio-reflection, so the gateway
needs no copy of the proto (see examples/transcoding-reflection.yaml).

    python examples/notes_upstream.py --listen 127.0.0.1:50061
    cargo run -- run --config examples/transcoding-reflection.yaml
    curl -s -d '{"text": "buy milk", "tags": ["home"]}' http://127.0.0.1:8080/v1/notes
    curl -s 'http://127.0.0.1:8080/v1/notes?tag=home'

Needs grpcio, grpcio-tools and grpcio-reflection; stubs for notes.proto and the
google/api protos it imports are generated into a temporary directory.
Prints `listening on HOST:PORT` once serving (port 0 picks a free port).
"""

import argparse
import importlib
import itertools
import pathlib
import subprocess
import sys
import tempfile
import threading
import time
from concurrent import futures

import grpc
from grpc_reflection.v1alpha import reflection

EXAMPLES = pathlib.Path(__file__).resolve().parent
PROTO_ROOT = EXAMPLES.parent / "proto"


def generate_stubs(out_dir):
    """Runs grpc_tools.protoc; returns the (notes_pb2, notes_pb2_grpc) modules."""
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{EXAMPLES}", f"-I{PROTO_ROOT}",
         f"--python_out={out_dir}", f"--grpc_python_out={out_dir}",
         "notes.proto", "google/api/http.proto", "google/api/annotations.proto"],
        check=True,
    )
    sys.path.insert(0, out_dir)
    return importlib.import_module("notes_pb2"), importlib.import_module("notes_pb2_grpc")


def make_servicer(pb, pb_grpc):
    class Notes(pb_grpc.NotesServicer):
        def __init__(self):
            self.notes = {}
            self.ids = itertools.count(1)
            self.lock = threading.Lock()

        def CreateNote(self, request, context):
            if not request.note.text:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a note needs text")
            with self.lock:
                note = pb.Note()
                note.CopyFrom(request.note)
                note.id = f"n{next(self.ids)}"
                note.created_unix_ms = int(time.time() * 1000)
                self.notes[note.id] = note
            return note

        def GetNote(self, request, context):
            with self.lock:
                note = self.notes.get(request.id)
            if note is None:
                context.abort(grpc.StatusCode.NOT_FOUND, f"no note {request.id!r}")
            return note

        def ListNotes(self, request, context):
            with self.lock:
                notes = [n for n in self.notes.values() if not request.tag or request.tag in n.tags]
            return pb.ListNotesResponse(notes=notes)

        def DeleteNote(self, request, context):
            with self.lock:
                note = self.notes.pop(request.id, None)
            if note is None:
                context.abort(grpc.StatusCode.NOT_FOUND, f"no note {request.id!r}")
            return note

    return Notes()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:50061")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out_dir:
        pb, pb_grpc = generate_stubs(out_dir)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        pb_grpc.add_NotesServicer_to_server(make_servicer(pb, pb_grpc), server)
        reflection.enable_server_reflection(
            (pb.DESCRIPTOR.services_by_name["Notes"].full_name, reflection.SERVICE_NAME),
            server,
        )
        port = server.add_insecure_port(args.listen)
        server.start()
        host = args.listen.rsplit(":", 1)[0]
        print(f"listening on {host}:{port}", flush=True)
        server.wait_for_termination()


if __name__ == "__main__":
    main()
