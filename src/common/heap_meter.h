#pragma once

#include <cstdint>

namespace pw::heap_meter {

// Bytes the calling thread allocated with operator new and has not freed, counted as
// malloc_usable_size() gives them. Only programs that link src/cli/heap_meter_new.cpp (the
// protowatch program and the unit tests) count; in the others it stays 0. A block freed on
// another thread than the one that allocated it moves bytes between the two threads' counts,
// so only differences taken on one thread around code that frees what it allocates mean much.
extern constinit thread_local int64_t thread_bytes;

// Allocation functions for C libraries (zlib's zalloc and zfree) that count as operator
// new does. `opaque` is unused.
void* allocate(void* opaque, unsigned items, unsigned size);
void release(void* opaque, void* block);

}  // namespace pw::heap_meter
