#include "meshproof/evidence/ledger.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "meshproof/core/time.h"
#include "meshproof/evidence/format.h"
#include "meshproof/evidence/merkle.h"

namespace meshproof::evidence {

namespace fs = std::filesystem;

namespace {

std::string sysError(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

class Fd {
public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }

private:
  int fd_;
};

core::Status fsyncDir(const fs::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.ok() || ::fsync(fd.get()) != 0) {
    return core::ioError(sysError("fsync " + dir.string()));
  }
  return core::Status::ok();
}

core::Status writeAll(int fd, std::string_view bytes, const std::string& what) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return core::ioError(sysError("write " + what));
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return core::Status::ok();
}

// Creates `dir` and its missing parents, fsyncing each parent that gained an entry.
core::Status makeDirs(const fs::path& dir) {
  std::error_code ec;
  if (fs::is_directory(dir, ec)) {
    return core::Status::ok();
  }
  if (dir.has_parent_path() && dir.parent_path() != dir) {
    if (auto st = makeDirs(dir.parent_path()); !st.isOk()) {
      return st;
    }
  }
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return core::ioError(sysError("mkdir " + dir.string()));
  }
  return dir.has_parent_path() ? fsyncDir(dir.parent_path()) : core::Status::ok();
}

// Writes `bytes` to `path` through `path.tmp`, fsync, rename, fsync of the directory.
core::Status replaceFile(const fs::path& path, std::string_view bytes) {
  const fs::path tmp = path.string() + ".tmp";
  {
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd.ok()) {
      return core::ioError(sysError("create " + tmp.string()));
    }
    if (auto st = writeAll(fd.get(), bytes, tmp.string()); !st.isOk()) {
      return st;
    }
    if (::fsync(fd.get()) != 0) {
      return core::ioError(sysError("fsync " + tmp.string()));
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return core::ioError(sysError("rename " + tmp.string()));
  }
  return fsyncDir(path.parent_path());
}

std::string readFile(const fs::path& path) {
  return readFileBytes(path.string()).value_or("");
}

// Copies an artifact into the staging file (fsynced), hashing it on the way.
core::Result<FileDigest> stage(const NewArtifact& a, const fs::path& staged) {
  Fd out(::open(staged.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!out.ok()) {
    return core::ioError(sysError("create " + staged.string()));
  }
  Sha256 h;
  FileDigest d;
  if (a.source.empty()) {
    h.update(a.content.data(), a.content.size());
    d.size = a.content.size();
    if (auto st = writeAll(out.get(), a.content, staged.string()); !st.isOk()) {
      return st;
    }
  } else {
    Fd in(::open(a.source.c_str(), O_RDONLY | O_CLOEXEC));
    if (!in.ok()) {
      return core::notFound(sysError(a.source));
    }
    std::vector<char> buf(size_t{1} << 20);
    for (;;) {
      const ssize_t n = ::read(in.get(), buf.data(), buf.size());
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n < 0) {
        return core::ioError(sysError("read " + a.source));
      }
      if (n == 0) {
        break;
      }
      h.update(buf.data(), static_cast<size_t>(n));
      d.size += static_cast<uint64_t>(n);
      if (auto st = writeAll(out.get(), std::string_view(buf.data(), static_cast<size_t>(n)),
                             staged.string());
          !st.isOk()) {
        return st;
      }
    }
  }
  if (::fsync(out.get()) != 0) {
    return core::ioError(sysError("fsync " + staged.string()));
  }
  d.digest = h.finish();
  return d;
}

// Staged files are named "<seq>-<basename>".
std::optional<uint64_t> stagedSeq(const std::string& name) {
  const size_t dash = name.find('-');
  if (dash == 0 || dash == std::string::npos) {
    return std::nullopt;
  }
  uint64_t seq = 0;
  for (size_t i = 0; i < dash; ++i) {
    if (name[i] < '0' || name[i] > '9') {
      return std::nullopt;
    }
    seq = seq * 10 + static_cast<uint64_t>(name[i] - '0');
  }
  return seq;
}

std::string baseName(std::string_view path) {
  const size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

} // namespace

