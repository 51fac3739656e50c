#include "meshproof/cli/evidence_command.h"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "meshproof/cli/app.h"
#include "meshproof/evidence/ledger.h"
#include "meshproof/evidence/proof.h"
#include "meshproof/evidence/verify.h"

namespace meshproof::cli {

namespace fs = std::filesystem;

namespace {

std::string envOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

std::string home() {
  return envOr("HOME", "/root");
}

} // namespace

std::string keyDir() {
  return envOr("MESHPROOF_KEY_DIR",
               envOr("XDG_CONFIG_HOME", home() + "/.config") + "/meshproof/keys");
}

namespace {

std::string sprintOf(const std::string& dir) {
  return fs::absolute(dir).lexically_normal().filename().string();
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) {
    s.pop_back();
  }
  return s;
}

} // namespace

core::Result<evidence::Signer> loadOrCreateKey(const std::string& path, const std::string& sprint,
                                               std::ostream& err) {
  const std::string name = evidence::originOf(sprint);
  if (auto text = evidence::readFileBytes(path)) {
    auto s = evidence::parseSignerKey(trim(*text));
    if (!s) {
      return core::invalidArgument(path + ": " + s.status().message());
    }
    if (s->name != name) {
      return core::invalidArgument(path + ": the key is for \"" + s->name + "\", not \"" + name +
                                   "\"");
    }
    return s;
  }
  std::error_code ec;
  if (fs::exists(path, ec)) {
    return core::invalidArgument(path + ": the signing key exists but cannot be read");
  }
  auto key = evidence::ed25519Generate();
  if (!key) {
    return key.status();
  }
  auto s = evidence::signerFromSeed(name, key->seed);
  if (!s) {
    return s.status();
  }
  fs::create_directories(fs::path(path).parent_path(), ec);
  const mode_t old = ::umask(077);
  {
    std::ofstream o(path, std::ios::binary | std::ios::trunc);
    o << evidence::formatSignerKey(*s) << '\n';
    if (!o) {
      ::umask(old);
      return core::ioError(path + ": cannot write the new signing key");
    }
  }
  ::umask(old);
  ::chmod(path.c_str(), 0600);
  std::ofstream pub(fs::path(path).replace_extension(".pub"), std::ios::trunc);
  pub << evidence::formatVerifierKey(evidence::verifierOf(*s)) << '\n';
  err << "meshproof evidence: created the signing key " << path << " (mode 0600) for " << name
      << "; its verifier key is " << fs::path(path).replace_extension(".pub").string() << '\n';
  return s;
}

namespace {

// Verifier keys from --vkey (keys or files of keys, one per line), or the sprint key's .pub.
core::Result<std::vector<evidence::Verifier>> loadVerifiers(const EvidenceCommandOptions& o,
                                                            const std::string& sprint) {
  std::vector<std::string> sources = o.vkeys;
  if (sources.empty()) {
    const std::string key = o.key.empty() ? keyDir() + "/" + sprint + ".key" : o.key;
    sources.push_back(fs::path(key).replace_extension(".pub").string());
  }
  std::vector<evidence::Verifier> out;
  for (const std::string& src : sources) {
    std::error_code ec;
    std::string text = src;
    if (fs::exists(src, ec)) {
      text = evidence::readFileBytes(src).value_or("");
    } else if (src.find('+') == std::string::npos) {
      return core::notFound("verifier key " + src +
                            ": no such file (give --vkey NAME+HASH+KEY or a file of them)");
    }
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
      line = trim(line);
      if (line.empty() || line[0] == '#') {
        continue;
      }
      auto v = evidence::parseVerifierKey(line);
      if (!v) {
        return core::invalidArgument(src + ": " + v.status().message());
      }
      out.push_back(*v);
    }
  }
  return out;
}

