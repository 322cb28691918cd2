// Process-wide allocator settings the engine is measured and run with.
//
// Called once by bulkqd's main (and by the benchmarks, so they measure what runs). The library
// itself never calls it: a process that embeds libbulkq keeps its own allocator settings.
#pragma once

#include <malloc.h>

namespace bulkq {

// glibc raises its mmap threshold each time a large mmapped block is freed, after which big
// queue buffers are carved from the heap and leave holes it cannot return when they grow or go.
// A fixed threshold keeps every buffer of 128 KiB or more in its own mapping, grown with mremap
// and returned to the system when freed.
inline void tune_allocator_for_queues() {
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
}

}  // namespace bulkq
