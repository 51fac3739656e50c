// Compiles net/asio.h on its own, so a broken include order shows up here first.
#include "meshproof/net/asio.h"

namespace meshproof::net {

// The Asio version this build uses; Boost 1.74 ships Asio 1.18 (BOOST_ASIO_VERSION 101800).
int asioVersion() {
  return BOOST_ASIO_VERSION;
}

} // namespace meshproof::net
