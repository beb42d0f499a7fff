#pragma once
// The S3 backend (s3://bucket/prefix): REST calls signed by libcurl's SigV4.

#include <chrono>
#include <cstdint>
#include <string>

#include "eddy/storage/object_store.h"
#include "storage/http_client.h"

namespace eddy::storage {

// Fully resolved settings (environment fallbacks already applied by OpenObjectStore).
struct S3Settings {
  std::string endpoint;  // "http://127.0.0.1:9000", no trailing '/'
  std::string bucket;
  std::string prefix;  // "" or "a/b/"
  bool path_style = true;
  SigV4Credentials creds;
  int max_attempts = 5;
  std::chrono::milliseconds request_timeout{30000};
  std::chrono::milliseconds retry_base_delay{100};
  int64_t multipart_threshold = int64_t{16} << 20;
  int64_t part_size = int64_t{8} << 20;
  int list_page_size = 1000;
};

ObjectStorePtr MakeS3Store(S3Settings settings);

// One page of a ListObjectsV2 response. Exposed for tests of the parser.
struct ListPage {
  std::vector<ObjectInfo> objects;  // keys as S3 returned them (with the store's prefix)
  bool truncated = false;
  std::string next_token;
};
// InvalidArgument for a body that is not a well-formed ListBucketResult.
Result<ListPage> ParseListObjectsV2(std::string_view body);

// Percent-encodes a query value (RFC 3986 unreserved characters stay), '/' too unless keep_slash.
std::string EncodeQueryValue(std::string_view value, bool keep_slash);

}  // namespace eddy::storage
