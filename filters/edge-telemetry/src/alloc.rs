//! The module's allocator: size classes with free lists in front of the system allocator.
//!
//! A request allocates and frees a few dozen small blocks (header values, span attributes, label
//! keys) of the same few sizes, request after request. wasi-libc's dlmalloc spends hundreds of
//! Wasm instructions per `malloc`/`free` pair on bins, coalescing and boundary tags; popping and
//! pushing a per-size free list takes a handful. Blocks up to [`LARGEST`] bytes are rounded up
//! to a multiple of [`GRAIN`] (so long-lived blocks such as metric names waste at most 15 bytes)
//! and, once freed, kept on their class's list for the next request (memory stays at the
//! high-water mark of each class, which the steady traffic of a proxy reaches early: see
//! `host-harness/tests/all/memory.rs`). Larger or over-aligned blocks go to the system
//! allocator unchanged. Only built for wasm32, where a VM is single-threaded.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr::null_mut;

/// Class sizes are multiples of this (a free block holds the next pointer, so at least that).
const GRAIN: usize = 16;
/// The largest class; anything bigger goes to the system allocator.
const LARGEST: usize = 1024;
/// Classes 16, 32, ..., 1024.
const CLASSES: usize = LARGEST / GRAIN;
/// The alignment every class block has (what the system allocator gives for it).
const ALIGN: usize = 8;

/// Free lists, one per class; each free block's first word points to the next.
pub struct SizeClasses {
    heads: UnsafeCell<[*mut u8; CLASSES]>,
}

// SAFETY: wasm32 modules run on one thread per VM (proxy-wasm has no threads), so the lists
// are never touched concurrently.
unsafe impl Sync for SizeClasses {}

impl SizeClasses {
    pub const fn new() -> Self {
        Self { heads: UnsafeCell::new([null_mut(); CLASSES]) }
    }
}

impl std::fmt::Debug for SizeClasses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SizeClasses")
    }
}

impl Default for SizeClasses {
    fn default() -> Self {
        Self::new()
    }
}

/// The class of a layout (index and block size), `None` for blocks the system allocator takes.
fn class(layout: Layout) -> Option<(usize, usize)> {
    if layout.size() > LARGEST || layout.align() > ALIGN {
        return None;
    }
    let index = layout.size().max(1).div_ceil(GRAIN) - 1;
    Some((index, (index + 1) * GRAIN))
}

unsafe impl GlobalAlloc for SizeClasses {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: single-threaded (see above), so no other reference to the lists exists.
        let heads = unsafe { &mut *self.heads.get() };
        let Some((head, size)) = class(layout).and_then(|(i, size)| Some((heads.get_mut(i)?, size))) else {
            return unsafe { System.alloc(layout) };
        };
        if head.is_null() {
            // SAFETY: a non-zero size with a power-of-two alignment is a valid layout.
            return unsafe { System.alloc(Layout::from_size_align_unchecked(size, ALIGN)) };
        }
        let block = *head;
        // SAFETY: `block` is a free block of this class, whose first word holds the next one.
        *head = unsafe { *block.cast::<*mut u8>() };
        block
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: single-threaded (see above), so no other reference to the lists exists.
        let heads = unsafe { &mut *self.heads.get() };
        let Some(head) = class(layout).and_then(|(i, _)| heads.get_mut(i)) else {
            return unsafe { System.dealloc(ptr, layout) };
        };
        // SAFETY: `ptr` is a block of this class (the same layout gave the same class when it was
        // allocated), at least a pointer large and aligned to one.
        unsafe { *ptr.cast::<*mut u8>() = *head };
        *head = ptr;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_round_up_to_sixteen_bytes_and_leave_the_rest_to_the_system() {
        let layout = |size, align| Layout::from_size_align(size, align).unwrap();
        assert_eq!(class(layout(0, 1)), Some((0, 16)));
        assert_eq!(class(layout(1, 1)), Some((0, 16)));
        assert_eq!(class(layout(16, 8)), Some((0, 16)));
        assert_eq!(class(layout(17, 1)), Some((1, 32)));
        assert_eq!(class(layout(1024, 4)), Some((63, 1024)));
        assert_eq!(class(layout(1025, 1)), None);
        assert_eq!(class(layout(64, 16)), None);
    }

    #[test]
    fn freed_blocks_are_reused_by_their_class() {
        let classes = SizeClasses::new();
        let layout = Layout::from_size_align(24, 8).unwrap();
        unsafe {
            let a = classes.alloc(layout);
            let b = classes.alloc(layout);
            assert!(!a.is_null() && !b.is_null() && a != b);
            a.write_bytes(0xab, 24);
            classes.dealloc(a, layout);
            assert_eq!(classes.alloc(layout), a, "the freed block comes back first");
            classes.dealloc(b, layout);
            classes.dealloc(a, layout);
        }
    }
}