int add(const EvidenceCommandOptions& o, std::ostream& out, std::ostream& err) {
  if (o.args.size() < 3 || o.kind.empty()) {
    err << "meshproof evidence add DIR FILE... --kind KIND [--path P]\n";
    return kExitUsage;
  }
  if (!o.path.empty() && o.args.size() != 3) {
    err << "meshproof evidence add: --path names one file; give one FILE with it\n";
    return kExitUsage;
  }
  const std::string dir = o.args[1];
  const std::string sprint = sprintOf(dir);
  auto signer =
      loadOrCreateKey(o.key.empty() ? keyDir() + "/" + sprint + ".key" : o.key, sprint, err);
  if (!signer) {
    err << "meshproof evidence add: " << signer.status().message() << '\n';
    return kExitUsage;
  }
  std::vector<evidence::NewArtifact> batch;
  for (size_t i = 2; i < o.args.size(); ++i) {
    std::error_code ec;
    if (!fs::is_regular_file(o.args[i], ec)) {
      err << "meshproof evidence add: " << o.args[i] << ": not a readable file\n";
      return kExitUsage;
    }
    batch.push_back({o.kind, o.path, o.args[i], ""});
  }
  auto r = evidence::append({dir, sprint, *signer}, batch, core::RealClock::instance());
  if (!r) {
    err << "meshproof evidence add: " << r.status().message() << '\n';
    return kExitUsage;
  }
  for (const std::string& what : r->recovered) {
    err << "meshproof evidence add: recovered: " << what << '\n';
  }
  for (const evidence::Record& rec : r->records) {
    out << "seq " << rec.seq << "  " << rec.ts << "  " << rec.kind << "  " << rec.path << "  "
        << rec.sha256 << '\n';
  }
  out << "checkpoint: size " << r->checkpoint.size << ", root "
      << evidence::toHex(r->checkpoint.root) << '\n';
  return kExitOk;
}

int verifyAction(const EvidenceCommandOptions& o, std::ostream& out, std::ostream& err) {
  if (o.args.size() != 2) {
    err << "meshproof evidence verify DIR [--json] [--strict] [--trusted-checkpoint F]\n";
    return kExitUsage;
  }
  const std::string dir = o.args[1];
  const std::string sprint = sprintOf(dir);
  auto verifiers = loadVerifiers(o, sprint);
  if (!verifiers) {
    err << "meshproof evidence verify: " << verifiers.status().message() << '\n';
    return kExitUsage;
  }
  evidence::VerifyOptions vo;
  vo.dir = dir;
  vo.sprint = sprint;
  vo.verifiers = *verifiers;
  vo.trusted_checkpoint = o.trusted_checkpoint;
  if (!o.no_state) {
    vo.state_file =
        envOr("XDG_STATE_HOME", home() + "/.local/state") + "/meshproof/verify/" + sprint + ".ckpt";
  }
  auto report = evidence::verify(vo);
  if (!report) {
    err << "meshproof evidence verify: " << report.status().message() << '\n';
    return kExitUsage;
  }
  if (o.json) {
    nlohmann::json findings = nlohmann::json::array();
    for (const evidence::Finding& f : report->findings) {
      findings.push_back(
          {{"code", f.code},
           {"seq", f.seq ? nlohmann::json(*f.seq) : nlohmann::json(nullptr)},
           {"path", f.path},
           {"offset", f.offset ? nlohmann::json(*f.offset) : nlohmann::json(nullptr)},
           {"detail", f.detail}});
    }
    out << nlohmann::json{{"ok", report->ok()},
                          {"size", report->records},
                          {"root", report->root},
                          {"checkpointSize", report->checkpoint
                                                 ? nlohmann::json(report->checkpoint->size)
                                                 : nlohmann::json(nullptr)},
                          {"findings", findings}}
               .dump(2)
        << '\n';
  } else {
    for (const evidence::Finding& f : report->findings) {
      out << f.format() << '\n';
    }
    out << (report->ok() ? "OK" : "FAILED") << ": " << report->records << " records, root "
        << report->root;
    if (report->checkpoint) {
      out << ", signed at size " << report->checkpoint->size;
    }
    out << '\n';
  }
  return evidence::verifyExitCode(*report, o.strict);
}

int log(const EvidenceCommandOptions& o, std::ostream& out, std::ostream& err) {
  if (o.args.size() != 2) {
    err << "meshproof evidence log DIR [--json]\n";
    return kExitUsage;
  }
  auto ledger = evidence::readLedger(o.args[1]);
  if (!ledger) {
    err << "meshproof evidence log: " << ledger.status().message() << '\n';
    return kExitUsage;
  }
  for (size_t i = 0; i < ledger->lines.size(); ++i) {
    if (o.json) {
      out << ledger->lines[i] << '\n';
      continue;
    }
    auto r = evidence::parseRecord(ledger->lines[i]);
    if (!r) {
      out << "line " << i + 1 << ": unreadable (" << r.status().message() << ")\n";
      continue;
    }
    out << r->seq << "  " << r->ts << "  " << r->kind << "  " << r->path << "  " << r->size
        << " bytes  " << r->sha256.substr(0, 16) << "…\n";
  }
  return kExitOk;
}

