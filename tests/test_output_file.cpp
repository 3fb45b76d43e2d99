// Outputs never damage what they replace: links followed, devices and FIFOs written in place,
// modes and owners kept, new files under the umask, a full disk refused with nothing left (issue 12).
#include "fs_util.hpp"
#include "test_util.hpp"

#include <tweedie/npy.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>

using tweedie::InvalidArgument;
using tweedie::Matrix;
using tweedie::test::file_bytes;
using tweedie::test::SmallTmpfs;
using tweedie::test::TempDir;
namespace fs = std::filesystem;

namespace {

struct stat status_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st;
}

}  // namespace

TEST_CASE("a symbolic link given as output is followed: the target is replaced, the link stays") {
  TempDir dir;
  fs::create_directories(dir.path() / "data");
  tweedie::write_npy(dir.file("data/target.npy"), Matrix::Ones(2, 2));
  fs::create_symlink("data/target.npy", dir.path() / "link.npy");        // relative
  fs::create_symlink(dir.path() / "link.npy", dir.path() / "chain.npy");  // to a link
  tweedie::write_matrix(dir.file("chain.npy"), Matrix::Zero(3, 1));
  CHECK(fs::is_symlink(dir.path() / "link.npy"));
  CHECK(fs::is_symlink(dir.path() / "chain.npy"));
  CHECK(tweedie::read_npy_matrix(dir.file("data/target.npy")) == Matrix::Zero(3, 1));
  CHECK(dir.files() == 3);  // data/, link.npy, chain.npy: no temporary in the link's folder
  CHECK(std::distance(fs::directory_iterator(dir.path() / "data"), fs::directory_iterator()) == 1);
  // A dangling link creates its target.
  fs::create_symlink("data/new.npy", dir.path() / "dangling.npy");
  tweedie::write_npy(dir.file("dangling.npy"), Matrix::Ones(1, 1));
  CHECK(tweedie::read_npy_matrix(dir.file("data/new.npy")) == Matrix::Ones(1, 1));
  // A loop is refused.
  fs::create_symlink("loop2.npy", dir.path() / "loop1.npy");
  fs::create_symlink("loop1.npy", dir.path() / "loop2.npy");
  CHECK_THROWS_WITH_AS(tweedie::write_npy(dir.file("loop1.npy"), Matrix::Ones(1, 1)),
                       doctest::Contains("symbolic links"), InvalidArgument);
}

TEST_CASE("a FIFO given as output is written in place, never replaced") {
  TempDir dir;
  const std::string fifo = dir.file("pipe");
  REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);
  std::string received;
  std::thread reader([&] {
    std::ifstream in(fifo, std::ios::binary);
    received.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  });
  tweedie::write_matrix(fifo, Matrix::Constant(2, 3, 0.5));  // no extension: a FIFO takes .npy bytes
  reader.join();
  CHECK(S_ISFIFO(status_of(fifo).st_mode));
  CHECK(received.size() == 128 + 6 * 8);
  CHECK(received.rfind("\x93NUMPY", 0) == 0);
  CHECK(dir.files() == 1);
}

TEST_CASE("a new output gets 0666 minus the umask; a replaced one keeps its mode and owner") {
  TempDir dir;
  const mode_t saved = ::umask(022);
  tweedie::write_npy(dir.file("a.npy"), Matrix::Ones(1, 1));
  ::umask(027);
  tweedie::write_csv(dir.file("b.csv"), Matrix::Ones(1, 1));
  ::umask(saved);
  CHECK((status_of(dir.file("a.npy")).st_mode & 07777) == 0644);
  CHECK((status_of(dir.file("b.csv")).st_mode & 07777) == 0640);

  REQUIRE(::chmod(dir.file("a.npy").c_str(), 0604) == 0);
  const bool root = ::geteuid() == 0;
  if (root) REQUIRE(::chown(dir.file("a.npy").c_str(), 1234, 5678) == 0);
  tweedie::write_npy(dir.file("a.npy"), Matrix::Zero(2, 2));
  const struct stat st = status_of(dir.file("a.npy"));
  CHECK((st.st_mode & 07777) == 0604);
  if (root) {
    CHECK(st.st_uid == 1234);
    CHECK(st.st_gid == 5678);
  }
  CHECK(tweedie::read_npy_matrix(dir.file("a.npy")) == Matrix::Zero(2, 2));
  CHECK(dir.files() == 2);
}

TEST_CASE("outputs that cannot be written are refused naming the path and the reason") {
  TempDir dir;
  fs::create_directories(dir.path() / "sub");
  CHECK_THROWS_WITH_AS(tweedie::write_npy(dir.file("sub"), Matrix::Ones(1, 1)),
                       doctest::Contains("sub': it is a directory"), InvalidArgument);
  CHECK_THROWS_WITH_AS(tweedie::write_npy(dir.file("none/x.npy"), Matrix::Ones(1, 1)),
                       doctest::Contains("No such file or directory"), InvalidArgument);
  CHECK(dir.files() == 1);
}

TEST_CASE("a full disk gives an error naming the file and errno, and leaves no partial file") {
  TempDir dir;
  const std::string mount_point = dir.file("small");
  SmallTmpfs tmpfs(mount_point);
  if (!tmpfs.mounted()) {
    MESSAGE("skipped: mounting a tmpfs is not permitted here (needs root / CAP_SYS_ADMIN)");
    return;
  }
  const std::string previous = mount_point + "/x.npy";
  tweedie::write_npy(previous, Matrix::Ones(2, 2));
  const std::string before = file_bytes(previous);
  CHECK_THROWS_WITH_AS(tweedie::write_npy(previous, Matrix::Ones(100000, 2)),
                       doctest::Contains(fmt::format("cannot write '{}': write: No space left on device", previous).c_str()),
                       InvalidArgument);
  CHECK_THROWS_WITH_AS(tweedie::write_npy(mount_point + "/new.npy", Matrix::Ones(100000, 2)),
                       doctest::Contains("No space left on device"), InvalidArgument);
  CHECK(file_bytes(previous) == before);  // the previous output intact
  CHECK(tweedie::test::entries_in(mount_point) == 1);
}

TEST_CASE("write_npy writes a matrix view with any strides, without a copy of it") {
  TempDir dir;
  Matrix m(3, 4);
  for (int k = 0; k < 12; ++k) m(k / 4, k % 4) = k;
  const Eigen::Ref<const Matrix, 0, Eigen::OuterStride<>> block = m.block(1, 1, 2, 2);
  tweedie::write_npy(dir.file("b.npy"), block);
  CHECK(tweedie::read_npy_matrix(dir.file("b.npy")) == Matrix(m.block(1, 1, 2, 2)));
  tweedie::write_npy(dir.file("t.npy"), m.transpose());
  CHECK(tweedie::read_npy_matrix(dir.file("t.npy")) == Matrix(m.transpose()));
}
