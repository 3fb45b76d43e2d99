// Ctrl-C during a computation. The first SIGINT only sets a flag, which the commands' progress
// callback (ProgressBar::attach, installed with or without a bar) turns into `false`: the library
// stops scheduling chunks and throws Cancelled once the running ones end, and the program prints
// one line, writes nothing and exits with status 130. The handler is one-shot (SA_RESETHAND), so
// a second SIGINT ends the program at once with the default action.
#pragma once

#include <string>

namespace tweedie::cli {

/// The line and exit status of an interrupted run (128 + SIGINT, as a shell reports a process
/// that SIGINT ended).
inline constexpr const char* interrupted_line = "tweedie: interrupted";
inline constexpr int interrupted_status = 130;

/// Installs the one-shot SIGINT handler (the computing subcommands, before they start).
void catch_interrupts();
/// Whether SIGINT arrived since catch_interrupts() (a lock-free atomic the handler sets).
bool interrupted();
/// Throws tweedie::Cancelled when interrupted: where a command is about to write its outputs, so
/// that an interrupt between the computation's last chunk and the writing writes nothing.
void stop_if_interrupted();
/// The exit status of a run that failed with error line `line`: interrupted_status for the
/// interrupt's line, else 2.
int failure_status(const std::string& line);

}  // namespace tweedie::cli
