// Reading profile.proto straight into a Profile.
//
// Not through the generated protobuf classes: they build a message tree (a Sample message, two
// repeated fields and a Label message per label, for every sample) that would then be copied into
// the Profile. Decoding the wire format directly does one pass and three allocations per sample;
// on a 1,000,000-sample profile it is several times faster (bench/profile_bench.cpp). Writing
// still goes through the generated classes (pprof.cpp), and the tests read back what they write.
//
// Field numbers are those of profile.proto. Repeated numbers are accepted packed or not, unknown
// fields are skipped, as any protobuf parser does; a known field with the wrong wire type, or bytes
// that do not parse, make the input "not a pprof profile".
#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <optional>
#include <unordered_map>

#include "profile/checked_math.hpp"
#include "profile/gzip.hpp"
#include "profile/names.hpp"
#include "profile/profile.hpp"

namespace perfscope::profile {
namespace {

// protobuf's limit for one message.
constexpr std::size_t kMaxMessage = INT_MAX;

enum WireType : std::uint32_t { kVarint = 0, kFixed64 = 1, kBytes = 2, kFixed32 = 5 };

// A cursor over one message's bytes. The first malformed byte stops it: ok() turns false and every
// later read gives 0 or "".
class Wire {
 public:
  explicit Wire(std::string_view b)
      : p_(reinterpret_cast<const unsigned char*>(b.data())), end_(p_ + b.size()) {}

  bool more() const { return p_ < end_; }
  bool ok() const { return ok_; }

  // The next field's number and wire type.
  std::uint32_t tag(std::uint32_t& wire) {
    const std::uint64_t t = varint();
    wire = static_cast<std::uint32_t>(t & 7);
    if ((t >> 3) == 0 || (t >> 32) != 0) fail();
    return static_cast<std::uint32_t>(t >> 3);
  }

  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ == end_) break;
      const unsigned char b = *p_++;
      v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if (b < 0x80) return v;
    }
    fail();
    return 0;
  }

  std::string_view bytes() {
    const std::uint64_t n = varint();
    if (n > static_cast<std::uint64_t>(end_ - p_)) {
      fail();
      return {};
    }
    const std::string_view v(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return v;
  }

  // A scalar field's value; the wire type must be varint.
  std::uint64_t scalar(std::uint32_t wire) {
    if (wire != kVarint) fail();
    return varint();
  }
  std::int64_t signed_scalar(std::uint32_t wire) { return static_cast<std::int64_t>(scalar(wire)); }

  // An embedded message or string; the wire type must be length-delimited.
  std::string_view message(std::uint32_t wire) {
    if (wire != kBytes) fail();
    return bytes();
  }

  // A repeated varint field, packed or one element.
  template <typename Each>
  void varints(std::uint32_t wire, Each&& each) {
    if (wire == kVarint) {
      each(varint());
      return;
    }
    if (wire != kBytes) {
      fail();
      return;
    }
    Wire packed(bytes());
    while (packed.more()) each(packed.varint());
    if (!packed.ok()) fail();
  }

  void skip(std::uint32_t wire) {
    switch (wire) {
      case kVarint:
        varint();
        break;
      case kFixed64:
        advance(8);
        break;
      case kBytes:
        bytes();
        break;
      case kFixed32:
        advance(4);
        break;
      default:
        fail();  // groups: not in profile.proto, and not worth supporting
    }
  }

 private:
  void advance(std::size_t n) {
    if (n > static_cast<std::size_t>(end_ - p_)) return fail();
    p_ += n;
  }
  void fail() {
    ok_ = false;
    p_ = end_;
  }

  const unsigned char* p_;
  const unsigned char* end_;
  bool ok_ = true;
};

// File ids -> our 1-based ids. Files written by pprof and perfscope number 1..n in order; that
// case needs no table.
class IdMap {
 public:
  // False when file_id is 0 or already taken.
  bool add(std::uint64_t file_id, std::uint64_t id) {
    if (file_id == 0) return false;
    ++count_;
    if (identity_ && file_id == count_ && id == count_) return true;
    if (identity_) {
      identity_ = false;
      for (std::uint64_t i = 1; i < count_; ++i) map_.emplace(i, i);
    }
    return map_.emplace(file_id, id).second;
  }
  // 0 when unknown.
  std::uint64_t get(std::uint64_t file_id) const {
    if (identity_) return file_id <= count_ ? file_id : 0;
    auto it = map_.find(file_id);
    return it == map_.end() ? 0 : it->second;
  }

