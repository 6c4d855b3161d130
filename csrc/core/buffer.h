// Aligned memory for kernel scratch space.
//
// Packing buffers and im2col columns are needed on every call; allocating
// them fresh each time makes the OS fault in (and zero) every page again,
// which for a 64 MiB column buffer costs more than the convolution. Scratch
// therefore comes from a small process-wide pool that keeps released blocks
// for the next call.
#pragma once
#include <cstddef>
#include <cstdint>

namespace pyengine {

// 64 bytes: a cache line, and the width of an AVX-512 register, so aligned
// vector loads never split a line.
constexpr std::size_t kAlignment = 64;

// Large blocks (512 KiB and more) are whole 2 MiB pages of their own mapping,
// advised into huge pages on Linux (buffer.cpp says why); aligned_free takes
// the size the block was allocated with.
void* aligned_alloc_bytes(std::size_t bytes);  // throws std::bad_alloc
void aligned_free(void* p, std::size_t bytes);

// A block of scratch memory borrowed from the pool for one scope.
class ScratchBuffer {
 public:
  explicit ScratchBuffer(std::size_t bytes);
  ~ScratchBuffer();
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;

  template <typename T>
  T* as() const { return static_cast<T*>(data_); }
  std::size_t bytes() const { return bytes_; }

 private:
  void* data_;
  std::size_t bytes_;
};

// Statistics for tests and pyengine.info(): blocks and bytes kept for reuse.
struct ScratchPoolStats {
  std::size_t cached_blocks;
  std::size_t cached_bytes;
  std::size_t fresh_allocations;  // blocks allocated since start (not reused)
};
ScratchPoolStats scratch_pool_stats();
void scratch_pool_clear();

}  // namespace pyengine
