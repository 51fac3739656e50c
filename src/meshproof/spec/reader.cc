#include "meshproof/spec/reader.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>

namespace meshproof::spec::detail {
namespace {

constexpr std::string_view kIstioFields[] = {
#include "meshproof/spec/istio_fields.inc"
};

bool isQuoted(const YAML::Node& n) {
  return n.Tag() == "!";
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string formatNumber(double v) {
  std::array<char, 64> buf{};
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  if (ec != std::errc()) {
    return "?";
  }
  return std::string(buf.data(), end);
}

size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1);
  std::vector<size_t> cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) {
    prev[j] = j;
  }
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                                  std::tolower(static_cast<unsigned char>(b[j - 1]))
                              ? 0
                              : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// Istio fields directly below `schema_path` ("VirtualService:spec.http[]" -> "route", "retries",
// ...).
std::vector<std::string> istioChildren(std::string_view schema_path) {
  std::vector<std::string> out;
  const std::string prefix = std::string(schema_path) + ".";
  auto it = std::lower_bound(std::begin(kIstioFields), std::end(kIstioFields), prefix);
  for (; it != std::end(kIstioFields) && it->substr(0, prefix.size()) == prefix; ++it) {
    std::string_view rest = it->substr(prefix.size());
    if (rest.find_first_of(".[{") == std::string_view::npos) {
      out.emplace_back(rest);
    }
  }
  return out;
}

} // namespace

SourceLocation locationOf(const DocContext& ctx, const YAML::Mark& mark) {
  SourceLocation loc;
  loc.file = ctx.file;
  if (mark.line >= 0) {
    loc.line = mark.line + 1;
    loc.column = mark.column + 1;
  }
  return loc;
}

Node::Node(DocContext& ctx, const YAML::Node& node, std::string path, std::string schema_path,
           YAML::Mark key_mark)
    : ctx_(&ctx), node_(node), path_(std::move(path)), schema_path_(std::move(schema_path)),
      key_mark_(key_mark) {
  ++ctx_->visits;
}

SourceLocation Node::location() const {
  if (node_.IsDefined() && node_.Mark().line >= 0) {
    return locationOf(*ctx_, node_.Mark());
  }
  return keyLocation();
}

SourceLocation Node::keyLocation() const {
  if (key_mark_.line >= 0) {
    return locationOf(*ctx_, key_mark_);
  }
  return locationOf(*ctx_, node_.IsDefined() ? node_.Mark() : YAML::Mark::null_mark());
}

bool Node::isNull() const {
  return !node_.IsDefined() || node_.IsNull();
}

void Node::error(const std::string& message) const {
  ctx_->out->push_back({Severity::Error, location(), ctx_->object, path_, message, {}});
}

void Node::warning(const std::string& message) const {
  ctx_->out->push_back({Severity::Warning, location(), ctx_->object, path_, message, {}});
}

void Node::errorAtKey(const std::string& message) const {
  ctx_->out->push_back({Severity::Error, keyLocation(), ctx_->object, path_, message, {}});
}

bool Node::budgetOk() const {
  if (ctx_->visits <= kMaxVisitsPerDocument) {
    return true;
  }
  if (!ctx_->budget_exceeded) {
    ctx_->budget_exceeded = true;
    error("document too large to read (more than " + std::to_string(kMaxVisitsPerDocument) +
          " nodes once aliases are expanded)");
  }
  return false;
}

std::string Node::describeKind() const {
  if (isNull()) {
    return "nothing (null)";
  }
  if (node_.IsMap()) {
    return "a mapping";
  }
  if (node_.IsSequence()) {
    return "a list";
  }
  std::string value = node_.Scalar();
  if (value.size() > 40) {
    value = value.substr(0, 37) + "...";
  }
  return (isQuoted(node_) ? "the string \"" : "\"") + value + "\"";
}

std::optional<std::string> Node::asString() const {
  if (!node_.IsScalar()) {
    error("expected a string, got " + describeKind());
    return std::nullopt;
  }
  return node_.Scalar();
}

std::optional<int64_t> Node::asInt(int64_t min, int64_t max) const {
  if (!node_.IsScalar() || isQuoted(node_)) {
    error("expected an integer, got " + describeKind());
    return std::nullopt;
  }
  const std::string& s = node_.Scalar();
  std::string_view digits = s;
  if (!digits.empty() && digits.front() == '+') {
    digits.remove_prefix(1);
  }
  int64_t value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || ec == std::errc::invalid_argument || end != digits.data() + digits.size()) {
    error("expected an integer, got " + describeKind());
    return std::nullopt;
  }
  if (ec == std::errc::result_out_of_range || value < min || value > max) {
    error("must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + s);
    return std::nullopt;
  }
  return value;
}

