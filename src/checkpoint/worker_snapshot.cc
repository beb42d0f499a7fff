// WorkerSnapshot <-> eddy.internal.WorkerSnapshot. The proto is the storage format; the struct is
// what the worker code handles. Both directions run the same invariant checks.

#include "eddy/checkpoint/worker_snapshot.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <set>
#include <tuple>

#include "checkpoint/file_digest.h"
#include "checkpoint/quote.h"
#include "eddy/internal.pb.h"

namespace eddy::checkpoint {
namespace {

namespace pb = ::eddy::internal;
namespace rr = ::io::statefun::sdk::reqreply;

Status CheckAddress(const Address& a, const std::string& what) {
  if (a.type.ns.empty() || a.type.name.empty()) {
    return InvalidArgument(what + " " + Quote(a.ToString()) +
                           " has an empty namespace or type name");
  }
  return Status::Ok();
}

Status CheckSnapshot(const WorkerSnapshot& s) {
  if (s.format_version != kWorkerSnapshotFormatVersion) {
    return InvalidArgument("worker snapshot format version " + std::to_string(s.format_version) +
                           " is not the one this build reads (" +
                           std::to_string(kWorkerSnapshotFormatVersion) + ")");
  }
  EDDY_RETURN_IF_ERROR(CheckKeySegment(s.worker_id, "worker snapshot's worker id"));
  if (s.first_key_group > s.last_key_group) {
    return InvalidArgument("worker snapshot key-group range is empty: first " +
                           std::to_string(s.first_key_group) + " > last " +
                           std::to_string(s.last_key_group));
  }
  for (size_t i = 0; i < s.pending.size(); ++i) {
    const Envelope& e = s.pending[i].envelope;
    const std::string where = "pending envelope #" + std::to_string(i);
    EDDY_RETURN_IF_ERROR(CheckAddress(e.target, where + ": target"));
    if (e.caller) EDDY_RETURN_IF_ERROR(CheckAddress(*e.caller, where + ": caller"));
  }
  std::set<std::tuple<std::string, std::string, int32_t>> positions;
  for (size_t i = 0; i < s.ingress_positions.size(); ++i) {
    const IngressPosition& p = s.ingress_positions[i];
    const std::string where = "ingress position #" + std::to_string(i) + " (" +
                              Quote(p.ingress_id) + " " + Quote(p.topic) + "/" +
                              std::to_string(p.partition) + ")";
    if (p.ingress_id.empty() || p.topic.empty()) {
      return InvalidArgument(where + " has an empty ingress id or topic");
    }
    if (p.partition < 0 || p.next_offset < 0) {
      return InvalidArgument(where + " has a negative partition or offset (" +
                             std::to_string(p.next_offset) + ")");
    }
    if (!positions.emplace(p.ingress_id, p.topic, p.partition).second) {
      return InvalidArgument(where + " appears twice");
    }
  }
  EDDY_RETURN_IF_ERROR(CheckFileEntries(s.db_files, "db file"));
  return Status::Ok();
}

void ToProto(const Address& a, rr::Address* out) {
  out->set_namespace_(a.type.ns);
  out->set_type(a.type.name);
  out->set_id(a.id);
}

Address FromProto(const rr::Address& a) {
  return Address{FunctionType{a.namespace_(), a.type()}, a.id()};
}

}  // namespace

Result<std::string> EncodeWorkerSnapshot(const WorkerSnapshot& s) {
  EDDY_RETURN_IF_ERROR(CheckSnapshot(s));
  pb::WorkerSnapshot m;
  m.set_format_version(s.format_version);
  m.set_checkpoint_id(s.checkpoint_id);
  m.set_worker_id(s.worker_id);
  m.set_first_key_group(s.first_key_group);
  m.set_last_key_group(s.last_key_group);
  for (const SnapshotEnvelope& p : s.pending) {
    pb::SnapshotEnvelope* e = m.add_pending();
    ToProto(p.envelope.target, e->mutable_target());
    if (p.envelope.caller) ToProto(*p.envelope.caller, e->mutable_caller());
    rr::TypedValue* arg = e->mutable_argument();
    arg->set_typename_(p.envelope.argument.type_name);
    arg->set_has_value(p.envelope.argument.has_value);
    arg->set_value(p.envelope.argument.value);
    e->set_in_flight(p.in_flight);
  }
  for (const IngressPosition& p : s.ingress_positions) {
    pb::SnapshotIngressPosition* out = m.add_ingress_positions();
    out->set_ingress_id(p.ingress_id);
    out->set_topic(p.topic);
    out->set_partition(p.partition);
    out->set_next_offset(p.next_offset);
  }
  for (const auto& [id, bytes] : s.sealed_egresses) (*m.mutable_sealed_egresses())[id] = bytes;
  for (const auto& [k, v] : s.metadata) (*m.mutable_metadata())[k] = v;
  for (const CheckpointFile& f : s.db_files) {
    pb::SnapshotDbFile* out = m.add_db_files();
    out->set_key(f.key);
    out->set_local_name(f.local_name);
    out->set_size(f.size);
    out->set_sha256(f.sha256);
  }
  if (m.ByteSizeLong() > kMaxWorkerSnapshotBytes) {
    return ResourceExhausted("worker snapshot of " + s.worker_id + " would take " +
                             std::to_string(m.ByteSizeLong()) + " bytes, over the limit of " +
                             std::to_string(kMaxWorkerSnapshotBytes));
  }
  // Deterministic (sorted map entries) so equal snapshots give equal bytes and checksums.
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    if (!m.SerializeToCodedStream(&coded)) {
      return Internal("cannot serialize the worker snapshot of " + s.worker_id);
    }
  }
  return bytes;
}

