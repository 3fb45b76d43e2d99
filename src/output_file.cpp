#include "output_file.hpp"

#include <tweedie/types.hpp>

#include <fmt/format.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <mutex>
#include <optional>
#include <random>

namespace tweedie::detail {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& why) {
  throw InvalidArgument(fmt::format("cannot write '{}': {}", path, why));
}
[[noreturn]] void fail_errno(const std::string& path, const char* doing, int err) {
  fail(path, fmt::format("{}: {}", doing, std::strerror(err)));
}

/// A file descriptor closed on scope exit.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

/// `path` with every symbolic link along the final component followed (a relative link is
/// resolved against its own directory); refuses loops.
std::string follow_links(const std::string& path) {
  std::string p = path;
  for (int hops = 0; hops < 40; ++hops) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return p;
    std::array<char, PATH_MAX> buf{};
    const ssize_t n = ::readlink(p.c_str(), buf.data(), buf.size() - 1);
    if (n < 0) fail_errno(path, "reading the symbolic link", errno);
    std::string link(buf.data(), static_cast<std::size_t>(n));
    if (link.front() != '/') {
      const auto slash = p.rfind('/');
      if (slash != std::string::npos) link = p.substr(0, slash + 1) + link;
    }
    p = link;
  }
  fail(path, "too many levels of symbolic links");
}

// The named temporary file of the fallback path (and of the replace step), removed by the signal
// handler if SIGINT/SIGTERM/SIGHUP arrives while it exists. One at a time (writes_mutex).
std::mutex writes_mutex;
char pending_path[PATH_MAX + 64];
std::atomic<bool> pending{false};

extern "C" void remove_pending_and_reraise(int sig) {
  if (pending.load()) ::unlink(pending_path);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

/// Registers a named temporary for removal on the signals above; removes it unless released.
class PendingTemp {
 public:
  PendingTemp(int dirfd, const std::string& dir, std::string name) : dirfd_(dirfd), name_(std::move(name)) {
    const std::string full = dir + "/" + name_;
    std::snprintf(pending_path, sizeof pending_path, "%s", full.c_str());
    pending = true;
    struct sigaction sa {};
    sa.sa_handler = remove_pending_and_reraise;
    sigemptyset(&sa.sa_mask);
    for (std::size_t i = 0; i < signals_.size(); ++i) ::sigaction(signals_[i], &sa, &old_[i]);
  }
  PendingTemp(const PendingTemp&) = delete;
  PendingTemp& operator=(const PendingTemp&) = delete;
  ~PendingTemp() {
    if (!released_) ::unlinkat(dirfd_, name_.c_str(), 0);
    pending = false;
    for (std::size_t i = 0; i < signals_.size(); ++i) ::sigaction(signals_[i], &old_[i], nullptr);
  }
  void release() { released_ = true; }
  const std::string& name() const { return name_; }

 private:
  static constexpr std::array<int, 3> signals_{SIGINT, SIGTERM, SIGHUP};
  std::array<struct sigaction, 3> old_{};
  int dirfd_;
  std::string name_;
  bool released_ = false;
};

std::string temp_name(const std::string& name) {
  static std::mt19937_64 gen(std::random_device{}());
  return fmt::format(".{}.tmp-{:016x}", name, gen());
}

void fsync_or_fail(int fd, const std::string& path, const char* what) {
  if (::fsync(fd) != 0) fail_errno(path, what, errno);
}

void write_in_place(const std::string& path, const std::function<void(OutputSink&)>& fill) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY));
  if (fd.fd < 0) fail_errno(path, "opening", errno);
  OutputSink sink(fd.fd, path);
  fill(sink);
  sink.flush();
  // Devices and pipes may not support fsync; regular files never take this path.
  if (::fsync(fd.fd) != 0 && errno != EINVAL && errno != EROFS) fail_errno(path, "fsync", errno);
  const int fdv = fd.fd;
  fd.fd = -1;
  if (::close(fdv) != 0) fail_errno(path, "closing", errno);
}

}  // namespace

OutputSink::OutputSink(int fd, std::string name) : fd_(fd), name_(std::move(name)), buffer_(1 << 20) {}

void OutputSink::write(const void* data, std::size_t bytes) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    if (used_ == buffer_.size()) flush();
    const std::size_t n = std::min(bytes, buffer_.size() - used_);
    std::memcpy(buffer_.data() + used_, p, n);
    used_ += n;
    p += n;
    bytes -= n;
  }
}

