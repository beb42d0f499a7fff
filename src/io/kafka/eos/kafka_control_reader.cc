// ControlTopicReader over a librdkafka consumer: isolation.level=read_committed, every partition
// assigned from the beginning (no consumer group, nothing committed), read until each partition's
// end as of the start of the read. A fresh consumer per read: reads happen once per recovery.

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <map>
#include <memory>

#include "eddy/io/exactly_once_egress.h"
#include "io/kafka/kafka_util.h"

namespace eddy {

namespace {

struct HandleDeleter {
  void operator()(rd_kafka_t* rk) const {
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
  }
};
struct ListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* m) const { rd_kafka_metadata_destroy(m); }
};
struct TopicDeleter {
  void operator()(rd_kafka_topic_t* t) const { rd_kafka_topic_destroy(t); }
};

int RemainingMs(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return left.count() < 1 ? 1 : static_cast<int>(left.count());
}

class KafkaControlTopicReader final : public ControlTopicReader {
 public:
  KafkaControlTopicReader(std::string bootstrap, KafkaProperties properties)
      : bootstrap_(std::move(bootstrap)), properties_(std::move(properties)) {}

  Result<std::vector<ControlRecord>> ReadCommitted(const std::string& topic,
                                                   std::chrono::milliseconds timeout) override {
    const std::string what = "control topic " + topic;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    KafkaProperties enforced = {
        {"bootstrap.servers", bootstrap_},
        // CONFIGURATION.md isolation.level: read_committed "only return transactional messages
        // which have been committed" (it is librdkafka's default; set it so a property cannot
        // change it).
        {"isolation.level", "read_committed"},
        // CONFIGURATION.md enable.partition.eof: emit RD_KAFKA_RESP_ERR__PARTITION_EOF at the
        // end of a partition; with read_committed the end is the last stable offset, so a
        // partition ending in control markers or aborted records still reports its end.
        {"enable.partition.eof", "true"},
        // Partitions are assign()ed with explicit offsets: the group is never joined and
        // nothing is committed (CONFIGURATION.md enable.auto.commit).
        {"group.id", "eddy-egress-recovery"},
        {"enable.auto.commit", "false"},
        {"fetch.wait.max.ms", "50"},
    };
    Status st = kafka::SetProperties(conf, properties_, what);
    if (st.ok()) st = kafka::SetProperties(conf, enforced, what);
    if (!st.ok()) {
      rd_kafka_conf_destroy(conf);
      return st;
    }
    char errstr[512];
    rd_kafka_t* raw = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (raw == nullptr) {
      rd_kafka_conf_destroy(conf);
      return InvalidArgument(what + ": cannot create consumer: " + errstr);
    }
    std::unique_ptr<rd_kafka_t, HandleDeleter> rk(raw);

    // Partition count from the topic's metadata.
    std::unique_ptr<rd_kafka_topic_t, TopicDeleter> rkt(
        rd_kafka_topic_new(rk.get(), topic.c_str(), nullptr));
    const rd_kafka_metadata_t* md_raw = nullptr;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk.get(), 0, rkt.get(), &md_raw,
                                                RemainingMs(deadline));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Unavailable(what + ": metadata: " + rd_kafka_err2str(err));
    }
    std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter> md(md_raw);
    if (md->topic_cnt != 1) return Unavailable(what + ": metadata without the topic");
    const rd_kafka_metadata_topic_t& mt = md->topics[0];
    if (mt.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
      // No marker was ever committed: the first marker's transaction creates the topic.
      return std::vector<ControlRecord>{};
    }
    if (mt.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Unavailable(what + ": metadata: " + rd_kafka_err2str(mt.err));
    }

    // The end of each partition as a read_committed consumer sees it: ListOffsets carries the
    // client's isolation level, so "high" is the last stable offset.
    std::map<int32_t, int64_t> end;  // partitions still to read -> their end offset
    std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter> assignment(
        rd_kafka_topic_partition_list_new(mt.partition_cnt));
    for (int i = 0; i < mt.partition_cnt; ++i) {
      int32_t p = mt.partitions[i].id;
      int64_t low = 0, high = 0;
      err = rd_kafka_query_watermark_offsets(rk.get(), topic.c_str(), p, &low, &high,
                                             RemainingMs(deadline));
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return Unavailable(what + ": end offset of partition " + std::to_string(p) + ": " +
                           rd_kafka_err2str(err));
      }
      if (high <= low) continue;  // empty
      end[p] = high;
      rd_kafka_topic_partition_list_add(assignment.get(), topic.c_str(), p)->offset =
          RD_KAFKA_OFFSET_BEGINNING;
    }
    std::vector<ControlRecord> out;
    if (end.empty()) return out;
    err = rd_kafka_assign(rk.get(), assignment.get());
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Unavailable(what + ": assign: " + rd_kafka_err2str(err));
    }
    while (!end.empty()) {
      if (std::chrono::steady_clock::now() >= deadline) {
        return DeadlineExceeded(what + ": " + std::to_string(end.size()) +
                                " partition(s) not read to the end within " +
                                std::to_string(timeout.count()) + " ms");
      }
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk.get(), 50);
      if (m == nullptr) continue;
      std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t*)> guard(
          m, &rd_kafka_message_destroy);
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        end.erase(m->partition);
        continue;
      }
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (m->rkt == nullptr) {
          // A client-level error (e.g. a broker connection dropped): librdkafka retries it.
          spdlog::warn("{}: {}", what, rd_kafka_message_errstr(m));
          continue;
        }
        // A partition-level error (authorization, offset out of range...): refuse to answer,
        // since records we did not see could hold the marker.
        return Unavailable(what + ": partition " + std::to_string(m->partition) + ": " +
                           rd_kafka_message_errstr(m));
      }
      ControlRecord r;
      r.partition = m->partition;
      r.offset = m->offset;
      if (m->key != nullptr) r.key.assign(static_cast<const char*>(m->key), m->key_len);
      if (m->payload != nullptr) r.value.assign(static_cast<const char*>(m->payload), m->len);
      out.push_back(std::move(r));
      auto it = end.find(m->partition);
      if (it != end.end() && m->offset + 1 >= it->second) end.erase(it);
    }
    return out;
  }

 private:
  std::string bootstrap_;
  KafkaProperties properties_;
};

}  // namespace

Result<ControlTopicReaderPtr> MakeKafkaControlTopicReader(std::string bootstrap,
                                                          KafkaProperties properties) {
  if (bootstrap.empty()) return InvalidArgument("control topic reader: empty bootstrap servers");
  return ControlTopicReaderPtr(
      std::make_unique<KafkaControlTopicReader>(std::move(bootstrap), std::move(properties)));
}

}  // namespace eddy
