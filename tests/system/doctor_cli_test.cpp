// perfscope doctor against the real kernel: its verdicts must match what the same user really gets
// from the commands, at each paranoid level. These tests set perf_event_paranoid and always restore
// it.
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/files.hpp"
#include "support/requirements.hpp"
#include "support/run.hpp"

namespace perfscope {
namespace {

using testing::run;
using testing::RunOptions;

constexpr const char* kParanoid = "/proc/sys/kernel/perf_event_paranoid";

// Restores perf_event_paranoid when the test ends, whether it passed or not.
class ParanoidGuard {
 public:
  ParanoidGuard() : saved_(static_cast<int>(read_int_file(kParanoid).value())) {}
  ~ParanoidGuard() { set(saved_); }
  static void set(int level) {
    std::ofstream f(kParanoid);
    f << level << "\n";
  }
  int saved() const { return saved_; }

 private:
  int saved_;
};

RunOptions as_nobody() {
  RunOptions o;
  o.as_nobody = true;
  return o;
}

std::map<std::string, bool> verdicts_of(const std::string& json_text) {
  std::map<std::string, bool> out;
  const auto j = nlohmann::json::parse(json_text);
  for (const auto& c : j["capabilities"]) out[c["key"].get<std::string>()] = c["ok"].get<bool>();
  return out;
}

TEST(DoctorCli, VerdictsMatchWhatNobodyReallyGetsAtEachParanoidLevel) {
  PS_REQUIRE(root(), pmu("software"), program("setpriv"));
  ParanoidGuard guard;
  const std::string bin = testing::perfscope_binary_for_nobody();
  const std::string pages = testing::target_for_nobody("ps-touch_pages");
  for (int level : {-1, 1, 2, 4}) {
    SCOPED_TRACE("perf_event_paranoid " + std::to_string(level));
    ParanoidGuard::set(level);
    auto doctor = run({bin, "doctor", "--json"}, as_nobody());
    ASSERT_TRUE(doctor.exit_code == 0 || doctor.exit_code == 1) << doctor.err;
    const auto v = verdicts_of(doctor.out);
    ASSERT_EQ(v.size(), 8u);

    const auto own = run({bin, "stat", "-e", "task-clock", "--", pages, "10"}, as_nobody());
    EXPECT_EQ(v.at("count-own"), own.exit_code == 0) << own.err;
    const auto wide = run({bin, "stat", "-a", "-e", "cpu-clock", "--", "/bin/true"}, as_nobody());
    EXPECT_EQ(v.at("count-system"), wide.exit_code == 0) << wide.err;
    if (!v.at("count-system")) {
      EXPECT_NE(wide.err.find("perfscope doctor --need count-system"), std::string::npos)
          << "the refusal points at the matching doctor line:\n"
          << wide.err;
    }
    const auto tp = run({bin, "stat", "-e", "syscalls:sys_enter_getpid", "--",
                         testing::target_for_nobody("ps-getpid_loop"), "5"},
                        as_nobody());
    EXPECT_EQ(v.at("syscalls"), tp.exit_code == 0) << tp.err;
    // The profiling rows against real recordings (output under /tmp, writable by nobody).
    const auto profile_own = run(
        {bin, "record", "-F", "199", "-o", "/tmp/perfscope-doctor-own.pb.gz", "--", pages, "10"},
        as_nobody());
    EXPECT_EQ(v.at("profile-own"), profile_own.exit_code == 0) << profile_own.err;
    const auto profile_system = run(
        {bin, "record", "-a", "-d", "0.3", "-o", "/tmp/perfscope-doctor-all.pb.gz"}, as_nobody());
    EXPECT_EQ(v.at("profile-system"), profile_system.exit_code == 0) << profile_system.err;
    if (!v.at("profile-system")) {
      EXPECT_NE(profile_system.err.find("perfscope doctor --need"), std::string::npos)
          << profile_system.err;
    }
    const auto ebpf = run(
        {bin, "record", "--backend", "bpf", "-d", "0.3", "-o", "/tmp/perfscope-doctor-bpf.pb.gz"},
        as_nobody());
    EXPECT_EQ(v.at("ebpf"), ebpf.exit_code == 0) << ebpf.err;
    if (!v.at("ebpf")) {
      EXPECT_NE(ebpf.err.find("perfscope doctor --need ebpf"), std::string::npos) << ebpf.err;
    }
    ::unlink("/tmp/perfscope-doctor-own.pb.gz");
    ::unlink("/tmp/perfscope-doctor-all.pb.gz");
    ::unlink("/tmp/perfscope-doctor-bpf.pb.gz");
    const auto cycles =
        run({bin, "stat", "-x", ",", "-e", "cycles", "--", "/bin/true"}, as_nobody());
    EXPECT_EQ(v.at("hardware"),
              cycles.err.find("<not supported>") == std::string::npos && cycles.exit_code == 0)
        << cycles.err;
  }
}

TEST(DoctorCli, EbpfVerdictMatchesARealBpfRecordingAsRoot) {
  PS_REQUIRE(root(), pmu("software"));
  const auto doctor = run({testing::perfscope_binary(), "doctor", "--json"});
  ASSERT_TRUE(doctor.exit_code == 0 || doctor.exit_code == 1) << doctor.err;
  const auto v = verdicts_of(doctor.out);
  const auto ebpf = run({testing::perfscope_binary(), "record", "--backend", "bpf", "-d", "0.3",
                         "-o", "/tmp/perfscope-doctor-root-bpf.pb.gz"});
  EXPECT_EQ(v.at("ebpf"), ebpf.exit_code == 0) << ebpf.err;
  ::unlink("/tmp/perfscope-doctor-root-bpf.pb.gz");
}

TEST(DoctorCli, ExitStatusFollowsNeed) {
  PS_REQUIRE(root());
  EXPECT_EQ(
      run({testing::perfscope_binary(), "doctor", "--need", "count-own,count-system"}).exit_code,
      0);
  if (!system::Capabilities::current().hardware_pmu) {
    EXPECT_EQ(run({testing::perfscope_binary(), "doctor", "--need", "hardware"}).exit_code, 1);
  }
  auto bad = run({testing::perfscope_binary(), "doctor", "--need", "everything"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("unknown capability 'everything'"), std::string::npos) << bad.err;
}

TEST(DoctorCli, HumanOutputExplainsLevels) {
  auto r = run({testing::perfscope_binary(), "doctor"});
  EXPECT_NE(r.out.find("counting own processes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("3/4 Debian and Ubuntu"), std::string::npos);
  EXPECT_NE(r.out.find("side channels"), std::string::npos);
}

class DoctorFix : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/perfscope-sysctl-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    ::setenv("PERFSCOPE_SYSCTL_D", dir_.c_str(), 1);
  }
  void TearDown() override {
    ::unsetenv("PERFSCOPE_SYSCTL_D");
    std::filesystem::remove_all(dir_);
  }
  std::string dir_;
};

TEST_F(DoctorFix, AppliesAndPersistsAsRootThenShowsUndo) {
  PS_REQUIRE(root());
  ParanoidGuard guard;
  ParanoidGuard::set(2);
  auto r =
      run({testing::perfscope_binary(), "doctor", "--fix", "--level", "1", "--persist", "--yes"});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_EQ(read_int_file(kParanoid).value(), 1);
  auto conf = read_text_file(dir_ + "/99-perfscope.conf");
  ASSERT_TRUE(conf.has_value());
  EXPECT_NE(conf->find("kernel.perf_event_paranoid = 1"), std::string::npos);
  EXPECT_NE(r.out.find("changed: kernel.perf_event_paranoid 2 -> 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sudo sysctl -w kernel.perf_event_paranoid=2"), std::string::npos)
      << "undo line";
  EXPECT_NE(r.out.find("sudo rm " + dir_ + "/99-perfscope.conf"), std::string::npos) << r.out;
}

TEST_F(DoctorFix, WithoutConfirmationChangesNothing) {
  PS_REQUIRE(root());
  ParanoidGuard guard;
  ParanoidGuard::set(2);
  auto r = run({testing::perfscope_binary(), "doctor", "--fix", "--level", "0"});  // stdin: no tty
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("pass --yes"), std::string::npos) << r.err;
  EXPECT_EQ(read_int_file(kParanoid).value(), 2);
}

TEST_F(DoctorFix, WithoutRootPrintsCommandsAndChangesNothing) {
  PS_REQUIRE(root(), program("setpriv"));
  ParanoidGuard guard;
  ParanoidGuard::set(2);
  auto r = run({testing::perfscope_binary_for_nobody(), "doctor", "--fix", "--level", "1", "--yes"},
               as_nobody());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("Not root: nothing was changed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sudo sysctl -w kernel.perf_event_paranoid=1"), std::string::npos) << r.out;
  EXPECT_EQ(read_int_file(kParanoid).value(), 2);
}

TEST(DoctorBinary, FramePointerAndDebugInfoBuilds) {
  auto json_of = [](const std::string& target) {
    auto r = run({testing::perfscope_binary(), "doctor", "--json", "--need", "heap", "--binary",
                  testing::target(target)});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out)["binary"];
  };
  const auto fp = json_of("ps-busy-fp");
  EXPECT_TRUE(fp["symbols"].get<bool>());
  EXPECT_TRUE(fp["debug_info"].get<bool>());
  EXPECT_TRUE(fp["frame_pointers"].get<bool>());
  EXPECT_EQ(fp["build_id"].get<std::string>().size(), 40u);
  EXPECT_GT(fp["entry_offset"].get<long>(), 0) << "the uprobe probe sits there";
  EXPECT_TRUE(fp["eh_frame"].get<bool>());
  const auto nofp = json_of("ps-busy-nofp");
  EXPECT_FALSE(nofp["symbols"].get<bool>());
  EXPECT_FALSE(nofp["debug_info"].get<bool>());
  EXPECT_FALSE(nofp["frame_pointers"].get<bool>());
}

