#pragma once
// Internal to spec/: typed, located access to one YAML document. Not included outside spec/.
//
// A Node pairs a yaml-cpp node with its field path ("spec.http[0].retries") and a schema path with
// indices removed ("VirtualService:spec.http[].retries") used to look up Istio's known fields.
// Reads never throw: a wrong type or a bad value becomes an error Diagnostic at the value's
// line/column, and the read returns nullopt so the caller can go on and report further problems.
// MapReader reports keys nobody read, as "unknown field" or, when Istio has the field,
// "accepted but not simulated".

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "meshproof/core/duration.h"
#include "meshproof/spec/diagnostics.h"

namespace meshproof::spec::detail {

// Shared state while reading one document.
struct DocContext {
  std::string file;
  std::string object;      // "VirtualService/service-b" once known
  std::string schema_kind; // "VirtualService" for Istio kinds, empty for meshproof kinds
  Diagnostics* out = nullptr;
  uint64_t visits = 0; // guards against alias bombs
  bool budget_exceeded = false;
};

inline constexpr uint64_t kMaxVisitsPerDocument = 1'000'000;

SourceLocation locationOf(const DocContext& ctx, const YAML::Mark& mark);

class Node {
public:
  Node(DocContext& ctx, const YAML::Node& node, std::string path, std::string schema_path,
       YAML::Mark key_mark);

  const std::string& path() const { return path_; }
  const std::string& schemaPath() const { return schema_path_; }
  SourceLocation location() const;
  SourceLocation keyLocation() const;
  const YAML::Node& raw() const { return node_; }
  DocContext& ctx() const { return *ctx_; }
  // The same node looked up under another schema path (a kind's root: "VirtualService:spec").
  Node withSchemaPath(std::string schema_path) const {
    Node copy = *this;
    copy.schema_path_ = std::move(schema_path);
    return copy;
  }

  bool isNull() const;
  bool isMap() const { return node_.IsMap(); }
  bool isSequence() const { return node_.IsSequence(); }
  bool isScalar() const { return node_.IsScalar(); }

  void error(const std::string& message) const;
  void warning(const std::string& message) const;
  void errorAtKey(const std::string& message) const;

  // Typed reads; each reports a type or range error and returns nullopt on failure.
  std::optional<std::string> asString() const;
  std::optional<int64_t> asInt(int64_t min, int64_t max) const;
  std::optional<double> asDouble(double min, double max) const;
  std::optional<bool> asBool() const;
  // Istio duration: Go syntax, >= 1 ms and a whole number of milliseconds (AVAL.go
  // ValidateDuration).
  std::optional<core::Duration> asIstioDuration() const;
  // Any duration >= min (meshproof kinds).
  std::optional<core::Duration> asDuration(core::Duration min) const;
  // A sequence; reports "expected a list" otherwise. Items get paths "<path>[i]".
  std::optional<std::vector<Node>> asSequence() const;
  // A sequence of strings.
  std::optional<std::vector<std::string>> asStringList() const;
  // A string->string map (labels): keys and values are scalars.
  std::optional<std::map<std::string, std::string>> asStringMap() const;

  bool budgetOk() const;

private:
  std::string describeKind() const;

  DocContext* ctx_;
  YAML::Node node_;
  std::string path_;
  std::string schema_path_;
  YAML::Mark key_mark_;
};

// Reads the fields of one mapping. On destruction reports every key that was never read.
class MapReader {
public:
  // Reports "expected a mapping" when `node` is not one (then every lookup returns nullopt).
  explicit MapReader(const Node& node);
  ~MapReader();
  MapReader(const MapReader&) = delete;
  MapReader& operator=(const MapReader&) = delete;

  bool valid() const { return valid_; }
  const Node& self() const { return node_; }

  // The child at `key`, or nullopt when absent or null (Kubernetes treats `key: null` as unset).
  std::optional<Node> get(std::string_view key);
  // Like get(), but reports "missing required field" at the mapping when absent.
  std::optional<Node> require(std::string_view key);
  // Marks a key as consumed without reading it.
  void ignore(std::string_view key);
  // Marks a key as known to Istio but not simulated; the warning says `what` is not simulated.
  void notSimulated(std::string_view key, std::string_view what);
  // Every key/value pair (for maps with free-form keys); all are marked consumed.
  std::vector<std::pair<Node, Node>> entries();

private:
  void reportUnread();

  Node node_;
  bool valid_ = false;
  std::set<std::string, std::less<>> used_;
};

// Edit-distance suggestion among `candidates` ("retires" -> "retries"); empty if none is close.
std::string suggest(std::string_view word, const std::vector<std::string>& candidates);

// True when `schema_path` ("VirtualService:spec.http[].mirror") is a field in Istio's CRD schemas.
bool isIstioField(std::string_view schema_path);

// DNS-1123 label: lower-case alphanumerics and '-', starts and ends alphanumeric, <= 63 chars.
bool isDns1123Label(std::string_view s);
// A Kubernetes label value/key check (simplified: <= 63 chars of [A-Za-z0-9._-], alnum at ends; the
// key may carry a DNS prefix "example.com/").
bool isLabelName(std::string_view s);
bool isLabelValue(std::string_view s);

} // namespace meshproof::spec::detail
