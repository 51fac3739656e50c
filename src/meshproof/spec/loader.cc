#include "meshproof/spec/loader.h"

#include <yaml-cpp/yaml.h>
#include <yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <tuple>

#include "meshproof/spec/kinds.h"
#include "meshproof/spec/reader.h"

namespace meshproof::spec {

std::string_view embeddedDefaultSpec(); // generated from examples/sprint6/mesh.yaml

namespace {

namespace fs = std::filesystem;
using detail::DocContext;
using detail::MapReader;
using detail::Node;

void fileError(Diagnostics& out, const std::string& file, int line, int column,
               std::string message) {
  out.push_back({Severity::Error, {file, line, column}, {}, {}, std::move(message), {}});
}

// Rejects text that is not UTF-8 or contains NUL bytes, pointing at the first bad byte.
bool checkText(const SpecSource& src, Diagnostics& out) {
  const std::string& s = src.text;
  int line = 1;
  int column = 1;
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    if (c == 0) {
      fileError(out, src.name, line, column,
                "not a YAML text file: contains a NUL byte (binary data?)");
      return false;
    }
    if (c < 0x80) {
      len = 1;
    } else if ((c & 0xE0) == 0xC0 && c >= 0xC2) {
      len = 2;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
    } else if ((c & 0xF8) == 0xF0 && c <= 0xF4) {
      len = 4;
    }
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) {
      ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    }
    if (!ok) {
      fileError(out, src.name, line, column, "not a YAML text file: invalid UTF-8 (binary data?)");
      return false;
    }
    if (c == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
    i += len;
  }
  return true;
}

bool isIstioNetworking(std::string_view api_version) {
  return api_version == "networking.istio.io/v1" || api_version == "networking.istio.io/v1beta1" ||
         api_version == "networking.istio.io/v1alpha3";
}

bool isDns1123Subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) {
    return false;
  }
  size_t start = 0;
  while (start <= s.size()) {
    size_t dot = s.find('.', start);
    std::string_view part = s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    if (!detail::isDns1123Label(part)) {
      return false;
    }
    if (dot == std::string_view::npos) {
      break;
    }
    start = dot + 1;
  }
  return true;
}

