// The S3 backend against a scripted HTTP server: retries, error mapping, malformed bodies,
// timeouts, and the exact headers sent. Signatures are checked for real in s3_moto_test.cc.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>

#include "eddy/storage/object_store.h"
#include "storage/http_client.h"
#include "unit/storage/scripted_http_server.h"
#include "unit/storage/storage_test_util.h"

namespace eddy::storage {
namespace {

using testing::RandomBytes;
using testing::ReadFile;
using testing::RecordedRequest;
using testing::ScriptedHttpServer;
using testing::ScriptedResponse;
using testing::TempDir;
using testing::WriteFile;
using Clock = std::chrono::steady_clock;

StorageConfig Config(const std::string& endpoint) {
  StorageConfig c;
  c.uri = "s3://bucket/root";
  c.endpoint = endpoint;
  c.access_key_id = "AKIDTEST";
  c.secret_access_key = "secret";
  c.max_attempts = 4;
  c.retry_base_delay = std::chrono::milliseconds(5);
  c.request_timeout = std::chrono::milliseconds(2000);
  return c;
}

ObjectStorePtr Open(const StorageConfig& c) {
  auto s = OpenObjectStore(c);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(s).value() : nullptr;
}

ScriptedResponse Error(int status, const std::string& code, const std::string& message) {
  ScriptedResponse r;
  r.status = status;
  r.body = "<?xml version=\"1.0\"?><Error><Code>" + code + "</Code><Message>" + message +
           "</Message></Error>";
  return r;
}

ScriptedResponse Ok(std::string body = "") {
  ScriptedResponse r;
  r.body = std::move(body);
  return r;
}

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(S3StoreTest, SendsSignedPayloadHashAndNoEmptyExpectHeader) {
  ScriptedHttpServer server([](const RecordedRequest&) { return Ok(); });
  StorageConfig c = Config(server.endpoint());
  c.session_token = "session-tok";
  auto store = Open(c);
  ASSERT_TRUE(store->Put("a/b.txt", "hello").ok());
  TempDir dir;
  std::string big = dir.path() + "/big";
  WriteFile(big, RandomBytes(2 << 20, 3));  // large enough for curl to add Expect: 100-continue
  ASSERT_TRUE(store->PutFile("big", big).ok());

  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].method, "PUT");
  EXPECT_EQ(reqs[0].target, "/bucket/root/a/b.txt");
  EXPECT_EQ(reqs[0].body, "hello");
  EXPECT_EQ(reqs[0].Header("x-amz-content-sha256"),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
  EXPECT_EQ(reqs[0].Header("x-amz-security-token"), "session-tok");
  EXPECT_EQ(reqs[0].Header("content-type"), "application/octet-stream");
  for (const auto& r : reqs) {
    std::string auth = r.Header("authorization");
    EXPECT_TRUE(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDTEST/")) << auth;
    EXPECT_TRUE(Contains(auth, "/us-east-1/s3/aws4_request")) << auth;
    EXPECT_TRUE(Contains(auth, "x-amz-content-sha256")) << auth;
    EXPECT_TRUE(Contains(auth, "x-amz-security-token")) << auth;
    EXPECT_FALSE(Contains(auth, "expect")) << "curl must not sign an Expect header: " << auth;
    for (const auto& line : r.raw_header_lines) {
      EXPECT_NE(line, "Expect:") << "an empty Expect header breaks SigV4";
    }
  }
  // curl's own Expect (sent, not signed) is what the loop above checked.
  EXPECT_EQ(reqs[1].Header("expect"), "100-continue");
  EXPECT_EQ(reqs[1].body.size(), 2u << 20);
  EXPECT_EQ(reqs[1].Header("x-amz-content-sha256"), Sha256Hex(reqs[1].body));
}

TEST(S3StoreTest, RetriesServerErrorsAndThrottlingThenSucceeds) {
  std::atomic<int> n{0};
  ScriptedHttpServer server([&](const RecordedRequest&) {
    int i = n++;
    if (i == 0) return Error(500, "InternalError", "boom");
    if (i == 1) return Error(503, "SlowDown", "slow down");
    if (i == 2) return Error(429, "TooManyRequests", "later");
    return Ok();
  });
  auto store = Open(Config(server.endpoint()));
  Status st = store->Put("k", "v");
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(server.requests().size(), 4u);
}

TEST(S3StoreTest, GivesUpAfterMaxAttemptsWithUnavailable) {
  ScriptedHttpServer server([](const RecordedRequest&) { return Error(503, "SlowDown", "busy"); });
  StorageConfig c = Config(server.endpoint());
  c.max_attempts = 3;
  auto store = Open(c);
  auto r = store->Get("k");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(r.status().message(), "after 3 attempts")) << r.status().message();
  EXPECT_TRUE(Contains(r.status().message(), "HTTP 503 SlowDown")) << r.status().message();
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST(S3StoreTest, ClientErrorsFailAtOnceWithCodeAndMessage) {
  ScriptedHttpServer server([](const RecordedRequest& r) {
    if (r.method == "DELETE") return Error(400, "InvalidRequest", "odd request");
    if (r.target.ends_with("/missing")) return Error(404, "NoSuchKey", "The key does not exist");
    return Error(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist");
  });
  auto store = Open(Config(server.endpoint()));
  Status put = store->Put("k", "v");
  EXPECT_EQ(put.code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Contains(put.message(), "access denied")) << put.message();
  EXPECT_TRUE(Contains(put.message(), "HTTP 403 InvalidAccessKeyId")) << put.message();
  EXPECT_TRUE(Contains(put.message(), "check credentials")) << put.message();
  auto missing = store->Get("missing");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  Status del = store->Delete("k");
  EXPECT_EQ(del.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(del.message(), "HTTP 400 InvalidRequest: odd request")) << del.message();
  EXPECT_EQ(server.requests().size(), 3u);  // no retries for any of them
}

TEST(S3StoreTest, DeleteOfMissingKeyIsOk) {
  ScriptedHttpServer server([](const RecordedRequest&) { return Error(404, "NoSuchKey", "gone"); });
  auto store = Open(Config(server.endpoint()));
  EXPECT_TRUE(store->Delete("k").ok());
}

TEST(S3StoreTest, ListFollowsContinuationTokensWithSortedQuery) {
  ScriptedHttpServer server([](const RecordedRequest& r) {
    if (!Contains(r.target, "continuation-token")) {
      return Ok(
          "<ListBucketResult><IsTruncated>true</IsTruncated>"
          "<Contents><Key>root/chk-1/b</Key><Size>2</Size></Contents>"
          "<Contents><Key>root/chk-1/a</Key><Size>1</Size></Contents>"
          "<NextContinuationToken>tok+/=1</NextContinuationToken></ListBucketResult>");
    }
    return Ok(
        "<ListBucketResult><IsTruncated>false</IsTruncated>"
        "<Contents><Key>root/chk-1/0</Key><Size>3</Size></Contents></ListBucketResult>");
  });
  StorageConfig c = Config(server.endpoint());
  c.list_page_size = 2;
  auto store = Open(c);
  auto r = store->List("chk-1/");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].key, "chk-1/0");
  EXPECT_EQ((*r)[0].size, 3);
  EXPECT_EQ((*r)[1].key, "chk-1/a");
  EXPECT_EQ((*r)[2].key, "chk-1/b");
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].target, "/bucket?list-type=2&max-keys=2&prefix=root%2Fchk-1%2F");
  EXPECT_EQ(
      reqs[1].target,
      "/bucket?continuation-token=tok%2B%2F%3D1&list-type=2&max-keys=2&prefix=root%2Fchk-1%2F");
}

