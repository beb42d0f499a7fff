#pragma once
// One signed HTTP exchange with an S3 endpoint through libcurl, whose built-in SigV4
// (CURLOPT_AWS_SIGV4) signs the request; this file never computes a signature itself. No
// retries here: s3_store.cc decides what to retry. libcurl stays out of this header.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/common/sha256.h"
#include "eddy/common/status.h"

namespace eddy::storage {

struct SigV4Credentials {
  std::string region;
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // sent as x-amz-security-token when set
};

struct HttpRequest {
  std::string method;  // GET, PUT, POST, DELETE
  std::string url;     // already encoded, query parameters sorted
  std::string content_type = "application/octet-stream";
  // Body: in memory (body), or a range of an open file (body_fd >= 0). Empty for GET/DELETE.
  std::string_view body;
  int body_fd = -1;
  int64_t body_offset = 0;
  int64_t body_length = 0;
  // Hex SHA-256 of the body (x-amz-content-sha256, signed by curl).
  std::string payload_sha256;
  // When >= 0, a 2xx response body is written to this fd instead of HttpResponse::body.
  int response_fd = -1;
  std::chrono::milliseconds timeout{30000};
};

struct HttpResponse {
  // Transport outcome: true when an HTTP status was received completely.
  bool completed = false;
  bool transient_transport_error = false;  // connect/timeout/reset: worth retrying
  std::string transport_error;             // curl's message when !completed
  Status local_error;                      // our own file read/write failed (not retryable)
  long status = 0;
  std::string body;  // 2xx body (unless response_fd), or the error body (first 1 MiB)
  std::string etag;  // ETag header, quotes kept
};

// Calls curl_global_init once per process (thread-safe).
void EnsureCurlInitialized();

HttpResponse PerformHttp(const HttpRequest& request, const SigV4Credentials& creds);

// Lower-case hex SHA-256 (OpenSSL EVP).
using ::eddy::Sha256Hex;             // eddy/common/sha256.h
using ::eddy::Sha256HexOfFileRange;

}  // namespace eddy::storage
