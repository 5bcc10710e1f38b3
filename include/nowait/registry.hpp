// nowait/registry.hpp: named metrics, registered at setup and rendered as the
// Prometheus text exposition format (version 0.0.4) and as JSON, both from one
// snapshot.
//
//   nowait::Registry registry;                                    // setup, control thread
//   auto& underruns = registry.counter("audio_underruns_total", "Blocks with missing input",
//                                      nowait::Unit::none, {{"input", "mic 1"}});
//   nowait::HistogramLayout layout(1'000, 100'000'000, 32);       // 1 us .. 100 ms, < 3.2% error
//   auto& callback = registry.histogram("audio_callback_duration_seconds", "Audio callback time",
//                                       nowait::Unit::nanoseconds, layout);
//
//   void process(Block& b) noexcept NOWAIT_NONBLOCKING {          // RT thread: metric objects only
//     nowait::ScopedTimer t(callback);
//     if (!read_input(b)) underruns.add();
//   }
//
//   nowait::RegistrySnapshot snap = registry.snapshot();          // control thread, e.g. a scrape
//   std::string text = nowait::to_prometheus(snap);               // the same numbers...
//   std::string json = nowait::to_json(snap);                     // ...in both
//
// Two sides, separated by construction. The registry owns its metrics and
// returns a reference to each at registration; real-time code keeps those
// references and calls only the metrics' own wait-free functions (see
// metrics.hpp). The registry itself is control-side only: every member
// function locks its mutex and allocates, so registration and rendering from
// different control threads are safe.
//
// Contract ("control" = off the real-time thread):
//
//   operation                                   thread   progress      allocates
//   counter, sharded_counter, gauge, max_gauge,
//     histogram, stage_timer, pipeline_status,
//     callback_gauge (registration)             control  blocking      yes; throws std::invalid_argument (1)
//   snapshot                                    control  blocking (2)  yes (the snapshot)
//   prometheus / json                           control  blocking (2)  yes (snapshot and string)
//   to_prometheus / to_json (a snapshot)        any      no lock       yes (the string)
//   the metrics returned                        as in metrics.hpp and pipeline_status.hpp: the RT side
//
// (1) Registration validates everything before it changes anything: a call
//     that throws registers nothing.
// (2) Locks the registry mutex and reads every metric once. A histogram read
//     blocks briefly as described in metrics.hpp (4); callback gauges run
//     under the lock, so a callback must not call into the same registry.
//
// Names. Registration enforces the Prometheus naming conventions and every
// rule of `promtool check metrics` (its lint included), so the exposition
// always passes that check:
//   - metric names match [a-zA-Z_][a-zA-Z0-9_]*, do not start with "__", and
//     contain no ':' (the format allows it; it is reserved for recording rules);
//   - snake_case, not camelCase, for metric and label names;
//   - counters end in _total, and nothing else does; _bucket, _count and _sum
//     are left to histogram series;
//   - no metric type in the name (_counter, _gauge, _histogram, _summary), no
//     abbreviated unit (_ms, _s, _b, ...), no unit other than a base unit
//     (_milliseconds, _kilobytes, ...);
//   - a metric with a unit ends in it (_seconds, _bytes, _ratio; counters
//     then add _total), and a name that ends in a unit has that unit;
//   - label names match [a-zA-Z_][a-zA-Z0-9_]*, do not start with "__", are
//     not "le" (histograms add it) or "quantile", and appear once per metric;
//   - help text is non-empty, label values and help are valid UTF-8.
// The first registration of a name fixes its family: type, help, unit, label
// names (and a histogram's layout). Registering the name again adds a series
// and must repeat all of them with a new set of label values; anything else,
// and a repeated label set, throws std::invalid_argument naming the metric.
//
// Units. A Unit says what the source records; the exposition is always in the
// Prometheus base unit. Unit::nanoseconds (the unit of monotonic_ns(),
// StageTimer and the usual Histogram) is divided by 1e9 and exposed as
// seconds, milliseconds by 1e3, microseconds by 1e6; the other units are
// exposed as recorded.
//
// Numbers. Integers are written exactly. Doubles are written in their
// shortest round-trip form (std::to_chars), so parsing the text gives back the
// same double; Prometheus spells the non-finite ones NaN, +Inf and -Inf, JSON
// as null.
#pragma once

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "nowait/metrics.hpp"
#include "nowait/pipeline_status.hpp"

