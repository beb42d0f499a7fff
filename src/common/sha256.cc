#include "eddy/common/sha256.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

namespace eddy {
namespace {

std::string Hex(const unsigned char* digest, unsigned int len) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 15]);
  }
  return out;
}

struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

Result<MdCtx> NewSha256() {
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return Internal("OpenSSL cannot start a SHA-256 digest");
  }
  return ctx;
}

Result<std::string> Finish(EVP_MD_CTX* ctx) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx, digest, &len) != 1) return Internal("OpenSSL SHA-256 final failed");
  return Hex(digest, len);
}

// 1 MiB: large enough that syscalls do not dominate, small enough for several threads.
constexpr size_t kReadBytes = size_t{1} << 20;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EDDY_CHECK(EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr) == 1);
  return Hex(digest, len);
}

Result<std::string> Sha256HexOfFileRange(int fd, int64_t offset, int64_t length) {
  auto ctx = NewSha256();
  if (!ctx.ok()) return ctx.status();
  std::vector<char> buf(kReadBytes);
  int64_t done = 0;
  while (done < length) {
    size_t want = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(buf.size()),
                                                        length - done));
    ssize_t n = ::pread(fd, buf.data(), want, offset + done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Internal(std::string("cannot read the file to hash: ") + std::strerror(errno));
    if (n == 0) return Internal("the file shrank while hashing it");
    if (EVP_DigestUpdate(ctx->get(), buf.data(), static_cast<size_t>(n)) != 1) {
      return Internal("OpenSSL SHA-256 update failed");
    }
    done += n;
  }
  return Finish(ctx->get());
}

Result<FileDigest> DigestFile(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    int err = errno;
    std::string message = "cannot open " + path + " to hash it: " + std::strerror(err);
    if (err == ENOENT) return NotFound(std::move(message));
    return Unavailable(std::move(message));
  }
  auto ctx = NewSha256();
  if (!ctx.ok()) return ctx.status();
  std::vector<char> buffer(kReadBytes);
  FileDigest out;
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Unavailable("cannot read " + path + " to hash it: " + std::strerror(errno));
    }
    if (n == 0) break;
    if (EVP_DigestUpdate(ctx->get(), buffer.data(), static_cast<size_t>(n)) != 1) {
      return Internal("OpenSSL SHA-256 update failed");
    }
    out.size += n;
  }
  auto hex = Finish(ctx->get());
  if (!hex.ok()) return hex.status();
  out.sha256 = std::move(hex).value();
  return out;
}

bool IsSha256Hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace eddy
