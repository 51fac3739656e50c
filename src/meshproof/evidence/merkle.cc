#include "meshproof/evidence/merkle.h"

#include <string>

#include "meshproof/evidence/format.h"

namespace meshproof::evidence {

namespace {

// The largest power of two strictly less than n (n >= 2).
size_t splitPoint(size_t n) {
  size_t k = 1;
  while (k * 2 < n) {
    k *= 2;
  }
  return k;
}

Digest rootRange(const std::vector<Digest>& leaves, size_t begin, size_t end) {
  const size_t n = end - begin;
  if (n == 0) {
    return emptyRoot();
  }
  if (n == 1) {
    return leaves[begin];
  }
  const size_t k = splitPoint(n);
  return nodeHash(rootRange(leaves, begin, begin + k), rootRange(leaves, begin + k, end));
}

void path(const std::vector<Digest>& leaves, size_t m, size_t begin, size_t end,
          std::vector<Digest>& out) {
  const size_t n = end - begin;
  if (n <= 1) {
    return;
  }
  const size_t k = splitPoint(n);
  if (m < k) {
    path(leaves, m, begin, begin + k, out);
    out.push_back(rootRange(leaves, begin + k, end));
  } else {
    path(leaves, m - k, begin + k, end, out);
    out.push_back(rootRange(leaves, begin, begin + k));
  }
}

void subproof(const std::vector<Digest>& leaves, size_t m, size_t begin, size_t end, bool whole,
              std::vector<Digest>& out) {
  const size_t n = end - begin;
  if (m == n) {
    if (!whole) {
      out.push_back(rootRange(leaves, begin, end));
    }
    return;
  }
  const size_t k = splitPoint(n);
  if (m <= k) {
    subproof(leaves, m, begin, begin + k, whole, out);
    out.push_back(rootRange(leaves, begin + k, end));
  } else {
    subproof(leaves, m - k, begin + k, end, false, out);
    out.push_back(rootRange(leaves, begin, begin + k));
  }
}

} // namespace

Digest leafHash(std::string_view data) {
  std::string buf;
  buf.reserve(data.size() + 1);
  buf += static_cast<char>(kLeafPrefix);
  buf += data;
  return sha256(buf);
}

Digest nodeHash(const Digest& left, const Digest& right) {
  return nodeHash(bytesOf(left), bytesOf(right));
}

Digest nodeHash(std::string_view left, std::string_view right) {
  std::string buf;
  buf.reserve(1 + left.size() + right.size());
  buf += static_cast<char>(kNodePrefix);
  buf += left;
  buf += right;
  return sha256(buf);
}

Digest emptyRoot() {
  return sha256("");
}

Digest rootOf(const std::vector<Digest>& leaves, size_t n) {
  return rootRange(leaves, 0, n);
}

Digest rootOf(const std::vector<Digest>& leaves) {
  return rootRange(leaves, 0, leaves.size());
}

void RootBuilder::push(const Digest& leaf) {
  stack_.push_back(leaf);
  // Merge once per trailing 1-bit of the leaf's index.
  for (uint64_t i = size_; i & 1; i >>= 1) {
    const Digest right = stack_.back();
    stack_.pop_back();
    stack_.back() = nodeHash(stack_.back(), right);
  }
  ++size_;
}

Digest RootBuilder::root() const {
  if (stack_.empty()) {
    return emptyRoot();
  }
  Digest r = stack_.back();
  for (size_t i = stack_.size() - 1; i-- > 0;) {
    r = nodeHash(stack_[i], r);
  }
  return r;
}

std::vector<Digest> inclusionProof(const std::vector<Digest>& leaves, size_t m, size_t n) {
  std::vector<Digest> out;
  path(leaves, m, 0, n, out);
  return out;
}

bool verifyInclusion(uint64_t index, uint64_t size, const Digest& leaf,
                     const std::vector<Digest>& proof, const Digest& root) {
  if (index >= size) {
    return false;
  }
  uint64_t fn = index;
  uint64_t sn = size - 1;
  Digest r = leaf;
  for (const Digest& p : proof) {
    if (sn == 0) {
      return false;
    }
    if ((fn & 1) != 0 || fn == sn) {
      r = nodeHash(p, r);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && r == root;
}

std::vector<Digest> consistencyProof(const std::vector<Digest>& leaves, size_t m, size_t n) {
  std::vector<Digest> out;
  if (m == 0 || m >= n) {
    return out;
  }
  subproof(leaves, m, 0, n, true, out);
  return out;
}

bool verifyConsistency(uint64_t size1, uint64_t size2, const Digest& root1, const Digest& root2,
                       const std::vector<Digest>& proof) {
  if (size1 > size2) {
    return false;
  }
  if (size1 == size2) {
    return proof.empty() && root1 == root2;
  }
  if (size1 == 0) {
    return proof.empty();
  }
  if (proof.empty()) {
    return false;
  }
  std::vector<Digest> p = proof;
  if ((size1 & (size1 - 1)) == 0) {
    p.insert(p.begin(), root1);
  }
  uint64_t fn = size1 - 1;
  uint64_t sn = size2 - 1;
  while ((fn & 1) != 0) {
    fn >>= 1;
    sn >>= 1;
  }
  Digest fr = p[0];
  Digest sr = p[0];
  for (size_t i = 1; i < p.size(); ++i) {
    const Digest& c = p[i];
    if (sn == 0) {
      return false;
    }
    if ((fn & 1) != 0 || fn == sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return fr == root1 && sr == root2 && sn == 0;
}

} // namespace meshproof::evidence
