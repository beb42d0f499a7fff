#include "fakes/moto_server.h"

#include <curl/curl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

namespace eddy::testing {
namespace {

constexpr char kEmptySha256[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct Reply {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
};

size_t Collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// A plain libcurl call, independent of the code under test. `sigv4` = "" for unsigned calls.
Reply Call(const std::string& method, const std::string& url, const std::string& sigv4,
           const std::string& key, const std::string& secret, const std::string& content_type,
           const std::string& body) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  Reply r;
  CURL* curl = curl_easy_init();
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, ("Content-Type: " + content_type).c_str());
  if (!sigv4.empty()) {
    // Form bodies are signed by moto's IAM verifier through their hash, like S3 payloads.
    headers = curl_slist_append(headers, (std::string("x-amz-content-sha256: ") +
                                          (body.empty() ? kEmptySha256 : "UNSIGNED-PAYLOAD"))
                                             .c_str());
    curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, sigv4.c_str());
    curl_easy_setopt(curl, CURLOPT_USERNAME, key.c_str());
    curl_easy_setopt(curl, CURLOPT_PASSWORD, secret.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method == "POST" || method == "PUT") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r.body);
  r.code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return r;
}

std::string Escape(const std::string& s) {
  char* e = curl_escape(s.c_str(), static_cast<int>(s.size()));
  std::string out(e);
  curl_free(e);
  return out;
}

std::string Between(const std::string& s, const std::string& open, const std::string& close) {
  size_t a = s.find(open);
  if (a == std::string::npos) return "";
  a += open.size();
  size_t b = s.find(close, a);
  return b == std::string::npos ? "" : s.substr(a, b - a);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string MotoServer::FindBinary() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/moto_server";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

Result<std::unique_ptr<MotoServer>> MotoServer::Start(const std::string& bucket) {
  std::string bin = FindBinary();
  if (bin.empty()) return FailedPrecondition("moto_server is not on PATH");
  std::unique_ptr<MotoServer> m(new MotoServer());
  m->dir_ = MakeTempDir("eddy-moto");
  std::string log = m->dir_ + "/moto.log";
  // Port 0: the OS picks a free port, which werkzeug prints ("Running on http://127.0.0.1:N").
  auto proc = ChildProcess::Spawn({bin, "-H", "127.0.0.1", "-p", "0"}, log);
  if (!proc.ok()) return proc.status();
  m->process_.emplace(std::move(proc).value());

  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::regex running(R"(Running on http://127\.0\.0\.1:(\d+))");
  for (;;) {
    std::smatch match;
    std::string text = ReadFile(log);
    if (std::regex_search(text, match, running)) {
      m->endpoint_ = "http://127.0.0.1:" + match[1].str();
      break;
    }
    if (!m->process_->Running()) return Internal("moto_server exited during startup:\n" + text);
    if (std::chrono::steady_clock::now() > deadline) {
      return DeadlineExceeded("moto_server did not start within 30 s:\n" + text);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  // Auth mode (test-infra.md): an IAM user with an access key and an allow-all policy, created
  // while moto still accepts anything, then reset-auth makes every later request need them.
  const std::string iam = "aws:amz:us-east-1:iam";
  const std::string form = "application/x-www-form-urlencoded";
  auto iam_call = [&](const std::string& body) {
    return Call("POST", m->endpoint_ + "/", iam, "AKIAIOSFODNN7EXAMPLE", "bootstrap", form,
                body + "&Version=2010-05-08");
  };
  Reply user = iam_call("Action=CreateUser&UserName=eddy");
  if (user.status != 200) return Internal("moto CreateUser failed: " + user.body);
  Reply key = iam_call("Action=CreateAccessKey&UserName=eddy");
  m->access_key_id_ = Between(key.body, "<AccessKeyId>", "</AccessKeyId>");
  m->secret_access_key_ = Between(key.body, "<SecretAccessKey>", "</SecretAccessKey>");
  if (key.status != 200 || m->access_key_id_.empty() || m->secret_access_key_.empty()) {
    return Internal("moto CreateAccessKey failed: " + key.body);
  }
  const std::string policy =
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]})";
  Reply put_policy = iam_call("Action=PutUserPolicy&UserName=eddy&PolicyName=all&PolicyDocument=" +
                              Escape(policy));
  if (put_policy.status != 200) return Internal("moto PutUserPolicy failed: " + put_policy.body);
  Reply reset = Call("POST", m->endpoint_ + "/moto-api/reset-auth", "", "", "", "text/plain", "0");
  if (reset.status != 200) return Internal("moto reset-auth failed: " + reset.body);

  m->bucket_ = bucket;
  EDDY_RETURN_IF_ERROR(m->CreateBucket(bucket));
  return m;
}

Status MotoServer::CreateBucket(const std::string& name) {
  Reply r = Call("PUT", endpoint_ + "/" + name, "aws:amz:us-east-1:s3", access_key_id_,
                 secret_access_key_, "application/octet-stream", "");
  if (r.status != 200) {
    return Internal("moto CreateBucket " + name + " failed (HTTP " + std::to_string(r.status) +
                    ", curl " + std::to_string(r.code) + "): " + r.body);
  }
  return Status::Ok();
}

MotoServer::~MotoServer() {
  if (process_) process_->Stop(SIGTERM, std::chrono::seconds(5));
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

}  // namespace eddy::testing
