#!/usr/bin/env bash
# Compiles every csrc/cuda/*.cu with `nvcc -c` against the installed torch's
# headers, so machines without a CUDA torch or a GPU still catch CUDA compile
# errors. The flags mirror setup.py's CUDAExtension build. Usage:
#   scripts/check_cuda_compile.sh [file.cu ...]   (default: every csrc/cuda/*.cu)
# Environment: NVCC (default nvcc), PYTHON (default python3).
set -euo pipefail

sources=()
for src in "$@"; do
  sources+=("$(realpath "$src")")
done
cd "$(dirname "${BASH_SOURCE[0]}")/.."
NVCC="${NVCC:-nvcc}"
PYTHON="${PYTHON:-python3}"

if ! command -v "$NVCC" >/dev/null 2>&1; then
  echo "check_cuda_compile: $NVCC not found, nothing compiled"
  exit 0
fi

# Torch's include folders, plus the defines that torch's BuildExtension adds to
# every nvcc command (half/bfloat16 operator macros, C++ ABI). A command
# substitution, unlike `< <(...)`, lets set -e stop on a python error.
torch_flags_text="$("$PYTHON" - <<'EOF'
import torch
import torch.utils.cpp_extension as ext
for path in ext.include_paths():
    print(f"-I{path}")
for flag in ext.COMMON_NVCC_FLAGS:
    print(flag)
print(f"-D_GLIBCXX_USE_CXX11_ABI={int(torch._C._GLIBCXX_USE_CXX11_ABI)}")
EOF
)"
mapfile -t torch_flags <<<"$torch_flags_text"

flags=(
  "${torch_flags[@]}"
  -O3
  -std=c++20
  --expt-relaxed-constexpr
  # A CPU torch lacks the generated c10/cuda/impl/cuda_cmake_macros.h.
  -DC10_CUDA_NO_CMAKE_CONFIGURE_FILE
  -gencode arch=compute_80,code=sm_80
  -gencode arch=compute_90,code=sm_90
  -gencode arch=compute_90,code=compute_90
  -Xcompiler -fPIC
)

if ((${#sources[@]} == 0)); then
  shopt -s nullglob
  sources=(csrc/cuda/*.cu)
fi
if ((${#sources[@]} == 0)); then
  echo "check_cuda_compile: no .cu files found under csrc/cuda" >&2
  exit 1
fi

out_dir="$(mktemp -d)"
trap 'rm -rf "$out_dir"' EXIT

for src in "${sources[@]}"; do
  echo "check_cuda_compile: nvcc -c $src"
  "$NVCC" "${flags[@]}" -c "$src" -o "$out_dir/$(basename "$src" .cu).o"
done
echo "check_cuda_compile: ${#sources[@]} file(s) compiled"
