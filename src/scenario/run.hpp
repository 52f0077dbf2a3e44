// One scenario: the command run bare (the baseline time), then once per profile type, each in
// process through the library that makes it (cpu: recording::Recorder and the flame graph; memory:
// heap::Tracker and its views; io: syscalls::Session), filed in a staging folder beside
// RESULTS/NAME that replaces RESULTS/NAME only at the end, so RESULTS/NAME is never half-written.
// The command's standard input is /dev/null and its output goes to logs/TYPE.log, followed by
// what perfscope had to say about that run.
//
// A stop signal (SIGINT, SIGTERM, SIGHUP through the caller's SignalWatch) during a run is handled
// as that run's library handles it (passed on to the command, which has a grace period to exit);
// the run's files are still written, no further run starts, and the summary says it was
// interrupted. The library never prints: `on_phase` hears when each run starts.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "process/signal_watch.hpp"
#include "scenario/summary.hpp"

namespace perfscope::scenario {

struct ScenarioOptions {
  std::string name;                  // one folder name under `results`
  std::vector<std::string> command;  // program (a path, or a name on PATH) and arguments
  std::vector<Phase> phases = {Phase::cpu, Phase::memory, Phase::io};  // after the bare run
  unsigned freq = 99;                                                  // CPU sampling, Hz
  std::string results = "perfscope-results";
};

struct ScenarioResult {
  std::string folder;  // RESULTS/NAME
  ScenarioSummary summary;
  int stop_signal = 0;  // the signal that interrupted it, or 0
};

// Errors: a request that cannot run (name, command, --freq, the results folder) before anything
// runs; a run perfscope could not make ("the io run failed: ..."), and then nothing is left
// behind; a failed final move, which leaves an older RESULTS/NAME where it was.
Result<ScenarioResult> run_scenario(const ScenarioOptions& options, process::SignalWatch& signals,
                                    const std::function<void(Phase)>& on_phase = {});

}  // namespace perfscope::scenario
