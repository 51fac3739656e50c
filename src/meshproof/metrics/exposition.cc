#include "meshproof/metrics/exposition.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <set>

#include "meshproof/metrics/metrics.h"

namespace meshproof::metrics {
namespace {

core::Status lineError(int line, const std::string& what) {
  return core::invalidArgument("metrics text line " + std::to_string(line) + ": " + what);
}

std::optional<double> parseValue(std::string_view s) {
  if (s == "+Inf" || s == "Inf") {
    return std::numeric_limits<double>::infinity();
  }
  if (s == "-Inf") {
    return -std::numeric_limits<double>::infinity();
  }
  if (s == "NaN") {
    return std::numeric_limits<double>::quiet_NaN();
  }
  std::string_view digits = s;
  if (!digits.empty() && digits.front() == '+') {
    digits.remove_prefix(1);
  }
  double v = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size()) {
    return std::nullopt;
  }
  return v;
}

// Family name of a sample: strips histogram/summary suffixes when the base has a TYPE.
std::string familyOf(const std::string& name, const std::map<std::string, std::string>& types) {
  for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
    if (name.size() > suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      std::string base = name.substr(0, name.size() - suffix.size());
      auto it = types.find(base);
      if (it != types.end() && (it->second == "histogram" || it->second == "summary")) {
        return base;
      }
    }
  }
  return name;
}

} // namespace

std::vector<const Sample*> Exposition::select(std::string_view name, const LabelMap& match) const {
  std::vector<const Sample*> out;
  for (const Sample& s : samples) {
    if (s.name != name) {
      continue;
    }
    const bool ok = std::all_of(match.begin(), match.end(), [&](const auto& kv) {
      auto it = s.labels.find(kv.first);
      return it != s.labels.end() && it->second == kv.second;
    });
    if (ok) {
      out.push_back(&s);
    }
  }
  return out;
}

double Exposition::sum(std::string_view name, const LabelMap& match) const {
  double total = 0;
  for (const Sample* s : select(name, match)) {
    total += s->value;
  }
  return total;
}

core::Result<Exposition> parseExposition(std::string_view text) {
  Exposition out;
  if (!text.empty() && text.back() != '\n') {
    return core::invalidArgument("metrics text must end with a newline");
  }
  std::set<std::string> families_with_samples;
  std::set<std::string> series;
  int line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t eol = text.find('\n', pos);
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (line.empty()) {
      continue;
    }
    if (line.front() == '#') {
      // "# HELP name text", "# TYPE name type"; other comments are ignored.
      std::string_view rest = line.substr(1);
      while (!rest.empty() && rest.front() == ' ') {
        rest.remove_prefix(1);
      }
      const bool is_help = rest.substr(0, 5) == "HELP ";
      const bool is_type = rest.substr(0, 5) == "TYPE ";
      if (!is_help && !is_type) {
        continue;
      }
      rest.remove_prefix(5);
      const size_t sp = rest.find(' ');
      const std::string name(rest.substr(0, sp));
      if (!isValidMetricName(name)) {
        return lineError(line_no, "invalid metric name \"" + name + "\"");
      }
      std::string_view arg =
          sp == std::string_view::npos ? std::string_view{} : rest.substr(sp + 1);
      if (is_help) {
        std::string help;
        for (size_t i = 0; i < arg.size(); ++i) {
          if (arg[i] == '\\' && i + 1 < arg.size() && (arg[i + 1] == '\\' || arg[i + 1] == 'n')) {
            help += arg[i + 1] == 'n' ? '\n' : '\\';
            ++i;
          } else {
            help += arg[i];
          }
        }
        if (!out.help.emplace(name, help).second) {
          return lineError(line_no, "second HELP for " + name);
        }
      } else {
        static const std::set<std::string_view> kTypes{"counter", "gauge", "histogram", "summary",
                                                       "untyped"};
        if (kTypes.count(arg) == 0) {
          return lineError(line_no, "unknown type \"" + std::string(arg) + "\"");
        }
        if (families_with_samples.count(name) != 0) {
          return lineError(line_no, "TYPE for " + name + " comes after its samples");
        }
        if (!out.types.emplace(name, std::string(arg)).second) {
          return lineError(line_no, "second TYPE for " + name);
        }
      }
      continue;
    }
    Sample s;
    s.line = line_no;
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') {
      ++i;
    }
    s.name = std::string(line.substr(0, i));
    if (!isValidMetricName(s.name)) {
      return lineError(line_no, "invalid metric name \"" + s.name + "\"");
    }
    if (i < line.size() && line[i] == '{') {
      ++i;
      for (;;) {
        while (i < line.size() && line[i] == ' ') {
          ++i;
        }
        if (i < line.size() && line[i] == '}') {
          ++i;
          break;
        }
        size_t start = i;
        while (i < line.size() && line[i] != '=' && line[i] != ' ') {
          ++i;
        }
        const std::string label(line.substr(start, i - start));
        if (!isValidLabelName(label)) {
          return lineError(line_no, "invalid label name \"" + label + "\"");
        }
        if (i >= line.size() || line[i] != '=' || i + 1 >= line.size() || line[i + 1] != '"') {
          return lineError(line_no, "expected =\"...\" after label " + label);
        }
        i += 2;
        std::string value;
        bool closed = false;
        while (i < line.size()) {
          const char c = line[i];
          if (c == '\\') {
            if (i + 1 >= line.size()) {
              break;
            }
            const char e = line[i + 1];
            if (e == '\\' || e == '"') {
              value += e;
            } else if (e == 'n') {
              value += '\n';
            } else {
              return lineError(line_no,
                               "invalid escape \\" + std::string(1, e) + " in label " + label);
            }
            i += 2;
            continue;
          }
          if (c == '"') {
            closed = true;
            ++i;
            break;
          }
          value += c;
          ++i;
        }
        if (!closed) {
          return lineError(line_no, "unterminated value of label " + label);
        }
        if (!s.labels.emplace(label, value).second) {
          return lineError(line_no, "label " + label + " given twice");
        }
        if (i < line.size() && line[i] == ',') {
          ++i;
        } else if (i >= line.size() || line[i] != '}') {
          return lineError(line_no, "expected ',' or '}' after label " + label);
        }
      }
    }
    // value [timestamp]
    if (i >= line.size() || line[i] != ' ') {
      return lineError(line_no, "expected a space and a value after " + s.name);
    }
    while (i < line.size() && line[i] == ' ') {
      ++i;
    }
    const size_t vend = line.find(' ', i);
    auto value = parseValue(line.substr(i, vend == std::string_view::npos ? vend : vend - i));
    if (!value) {
      return lineError(line_no, "invalid value \"" + std::string(line.substr(i, vend - i)) + "\"");
    }
    s.value = *value;
    if (vend != std::string_view::npos) {
      std::string_view ts = line.substr(vend + 1);
      int64_t t = 0;
      auto [end, ec] = std::from_chars(ts.data(), ts.data() + ts.size(), t);
      if (ts.empty() || ec != std::errc() || end != ts.data() + ts.size()) {
        return lineError(line_no, "invalid timestamp \"" + std::string(ts) + "\"");
      }
      s.timestamp_ms = t;
    }
    std::string key = s.name;
    for (const auto& [k, v] : s.labels) {
      key += '\x1f' + k + '\x1e' + v;
    }
    if (!series.insert(key).second) {
      return lineError(line_no, "the same series appears twice: " + s.name);
    }
    families_with_samples.insert(familyOf(s.name, out.types));
    out.samples.push_back(std::move(s));
  }
  return out;
}

