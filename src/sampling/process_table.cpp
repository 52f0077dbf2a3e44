#include "sampling/process_table.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <optional>

#include "core/files.hpp"

namespace perfscope::sampling {
namespace {

bool parse_hex(std::string_view s, std::uint64_t& out) {
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out, 16);
  return r.ec == std::errc{} && r.ptr == s.data() + s.size();
}

// One line of /proc/PID/maps: "start-end perms offset dev inode   path".
std::optional<Mapping> parse_maps_line(std::string_view line) {
  auto next_field = [&line]() {
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    const auto end = std::min(line.find(' '), line.size());
    const auto field = line.substr(0, end);
    line.remove_prefix(end);
    return field;
  };
  const auto range = next_field();
  const auto perms = next_field();
  const auto offset = next_field();
  next_field();  // dev
  next_field();  // inode
  while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
  const auto dash = range.find('-');
  Mapping m;
  if (dash == std::string_view::npos || perms.size() < 3 ||
      !parse_hex(range.substr(0, dash), m.start) || !parse_hex(range.substr(dash + 1), m.end) ||
      !parse_hex(offset, m.pgoff)) {
    return std::nullopt;
  }
  if (perms[2] != 'x') return std::nullopt;  // only code is ever sampled
  m.path = line.empty() ? "//anon" : std::string(line);
  m.from_proc = true;
  return m;
}

std::string trim_newline(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

}  // namespace

std::string build_id_hex(std::span<const std::uint8_t> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (auto b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

const Mapping* AddressSpace::find(std::uint64_t address) const {
  auto it = std::upper_bound(mappings.begin(), mappings.end(), address,
                             [](std::uint64_t a, const Mapping& m) { return a < m.start; });
  if (it == mappings.begin()) return nullptr;
  --it;
  return address < it->end ? &*it : nullptr;
}

void AddressSpace::insert(Mapping m) {
  if (m.end <= m.start) return;
  std::vector<Mapping> kept;
  kept.reserve(mappings.size() + 2);
  for (auto& old : mappings) {
    if (old.end <= m.start || old.start >= m.end) {
      kept.push_back(std::move(old));
      continue;
    }
    if (old.start < m.start) {  // the part before the new mapping survives
      Mapping left = old;
      left.end = m.start;
      kept.push_back(std::move(left));
    }
    if (old.end > m.end) {  // and the part after it
      Mapping right = old;
      right.pgoff += m.end - old.start;
      right.start = m.end;
      kept.push_back(std::move(right));
    }
  }
  kept.push_back(std::move(m));
  std::sort(kept.begin(), kept.end(),
            [](const Mapping& a, const Mapping& b) { return a.start < b.start; });
  mappings = std::move(kept);
}

AddressSpaceId ProcessTable::new_space(pid_t pid, std::string comm) {
  if (!free_spaces_.empty()) {
    const AddressSpaceId id = free_spaces_.back();
    free_spaces_.pop_back();
    spaces_[id] = AddressSpace{pid, ++generations_, std::move(comm), {}};
    return id;
  }
  spaces_.push_back(AddressSpace{pid, ++generations_, std::move(comm), {}});
  return static_cast<AddressSpaceId>(spaces_.size() - 1);
}

ProcessTable::Process& ProcessTable::process(pid_t pid) {
  return processes_[pid];
}

// Records of one process can come from several CPUs' rings out of time order (a child's exec on
// one CPU read before its fork on another): images stay sorted by the time they began.
void ProcessTable::add_image(Process& proc, Image image) {
  auto at = std::upper_bound(proc.images.begin(), proc.images.end(), image.since,
                             [](std::uint64_t t, const Image& i) { return t < i.since; });
  proc.images.insert(at, image);
}

void ProcessTable::seed_from_proc(pid_t pid, const std::string& proc_root) {
  std::vector<pid_t> pids;
  if (pid >= 0) {
    pids.push_back(pid);
  } else if (auto entries = list_directory(proc_root)) {
    for (const auto& name : *entries) {
      char* end = nullptr;
      const long value = std::strtol(name.c_str(), &end, 10);
      if (end != name.c_str() && *end == '\0') pids.push_back(static_cast<pid_t>(value));
    }
  }
  for (pid_t p : pids) {
    const std::string dir = proc_root + "/" + std::to_string(p);
    auto comm = read_text_file(dir + "/comm");
    if (!comm) continue;  // gone
    auto& proc = process(p);
    if (!proc.images.empty()) continue;
    const auto id = new_space(p, trim_newline(*comm));
    proc.images.push_back({0, id});
    if (auto maps = read_text_file(dir + "/maps")) {
      std::string_view rest = *maps;
      while (!rest.empty()) {
        const auto nl = std::min(rest.find('\n'), rest.size());
        if (auto m = parse_maps_line(rest.substr(0, nl))) spaces_[id].mappings.push_back(*m);
        rest.remove_prefix(std::min(nl + 1, rest.size()));
      }
      std::sort(spaces_[id].mappings.begin(), spaces_[id].mappings.end(),
                [](const Mapping& a, const Mapping& b) { return a.start < b.start; });
    }
    if (pid >= 0) {  // one target: its threads' names too (system-wide this would cost too much)
      if (auto tasks = list_directory(dir + "/task")) {
        for (const auto& t : *tasks) {
          if (auto tcomm = read_text_file(dir + "/task/" + t + "/comm")) {
            thread_comms_[static_cast<pid_t>(std::atoi(t.c_str()))] = trim_newline(*tcomm);
          }
        }
      }
    }
  }
}

void ProcessTable::learn_thread_comm(pid_t tid, std::string_view comm) {
  if (comm.empty()) return;
  thread_comms_.try_emplace(tid, comm);
}

AddressSpaceId ProcessTable::space_of(pid_t pid, std::uint64_t time) {
  auto& proc = process(pid);
  if (proc.images.empty()) {
    // Never seen: started before the recording and not seeded (or /proc was unreadable).
    const auto id = new_space(pid, {});
    proc.images.push_back({0, id});
    return id;
  }
  for (auto it = proc.images.rbegin(); it != proc.images.rend(); ++it) {
    if (it->since <= time) return it->space;
  }
  return proc.images.front().space;
}

void ProcessTable::on_mmap(const MmapRecord& m) {
  if (!m.executable) return;
  Mapping mapping{
      m.addr, m.addr + m.len, m.pgoff, std::string(m.filename), build_id_hex(m.build_id), false};
  spaces_[space_of(static_cast<pid_t>(m.pid), m.id.time)].insert(std::move(mapping));
}

void ProcessTable::on_comm(const CommRecord& c) {
  const auto pid = static_cast<pid_t>(c.pid);
  const auto tid = static_cast<pid_t>(c.tid);
  // A COMM older than the one that named the thread (read later: another CPU's records, a
  // perf.data's order) does not rename it back; an exec still starts its image.
  const auto at = named_at_.find(tid);
  const bool newer = at == named_at_.end() || at->second <= c.id.time;
  if (newer) {
    auto [named, first] = thread_comms_.insert_or_assign(tid, std::string(c.comm));
    named_at_[tid] = c.id.time;
    if (first && c.pid != c.tid) process(pid).threads.push_back(tid);
  }
  if (c.exec) {
    add_image(process(pid), {c.id.time, new_space(pid, std::string(c.comm))});
  } else if (c.pid == c.tid && newer) {
    spaces_[space_of(pid, c.id.time)].comm = std::string(c.comm);
  }
}

void ProcessTable::on_fork(const TaskRecord& t) {
  const auto pid = static_cast<pid_t>(t.pid);
  const auto tid = static_cast<pid_t>(t.tid);
  const bool new_thread = t.pid == t.ppid && t.tid != t.pid;
  // Records come in the order each CPU's were read (a perf.data holds each CPU's in turn), not
  // in time order. A COMM the new task sent after this FORK may have been read first: it keeps
  // that name.
  const auto at = named_at_.find(tid);
  if (at == named_at_.end() || at->second <= t.time) {
    // It starts with its creator's name at the FORK's time; for the main thread, its program's
    // then (its latest COMM read may be a later exec's).
    std::optional<std::string> name;
    if (new_thread && t.ptid == t.pid) {
      if (const std::string& program = spaces_[space_of(pid, t.time)].comm; !program.empty()) {
        name = program;
      }
    }
    if (auto it = thread_comms_.find(static_cast<pid_t>(t.ptid));
        !name && it != thread_comms_.end()) {
      name = it->second;
    }
    if (name) {
      auto [named, first] = thread_comms_.insert_or_assign(tid, std::move(*name));
      if (at != named_at_.end()) named_at_.erase(at);
      if (first && new_thread) process(pid).threads.push_back(tid);
    }
  }
  if (t.pid == t.ppid) return;  // a new thread shares its process's address space
  // A new process starts as a copy of its parent's address space.
  const auto parent_space = space_of(static_cast<pid_t>(t.ppid), t.time);
  AddressSpace copy = spaces_[parent_space];
  const AddressSpaceId id = new_space(pid, {});
  copy.pid = pid;
  copy.generation = spaces_[id].generation;
  spaces_[id] = std::move(copy);
  add_image(process(pid), {t.time, id});
}

void ProcessTable::on_exit(const TaskRecord& t) {
  if (t.pid == t.tid) process(static_cast<pid_t>(t.pid)).exited = true;
}

std::string_view ProcessTable::thread_comm(pid_t tid, AddressSpaceId space) const {
  if (tid == 0) return "swapper";  // the idle task of each CPU
  // A main thread's name follows its program across exec(); other threads keep their last name.
  if (tid == spaces_[space].pid && !spaces_[space].comm.empty()) return spaces_[space].comm;
  if (auto it = thread_comms_.find(tid); it != thread_comms_.end()) return it->second;
  return spaces_[space].comm;
}

bool ProcessTable::exited(pid_t pid) const {
  auto it = processes_.find(pid);
  return it != processes_.end() && it->second.exited;
}

std::vector<pid_t> ProcessTable::exited_processes() const {
  std::vector<pid_t> out;
  for (const auto& [pid, proc] : processes_) {
    if (proc.exited) out.push_back(pid);
  }
  return out;
}

void ProcessTable::forget(pid_t pid) {
  auto it = processes_.find(pid);
  if (it == processes_.end()) return;
  for (const Image& image : it->second.images) {
    spaces_[image.space] = AddressSpace{};  // frees its mappings
    free_spaces_.push_back(image.space);
  }
  for (const pid_t tid : it->second.threads) {
    thread_comms_.erase(tid);
    named_at_.erase(tid);
  }
  thread_comms_.erase(pid);
  named_at_.erase(pid);
  processes_.erase(it);
}

}  // namespace perfscope::sampling
