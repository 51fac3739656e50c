// The evidence ledger end to end on a temporary directory: append, verify and proofs, and every
// tampering of evidence-ledger.md §9 (tests 6-16, 18-20) detected with its finding code.
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "meshproof/evidence/format.h"
#include "meshproof/evidence/ledger.h"
#include "meshproof/evidence/merkle.h"
#include "meshproof/evidence/proof.h"
#include "meshproof/evidence/verify.h"

namespace meshproof::evidence {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void spit(const fs::path& p, const std::string& bytes) {
  std::ofstream o(p, std::ios::binary | std::ios::trunc);
  o << bytes;
}

std::vector<std::string> linesOf(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l)) {
    out.push_back(l);
  }
  return out;
}

std::string joinLines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) {
    out += l + "\n";
  }
  return out;
}

class Ledger : public ::testing::Test {
protected:
  void SetUp() override {
    char tmpl[] = "/tmp/meshproof-ledger-XXXXXX";
    root_ = mkdtemp(tmpl);
    dir_ = root_ / "sprintT";
    signer_ = *signerFromSeed(
        originOf("sprintT"),
        *fromHex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
  }
  void TearDown() override { fs::remove_all(root_); }

  AppendResult add(std::vector<NewArtifact> a) {
    clock_.advance(std::chrono::milliseconds(5));
    auto r = append({dir_.string(), "", signer_}, a, clock_);
    EXPECT_TRUE(r.isOk()) << r.status().message();
    return r.isOk() ? *r : AppendResult{};
  }
  void addThree() {
    add({{"test-result", "tests/unit.junit.xml", "", "<testsuite tests=\"3\"/>\n"},
         {"metrics", "metrics/snapshot.json", "", "{\"rps\": 100}\n"},
         {"chaos-log", "chaos/journal.json", "", "{\"status\": \"completed\"}\n"}});
  }
  VerifyReport check(const std::string& trusted = "", const std::string& state = "") {
    VerifyOptions o;
    o.dir = dir_.string();
    o.verifiers = {verifierOf(signer_)};
    o.trusted_checkpoint = trusted;
    o.state_file = state;
    auto r = verify(o);
    EXPECT_TRUE(r.isOk()) << r.status().message();
    return r.isOk() ? *r : VerifyReport{};
  }
  static std::vector<std::string> codes(const VerifyReport& r) {
    std::vector<std::string> out;
    for (const Finding& f : r.findings) {
      out.push_back(f.code);
    }
    return out;
  }
  static const Finding* find(const VerifyReport& r, const std::string& code) {
    for (const Finding& f : r.findings) {
      if (f.code == code) {
        return &f;
      }
    }
    return nullptr;
  }
  fs::path ledger() const { return dir_ / kLedgerFile; }
  fs::path artifact(const std::string& p) const { return dir_ / kArtifactDir / p; }

  fs::path root_;
  fs::path dir_;
  Signer signer_;
  core::ManualClock clock_;
};

TEST_F(Ledger, RecordLineAndLeafMatchTheReferenceExample) {
  Record r;
  r.v = 1;
  r.seq = 0;
  r.ts = "2025-01-15T10:30:00.000Z";
  r.sprint = "S01";
  r.kind = "test-result";
  r.path = "tests/unit.junit.xml";
  r.size = 5;
  r.sha256 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
  r.prev = std::string(kZeroHash);
  const std::string line = formatRecord(r);
  EXPECT_EQ(line.size(), 272u);
  EXPECT_EQ(toHex(leafHash(line)),
            "3c01de92a249005ef460b451b5a6b69babd807e2c1754b7a71b607676341413b");
  EXPECT_EQ(formatLedgerTime(core::ManualClock::defaultStart()), "2026-01-01T00:00:00.000Z");
}

TEST_F(Ledger, HappyPathVerifiesWithTheIndependentRoot) { // §9 test 6
  addThree();
  const VerifyReport r = check();
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.findings.empty()) << r.findings.front().format();
  EXPECT_EQ(r.records, 3u);
  std::vector<Digest> leaves;
  for (const std::string& l : linesOf(slurp(ledger()))) {
    leaves.push_back(sha256(std::string(1, '\0') + l)); // 0x00 || line, computed here
  }
  EXPECT_EQ(r.root, toHex(rootOf(leaves)));
  EXPECT_EQ(r.checkpoint->size, 3u);
  EXPECT_TRUE(fs::exists(dir_ / kCheckpointDir / "3.ckpt"));
  EXPECT_EQ(verifyExitCode(r, true), 0);
}

