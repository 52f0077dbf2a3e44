#include "core/output_file.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace perfscope {
namespace {

// The kernel's fs.protected_symlinks rule, applied whether or not the machine enables it: in a
// sticky world-writable directory (/tmp), follow a symlink only when its owner is the caller or
// the directory's owner. Otherwise another user could plant `out.svg -> /root/.bashrc` and have
// root overwrite the target. Returns an empty Error when the link may be followed.
Error refuse_planted_symlink(const std::string& path, const struct stat& link) {
  const auto slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  struct stat d {};
  if (::stat(dir.c_str(), &d) != 0) return {};
  const bool shared = (d.st_mode & S_ISVTX) != 0 && (d.st_mode & S_IWOTH) != 0;
  if (!shared || link.st_uid == ::geteuid() || link.st_uid == d.st_uid) return {};
  return Error{"refusing to write " + path + " through a symbolic link that user " +
                   std::to_string(link.st_uid) + " owns in the shared directory " + dir,
               0,
               "  another user may have planted it to make perfscope overwrite its target; "
               "remove it or write elsewhere (-o FILE)"};
}

}  // namespace

Result<OutputFile> OutputFile::open(const std::string& path) {
  OutputFile out;
  if (path.empty() || path == "-") {
    out.stream_ = path.empty() ? stderr : stdout;
    return out;
  }
  struct stat st;
  const bool exists = ::lstat(path.c_str(), &st) == 0;
  if (exists && S_ISLNK(st.st_mode)) {
    if (auto refused = refuse_planted_symlink(path, st); !refused.op.empty()) return refused;
  }
  if (exists && !S_ISREG(st.st_mode)) {
    // A device, FIFO or symlink (/dev/null, /dev/stdout): write through it, never replace it.
    // Only a symlink that passed the check above is followed.
    // A symlink may name a file that does not exist yet: created as an ordinary create would.
    const int flags = O_WRONLY | O_TRUNC | O_CLOEXEC | (S_ISLNK(st.st_mode) ? O_CREAT : O_NOFOLLOW);
    const int fd = ::open(path.c_str(), flags, 0666);
    out.stream_ = fd < 0 ? nullptr : ::fdopen(fd, "w");
    if (out.stream_ == nullptr) {
      auto err = errno_error("cannot open output file " + path);
      if (fd >= 0) ::close(fd);
      return err;
    }
    out.path_ = path;
    out.direct_ = true;
    return out;
  }
  std::string temp = path + ".tmp.XXXXXX";
  const int fd = ::mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0) {
    return errno_error("cannot create output file " + path,
                       "  check that the directory exists and is writable");
  }
  // The final file gets the mode an ordinary create would give (or the existing file's mode).
  const mode_t mask = ::umask(0);
  ::umask(mask);
  ::fchmod(fd, exists ? (st.st_mode & 07777) : (0666 & ~mask));
  out.stream_ = ::fdopen(fd, "w");
  if (out.stream_ == nullptr) {
    auto err = errno_error("cannot open output file " + path);
    ::close(fd);
    ::unlink(temp.c_str());
    return err;
  }
  out.path_ = path;
  out.temp_path_ = temp;
  out.owned_ = true;
  return out;
}

OutputFile::OutputFile(OutputFile&& o) noexcept
    : stream_(std::exchange(o.stream_, nullptr)),
      path_(std::move(o.path_)),
      temp_path_(std::move(o.temp_path_)),
      owned_(std::exchange(o.owned_, false)),
      direct_(std::exchange(o.direct_, false)) {}

OutputFile::~OutputFile() {
  if (direct_ && stream_ != nullptr) std::fclose(stream_);
  if (owned_ && stream_ != nullptr) {
    std::fclose(stream_);
    ::unlink(temp_path_.c_str());
  }
}

Status OutputFile::commit() {
  // ferror: a write that failed earlier (EFBIG under `ulimit -f`, ENOSPC) may leave nothing
  // for fflush to report.
  if (direct_) {
    const bool ok = !std::ferror(stream_) && std::fclose(stream_) == 0;
    stream_ = nullptr;
    direct_ = false;
    if (!ok) return errno_error("cannot write output file " + path_);
    return {};
  }
  if (!owned_) {
    // Standard output or error: a full disk or a closed pipe must not pass for a written result.
    errno = 0;
    if (std::fflush(stream_) != 0 || std::ferror(stream_)) {
      if (errno == 0) errno = EIO;
      return errno_error(stream_ == stdout ? "cannot write to standard output"
                                           : "cannot write to standard error");
    }
    return {};
  }
  const bool ok =
      !std::ferror(stream_) && std::fflush(stream_) == 0 && ::fsync(::fileno(stream_)) == 0;
  const int e = std::ferror(stream_) && errno == 0 ? EIO : errno;
  std::fclose(stream_);
  stream_ = nullptr;
  owned_ = false;
  if (!ok || ::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    errno = ok ? errno : e;
    auto err = errno_error("cannot write output file " + path_);
    ::unlink(temp_path_.c_str());
    return err;
  }
  return {};
}

Status check_writable(const std::string& path) {
  if (path == "-" || path.empty()) return {};
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return Error{"output " + path + " is a directory", 0, "  give a file name: -o DIR/FILE"};
  }
  const auto slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    return errno_error("cannot write " + path, "  choose a writable place with -o FILE");
  }
  return {};
}

Status write_output_file(const std::string& path, std::string_view data) {
  auto out = OutputFile::open(path);
  if (!out) return out.error();
  if (!data.empty() && std::fwrite(data.data(), 1, data.size(), out->stream()) != data.size()) {
    return errno_error(path == "-" ? std::string("cannot write to standard output")
                                   : "cannot write output file " + path);
  }
  return out->commit();
}

}  // namespace perfscope