namespace nowait {

// The Content-Type of to_prometheus()'s output, for an HTTP /metrics handler.
inline constexpr std::string_view prometheus_content_type = "text/plain; version=0.0.4; charset=utf-8";

enum class MetricType { counter, gauge, histogram };

// What a metric's source records (see "Units" above).
enum class Unit { none, seconds, milliseconds, microseconds, nanoseconds, bytes, ratio };

// "counter", "gauge" or "histogram": the Prometheus TYPE.
constexpr std::string_view type_name(MetricType type) noexcept {
  switch (type) {
    case MetricType::counter:
      return "counter";
    case MetricType::gauge:
      return "gauge";
    case MetricType::histogram:
      return "histogram";
  }
  return "untyped";
}

// The unit's own name: "none", "seconds", "milliseconds", ...
constexpr std::string_view unit_name(Unit unit) noexcept {
  switch (unit) {
    case Unit::none:
      return "none";
    case Unit::seconds:
      return "seconds";
    case Unit::milliseconds:
      return "milliseconds";
    case Unit::microseconds:
      return "microseconds";
    case Unit::nanoseconds:
      return "nanoseconds";
    case Unit::bytes:
      return "bytes";
    case Unit::ratio:
      return "ratio";
  }
  return "none";
}

// The unit the exposition uses, which the metric name must end with:
// "seconds" for every time unit, "bytes", "ratio", or "" for Unit::none.
constexpr std::string_view base_unit_name(Unit unit) noexcept {
  switch (unit) {
    case Unit::seconds:
    case Unit::milliseconds:
    case Unit::microseconds:
    case Unit::nanoseconds:
      return "seconds";
    case Unit::bytes:
      return "bytes";
    case Unit::ratio:
      return "ratio";
    case Unit::none:
      break;
  }
  return "";
}

// Recorded values are divided by this to give the base unit.
constexpr std::uint64_t unit_divisor(Unit unit) noexcept {
  switch (unit) {
    case Unit::milliseconds:
      return 1'000;
    case Unit::microseconds:
      return 1'000'000;
    case Unit::nanoseconds:
      return 1'000'000'000;
    default:
      return 1;
  }
}

// One label of a series: {{"input", "mic 1"}, {"stage", "mix"}}.
struct Label {
  std::string name;
  std::string value;
  friend bool operator==(const Label&, const Label&) = default;
};
using Labels = std::vector<Label>;

// A value as exposed: an exact integer when the source is an integer in its
// base unit, else a double.
using Number = std::variant<std::uint64_t, std::int64_t, double>;

// The Number as a double (integers beyond 2^53 round).
inline double as_double(const Number& n) noexcept {
  return std::visit([](auto v) { return static_cast<double>(v); }, n);
}

// A histogram series in base units. buckets holds the exposed bounds (see
// Registry::histogram), ascending; each cumulative_count counts the values
// <= le, underflow included. The +Inf bucket is `count`, which adds the
// overflow. p50..p999 come from the histogram's full resolution
// (HistogramSnapshot::percentile), not from the exposed buckets.
struct HistogramSample {
  struct Bucket {
    Number le;
    std::uint64_t cumulative_count = 0;
  };
  std::uint64_t count = 0;
  Number sum, min, max, p50, p90, p99, p999;
  std::vector<Bucket> buckets;
};

// One series: its labels (sorted by name) and its value, in base units.
struct Sample {
  Labels labels;
  Number value;               // counters and gauges
  HistogramSample histogram;  // histograms
};

// One metric family: every series registered under one name, in
// registration order.
struct FamilySnapshot {
  std::string name;
  std::string help;
  MetricType type = MetricType::gauge;
  Unit unit = Unit::none;  // as registered; the values are already in base_unit_name(unit)
  std::vector<Sample> samples;

  // The series with exactly these labels (in any order), or nullptr.
  // Thread: any. Allocates a sorted copy of the labels.
  const Sample* sample(Labels labels = {}) const {
    std::sort(labels.begin(), labels.end(), [](const Label& a, const Label& b) { return a.name < b.name; });
    for (const Sample& s : samples)
      if (s.labels == labels) return &s;
    return nullptr;
  }
};

// Every family of a Registry, in registration order, each metric read once at
// the same call. A plain value: render it with to_prometheus and to_json, or
// read figures from it directly.
struct RegistrySnapshot {
  std::vector<FamilySnapshot> families;

  // The family with this name, or nullptr. Thread: any. No allocation.
  const FamilySnapshot* family(std::string_view name) const noexcept {
    for (const FamilySnapshot& f : families)
      if (f.name == name) return &f;
    return nullptr;
  }
  // The series `name` with exactly these labels, or nullptr. Thread: any.
  const Sample* sample(std::string_view name, Labels labels = {}) const {
    const FamilySnapshot* f = family(name);
    return f == nullptr ? nullptr : f->sample(std::move(labels));
  }
};

namespace detail {

template <class T>
Number scaled(T v, Unit unit) {
  if (const std::uint64_t divisor = unit_divisor(unit); divisor != 1)
    return static_cast<double>(v) / static_cast<double>(divisor);  // division rounds once, exactly
  if constexpr (std::floating_point<T>) {
    return static_cast<double>(v);
  } else if constexpr (std::is_signed_v<T>) {
    return static_cast<std::int64_t>(v);
  } else {
    return static_cast<std::uint64_t>(v);
  }
}

inline void append_number(std::string& out, const Number& n, bool json) {
  char buf[32];  // the longest shortest-form double is 24 characters
  std::to_chars_result r{};
  if (const double* d = std::get_if<double>(&n)) {
    if (std::isnan(*d)) {
      out += json ? "null" : "NaN";
      return;
    }
    if (std::isinf(*d)) {
      out += json ? "null" : (*d > 0 ? "+Inf" : "-Inf");
      return;
    }
    r = std::to_chars(buf, buf + sizeof buf, *d);
  } else if (const std::uint64_t* u = std::get_if<std::uint64_t>(&n)) {
    r = std::to_chars(buf, buf + sizeof buf, *u);
  } else {
    r = std::to_chars(buf, buf + sizeof buf, std::get<std::int64_t>(n));
  }
  out.append(buf, r.ptr);
}

// HELP text: backslash and newline escaped (format 0.0.4).
inline void append_prometheus_help(std::string& out, std::string_view s) {
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

// A label value: backslash, double quote and newline escaped.
inline void append_prometheus_label_value(std::string& out, std::string_view s) {
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

// `{a="x",b="y"}`, with le appended for a histogram bucket; nothing for no labels.
inline void append_prometheus_labels(std::string& out, const Labels& labels, const Number* le = nullptr,
                                     bool infinite_le = false) {
  if (labels.empty() && le == nullptr && !infinite_le) return;
  out += '{';
  bool first = true;
  for (const Label& l : labels) {
    if (!first) out += ',';
    first = false;
    out += l.name;
    out += "=\"";
    append_prometheus_label_value(out, l.value);
    out += '"';
  }
  if (le != nullptr || infinite_le) {
    if (!first) out += ',';
    out += "le=\"";
    if (infinite_le) {
      out += "+Inf";
    } else {
      append_number(out, *le, false);
    }
    out += '"';
  }
  out += '}';
}

// A JSON string: quote, backslash and every control character escaped.
inline void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"') {
      out += "\\\"";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (u < 0x20) {
      constexpr char hex[] = "0123456789abcdef";
      out += "\\u00";
      out += hex[u >> 4];
      out += hex[u & 0xF];
    } else {
      out += c;
    }
  }
  out += '"';
}

// Go's utf8.ValidString, which the Prometheus parser applies to label values:
// no stray continuation bytes, no overlong forms, no surrogates, nothing past
// U+10FFFF.
inline bool valid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto lead = static_cast<unsigned char>(s[i]);
    std::size_t extra = 0;
    std::uint32_t cp = 0;
    if (lead < 0x80) {
      ++i;
      continue;
    }
    if ((lead & 0xE0) == 0xC0) {
      extra = 1;
      cp = lead & 0x1Fu;
    } else if ((lead & 0xF0) == 0xE0) {
      extra = 2;
      cp = lead & 0x0Fu;
    } else if ((lead & 0xF8) == 0xF0) {
      extra = 3;
      cp = lead & 0x07u;
    } else {
      return false;
    }
    if (s.size() - i <= extra) return false;
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3Fu);
    }
    constexpr std::uint32_t smallest[] = {0, 0x80, 0x800, 0x10000};
    if (cp < smallest[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += extra + 1;
  }
  return true;
}

