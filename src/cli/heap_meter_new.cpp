// The global allocation functions of the protowatch program and its unit tests, which count
// each thread's heap bytes for heap_meter::thread_bytes. The memory bound charges detectors
// with what they hold by those counts. They are kept out of the core library because the
// allocation tests replace these functions with their own.

#include <malloc.h>

#include <cstdlib>
#include <new>

#include "common/heap_meter.h"

namespace {

void* counted(void* block) {
    if (block != nullptr) pw::heap_meter::thread_bytes += malloc_usable_size(block);
    return block;
}

void* allocate_or_throw(std::size_t size) {
    void* block = counted(std::malloc(size == 0 ? 1 : size));
    if (block == nullptr) throw std::bad_alloc();
    return block;
}

void* allocate_aligned_or_throw(std::size_t size, std::align_val_t alignment) {
    const auto align = static_cast<std::size_t>(alignment);
    // aligned_alloc wants a size that is a multiple of the alignment.
    const std::size_t rounded = (size + align - 1) / align * align;
    void* block = counted(std::aligned_alloc(align, rounded == 0 ? align : rounded));
    if (block == nullptr) throw std::bad_alloc();
    return block;
}

void release(void* block) noexcept {
    if (block == nullptr) return;
    pw::heap_meter::thread_bytes -= malloc_usable_size(block);
    std::free(block);
}

}  // namespace

void* operator new(std::size_t size) { return allocate_or_throw(size); }
void* operator new[](std::size_t size) { return allocate_or_throw(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
    return counted(std::malloc(size == 0 ? 1 : size));
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
    return counted(std::malloc(size == 0 ? 1 : size));
}
void* operator new(std::size_t size, std::align_val_t alignment) {
    return allocate_aligned_or_throw(size, alignment);
}
void* operator new[](std::size_t size, std::align_val_t alignment) {
    return allocate_aligned_or_throw(size, alignment);
}

void operator delete(void* block) noexcept { release(block); }
void operator delete[](void* block) noexcept { release(block); }
void operator delete(void* block, std::size_t) noexcept { release(block); }
void operator delete[](void* block, std::size_t) noexcept { release(block); }
void operator delete(void* block, const std::nothrow_t&) noexcept { release(block); }
void operator delete[](void* block, const std::nothrow_t&) noexcept { release(block); }
void operator delete(void* block, std::align_val_t) noexcept { release(block); }
void operator delete[](void* block, std::align_val_t) noexcept { release(block); }
void operator delete(void* block, std::size_t, std::align_val_t) noexcept { release(block); }
void operator delete[](void* block, std::size_t, std::align_val_t) noexcept { release(block); }
