#include "meshproof/net/byte_buffer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace meshproof::net {
namespace {

void put(ByteBuffer& b, const std::string& s) {
  const size_t old = b.size();
  b.resize(old + s.size());
  std::memcpy(b.data() + old, s.data(), s.size());
}

TEST(ByteBuffer, KeepsItsBytesAcrossGrowthAndGivesRoomBack) {
  ByteBuffer b;
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.view(), "");
  put(b, "GET / HTTP/1.1\r\n");
  // A read: room asked for, part of it filled, the rest given back.
  const size_t old = b.size();
  b.resize(old + 4096);
  EXPECT_GE(b.capacity(), old + 4096);
  std::memcpy(b.data() + old, "Host: a\r\n", 9);
  b.resize(old + 9);
  EXPECT_EQ(std::string_view(b), "GET / HTTP/1.1\r\nHost: a\r\n");
  for (int i = 0; i < 1000; ++i) {
    put(b, "x");
  }
  EXPECT_EQ(b.size(), 25u + 1000u);
  EXPECT_EQ(b.view().substr(0, 25), "GET / HTTP/1.1\r\nHost: a\r\n");
  EXPECT_EQ(b[25], 'x');
}

TEST(ByteBuffer, ConsumeDropsTheFront) {
  ByteBuffer b;
  put(b, "first|second");
  b.consume(6);
  EXPECT_EQ(b.view(), "second");
  b.consume(100); // more than it holds: empty, not out of bounds
  EXPECT_TRUE(b.empty());
  put(b, "again");
  EXPECT_EQ(b.view(), "again");
  b.clear();
  EXPECT_TRUE(b.empty());
}

TEST(ByteBuffer, ShrinkToFitFreesAnEmptyBufferAndKeepsAFullOnesBytes) {
  ByteBuffer b;
  b.resize(64 * 1024);
  b.resize(3);
  std::memcpy(b.data(), "abc", 3);
  b.shrinkToFit();
  EXPECT_EQ(b.capacity(), 3u);
  EXPECT_EQ(b.view(), "abc");
  b.clear();
  b.shrinkToFit();
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_EQ(b.data(), nullptr);
  b.reserve(10);
  EXPECT_EQ(b.capacity(), 10u);
  EXPECT_TRUE(b.empty());
}

} // namespace
} // namespace meshproof::net