[[noreturn]] inline void registry_error(std::string_view metric, std::string_view what) {
  throw std::invalid_argument("nowait::Registry: metric \"" + std::string(metric) +
                              "\": " + std::string(what));
}

inline bool is_name_start(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
inline bool is_name_char(char c) noexcept { return is_name_start(c) || (c >= '0' && c <= '9'); }

// [a-zA-Z_][a-zA-Z0-9_]*
inline bool is_plain_name(std::string_view s) noexcept {
  return !s.empty() && is_name_start(s.front()) && std::all_of(s.begin(), s.end(), is_name_char);
}

// promtool's camelCase test: a lower-case letter followed by an upper-case one.
inline bool has_camel_case(std::string_view s) noexcept {
  for (std::size_t i = 0; i + 1 < s.size(); ++i)
    if (s[i] >= 'a' && s[i] <= 'z' && s[i + 1] >= 'A' && s[i + 1] <= 'Z') return true;
  return false;
}

// Whether the lower-cased name has `_word_` inside it or ends in `_word`.
inline bool has_word(std::string_view lower_name, std::string_view word) {
  const std::string inner = "_" + std::string(word) + "_";
  const std::string tail = "_" + std::string(word);
  return lower_name.find(inner) != std::string_view::npos || lower_name.ends_with(tail);
}

// For a `_`-separated word of a metric name, the base unit to use instead
// when the word is a prefixed unit ("milliseconds") or a non-base one
// ("minutes", "bits"), else empty: promtool's unit table.
inline std::string_view non_base_unit(std::string_view word) noexcept {
  struct UnitEntry {
    std::string_view unit, base;
  };
  constexpr UnitEntry units[] = {
      {"amperes", "amperes"}, {"bytes", "bytes"},     {"celsius", "celsius"}, {"grams", "grams"},
      {"joules", "joules"},   {"kelvin", "kelvin"},   {"meters", "meters"},   {"metres", "metres"},
      {"seconds", "seconds"}, {"volts", "volts"},     {"minutes", "seconds"}, {"hours", "seconds"},
      {"days", "seconds"},    {"weeks", "seconds"},   {"kelvins", "kelvin"},  {"fahrenheit", "celsius"},
      {"rankine", "celsius"}, {"inches", "meters"},   {"yards", "meters"},    {"miles", "meters"},
      {"bits", "bytes"},      {"calories", "joules"}, {"pounds", "grams"},    {"ounces", "grams"},
  };
  constexpr std::string_view prefixes[] = {"pico", "nano",  "micro", "milli", "centi", "deci",
                                           "deca", "hecto", "kilo",  "kibi",  "mega",  "mibi",
                                           "giga", "gibi",  "tera",  "tebi",  "peta",  "pebi"};
  for (const UnitEntry& u : units) {
    if (word == u.unit) return u.unit == u.base ? std::string_view{} : u.base;
    for (std::string_view p : prefixes)
      if (word.size() == p.size() + u.unit.size() && word.starts_with(p) && word.ends_with(u.unit))
        return u.base;
  }
  return {};
}

// Throws unless `name` is a valid, conventional name for a metric of this
// type and unit (the rules listed at the top of this file).
inline void check_metric_name(std::string_view name, MetricType type, Unit unit) {
  if (name.find(':') != std::string_view::npos)
    registry_error(name, "':' is reserved for recording rules; use '_'");
  if (!is_plain_name(name)) registry_error(name, "a metric name must match [a-zA-Z_][a-zA-Z0-9_]*");
  if (name.starts_with("__")) registry_error(name, "names starting with \"__\" are reserved");
  if (has_camel_case(name)) registry_error(name, "write metric names in snake_case, not camelCase");

  const bool total = name.ends_with("_total");
  if (type == MetricType::counter && !total) registry_error(name, "a counter's name must end in _total");
  if (type != MetricType::counter && total)
    registry_error(name,
                   "only a counter's name may end in _total; this is a " + std::string(type_name(type)));
  if (type != MetricType::histogram) {
    for (std::string_view suffix : {"_bucket", "_count", "_sum"})
      if (name.ends_with(suffix))
        registry_error(name, "the suffix " + std::string(suffix) + " is reserved for histogram series");
  }

  std::string lower(name);
  for (char& c : lower)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  for (std::string_view t : {"counter", "gauge", "histogram", "summary"})
    if (has_word(lower, t))
      registry_error(name, "the name must not include the metric type \"" + std::string(t) + "\"");
  for (std::string_view a : {"s", "ms", "us", "ns", "sec", "b", "kb", "mb", "gb", "tb", "pb", "m", "h", "d"})
    if (has_word(lower, a))
      registry_error(name, "\"" + std::string(a) +
                               "\" is an abbreviated unit; spell out the base unit (seconds, bytes)");
  for (std::size_t begin = 0; begin <= name.size();) {
    const std::size_t end = std::min(name.find('_', begin), name.size());
    const std::string_view word = name.substr(begin, end - begin);
    if (const std::string_view base = non_base_unit(word); !base.empty())
      registry_error(name,
                     "use the base unit \"" + std::string(base) + "\", not \"" + std::string(word) + "\"");
    begin = end + 1;
  }

  const std::string_view stem = type == MetricType::counter ? name.substr(0, name.size() - 6) : name;
  const std::string_view want = base_unit_name(unit);
  if (!want.empty() && !stem.ends_with("_" + std::string(want)))
    registry_error(name, "its unit is " + std::string(unit_name(unit)) + ", so its name must end in _" +
                             std::string(want) + (type == MetricType::counter ? "_total" : ""));
  for (std::string_view u : {"seconds", "bytes", "ratio"})
    if (u != want && stem.ends_with("_" + std::string(u)))
      registry_error(name, "its name ends in _" + std::string(u) + " but its unit is " +
                               std::string(unit_name(unit)) + "; pass the unit it records");
}

// Validates labels for metric `metric` and returns them sorted by name.
inline Labels checked_labels(std::string_view metric, Labels labels) {
  for (const Label& l : labels) {
    const std::string quoted = "label \"" + l.name + "\"";
    if (!is_plain_name(l.name))
      registry_error(metric, quoted + ": a label name must match [a-zA-Z_][a-zA-Z0-9_]*");
    if (l.name.starts_with("__"))
      registry_error(metric, quoted + ": names starting with \"__\" are reserved");
    if (has_camel_case(l.name))
      registry_error(metric, quoted + ": write label names in snake_case, not camelCase");
    if (l.name == "le") registry_error(metric, quoted + ": reserved for histogram buckets");
    if (l.name == "quantile") registry_error(metric, quoted + ": reserved for summary quantiles");
    if (!valid_utf8(l.value)) registry_error(metric, quoted + ": the value is not valid UTF-8");
  }
  std::sort(labels.begin(), labels.end(), [](const Label& a, const Label& b) { return a.name < b.name; });
  for (std::size_t i = 1; i < labels.size(); ++i)
    if (labels[i].name == labels[i - 1].name)
      registry_error(metric, "label \"" + labels[i].name + "\" appears more than once");
  return labels;
}

// The in-range buckets a histogram exposes: those whose upper bound + 1
// starts a bucket of the same layout with `per_octave` sub-buckets (the
// finer layout's boundaries include every coarser one's), plus the last.
// Cumulative counts are exact at any bucket boundary, so thinning loses
// resolution, never accuracy.
inline std::vector<std::size_t> exposed_buckets(const HistogramLayout& layout, std::uint32_t per_octave) {
  const int bits = std::countr_zero(per_octave);
  std::vector<std::size_t> out;
  const std::size_t n = layout.bucket_count();
  for (std::size_t i = 0; i < n; ++i) {
    bool keep = i + 1 == n;
    if (!keep) {
      const std::uint64_t next = layout.upper_bound(i) + 1;  // no wrap: below highest()
      const int shift = std::max(0, static_cast<int>(std::bit_width(next)) - 1 - bits);
      keep = (next & ((std::uint64_t{1} << shift) - 1)) == 0;
    }
    if (keep) out.push_back(i);
  }
  return out;
}

}  // namespace detail

