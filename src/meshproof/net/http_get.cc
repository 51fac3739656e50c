#include "meshproof/net/http_get.h"

#include "meshproof/net/asio.h"

namespace meshproof::net {

namespace {

core::Result<HttpReply> call(http::verb verb, uint16_t port, const std::string& target,
                             const std::string& body, core::Duration timeout) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  http::response<http::string_body> res;
  boost::system::error_code error;
  stream.expires_after(timeout);
  stream.async_connect(
      tcp::endpoint(asio::ip::address_v4::loopback(), port),
      [&](const boost::system::error_code& ec) {
        if (ec) {
          error = ec;
          return;
        }
        auto req = std::make_shared<http::request<http::string_body>>(verb, target, 11);
        req->set(http::field::host, "127.0.0.1");
        if (verb == http::verb::post) {
          req->set(http::field::content_type, "application/json");
          req->body() = body;
        }
        req->prepare_payload();
        http::async_write(stream, *req, [&, req](const boost::system::error_code& wec, size_t) {
          if (wec) {
            error = wec;
            return;
          }
          auto buffer = std::make_shared<beast::flat_buffer>();
          http::async_read(
              stream, *buffer, res,
              [&, buffer](const boost::system::error_code& rec, size_t) { error = rec; });
        });
      });
  io.run();
  if (error) {
    return core::unavailable(
        std::string(http::to_string(verb)) + " 127.0.0.1:" + std::to_string(port) + target + ": " +
        (error == beast::error::timeout ? std::string("timed out") : error.message()));
  }
  return HttpReply{static_cast<int>(res.result_int()), std::move(res.body())};
}

} // namespace

core::Result<HttpReply> httpGet(uint16_t port, const std::string& target, core::Duration timeout) {
  return call(http::verb::get, port, target, "", timeout);
}

core::Result<HttpReply> httpPost(uint16_t port, const std::string& target, const std::string& body,
                                 core::Duration timeout) {
  return call(http::verb::post, port, target, body, timeout);
}

core::Result<HttpReply> httpDelete(uint16_t port, const std::string& target,
                                   core::Duration timeout) {
  return call(http::verb::delete_, port, target, "", timeout);
}

} // namespace meshproof::net
