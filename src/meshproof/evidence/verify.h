#pragma once
// The verifier (evidence-ledger.md §8.5-8.6): checks every record, every artifact, the signed
// checkpoint, the checkpoint history and a trusted last-seen state, and reports findings with
// codes. Errors (E_*) mean the evidence cannot be trusted; warnings (W_*) are the traces a crash
// may leave (a torn uncommitted last line, an uncheckpointed tail, a committed artifact still
// staged, an orphaned staged file) and the first verification without a trusted state.
//
// Thread-safety: none needed; verify() only reads (and, on success, writes the state file).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "meshproof/core/result.h"
#include "meshproof/evidence/note.h"

namespace meshproof::evidence {

struct Finding {
  std::string code; // "E_ARTIFACT_HASH", "W_TORN_TAIL", ...
  std::optional<uint64_t> seq;
  std::string path;
  std::optional<uint64_t> offset;
  std::string detail;
  bool error() const { return !code.empty() && code[0] == 'E'; }
  // "CODE seq=<n|-> path=<p|-> offset=<byte|-> detail"
  std::string format() const;
};

struct VerifyOptions {
  std::string dir;
  std::string sprint; // empty: the directory's name
  std::vector<Verifier> verifiers;
  // A checkpoint (signed note) this verifier saw before: the ledger must extend it.
  std::string trusted_checkpoint;
  // Where the last accepted checkpoint is kept (read like trusted_checkpoint when it exists,
  // replaced atomically after a verification without errors); empty: none.
  std::string state_file;
};

struct VerifyReport {
  std::vector<Finding> findings; // by seq, then in the order found
  uint64_t records = 0;
  std::string root; // hex MTH over every record
  std::optional<Checkpoint> checkpoint;
  bool ok() const; // no error
  bool warnings() const;
};

// IO problems that stop the check itself (an unreadable directory) are errors of the Result; bad
// evidence is findings.
core::Result<VerifyReport> verify(const VerifyOptions& options);

// 0 no errors; 1 errors; 3 warnings only with `strict`.
int verifyExitCode(const VerifyReport& report, bool strict);

} // namespace meshproof::evidence