TEST_F(Ledger, AFlippedByteIsOneHashFinding) { // §9 test 7
  addThree();
  std::string bytes = slurp(artifact("tests/unit.junit.xml"));
  bytes[3] ^= 1;
  spit(artifact("tests/unit.junit.xml"), bytes);
  const VerifyReport r = check();
  EXPECT_EQ(codes(r), std::vector<std::string>{"E_ARTIFACT_HASH"});
  EXPECT_EQ(r.findings[0].seq, 0u);
  EXPECT_EQ(r.findings[0].path, "tests/unit.junit.xml");
  EXPECT_NE(r.findings[0].detail.find("recorded " + toHex(sha256("<testsuite tests=\"3\"/>\n"))),
            std::string::npos);
  EXPECT_EQ(verifyExitCode(r, false), 1);
}

TEST_F(Ledger, MissingTruncatedAndUnregisteredFiles) { // §9 tests 8-9
  addThree();
  fs::remove(artifact("metrics/snapshot.json"));
  std::string chaos = slurp(artifact("chaos/journal.json"));
  spit(artifact("chaos/journal.json"), chaos.substr(0, chaos.size() - 1));
  spit(artifact("tests/extra.txt"), "not recorded\n");
  const VerifyReport r = check();
  ASSERT_NE(find(r, "E_ARTIFACT_MISSING"), nullptr);
  EXPECT_EQ(find(r, "E_ARTIFACT_MISSING")->seq, 1u);
  ASSERT_NE(find(r, "E_ARTIFACT_SIZE"), nullptr);
  EXPECT_EQ(find(r, "E_ARTIFACT_SIZE")->seq, 2u);
  ASSERT_NE(find(r, "E_UNREGISTERED_FILE"), nullptr);
  EXPECT_EQ(find(r, "E_UNREGISTERED_FILE")->path, "tests/extra.txt");
}

TEST_F(Ledger, AnEditedRecordIsFoundByTheChainAndTheRoot) { // §9 test 10
  addThree();
  auto lines = linesOf(slurp(ledger()));
  const std::string forged = "forged\n";
  spit(artifact("tests/unit.junit.xml"), forged);
  Record r0 = *parseRecord(lines[0]);
  r0.size = forged.size();
  r0.sha256 = toHex(sha256(forged));
  lines[0] = formatRecord(r0);
  spit(ledger(), joinLines(lines));
  const VerifyReport r = check();
  ASSERT_NE(find(r, "E_PREV_MISMATCH"), nullptr);
  EXPECT_EQ(find(r, "E_PREV_MISMATCH")->seq, 1u);
  ASSERT_NE(find(r, "E_ROOT_MISMATCH"), nullptr);
  EXPECT_NE(find(r, "E_ROOT_MISMATCH")->detail.find("first divergent record: seq 0"),
            std::string::npos);
}

TEST_F(Ledger, DeletedOrSwappedLinesBreakTheSequence) { // §9 test 11
  addThree();
  add({{"report", "report.md", "", "# report\n"}});
  const auto lines = linesOf(slurp(ledger()));
  spit(ledger(), joinLines({lines[0], lines[2], lines[3]}));
  VerifyReport r = check();
  ASSERT_NE(find(r, "E_SEQ"), nullptr);
  EXPECT_EQ(find(r, "E_SEQ")->seq, 1u);
  EXPECT_NE(find(r, "E_TRUNCATED"), nullptr);                 // 4 signed, 3 left
  EXPECT_NE(find(r, "E_CKPT_HISTORY_INCONSISTENT"), nullptr); // 3.ckpt's root is gone
  spit(ledger(), joinLines({lines[0], lines[2], lines[1], lines[3]}));
  r = check();
  ASSERT_NE(find(r, "E_SEQ"), nullptr);
  EXPECT_EQ(find(r, "E_SEQ")->seq, 1u);
  EXPECT_NE(find(r, "E_ROOT_MISMATCH"), nullptr);
}

