// safetensors reading (mmap + validation) and writing (reference-compatible byte layout).
// Assumes a little-endian host, as the format does.
#include "zeroth/core/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include <torch/torch.h>

#include "zeroth/core/error.h"
#include "zeroth/core/fs.h"
#include "zeroth/core/json.h"

namespace zeroth {
namespace {

const at::ScalarType kScalarTypes[] = {at::kBool, at::kByte, at::kChar,   at::kShort, at::kHalf,
                                       at::kBFloat16, at::kInt, at::kFloat, at::kDouble, at::kLong};

at::ScalarType scalar_type_of(StDtype dtype) { return kScalarTypes[static_cast<int>(dtype)]; }

StDtype dtype_of(at::ScalarType scalar) {
  for (int i = 0; i < 10; ++i) {
    if (kScalarTypes[i] == scalar) return static_cast<StDtype>(i);
  }
  throw Error(cat("safetensors: cannot store tensors of type ", c10::toString(scalar)));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// SafetensorsFile

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(cat(path, ": cannot open: ", std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(path + ": not a regular file");
  }
  file->size_ = static_cast<size_t>(st.st_size);
  if (file->size_ > 0) {
    void* map = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      throw Error(cat(path, ": mmap failed: ", std::strerror(err)));
    }
    file->map_ = map;
    file->map_size_ = file->size_;
    file->base_ = static_cast<const uint8_t*>(map);
  }
  ::close(fd);
  file->init(path);
  return file;
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::from_bytes(std::string bytes, const std::string& source) {
  std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->owned_ = std::move(bytes);
  file->base_ = reinterpret_cast<const uint8_t*>(file->owned_.data());
  file->size_ = file->owned_.size();
  file->init(source);
  return file;
}

void SafetensorsFile::init(const std::string& source) {
  source_ = source;
  header_ = parse_safetensors_header(base_, size_, source);
  for (size_t i = 0; i < header_.tensors.size(); ++i) index_[header_.tensors[i].name] = i;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, map_size_);
}

const StTensorInfo* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &header_.tensors[it->second];
}

const StTensorInfo& SafetensorsFile::info(const std::string& name) const {
  const StTensorInfo* found = find(name);
  if (!found) throw Error(source_ + ": no tensor named " + quote(name));
  return *found;
}

at::Tensor SafetensorsFile::tensor(const std::string& name) const {
  const StTensorInfo& i = info(name);
  at::Tensor out = torch::empty(i.shape, torch::TensorOptions().dtype(scalar_type_of(i.dtype)));
  if (i.end > i.begin) std::memcpy(out.data_ptr(), data(i), i.end - i.begin);
  return out;
}

// ---------------------------------------------------------------------------------------------
// SafetensorsCheckpoint

SafetensorsCheckpoint SafetensorsCheckpoint::open_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  require_directory(dir, "model directory");
  SafetensorsCheckpoint ckpt;
  ckpt.dir_ = dir;
  fs::path index_path = fs::path(dir) / "model.safetensors.index.json";
  fs::path single = fs::path(dir) / "model.safetensors";
  std::vector<std::pair<std::string, std::vector<std::string>>> files;  // file -> expected tensors
  if (fs::exists(index_path)) {
    JsonReader index = JsonReader::owning(load_json(index_path.string()), index_path.string());
    JsonReader weight_map = index.at("weight_map");
    std::map<std::string, std::vector<std::string>> by_file;
    for (const auto& name : weight_map.keys()) by_file[weight_map.get<std::string>(name)].push_back(name);
    for (auto& [file, names] : by_file) {
      if (file.find('/') != std::string::npos || file == "..") {
        throw Error(cat(index_path.string(), ": weight_map names a file outside the directory: ", quote(file)));
      }
      files.emplace_back(file, names);
    }
  } else if (fs::exists(single)) {
    files.emplace_back("model.safetensors", std::vector<std::string>{});
  } else {
    std::vector<std::string> found;
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.path().extension() == ".safetensors") found.push_back(entry.path().filename().string());
    }
    if (found.size() != 1) {
      throw Error(cat(dir, ": no model.safetensors or model.safetensors.index.json",
                      found.empty() ? "" : " (and several other .safetensors files)"));
    }
    files.emplace_back(found[0], std::vector<std::string>{});
  }
  for (const auto& [file, expected] : files) {
    auto opened = SafetensorsFile::open((fs::path(dir) / file).string());
    size_t index = ckpt.files_.size();
    ckpt.files_.push_back(opened);
    for (const auto& name : expected) {
      if (!opened->find(name)) {
        throw Error(cat(index_path.string(), ": weight_map puts ", quote(name), " in ", file, ", which lacks it"));
      }
    }
    for (const auto& info : opened->tensors()) {
      if (!ckpt.where_.emplace(info.name, index).second) {
        throw Error(cat(dir, ": tensor ", quote(info.name), " appears in more than one file"));
      }
    }
  }
  return ckpt;
}