 private:
  bool identity_ = true;
  std::uint64_t count_ = 0;
  std::unordered_map<std::uint64_t, std::uint64_t> map_;
};

// The top-level fields, located but not yet decoded: the string table may come after the messages
// that refer to it (pprof writes it after the samples).
struct Layout {
  std::vector<std::string_view> sample_types, samples, mappings, locations, functions, strings;
  std::vector<std::string_view> period_types;  // a repeated singular message merges
  std::vector<std::uint64_t> comments;
  std::int64_t time_nanos = 0, duration_nanos = 0, period = 0;
  std::uint64_t default_sample_type = 0;
};

bool scan(std::string_view bytes, Layout& l) {
  Wire w(bytes);
  while (w.more()) {
    std::uint32_t wire = 0;
    switch (w.tag(wire)) {
      case 1:
        l.sample_types.push_back(w.message(wire));
        break;
      case 2:
        l.samples.push_back(w.message(wire));
        break;
      case 3:
        l.mappings.push_back(w.message(wire));
        break;
      case 4:
        l.locations.push_back(w.message(wire));
        break;
      case 5:
        l.functions.push_back(w.message(wire));
        break;
      case 6:
        l.strings.push_back(w.message(wire));
        break;
      case 9:
        l.time_nanos = w.signed_scalar(wire);
        break;
      case 10:
        l.duration_nanos = w.signed_scalar(wire);
        break;
      case 11:
        l.period_types.push_back(w.message(wire));
        break;
      case 12:
        l.period = w.signed_scalar(wire);
        break;
      case 13:
        w.varints(wire, [&](std::uint64_t v) { l.comments.push_back(v); });
        break;
      case 14:
        l.default_sample_type = w.scalar(wire);
        break;
      default:  // drop_frames, keep_frames, and fields newer than this reader
        w.skip(wire);
    }
  }
  return w.ok();
}

// Builds the Profile from a scanned message; the first problem becomes the Error.
class Decoder {
 public:
  Decoder(const std::string& source, const ReadOptions& options)
      : source_(source), merge_(options.merge_samples) {}

  Result<Profile> decode(const Layout& l) {
    if (l.strings.empty() || !l.strings[0].empty()) {
      return Error{source_ + " is not a pprof profile (no string table)", 0,
                   "  give a file written by `perfscope record` or another pprof producer"};
    }
    strings_.reserve(l.strings.size());
    for (std::string_view s : l.strings) strings_.push_back(p_.intern(s));

    for (std::string_view t : l.sample_types) p_.sample_types.push_back(value_type(t));
    for (std::string_view t : l.period_types) merge_value_type(t, p_.period_type);
    p_.period = l.period;
    p_.time_nanos = l.time_nanos;
    p_.duration_nanos = l.duration_nanos;
    p_.default_sample_type = str(l.default_sample_type);
    for (std::uint64_t c : l.comments) p_.comments.push_back(str(c));

    std::uint64_t n = 0;
    for (std::string_view m : l.mappings) {
      if (!mapping(m, ++n)) return take_error();
    }
    n = 0;
    for (std::string_view f : l.functions) {
      if (!function(f, ++n)) return take_error();
    }
    n = 0;
    for (std::string_view loc : l.locations) {
      if (!location(loc, ++n)) return take_error();
    }
    if (!merge_) p_.reserve_samples(l.samples.size());
    n = 0;
    for (std::string_view s : l.samples) {
      if (!sample(s, ++n)) return take_error();
    }
    if (error_) return take_error();
    for (Sample& s : merged_) p_.add_sample(std::move(s));
    return std::move(p_);
  }

 private:
  // Our id for a file's string index; a bad index records the Error and gives "".
  StringId str(std::uint64_t i) {
    if (i < strings_.size()) return strings_[i];
    set_error(fmt::format("{}: string index {} is outside the string table ({} strings)", source_,
                          static_cast<std::int64_t>(i), strings_.size()));
    return 0;
  }

  ValueType value_type(std::string_view bytes) {
    ValueType t;
    merge_value_type(bytes, t);
    return t;
  }