TEST_F(Ledger, TruncationAgainstTheSignedSize) { // §9 test 12
  addThree();
  add({{"report", "report.md", "", "# report\n"}});
  auto lines = linesOf(slurp(ledger()));
  lines.resize(2);
  spit(ledger(), joinLines(lines));
  fs::remove_all(dir_ / kArtifactDir / "chaos");
  fs::remove(artifact("report.md"));
  const VerifyReport r = check();
  ASSERT_NE(find(r, "E_TRUNCATED"), nullptr);
  EXPECT_NE(find(r, "E_TRUNCATED")->detail.find("signs 4 records, the ledger has 2"),
            std::string::npos);
}

TEST_F(Ledger, RollbackToAnOlderSignedCopy) { // §9 test 13
  addThree();
  const fs::path old = root_ / "old";
  fs::copy(dir_, old, fs::copy_options::recursive);
  add({{"report", "report.md", "", "# report\n"}});
  const std::string state = (root_ / "state.ckpt").string();
  EXPECT_EQ(codes(check("", state)), std::vector<std::string>{"W_NO_TRUSTED_STATE"});
  EXPECT_TRUE(check("", state).findings.empty()); // the state is now size 4
  fs::remove_all(dir_);
  fs::rename(old, dir_);
  EXPECT_TRUE(check().ok()); // alone, the old copy is self-consistent
  const VerifyReport r = check("", state);
  ASSERT_NE(find(r, "E_ROLLBACK"), nullptr);
  EXPECT_NE(find(r, "E_ROLLBACK")->detail.find("size 4"), std::string::npos);
  EXPECT_NE(find(r, "E_ROLLBACK")->detail.find("size 3"), std::string::npos);
}

TEST_F(Ledger, AnInsiderWithTheKeyIsCaughtByHistoryOrTrustedState) { // §9 test 14
  addThree();
  const std::string trusted = slurp(dir_ / kCheckpointFile);
  spit(root_ / "trusted.ckpt", trusted);
  // Rewrite record 1 (and its file), rebuild the chain, re-sign with the real key.
  auto lines = linesOf(slurp(ledger()));
  spit(artifact("metrics/snapshot.json"), "{\"rps\": 999}\n");
  std::vector<Digest> leaves;
  for (size_t i = 0; i < lines.size(); ++i) {
    Record r = *parseRecord(lines[i]);
    if (i == 1) {
      r.size = 13;
      r.sha256 = toHex(sha256("{\"rps\": 999}\n"));
    }
    r.prev = i == 0 ? std::string(kZeroHash) : toHex(leaves.back());
    lines[i] = formatRecord(r);
    leaves.push_back(leafHash(lines[i]));
  }
  spit(ledger(), joinLines(lines));
  const std::string resigned =
      *signNote(formatCheckpointText({originOf("sprintT"), 3, rootOf(leaves)}), signer_);
  spit(dir_ / kCheckpointFile, resigned);
  VerifyReport r = check();
  EXPECT_EQ(codes(r), std::vector<std::string>{"E_CKPT_HISTORY_INCONSISTENT"});
  // With the history rewritten too, only a verifier that saw the old checkpoint notices.
  spit(dir_ / kCheckpointDir / "3.ckpt", resigned);
  fs::remove(dir_ / kCheckpointDir / "1.ckpt");
  EXPECT_TRUE(check().ok()); // the documented limit
  r = check((root_ / "trusted.ckpt").string());
  ASSERT_NE(find(r, "E_FORK"), nullptr);
  EXPECT_NE(find(r, "E_FORK")->detail.find("size 3"), std::string::npos);
}

