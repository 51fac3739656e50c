#include "meshproof/report/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <set>

#include "meshproof/core/time.h"
#include "meshproof/evidence/crypto.h"
#include "meshproof/evidence/ledger.h"
#include "meshproof/evidence/note.h"
#include "meshproof/report/svg.h"

namespace meshproof::report {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

double unixOf(const Json& iso) {
  if (!iso.is_string()) {
    return kNaN;
  }
  auto t = core::parseIso8601(iso.get<std::string>());
  if (!t) {
    return kNaN;
  }
  return std::chrono::duration<double>(t->time_since_epoch()).count();
}

std::string str(const Json& j, const char* key, const std::string& fallback = "") {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>()
                                                                : fallback;
}

double numOr(const Json& j, const char* key, double fallback = kNaN) {
  return j.is_object() && j.contains(key) && j[key].is_number() ? j[key].get<double>() : fallback;
}

// A [[unix, value], ...] series as chart points relative to t0.
std::vector<Point> points(const Json& series, double t0) {
  std::vector<Point> out;
  if (!series.is_array()) {
    return out;
  }
  for (const Json& p : series) {
    if (!p.is_array() || p.size() != 2 || !p[0].is_number()) {
      continue;
    }
    out.push_back({p[0].get<double>() - t0, p[1].is_number() ? p[1].get<double>() : kNaN});
  }
  return out;
}

std::vector<Point> scaled(std::vector<Point> pts, double factor) {
  for (Point& p : pts) {
    p.y *= factor;
  }
  return pts;
}

const Json* validation(const ReportData& d, const std::string& name) {
  for (const Json& v : d.validations) {
    if (str(v, "validation") == name) {
      return &v;
    }
  }
  return nullptr;
}

// The run's start: run.json's, else the earliest artifact time.
double startOf(const ReportData& d) {
  double t0 = unixOf(d.run.is_object() ? d.run["start"] : Json());
  if (std::isfinite(t0)) {
    return t0;
  }
  t0 = std::numeric_limits<double>::infinity();
  for (const Json& v : d.validations) {
    t0 = std::min(t0, unixOf(v.value("startTime", Json())));
  }
  for (const Json& j : d.journals) {
    t0 = std::min(t0, unixOf(j.value("start", Json())));
  }
  return std::isfinite(t0) ? t0 : 0;
}

struct Row {
  std::string check;
  std::string verdict;
  std::string figure;
  std::string reason;
};

std::string figureOf(const Json& v) {
  const std::string name = str(v, "validation");
  const Json& m = v.value("measured", Json::object());
  if (name == "split" && m.contains("versions")) {
    std::string s;
    for (const auto& [ver, x] : m["versions"].items()) {
      s += (s.empty() ? "" : " / ") + ver + " " + fmt("%.1f %%", 100 * x.value("share", 0.0));
    }
    return s + ", p = " + fmt("%.3f", v["statistics"].value("pValue", 0.0));
  }
  if (name == "retries") {
    return fmt("%.2f attempts/request", m.value("attemptsPerRequest", 0.0)) +
           (v.contains("hanging") && v["hanging"].is_object()
                ? ", hang: 504 after " + fmt("%.1f s", v["hanging"].value("elapsedMs", 0) / 1000.0)
                : "");
  }
  if (name == "breaker" && m.contains("clients")) {
    std::string at;
    for (const Json& c : m["clients"]) {
      at += (at.empty() ? "" : ", ") + std::to_string(c.value("failuresBeforeEjection", 0));
    }
    return std::to_string(m["clients"].size()) + " clients ejected after " + at + " 5xx" +
           (v["inputs"].value("returnChecked", true) ? ", returned on time" : "");
  }
  if (name == "recovery") {
    return "back after " + fmt("%.1f s", m.value("recoveredAfterMs", 0) / 1000.0) + ", " +
           std::to_string(m.value("failedAfterKill", 0)) + " failed";
  }
  if (name == "baseline") {
    return fmt("P95 %.1f ms", m.value("p95Ms", 0.0)) +
           fmt(", success %.2f %%", m.value("successPercent", 0.0));
  }
  return "";
}

std::vector<Row> rows(const ReportData& d) {
  std::vector<Row> out;
  if (d.run.is_object() && d.run.contains("stages")) {
    for (const Json& s : d.run["stages"]) {
      out.push_back({str(s, "name"), str(s, "verdict"), str(s, "figure"), str(s, "reason")});
    }
    return out;
  }
  for (const Json& v : d.validations) {
    out.push_back({str(v, "validation"), str(v, "verdict"), figureOf(v), str(v, "reason")});
  }
  for (const Json& j : d.journals) {
    out.push_back({"chaos " + str(j["experiment"], "name"), str(j, "status"), "",
                   str(j, "reason", j.value("deviated", false) ? "deviated" : "")});
  }
  return out;
}

bool passed(const std::string& verdict) {
  return verdict == "PASS" || verdict == "completed" || verdict == "SKIPPED";
}

const char* verdictClass(const std::string& verdict) {
  return verdict == "SKIPPED" ? "skip" : passed(verdict) ? "pass" : "fail";
}

std::vector<Band> stageBands(const ReportData& d, double t0) {
  std::vector<Band> out;
  if (!d.run.is_object() || !d.run.contains("stages")) {
    return out;
  }
  for (const Json& s : d.run["stages"]) {
    const double a = unixOf(s.value("start", Json()));
    const double b = unixOf(s.value("end", Json()));
    if (std::isfinite(a) && std::isfinite(b)) {
      out.push_back({a - t0, b - t0, str(s, "name")});
    }
  }
  return out;
}

double objective(const ReportData& d, const char* key, double fallback) {
  return d.run.is_object() && d.run.contains("objectives")
             ? numOr(d.run["objectives"], key, fallback)
             : fallback;
}

// --- sections --------------------------------------------------------------------------------

std::string metricsCharts(const ReportData& d, double t0) {
  const Json& m = d.metrics;
  if (!m.is_object()) {
    return "<p class=\"note\">No Prometheus ran with this run, so there are no time series; the "
           "checks below come from the validations' own measurements.</p>";
  }
  std::string s;
  const std::vector<Band> bands = stageBands(d, t0);
  const double p95 = objective(d, "latencyP95Ms", kNaN);
  if (m.contains("latency")) {
    for (const auto& [service, q] : m["latency"].items()) {
      LineChartSpec c;
      c.title = "Latency of " + service + " (P50 / P95 / P99, callers' view)";
      c.y_label = "ms";
      c.bands = bands;
      for (const char* k : {"p50", "p95", "p99"}) {
        c.lines.push_back({std::string("P") + (k + 1), points(q.value(k, Json()), t0)});
      }
      if (std::isfinite(p95)) {
        c.threshold = p95;
        c.threshold_label = "P95 objective " + fmt("%.0f ms", p95);
      }
      s += lineChart(c);
    }
  }
  // One line per member of `group` ({name: series}), over the stages.
  auto perMember = [&](const std::string& title, const std::string& y_label, const Json& group,
                       double scale) {
    LineChartSpec c;
    c.title = title;
    c.y_label = y_label;
    c.bands = bands;
    for (const auto& [name, series] : group.items()) {
      c.lines.push_back({name, scaled(points(series, t0), scale)});
    }
    return c;
  };
  if (m.contains("throughput")) {
    s += lineChart(perMember("Throughput per service (requests/s reaching its pods)", "requests/s",
                             m["throughput"], 1));
  }
  if (m.contains("successRate")) {
    LineChartSpec c =
        perMember("Success rate per service (non-5xx, callers' view)", "%", m["successRate"], 100);
    c.y_max = 100;
    const double err = objective(d, "errorRatePercent", kNaN);
    if (std::isfinite(err)) {
      c.threshold = 100 - err;
      c.threshold_label = "objective " + fmt("%.1f %%", 100 - err);
    }
    s += lineChart(c);
  }
  if (m.contains("versions")) {
    for (const auto& [service, versions] : m["versions"].items()) {
      s += lineChart(perMember("Requests per version of " + service, "requests/s", versions, 1));
    }
  }
  if (m.contains("ejections")) {
    s += lineChart(perMember("Ejected hosts per cluster (most any client proxy has ejected)",
                             "hosts", m["ejections"], 1));
  }
  return s;
}

std::string splitSection(const Json& v) {
  BarChartSpec c;
  c.title = "Canary split of " + str(v, "host") + " (first attempts; " +
            fmt("%.0f %%", 100 * (1 - v["inputs"].value("alpha", 0.01))) + " Wilson intervals)";
  c.y_label = "share";
  c.percent = true;
  c.y_max = 1;
  for (const auto& [ver, x] : v["measured"]["versions"].items()) {
    Bar b{ver, x.value("share", 0.0), {}, {}, x.value("expectedShare", 0.0)};
    if (x.contains("interval") && x["interval"].size() == 2) {
      b.lower = x["interval"][0].get<double>();
      b.upper = x["interval"][1].get<double>();
    }
    c.bars.push_back(b);
  }
  return barChart(c);
}

std::string retriesSection(const Json& v) {
  const Json& h = v.value("hanging", Json());
  if (!h.is_object()) {
    return "";
  }
  const double per_try = h.value("perTryTimeoutMs", 0) / 1000.0;
  const double route = h.contains("routeTimeoutMs") && h["routeTimeoutMs"].is_number()
                           ? h["routeTimeoutMs"].get<double>() / 1000.0
                           : kNaN;
  const double elapsed = h.value("elapsedMs", 0) / 1000.0;
  TimelineSpec t;
  t.title = "A request to a hanging " + str(v, "host") + ": each try cut by the per-try timeout";
  t.x_label = "seconds since the request";
  t.x_min = 0;
  t.x_max = std::max(elapsed, std::isfinite(route) ? route : 0.0) * 1.05 + 0.1;
  TimelineRow tries{"tries", {}, {}};
  const int n = h.value("perTryTimeouts", 0);
  for (int i = 0; i < n; ++i) {
    tries.spans.push_back({i * per_try, (i + 1) * per_try,
                           "try " + std::to_string(i + 1) + ": " + fmt("%.1f s", per_try)});
  }
  tries.marks.push_back(
      {elapsed, std::to_string(h.value("status", 0)) + " after " + fmt("%.2f s", elapsed)});
  t.rows.push_back(tries);
  if (std::isfinite(route)) {
    t.rows.push_back({"route timeout", {{0, route, "route timeout " + fmt("%.0f s", route)}}, {}});
  }
  return timeline(t);
}

std::string breakerSection(const Json& v) {
  if (!v.contains("timeline") || !v["timeline"].is_array() || v["timeline"].empty()) {
    return "";
  }
  const double t0 = unixOf(v["timeline"][0]["time"]);
  double t1 = t0 + 1;
  for (const Json& e : v["timeline"]) {
    t1 = std::max(t1, unixOf(e["time"]));
  }
  TimelineSpec t;
  t.title = "Breaker of " + str(v, "host") + " " + str(v, "subset") +
            ": 503s per client (ticks), ejected (bars)";
  t.x_label = "seconds since the pod began to fail";
  t.x_min = 0;
  for (const Json& c : v["measured"].value("clients", Json::array())) {
    TimelineRow row{str(c, "client"), {}, {}};
    const double a = unixOf(c.value("ejectedAt", Json()));
    double b = unixOf(c.value("returnedAt", Json()));
    if (!std::isfinite(b)) {
      b = unixOf(v.value("endTime", Json()));
    }
    if (std::isfinite(a) && std::isfinite(b)) {
      row.spans.push_back({a - t0, b - t0, "ejected for " + fmt("%.1f s", b - a)});
      t1 = std::max(t1, b);
    }
    for (const Json& e : v["timeline"]) {
      const std::string what = str(e, "event");
      if (what.find("to " + row.name + " (") != std::string::npos) {
        row.marks.push_back({unixOf(e["time"]) - t0, what});
      }
    }
    t.rows.push_back(row);
  }
  t.x_max = (t1 - t0) * 1.03;
  return timeline(t);
}

std::string recoverySection(const Json& v) {
  const Json& tl = v.value("timeline", Json());
  if (!tl.is_object() || !tl.contains("okFailed")) {
    return "";
  }
  const double bucket = tl.value("bucketMs", 100) / 1000.0;
  const double start = unixOf(tl.value("start", Json()));
  const double kill = unixOf(v["measured"].value("killTime", Json()));
  Line line{"success rate per second", {}};
  double ok = 0;
  double failed = 0;
  double t = 0;
  const size_t per_second = std::max<size_t>(1, static_cast<size_t>(std::lround(1.0 / bucket)));
  size_t i = 0;
  for (const Json& b : tl["okFailed"]) {
    ok += b[0].get<double>();
    failed += b[1].get<double>();
    if (++i % per_second == 0) {
      line.points.push_back({t, ok + failed > 0 ? 100 * ok / (ok + failed) : kNaN});
      ok = failed = 0;
      t += 1;
    }
  }
  LineChartSpec c;
  c.title = "Recovery of " + str(v, "host") + ": client success rate around the kill of " +
            str(v["inputs"], "pod");
  c.y_label = "%";
  c.x_label = "seconds of load";
  c.y_max = 100.5;
  c.y_min = std::min(90.0, [&] {
    double lo = 100;
    for (const Point& p : line.points) {
      lo = std::isfinite(p.y) ? std::min(lo, p.y) : lo;
    }
    return std::floor(lo);
  }());
  c.lines.push_back(line);
  c.threshold = v["inputs"].value("successRatePercent", 99.9);
  c.threshold_label = "objective " + fmt("%.1f %%", *c.threshold);
  if (std::isfinite(start) && std::isfinite(kill)) {
    c.bands.push_back({kill - start, kill - start + 0.3, "kill"});
  }
  return lineChart(c);
}

std::string chaosSection(const ReportData& d) {
  if (d.journals.empty()) {
    return "";
  }
  double t0 = std::numeric_limits<double>::infinity();
  for (const Json& j : d.journals) {
    t0 = std::min(t0, unixOf(j.value("start", Json())));
  }
  LineChartSpec p95;
  p95.title = "Chaos plan: P95 at the ingress, probe by probe (green: the steady-state hypothesis)";
  p95.y_label = "ms";
  p95.x_label = "seconds since the first experiment";
  LineChartSpec ok = p95;
  ok.title = "Chaos plan: success rate at the ingress, probe by probe";
  ok.y_label = "%";
  ok.y_max = 100.5;
  Line p95_line{"P95", {}};
  Line ok_line{"success", {}};
  double max_p95 = kNaN;
  double min_ok = kNaN;
  double low = 100;
  for (const Json& j : d.journals) {
    const Json& h = j.value("hypothesis", Json());
    max_p95 = numOr(h, "maxP95Ms", max_p95);
    min_ok = numOr(h, "minSuccessPercent", min_ok);
    const Json& ss = j.value("steadyStates", Json());
    std::vector<Json> probes;
    if (ss.contains("before")) {
      probes.push_back(ss["before"]);
    }
    for (const Json& p : ss.value("during", Json::array())) {
      probes.push_back(p);
    }
    if (ss.contains("after")) {
      probes.push_back(ss["after"]);
    }
    for (const Json& p : probes) {
      const double x = unixOf(p.value("time", Json())) - t0;
      p95_line.points.push_back({x, numOr(p, "p95Ms")});
      const double s = numOr(p, "successPercent");
      ok_line.points.push_back({x, s});
      low = std::isfinite(s) ? std::min(low, s) : low;
    }
    // A gap between experiments.
    p95_line.points.push_back({kNaN, kNaN});
    ok_line.points.push_back({kNaN, kNaN});
    double a = kNaN;
    double b = kNaN;
    if (j.contains("run") && !j["run"].empty()) {
      a = unixOf(j["run"][0].value("start", Json()));
    }
    if (j.contains("rollbacks") && !j["rollbacks"].empty()) {
      b = unixOf(j["rollbacks"][0].value("end", Json()));
    }
    if (std::isfinite(a)) {
      const Band band{a - t0, (std::isfinite(b) ? b : a + 1) - t0, str(j["experiment"], "name")};
      p95.bands.push_back(band);
      ok.bands.push_back(band);
    }
  }
  p95.lines.push_back(p95_line);
  ok.lines.push_back(ok_line);
  if (std::isfinite(max_p95)) {
    p95.ok_range = std::make_pair(0.0, max_p95);
    p95.threshold = max_p95;
    p95.threshold_label = "hypothesis: P95 <= " + fmt("%.0f ms", max_p95);
  }
  if (std::isfinite(min_ok)) {
    ok.ok_range = std::make_pair(min_ok, 100.5);
    ok.threshold = min_ok;
    ok.threshold_label = "hypothesis: success >= " + fmt("%.1f %%", min_ok);
  }
  ok.y_min = std::min(std::isfinite(min_ok) ? min_ok - 5 : 90.0, std::floor(low));
  return lineChart(p95) + lineChart(ok);
}

// An alert's labels but its name and state: "destination_service_name=service-c, severity=warning".
std::string labelText(const Json& alert) {
  std::string out;
  if (!alert.contains("labels") || !alert["labels"].is_object()) {
    return out;
  }
  const Json& labels = alert["labels"]; // named: items() of a temporary would dangle (no P2718)
  for (const auto& [k, val] : labels.items()) {
    if (k != "alertname" && k != "alertstate" && val.is_string()) {
      out += (out.empty() ? "" : ", ") + k + "=" + val.get<std::string>();
    }
  }
  return out;
}

std::string alertsTableHtml(const Json& m) {
  if (!m.is_object() || !m.contains("alerts")) {
    return "<p class=\"note\">No Prometheus: alerts were not evaluated.</p>";
  }
  if (m["alerts"].empty()) {
    return "<p>No alert fired during the run.</p>";
  }
  std::string s = "<table><tr><th>alert</th><th>labels</th><th>first firing</th><th>last "
                  "firing</th><th>firing for</th></tr>";
  for (const Json& a : m["alerts"]) {
    const std::string labels = labelText(a);
    s += "<tr><td>" + escapeXml(str(a, "alertname")) + "</td><td class=\"mono\">" +
         escapeXml(labels) + "</td><td>" + escapeXml(str(a, "firstFiring")) + "</td><td>" +
         escapeXml(str(a, "lastFiring")) + "</td><td>" + fmt("%.0f s", numOr(a, "seconds", 0)) +
         "</td></tr>";
  }
  return s + "</table>";
}

std::string chaosTableHtml(const ReportData& d) {
  std::string s = "<table><tr><th>experiment</th><th>status</th><th>target</th><th>before</th>"
                  "<th>after</th><th>fidelity / recovery</th></tr>";
  for (const Json& j : d.journals) {
    const Json& e = j.value("experiment", Json());
    const Json& ss = j.value("steadyStates", Json());
    auto probe = [&](const char* k) {
      if (!ss.contains(k)) {
        return std::string("-");
      }
      return fmt("P95 %.0f ms", numOr(ss[k], "p95Ms", 0)) +
             fmt(", %.1f %%", numOr(ss[k], "successPercent", 0));
    };
    std::string detail;
    if (j.contains("fidelity")) {
      detail = fmt("added median %.1f ms", numOr(j["fidelity"], "addedMedianMs", 0));
    }
    if (j.contains("recovery")) {
      detail = "recovery " + str(j["recovery"], "verdict") + ": " + str(j["recovery"], "reason");
    }
    const std::string status = str(j, "status") + (j.value("deviated", false) ? " (deviated)" : "");
    s += "<tr><td>" + escapeXml(str(e, "name")) + "</td><td class=\"" +
         (passed(str(j, "status")) ? "pass" : "fail") + "\">" + escapeXml(status) + "</td><td>" +
         escapeXml(str(e, "target")) + "</td><td>" + escapeXml(probe("before")) + "</td><td>" +
         escapeXml(probe("after")) + "</td><td>" + escapeXml(detail) + "</td></tr>";
  }
  return s + "</table>";
}

constexpr const char* kStyle = R"(
body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;margin:24px auto;max-width:820px;color:#222;line-height:1.45}
h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:3px}
table{border-collapse:collapse;width:100%;font-size:13px;margin:8px 0}
th,td{border:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}th{background:#f6f6f6}
td.pass{color:#0a6b3d;font-weight:600}td.fail{color:#b00020;font-weight:600}td.skip{color:#777}
.badge{display:inline-block;padding:2px 10px;border-radius:10px;color:#fff;font-weight:600}
.badge.pass{background:#0a7d45}.badge.fail{background:#b00020}
.note{color:#666;font-style:italic}.mono,code,pre{font-family:"DejaVu Sans Mono",monospace;font-size:12px}
pre{background:#f6f6f6;padding:8px;overflow-x:auto}svg.chart{display:block;margin:10px 0;max-width:100%;height:auto}
)";

} // namespace

std::string keyFigure(const Json& record) {
  if (record.contains("validation")) {
    return figureOf(record);
  }
  if (record.contains("recovery")) {
    return "recovery " + str(record["recovery"], "verdict") + ", " +
           fmt("back after %.1f s", numOr(record["recovery"], "recoveredAfterMs", 0) / 1000.0) +
           ", " + record["recovery"].value("failedAfterKill", Json(0)).dump() + " failed";
  }
  if (record.contains("fidelity")) {
    return fmt("added median %.1f ms", numOr(record["fidelity"], "addedMedianMs", 0)) +
           fmt(", delayed %.1f %%", 100 * numOr(record["fidelity"], "delayedShare", 0));
  }
  return "";
}

std::string overallVerdict(const ReportData& d) {
  if (d.run.is_object() && d.run.contains("verdict") && d.run["verdict"].is_string()) {
    return d.run["verdict"].get<std::string>();
  }
  const std::vector<Row> all = rows(d);
  return !all.empty() &&
                 std::all_of(all.begin(), all.end(), [](const Row& r) { return passed(r.verdict); })
             ? "PASS"
             : "FAIL";
}

EvidenceSummary evidenceSummary(const std::string& dir) {
  EvidenceSummary e;
  if (auto lines = evidence::readLedger(dir)) {
    e.records = lines->lines.size();
  }
  std::error_code ec;
  e.ledger_bytes = fs::file_size(fs::path(dir) / "ledger.jsonl", ec);
  if (ec) {
    e.ledger_bytes = 0;
  }
  if (auto ck = evidence::readFileBytes((fs::path(dir) / "checkpoint").string())) {
    e.checkpoint = *ck;
    const size_t end = ck->find("\n\n");
    if (auto parsed = evidence::parseCheckpointText(ck->substr(0, end + 1))) {
      e.origin = parsed->origin;
      e.tree_size = parsed->size;
      e.root_hex = evidence::toHex(parsed->root);
    }
  }
  return e;
}

core::Result<ReportData> collect(const std::string& dir, const std::string& run_id) {
  auto lines = evidence::readLedger(dir);
  if (!lines) {
    return lines.status();
  }
  ReportData d;
  d.evidence_dir = dir;
  d.sprint = fs::absolute(dir).lexically_normal().filename().string();
  std::vector<evidence::Record> records;
  for (const std::string& line : lines->lines) {
    auto r = evidence::parseRecord(line);
    if (r) {
      records.push_back(*r);
    }
  }
  d.evidence = evidenceSummary(dir);
  // The run: the one named, or the latest.
  std::string prefix;
  for (const evidence::Record& r : records) {
    if (r.kind == "run" && r.path.rfind("runs/", 0) == 0) {
      const std::string id = r.path.substr(5, r.path.find('/', 5) - 5);
      if (run_id.empty() || id == run_id) {
        d.run_id = id;
        prefix = "runs/" + id + "/";
      }
    }
  }
  if (!run_id.empty() && d.run_id.empty()) {
    return core::notFound("no run " + run_id + " in " + dir + "/ledger.jsonl");
  }
  for (const evidence::Record& r : records) {
    if (!prefix.empty() && r.path.rfind(prefix, 0) != 0) {
      continue;
    }
    if (r.kind != "run" && r.kind != "validation" && r.kind != "chaos-log" && r.kind != "metrics") {
      continue;
    }
    const std::string file = (fs::path(dir) / "artifacts" / r.path).string();
    auto bytes = evidence::readFileBytes(file);
    if (!bytes) {
      return core::ioError("cannot read " + file + " (recorded as seq " + std::to_string(r.seq) +
                           "; `meshproof evidence verify` says more)");
    }
    Json j = Json::parse(*bytes, nullptr, false);
    if (j.is_discarded()) {
      return core::invalidArgument(file + " is not JSON (recorded as " + r.kind + ")");
    }
    if (r.kind == "run") {
      d.run = std::move(j);
    } else if (r.kind == "validation") {
      d.validations.push_back(std::move(j));
    } else if (r.kind == "chaos-log") {
      d.journals.push_back(std::move(j));
    } else if (j.is_object() && j.contains("latency")) {
      d.metrics = std::move(j);
    }
  }
  return d;
}

std::string markdown(const ReportData& d) {
  std::string s = "# Sprint " + d.sprint + (d.run_id.empty() ? "" : " — run " + d.run_id) + ": " +
                  overallVerdict(d) + "\n\n" + (d.subtitle.empty() ? "" : d.subtitle + "\n\n");
  if (d.run.is_object()) {
    s += "Run from " + str(d.run, "start") + " to " + str(d.run, "end") +
         (d.run.value("quick", false) ? " (quick plan)" : "") + ", seed " +
         d.run.value("seed", Json(0)).dump() +
         ", Prometheus: " + (d.run.value("prometheus", Json()).is_string() ? "yes" : "no") +
         ".\n\n";
  }
  s += "| check | verdict | key figure | why |\n| --- | --- | --- | --- |\n";
  for (const Row& r : rows(d)) {
    s += "| " + r.check + " | " + r.verdict + " | " + r.figure + " | " + r.reason + " |\n";
  }
  if (const Json* v = validation(d, "split")) {
    s += "\n## Canary split\n\n| version | first attempts | share | interval | expected |\n| --- | "
         "--- | --- | --- | --- |\n";
    for (const auto& [ver, x] : (*v)["measured"]["versions"].items()) {
      s += "| " + ver + " | " + x.value("observed", Json(0)).dump() + " | " +
           fmt("%.2f %%", 100 * x.value("share", 0.0)) + " | " +
           fmt("%.2f", 100 * x["interval"][0].get<double>()) + "–" +
           fmt("%.2f %%", 100 * x["interval"][1].get<double>()) + " | " +
           fmt("%.0f %%", 100 * x.value("expectedShare", 0.0)) + " |\n";
    }
    s += "\nChi-square " + fmt("%.3f", (*v)["statistics"].value("chiSquare", 0.0)) +
         ", p = " + fmt("%.4f", (*v)["statistics"].value("pValue", 0.0)) + ".\n";
  }
  if (!d.journals.empty()) {
    s += "\n## Chaos\n\n| experiment | status | target | detail |\n| --- | --- | --- | --- |\n";
    for (const Json& j : d.journals) {
      std::string detail;
      if (j.contains("fidelity")) {
        detail = fmt("added median %.1f ms", numOr(j["fidelity"], "addedMedianMs", 0));
      }
      if (j.contains("recovery")) {
        detail = "recovery " + str(j["recovery"], "verdict") + ": " + str(j["recovery"], "reason");
      }
      s += "| " + str(j["experiment"], "name") + " | " + str(j, "status") +
           (j.value("deviated", false) ? " (deviated)" : "") + " | " +
           str(j["experiment"], "target") + " | " + detail + " |\n";
    }
  }
  s += "\n## Alerts\n\n";
  if (!d.metrics.is_object() || !d.metrics.contains("alerts")) {
    s += "No Prometheus ran: alerts were not evaluated.\n";
  } else if (d.metrics["alerts"].empty()) {
    s += "No alert fired during the run.\n";
  } else {
    s += "| alert | labels | first firing | firing for |\n| --- | --- | --- | --- |\n";
    for (const Json& a : d.metrics["alerts"]) {
      const std::string labels = labelText(a);
      s += "| " + str(a, "alertname") + " | " + labels + " | " + str(a, "firstFiring") + " | " +
           fmt("%.0f s", numOr(a, "seconds", 0)) + " |\n";
    }
  }
  s += "\n## Evidence\n\nLedger `" + d.evidence_dir +
       "/ledger.jsonl`: " + std::to_string(d.evidence.records) + " records before this report, " +
       std::to_string(d.evidence.ledger_bytes) + " bytes; checkpoint " + d.evidence.origin +
       " size " + std::to_string(d.evidence.tree_size) + ", RFC 9162 Merkle root `" +
       d.evidence.root_hex +
       "`. This report is recorded in the same ledger; check it with "
       "`meshproof evidence verify " +
       d.evidence_dir + "`.\n";
  return s;
}

std::string html(const ReportData& d) {
  const std::string verdict = overallVerdict(d);
  const double t0 = startOf(d);
  std::string s = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                  "<link rel=\"icon\" href=\"data:,\"><title>meshproof: sprint " +
                  escapeXml(d.sprint) + (d.run_id.empty() ? "" : " run " + escapeXml(d.run_id)) +
                  "</title><style>" + kStyle + "</style></head><body>\n";
  s += "<h1>Sprint " + escapeXml(d.sprint) + " <span class=\"badge " +
       (verdict == "PASS" ? "pass" : "fail") + "\">" + escapeXml(verdict) + "</span></h1>\n";
  if (!d.subtitle.empty()) {
    s += "<p>" + escapeXml(d.subtitle) + "</p>\n";
  }
  if (d.run.is_object()) {
    s += "<p>Run <code>" + escapeXml(d.run_id) + "</code> from " + escapeXml(str(d.run, "start")) +
         " to " + escapeXml(str(d.run, "end")) +
         (d.run.value("quick", false) ? " (quick plan: smaller but still valid)" : "") + "; seed " +
         escapeXml(d.run.value("seed", Json(0)).dump()) + ".</p>\n";
  }
  s += "<h2>Verdicts</h2><table><tr><th>check</th><th>verdict</th><th>key figure</th><th>why</th>"
       "</tr>";
  for (const Row& r : rows(d)) {
    s += "<tr><td>" + escapeXml(r.check) + "</td><td class=\"" + verdictClass(r.verdict) + "\">" +
         escapeXml(r.verdict) + "</td><td>" + escapeXml(r.figure) + "</td><td>" +
         escapeXml(r.reason) + "</td></tr>";
  }
  s += "</table>\n<h2>Latency, throughput and success rate over the run</h2>\n" +
       metricsCharts(d, t0) + "\n";
  if (const Json* v = validation(d, "split")) {
    s += "<h2>Canary split</h2><p>" + escapeXml(str(*v, "reason")) + "</p>" + splitSection(*v) +
         "\n";
  }
  if (const Json* v = validation(d, "retries")) {
    s += "<h2>Retries</h2><p>" + escapeXml(str(*v, "reason")) + "</p>" + retriesSection(*v) + "\n";
  }
  if (const Json* v = validation(d, "breaker")) {
    s += "<h2>Circuit breaker</h2><p>" + escapeXml(str(*v, "reason")) + "</p>" +
         breakerSection(*v) + "\n";
  }
  if (const Json* v = validation(d, "recovery")) {
    s +=
        "<h2>Recovery</h2><p>" + escapeXml(str(*v, "reason")) + "</p>" + recoverySection(*v) + "\n";
  }
  if (!d.journals.empty()) {
    s += "<h2>Chaos</h2>" + chaosTableHtml(d) + chaosSection(d) + "\n";
  }
  s += "<h2>Alerts that fired</h2>" + alertsTableHtml(d.metrics) + "\n";
  s += "<h2>Evidence</h2><p>Ledger <code>" + escapeXml(d.evidence_dir) +
       "/ledger.jsonl</code>: " + std::to_string(d.evidence.records) +
       " records before this report (" + std::to_string(d.evidence.ledger_bytes) +
       " bytes). RFC 9162 Merkle root of the signed "
       "checkpoint (size " +
       std::to_string(d.evidence.tree_size) + "):</p><pre>" + escapeXml(d.evidence.root_hex) +
       "</pre><p>Checkpoint (C2SP signed note):</p><pre>" + escapeXml(d.evidence.checkpoint) +
       "</pre><p class=\"note\">This report is itself recorded "
       "in the ledger; <code>meshproof evidence verify " +
       escapeXml(d.evidence_dir) + "</code> checks it and everything above.</p>\n</body></html>\n";
  return s;
}

} // namespace meshproof::report
