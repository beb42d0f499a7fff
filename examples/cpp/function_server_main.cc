// eddy-function-server: serves the example functions as a remote endpoint, the way a user would
// deploy C++ functions next to (or away from) the worker. Any mix of listeners:
//   eddy-function-server [--http PORT] [--grpc PORT] [--unix PATH] [--host ADDR] [--threads N]
//                        [--tls-cert F --tls-key F [--tls-client-ca F]]
//   eddy-function-server --dump-request FILE   writes a ToFunction for example/keyed-counter
//                                               (one invocation, state `count` set) and exits;
//                                               the body bench/ posts with wrk.
// Prints one line per listener ("http 127.0.0.1:PORT", "grpc ...", "unix PATH") and "ready",
// then serves until SIGTERM/SIGINT.

#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <fstream>

#include "eddy/protocol/codec.h"
#include "eddy/sdk/server.h"
#include "example_functions.h"

namespace {

int Usage(const char* why) {
  std::fprintf(stderr,
               "eddy-function-server: %s\nusage: eddy-function-server [--http PORT] [--grpc PORT] "
               "[--unix PATH] [--host ADDR] [--threads N] [--tls-cert F --tls-key F "
               "[--tls-client-ca F]]\n",
               why);
  return 2;
}

bool ParsePort(const char* text, int& out) {
  char* end = nullptr;
  long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v < 0 || v > 65535) return false;
  out = static_cast<int>(v);
  return true;
}

}  // namespace

int DumpRequest(const char* path) {
  eddy::InvocationBatch batch;
  batch.target = {{"example", "keyed-counter"}, "k42"};
  batch.states.push_back({"count", eddy::types::Long(7)});
  batch.invocations.push_back({std::nullopt, eddy::types::Long(1)});
  std::ofstream out(path, std::ios::binary);
  out << eddy::EncodeToFunction(batch);
  return out ? 0 : 1;
}

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--dump-request") return DumpRequest(argv[2]);
  int http_port = -1, grpc_port = -1;
  std::string unix_path;
  eddy::sdk::ServerOptions base;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) return Usage(("missing value for " + a).c_str());
    const char* v = argv[++i];
    if (a == "--http") {
      if (!ParsePort(v, http_port)) return Usage("--http: expected a port number");
    } else if (a == "--grpc") {
      if (!ParsePort(v, grpc_port)) return Usage("--grpc: expected a port number");
    } else if (a == "--unix") {
      unix_path = v;
    } else if (a == "--host") {
      base.host = v;
    } else if (a == "--threads") {
      base.threads = std::atoi(v);
      if (base.threads < 1 || base.threads > 256) return Usage("--threads: expected 1..256");
    } else if (a == "--tls-cert") {
      base.tls_cert = v;
    } else if (a == "--tls-key") {
      base.tls_key = v;
    } else if (a == "--tls-client-ca") {
      base.tls_client_ca = v;
    } else {
      return Usage(("unknown option " + a).c_str());
    }
  }
  if (http_port < 0 && grpc_port < 0 && unix_path.empty()) return Usage("no listener given");

  eddy::sdk::FunctionRegistry registry;
  if (eddy::Status st = eddy::examples::RegisterExampleFunctions(registry); !st.ok()) {
    std::fprintf(stderr, "eddy-function-server: %s\n", st.ToString().c_str());
    return 1;
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::vector<std::unique_ptr<eddy::sdk::FunctionServer>> servers;
  auto start = [&](const char* what, eddy::Result<std::unique_ptr<eddy::sdk::FunctionServer>> r,
                   const std::string& where) {
    if (!r.ok()) {
      std::fprintf(stderr, "eddy-function-server: %s: %s\n", what, r.status().ToString().c_str());
      return false;
    }
    std::printf("%s %s\n", what,
                where.empty() ? (base.host + ":" + std::to_string(r.value()->Port())).c_str()
                              : where.c_str());
    servers.push_back(std::move(r).value());
    return true;
  };
  if (http_port >= 0) {
    eddy::sdk::ServerOptions o = base;
    o.port = static_cast<uint16_t>(http_port);
    if (!start("http", eddy::sdk::StartHttpServer(registry, o), "")) return 1;
  }
  if (grpc_port >= 0) {
    eddy::sdk::ServerOptions o = base;
    o.port = static_cast<uint16_t>(grpc_port);
    if (!start("grpc", eddy::sdk::StartGrpcServer(registry, o), "")) return 1;
  }
  if (!unix_path.empty()) {
    eddy::sdk::ServerOptions o = base;
    o.unix_socket = unix_path;
    o.tls_cert.clear();
    o.tls_key.clear();
    if (!start("unix", eddy::sdk::StartHttpServer(registry, o), unix_path)) return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  int sig = 0;
  sigwait(&signals, &sig);
  for (auto& s : servers) s->Stop();
  return 0;
}
