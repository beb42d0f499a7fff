#include "storage/http_client.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

namespace eddy::storage {
namespace {

constexpr size_t kMaxErrorBody = 1 << 20;

// One easy handle per thread, reset before each request: keeps the connection and DNS caches
// between requests of an upload thread without sharing a handle between threads.
struct ThreadHandle {
  CURL* curl = nullptr;
  ~ThreadHandle() {
    if (curl) curl_easy_cleanup(curl);
  }
};

CURL* ThreadCurl() {
  thread_local ThreadHandle handle;
  if (!handle.curl) {
    handle.curl = curl_easy_init();
  } else {
    curl_easy_reset(handle.curl);
  }
  return handle.curl;
}

struct Transfer {
  const HttpRequest* req;
  CURL* curl;
  int64_t sent = 0;  // bytes of the body handed to curl
  HttpResponse* resp;
};

size_t ReadBody(char* buf, size_t size, size_t nitems, void* userdata) {
  auto* t = static_cast<Transfer*>(userdata);
  const HttpRequest& req = *t->req;
  int64_t total = req.body_fd >= 0 ? req.body_length : static_cast<int64_t>(req.body.size());
  size_t want = std::min<int64_t>(static_cast<int64_t>(size * nitems), total - t->sent);
  if (want == 0) return 0;
  if (req.body_fd < 0) {
    std::memcpy(buf, req.body.data() + t->sent, want);
    t->sent += static_cast<int64_t>(want);
    return want;
  }
  for (;;) {
    ssize_t n = ::pread(req.body_fd, buf, want, req.body_offset + t->sent);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // The file shrank or failed under us: the signed hash no longer matches anything.
      t->resp->local_error =
          Internal(n < 0 ? std::string("cannot read the file to upload: ") + std::strerror(errno)
                         : std::string("the file to upload shrank while uploading"));
      return CURL_READFUNC_ABORT;
    }
    t->sent += n;
    return static_cast<size_t>(n);
  }
}

int SeekBody(void* userdata, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(userdata);
  if (origin != SEEK_SET) return CURL_SEEKFUNC_CANTSEEK;
  t->sent = offset;
  return CURL_SEEKFUNC_OK;
}

size_t WriteResponse(char* data, size_t size, size_t nmemb, void* userdata) {
  auto* t = static_cast<Transfer*>(userdata);
  size_t n = size * nmemb;
  long code = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &code);
  bool success = code >= 200 && code < 300;
  if (success && t->req->response_fd >= 0) {
    size_t done = 0;
    while (done < n) {
      ssize_t w = ::write(t->req->response_fd, data + done, n - done);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        t->resp->local_error =
            Internal(std::string("cannot write the downloaded file: ") + std::strerror(errno));
        return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
      }
      done += static_cast<size_t>(w);
    }
    return n;
  }
  if (!success && t->resp->body.size() >= kMaxErrorBody) return n;  // keep the head only
  t->resp->body.append(data, n);
  return n;
}

size_t ReadHeader(char* data, size_t size, size_t nitems, void* userdata) {
  auto* t = static_cast<Transfer*>(userdata);
  size_t n = size * nitems;
  std::string_view line(data, n);
  constexpr std::string_view kEtag = "etag:";
  if (line.size() > kEtag.size() &&
      std::equal(kEtag.begin(), kEtag.end(), line.begin(),
                 [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); })) {
    std::string_view v = line.substr(kEtag.size());
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ')) {
      v.remove_suffix(1);
    }
    t->resp->etag = std::string(v);
  }
  return n;
}

bool IsTransient(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

void EnsureCurlInitialized() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

HttpResponse PerformHttp(const HttpRequest& req, const SigV4Credentials& creds) {
  EnsureCurlInitialized();
  HttpResponse resp;
  CURL* curl = ThreadCurl();
  if (!curl) {
    resp.local_error = Internal("curl_easy_init failed");
    return resp;
  }
  Transfer t{&req, curl, 0, &resp};

  // Headers curl signs along with host and x-amz-date. No "Expect:" line: curl would sign an
  // empty expect header that it never sends (test-infra.md). curl adds "Expect: 100-continue"
  // itself to larger uploads; that header is not in its signed list, which S3 and moto accept.
  std::unique_ptr<curl_slist, SlistDeleter> headers;
  auto add = [&](const std::string& h) {
    headers.reset(curl_slist_append(headers.release(), h.c_str()));
  };
  add("x-amz-content-sha256: " + req.payload_sha256);
  add("Content-Type: " + req.content_type);
  if (!creds.session_token.empty()) add("x-amz-security-token: " + creds.session_token);
  if (!headers) {
    resp.local_error = Internal("curl_slist_append failed");
    return resp;
  }

  std::string sigv4 = "aws:amz:" + creds.region + ":s3";
  curl_easy_setopt(curl, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, sigv4.c_str());
  curl_easy_setopt(curl, CURLOPT_USERNAME, creds.access_key_id.c_str());
  curl_easy_setopt(curl, CURLOPT_PASSWORD, creds.secret_access_key.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(req.timeout.count()));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min<int64_t>(req.timeout.count(), 10000)));
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &WriteResponse);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &ReadHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);

  int64_t body_size = req.body_fd >= 0 ? req.body_length : static_cast<int64_t>(req.body.size());
  if (req.method == "PUT") {
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(body_size));
  } else if (req.method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body_size));
  } else if (req.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (req.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  }
  if (req.method == "PUT" || req.method == "POST") {
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, &ReadBody);
    curl_easy_setopt(curl, CURLOPT_READDATA, &t);
    curl_easy_setopt(curl, CURLOPT_SEEKFUNCTION, &SeekBody);
    curl_easy_setopt(curl, CURLOPT_SEEKDATA, &t);
  }

  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  CURLcode rc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp.status);
  // The handle outlives this call: drop pointers into our stack frame.
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
  if (rc == CURLE_OK) {
    resp.completed = true;
    return resp;
  }
  resp.transient_transport_error = resp.local_error.ok() && IsTransient(rc);
  resp.transport_error = std::string(curl_easy_strerror(rc)) + (errbuf[0] ? ": " : "") + errbuf;
  return resp;
}

}  // namespace eddy::storage