void loadDocument(const std::string& file, const YAML::Node& doc, Spec& spec, Diagnostics& out) {
  DocContext ctx;
  ctx.file = file;
  ctx.out = &out;
  Node root(ctx, doc, "", "", doc.Mark());
  if (root.isNull()) {
    return; // an empty document between '---' separators
  }
  if (!root.isMap()) {
    root.error("expected an object with apiVersion, kind, metadata and spec");
    return;
  }
  std::string api_version;
  std::string kind;
  std::string header_name = "?";
  // Read the header first, without reporting anything, to decide whether to read the document.
  for (const auto& kv : doc) {
    if (kv.first.IsScalar() && kv.second.IsScalar()) {
      if (kv.first.Scalar() == "apiVersion") {
        api_version = kv.second.Scalar();
      } else if (kv.first.Scalar() == "kind") {
        kind = kv.second.Scalar();
      }
    } else if (kv.first.IsScalar() && kv.first.Scalar() == "metadata" && kv.second.IsMap()) {
      const YAML::Node metadata = kv.second; // const: operator[] must not insert
      if (metadata["name"].IsScalar()) {
        header_name = metadata["name"].Scalar();
      }
    }
  }
  const bool istio = isIstioNetworking(api_version);
  const bool ours = api_version == "meshproof.dev/v1alpha1";
  const bool istio_kind =
      kind == "VirtualService" || kind == "DestinationRule" || kind == "ServiceEntry";
  const bool our_kind = kind == "Workload" || kind == "Gateway" || kind == "Sprint";
  if (!api_version.empty() && !kind.empty()) {
    if (istio && !istio_kind) {
      std::string why = kind == "Gateway"
                            ? "; for ingress use kind Gateway of apiVersion meshproof.dev/v1alpha1"
                            : "";
      out.push_back({Severity::Note,
                     root.location(),
                     kind + "/" + header_name,
                     {},
                     "skipped: meshproof does not use Istio's " + kind + why,
                     {}});
      return;
    }
    if (!istio && !ours && (api_version.rfind("networking.istio.io/", 0) != 0) &&
        api_version.rfind("meshproof.dev/", 0) != 0) {
      out.push_back({Severity::Note,
                     root.location(),
                     kind + "/" + header_name,
                     {},
                     "skipped: " + kind + " (" + api_version + ") is not used by meshproof",
                     {}});
      return;
    }
  }

  MapReader top(root);
  ObjectMeta meta;
  meta.location = root.location();
  if (auto v = top.require("apiVersion")) {
    if (auto s = v->asString()) {
      meta.api_version = *s;
      if (!istio && !ours) {
        v->error("unsupported apiVersion \"" + *s +
                 "\" (expected networking.istio.io/v1, v1beta1 or v1alpha3, or "
                 "meshproof.dev/v1alpha1)");
        return;
      }
    }
  }
  if (auto v = top.require("kind")) {
    if (auto s = v->asString()) {
      meta.kind = *s;
      if (ours && !our_kind) {
        v->error("unknown kind \"" + *s +
                 "\" for meshproof.dev/v1alpha1 (expected Workload, Gateway or Sprint)");
        return;
      }
    }
  }
  if (meta.api_version.empty() || meta.kind.empty()) {
    return;
  }
  if (auto md = top.require("metadata")) {
    MapReader mm(*md);
    if (auto n = mm.require("name")) {
      meta.name_location = n->location();
      if (auto name = n->asString()) {
        if (!isDns1123Subdomain(*name)) {
          n->error("name \"" + *name +
                   "\" must be a DNS-1123 subdomain (lower-case letters, digits, '-' and '.')");
        }
        meta.name = *name;
      }
    }
    if (auto ns = mm.get("namespace")) {
      meta.name_space = ns->asString().value_or("default");
    }
    if (auto labels = mm.get("labels")) {
      meta.labels = labels->asStringMap().value_or(std::map<std::string, std::string>{});
    }
    // Objects exported from a cluster carry server-set metadata; none of it matters here.
    for (auto& entry : mm.entries()) {
      (void)entry;
    }
  }
  ctx.object = meta.ref();
  top.ignore("status");
  auto spec_node = top.require("spec");
  if (!spec_node) {
    return;
  }
  const Node spec_root = spec_node->withSchemaPath(meta.kind + ":spec");
  if (istio) {
    ctx.schema_kind = meta.kind;
    if (meta.kind == "VirtualService") {
      detail::readVirtualService(spec_root, std::move(meta), spec);
    } else if (meta.kind == "DestinationRule") {
      detail::readDestinationRule(spec_root, std::move(meta), spec);
    } else {
      detail::readServiceEntry(spec_root, std::move(meta), spec);
    }
  } else if (meta.kind == "Workload") {
    detail::readWorkload(spec_root, std::move(meta), spec);
  } else if (meta.kind == "Gateway") {
    detail::readGateway(spec_root, std::move(meta), spec);
  } else {
    if (spec.sprint) {
      spec_root.error("only one Sprint may be defined; Sprint/" + spec.sprint->name +
                      " is defined earlier");
      return;
    }
    detail::readSprint(spec_root, std::move(meta), spec);
  }
}

// Checks YAML syntax with libyaml before yaml-cpp sees the text. yaml-cpp 0.7 (Debian 12) loops
// allocating until memory runs out on some malformed input, e.g. a document that starts with ','
// (found by tests/unit/spec/mutation_test.cc); libyaml, the reference C parser, rejects such text
// at once with a line and column. libyaml's parser keeps its state on the heap, so deep nesting
// cannot overflow the stack either.
bool checkSyntax(const SpecSource& src, Diagnostics& out) {
  yaml_parser_t parser;
  if (yaml_parser_initialize(&parser) == 0) {
    fileError(out, src.name, 0, 0, "cannot initialise the YAML parser (out of memory?)");
    return false;
  }
  yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(src.text.data()),
                               src.text.size());
  bool ok = true;
  for (;;) {
    yaml_event_t event;
    if (yaml_parser_parse(&parser, &event) == 0) {
      std::string message = "YAML syntax error: ";
      if (parser.context != nullptr) {
        message += std::string(parser.context) + ", ";
      }
      message += parser.problem != nullptr ? parser.problem : "malformed YAML";
      const yaml_mark_t& mark = parser.problem_mark;
      fileError(out, src.name, static_cast<int>(mark.line) + 1, static_cast<int>(mark.column) + 1,
                std::move(message));
      ok = false;
      break;
    }
    const bool done = event.type == YAML_STREAM_END_EVENT;
    yaml_event_delete(&event);
    if (done) {
      break;
    }
  }
  yaml_parser_delete(&parser);
  return ok;
}

