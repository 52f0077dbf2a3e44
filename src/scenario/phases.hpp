// The runs of a scenario, one function each: the command in process through the library that
// profiles it, its files written into the staging folder, its numbers into the summary. Internal
// to scenario/ (run.cpp sequences them).
#pragma once

#include <string>
#include <string_view>

#include "core/error.hpp"
#include "process/signal_watch.hpp"
#include "recording/recorder.hpp"
#include "scenario/run.hpp"
#include "scenario/run_log.hpp"
#include "scenario/summary.hpp"

namespace perfscope::scenario {

// What every run needs: the request, where its files go, what stops it.
struct RunContext {
  const ScenarioOptions& options;
  std::string folder;  // the staging folder
  process::SignalWatch& signals;

  std::string file(std::string_view name) const { return folder + "/" + std::string(name); }
};

struct RunOutcome {
  RunRecord record;
  int stop_signal = 0;  // the signal that cut the run short, or 0
};

Result<RunOutcome> run_bare(const RunContext& context);
Result<RunOutcome> run_cpu(const RunContext& context, ScenarioSummary& summary);
Result<RunOutcome> run_memory(const RunContext& context, ScenarioSummary& summary);
Result<RunOutcome> run_io(const RunContext& context, ScenarioSummary& summary);

// The CPU run's recording of `options`' command, whose output goes to `log`.
Result<recording::RecordResult> record_cpu(const recording::RecordOptions& options,
                                           const RunLog& log, process::SignalWatch& signals);

}  // namespace perfscope::scenario
