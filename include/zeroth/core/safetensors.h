// safetensors: the Hugging Face tensor file format, read (memory-mapped, fully validated) and
// written (byte-compatible with the reference Rust implementation).
// Format (https://huggingface.co/docs/safetensors): 8-byte little-endian header size N, N bytes of
// JSON {"__metadata__": {str: str}?, name: {"dtype", "shape", "data_offsets": [begin, end]}, ...}
// padded with spaces to a multiple of 8, then the byte buffer; offsets are relative to the buffer.
// Not here: model-specific key layouts (model/checkpoint).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace at {
class Tensor;
}

namespace zeroth {

enum class StDtype { BOOL, U8, I8, I16, F16, BF16, I32, F32, F64, I64 };

size_t st_dtype_size(StDtype dtype);
const char* st_dtype_name(StDtype dtype);  // "F32", "BF16", ...

struct StTensorInfo {
  std::string name;
  StDtype dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets into the data buffer (after the header)
  uint64_t end = 0;
  int64_t numel() const;
};

struct StHeader {
  std::vector<StTensorInfo> tensors;            // ordered by data offset
  std::map<std::string, std::string> metadata;  // "__metadata__"
  uint64_t data_start = 0;                      // 8 + header size
};

// Parses and validates the header of a whole file held in [data, data + size): header size within
// the file and below 100 MB, UTF-8 JSON object, known dtypes, shapes of non-negative integers,
// offsets contiguous from 0 without gaps or overlap, shape x dtype size == byte length, the last
// offset equal to the buffer end, no duplicate names. Errors start with `source`.
StHeader parse_safetensors_header(const uint8_t* data, size_t size, const std::string& source);

// A safetensors file, memory-mapped (or held in memory), with a validated header.
class SafetensorsFile {
 public:
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);
  static std::shared_ptr<SafetensorsFile> from_bytes(std::string bytes, const std::string& source);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& source() const { return source_; }
  const std::vector<StTensorInfo>& tensors() const { return header_.tensors; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  const StTensorInfo* find(const std::string& name) const;
  const StTensorInfo& info(const std::string& name) const;  // Error naming the file if absent
  const uint8_t* data(const StTensorInfo& info) const { return base_ + header_.data_start + info.begin; }

  // A CPU tensor with the stored dtype and shape, copied out of the file.
  at::Tensor tensor(const std::string& name) const;

 private:
  SafetensorsFile() = default;
  void init(const std::string& source);

  std::string source_;
  std::string owned_;            // from_bytes
  void* map_ = nullptr;          // open(): mmap'ed region
  size_t map_size_ = 0;
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  StHeader header_;
  std::map<std::string, size_t> index_;
};

// The tensors of a model directory: `model.safetensors`, or the shards named by
// `model.safetensors.index.json` ({"weight_map": {tensor: file}}), or a single other *.safetensors.
class SafetensorsCheckpoint {
 public:
  static SafetensorsCheckpoint open_dir(const std::string& dir);
  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const { return where_.count(name) > 0; }
  const StTensorInfo& info(const std::string& name) const;
  at::Tensor tensor(const std::string& name) const;
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, size_t> where_;  // tensor name -> index into files_
};

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

// The bytes of a safetensors file holding `tensors` (any device; contiguous copies are taken):
// tensors ordered by dtype alignment (largest first) then name, header padded with spaces to a
// multiple of 8, as the reference implementation writes them.
std::string serialize_safetensors(const NamedTensors& tensors,
                                  const std::map<std::string, std::string>& metadata = {});
// serialize_safetensors + write_file_atomic.
void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata = {});
// Writes `dir/model.safetensors`, or when the tensors exceed `max_shard_bytes`,
// `model-0000K-of-0000N.safetensors` shards plus `model.safetensors.index.json`, as
// transformers' save_pretrained does. Returns the files written.
std::vector<std::string> write_safetensors_sharded(const std::string& dir, const NamedTensors& tensors,
                                                   uint64_t max_shard_bytes,
                                                   const std::map<std::string, std::string>& metadata = {});

}  // namespace zeroth
