#include "meshproof/report/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace meshproof::report {
namespace {

constexpr double kWidth = 760;
constexpr double kHeight = 260;
constexpr double kLeft = 64;
constexpr double kRight = 16;
constexpr double kTop = 34;
constexpr double kBottom = 58;

// Colour-blind-safe palette (Okabe-Ito).
constexpr const char* kPalette[] = {"#0072B2", "#E69F00", "#009E73", "#CC79A7",
                                    "#56B4E9", "#D55E00", "#F0E442", "#000000"};

const char* color(size_t i) {
  return kPalette[i % (sizeof kPalette / sizeof kPalette[0])];
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  std::string s = buf;
  while (!s.empty() && s.back() == '0') {
    s.pop_back();
  }
  if (!s.empty() && s.back() == '.') {
    s.pop_back();
  }
  return s == "-0" ? "0" : s;
}

std::string tickLabel(double v) {
  if (std::fabs(v - std::round(v)) < 1e-9 * std::max(1.0, std::fabs(v))) {
    v = std::round(v);
  }
  const double a = std::fabs(v);
  char buf[32];
  if (a >= 10000) {
    std::snprintf(buf, sizeof buf, "%.0fk", v / 1000);
  } else if (a >= 100 || a == std::floor(a)) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else if (a >= 1) {
    std::snprintf(buf, sizeof buf, "%.1f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.2g", v);
  }
  return buf;
}

struct Frame {
  double x0, x1, y0, y1; // data ranges
  double px(double x) const {
    return kLeft + (x1 == x0 ? 0 : (x - x0) / (x1 - x0)) * (kWidth - kLeft - kRight);
  }
  double py(double y) const {
    return kHeight - kBottom - (y1 == y0 ? 0 : (y - y0) / (y1 - y0)) * (kHeight - kTop - kBottom);
  }
};

std::string open(const std::string& title, double height = kHeight) {
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 " + num(kWidth) +
         " " + num(height) + "\" width=\"" + num(kWidth) + "\" height=\"" + num(height) +
         "\" role=\"img\" aria-label=\"" + escapeXml(title) + "\"><title>" + escapeXml(title) +
         "</title><text x=\"" + num(kLeft) +
         "\" y=\"20\" class=\"chart-title\" font-size=\"14\" font-weight=\"600\">" +
         escapeXml(title) + "</text>";
}

std::string axes(const Frame& f, const std::string& x_label, const std::string& y_label,
                 bool percent = false, bool x_ticks = true) {
  std::string s;
  const double bottom = kHeight - kBottom;
  s += "<g class=\"axes\" font-size=\"11\" fill=\"#444\">";
  for (double t : niceTicks(f.y0, f.y1, 5)) {
    const double y = f.py(t);
    s += "<line x1=\"" + num(kLeft) + "\" x2=\"" + num(kWidth - kRight) + "\" y1=\"" + num(y) +
         "\" y2=\"" + num(y) + "\" stroke=\"#e3e3e3\"/>";
    s += "<text x=\"" + num(kLeft - 6) + "\" y=\"" + num(y + 4) + "\" text-anchor=\"end\">" +
         (percent ? tickLabel(t * 100) + "%" : tickLabel(t)) + "</text>";
  }
  for (double t : x_ticks ? niceTicks(f.x0, f.x1, 8) : std::vector<double>{}) {
    const double x = f.px(t);
    s += "<line x1=\"" + num(x) + "\" x2=\"" + num(x) + "\" y1=\"" + num(bottom) + "\" y2=\"" +
         num(bottom + 4) + "\" stroke=\"#888\"/>";
    s += "<text x=\"" + num(x) + "\" y=\"" + num(bottom + 16) + "\" text-anchor=\"middle\">" +
         tickLabel(t) + "</text>";
  }
  s += "<line x1=\"" + num(kLeft) + "\" x2=\"" + num(kWidth - kRight) + "\" y1=\"" + num(bottom) +
       "\" y2=\"" + num(bottom) + "\" stroke=\"#888\"/>";
  s += "<text x=\"" + num((kLeft + kWidth - kRight) / 2) + "\" y=\"" + num(bottom + 32) +
       "\" text-anchor=\"middle\">" + escapeXml(x_label) + "</text>";
  s += "<text x=\"14\" y=\"" + num((kTop + bottom) / 2) + "\" text-anchor=\"middle\" " +
       "transform=\"rotate(-90 14 " + num((kTop + bottom) / 2) + ")\">" + escapeXml(y_label) +
       "</text>";
  s += "</g>";
  return s;
}

std::string legend(const std::vector<std::string>& names, double y) {
  std::string s = "<g class=\"legend\" font-size=\"11\">";
  double x = kLeft;
  for (size_t i = 0; i < names.size(); ++i) {
    s += "<rect x=\"" + num(x) + "\" y=\"" + num(y - 9) + "\" width=\"12\" height=\"4\" fill=\"" +
         color(i) + "\"/><text x=\"" + num(x + 16) + "\" y=\"" + num(y - 4) + "\">" +
         escapeXml(names[i]) + "</text>";
    x += 28 + 6.5 * static_cast<double>(names[i].size());
  }
  return s + "</g>";
}

} // namespace

