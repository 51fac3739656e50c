#include "meshproof/evidence/note.h"

#include <charconv>
#include <cstdint>
#include <cstdio>

#include "meshproof/evidence/format.h"

namespace meshproof::evidence {

namespace {

const std::string_view kDash = "\xe2\x80\x94 "; // U+2014 EM DASH, then a space

// Splits at `sep`, into at most `limit` parts (the last keeps any further separators: base64 may
// contain '+').
std::vector<std::string_view> split(std::string_view s, char sep, size_t limit = SIZE_MAX) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    const size_t at = out.size() + 1 == limit ? std::string_view::npos : s.find(sep, start);
    if (at == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, at - start));
    start = at + 1;
  }
}

std::string hex8(uint32_t id) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", id);
  return buf;
}

std::optional<uint32_t> parseHex8(std::string_view s) {
  if (s.size() != 8) {
    return std::nullopt;
  }
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return std::nullopt;
    }
  }
  uint32_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v, 16);
  return v;
}

// Valid UTF-8 with no control characters but "\n".
bool validNoteText(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if ((c < 0x20 && c != '\n') || c == 0x7f) {
        return false;
      }
      ++i;
      continue;
    }
    size_t len = 0;
    uint32_t cp = 0;
    if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) {
      return false;
    }
    for (size_t k = 1; k < len; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xc0) != 0x80) {
        return false;
      }
      cp = cp << 6 | (d & 0x3f);
    }
    const uint32_t min = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp < 0xa0)) {
      return false;
    }
    i += len;
  }
  return true;
}

} // namespace

bool validKeyName(std::string_view name) {
  if (name.empty() || !validNoteText(name)) {
    return false;
  }
  for (char c : name) {
    if (c == '+' || c == ' ' || c == '\n' || c == '\t') {
      return false;
    }
  }
  // U+00A0, U+2000..U+200A, U+3000 and friends: reject the common Unicode spaces by their UTF-8.
  for (std::string_view sp :
       {"\xc2\xa0", "\xe2\x80\x80", "\xe2\x80\x81", "\xe2\x80\x82", "\xe2\x80\x83", "\xe2\x80\x84",
        "\xe2\x80\x85", "\xe2\x80\x86", "\xe2\x80\x87", "\xe2\x80\x88", "\xe2\x80\x89",
        "\xe2\x80\x8a", "\xe2\x80\xa8", "\xe2\x80\xa9", "\xe2\x80\xaf", "\xe3\x80\x80"}) {
    if (name.find(sp) != std::string_view::npos) {
      return false;
    }
  }
  return true;
}

uint32_t keyId(std::string_view name, std::string_view public_key) {
  std::string buf(name);
  buf += '\n';
  buf += static_cast<char>(kEd25519KeyType);
  buf += public_key;
  const Digest d = sha256(buf);
  return uint32_t{d[0]} << 24 | uint32_t{d[1]} << 16 | uint32_t{d[2]} << 8 | d[3];
}

core::Result<Verifier> parseVerifierKey(std::string_view vkey) {
  const auto parts = split(vkey, '+', 3);
  if (parts.size() != 3 || !validKeyName(parts[0])) {
    return core::invalidArgument("malformed verifier key (want name+hash+base64)");
  }
  auto id = parseHex8(parts[1]);
  auto key = fromBase64(parts[2]);
  if (!id || !key || key->size() != 33 || static_cast<uint8_t>((*key)[0]) != kEd25519KeyType) {
    return core::invalidArgument("malformed verifier key (hash or Ed25519 key)");
  }
  Verifier v{std::string(parts[0]), *id, key->substr(1)};
  if (keyId(v.name, v.public_key) != v.id) {
    return core::invalidArgument("verifier key hash does not match its name and key");
  }
  return v;
}

core::Result<Signer> parseSignerKey(std::string_view skey) {
  const auto parts = split(skey, '+', 5);
  if (parts.size() != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" || !validKeyName(parts[2])) {
    return core::invalidArgument("malformed signer key (want PRIVATE+KEY+name+hash+base64)");
  }
  auto id = parseHex8(parts[3]);
  auto seed = fromBase64(parts[4]);
  if (!id || !seed || seed->size() != 33 || static_cast<uint8_t>((*seed)[0]) != kEd25519KeyType) {
    return core::invalidArgument("malformed signer key (hash or Ed25519 seed)");
  }
  auto s = signerFromSeed(parts[2], seed->substr(1));
  if (!s) {
    return s.status();
  }
  if (s->id != *id) {
    return core::invalidArgument("signer key hash does not match its name and key");
  }
  return s;
}

std::string formatVerifierKey(const Verifier& v) {
  return v.name + "+" + hex8(v.id) + "+" +
         toBase64(std::string(1, static_cast<char>(kEd25519KeyType)) + v.public_key);
}

std::string formatSignerKey(const Signer& s) {
  return "PRIVATE+KEY+" + s.name + "+" + hex8(s.id) + "+" +
         toBase64(std::string(1, static_cast<char>(kEd25519KeyType)) + s.key.seed);
}

core::Result<Signer> signerFromSeed(std::string_view name, std::string_view seed) {
  if (!validKeyName(name)) {
    return core::invalidArgument("invalid key name \"" + std::string(name) + "\"");
  }
  auto key = ed25519FromSeed(seed);
  if (!key) {
    return key.status();
  }
  Signer s{std::string(name), keyId(name, key->public_key), *key};
  return s;
}

