#include "storage/s3_store.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "storage/key_rules.h"
#include "storage/local_store.h"
#include "storage/xml.h"

namespace eddy::storage {
namespace {

constexpr int64_t kMaxParts = 10000;
constexpr std::chrono::milliseconds kMaxBackoff{5000};
constexpr int kMaxListPages = 1000000;
const std::string kEmptySha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

using Params = std::vector<std::pair<std::string, std::string>>;

struct S3Error {
  std::string code;
  std::string message;
};

// Code and Message of an S3 <Error> body; for a body that is not one, a printable excerpt.
S3Error ParseError(const std::string& body) {
  S3Error e;
  auto xml = ParseXml(body);
  if (xml.ok() && xml->name == "Error") {
    if (auto* c = xml->ChildText("Code")) e.code = *c;
    if (auto* m = xml->ChildText("Message")) e.message = *m;
    return e;
  }
  for (char c : body.substr(0, 200)) e.message.push_back(c >= 0x20 && c < 0x7f ? c : ' ');
  return e;
}

std::string DescribeHttp(long status, const S3Error& e) {
  std::string out = "HTTP " + std::to_string(status);
  if (!e.code.empty()) out += " " + e.code;
  if (!e.message.empty()) out += ": " + e.message;
  return out;
}

Result<int64_t> ParseSize(const std::string& s) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || v < 0) {
    return InvalidArgument("bad object size '" + s + "'");
  }
  return v;
}

struct ExecOptions {
  // Called before every attempt (a retried download empties its file first).
  std::function<Status()> before_attempt;
  // S3 may answer CompleteMultipartUpload with 200 and an <Error> body: retry those.
  bool error_body_on_200 = false;
};

class S3Store final : public ObjectStore {
 public:
  explicit S3Store(S3Settings s) : s_(std::move(s)) {}

  Status Put(const std::string& key, std::string_view data) override {
    EDDY_RETURN_IF_ERROR(ValidateKey(key));
    std::string sha = Sha256Hex(data);
    auto r = Execute("PUT " + key, [&] {
      HttpRequest req = Request("PUT", ObjectUrl(key, {}));
      req.body = data;
      req.payload_sha256 = sha;
      return req;
    });
    return Expect2xx("PUT " + key, r);
  }

