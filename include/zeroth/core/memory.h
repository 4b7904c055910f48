// Memory that a planned allocation may use, checked before the allocation: a plan that cannot fit
// becomes an Error naming what it was for and the settings to change, instead of LibTorch's raw
// allocator message (or the OOM killer) minutes later.
#pragma once

#include <cstdint>
#include <exception>
#include <optional>
#include <string>

#include <c10/core/Device.h>

namespace zeroth {

// Bytes the process can still allocate on `device` without swapping: MemAvailable of
// /proc/meminfo for the CPU; nullopt where unknown (CUDA devices are not checked here yet).
std::optional<uint64_t> available_memory_bytes(c10::Device device);

// "1.5 GB" (powers of 1000, as the memory figures of the docs).
std::string format_bytes(uint64_t bytes);

// Error when `bytes` exceed what `device` has available: "<what> needs 214.0 GB, but 20.1 GB are
// available on cpu; <fix>". Nothing happens where the available memory is unknown.
void require_memory(uint64_t bytes, c10::Device device, const std::string& what, const std::string& fix);

// When `e` is an allocation failure (std::bad_alloc, or a LibTorch error about allocating or out of
// memory): " (its first line)" for LibTorch's, "" for std::bad_alloc. nullopt for any other error,
// which the caller rethrows. For turning an allocation failure into an Error naming input and flag.
std::optional<std::string> allocation_failure(const std::exception& e);

}  // namespace zeroth
