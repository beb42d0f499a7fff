#include "io/kafka/eos/eos_codec.h"

#include <cstring>
#include <limits>

namespace eddy::eos {

namespace {

constexpr std::string_view kSealedMagic = "EDEL";  // Eddy Egress Log
constexpr std::string_view kMarkerMagic = "EDMK";  // Eddy commit MarKer

// Smallest encodings, used to refuse counts that cannot fit in the bytes left (so a corrupt
// count never makes us reserve gigabytes).
constexpr size_t kMinRecordBytes = 4 * 4;  // topic, key, value lengths + header count
constexpr size_t kMinHeaderBytes = 2 * 4;
constexpr size_t kMinEpochBytes = 8 + 4;

class Writer {
 public:
  void Bytes(std::string_view s) { out_.append(s); }
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  }
  void U64(uint64_t v) {
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  }
  void Str(std::string_view s) {
    // Callers bound sizes well below 4 GiB (Append checks each field); a longer string would be
    // a bug, not input.
    EDDY_CHECK(s.size() <= std::numeric_limits<uint32_t>::max());
    U32(static_cast<uint32_t>(s.size()));
    out_.append(s);
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  Reader(std::string_view in, std::string what) : in_(in), what_(std::move(what)) {}

  size_t left() const { return in_.size() - pos_; }
  Status Error(const std::string& why) const {
    return DataLoss(what_ + ": " + why + " at byte " + std::to_string(pos_));
  }
  Status Magic(std::string_view magic) {
    if (left() < magic.size() || in_.substr(pos_, magic.size()) != magic) {
      return Error("bad magic (not " + what_ + ")");
    }
    pos_ += magic.size();
    return Status::Ok();
  }
  Status U8(uint8_t* v) {
    if (left() < 1) return Error("truncated");
    *v = static_cast<uint8_t>(in_[pos_++]);
    return Status::Ok();
  }
  Status U32(uint32_t* v) {
    if (left() < 4) return Error("truncated");
    uint32_t r = 0;
    for (int i = 0; i < 4; ++i) r |= uint32_t{static_cast<uint8_t>(in_[pos_ + i])} << (8 * i);
    pos_ += 4;
    *v = r;
    return Status::Ok();
  }
  Status U64(uint64_t* v) {
    if (left() < 8) return Error("truncated");
    uint64_t r = 0;
    for (int i = 0; i < 8; ++i) r |= uint64_t{static_cast<uint8_t>(in_[pos_ + i])} << (8 * i);
    pos_ += 8;
    *v = r;
    return Status::Ok();
  }
  Status Str(std::string* s) {
    uint32_t n = 0;
    EDDY_RETURN_IF_ERROR(U32(&n));
    if (n > left()) return Error("string length " + std::to_string(n) + " beyond the end");
    s->assign(in_.substr(pos_, n));
    pos_ += n;
    return Status::Ok();
  }
  // Reads a count of items that each take at least `min_bytes`.
  Status Count(uint32_t* n, size_t min_bytes, const char* what) {
    EDDY_RETURN_IF_ERROR(U32(n));
    if (static_cast<uint64_t>(*n) * min_bytes > left()) {
      return Error(std::string(what) + " count " + std::to_string(*n) + " cannot fit");
    }
    return Status::Ok();
  }
  Status End() const {
    if (left() != 0) return Error(std::to_string(left()) + " trailing bytes");
    return Status::Ok();
  }

 private:
  std::string_view in_;
  std::string what_;
  size_t pos_ = 0;
};

void WriteRecord(Writer& w, const EgressRecord& r) {
  w.Str(r.topic);
  w.Str(r.key);
  w.Str(r.value);
  w.U32(static_cast<uint32_t>(r.headers.size()));
  for (const auto& [name, value] : r.headers) {
    w.Str(name);
    w.Str(value);
  }
}

Status ReadRecord(Reader& rd, EgressRecord* r) {
  EDDY_RETURN_IF_ERROR(rd.Str(&r->topic));
  if (r->topic.empty()) return rd.Error("record without topic");
  EDDY_RETURN_IF_ERROR(rd.Str(&r->key));
  EDDY_RETURN_IF_ERROR(rd.Str(&r->value));
  uint32_t headers = 0;
  EDDY_RETURN_IF_ERROR(rd.Count(&headers, kMinHeaderBytes, "header"));
  r->headers.resize(headers);
  for (auto& [name, value] : r->headers) {
    EDDY_RETURN_IF_ERROR(rd.Str(&name));
    EDDY_RETURN_IF_ERROR(rd.Str(&value));
  }
  return Status::Ok();
}

Status Version(Reader& rd, uint8_t expected) {
  uint8_t version = 0;
  EDDY_RETURN_IF_ERROR(rd.U8(&version));
  if (version != expected) {
    return rd.Error("unsupported version " + std::to_string(version) + " (this build reads " +
                    std::to_string(expected) + ")");
  }
  return Status::Ok();
}

}  // namespace

std::string EncodeSealedLog(std::string_view run_id, uint64_t checkpoint_id,
                            const std::vector<std::shared_ptr<const SealedEpoch>>& epochs) {
  Writer w;
  w.Bytes(kSealedMagic);
  w.U8(kSealedLogVersion);
  w.Str(run_id);
  w.U64(checkpoint_id);
  w.U32(static_cast<uint32_t>(epochs.size()));
  for (const auto& e : epochs) {
    w.U64(e->epoch);
    w.U32(static_cast<uint32_t>(e->records.size()));
    for (const EgressRecord& r : e->records) WriteRecord(w, r);
  }
  return w.Take();
}

Result<SealedLog> DecodeSealedLog(std::string_view bytes) {
  Reader rd(bytes, "sealed egress log");
  SealedLog log;
  EDDY_RETURN_IF_ERROR(rd.Magic(kSealedMagic));
  EDDY_RETURN_IF_ERROR(Version(rd, kSealedLogVersion));
  EDDY_RETURN_IF_ERROR(rd.Str(&log.run_id));
  if (log.run_id.empty()) return rd.Error("empty run id");
  EDDY_RETURN_IF_ERROR(rd.U64(&log.checkpoint_id));
  uint32_t epochs = 0;
  EDDY_RETURN_IF_ERROR(rd.Count(&epochs, kMinEpochBytes, "epoch"));
  log.epochs.resize(epochs);
  uint64_t previous = 0;
  for (uint32_t i = 0; i < epochs; ++i) {
    SealedEpoch& e = log.epochs[i];
    EDDY_RETURN_IF_ERROR(rd.U64(&e.epoch));
    if (e.epoch == 0 || e.epoch <= previous || e.epoch > log.checkpoint_id) {
      return rd.Error("epoch " + std::to_string(e.epoch) + " out of order (previous " +
                      std::to_string(previous) + ", checkpoint " +
                      std::to_string(log.checkpoint_id) + ")");
    }
    previous = e.epoch;
    uint32_t records = 0;
    EDDY_RETURN_IF_ERROR(rd.Count(&records, kMinRecordBytes, "record"));
    e.records.resize(records);
    for (EgressRecord& r : e.records) EDDY_RETURN_IF_ERROR(ReadRecord(rd, &r));
  }
  EDDY_RETURN_IF_ERROR(rd.End());
  return log;
}

std::string EncodeMarker(const CommitMarker& m) {
  Writer w;
  w.Bytes(kMarkerMagic);
  w.U8(kMarkerVersion);
  w.Str(m.transactional_id);
  w.Str(m.run_id);
  w.Str(m.job);
  w.Str(m.worker);
  w.Str(m.egress_id);
  w.U64(m.epoch);
  return w.Take();
}

Result<CommitMarker> DecodeMarker(std::string_view bytes) {
  Reader rd(bytes, "egress commit marker");
  CommitMarker m;
  EDDY_RETURN_IF_ERROR(rd.Magic(kMarkerMagic));
  EDDY_RETURN_IF_ERROR(Version(rd, kMarkerVersion));
  EDDY_RETURN_IF_ERROR(rd.Str(&m.transactional_id));
  EDDY_RETURN_IF_ERROR(rd.Str(&m.run_id));
  EDDY_RETURN_IF_ERROR(rd.Str(&m.job));
  EDDY_RETURN_IF_ERROR(rd.Str(&m.worker));
  EDDY_RETURN_IF_ERROR(rd.Str(&m.egress_id));
  EDDY_RETURN_IF_ERROR(rd.U64(&m.epoch));
  EDDY_RETURN_IF_ERROR(rd.End());
  return m;
}

size_t RecordBytes(const EgressRecord& r) {
  size_t n = 32 + r.topic.size() + r.key.size() + r.value.size();
  for (const auto& [name, value] : r.headers) n += 16 + name.size() + value.size();
  return n;
}

}  // namespace eddy::eos