core::Result<Record> parseRecord(std::string_view line) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception&) {
    return core::invalidArgument("not JSON");
  }
  if (!j.is_object()) {
    return core::invalidArgument("not a JSON object");
  }
  Record r;
  auto need = [&](const char* field, auto& out) -> core::Status {
    auto it = j.find(field);
    using T = std::decay_t<decltype(out)>;
    if (it == j.end()) {
      return core::invalidArgument(std::string("field \"") + field + "\" is missing");
    }
    if constexpr (std::is_same_v<T, std::string>) {
      if (!it->is_string()) {
        return core::invalidArgument(std::string("field \"") + field + "\" is not a string");
      }
    } else {
      if (!it->is_number_unsigned()) {
        return core::invalidArgument(std::string("field \"") + field +
                                     "\" is not a non-negative integer");
      }
    }
    out = it->get<T>();
    return core::Status::ok();
  };
  uint64_t v = 0;
  for (core::Status st : {need("v", v), need("seq", r.seq), need("ts", r.ts),
                          need("sprint", r.sprint), need("kind", r.kind), need("path", r.path),
                          need("size", r.size), need("sha256", r.sha256), need("prev", r.prev)}) {
    if (!st.isOk()) {
      return st;
    }
  }
  r.v = static_cast<int>(v);
  return r;
}

std::string formatRecord(const Record& r) {
  nlohmann::ordered_json j;
  j["v"] = r.v;
  j["seq"] = r.seq;
  j["ts"] = r.ts;
  j["sprint"] = r.sprint;
  j["kind"] = r.kind;
  j["path"] = r.path;
  j["size"] = r.size;
  j["sha256"] = r.sha256;
  j["prev"] = r.prev;
  return j.dump();
}

std::string formatLedgerTime(core::WallTime t) {
  const std::string us = core::formatIso8601(t); // "...:SS.ffffffZ"
  return us.substr(0, us.size() - 4) + "Z";
}

bool validLedgerTime(std::string_view ts) {
  static constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (ts.size() != kShape.size()) {
    return false;
  }
  for (size_t i = 0; i < ts.size(); ++i) {
    const bool digit = ts[i] >= '0' && ts[i] <= '9';
    if (kShape[i] == 'd' ? !digit : ts[i] != kShape[i]) {
      return false;
    }
  }
  return core::parseIso8601(ts).isOk();
}

bool validArtifactPath(std::string_view path) {
  if (path.empty() || path.front() == '/' || path.find('\\') != std::string_view::npos) {
    return false;
  }
  size_t start = 0;
  bool first = true;
  for (;;) {
    const size_t slash = path.find('/', start);
    const std::string_view seg = path.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (seg.empty() || seg == "." || seg == ".." || (first && seg == kStagingDir)) {
      return false;
    }
    for (char c : seg) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        return false;
      }
    }
    first = false;
    if (slash == std::string_view::npos) {
      return true;
    }
    start = slash + 1;
  }
}

core::Result<LedgerLines> readLedger(const std::string& dir) {
  LedgerLines out;
  const fs::path path = fs::path(dir) / kLedgerFile;
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return out;
  }
  const std::optional<std::string> read = readFileBytes(path.string());
  if (!read) {
    return core::unavailable(path.string() + ": cannot read");
  }
  const std::string& bytes = *read;
  uint64_t start = 0;
  for (;;) {
    const size_t nl = bytes.find('\n', start);
    if (nl == std::string::npos) {
      if (start < bytes.size()) {
        out.torn_at = start;
        out.torn_bytes = bytes.size() - start;
      }
      return out;
    }
    out.lines.push_back(bytes.substr(start, nl - start));
    out.offsets.push_back(start);
    start = nl + 1;
  }
}

std::optional<std::string> readFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return std::nullopt;
  }
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string originOf(std::string_view sprint) {
  return std::string(kOriginPrefix) + std::string(sprint);
}

