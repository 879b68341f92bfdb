#!/usr/bin/env python3
"""An NRI plugin in Python, over gRPC, with nothing but grpcio.

It speaks the protocol of nri-rs's gRPC transport (nri-transport-grpc,
module `protocol`): it serves the `Plugin` service on a unix socket of its
own, registers with the runtime by calling `Runtime/RegisterPlugin` with
its endpoint in the `nri-plugin-endpoint` metadata, and then answers the
runtime's calls on its socket.

What it does: subscribes to CreateContainer, StartContainer and
StopContainer; on CreateContainer it adds the environment variable
`PYTHON_PLUGIN=<name>` and the annotation
`python-plugin.nri.io/seen=<container name>`; after StartContainer it asks
the runtime, unsolicited, to set the started container's memory limit to
256 MiB (UpdateContainers). It prints one line per call on standard output
(`event <Method> ...`), `registered` once the runtime accepted it and
`updated <failed count>` once the runtime answered its update.

The message and service code is generated at start from the repository's
proto/schema/nri.proto by grpcio-tools, into a temporary directory.

Usage: plugin.py --runtime unix:///var/run/nri/nri-grpc.sock
                 [--socket PATH] [--idx 42] [--name python]
"""

import argparse
import importlib
import os
import signal
import sys
import tempfile
import threading
from concurrent import futures

import grpc
from grpc_tools import protoc

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA = os.path.join(HERE, "..", "..", "proto", "schema")

# Bit (event - 1) per subscribed event, as in ConfigureResponse.events.
CREATE_CONTAINER = 4
START_CONTAINER = 6
STOP_CONTAINER = 10

# The memory limit the plugin asks for after a container starts.
MEMORY_LIMIT = 256 * 1024 * 1024


def generate(out_dir):
    """Generates nri_pb2 and nri_pb2_grpc from the schema into out_dir."""
    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    status = protoc.main([
        "grpc_tools.protoc",
        f"-I{SCHEMA}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        "nri.proto",
    ])
    if status != 0:
        sys.exit(f"python-plugin: cannot generate code from {SCHEMA}/nri.proto")
    sys.path.insert(0, out_dir)
    return importlib.import_module("nri_pb2"), importlib.import_module("nri_pb2_grpc")


def say(line):
    print(line, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", required=True,
                        help="the runtime's gRPC endpoint, e.g. unix:///var/run/nri/nri-grpc.sock")
    parser.add_argument("--socket", help="where to serve the Plugin service (default: a temporary path)")
    parser.add_argument("--idx", default="42")
    parser.add_argument("--name", default="python")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="nri-python-plugin-")
    pb, rpc = generate(work)
    socket_path = args.socket or os.path.join(work, "plugin.sock")
    endpoint = f"unix://{socket_path}"
    done = threading.Event()
    runtime = None  # the runtime's stub, once the channel is made

    def update_memory(container_id):
        """Asks the runtime for an unsolicited update of one container."""
        update = pb.ContainerUpdate(
            container_id=container_id,
            linux=pb.LinuxContainerUpdate(
                resources=pb.LinuxResources(
                    memory=pb.LinuxMemory(limit=pb.OptionalInt64(value=MEMORY_LIMIT)))))
        try:
            reply = runtime.UpdateContainers(
                pb.UpdateContainersRequest(update=[update]),
                metadata=[("nri-plugin-endpoint", endpoint)],
                timeout=5,
            )
        except grpc.RpcError as error:
            say(f"update failed {error.code().name} {error.details()}")
            return
        say(f"updated {len(reply.failed)}")

    class Plugin(rpc.PluginServicer):
        """The Plugin service; methods not defined answer UNIMPLEMENTED."""

        def Configure(self, request, context):
            say(f"event Configure {request.runtime_name}")
            mask = ((1 << (CREATE_CONTAINER - 1)) | (1 << (START_CONTAINER - 1))
                    | (1 << (STOP_CONTAINER - 1)))
            return pb.ConfigureResponse(events=mask)

        def Synchronize(self, request, context):
            say(f"event Synchronize {len(request.pods)} pods {len(request.containers)} containers")
            return pb.SynchronizeResponse()

        def CreateContainer(self, request, context):
            pod, container = request.pod, request.container
            say(f"event CreateContainer {pod.name}/{container.name}")
            adjust = pb.ContainerAdjustment(
                env=[pb.KeyValue(key="PYTHON_PLUGIN", value=args.name)],
                annotations={"python-plugin.nri.io/seen": container.name},
            )
            return pb.CreateContainerResponse(adjust=adjust)

        def StartContainer(self, request, context):
            say(f"event StartContainer {request.pod.name}/{request.container.name}")
            # Unsolicited, from a thread of its own, while this call returns.
            threading.Thread(target=update_memory, args=(request.container.id,)).start()
            return pb.StartContainerResponse()

        def StopContainer(self, request, context):
            say(f"event StopContainer {request.pod.name}/{request.container.name}")
            return pb.StopContainerResponse()

        def Shutdown(self, request, context):
            say("event Shutdown")
            done.set()
            return pb.Empty()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    rpc.add_PluginServicer_to_server(Plugin(), server)
    server.add_insecure_port(endpoint)
    server.start()

    # gRPC's default authority for a unix socket is its path, which is not a
    # valid HTTP/2 authority; the protocol asks for "localhost".
    channel = grpc.insecure_channel(args.runtime, options=[("grpc.default_authority", "localhost")])
    runtime = rpc.RuntimeStub(channel)
    try:
        runtime.RegisterPlugin(
            pb.RegisterPluginRequest(plugin_name=args.name, plugin_idx=args.idx),
            metadata=[("nri-plugin-endpoint", endpoint)],
            timeout=5,
        )
    except grpc.RpcError as error:
        sys.exit(f"python-plugin: registration failed: {error.code().name}: {error.details()}")
    say("registered")

    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    server.stop(grace=1).wait()
    channel.close()


if __name__ == "__main__":
    main()
