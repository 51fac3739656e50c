#pragma once
// The HTTP/1.1 request and response as the proxy holds them between parsing and serialising.
//
// Fields keep their arrival order and the names as sent; names compare ASCII
// case-insensitively. All field bytes live in one buffer, as the lines they are sent as
// ("name: value\r\n"), with a list of offsets, so a message costs at most two allocations however
// many fields it has (none when a cleared message is reused), a move is a few pointer copies, and
// serialising a run of fields that go on unchanged is one append. Beast's message kept a tree node
// per field, and its moves and lookups were about a tenth of the proxy's instructions per request.
//
// The API is the small part of Beast's message the proxy used; http::field and http::status
// stay Beast's enums (their names are the standard spellings, e.g. "Content-Type").
//
// Not thread-safe; a message belongs to one request.

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/verb.hpp>

#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "meshproof/net/http1_parser.h"

namespace meshproof::proxy {

// Short pieces of a message put together on the stack and appended to `out` at once (a dozen small
// appends cost more than the copies). Whatever does not fit goes out first; flush() before
// anything else appends to `out`.
class StagedAppend {
public:
  explicit StagedAppend(std::string& out) : out_(out) {}
  StagedAppend(const StagedAppend&) = delete;
  StagedAppend& operator=(const StagedAppend&) = delete;
  ~StagedAppend() = default;

  [[gnu::always_inline]] void put(std::string_view s) {
    if (s.size() > room()) {
      putLong(s);
      return;
    }
    std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  [[gnu::always_inline]] void putNumber(int64_t v) {
    if (room() < 20) { // INT64_MIN's digits and sign
      flush();
    }
    p_ = std::to_chars(p_, buf_.data() + buf_.size(), v).ptr;
  }
  void flush() {
    out_.append(buf_.data(), static_cast<size_t>(p_ - buf_.data()));
    p_ = buf_.data();
  }

private:
  size_t room() const { return static_cast<size_t>(buf_.data() + buf_.size() - p_); }
  [[gnu::noinline]] void putLong(std::string_view s) {
    flush();
    if (s.size() > buf_.size()) {
      out_.append(s);
      return;
    }
    std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  std::string& out_;
  std::array<char, 256> buf_; // NOLINT(cppcoreguidelines-pro-type-member-init): written by put
  char* p_ = buf_.data();
};

// "name: value\r\n" at the end of `out`, in one append for a usual field (four appends, or a
// resize that zero-fills first, cost a twentieth of the proxy's user-space instructions).
inline void appendField(std::string& out, std::string_view name, std::string_view value) {
  StagedAppend line(out);
  line.put(name);
  line.put(": ");
  line.put(value);
  line.put("\r\n");
  line.flush();
}

class Fields {
public:
  struct View {
    std::string_view name;
    std::string_view value;
  };

  size_t size() const { return refs_.size(); }
  bool empty() const { return refs_.empty(); }
  View at(size_t i) const { return view(refs_[i]); }

  // Room for `count` fields of `bytes` bytes in all (as lines), so that copying a parsed head in
  // costs two allocations, not one per doubling.
  void reserve(size_t bytes, size_t count) {
    bytes_.reserve(bytes);
    refs_.reserve(count);
  }
  // Appends a field (duplicates kept, as received).
  void insert(std::string_view name, std::string_view value) {
    refs_.push_back({static_cast<uint32_t>(bytes_.size()), static_cast<uint32_t>(name.size()),
                     static_cast<uint32_t>(value.size())});
    appendField(bytes_, name, value);
  }
  void insert(boost::beast::http::field name, std::string_view value) {
    insert(nameOf(name), value);
  }
  // Removes every field called `name`, then appends one.
  void set(std::string_view name, std::string_view value) {
    erase(name);
    insert(name, value);
  }
  void set(boost::beast::http::field name, std::string_view value) { set(nameOf(name), value); }
  // Removes every field called `name` (its bytes stay until clear()).
  void erase(std::string_view name) {
    std::erase_if(refs_, [&](const Ref& r) { return net::http1::iequals(view(r).name, name); });
  }
  // The first field called `name`, or nullopt.
  std::optional<std::string_view> find(std::string_view name) const {
    for (size_t i = 0; i < refs_.size(); ++i) {
      const View f = at(i);
      if (net::http1::iequals(f.name, name)) {
        return f.value;
      }
    }
    return std::nullopt;
  }
  std::optional<std::string_view> find(boost::beast::http::field name) const {
    return find(nameOf(name));
  }
  // Appends the line ("name: value\r\n") of each field `keep(View)` is true for to `out`, in
  // order: one append per run of kept fields that lie next to each other.
  template <typename Keep>
  void appendLines(std::string& out, Keep keep) const {
    size_t run_at = 0;
    size_t run_end = 0;
    for (const Ref& r : refs_) {
      if (!keep(view(r))) {
        continue;
      }
      if (r.at != run_end) {
        if (run_end != run_at) {
          out.append(bytes_.data() + run_at, run_end - run_at);
        }
        run_at = r.at;
      }
      run_end = r.at + r.name_len + r.value_len + 4;
    }
    if (run_end != run_at) {
      out.append(bytes_.data() + run_at, run_end - run_at);
    }
  }

  // Empties the list and keeps the storage for the next message.
  void clear() {
    bytes_.clear();
    refs_.clear();
  }

  // for (Fields::View f : fields)
  class Iterator {
  public:
    Iterator(const Fields& f, size_t i) : fields_(&f), i_(i) {}
    View operator*() const { return fields_->at(i_); }
    Iterator& operator++() {
      ++i_;
      return *this;
    }
    bool operator!=(const Iterator& o) const { return i_ != o.i_; }

  private:
    const Fields* fields_;
    size_t i_;
  };
  Iterator begin() const { return {*this, 0}; }
  Iterator end() const { return {*this, refs_.size()}; }

private:
  static std::string_view nameOf(boost::beast::http::field f) {
    const auto s = boost::beast::http::to_string(f);
    return {s.data(), s.size()};
  }
  struct Ref {
    uint32_t at, name_len, value_len; // the line at `at`: name, ": ", value, CRLF
  };
  View view(const Ref& r) const {
    return {std::string_view(bytes_.data() + r.at, r.name_len),
            std::string_view(bytes_.data() + r.at + r.name_len + 2, r.value_len)};
  }
  std::string bytes_;
  std::vector<Ref> refs_;
};

struct Request {
  std::string method = "GET"; // as sent (a known method, upper case)
  std::string target = "/";   // origin form
  unsigned version = 11;      // 10 or 11
  Fields fields;
  std::string body;

  bool is(std::string_view m) const { return method == m; }
  // Empties the request for the next one on the connection, keeping its storage.
  void clear() {
    method.clear();
    target.clear();
    version = 11;
    fields.clear();
    body.clear();
  }
};

struct Response {
  Response() = default;
  Response(boost::beast::http::status s, unsigned v)
      : status(static_cast<unsigned>(s)), version(v) {}
  Response(unsigned s, unsigned v) : status(s), version(v) {}

  unsigned status = 200;
  unsigned version = 11;
  Fields fields;
  std::string body;

  // Empties the response for the next one, keeping its storage.
  void clear() {
    status = 200;
    version = 11;
    fields.clear();
    body.clear();
  }
};

} // namespace meshproof::proxy
