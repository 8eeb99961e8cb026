#include "common/heap_meter.h"

#include <cstddef>
#include <new>

namespace pw::heap_meter {

constinit thread_local int64_t thread_bytes = 0;

void* allocate(void* /*opaque*/, unsigned items, unsigned size) {
    return ::operator new(static_cast<std::size_t>(items) * size, std::nothrow);
}

void release(void* /*opaque*/, void* block) { ::operator delete(block); }

}  // namespace pw::heap_meter