std::optional<double> Node::asDouble(double min, double max) const {
  if (!node_.IsScalar() || isQuoted(node_)) {
    error("expected a number, got " + describeKind());
    return std::nullopt;
  }
  const std::string& s = node_.Scalar();
  std::string_view digits = s;
  if (!digits.empty() && digits.front() == '+') {
    digits.remove_prefix(1);
  }
  double value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
      !std::isfinite(value)) {
    error("expected a number, got " + describeKind());
    return std::nullopt;
  }
  if (value < min || value > max) {
    error("must be between " + formatNumber(min) + " and " + formatNumber(max) + ", got " + s);
    return std::nullopt;
  }
  return value;
}

std::optional<bool> Node::asBool() const {
  if (node_.IsScalar() && !isQuoted(node_)) {
    const std::string v = lower(node_.Scalar());
    if (v == "true" || v == "yes" || v == "on") {
      return true;
    }
    if (v == "false" || v == "no" || v == "off") {
      return false;
    }
  }
  error("expected true or false, got " + describeKind());
  return std::nullopt;
}

std::optional<core::Duration> Node::asIstioDuration() const {
  auto text = asString();
  if (!text) {
    return std::nullopt;
  }
  auto parsed = core::parseDuration(*text);
  if (!parsed) {
    error(parsed.status().message());
    return std::nullopt;
  }
  if (*parsed < std::chrono::milliseconds(1)) {
    error("duration must be at least 1ms, got \"" + *text + "\"");
    return std::nullopt;
  }
  if (parsed->count() % 1000000 != 0) {
    error("only durations to millisecond precision are supported, got \"" + *text + "\"");
    return std::nullopt;
  }
  return *parsed;
}

std::optional<core::Duration> Node::asDuration(core::Duration min) const {
  auto text = asString();
  if (!text) {
    return std::nullopt;
  }
  auto parsed = core::parseDuration(*text);
  if (!parsed) {
    error(parsed.status().message());
    return std::nullopt;
  }
  if (*parsed < min) {
    error("duration must be at least " + core::formatDuration(min) + ", got \"" + *text + "\"");
    return std::nullopt;
  }
  return *parsed;
}

std::optional<std::vector<Node>> Node::asSequence() const {
  if (!node_.IsSequence()) {
    error("expected a list, got " + describeKind());
    return std::nullopt;
  }
  std::vector<Node> items;
  size_t i = 0;
  for (const auto& item : node_) {
    if (!budgetOk()) {
      return std::nullopt;
    }
    items.emplace_back(*ctx_, item, path_ + "[" + std::to_string(i) + "]", schema_path_ + "[]",
                       item.Mark());
    ++i;
  }
  return items;
}

