#include "meshproof/proxy/router.h"

#include <algorithm>
#include <cctype>

namespace meshproof::proxy {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string withoutQuery(const std::string& path) {
  const size_t q = path.find('?');
  return q == std::string::npos ? path : path.substr(0, q);
}

} // namespace

bool RouteTable::Matcher::matches(const std::string& text, bool ignore_case) const {
  switch (kind) {
  case spec::StringMatch::Kind::Exact:
    return ignore_case ? lower(text) == lower(value) : text == value;
  case spec::StringMatch::Kind::Prefix:
    return ignore_case ? lower(text).compare(0, value.size(), lower(value)) == 0
                       : text.compare(0, value.size(), value) == 0;
  case spec::StringMatch::Kind::Regex:
    return RE2::FullMatch(text, *regex);
  }
  return false;
}

bool RouteTable::Block::matches(const RequestHead& r) const {
  if (uri) {
    // Envoy: exact and regex ignore the query string; prefix sees the whole :path.
    const std::string& subject =
        uri->kind == spec::StringMatch::Kind::Prefix ? r.path : withoutQuery(r.path);
    if (!uri->matches(subject, ignore_uri_case && uri->kind != spec::StringMatch::Kind::Regex)) {
      return false;
    }
  }
  if (method && !method->matches(r.method)) {
    return false;
  }
  if (authority && !authority->matches(r.authority)) {
    return false;
  }
  if (scheme && !scheme->matches(r.scheme)) {
    return false;
  }
  if (port && *port != r.port) {
    return false;
  }
  for (const HeaderMatcher& h : headers) {
    auto it = r.headers.find(h.name);
    if (it == r.headers.end() || (h.value && !h.value->matches(it->second))) {
      return false;
    }
  }
  for (const HeaderMatcher& h : without_headers) {
    auto it = r.headers.find(h.name);
    if (it != r.headers.end() && (!h.value || h.value->matches(it->second))) {
      return false;
    }
  }
  for (const auto& [name, m] : query_params) {
    auto v = queryParam(r.path, name);
    if (!v || !m.matches(*v)) {
      return false;
    }
  }
  return true;
}

core::Result<RouteTable::Matcher> RouteTable::compile(const spec::StringMatch& m) {
  Matcher out{m.kind, m.value, nullptr};
  if (m.kind == spec::StringMatch::Kind::Regex) {
    RE2::Options options;
    options.set_log_errors(false);
    auto re = std::make_shared<const RE2>(m.value, options);
    if (!re->ok()) {
      return core::invalidArgument("invalid RE2 regular expression \"" + m.value +
                                   "\": " + re->error());
    }
    out.regex = std::move(re);
  }
  return out;
}

core::Result<RouteTable> RouteTable::build(const std::vector<const spec::HttpRoute*>& routes) {
  RouteTable table;
  auto compileOpt = [](const std::optional<spec::StringMatch>& m,
                       std::optional<Matcher>& out) -> core::Status {
    if (m) {
      auto c = compile(*m);
      if (!c) {
        return c.status();
      }
      out = *c;
    }
    return core::Status::ok();
  };
  for (const spec::HttpRoute* r : routes) {
    Route compiled{r, {}};
    for (const spec::HttpMatchRequest& mr : r->match) {
      Block b;
      for (auto [src, dst] :
           {std::pair{&mr.uri, &b.uri}, std::pair{&mr.method, &b.method},
            std::pair{&mr.authority, &b.authority}, std::pair{&mr.scheme, &b.scheme}}) {
        if (auto st = compileOpt(*src, *dst); !st.isOk()) {
          return st;
        }
      }
      for (auto [src, dst] : {std::pair{&mr.headers, &b.headers},
                              std::pair{&mr.without_headers, &b.without_headers}}) {
        for (const spec::HeaderMatch& h : *src) {
          HeaderMatcher hm{lower(h.name), std::nullopt};
          table.header_names_.insert(hm.name);
          if (auto st = compileOpt(h.match, hm.value); !st.isOk()) {
            return st;
          }
          dst->push_back(std::move(hm));
        }
      }
      for (const auto& [name, m] : mr.query_params) {
        auto c = compile(m);
        if (!c) {
          return c.status();
        }
        b.query_params.emplace_back(name, *c);
      }
      b.ignore_uri_case = mr.ignore_uri_case;
      b.port = mr.port;
      compiled.blocks.push_back(std::move(b));
    }
    table.routes_.push_back(std::move(compiled));
  }
  return table;
}

const spec::HttpRoute* RouteTable::match(const RequestHead& request) const {
  for (const Route& r : routes_) {
    if (r.blocks.empty() || std::any_of(r.blocks.begin(), r.blocks.end(),
                                        [&](const Block& b) { return b.matches(request); })) {
      return r.route;
    }
  }
  return nullptr;
}

size_t pickDestination(const spec::HttpRoute& route, core::Random& random) {
  const auto& d = route.route;
  if (d.size() <= 1) {
    return 0; // a single destination takes all traffic whatever its weight (§1.2)
  }
  uint64_t total = 0;
  for (const spec::RouteDestination& rd : d) {
    total += static_cast<uint64_t>(std::max(rd.weight, 0));
  }
  if (total == 0) {
    return 0; // rejected by validation; kept total for safety
  }
  const uint64_t selected = random.next() % total;
  uint64_t begin = 0;
  for (size_t i = 0; i < d.size(); ++i) {
    const auto w = static_cast<uint64_t>(std::max(d[i].weight, 0));
    if (selected < begin + w) {
      return i;
    }
    begin += w;
  }
  return d.size() - 1;
}

std::optional<std::string> queryParam(const std::string& path, const std::string& name) {
  const size_t q = path.find('?');
  if (q == std::string::npos) {
    return std::nullopt;
  }
  size_t pos = q + 1;
  while (pos <= path.size()) {
    size_t amp = path.find('&', pos);
    if (amp == std::string::npos) {
      amp = path.size();
    }
    const std::string_view pair(path.data() + pos, amp - pos);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      return eq == std::string_view::npos ? std::string() : std::string(pair.substr(eq + 1));
    }
    pos = amp + 1;
  }
  return std::nullopt;
}

} // namespace meshproof::proxy
