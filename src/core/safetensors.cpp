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

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference implementation's limit

struct DtypeRow {
  StDtype dtype;
  const char* name;
  size_t size;
  at::ScalarType scalar;
};
const DtypeRow kDtypes[] = {
    {StDtype::BOOL, "BOOL", 1, at::kBool}, {StDtype::U8, "U8", 1, at::kByte},
    {StDtype::I8, "I8", 1, at::kChar},     {StDtype::I16, "I16", 2, at::kShort},
    {StDtype::F16, "F16", 2, at::kHalf},   {StDtype::BF16, "BF16", 2, at::kBFloat16},
    {StDtype::I32, "I32", 4, at::kInt},    {StDtype::F32, "F32", 4, at::kFloat},
    {StDtype::F64, "F64", 8, at::kDouble}, {StDtype::I64, "I64", 8, at::kLong},
};

const DtypeRow& row(StDtype dtype) { return kDtypes[static_cast<int>(dtype)]; }

StDtype dtype_of(at::ScalarType scalar) {
  for (const auto& r : kDtypes) {
    if (r.scalar == scalar) return r.dtype;
  }
  throw Error(cat("safetensors: cannot store tensors of type ", c10::toString(scalar)));
}

bool checked_mul(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_mul_overflow(a, b, out); }

}  // namespace

size_t st_dtype_size(StDtype dtype) { return row(dtype).size; }
const char* st_dtype_name(StDtype dtype) { return row(dtype).name; }

int64_t StTensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

StHeader parse_safetensors_header(const uint8_t* data, size_t size, const std::string& source) {
  auto fail = [&](const std::string& message) -> Error { return Error(source + ": invalid safetensors file: " + message); };
  if (size < 8) throw fail(cat("file is ", size, " bytes, shorter than the 8-byte header size"));
  uint64_t header_size = 0;
  std::memcpy(&header_size, data, 8);
  if (header_size > kMaxHeaderBytes) throw fail(cat("header size ", header_size, " exceeds the 100 MB limit"));
  if (header_size > size - 8) {
    throw fail(cat("header size ", header_size, " runs past the end of the file (", size, " bytes)"));
  }
  std::string text(reinterpret_cast<const char*>(data + 8), header_size);
  if (text.empty() || text[0] != '{') throw fail("header does not start with '{'");

  // Duplicate top-level names are an error; nlohmann would silently keep one, so watch the keys.
  std::set<std::string> seen;
  std::string duplicate;
  Json::parser_callback_t on_event = [&](int depth, nlohmann::json::parse_event_t event, Json& parsed) {
    if (event == nlohmann::json::parse_event_t::key && depth == 1) {
      std::string key = parsed.get<std::string>();
      if (!seen.insert(key).second && duplicate.empty()) duplicate = key;
    }
    return true;
  };
  Json header;
  try {
    header = Json::parse(text, on_event, /*allow_exceptions=*/true);
  } catch (const nlohmann::json::exception& e) {
    throw fail(std::string("header is not valid JSON: ") + e.what());
  }
  if (!duplicate.empty()) throw fail("duplicate tensor name " + quote(duplicate));
  if (!header.is_object()) throw fail("header is not a JSON object");

  StHeader out;
  out.data_start = 8 + header_size;
  const uint64_t buffer_size = size - out.data_start;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const Json& value = it.value();
    if (name == "__metadata__") {
      if (!value.is_object()) throw fail("__metadata__ must be an object of strings");
      for (auto m = value.begin(); m != value.end(); ++m) {
        if (!m.value().is_string()) throw fail("__metadata__." + m.key() + " must be a string");
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    std::string where = "tensor " + quote(name);
    if (!value.is_object()) throw fail(where + ": expected an object with dtype, shape, data_offsets");
    for (auto f = value.begin(); f != value.end(); ++f) {
      if (f.key() != "dtype" && f.key() != "shape" && f.key() != "data_offsets") {
        throw fail(where + ": unknown field " + quote(f.key()));
      }
    }
    StTensorInfo info;
    info.name = name;
    auto dtype_it = value.find("dtype");
    if (dtype_it == value.end() || !dtype_it->is_string()) throw fail(where + ": missing string field dtype");
    std::string dtype_name = dtype_it->get<std::string>();
    bool known = false;
    for (const auto& r : kDtypes) {
      if (dtype_name == r.name) {
        info.dtype = r.dtype;
        known = true;
      }
    }
    if (!known) throw fail(where + ": unsupported dtype " + quote(dtype_name));

    auto shape_it = value.find("shape");
    if (shape_it == value.end() || !shape_it->is_array()) throw fail(where + ": missing array field shape");
    uint64_t numel = 1;
    for (const auto& d : *shape_it) {
      if (!d.is_number_unsigned()) throw fail(where + ": shape entries must be non-negative integers");
      uint64_t dim = d.get<uint64_t>();
      if (dim > static_cast<uint64_t>(INT64_MAX) || !checked_mul(numel, dim, &numel)) {
        throw fail(where + ": shape overflows");
      }
      info.shape.push_back(static_cast<int64_t>(dim));
    }
    auto off_it = value.find("data_offsets");
    if (off_it == value.end() || !off_it->is_array() || off_it->size() != 2 ||
        !(*off_it)[0].is_number_unsigned() || !(*off_it)[1].is_number_unsigned()) {
      throw fail(where + ": data_offsets must be [begin, end] with non-negative integers");
    }
    info.begin = (*off_it)[0].get<uint64_t>();
    info.end = (*off_it)[1].get<uint64_t>();
    if (info.end < info.begin) throw fail(cat(where, ": data_offsets [", info.begin, ", ", info.end, "] end before begin"));
    if (info.end > buffer_size) {
      throw fail(cat(where, ": data_offsets [", info.begin, ", ", info.end, "] past the end of the data (",
                     buffer_size, " bytes)"));
    }
    uint64_t nbytes = 0;
    if (!checked_mul(numel, st_dtype_size(info.dtype), &nbytes) || nbytes != info.end - info.begin) {
      throw fail(cat(where, ": shape and dtype ", dtype_name, " need ", numel, " x ", st_dtype_size(info.dtype),
                     " bytes, but data_offsets span ", info.end - info.begin));
    }
    out.tensors.push_back(std::move(info));
  }

  std::sort(out.tensors.begin(), out.tensors.end(), [](const StTensorInfo& a, const StTensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expected = 0;
  for (const auto& info : out.tensors) {
    if (info.begin < expected) {
      throw fail(cat("tensor ", quote(info.name), ": data_offsets [", info.begin, ", ", info.end,
                     "] overlap the previous tensor (which ends at ", expected, ")"));
    }
    if (info.begin > expected) {
      throw fail(cat("tensor ", quote(info.name), ": data_offsets begin at ", info.begin,
                     ", leaving a gap after byte ", expected));
    }
    expected = info.end;
  }
  if (expected != buffer_size) {
    throw fail(cat("tensors cover ", expected, " bytes of data but the file holds ", buffer_size));
  }
  return out;
}

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
  at::Tensor out = torch::empty(i.shape, torch::TensorOptions().dtype(row(i.dtype).scalar));
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
