// TensorBoard event files: TFRecord framing with masked CRC-32C around serialized Event messages.
// Spec: TensorFlow's record format (core/lib/io/record_writer.cc) and the messages in
// src/train/proto/tensorboard_event.proto; CRC-32C as in RFC 3720 (iSCSI) appendix B.4.
#include "zeroth/train/tensorboard.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "tensorboard_event.pb.h"
#include "zeroth/core/error.h"
#include "zeroth/core/fs.h"

namespace zeroth::train {

namespace tb = zeroth::tensorboard;

namespace {

// Table-driven, one byte at a time: event files are small, so no need for SSE4.2's crc32 here.
std::array<uint32_t, 256> make_crc32c_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
    table[i] = crc;
  }
  return table;
}

void put_u64_le(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void put_u32_le(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
uint64_t get_le(const std::string& s, size_t offset, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(s[offset + i])) << (8 * i);
  return v;
}

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string host_name() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

void flatten_numbers(const Json& value, const std::string& prefix, std::vector<std::pair<std::string, double>>& out) {
  if (value.is_object()) {
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (prefix.empty() && it.key() == "step") continue;
      flatten_numbers(it.value(), prefix.empty() ? it.key() : prefix + "/" + it.key(), out);
    }
  } else if (value.is_number()) {
    double v = value.get<double>();
    if (std::isfinite(v)) out.emplace_back(prefix, v);
  } else if (value.is_boolean()) {
    out.emplace_back(prefix, value.get<bool>() ? 1.0 : 0.0);
  }
}

}  // namespace

