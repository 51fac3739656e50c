#pragma once
// The meshproof command line (DESIGN.md §5). cli/ is the only folder that wires concrete objects
// together. Exit codes: 0 ok, 1 a check failed, 2 usage or configuration error.

namespace meshproof::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitCheckFailed = 1;
inline constexpr int kExitUsage = 2;

// Parses argv, runs the subcommand, returns the process exit code. Never throws.
int run(int argc, char** argv);

} // namespace meshproof::cli
