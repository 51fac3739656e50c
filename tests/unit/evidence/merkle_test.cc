// RFC 9162 Merkle tree: the golden vectors of evidence-ledger.md §1.6 (transparency-dev/merkle),
// the RFC's own shapes, and the negative probes every verifier must reject (§9 tests 1-3).
#include "meshproof/evidence/merkle.h"

#include <random>

#include <gtest/gtest.h>

namespace meshproof::evidence {
namespace {

Digest hex(const char* h) {
  return *digestFromHex(h);
}

std::vector<Digest> eightLeaves() {
  std::vector<Digest> out;
  for (const char* d : {"", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                        "606162636465666768696a6b6c6d6e6f"}) {
    out.push_back(leafHash(*fromHex(d)));
  }
  return out;
}

TEST(Merkle, HasherVectors) {
  EXPECT_EQ(toHex(emptyRoot()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(toHex(leafHash("")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
  EXPECT_EQ(toHex(leafHash("L123456")),
            "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56");
  EXPECT_EQ(toHex(nodeHash(std::string_view("N123"), std::string_view("N456"))),
            "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb");
}

TEST(Merkle, RootsOfTheEightLeafInput) {
  const char* roots[] = {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                         "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
                         "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
                         "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                         "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
                         "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
                         "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
                         "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};
  const auto leaves = eightLeaves();
  EXPECT_EQ(rootOf(leaves, 0), emptyRoot());
  for (size_t n = 1; n <= 8; ++n) {
    EXPECT_EQ(toHex(rootOf(leaves, n)), roots[n - 1]) << n;
  }
}

TEST(Merkle, StreamingRootEqualsTheRecursiveOne) {
  std::mt19937_64 rng(42);
  std::vector<Digest> leaves;
  RootBuilder b;
  EXPECT_EQ(b.root(), emptyRoot());
  for (int n = 1; n <= 1000; ++n) {
    leaves.push_back(leafHash(std::to_string(rng())));
    b.push(leaves.back());
    ASSERT_EQ(b.root(), rootOf(leaves)) << n;
  }
}

struct InclusionVector {
  uint64_t index, size;
  std::vector<const char*> path;
};

const std::vector<InclusionVector>& inclusionVectors() {
  static const std::vector<InclusionVector> v = {
      {0,
       8,
       {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
      {5,
       8,
       {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
      {2, 3, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
      {1,
       5,
       {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
      {0, 1, {}},
  };
  return v;
}

std::vector<Digest> digests(const std::vector<const char*>& hs) {
  std::vector<Digest> out;
  for (const char* h : hs) {
    out.push_back(hex(h));
  }
  return out;
}

TEST(Merkle, InclusionVectorsVerifyAndAreWhatWeGenerate) {
  const auto leaves = eightLeaves();
  for (const InclusionVector& v : inclusionVectors()) {
    const auto path = digests(v.path);
    EXPECT_EQ(inclusionProof(leaves, v.index, v.size), path) << v.index << "," << v.size;
    EXPECT_TRUE(verifyInclusion(v.index, v.size, leaves[v.index], path, rootOf(leaves, v.size)))
        << v.index << "," << v.size;
  }
}

// corruptInclusionProof's probes: every one must be rejected.
TEST(Merkle, InclusionNegativeProbes) {
  const auto leaves = eightLeaves();
  for (const InclusionVector& v : inclusionVectors()) {
    const auto path = digests(v.path);
    const Digest root = rootOf(leaves, v.size);
    const Digest leaf = leaves[v.index];
    const uint64_t i = v.index;
    const uint64_t n = v.size;
    auto reject = [&](uint64_t ii, uint64_t nn, const Digest& lf, const std::vector<Digest>& p,
                      const Digest& r, const char* what) {
      EXPECT_FALSE(verifyInclusion(ii, nn, lf, p, r)) << what << " (" << i << "," << n << ")";
    };
    reject(i + 1, n, leaf, path, root, "index+1");
    if (i > 0) {
      reject(i - 1, n, leaf, path, root, "index-1");
    }
    reject(i ^ 2, n, leaf, path, root, "index^2");
    reject(i, n * 2, leaf, path, root, "size*2");
    if (n / 2 != n) {
      reject(i, n / 2, leaf, path, root, "size/2");
    }
    reject(i, n, leafHash("WrongLeaf"), path, root, "wrong leaf");
    reject(i, n, leaf, path, emptyRoot(), "empty root");
    reject(i, n, leaf, path, leafHash("random root"), "random root");
    auto with = [&](auto edit) {
      auto p = path;
      edit(p);
      return p;
    };
    reject(i, n, leaf, with([](auto& p) { p.push_back(Digest{}); }), root, "extra empty appended");
    reject(i, n, leaf, with([&](auto& p) { p.push_back(root); }), root, "root appended");
    reject(i, n, leaf, with([](auto& p) { p.insert(p.begin(), Digest{}); }), root,
           "empty prepended");
    reject(i, n, leaf, with([&](auto& p) { p.insert(p.begin(), root); }), root, "root prepended");
    for (size_t k = 0; k < path.size(); ++k) {
      reject(i, n, leaf, with([k](auto& p) { p[k][0] ^= 1; }), root, "bit flipped");
      reject(i, n, leaf,
             with([k](auto& p) { p.insert(p.begin() + static_cast<long>(k), Digest{}); }), root,
             "element inserted");
    }
    if (!path.empty()) {
      reject(i, n, leaf, with([](auto& p) { p.pop_back(); }), root, "last removed");
    }
  }
}

TEST(Merkle, EveryGeneratedInclusionProofVerifiesUpTo64) {
  std::vector<Digest> leaves;
  for (int k = 0; k < 64; ++k) {
    leaves.push_back(leafHash("leaf " + std::to_string(k)));
  }
  for (size_t n = 1; n <= 64; ++n) {
    const Digest root = rootOf(leaves, n);
    for (size_t i = 0; i < n; ++i) {
      ASSERT_TRUE(verifyInclusion(i, n, leaves[i], inclusionProof(leaves, i, n), root))
          << i << "," << n;
    }
  }
}

struct ConsistencyVector {
  uint64_t size1, size2;
  std::vector<const char*> proof;
};

const std::vector<ConsistencyVector>& consistencyVectors() {
  static const std::vector<ConsistencyVector> v = {
      {1,
       8,
       {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
      {6,
       8,
       {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
      {2,
       5,
       {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
      {6,
       7,
       {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
      {3,
       7,
       {"0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "837dbb152e9b079010717e84e865da4ebc0fa198a806d59d31bf15accef22d0e"}},
      {4, 7, {"837dbb152e9b079010717e84e865da4ebc0fa198a806d59d31bf15accef22d0e"}},
  };
  return v;
}

TEST(Merkle, ConsistencyVectorsVerifyAndAreWhatWeGenerate) {
  const auto leaves = eightLeaves();
  for (const ConsistencyVector& v : consistencyVectors()) {
    const auto proof = digests(v.proof);
    EXPECT_EQ(consistencyProof(leaves, v.size1, v.size2), proof) << v.size1 << "," << v.size2;
    EXPECT_TRUE(verifyConsistency(v.size1, v.size2, rootOf(leaves, v.size1),
                                  rootOf(leaves, v.size2), proof))
        << v.size1 << "," << v.size2;
  }
}

TEST(Merkle, ConsistencyNegativeProbesAndEdgeCases) {
  const auto leaves = eightLeaves();
  for (const ConsistencyVector& v : consistencyVectors()) {
    const auto proof = digests(v.proof);
    const Digest r1 = rootOf(leaves, v.size1);
    const Digest r2 = rootOf(leaves, v.size2);
    const uint64_t m = v.size1;
    const uint64_t n = v.size2;
    auto reject = [&](uint64_t a, uint64_t b, const Digest& x, const Digest& y,
                      const std::vector<Digest>& p, const char* what) {
      EXPECT_FALSE(verifyConsistency(a, b, x, y, p)) << what << " (" << m << "," << n << ")";
    };
    reject(m, n, r2, r1, proof, "roots swapped");
    reject(m, n, r1, r2, {}, "empty proof");
    reject(m + 1, n, r1, r2, proof, "size1+1");
    reject(m, n * 2, r1, r2, proof, "size2*2");
    if (m > 1) {
      reject(m - 1, n, r1, r2, proof, "size1-1");
    }
    reject(m, n, leafHash("x"), r2, proof, "wrong first root");
    reject(m, n, r1, emptyRoot(), proof, "empty second root");
    for (size_t k = 0; k < proof.size(); ++k) {
      auto p = proof;
      p[k][31] ^= 0x80;
      reject(m, n, r1, r2, p, "bit flipped");
    }
    auto longer = proof;
    longer.push_back(Digest{});
    reject(m, n, r1, r2, longer, "extra element");
    auto shorter = proof;
    shorter.pop_back();
    reject(m, n, r1, r2, shorter, "last removed");
    auto prepended = proof;
    prepended.insert(prepended.begin(), r1);
    reject(m, n, r1, r2, prepended, "first root prepended");
  }
  const Digest r5 = rootOf(leaves, 5);
  EXPECT_TRUE(verifyConsistency(0, 5, emptyRoot(), r5, {}));
  EXPECT_TRUE(verifyConsistency(5, 5, r5, r5, {}));
  EXPECT_FALSE(verifyConsistency(5, 5, r5, r5, {r5}));
  EXPECT_FALSE(verifyConsistency(5, 5, r5, rootOf(leaves, 4), {}));
  EXPECT_FALSE(verifyConsistency(2, 1, rootOf(leaves, 2), rootOf(leaves, 1), {}));
  EXPECT_FALSE(verifyConsistency(0, 5, emptyRoot(), r5, {r5}));
  // Every generated proof verifies.
  std::vector<Digest> many;
  for (int k = 0; k < 40; ++k) {
    many.push_back(leafHash("leaf " + std::to_string(k)));
  }
  for (size_t b = 1; b <= 40; ++b) {
    for (size_t a = 1; a <= b; ++a) {
      ASSERT_TRUE(
          verifyConsistency(a, b, rootOf(many, a), rootOf(many, b), consistencyProof(many, a, b)))
          << a << "," << b;
    }
  }
}

} // namespace
} // namespace meshproof::evidence
