// bench/driver/common.hpp: what the bench executables' main()s share: the
// compiler that built them, as the results' file names and JSON spell it
// ("gcc-12.2", "clang-22.0"), and comma-separated flag values.
#pragma once

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

// "a,b,,c" -> {"a", "b", "c"}. Thread: any. Allocates.
inline std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

}  // namespace nwbench