uint32_t crc32c(const void* data, size_t size) {
  static const std::array<uint32_t, 256> table = make_crc32c_table();
  const auto* p = static_cast<const unsigned char*>(data);
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

uint32_t masked_crc32c(const void* data, size_t size) {
  uint32_t crc = crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

std::string tfrecord_frame(const std::string& data) {
  std::string out;
  out.reserve(data.size() + 16);
  put_u64_le(out, data.size());
  put_u32_le(out, masked_crc32c(out.data(), 8));
  out += data;
  put_u32_le(out, masked_crc32c(data.data(), data.size()));
  return out;
}

std::vector<std::string> read_tfrecords(const std::string& path) {
  std::string bytes = read_file(path);
  std::vector<std::string> records;
  size_t offset = 0;
  while (offset < bytes.size()) {
    if (bytes.size() - offset < 12) break;  // truncated header: a writer is still at work
    uint64_t length = get_le(bytes, offset, 8);
    uint32_t length_crc = static_cast<uint32_t>(get_le(bytes, offset + 8, 4));
    if (length_crc != masked_crc32c(bytes.data() + offset, 8)) {
      throw Error(cat(path, ": byte ", offset, ": record length CRC mismatch (not a TFRecord file, or damaged)"));
    }
    if (length > bytes.size() - offset - 12 || bytes.size() - offset - 12 - length < 4) break;  // truncated data
    std::string data = bytes.substr(offset + 12, length);
    uint32_t data_crc = static_cast<uint32_t>(get_le(bytes, offset + 12 + length, 4));
    if (data_crc != masked_crc32c(data.data(), data.size())) {
      throw Error(cat(path, ": byte ", offset, ": record data CRC mismatch (damaged record of ", length, " bytes)"));
    }
    records.push_back(std::move(data));
    offset += 16 + length;
  }
  return records;
}

std::string tensorboard_file_name(int64_t unix_seconds, const std::string& hostname) {
  return cat("events.out.tfevents.", unix_seconds, ".", hostname);
}

TensorBoardWriter::TensorBoardWriter(const std::string& log_dir) {
  std::error_code ec;
  std::filesystem::create_directories(log_dir, ec);
  if (ec) throw Error(cat(log_dir, ": cannot create the TensorBoard log directory: ", ec.message()));
  double now = unix_now();
  path_ = (std::filesystem::path(log_dir) / tensorboard_file_name(static_cast<int64_t>(now), host_name())).string();
  // Two writers in one second on one host would share a name; add a suffix as TensorFlow's
  // writers do with their own counters.
  for (int i = 1; std::filesystem::exists(path_); ++i) {
    path_ = (std::filesystem::path(log_dir) / tensorboard_file_name(static_cast<int64_t>(now), host_name())).string() +
            "." + std::to_string(i);
  }
  file_ = std::fopen(path_.c_str(), "wb");
  if (!file_) throw Error(cat(path_, ": cannot open for writing: ", std::strerror(errno)));
  tb::Event event;
  event.set_wall_time(now);
  event.set_step(0);
  event.set_file_version("brain.Event:2");
  write_event(event.SerializeAsString());
}

TensorBoardWriter::~TensorBoardWriter() {
  if (file_) std::fclose(file_);
}

void TensorBoardWriter::write_event(const std::string& serialized_event) {
  std::string record = tfrecord_frame(serialized_event);
  std::lock_guard<std::mutex> lock(mutex_);
  if (std::fwrite(record.data(), 1, record.size(), file_) != record.size() || std::fflush(file_) != 0) {
    throw Error(cat(path_, ": write failed: ", std::strerror(errno)));
  }
}

void TensorBoardWriter::add_scalar(const std::string& tag, int64_t step, double value) {
  add_scalars(step, Json{{tag, value}});
}

void TensorBoardWriter::add_scalars(int64_t step, const Json& figures) {
  std::vector<std::pair<std::string, double>> values;
  flatten_numbers(figures, "", values);
  if (values.empty()) return;
  tb::Event event;
  event.set_wall_time(unix_now());
  event.set_step(step);
  tb::Summary* summary = event.mutable_summary();
  for (const auto& [tag, value] : values) {
    tb::Summary::Value* v = summary->add_value();
    v->set_tag(tag);
    v->set_simple_value(static_cast<float>(value));
  }
  write_event(event.SerializeAsString());
}

void TensorBoardWriter::add_text(const std::string& tag, int64_t step, const std::string& text) {
  tb::Event event;
  event.set_wall_time(unix_now());
  event.set_step(step);
  tb::Summary::Value* v = event.mutable_summary()->add_value();
  v->set_tag(tag);
  // The text plugin reads a string tensor whose metadata names it; shape [1], as PyTorch writes.
  v->mutable_metadata()->mutable_plugin_data()->set_plugin_name("text");
  tb::TensorProto* tensor = v->mutable_tensor();
  tensor->set_dtype(tb::DT_STRING);
  tensor->mutable_tensor_shape()->add_dim()->set_size(1);
  tensor->add_string_val(text);
  write_event(event.SerializeAsString());
}

namespace {

std::string markdown_text(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  return v.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// A fence longer than any run of backticks in `text`, so the block cannot be closed early.
std::string fence_for(const std::string& text) {
  size_t longest = 0, run = 0;
  for (char c : text) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  return std::string(std::max<size_t>(3, longest + 1), '`');
}

}  // namespace

std::string format_samples_markdown(const std::vector<Json>& samples) {
  std::string out;
  std::string last_prompt;
  bool first = true;
  size_t index = 0;
  for (const Json& s : samples) {
    std::string prompt = s.contains("prompt") ? markdown_text(s["prompt"]) : "";
    if (first || prompt != last_prompt) {
      std::string fence = fence_for(prompt);
      out += cat(first ? "" : "\n", "### prompt\n\n", fence, "\n", prompt, "\n", fence, "\n\n");
      if (s.contains("answer")) out += "gold answer: `" + markdown_text(s["answer"]) + "`\n\n";
      last_prompt = prompt;
      first = false;
      index = 0;
    }
    std::string figures = cat("**completion ", index++, "**");
    if (s.contains("reward")) figures += " · reward " + markdown_text(s["reward"]);
    if (s.contains("advantage")) figures += " · advantage " + markdown_text(s["advantage"]);
    if (s.contains("rewards") && s["rewards"].is_object())
      for (auto it = s["rewards"].begin(); it != s["rewards"].end(); ++it)
        figures += " · " + it.key() + " " + markdown_text(it.value());
    std::string completion = s.contains("completion") ? markdown_text(s["completion"]) : "";
    std::string fence = fence_for(completion);
    out += figures + "\n\n" + fence + "\n" + completion + "\n" + fence + "\n\n";
  }
  return out;
}

void TensorBoardWriter::flush() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (std::fflush(file_) != 0) throw Error(cat(path_, ": flush failed: ", std::strerror(errno)));
}

}  // namespace zeroth::train