TEST_F(Ledger, CheckpointTampering) { // §9 test 15
  addThree();
  const std::string good = slurp(dir_ / kCheckpointFile);
  std::string bad = good;
  bad[bad.size() - 6] = bad[bad.size() - 6] == 'A' ? 'B' : 'A';
  spit(dir_ / kCheckpointFile, bad);
  EXPECT_NE(find(check(), "E_SIG_INVALID"), nullptr);
  auto other = *signerFromSeed(originOf("sprintT"), std::string(32, 'k'));
  const std::string text = good.substr(0, good.find("\n\n") + 1);
  spit(dir_ / kCheckpointFile, *signNote(text, other));
  EXPECT_NE(find(check(), "E_NO_TRUSTED_SIG"), nullptr);
  std::string moved = text;
  moved.replace(0, moved.find('\n'), "meshproof/evidence/other");
  spit(dir_ / kCheckpointFile, *signNote(moved, signer_));
  EXPECT_NE(find(check(), "E_ORIGIN_MISMATCH"), nullptr);
  std::string zero = text;
  zero.replace(zero.find("\n3\n"), 3, "\n03\n");
  spit(dir_ / kCheckpointFile, *signNote(zero, signer_));
  EXPECT_NE(find(check(), "E_CHECKPOINT_MALFORMED"), nullptr);
}

TEST_F(Ledger, ATornTailIsAWarningAndTheNextAppendRepairsIt) { // §9 test 16
  addThree();
  const uint64_t size = fs::file_size(ledger());
  {
    std::ofstream o(ledger(), std::ios::binary | std::ios::app);
    o << "{\"v\":1,\"seq\":3,\"ts\":\"2026";
  }
  VerifyReport r = check();
  EXPECT_EQ(codes(r), std::vector<std::string>{"W_TORN_TAIL"});
  EXPECT_EQ(r.findings[0].offset, size);
  EXPECT_EQ(verifyExitCode(r, false), 0);
  EXPECT_EQ(verifyExitCode(r, true), 3);
  const AppendResult a = add({{"report", "report.md", "", "# report\n"}});
  ASSERT_EQ(a.records.size(), 2u);
  EXPECT_EQ(a.records[0].kind, "repair");
  EXPECT_EQ(a.records[0].seq, 3u);
  EXPECT_NE(slurp(artifact("repairs/3.json")).find("\"truncatedAt\": " + std::to_string(size)),
            std::string::npos);
  r = check();
  EXPECT_TRUE(r.findings.empty()) << r.findings.front().format();
  // Garbage before the last line is corruption, not a torn write.
  auto lines = linesOf(slurp(ledger()));
  lines.insert(lines.begin() + 1, std::string("\0\0\0", 3));
  spit(ledger(), joinLines(lines));
  r = check();
  ASSERT_NE(find(r, "E_LEDGER_CORRUPT"), nullptr);
  EXPECT_EQ(find(r, "E_LEDGER_CORRUPT")->seq, 1u);
}

TEST_F(Ledger, CrashLeftoversAreWarningsAndRollForward) {
  addThree();
  // A writer died after its commit, before the rename (the file is still staged) and another
  // before its commit (an orphan).
  add({{"report", "report.md", "", "# report\n"}});
  fs::rename(artifact("report.md"), dir_ / kArtifactDir / kStagingDir / "3-report.md");
  spit(dir_ / kArtifactDir / kStagingDir / "4-lost.txt", "never committed\n");
  VerifyReport r = check();
  EXPECT_EQ(codes(r), (std::vector<std::string>{"W_PENDING_ROLLFORWARD", "W_STAGED_ORPHAN"}));
  EXPECT_TRUE(r.ok());
  const AppendResult a = add({});
  EXPECT_EQ(a.recovered.size(), 2u);
  r = check();
  EXPECT_TRUE(r.findings.empty()) << r.findings.front().format();
  EXPECT_EQ(slurp(artifact("report.md")), "# report\n");
}