void loadSource(const SpecSource& src, Spec& spec, Diagnostics& out) {
  if (src.text.size() > kMaxSpecFileBytes) {
    fileError(out, src.name, 0, 0,
              "file is too large (" + std::to_string(src.text.size()) + " bytes; at most " +
                  std::to_string(kMaxSpecFileBytes) + ")");
    return;
  }
  if (!checkText(src, out) || !checkSyntax(src, out)) {
    return;
  }
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(src.text);
  } catch (const YAML::Exception& e) {
    fileError(out, src.name, e.mark.line >= 0 ? e.mark.line + 1 : 0,
              e.mark.column >= 0 ? e.mark.column + 1 : 0, "YAML syntax error: " + e.msg);
    return;
  }
  const bool empty = std::all_of(docs.begin(), docs.end(),
                                 [](const YAML::Node& d) { return !d.IsDefined() || d.IsNull(); });
  if (empty) {
    fileError(out, src.name, 0, 0, "empty spec file: it holds no YAML documents");
    return;
  }
  for (const YAML::Node& doc : docs) {
    try {
      loadDocument(src.name, doc, spec, out);
    } catch (const YAML::Exception& e) {
      // yaml-cpp reports some structural problems only while the tree is walked.
      fileError(out, src.name, e.mark.line >= 0 ? e.mark.line + 1 : 0,
                e.mark.column >= 0 ? e.mark.column + 1 : 0, "YAML error: " + e.msg);
    }
  }
}

} // namespace

core::Result<std::vector<SpecSource>> readSpecPaths(const std::vector<std::string>& paths) {
  std::vector<SpecSource> out;
  auto readFile = [&](const fs::path& p) -> core::Status {
    std::error_code ec;
    const auto size = fs::file_size(p, ec);
    if (ec) {
      return core::invalidArgument(p.string() + ": cannot read: " + ec.message());
    }
    if (size > kMaxSpecFileBytes) {
      return core::invalidArgument(p.string() + ": file is too large (" + std::to_string(size) +
                                   " bytes)");
    }
    std::ifstream in(p, std::ios::binary);
    if (!in) {
      return core::invalidArgument(p.string() + ": cannot open for reading");
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) {
      return core::invalidArgument(p.string() + ": read error");
    }
    out.push_back({p.string(), text.str()});
    return core::Status::ok();
  };
  if (paths.empty()) {
    return core::invalidArgument("no spec given");
  }
  for (const std::string& path : paths) {
    if (path == "-") {
      // As kubectl: "-f -" reads the standard input.
      std::ostringstream text;
      text << std::cin.rdbuf();
      if (text.str().size() > kMaxSpecFileBytes) {
        return core::invalidArgument("<stdin>: input is too large");
      }
      out.push_back({"<stdin>", text.str()});
      continue;
    }
    std::error_code ec;
    const fs::file_status st = fs::status(path, ec);
    if (ec || !fs::exists(st)) {
      return core::invalidArgument(path + ": no such file or directory");
    }
    if (fs::is_directory(st)) {
      std::vector<fs::path> files;
      for (const auto& entry : fs::directory_iterator(path, ec)) {
        const std::string ext = entry.path().extension().string();
        if (entry.is_regular_file() && (ext == ".yaml" || ext == ".yml" || ext == ".json")) {
          files.push_back(entry.path());
        }
      }
      if (ec) {
        return core::invalidArgument(path + ": cannot list directory: " + ec.message());
      }
      if (files.empty()) {
        return core::invalidArgument(path + ": directory has no .yaml, .yml or .json files");
      }
      std::sort(files.begin(), files.end());
      for (const auto& f : files) {
        if (auto st2 = readFile(f); !st2.isOk()) {
          return st2;
        }
      }
    } else {
      if (auto st2 = readFile(path); !st2.isOk()) {
        return st2;
      }
    }
  }
  return out;
}

LoadResult load(const std::vector<SpecSource>& sources) {
  LoadResult result;
  Spec spec;
  for (const SpecSource& src : sources) {
    Diagnostics file_diagnostics;
    loadSource(src, spec, file_diagnostics);
    // Source order within a file, whatever order the checks ran in.
    std::stable_sort(file_diagnostics.begin(), file_diagnostics.end(),
                     [](const Diagnostic& a, const Diagnostic& b) {
                       return std::tie(a.location.line, a.location.column) <
                              std::tie(b.location.line, b.location.column);
                     });
    result.diagnostics.insert(result.diagnostics.end(), file_diagnostics.begin(),
                              file_diagnostics.end());
  }
  if (!hasErrors(result.diagnostics)) {
    detail::crossCheck(spec, result.diagnostics);
  }
  if (!hasErrors(result.diagnostics)) {
    result.spec = std::move(spec);
  }
  return result;
}

SpecSource defaultSpecSource() {
  return {"<embedded>/examples/sprint6/mesh.yaml", std::string(embeddedDefaultSpec())};
}

} // namespace meshproof::spec