core::Status checkHistograms(const Exposition& exposition) {
  for (const auto& [family, type] : exposition.types) {
    if (type != "histogram") {
      continue;
    }
    // Group buckets by their labels without `le`.
    std::map<LabelMap, std::vector<std::pair<double, double>>> buckets;
    for (const Sample* s : exposition.select(family + "_bucket")) {
      LabelMap rest = s->labels;
      auto le = rest.find("le");
      if (le == rest.end()) {
        return core::invalidArgument(family + "_bucket on line " + std::to_string(s->line) +
                                     " has no le label");
      }
      double bound = 0;
      if (le->second == "+Inf") {
        bound = std::numeric_limits<double>::infinity();
      } else {
        auto parsed =
            std::from_chars(le->second.data(), le->second.data() + le->second.size(), bound);
        if (parsed.ec != std::errc()) {
          return core::invalidArgument(family + ": invalid le \"" + le->second + "\"");
        }
      }
      rest.erase(le);
      buckets[rest].emplace_back(bound, s->value);
    }
    for (auto& [labels, list] : buckets) {
      std::sort(list.begin(), list.end());
      for (size_t i = 1; i < list.size(); ++i) {
        if (list[i].second < list[i - 1].second) {
          return core::invalidArgument(family + ": buckets are not cumulative");
        }
      }
      if (list.empty() || !std::isinf(list.back().first)) {
        return core::invalidArgument(family + ": no le=\"+Inf\" bucket");
      }
      auto count = exposition.select(family + "_count", labels);
      auto sum = exposition.select(family + "_sum", labels);
      if (count.empty() || sum.empty()) {
        return core::invalidArgument(family + ": _sum or _count missing");
      }
      // select() matches supersets; find the exact series.
      const Sample* exact = nullptr;
      for (const Sample* c : count) {
        if (c->labels == labels) {
          exact = c;
        }
      }
      if (exact == nullptr || exact->value != list.back().second) {
        return core::invalidArgument(family + ": the +Inf bucket differs from _count");
      }
    }
  }
  return core::Status::ok();
}

} // namespace meshproof::metrics