  void merge_value_type(std::string_view bytes, ValueType& t) {
    Wire w(bytes);
    while (w.more()) {
      std::uint32_t wire = 0;
      switch (w.tag(wire)) {
        case 1:
          t.type = str(w.scalar(wire));
          break;
        case 2:
          t.unit = str(w.scalar(wire));
          break;
        default:
          w.skip(wire);
      }
    }
    if (!w.ok()) malformed("value type", 0);
  }

  bool mapping(std::string_view bytes, std::uint64_t n) {
    Mapping m;
    std::uint64_t id = 0;
    Wire w(bytes);
    while (w.more()) {
      std::uint32_t wire = 0;
      switch (w.tag(wire)) {
        case 1:
          id = w.scalar(wire);
          break;
        case 2:
          m.start = w.scalar(wire);
          break;
        case 3:
          m.limit = w.scalar(wire);
          break;
        case 4:
          m.offset = w.scalar(wire);
          break;
        case 5:
          m.filename = str(w.scalar(wire));
          break;
        case 6:
          m.build_id = str(w.scalar(wire));
          break;
        case 7:
          m.has_functions = w.scalar(wire) != 0;
          break;
        case 8:
          m.has_filenames = w.scalar(wire) != 0;
          break;
        case 9:
          m.has_line_numbers = w.scalar(wire) != 0;
          break;
        case 10:
          m.has_inline_frames = w.scalar(wire) != 0;
          break;
        default:
          w.skip(wire);
      }
    }
    if (!w.ok()) return malformed("mapping", n);
    if (!mappings_.add(id, p_.add_mapping(m))) return bad_id("mapping", id);
    return !error_;
  }

  bool function(std::string_view bytes, std::uint64_t n) {
    std::uint64_t id = 0;
    StringId name = 0, system_name = 0, filename = 0;
    std::int64_t start_line = 0;
    Wire w(bytes);
    while (w.more()) {
      std::uint32_t wire = 0;
      switch (w.tag(wire)) {
        case 1:
          id = w.scalar(wire);
          break;
        case 2:
          name = str(w.scalar(wire));
          break;
        case 3:
          system_name = str(w.scalar(wire));
          break;
        case 4:
          filename = str(w.scalar(wire));
          break;
        case 5:
          start_line = w.signed_scalar(wire);
          break;
        default:
          w.skip(wire);
      }
    }
    if (!w.ok()) return malformed("function", n);
    if (error_) return false;
    // Duplicates in the file become one function; the id map sends both file ids to it.
    const std::uint64_t ours =
        p_.add_function(p_.string(name), p_.string(system_name), p_.string(filename), start_line);
    if (!functions_.add(id, ours)) return bad_id("function", id);
    return true;
  }

  bool location(std::string_view bytes, std::uint64_t n) {
    Location l;
    std::uint64_t id = 0, mapping_id = 0;
    Wire w(bytes);
    while (w.more()) {
      std::uint32_t wire = 0;
      switch (w.tag(wire)) {
        case 1:
          id = w.scalar(wire);
          break;
        case 2:
          mapping_id = w.scalar(wire);
          break;
        case 3:
          l.address = w.scalar(wire);
          break;
        case 4:
          if (!line(w.message(wire), l)) return false;
          break;
        case 5:
          l.is_folded = w.scalar(wire) != 0;
          break;
        default:
          w.skip(wire);
      }
    }
    if (!w.ok()) return malformed("location", n);
    if (mapping_id != 0) {
      l.mapping_id = mappings_.get(mapping_id);
      if (l.mapping_id == 0) return missing("location", id, "mapping", mapping_id);
    }
    for (Line& ln : l.lines) {
      const std::uint64_t file_id = ln.function_id;
      ln.function_id = functions_.get(file_id);
      if (ln.function_id == 0) return missing("location", id, "function", file_id);
    }
    if (!locations_.add(id, p_.add_location(std::move(l)))) return bad_id("location", id);
    return !error_;
  }

