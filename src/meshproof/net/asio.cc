// Compiles net/asio.h on its own, so a broken include order shows up here first.
#include "meshproof/net/asio.h"

namespace meshproof::net {

// The Asio version this build uses; Boost 1.74 ships Asio 1.18 (BOOST_ASIO_VERSION 101800).
int asioVersion() {
  return BOOST_ASIO_VERSION;
}

template <typename Acceptor>
core::Status listen(Acceptor& acceptor, const std::string& address, uint16_t port,
                    const std::string& what) {
  boost::system::error_code ec;
  const auto ip = asio::ip::make_address(address, ec);
  if (ec) {
    return core::invalidArgument(what + ": address \"" + address + "\" is not an IP address");
  }
  const tcp::endpoint endpoint(ip, port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) {
    acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  }
  if (!ec) {
    acceptor.bind(endpoint, ec);
  }
  if (!ec) {
    acceptor.listen(asio::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    return core::invalidArgument(what + ": cannot listen on " + address + ":" +
                                 std::to_string(port) + ": " + ec.message());
  }
  return core::Status::ok();
}

template core::Status listen(tcp::acceptor&, const std::string&, uint16_t, const std::string&);
template core::Status listen(asio::basic_socket_acceptor<tcp, asio::io_context::executor_type>&,
                             const std::string&, uint16_t, const std::string&);

} // namespace meshproof::net
