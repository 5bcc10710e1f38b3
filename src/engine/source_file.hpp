// nowait engine, internal: the file source behind make_source("file:<path>").
// Its behaviour is documented with make_source() in source.hpp.
#pragma once

#include <memory>
#include <string>

#include "engine/format.hpp"
#include "engine/source.hpp"

namespace nowait::engine::detail {

// Opens `path` with libsndfile and builds its source, with a libsamplerate
// converter when the file's rate differs from format.sample_rate. `spec` is
// only used in error messages. Throws SourceError. Thread: control. Blocking;
// allocates every buffer the source uses.
std::unique_ptr<Source> make_file_source(const std::string& spec, const std::string& path,
                                         const StreamFormat& format, bool loop);

}  // namespace nowait::engine::detail