std::vector<std::string> SafetensorsCheckpoint::names() const {
  std::vector<std::string> out;
  for (const auto& [name, index] : where_) out.push_back(name);
  return out;
}

const StTensorInfo& SafetensorsCheckpoint::info(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) throw Error(dir_ + ": no tensor named " + quote(name));
  return files_[it->second]->info(name);
}

at::Tensor SafetensorsCheckpoint::tensor(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) throw Error(dir_ + ": no tensor named " + quote(name));
  return files_[it->second]->tensor(name);
}

// ---------------------------------------------------------------------------------------------
// Writing

std::string serialize_safetensors(const NamedTensors& tensors, const std::map<std::string, std::string>& metadata) {
  struct Item {
    std::string name;
    StDtype dtype;
    at::Tensor tensor;
  };
  std::vector<Item> items;
  std::set<std::string> names;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__") throw Error("safetensors: \"__metadata__\" is not a valid tensor name");
    if (!names.insert(name).second) throw Error("safetensors: duplicate tensor name " + quote(name));
    items.push_back({name, dtype_of(t.scalar_type()), t.detach().to(torch::kCPU).contiguous()});
  }
  // Largest alignment first, then by name (the reference implementation's order).
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    if (a.dtype != b.dtype) return static_cast<int>(a.dtype) > static_cast<int>(b.dtype);
    return a.name < b.name;
  });
  Json header = Json::object();
  if (!metadata.empty()) {
    Json meta = Json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = meta;
  }
  uint64_t offset = 0;
  for (const auto& item : items) {
    uint64_t n = static_cast<uint64_t>(item.tensor.numel()) * st_dtype_size(item.dtype);
    Json shape = Json::array();
    for (int64_t d : item.tensor.sizes()) shape.push_back(d);
    header[item.name] = Json{{"dtype", st_dtype_name(item.dtype)}, {"shape", shape}, {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  std::string header_text = header.dump();
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  std::string out;
  out.reserve(8 + header_text.size() + offset);
  uint64_t n = header_text.size();
  out.append(reinterpret_cast<const char*>(&n), 8);
  out += header_text;
  for (const auto& item : items) {
    size_t bytes = static_cast<size_t>(item.tensor.numel()) * st_dtype_size(item.dtype);
    if (bytes) out.append(static_cast<const char*>(item.tensor.data_ptr()), bytes);
  }
  return out;
}

void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata) {
  write_file_atomic(path, serialize_safetensors(tensors, metadata));
}

std::vector<std::string> write_safetensors_sharded(const std::string& dir, const NamedTensors& tensors,
                                                   uint64_t max_shard_bytes,
                                                   const std::map<std::string, std::string>& metadata) {
  namespace fs = std::filesystem;
  uint64_t total = 0;
  for (const auto& [name, t] : tensors) total += static_cast<uint64_t>(t.numel()) * t.element_size();
  std::error_code ec;
  fs::remove(fs::path(dir) / "model.safetensors.index.json", ec);
  if (total <= max_shard_bytes) {
    std::string path = (fs::path(dir) / "model.safetensors").string();
    write_safetensors(path, tensors, metadata);
    return {path};
  }
  // Greedy split in the given order, as transformers' shard_checkpoint does.
  std::vector<NamedTensors> shards(1);
  uint64_t current = 0;
  for (const auto& entry : tensors) {
    uint64_t bytes = static_cast<uint64_t>(entry.second.numel()) * entry.second.element_size();
    if (current > 0 && current + bytes > max_shard_bytes) {
      shards.emplace_back();
      current = 0;
    }
    shards.back().push_back(entry);
    current += bytes;
  }
  std::vector<std::string> written;
  Json weight_map = Json::object();
  char name[64];
  for (size_t i = 0; i < shards.size(); ++i) {
    std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", i + 1, shards.size());
    std::string path = (fs::path(dir) / name).string();
    write_safetensors(path, shards[i], metadata);
    written.push_back(path);
    for (const auto& [tensor_name, t] : shards[i]) weight_map[tensor_name] = name;
  }
  Json sorted_map = Json::object();
  std::vector<std::string> keys;
  for (auto it = weight_map.begin(); it != weight_map.end(); ++it) keys.push_back(it.key());
  std::sort(keys.begin(), keys.end());
  for (const auto& k : keys) sorted_map[k] = weight_map[k];
  Json index = {{"metadata", {{"total_size", total}}}, {"weight_map", sorted_map}};
  std::string index_path = (fs::path(dir) / "model.safetensors.index.json").string();
  write_file_atomic(index_path, index.dump(2) + "\n");
  written.push_back(index_path);
  fs::remove(fs::path(dir) / "model.safetensors", ec);
  return written;
}

}  // namespace zeroth
