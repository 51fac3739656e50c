// C2SP signed notes and checkpoints: golang.org/x/mod/sumdb/note's vectors and malformed inputs,
// and the checkpoint vector of evidence-ledger.md §2.5 (§9 tests 4-5).
#include "meshproof/evidence/note.h"

#include "meshproof/evidence/dsse.h"

#include <gtest/gtest.h>

namespace meshproof::evidence {
namespace {

const char* kPeterSigner =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const char* kPeterVerifier = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const char* kEnochVerifier = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const char* kText = "If you think cryptography is the answer to your problem,\n"
                    "then you don't know what your problem is.\n";
const char* kPeterLine =
    "\xe2\x80\x94 PeterNeumann "
    "x08go/ZJkuBS9UG/"
    "SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const char* kEnochLine = "\xe2\x80\x94 EnochRoot "
                         "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/"
                         "5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

TEST(Note, SignsThePeterNeumannVectorExactly) {
  auto signer = parseSignerKey(kPeterSigner);
  ASSERT_TRUE(signer.isOk()) << signer.status().message();
  EXPECT_EQ(signer->id, 0xc74f20a3u);
  EXPECT_EQ(toHex(signer->key.seed),
            "810a1402d5146c8d84f2443330f54080ebf98ee17d9c74f6252fc5d5c7283173");
  auto note = signNote(kText, *signer);
  ASSERT_TRUE(note.isOk());
  EXPECT_EQ(*note, std::string(kText) + "\n" + kPeterLine);
  EXPECT_EQ(formatVerifierKey(verifierOf(*signer)), kPeterVerifier);
  EXPECT_EQ(formatSignerKey(*signer), kPeterSigner);
}

TEST(Note, VerifierKeyParsesAndEveryDamagedVariantIsRejected) {
  auto v = parseVerifierKey(kPeterVerifier);
  ASSERT_TRUE(v.isOk()) << v.status().message();
  EXPECT_EQ(v->id, 0xc74f20a3u);
  for (const std::string& key : {std::string(kPeterVerifier), std::string(kPeterSigner)}) {
    const bool is_signer = key.rfind("PRIVATE", 0) == 0;
    auto parses = [&](const std::string& k) {
      return is_signer ? parseSignerKey(k).isOk() : parseVerifierKey(k).isOk();
    };
    for (size_t i = 0; i < key.size(); ++i) {
      EXPECT_FALSE(parses(key.substr(0, i))) << key.substr(0, i);
      EXPECT_FALSE(parses(key.substr(i + 1))) << key.substr(i + 1);
      std::string bumped = key;
      ++bumped[i];
      EXPECT_FALSE(parses(bumped)) << bumped;
    }
  }
}

TEST(Note, OpensWithOneKnownAndOneUnknownSignature) {
  const std::string note = std::string(kText) + "\n" + kPeterLine + kEnochLine;
  const NoteResult r = openNote(note, {*parseVerifierKey(kPeterVerifier)});
  EXPECT_EQ(r.error, NoteError::None) << r.detail;
  EXPECT_EQ(r.note.text, kText);
  EXPECT_EQ(r.note.verified, std::vector<std::string>{"PeterNeumann"});
  EXPECT_EQ(r.note.unknown, 1u);
  // Both keys known: both verify.
  const NoteResult both =
      openNote(note, {*parseVerifierKey(kPeterVerifier), *parseVerifierKey(kEnochVerifier)});
  EXPECT_EQ(both.error, NoteError::None) << both.detail;
  EXPECT_EQ(both.note.verified.size(), 2u);
  // Only unknown keys: rejected.
  EXPECT_EQ(openNote(note, {}).error, NoteError::NoTrustedSignature);
}

TEST(Note, MalformedNotesAreRejected) {
  const std::vector<Verifier> keys = {*parseVerifierKey(kPeterVerifier)};
  const std::string good = std::string(kText) + "\n" + kPeterLine;
  ASSERT_EQ(openNote(good, keys).error, NoteError::None);
  const std::string line(kPeterLine);
  for (const std::string& bad : {
           std::string(kText),              // no signature block
           good.substr(0, good.size() - 1), // no final newline
           "\x01" + good,                   // leading control byte
           "\xff" + good,                   // leading invalid UTF-8
           std::string(kText) + "\n\xe2\x80\x94 Peter Neumann " + line.substr(line.rfind(' ') + 1),
           good + "not a signature\n", // trailing non-signature line
       }) {
    EXPECT_EQ(openNote(bad, keys).error, NoteError::Malformed) << bad;
  }
  // A known key's bad signature rejects the whole note.
  std::string flipped = good;
  flipped[flipped.size() - 10] = flipped[flipped.size() - 10] == 'A' ? 'B' : 'A';
  EXPECT_EQ(openNote(flipped, keys).error, NoteError::InvalidSignature);
  // More than 100 signatures.
  std::string many = std::string(kText) + "\n";
  for (int i = 0; i < 101; ++i) {
    many += kEnochLine;
  }
  EXPECT_EQ(openNote(many, keys).error, NoteError::Malformed);
}

TEST(Checkpoint, TheDerivedVectorIsSignedExactly) {
  auto signer =
      signerFromSeed("example.org/evidence/test",
                     *fromHex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
  ASSERT_TRUE(signer.isOk());
  EXPECT_EQ(signer->id, 0xbd996b00u);
  EXPECT_EQ(formatVerifierKey(verifierOf(*signer)),
            "example.org/evidence/test+bd996b00+AddamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea");
  Checkpoint c{"example.org/evidence/test", 8,
               *digestFromHex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")};
  const std::string text = formatCheckpointText(c);
  EXPECT_EQ(text, "example.org/evidence/test\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n");
  auto note = signNote(text, *signer);
  ASSERT_TRUE(note.isOk());
  EXPECT_EQ(
      note->substr(text.size() + 1),
      "\xe2\x80\x94 example.org/evidence/test vZlrACJeWpMxTIjN9GjI/Vkvxjxh/fKUS6b4AG0wMbx4T8KPQ+"
      "Rcw1r8R8iPfRewEQol2Q/8QieU1KRgwzUHltiR3Ak=\n");
  // A witness's extra, unknown signature does not stop it verifying.
  const NoteResult r = openNote(*note + kEnochLine, {verifierOf(*signer)});
  ASSERT_EQ(r.error, NoteError::None) << r.detail;
  auto parsed = parseCheckpointText(r.note.text);
  ASSERT_TRUE(parsed.isOk());
  EXPECT_EQ(parsed->size, 8u);
  EXPECT_EQ(parsed->root, c.root);
}

TEST(Checkpoint, MalformedTextsNameTheLine) {
  EXPECT_NE(parseCheckpointText("o\n08\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n")
                .status()
                .message()
                .find("line 2"),
            std::string::npos);
  EXPECT_FALSE(parseCheckpointText("o\n8\nXcna\n").isOk());
  EXPECT_FALSE(parseCheckpointText("o\n8\n").isOk());
  EXPECT_FALSE(
      parseCheckpointText("o o\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n").isOk());
  EXPECT_TRUE(parseCheckpointText("o\n0\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n").isOk());
}

TEST(Base64, RoundTripsAndIsStrict) {
  for (const char* s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    EXPECT_EQ(*fromBase64(toBase64(s)), s);
  }
  EXPECT_EQ(toBase64("foobar"), "Zm9vYmFy");
  EXPECT_FALSE(fromBase64("Zm9vYmF").has_value());
  EXPECT_FALSE(fromBase64("Zm9=YmFy").has_value());
  EXPECT_FALSE(fromBase64("Zh==").has_value()); // non-zero bits under the padding
}

} // namespace
} // namespace meshproof::evidence

namespace meshproof::evidence {
namespace {

// secure-systems-lab/dsse: protocol.md's PAE example and testvectors (key A = RFC 8032 test 1).
TEST(Dsse, PaeAndTheSignatureVector) {
  EXPECT_EQ(pae("http://example.com/HelloWorld", "hello world"),
            "DSSEv1 29 http://example.com/HelloWorld 11 hello world");
  EXPECT_EQ(pae("", ""), "DSSEv1 0  0 ");
  const std::string type = "application/vnd.in-toto+json";
  const std::string payload = "{\"_type\":\"https://in-toto.io/Statement/v1\"}";
  EXPECT_EQ(toHex(pae(type, payload)),
            "445353457631203238206170706c69636174696f6e2f766e642e696e2d746f746f2b6a736f6e203433"
            "207b225f74797065223a2268747470733a2f2f696e2d746f746f2e696f2f53746174656d656e742f76"
            "31227d");
  auto signer = signerFromSeed(
      "dsse-test", *fromHex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
  ASSERT_TRUE(signer.isOk());
  auto env = dsseSign(type, payload, *signer);
  ASSERT_TRUE(env.isOk());
  EXPECT_NE(
      env->find("\"sig\":\"2WAfaHm5jluo0w+0rk8uVkluELJYWjSmU9x7EUzx+AyteDGJ4/nqyJXfmAUVFIAoQaf"
                "Wm7AxBZNw5M9ixNHiCA==\""),
      std::string::npos)
      << *env;
  auto opened = dsseVerify(*env, {verifierOf(*signer)});
  ASSERT_TRUE(opened.isOk()) << opened.status().message();
  EXPECT_EQ(opened->payload, payload);
  // The same signature under another payload type must not verify.
  std::string swapped = *env;
  swapped.replace(swapped.find(type), type.size(), "application/vnd.in-toto.other+json");
  EXPECT_FALSE(dsseVerify(swapped, {verifierOf(*signer)}).isOk());
  EXPECT_FALSE(dsseVerify(*env, {}).isOk());
}

} // namespace
} // namespace meshproof::evidence
