//! The story engine's near-duplicate fingerprint (agents/stories/, see docs/stories.md):
//! shingles of an article's normalised, lower-cased text and their MinHash signature, byte
//! for byte what Python's `features._shingles` and `engine.minhash_affine32` make.
//!
//! - Shingles: for "unspaced" scripts (CJK, Thai, Hangul) the characters `features._NOT_CHAR`
//!   does not delete, as character 3-grams (the whole rest as one shingle when shorter);
//!   otherwise the runs of Python-`\w` characters as words, word 2-grams joined by one space
//!   (the word itself when there is one). Which characters are which comes from Python's own
//!   regexes (shingle_tables.rs, rendered by `python -m newswatch.agents.stories.shingle_tables`):
//!   Rust's `char` classes follow another Unicode version and other definitions.
//! - Signature: datasketch's "affine32" MinHash with zlib's crc32 as the shingle hash: each
//!   distinct shingle's crc32, MurmurHash3's 32-bit finaliser, then per permutation the
//!   minimum of `a * h + b` wrapping at 2^32 (all 0xFFFFFFFF for no shingle). A duplicate
//!   shingle changes no minimum; only the distinct count (against `min_shingles`) needs them
//!   told apart.
//!
//! Text with lone surrogates cannot be read as UTF-8 (Python encodes it with
//! "surrogatepass"): the functions raise UnicodeEncodeError and Python makes the shingles.

use std::sync::LazyLock;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList, PyString};
use rustc_hash::FxHashSet;

use crate::shingle_tables::{NGRAM_KEEP, WORD};

/// The shingle length of unspaced scripts, in characters (`features.CHAR_NGRAM`).
const CHAR_NGRAM: usize = 3;

/// A character class: a bitmap of the Basic Multilingual Plane, ranges above it.
struct Class {
    bmp: [u64; 0x10000 / 64],
    ranges: &'static [(u32, u32)],
}

impl Class {
    fn new(ranges: &'static [(u32, u32)]) -> Self {
        let mut bmp = [0u64; 0x10000 / 64];
        for &(lo, hi) in ranges {
            for cp in lo..=hi.min(0xFFFF) {
                bmp[(cp >> 6) as usize] |= 1 << (cp & 63);
            }
        }
        Class { bmp, ranges }
    }

    #[inline]
    fn contains(&self, ch: char) -> bool {
        let cp = ch as u32;
        if cp < 0x10000 {
            return self.bmp[(cp >> 6) as usize] & (1 << (cp & 63)) != 0;
        }
        let at = self.ranges.partition_point(|&(_, hi)| hi < cp);
        at < self.ranges.len() && self.ranges[at].0 <= cp
    }
}

static WORD_CLASS: LazyLock<Class> = LazyLock::new(|| Class::new(&WORD));
static NGRAM_CLASS: LazyLock<Class> = LazyLock::new(|| Class::new(&NGRAM_KEEP));

/// An article's shingles as slices of one buffer: shingle `i` is
/// `buf[starts[i]..starts[i + span]]` (the last one ends at `buf.len()`).
struct Shingles {
    buf: Vec<u8>,
    starts: Vec<usize>, // piece starts (characters or words), then buf.len()
    span: usize,        // pieces per shingle
    trail: usize,       // bytes after each piece that are not part of it (the words' space)
}

impl Shingles {
    /// Unspaced scripts: the kept characters; 3-grams of them. Runs of kept characters are
    /// copied whole.
    fn chars(text: &str) -> Self {
        let keep = &*NGRAM_CLASS;
        let bytes = text.as_bytes();
        let mut buf = Vec::with_capacity(text.len());
        let mut starts = Vec::with_capacity(text.len() + 1);
        let mut run: Option<usize> = None; // byte offset of the current run of kept characters
        for (at, ch) in text.char_indices() {
            if keep.contains(ch) {
                let from = *run.get_or_insert(at);
                starts.push(buf.len() + at - from);
            } else if let Some(from) = run.take() {
                buf.extend_from_slice(&bytes[from..at]);
            }
        }
        if let Some(from) = run {
            buf.extend_from_slice(&bytes[from..]);
        }
        let span = CHAR_NGRAM.min(starts.len());
        starts.push(buf.len());
        Shingles {
            buf,
            starts,
            span,
            trail: 0,
        }
    }