// Renders a snapshot in the Prometheus text exposition format 0.0.4: per
// family `# HELP` (backslash and newline escaped) and `# TYPE`, then its
// series; histograms as cumulative `_bucket{le="..."}` series ending in
// `le="+Inf"`, then `_sum` and `_count`. Label values escape backslash,
// double quote and newline. Every line ends in '\n'.
// Thread: any. No lock; allocates the string.
inline std::string to_prometheus(const RegistrySnapshot& snap) {
  std::string out;
  for (const FamilySnapshot& f : snap.families) {
    out += "# HELP ";
    out += f.name;
    out += ' ';
    detail::append_prometheus_help(out, f.help);
    out += "\n# TYPE ";
    out += f.name;
    out += ' ';
    out += type_name(f.type);
    out += '\n';
    for (const Sample& s : f.samples) {
      if (f.type != MetricType::histogram) {
        out += f.name;
        detail::append_prometheus_labels(out, s.labels);
        out += ' ';
        detail::append_number(out, s.value, false);
        out += '\n';
        continue;
      }
      const HistogramSample& h = s.histogram;
      for (const HistogramSample::Bucket& b : h.buckets) {
        out += f.name;
        out += "_bucket";
        detail::append_prometheus_labels(out, s.labels, &b.le);
        out += ' ';
        detail::append_number(out, b.cumulative_count, false);
        out += '\n';
      }
      out += f.name;
      out += "_bucket";
      detail::append_prometheus_labels(out, s.labels, nullptr, true);
      out += ' ';
      detail::append_number(out, h.count, false);
      out += '\n';
      out += f.name;
      out += "_sum";
      detail::append_prometheus_labels(out, s.labels);
      out += ' ';
      detail::append_number(out, h.sum, false);
      out += '\n';
      out += f.name;
      out += "_count";
      detail::append_prometheus_labels(out, s.labels);
      out += ' ';
      detail::append_number(out, h.count, false);
      out += '\n';
    }
  }
  return out;
}