std::string escapeXml(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
    case '&':
      out += "&amp;";
      break;
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '"':
      out += "&quot;";
      break;
    case '\'':
      out += "&#39;";
      break;
    default:
      out += c;
    }
  }
  return out;
}

std::vector<double> niceTicks(double lo, double hi, int count) {
  std::vector<double> out;
  if (!(hi > lo) || count < 1 || !std::isfinite(lo) || !std::isfinite(hi)) {
    out.push_back(lo);
    return out;
  }
  const double raw = (hi - lo) / count;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw) {
      break;
    }
  }
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    out.push_back(std::fabs(t) < step * 1e-9 ? 0.0 : t);
  }
  return out;
}

std::string lineChart(const LineChartSpec& c) {
  double x0 = std::numeric_limits<double>::infinity();
  double x1 = -x0;
  double y0 = x0;
  double y1 = -x0;
  for (const Line& l : c.lines) {
    for (const Point& p : l.points) {
      if (!std::isfinite(p.x)) {
        continue;
      }
      x0 = std::min(x0, p.x);
      x1 = std::max(x1, p.x);
      if (std::isfinite(p.y)) {
        y0 = std::min(y0, p.y);
        y1 = std::max(y1, p.y);
      }
    }
  }
  for (const Band& b : c.bands) {
    x0 = std::min(x0, b.from);
    x1 = std::max(x1, b.to);
  }
  std::string s = open(c.title);
  if (!std::isfinite(x0) || !std::isfinite(y0)) {
    s += "<text x=\"" + num(kWidth / 2) + "\" y=\"" + num(kHeight / 2) +
         "\" text-anchor=\"middle\" font-size=\"13\" fill=\"#777\">no data</text></svg>";
    return s;
  }
  if (c.threshold) {
    y1 = std::max(y1, *c.threshold * 1.1);
  }
  if (c.ok_range) {
    y0 = std::min(y0, c.ok_range->first);
  }
  y0 = c.y_min.value_or(std::min(0.0, y0));
  y1 = c.y_max.value_or(y1 > y0 ? y1 * 1.05 : y0 + 1);
  if (x1 <= x0) {
    x1 = x0 + 1;
  }
  const std::vector<double> yt = niceTicks(y0, y1, 5);
  if (!c.y_max && !yt.empty() && yt.back() < y1) {
    y1 = yt.back() + (yt.size() > 1 ? yt[1] - yt[0] : 1);
  }
  const Frame f{x0, x1, y0, y1};
  const double top = f.py(y1);
  const double bottom = f.py(y0);
  // Bands behind everything.
  for (size_t i = 0; i < c.bands.size(); ++i) {
    const Band& b = c.bands[i];
    const double a = f.px(b.from);
    const double w = std::max(1.0, f.px(b.to) - a);
    s += "<rect class=\"band\" x=\"" + num(a) + "\" y=\"" + num(top) + "\" width=\"" + num(w) +
         "\" height=\"" + num(bottom - top) + "\" fill=\"" + (i % 2 ? "#f3efe6" : "#eef3f8") +
         "\"><title>" + escapeXml(b.label) + "</title></rect>";
    s += "<text x=\"" + num(a + 3) + "\" y=\"" + num(top + 11) +
         "\" font-size=\"10\" fill=\"#667\">" + escapeXml(b.label) + "</text>";
  }
  if (c.ok_range) {
    const double lo = std::max(y0, c.ok_range->first);
    const double hi = std::min(y1, c.ok_range->second);
    if (hi > lo) {
      s += "<rect class=\"ok-band\" x=\"" + num(kLeft) + "\" y=\"" + num(f.py(hi)) + "\" width=\"" +
           num(kWidth - kLeft - kRight) + "\" height=\"" + num(f.py(lo) - f.py(hi)) +
           "\" fill=\"#009E73\" fill-opacity=\"0.08\"><title>steady state holds</title></rect>";
    }
  }
  s += axes(f, c.x_label, c.y_label);
  if (c.threshold) {
    const double y = f.py(*c.threshold);
    s += "<line class=\"threshold\" x1=\"" + num(kLeft) + "\" x2=\"" + num(kWidth - kRight) +
         "\" y1=\"" + num(y) + "\" y2=\"" + num(y) +
         "\" stroke=\"#D55E00\" stroke-dasharray=\"6 4\"/><text x=\"" + num(kWidth - kRight) +
         "\" y=\"" + num(y - 4) + "\" text-anchor=\"end\" font-size=\"10\" fill=\"#D55E00\">" +
         escapeXml(c.threshold_label) + "</text>";
  }
  std::vector<std::string> names;
  for (size_t i = 0; i < c.lines.size(); ++i) {
    names.push_back(c.lines[i].name);
    std::string d;
    bool pen = false;
    for (const Point& p : c.lines[i].points) {
      if (!std::isfinite(p.y) || !std::isfinite(p.x)) {
        pen = false;
        continue;
      }
      const double y = std::clamp(p.y, y0, y1);
      d += (pen ? " L" : " M") + num(f.px(p.x)) + " " + num(f.py(y));
      pen = true;
    }
    if (!d.empty()) {
      s += "<path class=\"series\" d=\"" + d.substr(1) + "\" fill=\"none\" stroke=\"" + color(i) +
           "\" stroke-width=\"1.6\"><title>" + escapeXml(c.lines[i].name) + "</title></path>";
    }
  }
  s += legend(names, kHeight - 4);
  return s + "</svg>";
}

