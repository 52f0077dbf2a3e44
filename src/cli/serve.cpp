// `perfscope serve -i PROFILE [--port N] [--bind ADDR] [--diff BASE]`: loads the profile (and the
// baseline), listens, prints the page's URL (stdout: the URL alone, the one data line; stderr: a
// note for a person) and answers requests until SIGINT or SIGTERM. Everything the page needs is in
// the binary; the page asks only this server.
#include "cli/serve.hpp"

#include <poll.h>
#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <optional>

#include "cli/flags.hpp"
#include "cli/report_error.hpp"
#include "formats/input.hpp"
#include "monitor/http_server.hpp"
#include "process/signal_watch.hpp"
#include "serve/web_app.hpp"

namespace perfscope::cli {
namespace {

constexpr const char* kCmd = "serve";

struct ServeOptions {
  std::string input = formats::kDefaultProfile;
  std::string diff;  // --diff BASE: the baseline
  std::string bind = "127.0.0.1";
  std::uint16_t port = 0;  // any free port: the URL says which
  std::uint64_t max_input_mib = formats::kDefaultMaxInputBytes >> 20;
};

Result<profile::Profile> load(const std::string& path, std::uint64_t max_mib) {
  auto in = formats::load_input(path, {.max_bytes = max_mib << 20});
  if (!in) return in.error();
  for (const auto& note : in->notes) fmt::print(stderr, "perfscope serve: {}\n", note);
  if (in->profile.sample_types.empty() && !in->profile.samples().empty()) {
    return Error{path + " has samples but no sample types", 0,
                 "  the profile is malformed; record it again"};
  }
  return std::move(in->profile);
}

bool is_loopback(const std::string& address) {
  return address == "127.0.0.1" || address == "::1" || address == "localhost" ||
         address.starts_with("127.");
}

std::vector<std::string> host_names(const std::string& bind) {
  std::vector<std::string> names = {bind};
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0 && host[0] != '\0') names.emplace_back(host);
  return names;
}

int run_serve(const ServeOptions& o) {
  // Everything that can fail comes before the URL is printed: a printed URL works.
  auto p = load(o.input, o.max_input_mib);
  if (!p) return report_error(kCmd, p.error());
  std::optional<profile::Profile> base;
  if (!o.diff.empty()) {
    auto b = load(o.diff, o.max_input_mib);
    if (!b) return report_error(kCmd, b.error());
    base = std::move(*b);
  }
  const std::size_t samples = p->samples().size();
  auto server = monitor::MetricsServer::listen(
      o.bind, o.port, {},
      {.what = "perfscope serve",
       .other_port = "pick another with --port, or --port 0 for any free one"});
  if (!server) return report_error(kCmd, server.error());
  auto signals = process::SignalWatch::create();
  if (!signals) return report_error(kCmd, signals.error());
  // std::function copies its target: the app (and the profile in it) is shared, never copied.
  auto app = std::make_shared<serve::WebApp>(
      serve::ProfileApi(std::move(*p), formats::input_name(o.input), std::move(base),
                        o.diff.empty() ? std::string() : formats::input_name(o.diff)),
      host_names(o.bind));
  server->set_handler([app](const monitor::HttpRequest& r) { return (*app)(r); });

  // A wildcard address is not one to browse to: this machine's own stands in for it.
  std::string url = server->origin() + "/";
  if (o.bind == "0.0.0.0" || o.bind == "::") {
    url = fmt::format("http://{}:{}/", o.bind == "::" ? "[::1]" : "127.0.0.1", server->port());
  }
  if (!is_loopback(o.bind)) {
    fmt::print(stderr,
               "perfscope serve: listening on {}, not only this machine: anyone who can reach "
               "port {} can read the profile\n",
               o.bind, server->port());
  }
  fmt::print(stderr, "perfscope serve: {} ({} samples) at {} (Ctrl-C stops)\n",
             formats::input_name(o.input), samples, url);
  fmt::print("{}\n", url);
  std::fflush(stdout);

  while (true) {
    pollfd fds[2] = {{server->fd(), POLLIN, 0}, {signals->fd(), POLLIN, 0}};
    // A second: idle and slow connections are closed on time even when nothing else happens.
    if (::poll(fds, 2, 1000) < 0 && errno != EINTR) {
      return report_error(kCmd, errno_error("poll"));
    }
    if (fds[1].revents & POLLIN) {
      const auto sig = signals->next();
      if (sig.number == SIGINT || sig.number == SIGTERM || sig.number == SIGHUP) break;
    }
    server->serve();
  }
  fmt::print(stderr, "perfscope serve: stopped after {} requests\n", server->requests());
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<ServeOptions>();
  auto* sub = app.add_subcommand(
      "serve", "Explore a saved profile in a browser: top table, flame graph, callers, source");
  sub->add_option("-i,--input", o->input,
                  "The profile to show: pprof, folded stacks, perf script text, speedscope JSON "
                  "or perf.data, gzipped or not")
      ->capture_default_str();
  sub->add_option("--diff", o->diff,
                  "A baseline profile: the Diff view colours what grew (red) and shrank (blue)");
  sub->add_option("--port", o->port, "The TCP port (0: any free one; the URL says which)")
      ->capture_default_str();
  sub->add_option("--bind", o->bind,
                  "The address to listen on; anything but 127.0.0.1 or ::1 lets other machines "
                  "read the profile")
      ->capture_default_str();
  add_max_input(sub, o->max_input_mib);
  sub->footer(
      "Prints the page's URL on standard output (one line) and a note on standard error, then\n"
      "serves until Ctrl-C or SIGTERM. The page and its scripts come from the binary: it needs\n"
      "no network. Examples:\n"
      "  perfscope serve                                (perfscope.pb.gz, any free port)\n"
      "  perfscope serve -i app.pb.gz --port 8080       (a fixed port)\n"
      "  perfscope serve -i new.pb.gz --diff old.pb.gz  (what changed)");
  sub->callback([o, &exit_code] { exit_code = run_serve(*o); });
}

}  // namespace perfscope::cli