void OutputSink::flush() {
  std::size_t done = 0;
  while (done < used_) {
    const ssize_t n = ::write(fd_, buffer_.data() + done, used_ - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail_errno(name_, "write", n < 0 ? errno : EIO);
    done += static_cast<std::size_t>(n);
  }
  used_ = 0;
}

bool is_special_file(const std::string& path) {
  if (path == "-") return true;
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode);
}

void write_output_file(const std::string& path, const std::function<void(OutputSink&)>& fill) {
  if (path.empty()) fail(path, "empty file name");
  if (path == "-") {
    OutputSink sink(STDOUT_FILENO, "standard output");
    fill(sink);
    sink.flush();
    return;
  }
  // stat follows every link, /proc's magic ones included (/dev/stdout may name a pipe).
  struct stat st {};
  const bool exists = ::stat(path.c_str(), &st) == 0;
  if (!exists && errno != ENOENT) fail_errno(path, "stat", errno);
  if (exists && S_ISDIR(st.st_mode)) fail(path, "it is a directory");
  if (exists && !S_ISREG(st.st_mode)) return write_in_place(path, fill);
  const std::string target = follow_links(path);  // where the new file is linked in
  if (target.back() == '/') fail(path, "the name ends in '/'");

  const auto slash = target.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : target.substr(0, slash);
  const std::string name = slash == std::string::npos ? target : target.substr(slash + 1);
  std::lock_guard lock(writes_mutex);
  Fd dirfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dirfd.fd < 0) fail_errno(path, fmt::format("opening its directory '{}'", dir).c_str(), errno);
  const mode_t mode = exists ? (st.st_mode & 07777) : 0666;  // the kernel applies the umask to new files

  // An unnamed file (O_TMPFILE) is linked in through /proc/self/fd, which needs no privilege.
  std::optional<PendingTemp> named;
  int raw = -1;
  const bool proc = ::access("/proc/self/fd", X_OK) == 0;
  if (proc) raw = ::openat(dirfd.fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
  const bool unnamed = raw >= 0;
  if (!unnamed) {
    if (proc && errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
      fail_errno(path, "creating the file", errno);
    }
    for (int attempt = 0; raw < 0 && attempt < 100; ++attempt) {
      const std::string tmp = temp_name(name);
      raw = ::openat(dirfd.fd, tmp.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode);
      if (raw >= 0) named.emplace(dirfd.fd, dir, tmp);
      else if (errno != EEXIST) fail_errno(path, "creating a temporary file", errno);
    }
    if (raw < 0) fail(path, "no free temporary name");
  }
  Fd fd(raw);
  if (exists) {
    // Keep the replaced file's owner and mode (chown first: it may clear set-id bits).
    if (::fchown(fd.fd, st.st_uid, st.st_gid) != 0 && errno != EPERM) fail_errno(path, "fchown", errno);
    if (::fchmod(fd.fd, mode) != 0) fail_errno(path, "fchmod", errno);
  }
  OutputSink sink(fd.fd, path);
  fill(sink);
  sink.flush();
  fsync_or_fail(fd.fd, path, "fsync");

  if (unnamed) {
    const std::string self = fmt::format("/proc/self/fd/{}", fd.fd);
    if (!exists) {
      if (::linkat(AT_FDCWD, self.c_str(), dirfd.fd, name.c_str(), AT_SYMLINK_FOLLOW) == 0) {
        fsync_or_fail(dirfd.fd, path, "fsync of its directory");
        return;
      }
      if (errno != EEXIST) fail_errno(path, "linking the file", errno);
    }
    // Replacing: link under a temporary name, then rename over the path (atomic).
    for (int attempt = 0; !named && attempt < 100; ++attempt) {
      const std::string tmp = temp_name(name);
      if (::linkat(AT_FDCWD, self.c_str(), dirfd.fd, tmp.c_str(), AT_SYMLINK_FOLLOW) == 0) {
        named.emplace(dirfd.fd, dir, tmp);
      } else if (errno != EEXIST) {
        fail_errno(path, "linking the file", errno);
      }
    }
    if (!named) fail(path, "no free temporary name");
  }
  const int fdv = fd.fd;
  fd.fd = -1;
  if (::close(fdv) != 0) fail_errno(path, "closing", errno);
  if (::renameat(dirfd.fd, named->name().c_str(), dirfd.fd, name.c_str()) != 0) {
    fail_errno(path, "renaming the temporary file", errno);
  }
  named->release();
  fsync_or_fail(dirfd.fd, path, "fsync of its directory");
}

}  // namespace tweedie::detail
