#include "core/buffer.h"

#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

namespace pyengine {

void* aligned_alloc_bytes(std::size_t bytes) {
  void* p = nullptr;
  if (posix_memalign(&p, kAlignment, bytes ? bytes : kAlignment) != 0) throw std::bad_alloc();
  return p;
}

void aligned_free(void* p) { std::free(p); }

namespace {

// Kept blocks: few and large. Eight slots cover the concurrent scratch needs
// of a driver (packed A per thread, packed B, columns) and the cap keeps an
// idle process from holding more than a quarter GiB.
constexpr std::size_t kMaxBlocks = 8;
constexpr std::size_t kMaxCachedBytes = 256u << 20;

struct Block {
  void* data;
  std::size_t bytes;
};

struct Pool {
  std::mutex mutex;
  std::vector<Block> free_blocks;
  std::size_t cached_bytes = 0;
  std::size_t fresh = 0;

  Block take(std::size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      // Smallest kept block that fits, so a small request does not pin a big one.
      int best = -1;
      for (std::size_t i = 0; i < free_blocks.size(); ++i) {
        if (free_blocks[i].bytes >= bytes && (best < 0 || free_blocks[i].bytes < free_blocks[best].bytes))
          best = static_cast<int>(i);
      }
      if (best >= 0) {
        Block b = free_blocks[best];
        free_blocks.erase(free_blocks.begin() + best);
        cached_bytes -= b.bytes;
        return b;
      }
      ++fresh;
    }
    return {aligned_alloc_bytes(bytes), bytes};
  }

  void give_back(Block b) {
    std::lock_guard<std::mutex> lock(mutex);
    // Evict the smallest blocks first: large ones are the costly ones to fault in.
    while (!free_blocks.empty() &&
           (free_blocks.size() >= kMaxBlocks || cached_bytes + b.bytes > kMaxCachedBytes)) {
      std::size_t smallest = 0;
      for (std::size_t i = 1; i < free_blocks.size(); ++i)
        if (free_blocks[i].bytes < free_blocks[smallest].bytes) smallest = i;
      if (free_blocks[smallest].bytes > b.bytes) break;
      aligned_free(free_blocks[smallest].data);
      cached_bytes -= free_blocks[smallest].bytes;
      free_blocks.erase(free_blocks.begin() + smallest);
    }
    if (free_blocks.size() < kMaxBlocks && cached_bytes + b.bytes <= kMaxCachedBytes) {
      free_blocks.push_back(b);
      cached_bytes += b.bytes;
    } else {
      aligned_free(b.data);
    }
  }

  ~Pool() {
    for (Block& b : free_blocks) aligned_free(b.data);
  }
};

Pool& pool() {
  static Pool p;
  return p;
}

}  // namespace

ScratchBuffer::ScratchBuffer(std::size_t bytes) {
  // Round up to whole cache lines so a block serves slightly different sizes.
  bytes = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  Block b = pool().take(bytes);
  data_ = b.data;
  bytes_ = b.bytes;
}

ScratchBuffer::~ScratchBuffer() { pool().give_back({data_, bytes_}); }

ScratchPoolStats scratch_pool_stats() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  return {p.free_blocks.size(), p.cached_bytes, p.fresh};
}

void scratch_pool_clear() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  for (Block& b : p.free_blocks) aligned_free(b.data);
  p.free_blocks.clear();
  p.cached_bytes = 0;
}

}  // namespace pyengine
