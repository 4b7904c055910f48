// Supervised fine-tuning loop. See sft_trainer.h.
#include "zeroth/train/sft_trainer.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <numeric>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "zeroth/algo/sft_loss.h"
#include "zeroth/core/error.h"
#include "zeroth/core/metrics.h"
#include "zeroth/core/progress.h"
#include "zeroth/core/random.h"
#include "zeroth/train/checkpoints.h"
#include "zeroth/train/schedule.h"
#include "zeroth/train/tensorboard.h"

namespace zeroth::train {

namespace fs = std::filesystem;

SftOptions SftOptions::from_json(const JsonReader& r) {
  SftOptions o;
  o.optimizer.lr = 1e-5;
  o.optimizer.lr_scheduler = LrSchedule::Cosine;
  o.optimizer.warmup_ratio = 0.03;
  o.steps = r.get_or<int64_t>("steps", o.steps);
  o.epochs = r.get_or<int64_t>("epochs", o.epochs);
  o.batch_size = r.get_or<int64_t>("batch_size", o.batch_size);
  o.micro_batch_tokens = r.get_or<int64_t>("micro_batch_tokens", o.micro_batch_tokens);
  o.max_length = r.get_or<int64_t>("max_length", o.max_length);
  o.logprob_chunk = r.get_or<int64_t>("logprob_chunk", o.logprob_chunk);
  if (r.has("loss_agg_mode")) o.loss_agg_mode = algo::parse_loss_aggregation(r.get<std::string>("loss_agg_mode"), r.where("loss_agg_mode"));
  if (r.has("optimizer")) {
    // Unset keys keep the SFT defaults above: read the object over a copy of them.
    Json merged = Json{{"lr", o.optimizer.lr}, {"lr_scheduler", "cosine"}, {"warmup_ratio", o.optimizer.warmup_ratio}};
    const Json& given_json = r.at("optimizer").json();
    if (given_json.is_object() && given_json.contains("warmup_steps")) merged.erase("warmup_ratio");
    for (const auto& [k, v] : given_json.items()) merged[k] = v;
    JsonReader given = r.at("optimizer");
    for (const auto& k : given.keys()) given.mark_used(k);
    o.optimizer = OptimizerOptions::from_json(JsonReader::owning(merged, r.where("optimizer")));
  }
  o.eval_every = r.get_or<int64_t>("eval_every", o.eval_every);
  o.save_every = r.get_or<int64_t>("save_every", o.save_every);
  o.save_minutes = r.get_or<double>("save_minutes", o.save_minutes);
  if (o.save_every < 0) r.fail("save_every: expected >= 0 (0: no step-count checkpoints)");
  if (!(o.save_minutes >= 0)) r.fail("save_minutes: expected >= 0 (0: no time-based checkpoints)");
  o.log_every = r.get_or<int64_t>("log_every", o.log_every);
  o.gradient_checkpointing = r.get_or<bool>("gradient_checkpointing", o.gradient_checkpointing);
  if (o.steps < 0) r.fail("steps: expected >= 0");
  if (o.epochs < 1) r.fail("epochs: expected >= 1");
  if (o.batch_size < 1) r.fail("batch_size: expected >= 1");
  if (o.micro_batch_tokens < 1) r.fail("micro_batch_tokens: expected >= 1");
  if (o.max_length < 2) r.fail("max_length: expected >= 2");
  if (o.log_every < 1) r.fail("log_every: expected >= 1");
  return o;
}

int64_t SftOptions::total_steps(int64_t examples) const {
  if (steps > 0) return steps;
  return std::max<int64_t>(1, (examples * epochs + batch_size - 1) / batch_size);
}

Json train_sft(const SftRun& run, const SftOptions& o) {
  ZEROTH_CHECK(run.model, "train_sft: no model");
  if (run.train.empty()) throw Error("SFT: no training examples");
  model::TransformerImpl& m = *run.model;
  fs::create_directories(run.dir);

  // Cut over-long sequences: the response keeps what fits after the prompt.
  std::vector<Sequence> data = run.train;
  int64_t cut = 0;
  for (auto& s : data) {
    const int64_t total = static_cast<int64_t>(s.prompt.size() + s.completion.size());
    if (total > o.max_length) {
      ++cut;
      const int64_t keep = std::max<int64_t>(0, o.max_length - static_cast<int64_t>(s.prompt.size()));
      s.completion.resize(static_cast<size_t>(keep));
    }
  }
  if (cut > 0) spdlog::warn("SFT: {} of {} examples are longer than max_length {} and were cut", cut, data.size(), o.max_length);

  const int64_t total = o.total_steps(static_cast<int64_t>(data.size()));
  Checkpoints checkpoints(run.dir + "/checkpoints");
  CheckpointSchedule schedule(o.save_every, o.save_minutes);
  Distributed single_process;                                   // [dist] no-op when run.dist is null
  Distributed& dist = run.dist ? *run.dist : single_process;    // [dist]
  dist.broadcast_parameters(m);  // [dist] rank 0's weights, before AdamW copies its fp32 masters
  AdamW optimizer(m, o.optimizer);
  optimizer.shard(dist);                                        // [dist] ZeRO-1
  NonFiniteGuard guard(o.optimizer.max_consecutive_skips);
  int64_t start_step = 0, position = 0, skipped_total = 0;
  // The loss logged every log_every steps is the mean since the last log: its sums travel with the
  // checkpoint, so a resumed run logs the uninterrupted run's figures.
  double window_loss = 0, window_tokens = 0;
  if (run.resume) {
    if (auto latest = checkpoints.latest()) {
      start_step = checkpoints.restore(*latest, optimizer);
      position = latest->state.value("position", int64_t{0});
      skipped_total = latest->state.value("skipped_updates", int64_t{0});
      window_loss = latest->state.value("window_loss", 0.0);
      window_tokens = latest->state.value("window_tokens", 0.0);
      spdlog::info("resuming SFT from {} (step {})", latest->dir, start_step);
    }
  }
  if (dist.is_main()) truncate_metrics_after(run.dir + "/metrics.jsonl", start_step, start_step == total);  // [dist]
  MetricsWriter metrics(dist.is_main() ? run.dir + "/metrics.jsonl" : "/dev/null", start_step == 0);  // [dist]
  std::unique_ptr<TensorBoardWriter> tensorboard;  // rank 0 only
  if (dist.is_main()) tensorboard = std::make_unique<TensorBoardWriter>(run.dir);
  Progress progress({.label = "sft", .total = total - start_step, .unit = "steps"});
  m.set_gradient_checkpointing(o.gradient_checkpointing);

  // The order of epoch e is a shuffle seeded by (seed, e); `position` counts sequences consumed.
  const int64_t n = static_cast<int64_t>(data.size());
  auto order_of = [&](int64_t epoch) {
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    SplitMix64 rng(derive_seed(run.seed, {0x5F7, static_cast<uint64_t>(epoch)}));
    for (int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[rng.below(static_cast<uint64_t>(i + 1))]);
    return order;
  };
  int64_t cached_epoch = -1;
  std::vector<int64_t> order;

  Json last_eval;
  auto run_eval = [&](int64_t step) {
    if (run.rules == nullptr || run.tokenizer == nullptr) return;
    last_eval = evaluate_and_record(m, *run.tokenizer, run.eval, *run.rules, run.eval_options, step, metrics,
                                    tensorboard.get());
  };
  if (start_step == 0 && o.eval_every > 0) run_eval(0);

  auto window_start = std::chrono::steady_clock::now();
  double window_padded = 0;
  for (int64_t step = start_step + 1; step <= total; ++step) {
    std::vector<int64_t> rows;
    for (int64_t i = 0; i < o.batch_size; ++i, ++position) {
      const int64_t epoch = position / n;
      if (epoch != cached_epoch) {
        order = order_of(epoch);
        cached_epoch = epoch;
      }
      rows.push_back(order[static_cast<size_t>(position % n)]);
    }
    if (dist.world() > 1) {  // [dist] this rank's slice of the step's batch
      const int64_t B = static_cast<int64_t>(rows.size()), W = dist.world(), r = dist.rank();
      rows = std::vector<int64_t>(rows.begin() + B * r / W, rows.begin() + B * (r + 1) / W);
    }
    algo::LossNormalizer norm;
    for (int64_t r : rows) {
      const auto len = static_cast<double>(data[static_cast<size_t>(r)].completion.size());
      norm.num_tokens += len;
      norm.num_sequences += len > 0;
    }
    norm.constant_length = static_cast<double>(o.max_length);
    if (dist.world() > 1) {  // [dist] global normalizers
      std::vector<double> v{norm.num_tokens, norm.num_sequences};
      dist.all_reduce_sum(v);
      norm.num_tokens = v[0];
      norm.num_sequences = v[1];
    }
    const double padded_before = window_padded;  // [dist]
    std::stable_sort(rows.begin(), rows.end(), [&](int64_t a, int64_t b) {
      return data[static_cast<size_t>(a)].prompt.size() + data[static_cast<size_t>(a)].completion.size() <
             data[static_cast<size_t>(b)].prompt.size() + data[static_cast<size_t>(b)].completion.size();
    });
    m.train();
    optimizer.zero_grad();
    double step_loss = 0, step_tokens = 0;
    if (norm.num_tokens > 0) {
      for (const auto& micro : split_by_tokens(data, rows, o.micro_batch_tokens)) {
        auto batch = pad_batch(data, micro, m.device());
        auto lp = completion_logprobs(m, batch, o.logprob_chunk);
        auto out = algo::sft_loss(lp, batch.completion_mask, o.loss_agg_mode, norm);
        out.loss.backward();
        step_loss += out.token_sum;
        step_tokens += out.num_tokens;
        window_padded += static_cast<double>(batch.ids.numel());
      }
    }
    if (dist.world() > 1) {  // [dist] sum gradients and the loss figures over ranks
      if (norm.num_tokens > 0) dist.all_reduce_gradients(m);
      std::vector<double> v{step_loss, step_tokens, window_padded - padded_before};
      dist.all_reduce_sum(v);
      step_loss = v[0];
      step_tokens = v[1];
      window_padded = padded_before + v[2];
    }
    const double lr = learning_rate_at(o.optimizer, optimizer.num_steps() + skipped_total, total);
    auto result = optimizer.step(lr);
    guard.record(result.applied(), step, "gradients");
    if (!result.applied()) ++skipped_total;
    window_loss += step_loss;
    window_tokens += step_tokens;

    if (step % o.log_every == 0 || step == total) {
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - window_start).count();
      Json f{{"loss", window_tokens > 0 ? window_loss / window_tokens : 0.0},
             {"lr", lr},
             {"grad_norm", result.grad_norm},
             {"epoch", static_cast<double>(position) / static_cast<double>(n)},
             {"tokens_per_s", seconds > 0 ? window_padded / seconds : 0.0}};
      metrics.write(step, f);
      if (tensorboard) tensorboard->add_scalars(step, f);
      if (tensorboard) tensorboard->flush();
      spdlog::info("sft step {}/{}: loss {:.4f} lr {:.2e} grad {:.3f} epoch {:.2f}", step, total, f["loss"].get<double>(),
                   lr, result.grad_norm, f["epoch"].get<double>());
      window_start = std::chrono::steady_clock::now();
      window_loss = window_tokens = window_padded = 0;
    }
    progress.advance();
    if (o.eval_every > 0 && step % o.eval_every == 0 && step != total) run_eval(step);
    if (schedule.due(step, total, dist)) {
      if (dist.is_main()) {  // [dist] rank 0 writes; the others take part in the optimizer-state gather
        checkpoints.save(step, optimizer,
                         Json{{"position", position},
                              {"skipped_updates", skipped_total},
                              {"window_loss", window_loss},
                              {"window_tokens", window_tokens}},
                         run.save_model);
      } else {
        optimizer.state_tensors();
      }
      dist.barrier(std::chrono::hours(24));  // [dist] rank 0 writes the checkpoint; a dead rank 0 still fails it at once
      schedule.saved();
    }
  }
  run_eval(total);
  return last_eval;
}

}  // namespace zeroth::train
