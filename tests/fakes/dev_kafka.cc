#include "fakes/dev_kafka.h"

#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

extern char** environ;

namespace eddy::testing {

namespace {

constexpr auto kStartTimeout = std::chrono::seconds(10);

struct HandleDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using Handle = std::unique_ptr<rd_kafka_t, HandleDeleter>;

struct ListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
using List = std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter>;

Result<Handle> NewHandle(rd_kafka_type_t type,
                         const std::vector<std::pair<std::string, std::string>>& props) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char errstr[512];
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return InvalidArgument(k + ": " + errstr);
    }
  }
  rd_kafka_t* rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return Internal(errstr);
  }
  return Handle(rk);
}

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::string line;
  std::getline(in, line);
  if (line.empty()) return std::nullopt;
  return line;
}

}  // namespace

std::string DevKafkaProcess::BinaryPath() {
  const char* dir = std::getenv("EDDY_BUILD_DIR");
  std::string base = dir != nullptr && *dir != '\0' ? dir : EDDY_DEFAULT_BUILD_DIR;
  return base + "/bin/eddy-dev-kafka";
}

Result<std::unique_ptr<DevKafkaProcess>> DevKafkaProcess::Start(std::vector<std::string> topics,
                                                                int brokers) {
  std::string binary = BinaryPath();
  if (access(binary.c_str(), X_OK) != 0) {
    return NotFound("eddy-dev-kafka not found at " + binary + " (build target eddy_dev_kafka)");
  }
  char tmpl[] = "/tmp/eddy-dev-kafka-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return Internal("mkdtemp failed");
  std::unique_ptr<DevKafkaProcess> proc(new DevKafkaProcess());
  proc->dir_ = tmpl;
  std::string file = proc->dir_ + "/bootstrap";

  std::vector<std::string> args = {binary, "--brokers", std::to_string(brokers), "--bootstrap-file",
                                   file};
  for (const std::string& t : topics) {
    args.push_back("--topic");
    args.push_back(t);
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // The broker echoes its address on stdout; keep test output clean.
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  int rc = posix_spawn(&proc->pid_, binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    proc->pid_ = -1;
    return Internal("cannot spawn " + binary + ": " + std::to_string(rc));
  }
  auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto bs = ReadFile(file)) {
      proc->bootstrap_ = *bs;
      return proc;
    }
    int status = 0;
    if (waitpid(proc->pid_, &status, WNOHANG) == proc->pid_) {
      proc->pid_ = -1;
      return Internal("eddy-dev-kafka exited early with status " + std::to_string(status));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return DeadlineExceeded("eddy-dev-kafka did not write " + file);
}

int DevKafkaProcess::Terminate() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int status = -1;
  for (int i = 0; i < 500; ++i) {  // up to 5 s
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return -1;
}

DevKafkaProcess::~DevKafkaProcess() {
  // The broker keeps everything in memory, so there is nothing to shut down gracefully, and its
  // orderly teardown takes about a second: kill it (Terminate() checks the graceful path).
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

Status ProduceRecords(const std::string& bootstrap, const std::vector<TestRecord>& records) {
  auto rk = NewHandle(RD_KAFKA_PRODUCER, {{"bootstrap.servers", bootstrap}, {"acks", "all"}});
  if (!rk.ok()) return rk.status();
  for (const TestRecord& r : records) {
    rd_kafka_headers_t* headers = rd_kafka_headers_new(r.headers.size());
    for (const auto& [k, v] : r.headers) {
      rd_kafka_header_add(headers, k.data(), static_cast<ssize_t>(k.size()), v.data(),
                          static_cast<ssize_t>(v.size()));
    }
    const void* key = r.key ? r.key->data() : nullptr;
    size_t key_len = r.key ? r.key->size() : 0;
    int32_t partition = r.partition < 0 ? RD_KAFKA_PARTITION_UA : r.partition;
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk->get(), RD_KAFKA_V_TOPIC(r.topic.c_str()), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_VALUE(const_cast<char*>(r.value.data()), r.value.size()),
        RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_headers_destroy(headers);
      return Unavailable(std::string("produce: ") + rd_kafka_err2str(err));
    }
  }
  if (rd_kafka_flush(rk->get(), 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return DeadlineExceeded("produce: not acknowledged in 10 s");
  }
  return Status::Ok();
}

std::vector<TestRecord> ConsumeRecords(const std::string& bootstrap, const std::string& topic,
                                       int partitions, size_t count,
                                       std::chrono::milliseconds timeout) {
  std::vector<TestRecord> out;
  auto rk = NewHandle(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap},
                                          {"group.id", "eddy-test-reader"},
                                          {"fetch.wait.max.ms", "10"},
                                          {"enable.auto.commit", "false"}});
  if (!rk.ok()) return out;
  // Learn the partition leaders first: assigning before they are known costs a 500 ms retry.
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk->get(), topic.c_str(), nullptr);
  const rd_kafka_metadata_t* metadata = nullptr;
  if (rd_kafka_metadata(rk->get(), 0, rkt, &metadata, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    rd_kafka_metadata_destroy(metadata);
  }
  rd_kafka_topic_destroy(rkt);
  List list(rd_kafka_topic_partition_list_new(partitions));
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_assign(rk->get(), list.get());
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out.size() < count && std::chrono::steady_clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk->get(), 50);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      TestRecord r;
      r.topic = rd_kafka_topic_name(m->rkt);
      r.partition = m->partition;
      r.offset = m->offset;
      if (m->key != nullptr) r.key = std::string(static_cast<const char*>(m->key), m->key_len);
      if (m->payload != nullptr) {
        r.value.assign(static_cast<const char*>(m->payload), m->len);
      }
      rd_kafka_headers_t* headers = nullptr;
      if (rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name;
        const void* value;
        size_t size;
        for (size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) ==
                           RD_KAFKA_RESP_ERR_NO_ERROR;
             ++i) {
          r.headers.emplace_back(name,
                                 value ? std::string(static_cast<const char*>(value), size) : "");
        }
      }
      out.push_back(std::move(r));
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk->get());
  return out;
}

Result<std::map<int32_t, int64_t>> CommittedOffsets(const std::string& bootstrap,
                                                    const std::string& group,
                                                    const std::string& topic, int partitions) {
  auto rk = NewHandle(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap}, {"group.id", group}});
  if (!rk.ok()) return rk.status();
  List list(rd_kafka_topic_partition_list_new(partitions));
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p);
  }
  rd_kafka_resp_err_t err = rd_kafka_committed(rk->get(), list.get(), 10000);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Unavailable(std::string("committed: ") + rd_kafka_err2str(err));
  }
  std::map<int32_t, int64_t> out;
  for (int i = 0; i < list->cnt; ++i) out[list->elems[i].partition] = list->elems[i].offset;
  rd_kafka_consumer_close(rk->get());
  return out;
}

Status CommitOffsets(const std::string& bootstrap, const std::string& group,
                     const std::string& topic, const std::map<int32_t, int64_t>& offsets) {
  auto rk = NewHandle(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap}, {"group.id", group}});
  if (!rk.ok()) return rk.status();
  List list(rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size())));
  for (const auto& [p, o] : offsets) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset = o;
  }
  rd_kafka_resp_err_t err = rd_kafka_commit(rk->get(), list.get(), 0);
  rd_kafka_consumer_close(rk->get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Unavailable(std::string("commit: ") + rd_kafka_err2str(err));
  }
  return Status::Ok();
}

}  // namespace eddy::testing
