#include "meshproof/proxy/message.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace meshproof::proxy {
namespace {

std::vector<std::string> lines(const Fields& f) {
  std::vector<std::string> out;
  for (const Fields::View v : f) {
    out.push_back(std::string(v.name) + ": " + std::string(v.value));
  }
  return out;
}

TEST(Fields, KeepArrivalOrderNamesAsSentAndDuplicates) {
  Fields f;
  f.insert("Host", "a");
  f.insert("x-Trace", "1");
  f.insert("X-TRACE", "2");
  EXPECT_EQ(lines(f), (std::vector<std::string>{"Host: a", "x-Trace: 1", "X-TRACE: 2"}));
  EXPECT_EQ(f.find("x-trace"), "1"); // the first
  EXPECT_EQ(f.find(boost::beast::http::field::host), "a");
  EXPECT_FALSE(f.find("hos"));
  EXPECT_FALSE(f.find("hostx"));
}

TEST(Fields, SetReplacesEveryFieldOfTheNameWhateverItsCase) {
  Fields f;
  f.insert("content-type", "text/html");
  f.insert("Date", "d");
  f.insert("CONTENT-TYPE", "x");
  f.set(boost::beast::http::field::content_type, "text/plain");
  EXPECT_EQ(lines(f), (std::vector<std::string>{"Date: d", "Content-Type: text/plain"}));
  f.erase("date");
  EXPECT_EQ(lines(f), (std::vector<std::string>{"Content-Type: text/plain"}));
  f.clear();
  EXPECT_TRUE(f.empty());
  f.insert("A", "b"); // storage reused after clear
  EXPECT_EQ(lines(f), (std::vector<std::string>{"A: b"}));
}

TEST(Fields, ViewsStayValidAcrossAMoveOfTheMessage) {
  Response r{boost::beast::http::status::created, 11};
  for (int i = 0; i < 50; ++i) {
    r.fields.insert("X-" + std::to_string(i), std::string(40, static_cast<char>('a' + i % 26)));
  }
  r.body = "payload";
  Response moved = std::move(r);
  EXPECT_EQ(moved.status, 201u);
  ASSERT_EQ(moved.fields.size(), 50u);
  EXPECT_EQ(moved.fields.find("x-49"), std::string(40, 'x'));
  EXPECT_EQ(moved.body, "payload");
}

// What serialising writes: the kept fields' lines in order, whatever was erased or set between.
TEST(Fields, AppendLinesWritesTheKeptFieldsAsSent) {
  Fields f;
  f.insert("Server", "nginx");
  f.insert("Date", "d");
  f.insert("Content-Type", "text/plain");
  f.insert("Connection", "keep-alive");
  f.insert("X-Long", std::string(300, 'v')); // over appendField's stack line
  f.insert("X-Empty", "");
  auto keepAllBut = [](std::string_view drop) {
    return [drop](Fields::View v) { return !net::http1::iequals(v.name, drop); };
  };
  std::string out = "HEAD\r\n";
  f.appendLines(out, keepAllBut("connection"));
  EXPECT_EQ(out, "HEAD\r\nServer: nginx\r\nDate: d\r\nContent-Type: text/plain\r\nX-Long: " +
                     std::string(300, 'v') + "\r\nX-Empty: \r\n");
  out.clear();
  f.appendLines(out, [](Fields::View) { return false; });
  EXPECT_EQ(out, "");
  // After erase and set the fields' lines are no longer next to each other in storage.
  f.erase("date");
  f.set("server", "envoy");
  f.insert("Date", "e");
  out.clear();
  f.appendLines(out, keepAllBut("x-long"));
  EXPECT_EQ(out, "Content-Type: text/plain\r\nConnection: keep-alive\r\nX-Empty: \r\n"
                 "server: envoy\r\nDate: e\r\n");
  out.clear();
  f.appendLines(out, [](Fields::View v) { return v.name == "Date"; });
  EXPECT_EQ(out, "Date: e\r\n");
}

TEST(Request, ClearEmptiesEverythingForTheNextRequest) {
  Request q;
  q.method = "POST";
  q.target = "/a";
  q.version = 10;
  q.fields.insert("Host", "h");
  q.body = "b";
  EXPECT_TRUE(q.is("POST"));
  q.clear();
  EXPECT_TRUE(q.method.empty() && q.target.empty() && q.fields.empty() && q.body.empty());
  EXPECT_EQ(q.version, 11u);
}

} // namespace
} // namespace meshproof::proxy