std::string barChart(const BarChartSpec& c) {
  std::string s = open(c.title);
  const Frame f{0, 1, 0, c.y_max};
  s += axes(f, "", c.y_label, c.percent, false);
  const double n = static_cast<double>(std::max<size_t>(1, c.bars.size()));
  const double slot = (kWidth - kLeft - kRight) / n;
  for (size_t i = 0; i < c.bars.size(); ++i) {
    const Bar& b = c.bars[i];
    const double cx = kLeft + slot * (static_cast<double>(i) + 0.5);
    const double w = std::min(80.0, slot * 0.5);
    const double y = f.py(std::clamp(b.value, 0.0, c.y_max));
    const std::string v = c.percent ? num(b.value * 100) + " %" : num(b.value);
    s += "<rect class=\"bar\" x=\"" + num(cx - w / 2) + "\" y=\"" + num(y) + "\" width=\"" +
         num(w) + "\" height=\"" + num(f.py(0) - y) + "\" fill=\"" + color(i) +
         "\" fill-opacity=\"0.75\"><title>" + escapeXml(b.label + ": " + v) + "</title></rect>";
    if (b.lower && b.upper) {
      const double lo = f.py(*b.lower);
      const double hi = f.py(*b.upper);
      s += "<g class=\"interval\" stroke=\"#222\" stroke-width=\"1.4\"><line x1=\"" + num(cx) +
           "\" x2=\"" + num(cx) + "\" y1=\"" + num(lo) + "\" y2=\"" + num(hi) + "\"/><line x1=\"" +
           num(cx - 8) + "\" x2=\"" + num(cx + 8) + "\" y1=\"" + num(lo) + "\" y2=\"" + num(lo) +
           "\"/><line x1=\"" + num(cx - 8) + "\" x2=\"" + num(cx + 8) + "\" y1=\"" + num(hi) +
           "\" y2=\"" + num(hi) + "\"/></g>";
    }
    if (b.expected) {
      const double ey = f.py(*b.expected);
      s += "<line class=\"expected\" x1=\"" + num(cx - w / 2 - 10) + "\" x2=\"" +
           num(cx + w / 2 + 10) + "\" y1=\"" + num(ey) + "\" y2=\"" + num(ey) +
           "\" stroke=\"#D55E00\" stroke-width=\"2\" stroke-dasharray=\"5 3\"><title>expected " +
           (c.percent ? num(*b.expected * 100) + " %" : num(*b.expected)) + "</title></line>";
    }
    s += "<text x=\"" + num(cx) + "\" y=\"" + num(kHeight - kBottom + 16) +
         "\" text-anchor=\"middle\" font-size=\"12\">" + escapeXml(b.label) + "</text>";
    s += "<text x=\"" + num(cx + w / 2 + 4) + "\" y=\"" + num(y - 4) + "\" font-size=\"11\">" +
         escapeXml(v) + "</text>";
  }
  s += "<g font-size=\"11\"><line x1=\"" + num(kLeft) + "\" x2=\"" + num(kLeft + 20) + "\" y1=\"" +
       num(kHeight - 12) + "\" y2=\"" + num(kHeight - 12) +
       "\" stroke=\"#D55E00\" stroke-width=\"2\" stroke-dasharray=\"5 3\"/><text x=\"" +
       num(kLeft + 26) + "\" y=\"" + num(kHeight - 8) + "\">expected</text><line x1=\"" +
       num(kLeft + 100) + "\" x2=\"" + num(kLeft + 100) + "\" y1=\"" + num(kHeight - 18) +
       "\" y2=\"" + num(kHeight - 6) + "\" stroke=\"#222\"/><text x=\"" + num(kLeft + 106) +
       "\" y=\"" + num(kHeight - 8) + "\">interval</text></g>";
  return s + "</svg>";
}

