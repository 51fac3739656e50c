#include "meshproof/evidence/dsse.h"

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

namespace meshproof::evidence {

namespace {

std::optional<std::string> decodeAnyBase64(std::string s) {
  std::replace(s.begin(), s.end(), '-', '+');
  std::replace(s.begin(), s.end(), '_', '/');
  while (s.size() % 4 != 0) {
    s += '=';
  }
  return fromBase64(s);
}

} // namespace

std::string pae(std::string_view payload_type, std::string_view payload) {
  return "DSSEv1 " + std::to_string(payload_type.size()) + " " + std::string(payload_type) + " " +
         std::to_string(payload.size()) + " " + std::string(payload);
}

core::Result<std::string> dsseSign(std::string_view payload_type, std::string_view payload,
                                   const Signer& signer) {
  auto sig = ed25519Sign(signer.key, pae(payload_type, payload));
  if (!sig) {
    return sig.status();
  }
  char id[9];
  std::snprintf(id, sizeof id, "%08x", signer.id);
  nlohmann::ordered_json env;
  env["payload"] = toBase64(payload);
  env["payloadType"] = std::string(payload_type);
  env["signatures"] = nlohmann::ordered_json::array({{{"keyid", id}, {"sig", toBase64(*sig)}}});
  return env.dump();
}

core::Result<DssePayload> dsseVerify(std::string_view envelope,
                                     const std::vector<Verifier>& verifiers) {
  nlohmann::json env;
  try {
    env = nlohmann::json::parse(envelope);
  } catch (const nlohmann::json::exception&) {
    return core::invalidArgument("DSSE envelope: not JSON");
  }
  if (!env.is_object() || !env.contains("payload") || !env["payload"].is_string() ||
      !env.contains("payloadType") || !env["payloadType"].is_string() ||
      !env.contains("signatures") || !env["signatures"].is_array()) {
    return core::invalidArgument("DSSE envelope: payload, payloadType and signatures are required");
  }
  auto payload = decodeAnyBase64(env["payload"].get<std::string>());
  if (!payload) {
    return core::invalidArgument("DSSE envelope: payload is not base64");
  }
  DssePayload out{env["payloadType"].get<std::string>(), *payload};
  const std::string message = pae(out.payload_type, out.payload);
  for (const auto& s : env["signatures"]) {
    if (!s.is_object() || !s.contains("sig") || !s["sig"].is_string()) {
      continue;
    }
    auto sig = decodeAnyBase64(s["sig"].get<std::string>());
    if (!sig) {
      continue;
    }
    // The keyid is an unauthenticated hint: every trusted key is tried.
    for (const Verifier& v : verifiers) {
      if (ed25519Verify(v.public_key, message, *sig)) {
        return out;
      }
    }
  }
  return core::invalidArgument("DSSE envelope: no signature verifies under a trusted key");
}

} // namespace meshproof::evidence
