// nowait server: the dashboard's files (web/), embedded in the binary at build
// time by cmake/embed_assets.cmake, so `nowait run` needs no files beside it.
#pragma once

#include <span>
#include <string_view>

namespace nowait::server {

struct Asset {
  std::string_view path;  // "/index.html", "/app.js", ...
  std::string_view content_type;
  std::string_view body;
};

// Every file of web/, in name order. Thread: any. No allocation.
std::span<const Asset> web_assets() noexcept;

}  // namespace nowait::server
