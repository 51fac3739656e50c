#pragma once
// Inline SVG charts for the HTML report: self-contained markup (no script, no external asset),
// deterministic for the same input. Internal to report/.
//
// Every chart is an <svg> element with a <title>, axes with rounded ticks, a legend, and a
// role="img" + aria-label so the page reads without the pictures too. Points whose y is NaN break a
// line (a gap: no data there).

#include <optional>
#include <string>
#include <vector>

namespace meshproof::report {

struct Point {
  double x = 0;
  double y = 0;
};

struct Line {
  std::string name;
  std::vector<Point> points; // in x order
};

// A shaded x range (a stage of the run, a fault's injection window).
struct Band {
  double from = 0;
  double to = 0;
  std::string label;
};

struct LineChartSpec {
  std::string title;
  std::string x_label = "seconds since the start";
  std::string y_label;
  std::vector<Line> lines;
  std::vector<Band> bands;
  std::optional<double> threshold; // a dashed horizontal line (an objective)
  std::string threshold_label;
  // A y range drawn as a green band: where a steady-state hypothesis holds.
  std::optional<std::pair<double, double>> ok_range;
  std::optional<double> y_min;
  std::optional<double> y_max;
};

std::string lineChart(const LineChartSpec& spec);

// One bar with its interval and the value it was expected to have.
struct Bar {
  std::string label;
  double value = 0;
  std::optional<double> lower;
  std::optional<double> upper;
  std::optional<double> expected;
};

struct BarChartSpec {
  std::string title;
  std::string y_label;
  std::vector<Bar> bars;
  double y_max = 1.0;
  bool percent = false; // values in [0, 1] shown as percentages
};

std::string barChart(const BarChartSpec& spec);

struct Span {
  double from = 0;
  double to = 0;
  std::string label;
};

struct Mark {
  double at = 0;
  std::string label;
};

struct TimelineRow {
  std::string name;
  std::vector<Span> spans; // drawn as bars
  std::vector<Mark> marks; // drawn as ticks
};

struct TimelineSpec {
  std::string title;
  std::string x_label = "seconds";
  std::vector<TimelineRow> rows;
  double x_min = 0;
  double x_max = 1;
};

std::string timeline(const TimelineSpec& spec);

// Text for XML/HTML: & < > " ' escaped.
std::string escapeXml(const std::string& text);

// Rounded tick values covering [lo, hi], about `count` of them.
std::vector<double> niceTicks(double lo, double hi, int count);

} // namespace meshproof::report
