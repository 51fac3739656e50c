#pragma once
// The one way into Asio and Beast. Boost 1.74's asio/awaitable.hpp uses std::exchange without
// including <utility>, which GCC 12 rejects (cpp-style-and-performance.md §0), so <utility> comes
// first. Include this only from .cc files and *_impl.h headers: Asio/Beast are slow to compile.

// clang-format off
#include <utility>
#include <boost/asio.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
// clang-format on

#include <cstdint>
#include <string>

#include "meshproof/core/result.h"

namespace meshproof::net {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

// Opens, binds (SO_REUSEADDR) and listens on address:port (0: a free port). Errors name `what`:
// "Gateway/ingress: cannot listen on 127.0.0.1:80: Address already in use".
// Defined for tcp::acceptor and for an acceptor on an io_context's executor (the proxy's).
template <typename Acceptor>
core::Status listen(Acceptor& acceptor, const std::string& address, uint16_t port,
                    const std::string& what);
} // namespace meshproof::net
