// Error, Result<T> and Status: how failures travel from syscalls up to cli/.
#include "core/error.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <type_traits>

#include "core/unique_fd.hpp"

namespace perfscope {
namespace {

TEST(Error, MessageWithoutErrnoIsTheOperation) {
  const Error e{"parse event list", 0, "  separate events with commas"};
  EXPECT_EQ(e.message(), "parse event list");
}

TEST(Error, MessageAppendsStrerror) {
  const Error e{"open /sys/x", ENOENT, ""};
  EXPECT_EQ(e.message(), "open /sys/x: No such file or directory");
}

TEST(Error, DescribeAddsTheHintOnTheNextLine) {
  const Error e{"perf_event_open(cycles)", EACCES, "  lower perf_event_paranoid"};
  EXPECT_EQ(e.describe(),
            "perf_event_open(cycles): Permission denied\n  lower perf_event_paranoid");
}

TEST(Error, DescribeWithoutHintIsTheMessage) {
  const Error e{"read /proc/x", EIO, ""};
  EXPECT_EQ(e.describe(), e.message());
  EXPECT_EQ(e.describe(), "read /proc/x: Input/output error");
}

TEST(Error, ErrnoErrorCapturesErrno) {
  errno = EACCES;
  const Error e = errno_error("open /sys/kernel/tracing", "  run as root");
  EXPECT_EQ(e.op, "open /sys/kernel/tracing");
  EXPECT_EQ(e.errnum, EACCES);
  EXPECT_EQ(e.hint, "  run as root");

  errno = EOPNOTSUPP;
  const Error bare = errno_error("ioctl");
  EXPECT_EQ(bare.errnum, EOPNOTSUPP);
  EXPECT_TRUE(bare.hint.empty());
}

Result<int> half(int n) {
  if (n % 2 != 0) return Error{"half of " + std::to_string(n), EINVAL, "  pass an even number"};
  return n / 2;
}

TEST(Result, HoldsAValue) {
  auto r = half(10);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(static_cast<bool>(r));
  EXPECT_EQ(r.value(), 5);
  EXPECT_EQ(*r, 5);
  *r = 6;
  EXPECT_EQ(r.value(), 6);
}

TEST(Result, HoldsAnError) {
  auto r = half(3);
  ASSERT_FALSE(r.has_value());
  EXPECT_FALSE(static_cast<bool>(r));
  EXPECT_EQ(r.error().op, "half of 3");
  EXPECT_EQ(r.error().errnum, EINVAL);
  const Error taken = std::move(r).take_error();
  EXPECT_EQ(taken.hint, "  pass an even number");
}

TEST(Result, ArrowReachesTheValue) {
  Result<std::string> r = std::string("task-clock");
  EXPECT_EQ(r->size(), 10u);
  const Result<std::string>& cr = r;
  EXPECT_EQ(*cr, "task-clock");
  EXPECT_EQ(std::move(r).value(), "task-clock");
}

bool fd_is_open(int fd) {
  return ::fcntl(fd, F_GETFD) != -1;
}

// Two ends of a pipe: real descriptors whose ownership can be followed.
struct Pipe {
  int read_end = -1;
  int write_end = -1;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) == 0) {
      read_end = fds[0];
      write_end = fds[1];
    }
  }
};

static_assert(!std::is_copy_constructible_v<Result<UniqueFd>>);
static_assert(std::is_move_constructible_v<Result<UniqueFd>>);

TEST(Result, OwnsAMoveOnlyValue) {
  const Pipe p;
  ASSERT_GE(p.read_end, 0);
  UniqueFd write_end(p.write_end);
  {
    Result<UniqueFd> r = UniqueFd(p.read_end);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->get(), p.read_end);
    EXPECT_TRUE(fd_is_open(p.read_end));
  }
  // The Result owned the descriptor and closed it.
  EXPECT_FALSE(fd_is_open(p.read_end));
  EXPECT_EQ(errno, EBADF);
}

TEST(Result, MovesTheValueOut) {
  const Pipe p;
  ASSERT_GE(p.read_end, 0);
  UniqueFd write_end(p.write_end);
  UniqueFd owner;
  {
    Result<UniqueFd> r = UniqueFd(p.read_end);
    ASSERT_TRUE(r);
    owner = std::move(r).value();
  }
  EXPECT_EQ(owner.get(), p.read_end);
  EXPECT_TRUE(fd_is_open(p.read_end));
  owner.reset();
  EXPECT_FALSE(owner.valid());
  EXPECT_FALSE(fd_is_open(p.read_end));
}

TEST(UniqueFd, ReleaseGivesUpOwnership) {
  const Pipe p;
  ASSERT_GE(p.read_end, 0);
  UniqueFd write_end(p.write_end);
  int raw = -1;
  {
    UniqueFd fd(p.read_end);
    UniqueFd moved(std::move(fd));
    EXPECT_FALSE(fd.valid());  // NOLINT(bugprone-use-after-move): moved-from state is specified
    raw = moved.release();
    EXPECT_FALSE(moved);
  }
  EXPECT_EQ(raw, p.read_end);
  EXPECT_TRUE(fd_is_open(raw));
  ::close(raw);
}

TEST(Status, DefaultIsSuccess) {
  const Status s;
  EXPECT_TRUE(s.has_value());
  EXPECT_TRUE(static_cast<bool>(s));
}

TEST(Status, CarriesAnError) {
  Status s = Error{"enable group", EBADF, "  reopen the group"};
  ASSERT_FALSE(s.has_value());
  EXPECT_FALSE(static_cast<bool>(s));
  EXPECT_EQ(s.error().op, "enable group");
  EXPECT_EQ(s.error().errnum, EBADF);
  const Error taken = std::move(s).take_error();
  EXPECT_EQ(taken.describe(), "enable group: Bad file descriptor\n  reopen the group");
}

}  // namespace
}  // namespace perfscope