    /// Spaced scripts: the words, each followed by one space in the buffer, so a 2-gram is
    /// the slice from its first word's start to the end of its second word.
    fn words(text: &str) -> Self {
        let word = &*WORD_CLASS;
        let bytes = text.as_bytes();
        let mut buf = Vec::with_capacity(text.len() + 1);
        let mut starts = Vec::new();
        let mut run: Option<usize> = None; // byte offset of the current word
        for (at, ch) in text.char_indices() {
            if word.contains(ch) {
                run.get_or_insert(at);
            } else if let Some(from) = run.take() {
                starts.push(buf.len());
                buf.extend_from_slice(&bytes[from..at]);
                buf.push(b' ');
            }
        }
        if let Some(from) = run {
            starts.push(buf.len());
            buf.extend_from_slice(&bytes[from..]);
            buf.push(b' ');
        }
        let span = 2.min(starts.len());
        starts.push(buf.len());
        Shingles {
            buf,
            starts,
            span,
            trail: 1,
        }
    }

    fn new(text: &str, unspaced: bool) -> Self {
        if unspaced {
            Shingles::chars(text)
        } else {
            Shingles::words(text)
        }
    }

    /// Every shingle, in text order, duplicates included.
    fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let pieces = self.starts.len() - 1;
        let count = if self.span == 0 {
            0
        } else {
            pieces + 1 - self.span
        };
        (0..count).map(move |i| &self.buf[self.starts[i]..self.starts[i + self.span] - self.trail])
    }
}

/// MurmurHash3's 32-bit finaliser.
#[inline]
fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85EB_CA6B);
    h ^= h >> 13;
    h = h.wrapping_mul(0xC2B2_AE35);
    h ^ (h >> 16)
}

/// Counts distinct shingles up to `need` (no more is asked): a short list while `need` is
/// small, a hash set above.
struct Distinct<'s> {
    need: usize,
    few: Vec<&'s [u8]>,
    many: FxHashSet<&'s [u8]>,
}

impl<'s> Distinct<'s> {
    fn new(need: usize) -> Self {
        Distinct {
            need,
            few: Vec::new(),
            many: FxHashSet::default(),
        }
    }

    #[inline]
    fn add(&mut self, shingle: &'s [u8]) {
        if self.need <= 16 {
            if self.few.len() < self.need && !self.few.contains(&shingle) {
                self.few.push(shingle);
            }
        } else if self.many.len() < self.need {
            self.many.insert(shingle);
        }
    }

    fn enough(&self) -> bool {
        self.few.len().max(self.many.len()) >= self.need
    }
}

/// `mins[k] = min(mins[k], a[k] * h + b[k])` (wrapping) over all `hashes`.
fn permuted_minimum(a: &[u32], b: &[u32], hashes: &[u32], mins: &mut [u32]) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        unsafe { permuted_minimum_avx2(a, b, hashes, mins) };
        return;
    }
    permuted_minimum_generic(a, b, hashes, mins);
}

/// The same loop compiled for AVX2 (8 lanes of 32-bit multiply and unsigned minimum; the
/// x86-64 baseline has neither).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn permuted_minimum_avx2(a: &[u32], b: &[u32], hashes: &[u32], mins: &mut [u32]) {
    permuted_minimum_generic(a, b, hashes, mins);
}

#[inline(always)]
fn permuted_minimum_generic(a: &[u32], b: &[u32], hashes: &[u32], mins: &mut [u32]) {
    let n = mins.len();
    let (a, b) = (&a[..n], &b[..n]);
    for &h in hashes {
        for k in 0..n {
            mins[k] = mins[k].min(a[k].wrapping_mul(h).wrapping_add(b[k]));
        }
    }
}

/// The affine32 MinHash of datasketch with crc32 as the shingle hash (see `minhash_affine32`
/// in agents/stories/engine.py), with the permutations `FeatureMaker` draws.
#[pyclass(frozen, module = "newswatch.agents.tagging._native")]
pub struct MinHasher {
    a: Vec<u32>,
    b: Vec<u32>,
}

