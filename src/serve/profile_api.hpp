// ProfileApi: the JSON answers behind `perfscope serve`'s web page, each a view of one loaded
// Profile (and, with --diff, a baseline) made by the same code `report` and `flamegraph` use:
// profile::hottest (the top table), output::tree_from_profile (flame graph and icicle),
// profile::call_tree (callers and callees), profile::annotate (source lines, else disassembly),
// profile::timeline (the time bar). The page is a client of this model; it has none of its own.
//
// Every endpoint takes the same cut of the samples as query parameters:
//   pid=1,2  tid=3,4  cpu=0,1  comm=NAME  time=START-END (seconds, or 10%-20%, as report --time)
//   focus=REGEX  ignore=REGEX  type=SAMPLE_TYPE (name or index, as report --sample-type)
// A cut other than pid/comm copies the profile once; the last cut is kept for the next request
// (a page asks several endpoints for the same cut in a row).
//
// Not thread-safe: the server answers one request at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "profile/profile.hpp"
#include "serve/query_string.hpp"

namespace perfscope::serve {

struct ApiReply {
  int status = 200;  // 400: the parameters are wrong (the body says why, as {"error", "hint"})
  std::string json;
};

class ProfileApi {
 public:
  // `name` and `base_name` are how the page names the inputs (their paths).
  ProfileApi(profile::Profile profile, std::string name,
             std::optional<profile::Profile> base = std::nullopt, std::string base_name = {});
  ~ProfileApi();
  ProfileApi(ProfileApi&&) noexcept;
  ProfileApi& operator=(ProfileApi&&) noexcept;

  // `endpoint` is the path after "/api/" ("top", "flame", ...). 404 for an unknown endpoint.
  ApiReply answer(std::string_view endpoint, const QueryString& query);

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace perfscope::serve
