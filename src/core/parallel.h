// at::parallel_for for zeroth's own CPU kernels. ATen's OpenMP backend writes parallel_for as an
// inline template with `#pragma omp parallel` inside: a file compiled without -fopenmp gets a
// serial loop, silently (our kernels ran on one of two threads that way until 2026-12-02). Every
// file that includes this header is compiled with OpenMP (its sources.cmake), and this checks it.
#pragma once

#include <ATen/Config.h>
#include <ATen/Parallel.h>

#if AT_PARALLEL_OPENMP && !defined(_OPENMP)
#error "at::parallel_for would run serially: compile this file with OpenMP (ZEROTH_OPENMP_OPTIONS in sources.cmake)"
#endif
