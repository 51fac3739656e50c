#include "meshproof/evidence/verify.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "meshproof/evidence/format.h"
#include "meshproof/evidence/ledger.h"
#include "meshproof/evidence/merkle.h"

namespace meshproof::evidence {

namespace fs = std::filesystem;

namespace {

bool validUtf8NoControl(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f) {
        return false;
      }
      ++i;
      continue;
    }
    const size_t len = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    if (len == 0 || i + len > s.size()) {
      return false;
    }
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) {
        return false;
      }
    }
    i += len;
  }
  return true;
}

struct Collector {
  std::vector<Finding> list;
  void add(std::string code, std::optional<uint64_t> seq, std::string path,
           std::optional<uint64_t> offset, std::string detail) {
    list.push_back({std::move(code), seq, std::move(path), offset, std::move(detail)});
  }
};

// The checkpoint note at `path`: opened, parsed, origin checked. Findings use `code_prefix` to
// say which file ("checkpoint", "checkpoints/8.ckpt", the trusted state).
std::optional<Checkpoint> openCheckpoint(const std::string& note, const std::string& name,
                                         const std::string& origin,
                                         const std::vector<Verifier>& verifiers, Collector& out,
                                         bool history) {
  const NoteResult opened = openNote(note, verifiers);
  const char* bad = history ? "E_CKPT_HISTORY_INCONSISTENT" : nullptr;
  switch (opened.error) {
  case NoteError::None:
    break;
  case NoteError::Malformed:
    out.add(bad ? bad : "E_CHECKPOINT_MALFORMED", std::nullopt, name, std::nullopt, opened.detail);
    return std::nullopt;
  case NoteError::InvalidSignature:
    out.add(bad ? bad : "E_SIG_INVALID", std::nullopt, name, std::nullopt, opened.detail);
    return std::nullopt;
  case NoteError::NoTrustedSignature:
    out.add(bad ? bad : "E_NO_TRUSTED_SIG", std::nullopt, name, std::nullopt,
            opened.detail + " (" + std::to_string(opened.note.unknown) + " unknown signer(s))");
    return std::nullopt;
  }
  auto c = parseCheckpointText(opened.note.text);
  if (!c) {
    out.add(bad ? bad : "E_CHECKPOINT_MALFORMED", std::nullopt, name, std::nullopt,
            c.status().message());
    return std::nullopt;
  }
  if (c->origin != origin) {
    out.add(bad ? bad : "E_ORIGIN_MISMATCH", std::nullopt, name, std::nullopt,
            "origin \"" + c->origin + "\", expected \"" + origin + "\"");
    return std::nullopt;
  }
  return *c;
}

} // namespace

std::string Finding::format() const {
  return code + " seq=" + (seq ? std::to_string(*seq) : "-") +
         " path=" + (path.empty() ? "-" : path) +
         " offset=" + (offset ? std::to_string(*offset) : "-") + " " + detail;
}

bool VerifyReport::ok() const {
  return std::none_of(findings.begin(), findings.end(), [](const Finding& f) { return f.error(); });
}

bool VerifyReport::warnings() const {
  return std::any_of(findings.begin(), findings.end(), [](const Finding& f) { return !f.error(); });
}

int verifyExitCode(const VerifyReport& report, bool strict) {
  if (!report.ok()) {
    return 1;
  }
  return strict && report.warnings() ? 3 : 0;
}

