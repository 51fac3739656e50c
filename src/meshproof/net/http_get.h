#pragma once
// A blocking HTTP/1.1 GET to a loopback port, for control paths that read a peer once (a pod's
// /metrics after a validation run). Not for the data path.

#include <cstdint>
#include <string>

#include "meshproof/core/duration.h"
#include "meshproof/core/result.h"

namespace meshproof::net {

struct HttpReply {
  int status = 0;
  std::string body;
};

// GET http://127.0.0.1:port/target; errors name the port and what failed (connect, timeout).
core::Result<HttpReply> httpGet(uint16_t port, const std::string& target, core::Duration timeout);
// POST a JSON body to http://127.0.0.1:port/target.
core::Result<HttpReply> httpPost(uint16_t port, const std::string& target, const std::string& body,
                                 core::Duration timeout);
// DELETE http://127.0.0.1:port/target.
core::Result<HttpReply> httpDelete(uint16_t port, const std::string& target,
                                   core::Duration timeout);

} // namespace meshproof::net