TEST(S3StoreTest, MalformedOrLoopingListingsAreErrors) {
  std::atomic<int> mode{0};
  ScriptedHttpServer server([&](const RecordedRequest&) {
    switch (mode.load()) {
      case 0:
        return Ok("<ListBucketResult><IsTruncated>tr");
      case 1:
        return Ok("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>");
      case 2:
        return Ok(
            "<ListBucketResult><IsTruncated>true</IsTruncated>"
            "<NextContinuationToken>same</NextContinuationToken></ListBucketResult>");
      default:
        return Ok(
            "<ListBucketResult><IsTruncated>false</IsTruncated>"
            "<Contents><Key>elsewhere/x</Key><Size>1</Size></Contents></ListBucketResult>");
    }
  });
  auto store = Open(Config(server.endpoint()));
  for (int m = 0; m < 4; ++m) {
    mode = m;
    auto r = store->List("");
    ASSERT_FALSE(r.ok()) << m;
    EXPECT_EQ(r.status().code(), StatusCode::kInternal) << r.status().ToString();
  }
}

TEST(S3StoreTest, FallsBackToUnencodedSlashWhenTheServerSignsThatWay) {
  ScriptedHttpServer server([](const RecordedRequest& r) {
    if (Contains(r.target, "%2F")) return Error(403, "SignatureDoesNotMatch", "mismatch");
    return Ok("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>");
  });
  auto store = Open(Config(server.endpoint()));
  ASSERT_TRUE(store->List("a/").ok());
  ASSERT_TRUE(store->List("b/").ok());
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 3u);  // one failed probe, then '/' stays unencoded
  EXPECT_EQ(reqs[1].target, "/bucket?list-type=2&max-keys=1000&prefix=root/a/");
  EXPECT_EQ(reqs[2].target, "/bucket?list-type=2&max-keys=1000&prefix=root/b/");
}

