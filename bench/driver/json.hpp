// bench/driver/json.hpp: the few lines of JSON the driver writes. Numbers that
// are not finite (a ratio with no qualifying round) are written as null.
#pragma once

#include <cmath>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace nwbench {

class Json {
 public:
  Json() = default;  // null
  Json(double v) : kind_(Kind::number), number_(v) {}
  Json(int v) : Json(static_cast<double>(v)) {}
  Json(long v) : Json(static_cast<double>(v)) {}
  Json(unsigned long v) : Json(static_cast<double>(v)) {}
  Json(long long v) : Json(static_cast<double>(v)) {}
  Json(unsigned long long v) : Json(static_cast<double>(v)) {}
  Json(bool v) : kind_(Kind::boolean), boolean_(v) {}
  Json(std::string v) : kind_(Kind::string), string_(std::move(v)) {}
  Json(const char* v) : Json(std::string(v)) {}

  static Json object() {
    Json j;
    j.kind_ = Kind::object;
    return j;
  }
  static Json array() {
    Json j;
    j.kind_ = Kind::array;
    return j;
  }

  // Object: appends key (keys keep their insertion order).
  Json& set(std::string key, Json value) {
    members_.emplace_back(std::move(key), std::move(value));
    return *this;
  }
  // Array: appends value.
  Json& push(Json value) {
    members_.emplace_back(std::string(), std::move(value));
    return *this;
  }

  std::string dump(int indent = 0) const {
    std::string out;
    write(out, indent, 0);
    return out;
  }

 private:
  enum class Kind { null, boolean, number, string, array, object };

  static void quote(std::string& out, const std::string& s) {
    out += '"';
    for (const char c : s) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof(buf), "\\u%04x", c);
            out += buf;
          } else {
            out += c;
          }
      }
    }
    out += '"';
  }

  void write(std::string& out, int indent, int depth) const {
    const std::string pad =
        indent > 0 ? "\n" + std::string(static_cast<std::size_t>(indent * (depth + 1)), ' ') : "";
    const std::string end =
        indent > 0 ? "\n" + std::string(static_cast<std::size_t>(indent * depth), ' ') : "";
    switch (kind_) {
      case Kind::null:
        out += "null";
        return;
      case Kind::boolean:
        out += boolean_ ? "true" : "false";
        return;
      case Kind::number: {
        if (!std::isfinite(number_)) {
          out += "null";
          return;
        }
        char buf[32];
        std::snprintf(buf, sizeof(buf), "%.10g", number_);
        out += buf;
        return;
      }
      case Kind::string:
        quote(out, string_);
        return;
      case Kind::array:
      case Kind::object: {
        const bool obj = kind_ == Kind::object;
        out += obj ? '{' : '[';
        // Arrays of scalars stay on one line: run lists are long.
        bool flat = !obj;
        for (const auto& m : members_)
          if (m.second.kind_ == Kind::array || m.second.kind_ == Kind::object) flat = false;
        bool first = true;
        for (const auto& [key, value] : members_) {
          if (!first) out += ',';
          first = false;
          if (!flat) out += pad;
          if (obj) {
            quote(out, key);
            out += indent > 0 ? ": " : ":";
          }
          value.write(out, indent, depth + 1);
        }
        if (!flat && !members_.empty()) out += end;
        out += obj ? '}' : ']';
        return;
      }
    }
  }

  Kind kind_ = Kind::null;
  bool boolean_ = false;
  double number_ = 0;
  std::string string_;
  std::vector<std::pair<std::string, Json>> members_;
};

}  // namespace nwbench
