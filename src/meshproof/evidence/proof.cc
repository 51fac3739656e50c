#include "meshproof/evidence/proof.h"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "meshproof/evidence/format.h"
#include "meshproof/evidence/ledger.h"
#include "meshproof/evidence/merkle.h"

namespace meshproof::evidence {

namespace {

core::Result<std::string> currentCheckpoint(const std::string& dir) {
  auto note = readFileBytes((std::filesystem::path(dir) / kCheckpointFile).string());
  if (!note) {
    return core::notFound(dir + ": no checkpoint");
  }
  return *note;
}

core::Status invalid(const std::string& why) {
  return core::invalidArgument("E_PROOF_INVALID: " + why);
}

} // namespace

core::Result<std::string> makeProof(const std::string& dir, uint64_t seq) {
  auto ledger = readLedger(dir);
  if (!ledger) {
    return ledger.status();
  }
  auto note = currentCheckpoint(dir);
  if (!note) {
    return note.status();
  }
  // The checkpoint's own text is trusted here only for its size; checkProof() verifies it.
  const size_t split = note->rfind("\n\n");
  auto cp = split == std::string::npos ? core::Result<Checkpoint>(invalid("checkpoint malformed"))
                                       : parseCheckpointText(note->substr(0, split + 1));
  if (!cp) {
    return cp.status();
  }
  if (seq >= cp->size || cp->size > ledger->lines.size()) {
    return core::notFound("record " + std::to_string(seq) + " is not covered by the checkpoint (" +
                          std::to_string(cp->size) + " records signed)");
  }
  std::vector<Digest> leaves;
  for (size_t i = 0; i < cp->size; ++i) {
    leaves.push_back(leafHash(ledger->lines[i]));
  }
  std::string out = std::string(kProofHeader) + "\n";
  out += "extra " + toBase64(ledger->lines[seq]) + "\n";
  out += "index " + std::to_string(seq) + "\n";
  for (const Digest& d : inclusionProof(leaves, seq, cp->size)) {
    out += toBase64(bytesOf(d)) + "\n";
  }
  out += "\n" + *note;
  return out;
}

core::Result<std::string> makeProofForPath(const std::string& dir, const std::string& path) {
  auto ledger = readLedger(dir);
  if (!ledger) {
    return ledger.status();
  }
  for (size_t i = 0; i < ledger->lines.size(); ++i) {
    auto r = parseRecord(ledger->lines[i]);
    if (r && r->path == path) {
      return makeProof(dir, i);
    }
  }
  return core::notFound("no record of artifacts/" + path + " in " + dir);
}

core::Result<ProofCheck> checkProof(std::string_view proof, std::string_view artifact_bytes,
                                    const std::vector<Verifier>& verifiers) {
  const size_t blank = proof.find("\n\n");
  if (blank == std::string_view::npos) {
    return invalid("no blank line before the checkpoint");
  }
  std::string_view head = proof.substr(0, blank + 1);
  const std::string_view note = proof.substr(blank + 2);
  auto next = [&]() -> std::string_view {
    const size_t nl = head.find('\n');
    const std::string_view line = head.substr(0, nl);
    head.remove_prefix(nl == std::string_view::npos ? head.size() : nl + 1);
    return line;
  };
  if (next() != kProofHeader) {
    return invalid("the first line is not " + std::string(kProofHeader));
  }
  std::string_view line = next();
  std::string record_line;
  if (line.substr(0, 6) == "extra ") {
    auto bytes = fromBase64(line.substr(6));
    if (!bytes) {
      return invalid("the extra line is not base64");
    }
    record_line = *bytes;
    line = next();
  } else {
    return invalid("no extra line with the ledger record");
  }
  ProofCheck out;
  if (line.substr(0, 6) != "index " ||
      std::from_chars(line.data() + 6, line.data() + line.size(), out.index).ec != std::errc() ||
      (line.size() > 7 && line[6] == '0')) {
    return invalid("no valid index line");
  }
  std::vector<Digest> path;
  while (!head.empty()) {
    auto h = fromBase64(next());
    if (!h || h->size() != 32) {
      return invalid("a proof hash is not base64 of 32 bytes");
    }
    Digest d{};
    std::copy(h->begin(), h->end(), d.begin());
    path.push_back(d);
  }
  const NoteResult opened = openNote(note, verifiers);
  if (opened.error != NoteError::None) {
    return invalid("checkpoint: " + opened.detail);
  }
  auto cp = parseCheckpointText(opened.note.text);
  if (!cp) {
    return invalid("checkpoint: " + cp.status().message());
  }
  out.checkpoint = *cp;
  if (!verifyInclusion(out.index, cp->size, leafHash(record_line), path, cp->root)) {
    return invalid("the record is not included at index " + std::to_string(out.index) +
                   " in the signed tree of size " + std::to_string(cp->size));
  }
  auto r = parseRecord(record_line);
  if (!r || r->seq != out.index) {
    return invalid("the proven record is malformed or not record " + std::to_string(out.index));
  }
  out.path = r->path;
  const Digest d = sha256(artifact_bytes);
  if (artifact_bytes.size() != r->size || toHex(d) != r->sha256) {
    return invalid("the artifact's size or sha256 is not the one recorded for " + r->path);
  }
  return out;
}

} // namespace meshproof::evidence
