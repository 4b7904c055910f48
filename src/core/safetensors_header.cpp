// The safetensors header parser and validator. Kept free of LibTorch so the libFuzzer target
// (fuzz/fuzz_safetensors_header.cpp, scripts/fuzz_safetensors.sh) can build it alone with clang.
#include <algorithm>
#include <cstring>
#include <set>

#include "zeroth/core/error.h"
#include "zeroth/core/json.h"
#include "zeroth/core/safetensors.h"

namespace zeroth {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference implementation's limit

struct DtypeRow {
  StDtype dtype;
  const char* name;
  size_t size;
};
// In StDtype order, which is the reference implementation's alignment order.
const DtypeRow kDtypes[] = {
    {StDtype::BOOL, "BOOL", 1}, {StDtype::U8, "U8", 1},   {StDtype::I8, "I8", 1},
    {StDtype::I16, "I16", 2},   {StDtype::F16, "F16", 2}, {StDtype::BF16, "BF16", 2},
    {StDtype::I32, "I32", 4},   {StDtype::F32, "F32", 4}, {StDtype::F64, "F64", 8},
    {StDtype::I64, "I64", 8},
};

const DtypeRow& row(StDtype dtype) { return kDtypes[static_cast<int>(dtype)]; }

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

}  // namespace zeroth