int prove(const EvidenceCommandOptions& o, std::ostream& out, std::ostream& err) {
  if (o.args.size() != 3) {
    err << "meshproof evidence prove DIR PATH [--out FILE]\n";
    return kExitUsage;
  }
  auto proof = evidence::makeProofForPath(o.args[1], o.args[2]);
  if (!proof) {
    err << "meshproof evidence prove: " << proof.status().message() << '\n';
    return kExitUsage;
  }
  if (o.out.empty()) {
    out << *proof;
  } else {
    std::ofstream f(o.out, std::ios::binary | std::ios::trunc);
    f << *proof;
    if (!f) {
      err << "meshproof evidence prove: cannot write " << o.out << '\n';
      return kExitUsage;
    }
  }
  return kExitOk;
}

int checkProofAction(const EvidenceCommandOptions& o, std::ostream& out, std::ostream& err) {
  if (o.args.size() != 3 || o.vkeys.empty()) {
    err << "meshproof evidence check-proof PROOF ARTIFACT --vkey KEY\n";
    return kExitUsage;
  }
  auto proof = evidence::readFileBytes(o.args[1]);
  auto artifact = evidence::readFileBytes(o.args[2]);
  if (!proof || !artifact) {
    err << "meshproof evidence check-proof: cannot read " << (proof ? o.args[2] : o.args[1])
        << '\n';
    return kExitUsage;
  }
  auto verifiers = loadVerifiers(o, "");
  if (!verifiers) {
    err << "meshproof evidence check-proof: " << verifiers.status().message() << '\n';
    return kExitUsage;
  }
  auto r = evidence::checkProof(*proof, *artifact, *verifiers);
  if (!r) {
    out << r.status().message() << '\n';
    return kExitCheckFailed;
  }
  out << "OK: artifacts/" << r->path << " is record " << r->index << " of " << r->checkpoint.origin
      << ", in the signed tree of size " << r->checkpoint.size << '\n';
  return kExitOk;
}

} // namespace

int evidenceCommand(const EvidenceCommandOptions& options, std::ostream& out, std::ostream& err) {
  const std::string action = options.args.empty() ? "" : options.args[0];
  if (action == "add") {
    return add(options, out, err);
  }
  if (action == "verify") {
    return verifyAction(options, out, err);
  }
  if (action == "log") {
    return log(options, out, err);
  }
  if (action == "prove") {
    return prove(options, out, err);
  }
  if (action == "check-proof") {
    return checkProofAction(options, out, err);
  }
  err << "meshproof evidence: unknown action \"" << action
      << "\" (add, verify, log, prove, check-proof)\n";
  return kExitUsage;
}

// Records artifacts in the ledger of `dir` (one group commit), with the sprint's signing key
// (created on first use, as `meshproof evidence add` does); the problem, if any.
core::Status recordEvidence(const std::string& dir, const std::vector<evidence::NewArtifact>& batch,
                            std::ostream& err) {
  const std::string sprint = std::filesystem::absolute(dir).lexically_normal().filename().string();
  auto signer = loadOrCreateKey(keyDir() + "/" + sprint + ".key", sprint, err);
  if (!signer) {
    return signer.status();
  }
  auto added = evidence::append({dir, sprint, *signer}, batch, core::RealClock::instance());
  return added ? core::Status::ok() : added.status();
}

// evidence verify with the sprint's own verifier key; the report, or the problem.
core::Result<evidence::VerifyReport> verifyEvidence(const std::string& dir, std::ostream& err) {
  const std::string sprint = std::filesystem::absolute(dir).lexically_normal().filename().string();
  auto signer = loadOrCreateKey(keyDir() + "/" + sprint + ".key", sprint, err);
  if (!signer) {
    return signer.status();
  }
  evidence::VerifyOptions vo;
  vo.dir = dir;
  vo.sprint = sprint;
  vo.verifiers = {evidence::verifierOf(*signer)};
  return evidence::verify(vo);
}

} // namespace meshproof::cli
