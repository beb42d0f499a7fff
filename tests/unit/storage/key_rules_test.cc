#include "storage/key_rules.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "eddy/storage/object_store.h"

namespace eddy::storage {
namespace {

TEST(KeyRulesTest, AcceptsCheckpointStyleKeys) {
  for (const char* key : {"LATEST", "chk-12/manifest.pb", "sst/db-1/000012-9f3a.sst",
                          "chk-1/w0/MANIFEST-000005", "a~b_c.d-e"}) {
    EXPECT_TRUE(ValidateKey(key).ok()) << key;
  }
}

TEST(KeyRulesTest, RejectsUnsafeKeysWithInvalidArgument) {
  for (const char* key : {"", "/abs", "trailing/", "a//b", "..", "../x", "a/../b", "./a", "a/.",
                          "sp ace", "pct%2F", "q?x", "back\\slash", "caf\xc3\xa9", "tab\t"}) {
    Status st = ValidateKey(key);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << "'" << key << "'";
  }
  EXPECT_NE(ValidateKey("a//b").message().find("a//b"), std::string::npos);
}

TEST(KeyRulesTest, ListPrefixes) {
  for (const char* p : {"", "chk-", "chk-1/", "sst/db-1/0000"}) {
    EXPECT_TRUE(ValidateListPrefix(p).ok()) << p;
  }
  for (const char* p : {"/x", "a//", "../", "a/../", "x y"}) {
    EXPECT_EQ(ValidateListPrefix(p).code(), StatusCode::kInvalidArgument) << p;
  }
}

TEST(ParseStorageUriTest, ParsesS3AndFile) {
  auto a = ParseStorageUri("s3://my-bucket");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->scheme, ParsedUri::Scheme::kS3);
  EXPECT_EQ(a->bucket, "my-bucket");
  EXPECT_EQ(a->prefix, "");
  auto b = ParseStorageUri("s3://my.bucket/jobs/j1/");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->bucket, "my.bucket");
  EXPECT_EQ(b->prefix, "jobs/j1/");
  auto c = ParseStorageUri("file:///var/eddy/chk/");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->scheme, ParsedUri::Scheme::kFile);
  EXPECT_EQ(c->path, "/var/eddy/chk");
}

TEST(ParseStorageUriTest, RejectsMalformedUrisNamingThem) {
  for (const char* uri :
       {"", "s3://", "s3://ab", "s3://Bad_Bucket/x", "s3://-bucket", "s3://bucket/a//b",
        "s3://bucket/../x", "s3://bucket/a b", "file://relative/path", "file://", "file:///",
        "gs://bucket/x", "http://127.0.0.1:9000/b", "/just/a/path"}) {
    auto r = ParseStorageUri(uri);
    ASSERT_FALSE(r.ok()) << uri;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << uri;
    EXPECT_NE(r.status().message().find("'" + std::string(uri) + "'"), std::string::npos)
        << r.status().message();
  }
}

// Environment variables are process-wide: save and restore the ones a test changes.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    const char* old = std::getenv(name);
    had_ = old != nullptr;
    if (had_) old_ = old;
    if (value)
      ::setenv(name, value, 1);
    else
      ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (had_)
      ::setenv(name_.c_str(), old_.c_str(), 1);
    else
      ::unsetenv(name_.c_str());
  }

 private:
  std::string name_, old_;
  bool had_ = false;
};

TEST(OpenObjectStoreTest, RejectsBadUriAndSettings) {
  ScopedEnv k("AWS_ACCESS_KEY_ID", nullptr), s("AWS_SECRET_ACCESS_KEY", nullptr);
  StorageConfig c;
  c.uri = "ftp://x/y";
  auto r = OpenObjectStore(c);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("ftp://x/y"), std::string::npos);

  c.uri = "s3://bucket/p";
  r = OpenObjectStore(c);  // no credentials anywhere
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("AWS_ACCESS_KEY_ID"), std::string::npos);

  c.access_key_id = "AKID";
  c.secret_access_key = "secret";
  c.endpoint = "ftp://127.0.0.1:1";
  EXPECT_EQ(OpenObjectStore(c).status().code(), StatusCode::kInvalidArgument);
  c.endpoint = "http://127.0.0.1:9000/path";
  EXPECT_EQ(OpenObjectStore(c).status().code(), StatusCode::kInvalidArgument);
  c.endpoint = "http://127.0.0.1:9000/";
  c.part_size = 1 << 20;  // below S3's 5 MiB minimum
  EXPECT_EQ(OpenObjectStore(c).status().code(), StatusCode::kInvalidArgument);
  c.part_size = 5 << 20;
  c.list_page_size = 0;
  EXPECT_EQ(OpenObjectStore(c).status().code(), StatusCode::kInvalidArgument);
  c.list_page_size = 1000;
  c.max_attempts = 0;
  EXPECT_EQ(OpenObjectStore(c).status().code(), StatusCode::kInvalidArgument);
  c.max_attempts = 1;
  auto ok = OpenObjectStore(c);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ((*ok)->Describe(), "s3://bucket/p/ at http://127.0.0.1:9000 (region us-east-1)");
}

TEST(OpenObjectStoreTest, FallsBackToAwsEnvironment) {
  ScopedEnv k("AWS_ACCESS_KEY_ID", "AKIDENV"), s("AWS_SECRET_ACCESS_KEY", "envsecret"),
      e("AWS_ENDPOINT_URL", "http://127.0.0.1:9999"), r("AWS_REGION", "eu-west-3");
  StorageConfig c;
  c.uri = "s3://bucket";
  c.region = "";
  auto store = OpenObjectStore(c);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ((*store)->Describe(), "s3://bucket/ at http://127.0.0.1:9999 (region eu-west-3)");

  c.endpoint = "";
  c.region = "ap-south-1";
  ScopedEnv no_endpoint("AWS_ENDPOINT_URL", nullptr);
  store = OpenObjectStore(c);
  ASSERT_TRUE(store.ok());
  EXPECT_EQ((*store)->Describe(),
            "s3://bucket/ at https://s3.ap-south-1.amazonaws.com (region ap-south-1)");

  c.access_key_id = "only-the-key";  // a half-given pair is a config mistake, not an env fallback
  EXPECT_EQ(OpenObjectStore(c).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace eddy::storage