impl MinHasher {
    /// The signature of `shingles` (duplicates allowed), or None when fewer than
    /// `min_shingles` of them are distinct.
    fn fold<'s>(
        &self,
        shingles: impl Iterator<Item = &'s [u8]>,
        min_shingles: usize,
    ) -> Option<Vec<u32>> {
        let mut distinct = Distinct::new(min_shingles);
        let mut hashes: Vec<u32> = Vec::new();
        for shingle in shingles {
            distinct.add(shingle);
            hashes.push(fmix32(crc32fast::hash(shingle)));
        }
        if !distinct.enough() {
            return None;
        }
        let mut mins = vec![u32::MAX; self.a.len()];
        permuted_minimum(&self.a, &self.b, &hashes, &mut mins);
        Some(mins)
    }

    fn to_bytearray<'py>(py: Python<'py>, signature: &[u32]) -> Bound<'py, PyByteArray> {
        let raw: Vec<u8> = signature.iter().flat_map(|v| v.to_ne_bytes()).collect();
        PyByteArray::new(py, &raw)
    }
}

#[pymethods]
impl MinHasher {
    #[new]
    fn py_new(a: Vec<u32>, b: Vec<u32>) -> PyResult<Self> {
        if a.len() != b.len() || a.is_empty() {
            return Err(PyValueError::new_err(
                "MinHasher: a and b must be permutations of the same, non-zero length",
            ));
        }
        Ok(MinHasher { a, b })
    }

    #[getter]
    fn num_perm(&self) -> usize {
        self.a.len()
    }

    /// The signature of a normalised, lower-cased text's shingles, or None when fewer than
    /// `min_shingles` are distinct.
    fn text_signature<'py>(
        &self,
        py: Python<'py>,
        lowered: &Bound<'py, PyString>,
        unspaced: bool,
        min_shingles: usize,
    ) -> PyResult<Option<Bound<'py, PyByteArray>>> {
        let text = lowered.to_str()?;
        let shingles = Shingles::new(text, unspaced);
        Ok(self
            .fold(shingles.iter(), min_shingles)
            .map(|s| Self::to_bytearray(py, &s)))
    }

    /// The signature of a collection of shingles (bytes).
    fn signature<'py>(
        &self,
        py: Python<'py>,
        shingles: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyByteArray>> {
        let items: Vec<Bound<'py, PyBytes>> = shingles
            .try_iter()?
            .map(|item| Ok(item?.downcast_into::<PyBytes>()?))
            .collect::<PyResult<_>>()?;
        let signature = self
            .fold(items.iter().map(|b| b.as_bytes()), 0)
            .expect("no minimum count");
        Ok(Self::to_bytearray(py, &signature))
    }
}

/// The shingles of a normalised, lower-cased text, in text order, duplicates included.
#[pyfunction]
pub fn shingles<'py>(
    py: Python<'py>,
    lowered: &Bound<'py, PyString>,
    unspaced: bool,
) -> PyResult<Bound<'py, PyList>> {
    let text = lowered.to_str()?;
    let made = Shingles::new(text, unspaced);
    let items: Vec<Bound<'py, PyBytes>> = made.iter().map(|s| PyBytes::new(py, s)).collect();
    PyList::new(py, items)
}

/// Register this module's class and function (called from lib.rs's `#[pymodule]`).
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<MinHasher>()?;
    m.add_function(wrap_pyfunction!(shingles, m)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AVX2 build of the minimum (the one this machine runs, when it has AVX2) and the
    /// baseline build give the same values.
    #[test]
    fn avx2_and_baseline_minimum_agree() {
        let mut x: u32 = 12345;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        let a: Vec<u32> = (0..64).map(|_| next() | 1).collect();
        let b: Vec<u32> = (0..64).map(|_| next()).collect();
        for n in [0, 1, 7, 130, 1000] {
            let hashes: Vec<u32> = (0..n).map(|_| next()).collect();
            let mut fast = vec![u32::MAX; 64];
            let mut base = vec![u32::MAX; 64];
            permuted_minimum(&a, &b, &hashes, &mut fast);
            permuted_minimum_generic(&a, &b, &hashes, &mut base);
            let naive: Vec<u32> = (0..64)
                .map(|k| {
                    hashes
                        .iter()
                        .map(|&h| a[k].wrapping_mul(h).wrapping_add(b[k]))
                        .fold(u32::MAX, u32::min)
                })
                .collect();
            assert_eq!(fast, naive);
            assert_eq!(base, naive);
        }
    }

    #[test]
    fn fmix32_matches_murmurhash3() {
        assert_eq!(fmix32(0), 0);
        assert_eq!(fmix32(1), 0x514E_28B7);
    }
}
