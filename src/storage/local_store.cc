#include "storage/local_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "storage/key_rules.h"

namespace eddy::storage {
namespace fs = std::filesystem;
namespace {

std::string Errno(const std::string& what, const std::string& path, int err) {
  return what + " " + path + ": " + std::strerror(err);
}

Status WriteAll(int fd, const char* data, size_t size, const std::string& path) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Internal(Errno("cannot write", path, errno));
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status FsyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  // Gone already: a concurrent Delete removed what was just written, and the folder with it.
  if (fd < 0 && errno == ENOENT) return Status::Ok();
  if (fd < 0) return Internal(Errno("cannot open folder", dir, errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return Internal(Errno("cannot fsync folder", dir, err));
  return Status::Ok();
}

// Opens an existing regular file for reading: NotFound when absent or a folder.
Result<int> OpenForRead(const std::string& path, const std::string& what) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return NotFound(what + " not found: " + path);
    return Internal(Errno("cannot open", path, errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return NotFound(what + " not found (not a regular file): " + path);
  }
  return fd;
}

// Copies everything from in_fd to out_fd in chunks; never holds the whole file.
Status CopyFd(int in_fd, const std::string& in_path, int out_fd, const std::string& out_path) {
  std::vector<char> buf(1 << 20);
  for (;;) {
    ssize_t n = ::read(in_fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Internal(Errno("cannot read", in_path, errno));
    }
    if (n == 0) return Status::Ok();
    EDDY_RETURN_IF_ERROR(WriteAll(out_fd, buf.data(), static_cast<size_t>(n), out_path));
  }
}

class LocalStore final : public ObjectStore {
 public:
  explicit LocalStore(std::string root) : root_(std::move(root)) {}

  Status Put(const std::string& key, std::string_view data) override {
    EDDY_RETURN_IF_ERROR(ValidateKey(key));
    AtomicFileWriter w;
    auto fd = w.Open(PathOf(key));
    if (!fd.ok()) return fd.status();
    EDDY_RETURN_IF_ERROR(WriteAll(*fd, data.data(), data.size(), PathOf(key)));
    return w.Commit();
  }

  Status PutFile(const std::string& key, const std::string& local_path) override {
    EDDY_RETURN_IF_ERROR(ValidateKey(key));
    auto in = OpenForRead(local_path, "local file");
    if (!in.ok()) return in.status();
    AtomicFileWriter w;
    auto out = w.Open(PathOf(key));
    Status st = out.ok() ? CopyFd(*in, local_path, *out, PathOf(key)) : out.status();
    ::close(*in);
    EDDY_RETURN_IF_ERROR(st);
    return w.Commit();
  }

  Result<std::string> Get(const std::string& key) override {
    EDDY_RETURN_IF_ERROR(ValidateKey(key));
    auto fd = OpenForRead(PathOf(key), "object '" + key + "'");
    if (!fd.ok()) return fd.status();
    std::string out;
    char buf[1 << 16];
    for (;;) {
      ssize_t n = ::read(*fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int err = errno;
        ::close(*fd);
        return Internal(Errno("cannot read", PathOf(key), err));
      }
      if (n == 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    ::close(*fd);
    return out;
  }

  Status GetFile(const std::string& key, const std::string& local_path) override {
    EDDY_RETURN_IF_ERROR(ValidateKey(key));
    auto in = OpenForRead(PathOf(key), "object '" + key + "'");
    if (!in.ok()) return in.status();
    AtomicFileWriter w;
    auto out = w.Open(local_path);
    Status st = out.ok() ? CopyFd(*in, PathOf(key), *out, local_path) : out.status();
    ::close(*in);
    EDDY_RETURN_IF_ERROR(st);
    return w.Commit();
  }

  Result<std::vector<ObjectInfo>> List(const std::string& prefix) override {
    EDDY_RETURN_IF_ERROR(ValidateListPrefix(prefix));
    // Walk only the deepest folder the prefix names: "chk-5/w1/MAN" starts at chk-5/w1.
    size_t cut = prefix.rfind('/');
    std::string start = cut == std::string::npos ? root_ : root_ + "/" + prefix.substr(0, cut);
    std::vector<ObjectInfo> out;
    std::error_code ec;
    if (!fs::is_directory(start, ec)) return out;
    fs::recursive_directory_iterator it(start, ec), end;
    if (ec) return Internal("cannot list " + start + ": " + ec.message());
    for (; it != end; it.increment(ec)) {
      if (ec) return Internal("cannot list " + start + ": " + ec.message());
      std::error_code entry_ec;
      if (!it->is_regular_file(entry_ec)) continue;
      std::string path = it->path().string();
      std::string key = path.substr(root_.size() + 1);
      // Temporary files and anything a key could not name are not objects.
      if (!ValidateKey(key).ok() || !key.starts_with(prefix)) continue;
      uintmax_t size = it->file_size(entry_ec);
      if (entry_ec) continue;  // deleted while we walked
      out.push_back({std::move(key), static_cast<int64_t>(size)});
    }
    std::sort(out.begin(), out.end(),
              [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
    return out;
  }

  Status Delete(const std::string& key) override {
    EDDY_RETURN_IF_ERROR(ValidateKey(key));
    std::string path = PathOf(key);
    if (::unlink(path.c_str()) != 0) {
      if (errno == ENOENT || errno == ENOTDIR || errno == EISDIR) return Status::Ok();
      return Internal(Errno("cannot delete", path, errno));
    }
    // Retention deletes whole checkpoints: drop folders left empty so they do not pile up.
    // rmdir fails harmlessly on a non-empty folder; a concurrent Put that loses its folder
    // recreates it (AtomicFileWriter::Open retries).
    std::string dir = fs::path(path).parent_path().string();
    while (dir.size() > root_.size() && ::rmdir(dir.c_str()) == 0) {
      dir = fs::path(dir).parent_path().string();
    }
    return Status::Ok();
  }

  std::string Describe() const override { return "file://" + root_; }

 private:
  std::string PathOf(const std::string& key) const { return root_ + "/" + key; }

  std::string root_;
};

}  // namespace

Result<int> AtomicFileWriter::Open(const std::string& local_path) {
  EDDY_CHECK(fd_ < 0);
  fs::path p(local_path);
  std::string dir = p.parent_path().string();
  if (dir.empty()) dir = ".";
  std::string name = p.filename().string();
  if (name.empty()) return InvalidArgument("not a file path: " + local_path);
  std::string templ = dir + "/." + name + kTempMarker + "XXXXXX";
  // A concurrent Delete may remove a folder it found empty while we create the folders or
  // before mkstemp puts a file in it (ENOENT either way; or EEXIST from create_directories, when
  // mkdir saw the folder and it was gone before the check that it is a folder): start again.
  // Each round only loses to a Delete that completed in between, so a few rounds are plenty.
  constexpr int kRounds = 20;
  for (int round = 1;; ++round) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) {
      if ((ec == std::errc::no_such_file_or_directory || ec == std::errc::file_exists) &&
          round < kRounds) {
        continue;
      }
      return FailedPrecondition("cannot create folder " + dir + ": " + ec.message());
    }
    std::string t = templ;
    int fd = ::mkstemp(t.data());
    if (fd >= 0) {
      fd_ = fd;
      temp_path_ = std::move(t);
      final_path_ = local_path;
      return fd;
    }
    if (errno != ENOENT || round >= kRounds) return Internal(Errno("cannot create", t, errno));
  }
}

Status AtomicFileWriter::Truncate() {
  if (::ftruncate(fd_, 0) != 0 || ::lseek(fd_, 0, SEEK_SET) != 0) {
    return Internal(Errno("cannot truncate", temp_path_, errno));
  }
  return Status::Ok();
}

Status AtomicFileWriter::Commit() {
  EDDY_CHECK(fd_ >= 0);
  int rc = ::fsync(fd_);
  int err = errno;
  ::close(fd_);
  fd_ = -1;
  if (rc != 0) {
    ::unlink(temp_path_.c_str());
    std::string temp = std::move(temp_path_);
    temp_path_.clear();
    return Internal(Errno("cannot fsync", temp, err));
  }
  if (::rename(temp_path_.c_str(), final_path_.c_str()) != 0) {
    err = errno;
    ::unlink(temp_path_.c_str());
    temp_path_.clear();
    return FailedPrecondition(Errno("cannot rename onto", final_path_, err));
  }
  temp_path_.clear();
  std::string dir = fs::path(final_path_).parent_path().string();
  return FsyncDir(dir.empty() ? "." : dir);
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
}

Result<ObjectStorePtr> OpenLocalStore(const std::string& root) {
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec || !fs::is_directory(root, ec)) {
    return InvalidArgument("storage folder " + root + " cannot be created or is not a folder" +
                           (ec ? ": " + ec.message() : ""));
  }
  return ObjectStorePtr(std::make_unique<LocalStore>(root));
}

}  // namespace eddy::storage
