#pragma once
// `meshproof render [-f SPEC] [--out DIR]`: writes the monitoring files rendered from the spec
// (render/render.h) under DIR (default monitoring/). All files are written into a staging
// directory inside DIR first and renamed into place only when every one was written, so an
// unwritable DIR or a full disk leaves DIR as it was. Exit 0 ok, 2 on a bad spec or an output
// that cannot be written.

#include <iosfwd>
#include <string>
#include <vector>

#include "meshproof/core/result.h"
#include "meshproof/spec/spec.h"

namespace meshproof::cli {

struct RenderCommandOptions {
  std::vector<std::string> spec_paths;
  std::string out = "monitoring";
};

// Writes the Sprint's alerts in the lab profile (what `render` writes to
// prometheus/rules/<sprint>-lab.yaml) to RUN_DIR/rules/, for a Prometheus that watches the local
// mesh; the file's absolute path. Errors: no Sprint, an unwritable directory.
core::Result<std::string> writeLabRules(const spec::Spec& spec, const std::string& run_dir);

int renderCommand(const RenderCommandOptions& options, std::ostream& out, std::ostream& err);

} // namespace meshproof::cli
