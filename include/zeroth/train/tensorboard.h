// TensorBoardWriter: writes events.out.tfevents.<time>.<host> files that `tensorboard --logdir`
// reads like a PyTorch run's: scalars and text samples. metrics.jsonl stays the source of truth;
// this is a view for people who already use TensorBoard. Not a reader of other tools' files.
//
// File format (TFRecord): each record is
//   uint64 length (little-endian) | uint32 masked_crc32c(length bytes) | data | uint32 masked_crc32c(data)
// where masked_crc32c(x) = ((crc >> 15) | (crc << 17)) + 0xa282ead8 over CRC-32C (Castagnoli).
// Each record's data is a serialized Event message (src/train/proto/tensorboard_event.proto); the
// first one holds file_version "brain.Event:2".
//
//   TensorBoardWriter tb(run_dir + "/grpo");          // one file per writer
//   tb.add_scalars(step, {{"reward_mean", 0.4}, {"kl", 0.01}});
//   tb.add_text("samples/0", step, completion_markdown);
#pragma once

#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include "zeroth/core/json.h"

namespace zeroth::train {

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) of `size` bytes, as in RFC 3720 B.4.
uint32_t crc32c(const void* data, size_t size);
// TFRecord's masked CRC: rotate right by 15 and add 0xa282ead8 (so a CRC of data holding CRCs
// does not look like one).
uint32_t masked_crc32c(const void* data, size_t size);
// One record: length, masked CRC of the length, data, masked CRC of the data.
std::string tfrecord_frame(const std::string& data);
// The data of every record in `path`, checking both CRCs of each. A truncated last record (a run
// still being written) is dropped; any other damage is an Error naming the file and byte offset.
std::vector<std::string> read_tfrecords(const std::string& path);

class TensorBoardWriter {
 public:
  // Creates `log_dir` if needed and opens log_dir/events.out.tfevents.<unix seconds>.<hostname>;
  // writes the file_version event.
  explicit TensorBoardWriter(const std::string& log_dir);
  ~TensorBoardWriter();
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  // One scalar (stored as float32, as TensorBoard does). Non-finite values are skipped.
  void add_scalar(const std::string& tag, int64_t step, double value);
  // Every finite number of a metrics object (nested objects flatten to "a/b"), except "step",
  // in one Event. This is how a metrics.jsonl line becomes TensorBoard scalars.
  void add_scalars(int64_t step, const Json& figures);
  // A text sample, shown by TensorBoard's Text tab (rendered as Markdown).
  void add_text(const std::string& tag, int64_t step, const std::string& text);
  // Flushes buffered records to the file (each add_* flushes too: a killed run loses nothing).
  void flush();

  const std::string& path() const { return path_; }

 private:
  void write_event(const std::string& serialized_event);

  std::string path_;
  std::FILE* file_ = nullptr;
  std::mutex mutex_;
};

// samples.jsonl objects of one step ({"prompt", "completion", "rewards", "reward", "advantage",
// "answer"}) as Markdown for add_text: per prompt a heading and the gold answer, per completion a
// line of figures and the completion in a fenced block (so <think>/<answer> tags show literally).
std::string format_samples_markdown(const std::vector<Json>& samples);

// events.out.tfevents.<unix_seconds>.<hostname>, the name TensorBoard globs for.
std::string tensorboard_file_name(int64_t unix_seconds, const std::string& hostname);

}  // namespace zeroth::train
