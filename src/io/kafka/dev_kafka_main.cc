// eddy-dev-kafka: a Kafka broker for development and tests, built on librdkafka's mock cluster
// (there is no real broker on these machines). It speaks the Kafka wire protocol on loopback, so
// kcat, the worker and tests in other processes reach it by its bootstrap address. Ports are
// random, so the address is written to --bootstrap-file (atomically) and to stdout.

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

namespace {

constexpr int kUsageExit = 2;

void PrintUsage(std::ostream& out) {
  out << "usage: eddy-dev-kafka [--brokers N] [--topic NAME[:PARTITIONS]]... "
         "[--bootstrap-file PATH] [--help]\n"
         "  Runs an in-memory Kafka-compatible broker (librdkafka mock cluster) on 127.0.0.1\n"
         "  until SIGTERM or SIGINT. Prints the bootstrap servers on stdout and, with\n"
         "  --bootstrap-file, writes them to PATH (atomically). Topics not created up front are\n"
         "  auto-created on first use.\n";
}

struct Options {
  int brokers = 1;
  std::vector<std::pair<std::string, int>> topics;
  std::string bootstrap_file;
};

// Parses a positive int that fits comfortably; false on anything else ("3x", "", "-1").
bool ParsePositive(const std::string& text, int max, int* out) {
  if (text.empty() || text.size() > 9) return false;
  int v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  if (v <= 0 || v > max) return false;
  *out = v;
  return true;
}

// Returns an error message, empty on success.
std::string ParseArgs(int argc, char** argv, Options* opts, bool* help) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto next = [&](std::string* value) {
      if (i + 1 >= argc) return false;
      *value = argv[++i];
      return true;
    };
    std::string value;
    if (arg == "--help" || arg == "-h") {
      *help = true;
    } else if (arg == "--brokers") {
      if (!next(&value) || !ParsePositive(value, 16, &opts->brokers)) {
        return "--brokers needs a number from 1 to 16";
      }
    } else if (arg == "--topic") {
      if (!next(&value)) return "--topic needs NAME[:PARTITIONS]";
      int partitions = 1;
      auto colon = value.rfind(':');
      std::string name = value.substr(0, colon);
      if (colon != std::string::npos &&
          !ParsePositive(value.substr(colon + 1), 10000, &partitions)) {
        return "bad partition count in --topic " + value;
      }
      if (name.empty()) return "empty topic name in --topic " + value;
      opts->topics.emplace_back(name, partitions);
    } else if (arg == "--bootstrap-file") {
      if (!next(&value) || value.empty()) return "--bootstrap-file needs a path";
      opts->bootstrap_file = value;
    } else {
      return "unknown argument: " + arg;
    }
  }
  return "";
}

// Write to a temporary name, then rename: a reader polling for the file never sees it half
// written.
bool WriteFileAtomically(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << content << "\n";
    out.flush();
    if (!out) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options opts;
  bool help = false;
  std::string error = ParseArgs(argc, argv, &opts, &help);
  if (!error.empty()) {
    std::cerr << "eddy-dev-kafka: " << error << "\n";
    PrintUsage(std::cerr);
    return kUsageExit;
  }
  if (help) {
    PrintUsage(std::cout);
    return 0;
  }

  // Block the stop signals before librdkafka starts its threads (they inherit the mask), then
  // wait for them synchronously with sigwait: no async-signal-safety concerns.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // The handle only hosts the mock cluster; it never connects anywhere itself.
  if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
    std::cerr << "eddy-dev-kafka: " << errstr << "\n";
    return 1;
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (rk == nullptr) {
    std::cerr << "eddy-dev-kafka: cannot create handle: " << errstr << "\n";
    return 1;
  }
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(rk, opts.brokers);
  if (cluster == nullptr) {
    std::cerr << "eddy-dev-kafka: cannot create mock cluster\n";
    rd_kafka_destroy(rk);
    return 1;
  }
  int rc = 0;
  for (const auto& [name, partitions] : opts.topics) {
    int rf = opts.brokers < 3 ? opts.brokers : 3;
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(cluster, name.c_str(), partitions, rf);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::cerr << "eddy-dev-kafka: cannot create topic " << name << ": " << rd_kafka_err2str(err)
                << "\n";
      rc = 1;
    }
  }
  std::string bootstraps = rd_kafka_mock_cluster_bootstraps(cluster);
  if (rc == 0 && !opts.bootstrap_file.empty() &&
      !WriteFileAtomically(opts.bootstrap_file, bootstraps)) {
    std::cerr << "eddy-dev-kafka: cannot write " << opts.bootstrap_file << ": "
              << std::strerror(errno) << "\n";
    rc = 1;
  }
  if (rc == 0) {
    std::cout << bootstraps << std::endl;
    int sig = 0;
    while (sigwait(&stop_signals, &sig) != 0) {
    }
  }
  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(rk);
  return rc;
}
