// The program's plugins: modules it loads with dlopen only when a run needs them (the TorchScript
// models' libtorch, MPI's libraries), so that every other run starts without them.
#pragma once

namespace tweedie::cli {

/// Opens the module `file` (next to the program, then where `make install` puts plugins) once
/// with dlopen's `flags` and returns its exported `symbol`. Never closed: what it makes runs until
/// the program ends. Throws std::runtime_error naming `what` and the paths tried when it is missing.
void* plugin_symbol(const char* file, const char* symbol, const char* what, int flags);

}  // namespace tweedie::cli
