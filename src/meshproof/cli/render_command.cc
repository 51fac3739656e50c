#include "meshproof/cli/render_command.h"

#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <ostream>
#include <system_error>

#include "meshproof/cli/app.h"
#include "meshproof/cli/spec_input.h"
#include "meshproof/core/result.h"
#include "meshproof/render/render.h"

namespace meshproof::cli {
namespace {

namespace fs = std::filesystem;

core::Status writeFile(const fs::path& path, const std::string& content) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) {
    return core::ioError("cannot create " + path.parent_path().string() + ": " + ec.message());
  }
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << content;
  f.flush();
  if (!f) {
    return core::ioError("cannot write " + path.string() + ": " + std::strerror(errno));
  }
  return core::Status::ok();
}

// Writes `files` under `out`: staged in out/.meshproof-render-XXXXXX, then renamed into place.
core::Status writeAll(const fs::path& out, const std::vector<render::RenderedFile>& files) {
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec || !fs::is_directory(out)) {
    return core::ioError("cannot create the output directory " + out.string() + ": " +
                         (ec ? ec.message() : "not a directory"));
  }
  std::string tmpl = (out / ".meshproof-render-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    return core::ioError("cannot write to the output directory " + out.string() + ": " +
                         std::strerror(errno));
  }
  const fs::path staging = tmpl;
  auto cleanup = [&] { fs::remove_all(staging, ec); };
  for (const render::RenderedFile& f : files) {
    if (core::Status s = writeFile(staging / f.path, f.content); !s.isOk()) {
      cleanup();
      return s;
    }
  }
  // Every target directory exists and is writable before the first rename, so the renames (within
  // one filesystem) cannot stop half-way.
  for (const render::RenderedFile& f : files) {
    const fs::path target = out / f.path;
    fs::create_directories(target.parent_path(), ec);
    if (ec || ::access(target.parent_path().c_str(), W_OK) != 0 || fs::is_directory(target)) {
      cleanup();
      return core::ioError("cannot write " + target.string() + ": " +
                           (ec                         ? ec.message()
                            : fs::is_directory(target) ? "a directory is in the way"
                                                       : std::strerror(errno)));
    }
  }
  for (const render::RenderedFile& f : files) {
    const fs::path target = out / f.path;
    { fs::rename(staging / f.path, target, ec); }
    if (ec) {
      cleanup();
      return core::ioError("cannot move " + f.path + " into " + out.string() + ": " + ec.message());
    }
  }
  cleanup();
  return core::Status::ok();
}

} // namespace

core::Result<std::string> writeLabRules(const spec::Spec& spec, const std::string& run_dir) {
  if (!spec.sprint) {
    return core::invalidArgument("the spec has no Sprint, so no alerts");
  }
  const fs::path path =
      fs::absolute(fs::path(run_dir) / "rules" / (spec.sprint->name + "-lab.yaml"));
  if (core::Status s = writeFile(path, render::renderRules(spec, render::labProfile()));
      !s.isOk()) {
    return s;
  }
  return path.string();
}

int renderCommand(const RenderCommandOptions& options, std::ostream& out, std::ostream& err) {
  auto sources = readSpecSources(options.spec_paths);
  if (!sources) {
    err << "meshproof render: " << sources.status().message() << '\n';
    return kExitUsage;
  }
  spec::LoadResult loaded = spec::load(*sources);
  for (const spec::Diagnostic& d : loaded.diagnostics) {
    if (d.severity == spec::Severity::Error) {
      err << d.format() << '\n';
    }
  }
  if (!loaded.spec) {
    err << "meshproof render: the spec has errors; nothing written\n";
    return kExitUsage;
  }
  const std::vector<render::RenderedFile> files = render::renderAll(*loaded.spec, *sources);
  if (core::Status s = writeAll(options.out, files); !s.isOk()) {
    err << "meshproof render: " << s.message() << "; nothing written\n";
    return kExitUsage;
  }
  std::map<std::string, int> per_dir;
  for (const render::RenderedFile& f : files) {
    per_dir[f.path.substr(0, f.path.find('/'))]++;
  }
  out << "meshproof render: wrote " << files.size() << " files to " << options.out << " (";
  bool first = true;
  for (const auto& [dir, n] : per_dir) {
    out << (first ? "" : ", ") << dir << (dir.find('.') == std::string::npos ? "/ " : " ") << n;
    first = false;
  }
  out << ")\n";
  if (!loaded.spec->sprint) {
    out << "meshproof render: the spec has no Sprint, so no alerts or dashboards\n";
  }
  return kExitOk;
}

} // namespace meshproof::cli
