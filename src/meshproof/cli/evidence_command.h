#pragma once
// `meshproof evidence add|verify|log|prove|check-proof` (evidence/*.h):
//   add DIR FILE... --kind K [--path P]   record files as evidence (one group commit)
//   verify DIR [--json] [--strict] [--trusted-checkpoint F]
//   log DIR [--json]                      the records
//   prove DIR PATH [--out F]              a C2SP tlog-proof of one artifact
//   check-proof PROOF ARTIFACT            the standalone check an auditor runs
// Keys: the signing key of sprint S is ${MESHPROOF_KEY_DIR:-${XDG_CONFIG_HOME:-~/.config}/
// meshproof/keys}/S.key (mode 0600, created on first `add`; --key overrides), its verifier key
// beside it as S.pub; verify and check-proof use --vkey (a key or a file of keys) or that .pub.
// verify remembers the last accepted checkpoint in ${XDG_STATE_HOME:-~/.local/state}/meshproof/
// verify/S.ckpt (--no-state: none) and reports a rollback or a fork against it.
// Exit codes: 0 ok, 1 integrity failure, 2 usage or IO error, 3 warnings only with --strict.

#include <iosfwd>
#include <string>
#include <vector>

#include "meshproof/core/result.h"
#include "meshproof/evidence/ledger.h"
#include "meshproof/evidence/note.h"
#include "meshproof/evidence/verify.h"

namespace meshproof::cli {

struct EvidenceCommandOptions {
  std::vector<std::string> args; // the action and its positional arguments
  std::string kind;
  std::string path;
  std::string key;                // signing key file
  std::vector<std::string> vkeys; // verifier keys or files of them
  std::string trusted_checkpoint;
  std::string out;
  bool json = false;
  bool strict = false;
  bool no_state = false;
};

// Where signing keys are kept: $MESHPROOF_KEY_DIR, else $XDG_CONFIG_HOME/meshproof/keys, else
// ~/.config/meshproof/keys.
std::string keyDir();
// The signing key for `sprint`: read from `path`, or created there (mode 0600) with its .pub
// beside it (said on `err`). Errors name the file.
core::Result<evidence::Signer> loadOrCreateKey(const std::string& path, const std::string& sprint,
                                               std::ostream& err);

// Records artifacts in the ledger of `dir` (one group commit) with the signing key of the sprint
// the directory is named after (created on first use, as `evidence add` does); the problem, if any.
core::Status recordEvidence(const std::string& dir, const std::vector<evidence::NewArtifact>& batch,
                            std::ostream& err);
// `evidence verify` of `dir` with that sprint's own verifier key (no trusted state).
core::Result<evidence::VerifyReport> verifyEvidence(const std::string& dir, std::ostream& err);

int evidenceCommand(const EvidenceCommandOptions& options, std::ostream& out, std::ostream& err);

} // namespace meshproof::cli