TEST_F(Ledger, BadTimestampsAreFound) { // §9 test 18
  addThree();
  const auto lines = linesOf(slurp(ledger()));
  for (const auto& [ts, code] : std::vector<std::pair<std::string, std::string>>{
           {"2025-13-01T00:00:00.000Z", "E_TS_INVALID"},
           {"2025-01-15T10:30:00+02:00", "E_TS_INVALID"},
           {"2025-01-15T10:30:00Z", "E_TS_INVALID"},
           {"2020-01-01T00:00:00.000Z", "E_TS_NONMONOTONIC"}}) {
    auto edited = lines;
    Record r2 = *parseRecord(edited[2]);
    r2.ts = ts;
    edited[2] = formatRecord(r2);
    spit(ledger(), joinLines(edited));
    const VerifyReport r = check();
    ASSERT_NE(find(r, code), nullptr) << ts;
    EXPECT_EQ(find(r, code)->seq, 2u) << ts;
  }
}

TEST_F(Ledger, PathEscapesAndDuplicatesAreFound) { // §9 test 19
  addThree();
  const auto lines = linesOf(slurp(ledger()));
  for (const char* p : {"../../etc/passwd", "/abs", "a/./b"}) {
    auto edited = lines;
    Record r1 = *parseRecord(edited[1]);
    r1.path = p;
    edited[1] = formatRecord(r1);
    spit(ledger(), joinLines(edited));
    const VerifyReport r = check();
    ASSERT_NE(find(r, "E_PATH_ESCAPE"), nullptr) << p;
    EXPECT_EQ(find(r, "E_PATH_ESCAPE")->seq, 1u);
  }
  auto dup = lines;
  Record r2 = *parseRecord(dup[2]);
  r2.path = parseRecord(dup[1])->path;
  dup[2] = formatRecord(r2);
  spit(ledger(), joinLines(dup));
  EXPECT_NE(find(check(), "E_DUP_PATH"), nullptr);
  // A recorded artifact replaced by a symbolic link to outside the evidence directory.
  spit(ledger(), joinLines(lines));
  spit(root_ / "outside.txt", "{\"rps\": 100}\n");
  fs::remove(artifact("metrics/snapshot.json"));
  fs::create_symlink(root_ / "outside.txt", artifact("metrics/snapshot.json"));
  EXPECT_NE(find(check(), "E_PATH_ESCAPE"), nullptr);
  // The writer refuses such paths itself.
  auto bad = append({dir_.string(), "", signer_}, {{"x", "../x", "", "x"}}, clock_);
  EXPECT_FALSE(bad.isOk());
}

TEST_F(Ledger, ProofsConvinceAStandaloneCheckAndFailWhenEdited) { // §9 test 20
  addThree();
  add({{"report", "report.md", "", "# report\n"}});
  auto proof = makeProofForPath(dir_.string(), "metrics/snapshot.json");
  ASSERT_TRUE(proof.isOk()) << proof.status().message();
  const std::string artifact_bytes = "{\"rps\": 100}\n";
  auto ok = checkProof(*proof, artifact_bytes, {verifierOf(signer_)});
  ASSERT_TRUE(ok.isOk()) << ok.status().message();
  EXPECT_EQ(ok->index, 1u);
  EXPECT_EQ(ok->checkpoint.size, 4u);
  EXPECT_FALSE(checkProof(*proof, "{\"rps\": 101}\n", {verifierOf(signer_)}).isOk());
  // Every hash line, the index and the checkpoint: any single change is rejected.
  const auto lines = linesOf(*proof);
  for (size_t i = 1; i < lines.size(); ++i) {
    if (lines[i].empty()) {
      continue;
    }
    auto edited = lines;
    edited[i][edited[i].size() / 2] = edited[i][edited[i].size() / 2] == 'A' ? 'B' : 'A';
    const std::string text = joinLines(edited);
    const auto r = checkProof(text, artifact_bytes, {verifierOf(signer_)});
    EXPECT_FALSE(r.isOk()) << "line " << i << ": " << lines[i];
    if (!r.isOk()) {
      EXPECT_NE(r.status().message().find("E_PROOF_INVALID"), std::string::npos);
    }
  }
  auto index = lines;
  index[2] = "index 2";
  EXPECT_FALSE(checkProof(joinLines(index), artifact_bytes, {verifierOf(signer_)}).isOk());
}

} // namespace
} // namespace meshproof::evidence
