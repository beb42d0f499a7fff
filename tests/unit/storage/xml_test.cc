#include "storage/xml.h"

#include <gtest/gtest.h>

#include "storage/s3_store.h"

namespace eddy::storage {
namespace {

// A body as moto 5 sends it.
const char kMotoList[] =
    R"(<?xml version="1.0" encoding="utf-8"?>)"
    R"(<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">)"
    R"(<IsTruncated>true</IsTruncated>)"
    R"(<Contents><Key>a/1</Key><LastModified>2026-11-24T03:03:10.000Z</LastModified>)"
    R"(<ETag>"d41d8cd98f00b204e9800998ecf8427e"</ETag><Size>12</Size>)"
    R"(<StorageClass>STANDARD</StorageClass></Contents>)"
    R"(<Contents><Key>a/2</Key><Size>0</Size></Contents><Name>bucket1</Name><Prefix/>)"
    R"(<MaxKeys>2</MaxKeys><KeyCount>2</KeyCount>)"
    R"(<NextContinuationToken>08a3a0ab38cac589c7231d171c88091f</NextContinuationToken>)"
    R"(</ListBucketResult>)";

TEST(XmlTest, ParsesS3Bodies) {
  auto doc = ParseXml(kMotoList);
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_EQ(doc->name, "ListBucketResult");
  EXPECT_EQ(*doc->ChildText("IsTruncated"), "true");
  ASSERT_NE(doc->Child("Prefix"), nullptr);
  EXPECT_EQ(*doc->ChildText("Prefix"), "");
  EXPECT_EQ(doc->ChildText("Missing"), nullptr);
  EXPECT_EQ(*doc->Child("Contents")->ChildText("ETag"), "\"d41d8cd98f00b204e9800998ecf8427e\"");
}

TEST(XmlTest, DecodesEntitiesCdataCommentsAndPrefixes) {
  auto doc = ParseXml(
      "<!-- c --><s3:Error a='1' b=\"x>y\"><Code>A&amp;B&lt;&gt;&quot;&apos;&#65;&#x42;&#x20AC;"
      "</Code><!-- inner --><M><![CDATA[<raw & stuff>]]></M></s3:Error>\n");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_EQ(doc->name, "Error");
  EXPECT_EQ(*doc->ChildText("Code"), "A&B<>\"'AB\xe2\x82\xac");
  EXPECT_EQ(*doc->ChildText("M"), "<raw & stuff>");
  EXPECT_EQ(XmlEscape("\"a&b<c>'"), "&quot;a&amp;b&lt;c&gt;&apos;");
}

TEST(XmlTest, MalformedInputIsAnErrorNotACrash) {
  for (const char* bad : {"",
                          "   ",
                          "text",
                          "<",
                          "<a",
                          "<a>",
                          "<a></b>",
                          "<a><b></a></b>",
                          "<a>&bogus;</a>",
                          "<a>&amp</a>",
                          "<a>&#0;</a>",
                          "<a>&#xD800;</a>",
                          "<a>&#x110000;</a>",
                          "<a>&#xZZ;</a>",
                          "<a x=1></a>",
                          "<a x></a>",
                          "<a x='1></a>",
                          "<!DOCTYPE a><a/>",
                          "<a/><b/>",
                          "<a/>junk",
                          "<a><!-- never closed</a>",
                          "<a><![CDATA[open</a>",
                          "<?xml",
                          "</a>",
                          "<a/ >",
                          "<a>< b/></a>"}) {
    auto r = ParseXml(bad);
    EXPECT_FALSE(r.ok()) << "accepted: " << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    }
  }
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "<a>";
  for (int i = 0; i < 100; ++i) deep += "</a>";
  EXPECT_FALSE(ParseXml(deep).ok());
}

// Every truncation of a valid body (a connection cut mid-response) is rejected cleanly.
TEST(XmlTest, EveryTruncationOfAValidBodyIsRejected) {
  std::string body = kMotoList;
  size_t root_end = body.rfind('>');
  for (size_t n = 0; n < root_end; ++n) {
    EXPECT_FALSE(ParseXml(body.substr(0, n)).ok()) << n;
  }
  EXPECT_TRUE(ParseXml(body).ok());
}

TEST(ListObjectsV2Test, ParsesPage) {
  auto page = ParseListObjectsV2(kMotoList);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_token, "08a3a0ab38cac589c7231d171c88091f");
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "a/1");
  EXPECT_EQ(page->objects[0].size, 12);
  auto empty =
      ParseListObjectsV2("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->objects.empty());
}

TEST(ListObjectsV2Test, RejectsBodiesThatAreNotAListing) {
  for (const char* bad : {
           "<Error><Code>InternalError</Code></Error>",
           "<ListBucketResult></ListBucketResult>",
           "<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>",
           "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Size>1</Size></Contents></"
           "ListBucketResult>",
           "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</Key></Contents></"
           "ListBucketResult>",
           "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</Key><Size>-1</"
           "Size></Contents></ListBucketResult>",
           "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</Key><Size>12x</"
           "Size></Contents></ListBucketResult>",
           "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</"
           "Key><Size>99999999999999999999</Size></Contents></ListBucketResult>",
           "<html><body>proxy error</body></html>",
       }) {
    EXPECT_FALSE(ParseListObjectsV2(bad).ok()) << bad;
  }
}

TEST(EncodeQueryValueTest, EncodesReservedCharacters) {
  EXPECT_EQ(EncodeQueryValue("chk-1/a_b.c~", false), "chk-1%2Fa_b.c~");
  EXPECT_EQ(EncodeQueryValue("chk-1/a_b.c~", true), "chk-1/a_b.c~");
  EXPECT_EQ(EncodeQueryValue("a b+c=d&e", false), "a%20b%2Bc%3Dd%26e");
  EXPECT_EQ(EncodeQueryValue("\xff", false), "%FF");
}

}  // namespace
}  // namespace eddy::storage