  // Appends the line; its function_id is still the file's.
  bool line(std::string_view bytes, Location& l) {
    Line ln;
    Wire w(bytes);
    while (w.more()) {
      std::uint32_t wire = 0;
      switch (w.tag(wire)) {
        case 1:
          ln.function_id = w.scalar(wire);
          break;
        case 2:
          ln.line = w.signed_scalar(wire);
          break;
        case 3:
          ln.column = w.signed_scalar(wire);
          break;
        default:
          w.skip(wire);
      }
    }
    if (!w.ok()) return malformed("line", 0);
    l.lines.push_back(ln);
    return true;
  }

  bool sample(std::string_view bytes, std::uint64_t n) {
    // Collected in reused buffers, then copied into vectors of exactly the right size.
    ids_.clear();
    values_.clear();
    labels_.clear();
    Wire w(bytes);
    while (w.more()) {
      std::uint32_t wire = 0;
      switch (w.tag(wire)) {
        case 1:
          w.varints(wire, [&](std::uint64_t v) { ids_.push_back(v); });
          break;
        case 2:
          w.varints(wire,
                    [&](std::uint64_t v) { values_.push_back(static_cast<std::int64_t>(v)); });
          break;
        case 3:
          if (!label(w.message(wire))) return false;
          break;
        default:
          w.skip(wire);
      }
    }
    if (!w.ok()) return malformed("sample", n);
    if (error_) return false;
    for (std::uint64_t& id : ids_) {
      const std::uint64_t ours = locations_.get(id);
      if (ours == 0) return missing("sample", n, "location", id);
      id = ours;
    }
    if (values_.size() != p_.sample_types.size()) {
      set_error(fmt::format("{}: sample {} has {} values for {} sample types", source_, n,
                            values_.size(), p_.sample_types.size()));
      return false;
    }
    // Rejected, not clamped: a negative count, byte total or duration is a damaged file (it made
    // "-150.00% self"). Sums of the remaining values saturate (profile/checked_math.hpp).
    for (std::size_t i = 0; i < values_.size(); ++i) {
      if (values_[i] < 0) {
        set_error(fmt::format("{}: sample {} has a negative value ({}) for {}", source_, n,
                              values_[i], profile::printable(p_.string(p_.sample_types[i].type))));
        return false;
      }
    }
    if (merge_ && merge_into_earlier()) return true;
    Sample s;
    s.location_ids.assign(ids_.begin(), ids_.end());
    s.values.assign(values_.begin(), values_.end());
    s.labels.assign(labels_.begin(), labels_.end());
    if (merge_) {
      merged_.push_back(std::move(s));
    } else {
      p_.add_sample(std::move(s));
    }
    return true;
  }

  // Adds the sample being decoded to an earlier one with the same locations and labels, if any;
  // otherwise remembers its key for later ones.
  bool merge_into_earlier() {
    std::uint64_t h = ids_.size();
    for (std::uint64_t id : ids_) h = hash_combine(h, id);
    for (const Label& lb : labels_) {
      h = hash_combine(h, (std::uint64_t{lb.key} << 32) | lb.str);
      h = hash_combine(h, static_cast<std::uint64_t>(lb.num) ^ lb.num_unit);
    }
    const std::int64_t found = merge_index_.find(h, [&](std::uint32_t i) {
      const Sample& s = merged_[i];
      return s.location_ids == ids_ && s.labels.size() == labels_.size() &&
             std::equal(s.labels.begin(), s.labels.end(), labels_.begin(), same_label);
    });
    if (found < 0) {
      merge_index_.insert(h, static_cast<std::uint32_t>(merged_.size()));
      return false;
    }
    auto& values = merged_[static_cast<std::size_t>(found)].values;
    for (std::size_t i = 0; i < values.size(); ++i) add_saturating(values[i], values_[i]);
    return true;
  }

  static bool same_label(const Label& a, const Label& b) {
    return a.key == b.key && a.str == b.str && a.num == b.num && a.num_unit == b.num_unit;
  }

  bool label(std::string_view bytes) {
    Label lb;
    Wire w(bytes);
    while (w.more()) {
      std::uint32_t wire = 0;
      switch (w.tag(wire)) {
        case 1:
          lb.key = str(w.scalar(wire));
          break;
        case 2:
          lb.str = str(w.scalar(wire));
          break;
        case 3:
          lb.num = w.signed_scalar(wire);
          break;
        case 4:
          lb.num_unit = str(w.scalar(wire));
          break;
        default:
          w.skip(wire);
      }
    }
    if (!w.ok()) return malformed("label", 0);
    labels_.push_back(lb);
    return true;
  }

