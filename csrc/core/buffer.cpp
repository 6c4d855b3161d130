#include "core/buffer.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#if defined(__linux__)
#include <sys/mman.h>
#endif
#include <new>
#include <vector>

namespace pyengine {

namespace {

// Blocks from this size up live in 2 MiB pages. A packed block of B (up to
// 2 MiB) or a column buffer spans hundreds of 4 KiB pages, more than the 64
// entries of the first-level data TLB, and each micro-kernel call touches a
// few new pages of A, B and C; in huge pages the whole block is one entry
// (a 2048-square product on one thread: 3-8 % faster). A quarter of a huge
// page is the least that is worth rounding up to a whole one; the rounding
// costs address space only, as pages never touched are never backed.
constexpr std::size_t kHugePage = std::size_t(2) << 20;
constexpr std::size_t kHugePageMin = kHugePage / 4;

bool in_huge_pages(std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  return bytes >= kHugePageMin;
#else
  return false;
#endif
}

// The bytes an allocation of `bytes` really takes: whole cache lines, or
// whole huge pages.
std::size_t allocation_size(std::size_t bytes) {
  const std::size_t unit = in_huge_pages(bytes) ? kHugePage : kAlignment;
  return (std::max<std::size_t>(bytes, 1) + unit - 1) / unit * unit;
}

#if defined(__linux__) && defined(MADV_HUGEPAGE)
// A block of its own mapping, aligned to a huge page (one page more is mapped
// and both ends trimmed), advised into huge pages. Its own mapping, so the
// advice never outlives the block on memory malloc hands out later.
void* map_huge_pages(std::size_t bytes) {
  const std::size_t span = bytes + kHugePage;
  void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const std::uintptr_t begin = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t start = (begin + kHugePage - 1) / kHugePage * kHugePage;
  const std::size_t head = start - begin, tail = span - head - bytes;
  if (head) munmap(raw, head);
  if (tail) munmap(reinterpret_cast<void*>(start + bytes), tail);
  // Only advice: where transparent huge pages are off, 4 KiB pages serve.
  madvise(reinterpret_cast<void*>(start), bytes, MADV_HUGEPAGE);
  return reinterpret_cast<void*>(start);
}
#endif

}  // namespace

void* aligned_alloc_bytes(std::size_t bytes) {
  bytes = allocation_size(bytes);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (in_huge_pages(bytes)) return map_huge_pages(bytes);
#endif
  void* p = nullptr;
  if (posix_memalign(&p, kAlignment, bytes) != 0) throw std::bad_alloc();
  return p;
}

void aligned_free(void* p, std::size_t bytes) {
  bytes = allocation_size(bytes);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (in_huge_pages(bytes)) {
    munmap(p, bytes);
    return;
  }
#endif
  std::free(p);
}

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
      aligned_free(free_blocks[smallest].data, free_blocks[smallest].bytes);
      cached_bytes -= free_blocks[smallest].bytes;
      free_blocks.erase(free_blocks.begin() + smallest);
    }
    if (free_blocks.size() < kMaxBlocks && cached_bytes + b.bytes <= kMaxCachedBytes) {
      free_blocks.push_back(b);
      cached_bytes += b.bytes;
    } else {
      aligned_free(b.data, b.bytes);
    }
  }

  ~Pool() {
    for (Block& b : free_blocks) aligned_free(b.data, b.bytes);
  }
};

Pool& pool() {
  static Pool p;
  return p;
}

}  // namespace

// An empty buffer (a path that needs none) never takes the pool's lock:
// threads running small products side by side would contend for it.
ScratchBuffer::ScratchBuffer(std::size_t bytes) : data_(nullptr), bytes_(0) {
  if (bytes == 0) return;
  Block b = pool().take(allocation_size(bytes));
  data_ = b.data;
  bytes_ = b.bytes;
}

ScratchBuffer::~ScratchBuffer() {
  if (data_) pool().give_back({data_, bytes_});
}

ScratchPoolStats scratch_pool_stats() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  return {p.free_blocks.size(), p.cached_bytes, p.fresh};
}

void scratch_pool_clear() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  for (Block& b : p.free_blocks) aligned_free(b.data, b.bytes);
  p.free_blocks.clear();
  p.cached_bytes = 0;
}

}  // namespace pyengine
