// bench/driver/common.hpp: what the bench executables' main()s share: the
// compiler that built them, as the results' file names and JSON spell it
// ("gcc-12.2", "clang-22.0"), the machine's CPU and load, and comma-separated
// flag values.
#pragma once

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace nwbench {

#define NWB_STR2(x) #x
#define NWB_STR(x) NWB_STR2(x)
#if defined(__clang__)
inline constexpr const char* compiler_slug = "clang-" NWB_STR(__clang_major__) "." NWB_STR(__clang_minor__);
#elif defined(__GNUC__)
inline constexpr const char* compiler_slug = "gcc-" NWB_STR(__GNUC__) "." NWB_STR(__GNUC_MINOR__);
#else
inline constexpr const char* compiler_slug = "unknown-compiler";
#endif
#undef NWB_STR
#undef NWB_STR2

// The 1-minute load average: other work on the machine skews every figure.
// Thread: any. Blocking (reads /proc).
inline double load_average() {
  std::ifstream in("/proc/loadavg");
  double load = std::nan("");
  in >> load;
  return load;
}

// /proc/cpuinfo's first "model name", or "unknown CPU". Thread: any. Blocking.
inline std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string m = line.substr(colon + 1);
    m.erase(0, m.find_first_not_of(" \t"));
    return m;
  }
  return "unknown CPU";
}

// "a,b,,c" -> {"a", "b", "c"}. Thread: any. Allocates.
inline std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

}  // namespace nwbench
