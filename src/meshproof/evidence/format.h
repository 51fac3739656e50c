#pragma once
// The evidence ledger's format, shared by the writer (ledger.h) and the verifier (verify.h) so the
// two cannot drift: file names, the record version, hash prefixes, the signature key type, the
// proof-file header and the finding codes (evidence-ledger.md §8; docs/ledger-format.md).

#include <cstdint>
#include <string_view>

namespace meshproof::evidence {

inline constexpr int kRecordVersion = 1;

// Layout of evidence/<sprint>/.
inline constexpr std::string_view kLedgerFile = "ledger.jsonl";
inline constexpr std::string_view kCheckpointFile = "checkpoint";
inline constexpr std::string_view kCheckpointDir = "checkpoints"; // <size>.ckpt, immutable
inline constexpr std::string_view kArtifactDir = "artifacts";
inline constexpr std::string_view kStagingDir = ".staging"; // under artifacts/
inline constexpr std::string_view kLockFile = ".lock";
inline constexpr std::string_view kCheckpointSuffix = ".ckpt";

// RFC 9162 §2.1.1 domain separation.
inline constexpr uint8_t kLeafPrefix = 0x00;
inline constexpr uint8_t kNodePrefix = 0x01;

// C2SP signed-note key type for Ed25519 (signed-note.md).
inline constexpr uint8_t kEd25519KeyType = 0x01;
// Notes with more signatures are malformed (golang.org/x/mod/sumdb/note).
inline constexpr size_t kMaxSignatures = 100;

// C2SP tlog-proof header line.
inline constexpr std::string_view kProofHeader = "c2sp.org/tlog-proof@v1";

// The origin (and signing key name) of a sprint's ledger: "meshproof/evidence/<sprint>".
inline constexpr std::string_view kOriginPrefix = "meshproof/evidence/";

// The `prev` of record 0 in a ledger with no predecessor.
inline constexpr std::string_view kZeroHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

// Kinds a record may have (a user may add others with `evidence add --kind`).
inline constexpr std::string_view kKindRepair = "repair";

} // namespace meshproof::evidence
