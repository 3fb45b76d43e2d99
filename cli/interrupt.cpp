#include "interrupt.hpp"

#include <tweedie/types.hpp>

#include <atomic>
#include <csignal>

#include <signal.h>

namespace tweedie::cli {
namespace {

// Lock-free, hence async-signal-safe to store from the handler.
std::atomic<bool> interrupt_seen{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void on_interrupt(int) { interrupt_seen.store(true, std::memory_order_relaxed); }

}  // namespace

void catch_interrupts() {
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  // One-shot: the default action is back for a second Ctrl-C. SA_RESTART: a read or write that
  // the signal interrupts goes on instead of failing with EINTR.
  action.sa_flags = SA_RESETHAND | SA_RESTART;
  ::sigaction(SIGINT, &action, nullptr);
}

bool interrupted() { return interrupt_seen.load(std::memory_order_relaxed); }

void stop_if_interrupted() {
  if (interrupted()) throw Cancelled("interrupted");
}

int failure_status(const std::string& line) { return line == interrupted_line ? interrupted_status : 2; }

}  // namespace tweedie::cli