std::string timeline(const TimelineSpec& c) {
  const double row_h = 26;
  const double height = kTop + row_h * static_cast<double>(c.rows.size()) + 46;
  std::string s = open(c.title, height);
  const double left = 150;
  const double right = kWidth - kRight;
  const double x0 = c.x_min;
  const double x1 = c.x_max > c.x_min ? c.x_max : c.x_min + 1;
  auto px = [&](double x) {
    return left + (std::clamp(x, x0, x1) - x0) / (x1 - x0) * (right - left);
  };
  const double bottom = kTop + row_h * static_cast<double>(c.rows.size());
  s += "<g class=\"axes\" font-size=\"11\" fill=\"#444\">";
  for (double t : niceTicks(x0, x1, 8)) {
    s += "<line x1=\"" + num(px(t)) + "\" x2=\"" + num(px(t)) + "\" y1=\"" + num(kTop) +
         "\" y2=\"" + num(bottom + 4) + "\" stroke=\"#eee\"/><text x=\"" + num(px(t)) + "\" y=\"" +
         num(bottom + 16) + "\" text-anchor=\"middle\">" + tickLabel(t) + "</text>";
  }
  s += "<text x=\"" + num((left + right) / 2) + "\" y=\"" + num(bottom + 32) +
       "\" text-anchor=\"middle\">" + escapeXml(c.x_label) + "</text></g>";
  for (size_t r = 0; r < c.rows.size(); ++r) {
    const TimelineRow& row = c.rows[r];
    const double y = kTop + row_h * static_cast<double>(r);
    s += "<text x=\"" + num(left - 8) + "\" y=\"" + num(y + 17) +
         "\" text-anchor=\"end\" font-size=\"11\">" + escapeXml(row.name) + "</text>";
    for (size_t k = 0; k < row.spans.size(); ++k) {
      const Span& sp = row.spans[k];
      // Adjacent spans (retry tries) stay apart: a 2 px gap and alternating shades.
      const double w = std::max(1.5, px(sp.to) - px(sp.from) - (row.spans.size() > 1 ? 2 : 0));
      s += "<rect class=\"span\" x=\"" + num(px(sp.from)) + "\" y=\"" + num(y + 5) + "\" width=\"" +
           num(w) + "\" height=\"" + num(row_h - 10) + "\" fill=\"" + color(r) +
           "\" fill-opacity=\"" + (k % 2 ? "0.35" : "0.6") + "\"><title>" + escapeXml(sp.label) +
           "</title></rect>";
    }
    for (const Mark& m : row.marks) {
      s += "<line class=\"mark\" x1=\"" + num(px(m.at)) + "\" x2=\"" + num(px(m.at)) + "\" y1=\"" +
           num(y + 3) + "\" y2=\"" + num(y + row_h - 3) +
           "\" stroke=\"#D55E00\" stroke-width=\"1.5\"><title>" + escapeXml(m.label) +
           "</title></line>";
    }
  }
  return s + "</svg>";
}

} // namespace meshproof::report
