// Writing an output file so that it never damages what it replaces (used by src/npy.cpp).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace tweedie::detail {

/// Buffered writes to one open file; every error throws InvalidArgument naming the path and errno.
class OutputSink {
 public:
  OutputSink(int fd, std::string name);
  void write(const void* data, std::size_t bytes);
  void flush();

 private:
  int fd_;
  std::string name_;
  std::vector<char> buffer_;
  std::size_t used_ = 0;
};

/// Writes what `fill` produces to `path`:
/// - "-" is standard output;
/// - a symbolic link is followed (chains too) and its final target is what gets written;
/// - an existing file that is not a regular one (a device, a FIFO, /dev/stdout) is written in place;
/// - otherwise the data go to an unnamed file in the target's directory (O_TMPFILE; a named
///   temporary removed on every error path and on SIGINT/SIGTERM/SIGHUP where O_TMPFILE is not
///   available), which is fsynced, then linked or renamed over the path, and the directory is
///   fsynced. A process killed at any point leaves the previous file intact and, with O_TMPFILE,
///   no temporary file. A new file gets mode 0666 minus the umask; a replaced file keeps its mode
///   and, where permitted, its owner and group (hard links to it are split, as by any rename).
/// Errors throw InvalidArgument "cannot write '<path>': <reason>".
void write_output_file(const std::string& path, const std::function<void(OutputSink&)>& fill);

/// Whether `path` names (after following symbolic links) an existing file that is not a regular
/// file or a directory: such a path is written in place, whatever its name.
bool is_special_file(const std::string& path);

}  // namespace tweedie::detail
