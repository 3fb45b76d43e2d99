// The program's progress bar: the renderer (cli/progress.cpp) on a fake clock, and the program
// under a pseudo-terminal (the bar appears, --quiet and a pipe suppress it, an error ends it).
#include "cli_util.hpp"
#include "test_util.hpp"

#include "../cli/progress.hpp"

#include <tweedie/npy.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

using tweedie::cli::ProgressBar;
using tweedie::cli::ProgressOutput;

namespace {

// Everything the bar wrote since the last call.
struct Screen {
  std::ostringstream out;
  std::size_t seen = 0;
  std::string fresh() {
    const std::string all = out.str();
    const std::string s = all.substr(seen);
    seen = all.size();
    return s;
  }
};

// Runs the program with `args` on a pseudo-terminal: everything it wrote there, and its status
// (its exit status, or minus the signal that ended it). `keys`, if any, are typed on the terminal,
// the first once a progress bar appeared, each next one 0.1 s later ("\x03": Ctrl-C, which the
// terminal turns into SIGINT; apart, so that two signals are not merged into one).
std::pair<std::string, int> run_on_terminal(const std::vector<std::string>& args,
                                            const std::vector<std::string>& keys = {}) {
  std::vector<std::string> storage{TWEEDIE_CLI};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  winsize size{};
  size.ws_col = 100;
  size.ws_row = 24;
  int master = -1;
  const pid_t pid = ::forkpty(&master, nullptr, nullptr, &size);
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  std::string output;
  bool typed = keys.empty();
  auto type = [&] {
    for (std::size_t k = 0; k < keys.size(); ++k) {
      if (k > 0) ::usleep(100000);
      if (::write(master, keys[k].data(), keys[k].size()) < 0) return;
    }
  };
  char buffer[4096];
  for (;;) {
    const ssize_t got = ::read(master, buffer, sizeof buffer);
    if (got > 0) {
      output.append(buffer, static_cast<std::size_t>(got));
      if (!typed && output.find(" rows ") != std::string::npos) {
        type();
        typed = true;
      }
    } else if (got < 0 && errno == EINTR) {
      continue;
    } else {
      break;  // EIO: the child closed the terminal
    }
  }
  ::close(master);
  int raw = 0;
  ::waitpid(pid, &raw, 0);
  return {output, WIFEXITED(raw) ? WEXITSTATUS(raw) : WIFSIGNALED(raw) ? -WTERMSIG(raw) : -1000};
}

std::size_t count(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (std::size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("the bar: rows, rate and ETA, at most ten lines a second, cleared when its task ends") {
  Screen screen;
  double now = 10.0;
  ProgressBar bar(ProgressOutput{&screen.out, 80, [&] { return now; }}, "sample");
  now = 11.0;
  bar.update(256, 1000);  // 256 rows in 1 s: 744 left at 256/s
  CHECK(screen.fresh() == "\rsample [####............] 256/1000 rows 256/s ETA 3s");
  now = 11.05;
  bar.update(512, 1000);
  CHECK(screen.fresh().empty());  // 50 ms after the last line
  now = 12.0;
  bar.update(768, 1000);
  CHECK(screen.fresh() == "\rsample [############....] 768/1000 rows 384/s ETA 1s");
  now = 12.5;
  bar.update(1000, 1000);  // done: the line is blanked, the cursor back at its start
  CHECK(screen.fresh() == "\r" + std::string(52, ' ') + "\r");
  bar.finish();
  CHECK(screen.fresh().empty());
}

TEST_CASE("the bar of a task of passes counts the rows of all of them; a long label is cut to the width") {
  Screen screen;
  double now = 0.0;
  ProgressBar bar(ProgressOutput{&screen.out, 60, [&] { return now; }}, "encode + decode, a label too long to fit", 2);
  now = 2.0;
  bar.update(500, 500);  // the first pass done: half the task
  const std::string line = screen.fresh();
  CHECK(line.size() == 60);  // '\r' and 59 columns
  CHECK(line == "\rencode + d... [########........] 500/1000 rows 250/s ETA 2s");
  now = 4.0;
  bar.update(250, 500);
  CHECK(screen.fresh().find(" 750/1000 rows 188/s ETA 1s") != std::string::npos);
  // A new task starts its count and clock afresh, its line over the last one.
  bar.start("run 2/3");
  now = 5.0;
  bar.update(100, 400);
  const std::string next = screen.fresh();
  CHECK(next.rfind("\rrun 2/3 [####............] 100/400 rows 100/s ETA 3s", 0) == 0);
  CHECK(next.size() == line.size());  // spaces over the rest of the longer line
}

TEST_CASE("a bar without a stream draws nothing but is the callback; rates and durations in short form") {
  ProgressBar quiet(ProgressOutput{}, "sample");
  const tweedie::Execution silent = quiet.attach(tweedie::Execution{2, 16});
  REQUIRE(silent.progress);  // the interrupt's way to the library
  CHECK(silent.progress(1, 2));
  Screen screen;
  ProgressBar shown(ProgressOutput{&screen.out, 80}, "sample");
  const tweedie::Execution e = shown.attach(tweedie::Execution{2, 16});
  CHECK(e.threads == 2);
  CHECK(e.chunk_rows == 16);
  REQUIRE(e.progress);
  CHECK(e.progress(1, 2));
  CHECK(screen.fresh().find("1/2 rows") != std::string::npos);
  CHECK(tweedie::cli::short_count(999.0) == "999");
  CHECK(tweedie::cli::short_count(999.7) == "1k");
  CHECK(tweedie::cli::short_count(2049.0) == "2.05k");
  CHECK(tweedie::cli::short_count(3.2e7) == "32M");
  CHECK(tweedie::cli::short_duration(42.4) == "42s");
  CHECK(tweedie::cli::short_duration(185.0) == "3m05s");
  CHECK(tweedie::cli::short_duration(7620.0) == "2h07m");
  CHECK(tweedie::cli::short_duration(-1.0) == "--");
}

TEST_CASE("tweedie on a terminal draws the bar on standard error; --quiet and a pipe do not") {
  tweedie::test::TempDir dir;
  const std::vector<std::string> args{"sample", "--target", "builtin:ring", "--steps", "20", "-n", "4000",
                                      "--threads", "1", "--chunk", "100", "--out", dir.file("x.npy")};
  const auto [shown, status] = run_on_terminal(args);
  CAPTURE(shown);
  CHECK(status == 0);
  CHECK(shown.find("\rsample [") != std::string::npos);
  CHECK(shown.find("/4000 rows ") != std::string::npos);
  CHECK(shown.find("ETA ") != std::string::npos);
  CHECK(shown.find("em: 20 steps") != std::string::npos);  // the summary, after the blanked line

  std::vector<std::string> quiet = args;
  quiet.push_back("--quiet");
  const auto [plain, quiet_status] = run_on_terminal(quiet);
  CAPTURE(plain);
  CHECK(quiet_status == 0);
  CHECK(plain.find("rows") == std::string::npos);
  CHECK(count(plain, "\r") == count(plain, "\r\n"));  // only the terminal's line ends

  const auto piped = tweedie::test::run_cli_split(
      "sample --target builtin:ring --steps 20 -n 4000 --threads 1 --chunk 100 --out " + dir.file("y.npy"),
      dir.path().string());
  CHECK(piped.status == 0);
  CHECK(piped.err.empty());
}

TEST_CASE("an error during a run on a terminal comes on a line of its own, the bar blanked first") {
  tweedie::test::TempDir dir;
  tweedie::Matrix init = tweedie::Matrix::Zero(1000, 2);
  init(750, 0) = 1e300;  // chunk 7 of 10: its score overflows
  tweedie::write_npy(dir.file("init.npy"), init);
  const auto [shown, status] = run_on_terminal({"sample", "--target", "builtin:ring", "--steps", "5", "--init",
                                                dir.file("init.npy"), "--threads", "1", "--chunk", "100", "--out",
                                                dir.file("x.npy")});
  CAPTURE(shown);
  CHECK(status == 2);
  CHECK(shown.find("\rsample [") != std::string::npos);
  const std::size_t error = shown.find("tweedie: error: ");
  REQUIRE(error != std::string::npos);
  CHECK(shown.find("non-finite", error) != std::string::npos);
  // From the last bar to the error: the bar's text, then its line blanked and the cursor back.
  const std::size_t bar = shown.rfind("\rsample [", error);
  REQUIRE(bar != std::string::npos);
  const std::string tail = shown.substr(bar + 1, error - bar - 1);
  const std::size_t blank = tail.find('\r');
  REQUIRE(blank != std::string::npos);
  const std::string text = tail.substr(0, tail.find_last_not_of(' ', blank - 1) + 1);
  CHECK(text.find("/1000 rows") != std::string::npos);
  const std::string spaces = tail.substr(blank + 1, tail.size() - blank - 2);
  CHECK(tail.back() == '\r');
  CHECK(spaces.size() >= text.size());
  CHECK(spaces.find_first_not_of(' ') == std::string::npos);
}

TEST_CASE("compare draws one bar over every run and reference solution, its ETA the whole comparison's") {
  tweedie::test::TempDir dir;
  // euler and heun (their default grids end at the same time: one truth, two reference solves) at
  // two budgets: 6 calls of 300 rows.
  const auto [shown, status] =
      run_on_terminal({"compare", "--target", "builtin:ring2d", "--samplers", "euler,heun", "--nfe", "4,8", "-n", "300",
                       "--threads", "1", "--chunk", "30", "--report", dir.file("report")});
  CAPTURE(shown);
  CHECK(status == 0);
  CHECK(shown.find("/1800 rows ") != std::string::npos);
  CHECK(shown.find("/300 rows ") == std::string::npos);  // no bar of one call
  CHECK(shown.find("\rreference dopri5 tol 1e-10 [") != std::string::npos);  // the first call's label
  CHECK(shown.find("| heun ") != std::string::npos);  // the table, after the blanked bar
}

TEST_CASE("Ctrl-C: status 130 and one line, no output or temporary file; a second Ctrl-C kills at once") {
  tweedie::test::TempDir dir;
  // Ten chunks of 0.25 s or more on one thread: Ctrl-C after the first (the bar) ends the run after
  // the second; a second Ctrl-C 0.1 s after the first, in the second chunk, ends it there.
  const std::vector<std::string> args{"sample", "--target", "builtin:ring", "--steps", "400", "-n", "20000",
                                      "--threads", "1", "--chunk", "2000", "--out", dir.file("x.npy")};
  const auto [shown, status] = run_on_terminal(args, {"\x03"});
  CAPTURE(shown);
  CHECK(status == 130);
  CHECK(count(shown, "tweedie: interrupted") == 1);
  CHECK(shown.find("error") == std::string::npos);
  CHECK(std::filesystem::is_empty(dir.path()));  // no x.npy, nothing temporary

  const auto [killed, killed_status] = run_on_terminal(args, {"\x03", "\x03"});
  CAPTURE(killed);
  CHECK(killed_status == -SIGINT);  // the default action, before the running chunk ended
  CHECK(killed.find("tweedie: interrupted") == std::string::npos);
  CHECK(std::filesystem::is_empty(dir.path()));

  // compare: interrupted in its runs, no report folder.
  const auto [compared, compare_status] =
      run_on_terminal({"compare", "--target", "builtin:ring2d", "--samplers", "em", "--nfe", "200,400", "-n", "20000",
                       "--threads", "1", "--chunk", "100", "--report", dir.file("report")},
                      {"\x03"});
  CAPTURE(compared);
  CHECK(compare_status == 130);
  CHECK(count(compared, "tweedie: interrupted") == 1);
  CHECK(std::filesystem::is_empty(dir.path()));
}
