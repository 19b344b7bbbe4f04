//! MinHash signatures of word shingles, as ``transforms/dedup.py`` defines them: the tokens
//! (runs of letters and digits) of a folded text -> the distinct word ``size``-grams, each as
//! its UTF-8 bytes joined by one space (the whole text when it has no more than ``size``
//! tokens) -> per shingle the first four bytes of its SHA-1 (little-endian, datasketch's
//! ``sha1_hash32``) through murmur3's finaliser -> per permutation ``k`` the minimum of
//! ``a[k] * h + b[k]`` modulo 2^32.

use std::collections::HashSet;

use ahash::RandomState;
use sha1::{Digest, Sha1};

pub struct MinHasher {
    a: Vec<u32>,
    b: Vec<u32>,
    size: usize,
}

fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85EB_CA6B);
    h ^= h >> 13;
    h = h.wrapping_mul(0xC2B2_AE35);
    h ^ (h >> 16)
}

impl MinHasher {
    pub fn new(a: Vec<u32>, b: Vec<u32>, size: usize) -> MinHasher {
        MinHasher { a, b, size }
    }

    /// The ``(start, end)`` byte ranges of the tokens of ``folded``.
    fn tokens(folded: &str) -> Vec<(usize, usize)> {
        let mut tokens = Vec::new();
        let mut start = None;
        for (at, c) in folded.char_indices() {
            match (crate::text::is_alnum(c), start) {
                (true, None) => start = Some(at),
                (false, Some(first)) => {
                    tokens.push((first, at));
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(first) = start {
            tokens.push((first, folded.len()));
        }
        tokens
    }

    /// (signature, number of distinct shingles), or None when the text has fewer than
    /// ``min_tokens`` tokens.
    pub fn signature(&self, folded: &str, min_tokens: usize) -> Option<(Vec<u32>, usize)> {
        let tokens = Self::tokens(folded);
        if tokens.len() < min_tokens.max(1) {
            return None;
        }
        let width = self.size.min(tokens.len());
        // Every shingle's bytes in one buffer, then the distinct ones as slices of it.
        let mut buffer = Vec::with_capacity(folded.len() * width);
        let mut ends = Vec::with_capacity(tokens.len());
        for window in tokens.windows(width) {
            for (k, &(start, end)) in window.iter().enumerate() {
                if k > 0 {
                    buffer.push(b' ');
                }
                buffer.extend_from_slice(&folded.as_bytes()[start..end]);
            }
            ends.push(buffer.len());
        }
        let starts = std::iter::once(0).chain(ends.iter().copied());
        let shingles: HashSet<&[u8], RandomState> =
            starts.zip(&ends).map(|(start, &end)| &buffer[start..end]).collect();
        let mut signature = vec![u32::MAX; self.a.len()];
        for shingle in &shingles {
            let digest = Sha1::digest(shingle);
            let h = fmix32(u32::from_le_bytes([digest[0], digest[1], digest[2], digest[3]]));
            for ((value, &a), &b) in signature.iter_mut().zip(&self.a).zip(&self.b) {
                *value = (*value).min(a.wrapping_mul(h).wrapping_add(b));
            }
        }
        Some((signature, shingles.len()))
    }
}
