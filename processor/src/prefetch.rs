//! Memory prefetch hints for [`Engine::process_batch`](crate::Engine::process_batch).
//!
//! A prefetch asks the CPU to start loading a cache line and returns at
//! once; it never faults and changes no program state, so a wrong or stale
//! address costs a wasted load, never a wrong result. On targets without a
//! stable prefetch instruction the hints are no-ops.

/// Requests the `n` cache lines starting at `p`.
#[inline(always)]
pub(crate) fn lines<T>(p: *const T, n: usize) {
    let p = p.cast::<u8>();
    for i in 0..n {
        line(p.wrapping_add(i * 64));
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(unsafe_code)]
fn line(p: *const u8) {
    use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
    // SAFETY: PREFETCHT0 is a hint with no architectural effect: it does not
    // dereference in the language's sense, never faults whatever the address,
    // and SSE (which provides it) is part of the x86_64 baseline.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>()) }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn line(_p: *const u8) {}