  Status PutFile(const std::string& key, const std::string& local_path) override {
    EDDY_RETURN_IF_ERROR(ValidateKey(key));
    int fd = ::open(local_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) return NotFound("local file not found: " + local_path);
      return Internal("cannot open " + local_path + ": " + std::strerror(errno));
    }
    struct stat st {};
    Status result;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      result = NotFound("not a regular file: " + local_path);
    } else if (st.st_size > s_.multipart_threshold) {
      result = MultipartUpload(key, fd, st.st_size);
    } else {
      result = PutRange(key, fd, 0, st.st_size, {});
    }
    ::close(fd);
    return result;
  }

  Result<std::string> Get(const std::string& key) override {
    EDDY_RETURN_IF_ERROR(ValidateKey(key));
    auto r = Execute("GET " + key, [&] { return Request("GET", ObjectUrl(key, {})); });
    EDDY_RETURN_IF_ERROR(Expect2xx("GET " + key, r));
    return std::move(r->body);
  }

  Status GetFile(const std::string& key, const std::string& local_path) override {
    EDDY_RETURN_IF_ERROR(ValidateKey(key));
    AtomicFileWriter writer;
    auto fd = writer.Open(local_path);
    if (!fd.ok()) return fd.status();
    ExecOptions opts;
    opts.before_attempt = [&] { return writer.Truncate(); };
    auto r = Execute(
        "GET " + key,
        [&] {
          HttpRequest req = Request("GET", ObjectUrl(key, {}));
          req.response_fd = *fd;
          return req;
        },
        opts);
    EDDY_RETURN_IF_ERROR(Expect2xx("GET " + key, r));
    return writer.Commit();
  }

  Result<std::vector<ObjectInfo>> List(const std::string& prefix) override {
    EDDY_RETURN_IF_ERROR(ValidateListPrefix(prefix));
    std::string full_prefix = s_.prefix + prefix;
    std::vector<ObjectInfo> out;
    std::string token;
    for (int page = 0; page < kMaxListPages; ++page) {
      Params params = {{"list-type", "2"}, {"max-keys", std::to_string(s_.list_page_size)}};
      if (!full_prefix.empty()) params.emplace_back("prefix", full_prefix);
      if (!token.empty()) params.emplace_back("continuation-token", token);
      std::string what = "LIST " + (prefix.empty() ? "(all)" : prefix);
      auto r = Execute(what, [&] { return Request("GET", BucketUrl(params)); });
      EDDY_RETURN_IF_ERROR(Expect2xx(what, r));
      auto parsed = ParseListObjectsV2(r->body);
      if (!parsed.ok()) {
        return Internal("malformed ListObjectsV2 response from " + s_.endpoint + ": " +
                        parsed.status().message());
      }
      for (auto& o : parsed->objects) {
        if (!o.key.starts_with(full_prefix)) {
          return Internal("ListObjectsV2 returned key '" + o.key + "' outside prefix '" +
                          full_prefix + "'");
        }
        out.push_back({o.key.substr(s_.prefix.size()), o.size});
      }
      if (!parsed->truncated) {
        std::sort(out.begin(), out.end(),
                  [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
        return out;
      }
      if (parsed->next_token.empty() || parsed->next_token == token) {
        return Internal("ListObjectsV2 response is truncated but has no new continuation token");
      }
      token = std::move(parsed->next_token);
    }
    return Internal("ListObjectsV2 did not finish after " + std::to_string(kMaxListPages) +
                    " pages");
  }

  Status Delete(const std::string& key) override {
    EDDY_RETURN_IF_ERROR(ValidateKey(key));
    auto r = Execute("DELETE " + key, [&] { return Request("DELETE", ObjectUrl(key, {})); });
    Status st = Expect2xx("DELETE " + key, r);
    if (st.code() == StatusCode::kNotFound) return Status::Ok();
    return st;
  }

  std::string Describe() const override {
    return "s3://" + s_.bucket + "/" + s_.prefix + " at " + s_.endpoint + " (region " +
           s_.creds.region + ")";
  }

 private:
  HttpRequest Request(const std::string& method, std::string url) const {
    HttpRequest req;
    req.method = method;
    req.url = std::move(url);
    req.payload_sha256 = kEmptySha256;
    req.timeout = s_.request_timeout;
    return req;
  }

  // Sorted by name, as curl 7.88 signs the query exactly as written; "uploads=" keeps its '='.
  std::string Query(Params params) const {
    if (params.empty()) return "";
    std::sort(params.begin(), params.end());
    std::string q = "?";
    bool keep_slash = keep_slash_in_query_.load();
    for (const auto& [k, v] : params) {
      if (q.size() > 1) q += '&';
      q += k + "=" + EncodeQueryValue(v, keep_slash);
    }
    return q;
  }

  std::string BucketUrl(const Params& params) const {
    if (s_.path_style) return s_.endpoint + "/" + s_.bucket + Query(params);
    return VirtualHost() + "/" + Query(params);
  }

  // Keys only use characters that need no encoding in a path (ValidateKey).
  std::string ObjectUrl(const std::string& key, const Params& params) const {
    if (s_.path_style) return s_.endpoint + "/" + s_.bucket + "/" + s_.prefix + key + Query(params);
    return VirtualHost() + "/" + s_.prefix + key + Query(params);
  }

  std::string VirtualHost() const {
    size_t scheme_end = s_.endpoint.find("://") + 3;
    return s_.endpoint.substr(0, scheme_end) + s_.bucket + "." + s_.endpoint.substr(scheme_end);
  }

  std::chrono::milliseconds Backoff(int attempt) const {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    auto base = s_.retry_base_delay.count();
    int64_t delay = base;
    for (int i = 1; i < attempt && delay < kMaxBackoff.count(); ++i) delay *= 2;
    delay = std::min<int64_t>(delay, kMaxBackoff.count());
    // Jitter in [delay/2, delay]: spreads the retries of parallel uploads.
    std::uniform_int_distribution<int64_t> dist(delay / 2, delay);
    return std::chrono::milliseconds(dist(rng));
  }

  // Runs a request with retries. Returns the response of the last attempt when it completed with
  // a non-retryable status (2xx, 3xx, 4xx other than 429); an error Status when the transport
  // failed for good or every attempt failed transiently (Unavailable).
  Result<HttpResponse> Execute(const std::string& what, const std::function<HttpRequest()>& build,
                               const ExecOptions& opts = {}) {
    std::string last_error;
    bool slash_fallback_tried = false;
    for (int attempt = 1; attempt <= s_.max_attempts; ++attempt) {
      if (opts.before_attempt) EDDY_RETURN_IF_ERROR(opts.before_attempt());
      HttpRequest req = build();
      HttpResponse r = PerformHttp(req, s_.creds);
      if (!r.local_error.ok()) return r.local_error;
      if (!r.completed) {
        if (!r.transient_transport_error) {
          return Unavailable(what + " to " + s_.endpoint + " failed: " + r.transport_error);
        }
        last_error = r.transport_error;
      } else if (r.status >= 500 || r.status == 429) {
        last_error = DescribeHttp(r.status, ParseError(r.body));
      } else if (opts.error_body_on_200 && r.status == 200 && ParseError(r.body).code.size()) {
        last_error = "HTTP 200 with " + DescribeHttp(r.status, ParseError(r.body));
      } else if (r.status == 403 && !slash_fallback_tried && !keep_slash_in_query_.load() &&
                 req.url.find("%2F") != std::string::npos &&
                 ParseError(r.body).code == "SignatureDoesNotMatch") {
        // AWS wants '/' in query values encoded as %2F (and curl 7.88 signs the query as
        // written), but moto 5 verifies against the decoded query. Try once more with '/' kept,
        // without using up an attempt; if the signature is then accepted, the store keeps it.
        slash_fallback_tried = true;
        keep_slash_in_query_.store(true);
        --attempt;
        continue;
      } else if (slash_fallback_tried && r.status == 403 &&
                 ParseError(r.body).code == "SignatureDoesNotMatch") {
        keep_slash_in_query_.store(false);  // not the cause: the credentials are wrong
        return r;
      } else {
        if (slash_fallback_tried && !logged_slash_.exchange(true)) {
          spdlog::debug("storage: {} signs query strings with '/' unencoded (moto-style)",
                        s_.endpoint);
        }
        return r;
      }
      if (attempt < s_.max_attempts) std::this_thread::sleep_for(Backoff(attempt));
    }
    return Unavailable(what + " to " + s_.endpoint + " failed after " +
                       std::to_string(s_.max_attempts) + " attempts: " + last_error);
  }

  // Turns a non-2xx response into a Status that says what to check.
  Status Expect2xx(const std::string& what, const Result<HttpResponse>& r) const {
    if (!r.ok()) return r.status();
    long status = r->status;
    if (status >= 200 && status < 300) return Status::Ok();
    S3Error e = ParseError(r->body);
    std::string detail = DescribeHttp(status, e);
    if (e.code == "NoSuchBucket") {
      return FailedPrecondition(what + ": bucket '" + s_.bucket + "' does not exist at " +
                                s_.endpoint + " (" + detail + ")");
    }
    if (status == 404)
      return NotFound(what + ": no such object in " + Describe() + " (" + detail + ")");
    if (status == 403) {
      return FailedPrecondition(what + ": access denied by " + s_.endpoint + " (" + detail +
                                "): check credentials (access key id, secret access key, "
                                "session token) and the bucket policy");
    }
    if ((status >= 300 && status < 400) || e.code == "AuthorizationHeaderMalformed" ||
        e.code == "PermanentRedirect") {
      return FailedPrecondition(what + ": " + detail + ": check the region ('" + s_.creds.region +
                                "') and the endpoint (" + s_.endpoint + ")");
    }
    if (status == 400) return InvalidArgument(what + " rejected by " + s_.endpoint + ": " + detail);
    return FailedPrecondition(what + " failed at " + s_.endpoint + ": " + detail);
  }

  // Single PUT of a file range (a whole small file, or one part of a multipart upload).
  Status PutRange(const std::string& key, int fd, int64_t offset, int64_t length,
                  const Params& params, std::string* etag = nullptr) {
    auto sha = Sha256HexOfFileRange(fd, offset, length);
    if (!sha.ok()) return sha.status();
    std::string what = "PUT " + key + (params.empty() ? "" : " part " + params[0].second);
    auto r = Execute(what, [&] {
      HttpRequest req = Request("PUT", ObjectUrl(key, params));
      req.body_fd = fd;
      req.body_offset = offset;
      req.body_length = length;
      req.payload_sha256 = *sha;
      return req;
    });
    EDDY_RETURN_IF_ERROR(Expect2xx(what, r));
    if (etag) {
      if (r->etag.empty()) return Internal(what + ": the response has no ETag header");
      *etag = r->etag;
    }
    return Status::Ok();
  }

  Status MultipartUpload(const std::string& key, int fd, int64_t size) {
    // S3 allows 10,000 parts: grow the part size for huge files rather than fail.
    int64_t part_size = std::max(s_.part_size, (size + kMaxParts - 1) / kMaxParts);
    auto created = Execute("CreateMultipartUpload " + key, [&] {
      return Request("POST", ObjectUrl(key, {{"uploads", ""}}));
    });
    EDDY_RETURN_IF_ERROR(Expect2xx("CreateMultipartUpload " + key, created));
    auto xml = ParseXml(created->body);
    const std::string* upload_id = xml.ok() ? xml->ChildText("UploadId") : nullptr;
    if (!xml.ok() || xml->name != "InitiateMultipartUploadResult" || !upload_id ||
        upload_id->empty()) {
      return Internal("CreateMultipartUpload " + key + ": malformed response from " + s_.endpoint +
                      (xml.ok() ? ": no UploadId" : ": " + xml.status().message()));
    }
    Status st = UploadPartsAndComplete(key, fd, size, part_size, *upload_id);
    if (!st.ok()) {
      // Aborting frees the parts; nothing ever becomes visible at the key.
      auto aborted = Execute("AbortMultipartUpload " + key, [&] {
        return Request("DELETE", ObjectUrl(key, {{"uploadId", *upload_id}}));
      });
      Status abort_st = Expect2xx("AbortMultipartUpload " + key, aborted);
      if (!abort_st.ok() && abort_st.code() != StatusCode::kNotFound) {
        spdlog::warn("storage: could not abort multipart upload {} of {}: {}", *upload_id, key,
                     abort_st.ToString());
      }
    }
    return st;
  }

  Status UploadPartsAndComplete(const std::string& key, int fd, int64_t size, int64_t part_size,
                                const std::string& upload_id) {
    std::string complete = "<CompleteMultipartUpload>";
    int64_t part = 1;
    for (int64_t offset = 0; offset < size; offset += part_size, ++part) {
      int64_t len = std::min(part_size, size - offset);
      std::string etag;
      EDDY_RETURN_IF_ERROR(PutRange(key, fd, offset, len,
                                    {{"partNumber", std::to_string(part)}, {"uploadId", upload_id}},
                                    &etag));
      complete += "<Part><PartNumber>" + std::to_string(part) + "</PartNumber><ETag>" +
                  XmlEscape(etag) + "</ETag></Part>";
    }
    complete += "</CompleteMultipartUpload>";
    std::string sha = Sha256Hex(complete);
    ExecOptions opts;
    opts.error_body_on_200 = true;
    std::string what = "CompleteMultipartUpload " + key;
    auto r = Execute(
        what,
        [&] {
          HttpRequest req = Request("POST", ObjectUrl(key, {{"uploadId", upload_id}}));
          req.content_type = "application/xml";
          req.body = complete;
          req.payload_sha256 = sha;
          return req;
        },
        opts);
    EDDY_RETURN_IF_ERROR(Expect2xx(what, r));
    // S3 answers <CompleteMultipartUploadResult>, moto <CompleteMultipartUploadResponse>; an
    // <Error> inside a 200 was retried by Execute. Anything not well formed is a failure.
    auto xml = ParseXml(r->body);
    if (!xml.ok() || !xml->name.starts_with("CompleteMultipartUpload")) {
      return Internal(what + ": malformed response from " + s_.endpoint + ": " +
                      (xml.ok() ? "<" + xml->name + ">" : xml.status().message()));
    }
    return Status::Ok();
  }

  const S3Settings s_;
  // See Execute: whether this endpoint signs query values with '/' unencoded.
  mutable std::atomic<bool> keep_slash_in_query_{false};
  std::atomic<bool> logged_slash_{false};
};

}  // namespace