  void set_error(std::string message) {
    if (!error_) error_ = Error{std::move(message), 0, kDamagedHint};
  }
  bool malformed(const char* what, std::uint64_t n) {
    set_error(n != 0 ? fmt::format("{}: {} {} is malformed", source_, what, n)
                     : fmt::format("{}: a {} is malformed", source_, what));
    return false;
  }
  bool bad_id(const char* what, std::uint64_t id) {
    set_error(fmt::format("{}: {} id {} is zero or used twice", source_, what, id));
    return false;
  }
  bool missing(const char* who, std::uint64_t who_id, const char* what, std::uint64_t id) {
    set_error(fmt::format("{}: {} {} refers to {} {}, which does not exist", source_, who, who_id,
                          what, id));
    return false;
  }
  Error take_error() { return std::move(*error_); }

  const std::string& source_;
  Profile p_;
  std::vector<StringId> strings_;  // file string index -> our StringId
  IdMap mappings_, functions_, locations_;
  std::vector<std::uint64_t> ids_;
  std::vector<std::int64_t> values_;
  std::vector<Label> labels_;
  bool merge_;
  std::vector<Sample> merged_;  // with merge_, the samples so far, moved into p_ at the end
  IdIndex merge_index_;         // (locations, labels) -> index in merged_
  std::optional<Error> error_;
};

// The wire type each known top-level field of a Profile has (0: not a known field). Field 13
// (comments) is repeated int64: one varint, or packed into bytes.
std::uint32_t profile_field_wire(std::uint64_t field) {
  switch (field) {
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
    case 6:
    case 11:
      return kBytes;
    case 7:
    case 8:
    case 9:
    case 10:
    case 12:
    case 14:
      return kVarint;
    default:
      return 0;
  }
}

}  // namespace

bool looks_like_pprof(std::string_view head) {
  const auto* p = reinterpret_cast<const unsigned char*>(head.data());
  const auto* const end = p + head.size();
  // A varint: 1 read, 0 when `head` ends inside it, -1 when it is too long to be one.
  auto varint = [&](std::uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p == end) return 0;
      const unsigned char b = *p++;
      v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if (b < 0x80) return 1;
    }
    return -1;
  };
  bool known = false;  // a known field came first: later unknown ones are newer fields
  while (p < end) {
    std::uint64_t tag = 0, value = 0;
    if (const int r = varint(tag); r <= 0) return r == 0 && known;
    const std::uint64_t field = tag >> 3;
    const auto wire = static_cast<std::uint32_t>(tag & 7);
    const std::uint32_t expected = profile_field_wire(field);
    if (field == 0 || (field >> 29) != 0) return false;
    if (expected != 0) {
      if (wire != expected && !(field == 13 && wire == kBytes)) return false;
      known = true;
    } else if (!known) {
      return false;
    }
    switch (wire) {
      case kVarint:
        if (const int r = varint(value); r <= 0) return r == 0;
        break;
      case kFixed64:
      case kFixed32: {
        const std::size_t n = wire == kFixed64 ? 8 : 4;
        if (static_cast<std::size_t>(end - p) < n) return true;
        p += n;
        break;
      }
      case kBytes:
        if (const int r = varint(value); r <= 0) return r == 0;
        if (value > kMaxMessage) return false;
        if (value > static_cast<std::uint64_t>(end - p)) return true;
        p += value;
        break;
      default:
        return false;
    }
  }
  return known;
}

Result<Profile> decode_pprof(std::string_view bytes, const std::string& source,
                             const ReadOptions& options) {
  std::string inflated;
  if (is_gzip(bytes)) {
    auto r = gunzip(bytes, source, kMaxMessage);
    if (!r) return r.error();
    inflated = std::move(*r);
    bytes = inflated;
  }
  if (bytes.size() > kMaxMessage) {
    return Error{source + ": more than 2 GiB, too large for a pprof profile", EFBIG, {}};
  }
  Layout layout;
  if (!scan(bytes, layout)) {
    return Error{source + " is not a pprof profile (not a profile.proto message, nor gzip)", 0,
                 "  give a file written by `perfscope record` or another pprof producer"};
  }
  return Decoder(source, options).decode(layout);
}

}  // namespace perfscope::profile