TEST(S3StoreTest, WrongCredentialsStayAnErrorAfterTheSlashProbe) {
  ScriptedHttpServer server(
      [](const RecordedRequest&) { return Error(403, "SignatureDoesNotMatch", "mismatch"); });
  auto store = Open(Config(server.endpoint()));
  auto r = store->List("a/");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status().message(), "check credentials")) << r.status().message();
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST(S3StoreTest, HangingServerTimesOutAndIsRetried) {
  ScriptedHttpServer server([](const RecordedRequest&) {
    ScriptedResponse r;
    r.action = ScriptedResponse::Action::kHang;
    return r;
  });
  StorageConfig c = Config(server.endpoint());
  c.request_timeout = std::chrono::milliseconds(200);
  c.max_attempts = 2;
  auto store = Open(c);
  auto start = Clock::now();
  auto r = store->Get("k");
  auto elapsed = Clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(r.status().message(), "after 2 attempts")) << r.status().message();
  EXPECT_TRUE(Contains(r.status().message(), "imeout")) << r.status().message();
  EXPECT_LT(elapsed, std::chrono::seconds(3));
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST(S3StoreTest, UnreachableEndpointIsRetriedThenUnavailable) {
  StorageConfig c = Config(testing::UnreachableEndpoint());
  c.max_attempts = 3;
  c.retry_base_delay = std::chrono::milliseconds(20);
  auto store = Open(c);
  auto start = Clock::now();
  Status st = store->Put("k", "v");
  auto elapsed = Clock::now() - start;
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(st.message(), "after 3 attempts")) << st.message();
  EXPECT_TRUE(Contains(st.message(), c.endpoint)) << st.message();
  EXPECT_GE(elapsed, std::chrono::milliseconds(30));  // backoff happened: 10-20 ms + 20-40 ms
  EXPECT_LT(elapsed, std::chrono::seconds(2));
}

// A body cut mid-download is retried; the file holds the complete object, not the partial one
// followed by the retry.
TEST(S3StoreTest, GetFileRetriesCutDownloadsAndWritesAtomically) {
  const std::string object = RandomBytes(100000, 9);
  std::atomic<int> n{0};
  ScriptedHttpServer server([&](const RecordedRequest&) {
    ScriptedResponse r = Ok(object);
    if (n++ == 0) r.cut_body_at = 40000;
    return r;
  });
  auto store = Open(Config(server.endpoint()));
  TempDir dir;
  std::string dst = dir.path() + "/out.sst";
  Status st = store->GetFile("k", dst);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(ReadFile(dst), object);
  EXPECT_EQ(n.load(), 2);
  EXPECT_EQ(testing::CountFilesContaining(dir.path(), "#tmp-"), 0);
}

TEST(S3StoreTest, FailedGetFileLeavesDestinationUntouched) {
  ScriptedHttpServer server([](const RecordedRequest&) { return Error(404, "NoSuchKey", "no"); });
  auto store = Open(Config(server.endpoint()));
  TempDir dir;
  std::string dst = dir.path() + "/out";
  WriteFile(dst, "previous");
  EXPECT_EQ(store->GetFile("k", dst).code(), StatusCode::kNotFound);
  EXPECT_EQ(ReadFile(dst), "previous");
  EXPECT_EQ(testing::CountFilesContaining(dir.path(), "#tmp-"), 0);
}

const char kInitiated[] =
    "<InitiateMultipartUploadResult><Bucket>bucket</Bucket><Key>root/big</Key>"
    "<UploadId>up-1</UploadId></InitiateMultipartUploadResult>";