std::string EncodeQueryValue(std::string_view value, bool keep_slash) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (char ch : value) {
    auto c = static_cast<unsigned char>(ch);
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/');
    if (unreserved) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

Result<ListPage> ParseListObjectsV2(std::string_view body) {
  auto xml = ParseXml(body);
  if (!xml.ok()) return xml.status();
  if (xml->name != "ListBucketResult") {
    return InvalidArgument("expected <ListBucketResult>, got <" + xml->name + ">");
  }
  ListPage page;
  const std::string* truncated = xml->ChildText("IsTruncated");
  if (!truncated || (*truncated != "true" && *truncated != "false")) {
    return InvalidArgument("missing or bad <IsTruncated>");
  }
  page.truncated = *truncated == "true";
  if (const std::string* token = xml->ChildText("NextContinuationToken")) page.next_token = *token;
  for (const auto& child : xml->children) {
    if (child.name != "Contents") continue;
    const std::string* key = child.ChildText("Key");
    const std::string* size = child.ChildText("Size");
    if (!key || key->empty()) return InvalidArgument("<Contents> without <Key>");
    if (!size) return InvalidArgument("<Contents> for '" + *key + "' without <Size>");
    auto n = ParseSize(*size);
    if (!n.ok()) return n.status();
    page.objects.push_back({*key, *n});
  }
  return page;
}

ObjectStorePtr MakeS3Store(S3Settings settings) {
  EnsureCurlInitialized();
  return std::make_unique<S3Store>(std::move(settings));
}

}  // namespace eddy::storage