std::optional<std::vector<std::string>> Node::asStringList() const {
  auto items = asSequence();
  if (!items) {
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  for (const Node& item : *items) {
    if (auto s = item.asString()) {
      out.push_back(*s);
    } else {
      ok = false;
    }
  }
  if (!ok) {
    return std::nullopt;
  }
  return out;
}

std::optional<std::map<std::string, std::string>> Node::asStringMap() const {
  if (!node_.IsMap()) {
    error("expected a mapping of names to values, got " + describeKind());
    return std::nullopt;
  }
  std::map<std::string, std::string> out;
  bool ok = true;
  for (const auto& kv : node_) {
    if (!budgetOk()) {
      return std::nullopt;
    }
    if (!kv.first.IsScalar()) {
      Node(*ctx_, kv.first, path_, schema_path_, kv.first.Mark()).error("keys must be strings");
      ok = false;
      continue;
    }
    Node value(*ctx_, kv.second, path_ + "." + kv.first.Scalar(), schema_path_ + "{}",
               kv.first.Mark());
    if (auto s = value.asString()) {
      out[kv.first.Scalar()] = *s;
    } else {
      ok = false;
    }
  }
  if (!ok) {
    return std::nullopt;
  }
  return out;
}

MapReader::MapReader(const Node& node) : node_(node) {
  if (!node_.isMap()) {
    node_.error("expected a mapping, got " + (node_.isNull() ? std::string("nothing (null)")
                                              : node_.isSequence()
                                                  ? std::string("a list")
                                                  : "\"" + node_.raw().Scalar() + "\""));
    return;
  }
  valid_ = true;
}

MapReader::~MapReader() {
  try {
    reportUnread();
  } catch (...) {
    // Only allocation can fail here; losing a warning beats terminating the process.
  }
}

void MapReader::reportUnread() {
  if (!valid_ || node_.ctx().budget_exceeded) {
    return;
  }
  DocContext& ctx = node_.ctx();
  for (const auto& kv : node_.raw()) {
    std::string key = kv.first.IsScalar() ? kv.first.Scalar() : std::string("<non-scalar key>");
    if (used_.count(key) != 0) {
      continue;
    }
    const std::string path = node_.path().empty() ? key : node_.path() + "." + key;
    const std::string schema = node_.schemaPath() + "." + key;
    Diagnostic d{Severity::Warning, locationOf(ctx, kv.first.Mark()), ctx.object, path, {}, {}};
    if (!ctx.schema_kind.empty() && isIstioField(schema)) {
      d.message = "Istio field accepted but not simulated by meshproof; it has no effect here";
    } else {
      std::vector<std::string> candidates(used_.begin(), used_.end());
      for (auto& c : istioChildren(node_.schemaPath())) {
        candidates.push_back(std::move(c));
      }
      d.message = "unknown field, ignored";
      const std::string hint = suggest(key, candidates);
      if (!hint.empty()) {
        d.message += " (did you mean \"" + hint + "\"?)";
      }
    }
    ctx.out->push_back(std::move(d));
  }
}

std::optional<Node> MapReader::get(std::string_view key) {
  used_.emplace(key);
  if (!valid_) {
    return std::nullopt;
  }
  for (const auto& kv : node_.raw()) {
    if (kv.first.IsScalar() && kv.first.Scalar() == key) {
      Node child(node_.ctx(), kv.second,
                 node_.path().empty() ? std::string(key) : node_.path() + "." + std::string(key),
                 node_.schemaPath() + "." + std::string(key), kv.first.Mark());
      if (child.isNull()) {
        return std::nullopt;
      }
      return child;
    }
  }
  return std::nullopt;
}

std::optional<Node> MapReader::require(std::string_view key) {
  auto child = get(key);
  if (!child && valid_) {
    const std::string path =
        node_.path().empty() ? std::string(key) : node_.path() + "." + std::string(key);
    node_.ctx().out->push_back({Severity::Error,
                                node_.location(),
                                node_.ctx().object,
                                path,
                                "missing required field \"" + std::string(key) + "\"",
                                {}});
  }
  return child;
}

void MapReader::ignore(std::string_view key) {
  used_.emplace(key);
}

void MapReader::notSimulated(std::string_view key, std::string_view what) {
  if (auto child = get(key)) {
    child->warning("accepted but not simulated by meshproof (" + std::string(what) +
                   "); it has no effect here");
  }
}

std::vector<std::pair<Node, Node>> MapReader::entries() {
  std::vector<std::pair<Node, Node>> out;
  if (!valid_) {
    return out;
  }
  for (const auto& kv : node_.raw()) {
    if (!node_.budgetOk()) {
      break;
    }
    std::string key = kv.first.IsScalar() ? kv.first.Scalar() : std::string("<non-scalar key>");
    used_.insert(key);
    const std::string path = node_.path().empty() ? key : node_.path() + "." + key;
    out.emplace_back(
        Node(node_.ctx(), kv.first, path, node_.schemaPath() + "{}", kv.first.Mark()),
        Node(node_.ctx(), kv.second, path, node_.schemaPath() + "{}", kv.first.Mark()));
  }
  return out;
}

std::string suggest(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = std::max<size_t>(2, word.size() / 3) + 1;
  for (const std::string& c : candidates) {
    if (c == word) {
      continue;
    }
    const size_t d = editDistance(word, c);
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  return best;
}

bool isIstioField(std::string_view schema_path) {
  return std::binary_search(std::begin(kIstioFields), std::end(kIstioFields), schema_path);
}

bool isDns1123Label(std::string_view s) {
  if (s.empty() || s.size() > 63) {
    return false;
  }
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(s.front()) || !alnum(s.back())) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [&](char c) { return alnum(c) || c == '-'; });
}

namespace {
bool labelPart(std::string_view s, bool allow_empty) {
  if (s.empty()) {
    return allow_empty;
  }
  if (s.size() > 63) {
    return false;
  }
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(s.front()) || !alnum(s.back())) {
    return false;
  }
  return std::all_of(s.begin(), s.end(),
                     [&](char c) { return alnum(c) || c == '-' || c == '_' || c == '.'; });
}
} // namespace

bool isLabelName(std::string_view s) {
  const size_t slash = s.find('/');
  if (slash != std::string_view::npos) {
    std::string_view prefix = s.substr(0, slash);
    if (prefix.empty() || prefix.size() > 253) {
      return false;
    }
    s = s.substr(slash + 1);
  }
  return labelPart(s, false);
}

bool isLabelValue(std::string_view s) {
  return labelPart(s, true);
}

} // namespace meshproof::spec::detail
