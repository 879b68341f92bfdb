#!/usr/bin/env node
// An NRI plugin in JavaScript, over gRPC, with nothing but @grpc/grpc-js
// (a pure JavaScript gRPC on Node's own HTTP/2) and @grpc/proto-loader,
// which reads the repository's proto/schema/nri.proto at start.
//
// It speaks the protocol of nri-rs's gRPC transport (nri-transport-grpc,
// module `protocol`): it serves the `Plugin` service on a unix socket of its
// own, registers by calling `Runtime/RegisterPlugin` with that endpoint in
// the `nri-plugin-endpoint` metadata, and answers the runtime's calls on its
// socket.
//
// What it does: subscribes to CreateContainer, StartContainer and
// StopContainer. On CreateContainer it adds the environment variable
// NODE_PLUGIN=<name> and the annotation node-plugin.nri.io/seen=<container
// name>. After StartContainer it asks the runtime, unsolicited, to set the
// started container's memory limit to 256 MiB (UpdateContainers). It prints
// one line per call on standard output (`event <Method> ...`), `registered`
// once the runtime accepted it and `updated <failed count>` once the
// runtime answered its update.
//
// Usage: plugin.js --runtime unix:///var/run/nri/nri-grpc.sock
//                  [--socket PATH] [--idx 43] [--name node]

"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const SCHEMA = path.join(__dirname, "..", "..", "proto", "schema", "nri.proto");

// Bit (event - 1) per subscribed event, as in ConfigureResponse.events.
const CREATE_CONTAINER = 4;
const START_CONTAINER = 6;
const STOP_CONTAINER = 10;

// The memory limit the plugin asks for after a container starts.
const MEMORY_LIMIT = 256 * 1024 * 1024;

function parseArgs(argv) {
  const args = { idx: "43", name: "node" };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, "");
    if (!["runtime", "socket", "idx", "name"].includes(key) || i + 1 >= argv.length) {
      fail(`usage: plugin.js --runtime ENDPOINT [--socket PATH] [--idx NN] [--name NAME] (bad ${argv[i]})`);
    }
    args[key] = argv[i + 1];
  }
  if (!args.runtime) {
    fail("usage: plugin.js --runtime ENDPOINT [--socket PATH] [--idx NN] [--name NAME]");
  }
  return args;
}

function say(line) {
  process.stdout.write(`${line}\n`);
}

function fail(message) {
  process.stderr.write(`node-plugin: ${message}\n`);
  process.exit(1);
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const definition = protoLoader.loadSync(SCHEMA, {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const api = grpc.loadPackageDefinition(definition).nri.pkg.api.v1alpha1;

  const socketPath =
    args.socket || path.join(fs.mkdtempSync(path.join(os.tmpdir(), "nri-node-plugin-")), "plugin.sock");
  const endpoint = `unix://${socketPath}`;
  const metadata = () => {
    const m = new grpc.Metadata();
    m.set("nri-plugin-endpoint", endpoint);
    return m;
  };

  // The runtime's channel. grpc-js's default authority for a unix socket is
  // "localhost", as the protocol asks.
  const runtime = new api.Runtime(args.runtime, grpc.credentials.createInsecure());

  const server = new grpc.Server();
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    server.tryShutdown(() => {
      runtime.close();
      process.exit(0);
    });
  };

  const updateMemory = (containerId) => {
    const update = {
      container_id: containerId,
      linux: { resources: { memory: { limit: { value: String(MEMORY_LIMIT) } } } },
    };
    runtime.UpdateContainers(
      { update: [update], evict: [] },
      metadata(),
      { deadline: Date.now() + 5000 },
      (error, reply) => {
        if (error) {
          say(`update failed ${error.code} ${error.details}`);
          return;
        }
        say(`updated ${reply.failed.length}`);
      },
    );
  };

  server.addService(api.Plugin.service, {
    Configure(call, reply) {
      say(`event Configure ${call.request.runtime_name}`);
      const mask =
        (1 << (CREATE_CONTAINER - 1)) | (1 << (START_CONTAINER - 1)) | (1 << (STOP_CONTAINER - 1));
      reply(null, { events: mask });
    },
    Synchronize(call, reply) {
      say(`event Synchronize ${call.request.pods.length} pods ${call.request.containers.length} containers`);
      reply(null, { update: [], more: false });
    },
    CreateContainer(call, reply) {
      const { pod, container } = call.request;
      say(`event CreateContainer ${pod.name}/${container.name}`);
      reply(null, {
        adjust: {
          env: [{ key: "NODE_PLUGIN", value: args.name }],
          annotations: { "node-plugin.nri.io/seen": container.name },
        },
        update: [],
        evict: [],
      });
    },
    StartContainer(call, reply) {
      const { pod, container } = call.request;
      say(`event StartContainer ${pod.name}/${container.name}`);
      reply(null, {});
      // Unsolicited, once this call is answered.
      setImmediate(() => updateMemory(container.id));
    },
    StopContainer(call, reply) {
      say(`event StopContainer ${call.request.pod.name}/${call.request.container.name}`);
      reply(null, { update: [] });
    },
    Shutdown(call, reply) {
      say("event Shutdown");
      reply(null, {});
      setImmediate(stop);
    },
  });

  server.bindAsync(endpoint, grpc.ServerCredentials.createInsecure(), (error) => {
    if (error) {
      fail(`cannot serve at ${endpoint}: ${error.message}`);
    }
    runtime.RegisterPlugin(
      { plugin_name: args.name, plugin_idx: args.idx },
      metadata(),
      { deadline: Date.now() + 5000 },
      (registerError) => {
        if (registerError) {
          fail(`registration failed: ${registerError.code} ${registerError.details}`);
        }
        say("registered");
      },
    );
  });

  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main();
