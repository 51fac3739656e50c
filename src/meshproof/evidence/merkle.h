#pragma once
// The RFC 9162 §2.1 Merkle tree over leaf hashes: roots (recursive and the streaming stack
// algorithm of §2.1.2), inclusion proofs and consistency proofs with their verification
// algorithms (§2.1.3.2, §2.1.4.2, including the sn == 0 checks that reject short or long proofs).
// Pure functions over already-hashed leaves; thread-safe.

#include <cstdint>
#include <string_view>
#include <vector>

#include "meshproof/evidence/crypto.h"

namespace meshproof::evidence {

Digest leafHash(std::string_view data);                         // SHA-256(0x00 || data)
Digest nodeHash(const Digest& left, const Digest& right);       // SHA-256(0x01 || l || r)
Digest nodeHash(std::string_view left, std::string_view right); // the same over raw bytes
Digest emptyRoot();                                             // SHA-256("")

// MTH over leaves[0:n] (n <= leaves.size()).
Digest rootOf(const std::vector<Digest>& leaves, size_t n);
Digest rootOf(const std::vector<Digest>& leaves);

// The streaming root: push leaf hashes one by one, O(log n) memory.
class RootBuilder {
public:
  void push(const Digest& leaf);
  Digest root() const;
  uint64_t size() const { return size_; }

private:
  std::vector<Digest> stack_;
  uint64_t size_ = 0;
};

// PATH(m, D[0:n]); requires m < n <= leaves.size().
std::vector<Digest> inclusionProof(const std::vector<Digest>& leaves, size_t m, size_t n);
bool verifyInclusion(uint64_t index, uint64_t size, const Digest& leaf,
                     const std::vector<Digest>& path, const Digest& root);

// PROOF(m, D[0:n]); requires 0 < m <= n <= leaves.size() (m == n: empty).
std::vector<Digest> consistencyProof(const std::vector<Digest>& leaves, size_t m, size_t n);
bool verifyConsistency(uint64_t size1, uint64_t size2, const Digest& root1, const Digest& root2,
                       const std::vector<Digest>& proof);

} // namespace meshproof::evidence
