#pragma once
// DSSE envelopes (secure-systems-lab/dsse protocol v1.0.0): a signed claim over a typed payload,
// for attestations stored as evidence (evidence-ledger.md §4). The signature is over
// PAE(type, body) = "DSSEv1" SP len(type) SP type SP len(body) SP body (lengths in ASCII decimal
// bytes); verification checks the signature before it trusts the payload type or the payload.
// Pure functions; thread-safe.

#include <string>
#include <string_view>
#include <vector>

#include "meshproof/core/result.h"
#include "meshproof/evidence/note.h"

namespace meshproof::evidence {

std::string pae(std::string_view payload_type, std::string_view payload);

// {"payload": base64, "payloadType": type, "signatures": [{"keyid": <8 hex>, "sig": base64}]}
core::Result<std::string> dsseSign(std::string_view payload_type, std::string_view payload,
                                   const Signer& signer);

struct DssePayload {
  std::string payload_type;
  std::string payload;
};

// Accepts when a signature by one of `verifiers` verifies over PAE; standard and URL-safe base64
// are both read. Errors say why (not JSON, no trusted signature, a signature that fails).
core::Result<DssePayload> dsseVerify(std::string_view envelope,
                                     const std::vector<Verifier>& verifiers);

} // namespace meshproof::evidence
