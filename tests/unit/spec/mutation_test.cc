// 10,000 seeded random mutations of the default spec: the loader and the linter never crash, never
// hang, and every failed load says why with at least one error that names the file. Run under the
// asan preset by `make test`, so memory errors and undefined behaviour fail the test too.

#include <gtest/gtest.h>

#include <string>

#include "meshproof/core/random.h"
#include "unit/spec/spec_test_util.h"

namespace meshproof::spec {
namespace {

// Fragments that stress YAML structure and meshproof's types.
const char* const kFragments[] = {":",       "- ",
                                  "{",       "}",
                                  "[",       "]",
                                  ",",       "\"",
                                  "'",       "&a ",
                                  "*a",      "!!",
                                  "#",       "\n",
                                  "\t",      "  ",
                                  "---\n",   "...",
                                  "|",       ">",
                                  "?",       "%",
                                  "-1",      "0",
                                  "1e309",   "999999999999999999999",
                                  "null",    "~",
                                  "true",    "0s",
                                  "1.5ms",   "5xx, reset",
                                  "NaN",     "\xc3\xa9",
                                  "{a: *a}", "[[[[[[[[",
                                  "<<: *a",  "!!binary aGk=",
                                  "0x10"};

std::string mutate(const std::string& text, core::Random& rng) {
  std::string out = text;
  const uint64_t edits = 1 + rng.uniform(3);
  for (uint64_t i = 0; i < edits && !out.empty(); ++i) {
    const size_t pos = rng.uniform(out.size());
    switch (rng.uniform(6)) {
    case 0: // flip a byte to any value
      out[pos] = static_cast<char>(rng.uniform(256));
      break;
    case 1: // delete a run
      out.erase(pos, 1 + rng.uniform(16));
      break;
    case 2: { // insert a fragment
      const auto& frag = kFragments[rng.uniform(std::size(kFragments))];
      out.insert(pos, frag);
      break;
    }
    case 3: { // duplicate a line
      const size_t start = out.rfind('\n', pos);
      const size_t end = out.find('\n', pos);
      const size_t s = start == std::string::npos ? 0 : start + 1;
      if (end != std::string::npos && end > s) {
        out.insert(s, out.substr(s, end - s + 1));
      }
      break;
    }
    case 4: { // replace a scalar after ": " with a fragment
      const size_t colon = out.find(": ", pos);
      if (colon != std::string::npos) {
        const size_t end = out.find_first_of("\n,}", colon + 2);
        out.replace(colon + 2, (end == std::string::npos ? out.size() : end) - colon - 2,
                    kFragments[rng.uniform(std::size(kFragments))]);
      }
      break;
    }
    default: { // change indentation of a line
      const size_t start = out.rfind('\n', pos);
      out.insert(start == std::string::npos ? 0 : start + 1, rng.uniform(2) == 0 ? " " : "   ");
      break;
    }
    }
  }
  return out;
}

TEST(SpecMutation, TenThousandMutationsNeverCrashTheLoader) {
  const std::string base = defaultSpecSource().text;
  core::SeededRandom rng(20261127);
  int loaded = 0;
  int rejected = 0;
  for (int i = 0; i < 10000; ++i) {
    const std::string text = mutate(base, rng);
    LoadResult r = load({{"mutant.yaml", text}});
    if (r.ok()) {
      ++loaded;
      Diagnostics warnings = lint(*r.spec);
      for (const Diagnostic& d : warnings) {
        ASSERT_FALSE(d.rule.empty()) << d.format();
      }
    } else {
      ++rejected;
      ASSERT_TRUE(hasErrors(r.diagnostics)) << "mutant " << i << " failed without an error";
      for (const Diagnostic& d : r.diagnostics) {
        ASSERT_EQ(d.location.file, "mutant.yaml") << d.format();
        ASSERT_FALSE(d.message.empty());
      }
    }
  }
  // Both outcomes occur, so the mutations reach past the parser into validation.
  EXPECT_GT(loaded, 100);
  EXPECT_GT(rejected, 1000);
  RecordProperty("loaded", loaded);
  RecordProperty("rejected", rejected);
}

TEST(SpecMutation, AliasBombIsRejectedNotExpanded) {
  // 1,000 routes that each alias the same 2,000 destinations: 2 million destinations (and several
  // times as many nodes) if expanded, from a file of about 30 KB.
  std::string text = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: "
                     "bomb}\nanchors:\n  r: &r [";
  for (int i = 0; i < 2000; ++i) {
    text += std::string(i == 0 ? "" : ",") + "{destination: {host: svc}}";
  }
  text += "]\n  h: &h {route: *r}\nspec:\n  hosts: [svc]\n  http: [";
  for (int i = 0; i < 1000; ++i) {
    text += std::string(i == 0 ? "" : ",") + "*h";
  }
  text += "]\n";
  LoadResult r = load({{"bomb.yaml", text}});
  EXPECT_FALSE(r.ok());
  EXPECT_NE(testing::dump(r.diagnostics).find("document too large"), std::string::npos)
      << testing::dump(r.diagnostics).substr(0, 2000);
}

TEST(SpecMutation, DeepNestingIsRejectedWithoutOverflowingTheStack) {
  for (const char* header :
       {"apiVersion: v1\nkind: X\n", "apiVersion: meshproof.dev/v1alpha1\nkind: Workload\n"}) {
    const std::string deep = std::string(header) +
                             "metadata: {name: x}\nspec: " + std::string(20000, '[') +
                             std::string(20000, ']') + "\n";
    LoadResult r = load({{"deep.yaml", deep}});
    EXPECT_FALSE(r.ok()) << header;
  }
}

} // namespace
} // namespace meshproof::spec
