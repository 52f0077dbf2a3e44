// The pprof file format: round trips through real files, gzipped and plain, and what damaged or
// foreign files give back. Broken messages are written byte by byte here, since write_pprof
// refuses to produce them.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "profile/profile.hpp"
#include "unit/profile_builder.hpp"
#include "unit/temp_dir_test.hpp"

namespace perfscope::profile {
namespace {

// The protobuf wire format, enough to write test messages by hand.
std::string varint(std::uint64_t v) {
  std::string out;
  do {
    out += static_cast<char>((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    v >>= 7;
  } while (v != 0);
  return out;
}
std::string num(int field, std::uint64_t v) {
  return varint(static_cast<std::uint64_t>(field) << 3) + varint(v);
}
std::string bytes(int field, const std::string& b) {
  return varint(static_cast<std::uint64_t>(field) << 3 | 2) + varint(b.size()) + b;
}

// Profile fields: sample_type 1, sample 2, mapping 3, location 4, function 5, string_table 6.
std::string strings(std::initializer_list<std::string> table) {
  std::string out;
  for (const auto& s : table) out += bytes(6, s);
  return out;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class Pprof : public testing::TempDirTest {
 protected:
  // The Error from reading `content` as a file.
  Error read_error(const std::string& content) {
    write_file("bad.pb", content);
    auto r = read_pprof(path("bad.pb"));
    EXPECT_FALSE(r) << "read a profile from " << content.size() << " bytes";
    return r ? Error{} : r.error();
  }
};

// Every field of every message, with values that differ from their defaults.
Profile full_profile() {
  testing::TestProfile t;
  Profile& p = t.p;
  p.time_nanos = 1'700'000'000'123'456'789;
  p.duration_nanos = 5'000'000'001;
  p.default_sample_type = p.intern("cpu");
  p.add_comment("perfscope: lost 3 samples");
  p.add_comment("perfscope: event cpu-clock");
  const auto kernel = p.add_mapping({.start = 0xffffffff81000000,
                                     .limit = 0xffffffff82000000,
                                     .offset = 0x1000,
                                     .filename = p.intern("[kernel.kallsyms]"),
                                     .build_id = p.intern("0badc0de"),
                                     .has_functions = true,
                                     .has_filenames = false,
                                     .has_line_numbers = true,
                                     .has_inline_frames = true});
  const auto f1 = p.add_function("memcpy", "__memcpy_avx", "memcpy.S", 12);
  const auto f2 = p.add_function("inner", "_Z5innerv", "a.cc", 40);
  const auto f3 = p.add_function("outer", "_Z5outerv", "a.cc", 30);
  const auto l1 = p.add_location({kernel, 0xffffffff81001234, {{f1, 77, 5}}, true});
  const auto l2 = p.add_location({0, 0x5555, {{f2, 41, 3}, {f3, 33, 9}}});
  const auto l3 = p.add_location({kernel, 0xffffffff81009999, {}});
  p.add_sample({{l1, l2, l3},
                {7, 70},
                {{.key = p.intern("pid"), .num = 42},
                 {.key = p.intern("comm"), .str = p.intern("worker")},
                 {.key = p.intern("bytes"), .num = 4096, .num_unit = p.intern("bytes")}}});
  p.add_sample({{}, {1, 10}, {}});
  t.add({"main", "outer"}, 2);
  return p;
}

void expect_same(const Profile& a, const Profile& b) {
  ASSERT_EQ(a.strings(), b.strings());
  ASSERT_EQ(a.sample_types.size(), b.sample_types.size());
  for (std::size_t i = 0; i < a.sample_types.size(); ++i) {
    EXPECT_EQ(a.sample_types[i].type, b.sample_types[i].type);
    EXPECT_EQ(a.sample_types[i].unit, b.sample_types[i].unit);
  }
  EXPECT_EQ(a.period_type.type, b.period_type.type);
  EXPECT_EQ(a.period_type.unit, b.period_type.unit);
  EXPECT_EQ(a.period, b.period);
  EXPECT_EQ(a.time_nanos, b.time_nanos);
  EXPECT_EQ(a.duration_nanos, b.duration_nanos);
  EXPECT_EQ(a.comments, b.comments);
  EXPECT_EQ(a.default_sample_type, b.default_sample_type);
  ASSERT_EQ(a.mappings().size(), b.mappings().size());
  for (std::size_t i = 0; i < a.mappings().size(); ++i) {
    const Mapping &x = a.mappings()[i], &y = b.mappings()[i];
    EXPECT_EQ(x.start, y.start);
    EXPECT_EQ(x.limit, y.limit);
    EXPECT_EQ(x.offset, y.offset);
    EXPECT_EQ(x.filename, y.filename);
    EXPECT_EQ(x.build_id, y.build_id);
    EXPECT_EQ(x.has_functions, y.has_functions);
    EXPECT_EQ(x.has_filenames, y.has_filenames);
    EXPECT_EQ(x.has_line_numbers, y.has_line_numbers);
    EXPECT_EQ(x.has_inline_frames, y.has_inline_frames);
  }
  ASSERT_EQ(a.functions().size(), b.functions().size());
  for (std::size_t i = 0; i < a.functions().size(); ++i) {
    const Function &x = a.functions()[i], &y = b.functions()[i];
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.system_name, y.system_name);
    EXPECT_EQ(x.filename, y.filename);
    EXPECT_EQ(x.start_line, y.start_line);
  }
  ASSERT_EQ(a.locations().size(), b.locations().size());
  for (std::size_t i = 0; i < a.locations().size(); ++i) {
    const Location &x = a.locations()[i], &y = b.locations()[i];
    EXPECT_EQ(x.mapping_id, y.mapping_id);
    EXPECT_EQ(x.address, y.address);
    EXPECT_EQ(x.is_folded, y.is_folded);
    ASSERT_EQ(x.lines.size(), y.lines.size());
    for (std::size_t j = 0; j < x.lines.size(); ++j) {
      EXPECT_EQ(x.lines[j].function_id, y.lines[j].function_id);
      EXPECT_EQ(x.lines[j].line, y.lines[j].line);
      EXPECT_EQ(x.lines[j].column, y.lines[j].column);
    }
  }
  ASSERT_EQ(a.samples().size(), b.samples().size());
  for (std::size_t i = 0; i < a.samples().size(); ++i) {
    const Sample &x = a.samples()[i], &y = b.samples()[i];
    EXPECT_EQ(x.location_ids, y.location_ids);
    EXPECT_EQ(x.values, y.values);
    ASSERT_EQ(x.labels.size(), y.labels.size());
    for (std::size_t j = 0; j < x.labels.size(); ++j) {
      EXPECT_EQ(x.labels[j].key, y.labels[j].key);
      EXPECT_EQ(x.labels[j].str, y.labels[j].str);
      EXPECT_EQ(x.labels[j].num, y.labels[j].num);
      EXPECT_EQ(x.labels[j].num_unit, y.labels[j].num_unit);
    }
  }
}

TEST_F(Pprof, GzipRoundTripKeepsEveryField) {
  const Profile p = full_profile();
  ASSERT_TRUE(validate(p));
  const auto st = write_pprof(p, path("p.pb.gz"));
  ASSERT_TRUE(st) << st.error().describe();
  const std::string raw = read_bytes(path("p.pb.gz"));
  ASSERT_GE(raw.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(raw[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>(raw[1]), 0x8b);
  auto back = read_pprof(path("p.pb.gz"));
  ASSERT_TRUE(back) << back.error().describe();
  expect_same(p, *back);
}

TEST_F(Pprof, PlainProtobufIsReadToo) {
  const Profile p = full_profile();
  auto encoded = encode_pprof(p);
  ASSERT_TRUE(encoded);
  write_file("p.pb", *encoded);
  auto back = read_pprof(path("p.pb"));
  ASSERT_TRUE(back) << back.error().describe();
  expect_same(p, *back);
}

TEST_F(Pprof, WritingIsDeterministic) {
  const Profile p = full_profile();
  ASSERT_TRUE(write_pprof(p, path("a.pb.gz")));
  ASSERT_TRUE(write_pprof(p, path("b.pb.gz")));
  EXPECT_EQ(read_bytes(path("a.pb.gz")), read_bytes(path("b.pb.gz")));
}

TEST_F(Pprof, ReadProfileStillInternsAndDeduplicates) {
  ASSERT_TRUE(write_pprof(full_profile(), path("p.pb.gz")));
  auto back = read_pprof(path("p.pb.gz"));
  ASSERT_TRUE(back);
  const std::size_t n = back->strings().size();
  EXPECT_EQ(back->intern("worker"), static_cast<StringId>(back->find_string("worker")));
  EXPECT_EQ(back->strings().size(), n);
  EXPECT_EQ(back->add_function("inner", "_Z5innerv", "a.cc", 40), 2u);
}

TEST_F(Pprof, ReplacesAnExistingFileAndLeavesNoTemporary) {
  write_file("p.pb.gz", "old contents");
  ::chmod(path("p.pb.gz").c_str(), 0640);
  ASSERT_TRUE(write_pprof(full_profile(), path("p.pb.gz")));
  EXPECT_TRUE(read_pprof(path("p.pb.gz")));
  struct stat st;
  ASSERT_EQ(::stat(path("p.pb.gz").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u) << "the replaced file keeps its mode";
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(root())) ++files;
  EXPECT_EQ(files, 1u);
}

TEST_F(Pprof, WriteIntoAMissingDirectoryFails) {
  const auto st = write_pprof(full_profile(), path("no/such/dir/p.pb.gz"));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().errnum, ENOENT);
  EXPECT_FALSE(std::filesystem::exists(path("no")));
}

TEST_F(Pprof, AnInconsistentProfileIsNotWritten) {
  testing::TestProfile t;
  t.p.add_sample({{9}, {1, 1}, {}});
  const auto st = write_pprof(t.p, path("p.pb.gz"));
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message().find("location 9"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(path("p.pb.gz")));
  EXPECT_TRUE(std::filesystem::is_empty(root()));
}

TEST_F(Pprof, MissingFileKeepsItsErrno) {
  auto r = read_pprof(path("absent.pb.gz"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, ENOENT);
  EXPECT_NE(r.error().message().find("absent.pb.gz"), std::string::npos);
}

TEST_F(Pprof, ADirectoryIsNotAProfile) {
  auto r = read_pprof(root());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, EISDIR);
}

TEST_F(Pprof, EmptyFileIsNotAProfile) {
  const Error e = read_error("");
  EXPECT_NE(e.message().find("is not a pprof profile"), std::string::npos) << e.message();
  EXPECT_FALSE(e.hint.empty());
}

TEST_F(Pprof, TextIsNotAProfile) {
  const Error e = read_error("main;parse;memcpy 42\n");
  EXPECT_NE(e.message().find("is not a pprof profile"), std::string::npos) << e.message();
}

TEST_F(Pprof, RandomBytesGiveAnErrorNotACrash) {
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::string junk(1 + rng() % 300, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    write_file("junk", junk);
    EXPECT_FALSE(read_pprof(path("junk"))) << "round " << round;
  }
}

TEST_F(Pprof, TruncatedGzipSaysSo) {
  ASSERT_TRUE(write_pprof(full_profile(), path("p.pb.gz")));
  const std::string whole = read_bytes(path("p.pb.gz"));
  for (std::size_t keep : {std::size_t{2}, std::size_t{10}, whole.size() / 2, whole.size() - 1}) {
    const Error e = read_error(whole.substr(0, keep));
    EXPECT_NE(e.message().find("ends early (truncated file)"), std::string::npos)
        << keep << ": " << e.message();
  }
}

TEST_F(Pprof, CorruptGzipSaysSo) {
  ASSERT_TRUE(write_pprof(full_profile(), path("p.pb.gz")));
  std::string damaged = read_bytes(path("p.pb.gz"));
  damaged[damaged.size() - 6] ^= 0x55;  // inside the CRC-32 of the trailer
  EXPECT_NE(read_error(damaged).message().find("corrupt gzip data"), std::string::npos);
  std::string garbage = read_bytes(path("p.pb.gz")) + "trailing";
  EXPECT_NE(read_error(garbage).message().find("after the end of the gzip stream"),
            std::string::npos);
}

TEST_F(Pprof, StringTableMustStartEmpty) {
  const Error e = read_error(strings({"x"}));
  EXPECT_NE(e.message().find("is not a pprof profile"), std::string::npos);
}

TEST_F(Pprof, LocationReferringToAMissingFunction) {
  // location {id 1, line {function_id 7}}
  const Error e = read_error(strings({""}) + bytes(4, num(1, 1) + bytes(4, num(1, 7))));
  EXPECT_NE(e.message().find("location 1 refers to function 7, which does not exist"),
            std::string::npos)
      << e.message();
}

TEST_F(Pprof, SampleReferringToAMissingLocation) {
  const Error e = read_error(strings({""}) + bytes(2, num(1, 5)));
  EXPECT_NE(e.message().find("sample 1 refers to location 5"), std::string::npos) << e.message();
}

TEST_F(Pprof, StringIndexOutsideTheTable) {
  // function {id 1, name 9}
  const Error e = read_error(strings({"", "f"}) + bytes(5, num(1, 1) + num(2, 9)));
  EXPECT_NE(e.message().find("string index 9 is outside the string table"), std::string::npos)
      << e.message();
}

TEST_F(Pprof, DuplicateAndZeroIds) {
  const std::string fn = bytes(5, num(1, 1) + num(2, 1));
  EXPECT_NE(read_error(strings({"", "f"}) + fn + fn).message().find("function id 1"),
            std::string::npos);
  EXPECT_NE(read_error(strings({""}) + bytes(3, num(2, 0x1000))).message().find("mapping id 0"),
            std::string::npos);
}

TEST_F(Pprof, ValuesMustMatchSampleTypes) {
  // sample_type {type 1, unit 2}; sample {value 1, value 2}
  const Error e = read_error(strings({"", "samples", "count"}) + bytes(1, num(1, 1) + num(2, 2)) +
                             bytes(2, num(2, 1) + num(2, 2)));
  EXPECT_NE(e.message().find("sample 1 has 2 values for 1 sample types"), std::string::npos)
      << e.message();
}

TEST_F(Pprof, MergingSamplesSumsThoseWithTheSameStackAndLabels) {
  testing::TestProfile t;
  t.add({"main", "a"}, 1, {.pid = 1});
  t.add({"main", "b"}, 2, {.pid = 1});
  t.add({"main", "a"}, 3, {.pid = 1});
  t.add({"main", "a"}, 4, {.pid = 2});  // another process: not the same sample
  t.add({"main", "b"}, 5, {.pid = 1});
  ASSERT_TRUE(write_pprof(t.p, path("p.pb.gz")));
  auto kept = read_pprof(path("p.pb.gz"));
  auto merged = read_pprof(path("p.pb.gz"), {.merge_samples = true});
  ASSERT_TRUE(kept);
  ASSERT_TRUE(merged);
  EXPECT_EQ(kept->samples().size(), 5u);
  ASSERT_EQ(merged->samples().size(), 3u);
  EXPECT_EQ(merged->samples()[0].values, (std::vector<std::int64_t>{4, 4 * t.kPeriod}));
  EXPECT_EQ(merged->samples()[1].values, (std::vector<std::int64_t>{7, 7 * t.kPeriod}));
  EXPECT_EQ(merged->samples()[2].values, (std::vector<std::int64_t>{4, 4 * t.kPeriod}));
  EXPECT_EQ(merged->samples()[0].location_ids, kept->samples()[0].location_ids);
  EXPECT_TRUE(validate(*merged));
}

// Other producers may number ids in any order and repeat strings; references still resolve.
TEST_F(Pprof, ForeignIdsAndDuplicateStringsAreRenumbered) {
  std::string m = strings({"", "main", "main", "samples", "count"});
  m += bytes(1, num(1, 3) + num(2, 4));
  m += bytes(5, num(1, 90) + num(2, 2));                         // function 90: "main" (2nd)
  m += bytes(5, num(1, 17) + num(2, 1) + num(5, 8));             // function 17: "main", line 8
  m += bytes(4, num(1, 500) + bytes(4, num(1, 17)));             // location 500 -> function 17
  m += bytes(4, num(1, 3) + bytes(4, num(1, 90) + num(2, 12)));  // location 3 -> function 90
  m += bytes(2, num(1, 3) + num(1, 500) + num(2, 6));            // sample: 3 <- 500, value 6
  write_file("foreign.pb", m);
  auto p = read_pprof(path("foreign.pb"));
  ASSERT_TRUE(p) << p.error().describe();
  ASSERT_TRUE(validate(*p));
  EXPECT_EQ(p->strings().size(), 4u) << "the repeated \"main\" is one string";
  ASSERT_EQ(p->samples().size(), 1u);
  const Sample& s = p->samples()[0];
  ASSERT_EQ(s.location_ids.size(), 2u);
  const Location& leaf = p->location(s.location_ids[0]);
  EXPECT_EQ(leaf.lines[0].line, 12);
  EXPECT_EQ(p->string(p->function(leaf.lines[0].function_id).name), "main");
  EXPECT_EQ(p->function(p->location(s.location_ids[1]).lines[0].function_id).start_line, 8);
  EXPECT_EQ(s.values, std::vector<std::int64_t>{6});
}

}  // namespace
}  // namespace perfscope::profile
