// File-system fixtures for the output tests.
#pragma once

#include <sys/mount.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace tweedie::test {

/// A 64 KiB tmpfs mounted on a folder for the duration of a test (a full disk on demand). Needs
/// CAP_SYS_ADMIN: mounted() says whether it could be mounted, and tests skip with a message if not.
class SmallTmpfs {
 public:
  explicit SmallTmpfs(const std::string& dir) : dir_(dir) {
    std::filesystem::create_directories(dir_);
    mounted_ = ::mount("tmpfs", dir_.c_str(), "tmpfs", 0, "size=64k") == 0;
  }
  ~SmallTmpfs() {
    if (mounted_) ::umount(dir_.c_str());
  }
  SmallTmpfs(const SmallTmpfs&) = delete;
  SmallTmpfs& operator=(const SmallTmpfs&) = delete;
  bool mounted() const { return mounted_; }

 private:
  std::string dir_;
  bool mounted_ = false;
};

/// The bytes of a file ("" if it cannot be read).
inline std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::size_t entries_in(const std::string& dir) {
  return static_cast<std::size_t>(
      std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()));
}

}  // namespace tweedie::test