TEST(DoctorBinary, OptimisedWithoutFramePointersIsDetected) {
  // An unstripped -O2 -fomit-frame-pointer build: symbols present, prologues without %rbp setup.
  const std::string dir = std::filesystem::temp_directory_path() / "perfscope-nofp-test";
  std::filesystem::create_directories(dir);
  const std::string src = dir + "/f.c", bin = dir + "/f";
  // Functions of some size: under 16 bytes they are not sampled (a leaf stub says nothing).
  std::ofstream(src) << "__attribute__((noinline)) int g(int x){int s=0;"
                        "for(int i=0;i<x;++i)s+=(s>>3)^(i*x);return s;}\n"
                        "__attribute__((noinline)) int h(int x){return g(x)*g(x+1)+g(x+2);}\n"
                        "int main(int c,char**v){(void)v;return h(c*100)+h(c);}\n";
  ASSERT_EQ(run({"/usr/bin/cc", "-O2", "-fomit-frame-pointer", "-o", bin, src}).exit_code, 0);
  auto r =
      run({testing::perfscope_binary(), "doctor", "--json", "--need", "heap", "--binary", bin});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto b = nlohmann::json::parse(r.out)["binary"];
  EXPECT_TRUE(b["symbols"].get<bool>());
  EXPECT_GT(b["functions_sampled"].get<int>(), 0);
  EXPECT_FALSE(b["frame_pointers"].get<bool>());
  std::filesystem::remove_all(dir);
}

TEST(DoctorBinary, BadPathsAreClearErrors) {
  auto missing = run({testing::perfscope_binary(), "doctor", "--binary", "/nonexistent/x"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("open /nonexistent/x"), std::string::npos) << missing.err;
  auto text = run({testing::perfscope_binary(), "doctor", "--binary", "/etc/hostname"});
  EXPECT_EQ(text.exit_code, 1);
  EXPECT_NE(text.err.find("is not an ELF file"), std::string::npos) << text.err;
}

}  // namespace
}  // namespace perfscope
