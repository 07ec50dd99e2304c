#pragma once

// Marks helpers that both the CPU kernels (g++) and the CUDA kernels (nvcc) call,
// so each piece of math is written once (torchvision's HOST_DEVICE convention).
#if defined(__CUDACC__)
#define HOST_DEVICE __host__ __device__ __forceinline__
#else
#define HOST_DEVICE inline
#endif