Result<WorkerSnapshot> DecodeWorkerSnapshot(std::string_view bytes) {
  if (bytes.size() > kMaxWorkerSnapshotBytes) {
    return ResourceExhausted("worker snapshot of " + std::to_string(bytes.size()) +
                             " bytes is over the limit of " +
                             std::to_string(kMaxWorkerSnapshotBytes));
  }
  if (bytes.empty()) return InvalidArgument("worker snapshot is empty (0 bytes)");
  pb::WorkerSnapshot m;
  if (!m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return InvalidArgument("worker snapshot (" + std::to_string(bytes.size()) +
                           " bytes) is not a valid eddy.internal.WorkerSnapshot");
  }
  WorkerSnapshot s;
  s.format_version = m.format_version();
  s.checkpoint_id = m.checkpoint_id();
  s.worker_id = m.worker_id();
  s.first_key_group = m.first_key_group();
  s.last_key_group = m.last_key_group();
  s.pending.reserve(m.pending_size());
  for (const pb::SnapshotEnvelope& e : m.pending()) {
    SnapshotEnvelope p;
    if (!e.has_target()) {
      return InvalidArgument("pending envelope #" + std::to_string(s.pending.size()) +
                             " has no target address");
    }
    p.envelope.target = FromProto(e.target());
    if (e.has_caller()) p.envelope.caller = FromProto(e.caller());
    p.envelope.argument.type_name = e.argument().typename_();
    p.envelope.argument.has_value = e.argument().has_value();
    p.envelope.argument.value = e.argument().value();
    p.in_flight = e.in_flight();
    s.pending.push_back(std::move(p));
  }
  for (const pb::SnapshotIngressPosition& p : m.ingress_positions()) {
    s.ingress_positions.push_back(
        IngressPosition{p.ingress_id(), p.topic(), p.partition(), p.next_offset()});
  }
  for (const auto& [id, bytes] : m.sealed_egresses()) s.sealed_egresses.emplace(id, bytes);
  for (const auto& [k, v] : m.metadata()) s.metadata.emplace(k, v);
  for (const pb::SnapshotDbFile& f : m.db_files()) {
    s.db_files.push_back(CheckpointFile{f.key(), f.local_name(), f.size(), f.sha256()});
  }
  Status valid = CheckSnapshot(s);
  if (!valid.ok()) return InvalidArgument("malformed worker snapshot: " + valid.message());
  return s;
}

std::string WorkerSnapshotKey(std::string_view prefix, uint64_t checkpoint_id,
                              std::string_view worker) {
  return CheckpointFolder(prefix, checkpoint_id, worker) + "snapshot.pb";
}

}  // namespace eddy::checkpoint
