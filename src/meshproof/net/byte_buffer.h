#pragma once
// A growable byte buffer for socket reads whose resize does not write the bytes it adds.
//
// A read asks for room (resize to size() + room), the socket fills some of it, and the rest is
// given back (resize down). std::string::resize zero-fills the room every time (2 KiB and more
// per read, twice per proxied request); this buffer leaves the added bytes unspecified until they
// are written. Growth doubles the capacity, as std::string's does.
//
// Not thread-safe; one connection owns one.

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

namespace meshproof::net {

class ByteBuffer {
public:
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t capacity() const { return capacity_; }
  char* data() { return data_.get(); }
  const char* data() const { return data_.get(); }
  char operator[](size_t i) const { return data_[i]; }
  std::string_view view() const { return {data_.get(), size_}; }
  // Parsers read the buffer as a view (valid until the next resize, reserve or consume).
  operator std::string_view() const { return view(); } // NOLINT(google-explicit-constructor)

  // Grows or shrinks to n bytes. Bytes up to the old size keep their values; added ones are
  // unspecified until written.
  void resize(size_t n) {
    reserve(n);
    size_ = n;
  }
  void reserve(size_t n) {
    if (n > capacity_) {
      grow(std::max(n, 2 * capacity_));
    }
  }
  // Drops the first n bytes (n <= size()); the rest moves to the front.
  void consume(size_t n) {
    if (n >= size_) {
      size_ = 0;
      return;
    }
    std::memmove(data_.get(), data_.get() + n, size_ - n);
    size_ -= n;
  }
  void clear() { size_ = 0; }
  // Gives back the storage an empty buffer holds (a large message's room does not stay with an
  // idle connection); keeps a non-empty buffer's bytes in storage of their size.
  void shrinkToFit() {
    if (size_ == 0) {
      data_.reset();
      capacity_ = 0;
    } else if (size_ < capacity_) {
      grow(size_);
    }
  }

private:
  void grow(size_t capacity) {
    std::unique_ptr<char[]> bigger(new char[capacity]);
    if (size_ > 0) {
      std::memcpy(bigger.get(), data_.get(), size_);
    }
    data_ = std::move(bigger);
    capacity_ = capacity;
  }

  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

} // namespace meshproof::net
