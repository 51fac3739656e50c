#pragma once
// The writer side of the evidence ledger (evidence-ledger.md §8.1-8.4): evidence/<sprint>/ with
// ledger.jsonl (one record per artifact, the Merkle leaves), artifacts/, checkpoint (the signed
// root) and checkpoints/<size>.ckpt (every checkpoint ever signed).
//
// append() is crash-safe and rolls forward: under flock(.lock) it first finishes what a crashed
// writer left (truncates an uncommitted torn last line, recording a `repair` record; renames
// committed artifacts still in artifacts/.staging/; removes uncommitted staged files; signs a
// checkpoint over an uncheckpointed tail), then stages every new artifact (fsync file and
// directory), writes all their ledger lines with one write(2) and one fsync (the commit point;
// group commit), renames the staged files into place (fsync of the directories) and writes the
// checkpoint through a temporary file and rename. A SIGKILL at any instant leaves a ledger that
// verifies with at most the crash warnings of verify.h.
//
// Thread-safety: none inside a process; processes are serialised by the lock file.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "meshproof/core/clock.h"
#include "meshproof/core/result.h"
#include "meshproof/evidence/crypto.h"
#include "meshproof/evidence/note.h"

namespace meshproof::evidence {

// One record, parsed (the leaf is the hash of the exact line; parsing is for checks).
struct Record {
  int v = 0;
  uint64_t seq = 0;
  std::string ts;
  std::string sprint;
  std::string kind;
  std::string path; // relative to artifacts/
  uint64_t size = 0;
  std::string sha256; // hex
  std::string prev;   // hex leaf hash of seq - 1 (zeros for seq 0)
};

// Parses one ledger line; the error names the field.
core::Result<Record> parseRecord(std::string_view line);
// The line for a record: compact JSON, fixed key order v, seq, ts, sprint, kind, path, size,
// sha256, prev (no newline).
std::string formatRecord(const Record& r);
// "2026-11-28T01:02:03.456Z": UTC, exactly milliseconds (string order is time order).
std::string formatLedgerTime(core::WallTime t);
bool validLedgerTime(std::string_view ts);
// A path inside artifacts/: relative, '/'-separated, no empty, "." or ".." segments, not under
// .staging/, printable ASCII or UTF-8 without control characters.
bool validArtifactPath(std::string_view path);

// The ledger file split into lines: every "\n"-terminated line with its byte offset, and the
// offset of an unterminated tail (a torn write) if any.
struct LedgerLines {
  std::vector<std::string> lines;
  std::vector<uint64_t> offsets;
  std::optional<uint64_t> torn_at;
  uint64_t torn_bytes = 0;
};
core::Result<LedgerLines> readLedger(const std::string& dir);

std::string originOf(std::string_view sprint);

// A whole file's bytes; nullopt when it cannot be opened.
std::optional<std::string> readFileBytes(const std::string& path);

struct NewArtifact {
  std::string kind;
  std::string path;   // inside artifacts/; empty: "<kind>/<basename of source>"
  std::string source; // a file to copy in; when empty, `content` is the artifact's bytes
  std::string content;
};

struct AppendOptions {
  std::string dir;    // evidence/<sprint>
  std::string sprint; // empty: the directory's name
  Signer signer;      // its name must be originOf(sprint)
};

struct AppendResult {
  std::vector<Record> records; // the new ones (a repair record first, if there was one)
  Checkpoint checkpoint;
  std::vector<std::string> recovered; // what was finished for a crashed writer
};

core::Result<AppendResult> append(const AppendOptions& options,
                                  const std::vector<NewArtifact>& artifacts, core::Clock& clock);

} // namespace meshproof::evidence
