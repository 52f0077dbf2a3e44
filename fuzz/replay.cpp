// The fuzz targets without libFuzzer: runs a target's LLVMFuzzerTestOneInput over every file given,
// or every file of every directory given (not recursing), in name order. Built with the project's
// own compiler when PERFSCOPE_FUZZ is off, so each saved corpus and the hostile inputs of
// tests/data/hostile/ run as regression tests (ctest -L unit) in the normal and the ASan+UBSan
// builds. A crash is the target's own abort or a sanitizer report; the exit status is 0 otherwise.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

namespace fs = std::filesystem;

bool read_file(const fs::path& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR|FILE...\n", argv[0]);
    return 2;
  }
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    std::error_code ec;
    if (fs::is_directory(argv[i], ec)) {
      std::vector<fs::path> found;
      for (const auto& entry : fs::directory_iterator(argv[i], ec)) {
        if (entry.is_regular_file()) found.push_back(entry.path());
      }
      if (ec) {
        std::fprintf(stderr, "cannot list %s: %s\n", argv[i], ec.message().c_str());
        return 2;
      }
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else {
      files.emplace_back(argv[i]);
    }
  }
  std::string data;
  for (const auto& file : files) {
    if (!read_file(file, data)) {
      std::fprintf(stderr, "cannot read %s: check that it exists and is readable\n", file.c_str());
      return 2;
    }
    // Stderr names the input first, so a crash report below it says which input crashed.
    std::fprintf(stderr, "%s (%zu bytes)\n", file.c_str(), data.size());
    // A copy the size of the input, as libFuzzer gives it: ASan sees reads past its end.
    const std::vector<std::uint8_t> bytes(data.begin(), data.end());
    LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
  }
  std::fprintf(stderr, "%zu inputs, no crash\n", files.size());
  return 0;
}
