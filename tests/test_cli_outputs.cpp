// The program's outputs under faults: standard output, pipes, kill -9 at any moment, a full disk
// (issue 12). The program is started with fork/exec so that it can be killed.
#include "cli_util.hpp"
#include "fs_util.hpp"
#include "test_util.hpp"

#include <tweedie/npy.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

using tweedie::test::file_bytes;
using tweedie::test::TempDir;

namespace {

const std::string kSample = "sample --target builtin:ring --sde vp --sampler em --steps 5 --seed 3 ";

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> w;
  std::string cur;
  for (const char c : s) {
    if (c == ' ') {
      if (!cur.empty()) w.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) w.push_back(cur);
  return w;
}

}  // namespace

TEST_CASE("--out - writes the .npy to standard output and the summary to standard error") {
  TempDir dir;
  const auto r = tweedie::test::run_cli_split(kSample + "-n 10 --out -", dir.path().string());
  REQUIRE(r.status == 0);
  CHECK(r.out.rfind("\x93NUMPY", 0) == 0);
  CHECK(r.out.size() == 128 + 10 * 2 * 8);
  CHECK(r.err.find("em: 5 steps") != std::string::npos);
  CHECK(r.err.find("-> -") != std::string::npos);
  CHECK(dir.files() == 0);  // no file named '-'
}

TEST_CASE("--out /dev/stdout into a pipe writes through the pipe") {
  TempDir dir;
  const std::string cmd = fmt::format("'{}' {} -n 10 --out /dev/stdout 2>/dev/null | cat > '{}'", TWEEDIE_CLI,
                                      kSample, dir.file("piped.npy"));
  REQUIRE(std::system(cmd.c_str()) == 0);
  CHECK(tweedie::read_npy_matrix(dir.file("piped.npy")).rows() == 10);
}

TEST_CASE("kill -9 during the computation or the write leaves the previous output and no temporary") {
  TempDir dir;
  const std::string out = dir.file("x.npy");
  tweedie::write_npy(out, tweedie::Matrix::Constant(3, 2, 7.0));
  const std::string previous = file_bytes(out);
  // 5e5 x 2 doubles (8 MB): the computation and the write each take a visible share of a run.
  const auto args = words(kSample + "--threads 1 -n 500000 --out " + dir.file("full.npy"));
  const auto start = std::chrono::steady_clock::now();
  int status = 0;
  ::waitpid(tweedie::test::spawn_cli(args), &status, 0);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  const double full = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::remove(dir.file("full.npy").c_str());
  MESSAGE(fmt::format("an unkilled run takes {:.3f} s", full));

  int killed = 0, completed = 0;
  auto kill_args = words(kSample + "--threads 1 -n 500000 --out " + out);
  for (int k = 1; k <= 8; ++k) {
    const pid_t pid = tweedie::test::spawn_cli(kill_args);
    std::this_thread::sleep_for(std::chrono::duration<double>(full * k / 8.0));
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    CAPTURE(k);
    CHECK(dir.files() == 1);  // no temporary file, whatever the moment
    if (WIFSIGNALED(status)) {
      ++killed;
      const std::string now = file_bytes(out);
      // Either the previous output, untouched, or (killed after the rename) the complete new one.
      CHECK((now == previous || tweedie::read_npy_matrix(out).rows() == 500000));
    } else {
      ++completed;
      CHECK(tweedie::read_npy_matrix(out).rows() == 500000);
    }
  }
  MESSAGE(fmt::format("{} runs killed, {} completed", killed, completed));
  CHECK(killed > 0);
}

TEST_CASE("without O_TMPFILE (a named temporary), SIGTERM or SIGINT at any moment leaves no temporary") {
  // The fallback is taken where /proc/self/fd is missing: the program runs in a mount namespace
  // with an empty /proc (root only; skipped otherwise).
  TempDir dir;
  const std::string out = dir.file("x.npy");
  tweedie::write_npy(out, tweedie::Matrix::Constant(3, 2, 7.0));
  const std::string previous = file_bytes(out);
  const auto run = [&](const std::string& target) {
    std::vector<std::string> argv = {"unshare", "-m", "sh", "-c", "mount -t tmpfs none /proc && exec \"$0\" \"$@\"",
                                     TWEEDIE_CLI};
    for (auto& w : words(kSample + "--threads 1 -n 500000 --out " + target)) argv.push_back(w);
    return tweedie::test::spawn_program(argv);
  };
  int status = 0;
  const auto start = std::chrono::steady_clock::now();
  ::waitpid(run(dir.file("full.npy")), &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    MESSAGE("skipped: cannot run the program with /proc hidden (needs root and unshare)");
    return;
  }
  const double full = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::remove(dir.file("full.npy").c_str());
  int signalled = 0;
  for (int k = 1; k <= 8; ++k) {
    const pid_t pid = run(out);
    std::this_thread::sleep_for(std::chrono::duration<double>(full * k / 8.0));
    ::kill(pid, k % 2 ? SIGTERM : SIGINT);  // sh has exec'd the program: pid is the program
    ::waitpid(pid, &status, 0);
    CAPTURE(k);
    CHECK(dir.files() == 1);  // the named temporary removed by the handler
    signalled += WIFSIGNALED(status);
    CHECK((file_bytes(out) == previous || tweedie::read_npy_matrix(out).rows() == 500000));
  }
  MESSAGE(fmt::format("{} of 8 runs ended by the signal", signalled));
  CHECK(signalled > 0);
}

TEST_CASE("a full disk: exit status 2, one line naming the file and errno, the previous output intact") {
  TempDir dir;
  const std::string small = dir.file("small");
  tweedie::test::SmallTmpfs tmpfs(small);
  if (!tmpfs.mounted()) {
    MESSAGE("skipped: mounting a tmpfs is not permitted here (needs root / CAP_SYS_ADMIN)");
    return;
  }
  const std::string out = small + "/x.npy";
  tweedie::write_npy(out, tweedie::Matrix::Ones(2, 2));
  const std::string previous = file_bytes(out);
  const auto r = tweedie::test::run_cli_split(kSample + "-n 100000 --out " + out, dir.path().string());
  CHECK(r.status == 2);
  CHECK(r.err == fmt::format("tweedie: error: cannot write '{}': write: No space left on device\n", out));
  CHECK(r.out.empty());
  CHECK(file_bytes(out) == previous);
  CHECK(tweedie::test::entries_in(small) == 1);
}
