// What a run records: one row of metrics per step, one result per request (requests.csv, as
// vLLM's serving benchmark reports them), and the run's summary, whose latency percentiles are
// computed from the per-request results.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/engine/engine_config.h"
#include "core/engine/step_metrics.h"
#include "core/execution/backend.h"
#include "core/execution/cost_model.h"
#include "core/memory/kv_allocator.h"
#include "core/memory/pool_metrics.h"
#include "core/scheduling/scheduler.h"

namespace tinyserve {

enum class RequestStatus : uint8_t { kFinished, kRejected, kUnfinished };

inline constexpr Named<RequestStatus> kRequestStatusNames[] = {
    {RequestStatus::kFinished, "finished"},
    {RequestStatus::kRejected, "rejected"},
    {RequestStatus::kUnfinished, "unfinished"}};

struct RequestResult {
  int64_t id = 0;
  RequestStatus status = RequestStatus::kFinished;
  double arrival = 0;
  double first_token = -1;  // simulated time of the first output token; -1: none yet
  double finish = -1;       // -1: not finished
  int32_t prompt_tokens = 0;
  int32_t output_tokens = 0;  // per sample / beam (the target when finished)
  int32_t preemptions = 0;
  int32_t prefix_hit_tokens = 0;  // prompt tokens found in the prefix cache at first admission

  bool has_first_token() const { return first_token >= 0; }
  double ttft() const { return first_token - arrival; }
  double latency() const { return finish - arrival; }
  // Mean time per output token after the first (vLLM's TPOT; the mean inter-token latency).
  double tpot() const { return (finish - first_token) / (output_tokens - 1); }
  bool has_tpot() const { return status == RequestStatus::kFinished && output_tokens > 1; }
};

// The header line of requests.csv (no newline) and one row.
std::string requests_csv_header();
void append_requests_csv_row(const RequestResult& r, std::string& out);

// What one step did, as the engine counted it.
struct StepOutcome {
  int64_t step = 0;
  double end_time = 0;  // simulated time at the end of the step
  double step_s = 0;
  int32_t batch = 0;      // sequences attended
  int64_t generated = 0;  // tokens sampled
  int64_t finished_total = 0;
  int64_t rejected_total = 0;
};

class RunRecorder {
 public:
  RunRecorder(const EngineConfig& config, int32_t num_gpu_blocks);

  // Measures the step that just ran (queues, pool, pressure, sharing, times).
  void record_step(const StepOutcome& o, const Schedule& s, const StepCost& cost,
                   const KernelTimes& times, const Scheduler& scheduler, const GroupTable& groups,
                   KvAllocator& allocator);
  // A request that left the engine: finished, or rejected (status says which).
  void request_done(const SequenceGroup& g, RequestStatus status, double t);

  const StepMetrics& last() const { return last_; }
  const std::vector<StepMetrics>& history() const { return history_; }
  const std::vector<RequestResult>& requests() const { return requests_; }
  // The events of this step the recorder adds (evictions).
  const std::vector<BlockId>& last_evicted() const { return evicted_; }

  // unfinished: the requests still in the engine (status kUnfinished).
  RunSummary summary(const std::vector<RequestResult>& unfinished, const std::string& backend,
                     int64_t steps, double now, int64_t num_requests) const;

 private:
  FragmentationParams fragmentation_;
  double block_bytes_;  // one block over the model's layers (swapped bytes)
  bool keep_history_;
  TemporalFragmentation temporal_;
  FreeRunMeter free_runs_;
  StepMetrics last_;
  std::vector<StepMetrics> history_;
  std::vector<RequestResult> requests_;
  std::vector<BlockId> evicted_;

  int64_t generated_ = 0, preemptions_ = 0, recomputed_ = 0;
  int64_t cow_copies_ = 0, evictions_ = 0, swapped_blocks_ = 0;
  int32_t peak_running_seqs_ = 0;
  double sum_usage_ = 0, peak_usage_ = 0, sum_utilization_ = 0, sum_external_ = 0, sum_f_total_ = 0;
  double sum_f_total_norm_ = 0;
  double time_ = 0, time_usage_ = 0, time_utilization_ = 0, time_external_ = 0;
  double time_f_total_norm_ = 0;
  double sum_attention_ms_ = 0, sum_contiguous_ms_ = 0, sum_modelled_attention_ms_ = 0;
  int64_t decode_blocks_full_ = 0, decode_blocks_read_ = 0;
  double decode_bytes_full_ = 0, decode_bytes_read_ = 0;
  int64_t measured_steps_ = 0, contiguous_steps_ = 0;
};

RequestResult request_result(const SequenceGroup& g, RequestStatus status, double finish);

}  // namespace tinyserve