TEST(S3StoreTest, MultipartUploadIsAbortedWhenAPartFails) {
  ScriptedHttpServer server([](const RecordedRequest& r) {
    if (r.method == "POST") return Ok(kInitiated);
    if (r.method == "PUT" && Contains(r.target, "partNumber=1&")) {
      ScriptedResponse ok = Ok();
      ok.headers.push_back("ETag: \"etag-1\"");
      return ok;
    }
    if (r.method == "PUT") return Error(400, "InvalidPart", "bad part");
    return Ok();  // the abort
  });
  StorageConfig c = Config(server.endpoint());
  c.multipart_threshold = 5 << 20;
  c.part_size = 5 << 20;
  auto store = Open(c);
  TempDir dir;
  WriteFile(dir.path() + "/f", RandomBytes(6 << 20, 4));
  Status st = store->PutFile("big", dir.path() + "/f");
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_TRUE(Contains(st.message(), "InvalidPart")) << st.message();
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(reqs[0].target, "/bucket/root/big?uploads=");
  EXPECT_EQ(reqs[1].target, "/bucket/root/big?partNumber=1&uploadId=up-1");
  EXPECT_EQ(reqs[1].body.size(), 5u << 20);
  EXPECT_EQ(reqs[2].target, "/bucket/root/big?partNumber=2&uploadId=up-1");
  EXPECT_EQ(reqs[2].body.size(), 1u << 20);
  EXPECT_EQ(reqs[3].method, "DELETE");
  EXPECT_EQ(reqs[3].target, "/bucket/root/big?uploadId=up-1");
}

TEST(S3StoreTest, MultipartCompleteRetriesAnErrorInside200) {
  std::atomic<int> completes{0};
  ScriptedHttpServer server([&](const RecordedRequest& r) {
    if (r.method == "POST" && Contains(r.target, "uploads=")) return Ok(kInitiated);
    if (r.method == "PUT") {
      ScriptedResponse ok = Ok();
      ok.headers.push_back("ETag: \"e" + r.target.substr(r.target.find('=') + 1, 1) + "\"");
      return ok;
    }
    if (r.method == "POST" && completes++ == 0) {
      return Ok("<Error><Code>InternalError</Code><Message>try again</Message></Error>");
    }
    return Ok("<CompleteMultipartUploadResult><Key>root/big</Key></CompleteMultipartUploadResult>");
  });
  StorageConfig c = Config(server.endpoint());
  c.multipart_threshold = 5 << 20;
  c.part_size = 5 << 20;
  auto store = Open(c);
  TempDir dir;
  WriteFile(dir.path() + "/f", RandomBytes((5 << 20) + 10, 5));
  Status st = store->PutFile("big", dir.path() + "/f");
  ASSERT_TRUE(st.ok()) << st.ToString();
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 5u);
  EXPECT_EQ(reqs[3].body, reqs[4].body);
  EXPECT_EQ(reqs[4].body,
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;e1&quot;</ETag>"
            "</Part><Part><PartNumber>2</PartNumber><ETag>&quot;e2&quot;</ETag></Part>"
            "</CompleteMultipartUpload>");
  EXPECT_EQ(reqs[4].Header("content-type"), "application/xml");
}

TEST(S3StoreTest, MalformedCreateMultipartResponseIsAnError) {
  ScriptedHttpServer server([](const RecordedRequest&) { return Ok("<Initiate"); });
  StorageConfig c = Config(server.endpoint());
  c.multipart_threshold = 10;
  c.part_size = 5 << 20;
  auto store = Open(c);
  TempDir dir;
  WriteFile(dir.path() + "/f", "more than ten bytes");
  Status st = store->PutFile("big", dir.path() + "/f");
  EXPECT_EQ(st.code(), StatusCode::kInternal) << st.ToString();
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(S3StoreTest, VirtualHostedStyleUrls) {
  ScriptedHttpServer server([](const RecordedRequest&) { return Ok(); });
  StorageConfig c = Config(server.endpoint());
  c.path_style = false;
  c.endpoint = "http://localhost:" + server.endpoint().substr(server.endpoint().rfind(':') + 1);
  auto store = Open(c);
  // bucket.localhost resolves to loopback with curl (RFC 6761 names), so the request arrives.
  Status st = store->Put("k", "v");
  ASSERT_TRUE(st.ok()) << st.ToString();
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target, "/root/k");
  EXPECT_TRUE(reqs[0].Header("host").starts_with("bucket.localhost:")) << reqs[0].Header("host");
}

}  // namespace
}  // namespace eddy::storage
