#include "meshproof/evidence/crypto.h"

#include <cstdio>
#include <memory>

#include <openssl/evp.h>
#include <openssl/rand.h>

namespace meshproof::evidence {

namespace {

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

const char kHex[] = "0123456789abcdef";
const char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

} // namespace

Digest sha256(std::string_view bytes) {
  Digest d{};
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), d.data(), &len, EVP_sha256(), nullptr);
  return d;
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr);
}

Sha256::~Sha256() {
  EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_));
}

void Sha256::update(const void* data, size_t size) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data, size);
}

Digest Sha256::finish() {
  Digest d{};
  unsigned int len = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), d.data(), &len);
  return d;
}

core::Result<FileDigest> sha256File(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) {
    return core::notFound(path + ": cannot open");
  }
  Sha256 h;
  FileDigest out;
  std::unique_ptr<char[]> buf(new char[1 << 20]);
  for (;;) {
    const size_t n = std::fread(buf.get(), 1, 1 << 20, f.get());
    if (n == 0) {
      break;
    }
    h.update(buf.get(), n);
    out.size += n;
  }
  if (std::ferror(f.get())) {
    return core::unavailable(path + ": read error");
  }
  out.digest = h.finish();
  return out;
}

std::string toHex(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::string toHex(const Digest& d) {
  return toHex(bytesOf(d));
}

std::optional<std::string> fromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) {
    return std::nullopt;
  }
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
      return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
      return c - 'A' + 10;
    }
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int hi = nibble(hex[i]);
    const int lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) {
      return std::nullopt;
    }
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

std::optional<Digest> digestFromHex(std::string_view hex) {
  auto bytes = fromHex(hex);
  if (!bytes || bytes->size() != 32) {
    return std::nullopt;
  }
  Digest d{};
  std::copy(bytes->begin(), bytes->end(), d.begin());
  return d;
}

std::string toBase64(std::string_view bytes) {
  std::string out;
  size_t i = 0;
  auto at = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(bytes[k])); };
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = at(i) << 16 | at(i + 1) << 8 | at(i + 2);
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
  }
  if (bytes.size() - i == 1) {
    const uint32_t v = at(i) << 16;
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += "==";
  } else if (bytes.size() - i == 2) {
    const uint32_t v = at(i) << 16 | at(i + 1) << 8;
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::optional<std::string> fromBase64(std::string_view b64) {
  if (b64.size() % 4 != 0) {
    return std::nullopt;
  }
  auto value = [](char c) -> int {
    const char* p = c == '\0' ? nullptr : std::char_traits<char>::find(kB64, 64, c);
    return p == nullptr ? -1 : static_cast<int>(p - kB64);
  };
  std::string out;
  for (size_t i = 0; i < b64.size(); i += 4) {
    const bool last = i + 4 == b64.size();
    int pad = 0;
    uint32_t v = 0;
    for (size_t k = 0; k < 4; ++k) {
      const char c = b64[i + k];
      if (c == '=' && last && k >= 2) {
        ++pad;
        v <<= 6;
        continue;
      }
      const int x = value(c);
      if (x < 0 || pad != 0) {
        return std::nullopt;
      }
      v = v << 6 | static_cast<uint32_t>(x);
    }
    out += static_cast<char>(v >> 16);
    if (pad < 2) {
      out += static_cast<char>((v >> 8) & 255);
    }
    if (pad < 1) {
      out += static_cast<char>(v & 255);
    }
    // Canonical: the bits under the padding are zero.
    if ((pad == 1 && (v & 255) != 0) || (pad == 2 && (v & 0xffff) != 0)) {
      return std::nullopt;
    }
  }
  return out;
}

core::Result<Ed25519Key> ed25519FromSeed(std::string_view seed) {
  if (seed.size() != 32) {
    return core::invalidArgument("an Ed25519 seed has 32 bytes");
  }
  Pkey k(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr,
                                      reinterpret_cast<const unsigned char*>(seed.data()), 32));
  if (!k) {
    return core::invalidArgument("OpenSSL refused the Ed25519 seed");
  }
  Ed25519Key out;
  out.seed = std::string(seed);
  out.public_key.resize(32);
  size_t len = 32;
  if (EVP_PKEY_get_raw_public_key(k.get(), reinterpret_cast<unsigned char*>(out.public_key.data()),
                                  &len) != 1 ||
      len != 32) {
    return core::invalidArgument("OpenSSL could not derive the Ed25519 public key");
  }
  return out;
}

core::Result<Ed25519Key> ed25519Generate() {
  std::string seed(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(seed.data()), 32) != 1) {
    return core::unavailable("OpenSSL's random generator failed");
  }
  return ed25519FromSeed(seed);
}

core::Result<std::string> ed25519Sign(const Ed25519Key& key, std::string_view message) {
  Pkey k(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr,
                                      reinterpret_cast<const unsigned char*>(key.seed.data()),
                                      key.seed.size()));
  MdCtx ctx(EVP_MD_CTX_new());
  std::string sig(64, '\0');
  size_t len = 64;
  if (!k || !ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, k.get()) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1 ||
      len != 64) {
    return core::unavailable("OpenSSL could not sign with Ed25519");
  }
  return sig;
}

bool ed25519Verify(std::string_view public_key, std::string_view message,
                   std::string_view signature) {
  if (public_key.size() != 32 || signature.size() != 64) {
    return false;
  }
  Pkey k(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(public_key.data()), 32));
  MdCtx ctx(EVP_MD_CTX_new());
  return k && ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, k.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), 64,
                          reinterpret_cast<const unsigned char*>(message.data()),
                          message.size()) == 1;
}

} // namespace meshproof::evidence