core::Result<VerifyReport> verify(const VerifyOptions& options) {
  const fs::path dir(options.dir);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return core::notFound(options.dir + ": no such evidence directory");
  }
  if (options.verifiers.empty()) {
    return core::invalidArgument("no verifier key: give --vkey (or keep the signing key's .pub)");
  }
  const std::string sprint = options.sprint.empty()
                                 ? fs::absolute(dir).lexically_normal().filename().string()
                                 : options.sprint;
  const std::string origin = originOf(sprint);
  Collector out;
  VerifyReport report;

  // 1-2. Lines.
  auto ledger = readLedger(options.dir);
  if (!ledger) {
    return ledger.status();
  }
  if (ledger->torn_at) {
    out.add("W_TORN_TAIL", ledger->lines.size(), "", *ledger->torn_at,
            std::to_string(ledger->torn_bytes) +
                " bytes without a final newline: an uncommitted write (the next append removes "
                "it)");
  }
  const uint64_t n = ledger->lines.size();
  std::vector<Digest> leaves;
  leaves.reserve(n);
  for (const std::string& line : ledger->lines) {
    leaves.push_back(leafHash(line));
  }
  // The root of every prefix, in one streaming pass: the checkpoint, each of the history's
  // checkpoints and the trusted state each name a size (recomputing each from the leaves would
  // cost O(records) per checkpoint, and there is one checkpoint per append).
  std::vector<Digest> prefix_roots{emptyRoot()};
  prefix_roots.reserve(n + 1);
  RootBuilder builder;
  for (const Digest& leaf : leaves) {
    builder.push(leaf);
    prefix_roots.push_back(builder.root());
  }
  report.records = n;
  report.root = toHex(prefix_roots.back());

  // 3-4. Records and artifacts.
  const fs::path artifacts_dir = dir / kArtifactDir;
  const fs::path staging = artifacts_dir / kStagingDir;
  const fs::path evidence_root = fs::weakly_canonical(fs::absolute(dir), ec);
  std::map<std::string, uint64_t> recorded; // path -> seq
  std::set<std::string> pending_staged;     // staged names that are committed records
  std::string last_ts;
  std::optional<uint64_t> first_divergent;
  for (uint64_t i = 0; i < n; ++i) {
    const std::string& line = ledger->lines[i];
    const uint64_t offset = ledger->offsets[i];
    if (line.find('\0') != std::string::npos || line.find('\r') != std::string::npos ||
        !validUtf8NoControl(line)) {
      out.add("E_LEDGER_CORRUPT", i, "", offset,
              "line " + std::to_string(i + 1) + " has NUL, CR, control bytes or invalid UTF-8");
      continue;
    }
    auto r = parseRecord(line);
    if (!r) {
      out.add(line.empty() || line[0] != '{' ? "E_LEDGER_CORRUPT" : "E_RECORD_MALFORMED", i, "",
              offset, "line " + std::to_string(i + 1) + ": " + r.status().message());
      continue;
    }
    if (r->v != kRecordVersion) {
      out.add("E_RECORD_MALFORMED", i, r->path, offset,
              "record version " + std::to_string(r->v) + ", expected 1");
    }
    if (r->seq != i) {
      out.add("E_SEQ", i, r->path, offset,
              "line " + std::to_string(i + 1) + " holds seq " + std::to_string(r->seq) +
                  " (a record was removed, inserted or moved)");
      first_divergent = std::min(first_divergent.value_or(i), i);
    }
    const std::string expected_prev = i == 0 ? std::string(kZeroHash) : toHex(leaves[i - 1]);
    if (r->prev != expected_prev) {
      out.add("E_PREV_MISMATCH", i, r->path, offset,
              "prev " + r->prev + " is not the leaf hash of record " +
                  (i == 0 ? std::string("-1 (zeros)") : std::to_string(i - 1)) + ", " +
                  expected_prev +
                  (i > 0 ? "; record " + std::to_string(i - 1) + " was changed" : ""));
      if (i > 0) {
        first_divergent = std::min(first_divergent.value_or(i - 1), i - 1);
      }
    }
    if (r->sprint != sprint) {
      out.add("E_RECORD_MALFORMED", i, r->path, offset,
              "sprint \"" + r->sprint + "\", expected \"" + sprint + "\"");
    }
    if (!validLedgerTime(r->ts)) {
      out.add("E_TS_INVALID", i, r->path, offset,
              "ts \"" + r->ts + "\" is not UTC with milliseconds (2026-11-28T01:02:03.456Z)");
    } else {
      if (r->ts < last_ts) {
        out.add("E_TS_NONMONOTONIC", i, r->path, offset,
                "ts " + r->ts + " is earlier than the previous record's " + last_ts);
      }
      last_ts = r->ts;
    }
    if (!validArtifactPath(r->path)) {
      out.add("E_PATH_ESCAPE", i, r->path, offset,
              "path is not a plain relative path inside artifacts/");
      continue;
    }
    if (!recorded.emplace(r->path, i).second) {
      out.add("E_DUP_PATH", i, r->path, offset,
              "also recorded by seq " + std::to_string(recorded[r->path]));
      continue;
    }
    const fs::path file = artifacts_dir / r->path;
    struct stat st {};
    if (::lstat(file.c_str(), &st) != 0) {
      // Committed but still staged (a writer crashed before its rename): a warning if intact.
      const fs::path staged = staging / (std::to_string(i) + "-" + file.filename().string());
      auto d = sha256File(staged.string());
      if (d && toHex(d->digest) == r->sha256 && d->size == r->size) {
        pending_staged.insert(staged.filename().string());
        out.add("W_PENDING_ROLLFORWARD", i, r->path, std::nullopt,
                "committed artifact still in artifacts/.staging (the next append moves it)");
      } else {
        out.add("E_ARTIFACT_MISSING", i, r->path, std::nullopt,
                "artifacts/" + r->path + " does not exist");
      }
      continue;
    }
    if (S_ISLNK(st.st_mode)) {
      const fs::path target = fs::weakly_canonical(file, ec);
      const auto rel = target.lexically_relative(evidence_root);
      const bool outside = rel.empty() || *rel.begin() == "..";
      out.add(outside ? "E_PATH_ESCAPE" : "E_ARTIFACT_NOT_REGULAR", i, r->path, std::nullopt,
              "a symbolic link" + std::string(outside ? " to outside the evidence directory" : ""));
      continue;
    }
    if (!S_ISREG(st.st_mode)) {
      out.add("E_ARTIFACT_NOT_REGULAR", i, r->path, std::nullopt, "not a regular file");
      continue;
    }
    auto d = sha256File(file.string());
    if (!d) {
      out.add("E_ARTIFACT_MISSING", i, r->path, std::nullopt, d.status().message());
      continue;
    }
    if (d->size != r->size) {
      out.add("E_ARTIFACT_SIZE", i, r->path, std::nullopt,
              "size " + std::to_string(d->size) + ", recorded " + std::to_string(r->size));
    } else if (toHex(d->digest) != r->sha256) {
      out.add("E_ARTIFACT_HASH", i, r->path, std::nullopt,
              "sha256 " + toHex(d->digest) + ", recorded " + r->sha256);
    }
  }

  // 5. Files nobody recorded.
  if (fs::is_directory(artifacts_dir, ec)) {
    for (auto it = fs::recursive_directory_iterator(artifacts_dir, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) {
        break;
      }
      const fs::path rel = it->path().lexically_relative(artifacts_dir);
      if (*rel.begin() == kStagingDir) {
        if (it->is_regular_file(ec) && pending_staged.count(it->path().filename().string()) == 0) {
          out.add("W_STAGED_ORPHAN", std::nullopt, rel.generic_string(), std::nullopt,
                  "staged but never committed (the next append removes it)");
        }
        continue;
      }
      if (it->is_directory(ec) && !it->is_symlink(ec)) {
        continue;
      }
      if (recorded.count(rel.generic_string()) == 0) {
        out.add("E_UNREGISTERED_FILE", std::nullopt, rel.generic_string(), std::nullopt,
                "artifacts/" + rel.generic_string() + " is not recorded in the ledger");
      }
    }
  }

  // 6-7. The checkpoint.
  const auto note = readFileBytes((dir / kCheckpointFile).string());
  std::optional<Checkpoint> cp;
  if (!note) {
    if (n > 0) {
      out.add("E_CHECKPOINT_MISSING", std::nullopt, std::string(kCheckpointFile), std::nullopt,
              "the ledger has records but no signed checkpoint");
    }
  } else {
    cp = openCheckpoint(*note, std::string(kCheckpointFile), origin, options.verifiers, out, false);
  }
  if (cp) {
    report.checkpoint = cp;
    if (cp->size > n) {
      out.add("E_TRUNCATED", std::nullopt, std::string(kLedgerFile), std::nullopt,
              "the checkpoint signs " + std::to_string(cp->size) + " records, the ledger has " +
                  std::to_string(n) + " (" + std::to_string(cp->size - n) + " removed)");
    } else if (prefix_roots[cp->size] != cp->root) {
      out.add("E_ROOT_MISMATCH", first_divergent, std::string(kLedgerFile), std::nullopt,
              "the Merkle root of the first " + std::to_string(cp->size) +
                  " records is not the signed one" +
                  (first_divergent
                       ? "; first divergent record: seq " + std::to_string(*first_divergent)
                       : ""));
    } else if (cp->size < n) {
      out.add("W_UNCHECKPOINTED_TAIL", cp->size, "", std::nullopt,
              "records " + std::to_string(cp->size) + ".." + std::to_string(n - 1) +
                  " are committed but not yet signed (the next append signs them)");
    }
  }

  // 8. The checkpoint history.
  std::map<uint64_t, Digest> history;
  for (const auto& entry : fs::directory_iterator(dir / kCheckpointDir, ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() != kCheckpointSuffix) {
      continue; // a crashed writer's .tmp
    }
    const std::string shown = std::string(kCheckpointDir) + "/" + name;
    auto text = readFileBytes(entry.path().string());
    auto c =
        text ? openCheckpoint(*text, shown, origin, options.verifiers, out, true) : std::nullopt;
    if (!c) {
      continue;
    }
    if (name != std::to_string(c->size) + std::string(kCheckpointSuffix)) {
      out.add("E_CKPT_HISTORY_INCONSISTENT", std::nullopt, shown, std::nullopt,
              "signs size " + std::to_string(c->size) + " under another name");
    } else if (c->size > n) {
      out.add("E_CKPT_HISTORY_INCONSISTENT", std::nullopt, shown, std::nullopt,
              "signs " + std::to_string(c->size) + " records, the ledger has " + std::to_string(n));
    } else if (prefix_roots[c->size] != c->root) {
      out.add("E_CKPT_HISTORY_INCONSISTENT", std::nullopt, shown, std::nullopt,
              "the ledger's first " + std::to_string(c->size) +
                  " records no longer have the root this checkpoint signed (history rewritten)");
    }
    history[c->size] = c->root;
  }

  // 9. The trusted state.
  std::string trusted_source = options.trusted_checkpoint;
  if (trusted_source.empty() && !options.state_file.empty() && fs::exists(options.state_file, ec)) {
    trusted_source = options.state_file;
  }
  if (!trusted_source.empty()) {
    auto text = readFileBytes(trusted_source);
    if (!text) {
      return core::notFound(trusted_source + ": cannot read the trusted checkpoint");
    }
    Collector trusted_findings;
    auto t =
        openCheckpoint(*text, trusted_source, origin, options.verifiers, trusted_findings, false);
    if (!t) {
      return core::invalidArgument("the trusted checkpoint " + trusted_source +
                                   " is unusable: " + trusted_findings.list.front().detail);
    }
    const uint64_t signed_size = cp ? cp->size : n;
    if (t->size > signed_size) {
      out.add("E_ROLLBACK", std::nullopt, std::string(kCheckpointFile), std::nullopt,
              "a checkpoint of size " + std::to_string(t->size) +
                  " was seen before; this ledger is signed at size " + std::to_string(signed_size) +
                  " (rolled back)");
    } else if (t->size > n || prefix_roots[t->size] != t->root) {
      out.add("E_FORK", std::nullopt, std::string(kLedgerFile), std::nullopt,
              "the trusted checkpoint (size " + std::to_string(t->size) + ", root " +
                  toHex(t->root) + ") is not a prefix of this ledger (root of its first " +
                  std::to_string(t->size) + " records " +
                  (t->size <= n ? toHex(prefix_roots[t->size]) : std::string("-")) +
                  "): history was rewritten");
    }
  } else if (!options.state_file.empty()) {
    out.add("W_NO_TRUSTED_STATE", std::nullopt, "", std::nullopt,
            "first verification here: this checkpoint is trusted from now on");
  }
  report.findings = std::move(out.list);
  std::stable_sort(report.findings.begin(), report.findings.end(),
                   [](const Finding& a, const Finding& b) {
                     return a.seq.value_or(UINT64_MAX) < b.seq.value_or(UINT64_MAX);
                   });
  // Remember what was accepted.
  if (report.ok() && cp && note && !options.state_file.empty()) {
    const fs::path state(options.state_file);
    fs::create_directories(state.parent_path(), ec);
    const fs::path tmp = state.string() + ".tmp";
    {
      std::ofstream o(tmp, std::ios::binary | std::ios::trunc);
      o << *note;
    }
    fs::rename(tmp, state, ec);
  }
  return report;
}

} // namespace meshproof::evidence