// Renders a snapshot as one line of JSON, an object keyed by family name:
//
//   {"frames_total":{"type":"counter","help":"...","unit":"","samples":[
//      {"labels":{"input":"mic 1"},"value":42}]},
//    "callback_seconds":{"type":"histogram","help":"...","unit":"seconds","samples":[
//      {"labels":{},"count":3,"sum":...,"min":...,"max":...,"p50":...,"p90":...,"p99":...,"p999":...,
//       "buckets":[{"le":0.001,"cumulative_count":2},...]}]}}
//
// "unit" is the base unit the values are in ("" for none). Buckets are the
// ones the Prometheus text shows, without +Inf (that is "count"). NaN and
// infinities are null. Strings escape quote, backslash and every control
// character. The same snapshot gives the same numbers, character for
// character, as to_prometheus. Thread: any. No lock; allocates the string.
inline std::string to_json(const RegistrySnapshot& snap) {
  std::string out = "{";
  bool first_family = true;
  for (const FamilySnapshot& f : snap.families) {
    if (!first_family) out += ',';
    first_family = false;
    detail::append_json_string(out, f.name);
    out += ":{\"type\":";
    detail::append_json_string(out, type_name(f.type));
    out += ",\"help\":";
    detail::append_json_string(out, f.help);
    out += ",\"unit\":";
    detail::append_json_string(out, base_unit_name(f.unit));
    out += ",\"samples\":[";
    bool first_sample = true;
    for (const Sample& s : f.samples) {
      if (!first_sample) out += ',';
      first_sample = false;
      out += "{\"labels\":{";
      bool first_label = true;
      for (const Label& l : s.labels) {
        if (!first_label) out += ',';
        first_label = false;
        detail::append_json_string(out, l.name);
        out += ':';
        detail::append_json_string(out, l.value);
      }
      out += '}';
      if (f.type != MetricType::histogram) {
        out += ",\"value\":";
        detail::append_number(out, s.value, true);
        out += '}';
        continue;
      }
      const HistogramSample& h = s.histogram;
      const std::pair<const char*, const Number*> fields[] = {
          {"sum", &h.sum}, {"min", &h.min}, {"max", &h.max},   {"p50", &h.p50},
          {"p90", &h.p90}, {"p99", &h.p99}, {"p999", &h.p999},
      };
      out += ",\"count\":";
      detail::append_number(out, h.count, true);
      for (const auto& [key, value] : fields) {
        out += ",\"";
        out += key;
        out += "\":";
        detail::append_number(out, *value, true);
      }
      out += ",\"buckets\":[";
      bool first_bucket = true;
      for (const HistogramSample::Bucket& b : h.buckets) {
        if (!first_bucket) out += ',';
        first_bucket = false;
        out += "{\"le\":";
        detail::append_number(out, b.le, true);
        out += ",\"cumulative_count\":";
        detail::append_number(out, b.cumulative_count, true);
        out += '}';
      }
      out += "]}";
    }
    out += "]}";
  }
  out += "}\n";
  return out;
}

