// Device and dtype names as users type them: "cpu", "cuda", "cuda:1", "auto"; "fp32", "bf16", "fp16"
// (also "float32", "bfloat16", "float16"). Also the process-wide CPU set-up that must happen before
// any BLAS call (threads, OPENBLAS_CORETYPE, malloc trimming): see docs/perf_notes.md.
#pragma once

#include <cstdint>
#include <string>

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

namespace zeroth {

// "auto" picks cuda:0 when a CUDA device is present, else cpu. Error on unknown names or on a CUDA
// device this build or machine does not have.
c10::Device parse_device(const std::string& name);
c10::ScalarType parse_dtype(const std::string& name);
std::string dtype_name(c10::ScalarType dtype);  // "fp32", "bf16", "fp16", ...

// Process start-up for CPU speed: keeps freed memory in the allocator (mallopt), and sets
// OPENBLAS_CORETYPE=SkylakeX on AVX-512 CPUs unless the user set it. Call first thing in main();
// returns a one-line description for the log.
std::string configure_process_for_speed();

// Bytes per second that one pass of reads over a fresh `bytes` buffer reaches on LibTorch's
// intra-op threads, best of `repeats`: the memory-bandwidth roof of a decode step that streams
// its weights (`zeroth bench sampler` reports batch-1 decode against it).
double measure_read_bandwidth(int64_t bytes = int64_t{1} << 30, int repeats = 5);

}  // namespace zeroth
