// OpenObjectStore: URI and settings validation, environment fallbacks, backend choice.
#include "eddy/storage/object_store.h"

#include <cstdlib>

#include "storage/key_rules.h"
#include "storage/local_store.h"
#include "storage/s3_store.h"

namespace eddy::storage {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

// "http(s)://host[:port]" with at most a trailing '/'; InvalidArgument otherwise.
Result<std::string> NormalizeEndpoint(std::string endpoint) {
  auto bad = [&](const std::string& why) {
    return InvalidArgument("storage endpoint '" + endpoint + "': " + why);
  };
  size_t scheme_end = endpoint.find("://");
  if (scheme_end == std::string::npos || (endpoint.compare(0, scheme_end, "http") != 0 &&
                                          endpoint.compare(0, scheme_end, "https") != 0)) {
    return bad("expected http://host[:port] or https://host[:port]");
  }
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  std::string host = endpoint.substr(scheme_end + 3);
  if (host.empty()) return bad("no host");
  if (host.find_first_of("/?#@ ") != std::string::npos) {
    return bad("only scheme, host and port are allowed (no path, query or user)");
  }
  return endpoint;
}

Result<S3Settings> ResolveS3(const StorageConfig& c, const ParsedUri& uri) {
  S3Settings s;
  s.bucket = uri.bucket;
  s.prefix = uri.prefix;
  s.path_style = c.path_style;

  s.creds.region = c.region;
  if (s.creds.region.empty()) s.creds.region = Env("AWS_REGION");
  if (s.creds.region.empty()) s.creds.region = Env("AWS_DEFAULT_REGION");
  if (s.creds.region.empty()) s.creds.region = "us-east-1";
  for (char ch : s.creds.region) {
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-')) {
      return InvalidArgument("storage region '" + s.creds.region + "' is invalid");
    }
  }

  if (c.access_key_id.empty() && c.secret_access_key.empty()) {
    s.creds.access_key_id = Env("AWS_ACCESS_KEY_ID");
    s.creds.secret_access_key = Env("AWS_SECRET_ACCESS_KEY");
    s.creds.session_token = c.session_token.empty() ? Env("AWS_SESSION_TOKEN") : c.session_token;
  } else {
    s.creds.access_key_id = c.access_key_id;
    s.creds.secret_access_key = c.secret_access_key;
    s.creds.session_token = c.session_token;
  }
  if (s.creds.access_key_id.empty() || s.creds.secret_access_key.empty()) {
    return InvalidArgument(
        "storage uri '" + c.uri +
        "': S3 needs both an access key id and a secret access key (set them in the storage "
        "config or in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)");
  }
  // curl takes user:password style credentials; a ':' in the key id would split them wrongly.
  if (s.creds.access_key_id.find(':') != std::string::npos) {
    return InvalidArgument("storage access key id must not contain ':'");
  }

  std::string endpoint = c.endpoint.empty() ? Env("AWS_ENDPOINT_URL") : c.endpoint;
  if (endpoint.empty()) endpoint = "https://s3." + s.creds.region + ".amazonaws.com";
  auto normalized = NormalizeEndpoint(endpoint);
  if (!normalized.ok()) return normalized.status();
  s.endpoint = *normalized;

  if (c.max_attempts < 1) return InvalidArgument("storage max_attempts must be >= 1");
  if (c.request_timeout.count() <= 0) return InvalidArgument("storage request_timeout must be > 0");
  if (c.retry_base_delay.count() < 0)
    return InvalidArgument("storage retry_base_delay must be >= 0");
  if (c.part_size < (int64_t{5} << 20) || c.part_size > (int64_t{5} << 30)) {
    return InvalidArgument("storage part_size must be between 5 MiB and 5 GiB (S3 limits)");
  }
  if (c.multipart_threshold < 1) return InvalidArgument("storage multipart_threshold must be > 0");
  if (c.list_page_size < 1 || c.list_page_size > 1000) {
    return InvalidArgument("storage list_page_size must be between 1 and 1000");
  }
  s.max_attempts = c.max_attempts;
  s.request_timeout = c.request_timeout;
  s.retry_base_delay = c.retry_base_delay;
  s.multipart_threshold = c.multipart_threshold;
  s.part_size = c.part_size;
  s.list_page_size = c.list_page_size;
  return s;
}

}  // namespace

const char* StoreOpName(StoreOp op) {
  switch (op) {
    case StoreOp::kPut:
      return "Put";
    case StoreOp::kPutFile:
      return "PutFile";
    case StoreOp::kGet:
      return "Get";
    case StoreOp::kGetFile:
      return "GetFile";
    case StoreOp::kList:
      return "List";
    case StoreOp::kDelete:
      return "Delete";
  }
  return "?";
}

Result<ObjectStorePtr> OpenObjectStore(const StorageConfig& config) {
  auto uri = ParseStorageUri(config.uri);
  if (!uri.ok()) return uri.status();
  if (uri->scheme == ParsedUri::Scheme::kFile) return OpenLocalStore(uri->path);
  auto settings = ResolveS3(config, *uri);
  if (!settings.ok()) return settings.status();
  return MakeS3Store(std::move(settings).value());
}

}  // namespace eddy::storage