// Owns named metrics and renders them. See the top of this file for the
// contract, the naming rules and the units. Neither copyable nor movable, so
// the references it hands out stay valid; its destructor frees the metrics,
// so destroy it only after every thread has stopped using them.
class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registers a Counter series `name{labels}` and returns it. The counter
  // lives as long as the registry. Throws std::invalid_argument (registering
  // nothing) when the name, help, unit or labels break the rules above, or
  // the series exists. Thread: control. Blocking; allocates.
  Counter& counter(std::string_view name, std::string_view help, Unit unit = Unit::none, Labels labels = {}) {
    auto metric = std::make_shared<Counter>();
    add({spec(name, help, MetricType::counter, unit)}, std::move(labels),
        [metric, unit](RegistrySnapshot& s, const std::vector<Slot>& at) {
          sample_at(s, at[0]).value = detail::scaled(metric->value(), unit);
        });
    return *metric;
  }

  // As counter(), for a ShardedCounter of `shards` slots (exposed as one
  // counter: the sum). Also throws when shards is 0. Thread: control.
  // Blocking; allocates.
  ShardedCounter& sharded_counter(std::string_view name, std::string_view help, Unit unit = Unit::none,
                                  Labels labels = {},
                                  std::size_t shards = ShardedCounter::default_shard_count()) {
    auto metric = std::make_shared<ShardedCounter>(shards);
    add({spec(name, help, MetricType::counter, unit)}, std::move(labels),
        [metric, unit](RegistrySnapshot& s, const std::vector<Slot>& at) {
          sample_at(s, at[0]).value = detail::scaled(metric->value(), unit);
        });
    return *metric;
  }

  // Registers a Gauge<T> series (T = std::int64_t, std::uint64_t, double...)
  // and returns it. Throws as counter(). Thread: control. Blocking; allocates.
  template <MetricValue T = double>
  Gauge<T>& gauge(std::string_view name, std::string_view help, Unit unit = Unit::none, Labels labels = {}) {
    auto metric = std::make_shared<Gauge<T>>();
    add({spec(name, help, MetricType::gauge, unit)}, std::move(labels),
        [metric, unit](RegistrySnapshot& s, const std::vector<Slot>& at) {
          sample_at(s, at[0]).value = detail::scaled(metric->value(), unit);
        });
    return *metric;
  }

  // Registers a MaxGauge<T> series, exposed as a gauge holding value(): the
  // maximum since construction or the owner's last take_and_reset() (the
  // registry never resets it). Throws as counter(). Thread: control.
  // Blocking; allocates.
  template <MetricValue T = std::uint64_t>
  MaxGauge<T>& max_gauge(std::string_view name, std::string_view help, Unit unit = Unit::none,
                         Labels labels = {}) {
    auto metric = std::make_shared<MaxGauge<T>>();
    add({spec(name, help, MetricType::gauge, unit)}, std::move(labels),
        [metric, unit](RegistrySnapshot& s, const std::vector<Slot>& at) {
          sample_at(s, at[0]).value = detail::scaled(metric->value(), unit);
        });
    return *metric;
  }

  // Registers a Histogram over `layout` (in `unit`, usually nanoseconds) and
  // returns it. The exposition shows `buckets_per_octave` cumulative buckets
  // per power of two (a power of two; at or above layout.sub_buckets() every
  // bucket shows), plus the highest bucket and +Inf: Prometheus stores each
  // bucket as a time series, and a fine layout has hundreds. Count, sum,
  // min, max and percentiles keep the full resolution. Every series of one
  // family has the same layout and buckets_per_octave. Snapshots use
  // Histogram::snapshot(), never a reset: Prometheus histograms only grow.
  // Throws as counter(), and on a bad buckets_per_octave. Thread: control.
  // Blocking; allocates.
  Histogram& histogram(std::string_view name, std::string_view help, Unit unit, const HistogramLayout& layout,
                       Labels labels = {}, std::uint32_t buckets_per_octave = 4) {
    if (buckets_per_octave == 0 || !std::has_single_bit(buckets_per_octave))
      detail::registry_error(name, "buckets_per_octave must be a power of two");
    auto metric = std::make_shared<Histogram>(layout);
    Spec s = spec(name, help, MetricType::histogram, unit);
    s.layout = layout;
    s.buckets_per_octave = buckets_per_octave;
    add({std::move(s)}, std::move(labels),
        [metric, unit, exposed = detail::exposed_buckets(layout, buckets_per_octave)](
            RegistrySnapshot& snap, const std::vector<Slot>& at) {
          const HistogramSnapshot h = metric->snapshot();
          HistogramSample& out = sample_at(snap, at[0]).histogram;
          out.count = h.count();
          out.sum = detail::scaled(h.sum(), unit);
          out.min = detail::scaled(h.min(), unit);
          out.max = detail::scaled(h.max(), unit);
          out.p50 = detail::scaled(h.p50(), unit);
          out.p90 = detail::scaled(h.p90(), unit);
          out.p99 = detail::scaled(h.p99(), unit);
          out.p999 = detail::scaled(h.p999(), unit);
          const auto cumulative = h.cumulative_buckets();
          out.buckets.reserve(exposed.size());
          for (std::size_t i : exposed)
            out.buckets.push_back(
                {detail::scaled(cumulative[i].upper_bound, unit), cumulative[i].cumulative_count});
        });
    return *metric;
  }

  // Registers a StageTimer (which records nanoseconds) as three families:
  //   <prefix>_seconds_total  counter  total time in the stage
  //   <prefix>_calls_total    counter  calls recorded
  //   <prefix>_max_seconds    gauge    the longest call
  // all read from one StageTimer::snapshot() (never a reset: the counters
  // only grow). Name the stage with labels to share the families, e.g.
  // stage_timer("pipeline_stage", "Pipeline stage time", {{"stage", "mix"}}).
  // Throws as counter() for any of the three names. Thread: control.
  // Blocking; allocates.
  StageTimer& stage_timer(std::string_view prefix, std::string_view help, Labels labels = {}) {
    auto metric = std::make_shared<StageTimer>(prefix);
    const std::string p(prefix);
    const std::string h(help);
    add({spec(p + "_seconds_total", h + " (total time)", MetricType::counter, Unit::nanoseconds),
         spec(p + "_calls_total", h + " (calls)", MetricType::counter, Unit::none),
         spec(p + "_max_seconds", h + " (longest call)", MetricType::gauge, Unit::nanoseconds)},
        std::move(labels), [metric](RegistrySnapshot& s, const std::vector<Slot>& at) {
          const StageTimer::Snapshot t = metric->snapshot();
          sample_at(s, at[0]).value = detail::scaled(t.total_ns, Unit::nanoseconds);
          sample_at(s, at[1]).value = detail::scaled(t.count, Unit::none);
          sample_at(s, at[2]).value = detail::scaled(t.max_ns, Unit::nanoseconds);
        });
    return *metric;
  }

  // Registers a PipelineStatus owned by the registry and returns it; see the
  // overload below for what is exposed. Thread: control. Blocking; allocates.
  PipelineStatus& pipeline_status(std::string_view prefix, double chunk_seconds = 0.0, Labels labels = {}) {
    auto metric = std::make_shared<PipelineStatus>();
    add_pipeline_status(prefix, metric, *metric, chunk_seconds, std::move(labels));
    return *metric;
  }

  // Registers a PipelineStatus the caller owns. Precondition: `status`
  // outlives every later snapshot() of this registry. Exposes, from one
  // PipelineStatus::snapshot():
  //   <prefix>_audio_lag_seconds             gauge
  //   <prefix>_inference_duration_seconds    gauge (the latest chunk)
  //   <prefix>_chunks_total                  counter (dropped ones included)
  //   <prefix>_dropped_chunks_total          counter
  //   <prefix>_drop_ratio                    gauge, Snapshot::drop_rate()
  //   <prefix>_real_time_factor              gauge, Snapshot::real_time_factor(chunk_seconds),
  //                                          only when chunk_seconds > 0
  // Throws as counter(), and when chunk_seconds is negative or not finite.
  // Thread: control. Blocking; allocates.
  void pipeline_status(std::string_view prefix, const PipelineStatus& status, double chunk_seconds = 0.0,
                       Labels labels = {}) {
    add_pipeline_status(prefix, nullptr, status, chunk_seconds, std::move(labels));
  }

  // Registers a gauge whose value `read()` computes at each snapshot, in
  // `unit`: for figures derived from other state (rates, ratios, a queue's
  // approximate size). read runs on the snapshotting thread with the registry
  // locked: it must not call into this registry, and an exception from it
  // propagates out of snapshot(). Throws as counter(), and when read is
  // empty. Thread: control. Blocking; allocates.
  void callback_gauge(std::string_view name, std::string_view help, Unit unit, std::function<double()> read,
                      Labels labels = {}) {
    if (!read) detail::registry_error(name, "the callback is empty");
    add({spec(name, help, MetricType::gauge, unit)}, std::move(labels),
        [fn = std::move(read), unit](RegistrySnapshot& s, const std::vector<Slot>& at) {
          sample_at(s, at[0]).value = detail::scaled(fn(), unit);
        });
  }

  // Reads every metric once, in registration order, into a plain snapshot:
  // composite metrics (StageTimer, PipelineStatus) are read once for all
  // their families, so figures derived within one agree. Thread: control.
  // Blocking (see (2) at the top); allocates the snapshot.
  RegistrySnapshot snapshot() const {
    std::lock_guard<std::mutex> lock(mutex_);
    RegistrySnapshot out;
    out.families.reserve(families_.size());
    for (const Family& f : families_) {
      FamilySnapshot& fs = out.families.emplace_back();
      fs.name = f.name;
      fs.help = f.help;
      fs.type = f.type;
      fs.unit = f.unit;
      fs.samples.resize(f.series.size());
      for (std::size_t i = 0; i < f.series.size(); ++i) fs.samples[i].labels = f.series[i];
    }
    for (const Collector& c : collectors_) c.collect(out, c.slots);
    return out;
  }

  // to_prometheus(snapshot()) and to_json(snapshot()). Thread: control.
  // Blocking; allocates.
  std::string prometheus() const { return to_prometheus(snapshot()); }
  std::string json() const { return to_json(snapshot()); }

 private:
  // Where one series lives in a snapshot.
  struct Slot {
    std::size_t family;
    std::size_t series;
  };
  using Collect = std::function<void(RegistrySnapshot&, const std::vector<Slot>&)>;
  struct Collector {
    std::vector<Slot> slots;  // one per family the metric feeds, in Spec order
    Collect collect;          // owns the metric (shared_ptr capture) or points at it
  };
  // What a registration says about a family.
  struct Spec {
    std::string name;
    std::string help;
    MetricType type;
    Unit unit;
    std::optional<HistogramLayout> layout;
    std::uint32_t buckets_per_octave = 0;
  };
  struct Family {
    std::string name;
    std::string help;
    MetricType type;
    Unit unit;
    std::optional<HistogramLayout> layout;
    std::uint32_t buckets_per_octave;
    std::vector<std::string> label_names;  // sorted
    std::vector<Labels> series;            // each sorted by name, in registration order
  };

  static Spec spec(std::string_view name, std::string_view help, MetricType type, Unit unit) {
    return Spec{std::string(name), std::string(help), type, unit, std::nullopt, 0};
  }

  static Sample& sample_at(RegistrySnapshot& s, Slot at) { return s.families[at.family].samples[at.series]; }

  static std::string render_labels(const Labels& labels) {
    std::string out;
    detail::append_prometheus_labels(out, labels);
    return out.empty() ? "{}" : out;
  }

  static std::string join(const std::vector<std::string>& names) {
    std::string out = "(";
    for (std::size_t i = 0; i < names.size(); ++i) out += (i == 0 ? "" : ", ") + names[i];
    return out + ")";
  }

  void add_pipeline_status(std::string_view prefix, std::shared_ptr<PipelineStatus> owned,
                           const PipelineStatus& status, double chunk_seconds, Labels labels) {
    if (!std::isfinite(chunk_seconds) || chunk_seconds < 0.0)
      detail::registry_error(prefix,
                             "chunk_seconds must be finite and not negative (0: no real-time factor)");
    const std::string p(prefix);
    std::vector<Spec> specs{
        spec(p + "_audio_lag_seconds", "How far processing trails the audio (negative: ahead)",
             MetricType::gauge, Unit::milliseconds),
        spec(p + "_inference_duration_seconds", "Inference time of the latest chunk", MetricType::gauge,
             Unit::milliseconds),
        spec(p + "_chunks_total", "Chunks seen, dropped ones included", MetricType::counter, Unit::none),
        spec(p + "_dropped_chunks_total", "Chunks dropped", MetricType::counter, Unit::none),
        spec(p + "_drop_ratio", "Dropped chunks over all chunks (0 before the first chunk)",
             MetricType::gauge, Unit::ratio),
    };
    const bool rtf = chunk_seconds > 0.0;
    if (rtf) {
      specs.push_back(spec(p + "_real_time_factor",
                           "Inference time over chunk length (below 1: faster than real time)",
                           MetricType::gauge, Unit::none));
    }
    add(std::move(specs), std::move(labels),
        [keep = std::move(owned), source = &status, chunk_seconds, rtf](RegistrySnapshot& s,
                                                                        const std::vector<Slot>& at) {
          const PipelineStatus::Snapshot now = source->snapshot();
          sample_at(s, at[0]).value = detail::scaled(now.audio_lag_ms, Unit::milliseconds);
          sample_at(s, at[1]).value = detail::scaled(now.inference_time_ms, Unit::milliseconds);
          sample_at(s, at[2]).value = now.total_chunks;
          sample_at(s, at[3]).value = now.dropped_chunks;
          sample_at(s, at[4]).value = now.drop_rate();
          if (rtf) sample_at(s, at[5]).value = now.real_time_factor(chunk_seconds);
        });
  }

  // Validates the series `labels` in every family of `specs`, then adds it to
  // each (creating the families that do not exist yet) and keeps `collect`.
  // All or nothing: any error throws before the first change.
  void add(std::vector<Spec> specs, Labels labels, Collect collect) {
    for (const Spec& s : specs) {
      detail::check_metric_name(s.name, s.type, s.unit);
      if (s.help.empty()) detail::registry_error(s.name, "the help text is empty");
      if (!detail::valid_utf8(s.help)) detail::registry_error(s.name, "the help text is not valid UTF-8");
    }
    labels = detail::checked_labels(specs.front().name, std::move(labels));
    std::vector<std::string> label_names;
    for (const Label& l : labels) label_names.push_back(l.name);

    std::lock_guard<std::mutex> lock(mutex_);
    constexpr std::size_t fresh_family = static_cast<std::size_t>(-1);
    std::vector<std::size_t> index(specs.size(), fresh_family);
    for (std::size_t k = 0; k < specs.size(); ++k) {
      const Spec& s = specs[k];
      const auto it =
          std::find_if(families_.begin(), families_.end(), [&](const Family& f) { return f.name == s.name; });
      if (it == families_.end()) continue;
      const Family& f = *it;
      const std::string already = "is already registered ";
      if (f.type != s.type)
        detail::registry_error(s.name, already + "as a " + std::string(type_name(f.type)) + ", not a " +
                                           std::string(type_name(s.type)));
      if (f.help != s.help) detail::registry_error(s.name, already + "with different help text");
      if (f.unit != s.unit)
        detail::registry_error(s.name, already + "with unit " + std::string(unit_name(f.unit)) + ", not " +
                                           std::string(unit_name(s.unit)));
      if (f.label_names != label_names)
        detail::registry_error(
            s.name, already + "with label names " + join(f.label_names) + ", not " + join(label_names));
      if (f.layout != s.layout || f.buckets_per_octave != s.buckets_per_octave)
        detail::registry_error(s.name, already + "with a different histogram layout or buckets_per_octave");
      if (std::find(f.series.begin(), f.series.end(), labels) != f.series.end())
        detail::registry_error(s.name, already + "with labels " + render_labels(labels));
      index[k] = static_cast<std::size_t>(it - families_.begin());
    }

    // Everything that may throw (allocation) happens before the first change,
    // so a failure leaves the registry as it was.
    std::vector<Family> fresh;
    for (std::size_t k = 0; k < specs.size(); ++k) {
      if (index[k] != fresh_family) continue;
      Spec& s = specs[k];
      index[k] = families_.size() + fresh.size();
      fresh.push_back(Family{std::move(s.name),
                             std::move(s.help),
                             s.type,
                             s.unit,
                             s.layout,
                             s.buckets_per_octave,
                             label_names,
                             {}});
    }
    std::vector<Labels> series(specs.size(), labels);
    std::vector<Slot> slots;
    slots.reserve(specs.size());
    families_.reserve(families_.size() + fresh.size());
    for (std::size_t k = 0; k < specs.size(); ++k) {
      if (index[k] < families_.size()) {
        std::vector<Labels>& existing = families_[index[k]].series;
        existing.reserve(existing.size() + 1);
        slots.push_back({index[k], existing.size()});
      } else {
        slots.push_back({index[k], 0});
      }
    }
    collectors_.reserve(collectors_.size() + 1);

    // Only moves into reserved storage from here on: nothing throws.
    for (Family& f : fresh) families_.push_back(std::move(f));
    for (std::size_t k = 0; k < specs.size(); ++k) families_[index[k]].series.push_back(std::move(series[k]));
    collectors_.push_back(Collector{std::move(slots), std::move(collect)});
  }

  mutable std::mutex mutex_;  // guards families_ and collectors_; never taken by real-time code
  std::vector<Family> families_;
  std::vector<Collector> collectors_;
};

}  // namespace nowait