core::Result<AppendResult> append(const AppendOptions& options,
                                  const std::vector<NewArtifact>& artifacts, core::Clock& clock) {
  const fs::path dir(options.dir);
  const std::string sprint = options.sprint.empty()
                                 ? fs::absolute(dir).lexically_normal().filename().string()
                                 : options.sprint;
  if (sprint.empty() || !validKeyName(sprint)) {
    return core::invalidArgument("sprint name \"" + sprint + "\" is empty or has a space or '+'");
  }
  const std::string origin = originOf(sprint);
  if (options.signer.name != origin) {
    return core::invalidArgument("the signing key is named \"" + options.signer.name +
                                 "\", this ledger's origin is \"" + origin + "\"");
  }
  const fs::path artifacts_dir = dir / kArtifactDir;
  const fs::path staging = artifacts_dir / kStagingDir;
  for (const fs::path& d : {dir, artifacts_dir, staging, dir / kCheckpointDir}) {
    if (auto st = makeDirs(d); !st.isOk()) {
      return st;
    }
  }
  const fs::path lock_path = dir / kLockFile;
  Fd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!lock.ok() || ::flock(lock.get(), LOCK_EX) != 0) {
    return core::ioError(sysError("lock " + lock_path.string()));
  }
  AppendResult result;

  // 1. What a crashed writer left.
  auto ledger = readLedger(options.dir);
  if (!ledger) {
    return ledger.status();
  }
  const fs::path ledger_path = dir / kLedgerFile;
  std::optional<std::string> repair_note;
  if (ledger->torn_at) {
    const std::string bytes = readFile(ledger_path);
    const std::string torn = bytes.substr(*ledger->torn_at);
    if (::truncate(ledger_path.c_str(), static_cast<off_t>(*ledger->torn_at)) != 0) {
      return core::ioError(sysError("truncate " + ledger_path.string()));
    }
    Fd fd(::open(ledger_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.ok() || ::fsync(fd.get()) != 0) {
      return core::ioError(sysError("fsync " + ledger_path.string()));
    }
    repair_note = nlohmann::ordered_json{{"truncatedAt", *ledger->torn_at},
                                         {"bytes", torn.size()},
                                         {"sha256", toHex(sha256(torn))},
                                         {"reason", "an uncommitted torn last line"}}
                      .dump(2) +
                  "\n";
    result.recovered.push_back("truncated a torn last line at byte " +
                               std::to_string(*ledger->torn_at));
  }
  std::vector<Digest> leaves;
  std::vector<Record> records;
  std::set<std::string> paths;
  for (size_t i = 0; i < ledger->lines.size(); ++i) {
    auto r = parseRecord(ledger->lines[i]);
    if (!r || r->seq != i) {
      return core::invalidArgument(ledger_path.string() + ": line " + std::to_string(i + 1) +
                                   " is not record " + std::to_string(i) +
                                   "; run `meshproof evidence verify` (no append on a damaged "
                                   "ledger)");
    }
    leaves.push_back(leafHash(ledger->lines[i]));
    paths.insert(r->path);
    records.push_back(std::move(r).value());
  }
  // Committed records whose file is still staged: roll forward. Staged files of no record: drop.
  std::set<fs::path> touched;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(staging, ec)) {
    const std::string name = entry.path().filename().string();
    const auto seq = stagedSeq(name);
    if (seq && *seq < records.size() &&
        baseName(records[*seq].path) == name.substr(name.find('-') + 1)) {
      const fs::path final_path = artifacts_dir / records[*seq].path;
      if (!fs::exists(final_path, ec)) {
        if (auto st = makeDirs(final_path.parent_path()); !st.isOk()) {
          return st;
        }
        if (::rename(entry.path().c_str(), final_path.c_str()) != 0) {
          return core::ioError(sysError("rename " + entry.path().string()));
        }
        touched.insert(final_path.parent_path());
        result.recovered.push_back("moved committed artifact " + records[*seq].path +
                                   " into place");
        continue;
      }
    }
    fs::remove(entry.path(), ec);
    result.recovered.push_back("removed uncommitted staged file " + name);
  }
  touched.insert(staging);

  // 2. Stage the new artifacts.
  std::vector<NewArtifact> batch;
  if (repair_note) {
    batch.push_back({std::string(kKindRepair),
                     "repairs/" + std::to_string(records.size()) + ".json", "", *repair_note});
  }
  batch.insert(batch.end(), artifacts.begin(), artifacts.end());
  std::string lines;
  std::vector<std::pair<fs::path, fs::path>> moves;
  std::string last_ts = records.empty() ? std::string() : records.back().ts;
  for (NewArtifact& a : batch) {
    if (a.path.empty()) {
      a.path = a.kind + "/" + baseName(a.source);
    }
    if (a.kind.empty() || !validArtifactPath(a.path)) {
      return core::invalidArgument("artifact path \"" + a.path +
                                   "\" must be relative, without '.', '..' or empty segments "
                                   "(and a kind is required)");
    }
    if (!paths.insert(a.path).second) {
      return core::invalidArgument("artifacts/" + a.path + " is already recorded in the ledger");
    }
    const uint64_t seq = records.size();
    const fs::path staged = staging / (std::to_string(seq) + "-" + baseName(a.path));
    auto digest = stage(a, staged);
    if (!digest) {
      return digest.status();
    }
    Record r;
    r.v = kRecordVersion;
    r.seq = seq;
    r.ts = formatLedgerTime(clock.wallNow());
    if (r.ts < last_ts) {
      r.ts = last_ts; // the clock stepped back: keep the ledger's times non-decreasing
    }
    last_ts = r.ts;
    r.sprint = sprint;
    r.kind = a.kind;
    r.path = a.path;
    r.size = digest->size;
    r.sha256 = toHex(digest->digest);
    r.prev = leaves.empty() ? std::string(kZeroHash) : toHex(leaves.back());
    const std::string line = formatRecord(r);
    lines += line + "\n";
    leaves.push_back(leafHash(line));
    moves.emplace_back(staged, artifacts_dir / r.path);
    records.push_back(r);
    result.records.push_back(std::move(r));
  }
  if (auto st = fsyncDir(staging); !st.isOk()) {
    return st;
  }

  // 3. The commit point: every line in one write, one fsync.
  if (!lines.empty()) {
    const bool created = !fs::exists(ledger_path, ec);
    Fd fd(::open(ledger_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644));
    if (!fd.ok()) {
      return core::ioError(sysError("open " + ledger_path.string()));
    }
    if (auto st = writeAll(fd.get(), lines, ledger_path.string()); !st.isOk()) {
      return st;
    }
    if (::fsync(fd.get()) != 0) {
      return core::ioError(sysError("fsync " + ledger_path.string()));
    }
    if (created) {
      if (auto st = fsyncDir(dir); !st.isOk()) {
        return st;
      }
    }
  }

  // 4. Into place.
  for (const auto& [from, to] : moves) {
    if (auto st = makeDirs(to.parent_path()); !st.isOk()) {
      return st;
    }
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return core::ioError(sysError("rename " + from.string()));
    }
    touched.insert(to.parent_path());
  }
  for (const fs::path& d : touched) {
    if (auto st = fsyncDir(d); !st.isOk()) {
      return st;
    }
  }

  // 5. The signed checkpoint over everything, kept in the history too.
  result.checkpoint = {origin, leaves.size(), rootOf(leaves)};
  auto note = signNote(formatCheckpointText(result.checkpoint), options.signer);
  if (!note) {
    return note.status();
  }
  const fs::path history =
      dir / kCheckpointDir / (std::to_string(leaves.size()) + std::string(kCheckpointSuffix));
  if (fs::exists(history, ec)) {
    if (readFile(history) != *note) {
      return core::internalError(history.string() +
                                 " holds a different tree of the same size; refusing to "
                                 "sign a fork (run `meshproof evidence verify`)");
    }
  } else if (auto st = replaceFile(history, *note); !st.isOk()) {
    return st;
  }
  if (readFile(dir / kCheckpointFile) != *note) {
    if (auto st = replaceFile(dir / kCheckpointFile, *note); !st.isOk()) {
      return st;
    }
  }
  return result;
}

} // namespace meshproof::evidence
