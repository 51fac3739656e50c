#pragma once
// Offline inclusion proofs in the C2SP tlog-proof format (tlog-proof.md), for an auditor who holds
// one artifact and the ledger's verifier key:
//
//   c2sp.org/tlog-proof@v1
//   extra <base64 of the ledger record line>     (unauthenticated; its hash is the proven leaf)
//   index <seq>
//   <base64 hash>                                 (the audit path, leaf sibling first)
//   ...
//   <blank line>
//   <the signed checkpoint, verbatim>
//
// checkProof() accepts only when the checkpoint verifies under a known key, the record's leaf hash
// is included in its tree at `index`, the record's index is `index`, and the artifact's size and
// SHA-256 are the record's.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "meshproof/core/result.h"
#include "meshproof/evidence/note.h"

namespace meshproof::evidence {

// The proof for record `seq` of the ledger in `dir`, against its current checkpoint. Errors: no
// such record, no checkpoint, or a checkpoint that does not cover the record yet.
core::Result<std::string> makeProof(const std::string& dir, uint64_t seq);
// The proof for the record whose path (inside artifacts/) is `path`.
core::Result<std::string> makeProofForPath(const std::string& dir, const std::string& path);

struct ProofCheck {
  uint64_t index = 0;
  std::string path;
  Checkpoint checkpoint;
};

// Errors say what failed (E_PROOF_INVALID material: which part).
core::Result<ProofCheck> checkProof(std::string_view proof, std::string_view artifact_bytes,
                                    const std::vector<Verifier>& verifiers);

} // namespace meshproof::evidence
