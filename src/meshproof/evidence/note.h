#pragma once
// C2SP signed notes with Ed25519 keys (signed-note.md, golang.org/x/mod/sumdb/note) and the
// checkpoints built on them (tlog-checkpoint.md): the signed root of a ledger.
//
//   verifier key  <name>+<8 hex key id>+<base64(0x01 || 32-byte public key)>
//   signer key    PRIVATE+KEY+<name>+<8 hex key id>+<base64(0x01 || 32-byte seed)>
//   key id        the first 4 bytes (big-endian) of SHA-256(name || "\n" || 0x01 || public key)
//   note          text (ending "\n"), a blank line, then lines "— <name> <base64(id || sig)>"
//   checkpoint    text = origin "\n" size "\n" base64(root) "\n" [extension lines]
//
// Pure functions; thread-safe.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "meshproof/core/result.h"
#include "meshproof/evidence/crypto.h"

namespace meshproof::evidence {

// A key name is non-empty, with no Unicode spaces (checked: ASCII whitespace and control
// characters) and no '+'.
bool validKeyName(std::string_view name);
uint32_t keyId(std::string_view name, std::string_view public_key);

struct Verifier {
  std::string name;
  uint32_t id = 0;
  std::string public_key; // 32 bytes
};

struct Signer {
  std::string name;
  uint32_t id = 0;
  Ed25519Key key;
};

core::Result<Verifier> parseVerifierKey(std::string_view vkey);
core::Result<Signer> parseSignerKey(std::string_view skey);
std::string formatVerifierKey(const Verifier& v);
std::string formatSignerKey(const Signer& s);
core::Result<Signer> signerFromSeed(std::string_view name, std::string_view seed);
Verifier verifierOf(const Signer& s);

// The text must end in "\n" and be valid for a note. Returns text + "\n" + the signature line.
core::Result<std::string> signNote(std::string_view text, const Signer& signer);

struct OpenedNote {
  std::string text;
  std::vector<std::string> verified; // names of known keys whose signature verified
  size_t unknown = 0;                // signatures of keys not among the verifiers
};

// Why a note was rejected.
enum class NoteError { None, Malformed, InvalidSignature, NoTrustedSignature };

struct NoteResult {
  NoteError error = NoteError::None;
  std::string detail;
  OpenedNote note;
};

// Opens a note against the known verifiers: malformed notes (no signature block, no final newline,
// control characters, bad lines, > 100 signatures) are rejected; a known key's failing signature
// rejects the note; at least one known key must verify.
NoteResult openNote(std::string_view note, const std::vector<Verifier>& verifiers);

struct Checkpoint {
  std::string origin;
  uint64_t size = 0;
  Digest root{};
};

std::string formatCheckpointText(const Checkpoint& c);
// Parses a checkpoint's text (the note text): errors say which line is wrong (size with a leading
// zero, root not 32 bytes of base64, ...).
core::Result<Checkpoint> parseCheckpointText(std::string_view text);

} // namespace meshproof::evidence
