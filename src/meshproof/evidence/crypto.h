#pragma once
// SHA-256 and Ed25519 through OpenSSL's EVP API, and the encodings the ledger uses (lower-case hex,
// RFC 4648 §4 base64 with padding). Pure functions; thread-safe.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "meshproof/core/result.h"

namespace meshproof::evidence {

using Digest = std::array<uint8_t, 32>;

Digest sha256(std::string_view bytes);

// Streaming SHA-256 for large files.
class Sha256 {
public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t size);
  Digest finish();

private:
  void* ctx_; // EVP_MD_CTX
};

// SHA-256 of a file's bytes and its size; errors name the file.
struct FileDigest {
  Digest digest;
  uint64_t size = 0;
};
core::Result<FileDigest> sha256File(const std::string& path);

std::string toHex(std::string_view bytes);
std::string toHex(const Digest& d);
std::optional<std::string> fromHex(std::string_view hex); // lower or upper case
std::optional<Digest> digestFromHex(std::string_view hex);
std::string toBase64(std::string_view bytes);
std::optional<std::string> fromBase64(std::string_view b64); // strict: padded, no whitespace

inline std::string_view bytesOf(const Digest& d) {
  return {reinterpret_cast<const char*>(d.data()), d.size()};
}

// Ed25519 (RFC 8032) from a 32-byte seed.
struct Ed25519Key {
  std::string seed;       // 32 bytes
  std::string public_key; // 32 bytes
};
core::Result<Ed25519Key> ed25519FromSeed(std::string_view seed);
core::Result<Ed25519Key> ed25519Generate();
// 64-byte signature.
core::Result<std::string> ed25519Sign(const Ed25519Key& key, std::string_view message);
bool ed25519Verify(std::string_view public_key, std::string_view message,
                   std::string_view signature);

} // namespace meshproof::evidence