Verifier verifierOf(const Signer& s) {
  return {s.name, s.id, s.key.public_key};
}

core::Result<std::string> signNote(std::string_view text, const Signer& signer) {
  if (text.empty() || text.back() != '\n' || !validNoteText(text)) {
    return core::invalidArgument("note text must be UTF-8 without control characters and end in "
                                 "a newline");
  }
  auto sig = ed25519Sign(signer.key, text);
  if (!sig) {
    return sig.status();
  }
  std::string blob;
  for (int shift = 24; shift >= 0; shift -= 8) {
    blob += static_cast<char>((signer.id >> shift) & 0xff);
  }
  blob += *sig;
  return std::string(text) + "\n" + std::string(kDash) + signer.name + " " + toBase64(blob) + "\n";
}

NoteResult openNote(std::string_view note, const std::vector<Verifier>& verifiers) {
  NoteResult r;
  auto malformed = [&](const std::string& why) {
    r.error = NoteError::Malformed;
    r.detail = why;
    return r;
  };
  if (!validNoteText(note)) {
    return malformed("not UTF-8 text without control characters");
  }
  if (note.empty() || note.back() != '\n') {
    return malformed("no final newline");
  }
  const size_t split_at = note.rfind("\n\n");
  if (split_at == std::string_view::npos) {
    return malformed("no signature block");
  }
  const std::string_view text = note.substr(0, split_at + 1);
  std::string_view sigs = note.substr(split_at + 2);
  size_t count = 0;
  while (!sigs.empty()) {
    const size_t nl = sigs.find('\n');
    const std::string_view line = sigs.substr(0, nl);
    sigs.remove_prefix(nl + 1);
    if (++count > kMaxSignatures) {
      return malformed("more than 100 signatures");
    }
    if (line.substr(0, kDash.size()) != kDash) {
      return malformed("a line in the signature block is not a signature");
    }
    const std::string_view rest = line.substr(kDash.size());
    const size_t sp = rest.find(' ');
    if (sp == std::string_view::npos || !validKeyName(rest.substr(0, sp))) {
      return malformed("a signature line has no valid key name");
    }
    const std::string_view name = rest.substr(0, sp);
    auto blob = fromBase64(rest.substr(sp + 1));
    if (!blob || blob->size() < 5) {
      return malformed("a signature is not base64 of key id and signature");
    }
    const auto* b = reinterpret_cast<const unsigned char*>(blob->data());
    const uint32_t id = uint32_t{b[0]} << 24 | uint32_t{b[1]} << 16 | uint32_t{b[2]} << 8 | b[3];
    const Verifier* known = nullptr;
    for (const Verifier& v : verifiers) {
      if (v.name == name && v.id == id) {
        known = &v;
      }
    }
    if (known == nullptr) {
      ++r.note.unknown;
      continue;
    }
    if (!ed25519Verify(known->public_key, text, std::string_view(*blob).substr(4))) {
      r.error = NoteError::InvalidSignature;
      r.detail = "the signature of " + std::string(name) + " does not verify";
      return r;
    }
    r.note.verified.emplace_back(name);
  }
  if (count == 0) {
    return malformed("no signature block");
  }
  r.note.text = std::string(text);
  if (r.note.verified.empty()) {
    r.error = NoteError::NoTrustedSignature;
    r.detail = "no signature from a trusted key";
  }
  return r;
}

std::string formatCheckpointText(const Checkpoint& c) {
  return c.origin + "\n" + std::to_string(c.size) + "\n" + toBase64(bytesOf(c.root)) + "\n";
}

core::Result<Checkpoint> parseCheckpointText(std::string_view text) {
  if (text.empty() || text.back() != '\n') {
    return core::invalidArgument("checkpoint text does not end in a newline");
  }
  auto lines = split(text.substr(0, text.size() - 1), '\n');
  if (lines.size() < 3) {
    return core::invalidArgument("checkpoint has fewer than 3 lines (origin, size, root)");
  }
  Checkpoint c;
  c.origin = std::string(lines[0]);
  if (c.origin.empty() || c.origin.find(' ') != std::string::npos ||
      c.origin.find('+') != std::string::npos) {
    return core::invalidArgument("checkpoint line 1: origin is empty or has a space or '+'");
  }
  const std::string_view size = lines[1];
  const bool digits = !size.empty() && size.find_first_not_of("0123456789") == std::string::npos;
  if (!digits || (size.size() > 1 && size[0] == '0') ||
      std::from_chars(size.data(), size.data() + size.size(), c.size).ec != std::errc()) {
    return core::invalidArgument("checkpoint line 2: size \"" + std::string(size) +
                                 "\" is not a decimal without leading zeros");
  }
  auto root = fromBase64(lines[2]);
  if (!root || root->size() != 32) {
    return core::invalidArgument("checkpoint line 3: root is not base64 of 32 bytes");
  }
  std::copy(root->begin(), root->end(), c.root.begin());
  for (size_t i = 3; i < lines.size(); ++i) {
    if (lines[i].empty()) {
      return core::invalidArgument("checkpoint line " + std::to_string(i + 1) +
                                   ": empty extension line");
    }
  }
  return c;
}

} // namespace meshproof::evidence
